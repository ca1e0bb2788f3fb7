// Type-checked (not run) by `npm run typecheck`: the README's usage compiles against the
// package's types under `strict`.
import { Engine, VehicleOpsError, decodeTelemetry } from '../lib/index'
import type { LiveEvent, Telemetry, TelemetryInput } from '../lib/index'

export async function quickStart(): Promise<void> {
  const engine = await Engine.open({ path: 'fleet.db', ruleTimeoutMs: 250 })
  engine.addRule('slow-zone', (r: Telemetry) =>
    r.speedKmh > 30
      ? { alertType: 'SLOW_ZONE', severity: 'HIGH', value: r.speedKmh, threshold: 30, message: 'too fast' }
      : null,
  )
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
  const stop = await engine.dispatchCommand(sim.vehicleIds[0] ?? 'VH-1', 'STOP', { issuedBy: 'op-001' })
  const summary = await engine.vehicleSummary(stop.vehicleId, { from: new Date(Date.now() - 3_600_000) })
  const series = await engine.series(stop.vehicleId, 'speed_kmh', { bucketSecs: 60 })
  const report = await engine.fleetPerformance('fleet-001')
  console.log(queued, summary.maxSpeedKmh, series[0]?.avgValue, report.vehicles[0]?.distanceKm)
  try {
    await engine.createMission({
      fleetId: 'fleet-001', vehicleId: stop.vehicleId, missionType: 'DELIVERY',
      waypoints: [{ latitude: 4.72, longitude: -74.07 }],
    })
  } catch (e) {
    if (e instanceof VehicleOpsError && e.kind === 'conflict') console.log(e.code, e.field)
  }
  console.log(decodeTelemetry(Buffer.from('{}')).engineTempC)
  await sim.stop()
  const stats = await engine.close()
  console.log(stats.stored, stats.alertsByType['OVERSPEED'], stats.ruleFailures)
}
