// The embedded engine through the TypeScript API: simulator, live updates, JS rules, commands,
// missions, analytics and errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, VehicleOpsError, decodeTelemetry, eventually, reading } from './helpers.mjs'

test('the simulator feeds the embedded engine and every reading is stored', async () => {
  const engine = await Engine.open()
  await engine.start()
  const sim = await engine.runSimulator({ fleetId: 'sim-a', vehicles: 4, intervalMs: 20, seed: 7 })
  assert.deepEqual(sim.vehicleIds, ['sim-a-VH-001', 'sim-a-VH-002', 'sim-a-VH-003', 'sim-a-VH-004'])
  await eventually('every vehicle has readings', async () => (await engine.fleetLatest('sim-a')).length === 4)
  const report = await sim.stop()
  assert.ok(report.readings >= 4)
  assert.equal(await sim.stop(), null, 'a second stop is a no-op')
  const stats = await engine.close()
  // A tick cut short by stop() may have published part of its batch on top of the report.
  assert.ok(stats.stored >= report.readings, `${stats.stored} stored, ${report.readings} reported`)
  assert.equal(stats.deadLettered, 0)
  let rows = 0
  for (const vehicle of sim.vehicleIds) {
    const history = await engine.history(vehicle, { limit: 10_000 })
    assert.equal(history[0].fleetId, 'sim-a')
    assert.equal(typeof history[0].speedKmh, 'number')
    rows += history.length
  }
  assert.equal(rows, stats.stored, 'every stored reading is in the history, once')
})

test('async iteration yields live updates and leaving the loop cancels the subscription', async () => {
  const engine = await Engine.open()
  await engine.start()
  const sub = engine.subscribe('sim-b')
  const sim = await engine.runSimulator({ fleetId: 'sim-b', vehicles: 3, intervalMs: 20 })
  const seen = new Set()
  for await (const event of sub) {
    if (event.type === 'update') {
      assert.equal(event.data.fleetId, 'sim-b')
      assert.ok(Array.isArray(event.data.alerts))
      seen.add(event.data.vehicleId)
    }
    if (seen.size === 3) break
  }
  assert.deepEqual([...seen].sort(), sim.vehicleIds)
  // The loop's `break` closed the subscription: it yields nothing more.
  assert.deepEqual(await sub.next(), { done: true, value: undefined })
  await sim.stop()
  await engine.close()
})

test('closing the engine ends a pending iteration', async () => {
  const engine = await Engine.open()
  await engine.start()
  const sub = engine.subscribe('nobody-publishes-here')
  const pending = sub.next()
  await engine.close()
  assert.deepEqual(await pending, { done: true, value: undefined })
})

test('a JS rule raises one alert per episode and clears it', async () => {
  const engine = await Engine.open({ defaultRules: false })
  engine.addRule('slow-zone', (r) =>
    r.speedKmh > 50
      ? { alertType: 'SLOW_ZONE', severity: 'HIGH', value: r.speedKmh, threshold: 50, message: `${r.vehicleId} too fast` }
      : null,
  )
  await engine.start()
  const live = engine.subscribe('fleet-001')
  const speeds = [10, 60, 70, 20, 65, 66]
  await engine.publish(speeds.map((speedKmh, i) => reading('VH-R', i, { speedKmh })))
  for await (const event of live) {
    if (event.type === 'alert') {
      assert.equal(event.data.alertType, 'SLOW_ZONE')
      assert.equal(event.data.value, 60)
      break
    }
  }
  // close() stores everything published, alerts included; the store stays readable.
  const stats = await engine.close()
  assert.equal(stats.stored, speeds.length)
  const alerts = await engine.alerts({ vehicleId: 'VH-R' })
  assert.equal(alerts.total, 2, 'two episodes: 60–70 and 65–66')
  const [second, first] = alerts.data
  assert.equal(first.alertType, 'SLOW_ZONE')
  assert.equal(first.severity, 'HIGH')
  assert.equal(first.threshold, 50)
  assert.equal(first.message, 'VH-R too fast')
  assert.ok(first.clearedAt, 'the first episode ended at 20 km/h')
  assert.equal(second.clearedAt, null, 'the second is still open')
  assert.deepEqual(stats.alertsByType, { SLOW_ZONE: 2 })

  const acked = await engine.acknowledgeAlert(first.id, 'op-7', 'checked')
  assert.equal(acked.acknowledged, true)
  assert.equal(acked.acknowledgedBy, 'op-7')
  assert.equal((await engine.alerts({ vehicleId: 'VH-R', acknowledged: false })).total, 1)
  const trail = await engine.auditLog({ action: 'ALERT_ACKNOWLEDGED' })
  assert.deepEqual(
    trail.map((e) => [e.actor, e.targetId, e.detail]),
    [['op-7', first.id, 'SLOW_ZONE: checked']],
  )
})

