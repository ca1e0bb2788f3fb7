import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from '../api/client';
import { createStore } from './index';
import { login, loggedOut, SESSION_REFUSED_MESSAGE } from './authSlice';
import {
  fleetChosen,
  fetchVehicles,
  searchChanged,
  selectActiveCount,
  selectFilteredVehicles,
  statusFilterChanged,
  vehiclesReceived,
} from './fleetSlice';
import { acknowledgeAlert, alertReceived, fetchAlerts, MAX_ALERTS } from './alertsSlice';
import { commandUpdated, dispatchCommand, selectLatestCommand } from './commandsSlice';
import { fetchMissions, missionProgress, missionUpdated } from './missionsSlice';
import { bucketMinutesFor, windowOf, initialAnalyticsState } from './analyticsSlice';
import { pickStarted, waypointPicked, pickEnded } from './uiSlice';
import type { VehicleState } from '../types';

interface Call {
  method: string;
  url: string;
  auth: string | null;
  body: unknown;
}

/** A fake server answering by "METHOD path-prefix"; records every call. */
function fakeServer(routes: Record<string, (body: unknown) => [number, unknown]>) {
  const calls: Call[] = [];
  const fetchImpl: FetchLike = async (url, init) => {
    const method = init?.method ?? 'GET';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = init?.body ? JSON.parse(init.body as string) : undefined;
    calls.push({ method, url, auth: headers.Authorization ?? null, body });
    const path = url.replace('/api/v1', '');
    const key = Object.keys(routes).find((k) => `${method} ${path}`.startsWith(k));
    const [status, json] = key ? routes[key]!(body) : [404, { detail: 'no route', error: 'NOT_FOUND', status_code: 404 }];
    return new Response(JSON.stringify(json), { status });
  };
  const api = new ApiClient('/api/v1', fetchImpl);
  return { api, calls, store: createStore(api) };
}

const operator = { id: 'op-001', email: 'operator@vehicleops.io', role: 'OPERATOR', fleet_ids: ['fleet-001'] };

function v(id: string, status: VehicleState['status'], seq = 1, extra: Partial<VehicleState> = {}): VehicleState {
  return { vehicle_id: id, latitude: 4.7, longitude: -74.07, speed_kmh: 10, battery_pct: 90, status, seq, ...extra };
}

describe('auth', () => {
  it('keeps the token for later requests after a successful login', async () => {
    const { store, calls, api } = fakeServer({
      'POST /auth/login': () => [200, { access_token: 'T1', token_type: 'bearer', expires_in: 3600, operator }],
      'GET /fleet/fleet-001/vehicles': () => [200, { data: [], total: 0 }],
    });
    await store.dispatch(login({ email: 'operator@vehicleops.io', password: 'Operator123!' }));
    expect(store.getState().auth.token).toBe('T1');
    expect(store.getState().auth.operator?.fleet_ids).toEqual(['fleet-001']);
    await store.dispatch(fetchVehicles('fleet-001'));
    expect(calls.at(-1)!.auth).toBe('Bearer T1');
    expect(api).toBeDefined();
  });

  it('shows the server message for a wrong password and keeps no token', async () => {
    const { store } = fakeServer({
      'POST /auth/login': () => [401, { detail: 'Invalid email or password', status_code: 401, error: 'UNAUTHORIZED' }],
    });
    await store.dispatch(login({ email: 'operator@vehicleops.io', password: 'nope' }));
    expect(store.getState().auth).toMatchObject({ token: null, status: 'failed', error: 'Invalid email or password' });
  });

  it('a token the server refuses (e.g. after a restart with a new key) ends the session, saying why', async () => {
    let accepted = true;
    const { store } = fakeServer({
      'POST /auth/login': () => [200, { access_token: 'T1', token_type: 'bearer', expires_in: 3600, operator }],
      'GET /fleet/fleet-001/vehicles': () =>
        accepted ? [200, { data: [], total: 0 }] : [401, { detail: 'Invalid token', error: 'UNAUTHORIZED', status_code: 401 }],
    });
    await store.dispatch(login({ email: 'operator@vehicleops.io', password: 'Operator123!' }));
    store.dispatch(fleetChosen('fleet-001'));
    await store.dispatch(fetchVehicles('fleet-001'));
    expect(store.getState().auth.token).toBe('T1');

    accepted = false;
    await store.dispatch(fetchVehicles('fleet-001'));
    expect(store.getState().auth).toMatchObject({ token: null, error: SESSION_REFUSED_MESSAGE });
    expect(store.getState().fleet.fleetId).toBeNull();
  });

  it('logging out forgets the fleet as well', () => {
    const { store } = fakeServer({});
    store.dispatch(fleetChosen('fleet-001'));
    store.dispatch(vehiclesReceived([v('A', 'MOVING')]));
    store.dispatch(loggedOut('Session expired'));
    expect(store.getState().fleet.vehicles).toEqual({});
    expect(store.getState().auth.error).toBe('Session expired');
  });
});

