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

/** Options of `Engine.dispatchCommand`. */
export interface DispatchOptions {
  params?: CommandParams
  /** Who issues it; `'node'` when not given. */
  issuedBy?: string
  /**
   * Makes the dispatch safe to retry: 1 to 200 printable ASCII characters, unique per
   * `issuedBy`. A repeat with the same key resolves to the original command.
   */
  idempotencyKey?: string
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
  /** After this a vehicle refuses the command (EXPIRED); `null` for commands from before expiry existed. */
  expiresAt: string | null
  /** The key it was dispatched with, when it had one. */
  idempotencyKey?: string
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
  /** Where RETURN_TO_BASE takes it. */
  home?: GeoPoint | null
}

/** The fleet overview. */
export interface FleetSummary {
  fleetId: string
  fleetName: string
  totalVehicles: number
  activeVehicles: number
  idleVehicles: number
  vehiclesInAlert: number
  avgBatteryPct: number | null
  avgSpeedKmh: number | null
  activeMissions: number
  openAlerts: number
  /** Vehicles per status, every status present (0 when none). */
  byStatus: Record<VehicleStatus, number>
  lastUpdated: string | null
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

export interface MissionFilter {
  fleetId?: string
  vehicleId?: string
  status?: MissionStatus
  /** Default 100. */
  limit?: number
}

/** A time window; open ends are unbounded. */
export interface TimeWindow {
  from?: Date | string
  to?: Date | string
}

/** A series' window and bucket width. */
export interface SeriesOptions extends TimeWindow {
  /** Bucket width in minutes (fractions allowed); default 5. */
  bucketMinutes?: number
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
  /** Readings and raw payloads published through this engine. */
  published: number
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

/** How many readings in a row raise and clear an episode, and how long it must last. */
export interface DebounceConfig {
  /** Violating readings in a row before the alert is raised; default 1. */
  raiseAfter?: number
  /** Seconds the violation must last before the alert is raised; default 0. */
  minDurationSecs?: number
  /** Normal readings in a row before the alert clears; default 1. */
  clearAfter?: number
}

/** A metric beyond a limit: `OVERSPEED`-like rules with your own limits. */
export interface ThresholdRuleConfig extends DebounceConfig {
  type: 'threshold'
  name?: string
  /** Upper-case alert type, built-in (`OVERSPEED`) or your own (`OVERLOAD`). */
  alertType: string
  metric: Metric
  comparison: 'above' | 'below'
  threshold: number
  /** Where the episode clears (hysteresis); defaults to `threshold`. */
  clearThreshold?: number
  /** Default MEDIUM. */
  severity?: Severity
  /** Message template, e.g. `'Vehicle {vehicle_id} at {value} km/h'`. */
  message?: string
  /** Tells apart parallel episodes of one alert type. */
  key?: string
}

export type FenceShapeConfig =
  | { type: 'polygon'; points: GeoPoint[]; holes?: GeoPoint[][] }
  | { type: 'circle'; center: GeoPoint; radiusM: number }

export interface FenceConfig {
  id: string
  name?: string
  /** Only vehicles of this fleet; every fleet when absent. */
  fleetId?: string
  shape: FenceShapeConfig
  /** Raise GEOFENCE_DWELL after this long inside. */
  dwellSecs?: number
  /** Default MEDIUM. */
  severity?: Severity
  /** Default true. */
  onEnter?: boolean
  /** Default true. */
  onExit?: boolean
}

/** GEOFENCE_ENTER, GEOFENCE_EXIT and GEOFENCE_DWELL for a set of fences. */
export interface GeofenceRuleConfig {
  type: 'geofence'
  name?: string
  fences: FenceConfig[]
}

/** OFFLINE when a vehicle has not reported for `timeoutSecs`. */
export interface OfflineRuleConfig {
  type: 'offline'
  timeoutSecs?: number
  /** Default HIGH. */
  severity?: Severity
}

/** RAPID_CHANGE when a metric changes faster than `maxRatePerSec`. */
export interface RateOfChangeRuleConfig extends DebounceConfig {
  type: 'rate_of_change' | 'rateOfChange'
  name?: string
  metric: Metric
  direction: 'rising' | 'falling' | 'either'
  maxRatePerSec: number
  clearRatePerSec?: number
  /** Default MEDIUM. */
  severity?: Severity
}

/** A built-in rule described as data (the core's `RuleConfig`, in camelCase). */
export type RuleConfig = ThresholdRuleConfig | GeofenceRuleConfig | OfflineRuleConfig | RateOfChangeRuleConfig

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
  /** Largest batch the pipeline stores at once; default the pipeline's own (5000). */
  batchSize?: number
  /** Days each kind of record is kept (absent: for ever), applied at `start()` and every `retentionIntervalS`. */
  retention?: RetentionPolicy
  /** How often retention runs, in seconds; default 3600. */
  retentionIntervalS?: number
}

/** Days each kind of record is kept; an absent one is kept for ever. Only records that are over go. */
export interface RetentionPolicy {
  telemetryDays?: number
  /** At least `telemetryDays`: summaries of older windows read the rollups. */
  rollupDays?: number
  /** Cleared alerts; open ones stay. */
  alertsDays?: number
  /** Finished commands; pending ones stay. */
  commandsDays?: number
  /** Finished missions; active ones stay. */
  missionsDays?: number
  /** The audit trail (logins, commands, missions, acknowledgements). */
  auditDays?: number
}

/** What a retention run removed, by kind. */
export interface RetentionReport {
  /** Readings deleted one by one (the embedded store). */
  telemetryRows: number
  /** Daily partitions (PostgreSQL) or chunks (TimescaleDB) of readings dropped. */
  telemetryPartitions: number
  rollups: number
  alerts: number
  commands: number
  missions: number
  /** Audit-trail entries. */
  audit: number
}

/** What retention has removed since the engine opened. */
export interface RetentionStats {
  runs: number
  failures: number
  /** ISO 8601, or null before the first run. */
  lastRunAt: string | null
  removed: RetentionReport
}

/** Where readings and commands travel when the engine uses Kafka. */
export interface KafkaOptions {
  /** Comma-separated `host:port` list. */
  bootstrapServers: string
  /** Consumer group of the ingest (engines in one group share the partitions); default `vehicleops-backend`. */
  groupId?: string
  /** Appended to every topic name, to keep deployments or test runs apart on one cluster. */
  topicSuffix?: string
  /** `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (managed Kafka, e.g. MSK). */
  securityProtocol?: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL' | (string & {})
  /** `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`. */
  saslMechanism?: string
  saslUsername?: string
  saslPassword?: string
  /** PEM file of the CA that signed the brokers' certificates; the system store otherwise. */
  sslCaLocation?: string
}

/** What a subscription yields. */
export type LiveEvent =
  | { type: 'update'; data: LiveUpdate }
  | { type: 'alert'; data: Alert }
  | { type: 'command'; data: Command }
  | { type: 'mission'; data: Mission }

/** One point of a vehicle's path. */
export interface PathPoint {
  timestamp: string
  latitude: number
  longitude: number
  speedKmh: number
  headingDeg: number
  status: VehicleStatus
}

/** The path a vehicle drove over a window, simplified for display. */
/** What `Engine.export` writes. */
export type ExportKind = 'telemetry' | 'alerts' | 'commands' | 'missions'

/** The file format of an export: CSV with a header row, or snappy-compressed Parquet. */
export type ExportFormat = 'csv' | 'parquet'

export interface VehiclePath {
  vehicleId: string
  range: { from: string; to: string }
  /** Readings stored for the window, before simplification. */
  readings: number
  toleranceM: number
  /** Oldest first. */
  points: PathPoint[]
}

/** A fleet as it was at an instant. */
/** What an audit entry records. */
export type AuditAction =
  | 'LOGIN_SUCCEEDED'
  | 'LOGIN_FAILED'
  | 'COMMAND_DISPATCHED'
  | 'MISSION_CREATED'
  | 'MISSION_CANCELLED'
  | 'ALERT_ACKNOWLEDGED'

/** One thing someone did. */
export interface AuditEntry {
  id: string
  /** ISO 8601. */
  at: string
  /** An operator id (the email tried, for a failed login). */
  actor: string
  action: AuditAction
  fleetId: string | null
  vehicleId: string | null
  /** The command, mission or alert acted on. */
  targetId: string | null
  /** Where from, e.g. the client's address for a login. */
  source: string | null
  detail: string
}

export interface AuditQuery {
  /** Default: a day before `to`. */
  from?: Date | string
  /** Default: now. */
  to?: Date | string
  fleetId?: string
  actor?: string
  action?: AuditAction
  /** Default 100, at most 1000. */
  limit?: number
}

export interface AuditRecord {
  actor: string
  action: AuditAction
  fleetId?: string
  vehicleId?: string
  targetId?: string
  source?: string
  detail?: string
}

/** Which days a report covers beyond its fleet and range. */
export interface ReportOptions {
  /** Only this vehicle (it must be the fleet's). */
  vehicleId?: string
  /** The site's offset from UTC in minutes, where its days start (default 0; -720 to 840). */
  utcOffsetMinutes?: number
}

/**
 * What a vehicle, a day or the fleet adds up to. Times are seconds of observed time: each minute
 * with readings counts 60 s, shared between the statuses its readings had; driving is MOVING,
 * `otherS` is ALERT, LOW_BATTERY and OFFLINE.
 */
export interface ReportFigures {
  readings: number
  distanceKm: number
  drivingS: number
  idleS: number
  stoppedS: number
  chargingS: number
  otherS: number
  /** null without readings. */
  avgSpeedKmh: number | null
  maxSpeedKmh: number | null
  /** Alerts raised. */
  alerts: number
  /** By alert type, e.g. `{ OVERSPEED: 2 }`. */
  alertsByType: Record<string, number>
  missionsCompleted: number
}

export interface FleetReport {
  fleetId: string
  /** `YYYY-MM-DD`. */
  from: string
  to: string
  utcOffsetMinutes: number
  fleet: ReportFigures
  /** Oldest day first. */
  fleetDays: Array<{ day: string } & ReportFigures>
  /** Longest distance first. */
  vehicles: Array<{ vehicleId: string } & ReportFigures>
  /** By day, then vehicle. */
  days: Array<{ vehicleId: string; day: string } & ReportFigures>
}

export interface FleetSnapshot {
  fleetId: string
  at: string
  /** Each vehicle's last reading at or before `at`, by vehicle id. */
  vehicles: Telemetry[]
  /** Alerts triggered by `at` and not cleared by then, oldest first. */
  openAlerts: Alert[]
}

/** What a vehicle told its transport it can do (for VDA 5050 vehicles: their factsheet). */
export interface VehicleCapabilities {
  vehicleId: string
  /** Where they come from, e.g. `VDA 5050 2.1.0 factsheet`. */
  source: string
  receivedAt: string
  seriesName: string | null
  /** `DIFF`, `OMNI` or `THREEWHEEL`. */
  kinematic: string | null
  /** `FORKLIFT`, `CONVEYOR`, `TUGGER` or `CARRIER`. */
  vehicleClass: string | null
  maxSpeedMps: number | null
  maxLoadKg: number | null
  loadTypes: string[]
  /** The most nodes one order (route) may carry. */
  maxOrderNodes: number | null
  /** The actions it executes; a command needing another fails at once. `null`: none listed. */
  actions: ActionCapability[] | null
}

/** One action a vehicle executes. */
export interface ActionCapability {
  actionType: string
  description: string | null
  /** `INSTANT`, `NODE` and/or `EDGE`. */
  scopes: string[]
  parameters: { key: string; valueType: string; optional: boolean; description: string | null }[]
}