test('recordAudit adds what the host does, and auditLog reads it back newest first', async () => {
  const engine = await Engine.open()
  try {
    await engine.recordAudit({ actor: 'user-1', action: 'LOGIN_SUCCEEDED', source: '10.1.2.3' })
    await engine.recordAudit({ actor: 'user-2', action: 'LOGIN_FAILED', detail: 'x'.repeat(600) })
    const trail = await engine.auditLog()
    assert.deepEqual(trail.map((e) => e.action), ['LOGIN_FAILED', 'LOGIN_SUCCEEDED'])
    assert.equal(trail[0].detail.length, 500, 'a long detail is cut')
    assert.equal(trail[1].source, '10.1.2.3')
    assert.equal(trail[1].fleetId, null)
    assert.deepEqual((await engine.auditLog({ actor: 'user-1' })).map((e) => e.actor), ['user-1'])
    assert.deepEqual(await engine.auditLog({ fleetId: 'fleet-001' }), [], 'logins have no fleet')
    assert.equal((await engine.auditLog({ limit: 1 })).length, 1)
    await assert.rejects(
      engine.recordAudit({ actor: 'user-1', action: 'LOGOUT' }),
      (e) => e instanceof VehicleOpsError && e.kind === 'validation',
    )
    await assert.rejects(
      engine.auditLog({ from: new Date(0), to: new Date() }),
      (e) => e instanceof VehicleOpsError && e.field === 'from',
    )
  } finally {
    await engine.close()
  }
})

test('a throwing JS rule is counted and does not stop the pipeline', async () => {
  const engine = await Engine.open({ defaultRules: false })
  engine.addRule('broken', () => {
    throw new Error('boom')
  })
  await engine.start()
  await engine.publish([reading('VH-X', 0), reading('VH-X', 1)])
  assert.throws(() => engine.addRule('late', () => null), (e) => e instanceof VehicleOpsError && e.kind === 'conflict')
  const stats = await engine.close()
  assert.equal(stats.stored, 2)
  assert.equal(stats.ruleFailures, 2)
})

test('a JS rule slower than ruleTimeoutMs gives no verdict and the pipeline goes on', async () => {
  const engine = await Engine.open({ defaultRules: false, ruleTimeoutMs: 10 })
  engine.addRule('slow', (r) => {
    // Holds the JS thread far longer than the engine waits for a verdict.
    const until = Date.now() + 1000
    while (Date.now() < until);
    return { alertType: 'LATE', severity: 'LOW', value: r.speedKmh, threshold: 0, message: 'too late' }
  })
  await engine.start()
  await engine.publish([reading('VH-S', 0), reading('VH-S', 1)])
  const stats = await engine.close()
  assert.equal(stats.stored, 2)
  assert.equal(stats.ruleFailures, 2)
  assert.equal((await engine.alerts({ vehicleId: 'VH-S' })).total, 0, 'late verdicts raise nothing')
})

test('a throwing JS rule leaves the episode as it was', async () => {
  const engine = await Engine.open({ defaultRules: false })
  const ERROR = 99
  engine.addRule('slow-zone', (r) => {
    if (r.speedKmh === ERROR) throw new Error('sensor glitch')
    return r.speedKmh > 50
      ? { alertType: 'SLOW_ZONE', severity: 'HIGH', value: r.speedKmh, threshold: 50, message: 'too fast' }
      : null
  })
  await engine.start()
  // VH-E1: an exception neither clears the open episode (70 is still the same one) nor raises
  // a closed one; 20 clears it. VH-E2: the episode is still open after the exception.
  const patterns = { 'VH-E1': [10, 60, ERROR, 70, ERROR, 20, ERROR, 20], 'VH-E2': [60, ERROR] }
  await engine.publish(
    Object.entries(patterns).flatMap(([vehicle, speeds]) =>
      speeds.map((speedKmh, i) => reading(vehicle, i, { speedKmh })),
    ),
  )
  const stats = await engine.close()
  assert.equal(stats.ruleFailures, 4)
  assert.deepEqual(stats.alertsByType, { SLOW_ZONE: 2 })
  const first = await engine.alerts({ vehicleId: 'VH-E1' })
  assert.equal(first.total, 1, 'one episode: the exceptions did not end it')
  assert.equal(first.data[0].value, 60)
  assert.ok(first.data[0].clearedAt, 'cleared by 20 km/h')
  const second = await engine.alerts({ vehicleId: 'VH-E2' })
  assert.equal(second.total, 1)
  assert.equal(second.data[0].clearedAt, null, 'an exception does not clear an open episode')
})