describe('fleet', () => {
  it('merges live batches, ignoring readings older than the one shown', () => {
    const { store } = fakeServer({});
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 5, { speed_kmh: 50 }), v('B', 'IDLE', 1)]));
    const version = store.getState().fleet.version;
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 4, { speed_kmh: 1 })]));
    expect(store.getState().fleet.vehicles.A!.speed_kmh).toBe(50);
    expect(store.getState().fleet.version).toBe(version); // nothing changed: no redraw
    store.dispatch(vehiclesReceived([v('A', 'STOPPED', 6, { speed_kmh: 0 })]));
    expect(store.getState().fleet.vehicles.A).toMatchObject({ status: 'STOPPED', speed_kmh: 0 });
    expect(store.getState().fleet.version).toBe(version + 1);
  });

  it('takes a lower sequence number with a newer time (the vehicle restarted counting)', () => {
    const { store } = fakeServer({});
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 500, { timestamp: '2024-01-01T00:10:00Z', speed_kmh: 50 })]));
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 499, { timestamp: '2024-01-01T00:09:59Z', speed_kmh: 1 })]));
    expect(store.getState().fleet.vehicles.A!.speed_kmh).toBe(50);
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 1, { timestamp: '2024-01-01T00:12:00Z', speed_kmh: 20 })]));
    expect(store.getState().fleet.vehicles.A!.speed_kmh).toBe(20);
  });

  it('keeps live alert state when a REST row (without alerts) arrives', () => {
    const { store } = fakeServer({});
    store.dispatch(vehiclesReceived([v('A', 'ALERT', 1, { alerts: ['OVERSPEED'] })]));
    const row = v('A', 'ALERT', 2);
    delete row.alerts;
    store.dispatch(vehiclesReceived([row]));
    expect(store.getState().fleet.vehicles.A!.alerts).toEqual(['OVERSPEED']);
  });

  it('loads every page of the vehicle list', async () => {
    const all = Array.from({ length: 450 }, (_, i) => v(`V-${String(i).padStart(3, '0')}`, 'MOVING'));
    const { store, calls } = fakeServer({
      'GET /fleet/f/vehicles': () => {
        const page = Number(/page=(\d+)/.exec(calls.at(-1)!.url)![1]);
        return [200, { data: all.slice((page - 1) * 200, page * 200), total: all.length }];
      },
    });
    await store.dispatch(fetchVehicles('f'));
    expect(Object.keys(store.getState().fleet.vehicles)).toHaveLength(450);
    expect(calls).toHaveLength(3);
  });

  it('leaves vehicles that never reported to the live stream', async () => {
    const { store } = fakeServer({
      'GET /fleet/f/vehicles': () => [
        200,
        {
          data: [
            { ...v('A', 'MOVING'), speed_kmh: null },
            { vehicle_id: 'B', status: 'OFFLINE', latitude: null, longitude: null, speed_kmh: null, battery_pct: null },
          ],
          total: 2,
        },
      ],
    });
    await store.dispatch(fetchVehicles('f'));
    expect(Object.keys(store.getState().fleet.vehicles)).toEqual(['A']);
    expect(store.getState().fleet.vehicles.A!.speed_kmh).toBe(0);
  });

  it('filters the list by search text and status, sorted by id, and counts active vehicles', () => {
    const { store } = fakeServer({});
    store.dispatch(
      vehiclesReceived([v('fleet-001-VH-002', 'MOVING'), v('fleet-001-VH-001', 'IDLE'), v('fleet-001-VH-010', 'OFFLINE')]),
    );
    const ids = () => selectFilteredVehicles(store.getState()).map((x) => x.vehicle_id);
    expect(ids()).toEqual(['fleet-001-VH-001', 'fleet-001-VH-002', 'fleet-001-VH-010']);
    store.dispatch(searchChanged('vh-00'));
    expect(ids()).toEqual(['fleet-001-VH-001', 'fleet-001-VH-002']);
    store.dispatch(statusFilterChanged('MOVING'));
    expect(ids()).toEqual(['fleet-001-VH-002']);
    expect(selectActiveCount(store.getState())).toBe(2);
  });

  it('keeps the active count as vehicles go offline, come back, appear, or report late', () => {
    const { store } = fakeServer({});
    const count = () => selectActiveCount(store.getState());
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 1), v('B', 'IDLE', 1)]));
    expect(count()).toBe(2);
    store.dispatch(vehiclesReceived([v('A', 'OFFLINE', 2), v('C', 'OFFLINE', 1)]));
    expect(count()).toBe(1);
    store.dispatch(vehiclesReceived([v('A', 'MOVING', 1)])); // older than the OFFLINE reading
    expect(count()).toBe(1);
    store.dispatch(vehiclesReceived([v('A', 'CHARGING', 3), v('C', 'MOVING', 2), v('D', 'STOPPED', 1)]));
    expect(count()).toBe(4);
    store.dispatch(fleetChosen('fleet-002'));
    expect(count()).toBe(0);
  });
});

