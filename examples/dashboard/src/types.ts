/**
 * Wire types of the reference server's REST and WebSocket API (the original's field names).
 * Only the fields the dashboard reads are required; servers may send more.
 */

export const VEHICLE_STATUSES = [
  'IDLE',
  'MOVING',
  'ALERT',
  'LOW_BATTERY',
  'OFFLINE',
  'STOPPED',
  'CHARGING',
] as const;
export type VehicleStatus = (typeof VEHICLE_STATUSES)[number];

export type Severity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
export type CommandKind = 'STOP' | 'RESUME' | 'REROUTE' | 'RETURN_TO_BASE';
export type CommandStatus =
  | 'DISPATCHED'
  | 'DELIVERED'
  | 'EXECUTED'
  | 'FAILED'
  | 'TIMEOUT'
  | 'EXPIRED';
export type MissionStatus = 'ASSIGNED' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** A vehicle's live state: one WebSocket update, or one row of the vehicles list. */
export interface VehicleState {
  vehicle_id: string;
  fleet_id?: string;
  latitude: number;
  longitude: number;
  speed_kmh: number;
  battery_pct: number;
  engine_temp_c?: number;
  load_pct?: number;
  heading_deg?: number;
  status: VehicleStatus;
  /** Alert types currently open for the vehicle. */
  alerts?: string[];
  seq?: number;
  timestamp?: string;
  last_seen?: string;
  active_mission_id?: string | null;
}

/** A row of GET /fleet/{id}/vehicles: figures are null for a vehicle that never reported. */
export type VehicleListRow = Omit<
  VehicleState,
  'latitude' | 'longitude' | 'speed_kmh' | 'battery_pct' | 'engine_temp_c' | 'load_pct'
> & {
  latitude: number | null;
  longitude: number | null;
  speed_kmh: number | null;
  battery_pct: number | null;
  engine_temp_c: number | null;
  load_pct: number | null;
};

export interface Waypoint {
  latitude: number;
  longitude: number;
  order: number;
}

export interface Operator {
  id: string;
  email: string;
  role: string;
  fleet_ids: string[];
}

export interface LoginResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  operator: Operator;
}

export interface FleetSummary {
  fleet_id: string;
  fleet_name?: string;
  total_vehicles: number;
  active_vehicles: number;
  idle_vehicles: number;
  vehicles_in_alert: number;
  avg_battery_pct: number | null;
  avg_speed_kmh: number | null;
  active_missions: number;
  open_alerts: number;
  last_updated?: string | null;
}

export interface Page<T> {
  data: T[];
  total: number;
  page?: number;
  limit?: number;
}

/** A fleet the caller may see (`GET /fleets`): every fleet for an ADMIN. */
export interface FleetInfo {
  id: string;
  name: string;
}

/** One thing someone did (`GET /audit`). */
export interface AuditEntry {
  id: string;
  /** RFC 3339. */
  at: string;
  /** An operator id; the email tried, for a failed login. */
  actor: string;
  /** `LOGIN_SUCCEEDED`, `COMMAND_DISPATCHED`, … (a newer server may send others). */
  action: string;
  fleet_id: string | null;
  vehicle_id: string | null;
  /** The command, mission or alert acted on. */
  target_id: string | null;
  /** The client's address, for logins. */
  source: string | null;
  detail: string;
}

/** A page of the audit trail, newest first; `next_cursor` asks for the older entries. */
export interface AuditPage {
  data: AuditEntry[];
  next_cursor: string | null;
}

export interface Alert {
  id: string;
  vehicle_id: string;
  fleet_id?: string;
  alert_type: string;
  severity: Severity;
  value: number;
  threshold: number;
  message?: string;
  acknowledged: boolean;
  acknowledged_by?: string | null;
  acknowledged_at?: string | null;
  notes?: string | null;
  triggered_at?: string;
  cleared_at?: string | null;
}

export interface Command {
  id?: string;
  vehicle_id: string;
  command: CommandKind;
  status: CommandStatus;
  issued_by?: string;
  issued_at?: string;
  delivered_at?: string | null;
  executed_at?: string | null;
  failure_reason?: string | null;
}

