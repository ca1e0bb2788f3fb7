import { describe, expect, it } from 'vitest';
import { fileNameFromDisposition } from './disposition';

const FALLBACK = 'fleet-001_alerts.csv';
const name = (header: string | null) => fileNameFromDisposition(header, FALLBACK);

describe('the file name of a Content-Disposition', () => {
  it('takes a quoted name, as the server sends it', () => {
    expect(name('attachment; filename="fleet-001_alerts_20261201T182731Z_20261202T182731Z.csv"')).toBe(
      'fleet-001_alerts_20261201T182731Z_20261202T182731Z.csv',
    );
  });

  it('takes an unquoted name, with or without blanks around it', () => {
    expect(name('attachment; filename=telemetry.parquet')).toBe('telemetry.parquet');
    expect(name('attachment;filename = telemetry.parquet ')).toBe('telemetry.parquet');
    expect(name('attachment; filename=a.csv; size=10')).toBe('a.csv');
  });

  it('unescapes a quoted name and keeps the semicolons inside it', () => {
    expect(name('attachment; filename="say \\"hi\\"; now.csv"')).toBe('say "hi"; now.csv');
  });

  it('reads the parameter name in any case, and the first of two', () => {
    expect(name('Attachment; FileName="A.CSV"')).toBe('A.CSV');
    expect(name('attachment; filename="first.csv"; filename="second.csv"')).toBe('first.csv');
  });

  it('prefers filename* (RFC 8187) over filename', () => {
    expect(name(`attachment; filename="flotte.csv"; filename*=UTF-8''flotte%20%C3%A9t%C3%A9.csv`)).toBe('flotte été.csv');
    expect(name(`attachment; filename*=utf-8'en'r%C3%A9sum%C3%A9.csv; filename="resume.csv"`)).toBe('résumé.csv');
    expect(name(`attachment; filename*=iso-8859-1''caf%E9.csv`)).toBe('café.csv');
  });

  it('falls back to filename when filename* is malformed or in another charset', () => {
    expect(name(`attachment; filename*=UTF-8''bad%E0%A4.csv; filename="good.csv"`)).toBe('good.csv');
    expect(name(`attachment; filename*=no-quotes.csv; filename="good.csv"`)).toBe('good.csv');
    expect(name(`attachment; filename*=koi8-r''x.csv; filename="good.csv"`)).toBe('good.csv');
  });

  it('keeps only the last path segment, without control characters or leading dots', () => {
    expect(name('attachment; filename="../../etc/passwd"')).toBe('passwd');
    expect(name('attachment; filename="C:\\\\Users\\\\me\\\\report.csv"')).toBe('report.csv');
    expect(name('attachment; filename="a\u0007b.csv"')).toBe('ab.csv');
    expect(name('attachment; filename=".hidden.csv"')).toBe('hidden.csv');
  });

  it('falls back when there is no usable name', () => {
    expect(name(null)).toBe(FALLBACK);
    expect(name('')).toBe(FALLBACK);
    expect(name('attachment')).toBe(FALLBACK);
    expect(name('attachment; filename=""')).toBe(FALLBACK);
    expect(name('attachment; filename="../"')).toBe(FALLBACK);
    expect(name('attachment; name="x.csv"')).toBe(FALLBACK);
  });
});