describe('alerts', () => {
  const alert = (id: string, at: string) => ({
    id, vehicle_id: 'A', alert_type: 'OVERSPEED', severity: 'HIGH' as const, value: 92, threshold: 80,
    acknowledged: false, triggered_at: at,
  });

  it('lists open alerts newest first and acknowledges one with notes', async () => {
    const { store, calls } = fakeServer({
      'GET /alerts': () => [200, { data: [alert('a1', '2024-01-01T00:00:00Z'), alert('a2', '2024-01-01T00:01:00Z')], total: 2 }],
      'POST /alerts/a1/acknowledge': (body) => [
        200,
        { id: 'a1', acknowledged: true, acknowledged_by: 'op-001', acknowledged_at: '2024-01-01T00:02:00Z', notes: (body as { notes: string }).notes },
      ],
    });
    await store.dispatch(fetchAlerts('fleet-001'));
    expect(store.getState().alerts.order).toEqual(['a2', 'a1']);
    expect(calls[0]!.url).toContain('fleet_id=fleet-001&acknowledged=false');
    const pending = store.dispatch(acknowledgeAlert({ id: 'a1', notes: 'called the driver' }));
    expect(store.getState().alerts.acknowledging).toEqual({ a1: true });
    await pending;
    expect(store.getState().alerts.byId.a1).toMatchObject({ acknowledged: true, acknowledged_by: 'op-001', notes: 'called the driver' });
    expect(store.getState().alerts.acknowledging).toEqual({});
    expect(calls.at(-1)!.body).toEqual({ notes: 'called the driver' });
  });

  it('keeps a live alert that arrives while the list is being fetched (published before stored)', async () => {
    const { store } = fakeServer({
      'GET /alerts': () => [200, { data: [alert('a1', '2024-01-01T00:00:00Z')], total: 1 }],
    });
    // The request is out; the live alert comes in before its answer, which does not hold it.
    const fetching = store.dispatch(fetchAlerts('fleet-001'));
    store.dispatch(alertReceived({ ...alert('a2', '2024-01-01T00:01:00Z'), id: 'a2' }));
    await fetching;
    expect(store.getState().alerts.order).toEqual(['a2', 'a1']);
    // Once no fetch is in flight, the next answer is the whole truth again.
    expect(store.getState().alerts.liveDuringFetch).toEqual([]);
    await store.dispatch(fetchAlerts('fleet-001'));
    expect(store.getState().alerts.order).toEqual(['a1']);
  });

  it('adds live alerts on top, bounded; id-less ones mark the list stale', () => {
    const { store } = fakeServer({});
    for (let i = 0; i < MAX_ALERTS + 5; i++) store.dispatch(alertReceived({ ...alert(`a${i}`, ''), id: `a${i}` }));
    const s = store.getState().alerts;
    expect(s.order).toHaveLength(MAX_ALERTS);
    expect(s.order[0]).toBe(`a${MAX_ALERTS + 4}`);
    expect(s.byId.a0).toBeUndefined();
    store.dispatch(alertReceived({ id: 'live', vehicle_id: 'A', alert_type: 'OVERSPEED', timestamp: '2024-01-01T00:00:00Z' }));
    expect(store.getState().alerts.byId.live).toMatchObject({ triggered_at: '2024-01-01T00:00:00Z', acknowledged: false });
    store.dispatch(alertReceived({ vehicle_id: 'A', alert_type: 'LOW_BATTERY' }));
    expect(store.getState().alerts.stale).toBe(true);
  });
});

