/**
 * The Audit view's pure logic: who may read the trail, the actions and their labels, the
 * filter (what the store and the URL keep) and its form (`datetime-local` values), the query
 * string the server is asked with, and the pages read so far merged into one list.
 *
 * The window: a filter without `from`/`to` is the server's default, the last 24 hours up to
 * the moment it is read (a Refresh, or a reload, moves it on). The form shows that window; left
 * as shown it stays the default, otherwise both ends are sent.
 */
import type { AuditEntry, AuditPage } from '../types';
import { fromLocalInput, toLocalInput } from './exportForm';

export const AUDIT_ACTIONS = [
  'LOGIN_SUCCEEDED',
  'LOGIN_FAILED',
  'COMMAND_DISPATCHED',
  'MISSION_CREATED',
  'MISSION_CANCELLED',
  'ALERT_ACKNOWLEDGED',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

const ACTION_LABELS: Record<AuditAction, string> = {
  LOGIN_SUCCEEDED: 'Login succeeded',
  LOGIN_FAILED: 'Login failed',
  COMMAND_DISPATCHED: 'Command dispatched',
  MISSION_CREATED: 'Mission created',
  MISSION_CANCELLED: 'Mission cancelled',
  ALERT_ACKNOWLEDGED: 'Alert acknowledged',
};

export function isAuditAction(s: string): s is AuditAction {
  return (AUDIT_ACTIONS as readonly string[]).includes(s);
}

/** An action in words; one this page does not know ("ROUTE_CHANGED") as "Route changed". */
export function auditActionLabel(action: string): string {
  if (isAuditAction(action)) return ACTION_LABELS[action];
  const words = action.toLowerCase().replace(/_+/g, ' ').trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : action;
}

/** The roles the server lets read the trail (ADMIN everything, MANAGER their fleets'). */
export function canReadAudit(role: string | null | undefined): boolean {
  return role === 'ADMIN' || role === 'MANAGER';
}

/** Entries per page ("Load older" reads the next as many). */
export const AUDIT_PAGE_SIZE = 100;

/** What the trail is filtered by; `null` / `''` is "any". */
export interface AuditFilter {
  action: AuditAction | null;
  /** An operator id, or the email tried for a failed login. */
  actor: string;
  fleetId: string | null;
  /** RFC 3339 instants, both or neither: neither is the last 24 hours. */
  from: string | null;
  to: string | null;
}

export const DEFAULT_AUDIT_FILTER: AuditFilter = { action: null, actor: '', fleetId: null, from: null, to: null };

/** The default window's length. */
export const DEFAULT_AUDIT_WINDOW_MS = 24 * 3_600_000;

/**
 * The query string for a page of the trail: only the filters set, the page size and, past the
 * first page, the cursor the previous page gave.
 */
export function auditQuery(filter: AuditFilter, cursor: string | null = null, limit = AUDIT_PAGE_SIZE): string {
  const q = new URLSearchParams();
  if (filter.fleetId) q.set('fleet_id', filter.fleetId);
  const actor = filter.actor.trim();
  if (actor) q.set('actor', actor);
  if (filter.action) q.set('action', filter.action);
  if (filter.from && filter.to) {
    q.set('from', filter.from);
    q.set('to', filter.to);
  }
  q.set('limit', String(limit));
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

/**
 * The pages read so far as one newest-first list (an entry met twice, as a refresh can bring,
 * listed once) and the cursor of the older entries, `null` once the last page is read.
 */
export function mergeAuditPages(pages: readonly AuditPage[]): { entries: AuditEntry[]; nextCursor: string | null } {
  const seen = new Set<string>();
  const entries: AuditEntry[] = [];
  for (const page of pages) {
    for (const e of page.data) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      entries.push(e);
    }
  }
  return { entries, nextCursor: pages.length ? (pages[pages.length - 1]!.next_cursor ?? null) : null };
}

// --- the URL ---------------------------------------------------------------------------------

/** The filter a URL's query names (keys `action`, `actor`, `audit_fleet`, `audit_from`, `audit_to`). */
export function auditFilterFromQuery(q: URLSearchParams): AuditFilter {
  const action = q.get('action');
  const from = q.get('audit_from');
  const to = q.get('audit_to');
  const window =
    from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to)) ? { from, to } : { from: null, to: null };
  return {
    action: action && isAuditAction(action) ? action : null,
    actor: q.get('actor') ?? '',
    fleetId: q.get('audit_fleet') || null,
    ...window,
  };
}

