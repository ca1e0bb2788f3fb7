/**
 * The live fleet connection: one WebSocket per fleet, kept open across server restarts.
 *
 * - **Batching**: vehicle updates are coalesced per vehicle (newest `seq` wins) and handed over
 *   on an animation frame at most every `flushMs` (100 ms), so 10,000 vehicles at 1 Hz cost ten
 *   store updates a second instead of 10,000 (or 60: each update copies the fleet's record).
 * - **Reconnect**: on any close the socket reopens after an exponential backoff with jitter
 *   (capped); a successful open resets it. A connection that stays silent past the keepalive
 *   deadline is treated as dead and reopened.
 * - **Resubscribe**: the fleet and the token are read again on every (re)connect, and
 *   `onResubscribed` fires after a *re*connect so the app can refetch what it missed.
 *
 * Timers, frames and the socket constructor are injectable for tests and the benchmark.
 */
import { parseFrame, type FleetEvent } from './frames';
import type { Alert, Command, Mission, VehicleState } from '../types';

/** The part of the browser WebSocket this client uses. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

export interface Scheduler {
  requestFrame(cb: () => void): unknown;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  random(): number;
}

export const browserScheduler: Scheduler = {
  requestFrame: (cb) =>
    typeof requestAnimationFrame === 'function'
      ? requestAnimationFrame(() => cb())
      : setTimeout(cb, 16),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
  random: () => Math.random(),
};

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: the share of the delay that is randomised away, so clients do not reconnect in step. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.3 };

/** The delay before reconnect attempt `attempt` (0-based). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** attempt);
  return Math.round(base * (1 - policy.jitter * random));
}

export type ConnectionPhase = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectionInfo {
  phase: ConnectionPhase;
  /** Failed attempts since the last successful open. */
  attempt: number;
  /** When in `reconnecting`: the delay before the next attempt. */
  retryInMs: number | null;
  /** Successful reconnects since start. */
  reconnects: number;
  lastError: string | null;
}

export interface FleetSocketHandlers {
  onUpdates(batch: VehicleState[]): void;
  onAlert(alert: LiveAlert): void;
  onCommand(command: Command): void;
  onMission(mission: Mission): void;
  onState(info: ConnectionInfo): void;
  /** After a reconnect (not the first connect): refetch state the socket may have missed. */
  onResubscribed(): void;
  /** The server refused the token (close code 4401 / 1008): stop and log out. */
  onUnauthorized(): void;
}

export interface FleetSocketOptions {
  /** `ws://host:port` (no trailing slash). */
  wsBase: string;
  fleetId: () => string | null;
  token: () => string | null;
  handlers: FleetSocketHandlers;
  factory?: SocketFactory;
  scheduler?: Scheduler;
  backoff?: BackoffPolicy;
  /** Keepalive: "ping" after this much silence; the connection is dropped after twice as long. */
  keepaliveMs?: number;
  /** Shortest time between two hand-overs of vehicle updates (default 100 ms). */
  flushMs?: number;
}

const OPEN = 1;

export class FleetSocket {
  private socket: SocketLike | null = null;
  private readonly pending = new Map<string, VehicleState>();
  private flushScheduled = false;
  private lastFlushAt = -Infinity;
  private retryTimer: unknown = null;
  private keepaliveTimer: unknown = null;
  private lastMessageAt = 0;
  private running = false;
  private everOpened = false;
  private info: ConnectionInfo = {
    phase: 'idle',
    attempt: 0,
    retryInMs: null,
    reconnects: 0,
    lastError: null,
  };
  private readonly factory: SocketFactory;
  private readonly scheduler: Scheduler;
  private readonly backoff: BackoffPolicy;
  private readonly keepaliveMs: number;
  private readonly flushMs: number;

  constructor(private readonly opts: FleetSocketOptions) {
    this.factory = opts.factory ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.scheduler = opts.scheduler ?? browserScheduler;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.keepaliveMs = opts.keepaliveMs ?? 15_000;
    this.flushMs = opts.flushMs ?? 100;
  }

  get connection(): ConnectionInfo {
    return this.info;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    this.clearTimers();
    this.dropSocket();
    this.pending.clear();
    this.setInfo({ phase: 'closed', retryInMs: null });
  }

  /** Reconnects at once (e.g. after the fleet changed): the new URL carries the new fleet. */
  resubscribe(): void {
    if (!this.running) return;
    this.clearTimers();
    this.dropSocket();
    this.connect();
  }

  /** Feeds one frame as if it came from the server (used by the benchmark harness). */
  receive(data: string): void {
    this.lastMessageAt = this.scheduler.now();
    for (const event of parseFrame(data)) this.dispatch(event);
  }

