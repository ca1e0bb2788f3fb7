import { describe, expect, it } from 'vitest';
import {
  FleetSocket,
  backoffDelay,
  type ConnectionInfo,
  type Scheduler,
  type SocketLike,
} from './fleetSocket';
import { parseFrame } from './frames';
import type { VehicleState } from '../types';

/** A socket whose server side the test drives. */
class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: SocketLike['onopen'] = null;
  onclose: SocketLike['onclose'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onerror: SocketLike['onerror'] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  message(data: unknown) {
    this.onmessage?.({ data: typeof data === 'string' ? data : JSON.stringify(data) });
  }
  serverClose(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** Manual clock: timers and animation frames run only when the test says so. */
class ManualScheduler implements Scheduler {
  time = 0;
  frames: (() => void)[] = [];
  timers = new Map<number, { at: number; cb: () => void }>();
  private nextId = 1;
  randomValue = 0;
  requestFrame(cb: () => void) {
    this.frames.push(cb);
    return this.frames.length;
  }
  setTimeout(cb: () => void, ms: number) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, cb });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers.delete(h as number);
  }
  now() {
    return this.time;
  }
  random() {
    return this.randomValue;
  }
  runFrame() {
    const frames = this.frames;
    this.frames = [];
    frames.forEach((f) => f());
  }
  /** Advances the clock, firing due timers in order. */
  advance(ms: number) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].cb();
    }
    this.time = end;
  }
}

function vehicle(id: string, seq: number, speed = 10): VehicleState {
  return {
    vehicle_id: id,
    latitude: 4.7,
    longitude: -74.07,
    speed_kmh: speed,
    battery_pct: 80,
    status: 'MOVING',
    alerts: [],
    seq,
  };
}

function setup(fleet = 'fleet-001', token: string | null = 'tok en') {
  const sockets: FakeSocket[] = [];
  const scheduler = new ManualScheduler();
  const batches: VehicleState[][] = [];
  const states: ConnectionInfo[] = [];
  const events: string[] = [];
  const ctx = { fleet, token };
  const client = new FleetSocket({
    wsBase: 'ws://example.test',
    fleetId: () => ctx.fleet,
    token: () => ctx.token,
    factory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    scheduler,
    backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 },
    keepaliveMs: 1000,
    handlers: {
      onUpdates: (b) => batches.push(b),
      onAlert: (a) => events.push(`alert:${a.alert_type}`),
      onCommand: (c) => events.push(`command:${c.status}`),
      onMission: (m) => events.push(`mission:${m.status}`),
      onState: (s) => states.push(s),
      onResubscribed: () => events.push('resubscribed'),
      onUnauthorized: () => events.push('unauthorized'),
    },
  });
  return { client, sockets, scheduler, batches, states, events, ctx };
}

describe('backoffDelay', () => {
  const policy = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.3 };
  it('doubles per attempt up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n, 0))).toEqual([
      500, 1000, 2000, 4000, 8000, 15_000, 15_000,
    ]);
  });
  it('takes away at most the jitter share', () => {
    expect(backoffDelay(policy, 1, 1)).toBe(700);
    expect(backoffDelay(policy, 1, 0.5)).toBe(850);
  });
});

