import { describe, expect, it } from 'vitest';
import {
  formatCount,
  formatDateTime,
  formatDay,
  formatDuration,
  formatFailure,
  formatKm,
  formatKmh,
  formatUtcOffset,
} from './format';

describe('formatting figures', () => {
  it('durations in hours and minutes, to the nearest minute', () => {
    expect(formatDuration(5 * 3600 + 20 * 60)).toBe('5 h 20 min');
    expect(formatDuration(5 * 3600 + 20 * 60 + 29)).toBe('5 h 20 min');
    expect(formatDuration(5 * 3600 + 20 * 60 + 30)).toBe('5 h 21 min');
    expect(formatDuration(3 * 3600)).toBe('3 h');
    expect(formatDuration(59 * 60 + 40)).toBe('1 h');
    expect(formatDuration(20 * 60)).toBe('20 min');
    expect(formatDuration(0)).toBe('0 min');
    expect(formatDuration(12)).toBe('< 1 min');
    expect(formatDuration(1234 * 3600 + 60, 'en-US')).toBe('1,234 h 1 min');
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(Number.NaN)).toBe('–');
  });

  it('distances, speeds and counts with Intl units', () => {
    expect(formatKm(41.24, 'en-US')).toBe('41.2 km');
    expect(formatKm(1234.5, 'en-US')).toBe('1,234.5 km');
    expect(formatKm(0, 'en-US')).toBe('0 km');
    expect(formatKm(0.043, 'en-US')).toBe('0.04 km');
    expect(formatKm(9.876, 'en-US')).toBe('9.88 km');
    expect(formatKmh(8.44, 'en-US')).toBe('8.4 km/h');
    expect(formatKmh(null)).toBe('–');
    expect(formatKm(41.2, 'de-DE')).toBe('41,2 km');
    expect(formatCount(86400, 'en-US')).toBe('86,400');
    expect(formatCount(undefined)).toBe('–');
  });

  it('UTC offsets with their sign, hours and minutes', () => {
    expect(formatUtcOffset(-300)).toBe('UTC\u221205:00');
    expect(formatUtcOffset(330)).toBe('UTC+05:30');
    expect(formatUtcOffset(0)).toBe('UTC+00:00');
    expect(formatUtcOffset(840)).toBe('UTC+14:00');
    expect(formatUtcOffset(-720)).toBe('UTC\u221212:00');
  });

  it('calendar days as dates, whatever the zone', () => {
    expect(formatDay('2026-11-25', 'en-US')).toBe('Wed, Nov 25');
    expect(formatDay('not a day')).toBe('not a day');
  });

  it('instants as a date and time to the second, in the zone given', () => {
    // ICU may put a narrow no-break space before "PM".
    const plain = (s: string) => s.replace(/\s/g, ' ');
    expect(plain(formatDateTime('2026-12-02T22:12:05Z', 'en-US', 'UTC'))).toBe('Dec 2, 2026, 10:12:05 PM');
    expect(plain(formatDateTime(Date.parse('2026-12-02T22:12:05Z'), 'en-US', 'America/Bogota'))).toBe(
      'Dec 2, 2026, 5:12:05 PM',
    );
    expect(formatDateTime('yesterday')).toBe('yesterday');
  });

  it('what is known of a failure', () => {
    expect(formatFailure('The report failed', { status: 422, field: 'from' })).toBe(
      'The report failed (HTTP 422, field `from`)',
    );
    expect(formatFailure('Export failed', { status: 0, field: null })).toBe('Export failed');
  });
});