describe('commands', () => {
  it('follows the lifecycle from the 202 answer through live frames, never backwards', async () => {
    const { store, calls } = fakeServer({
      'POST /commands/A': () => [202, { id: 'c1', vehicle_id: 'A', command: 'STOP', status: 'DISPATCHED' }],
    });
    const pending = store.dispatch(dispatchCommand({ vehicleId: 'A', command: 'STOP' }));
    expect(selectLatestCommand(store.getState(), 'A')!.steps).toEqual([]);
    await pending;
    expect(calls[0]!.body).toEqual({ command: 'STOP', params: {} });
    store.dispatch(commandUpdated({ id: 'c1', vehicle_id: 'A', command: 'STOP', status: 'DELIVERED' }));
    store.dispatch(commandUpdated({ id: 'c1', vehicle_id: 'A', command: 'STOP', status: 'EXECUTED' }));
    store.dispatch(commandUpdated({ id: 'c1', vehicle_id: 'A', command: 'STOP', status: 'DELIVERED' }));
    expect(selectLatestCommand(store.getState(), 'A')!.steps).toEqual(['DISPATCHED', 'DELIVERED', 'EXECUTED']);
  });

  it('keeps lifecycle frames that arrive before the HTTP answer', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const api = new ApiClient('/api/v1', async () => {
      await gate;
      return new Response(JSON.stringify({ id: 'c9', vehicle_id: 'A', command: 'STOP', status: 'DISPATCHED' }), { status: 202 });
    });
    const store = createStore(api);
    const pending = store.dispatch(dispatchCommand({ vehicleId: 'A', command: 'STOP' }));
    store.dispatch(commandUpdated({ id: 'c9', vehicle_id: 'A', command: 'STOP', status: 'DELIVERED' }));
    release();
    await pending;
    expect(selectLatestCommand(store.getState(), 'A')!.steps).toEqual(['DISPATCHED', 'DELIVERED']);
    expect(store.getState().commands.unclaimed).toEqual({});
  });

  it('sends REROUTE waypoints and reports a refusal', async () => {
    const { store, calls } = fakeServer({
      'POST /commands/A': () => [422, { detail: 'REROUTE needs at least one waypoint', status_code: 422, error: 'UNPROCESSABLE' }],
    });
    const waypoints = [{ latitude: 4.71, longitude: -74.07, order: 1 }];
    await store.dispatch(dispatchCommand({ vehicleId: 'A', command: 'REROUTE', waypoints }));
    expect(calls[0]!.body).toEqual({ command: 'REROUTE', params: { waypoints } });
    expect(selectLatestCommand(store.getState(), 'A')!.error).toBe('REROUTE needs at least one waypoint');
  });
});

