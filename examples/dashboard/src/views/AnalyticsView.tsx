/**
 * The Analytics view, in two sections (tabs, kept in the URL): the fleet's performance over a
 * chosen time range (table plus distance/speed chart) under the export of the fleet's records,
 * and the fleet's daily report (`ReportsSection`).
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { Chart } from '../components/charts';
import { useAppDispatch, useAppSelector } from '../store';
import { customRangeChosen, fetchFleetReport, rangePresetChosen, windowOf } from '../store/analyticsSlice';
import { vehicleSelected } from '../store/fleetSlice';
import { analyticsTabChosen, ANALYTICS_TABS, viewChosen, type AnalyticsTab } from '../store/uiSlice';
import { formatNumber } from '../hooks';
import { ExportPanel } from '../components/ExportPanel';
import { ReportsSection } from './ReportsSection';

const PRESETS: [number, string][] = [
  [60, 'Last hour'],
  [6 * 60, '6 hours'],
  [24 * 60, '24 hours'],
  [7 * 24 * 60, '7 days'],
  [30 * 24 * 60, '30 days'],
];

/** `datetime-local` value (local time, no zone) ⇄ ISO. */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function PerformanceSection() {
  const dispatch = useAppDispatch();
  const fleetId = useAppSelector((s) => s.fleet.fleetId);
  const analytics = useAppSelector((s) => s.analytics);
  const { report, reportLoading, reportError, rangeMinutes, customRange } = analytics;
  const [from, setFrom] = useState(() => toLocalInput(new Date(Date.now() - 3_600_000).toISOString()));
  const [to, setTo] = useState(() => toLocalInput(new Date().toISOString()));
  const canvasRef = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    if (!fleetId) return;
    void dispatch(fetchFleetReport({ fleetId, window: windowOf({ ...analytics }, Date.now()) }));
    // Refetch when the range changes, not on every analytics change.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [fleetId, rangeMinutes, customRange, dispatch]);

  useEffect(() => {
    if (!canvasRef.current || !report) return;
    const top = [...report.vehicles].sort((a, b) => b.distance_km - a.distance_km).slice(0, 30);
    const chart = new Chart(canvasRef.current, {
      type: 'bar',
      data: {
        labels: top.map((v) => v.vehicle_id.replace(/^.*-(VH-\d+)$/, '$1')),
        datasets: [
          { label: 'Distance (km)', data: top.map((v) => v.distance_km), backgroundColor: '#38bdf8', yAxisID: 'km' },
          { label: 'Avg speed (km/h)', data: top.map((v) => v.avg_speed), backgroundColor: '#a78bfa', yAxisID: 'kmh' },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          km: { type: 'linear', position: 'left', beginAtZero: true },
          kmh: { type: 'linear', position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } },
        },
      },
    });
    return () => chart.destroy();
  }, [report]);

  const rows = report ? [...report.vehicles].sort((a, b) => b.distance_km - a.distance_km) : [];
  const total = rows.reduce((acc, v) => acc + v.distance_km, 0);
  return (
    <>
      {/* Keyed by fleet: another fleet's vehicle is no choice for this one. */}
      {fleetId && <ExportPanel key={fleetId} fleetId={fleetId} />}
      <h2>Fleet performance</h2>
      <div className="range-picker" data-testid="range-picker">
        {PRESETS.map(([minutes, label]) => (
          <button
            key={minutes}
            className={rangeMinutes === minutes ? 'active' : undefined}
            onClick={() => dispatch(rangePresetChosen(minutes))}
          >
            {label}
          </button>
        ))}
        <form
          className="custom-range"
          onSubmit={(e) => {
            e.preventDefault();
            dispatch(customRangeChosen({ from: new Date(from).toISOString(), to: new Date(to).toISOString() }));
          }}
        >
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} aria-label="From" />
          <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} aria-label="To" />
          <button type="submit" className={rangeMinutes === null ? 'active' : undefined}>
            Apply
          </button>
        </form>
      </div>
      {reportError && <div className="error">{reportError}</div>}
      {reportLoading && <div className="muted">Loading…</div>}
      {report && (
        <>
          <p className="muted">
            {rows.length} vehicles · {formatNumber(total)} km in total · {new Date(report.from).toLocaleString()} –{' '}
            {new Date(report.to).toLocaleString()}
          </p>
          <div className="chart-box wide">
            <canvas ref={canvasRef} />
          </div>
          <table className="report" data-testid="performance-table">
            <thead>
              <tr>
                <th>Vehicle</th>
                <th>Distance (km)</th>
                <th>Avg speed (km/h)</th>
                <th>Avg battery (%)</th>
                <th>Alerts</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((v) => (
                <tr key={v.vehicle_id}>
                  <td>
                    <button
                      className="link"
                      onClick={() => {
                        dispatch(vehicleSelected(v.vehicle_id));
                        dispatch(viewChosen('map'));
                      }}
                    >
                      {v.vehicle_id}
                    </button>
                  </td>
                  <td>{formatNumber(v.distance_km, 2)}</td>
                  <td>{formatNumber(v.avg_speed)}</td>
                  <td>{formatNumber(v.avg_battery)}</td>
                  <td>{v.alerts}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

const TAB_LABELS: Record<AnalyticsTab, string> = {
  performance: 'Performance and export',
  reports: 'Daily reports',
};

export function AnalyticsView() {
  const dispatch = useAppDispatch();
  const tab = useAppSelector((s) => s.ui.analyticsTab);
  const fleetId = useAppSelector((s) => s.fleet.fleetId);
  const id = useId();
  const tabRefs = useRef<Partial<Record<AnalyticsTab, HTMLButtonElement | null>>>({});

  // Tabs as the ARIA pattern has them: Tab reaches the chosen one, the arrows (Home, End) choose.
  const onKeyDown = (e: KeyboardEvent) => {
    const i = ANALYTICS_TABS.indexOf(tab);
    const n = ANALYTICS_TABS.length;
    const next =
      e.key === 'ArrowRight' ? ANALYTICS_TABS[(i + 1) % n]
      : e.key === 'ArrowLeft' ? ANALYTICS_TABS[(i - 1 + n) % n]
      : e.key === 'Home' ? ANALYTICS_TABS[0]
      : e.key === 'End' ? ANALYTICS_TABS[n - 1]
      : undefined;
    if (!next) return;
    e.preventDefault();
    dispatch(analyticsTabChosen(next));
    tabRefs.current[next]?.focus();
  };

  return (
    <section className="analytics-view" data-testid="analytics-view">
      <div role="tablist" aria-label="Analytics" className="analytics-tabs" onKeyDown={onKeyDown}>
        {ANALYTICS_TABS.map((t) => (
          <button
            key={t}
            ref={(el) => {
              tabRefs.current[t] = el;
            }}
            type="button"
            role="tab"
            id={`${id}-tab-${t}`}
            aria-selected={tab === t}
            aria-controls={tab === t ? `${id}-panel-${t}` : undefined}
            tabIndex={tab === t ? 0 : -1}
            className={tab === t ? 'active' : undefined}
            data-testid={`analytics-tab-${t}`}
            onClick={() => dispatch(analyticsTabChosen(t))}
          >
            {TAB_LABELS[t]}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-panel-${tab}`} aria-labelledby={`${id}-tab-${tab}`}>
        {tab === 'performance' ? <PerformanceSection /> : fleetId && <ReportsSection key={fleetId} fleetId={fleetId} />}
      </div>
    </section>
  );
}
