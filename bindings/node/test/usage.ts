// Type-checked (not run) by `npm run typecheck`: the README's usage compiles against the
// package's types under `strict`.
import { Engine, VehicleOpsError, decodeTelemetry } from '../lib/index'
import type { FleetSummary, LiveEvent, Mission, Page, RuleConfig, Telemetry, TelemetryInput } from '../lib/index'

export async function quickStart(): Promise<void> {
  const engine = await Engine.open({
    path: 'fleet.db',
    ruleTimeoutMs: 250,
    kafka: { bootstrapServers: 'b-1.msk:9096', securityProtocol: 'SASL_SSL', saslMechanism: 'SCRAM-SHA-512', saslUsername: 'u', saslPassword: 'p' },
  })
  engine.addRule('slow-zone', (r: Telemetry) =>
    r.speedKmh > 30
      ? { alertType: 'SLOW_ZONE', severity: 'HIGH', value: r.speedKmh, threshold: 30, message: 'too fast' }
      : null,
  )
  const geofence: RuleConfig = {
    type: 'geofence',
    fences: [{ id: 'depot', shape: { type: 'circle', center: { latitude: 4.71, longitude: -74.07 }, radiusM: 50 }, dwellSecs: 600 }],
  }
  engine.addRuleConfig(geofence)
  engine.addRuleConfig({ type: 'threshold', alertType: 'CITY_SPEED', metric: 'speed_kmh', comparison: 'above', threshold: 50, raiseAfter: 2 })
  await engine.start()
  const sim = await engine.runSimulator({ fleetId: 'fleet-001', vehicles: 20, scenario: 'fault-injection' })
  for await (const event of engine.subscribe('fleet-001')) {
    const e: LiveEvent = event
    if (e.type === 'alert') console.log(e.data.alertType, e.data.severity, e.data.clearedAt ?? 'open')
    if (e.type === 'update' && e.data.speedKmh > 70) break
    if (e.type === 'command') console.log(e.data.status)
  }
  const reading: TelemetryInput = {
    vehicleId: 'VH-1', fleetId: 'fleet-001', latitude: 4.7, longitude: -74.07, speedKmh: 12,
    batteryPct: 80, engineTempC: 70, status: 'MOVING', timestamp: new Date(),
  }
  const queued: number = await engine.publish([reading])
  const stop = await engine.dispatchCommand(sim.vehicleIds[0] ?? 'VH-1', 'STOP', { issuedBy: 'op-001', idempotencyKey: 'stop-0001' })
  const expiresAt: string | null = stop.expiresAt
  const key: string | undefined = stop.idempotencyKey
  console.log(expiresAt, key)
  const summary = await engine.vehicleSummary(stop.vehicleId, { from: new Date(Date.now() - 3_600_000) })
  const series = await engine.series(stop.vehicleId, 'speed_kmh', { bucketMinutes: 1, from: new Date(0) })
  const report = await engine.fleetPerformance('fleet-001')
  console.log(queued, summary.maxSpeedKmh, series[0]?.avgValue, report.vehicles[0]?.distanceKm)
  const fleet = await engine.registerFleet('fleet-002', 'Depot')
  await engine.registerVehicle('VH-2', fleet.id, 'Truck 2', { latitude: 4.7, longitude: -74.05 })
  const vehicles = await engine.listVehicles((await engine.listFleets())[0]?.id ?? fleet.id)
  const overview: FleetSummary = await engine.fleetSummary(fleet.id)
  console.log(vehicles.length, overview.byStatus.MOVING, engine.subscriberCount(), engine.snapshot('fleet-001')[0]?.speedKmh)
  await engine.flush()
  try {
    const mission = await engine.createMission({
      fleetId: 'fleet-001', vehicleId: stop.vehicleId, missionType: 'DELIVERY',
      waypoints: [{ latitude: 4.72, longitude: -74.07 }],
    }, 'dispatcher-1')
    const active: Page<Mission> = await engine.listMissions({ vehicleId: mission.vehicleId, status: 'IN_PROGRESS', limit: 10 })
    if (active.total > 0) await engine.cancelMission(mission.id, 'dispatcher-1')
  } catch (e) {
    if (e instanceof VehicleOpsError && e.kind === 'conflict') console.log(e.code, e.field)
  }
  console.log(decodeTelemetry(Buffer.from('{}')).engineTempC)
  console.log(sim.fleetId, sim.finished)
  await sim.stop()
  const stats = await engine.close()
  console.log(stats.stored, stats.published, stats.alertsByType['OVERSPEED'], stats.ruleFailures)
}
