/**
 * The shapes of VehicleOps data in JavaScript: the core's fields in camelCase.
 * Times are ISO 8601 strings in UTC (`"2024-02-15T14:32:18Z"`); inputs also accept `Date`s.
 */

export type VehicleStatus =
  | 'IDLE'
  | 'MOVING'
  | 'ALERT'
  | 'LOW_BATTERY'
  | 'OFFLINE'
  | 'STOPPED'
  | 'CHARGING'

export type Severity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL'

/** Built-in alert types; JS rules add their own names. */
export type AlertType =
  | 'OVERSPEED'
  | 'LOW_BATTERY'
  | 'ENGINE_OVERHEAT'
  | 'GEOFENCE_ENTER'
  | 'GEOFENCE_EXIT'
  | 'GEOFENCE_DWELL'
  | 'OFFLINE'
  | 'RAPID_CHANGE'
  | (string & {})

export type CommandKind = 'STOP' | 'RESUME' | 'REROUTE' | 'RETURN_TO_BASE'
export type CommandStatus = 'DISPATCHED' | 'DELIVERED' | 'EXECUTED' | 'FAILED' | 'TIMEOUT' | 'EXPIRED'
export type MissionType = 'DELIVERY' | 'PICKUP' | 'INSPECTION' | 'PATROL' | 'CHARGING' | 'TRANSFER'
export type MissionPriority = 'LOW' | 'NORMAL' | 'HIGH' | 'URGENT'
export type MissionStatus = 'ASSIGNED' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED'
export type Metric = 'speed_kmh' | 'battery_pct' | 'engine_temp_c' | 'load_pct'

/** Position in a vehicle's map frame (VDA 5050 `agvPosition`). */
export interface MapPose {
  x: number
  y: number
  theta: number
  mapId: string
}

export interface GeoPoint {
  latitude: number
  longitude: number
}

export interface Waypoint extends GeoPoint {
  /** Position in the route, 1-based; missions sort by it. */
  order?: number
}

/** One telemetry reading as stored and returned. */
export interface Telemetry {
  vehicleId: string
  fleetId: string
  latitude: number
  longitude: number
  speedKmh: number
  batteryPct: number
  engineTempC: number
  loadPct: number
  status: VehicleStatus
  timestamp: string
  headingDeg: number
  /** Per-vehicle sequence number; part of the idempotency key with the timestamp. */
  seq: number
  pose?: MapPose
}

/** A reading to publish; optional fields default to 0. */
export interface TelemetryInput {
  vehicleId: string
  fleetId: string
  latitude: number
  longitude: number
  speedKmh: number
  batteryPct: number
  engineTempC: number
  loadPct?: number
  status: VehicleStatus
  timestamp: Date | string
  headingDeg?: number
  seq?: number
  pose?: MapPose
}

/** A vehicle's live state. */
export interface LiveUpdate {
  vehicleId: string
  fleetId: string
  latitude: number
  longitude: number
  speedKmh: number
  batteryPct: number
  engineTempC: number
  loadPct: number
  headingDeg: number
  status: VehicleStatus
  /** Alert types currently open for the vehicle. */
  alerts: AlertType[]
  seq: number
  timestamp: string
  pose?: MapPose
}

/** One alert episode. */
export interface Alert {
  id: string
  vehicleId: string
  fleetId: string
  alertType: AlertType
  severity: Severity
  value: number
  threshold: number
  message: string
  key?: string
  triggeredAt: string
  clearedAt: string | null
  acknowledged: boolean
  acknowledgedBy: string | null
  acknowledgedAt: string | null
  notes: string | null
}

export interface CommandParams {
  /** REROUTE needs at least one. */
  waypoints?: Waypoint[]
  reason?: string
}

export interface Command {
  id: string
  vehicleId: string
  fleetId: string
  command: CommandKind
  params: CommandParams
  status: CommandStatus
  issuedBy: string
  issuedAt: string
  deliveredAt: string | null
  executedAt: string | null
  failureReason: string | null
}

export interface MissionRequest {
  fleetId: string
  vehicleId: string
  missionType: MissionType
  waypoints: Waypoint[]
  priority?: MissionPriority
}

export interface Mission {
  id: string
  fleetId: string
  vehicleId: string
  missionType: MissionType
  priority: MissionPriority
  waypoints: Required<Waypoint>[]
  status: MissionStatus
  completedWaypoints: number
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  estimatedCompletion: string | null
  failureReason: string | null
}

