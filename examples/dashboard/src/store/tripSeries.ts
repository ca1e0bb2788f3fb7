/**
 * What trip playback charts besides the path: the vehicle's speed, battery and engine
 * temperature over the played window (its stored readings, from the history endpoint, since the
 * path's points are simplified and carry no battery or temperature) and its alerts raised in the
 * window; plus the pure helpers that follow the playback cursor (nearest reading, alerts at the
 * cursor) and thin a long series out for drawing.
 */
import type { ApiClient, TimeWindow } from '../api/client';
import type { Alert } from '../types';

/** Readings per history request (the server's maximum). */
export const HISTORY_PAGE = 10_000;
/** History requests per window at most: 100,000 readings, a day at one reading a second. */
export const MAX_HISTORY_PAGES = 10;
/** Alerts per request (the server's maximum); one request for open, one for acknowledged. */
export const ALERT_PAGE = 500;
/** An alert triggered up to this much trip time before the cursor counts as "at the cursor". */
export const RECENT_ALERT_MS = 60_000;

/** A window's readings as parallel columns, oldest first (times in ms since the epoch). */
export interface TripSamples {
  times: number[];
  speed: number[];
  battery: number[];
  temp: number[];
  /** The window held more readings than {@link MAX_HISTORY_PAGES} pages: the end is missing. */
  truncated: boolean;
}

/** An alert with its trigger time parsed (ms since the epoch). */
export type TripAlert = Alert & { time: number };

export interface TripAlerts {
  /** Oldest first. */
  alerts: TripAlert[];
  /** False when the server had more alerts than one page and some may lie in the window. */
  complete: boolean;
}

/**
 * All readings of the vehicle in the window, oldest first: page after page of the history
 * (which returns the oldest `pageSize`), each starting a millisecond after the last reading of
 * the one before, until a page comes back short or `maxPages` were read.
 */
export async function fetchTripSamples(
  api: ApiClient,
  vehicleId: string,
  window: TimeWindow,
  pageSize = HISTORY_PAGE,
  maxPages = MAX_HISTORY_PAGES,
): Promise<TripSamples> {
  const out: TripSamples = { times: [], speed: [], battery: [], temp: [], truncated: false };
  const to = Date.parse(window.to);
  let from = window.from;
  for (let page = 0; page < maxPages; page++) {
    const { data } = await api.telemetryHistory(vehicleId, { from, to: window.to }, pageSize);
    for (const r of data) {
      out.times.push(Date.parse(r.timestamp));
      out.speed.push(r.speed_kmh);
      out.battery.push(r.battery_pct);
      out.temp.push(r.engine_temp_c);
    }
    const last = out.times[out.times.length - 1];
    if (data.length < pageSize || last === undefined || last >= to) return out;
    from = new Date(last + 1).toISOString();
  }
  out.truncated = true;
  return out;
}

/** The vehicle's alerts triggered in the window, open and acknowledged, oldest first. */
export async function fetchTripAlerts(
  api: ApiClient,
  vehicleId: string,
  window: TimeWindow,
  pageSize = ALERT_PAGE,
): Promise<TripAlerts> {
  const from = Date.parse(window.from);
  const to = Date.parse(window.to);
  const pages = await Promise.all([
    api.vehicleAlerts(vehicleId, false, pageSize),
    api.vehicleAlerts(vehicleId, true, pageSize),
  ]);
  const byId = new Map<string, TripAlert>();
  let complete = true;
  for (const page of pages) {
    let oldest = Infinity;
    for (const a of page.data) {
      const time = Date.parse(a.triggered_at ?? '');
      if (Number.isNaN(time)) continue;
      oldest = Math.min(oldest, time);
      // An alert acknowledged between the two requests may be in both.
      if (time >= from && time <= to && !byId.has(a.id)) byId.set(a.id, { ...a, time });
    }
    // Newest first: what the page left out is older than its oldest alert.
    if (page.data.length < page.total && oldest > from) complete = false;
  }
  const alerts = [...byId.values()].sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
  return { alerts, complete };
}

/** The index of the reading nearest in time to `t` (the earlier on a tie); -1 when none. */
export function nearestSampleIndex(times: readonly number[], t: number): number {
  if (!times.length) return -1;
  // The first reading at or after t.
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return 0;
  if (lo === times.length) return times.length - 1;
  return t - times[lo - 1]! <= times[lo]! - t ? lo - 1 : lo;
}

/** Alerts triggered at the cursor or at most `recentMs` of trip time before it. */
export function alertsAtCursor<A extends { time: number }>(
  alerts: readonly A[],
  cursor: number,
  recentMs = RECENT_ALERT_MS,
): A[] {
  return alerts.filter((a) => a.time <= cursor && a.time >= cursor - recentMs);
}

export interface XY {
  x: number;
  y: number;
}

/**
 * The series as chart points, at most about `maxPoints` of them: a longer one is cut into
 * `maxPoints / 2` runs of readings and keeps each run's lowest and highest reading, in time
 * order, so peaks (an overspeed, a temperature spike) survive the thinning.
 */
export function downsample(times: readonly number[], values: readonly number[], maxPoints: number): XY[] {
  const n = Math.min(times.length, values.length);
  const at = (i: number): XY => ({ x: times[i]!, y: values[i]! });
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => at(i));
  const runs = Math.max(1, Math.floor(maxPoints / 2));
  const out: XY[] = [];
  for (let r = 0; r < runs; r++) {
    const start = Math.floor((r * n) / runs);
    const end = Math.floor(((r + 1) * n) / runs);
    if (start >= end) continue;
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if (values[i]! < values[lo]!) lo = i;
      if (values[i]! > values[hi]!) hi = i;
    }
    out.push(at(Math.min(lo, hi)));
    if (lo !== hi) out.push(at(Math.max(lo, hi)));
  }
  return out;
}

/** Where `t` lies between `min` and `max`, from 0 to 1 (clamped; 0 for an empty range). */
export function fractionOf(t: number, min: number, max: number): number {
  if (!(max > min)) return 0;
  return Math.min(1, Math.max(0, (t - min) / (max - min)));
}
