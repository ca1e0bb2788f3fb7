/**
 * The fleet's daily report (Analytics view, Reports section): calendar days in the site's local
 * time (a UTC offset), the whole fleet or one vehicle. Fleet totals as cards, distance and the
 * hours in each state per day as charts (with the same figures as a table), and a table of the
 * vehicles, sortable by each figure; a vehicle's row opens its days under it.
 *
 * What was run, the open vehicle and the sort are in the store and so in the URL (`urlState`):
 * a reload shows the same report.
 */
import { useCallback, useEffect, useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useAppDispatch, useAppSelector, type RootState } from '../store';
import { selectVehicleIds } from '../store/fleetSlice';
import { failureOf, refreshFleetReports, useFleetDailyReportQuery } from '../store/reportsApi';
import { cancelExport, startExport } from '../store/exportSlice';
import { formatBytes } from '../store/exportForm';
import { reportRun, reportSortChosen, reportVehicleToggled } from '../store/reportsSlice';
import {
  alertTypes,
  dailyChartData,
  formOf,
  sortVehicles,
  STATE_SERIES,
  utcOffsetChoices,
  validateReportForm,
  vehicleDays,
  type DailyChartData,
  type ReportField,
  type ReportForm,
  type VehicleSort,
  type VehicleSortKey,
} from '../store/reports';
import type { FleetDailyReport, ReportFigures, VehicleFigures } from '../types';
import type { DailyReportRequest, ExportFormat } from '../api/client';
import { useThrottledSelector } from '../hooks';
import {
  formatCount,
  formatDay,
  formatDuration,
  formatFailure,
  formatKm,
  formatKmh,
  formatUtcOffset,
} from '../format';
import { distanceScale, hoursScale, SERIES_COLOURS, useChart } from '../components/charts';
import { STATUS_COLORS } from '../map/style';

/** Vehicles listed before "Show all": a 10,000-vehicle fleet is a long table. */
const VEHICLE_ROWS = 100;

