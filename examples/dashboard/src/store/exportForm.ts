/**
 * The export form's pure logic: what can be exported, the window presets and the custom
 * window (`datetime-local` values, local time), the checks made before asking the server, and
 * sizes in words.
 */
import type { ExportFormat, ExportKind, TimeWindow } from '../api/client';

export const EXPORT_KINDS: readonly { kind: ExportKind; label: string }[] = [
  { kind: 'telemetry', label: 'Telemetry readings' },
  { kind: 'alerts', label: 'Alerts' },
  { kind: 'commands', label: 'Commands' },
  { kind: 'missions', label: 'Missions' },
];

export const EXPORT_FORMATS: readonly { format: ExportFormat; label: string; hint: string }[] = [
  { format: 'csv', label: 'CSV', hint: 'spreadsheets' },
  { format: 'parquet', label: 'Parquet', hint: 'pandas, Arrow, DuckDB' },
];

export type WindowPreset = '24h' | '7d' | '30d' | 'custom';

export const WINDOW_PRESETS: readonly { id: Exclude<WindowPreset, 'custom'>; label: string; minutes: number }[] = [
  { id: '24h', label: 'Last 24 hours', minutes: 24 * 60 },
  { id: '7d', label: 'Last 7 days', minutes: 7 * 24 * 60 },
  { id: '30d', label: 'Last 30 days', minutes: 30 * 24 * 60 },
];

/** The longest window the server exports (it answers 422 naming `from` beyond it). */
export const MAX_WINDOW_DAYS = 366;

export interface ExportForm {
  kind: ExportKind;
  preset: WindowPreset;
  /** `datetime-local` values (local time, minutes), used when `preset` is `custom`. */
  from: string;
  to: string;
  /** One vehicle of the fleet, or '' for all of them. */
  vehicleId: string;
  format: ExportFormat;
}

/** The fields a message can be about: the form's, named as the server names them. */
export type ExportField = 'kind' | 'from' | 'to' | 'vehicle_id' | 'format';
export type FieldErrors = Partial<Record<ExportField, string>>;

/** The window of a preset, ending `now`. */
export function presetWindow(preset: Exclude<WindowPreset, 'custom'>, now: number): TimeWindow {
  const minutes = WINDOW_PRESETS.find((p) => p.id === preset)!.minutes;
  return { from: new Date(now - minutes * 60_000).toISOString(), to: new Date(now).toISOString() };
}

/** A `datetime-local` value (local time, to the minute) for an instant. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The instant a `datetime-local` value means (local time); null when empty or malformed. */
export function fromLocalInput(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(value)) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/**
 * The window the form asks for, or the messages of the fields that are wrong (the custom
 * window's ends missing or malformed, `from` not before `to`). Anything subtler (the window's
 * length, the vehicle) is the server's to judge.
 */
export function validateExport(form: ExportForm, now: number): { window: TimeWindow | null; errors: FieldErrors } {
  if (form.preset !== 'custom') return { window: presetWindow(form.preset, now), errors: {} };
  const errors: FieldErrors = {};
  const from = fromLocalInput(form.from);
  const to = fromLocalInput(form.to);
  if (from === null) errors.from = form.from ? 'Not a valid date and time.' : 'Choose when the export starts.';
  if (to === null) errors.to = form.to ? 'Not a valid date and time.' : 'Choose when the export ends.';
  if (from !== null && to !== null && from >= to) errors.from = 'From must be before To.';
  if (from === null || to === null || errors.from) return { window: null, errors };
  return { window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() }, errors };
}

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;

/** A size in bytes in words, decimal units (1 kB = 1,000 bytes): "512 bytes", "14 kB", "1.2 MB". */
export function formatBytes(bytes: number, locale?: string | string[]): string {
  let unit = 0;
  let value = bytes;
  // Move up while the rounded figure would read 1,000 or more.
  while (unit < BYTE_UNITS.length - 1 && Math.round(value) >= 1000) {
    value /= 1000;
    unit++;
  }
  return new Intl.NumberFormat(locale, {
    style: 'unit',
    unit: BYTE_UNITS[unit],
    unitDisplay: unit === 0 ? 'long' : 'short',
    maximumFractionDigits: unit === 0 || value >= 10 ? 0 : 1,
  }).format(value);
}
