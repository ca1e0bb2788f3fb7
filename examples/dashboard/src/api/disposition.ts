/**
 * The file name a `Content-Disposition` header suggests (RFC 6266): `filename*` (RFC 8187,
 * `UTF-8''percent-encoded`) wins over `filename`, which may be a quoted string (with `\"`
 * escapes) or a bare token. The name is reduced to its last path segment and stripped of
 * control characters; `fallback` when there is no usable name.
 */
export function fileNameFromDisposition(header: string | null | undefined, fallback: string): string {
  if (!header) return fallback;
  const params = dispositionParams(header);
  const extended = params.get('filename*');
  const decoded = extended !== undefined ? decodeExtValue(extended) : null;
  return safeFileName(decoded ?? params.get('filename') ?? '') || fallback;
}

/** The header's parameters by lower-case name, quoted strings unquoted (the type skipped). */
function dispositionParams(header: string): Map<string, string> {
  const params = new Map<string, string>();
  // name=value where value is a quoted string (with backslash escapes) or a run of non-`;`.
  const re = /;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (const m of `;${header}`.matchAll(re)) {
    const name = m[1]!.toLowerCase();
    let value = m[2]!.trim();
    if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

/** `charset'lang'pct-encoded` (RFC 8187); null when malformed or not UTF-8/ISO-8859-1. */
function decodeExtValue(value: string): string | null {
  const m = /^([^']*)'[^']*'(.*)$/.exec(value);
  if (!m) return null;
  const charset = m[1]!.toLowerCase();
  try {
    if (charset === 'utf-8') return decodeURIComponent(m[2]!);
    if (charset === 'iso-8859-1') {
      return m[2]!.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    }
  } catch {
    // Bad percent-encoding: fall back to `filename`.
  }
  return null;
}

/** The last path segment, without control characters or surrounding blanks and dots. */
function safeFileName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  return base.replace(/[\u0000-\u001f\u007f]/g, '').trim().replace(/^\.+/, '');
}
