import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, type ExportRequest, type FetchLike } from '../api/client';
import { REVOKE_AFTER_MS, saveBlob } from '../api/saveBlob';
import { createStore } from './index';
import { loggedOut } from './authSlice';
import { cancelExport, downloadExport, startExport } from './exportSlice';

const CSV = 'id,vehicle_id,fleet_id,alert_type,severity\na-1,VH-1,fleet-001,LOW_BATTERY,HIGH\n';
const REQ: ExportRequest = {
  kind: 'alerts',
  fleetId: 'fleet-001',
  vehicleId: null,
  window: { from: '2026-12-01T18:30:00.000Z', to: '2026-12-02T18:30:00.000Z' },
  format: 'csv',
};

interface Seen {
  url: string;
  auth: string | null;
  accept: string | null;
}

/** A store whose server answers every request with `answer`; files "saved" are kept. */
function setup(answer: (url: string, init?: RequestInit) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const saved: { name: string; text: Promise<string>; type: string }[] = [];
  const fetchImpl: FetchLike = async (url, init) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    seen.push({ url, auth: headers.Authorization ?? null, accept: headers.Accept ?? null });
    return answer(url, init);
  };
  const api = new ApiClient('/api/v1', fetchImpl);
  api.setToken('T1');
  const store = createStore(api, undefined, {
    saveFile: (blob, name) => saved.push({ name, text: blob.text(), type: blob.type }),
  });
  return { store, seen, saved };
}