test('a change of alert type clears one episode and raises the other', async () => {
  const engine = await Engine.open({ defaultRules: false })
  engine.addRule('pace', (r) => {
    if (r.speedKmh > 50) {
      return { alertType: 'TOO_FAST', severity: 'HIGH', value: r.speedKmh, threshold: 50, message: 'too fast' }
    }
    if (r.speedKmh < 5) {
      return { alertType: 'TOO_SLOW', severity: 'LOW', value: r.speedKmh, threshold: 5, message: 'too slow' }
    }
    return null
  })
  await engine.start()
  await engine.publish([60, 2, 3, 20].map((speedKmh, i) => reading('VH-P', i, { speedKmh })))
  const stats = await engine.close()
  assert.deepEqual(stats.alertsByType, { TOO_FAST: 1, TOO_SLOW: 1 })
  const alerts = await engine.alerts({ vehicleId: 'VH-P' })
  assert.equal(alerts.total, 2)
  const [slow, fast] = alerts.data
  assert.equal(fast.alertType, 'TOO_FAST')
  assert.equal(slow.alertType, 'TOO_SLOW')
  assert.equal(slow.value, 2)
  assert.equal(new Date(fast.clearedAt).getTime(), new Date(slow.triggeredAt).getTime(), 'the new type ends the old episode')
  assert.ok(slow.clearedAt, 'cleared by 20 km/h')
})

test('the built-in rules raise OVERSPEED from published readings', async () => {
  const engine = await Engine.open()
  await engine.start()
  await engine.publish([reading('VH-O', 0, { speedKmh: 95 }), reading('VH-O', 1, { speedKmh: 96 })])
  await engine.close()
  const alerts = await engine.alerts({ fleetId: 'fleet-001' })
  const overspeed = alerts.data.filter((a) => a.alertType === 'OVERSPEED')
  assert.equal(overspeed.length, 1, 'one episode, one alert')
  assert.equal(overspeed[0].value, 95)
  assert.equal(overspeed[0].threshold, 80)
})

test('STOP reaches EXECUTED with the simulator', async () => {
  const engine = await Engine.open()
  await engine.start()
  const sub = engine.subscribe('sim-c')
  const sim = await engine.runSimulator({ fleetId: 'sim-c', vehicles: 2, intervalMs: 20, scenario: 'high-load' })
  const vehicle = sim.vehicleIds[0]
  await eventually('the vehicle moves', async () => (await engine.latest(vehicle))?.speedKmh > 5)
  const command = await engine.dispatchCommand(vehicle, 'STOP', { issuedBy: 'op-001', params: { reason: 'test' } })
  assert.equal(command.status, 'DISPATCHED')
  assert.equal(command.issuedBy, 'op-001')
  const statuses = []
  for await (const event of sub) {
    if (event.type === 'command' && event.data.id === command.id) {
      statuses.push(event.data.status)
      if (event.data.status === 'EXECUTED') break
    }
  }
  assert.deepEqual(statuses, ['DISPATCHED', 'DELIVERED', 'EXECUTED'])
  const stored = await engine.getCommand(command.id)
  assert.equal(stored.status, 'EXECUTED')
  assert.ok(stored.deliveredAt <= stored.executedAt)
  await eventually('the vehicle stands still', async () => {
    const t = await engine.latest(vehicle)
    return t.speedKmh === 0 && t.status === 'STOPPED'
  })
  // In-process vehicles describe no capabilities (VDA 5050 ones send a factsheet).
  assert.equal(await engine.vehicleCapabilities(vehicle), null)
  const history = await engine.commandHistory(vehicle)
  assert.equal(history.total, 1)
  assert.equal(history.data[0].id, command.id)
  await assert.rejects(
    engine.dispatchCommand('sim-c-VH-404', 'STOP', { issuedBy: 'op-001' }),
    (e) => e instanceof VehicleOpsError && e.kind === 'not_found' && e.code === 'NOT_FOUND',
  )
  await assert.rejects(
    engine.dispatchCommand(vehicle, 'JUMP', { issuedBy: 'op-001' }),
    (e) => e.kind === 'validation' && e.field === 'command',
  )
  await sim.stop()
  await engine.close()
})

