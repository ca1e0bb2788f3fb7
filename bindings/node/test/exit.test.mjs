// The Node process exits on its own when a script using the engine ends: no thread-safe
// function, pending promise or background thread keeps the event loop alive.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

test('a script using the engine, a JS rule and a subscription exits with code 0', async () => {
  const script = fileURLToPath(new URL('./fixtures/child.mjs', import.meta.url))
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  // The bound only turns a hang into a failure instead of a stuck suite.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])))
  clearTimeout(guard)
  assert.equal(signal, null, 'the child had to be killed: something kept it alive')
  assert.equal(code, 0)
  assert.match(out, /received 5 updates/)
})
