// Dashboard frame-time benchmark in headless Chromium: 1,000 and 10,000 simulated vehicles
// reporting at 1 Hz through the real WebSocket client, store, map and list.
//
//   npm run bench            (builds dist-bench/ first)
//   BENCH_VEHICLES=1000,10000 BENCH_SECONDS=20 node bench/run.mjs
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, launchBrowser } from '../e2e/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '..', 'dist-bench');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css' };

if (!existsSync(join(ROOT, 'bench.html'))) {
  console.error('dist-bench/bench.html missing: run `npx vite build --mode bench` first');
  process.exit(1);
}
const port = await freePort();
const server = createServer((req, res) => {
  const path = join(ROOT, decodeURIComponent(new URL(req.url, 'http://x').pathname));
  if (!path.startsWith(ROOT) || !existsSync(path) || !statSync(path).isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' });
  createReadStream(path).pipe(res);
}).listen(port, '127.0.0.1');

/**
 * CPU seconds used so far by the browser's processes (renderer, GPU/SwiftShader, …): every
 * process descending from this one, from /proc (Linux only; null elsewhere). Unlike frame rates,
 * the work done barely depends on what else the machine is running.
 */
function browserCpuSeconds() {
  if (!existsSync('/proc/self/stat')) return null;
  const procs = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Fields after the command name (which may hold spaces): state ppid … utime(14) stime(15).
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // The process ended while we looked.
    }
  }
  let ticks = 0;
  for (const [pid, p] of procs) {
    let up = p.ppid;
    while (up > 1 && up !== process.pid) up = procs.get(up)?.ppid ?? 0;
    if (up === process.pid && pid !== process.pid) ticks += p.ticks;
  }
  return ticks / 100; // USER_HZ
}

const counts = (process.env.BENCH_VEHICLES ?? '1000,10000').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
// Extra query string, e.g. BENCH_QUERY='parts=map&feed=0' to attribute the cost.
const extra = process.env.BENCH_QUERY ? `&${process.env.BENCH_QUERY}` : '';
const browser = await launchBrowser();
const results = [];
try {
  for (const n of counts) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${port}/bench.html?vehicles=${n}&seconds=${seconds}&warmup=5${extra}`);
    // The CPU window matches the page's measured window (after its 5 s warm-up).
    await page.waitForFunction(() => performance.now() > 5000, null, { timeout: 60_000, polling: 50 });
    const cpuStart = browserCpuSeconds();
    await page.waitForFunction(() => window.__benchResult, null, { timeout: (seconds + 60) * 1000 });
    const cpuEnd = browserCpuSeconds();
    const r = await page.evaluate(() => window.__benchResult);
    r.browserCpuPerSecond = cpuStart === null ? null : (cpuEnd - cpuStart) / r.seconds;
    results.push(r);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
console.log('vehicles  updates/s   fps   frame mean  p50    p95    p99    max     dropped        long tasks        browser CPU');
for (const r of results) {
  const f = r.frameMs;
  console.log(
    `${String(r.vehicles).padStart(8)}  ${r.updatesPerSecond.toFixed(0).padStart(9)}  ${r.fps.toFixed(1).padStart(5)}  ` +
      `${f.mean.toFixed(1).padStart(8)} ms ${f.p50.toFixed(1).padStart(5)} ${f.p95.toFixed(1).padStart(6)} ${f.p99.toFixed(1).padStart(6)} ${f.max.toFixed(0).padStart(6)}  ` +
      `${String(r.droppedFrames).padStart(5)} (${r.droppedPct.toFixed(1)} %)  ${r.longTasks} (${r.longTaskMsTotal.toFixed(0)} ms)` +
      (r.browserCpuPerSecond === null ? '' : `  ${r.browserCpuPerSecond.toFixed(2)} s/s`),
  );
}
console.log(JSON.stringify(results));