test('a retried dispatch with the same idempotencyKey returns the original command', async () => {
  const engine = await Engine.open()
  await engine.start()
  await engine.registerFleet('idem', 'Idempotency')
  await engine.registerVehicle('idem-VH-1', 'idem')
  const options = { issuedBy: 'op-001', idempotencyKey: 'stop-idem-0001', params: { reason: 'retry' } }
  const first = await engine.dispatchCommand('idem-VH-1', 'STOP', options)
  assert.equal(first.idempotencyKey, 'stop-idem-0001')
  assert.ok(Date.parse(first.expiresAt) > Date.parse(first.issuedAt), first.expiresAt)
  const retry = await engine.dispatchCommand('idem-VH-1', 'STOP', options)
  assert.equal(retry.id, first.id)
  const history = await engine.commandHistory('idem-VH-1')
  assert.equal(history.total, 1)
  assert.equal(history.data[0].id, first.id)
  await assert.rejects(
    engine.dispatchCommand('idem-VH-1', 'RESUME', options),
    (e) => e instanceof VehicleOpsError && e.kind === 'conflict',
  )
  await assert.rejects(
    engine.dispatchCommand('idem-VH-1', 'STOP', { idempotencyKey: '' }),
    (e) => e.kind === 'validation' && e.field === 'idempotency_key',
  )
  assert.equal((await engine.commandHistory('idem-VH-1')).total, 1)
  await engine.close()
})

test('analytics: summary, series, fleet performance and history windows', async () => {
  const engine = await Engine.open()
  await engine.start()
  const speeds = [10, 20, 30, 40, 50, 60, 70, 20, 10, 0]
  await engine.publish(speeds.map((speedKmh, i) => reading('VH-A', i, { speedKmh })))
  await engine.publish([reading('VH-B', 0), reading('VH-B', 1, { latitude: 4.711 })])
  assert.equal((await engine.close()).stored, 12)

  const summary = await engine.vehicleSummary('VH-A')
  assert.equal(summary.vehicleId, 'VH-A')
  assert.equal(summary.totalReadings, 10)
  assert.equal(summary.maxSpeedKmh, 70)
  assert.equal(summary.avgSpeedKmh, 31)
  assert.ok(summary.totalDistanceKm > 0.09 && summary.totalDistanceKm < 0.11, `${summary.totalDistanceKm} km`)

  const series = await engine.series('VH-A', 'speed_kmh', { bucketMinutes: 5 / 60 })
  assert.equal(series.length, 2)
  assert.deepEqual(
    series.map((p) => [p.avgValue, p.minValue, p.maxValue]),
    [
      [30, 10, 50],
      [32, 0, 70],
    ],
  )
  assert.equal(new Date(series[1].bucket).toISOString(), '2024-02-15T14:00:05.000Z')

  const report = await engine.fleetPerformance('fleet-001')
  assert.equal(report.fleetId, 'fleet-001')
  assert.deepEqual(
    report.vehicles.map((v) => v.vehicleId),
    ['VH-A', 'VH-B'],
    'ranked by distance',
  )

  const window = await engine.history('VH-A', {
    from: new Date('2024-02-15T14:00:02Z'),
    to: '2024-02-15T14:00:04Z',
  })
  assert.deepEqual(
    window.map((t) => t.speedKmh),
    [30, 40, 50],
  )
  assert.equal(window[0].timestamp, '2024-02-15T14:00:02Z')
  assert.equal((await engine.history('VH-A', { limit: 3 })).length, 3)
  assert.equal(await engine.latest('VH-NONE'), null)
})

