import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from '../api/client';
import type { FleetDailyReport, FleetDayFigures, ReportFigures, VehicleFigures } from '../types';
import { createStore } from './index';
import { loggedOut } from './authSlice';
import { fleetChosen } from './fleetSlice';
import { reportsApi, refreshFleetReports } from './reportsApi';
import { startExport } from './exportSlice';
import { initialReportsState, reportRun, reportSortChosen, reportVehicleToggled } from './reportsSlice';
import {
  addDays,
  alertTypes,
  browserUtcOffset,
  dailyChartData,
  dayValue,
  defaultReportParams,
  localDay,
  nextSort,
  sortVehicles,
  toHours,
  utcOffsetChoices,
  validateReportForm,
  vehicleDays,
  type ReportForm,
} from './reports';

function figures(patch: Partial<ReportFigures> = {}): ReportFigures {
  return {
    readings: 100,
    distance_km: 1,
    driving_s: 0,
    idle_s: 0,
    stopped_s: 0,
    charging_s: 0,
    other_s: 0,
    avg_speed_kmh: 5,
    max_speed_kmh: 10,
    alerts: 0,
    alerts_by_type: {},
    missions_completed: 0,
    ...patch,
  };
}

const vehicle = (vehicle_id: string, patch: Partial<ReportFigures> = {}): VehicleFigures => ({
  vehicle_id,
  ...figures(patch),
});

const REPORT: FleetDailyReport = {
  fleet_id: 'fleet-001',
  from: '2026-11-30',
  to: '2026-12-01',
  utc_offset_minutes: -300,
  fleet: figures({ distance_km: 12 }),
  fleet_days: [{ day: '2026-12-01', ...figures({ distance_km: 12, driving_s: 5400 }) }],
  vehicles: [vehicle('AGV-002', { distance_km: 8 }), vehicle('AGV-001', { distance_km: 4 })],
  days: [
    { day: '2026-12-01', ...vehicle('AGV-002', { distance_km: 8 }) },
    { day: '2026-11-30', ...vehicle('AGV-001', { distance_km: 1 }) },
    { day: '2026-12-01', ...vehicle('AGV-001', { distance_km: 3 }) },
  ],
};

describe('report days and offsets', () => {
  // 2026-12-02 03:00 UTC: still Dec 1 at UTC−05:00, already Dec 2 at UTC+01:00.
  const NOW = Date.parse('2026-12-02T03:00:00Z');

  it('the calendar day of an instant depends on the offset', () => {
    expect(localDay(NOW, -300)).toBe('2026-12-01');
    expect(localDay(NOW, 60)).toBe('2026-12-02');
    expect(localDay(NOW, 0)).toBe('2026-12-02');
    expect(localDay(Date.parse('2026-12-01T23:30:00Z'), 840)).toBe('2026-12-02');
  });

  it('the default range is the last seven days ending today at the offset', () => {
    expect(defaultReportParams(NOW, -300)).toEqual({
      from: '2026-11-25',
      to: '2026-12-01',
      utcOffsetMinutes: -300,
      vehicleId: null,
    });
    expect(defaultReportParams(NOW, 60).to).toBe('2026-12-02');
    expect(initialReportsState(NOW, -300).params.from).toBe('2026-11-25');
  });

  it('days are real calendar days', () => {
    expect(dayValue('2026-02-28')).toBe(Date.UTC(2026, 1, 28));
    expect(dayValue('2026-02-30')).toBeNull();
    expect(dayValue('2026-2-3')).toBeNull();
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
  });

  it("the browser's offset is east-positive, and never -0", () => {
    const at = (tzOffset: number) => ({ getTimezoneOffset: () => tzOffset }) as Date;
    expect(browserUtcOffset(at(300))).toBe(-300);
    expect(browserUtcOffset(at(-330))).toBe(330);
    expect(Object.is(browserUtcOffset(at(0)), 0)).toBe(true);
  });

  it('offsets are offered every quarter hour from −12:00 to +14:00, with an odd one kept', () => {
    const choices = utcOffsetChoices();
    expect(choices[0]).toBe(-720);
    expect(choices.at(-1)).toBe(840);
    expect(choices).toHaveLength((840 + 720) / 15 + 1);
    expect(utcOffsetChoices(-17)).toContain(-17);
    expect(utcOffsetChoices(2000)).toHaveLength(choices.length);
  });
});

