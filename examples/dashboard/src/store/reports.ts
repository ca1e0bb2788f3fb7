/**
 * The daily report's pure logic: calendar days at a UTC offset (the default range, the checks
 * made before asking the server), the offsets offered, the vehicles table's sorting, and the
 * shapes the charts and the tables draw.
 */
import type {
  FleetDailyReport,
  FleetDayFigures,
  ReportFigures,
  VehicleDayFigures,
  VehicleFigures,
  VehicleStatus,
} from '../types';

/** The offsets the server takes (minutes east of UTC). */
export const MIN_UTC_OFFSET = -720;
export const MAX_UTC_OFFSET = 840;
/** The longest range the server reports on, in days. */
export const MAX_REPORT_DAYS = 366;
/** Days in the default range (today and the six before it). */
export const DEFAULT_REPORT_DAYS = 7;

/** What the report is asked for, besides the fleet (the form's values once checked). */
export interface ReportParams {
  /** `YYYY-MM-DD`, inclusive. */
  from: string;
  to: string;
  utcOffsetMinutes: number;
  /** One vehicle, or null for the whole fleet. */
  vehicleId: string | null;
}

const DAY_MS = 86_400_000;
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The browser's offset from UTC in minutes (east positive, as the server takes it). */
export function browserUtcOffset(at: Date = new Date()): number {
  // `|| 0`: no "-0" for UTC.
  return -at.getTimezoneOffset() || 0;
}

/** The calendar day (`YYYY-MM-DD`) an instant falls on at `utcOffsetMinutes`. */
export function localDay(ms: number, utcOffsetMinutes: number): string {
  return new Date(ms + utcOffsetMinutes * 60_000).toISOString().slice(0, 10);
}

/** Midnight UTC of a `YYYY-MM-DD` day (ms), or null when it is no real calendar day. */
export function dayValue(day: string): number | null {
  const m = DAY_RE.exec(day);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // Date.UTC rolls "2026-02-30" over into March: such a day is not one.
  return new Date(ms).toISOString().slice(0, 10) === day ? ms : null;
}

export function addDays(day: string, days: number): string {
  const ms = dayValue(day);
  if (ms === null) throw new Error(`not a day: ${day}`);
  return new Date(ms + days * DAY_MS).toISOString().slice(0, 10);
}

/** The default range: the last {@link DEFAULT_REPORT_DAYS} days, ending today at the offset. */
export function defaultReportParams(now: number, utcOffsetMinutes: number): ReportParams {
  const to = localDay(now, utcOffsetMinutes);
  return { from: addDays(to, 1 - DEFAULT_REPORT_DAYS), to, utcOffsetMinutes, vehicleId: null };
}

export function isUtcOffset(v: number): boolean {
  return Number.isInteger(v) && v >= MIN_UTC_OFFSET && v <= MAX_UTC_OFFSET;
}

/**
 * The offsets offered: every quarter hour the server takes, plus `current` when it is none of
 * them (an offset read from a link).
 */
export function utcOffsetChoices(current?: number): number[] {
  const out: number[] = [];
  for (let m = MIN_UTC_OFFSET; m <= MAX_UTC_OFFSET; m += 15) out.push(m);
  if (current !== undefined && isUtcOffset(current) && current % 15 !== 0) {
    out.push(current);
    out.sort((a, b) => a - b);
  }
  return out;
}

/** The report form as typed (the offset as the select's value). */
export interface ReportForm {
  from: string;
  to: string;
  utcOffsetMinutes: string;
  vehicleId: string;
}

/** The fields a message can be about, named as the server names them. */
export type ReportField = 'from' | 'to' | 'utc_offset_minutes' | 'vehicle_id';

/**
 * The parameters the form asks for, or the messages of the fields that are wrong: a missing or
 * impossible day, From after To, more than {@link MAX_REPORT_DAYS} days, an offset out of range.
 */
export function validateReportForm(form: ReportForm): {
  params: ReportParams | null;
  errors: Partial<Record<ReportField, string>>;
} {
  const errors: Partial<Record<ReportField, string>> = {};
  const from = dayValue(form.from);
  const to = dayValue(form.to);
  if (from === null) errors.from = form.from ? 'Not a valid date.' : 'Choose the first day.';
  if (to === null) errors.to = form.to ? 'Not a valid date.' : 'Choose the last day.';
  if (from !== null && to !== null) {
    if (from > to) errors.from = 'From must not be after To.';
    else if ((to - from) / DAY_MS + 1 > MAX_REPORT_DAYS) errors.from = `At most ${MAX_REPORT_DAYS} days.`;
  }
  const offset = form.utcOffsetMinutes.trim() === '' ? NaN : Number(form.utcOffsetMinutes);
  if (!isUtcOffset(offset)) errors.utc_offset_minutes = `An offset from ${MIN_UTC_OFFSET} to ${MAX_UTC_OFFSET} minutes.`;
  if (Object.keys(errors).length) return { params: null, errors };
  return {
    params: { from: form.from, to: form.to, utcOffsetMinutes: offset, vehicleId: form.vehicleId || null },
    errors,
  };
}

