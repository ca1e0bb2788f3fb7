/**
 * REST client for the reference server's /api/v1 contract.
 *
 * The token is read on every request (not captured once) so a re-login takes effect at once;
 * errors come back as {@link ApiError} carrying the server's `{detail, status_code, error}`.
 */
import type {
  Alert,
  AuditPage,
  Command,
  CommandKind,
  FleetDailyReport,
  FleetInfo,
  FleetPerformanceReport,
  FleetSnapshot,
  FleetSummary,
  LoginResponse,
  Mission,
  Page,
  SeriesPoint,
  TelemetryHistory,
  VehicleCapabilities,
  VehicleListRow,
  VehiclePath,
  Waypoint,
} from '../types';
import { fileNameFromDisposition } from './disposition';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    /** The request field the server named as the wrong one (`field` of a 422), if any. */
    readonly field: string | null = null,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface TimeWindow {
  from: string;
  to: string;
}

export type ExportKind = 'telemetry' | 'alerts' | 'commands' | 'missions';
export type ExportFormat = 'csv' | 'parquet';

/** What `GET /reports/fleet/{id}` is asked for: calendar days (inclusive) at a UTC offset. */
export interface DailyReportRequest {
  fleetId: string;
  /** `YYYY-MM-DD`. */
  from: string;
  to: string;
  utcOffsetMinutes: number;
  vehicleId: string | null;
}

/** What `GET /export/{kind}` is asked for: the fleet's (or one vehicle's) records in a window. */
export interface RecordsExportRequest {
  kind: ExportKind;
  fleetId: string;
  vehicleId: string | null;
  window: TimeWindow;
  format: ExportFormat;
}

/** The daily report's rows (one per vehicle and day) as a file: `GET /reports/fleet/{id}?format=`. */
export interface ReportExportRequest {
  kind: 'report';
  report: DailyReportRequest;
  format: ExportFormat;
}

export type ExportRequest = RecordsExportRequest | ReportExportRequest;

/** A file the server sent: its body, the name it suggested (or a fallback) and its type. */
export interface DownloadedFile {
  blob: Blob;
  fileName: string;
  contentType: string;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Called with the bytes received so far as the body streams in. */
  onProgress?: (bytes: number) => void;
}

export class ApiClient {
  private token: string | null = null;
  private onUnauthorized: (() => void) | null = null;

  constructor(
    /** e.g. `/api/v1` (same origin) or `http://host:8000/api/v1`. */
    readonly baseUrl: string,
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
  ) {}

  setToken(token: string | null): void {
    this.token = token;
  }

  /** Called when the server rejects the token (401 on anything but the login itself). */
  setUnauthorizedHandler(handler: (() => void) | null): void {
    this.onUnauthorized = handler;
  }

