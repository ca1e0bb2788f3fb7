/**
 * Trip playback's charts: the vehicle's speed, battery and engine temperature over the played
 * window (its stored readings, three stacked axes over one time axis) with a line at the
 * playback cursor, and its alerts of the window as marks on the time axis and as a list. The
 * alerts at the cursor (or just before it) are highlighted; choosing one moves the cursor to it.
 *
 * Everything here follows the playback state (vehicle, window, cursor): nothing of its own
 * needs restoring.
 */
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Chart } from 'chart.js';
import { useAppDispatch } from '../store';
import { cursorSet } from '../store/playbackSlice';
import { useTripAlertsQuery, useTripSamplesQuery, type TripWindow } from '../store/playbackApi';
import {
  alertsAtCursor,
  downsample,
  fractionOf,
  MAX_HISTORY_PAGES,
  HISTORY_PAGE,
  ALERT_PAGE,
  nearestSampleIndex,
  RECENT_ALERT_MS,
  type TripAlert,
  type TripSamples,
} from '../store/tripSeries';
import { batteryScale, SERIES_COLOURS, speedScale, temperatureScale, useChart } from './charts';
import { formatCount, formatKmh } from '../format';

/** Points per series drawn at most: twice the pixels of the side panel's chart. */
const MAX_DRAWN_POINTS = 600;

const tickMinutes = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const tickSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const when = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const pct = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'percent', maximumFractionDigits: 1 });
const celsius = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'celsius', maximumFractionDigits: 1 });
const plain = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const recentSeconds = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'second' }).format(
  RECENT_ALERT_MS / 1000,
);

interface Props extends TripWindow {
  /** The first and last instant of the path: the charts' time axis. */
  start: number;
  end: number;
  cursor: number;
}

export function PlaybackCharts(props: Props) {
  const { vehicleId, from, to, cursor } = props;
  const dispatch = useAppDispatch();
  const samples = useTripSamplesQuery({ vehicleId, from, to });
  const alertsQuery = useTripAlertsQuery({ vehicleId, from, to });
  const alerts = useMemo(() => alertsQuery.data?.alerts ?? [], [alertsQuery.data]);
  // The same set object while the same alerts are at the cursor: the list and the marks
  // re-render when the highlight changes, not on every frame of the play loop.
  const atKey = alertsAtCursor(alerts, cursor)
    .map((a) => a.id)
    .join('\n');
  const atCursor = useMemo(() => new Set(atKey ? atKey.split('\n') : []), [atKey]);
  const moveTo = useCallback((t: number) => dispatch(cursorSet(t)), [dispatch]);
  const { refetch: refetchAlerts } = alertsQuery;
  const retryAlerts = useCallback(() => void refetchAlerts(), [refetchAlerts]);

  let chart;
  if (samples.isLoading || (samples.isFetching && !samples.data)) {
    chart = (
      <p className="muted" role="status">
        Loading speed, battery and temperature…
      </p>
    );
  } else if (samples.isError) {
    chart = (
      <p className="error" role="alert">
        Could not load the readings: {String(samples.error)}{' '}
        <button onClick={() => void samples.refetch()}>Retry</button>
      </p>
    );
  } else if (!samples.data?.times.length) {
    chart = <p className="muted">No readings in this window.</p>;
  } else {
    chart = (
      <TripChart
        // A new window is a new time axis: a new chart.
        key={`${vehicleId}|${from}|${to}`}
        samples={samples.data}
        alerts={alerts}
        atCursor={atCursor}
        start={props.start}
        end={props.end}
        cursor={cursor}
        onPick={moveTo}
      />
    );
  }

  const status = samples.isError ? 'error' : samples.data ? 'loaded' : 'loading';
  return (
    <section className="trip-charts" data-testid="playback-charts" data-status={status}>
      <h3>Speed, battery and temperature</h3>
      {chart}
      {samples.data?.truncated && (
        <p className="muted small">
          The charts show the first {formatCount(HISTORY_PAGE * MAX_HISTORY_PAGES)} readings of the window.
        </p>
      )}
      <TripAlertList
        alerts={alerts}
        atCursor={atCursor}
        status={alertsQuery.isError ? 'error' : alertsQuery.data ? 'loaded' : 'loading'}
        error={alertsQuery.isError ? String(alertsQuery.error) : null}
        complete={alertsQuery.data?.complete ?? true}
        onRetry={retryAlerts}
        onPick={moveTo}
      />
    </section>
  );
}