export interface Mission {
  id: string;
  vehicle_id: string;
  fleet_id?: string;
  mission_type?: string;
  priority?: string;
  status: MissionStatus;
  /** A number in the creation response, the list of points elsewhere. */
  waypoints?: Waypoint[] | number;
  completed_waypoints?: number;
  total_waypoints?: number;
  completion_pct?: number;
  created_at?: string;
  started_at?: string | null;
  estimated_completion?: string | null;
  failure_reason?: string | null;
}

export interface SeriesPoint {
  bucket: string;
  avg_value: number;
  max_value: number;
  min_value: number;
}

export interface VehiclePerformance {
  vehicle_id: string;
  avg_speed: number;
  avg_battery: number;
  distance_km: number;
  alerts: number;
}

export interface FleetPerformanceReport {
  fleet_id: string;
  from: string;
  to: string;
  vehicles: VehiclePerformance[];
}

/**
 * The figures of a daily report (`GET /reports/fleet/{id}`), flattened into the fleet's, each
 * day's and each vehicle's object. Times are seconds of observed time in each state (driving:
 * MOVING; other: alert, low battery or offline).
 */
export interface ReportFigures {
  readings: number;
  distance_km: number;
  driving_s: number;
  idle_s: number;
  stopped_s: number;
  charging_s: number;
  other_s: number;
  /** null when there were no readings. */
  avg_speed_kmh: number | null;
  max_speed_kmh: number | null;
  alerts: number;
  alerts_by_type: Record<string, number>;
  missions_completed: number;
}

export interface FleetDayFigures extends ReportFigures {
  /** `YYYY-MM-DD` in the report's local time. */
  day: string;
}

export interface VehicleFigures extends ReportFigures {
  vehicle_id: string;
}

export interface VehicleDayFigures extends VehicleFigures {
  day: string;
}

/** A fleet's daily report: calendar days `from`–`to` (inclusive) at `utc_offset_minutes`. */
export interface FleetDailyReport {
  fleet_id: string;
  from: string;
  to: string;
  utc_offset_minutes: number;
  fleet: ReportFigures;
  /** By day. */
  fleet_days: FleetDayFigures[];
  /** Longest distance first. */
  vehicles: VehicleFigures[];
  /** By day, then vehicle. */
  days: VehicleDayFigures[];
}

export interface ApiErrorBody {
  detail: string;
  status_code: number;
  error: string;
}

/** What a vehicle told its transport it can do (`GET /vehicles/{id}/capabilities`). */
export interface VehicleCapabilities {
  vehicle_id: string;
  /** e.g. `VDA 5050 2.1.0 factsheet`. */
  source: string;
  received_at: string;
  series_name: string | null;
  kinematic: string | null;
  vehicle_class: string | null;
  max_speed_mps: number | null;
  max_load_kg: number | null;
  load_types: string[];
  max_order_nodes: number | null;
  /** `null`: the vehicle lists no actions (nothing is refused). */
  actions: { action_type: string; description: string | null; scopes: string[] }[] | null;
}

/** One point of a vehicle's path (`GET /telemetry/{id}/path`). */
export interface PathPoint {
  timestamp: string;
  latitude: number;
  longitude: number;
  speed_kmh: number;
  heading_deg: number;
  status: VehicleStatus;
}

/** A vehicle's path over a window, simplified on the server for replaying the trip. */
export interface VehiclePath {
  vehicle_id: string;
  from: string;
  to: string;
  /** Readings stored for the window, before simplification. */
  readings: number;
  tolerance_m: number;
  points: PathPoint[];
}

/** One stored reading of a vehicle (`GET /telemetry/{id}/history`). */
export interface HistoryPoint {
  timestamp: string;
  latitude: number;
  longitude: number;
  speed_kmh: number;
  battery_pct: number;
  engine_temp_c: number;
  load_pct?: number;
  status: VehicleStatus;
}

/** A vehicle's readings over a window, oldest first, at most `limit` of them. */
export interface TelemetryHistory {
  vehicle_id: string;
  from: string;
  to: string;
  /** Readings in `data` (not the window's total). */
  total_records: number;
  data: HistoryPoint[];
}

/** A fleet at a past instant (`GET /fleet/{id}/snapshot?at=`). */
export interface FleetSnapshot {
  fleet_id: string;
  at: string;
  /** Each vehicle's last reading at or before `at`. */
  vehicles: VehicleState[];
  /** Alerts open at `at`. */
  open_alerts: Alert[];
}
