/**
 * VehicleOps for Node.js: an embedded fleet engine with Promise APIs.
 *
 * ```ts
 * const engine = await Engine.open()
 * engine.addRule('slow-zone', (r) => r.speedKmh > 30 ? {...} : null)
 * engine.addRuleConfig({ type: 'threshold', alertType: 'OVERSPEED_CITY', metric: 'speed_kmh', comparison: 'above', threshold: 50 })
 * await engine.start()
 * const sim = await engine.runSimulator({ vehicles: 5, scenario: 'fault-injection' })
 * for await (const event of engine.subscribe('fleet-demo-001')) { ... }
 * ```
 */

import * as native from '../native/index.js'
import { VehicleOpsError, call, callSync } from './errors'
import type {
  Alert,
  AlertFilter,
  AuditEntry,
  AuditQuery,
  AuditRecord,
  Command,
  CommandKind,
  DispatchOptions,
  EngineOptions,
  EngineStats,
  ExportFormat,
  ExportKind,
  Fleet,
  FleetPerformanceReport,
  FleetSummary,
  GeoPoint,
  LiveEvent,
  LiveUpdate,
  FleetReport,
  FleetSnapshot,
  Metric,
  Mission,
  MissionFilter,
  MissionRequest,
  Page,
  ReportOptions,
  RetentionReport,
  RetentionStats,
  RuleConfig,
  RuleFunction,
  RuleVerdict,
  SeriesOptions,
  SeriesPoint,
  SimulatorOptions,
  SimulatorReport,
  Telemetry,
  TelemetryInput,
  TimeWindow,
  Vehicle,
  VehicleCapabilities,
  VehicleMetricsSummary,
  VehiclePath,
} from './types'

export * from './types'
export { VehicleOpsError, type ErrorKind, type ErrorCode } from './errors'

type Json = ReturnType<native.NativeEngine['stats']>

function iso(t: Date | string | undefined): string | undefined {
  return t instanceof Date ? t.toISOString() : t
}

/** A reading in the wire format (snake_case), as the core's validating decoder reads it. */
function toWire(r: TelemetryInput): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    vehicle_id: r.vehicleId,
    fleet_id: r.fleetId,
    latitude: r.latitude,
    longitude: r.longitude,
    speed_kmh: r.speedKmh,
    battery_pct: r.batteryPct,
    engine_temp_c: r.engineTempC,
    load_pct: r.loadPct ?? 0,
    status: r.status,
    timestamp: iso(r.timestamp),
    heading_deg: r.headingDeg ?? 0,
    seq: r.seq ?? 0,
  }
  if (r.pose !== undefined) {
    wire.pose = { x: r.pose.x, y: r.pose.y, theta: r.pose.theta, map_id: r.pose.mapId }
  }
  return wire
}

/** Decodes and validates one reading in the wire format (snake_case JSON). */
export function decodeTelemetry(bytes: Buffer | Uint8Array | string): Telemetry {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return callSync(() => native.decodeTelemetryJson(buf)) as Telemetry
}

/** A live subscription: iterate it with `for await`; leaving the loop cancels it. */
export class Subscription implements AsyncIterableIterator<LiveEvent> {
  #native: native.NativeSubscription
  #buffer: LiveEvent[] = []
  #done = false

  /** @internal */
  constructor(sub: native.NativeSubscription) {
    this.#native = sub
  }

