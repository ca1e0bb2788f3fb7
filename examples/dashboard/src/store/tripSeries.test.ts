import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from '../api/client';
import { createStore } from './index';
import { loggedOut } from './authSlice';
import { playbackApi } from './playbackApi';
import {
  alertsAtCursor,
  downsample,
  fetchTripAlerts,
  fetchTripSamples,
  fractionOf,
  nearestSampleIndex,
} from './tripSeries';
import type { Alert, HistoryPoint } from '../types';

const T = Date.parse('2026-12-02T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const WINDOW = { from: iso(T), to: iso(T + 3_600_000) };

function reading(secs: number): HistoryPoint {
  return {
    timestamp: iso(T + secs * 1000),
    latitude: 4.7,
    longitude: -74,
    speed_kmh: secs % 50,
    battery_pct: 100 - secs / 100,
    engine_temp_c: 80 + (secs % 7),
    status: 'MOVING',
  };
}

function alert(id: string, secs: number, acknowledged = false): Alert {
  return {
    id,
    vehicle_id: 'VH-1',
    alert_type: 'OVERSPEED',
    severity: 'HIGH',
    value: 95,
    threshold: 80,
    acknowledged,
    triggered_at: iso(T + secs * 1000),
  };
}

/** A server holding `readings` (oldest first) and `alerts`, answering like the real one. */
function fakeServer(readings: HistoryPoint[], alerts: Alert[] = [], failAlerts = false) {
  const urls: string[] = [];
  const fetchImpl: FetchLike = async (url) => {
    urls.push(url);
    const u = new URL(url, 'http://x');
    const q = (k: string) => u.searchParams.get(k)!;
    if (u.pathname.endsWith('/history')) {
      const [from, to, limit] = [Date.parse(q('from')), Date.parse(q('to')), Number(q('limit'))];
      const data = readings
        .filter((r) => Date.parse(r.timestamp) >= from && Date.parse(r.timestamp) <= to)
        .slice(0, limit);
      return Response.json({ vehicle_id: 'VH-1', from: q('from'), to: q('to'), total_records: data.length, data });
    }
    if (u.pathname.endsWith('/alerts')) {
      if (failAlerts) return Response.json({ detail: 'boom', error: 'INTERNAL', status_code: 500 }, { status: 500 });
      const all = alerts
        .filter((a) => a.acknowledged === (q('acknowledged') === 'true'))
        .sort((a, b) => Date.parse(b.triggered_at!) - Date.parse(a.triggered_at!));
      return Response.json({ data: all.slice(0, Number(q('limit'))), total: all.length });
    }
    return Response.json({ detail: 'no route', error: 'NOT_FOUND', status_code: 404 }, { status: 404 });
  };
  return { api: new ApiClient('/api/v1', fetchImpl), urls };
}

describe('trip readings', () => {
  it('reads the whole window page after page, each after the last reading of the one before', async () => {
    const readings = Array.from({ length: 25 }, (_, i) => reading(i * 10));
    const { api, urls } = fakeServer(readings);
    const s = await fetchTripSamples(api, 'VH-1', WINDOW, 10);
    expect(s.times).toEqual(readings.map((r) => Date.parse(r.timestamp)));
    expect(s.speed).toEqual(readings.map((r) => r.speed_kmh));
    expect(s.battery[3]).toBe(readings[3]!.battery_pct);
    expect(s.temp[24]).toBe(readings[24]!.engine_temp_c);
    expect(s.truncated).toBe(false);
    // 10 + 10 + 5: the short third page ends it.
    expect(urls).toHaveLength(3);
    expect(new URL(urls[1]!, 'http://x').searchParams.get('from')).toBe(iso(T + 90_000 + 1));
    expect(urls[0]).toMatch(/^\/api\/v1\/telemetry\/VH-1\/history\?from=.+&to=.+&limit=10$/);
  });

  it('stops at the page cap and says the end is missing', async () => {
    const { api, urls } = fakeServer(Array.from({ length: 50 }, (_, i) => reading(i)));
    const s = await fetchTripSamples(api, 'VH-1', WINDOW, 10, 3);
    expect(s.times).toHaveLength(30);
    expect(s.truncated).toBe(true);
    expect(urls).toHaveLength(3);
  });

  it('finds the reading nearest the cursor', () => {
    const times = [0, 10, 20, 40];
    expect(nearestSampleIndex([], 5)).toBe(-1);
    expect(nearestSampleIndex(times, -100)).toBe(0);
    expect(nearestSampleIndex(times, 0)).toBe(0);
    expect(nearestSampleIndex(times, 4)).toBe(0);
    expect(nearestSampleIndex(times, 5)).toBe(0); // a tie goes to the earlier
    expect(nearestSampleIndex(times, 6)).toBe(1);
    expect(nearestSampleIndex(times, 20)).toBe(2);
    expect(nearestSampleIndex(times, 31)).toBe(3);
    expect(nearestSampleIndex(times, 1_000)).toBe(3);
  });

  it('thins a long series to about maxPoints, keeping every run’s lowest and highest', () => {
    const times = Array.from({ length: 10 }, (_, i) => i);
    const short = downsample(times, times, 20);
    expect(short).toEqual(times.map((t) => ({ x: t, y: t })));

    const n = 10_000;
    const xs = Array.from({ length: n }, (_, i) => i);
    const ys = xs.map((i) => (i === 4_321 ? 500 : i === 7_777 ? -500 : Math.sin(i / 50)));
    const thin = downsample(xs, ys, 200);
    expect(thin.length).toBeLessThanOrEqual(200);
    expect(thin.length).toBeGreaterThan(100);
    // In time order, with both spikes kept.
    expect(thin.every((p, i) => i === 0 || p.x > thin[i - 1]!.x)).toBe(true);
    expect(thin).toContainEqual({ x: 4_321, y: 500 });
    expect(thin).toContainEqual({ x: 7_777, y: -500 });
  });

  it('places a time on the axis', () => {
    expect(fractionOf(15, 10, 20)).toBe(0.5);
    expect(fractionOf(5, 10, 20)).toBe(0);
    expect(fractionOf(25, 10, 20)).toBe(1);
    expect(fractionOf(10, 10, 10)).toBe(0);
  });
});

describe('trip alerts', () => {
  it('reads open and acknowledged alerts of the vehicle, keeps the window’s, oldest first', async () => {
    const { api, urls } = fakeServer(
      [],
      [alert('late', 4_000), alert('b', 600, true), alert('a', 60), alert('early', -10)],
    );
    const { alerts, complete } = await fetchTripAlerts(api, 'VH-1', WINDOW);
    expect(alerts.map((a) => a.id)).toEqual(['a', 'b']);
    expect(alerts[0]!.time).toBe(T + 60_000);
    expect(complete).toBe(true);
    expect(urls.sort()).toEqual([
      '/api/v1/alerts?vehicle_id=VH-1&acknowledged=false&limit=500',
      '/api/v1/alerts?vehicle_id=VH-1&acknowledged=true&limit=500',
    ]);
  });

  it('says when a full page may have left alerts of the window out', async () => {
    const many = Array.from({ length: 5 }, (_, i) => alert(`x${i}`, 100 + i * 100));
    const cut = await fetchTripAlerts(fakeServer([], many).api, 'VH-1', WINDOW, 3);
    expect(cut.alerts.map((a) => a.id)).toEqual(['x2', 'x3', 'x4']);
    expect(cut.complete).toBe(false);
    // Left out, but before the window: nothing missing.
    const before = [alert('old1', -300), alert('old2', -200), ...many.slice(0, 2)];
    const whole = await fetchTripAlerts(fakeServer([], before).api, 'VH-1', WINDOW, 3);
    expect(whole.complete).toBe(true);
  });

  it('highlights the alerts at the cursor or at most a minute before it', () => {
    const alerts = [
      { id: 'a', time: T },
      { id: 'b', time: T + 30_000 },
      { id: 'c', time: T + 30_000 },
      { id: 'd', time: T + 200_000 },
    ];
    const ids = (cursor: number) => alertsAtCursor(alerts, cursor).map((a) => a.id);
    expect(ids(T - 1)).toEqual([]);
    expect(ids(T)).toEqual(['a']);
    expect(ids(T + 30_000)).toEqual(['a', 'b', 'c']);
    expect(ids(T + 61_000)).toEqual(['b', 'c']);
    expect(ids(T + 199_999)).toEqual([]);
    expect(ids(T + 200_000)).toEqual(['d']);
    expect(alertsAtCursor(alerts, T + 5_000, 1_000).map((a) => a.id)).toEqual([]);
  });
});

describe('playback RTK Query endpoints', () => {
  it('cache the window’s readings and alerts in the store, and forget them on logout', async () => {
    const { api, urls } = fakeServer([reading(0), reading(1)], [alert('a', 1)]);
    const store = createStore(api);
    const arg = { vehicleId: 'VH-1', ...WINDOW };
    const samples = await store.dispatch(playbackApi.endpoints.tripSamples.initiate(arg));
    expect(samples.data?.times).toEqual([T, T + 1_000]);
    const alerts = await store.dispatch(playbackApi.endpoints.tripAlerts.initiate(arg));
    expect(alerts.data?.alerts.map((a) => a.id)).toEqual(['a']);
    // A second subscriber is served from the cache.
    await store.dispatch(playbackApi.endpoints.tripSamples.initiate(arg));
    expect(urls.filter((u) => u.includes('/history'))).toHaveLength(1);

    store.dispatch(loggedOut());
    expect(playbackApi.endpoints.tripSamples.select(arg)(store.getState()).data).toBeUndefined();
  });

  it('turn a failed request into the message shown', async () => {
    const { api } = fakeServer([], [], true);
    const store = createStore(api);
    const result = await store.dispatch(
      playbackApi.endpoints.tripAlerts.initiate({ vehicleId: 'VH-1', ...WINDOW }),
    );
    expect(result.error).toBe('boom');
  });
});