export function formOf(p: ReportParams): ReportForm {
  return { from: p.from, to: p.to, utcOffsetMinutes: String(p.utcOffsetMinutes), vehicleId: p.vehicleId ?? '' };
}

/** The vehicles table's columns that sort. */
export const VEHICLE_SORT_KEYS = [
  'vehicle_id',
  'distance_km',
  'driving_s',
  'idle_s',
  'stopped_s',
  'charging_s',
  'avg_speed_kmh',
  'max_speed_kmh',
  'alerts',
  'missions_completed',
] as const;
export type VehicleSortKey = (typeof VEHICLE_SORT_KEYS)[number];

export interface VehicleSort {
  key: VehicleSortKey;
  dir: 'asc' | 'desc';
}

/** The server's order: longest distance first. */
export const DEFAULT_VEHICLE_SORT: VehicleSort = { key: 'distance_km', dir: 'desc' };

export function isVehicleSortKey(k: string): k is VehicleSortKey {
  return (VEHICLE_SORT_KEYS as readonly string[]).includes(k);
}

/**
 * The sort after choosing column `key`: the same column turns around; another starts with the
 * largest figures first (the vehicle ids A to Z).
 */
export function nextSort(current: VehicleSort, key: VehicleSortKey): VehicleSort {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: key === 'vehicle_id' ? 'asc' : 'desc' };
}

/**
 * The vehicles in `sort` order (a new array). A missing figure (no speed without readings)
 * comes last either way; ties go by vehicle id.
 */
export function sortVehicles<T extends VehicleFigures>(rows: readonly T[], sort: VehicleSort): T[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const byId = (a: T, b: T) => (a.vehicle_id < b.vehicle_id ? -1 : a.vehicle_id > b.vehicle_id ? 1 : 0);
  return [...rows].sort((a, b) => {
    if (sort.key === 'vehicle_id') return sign * byId(a, b);
    const x = a[sort.key];
    const y = b[sort.key];
    if (x === null || y === null) return x === y ? byId(a, b) : x === null ? 1 : -1;
    return x === y ? byId(a, b) : sign * (x - y);
  });
}

/** One vehicle's days, in day order. */
export function vehicleDays(report: FleetDailyReport, vehicleId: string): VehicleDayFigures[] {
  return report.days.filter((d) => d.vehicle_id === vehicleId).sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
}

/** Alerts by type, most frequent first (then by name). */
export function alertTypes(figures: Pick<ReportFigures, 'alerts_by_type'>): [string, number][] {
  return Object.entries(figures.alerts_by_type ?? {})
    .filter(([, n]) => n > 0)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
}

/** The states charted per day, in stacking order, with their time field and live status. */
export const STATE_SERIES = [
  { key: 'driving', field: 'driving_s', label: 'Driving', status: 'MOVING' },
  { key: 'idle', field: 'idle_s', label: 'Idle', status: 'IDLE' },
  { key: 'stopped', field: 'stopped_s', label: 'Stopped', status: 'STOPPED' },
  { key: 'charging', field: 'charging_s', label: 'Charging', status: 'CHARGING' },
] as const satisfies readonly { key: string; field: keyof ReportFigures; label: string; status: VehicleStatus }[];

export type StateKey = (typeof STATE_SERIES)[number]['key'];

/** What the daily charts draw: a label per day, the distance, and hours in each state. */
export interface DailyChartData {
  days: string[];
  distanceKm: number[];
  hours: Record<StateKey, number[]>;
}

/** Seconds to hours, to the hundredth (36 s). */
export function toHours(seconds: number): number {
  return Math.round(seconds / 36) / 100;
}

/**
 * The fleet's days for the charts, every day of the range included (a day the server left out
 * is drawn as zero, so the axis has no gaps).
 */
export function dailyChartData(fleetDays: readonly FleetDayFigures[], from: string, to: string): DailyChartData {
  const byDay = new Map(fleetDays.map((d) => [d.day, d]));
  const days: string[] = [];
  const start = dayValue(from);
  const end = dayValue(to);
  if (start !== null && end !== null && start <= end && (end - start) / DAY_MS < MAX_REPORT_DAYS) {
    for (let ms = start; ms <= end; ms += DAY_MS) days.push(new Date(ms).toISOString().slice(0, 10));
  }
  // Days the server reported outside the range asked for are kept too.
  const inRange = new Set(days);
  for (const d of byDay.keys()) if (!inRange.has(d)) days.push(d);
  days.sort();
  const hours = Object.fromEntries(
    STATE_SERIES.map((s) => [s.key, days.map((d) => toHours(byDay.get(d)?.[s.field] ?? 0))]),
  ) as Record<StateKey, number[]>;
  return { days, distanceKm: days.map((d) => byDay.get(d)?.distance_km ?? 0), hours };
}