  /**
   * Sends a request with the token; an answer other than 2xx becomes an {@link ApiError} from
   * the server's error envelope (and a refused token ends the session).
   */
  private async send(
    method: string,
    path: string,
    { body, accept = 'application/json', signal }: { body?: unknown; accept?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (signal) init.signal = signal;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, init);
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(0, 'NETWORK', `Server unreachable: ${(e as Error).message}`);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    const envelope = (text ? safeJson(text) : undefined) as
      | Partial<{ detail: unknown; error: string; field: unknown }>
      | undefined;
    const detail =
      typeof envelope?.detail === 'string' ? envelope.detail : `${method} ${path} failed with HTTP ${response.status}`;
    if (response.status === 401 && this.token && path !== '/auth/login') this.onUnauthorized?.();
    throw new ApiError(
      response.status,
      envelope?.error ?? `HTTP_${response.status}`,
      detail,
      typeof envelope?.field === 'string' ? envelope.field : null,
    );
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, { body });
    const text = await response.text();
    return (text ? safeJson(text) : undefined) as T;
  }

  /**
   * A fleet's (or one of its vehicles') telemetry, alerts, commands or missions of a window, or
   * its daily report's rows, as a CSV or Parquet file, read whole into a Blob (reporting the
   * bytes as they arrive). The name is the one the server suggests in `Content-Disposition`. A
   * transfer the server breaks off part-way (a failure while it reads its store) is an
   * {@link ApiError} too.
   */
  async exportFile(req: ExportRequest, { signal, onProgress }: DownloadOptions = {}): Promise<DownloadedFile> {
    let path: string;
    let fallback: string;
    if (req.kind === 'report') {
      const r = req.report;
      path = `${reportPath(r)}&format=${req.format}`;
      fallback = `${r.fleetId}${r.vehicleId ? `_${r.vehicleId}` : ''}_report_${r.from}_${r.to}.${req.format}`;
    } else {
      const q = new URLSearchParams({ fleet_id: req.fleetId });
      if (req.vehicleId) q.set('vehicle_id', req.vehicleId);
      q.set('from', req.window.from);
      q.set('to', req.window.to);
      q.set('format', req.format);
      path = `/export/${enc(req.kind)}?${q}`;
      fallback = `${req.fleetId}${req.vehicleId ? `_${req.vehicleId}` : ''}_${req.kind}.${req.format}`;
    }
    const accept = req.format === 'parquet' ? 'application/vnd.apache.parquet' : 'text/csv';
    const response = await this.send('GET', path, {
      accept: `${accept}, application/json;q=0.5`,
      ...(signal ? { signal } : {}),
    });
    const contentType = response.headers.get('Content-Type') ?? accept;
    let blob: Blob;
    try {
      blob = await readBlob(response, contentType, onProgress);
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(0, 'NETWORK', `The download broke off: ${(e as Error).message}`);
    }
    return {
      blob,
      fileName: fileNameFromDisposition(response.headers.get('Content-Disposition'), fallback),
      contentType,
    };
  }

  login(email: string, password: string): Promise<LoginResponse> {
    return this.request('POST', '/auth/login', { email, password });
  }

  /** The fleets the caller may see (every fleet for an ADMIN). */
  fleets(): Promise<FleetInfo[]> {
    return this.request('GET', '/fleets');
  }

  /**
   * A page of the audit trail, newest first; `query` is its query string (`auditQuery` in
   * `store/audit.ts`: filters, `limit`, `cursor`). ADMIN and MANAGER only (403 otherwise).
   */
  audit(query: string): Promise<AuditPage> {
    return this.request('GET', `/audit${query ? `?${query}` : ''}`);
  }

  fleetSummary(fleetId: string): Promise<FleetSummary> {
    return this.request('GET', `/fleet/${enc(fleetId)}/summary`);
  }

  fleetVehicles(fleetId: string, page: number, limit: number): Promise<Page<VehicleListRow>> {
    return this.request('GET', `/fleet/${enc(fleetId)}/vehicles?page=${page}&limit=${limit}`);
  }

  dispatchCommand(
    vehicleId: string,
    command: CommandKind,
    waypoints: Waypoint[] = [],
  ): Promise<Command> {
    const params = waypoints.length ? { waypoints } : {};
    return this.request('POST', `/commands/${enc(vehicleId)}`, { command, params });
  }

  /** 404 (an `ApiError`) while the vehicle has described nothing. */
  vehicleCapabilities(vehicleId: string): Promise<VehicleCapabilities> {
    return this.request('GET', `/vehicles/${enc(vehicleId)}/capabilities`);
  }

  /** The fleet at a past instant: each vehicle's last reading by then, and the open alerts. */
  fleetSnapshot(fleetId: string, at: string): Promise<FleetSnapshot> {
    return this.request('GET', `/fleet/${enc(fleetId)}/snapshot?at=${enc(at)}`);
  }

  /** The vehicle's path in a window, simplified to `toleranceM` metres, for trip playback. */
  vehiclePath(vehicleId: string, window: TimeWindow, toleranceM = 2): Promise<VehiclePath> {
    const q = `from=${enc(window.from)}&to=${enc(window.to)}&tolerance_m=${toleranceM}`;
    return this.request('GET', `/telemetry/${enc(vehicleId)}/path?${q}`);
  }

  /** The vehicle's readings in a window, oldest first, at most `limit` (1–10,000) of them. */
  telemetryHistory(vehicleId: string, window: TimeWindow, limit = 1000): Promise<TelemetryHistory> {
    return this.request('GET', `/telemetry/${enc(vehicleId)}/history?${range(window)}&limit=${limit}`);
  }

  commandHistory(vehicleId: string, limit = 20): Promise<Page<Command>> {
    return this.request('GET', `/commands/${enc(vehicleId)}/history?limit=${limit}`);
  }

  alerts(fleetId: string, acknowledged: boolean, limit = 100): Promise<Page<Alert>> {
    return this.request(
      'GET',
      `/alerts?fleet_id=${enc(fleetId)}&acknowledged=${acknowledged}&limit=${limit}`,
    );
  }

  /** One vehicle's open (or acknowledged) alerts, newest first, at most `limit` (1–500). */
  vehicleAlerts(vehicleId: string, acknowledged: boolean, limit = 500): Promise<Page<Alert>> {
    return this.request(
      'GET',
      `/alerts?vehicle_id=${enc(vehicleId)}&acknowledged=${acknowledged}&limit=${limit}`,
    );
  }

  acknowledgeAlert(alertId: string, notes: string): Promise<Partial<Alert> & { id: string }> {
    return this.request('POST', `/alerts/${enc(alertId)}/acknowledge`, { notes });
  }

  speedSeries(vehicleId: string, w: TimeWindow, bucketMinutes: number): Promise<SeriesPoint[]> {
    return this.request(
      'GET',
      `/analytics/vehicle/${enc(vehicleId)}/speed-series?${range(w)}&bucket_minutes=${bucketMinutes}`,
    );
  }

  /** Any metric's bucketed series (battery_pct, engine_temp_c, …). */
  metricSeries(
    vehicleId: string,
    metric: string,
    w: TimeWindow,
    bucketMinutes: number,
  ): Promise<SeriesPoint[]> {
    return this.request(
      'GET',
      `/analytics/vehicle/${enc(vehicleId)}/series?metric=${enc(metric)}&${range(w)}&bucket_minutes=${bucketMinutes}`,
    );
  }

  fleetPerformance(fleetId: string, w: TimeWindow): Promise<FleetPerformanceReport> {
    return this.request('GET', `/analytics/fleet/${enc(fleetId)}/performance?${range(w)}`);
  }

  /** The fleet's (or one vehicle's) daily figures over calendar days in the site's local time. */
  fleetDailyReport(req: DailyReportRequest): Promise<FleetDailyReport> {
    return this.request('GET', reportPath(req));
  }

  createMission(body: {
    fleet_id: string;
    vehicle_id: string;
    mission_type: string;
    priority: string;
    waypoints: Waypoint[];
  }): Promise<Mission> {
    return this.request('POST', '/missions', body);
  }

  mission(missionId: string): Promise<Mission> {
    return this.request('GET', `/missions/${enc(missionId)}`);
  }

  cancelMission(missionId: string): Promise<Mission> {
    return this.request('POST', `/missions/${enc(missionId)}/cancel`, {});
  }

  missions(fleetId: string): Promise<Page<Mission>> {
    return this.request('GET', `/missions?fleet_id=${enc(fleetId)}&limit=100`);
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** The daily report's path and query (without `format`: JSON). */
function reportPath(r: DailyReportRequest): string {
  const q = new URLSearchParams({ from: r.from, to: r.to, utc_offset_minutes: String(r.utcOffsetMinutes) });
  if (r.vehicleId) q.set('vehicle_id', r.vehicleId);
  return `/reports/fleet/${enc(r.fleetId)}?${q}`;
}

function range(w: TimeWindow): string {
  return `from=${enc(w.from)}&to=${enc(w.to)}`;
}

/** The body as a Blob of `type`, read chunk by chunk so `onProgress` hears of each. */
async function readBlob(response: Response, type: string, onProgress?: (bytes: number) => void): Promise<Blob> {
  if (!response.body) {
    const blob = await response.blob();
    onProgress?.(blob.size);
    return blob.type ? blob : new Blob([blob], { type });
  }
  const reader = response.body.getReader();
  const chunks: BlobPart[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value as Uint8Array<ArrayBuffer>);
    bytes += value.byteLength;
    onProgress?.(bytes);
  }
  return new Blob(chunks, { type });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
