/**
 * Figures in words for the panels, with `Intl` (the browser's locale unless one is given):
 * counts, kilometres, km/h, durations ("5 h 20 min"), UTC offsets, calendar days, and what is
 * known of a failed request.
 */

const cache = new Map<string, Intl.NumberFormat>();

function numberFormat(locale: string | undefined, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale ?? ''}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale, options);
    cache.set(key, f);
  }
  return f;
}

const missing = (v: number | null | undefined): v is null | undefined =>
  v === null || v === undefined || !Number.isFinite(v);

/** A whole count with the locale's grouping: "1,234". */
export function formatCount(n: number | null | undefined, locale?: string): string {
  return missing(n) ? '–' : numberFormat(locale, { maximumFractionDigits: 0 }).format(n);
}

/** A distance: "41.2 km"; under 10 km two decimals at most ("0.04 km"), so a short trip is not "0 km". */
export function formatKm(km: number | null | undefined, locale?: string): string {
  if (missing(km)) return '–';
  const digits = Math.abs(km) < 10 ? 2 : 1;
  return numberFormat(locale, { style: 'unit', unit: 'kilometer', maximumFractionDigits: digits }).format(km);
}

/** A speed: "8.4 km/h" (one decimal at most); "–" when there is none (no readings). */
export function formatKmh(kmh: number | null | undefined, locale?: string): string {
  return missing(kmh)
    ? '–'
    : numberFormat(locale, { style: 'unit', unit: 'kilometer-per-hour', maximumFractionDigits: 1 }).format(kmh);
}

/**
 * Seconds as hours and minutes, to the nearest minute: "5 h 20 min", "5 h", "20 min", "0 min",
 * and "< 1 min" for a moment too short to round to one.
 */
export function formatDuration(seconds: number | null | undefined, locale?: string): string {
  if (missing(seconds)) return '–';
  const minutes = Math.round(Math.max(0, seconds) / 60);
  if (minutes === 0) return seconds > 0 ? '< 1 min' : '0 min';
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  const hours = `${formatCount(h, locale)} h`;
  return m === 0 ? hours : `${hours} ${m} min`;
}

/** An offset from UTC in minutes as "UTC+05:30" / "UTC−05:00" (a true minus sign). */
export function formatUtcOffset(minutes: number): string {
  const abs = Math.abs(minutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `UTC${minutes < 0 ? '\u2212' : '+'}${hh}:${mm}`;
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * A calendar day (`YYYY-MM-DD`) in short words, e.g. "Wed, Nov 25": it is a date, not an
 * instant, so it is formatted in UTC and never shifts with the browser's zone.
 */
export function formatDay(day: string, locale?: string): string {
  const ms = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(ms)) return day;
  let f = dayFormats.get(locale ?? '');
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { weekday: 'short', month: 'short', day: 'numeric', timeZone: 'UTC' });
    dayFormats.set(locale ?? '', f);
  }
  return f.format(ms);
}

const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * An instant (RFC 3339 or epoch ms) as a date and time to the second, in the browser's zone
 * unless one is given: "Dec 2, 2026, 10:12:05 PM". What is no instant is shown as it came.
 */
export function formatDateTime(at: string | number, locale?: string, timeZone?: string): string {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  if (Number.isNaN(ms)) return String(at);
  const key = `${locale ?? ''}|${timeZone ?? ''}`;
  let f = dateTimeFormats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium', ...(timeZone ? { timeZone } : {}) });
    dateTimeFormats.set(key, f);
  }
  return f.format(ms);
}

/** "Export failed (HTTP 422, field `from`)": what is known of a failure, after what failed. */
export function formatFailure(what: string, failure: { status: number; field: string | null }): string {
  const about = [failure.status ? `HTTP ${failure.status}` : null, failure.field ? `field \`${failure.field}\`` : null].filter(
    Boolean,
  );
  return `${what}${about.length ? ` (${about.join(', ')})` : ''}`;
}
