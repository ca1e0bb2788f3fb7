// Ingest throughput through the Node batch API: readings published in batches through
// `engine.publish` (objects → wire JSON → validated decode → pipeline → SQLite in memory),
// measured until every reading is stored.
//
//   npm run build:native:release && npm run build:ts && node bench/ingest.mjs [readings] [batch]
//
// Compare with the Rust embedded pipeline on the same machine:
//   cargo run --release -p embedded-fleet -- --fast --vehicles 100 --duration-secs 600
import vo from '../dist/index.js'

const total = Number(process.argv[2] ?? 200_000)
const batchSize = Number(process.argv[3] ?? 5_000)
const vehicles = 100
const t0 = Date.parse('2024-01-01T00:00:00Z')

function batch(start, n) {
  const out = new Array(n)
  for (let i = 0; i < n; i++) {
    const k = start + i
    const tick = Math.floor(k / vehicles)
    out[i] = {
      vehicleId: `VH-${k % vehicles}`,
      fleetId: 'fleet-bench',
      latitude: 4.7 + tick * 1e-5,
      longitude: -74.07,
      speedKmh: 30 + (k % 40),
      batteryPct: 80,
      engineTempC: 70,
      loadPct: 20,
      status: 'MOVING',
      timestamp: new Date(t0 + tick * 1000),
      seq: tick,
    }
  }
  return out
}

async function run(label, publish) {
  const engine = await vo.Engine.open({ defaultRules: true })
  await engine.start()
  const started = process.hrtime.bigint()
  for (let start = 0; start < total; start += batchSize) {
    await publish(engine, start, Math.min(batchSize, total - start))
  }
  const stats = await engine.close()
  const secs = Number(process.hrtime.bigint() - started) / 1e9
  if (stats.stored !== total) throw new Error(`stored ${stats.stored} of ${total}`)
  console.log(`${label.padEnd(34)} ${total} readings in ${secs.toFixed(2)} s = ${Math.round(total / secs).toLocaleString('en')} readings/s`)
}

console.log(`node ${process.version}, ${total} readings, batches of ${batchSize}, ${vehicles} vehicles, default rules, SQLite in memory`)
await run('publish(objects)', (engine, start, n) => engine.publish(batch(start, n)))
// The same readings already serialised in the wire format (what a gateway forwarding JSON has).
const wire = []
for (let start = 0; start < total; start += batchSize) {
  const lines = batch(start, Math.min(batchSize, total - start)).map((r) =>
    JSON.stringify({
      vehicle_id: r.vehicleId, fleet_id: r.fleetId, latitude: r.latitude, longitude: r.longitude,
      speed_kmh: r.speedKmh, battery_pct: r.batteryPct, engine_temp_c: r.engineTempC,
      load_pct: r.loadPct, status: r.status, timestamp: r.timestamp.toISOString(), seq: r.seq,
    }),
  )
  wire.push(Buffer.from(lines.join('\n')))
}
let i = 0
await run('publishRaw(NDJSON buffer)', (engine) => engine.publishRaw(wire[i++]))