interface Area {
  left: number;
  top: number;
  width: number;
  height: number;
}

function TripChart(props: {
  samples: TripSamples;
  alerts: TripAlert[];
  atCursor: Set<string>;
  start: number;
  end: number;
  cursor: number;
  onPick: (t: number) => void;
}) {
  const { samples, alerts, atCursor, start, end, cursor, onPick } = props;
  const canvasRef = useRef<HTMLCanvasElement>(null);
  // Where Chart.js put the plot, for the cursor and the alert marks laid over it.
  const [area, setArea] = useState<Area | null>(null);
  const chartRef = useChart<'line'>(canvasRef, () => ({
    type: 'line',
    data: { datasets: [] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: {
          type: 'linear',
          min: start,
          max: end,
          ticks: {
            // Minutes repeat along a short window: seconds too below ten minutes.
            callback: (v) => (end - start < 600_000 ? tickSeconds : tickMinutes).format(Number(v)),
            maxTicksLimit: 5,
            maxRotation: 0,
            // Room between the axis and its labels for the alert marks.
            padding: 16,
          },
        },
        // Stacked top to bottom in the reverse of this order.
        temp: temperatureScale({ stack: 'trip', offset: true, ticks: { maxTicksLimit: 4 } }),
        battery: batteryScale({ position: 'left', stack: 'trip', offset: true, ticks: { maxTicksLimit: 3 } }),
        speed: speedScale({ stack: 'trip', offset: true, ticks: { maxTicksLimit: 4 } }),
      },
      plugins: {
        legend: { labels: { boxWidth: 10 } },
        tooltip: { callbacks: { title: (items) => when.format(items[0]?.parsed.x ?? 0) } },
      },
    },
    plugins: [
      {
        id: 'plotArea',
        afterLayout: (c: Chart) => {
          const a = c.chartArea;
          const next = { left: a.left, top: a.top, width: a.right - a.left, height: a.bottom - a.top };
          setArea((prev) =>
            prev && Object.entries(next).every(([k, v]) => prev[k as keyof Area] === v) ? prev : next,
          );
        },
      },
    ],
  }));

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    const line = (label: string, values: number[], colour: string, yAxisID: string) => ({
      label,
      data: downsample(samples.times, values, MAX_DRAWN_POINTS),
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 1.5,
      yAxisID,
      pointRadius: 0,
    });
    chart.data.datasets = [
      line('Speed (km/h)', samples.speed, SERIES_COLOURS.speed, 'speed'),
      line('Battery (%)', samples.battery, SERIES_COLOURS.battery, 'battery'),
      line('Temperature (°C)', samples.temp, SERIES_COLOURS.temp, 'temp'),
    ];
    chart.update();
  }, [samples, chartRef]);

  const i = nearestSampleIndex(samples.times, cursor);
  const cursorAt = fractionOf(cursor, start, end);
  return (
    <>
      <div className="chart-box trip-chart" data-testid="playback-chart" data-samples={samples.times.length}>
        <canvas
          ref={canvasRef}
          role="img"
          aria-label={`Speed, battery and engine temperature from ${when.format(start)} to ${when.format(end)}`}
        />
        {area && (
          <div className="trip-plot" style={{ left: area.left, top: area.top, width: area.width, height: area.height }}>
            <div
              className="trip-cursor"
              data-testid="playback-chart-cursor"
              data-time={cursor}
              style={{ left: `${cursorAt * 100}%` }}
            />
            <TripMarks alerts={alerts} atCursor={atCursor} start={start} end={end} onPick={onPick} />
          </div>
        )}
      </div>
      <dl className="metrics trip-readout" aria-label="At the cursor">
        <div>
          <dt>Speed</dt>
          <dd data-testid="playback-chart-speed">{i < 0 ? '–' : formatKmh(samples.speed[i]!)}</dd>
        </div>
        <div>
          <dt>Battery</dt>
          <dd data-testid="playback-chart-battery">{i < 0 ? '–' : pct.format(samples.battery[i]!)}</dd>
        </div>
        <div>
          <dt>Temperature</dt>
          <dd data-testid="playback-chart-temp">{i < 0 ? '–' : celsius.format(samples.temp[i]!)}</dd>
        </div>
        <div>
          <dt>Reading at</dt>
          <dd>{i < 0 ? '–' : when.format(samples.times[i]!)}</dd>
        </div>
      </dl>
    </>
  );
}