describe('the report form', () => {
  const form = (patch: Partial<ReportForm> = {}): ReportForm => ({
    from: '2026-11-25',
    to: '2026-12-01',
    utcOffsetMinutes: '-300',
    vehicleId: '',
    ...patch,
  });

  it('gives the parameters of a good form', () => {
    expect(validateReportForm(form({ vehicleId: 'AGV-001' }))).toEqual({
      params: { from: '2026-11-25', to: '2026-12-01', utcOffsetMinutes: -300, vehicleId: 'AGV-001' },
      errors: {},
    });
    // One day is a range.
    expect(validateReportForm(form({ from: '2026-12-01' })).params?.from).toBe('2026-12-01');
  });

  it('names the fields that are wrong', () => {
    expect(validateReportForm(form({ from: '' })).errors).toEqual({ from: 'Choose the first day.' });
    expect(validateReportForm(form({ to: '2026-02-30' })).errors).toEqual({ to: 'Not a valid date.' });
    expect(validateReportForm(form({ from: '2026-12-02' })).errors.from).toMatch(/not be after/);
    expect(validateReportForm(form({ from: '2025-11-30' })).errors.from).toBe('At most 366 days.');
    // 2025-12-01 to 2026-12-01 is 366 days, the most the server reports on.
    expect(validateReportForm(form({ from: '2025-12-01' })).params).not.toBeNull();
    expect(validateReportForm(form({ utcOffsetMinutes: '900' })).errors.utc_offset_minutes).toBeDefined();
    expect(validateReportForm(form({ utcOffsetMinutes: '' })).errors.utc_offset_minutes).toBeDefined();
    expect(validateReportForm(form({ utcOffsetMinutes: '30.5' })).params).toBeNull();
  });
});

describe('the vehicles table and the charts', () => {
  const rows = [
    vehicle('B', { distance_km: 5, avg_speed_kmh: null, alerts: 2 }),
    vehicle('A', { distance_km: 5, avg_speed_kmh: 3, alerts: 0 }),
    vehicle('C', { distance_km: 9, avg_speed_kmh: 7, alerts: 2 }),
  ];
  const ids = (r: VehicleFigures[]) => r.map((v) => v.vehicle_id).join('');

  it('sorts by a figure either way, ties by id, missing figures last', () => {
    expect(ids(sortVehicles(rows, { key: 'distance_km', dir: 'desc' }))).toBe('CAB');
    expect(ids(sortVehicles(rows, { key: 'distance_km', dir: 'asc' }))).toBe('ABC');
    expect(ids(sortVehicles(rows, { key: 'avg_speed_kmh', dir: 'desc' }))).toBe('CAB');
    expect(ids(sortVehicles(rows, { key: 'avg_speed_kmh', dir: 'asc' }))).toBe('ACB');
    expect(ids(sortVehicles(rows, { key: 'vehicle_id', dir: 'desc' }))).toBe('CBA');
    expect(ids(rows)).toBe('BAC');
  });

  it('a column chosen again turns around; another starts largest first (ids A to Z)', () => {
    expect(nextSort({ key: 'distance_km', dir: 'desc' }, 'distance_km')).toEqual({ key: 'distance_km', dir: 'asc' });
    expect(nextSort({ key: 'distance_km', dir: 'asc' }, 'alerts')).toEqual({ key: 'alerts', dir: 'desc' });
    expect(nextSort({ key: 'alerts', dir: 'desc' }, 'vehicle_id')).toEqual({ key: 'vehicle_id', dir: 'asc' });
  });

  it("a vehicle's days in order, and alerts by type most frequent first", () => {
    expect(vehicleDays(REPORT, 'AGV-001').map((d) => [d.day, d.distance_km])).toEqual([
      ['2026-11-30', 1],
      ['2026-12-01', 3],
    ]);
    expect(vehicleDays(REPORT, 'nope')).toEqual([]);
    expect(alertTypes(figures({ alerts_by_type: { LOW_BATTERY: 1, OVERSPEED: 2, ALERT: 1, NONE: 0 } }))).toEqual([
      ['OVERSPEED', 2],
      ['ALERT', 1],
      ['LOW_BATTERY', 1],
    ]);
  });

  it('charts every day of the range, a day without figures as zero, and hours to the hundredth', () => {
    const day = (d: string, patch: Partial<ReportFigures>): FleetDayFigures => ({ day: d, ...figures(patch) });
    const data = dailyChartData(
      [day('2026-11-27', { distance_km: 3, driving_s: 5400, charging_s: 36 }), day('2026-11-25', { distance_km: 1.5 })],
      '2026-11-25',
      '2026-11-27',
    );
    expect(data.days).toEqual(['2026-11-25', '2026-11-26', '2026-11-27']);
    expect(data.distanceKm).toEqual([1.5, 0, 3]);
    expect(data.hours.driving).toEqual([0, 0, 1.5]);
    expect(data.hours.charging).toEqual([0, 0, 0.01]);
    expect(Object.keys(data.hours)).toEqual(['driving', 'idle', 'stopped', 'charging']);
    // A day the server gave outside the range is not dropped.
    expect(dailyChartData([day('2026-12-05', {})], '2026-11-25', '2026-11-26').days).toEqual([
      '2026-11-25',
      '2026-11-26',
      '2026-12-05',
    ]);
    expect(toHours(30_000)).toBe(8.33);
  });
});

