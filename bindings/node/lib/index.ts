/**
 * VehicleOps for Node.js: an embedded fleet engine with Promise APIs.
 *
 * ```ts
 * const engine = await Engine.open()
 * engine.addRule('slow-zone', (r) => r.speedKmh > 30 ? {...} : null)
 * await engine.start()
 * const sim = await engine.runSimulator({ vehicles: 5, scenario: 'fault-injection' })
 * for await (const event of engine.subscribe('fleet-demo-001')) { ... }
 * ```
 */

import * as native from '../native/index.js'
import { call, callSync } from './errors'
import type {
  Alert,
  AlertFilter,
  Command,
  CommandKind,
  CommandParams,
  EngineOptions,
  EngineStats,
  Fleet,
  FleetPerformanceReport,
  LiveEvent,
  Metric,
  Mission,
  MissionRequest,
  Page,
  RuleFunction,
  RuleVerdict,
  SeriesPoint,
  SimulatorOptions,
  SimulatorReport,
  Telemetry,
  TelemetryInput,
  TimeWindow,
  Vehicle,
  VehicleMetricsSummary,
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

/** A running simulator. */
export class SimulatorRun {
  #native: native.SimulatorRun

  /** @internal */
  constructor(run: native.SimulatorRun) {
    this.#native = run
  }

  /** Ids of the simulated vehicles. */
  get vehicleIds(): string[] {
    return this.#native.vehicleIds
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

/**
 * A VehicleOps engine: SQLite store (in memory or a file) or PostgreSQL, in-process bus or Kafka,
 * pipeline with the built-in and your own alert rules, live updates, commands, missions and
 * simulator.
 */
export class Engine {
  #native: native.NativeEngine

  private constructor(engine: native.NativeEngine) {
    this.#native = engine
  }

  /** Builds an engine; call `start()` once your rules are added. */
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

  /** Starts the pipeline. */
  async start(): Promise<void> {
    await call(() => this.#native.start())
  }

  /**
   * Publishes a batch of readings. All are validated first; a bad one rejects the batch with a
   * `VehicleOpsError` whose `field` names the culprit. Resolves with how many were queued.
   */
  async publish(readings: readonly TelemetryInput[]): Promise<number> {
    let lines = ''
    for (const r of readings) lines += JSON.stringify(toWire(r)) + '\n'
    return call(() => this.#native.publishNdjson(Buffer.from(lines)))
  }

  /** Publishes readings already in the wire format: newline-separated snake_case JSON. */
  async publishRaw(ndjson: Buffer | string): Promise<number> {
    const buf = typeof ndjson === 'string' ? Buffer.from(ndjson) : ndjson
    return call(() => this.#native.publishNdjson(buf))
  }

  async registerFleet(fleet: Fleet): Promise<void> {
    await call(() => this.#native.registerFleet(fleet as unknown as Json))
  }

  /** Registers a vehicle so it can receive commands and missions; its fleet must exist. */
  async registerVehicle(vehicle: Vehicle): Promise<void> {
    await call(() => this.#native.registerVehicle(vehicle as unknown as Json))
  }

  /** The newest reading of a vehicle, or `null`. */
  async latest(vehicleId: string): Promise<Telemetry | null> {
    return (await call(() => this.#native.latest(vehicleId))) as Telemetry | null
  }

  /** The newest reading of every vehicle of a fleet. */
  async fleetLatest(fleetId: string): Promise<Telemetry[]> {
    return (await call(() => this.#native.fleetLatest(fleetId))) as Telemetry[]
  }

  /** Readings of a vehicle, oldest first; `limit` defaults to 1000 (at most 10000). */
  async history(vehicleId: string, options: TimeWindow & { limit?: number } = {}): Promise<Telemetry[]> {
    const [from, to] = window(options)
    return (await call(() => this.#native.history(vehicleId, from, to, options.limit))) as Telemetry[]
  }

  async vehicleSummary(vehicleId: string, w?: TimeWindow): Promise<VehicleMetricsSummary> {
    const [from, to] = window(w)
    return (await call(() => this.#native.vehicleSummary(vehicleId, from, to))) as VehicleMetricsSummary
  }

  /** `metric` bucketed by `bucketSecs` (default 300), oldest first; empty buckets omitted. */
  async series(
    vehicleId: string,
    metric: Metric,
    options: TimeWindow & { bucketSecs?: number } = {},
  ): Promise<SeriesPoint[]> {
    const [from, to] = window(options)
    return (await call(() =>
      this.#native.series(vehicleId, metric, from, to, options.bucketSecs),
    )) as SeriesPoint[]
  }

  async fleetPerformance(fleetId: string, w?: TimeWindow): Promise<FleetPerformanceReport> {
    const [from, to] = window(w)
    return (await call(() => this.#native.fleetPerformance(fleetId, from, to))) as FleetPerformanceReport
  }

  /** Dispatches a command; follow its lifecycle with `getCommand` or a subscription. */
  async dispatchCommand(
    vehicleId: string,
    command: CommandKind,
    options: { params?: CommandParams; issuedBy: string },
  ): Promise<Command> {
    return (await call(() =>
      this.#native.dispatchCommand(vehicleId, command, options.params as Json | undefined, options.issuedBy),
    )) as Command
  }

  async getCommand(commandId: string): Promise<Command | null> {
    return (await call(() => this.#native.getCommand(commandId))) as Command | null
  }

  /** A vehicle's commands, newest first. */
  async commandHistory(vehicleId: string, limit?: number): Promise<Page<Command>> {
    return (await call(() => this.#native.commandHistory(vehicleId, limit))) as Page<Command>
  }

  /** Creates a mission; a `conflict` error when the vehicle already has an active one. */
  async createMission(request: MissionRequest): Promise<Mission> {
    return (await call(() => this.#native.createMission(request as unknown as Json))) as Mission
  }

  async getMission(missionId: string): Promise<Mission> {
    return (await call(() => this.#native.getMission(missionId))) as Mission
  }

  async cancelMission(missionId: string): Promise<Mission> {
    return (await call(() => this.#native.cancelMission(missionId))) as Mission
  }

  /** Alerts, newest first. */
  async alerts(filter: AlertFilter = {}): Promise<Page<Alert>> {
    return (await call(() => this.#native.alerts(filter as unknown as Json))) as Page<Alert>
  }

  async acknowledgeAlert(alertId: string, by: string, notes?: string): Promise<Alert> {
    return (await call(() => this.#native.acknowledgeAlert(alertId, by, notes))) as Alert
  }

  /**
   * Runs the simulator on the engine's bus (registering its fleet and vehicles). The first
   * simulator of an engine also executes the commands sent to its vehicles.
   */
  async runSimulator(options: SimulatorOptions = {}): Promise<SimulatorRun> {
    return new SimulatorRun(await call(() => this.#native.runSimulator(options as unknown as Json)))
  }

  /** Live events of a fleet (`'*'` for every fleet), for `for await`. */
  subscribe(fleetId: string): Subscription {
    return new Subscription(this.#native.subscribe(fleetId))
  }

  /** Pipeline counters. */
  stats(): EngineStats {
    return callSync(() => this.#native.stats()) as EngineStats
  }

  /**
   * Stores everything published so far, ends subscriptions and stops the pipeline; returns the
   * final counters. Idempotent.
   */
  async close(): Promise<EngineStats> {
    return (await call(() => this.#native.close())) as EngineStats
  }
}
