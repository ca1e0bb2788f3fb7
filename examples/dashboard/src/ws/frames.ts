/**
 * Parses the fleet WebSocket's frames into typed events.
 *
 * The server sends bare vehicle updates in the original's shape, `{"type":"ALERT","payload":…}`
 * for alerts, typed envelopes for command and mission lifecycle steps and for the snapshot sent
 * on connect, and `"pong"` for keepalive. Unknown frames are ignored, never thrown on: a newer
 * server must not break an older dashboard.
 */
import type { Alert, Command, Mission, VehicleState } from '../types';

export type FleetEvent =
  | { kind: 'update'; vehicle: VehicleState }
  | { kind: 'alert'; alert: Partial<Alert> & { vehicle_id: string; alert_type: string } }
  | { kind: 'command'; command: Command }
  | { kind: 'mission'; mission: Mission }
  | { kind: 'pong' };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isVehicle(v: unknown): v is VehicleState {
  return (
    isObject(v) &&
    typeof v.vehicle_id === 'string' &&
    typeof v.latitude === 'number' &&
    typeof v.longitude === 'number'
  );
}

/** Turns one decoded JSON value into events (a snapshot or an array yields many). */
function eventsOf(value: unknown, out: FleetEvent[]): void {
  if (Array.isArray(value)) {
    for (const item of value) eventsOf(item, out);
    return;
  }
  if (!isObject(value)) return;
  const type = typeof value.type === 'string' ? value.type.toUpperCase() : undefined;
  if (type === undefined) {
    if (isVehicle(value)) out.push({ kind: 'update', vehicle: value });
    return;
  }
  const payload = value.payload ?? value.data ?? value.vehicles;
  switch (type) {
    case 'ALERT':
    case 'ALERT_TRIGGERED':
    case 'ALERT_UPDATE':
      if (isObject(payload) && typeof payload.vehicle_id === 'string') {
        out.push({ kind: 'alert', alert: payload as Partial<Alert> & { vehicle_id: string; alert_type: string } });
      }
      return;
    case 'COMMAND':
    case 'COMMAND_UPDATE':
    case 'COMMAND_STATUS':
      if (isObject(payload) && typeof payload.status === 'string') {
        out.push({ kind: 'command', command: payload as unknown as Command });
      }
      return;
    case 'MISSION':
    case 'MISSION_UPDATE':
    case 'MISSION_STATUS':
      if (isObject(payload) && typeof payload.id === 'string') {
        out.push({ kind: 'mission', mission: payload as unknown as Mission });
      }
      return;
    case 'SNAPSHOT':
      // `{"payload": {"fleet_id", "vehicles": [...]}}` or `{"payload": [...]}`.
      eventsOf(isObject(payload) && Array.isArray(payload.vehicles) ? payload.vehicles : payload, out);
      return;
    case 'UPDATE':
    case 'UPDATES':
    case 'VEHICLE_UPDATE':
    case 'TELEMETRY':
      eventsOf(payload, out);
      return;
    case 'PONG':
      out.push({ kind: 'pong' });
      return;
    default:
      // A bare update that happens to carry a `type` field still counts.
      if (isVehicle(value)) out.push({ kind: 'update', vehicle: value });
  }
}

/** Parses one text frame. Malformed frames yield no events. */
export function parseFrame(data: string): FleetEvent[] {
  if (data === 'pong') return [{ kind: 'pong' }];
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return [];
  }
  const out: FleetEvent[] = [];
  eventsOf(value, out);
  return out;
}