/** Writes what differs from the default filter into `q`. */
export function auditFilterToQuery(filter: AuditFilter, q: URLSearchParams): void {
  if (filter.action) q.set('action', filter.action);
  if (filter.actor.trim()) q.set('actor', filter.actor.trim());
  if (filter.fleetId) q.set('audit_fleet', filter.fleetId);
  if (filter.from && filter.to) {
    q.set('audit_from', filter.from);
    q.set('audit_to', filter.to);
  }
}

// --- the form --------------------------------------------------------------------------------

/** The form's values: selects and text as typed, the window as `datetime-local` values. */
export interface AuditForm {
  action: string;
  actor: string;
  fleetId: string;
  from: string;
  to: string;
}

/** The fields a message can be about, named as the server names them. */
export type AuditField = 'action' | 'actor' | 'fleet_id' | 'from' | 'to';
export type AuditFieldErrors = Partial<Record<AuditField, string>>;

/** The window the form shows for the default filter: the last 24 hours up to `now`. */
export function defaultAuditWindow(now: number): { from: string; to: string } {
  return { from: toLocalInput(now - DEFAULT_AUDIT_WINDOW_MS), to: toLocalInput(now) };
}

/** The form showing `filter` (the default window as of `now`). */
export function auditFormOf(filter: AuditFilter, now: number): AuditForm {
  const window =
    filter.from && filter.to
      ? { from: toLocalInput(Date.parse(filter.from)), to: toLocalInput(Date.parse(filter.to)) }
      : defaultAuditWindow(now);
  return {
    action: filter.action ?? '',
    actor: filter.actor,
    fleetId: filter.fleetId ?? '',
    ...window,
  };
}

/**
 * The filter the form asks for, or the messages of the fields that are wrong (the window's ends
 * missing or malformed, From not before To). The window's length, the fleet and the rest are
 * the server's to judge. `shown` is the default window the form started with: left as it was,
 * the filter keeps the default (the last 24 hours, moving on).
 */
export function validateAuditForm(
  form: AuditForm,
  shown: { from: string; to: string },
): { filter: AuditFilter | null; errors: AuditFieldErrors } {
  const errors: AuditFieldErrors = {};
  const from = fromLocalInput(form.from);
  const to = fromLocalInput(form.to);
  if (from === null) errors.from = form.from ? 'Not a valid date and time.' : 'Choose where the window starts.';
  if (to === null) errors.to = form.to ? 'Not a valid date and time.' : 'Choose where the window ends.';
  if (from !== null && to !== null && from >= to) errors.from = 'From must be before To.';
  if (form.action && !isAuditAction(form.action)) errors.action = 'Not an action of the trail.';
  if (from === null || to === null || Object.keys(errors).length) return { filter: null, errors };
  const unchanged = form.from === shown.from && form.to === shown.to;
  return {
    filter: {
      action: (form.action || null) as AuditAction | null,
      actor: form.actor.trim(),
      fleetId: form.fleetId || null,
      from: unchanged ? null : new Date(from).toISOString(),
      to: unchanged ? null : new Date(to).toISOString(),
    },
    errors,
  };
}

/** Whether two filters ask for the same entries. */
export function sameAuditFilter(a: AuditFilter, b: AuditFilter): boolean {
  return (
    a.action === b.action && a.actor.trim() === b.actor.trim() && a.fleetId === b.fleetId && a.from === b.from && a.to === b.to
  );
}