describe('the report slice', () => {
  it('keeps what was run, the open vehicle and the sort; another fleet drops the vehicle', () => {
    const store = createStore(new ApiClient('/api/v1'));
    const params = { from: '2026-11-01', to: '2026-11-30', utcOffsetMinutes: 60, vehicleId: 'AGV-001' };
    store.dispatch(reportVehicleToggled('AGV-001'));
    store.dispatch(reportRun(params));
    store.dispatch(reportSortChosen('alerts'));
    // The first fleet chosen (the operator's, on login) keeps the vehicles a link named.
    store.dispatch(fleetChosen('fleet-001'));
    expect(store.getState().reports).toEqual({
      fleetId: 'fleet-001',
      params,
      openVehicleId: 'AGV-001',
      sort: { key: 'alerts', dir: 'desc' },
    });
    store.dispatch(reportVehicleToggled('AGV-001'));
    expect(store.getState().reports.openVehicleId).toBeNull();
    store.dispatch(reportVehicleToggled('AGV-001'));
    // Filtered to another vehicle: the open one is not in the report any more.
    store.dispatch(reportRun({ ...params, vehicleId: 'AGV-002' }));
    expect(store.getState().reports.openVehicleId).toBeNull();
    store.dispatch(fleetChosen('fleet-002'));
    expect(store.getState().reports.params).toEqual({ ...params, vehicleId: null });
  });
});

/** A server answering the report with `answer`, recording the URLs asked for. */
function reportServer(answer: (url: URL) => [number, unknown]) {
  const urls: URL[] = [];
  const fetchImpl: FetchLike = async (url, init) => {
    const u = new URL(url, 'http://x');
    urls.push(u);
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer t0k');
    const [status, body] = answer(u);
    return Response.json(body, { status });
  };
  const api = new ApiClient('/api/v1', fetchImpl);
  api.setToken('t0k');
  return { api, urls };
}

describe('the report RTK Query endpoint', () => {
  const req = { fleetId: 'fleet-001', from: '2026-11-30', to: '2026-12-01', utcOffsetMinutes: -300, vehicleId: null };

  it('asks for the days at the offset with the token, caches, and reads again on Refresh', async () => {
    const { api, urls } = reportServer(() => [200, REPORT]);
    const store = createStore(api);
    const first = await store.dispatch(reportsApi.endpoints.fleetDailyReport.initiate(req));
    expect(first.data?.vehicles.map((v) => v.vehicle_id)).toEqual(['AGV-002', 'AGV-001']);
    expect(urls[0]!.pathname).toBe('/api/v1/reports/fleet/fleet-001');
    expect(Object.fromEntries(urls[0]!.searchParams)).toEqual({
      from: '2026-11-30',
      to: '2026-12-01',
      utc_offset_minutes: '-300',
    });
    // Served from the cache while subscribed…
    const sub = store.dispatch(reportsApi.endpoints.fleetDailyReport.initiate(req));
    await sub;
    expect(urls).toHaveLength(1);
    // …read again when the fleet's reports are refreshed.
    store.dispatch(refreshFleetReports('fleet-001'));
    await new Promise((r) => setTimeout(r, 10));
    expect(urls).toHaveLength(2);
    sub.unsubscribe();

    await store.dispatch(reportsApi.endpoints.fleetDailyReport.initiate({ ...req, vehicleId: 'AGV-001' }));
    expect(urls[2]!.searchParams.get('vehicle_id')).toBe('AGV-001');

    store.dispatch(loggedOut());
    expect(reportsApi.endpoints.fleetDailyReport.select(req)(store.getState()).data).toBeUndefined();
  });

  it("gives the server's detail, status and field when it refuses", async () => {
    const { api } = reportServer(() => [
      422,
      { detail: 'from: at most 366 days', error: 'VALIDATION_ERROR', status_code: 422, field: 'from' },
    ]);
    const store = createStore(api);
    const result = await store.dispatch(reportsApi.endpoints.fleetDailyReport.initiate(req));
    expect(result.error).toEqual({ message: 'from: at most 366 days', status: 422, field: 'from' });
  });
});

describe("the report's rows as a file", () => {
  it('asks the report endpoint for the format and saves under the name the server gives', async () => {
    const asked: string[] = [];
    const fetchImpl: FetchLike = async (url, init) => {
      asked.push(url);
      expect((init?.headers as Record<string, string>).Accept).toMatch(/^text\/csv/);
      return new Response('vehicle_id,day,distance_km\nAGV-001,2026-12-01,3\n', {
        headers: {
          'Content-Type': 'text/csv',
          'Content-Disposition': 'attachment; filename="fleet-001_AGV-001_report_2026-11-30_2026-12-01.csv"',
        },
      });
    };
    const saved: string[] = [];
    const store = createStore(new ApiClient('/api/v1', fetchImpl), undefined, {
      saveFile: (_blob, name) => saved.push(name),
    });
    await store.dispatch(
      startExport({
        kind: 'report',
        report: { fleetId: 'fleet-001', from: '2026-11-30', to: '2026-12-01', utcOffsetMinutes: 330, vehicleId: 'AGV-001' },
        format: 'csv',
      }),
    );
    expect(asked).toEqual([
      '/api/v1/reports/fleet/fleet-001?from=2026-11-30&to=2026-12-01&utc_offset_minutes=330&vehicle_id=AGV-001&format=csv',
    ]);
    expect(saved).toEqual(['fleet-001_AGV-001_report_2026-11-30_2026-12-01.csv']);
    expect(store.getState().export).toMatchObject({ status: 'done', request: { kind: 'report' } });
  });
});
