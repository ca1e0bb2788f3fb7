import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from '../api/client';
import { createStore } from './index';
import {
  cursorSet,
  loadPath,
  playToggled,
  positionAt,
  selectPlaybackPosition,
  speedSet,
  ticked,
} from './playbackSlice';
import type { PathPoint, VehiclePath } from '../types';

const T = Date.parse('2026-12-02T10:00:00Z');

function point(secs: number, latitude: number, speed_kmh: number, status: PathPoint['status'] = 'MOVING'): PathPoint {
  return {
    timestamp: new Date(T + secs * 1000).toISOString(),
    latitude,
    longitude: -74,
    speed_kmh,
    heading_deg: 0,
    status,
  };
}

const PATH: VehiclePath = {
  vehicle_id: 'VH-1',
  from: new Date(T).toISOString(),
  to: new Date(T + 100_000).toISOString(),
  readings: 100,
  tolerance_m: 2,
  points: [point(0, 4.0, 0), point(10, 4.001, 10), point(100, 4.001, 0, 'IDLE')],
};

function storeServing(path: VehiclePath) {
  const urls: string[] = [];
  const fetchImpl: FetchLike = async (url) => {
    urls.push(url);
    return new Response(JSON.stringify(path), { status: 200 });
  };
  return { store: createStore(new ApiClient('/api/v1', fetchImpl)), urls };
}

describe('trip playback', () => {
  it('interpolates the position between points, in time', () => {
    const times = PATH.points.map((p) => Date.parse(p.timestamp));
    const mid = positionAt(PATH.points, times, T + 5_000)!;
    expect(mid.latitude).toBeCloseTo(4.0005, 6);
    expect(mid.speed_kmh).toBeCloseTo(5, 6);
    expect(mid.timestamp).toBe(new Date(T + 5_000).toISOString());
    expect(positionAt(PATH.points, times, T - 1)).toEqual(PATH.points[0]);
    expect(positionAt(PATH.points, times, T + 10_000)!.latitude).toBe(4.001);
    expect(positionAt(PATH.points, times, T + 999_000)).toEqual(PATH.points[2]);
    expect(positionAt([], [], T)).toBeNull();
  });

  it('loads the path of a window, scrubs, and plays at the chosen speed until the end', async () => {
    const { store, urls } = storeServing(PATH);
    await store.dispatch(loadPath({ vehicleId: 'VH-1', minutes: 60 }));
    expect(urls[0]).toMatch(/^\/api\/v1\/telemetry\/VH-1\/path\?from=.+&to=.+&tolerance_m=2$/);
    let s = store.getState().playback;
    expect(s.status).toBe('loaded');
    expect(s.cursor).toBe(T);

    store.dispatch(cursorSet(T + 50_000));
    expect(selectPlaybackPosition(store.getState())!.status).toBe('MOVING');
    store.dispatch(cursorSet(T + 999_999));
    expect(store.getState().playback.cursor).toBe(T + 100_000);

    // At the end, play starts over from the beginning; 2 s of wall time at 10× is 20 s.
    store.dispatch(speedSet(10));
    store.dispatch(playToggled());
    s = store.getState().playback;
    expect([s.playing, s.cursor]).toEqual([true, T]);
    store.dispatch(ticked(2_000));
    expect(store.getState().playback.cursor).toBe(T + 20_000);
    store.dispatch(ticked(60_000));
    s = store.getState().playback;
    expect([s.playing, s.cursor]).toEqual([false, T + 100_000]);
  });

  it('shows a failed load', async () => {
    const fetchImpl: FetchLike = async () =>
      new Response(JSON.stringify({ detail: 'a path may span at most 7 days', error: 'UNPROCESSABLE', status_code: 422 }), {
        status: 422,
      });
    const store = createStore(new ApiClient('/api/v1', fetchImpl));
    await store.dispatch(loadPath({ vehicleId: 'VH-1', minutes: 60 }));
    const s = store.getState().playback;
    expect(s.status).toBe('error');
    expect(s.error).toMatch(/7 days/);
  });
});