function csvResponse(body: BodyInit, disposition = 'attachment; filename="fleet-001_alerts_20261201T183000Z_20261202T183000Z.csv"') {
  return new Response(body, {
    status: 200,
    headers: { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': disposition },
  });
}

function envelope(status: number, detail: string, error: string, field?: string) {
  return new Response(JSON.stringify({ detail, status_code: status, error, ...(field ? { field } : {}) }), { status });
}

describe('export download', () => {
  it('asks with the token for the fleet, window and format, and saves the file under the server\'s name', async () => {
    const { store, seen, saved } = setup(() => csvResponse(CSV));
    const result = await store.dispatch(startExport(REQ));
    expect(result.type).toBe('export/download/fulfilled');
    expect(seen).toHaveLength(1);
    const url = new URL(seen[0]!.url, 'http://x');
    expect(url.pathname).toBe('/api/v1/export/alerts');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      fleet_id: 'fleet-001',
      from: REQ.window.from,
      to: REQ.window.to,
      format: 'csv',
    });
    expect(seen[0]!.auth).toBe('Bearer T1');
    expect(seen[0]!.accept).toMatch(/^text\/csv/);
    expect(saved).toHaveLength(1);
    expect(saved[0]!.name).toBe('fleet-001_alerts_20261201T183000Z_20261202T183000Z.csv');
    expect(await saved[0]!.text).toBe(CSV);
    expect(saved[0]!.type).toMatch(/^text\/csv/);
    expect(store.getState().export).toMatchObject({
      status: 'done',
      fileName: 'fleet-001_alerts_20261201T183000Z_20261202T183000Z.csv',
      bytes: new TextEncoder().encode(CSV).length,
      error: null,
    });
  });

  it('names one vehicle when asked, and falls back to a name of its own without Content-Disposition', async () => {
    const parquet = new Uint8Array([0x50, 0x41, 0x52, 0x31, 1, 2, 3, 0x50, 0x41, 0x52, 0x31]);
    const { store, seen, saved } = setup(
      () => new Response(parquet, { status: 200, headers: { 'Content-Type': 'application/vnd.apache.parquet' } }),
    );
    await store.dispatch(startExport({ ...REQ, kind: 'telemetry', vehicleId: 'fleet-001-VH-003', format: 'parquet' }));
    const url = new URL(seen[0]!.url, 'http://x');
    expect(url.pathname).toBe('/api/v1/export/telemetry');
    expect(url.searchParams.get('vehicle_id')).toBe('fleet-001-VH-003');
    expect(url.searchParams.get('format')).toBe('parquet');
    expect(saved[0]!.name).toBe('fleet-001_fleet-001-VH-003_telemetry.parquet');
    expect(saved[0]!.type).toBe('application/vnd.apache.parquet');
    expect(store.getState().export.bytes).toBe(parquet.length);
  });

  it("shows the server's message and the field it names, and saves nothing", async () => {
    const { store, saved } = setup(() =>
      envelope(422, 'invalid `from`: the window may span at most 366 days', 'UNPROCESSABLE', 'from'),
    );
    await store.dispatch(startExport(REQ));
    expect(saved).toHaveLength(0);
    expect(store.getState().export).toMatchObject({
      status: 'error',
      fileName: null,
      error: { status: 422, field: 'from', message: 'invalid `from`: the window may span at most 366 days' },
    });
  });

  it('reports a refusal without a field (403) and an unreachable server', async () => {
    const forbidden = setup(() => envelope(403, 'Operator lacks access to fleet fleet-009', 'FORBIDDEN'));
    await forbidden.store.dispatch(startExport({ ...REQ, fleetId: 'fleet-009' }));
    expect(forbidden.store.getState().export.error).toEqual({
      status: 403,
      field: null,
      message: 'Operator lacks access to fleet fleet-009',
    });
    const down = setup(() => Promise.reject(new TypeError('Failed to fetch')));
    await down.store.dispatch(startExport(REQ));
    expect(down.store.getState().export.error).toMatchObject({ status: 0, field: null });
    expect(down.store.getState().export.error!.message).toMatch(/unreachable/);
  });

  it('reports a transfer the server broke off part-way, and saves nothing', async () => {
    const { store, saved } = setup(() => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (!sent) {
            sent = true;
            controller.enqueue(new TextEncoder().encode('id,vehicle_id\n'));
          } else {
            controller.error(new Error('connection reset'));
          }
        },
      });
      return csvResponse(body);
    });
    await store.dispatch(startExport(REQ));
    expect(saved).toHaveLength(0);
    expect(store.getState().export.status).toBe('error');
    expect(store.getState().export.error!.message).toMatch(/broke off: connection reset/);
  });

  it('shows the bytes received while the file streams in', async () => {
    let push!: (chunk: string | null) => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (chunk) => (chunk === null ? controller.close() : controller.enqueue(new TextEncoder().encode(chunk)));
      },
    });
    const { store, saved } = setup(() => csvResponse(body));
    const running = store.dispatch(startExport(REQ));
    expect(store.getState().export.status).toBe('downloading');
    push('x'.repeat(1500));
    await vi.waitFor(() => expect(store.getState().export.bytes).toBe(1500));
    expect(store.getState().export.status).toBe('downloading');
    // A chunk right after a report is reported too, once the 200 ms are up, before the end.
    push('y'.repeat(500));
    await vi.waitFor(() => expect(store.getState().export.bytes).toBe(2000));
    expect(store.getState().export.status).toBe('downloading');
    push(null);
    await running;
    expect(store.getState().export).toMatchObject({ status: 'done', bytes: 2000 });
    expect((await saved[0]!.text).length).toBe(2000);
  });

  it('runs one download at a time, and Cancel stops it without saving', async () => {
    let aborted = false;
    const { store, seen, saved } = setup(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(new DOMException('aborted', 'AbortError'));
          });
        }),
    );
    const first = store.dispatch(startExport(REQ));
    const second = await store.dispatch(startExport({ ...REQ, kind: 'missions' }));
    expect(downloadExport.rejected.match(second) && second.meta.condition).toBe(true);
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    cancelExport(store.getState().export.requestId);
    await first;
    expect(aborted).toBe(true);
    expect(saved).toHaveLength(0);
    expect(store.getState().export.status).toBe('cancelled');
  });

  it('a token refused on export ends the session; logging out stops a running download', async () => {
    const refused = setup(() => envelope(401, 'Invalid token', 'UNAUTHORIZED'));
    await refused.store.dispatch(startExport(REQ));
    expect(refused.store.getState().auth.error).toMatch(/no longer accepts this session/);

    let aborted = false;
    const running = setup(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) =>
          init?.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(new DOMException('aborted', 'AbortError'));
          }),
        ),
    );
    const download = running.store.dispatch(startExport(REQ));
    running.store.dispatch(loggedOut(undefined));
    await download;
    expect(aborted).toBe(true);
    expect(running.saved).toHaveLength(0);
    expect(running.store.getState().export.status).toBe('idle');
  });
});

describe('saving a Blob', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('clicks a temporary download link to an object URL, removes it, and revokes the URL later', () => {
    vi.useFakeTimers();
    const events: string[] = [];
    const link = {
      href: '',
      download: '',
      rel: '',
      style: {} as Record<string, string>,
      click: () => events.push(`click ${link.href} as ${link.download}`),
      remove: () => events.push('removed'),
    };
    vi.stubGlobal('document', {
      createElement: (tag: string) => (tag === 'a' ? link : null),
      body: { appendChild: () => events.push('appended') },
    });
    vi.stubGlobal('URL', {
      createObjectURL: () => 'blob:x/1',
      revokeObjectURL: (u: string) => events.push(`revoked ${u}`),
    });
    saveBlob(new Blob(['a,b\n']), 'f.csv');
    expect(events).toEqual(['appended', 'click blob:x/1 as f.csv', 'removed']);
    vi.advanceTimersByTime(REVOKE_AFTER_MS);
    expect(events.at(-1)).toBe('revoked blob:x/1');
  });
});