/** The alerts on the time axis: mouse shortcuts for the list, the keyboard's way to the same. */
const TripMarks = memo(function TripMarks(props: {
  alerts: TripAlert[];
  atCursor: Set<string>;
  start: number;
  end: number;
  onPick: (t: number) => void;
}) {
  const { alerts, atCursor, start, end, onPick } = props;
  return (
    <div className="trip-marks" aria-hidden="true">
      {alerts.map((a) => (
        <button
          key={a.id}
          type="button"
          tabIndex={-1}
          className={`trip-mark mark-${a.severity}${atCursor.has(a.id) ? ' at-cursor' : ''}`}
          data-testid="playback-alert-mark"
          data-alert-id={a.id}
          style={{ left: `${fractionOf(a.time, start, end) * 100}%` }}
          title={`${a.alert_type} (${a.severity}) at ${when.format(a.time)}`}
          onClick={() => onPick(a.time)}
        />
      ))}
    </div>
  );
});

const TripAlertList = memo(function TripAlertList(props: {
  alerts: TripAlert[];
  atCursor: Set<string>;
  status: 'loading' | 'loaded' | 'error';
  error: string | null;
  complete: boolean;
  onRetry: () => void;
  onPick: (t: number) => void;
}) {
  const { alerts, atCursor, status, onPick } = props;
  const listRef = useRef<HTMLUListElement>(null);
  const first = alerts.find((a) => atCursor.has(a.id))?.id ?? null;

  // Keeps the highlighted alert in sight, scrolling the list only (never the page around it).
  useEffect(() => {
    const list = listRef.current;
    if (!list || !first) return;
    const item = [...list.children].find(
      (li) => li.firstElementChild?.getAttribute('data-alert-id') === first,
    ) as HTMLElement | undefined;
    if (!item) return;
    if (item.offsetTop < list.scrollTop) list.scrollTop = item.offsetTop;
    else if (item.offsetTop + item.offsetHeight > list.scrollTop + list.clientHeight)
      list.scrollTop = item.offsetTop + item.offsetHeight - list.clientHeight;
  }, [first]);

  let body;
  if (status === 'loading') {
    body = (
      <p className="muted" role="status">
        Loading the alerts…
      </p>
    );
  } else if (status === 'error') {
    body = (
      <p className="error" role="alert">
        Could not load the alerts: {props.error} <button onClick={props.onRetry}>Retry</button>
      </p>
    );
  } else if (!alerts.length) {
    body = (
      <p className="muted" data-testid="playback-alerts-empty">
        No alerts in this window.
      </p>
    );
  } else {
    body = (
      <ul className="trip-alerts" ref={listRef} data-testid="playback-alerts">
        {alerts.map((a) => {
          const current = atCursor.has(a.id);
          return (
            <li key={a.id}>
              <button
                type="button"
                className={`trip-alert alert-sev-${a.severity}${current ? ' at-cursor' : ''}`}
                data-testid="playback-alert"
                data-alert-id={a.id}
                data-time={a.time}
                aria-current={current ? 'time' : undefined}
                onClick={() => onPick(a.time)}
              >
                <span className="alert-head">
                  <span className={`severity severity-${a.severity}`}>{a.severity}</span>
                  <strong>{a.alert_type}</strong>
                  <time dateTime={a.triggered_at}>{when.format(a.time)}</time>
                  {current && <span className="at-cursor-label">at the cursor</span>}
                </span>
                <span className="trip-alert-body">
                  {plain.format(a.value)} (threshold {plain.format(a.threshold)})
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    );
  }

  return (
    <div className="trip-alerts-box">
      <h3>
        Alerts in the window{status === 'loaded' && ` (${formatCount(alerts.length)})`}
      </h3>
      <p className="muted small">
        Highlighted: raised at the cursor or up to {recentSeconds} before it. Choose one to move the cursor
        there.
      </p>
      {body}
      {status === 'loaded' && !props.complete && (
        <p className="muted small">
          Only the newest {formatCount(ALERT_PAGE)} open and {formatCount(ALERT_PAGE)} acknowledged alerts
          were read: older ones in the window may be missing.
        </p>
      )}
    </div>
  );
});