export function ReportsSection({ fleetId }: { fleetId: string }) {
  const dispatch = useAppDispatch();
  const { params, openVehicleId, sort } = useAppSelector((s) => s.reports);
  const vehicleIds = useThrottledSelector(
    useCallback((s: RootState) => selectVehicleIds(s), []),
    2000,
  );
  const [form, setForm] = useState<ReportForm>(() => formOf(params));
  const [attempted, setAttempted] = useState(false);
  // What was run changed elsewhere (another fleet drops the vehicle filter): the form follows.
  useEffect(() => setForm(formOf(params)), [params]);

  const query = useFleetDailyReportQuery({ fleetId, ...params });
  const report = query.currentData;
  const failure = query.isError ? failureOf(query.error) : null;

  const id = useId();
  const fieldIds: Record<ReportField, string> = {
    from: `${id}-from`,
    to: `${id}-to`,
    utc_offset_minutes: `${id}-utc`,
    vehicle_id: `${id}-vehicle`,
  };
  const { errors } = validateReportForm(form);
  const shown: Partial<Record<ReportField, string>> = attempted ? errors : {};
  const same =
    form.from === params.from &&
    form.to === params.to &&
    form.utcOffsetMinutes === String(params.utcOffsetMinutes) &&
    (form.vehicleId || null) === params.vehicleId;
  // The server's complaint is about what was run: next to its field while the form still says it.
  const fieldError = (f: ReportField) => shown[f] ?? (same && failure?.field === f ? failure.message : undefined);
  const described = (f: ReportField) => (fieldError(f) ? `${fieldIds[f]}-error` : undefined);
  const errorText = (f: ReportField) => {
    const message = fieldError(f);
    return message ? (
      <span className="field-error" id={`${fieldIds[f]}-error`} data-testid={`report-${f}-error`}>
        {message}
      </span>
    ) : null;
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    // Busy, not disabled: pressed again while the same report runs, it asks for nothing more.
    if (same && query.isFetching) return;
    setAttempted(true);
    const checked = validateReportForm(form);
    if (!checked.params) {
      const first = (['from', 'to', 'utc_offset_minutes'] as const).find((f) => checked.errors[f]);
      if (first) document.getElementById(fieldIds[first])?.focus();
      return;
    }
    if (same) dispatch(refreshFleetReports(fleetId));
    else dispatch(reportRun(checked.params));
  };

  const offset = Number(form.utcOffsetMinutes);
  const status = query.isFetching ? 'loading' : query.isError ? 'error' : report ? 'loaded' : 'idle';
  return (
    <section className="reports" aria-labelledby={`${id}-heading`} data-testid="reports-section" data-status={status}>
      <h2 id={`${id}-heading`}>Daily report of {fleetId}</h2>
      <form noValidate className="report-form" onSubmit={submit}>
        <div className="field">
          <label htmlFor={fieldIds.from}>From</label>
          <input
            id={fieldIds.from}
            type="date"
            data-testid="report-from"
            value={form.from}
            aria-invalid={!!fieldError('from')}
            aria-describedby={described('from')}
            onChange={(e) => setForm((f) => ({ ...f, from: e.target.value }))}
          />
          {errorText('from')}
        </div>
        <div className="field">
          <label htmlFor={fieldIds.to}>To</label>
          <input
            id={fieldIds.to}
            type="date"
            data-testid="report-to"
            value={form.to}
            aria-invalid={!!fieldError('to')}
            aria-describedby={described('to')}
            onChange={(e) => setForm((f) => ({ ...f, to: e.target.value }))}
          />
          {errorText('to')}
        </div>
        <div className="field">
          <label htmlFor={fieldIds.utc_offset_minutes}>Site time (UTC offset)</label>
          <select
            id={fieldIds.utc_offset_minutes}
            data-testid="report-utc-offset"
            value={form.utcOffsetMinutes}
            aria-invalid={!!fieldError('utc_offset_minutes')}
            aria-describedby={described('utc_offset_minutes')}
            onChange={(e) => setForm((f) => ({ ...f, utcOffsetMinutes: e.target.value }))}
          >
            {utcOffsetChoices(Number.isNaN(offset) ? undefined : offset).map((m) => (
              <option key={m} value={String(m)}>
                {formatUtcOffset(m)}
              </option>
            ))}
          </select>
          {errorText('utc_offset_minutes')}
        </div>
        <div className="field">
          <label htmlFor={fieldIds.vehicle_id}>Vehicle</label>
          <select
            id={fieldIds.vehicle_id}
            data-testid="report-vehicle"
            value={form.vehicleId}
            aria-invalid={!!fieldError('vehicle_id')}
            aria-describedby={described('vehicle_id')}
            onChange={(e) => setForm((f) => ({ ...f, vehicleId: e.target.value }))}
          >
            <option value="">All vehicles ({formatCount(vehicleIds.length)})</option>
            {form.vehicleId && !vehicleIds.includes(form.vehicleId) && (
              <option value={form.vehicleId}>{form.vehicleId}</option>
            )}
            {vehicleIds.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
          {errorText('vehicle_id')}
        </div>
        <div className="field report-run">
          <button type="submit" className="primary" data-testid="report-run-btn" aria-disabled={same && query.isFetching}>
            {same ? 'Refresh' : 'Run report'}
          </button>
        </div>
      </form>

      <div role="status" className="report-status" data-testid="report-status">
        {query.isFetching && (report ? 'Updating the report…' : 'Running the report…')}
      </div>
      {failure && (
        <p className="error" role="alert" data-testid="report-error" data-field={failure.field ?? ''}>
          {formatFailure('The report failed', failure)}: {failure.message}{' '}
          <button type="button" onClick={() => void query.refetch()}>
            Retry
          </button>
        </p>
      )}
      {report && <ReportDownload request={{ fleetId, ...params }} />}
      {report && (
        <ReportBody
          report={report}
          openVehicleId={openVehicleId}
          sort={sort}
          onSort={(key) => dispatch(reportSortChosen(key))}
          onToggle={(v) => dispatch(reportVehicleToggled(v))}
        />
      )}
    </section>
  );
}

/**
 * The report's rows (one per vehicle and day) as a file, through the export slot the Export
 * panel uses (one download at a time, with the token, saved under the server's name).
 */
function ReportDownload({ request }: { request: DailyReportRequest }) {
  const dispatch = useAppDispatch();
  const state = useAppSelector((s) => s.export);
  const mine = state.request?.kind === 'report';
  const downloading = state.status === 'downloading';
  const download = (format: ExportFormat) => {
    if (!downloading) void dispatch(startExport({ kind: 'report', report: request, format }));
  };
  return (
    <div className="row report-download" data-testid="report-download" data-status={mine ? state.status : 'idle'}>
      <button type="button" data-testid="report-download-csv" aria-disabled={downloading} onClick={() => download('csv')}>
        Download CSV
      </button>
      <button type="button" aria-disabled={downloading} onClick={() => download('parquet')}>
        Download Parquet
      </button>
      {mine && downloading && (
        <button type="button" onClick={() => cancelExport(state.requestId)}>
          Cancel
        </button>
      )}
      <span role="status" className="muted">
        {mine && downloading && (state.bytes > 0 ? `${formatBytes(state.bytes)} received` : 'Waiting for the server…')}
        {mine && state.status === 'done' && state.fileName && `Downloaded ${state.fileName} (${formatBytes(state.bytes)})`}
        {mine && state.status === 'cancelled' && 'Download cancelled.'}
        {!mine && downloading && 'Another export is downloading: wait for it, or cancel it in the Export panel.'}
      </span>
      {mine && state.status === 'error' && state.error && (
        <span className="error" role="alert">
          {formatFailure('The download failed', state.error)}: {state.error.message}
        </span>
      )}
    </div>
  );
}

function ReportBody(props: {
  report: FleetDailyReport;
  openVehicleId: string | null;
  sort: VehicleSort;
  onSort: (key: VehicleSortKey) => void;
  onToggle: (vehicleId: string) => void;
}) {
  const { report } = props;
  const range =
    report.from === report.to ? formatDay(report.from) : `${formatDay(report.from)} – ${formatDay(report.to)}`;
  const chart = useMemo(() => dailyChartData(report.fleet_days, report.from, report.to), [report]);
  return (
    <>
      <p className="muted">
        {range} ({formatUtcOffset(report.utc_offset_minutes)}) · {formatCount(report.vehicles.length)} vehicles ·{' '}
        {formatCount(report.fleet.readings)} readings
      </p>
      <FleetCards figures={report.fleet} />
      <DailyCharts data={chart} />
      <details className="report-days-table">
        <summary>The fleet&apos;s figures by day</summary>
        <table className="report">
          <FiguresHead first="Day" />
          <tbody>
            {report.fleet_days.map((d) => (
              <tr key={d.day} data-testid="report-fleet-day">
                <th scope="row">{formatDay(d.day)}</th>
                <FigureCells figures={d} />
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <VehicleTable {...props} />
    </>
  );
}

/** The fleet's totals. */
function FleetCards({ figures }: { figures: ReportFigures }) {
  const cards: [string, string, string, number | null][] = [
    ['distance', 'Distance', formatKm(figures.distance_km), figures.distance_km],
    ['driving', 'Driving', formatDuration(figures.driving_s), figures.driving_s],
    ['idle', 'Idle', formatDuration(figures.idle_s), figures.idle_s],
    ['stopped', 'Stopped', formatDuration(figures.stopped_s), figures.stopped_s],
    ['charging', 'Charging', formatDuration(figures.charging_s), figures.charging_s],
    ['avg-speed', 'Avg speed', formatKmh(figures.avg_speed_kmh), figures.avg_speed_kmh],
    ['max-speed', 'Max speed', formatKmh(figures.max_speed_kmh), figures.max_speed_kmh],
    ['alerts', 'Alerts', formatCount(figures.alerts), figures.alerts],
    ['missions', 'Missions completed', formatCount(figures.missions_completed), figures.missions_completed],
  ];
  return (
    <dl className="report-cards" aria-label="Fleet totals">
      {cards.map(([key, label, text, value]) => (
        <div key={key} className="card" data-testid={`report-card-${key}`} data-value={value ?? ''}>
          <dt className="card-label">{label}</dt>
          <dd className="card-value">{text}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Distance per day, and the hours in each state per day (stacked). */
function DailyCharts({ data }: { data: DailyChartData }) {
  const distanceRef = useRef<HTMLCanvasElement>(null);
  const hoursRef = useRef<HTMLCanvasElement>(null);
  const distanceChart = useChart<'bar'>(distanceRef, () => ({
    type: 'bar',
    data: { labels: [], datasets: [] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: distanceScale() },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (item) => formatKm(Number(item.raw)) } },
      },
    },
  }));
  const hoursChart = useChart<'bar'>(hoursRef, () => ({
    type: 'bar',
    data: { labels: [], datasets: [] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: hoursScale({ stacked: true }) },
      plugins: {
        legend: { labels: { boxWidth: 10 } },
        tooltip: {
          callbacks: { label: (item) => `${item.dataset.label}: ${formatDuration(Number(item.raw) * 3600)}` },
        },
      },
    },
  }));

  useEffect(() => {
    const labels = data.days.map((d) => formatDay(d));
    const distance = distanceChart.current;
    if (distance) {
      distance.data.labels = labels;
      distance.data.datasets = [
        { label: 'Distance (km)', data: data.distanceKm, backgroundColor: SERIES_COLOURS.distance },
      ];
      distance.update();
    }
    const hours = hoursChart.current;
    if (hours) {
      hours.data.labels = labels;
      hours.data.datasets = STATE_SERIES.map((s) => ({
        label: s.label,
        data: data.hours[s.key],
        backgroundColor: STATUS_COLORS[s.status],
      }));
      hours.update();
    }
  }, [data, distanceChart, hoursChart]);

  const total = data.distanceKm.reduce((a, b) => a + b, 0);
  return (
    <div className="report-charts">
      <figure>
        <figcaption>Distance per day</figcaption>
        <div className="chart-box">
          <canvas
            ref={distanceRef}
            role="img"
            data-testid="report-distance-chart"
            aria-label={`Distance per day over ${formatCount(data.days.length)} days, ${formatKm(total)} in all (figures in the table by day)`}
          />
        </div>
      </figure>
      <figure>
        <figcaption>Hours driving, idle, stopped and charging per day</figcaption>
        <div className="chart-box">
          <canvas
            ref={hoursRef}
            role="img"
            aria-label="Hours in each state per day, stacked (figures in the table by day)"
          />
        </div>
      </figure>
    </div>
  );
}

const COLUMNS: [VehicleSortKey, string][] = [
  ['distance_km', 'Distance'],
  ['driving_s', 'Driving'],
  ['idle_s', 'Idle'],
  ['stopped_s', 'Stopped'],
  ['charging_s', 'Charging'],
  ['avg_speed_kmh', 'Avg speed'],
  ['max_speed_kmh', 'Max speed'],
  ['alerts', 'Alerts'],
  ['missions_completed', 'Missions'],
];

function FiguresHead({ first, sort, onSort }: { first: string; sort?: VehicleSort; onSort?: (k: VehicleSortKey) => void }) {
  const th = (key: VehicleSortKey, label: string): ReactNode => {
    if (!sort || !onSort) {
      return (
        <th key={key} scope="col">
          {label}
        </th>
      );
    }
    const active = sort.key === key;
    return (
      <th key={key} scope="col" aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
        <button type="button" className="sort" data-testid={`report-sort-${key}`} onClick={() => onSort(key)}>
          {label}
          <span aria-hidden="true">{active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</span>
        </button>
      </th>
    );
  };
  return (
    <thead>
      <tr>
        {sort && onSort ? th('vehicle_id', first) : <th scope="col">{first}</th>}
        {COLUMNS.map(([key, label]) => th(key, label))}
      </tr>
    </thead>
  );
}

function FigureCells({ figures }: { figures: ReportFigures }) {
  const types = alertTypes(figures);
  return (
    <>
      <td className="num">{formatKm(figures.distance_km)}</td>
      <td className="num">{formatDuration(figures.driving_s)}</td>
      <td className="num">{formatDuration(figures.idle_s)}</td>
      <td className="num">{formatDuration(figures.stopped_s)}</td>
      <td className="num">{formatDuration(figures.charging_s)}</td>
      <td className="num">{formatKmh(figures.avg_speed_kmh)}</td>
      <td className="num">{formatKmh(figures.max_speed_kmh)}</td>
      <td>
        {formatCount(figures.alerts)}
        {types.length > 0 && (
          <span className="alert-types">
            {types.map(([type, n]) => `${type} ${formatCount(n)}`).join(', ')}
          </span>
        )}
      </td>
      <td className="num">{formatCount(figures.missions_completed)}</td>
    </>
  );
}

function VehicleTable(props: {
  report: FleetDailyReport;
  openVehicleId: string | null;
  sort: VehicleSort;
  onSort: (key: VehicleSortKey) => void;
  onToggle: (vehicleId: string) => void;
}) {
  const { report, openVehicleId, sort, onSort, onToggle } = props;
  const [showAll, setShowAll] = useState(false);
  const id = useId();
  const sorted = sortVehicles(report.vehicles, sort);
  // The open vehicle stays listed even when it is past the first rows.
  const rows: VehicleFigures[] = showAll
    ? sorted
    : sorted.filter((v, i) => i < VEHICLE_ROWS || v.vehicle_id === openVehicleId);
  if (!report.vehicles.length) {
    return (
      <p className="muted" data-testid="report-no-vehicles">
        No vehicle reported in these days.
      </p>
    );
  }
  return (
    <>
      <h3 className="report-subheading">Vehicles</h3>
      <p className="muted small">Choose a vehicle to show its days under it.</p>
      <table className="report report-vehicles" data-testid="report-vehicle-table">
        <FiguresHead first="Vehicle" sort={sort} onSort={onSort} />
        {rows.map((v) => {
          const open = v.vehicle_id === openVehicleId;
          const daysId = `${id}-${v.vehicle_id}`;
          return (
            <VehicleRows
              key={v.vehicle_id}
              vehicle={v}
              open={open}
              daysId={daysId}
              report={report}
              onToggle={onToggle}
            />
          );
        })}
      </table>
      {rows.length < sorted.length && (
        <button type="button" onClick={() => setShowAll(true)}>
          Show all {formatCount(sorted.length)} vehicles
        </button>
      )}
    </>
  );
}

function VehicleRows(props: {
  vehicle: VehicleFigures;
  open: boolean;
  daysId: string;
  report: FleetDailyReport;
  onToggle: (vehicleId: string) => void;
}) {
  const { vehicle, open, daysId, report, onToggle } = props;
  const days = open ? vehicleDays(report, vehicle.vehicle_id) : [];
  return (
    <>
      <tbody>
        {/* The row takes a click anywhere; its button is the keyboard's way (Enter or Space). */}
        <tr
          className={`report-vehicle${open ? ' open' : ''}`}
          data-testid="report-vehicle-row"
          data-vehicle-id={vehicle.vehicle_id}
          onClick={() => onToggle(vehicle.vehicle_id)}
        >
          <th scope="row">
            <button type="button" className="link" aria-expanded={open} aria-controls={open ? daysId : undefined}>
              <span aria-hidden="true">{open ? '▾ ' : '▸ '}</span>
              {vehicle.vehicle_id}
            </button>
          </th>
          <FigureCells figures={vehicle} />
        </tr>
      </tbody>
      {open && (
        <tbody id={daysId} className="report-vehicle-days" aria-label={`${vehicle.vehicle_id} by day`}>
          {days.length ? (
            days.map((d) => (
              <tr key={d.day} data-testid="report-vehicle-day" data-day={d.day}>
                <th scope="row" className="day">
                  {formatDay(d.day)}
                </th>
                <FigureCells figures={d} />
              </tr>
            ))
          ) : (
            <tr>
              <td colSpan={COLUMNS.length + 1} className="muted">
                No daily rows for this vehicle.
              </td>
            </tr>
          )}
        </tbody>
      )}
    </>
  );
}
