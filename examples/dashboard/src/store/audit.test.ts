import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from '../api/client';
import { createStore } from './index';
import { loggedOut } from './authSlice';
import { auditApi } from './auditApi';
import { fleetsApi } from './fleetsApi';
import {
  auditActionLabel,
  auditFilterFromQuery,
  auditFilterToQuery,
  auditFormOf,
  auditQuery,
  canReadAudit,
  DEFAULT_AUDIT_FILTER,
  defaultAuditWindow,
  mergeAuditPages,
  sameAuditFilter,
  validateAuditForm,
  type AuditFilter,
} from './audit';
import { toLocalInput } from './exportForm';
import type { AuditEntry, AuditPage } from '../types';

const NOW = Date.parse('2026-12-02T22:00:00Z');

function entry(id: string, at: string, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id,
    at,
    actor: 'op-admin',
    action: 'LOGIN_SUCCEEDED',
    fleet_id: null,
    vehicle_id: null,
    target_id: null,
    source: '127.0.0.1',
    detail: '',
    ...extra,
  };
}

describe('audit actions and roles', () => {
  it('labels the known actions, and words any other', () => {
    expect(auditActionLabel('LOGIN_SUCCEEDED')).toBe('Login succeeded');
    expect(auditActionLabel('LOGIN_FAILED')).toBe('Login failed');
    expect(auditActionLabel('COMMAND_DISPATCHED')).toBe('Command dispatched');
    expect(auditActionLabel('MISSION_CREATED')).toBe('Mission created');
    expect(auditActionLabel('MISSION_CANCELLED')).toBe('Mission cancelled');
    expect(auditActionLabel('ALERT_ACKNOWLEDGED')).toBe('Alert acknowledged');
    expect(auditActionLabel('ROUTE_CHANGED')).toBe('Route changed');
    expect(auditActionLabel('')).toBe('');
  });

  it('is for ADMIN and MANAGER only', () => {
    expect(canReadAudit('ADMIN')).toBe(true);
    expect(canReadAudit('MANAGER')).toBe(true);
    expect(canReadAudit('OPERATOR')).toBe(false);
    expect(canReadAudit(undefined)).toBe(false);
  });
});

describe('the filter as a query string', () => {
  it('sends only what is set, with the page size and the cursor past the first page', () => {
    expect(auditQuery(DEFAULT_AUDIT_FILTER)).toBe('limit=100');
    const filter: AuditFilter = {
      action: 'COMMAND_DISPATCHED',
      actor: '  op-001 ',
      fleetId: 'fleet-001',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-02T00:00:00.000Z',
    };
    const q = new URLSearchParams(auditQuery(filter, '2026-12-01T10:00:00+00:00|abc', 50));
    expect(Object.fromEntries(q)).toEqual({
      fleet_id: 'fleet-001',
      actor: 'op-001',
      action: 'COMMAND_DISPATCHED',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-02T00:00:00.000Z',
      limit: '50',
      cursor: '2026-12-01T10:00:00+00:00|abc',
    });
    // The cursor's `+` and `|` survive the encoding.
    expect(auditQuery(DEFAULT_AUDIT_FILTER, 'a+b|c')).toBe('limit=100&cursor=a%2Bb%7Cc');
    // One end of a window is no window: the server's default (the last 24 hours).
    expect(auditQuery({ ...DEFAULT_AUDIT_FILTER, from: '2026-12-01T00:00:00Z' })).toBe('limit=100');
  });
});

describe('merging the pages read', () => {
  it('lists them in order, each entry once, with the last page’s cursor', () => {
    const p1: AuditPage = { data: [entry('c', '2026-12-02T10:00:03Z'), entry('b', '2026-12-02T10:00:02Z')], next_cursor: 'k1' };
    const p2: AuditPage = { data: [entry('b', '2026-12-02T10:00:02Z'), entry('a', '2026-12-02T10:00:01Z')], next_cursor: null };
    expect(mergeAuditPages([p1])).toEqual({ entries: p1.data, nextCursor: 'k1' });
    const merged = mergeAuditPages([p1, p2]);
    expect(merged.entries.map((e) => e.id)).toEqual(['c', 'b', 'a']);
    expect(merged.nextCursor).toBeNull();
    expect(mergeAuditPages([])).toEqual({ entries: [], nextCursor: null });
  });
});

describe('the filter in the URL', () => {
  it('writes what differs from the default and reads it back, ignoring what makes no sense', () => {
    const filter: AuditFilter = {
      action: 'LOGIN_SUCCEEDED',
      actor: 'op-admin',
      fleetId: 'fleet-002',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-02T00:00:00.000Z',
    };
    const q = new URLSearchParams();
    auditFilterToQuery(filter, q);
    expect(auditFilterFromQuery(new URLSearchParams(q.toString()))).toEqual(filter);
    const none = new URLSearchParams();
    auditFilterToQuery(DEFAULT_AUDIT_FILTER, none);
    expect(none.toString()).toBe('');
    expect(auditFilterFromQuery(new URLSearchParams('action=LOGOUT&audit_from=yesterday&audit_to=2026-12-02T00:00:00Z'))).toEqual(
      DEFAULT_AUDIT_FILTER,
    );
  });
});

