// Shared test helpers: the package under test and a bounded wait for asynchronous outcomes.
import vo from '../dist/index.js'

export const { Engine, VehicleOpsError, decodeTelemetry } = vo

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` until it returns a truthy value and returns that value. The bound (20 s unless
 * `timeoutMs` says otherwise) only keeps a broken build from hanging the suite; no test asserts on
 * how long anything takes.
 */
export async function eventually(what, check, { timeoutMs = 20_000 } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`gave up waiting for: ${what}`)
    await sleep(25)
  }
}

const T0 = Date.parse('2024-02-15T14:00:00Z')

/** A valid reading of `vehicleId` at `t0 + seconds`, with overrides. */
export function reading(vehicleId, seconds, overrides = {}) {
  return {
    vehicleId,
    fleetId: 'fleet-001',
    latitude: 4.711 + seconds * 0.0001,
    longitude: -74.0721,
    speedKmh: 30,
    batteryPct: 80,
    engineTempC: 70,
    loadPct: 10,
    status: 'MOVING',
    timestamp: new Date(T0 + seconds * 1000),
    headingDeg: 0,
    seq: seconds,
    ...overrides,
  }
}