describe('FleetSocket', () => {
  it('connects to the fleet with the token in the query string', () => {
    const { client, sockets, states } = setup();
    client.start();
    expect(sockets[0]!.url).toBe('ws://example.test/ws/fleet/fleet-001?token=tok%20en');
    expect(states.at(-1)!.phase).toBe('connecting');
    sockets[0]!.open();
    expect(states.at(-1)!.phase).toBe('open');
  });

  it('does not connect without a token', () => {
    const { client, sockets, states } = setup('fleet-001', null);
    client.start();
    expect(sockets).toHaveLength(0);
    expect(states.at(-1)!.phase).toBe('idle');
  });

  it('hands updates over once per animation frame, newest reading per vehicle', () => {
    const { client, sockets, scheduler, batches } = setup();
    client.start();
    sockets[0]!.open();
    sockets[0]!.message(vehicle('A', 1, 10));
    sockets[0]!.message(vehicle('B', 1, 20));
    sockets[0]!.message(vehicle('A', 3, 30));
    sockets[0]!.message(vehicle('A', 2, 99)); // late, older than seq 3
    expect(batches).toHaveLength(0);
    expect(scheduler.frames).toHaveLength(1);
    scheduler.runFrame();
    expect(batches).toHaveLength(1);
    const byId = Object.fromEntries(batches[0]!.map((v) => [v.vehicle_id, v.speed_kmh]));
    expect(byId).toEqual({ A: 30, B: 20 });
    // Nothing new: the next frame hands nothing over.
    scheduler.runFrame();
    expect(batches).toHaveLength(1);
  });

  it('hands updates over at most every 100 ms, however fast they come', () => {
    const { client, sockets, scheduler, batches } = setup();
    client.start();
    sockets[0]!.open();
    sockets[0]!.message(vehicle('A', 1, 10));
    scheduler.runFrame();
    expect(batches).toHaveLength(1);
    // Updates arriving right after a hand-over wait for the next one, 100 ms on.
    sockets[0]!.message(vehicle('A', 2, 20));
    sockets[0]!.message(vehicle('B', 1, 30));
    scheduler.runFrame();
    expect(batches).toHaveLength(1);
    scheduler.advance(99);
    scheduler.runFrame();
    expect(batches).toHaveLength(1);
    scheduler.advance(1);
    scheduler.runFrame();
    expect(batches).toHaveLength(2);
    expect(batches[1]!.map((v) => [v.vehicle_id, v.speed_kmh])).toEqual([
      ['A', 20],
      ['B', 30],
    ]);
  });

  it('unpacks snapshots and passes alerts and lifecycle frames through at once', () => {
    const { client, sockets, scheduler, batches, events } = setup();
    client.start();
    sockets[0]!.open();
    sockets[0]!.message({
      type: 'SNAPSHOT',
      payload: { fleet_id: 'fleet-001', vehicles: [vehicle('A', 1), vehicle('B', 1)] },
    });
    sockets[0]!.message({ type: 'ALERT', payload: { vehicle_id: 'A', alert_type: 'OVERSPEED' } });
    sockets[0]!.message({
      type: 'COMMAND',
      payload: { id: 'c1', vehicle_id: 'A', command: 'STOP', status: 'EXECUTED' },
    });
    sockets[0]!.message({ type: 'MISSION', payload: { id: 'm1', vehicle_id: 'A', status: 'IN_PROGRESS' } });
    expect(events).toEqual(['alert:OVERSPEED', 'command:EXECUTED', 'mission:IN_PROGRESS']);
    scheduler.runFrame();
    expect(batches[0]!.map((v) => v.vehicle_id).sort()).toEqual(['A', 'B']);
  });

  it('reconnects with growing backoff and resets it after a successful open', () => {
    const { client, sockets, scheduler, states } = setup();
    client.start();
    sockets[0]!.serverClose();
    expect(states.at(-1)).toMatchObject({ phase: 'reconnecting', attempt: 1, retryInMs: 100 });
    scheduler.advance(99);
    expect(sockets).toHaveLength(1);
    scheduler.advance(1);
    expect(sockets).toHaveLength(2);
    sockets[1]!.serverClose();
    expect(states.at(-1)).toMatchObject({ attempt: 2, retryInMs: 200 });
    scheduler.advance(200);
    sockets[2]!.serverClose();
    expect(states.at(-1)).toMatchObject({ attempt: 3, retryInMs: 400 });
    scheduler.advance(400);
    sockets[3]!.open();
    expect(states.at(-1)).toMatchObject({ phase: 'open', attempt: 0 });
    sockets[3]!.serverClose();
    expect(states.at(-1)).toMatchObject({ attempt: 1, retryInMs: 100 });
  });

  it('jitters the delay so clients do not reconnect in step', () => {
    const { client, sockets, scheduler, states } = setup();
    scheduler.randomValue = 1;
    client.start();
    sockets[0]!.serverClose();
    expect(states.at(-1)!.retryInMs).toBe(50);
  });

  it('resubscribes after a server restart: same fleet, fresh token, refetch signalled', () => {
    const { client, sockets, scheduler, events, ctx, states } = setup();
    client.start();
    sockets[0]!.open();
    expect(events).not.toContain('resubscribed');
    ctx.token = 'renewed';
    sockets[0]!.serverClose(1012, 'service restart');
    scheduler.advance(100);
    expect(sockets[1]!.url).toBe('ws://example.test/ws/fleet/fleet-001?token=renewed');
    sockets[1]!.open();
    expect(events).toEqual(['resubscribed']);
    expect(states.at(-1)!.reconnects).toBe(1);
  });

  it('switches fleet on resubscribe and ignores the old socket afterwards', () => {
    const { client, sockets, scheduler, batches, ctx } = setup();
    client.start();
    sockets[0]!.open();
    ctx.fleet = 'fleet-002';
    client.resubscribe();
    expect(sockets[0]!.closed).toBe(true);
    expect(sockets[1]!.url).toContain('/ws/fleet/fleet-002?');
    sockets[0]!.message(vehicle('OLD', 1));
    scheduler.runFrame();
    expect(batches).toHaveLength(0);
  });

  it('stops for good when the server refuses the token', () => {
    const { client, sockets, scheduler, events, states } = setup();
    client.start();
    sockets[0]!.serverClose(4401, 'invalid token');
    expect(events).toEqual(['unauthorized']);
    expect(states.at(-1)!.phase).toBe('closed');
    scheduler.advance(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('pings a quiet connection and drops it when nothing answers', () => {
    const { client, sockets, scheduler, states } = setup();
    client.start();
    sockets[0]!.open();
    scheduler.advance(1000);
    expect(sockets[0]!.sent).toEqual(['ping']);
    scheduler.advance(500);
    sockets[0]!.message('pong');
    scheduler.advance(500); // answered 500 ms ago: no new ping yet
    expect(sockets[0]!.sent).toEqual(['ping']);
    scheduler.advance(1000); // 1.5 s of silence: ping again
    expect(sockets[0]!.sent).toEqual(['ping', 'ping']);
    expect(sockets[0]!.closed).toBe(false);
    scheduler.advance(1000); // 2.5 s of silence: the connection is half-open
    expect(sockets[0]!.closed).toBe(true);
    expect(states.at(-1)).toMatchObject({ phase: 'reconnecting', lastError: 'keepalive timeout' });
  });

  it('stop() closes the socket and cancels the pending reconnect', () => {
    const { client, sockets, scheduler, states } = setup();
    client.start();
    sockets[0]!.serverClose();
    client.stop();
    scheduler.advance(10_000);
    expect(sockets).toHaveLength(1);
    expect(states.at(-1)!.phase).toBe('closed');
  });
});

describe('parseFrame', () => {
  it('ignores malformed and unknown frames', () => {
    expect(parseFrame('{not json')).toEqual([]);
    expect(parseFrame(JSON.stringify({ type: 'SOMETHING_NEW', payload: {} }))).toEqual([]);
    expect(parseFrame(JSON.stringify({ vehicle_id: 'A' }))).toEqual([]);
  });
  it('reads keepalive answers', () => {
    expect(parseFrame('pong')).toEqual([{ kind: 'pong' }]);
  });
});
