// Shared by the end-to-end tests and the benchmark: a reference server started from its binary
// (demo mode) or reached by URL, Debian's Chromium through playwright-core, a tiny test runner.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url, child, deadlineMs) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} not healthy after ${deadlineMs} ms`);
}

/**
 * A reference server in demo mode. `VEHICLEOPS_URL` points at one already running; otherwise
 * `VEHICLEOPS_SERVER_BIN` is started on a free port with the built dashboard and a private
 * data directory, and can be restarted (same port, same data, same token key) to test
 * reconnects.
 */
export async function startServer({ dashboardDir, env = {} } = {}) {
  if (process.env.VEHICLEOPS_URL) {
    const url = process.env.VEHICLEOPS_URL.replace(/\/$/, '');
    await waitHealthy(url, null, 30_000);
    return { url, restart: null, stop: async () => {} };
  }
  const bin = process.env.VEHICLEOPS_SERVER_BIN;
  if (!bin) throw new Error('set VEHICLEOPS_SERVER_BIN (server binary) or VEHICLEOPS_URL (running server)');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vehicleops-e2e-'));
  const url = `http://127.0.0.1:${port}`;
  let child = null;
  const logs = [];
  // No SECRET_KEY: like the demo, the server keeps a generated key next to its database, so
  // tokens outlive a restart. `restart({ env })` can start it with other settings once.
  const start = async (overrides = {}) => {
    child = spawn(bin, [], {
      env: {
        ...process.env,
        APP_ENV: 'demo',
        APP_HOST: '127.0.0.1',
        APP_PORT: String(port),
        VEHICLEOPS_SQLITE_PATH: join(dataDir, 'vehicleops.db'),
        VEHICLEOPS_DASHBOARD_DIR: dashboardDir ?? '',
        // A fleet known to raise its first alert ~12 s after start and another at least every
        // 24 s (pinned by a test in reference-server/src/demo.rs), so "an alert appears live"
        // never waits on the luck of a random seed.
        VEHICLEOPS_SIMULATOR_SEED: '933',
        RUST_LOG: process.env.RUST_LOG ?? 'warn',
        ...env,
        ...overrides,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d) => {
      logs.push(d.toString());
      if (logs.length > 200) logs.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    await waitHealthy(url, child, 60_000);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url,
    logs: () => logs.join(''),
    restart: async ({ downMs = 0, env: overrides = {} } = {}) => {
      await stop();
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await start(overrides);
    },
    stop,
  };
}

/** Minimal runner: runs tests in order, prints a line each and the closing tally. */
export async function runTests(tests, { before, after } = {}) {
  let passed = 0;
  let failed = 0;
  const ctx = {};
  try {
    if (before) await before(ctx);
    for (const [name, fn] of tests) {
      const t0 = Date.now();
      try {
        await fn(ctx);
        passed++;
        console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name}\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`);
        if (ctx.onFailure) await ctx.onFailure(name).catch(() => {});
      }
    }
  } finally {
    if (after) await after(ctx);
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  return failed === 0;
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}
