/**
 * The page's URL keeps where the operator is, so a reload (or a shared link) opens the same
 * place: the view, the fleet, and on the Analytics view its section; on the daily report also
 * its days, UTC offset, vehicle filter, open vehicle and sort; on the Audit view its filter
 * (`action`, `actor`, `audit_fleet`, `audit_from`, `audit_to`). They live in the hash
 * (`#view=analytics&tab=reports&fleet=fleet-001&from=2026-11-25&to=2026-12-01&utc=-300`), which
 * any static server serves, and are written with `history.replaceState` (no history entry per
 * click). A value that makes no sense is ignored: the default stands.
 */
import type { RootState } from './store';
import { ALL_VIEWS, ANALYTICS_TABS, initialUiState, type AnalyticsTab, type UiState, type View } from './store/uiSlice';
import { initialFleetState, type FleetState } from './store/fleetSlice';
import { initialReportsState, type ReportsState } from './store/reportsSlice';
import type { AuditState } from './store/auditSlice';
import { auditFilterFromQuery, auditFilterToQuery, DEFAULT_AUDIT_FILTER, sameAuditFilter, type AuditFilter } from './store/audit';
import {
  DEFAULT_VEHICLE_SORT,
  browserUtcOffset,
  defaultReportParams,
  isUtcOffset,
  isVehicleSortKey,
  validateReportForm,
  type VehicleSort,
} from './store/reports';

/** What a URL says; anything missing or wrong is left out. */
export interface UrlState {
  view?: View;
  analyticsTab?: AnalyticsTab;
  fleetId?: string;
  report?: {
    from?: string;
    to?: string;
    utcOffsetMinutes?: number;
    vehicleId?: string;
    openVehicleId?: string;
    sort?: VehicleSort;
  };
  /** The Audit view's filter, when it is not the default one. */
  audit?: AuditFilter;
}

type UrlSlices = { ui: UiState; fleet: FleetState; reports: ReportsState; audit: AuditState };

export function parseUrlState(hash: string): UrlState {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const out: UrlState = {};
  const view = q.get('view');
  if (view && (ALL_VIEWS as readonly string[]).includes(view)) out.view = view as View;
  const tab = q.get('tab');
  if (tab && (ANALYTICS_TABS as readonly string[]).includes(tab)) out.analyticsTab = tab as AnalyticsTab;
  const fleet = q.get('fleet');
  if (fleet) out.fleetId = fleet;
  const report: NonNullable<UrlState['report']> = {};
  const from = q.get('from');
  const to = q.get('to');
  if (from) report.from = from;
  if (to) report.to = to;
  const utc = q.get('utc');
  if (utc !== null && utc.trim() !== '' && isUtcOffset(Number(utc))) report.utcOffsetMinutes = Number(utc);
  const vehicle = q.get('vehicle');
  if (vehicle) report.vehicleId = vehicle;
  const open = q.get('open');
  if (open) report.openVehicleId = open;
  const sort = /^([a-z_]+)-(asc|desc)$/.exec(q.get('sort') ?? '');
  if (sort && isVehicleSortKey(sort[1]!)) report.sort = { key: sort[1], dir: sort[2] as 'asc' | 'desc' };
  if (Object.keys(report).length) out.report = report;
  const audit = auditFilterFromQuery(q);
  if (!sameAuditFilter(audit, DEFAULT_AUDIT_FILTER)) out.audit = audit;
  return out;
}

/** The hash (without `#`) for the state: only what differs from a fresh page is worth a link. */
export function formatUrlState(s: UrlSlices): string {
  const q = new URLSearchParams();
  q.set('view', s.ui.view);
  if (s.fleet.fleetId) q.set('fleet', s.fleet.fleetId);
  if (s.ui.view === 'analytics') {
    q.set('tab', s.ui.analyticsTab);
    if (s.ui.analyticsTab === 'reports') {
      const { params, openVehicleId, sort } = s.reports;
      q.set('from', params.from);
      q.set('to', params.to);
      q.set('utc', String(params.utcOffsetMinutes));
      if (params.vehicleId) q.set('vehicle', params.vehicleId);
      if (openVehicleId) q.set('open', openVehicleId);
      if (sort.key !== DEFAULT_VEHICLE_SORT.key || sort.dir !== DEFAULT_VEHICLE_SORT.dir) {
        q.set('sort', `${sort.key}-${sort.dir}`);
      }
    }
  }
  if (s.ui.view === 'audit') auditFilterToQuery(s.audit.filter, q);
  return q.toString();
}

/**
 * The store's starting state for a URL: its view, section and fleet, and the report it names.
 * Days that make no range (missing, From after To, too long) give the default range, at the
 * URL's offset when it has one.
 */
export function preloadFromUrl(
  hash: string,
  now: number,
  utcOffsetMinutes = browserUtcOffset(new Date(now)),
): UrlSlices {
  const url = parseUrlState(hash);
  const ui: UiState = {
    ...initialUiState,
    ...(url.view ? { view: url.view } : {}),
    ...(url.analyticsTab ? { analyticsTab: url.analyticsTab } : {}),
  };
  const fleet: FleetState = { ...initialFleetState, fleetId: url.fleetId ?? null };
  const r = url.report ?? {};
  const offset = r.utcOffsetMinutes ?? utcOffsetMinutes;
  const defaults = defaultReportParams(now, offset);
  const { params } = validateReportForm({
    from: r.from ?? '',
    to: r.to ?? '',
    utcOffsetMinutes: String(offset),
    vehicleId: r.vehicleId ?? '',
  });
  const reports: ReportsState = {
    ...initialReportsState(now, offset),
    fleetId: url.fleetId ?? null,
    params: params ?? { ...defaults, vehicleId: r.vehicleId ?? null },
    openVehicleId: r.openVehicleId ?? null,
    sort: r.sort ?? DEFAULT_VEHICLE_SORT,
  };
  return { ui, fleet, reports, audit: { filter: url.audit ?? DEFAULT_AUDIT_FILTER } };
}

interface UrlStore {
  getState: () => Pick<RootState, 'ui' | 'fleet' | 'reports' | 'audit'>;
  subscribe: (listener: () => void) => () => void;
}

interface UrlWindow {
  location: { pathname: string; search: string; hash: string };
  history: { replaceState: (data: unknown, unused: string, url?: string) => void };
}

/** Keeps the URL's hash in step with the store; returns the unsubscribe. */
export function syncUrl(store: UrlStore, win: UrlWindow = window): () => void {
  let last: unknown[] = [];
  const write = () => {
    const s = store.getState();
    // The store changes many times a second (the live fleet): only these parts make the URL.
    const parts = [s.ui.view, s.ui.analyticsTab, s.fleet.fleetId, s.reports, s.audit];
    if (parts.every((p, i) => p === last[i])) return;
    last = parts;
    const hash = `#${formatUrlState(s)}`;
    if (hash !== win.location.hash) {
      win.history.replaceState(null, '', `${win.location.pathname}${win.location.search}${hash}`);
    }
  };
  write();
  return store.subscribe(write);
}
