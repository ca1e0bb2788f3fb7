import { describe, expect, it } from 'vitest';
import { ApiClient } from './api/client';
import { createStore } from './store';
import { loggedOut } from './store/authSlice';
import { fleetChosen } from './store/fleetSlice';
import { reportRun, reportSortChosen, reportVehicleToggled } from './store/reportsSlice';
import { analyticsTabChosen, viewChosen } from './store/uiSlice';
import { auditFilterApplied } from './store/auditSlice';
import { DEFAULT_AUDIT_FILTER } from './store/audit';
import { formatUrlState, parseUrlState, preloadFromUrl, syncUrl } from './urlState';

const NOW = Date.parse('2026-12-02T03:00:00Z');
const REPORT_HASH =
  '#view=analytics&fleet=fleet-001&tab=reports&from=2026-11-25&to=2026-12-01&utc=-300&vehicle=AGV-001&open=AGV-001&sort=alerts-asc';

describe('the URL keeps the place', () => {
  it('reads the view, section, fleet and report, leaving out what makes no sense', () => {
    expect(parseUrlState(REPORT_HASH)).toEqual({
      view: 'analytics',
      analyticsTab: 'reports',
      fleetId: 'fleet-001',
      report: {
        from: '2026-11-25',
        to: '2026-12-01',
        utcOffsetMinutes: -300,
        vehicleId: 'AGV-001',
        openVehicleId: 'AGV-001',
        sort: { key: 'alerts', dir: 'asc' },
      },
    });
    expect(parseUrlState('#view=nowhere&tab=x&utc=9999&sort=speed-up')).toEqual({});
    expect(parseUrlState('')).toEqual({});
  });

  it('starts the store where the URL says, and a fresh page where it says nothing', () => {
    const s = preloadFromUrl(REPORT_HASH, NOW, 0);
    expect(s.ui.view).toBe('analytics');
    expect(s.ui.analyticsTab).toBe('reports');
    expect(s.fleet.fleetId).toBe('fleet-001');
    expect(s.reports).toEqual({
      fleetId: 'fleet-001',
      params: { from: '2026-11-25', to: '2026-12-01', utcOffsetMinutes: -300, vehicleId: 'AGV-001' },
      openVehicleId: 'AGV-001',
      sort: { key: 'alerts', dir: 'asc' },
    });
    const fresh = preloadFromUrl('', NOW, 60);
    expect(fresh.ui.view).toBe('map');
    expect(fresh.fleet.fleetId).toBeNull();
    expect(fresh.reports.params).toEqual({ from: '2026-11-26', to: '2026-12-02', utcOffsetMinutes: 60, vehicleId: null });
  });

  it('days that make no range give the default range, at the offset the URL names', () => {
    const s = preloadFromUrl('#view=analytics&tab=reports&from=2026-12-05&to=2026-12-01&utc=-300', NOW, 0);
    expect(s.reports.params).toEqual({ from: '2026-11-25', to: '2026-12-01', utcOffsetMinutes: -300, vehicleId: null });
  });

  it('writes back what it reads', () => {
    const s = preloadFromUrl(REPORT_HASH, NOW, 0);
    expect(parseUrlState(formatUrlState(s))).toEqual(parseUrlState(REPORT_HASH));
    // Elsewhere than the report, only the view and the fleet.
    expect(formatUrlState({ ...s, ui: { ...s.ui, view: 'missions' } })).toBe('view=missions&fleet=fleet-001');
    expect(formatUrlState({ ...s, ui: { ...s.ui, analyticsTab: 'performance' } })).toBe(
      'view=analytics&fleet=fleet-001&tab=performance',
    );
  });

  it("keeps the Audit view's filter, and only on that view", () => {
    const hash =
      '#view=audit&fleet=fleet-001&action=LOGIN_SUCCEEDED&actor=op-admin&audit_fleet=fleet-002&audit_from=2026-12-01T00%3A00%3A00.000Z&audit_to=2026-12-02T00%3A00%3A00.000Z';
    const s = preloadFromUrl(hash, NOW, 0);
    expect(s.ui.view).toBe('audit');
    expect(s.audit.filter).toEqual({
      action: 'LOGIN_SUCCEEDED',
      actor: 'op-admin',
      fleetId: 'fleet-002',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-02T00:00:00.000Z',
    });
    expect(`#${formatUrlState(s)}`).toBe(hash);
    expect(formatUrlState({ ...s, ui: { ...s.ui, view: 'map' } })).toBe('view=map&fleet=fleet-001');
    // The default filter (the last 24 hours, any action) says nothing more than the view.
    expect(preloadFromUrl('#view=audit', NOW, 0).audit.filter).toEqual(DEFAULT_AUDIT_FILTER);
    expect(formatUrlState(preloadFromUrl('#view=audit&action=LOGOUT', NOW, 0))).toBe('view=audit');
  });

  it('follows the store with replaceState, only when the place changes', () => {
    const store = createStore(new ApiClient('/api/v1'), preloadFromUrl('', NOW, 0));
    const calls: string[] = [];
    const win = {
      location: { pathname: '/dashboard/', search: '?x=1', hash: '' },
      history: {
        replaceState: (_d: unknown, _u: string, url?: string) => {
          calls.push(url!);
          win.location.hash = url!.slice(url!.indexOf('#'));
        },
      },
    };
    const stop = syncUrl(store, win);
    expect(calls).toEqual(['/dashboard/?x=1#view=map']);
    store.dispatch(fleetChosen('fleet-001'));
    store.dispatch(viewChosen('analytics'));
    store.dispatch(analyticsTabChosen('reports'));
    store.dispatch(reportRun({ from: '2026-12-01', to: '2026-12-01', utcOffsetMinutes: -300, vehicleId: null }));
    store.dispatch(reportVehicleToggled('AGV-001'));
    store.dispatch(reportSortChosen('distance_km'));
    expect(calls.at(-1)).toBe(
      '/dashboard/?x=1#view=analytics&fleet=fleet-001&tab=reports&from=2026-12-01&to=2026-12-01&utc=-300&open=AGV-001&sort=distance_km-asc',
    );
    store.dispatch(viewChosen('audit'));
    store.dispatch(auditFilterApplied({ ...DEFAULT_AUDIT_FILTER, action: 'LOGIN_FAILED' }));
    expect(calls.at(-1)).toBe('/dashboard/?x=1#view=audit&fleet=fleet-001&action=LOGIN_FAILED');
    store.dispatch(viewChosen('analytics'));
    const n = calls.length;
    // The live fleet's updates leave the URL alone.
    store.dispatch({ type: 'fleet/vehicleSelected', payload: 'AGV-001' });
    expect(calls).toHaveLength(n);
    // A logout starts over: the map, no fleet.
    store.dispatch(loggedOut());
    expect(calls.at(-1)).toBe('/dashboard/?x=1#view=map');
    stop();
  });
});