export interface Fleet {
  id: string
  name: string
}

export interface Vehicle {
  id: string
  fleetId: string
  name?: string | null
  home?: GeoPoint | null
}

export interface VehicleMetricsSummary {
  vehicleId: string
  totalReadings: number
  avgSpeedKmh: number | null
  maxSpeedKmh: number | null
  avgBatteryPct: number | null
  minBatteryPct: number | null
  avgEngineTempC: number | null
  maxEngineTempC: number | null
  totalDistanceKm: number
  alertCount: number
}

export interface SeriesPoint {
  bucket: string
  avgValue: number
  maxValue: number
  minValue: number
}

export interface VehiclePerformance {
  vehicleId: string
  avgSpeed: number
  avgBattery: number
  distanceKm: number
  alerts: number
}

export interface FleetPerformanceReport {
  fleetId: string
  from: string
  to: string
  /** Ranked by distance, longest first. */
  vehicles: VehiclePerformance[]
}

/** A page of results and how many matched in all. */
export interface Page<T> {
  data: T[]
  total: number
}

export interface AlertFilter {
  fleetId?: string
  vehicleId?: string
  severity?: Severity
  acknowledged?: boolean
  /** Default 100. */
  limit?: number
}

/** A time window; open ends are unbounded. */
export interface TimeWindow {
  from?: Date | string
  to?: Date | string
}

/** Pipeline counters. */
export interface EngineStats {
  received: number
  valid: number
  deadLettered: number
  stale: number
  stored: number
  duplicates: number
  batchesWritten: number
  writeErrors: number
  alertsRaised: number
  alertsCleared: number
  avgWriteMs: number
  maxWriteMs: number
  inFlight: number
  lastLagMs: number
  alertsByType: Record<string, number>
  /** JS rule calls that gave no verdict (threw, timed out, malformed answer). */
  ruleFailures: number
}

/** What a JS rule returns for a violating reading; `null` means the reading is normal. */
export interface RuleVerdict {
  alertType: string
  severity: Severity
  value: number
  threshold: number
  message: string
}

/** A custom alert rule: classifies one reading. Must be quick and synchronous. */
export type RuleFunction = (reading: Telemetry) => RuleVerdict | null | undefined

export type Area = 'bogota' | 'medellin' | 'cali'
export type Scenario = 'normal' | 'high-load' | 'fault-injection'

export interface SimulatorOptions {
  /** Vehicles are named `{fleetId}-VH-001`, … Default `fleet-demo-001`. */
  fleetId?: string
  /** Default 20. */
  vehicles?: number
  /** Milliseconds between readings of each vehicle; default 500. */
  intervalMs?: number
  area?: Area
  scenario?: Scenario
  /** Same seed, same fleet behaviour; default 42. */
  seed?: number
  /** Stop after this many ticks; runs until stopped when absent. */
  maxTicks?: number
}

export interface SimulatorReport {
  ticks: number
  readings: number
  commands: number
}

export interface EngineOptions {
  /** SQLite database file; in memory when absent (and no `databaseUrl`). */
  path?: string
  /** PostgreSQL (TimescaleDB when installed) instead of SQLite: `postgres://user:pass@host/db`. */
  databaseUrl?: string
  /** Kafka instead of the in-process bus (topics are created when missing). */
  kafka?: KafkaOptions
  /** Load the built-in rules (OVERSPEED, LOW_BATTERY, ENGINE_OVERHEAT, …); default true. */
  defaultRules?: boolean
  /** Longest wait for one JS rule verdict; default 1000 ms. */
  ruleTimeoutMs?: number
  /** Readings the in-process bus holds before `publish` waits; default 20000. */
  busCapacity?: number
  /** Largest batch the pipeline stores at once; default 2000. */
  batchSize?: number
}

/** Where readings and commands travel when the engine uses Kafka. */
export interface KafkaOptions {
  /** Comma-separated `host:port` list. */
  bootstrapServers: string
  /** Consumer group of the ingest (engines in one group share the partitions); default `vehicleops-backend`. */
  groupId?: string
  /** Appended to every topic name, to keep deployments or test runs apart on one cluster. */
  topicSuffix?: string
}

/** What a subscription yields. */
export type LiveEvent =
  | { type: 'update'; data: LiveUpdate }
  | { type: 'alert'; data: Alert }
  | { type: 'command'; data: Command }
  | { type: 'mission'; data: Mission }
