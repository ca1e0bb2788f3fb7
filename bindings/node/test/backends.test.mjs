// The engine on PostgreSQL and on Kafka: run when the test command provides the servers
// (VEHICLEOPS_TEST_DATABASE_URL, VEHICLEOPS_TEST_KAFKA), skipped otherwise.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { Engine, VehicleOpsError, eventually, reading } from './helpers.mjs'

const DATABASE_URL = process.env.VEHICLEOPS_TEST_DATABASE_URL
const KAFKA = process.env.VEHICLEOPS_TEST_KAFKA
const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 10)}`
const kafkaOptions = () => {
  const run = randomUUID()
  return { bootstrapServers: KAFKA, groupId: `vehicleops-node-test.${run}`, topicSuffix: `node-test.${run}` }
}
const window = { from: '2024-02-15T13:00:00Z', to: '2024-02-15T15:00:00Z' }

test('PostgreSQL keeps readings and alerts for the next engine', { skip: !DATABASE_URL && 'no PostgreSQL' }, async () => {
  const vehicleId = unique('NODE-PG')
  const fleetId = unique('fleet-pg')
  const engine = await Engine.open({ databaseUrl: DATABASE_URL })
  await engine.start()
  const speeds = [40, 95, 96, 50]
  await engine.publish(speeds.map((speedKmh, s) => reading(vehicleId, s, { fleetId, speedKmh })))
  const stats = await engine.close()
  assert.equal(stats.stored, speeds.length)

  const again = await Engine.open({ databaseUrl: DATABASE_URL })
  await again.start()
  const rows = await again.history(vehicleId, window)
  assert.deepEqual(rows.map((r) => r.speedKmh), speeds)
  const overspeed = (await again.alerts({ vehicleId })).data.filter((a) => a.alertType === 'OVERSPEED')
  assert.equal(overspeed.length, 1)
  assert.equal(overspeed[0].value, 95)
  await again.close()
})

test('a path and a databaseUrl together are refused, naming the option', async () => {
  await assert.rejects(Engine.open({ path: '/tmp/x.db', databaseUrl: 'postgres://nowhere/db' }), (err) => {
    assert.ok(err instanceof VehicleOpsError)
    assert.equal(err.field, 'databaseUrl')
    return true
  })
})

test('bad engine options are refused before anything is opened', async () => {
  await assert.rejects(
    Engine.open({ kafka: { bootstrapServers: 'localhost:9092', securityProtocol: 'CARRIER_PIGEON' } }),
    (err) => err instanceof VehicleOpsError && err.kind === 'config' && /CARRIER_PIGEON/i.test(err.message),
  )
  await assert.rejects(Engine.open({ batchSize: 0 }), (err) => err.kind === 'validation' && err.field === 'batchSize')
})

test('an unreachable database is a backend error', async () => {
  await assert.rejects(
    Engine.open({ databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2' }),
    (err) => err instanceof VehicleOpsError && err.code === 'BACKEND_ERROR',
  )
})

test('Kafka carries readings, raw payloads and commands', { skip: !KAFKA && 'no Kafka' }, async () => {
  const engine = await Engine.open({ kafka: kafkaOptions() })
  await engine.start()
  const vehicleId = unique('NODE-KAFKA')
  await engine.publish([0, 1, 2, 3, 4].map((s) => reading(vehicleId, s)))
  const raw = JSON.stringify({
    vehicle_id: vehicleId, fleet_id: 'fleet-001', latitude: 4.72, longitude: -74.07, speed_kmh: 20,
    battery_pct: 70, engine_temp_c: 60, status: 'MOVING', timestamp: '2024-02-15T14:00:05Z', seq: 5,
  })
  await engine.publishRaw(raw + '\n')
  await eventually('six readings stored via Kafka', async () => (await engine.history(vehicleId, window)).length === 6)
  assert.deepEqual((await engine.history(vehicleId, window)).map((r) => r.seq), [0, 1, 2, 3, 4, 5])

  const sim = await engine.runSimulator({ fleetId: unique('sim-kafka'), vehicles: 2, intervalMs: 50, seed: 3 })
  const target = sim.vehicleIds[0]
  await eventually('the simulated vehicle reports over Kafka', async () => (await engine.latest(target)) !== null)
  const cmd = await engine.dispatchCommand(target, 'STOP', { params: { reason: 'kafka test' }, issuedBy: 'op-node' })
  await eventually('STOP is executed over Kafka', async () => (await engine.getCommand(cmd.id))?.status === 'EXECUTED')
  const stats = await engine.close()
  assert.equal(stats.deadLettered, 0)
  assert.ok(stats.stored >= 6)
})

test('Kafka into PostgreSQL', { skip: (!KAFKA || !DATABASE_URL) && 'no Kafka or PostgreSQL' }, async () => {
  const engine = await Engine.open({ databaseUrl: DATABASE_URL, kafka: kafkaOptions() })
  await engine.start()
  const vehicleId = unique('NODE-BOTH')
  await engine.publish(Array.from({ length: 100 }, (_, s) => reading(vehicleId, s)))
  const stats = await engine.close()
  assert.equal(stats.stored, 100)
  const again = await Engine.open({ databaseUrl: DATABASE_URL })
  assert.equal((await again.vehicleSummary(vehicleId, window)).totalReadings, 100)
  await again.close()
})