  private connect(): void {
    const fleetId = this.opts.fleetId();
    const token = this.opts.token();
    if (!fleetId || !token) {
      this.setInfo({ phase: 'idle' });
      return;
    }
    const url = `${this.opts.wsBase}/ws/fleet/${encodeURIComponent(fleetId)}?token=${encodeURIComponent(token)}`;
    this.setInfo({ phase: this.everOpened ? 'reconnecting' : 'connecting', retryInMs: null });
    let socket: SocketLike;
    try {
      socket = this.factory(url);
    } catch (e) {
      this.scheduleReconnect(String(e));
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.lastMessageAt = this.scheduler.now();
      this.setInfo({
        phase: 'open',
        attempt: 0,
        retryInMs: null,
        lastError: null,
        reconnects: this.info.reconnects + (reconnected ? 1 : 0),
      });
      this.armKeepalive();
      if (reconnected) this.opts.handlers.onResubscribed();
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      if (typeof ev.data === 'string') this.receive(ev.data);
    };
    socket.onerror = () => {
      // Always followed by a close event, which does the work.
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (ev.code === 4401 || ev.code === 1008) {
        this.running = false;
        this.clearTimers();
        this.setInfo({ phase: 'closed', lastError: ev.reason || 'unauthorized' });
        this.opts.handlers.onUnauthorized();
        return;
      }
      this.scheduleReconnect(ev.reason || `closed (${ev.code})`);
    };
  }

  private scheduleReconnect(reason: string): void {
    if (!this.running) return;
    this.clearTimers();
    const delay = backoffDelay(this.backoff, this.info.attempt, this.scheduler.random());
    this.setInfo({
      phase: 'reconnecting',
      attempt: this.info.attempt + 1,
      retryInMs: delay,
      lastError: reason,
    });
    this.retryTimer = this.scheduler.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private armKeepalive(): void {
    this.keepaliveTimer = this.scheduler.setTimeout(() => {
      this.keepaliveTimer = null;
      const socket = this.socket;
      if (!socket || socket.readyState !== OPEN) return;
      const silentFor = this.scheduler.now() - this.lastMessageAt;
      if (silentFor >= 2 * this.keepaliveMs) {
        // No answer to the last ping: the connection is half-open. Drop it and reconnect.
        this.dropSocket();
        this.scheduleReconnect('keepalive timeout');
        return;
      }
      if (silentFor >= this.keepaliveMs) socket.send('ping');
      this.armKeepalive();
    }, this.keepaliveMs);
  }

  private dispatch(event: FleetEvent): void {
    const h = this.opts.handlers;
    switch (event.kind) {
      case 'update':
        this.enqueue(event.vehicle);
        break;
      case 'alert':
        h.onAlert(event.alert);
        break;
      case 'command':
        h.onCommand(event.command);
        break;
      case 'mission':
        h.onMission(event.mission);
        break;
      case 'pong':
        break;
    }
  }

  private enqueue(vehicle: VehicleState): void {
    const queued = this.pending.get(vehicle.vehicle_id);
    if (queued && (queued.seq ?? 0) > (vehicle.seq ?? 0)) return; // an older reading arrived late
    this.pending.set(vehicle.vehicle_id, vehicle);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const wait = this.flushMs - (this.scheduler.now() - this.lastFlushAt);
    if (wait <= 0) {
      this.scheduler.requestFrame(() => this.flush());
    } else {
      this.scheduler.setTimeout(() => this.scheduler.requestFrame(() => this.flush()), wait);
    }
  }

  /** Hands the coalesced updates over, on an animation frame. */
  private flush(): void {
    this.flushScheduled = false;
    this.lastFlushAt = this.scheduler.now();
    if (this.pending.size === 0) return;
    const batch = Array.from(this.pending.values());
    this.pending.clear();
    this.opts.handlers.onUpdates(batch);
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onerror = null;
      socket.onclose = null;
      try {
        socket.close(1000, 'client closing');
      } catch {
        // Closing a socket that never opened can throw in some browsers; it is gone either way.
      }
    }
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.scheduler.clearTimeout(this.retryTimer);
    if (this.keepaliveTimer !== null) this.scheduler.clearTimeout(this.keepaliveTimer);
    this.retryTimer = this.keepaliveTimer = null;
  }

  private setInfo(change: Partial<ConnectionInfo>): void {
    this.info = { ...this.info, ...change };
    this.opts.handlers.onState(this.info);
  }
}

/** An `ALERT` frame's payload: the original's fields, plus id and severity from our server. */
export type LiveAlert = Partial<Alert> & { vehicle_id: string; alert_type: string; timestamp?: string };
