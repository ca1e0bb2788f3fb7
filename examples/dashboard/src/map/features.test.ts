import { describe, expect, it } from 'vitest';
import { FeatureCache, mapRefreshInterval } from './features';
import type { VehicleState } from '../types';

const v = (id: string, lon: number, extra: Partial<VehicleState> = {}): VehicleState => ({
  vehicle_id: id,
  latitude: 4.7,
  longitude: lon,
  speed_kmh: 10,
  battery_pct: 80,
  status: 'MOVING',
  ...extra,
});

describe('FeatureCache', () => {
  it('sends only the vehicles that changed since the last refresh, and the ones gone', () => {
    const cache = new FeatureCache();
    const a = v('A', -74);
    const b = v('B', -74.01, { alerts: ['OVERSPEED'], heading_deg: 90 });
    const first = cache.sync({ A: a, B: b });
    expect(first.all).toHaveLength(2);
    expect(first.changed.map((f) => f.id)).toEqual(['A', 'B']);
    expect(first.changed[1]).toMatchObject({
      id: 'B',
      geometry: { coordinates: [-74.01, 4.7] },
      properties: { id: 'B', status: 'MOVING', alert: 1, heading: 90 },
    });

    const a2 = v('A', -74.001);
    const second = cache.sync({ A: a2, B: b });
    expect(second.changed.map((f) => f.id)).toEqual(['A']);
    expect(second.all).toHaveLength(2);
    expect(second.removed).toEqual([]);

    const third = cache.sync({ A: a2 });
    expect(third.changed).toEqual([]);
    expect(third.removed).toEqual(['B']);
  });
});

describe('mapRefreshInterval', () => {
  it('keeps the configured pace for small fleets and slows to 1 Hz from 1,000 vehicles', () => {
    expect(mapRefreshInterval(250, 20)).toBe(250);
    expect(mapRefreshInterval(250, 250)).toBe(250);
    expect(mapRefreshInterval(250, 500)).toBe(500);
    expect(mapRefreshInterval(250, 1000)).toBe(1000);
    expect(mapRefreshInterval(250, 10_000)).toBe(1000);
    expect(mapRefreshInterval(250, 50_000)).toBe(1000);
    expect(mapRefreshInterval(2000, 10_000)).toBe(2000);
  });
});