  async next(): Promise<IteratorResult<LiveEvent>> {
    while (this.#buffer.length === 0) {
      if (this.#done) return { done: true, value: undefined }
      const batch = (await call(() => this.#native.nextBatch())) as LiveEvent[]
      if (batch.length === 0) this.#done = true
      else this.#buffer = batch
    }
    return { done: false, value: this.#buffer.shift() as LiveEvent }
  }

  /** Called by `break`/`return` in a `for await` loop: cancels the subscription. */
  async return(): Promise<IteratorResult<LiveEvent>> {
    this.close()
    return { done: true, value: undefined }
  }

  /** Cancels the subscription; a pending `next()` ends the iteration. */
  close(): void {
    this.#done = true
    this.#buffer = []
    this.#native.close()
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}

/** A simulated fleet; closing the engine stops it too. */
export class SimulatorRun {
  #native: native.SimulatorRun

  /** @internal */
  constructor(run: native.SimulatorRun) {
    this.#native = run
  }

  /** The fleet the simulated vehicles belong to. */
  get fleetId(): string {
    return this.#native.fleetId
  }

  /** Ids of the simulated vehicles (`{fleetId}-VH-001`, …). */
  get vehicleIds(): string[] {
    return this.#native.vehicleIds
  }

  /** Whether the run has ended (stopped, `maxTicks` reached, or failed). */
  get finished(): boolean {
    return this.#native.finished
  }

  /** Stops the run; `null` when it was already stopped. */
  async stop(): Promise<SimulatorReport | null> {
    return (await call(() => this.#native.stop())) as SimulatorReport | null
  }
}

/** The analytics window as the native layer takes it. */
function window(w: TimeWindow | undefined): [string | undefined, string | undefined] {
  return [iso(w?.from), iso(w?.to)]
}

/** Who commands and missions are issued by when the caller does not say. */
const ISSUED_BY = 'node'

/**
 * A VehicleOps engine: SQLite store (in memory or a file) or PostgreSQL, in-process bus or Kafka,
 * pipeline with the built-in and your own alert rules, live updates, commands, missions and
 * simulator. A thin layer over the Rust `vehicleops_engine::Engine` that the reference server
 * and the Python package run too.
 */
export class Engine {
  #native: native.NativeEngine

  private constructor(engine: native.NativeEngine) {
    this.#native = engine
  }

  /** Opens an engine (its store); call `start()` once your rules are added. */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    return new Engine(await call(() => native.openEngine(options)))
  }

  /**
   * Adds an alert rule written in JavaScript; only before `start()`. The function classifies
   * one reading: a verdict when it violates, `null` when it is normal. The engine turns that into
   * episodes: one alert when a vehicle starts violating, cleared when it is back to normal.
   * An exception or a verdict slower than `ruleTimeoutMs` leaves the episode unchanged and
   * counts in `stats().ruleFailures`.
   */
  addRule(name: string, rule: RuleFunction): void {
    const guarded = (reading: Telemetry): RuleVerdict | { ruleError: string } | null => {
      try {
        return rule(reading) ?? null
      } catch (err) {
        return { ruleError: err instanceof Error ? err.message : String(err) }
      }
    }
    callSync(() => this.#native.addRule(name, guarded as (arg: Json) => Json))
  }

  /**
   * Adds a built-in rule described as data (threshold, geofence, offline, rate of change); only
   * before `start()`. It runs in Rust, at the built-in rules' speed. A bad configuration throws a
   * `validation` error whose `field` names the culprit (`threshold`, `fences[0].shape.radius_m`).
   */
  addRuleConfig(config: RuleConfig): void {
    callSync(() => this.#native.addRuleConfig(config as unknown as Json))
  }

  /** Connects the transport and starts the pipeline, commands and missions; once. */
  async start(): Promise<void> {
    await call(() => this.#native.start())
  }

  /** Waits until every reading published so far is stored (or dead-lettered). */
  async flush(): Promise<void> {
    await call(() => this.#native.flush())
  }

  /**
   * Stops the simulators, stores everything published so far, ends subscriptions and stops the
   * pipeline; returns the final counters. Idempotent; queries keep working afterwards.
   */
  async close(): Promise<EngineStats> {
    return (await call(() => this.#native.close())) as EngineStats
  }

  /** Pipeline counters (the last run's once closed). */
  stats(): EngineStats {
    return callSync(() => this.#native.stats()) as EngineStats
  }

  /**
   * Publishes a batch of readings. All are validated first; a bad one rejects the batch with a
   * `VehicleOpsError` whose `field` names the culprit. Resolves with how many were published.
   */
  async publish(readings: readonly TelemetryInput[]): Promise<number> {
    let lines = ''
    for (const r of readings) lines += JSON.stringify(toWire(r)) + '\n'
    return call(() => this.#native.publishNdjson(Buffer.from(lines)))
  }

  /**
   * Publishes raw payloads in the wire format (snake_case JSON), one per line. The pipeline
   * decodes them: an invalid one is dead-lettered (counted in `stats().deadLettered`), not
   * refused. Resolves with how many payloads were published.
   */
  async publishRaw(ndjson: Buffer | string): Promise<number> {
    const buf = typeof ndjson === 'string' ? Buffer.from(ndjson) : ndjson
    return call(() => this.#native.publishRawNdjson(buf))
  }

  /** Live events of a fleet (`'*'` for every fleet), for `for await`. */
  subscribe(fleetId: string): Subscription {
    return new Subscription(this.#native.subscribe(fleetId))
  }

  /** How many live subscriptions are open. */
  subscriberCount(): number {
    return this.#native.subscriberCount()
  }

  /** The newest live state of every vehicle of a fleet, without waiting. */
  snapshot(fleetId: string): LiveUpdate[] {
    return callSync(() => this.#native.snapshot(fleetId)) as LiveUpdate[]
  }

  /** Registers (or renames) a fleet; the name defaults to the id. */
  async registerFleet(fleetId: string, name?: string): Promise<Fleet>
  async registerFleet(fleet: Fleet): Promise<Fleet>
  async registerFleet(fleet: string | Fleet, name?: string): Promise<Fleet> {
    const [id, n] = typeof fleet === 'string' ? [fleet, name] : [fleet.id, fleet.name]
    return (await call(() => this.#native.registerFleet(id, n))) as Fleet
  }

  /**
   * Registers a vehicle of an existing fleet (a `not_found` error otherwise), or updates it: a
   * `name` or `home` not given keeps the stored one. Commands and missions need registered
   * vehicles.
   */
  async registerVehicle(vehicleId: string, fleetId: string, name?: string | null, home?: GeoPoint | null): Promise<Vehicle>
  async registerVehicle(vehicle: Vehicle): Promise<Vehicle>
  async registerVehicle(
    vehicle: string | Vehicle,
    fleetId?: string,
    name?: string | null,
    home?: GeoPoint | null,
  ): Promise<Vehicle> {
    const v: Vehicle = typeof vehicle === 'string' ? { id: vehicle, fleetId: fleetId ?? '', name, home } : vehicle
    return (await call(() =>
      this.#native.registerVehicle(v.id, v.fleetId, v.name ?? undefined, v.home ?? undefined),
    )) as Vehicle
  }

  async listFleets(): Promise<Fleet[]> {
    return (await call(() => this.#native.listFleets())) as Fleet[]
  }

  async listVehicles(fleetId: string): Promise<Vehicle[]> {
    return (await call(() => this.#native.listVehicles(fleetId))) as Vehicle[]
  }

  /** The fleet overview: vehicles by status, averages, active missions and open alerts. */
  async fleetSummary(fleetId: string): Promise<FleetSummary> {
    return (await call(() => this.#native.fleetSummary(fleetId))) as FleetSummary
  }

  /** What the vehicle told its transport it can do (a VDA 5050 factsheet), or `null`. */
  async vehicleCapabilities(vehicleId: string): Promise<VehicleCapabilities | null> {
    return (await call(() => this.#native.vehicleCapabilities(vehicleId))) as VehicleCapabilities | null
  }

  /** The newest reading of a vehicle, or `null`. */
  async latest(vehicleId: string): Promise<Telemetry | null> {
    return (await call(() => this.#native.latest(vehicleId))) as Telemetry | null
  }

  /** The newest reading of every vehicle of a fleet. */
  async fleetLatest(fleetId: string): Promise<Telemetry[]> {
    return (await call(() => this.#native.fleetLatest(fleetId))) as Telemetry[]
  }

  /** Readings of a vehicle, oldest first; `limit` defaults to 1000 (1–10000). */
  async history(vehicleId: string, options: TimeWindow & { limit?: number } = {}): Promise<Telemetry[]> {
    const [from, to] = window(options)
    return (await call(() => this.#native.history(vehicleId, from, to, options.limit))) as Telemetry[]
  }

  /**
   * The path a vehicle drove between `from` and `to` (at most 7 days apart), for replaying a
   * trip: its readings simplified so that none lies farther than `toleranceM` metres from the
   * path (default 2; 0 keeps all), keeping every change of status and the window's ends.
   */
  async vehiclePath(
    vehicleId: string,
    from: Date | string,
    to: Date | string,
    options: { toleranceM?: number } = {},
  ): Promise<VehiclePath> {
    return (await call(() =>
      this.#native.vehiclePath(vehicleId, iso(from)!, iso(to)!, options.toleranceM),
    )) as VehiclePath
  }

  /** A fleet as it was at `at`: each vehicle's last reading by then and the alerts open then. */
  async fleetAt(fleetId: string, at: Date | string): Promise<FleetSnapshot> {
    return (await call(() => this.#native.fleetAt(fleetId, iso(at)!))) as FleetSnapshot
  }

  /** Removes now what is past the retention policy (also done at `start()` and on a schedule). */
  async applyRetention(): Promise<RetentionReport> {
    return (await call(() => this.#native.applyRetention())) as RetentionReport
  }

  /** What retention has removed since the engine opened. */
  retentionStats(): RetentionStats {
    return callSync(() => this.#native.retentionStats()) as RetentionStats
  }

  /**
   * Writes a fleet's `kind` records between `from` and `to` (at most 366 days apart) to the
   * file at `path`, as CSV or Parquet (`options.format`, else the file's extension); only
   * `options.vehicleId`'s when given. The store is read page by page, so memory stays flat.
   * Resolves to the number of records written; a failed export leaves no file.
   */
  async export(
    kind: ExportKind,
    fleetId: string,
    path: string,
    from: Date | string,
    to: Date | string,
    options: { vehicleId?: string; format?: ExportFormat } = {},
  ): Promise<number> {
    return (await call(() =>
      this.#native.export(kind, fleetId, path, iso(from)!, iso(to)!, options.vehicleId, options.format),
    )) as number
  }

  /**
   * The fleet's daily report from day `from` to day `to` (`YYYY-MM-DD`, both included; at most
   * 366 days) on the site's calendar (`options.utcOffsetMinutes`, default 0): per vehicle and
   * day, per day, per vehicle and for the fleet — distance, time driving, idle, stopped and
   * charging, speeds, alerts by type and missions completed.
   */
  async fleetReport(fleetId: string, from: string, to: string, options: ReportOptions = {}): Promise<FleetReport> {
    return (await call(() =>
      this.#native.fleetReport(fleetId, from, to, options.vehicleId, options.utcOffsetMinutes),
    )) as FleetReport
  }

  /**
   * Writes the report's per-vehicle days to `path` as CSV or Parquet (`options.format`, else the
   * file's extension); resolves to the number of rows.
   */
  async exportReport(
    fleetId: string,
    path: string,
    from: string,
    to: string,
    options: ReportOptions & { format?: ExportFormat } = {},
  ): Promise<number> {
    return (await call(() =>
      this.#native.exportReport(
        fleetId,
        path,
        from,
        to,
        options.vehicleId,
        options.utcOffsetMinutes,
        options.format,
      ),
    )) as number
  }

  /**
   * The audit trail, newest first: what operators did through this engine (commands, missions,
   * acknowledgements) and what the host recorded with `recordAudit`. The window defaults to the
   * last day (at most 366 days); at most `limit` entries (default 100, at most 1000).
   */
  async auditLog(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const q = { ...query, from: iso(query.from), to: iso(query.to) }
    return (await call(() => this.#native.auditLog(q))) as AuditEntry[]
  }

  /** Adds an entry to the audit trail for what the host application does itself (e.g. its logins). */
  async recordAudit(entry: AuditRecord): Promise<void> {
    await call(() => this.#native.recordAudit(entry))
  }

  async vehicleSummary(vehicleId: string, w?: TimeWindow): Promise<VehicleMetricsSummary> {
    const [from, to] = window(w)
    return (await call(() => this.#native.vehicleSummary(vehicleId, from, to))) as VehicleMetricsSummary
  }

  /** `metric` in buckets of `bucketMinutes` (default 5), oldest first; empty buckets omitted. */
  async series(vehicleId: string, metric: Metric, options: SeriesOptions = {}): Promise<SeriesPoint[]> {
    if ('bucketSecs' in options) {
      throw new VehicleOpsError(
        'invalid `bucketSecs`: replaced by `bucketMinutes` (default 5)',
        'validation',
        'UNPROCESSABLE',
        'bucketSecs',
      )
    }
    const [from, to] = window(options)
    return (await call(() =>
      this.#native.series(vehicleId, metric, from, to, options.bucketMinutes),
    )) as SeriesPoint[]
  }

  async fleetPerformance(fleetId: string, w?: TimeWindow): Promise<FleetPerformanceReport> {
    const [from, to] = window(w)
    return (await call(() => this.#native.fleetPerformance(fleetId, from, to))) as FleetPerformanceReport
  }

  /** Alerts, newest first. */
  async alerts(filter: AlertFilter = {}): Promise<Page<Alert>> {
    return (await call(() => this.#native.alerts(filter as unknown as Json))) as Page<Alert>
  }

  async acknowledgeAlert(alertId: string, by: string, notes?: string): Promise<Alert> {
    return (await call(() => this.#native.acknowledgeAlert(alertId, by, notes))) as Alert
  }

  /**
   * Dispatches a command (issued by `'node'` unless `issuedBy` says otherwise); follow its
   * lifecycle with `getCommand` or a subscription. It expires at `expiresAt`: a vehicle that
   * receives it later refuses it (EXPIRED).
   *
   * With `idempotencyKey` (1 to 200 printable ASCII characters) the call is safe to retry: a
   * repeat by the same issuer resolves to the original command (same `id`, its current status)
   * and sends nothing; a key reused for a different command rejects with kind `'conflict'`.
   */
  async dispatchCommand(
    vehicleId: string,
    command: CommandKind,
    options: DispatchOptions = {},
  ): Promise<Command> {
    const issuedBy = options.issuedBy ?? ISSUED_BY
    return (await call(() =>
      this.#native.dispatchCommand(
        vehicleId,
        command,
        options.params as Json | undefined,
        issuedBy,
        options.idempotencyKey,
      ),
    )) as Command
  }

  /** A command with its current status, or `null`. */
  async getCommand(commandId: string): Promise<Command | null> {
    return (await call(() => this.#native.getCommand(commandId))) as Command | null
  }

  /** A vehicle's commands, newest first; `limit` defaults to 20. */
  async commandHistory(vehicleId: string, limit?: number): Promise<Page<Command>> {
    return (await call(() => this.#native.commandHistory(vehicleId, limit))) as Page<Command>
  }

  /**
   * Creates a mission and sends its route to the vehicle (a REROUTE issued by `issuedBy`); its
   * progress then follows what the vehicle reports. A `conflict` error when the vehicle already
   * has an active mission.
   */
  async createMission(request: MissionRequest, issuedBy: string = ISSUED_BY): Promise<Mission> {
    return (await call(() => this.#native.createMission(request as unknown as Json, issuedBy))) as Mission
  }

  /** A mission with its progress; a `not_found` error when unknown. */
  async getMission(missionId: string): Promise<Mission> {
    return (await call(() => this.#native.getMission(missionId))) as Mission
  }

  /** Cancels an active mission and stops its vehicle (a STOP issued by `issuedBy`). */
  async cancelMission(missionId: string, issuedBy: string = ISSUED_BY): Promise<Mission> {
    return (await call(() => this.#native.cancelMission(missionId, issuedBy))) as Mission
  }

  /** Missions, newest first; `limit` defaults to 100. */
  async listMissions(filter: MissionFilter = {}): Promise<Page<Mission>> {
    return (await call(() => this.#native.listMissions(filter as unknown as Json))) as Page<Mission>
  }

  /**
   * Runs the simulator on the engine's transport (registering its fleet and vehicles). The first
   * simulator of an engine also executes the commands and missions sent to its vehicles.
   */
  async runSimulator(options: SimulatorOptions = {}): Promise<SimulatorRun> {
    return new SimulatorRun(await call(() => this.#native.runSimulator(options as unknown as Json)))
  }
}
