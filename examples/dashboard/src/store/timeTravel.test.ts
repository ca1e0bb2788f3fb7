import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from '../api/client';
import { createStore } from './index';
import { instantChosen, loadSnapshot, spanChosen, timeTravelEnded, timeTravelStarted, vehiclesOf } from './timeTravelSlice';
import type { FleetSnapshot } from '../types';

const NOW = Date.parse('2026-12-02T12:00:00Z');

function snapshot(at: string, vehicles: string[], alerts: [string, string][]): FleetSnapshot {
  return {
    fleet_id: 'fleet-001',
    at,
    vehicles: vehicles.map((id) => ({
      vehicle_id: id,
      latitude: 4.7,
      longitude: -74,
      speed_kmh: 10,
      battery_pct: 80,
      status: 'MOVING',
      timestamp: at,
    })),
    open_alerts: alerts.map(([vehicle_id, alert_type], i) => ({
      id: `a${i}`,
      vehicle_id,
      alert_type,
      severity: 'HIGH',
      value: 95,
      threshold: 80,
      acknowledged: false,
      triggered_at: at,
    })),
  };
}

describe('time travel', () => {
  it("keys the snapshot's vehicles by id with the alerts open then", () => {
    const v = vehiclesOf(snapshot('x', ['VH-1', 'VH-2'], [['VH-1', 'OVERSPEED'], ['VH-1', 'LOW_BATTERY']]));
    expect(Object.keys(v)).toEqual(['VH-1', 'VH-2']);
    expect(v['VH-1']!.alerts).toEqual(['OVERSPEED', 'LOW_BATTERY']);
    expect(v['VH-2']!.alerts).toEqual([]);
  });

  it('keeps the instant inside the span and drops answers for instants already left', async () => {
    const urls: string[] = [];
    const fetchImpl: FetchLike = async (url) => {
      urls.push(url);
      const at = decodeURIComponent(url.split('at=')[1]!);
      return new Response(JSON.stringify(snapshot(at, ['VH-1'], [])), { status: 200 });
    };
    const store = createStore(new ApiClient('/api/v1', fetchImpl));
    store.dispatch(timeTravelStarted({ now: NOW }));
    store.dispatch(instantChosen(NOW - 5 * 3_600_000));
    expect(store.getState().timeTravel.at).toBe(NOW - 3_600_000); // the last hour by default
    store.dispatch(spanChosen(6));
    store.dispatch(instantChosen(NOW - 5 * 3_600_000));
    expect(store.getState().timeTravel.at).toBe(NOW - 5 * 3_600_000);

    // An answer for an instant the slider left is not shown.
    const stale = store.dispatch(loadSnapshot({ fleetId: 'fleet-001', at: NOW - 1 }));
    await stale;
    expect(store.getState().timeTravel.shownAt).toBeNull();
    await store.dispatch(loadSnapshot({ fleetId: 'fleet-001', at: NOW - 5 * 3_600_000 }));
    const t = store.getState().timeTravel;
    expect(t.shownAt).toBe(NOW - 5 * 3_600_000);
    expect(Object.keys(t.vehicles)).toEqual(['VH-1']);
    expect(urls.at(-1)).toBe(`/api/v1/fleet/fleet-001/snapshot?at=${encodeURIComponent(new Date(NOW - 5 * 3_600_000).toISOString())}`);

    store.dispatch(timeTravelEnded());
    expect(store.getState().timeTravel.active).toBe(false);
    expect(store.getState().timeTravel.vehicles).toEqual({});
  });
});