describe('the form', () => {
  const shown = defaultAuditWindow(NOW);

  it('starts on the last 24 hours, and left so keeps the moving default', () => {
    const form = auditFormOf(DEFAULT_AUDIT_FILTER, NOW);
    expect(form).toEqual({ action: '', actor: '', fleetId: '', from: toLocalInput(NOW - 86_400_000), to: toLocalInput(NOW) });
    expect(validateAuditForm(form, shown)).toEqual({ filter: DEFAULT_AUDIT_FILTER, errors: {} });
    const chosen = validateAuditForm({ ...form, action: 'LOGIN_SUCCEEDED', actor: ' op-admin ', fleetId: 'fleet-001' }, shown);
    expect(chosen.filter).toEqual({ ...DEFAULT_AUDIT_FILTER, action: 'LOGIN_SUCCEEDED', actor: 'op-admin', fleetId: 'fleet-001' });
  });

  it('sends both ends once either is changed', () => {
    const form = { ...auditFormOf(DEFAULT_AUDIT_FILTER, NOW), to: toLocalInput(NOW - 3_600_000) };
    const { filter } = validateAuditForm(form, shown);
    expect(filter?.from).toBe(new Date(NOW - 86_400_000).toISOString());
    expect(filter?.to).toBe(new Date(NOW - 3_600_000).toISOString());
    // A filter with its window shows that window.
    const again = auditFormOf(filter!, NOW + 86_400_000);
    expect([again.from, again.to]).toEqual([form.from, form.to]);
  });

  it('names the wrong fields before asking the server', () => {
    const form = auditFormOf(DEFAULT_AUDIT_FILTER, NOW);
    expect(validateAuditForm({ ...form, from: form.to, to: form.from }, shown)).toEqual({
      filter: null,
      errors: { from: 'From must be before To.' },
    });
    expect(validateAuditForm({ ...form, from: '', to: 'soon' }, shown).errors).toEqual({
      from: 'Choose where the window starts.',
      to: 'Not a valid date and time.',
    });
    expect(validateAuditForm({ ...form, action: 'LOGOUT' }, shown).errors).toEqual({ action: 'Not an action of the trail.' });
  });

  it('tells filters apart', () => {
    expect(sameAuditFilter(DEFAULT_AUDIT_FILTER, { ...DEFAULT_AUDIT_FILTER, actor: '  ' })).toBe(true);
    expect(sameAuditFilter(DEFAULT_AUDIT_FILTER, { ...DEFAULT_AUDIT_FILTER, action: 'LOGIN_FAILED' })).toBe(false);
  });
});

/** A fake server for `GET /audit` (pages by cursor) and `GET /fleets`; records the URLs asked. */
function fakeServer() {
  const asked: string[] = [];
  const pages: Record<string, AuditPage> = {
    '': { data: [entry('e3', '2026-12-02T10:00:03Z'), entry('e2', '2026-12-02T10:00:02Z')], next_cursor: 'k2' },
    k2: { data: [entry('e1', '2026-12-02T10:00:01Z')], next_cursor: null },
  };
  const fetchImpl: FetchLike = async (url) => {
    asked.push(url);
    const u = new URL(url, 'http://x');
    if (u.pathname === '/api/v1/fleets') {
      return new Response(JSON.stringify([{ id: 'fleet-001', name: 'A' }, { id: 'fleet-002', name: 'B' }]));
    }
    if (u.searchParams.get('action') === 'LOGOUT') {
      return new Response(JSON.stringify({ detail: 'invalid `action`: unknown action', field: 'action', error: 'UNPROCESSABLE' }), {
        status: 422,
      });
    }
    return new Response(JSON.stringify(pages[u.searchParams.get('cursor') ?? '']));
  };
  const api = new ApiClient('/api/v1', fetchImpl);
  return { asked, store: createStore(api) };
}

describe('the audit and fleets endpoints', () => {
  it('reads the trail page by page, following the cursor, and a logout forgets it', async () => {
    const { asked, store } = fakeServer();
    const sub = store.dispatch(auditApi.endpoints.auditLog.initiate(DEFAULT_AUDIT_FILTER));
    await sub;
    let entry1 = auditApi.endpoints.auditLog.select(DEFAULT_AUDIT_FILTER)(store.getState());
    expect(mergeAuditPages(entry1.data!.pages).entries.map((e) => e.id)).toEqual(['e3', 'e2']);
    expect(entry1.hasNextPage).toBe(true);
    await store.dispatch(auditApi.endpoints.auditLog.initiate(DEFAULT_AUDIT_FILTER, { direction: 'forward' }));
    entry1 = auditApi.endpoints.auditLog.select(DEFAULT_AUDIT_FILTER)(store.getState());
    expect(mergeAuditPages(entry1.data!.pages).entries.map((e) => e.id)).toEqual(['e3', 'e2', 'e1']);
    expect(entry1.hasNextPage).toBe(false);
    expect(asked).toEqual(['/api/v1/audit?limit=100', '/api/v1/audit?limit=100&cursor=k2']);
    sub.unsubscribe();

    store.dispatch(loggedOut(undefined));
    expect(auditApi.endpoints.auditLog.select(DEFAULT_AUDIT_FILTER)(store.getState()).data).toBeUndefined();
  });

  it("keeps the server's message and the field it names", async () => {
    const { store } = fakeServer();
    const bad = { ...DEFAULT_AUDIT_FILTER, action: 'LOGOUT' } as unknown as AuditFilter;
    const result = await store.dispatch(auditApi.endpoints.auditLog.initiate(bad));
    expect(result.error).toEqual({ message: 'invalid `action`: unknown action', status: 422, field: 'action' });
  });

  it("lists the operator's fleets", async () => {
    const { store, asked } = fakeServer();
    const result = await store.dispatch(fleetsApi.endpoints.fleets.initiate());
    expect(result.data?.map((f) => f.id)).toEqual(['fleet-001', 'fleet-002']);
    expect(asked).toEqual(['/api/v1/fleets']);
  });
});