test('missions: create, read, and a conflict for a second active mission', async () => {
  const engine = await Engine.open()
  await engine.start()
  await engine.registerFleet({ id: 'fleet-001', name: 'Zone A' })
  await engine.registerVehicle({ id: 'VH-M', fleetId: 'fleet-001' })
  const request = {
    fleetId: 'fleet-001',
    vehicleId: 'VH-M',
    missionType: 'DELIVERY',
    priority: 'HIGH',
    waypoints: [
      { latitude: 4.72, longitude: -74.07, order: 2 },
      { latitude: 4.71, longitude: -74.07, order: 1 },
    ],
  }
  const mission = await engine.createMission(request)
  assert.equal(mission.status, 'ASSIGNED')
  assert.equal(mission.missionType, 'DELIVERY')
  assert.equal(mission.completedWaypoints, 0)
  assert.deepEqual(
    mission.waypoints.map((w) => w.latitude),
    [4.71, 4.72],
    'sorted by order',
  )
  assert.equal((await engine.getMission(mission.id)).id, mission.id)
  await assert.rejects(engine.createMission(request), (e) => {
    assert.ok(e instanceof VehicleOpsError)
    assert.equal(e.kind, 'conflict')
    assert.equal(e.code, 'CONFLICT')
    return true
  })
  const cancelled = await engine.cancelMission(mission.id)
  assert.equal(cancelled.status, 'CANCELLED')
  assert.equal((await engine.createMission(request)).status, 'ASSIGNED', 'free again after cancel')
  await assert.rejects(engine.getMission('m-404'), (e) => e.kind === 'not_found')
  await engine.close()
})

test('bad telemetry is refused with the field named', async () => {
  const wire = {
    vehicle_id: 'VH-1',
    fleet_id: 'fleet-001',
    latitude: 4.71,
    longitude: -74.07,
    speed_kmh: 12,
    battery_pct: 80,
    engine_temp_c: 70,
    status: 'MOVING',
    timestamp: '2024-02-15T14:32:18Z',
  }
  const t = decodeTelemetry(Buffer.from(JSON.stringify(wire)))
  assert.equal(t.vehicleId, 'VH-1')
  assert.equal(t.engineTempC, 70)
  assert.throws(
    () => decodeTelemetry(JSON.stringify({ ...wire, latitude: 91 })),
    (e) => e instanceof VehicleOpsError && e.kind === 'validation' && e.field === 'latitude' && /91/.test(e.message),
  )
  assert.throws(() => decodeTelemetry(JSON.stringify({ ...wire, status: 'FLYING' })), (e) => e.field === 'status')
  assert.throws(() => decodeTelemetry('{"vehicle_id": '), (e) => e.kind === 'validation')

  const engine = await Engine.open()
  await engine.start()
  await assert.rejects(
    engine.publish([reading('VH-1', 0), reading('VH-1', 1, { batteryPct: Number.NaN })]),
    (e) => e.kind === 'validation' && e.field === 'battery_pct' && /reading 1/.test(e.message),
  )
  assert.equal(engine.stats().received, 0, 'a rejected batch publishes nothing')
  await assert.rejects(engine.runSimulator({ vehicles: 0 }), (e) => e.kind === 'validation' && e.field === 'vehicles')
  await assert.rejects(engine.runSimulator({ scenario: 'chaos' }), (e) => e.field === 'scenario')
  await assert.rejects(engine.runSimulator({ speed: 3 }), (e) => e.field === 'simulator' && /speed/.test(e.message))
  await assert.rejects(engine.series('VH-1', 'altitude'), (e) => e.field === 'metric')
  await assert.rejects(engine.series('VH-1', 'speed_kmh', { bucketMinutes: 0 }), (e) => e.field === 'bucketMinutes')
  await assert.rejects(engine.series('VH-1', 'speed_kmh', { bucketSecs: 60 }), (e) => e.field === 'bucketSecs')
  await assert.rejects(engine.history('VH-1', { from: 'yesterday' }), (e) => e.field === 'from')
  await engine.close()
  await assert.rejects(engine.publish([reading('VH-1', 0)]), (e) => e.kind === 'closed' && e.code === 'CLOSED')
})

test('an engine on a file keeps its data across reopening', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'vehicleops-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'fleet.db')
  const first = await Engine.open({ path })
  await first.start()
  await first.publish([reading('VH-F', 0), reading('VH-F', 1)])
  await first.close()
  const second = await Engine.open({ path })
  assert.equal((await second.history('VH-F')).length, 2)
  await second.close()
})
