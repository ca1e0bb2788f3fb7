// The load harness through the Node binding: a fixed offered rate of readings for a while,
// publish → live update latency, sustained stored rate, and a loss / duplicate check.
//
//   node bench/load.mjs [--rate 10000] [--seconds 10] [--vehicles 1000]
//                       [--database-url URL] [--kafka HOST:PORT] [--report out.json] [--smoke]
//
// Embedded (SQLite in memory, in-process bus) unless --database-url (PostgreSQL) and/or --kafka
// are given; then readings go Node → Kafka → pipeline → PostgreSQL → live hub, like
// `vehicleops-load` (benches/) does with the reference server. Every reading carries its publish
// time as its timestamp; the latency is live-update receive time minus that (the hub coalesces
// updates per vehicle for a slow reader, so only delivered updates count). Afterwards every
// vehicle's stored count must equal what was published for it: exit code 1 when a reading was
// lost or stored twice. --smoke runs 3 s at 500 readings/s and checks only that (CI runs it;
// it never asserts a timing).
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'

import vo from '../dist/index.js'

const { values: opts } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '10' },
    vehicles: { type: 'string', default: '1000' },
    'database-url': { type: 'string' },
    kafka: { type: 'string' },
    report: { type: 'string' },
    smoke: { type: 'boolean', default: false },
  },
})
let [rate, seconds, vehicleCount] = [Number(opts.rate), Number(opts.seconds), Number(opts.vehicles)]
if (opts.smoke) [rate, seconds, vehicleCount] = [500, 3, 50]

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null)

const runId = randomUUID().slice(0, 8)
const fleetId = `load-node-${runId}`
const options = {}
if (opts['database-url']) options.databaseUrl = opts['database-url']
if (opts.kafka) {
  options.kafka = { bootstrapServers: opts.kafka, groupId: `vehicleops-load-node.${runId}`, topicSuffix: `load-node.${runId}` }
}
const engine = await vo.Engine.open(options)
await engine.start()
const vehicles = Array.from({ length: vehicleCount }, (_, v) => `${fleetId}-VH-${String(v).padStart(5, '0')}`)
const published = new Map(vehicles.map((v) => [v, 0]))
const latencies = []
const live = engine.subscribe(fleetId)
// A probe first, so the clock starts once the bus is ready (a Kafka consumer group joins in
// seconds) rather than measuring that start as latency.
await engine.publish([{
  vehicleId: vehicles[0], fleetId, latitude: 4.7, longitude: -74.07, speedKmh: 0, batteryPct: 80,
  engineTempC: 70, loadPct: 0, status: 'IDLE', timestamp: new Date(), headingDeg: 0, seq: 0,
}])
published.set(vehicles[0], 1)
// `next()` rather than `for await`: leaving that loop would cancel the subscription.
for (let r = await live.next(); !r.done && r.value.type !== 'update'; r = await live.next());
const receiver = (async () => {
  for await (const event of live) {
    if (event.type === 'update') latencies.push(Date.now() - Date.parse(event.data.timestamp))
  }
})()

const tickMs = 10
const perTick = Math.max(1, Math.round((rate * tickMs) / 1000))
const ticks = Math.floor((seconds * 1000) / tickMs)
const started = performance.now()
const MAX_IN_FLIGHT = 16
const inFlight = []
let sent = 1 // the probe
let behind = 0
for (let t = 0; t < ticks; t++) {
  const now = new Date()
  const batch = new Array(perTick)
  for (let i = 0; i < perTick; i++) {
    const vehicleId = vehicles[(sent - 1 + i) % vehicles.length]
    const seq = published.get(vehicleId) + 1
    published.set(vehicleId, seq)
    batch[i] = {
      vehicleId, fleetId, latitude: 4.7, longitude: -74.07, speedKmh: 30, batteryPct: 80,
      engineTempC: 70, loadPct: 40, status: 'MOVING', timestamp: now, headingDeg: 0, seq,
    }
  }
  // Several batches in flight, like a gateway would: a Kafka publish waits for the brokers'
  // acknowledgement (linger + acks=all), which must not pace the offered rate.
  inFlight.push(engine.publish(batch))
  if (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift()
  sent += perTick
  const delay = started + (t + 1) * tickMs - performance.now()
  if (delay > 0) await sleep(delay)
  else behind++
}
await Promise.all(inFlight)
const publishSeconds = (performance.now() - started) / 1000
const stats = await engine.close() // stores everything published, then ends the subscription
const storedSeconds = (performance.now() - started) / 1000
await receiver

// Loss and duplicates: every vehicle's stored rows against what was published for it, read by
// a fresh engine on the same database (the closed engine's store stays readable in memory).
const mismatched = {}
const check = options.databaseUrl ? await vo.Engine.open({ databaseUrl: options.databaseUrl }) : engine
for (const [vehicleId, n] of published) {
  const rows = (await check.vehicleSummary(vehicleId, { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' })).totalReadings
  if (rows !== n) mismatched[vehicleId] = { published: n, stored: rows }
}
await check.close()
latencies.sort((a, b) => a - b)
const report = {
  harness: 'bindings/node/bench/load.mjs',
  machine: { cpus: cpus().length, node: process.version, loadAverage: loadavg() },
  date: new Date().toISOString(),
  mode: `${opts.kafka ? 'kafka' : 'in-process'} + ${options.databaseUrl ? 'postgresql' : 'sqlite-memory'}`,
  offeredRate: rate,
  seconds,
  vehicles: vehicleCount,
  published: sent,
  publishRate: sent / publishSeconds,
  stored: stats.stored,
  storedRate: stats.stored / storedSeconds,
  ticksBehindSchedule: behind,
  latencyMs: {
    updates: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: latencies.at(-1) ?? null,
  },
  duplicates: stats.duplicates,
  lostOrDuplicatedVehicles: mismatched,
  ok: Object.keys(mismatched).length === 0 && stats.duplicates === 0 && stats.stored === sent,
}
if (opts.report) writeFileSync(opts.report, JSON.stringify(report, null, 2) + '\n')
const l = report.latencyMs
console.log(`${report.mode}: offered ${rate}/s for ${seconds} s, ${vehicleCount} vehicles`)
console.log(`  published ${sent} (${Math.round(report.publishRate)}/s), stored ${stats.stored} (${Math.round(report.storedRate)}/s end to end)`)
console.log(`  publish → live update ms: p50 ${l.p50}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max} over ${l.updates} updates`)
console.log(`  lost or duplicated: ${report.ok ? 'none' : JSON.stringify({ stored: stats.stored, sent, duplicates: stats.duplicates, mismatched })}`)
process.exitCode = report.ok ? 0 : 1
