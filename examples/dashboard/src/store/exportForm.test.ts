import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  fromLocalInput,
  presetWindow,
  toLocalInput,
  validateExport,
  WINDOW_PRESETS,
  type ExportForm,
} from './exportForm';

const NOW = Date.parse('2026-12-02T18:30:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** `datetime-local` value of local wall-clock components (whatever the machine's zone). */
function local(y: number, mo: number, d: number, h: number, mi: number): string {
  return toLocalInput(new Date(y, mo - 1, d, h, mi).getTime());
}

function form(patch: Partial<ExportForm> = {}): ExportForm {
  return { kind: 'alerts', preset: 'custom', from: '', to: '', vehicleId: '', format: 'csv', ...patch };
}

describe('export window presets', () => {
  it('end now and reach back 24 hours, 7 days, 30 days', () => {
    expect(presetWindow('24h', NOW)).toEqual({ from: '2026-12-01T18:30:00.000Z', to: '2026-12-02T18:30:00.000Z' });
    expect(presetWindow('7d', NOW)).toEqual({ from: '2026-11-25T18:30:00.000Z', to: '2026-12-02T18:30:00.000Z' });
    expect(presetWindow('30d', NOW)).toEqual({ from: '2026-11-02T18:30:00.000Z', to: '2026-12-02T18:30:00.000Z' });
    expect(WINDOW_PRESETS.map((p) => p.id)).toEqual(['24h', '7d', '30d']);
  });

  it('need no check: the form gives the preset window whatever the custom fields hold', () => {
    const { window, errors } = validateExport(form({ preset: '7d', from: 'garbage', to: '' }), NOW);
    expect(errors).toEqual({});
    expect(window).toEqual({ from: new Date(NOW - 7 * DAY).toISOString(), to: new Date(NOW).toISOString() });
  });
});

describe('datetime-local values', () => {
  it('are local wall-clock time to the minute, both ways', () => {
    const ms = new Date(2026, 11, 2, 9, 5).getTime();
    expect(toLocalInput(ms)).toBe('2026-12-02T09:05');
    expect(toLocalInput(ms + 59_999)).toBe('2026-12-02T09:05');
    expect(fromLocalInput('2026-12-02T09:05')).toBe(ms);
    expect(fromLocalInput('2026-12-02T09:05:30')).toBe(ms + 30_000);
  });

  it('are null when empty or malformed', () => {
    for (const bad of ['', '2026-12-02', '09:05', '2026-12-02 09:05', '2026-13-45T99:99', 'yesterday']) {
      expect(fromLocalInput(bad)).toBeNull();
    }
  });
});

describe('export form checks', () => {
  it('give the custom window in UTC when from is before to', () => {
    const from = local(2026, 11, 1, 8, 0);
    const to = local(2026, 11, 30, 17, 45);
    const { window, errors } = validateExport(form({ from, to }), NOW);
    expect(errors).toEqual({});
    expect(window).toEqual({
      from: new Date(2026, 10, 1, 8, 0).toISOString(),
      to: new Date(2026, 10, 30, 17, 45).toISOString(),
    });
  });

  it('refuse from after to, or equal to it, with the message on from', () => {
    const later = local(2026, 12, 2, 10, 0);
    const earlier = local(2026, 12, 1, 10, 0);
    for (const [from, to] of [
      [later, earlier],
      [later, later],
    ]) {
      const { window, errors } = validateExport(form({ from, to }), NOW);
      expect(window).toBeNull();
      expect(errors).toEqual({ from: 'From must be before To.' });
    }
  });

  it('ask for missing ends and point out malformed ones', () => {
    expect(validateExport(form(), NOW)).toEqual({
      window: null,
      errors: { from: 'Choose when the export starts.', to: 'Choose when the export ends.' },
    });
    expect(validateExport(form({ from: local(2026, 12, 1, 10, 0), to: '2026-12-02T25:00' }), NOW)).toEqual({
      window: null,
      errors: { to: 'Not a valid date and time.' },
    });
  });

  it('leave the window length to the server (it names `from` beyond 366 days)', () => {
    const { window, errors } = validateExport(form({ from: local(2024, 1, 1, 0, 0), to: local(2026, 1, 10, 0, 0) }), NOW);
    expect(errors).toEqual({});
    expect(window).not.toBeNull();
  });
});

describe('sizes in words', () => {
  it('use bytes, then decimal kB, MB, GB', () => {
    expect(formatBytes(0, 'en-US')).toBe('0 bytes');
    expect(formatBytes(1, 'en-US')).toBe('1 byte');
    expect(formatBytes(999, 'en-US')).toBe('999 bytes');
    expect(formatBytes(1000, 'en-US')).toBe('1 kB');
    expect(formatBytes(1_540, 'en-US')).toBe('1.5 kB');
    expect(formatBytes(14_483, 'en-US')).toBe('14 kB');
    expect(formatBytes(999_600, 'en-US')).toBe('1 MB');
    expect(formatBytes(1_234_567, 'en-US')).toBe('1.2 MB');
    expect(formatBytes(987_654_321, 'en-US')).toBe('988 MB');
    expect(formatBytes(3_500_000_000, 'en-US')).toBe('3.5 GB');
  });

  it("follow the locale's digits and separators", () => {
    expect(formatBytes(1_540, 'de-DE')).toBe('1,5 kB');
    expect(formatBytes(512, 'fr-FR')).toMatch(/^512\s?octets$/);
  });
});