describe('missions, analytics and waypoint picking', () => {
  it('tracks mission progress from lifecycle frames, keeping the waypoint list', () => {
    const { store } = fakeServer({});
    const waypoints = [1, 2, 3, 4].map((order) => ({ latitude: 4.7, longitude: -74, order }));
    store.dispatch(missionUpdated({ id: 'm1', vehicle_id: 'A', status: 'ASSIGNED', waypoints, completed_waypoints: 0 }));
    store.dispatch(missionUpdated({ id: 'm1', vehicle_id: 'A', status: 'IN_PROGRESS', completed_waypoints: 1 }));
    const m = store.getState().missions.byId.m1!;
    expect(m.waypoints).toHaveLength(4);
    expect(missionProgress(m)).toEqual({ done: 1, total: 4, pct: 25 });
  });

  it('loads the fleet\'s missions newest first with their routes, keeping live-only ones on top', async () => {
    const route = [1, 2].map((order) => ({ latitude: 4.7, longitude: -74, order }));
    const listed = (id: string, created_at: string, status: string) => ({
      id,
      vehicle_id: 'A',
      fleet_id: 'fleet-001',
      status,
      created_at,
      waypoints: route,
      completed_waypoints: status === 'COMPLETED' ? 2 : 0,
      total_waypoints: 2,
      completion_pct: status === 'COMPLETED' ? 100 : 0,
    });
    const { store, calls } = fakeServer({
      'GET /missions?': () => [
        200,
        {
          data: [listed('m3', '2024-02-15T12:00:02Z', 'ASSIGNED'), listed('m1', '2024-02-15T12:00:00Z', 'COMPLETED')],
          total: 2,
        },
      ],
    });
    // A mission seen live before the list arrives (a frame without a creation time).
    store.dispatch(missionUpdated({ id: 'm9', vehicle_id: 'B', status: 'IN_PROGRESS', completed_waypoints: 1 }));
    await store.dispatch(fetchMissions('fleet-001'));
    expect(calls[0]!.url).toBe('/api/v1/missions?fleet_id=fleet-001&limit=100');
    const { order, byId, error } = store.getState().missions;
    expect(error).toBeNull();
    expect(order).toEqual(['m9', 'm3', 'm1']);
    expect(byId.m3!.waypoints).toEqual(route);
    expect(missionProgress(byId.m1!)).toEqual({ done: 2, total: 2, pct: 100 });

    // Loading again (a reload or a reconnect) neither duplicates nor reorders.
    await store.dispatch(fetchMissions('fleet-001'));
    expect(store.getState().missions.order).toEqual(['m9', 'm3', 'm1']);
  });

  it('says when the missions list cannot be loaded', async () => {
    const { store } = fakeServer({
      'GET /missions?': () => [503, { detail: 'store unavailable', error: 'UNAVAILABLE', status_code: 503 }],
    });
    await store.dispatch(fetchMissions('fleet-001'));
    expect(store.getState().missions.error).toContain('store unavailable');
  });

  it('derives report windows and chart bucket widths', () => {
    const now = Date.parse('2024-02-15T12:00:00Z');
    expect(windowOf({ ...initialAnalyticsState, rangeMinutes: 24 * 60 }, now)).toEqual({
      from: '2024-02-14T12:00:00.000Z',
      to: '2024-02-15T12:00:00.000Z',
    });
    expect(bucketMinutesFor({ from: '2024-02-14T12:00:00Z', to: '2024-02-15T12:00:00Z' })).toBe(24);
    expect(bucketMinutesFor({ from: '2024-02-15T11:50:00Z', to: '2024-02-15T12:00:00Z' })).toBe(1);
  });

  it('numbers picked waypoints and only while picking', () => {
    const { store } = fakeServer({});
    store.dispatch(waypointPicked({ latitude: 1, longitude: 1 }));
    expect(store.getState().ui.picked).toEqual([]);
    store.dispatch(pickStarted('reroute'));
    store.dispatch(waypointPicked({ latitude: 1, longitude: 2 }));
    store.dispatch(waypointPicked({ latitude: 3, longitude: 4 }));
    expect(store.getState().ui.picked.map((w) => w.order)).toEqual([1, 2]);
    store.dispatch(pickEnded());
    expect(store.getState().ui.picked).toEqual([]);
  });
});
