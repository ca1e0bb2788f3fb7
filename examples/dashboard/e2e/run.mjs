// End-to-end tests: the built dashboard, served by a real reference server in demo mode
// (its simulator drives 20 vehicles in Bogotá), driven in Debian's Chromium. Nothing is stubbed.
//
//   VEHICLEOPS_SERVER_BIN=/path/to/vehicleops-server node e2e/run.mjs
//   VEHICLEOPS_URL=http://127.0.0.1:8000 node e2e/run.mjs   (a server already serving dist/)
//
// VEHICLEOPS_SCREENSHOT=path.png saves a screenshot of the running dashboard.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert, launchBrowser, runTests, startServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '..', 'dist');
const ARTIFACTS = join(here, 'artifacts');
const OPERATOR = { email: 'operator@vehicleops.io', password: 'Operator123!' };
const ADMIN = { email: 'admin@vehicleops.io', password: 'Admin123!' };

async function login(page, url, { email, password }) {
  await page.goto(url);
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

async function text(page, testId) {
  return (await page.getByTestId(testId).first().textContent())?.trim() ?? '';
}

/** Clicks the map at an offset (px) from its centre. */
async function clickMap(page, dx, dy) {
  const box = await page.locator('.map-container').boundingBox();
  await page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
}

/** Vehicle features MapLibre has in its source (rendered or clustered). */
function mapVehicleCount(page) {
  return page.evaluate(() => {
    const map = window.__fleetMap;
    if (!map || !map.getSource('vehicles')) return 0;
    const feats = map.queryRenderedFeatures({ layers: ['vehicles', 'clusters'] });
    return feats.reduce((n, f) => n + (f.properties.point_count ?? 1), 0);
  });
}

/**
 * The playback chart's cursor line: its time, where it is drawn (x, px) and where it should be
 * (`expectedX`, from its time on the plot's axis), the axis' ends and the slider's value (its
 * steps are whole seconds from the start, so End may stop short of the last instant).
 */
function chartCursor(page) {
  return page.evaluate(() => {
    const line = document.querySelector('[data-testid="playback-chart-cursor"]');
    const slider = document.querySelector('[data-testid="playback-slider"]');
    if (!line || !slider) return null;
    const box = line.getBoundingClientRect();
    const plot = line.parentElement.getBoundingClientRect();
    return {
      time: Number(line.getAttribute('data-time')),
      start: Number(slider.min),
      end: Number(slider.max),
      slider: Number(slider.value),
      x: box.left + box.width / 2,
      expectedX:
        plot.left + ((Number(line.getAttribute('data-time')) - slider.min) / (slider.max - slider.min)) * plot.width,
      plotLeft: plot.left,
      plotRight: plot.right,
      height: plot.height,
    };
  });
}

/** Waits until the chart's cursor line satisfies `ok`, and returns it. */
async function waitChartCursor(page, ok, timeout = 5_000) {
  let last = null;
  for (const deadline = Date.now() + timeout; Date.now() < deadline; ) {
    last = await chartCursor(page);
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the chart's cursor line did not get there: ${JSON.stringify(last)}`);
}

/** Plays back the vehicle of `alert` over the last 15 minutes and moves the cursor to the alert. */
async function playBackAlert(page, alert) {
  await page.locator(`[data-testid="vehicle-list-item"][data-vehicle-id="${alert.vehicle_id}"]`).click();
  await page.waitForSelector(`[data-testid="vehicle-detail-panel"][data-vehicle-id="${alert.vehicle_id}"]`);
  const panel = page.getByTestId('playback-panel');
  if (!(await panel.evaluate((d) => d.open))) await panel.locator('summary').click();
  await page.getByTestId('playback-window').selectOption('15');
  await page.getByTestId('playback-load-btn').click();
  await page.waitForSelector('[data-testid="playback-panel"][data-status="loaded"]', { timeout: 15_000 });
  await page.waitForSelector('[data-testid="playback-charts"][data-status="loaded"]', { timeout: 15_000 });
  const item = page.locator(`[data-testid="playback-alert"][data-alert-id="${alert.id}"]`);
  await item.waitFor({ timeout: 15_000 });
  const alertTime = Date.parse(alert.triggered_at);
  assert(Number(await item.getAttribute('data-time')) === alertTime, 'the listed alert has its trigger time');
  const mark = page.locator(`[data-testid="playback-alert-mark"][data-alert-id="${alert.id}"]`);
  assert((await mark.count()) === 1, 'the alert is marked on the time axis');

  // From the end of the window farther from the alert, the keyboard reaches the alert list
  // after the slider.
  const away = async () => {
    await page.getByTestId('playback-slider').focus();
    const { start, end } = await chartCursor(page);
    const toEnd = end - alertTime > alertTime - start;
    await page.keyboard.press(toEnd ? 'End' : 'Home');
    return waitChartCursor(page, (c) => (toEnd ? c.time === c.slider && c.end - c.time < 1000 : c.time === c.start));
  };
  const from = await away();
  assert(from.time !== alertTime, `the cursor starts elsewhere than at the alert: ${JSON.stringify(from)}`);
  let focused = null;
  for (let i = 0; i < 10 && focused?.testid !== 'playback-alert'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => {
      const el = document.activeElement;
      return { testid: el?.getAttribute('data-testid'), outline: el && getComputedStyle(el).outlineStyle };
    });
  }
  assert(focused?.testid === 'playback-alert', `Tab from the slider reaches the alert list: ${JSON.stringify(focused)}`);
  assert(focused.outline !== 'none', `the focused alert shows its focus: ${JSON.stringify(focused)}`);
  await item.focus();
  await page.keyboard.press('Enter');

  // The playback, the chart's line and the highlight all move to the alert.
  await page.waitForFunction(
    (t) => Number(document.querySelector('[data-testid="playback-time"]')?.getAttribute('data-cursor')) === t,
    alertTime,
    { timeout: 5_000 },
  );
  const line = await waitChartCursor(page, (c) => c.time === alertTime);
  const markBox = await mark.boundingBox();
  const markX = markBox.x + markBox.width / 2;
  assert(Math.abs(line.x - markX) <= 2, `the cursor line stands over the alert's mark (${line.x} vs ${markX})`);
  assert(Math.abs(line.x - line.expectedX) <= 2, `the line is at the alert's time on the axis: ${JSON.stringify(line)}`);
  assert(Math.abs(line.x - from.x) > 2, `the line moved (${from.x} → ${line.x})`);
  assert((await item.getAttribute('aria-current')) === 'time', 'the alert at the cursor is highlighted');
  assert(/at the cursor/.test(await item.textContent()), 'and says so in words');
  const others = await page.locator('[data-testid="playback-alert"][aria-current="time"]').evaluateAll((els) =>
    els.map((e) => Number(e.getAttribute('data-time'))),
  );
  assert(
    others.every((t) => t <= alertTime && t >= alertTime - 60_000),
    `only alerts of the minute up to the cursor are highlighted: ${others}`,
  );

  // The mark takes a mouse click too: away again, and straight back to the alert.
  await away();
  await mark.click();
  await waitChartCursor(page, (c) => c.time === alertTime);
}

/** A `datetime-local` value (the browser's local time, to the minute) for an instant. */
function localInput(ms) {
  const d = new Date(ms);
  return new Date(ms - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Clicks (or presses Enter on) what starts a download; the download and its file's bytes. */
async function download(page, start) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), start()]);
  const failure = await dl.failure();
  assert(!failure, `the download completed: ${failure}`);
  return { name: dl.suggestedFilename(), bytes: readFileSync(await dl.path()) };
}

const tests = [
  [
    'a wrong password is refused',
    async ({ page, server }) => {
      await login(page, server.url, { email: OPERATOR.email, password: 'not-the-password' });
      const error = page.getByTestId('login-error');
      await error.waitFor({ timeout: 10_000 });
      assert((await error.textContent()).length > 0, 'an error message is shown');
      assert((await page.getByTestId('fleet-map').count()) === 0, 'no dashboard without a valid login');
      const stored = await page.evaluate(() => sessionStorage.getItem('vehicleops.session'));
      assert(stored === null, 'no token kept');
    },
  ],
  [
    'login shows the live map with its connection state',
    async ({ page, server }) => {
      await login(page, server.url, OPERATOR);
      await page.getByTestId('fleet-map').waitFor({ timeout: 15_000 });
      await page.waitForSelector('[data-testid="connection-state"][data-phase="open"]', { timeout: 15_000 });
      const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vehicleops.session')));
      assert(stored?.token, 'the token is kept for REST and the WebSocket');
    },
  ],
  [
    'vehicles appear on the map and in the list',
    async ({ page }) => {
      await page.waitForFunction(
        () => /^\s*([1-9]\d*) vehicles active/.test(document.querySelector('[data-testid="vehicle-count"]')?.textContent ?? ''),
        null,
        { timeout: 20_000 },
      );
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="vehicle-list-item"]').length >= 20, null, {
        timeout: 20_000,
      });
      await page.waitForFunction(
        () => {
          const map = window.__fleetMap;
          return !!map && map.loaded() && map.queryRenderedFeatures({ layers: ['vehicles', 'clusters'] }).length > 0;
        },
        null,
        { timeout: 20_000 },
      );
      const onMap = await mapVehicleCount(page);
      assert(onMap >= 20, `all 20 demo vehicles drawn on the map (got ${onMap})`);
    },
  ],
  [
    'clicking a vehicle on the map opens its popup',
    async ({ page }) => {
      // Zoom in past the clustering so single vehicles are drawn, then click one.
      const point = await page.evaluate(async () => {
        const map = window.__fleetMap;
        const any = map.queryRenderedFeatures({ layers: ['vehicles', 'clusters'] })[0];
        map.jumpTo({ center: any.geometry.coordinates, zoom: 17 });
        await new Promise((r) => map.once('idle', r));
        const f = map.queryRenderedFeatures({ layers: ['vehicles'] })[0];
        if (!f) return null;
        const p = map.project(f.geometry.coordinates);
        const rect = map.getCanvas().getBoundingClientRect();
        return { x: rect.left + p.x, y: rect.top + p.y, id: f.properties.id };
      });
      assert(point, 'a single vehicle is drawn at zoom 17');
      await page.mouse.click(point.x, point.y);
      const popup = page.getByTestId('vehicle-popup');
      await popup.waitFor({ timeout: 5_000 });
      const body = await popup.textContent();
      assert(/Speed: .* km\/h/.test(body) && /Battery: \d+%/.test(body) && /Status: [A-Z_]+/.test(body), `popup shows speed, battery, status: ${body}`);
      await page.getByTestId('vehicle-detail-panel').waitFor({ timeout: 5_000 });
      await page.evaluate(() => window.__fleetMap.jumpTo({ zoom: 12 }));
    },
  ],
  [
    'selecting a vehicle shows live values that change',
    async (ctx) => {
      const { page } = ctx;
      const moving = page.locator('[data-testid="vehicle-list-item"]', { hasText: 'MOVING' }).first();
      await moving.waitFor({ timeout: 20_000 });
      ctx.vehicleId = await moving.getAttribute('data-vehicle-id');
      await moving.click();
      const panel = page.getByTestId('vehicle-detail-panel');
      await panel.waitFor();
      assert((await panel.getAttribute('data-vehicle-id')) === ctx.vehicleId, 'the panel shows the chosen vehicle');
      const read = async () =>
        [await text(page, 'speed-value'), await text(page, 'battery-value'), await text(page, 'temp-value')].join('|');
      const first = await read();
      assert(/km\/h/.test(first) && /%/.test(first), `live values shown: ${first}`);
      await page.waitForFunction(
        (initial) =>
          ['speed-value', 'battery-value', 'temp-value']
            .map((id) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim())
            .join('|') !== initial,
        first,
        { timeout: 20_000 },
      );
      await page.waitForSelector('[data-testid="speed-battery-chart"]');
      // The map's source follows the vehicle too (it gets only the changed vehicles each refresh).
      const where = (id) =>
        page.evaluate(async (vid) => {
          const data = await window.__fleetMap.getSource('vehicles').getData();
          return JSON.stringify(data.features.find((f) => f.properties.id === vid)?.geometry.coordinates);
        }, id);
      const before = await where(ctx.vehicleId);
      assert(before, 'the selected vehicle is on the map');
      await page.waitForFunction(
        async ([vid, initial]) => {
          const data = await window.__fleetMap.getSource('vehicles').getData();
          return JSON.stringify(data.features.find((f) => f.properties.id === vid)?.geometry.coordinates) !== initial;
        },
        [ctx.vehicleId, before],
        { timeout: 20_000, polling: 500 },
      );
    },
  ],
  [
    "the vehicle's capabilities say the in-process simulator described none",
    async (ctx) => {
      const { page } = ctx;
      const panel = page.getByTestId('capabilities-panel');
      await panel.locator('summary').click();
      // The demo's simulated vehicles send no factsheet: the server answers 404, shown as such.
      await page.waitForSelector('[data-testid="capabilities-panel"][data-status="none"]', { timeout: 10_000 });
      const shown = await text(page, 'capabilities-none');
      assert(/Not described by the vehicle/.test(shown), `capabilities: ${shown}`);
    },
  ],
  [
    'trip playback draws the path of the last minutes and plays it back',
    async ({ page }) => {
      await page.getByTestId('playback-panel').locator('summary').click();
      await page.getByTestId('playback-window').selectOption('15');
      await page.getByTestId('playback-load-btn').click();
      await page.waitForSelector('[data-testid="playback-panel"][data-status="loaded"]', { timeout: 15_000 });
      const points = Number(await page.getByTestId('playback-panel').getAttribute('data-points'));
      assert(points >= 2, `the path has points: ${points}`);
      const summary = await text(page, 'playback-summary');
      assert(/points drawn from/.test(summary), `summary: ${summary}`);
      // The path and the cursor are drawn on the map: what its two playback layers render
      // (on the map's next frame, which a busy machine can delay past the panel's "loaded").
      // The source's own `getData()` came back empty here while both were on screen.
      const drawnOnMap = async () =>
        page.evaluate(() => {
          const layers = ['playback-line', 'playback-cursor'];
          const rendered = window.__fleetMap.queryRenderedFeatures(undefined, { layers });
          return [...new Set(rendered.map((f) => f.geometry.type))].sort().join(',');
        });
      await page
        .waitForFunction(
          () => {
            const layers = ['playback-line', 'playback-cursor'];
            const rendered = window.__fleetMap.queryRenderedFeatures(undefined, { layers });
            return [...new Set(rendered.map((f) => f.geometry.type))].sort().join(',') === 'LineString,Point';
          },
          null,
          { timeout: 10_000, polling: 100 },
        )
        .catch(() => {});
      const drawn = await drawnOnMap();
      assert(drawn === 'LineString,Point', `playback source: ${drawn}`);
      // Scrubbing with the keyboard moves the cursor; playing at 60× moves it on by itself.
      const cursor = async () => Number(await page.getByTestId('playback-time').getAttribute('data-cursor'));
      const start = await cursor();
      await page.getByTestId('playback-slider').focus();
      await page.keyboard.press('ArrowRight');
      await page.waitForFunction(
        (s) => Number(document.querySelector('[data-testid="playback-time"]')?.getAttribute('data-cursor')) > s,
        start,
        { timeout: 5_000 },
      );
      await page.getByTestId('playback-speed').selectOption('60');
      const before = await cursor();
      await page.getByTestId('playback-play-btn').click();
      await page.waitForFunction(
        (s) => Number(document.querySelector('[data-testid="playback-time"]')?.getAttribute('data-cursor')) > s + 1000,
        before,
        { timeout: 10_000 },
      );
      // Pausing (or reaching the end) leaves the button showing Play.
      if ((await page.getByTestId('playback-play-btn').getAttribute('aria-pressed')) === 'true') {
        await page.getByTestId('playback-play-btn').click();
      }
      await page.waitForSelector('[data-testid="playback-play-btn"][aria-pressed="false"]');

      // The speed/battery/temperature charts of the window, with a line at the cursor that
      // follows it: at the start of the axis on Home, at its end on End.
      await page.waitForSelector('[data-testid="playback-charts"][data-status="loaded"]', { timeout: 15_000 });
      const samples = Number(await page.getByTestId('playback-chart').getAttribute('data-samples'));
      assert(samples >= points, `the charts have the window's readings: ${samples} (path: ${points} points)`);
      const readout = [
        await text(page, 'playback-chart-speed'),
        await text(page, 'playback-chart-battery'),
        await text(page, 'playback-chart-temp'),
      ].join(' | ');
      assert(/km\/h .*\| .*% \| .*°C/.test(readout), `values at the cursor: ${readout}`);
      const line = await chartCursor(page);
      assert(line.time === (await cursor()), `the chart's cursor is at the playback's (${line.time} vs ${await cursor()})`);
      await page.getByTestId('playback-slider').focus();
      await page.keyboard.press('Home');
      const atStart = await waitChartCursor(page, (c) => c.time === c.start);
      await page.keyboard.press('End');
      const atEnd = await waitChartCursor(page, (c) => c.time === c.slider && c.end - c.time < 1000);
      assert(Math.abs(atStart.x - atStart.plotLeft) <= 2, `at the start the line is at the plot's left edge: ${JSON.stringify(atStart)}`);
      assert(Math.abs(atEnd.x - atEnd.expectedX) <= 2, `at the end the line is at its time on the axis: ${JSON.stringify(atEnd)}`);
      assert(atEnd.x - atStart.x > 100, `the line went across the plot: ${atStart.x} → ${atEnd.x}`);
      assert(atEnd.plotRight - atEnd.plotLeft > 100 && atEnd.height > 100, `the plot is drawn: ${JSON.stringify(atEnd)}`);
    },
  ],
  [
    "trip playback lists a vehicle's alerts on the charts; choosing one moves the cursor there",
    async ({ page, server, vehicleId }) => {
      // The seeded demo fleet raises an alert within 20 s: play back a vehicle that has one.
      const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vehicleops.session')).token);
      let alert;
      for (const deadline = Date.now() + 60_000; !alert && Date.now() < deadline; ) {
        for (const acknowledged of [false, true]) {
          const res = await fetch(`${server.url}/api/v1/alerts?fleet_id=fleet-001&acknowledged=${acknowledged}&limit=50`, {
            headers: { Authorization: `Bearer ${token}` },
          });
          alert ??= (await res.json()).data[0];
        }
        if (!alert) await new Promise((r) => setTimeout(r, 1000));
      }
      assert(alert, 'the demo fleet raised an alert');
      try {
        await playBackAlert(page, alert);
      } finally {
        // Back to the vehicle the later tests command.
        if (await page.getByTestId('playback-panel').getByRole('button', { name: 'Close' }).count()) {
          await page.getByTestId('playback-panel').getByRole('button', { name: 'Close' }).click();
        }
        if (vehicleId) await page.locator(`[data-testid="vehicle-list-item"][data-vehicle-id="${vehicleId}"]`).click();
      }
    },
  ],

  [
    'time travel shows the fleet at a past instant and goes back to live',
    async ({ page }) => {
      const mapCount = () =>
        page.evaluate(async () => (await window.__fleetMap.getSource('vehicles').getData()).features.length);
      const live = await mapCount();
      assert(live > 0, 'live vehicles on the map');
      await page.getByTestId('time-travel-toggle').click();
      // At the present the fleet is all there.
      await page.waitForFunction(
        () => document.querySelector('[data-testid="time-travel-bar"]')?.getAttribute('data-shown-at'),
        null,
        { timeout: 10_000 },
      );
      const summary = await text(page, 'time-travel-summary');
      assert(/vehicles · \d+ open alerts at/.test(summary), `summary: ${summary}`);
      // An hour ago the demo had not started: nobody on the map.
      await page.getByTestId('time-travel-slider').focus();
      await page.keyboard.press('Home');
      await page.waitForFunction(
        async () => (await window.__fleetMap.getSource('vehicles').getData()).features.length === 0,
        null,
        { timeout: 10_000, polling: 200 },
      );
      await page.waitForFunction(
        () => /^0 vehicles/.test(document.querySelector('[data-testid="time-travel-summary"]')?.textContent ?? ''),
        null,
        { timeout: 10_000 },
      );
      await page.getByTestId('time-travel-live-btn').click();
      await page.waitForFunction(
        async () => (await window.__fleetMap.getSource('vehicles').getData()).features.length > 0,
        null,
        { timeout: 10_000, polling: 200 },
      );
      assert(/vehicles active/.test(await text(page, 'vehicle-count')), 'live again');
    },
  ],
  [
    'STOP is confirmed, dispatched, executed, and the vehicle stops',
    async ({ page, vehicleId }) => {
      assert(vehicleId, 'a vehicle was selected by the previous test');
      await page.getByTestId('cmd-stop-btn').click();
      await page.getByTestId('confirm-dialog').waitFor();
      await page.getByTestId('confirm-dialog-btn').click();
      const feedback = page.getByTestId('command-feedback');
      await page.waitForFunction(
        () => /DISPATCHED/.test(document.querySelector('[data-testid="command-feedback"]')?.textContent ?? ''),
        null,
        { timeout: 10_000 },
      );
      await page.waitForSelector('[data-testid="command-feedback"][data-status="EXECUTED"]', { timeout: 30_000 });
      const steps = await feedback.textContent();
      assert(/STOP: DISPATCHED → (DELIVERED → )?EXECUTED/.test(steps), `lifecycle shown in order: ${steps}`);
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="status-value"]')?.textContent?.trim() === 'STOPPED' &&
          /^0\.0 km\/h$/.test(document.querySelector('[data-testid="speed-value"]')?.textContent?.trim() ?? ''),
        null,
        { timeout: 20_000 },
      );
    },
  ],
  [
    'an alert appears live and is acknowledged with notes',
    async ({ page, server }) => {
      const open = page.locator('[data-testid="alert-item"]:has([data-testid="alert-ack-btn"])').first();
      // The seeded demo fleet raises an alert at least every 24 s (see harness.mjs).
      await open.waitFor({ timeout: 60_000 });
      const alertId = await open.getAttribute('data-alert-id');
      const item = page.locator(`[data-testid="alert-item"][data-alert-id="${alertId}"]`);
      if (process.env.VEHICLEOPS_SCREENSHOT) {
        // The documentation's picture: the whole fleet, a vehicle selected, a live alert.
        await page.evaluate(async () => {
          const map = window.__fleetMap;
          const data = await map.getSource('vehicles').getData();
          const xs = data.features.map((f) => f.geometry.coordinates[0]);
          const ys = data.features.map((f) => f.geometry.coordinates[1]);
          map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 80, duration: 0 });
          await new Promise((r) => map.once('idle', r));
        });
        await page.screenshot({ path: process.env.VEHICLEOPS_SCREENSHOT });
      }
      const severity = await item.getByTestId('alert-severity').textContent();
      assert(/^(LOW|MEDIUM|HIGH|CRITICAL)$/.test(severity), `severity shown: ${severity}`);
      await item.getByTestId('alert-ack-btn').click();
      await item.getByTestId('alert-notes-input').fill('e2e: operator checked the vehicle');
      await item.getByTestId('alert-ack-confirm-btn').click();
      const done = page.locator(`[data-alert-id="${alertId}"] [data-testid="alert-acknowledged"]`);
      await done.waitFor({ timeout: 10_000 });
      assert(/e2e: operator checked the vehicle/.test(await done.textContent()), 'notes shown');
      // The server agrees.
      const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vehicleops.session')).token);
      const res = await fetch(`${server.url}/api/v1/alerts?fleet_id=fleet-001&acknowledged=true&limit=200`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const body = await res.json();
      const stored = body.data.find((a) => a.id === alertId);
      assert(stored?.acknowledged && stored.notes === 'e2e: operator checked the vehicle', 'acknowledgement stored');
    },
  ],
  [
    'the connection comes back after a server restart',
    async ({ page, server }) => {
      if (!server.restart) {
        console.log('     (skipped the restart: the server was given by URL)');
        return;
      }
      // The outage is shown while it lasts.
      const sawReconnecting = page.waitForSelector('[data-testid="connection-state"][data-phase="reconnecting"]', {
        timeout: 60_000,
      });
      await server.restart({ downMs: 1500 });
      await sawReconnecting;
      await page.waitForSelector('[data-testid="connection-state"][data-phase="open"]', { timeout: 60_000 });
      // Live again: values keep changing after the reconnect.
      const before = await text(page, 'vehicle-count');
      assert(/vehicles active/.test(before), 'map still populated');
      const item = page.locator('[data-testid="vehicle-list-item"]', { hasText: 'MOVING' }).first();
      await item.click();
      const first = await page.evaluate(() =>
        ['speed-value', 'battery-value', 'temp-value']
          .map((id) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim())
          .join('|'),
      );
      await page.waitForFunction(
        (initial) =>
          ['speed-value', 'battery-value', 'temp-value']
            .map((id) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim())
            .join('|') !== initial,
        first,
        { timeout: 20_000 },
      );
    },
  ],
  [
    'a token the restarted server refuses leads back to the login page, saying why',
    async ({ page, server }) => {
      if (!server.restart) {
        console.log('     (skipped: the server was given by URL)');
        return;
      }
      // Another key voids every token issued so far (as deleting the demo key file would).
      await server.restart({ env: { SECRET_KEY: 'e2e-another-key-voiding-old-tokens-0123456789' } });
      const error = page.getByTestId('login-error');
      await error.waitFor({ timeout: 30_000 });
      const message = await error.textContent();
      assert(/no longer accepts this session/.test(message) && /log in again/.test(message), `clear message: ${message}`);
      const stored = await page.evaluate(() => sessionStorage.getItem('vehicleops.session'));
      assert(stored === null, 'the refused token is forgotten');
      // Back to the server's own key file, and logged in again for the tests that follow.
      await server.restart();
      await page.getByTestId('login-email').fill(OPERATOR.email);
      await page.getByTestId('login-password').fill(OPERATOR.password);
      await page.getByTestId('login-submit').click();
      await page.waitForSelector('[data-testid="connection-state"][data-phase="open"]', { timeout: 30_000 });
    },
  ],
  [
    'analytics and missions views load from the API',
    async ({ page }) => {
      await page.getByTestId('nav-analytics').click();
      await page.getByTestId('performance-table').waitFor({ timeout: 15_000 });
      await page.getByTestId('nav-missions').click();
      await page.getByTestId('missions-panel').waitFor();
      await page.getByTestId('nav-map').click();
    },
  ],
  [
    "the Analytics view exports the fleet's alerts as CSV and a vehicle's telemetry as Parquet",
    async ({ page }) => {
      await page.getByTestId('nav-analytics').click();
      try {
        const panel = page.getByTestId('export-panel');
        await panel.waitFor({ timeout: 10_000 });
        await page.getByTestId('export-kind').selectOption('alerts');
        await page.getByTestId('export-window').selectOption('24h');
        await page.getByTestId('export-vehicle').selectOption('');
        await page.getByTestId('export-format-csv').check();

        // Tab goes from Records to Download through labelled controls that show their focus.
        await page.getByTestId('export-kind').focus();
        const visited = [];
        for (let i = 0; i < 8 && visited.at(-1)?.testid !== 'export-download-btn'; i++) {
          visited.push(
            await page.evaluate(() => {
              const el = document.activeElement;
              const label = el.labels?.[0]?.textContent?.trim() || el.getAttribute('aria-label') || el.textContent?.trim();
              return { testid: el.getAttribute('data-testid'), label, outline: getComputedStyle(el).outlineStyle };
            }),
          );
          if (visited.at(-1).testid !== 'export-download-btn') await page.keyboard.press('Tab');
        }
        const order = visited.map((v) => v.testid).join(' → ');
        assert(
          order === 'export-kind → export-window → export-vehicle → export-format-csv → export-download-btn',
          `keyboard order: ${order}`,
        );
        assert(visited.every((v) => v.label), `every control has a label: ${JSON.stringify(visited)}`);
        assert(visited.every((v) => v.outline !== 'none'), `every control shows its focus: ${JSON.stringify(visited)}`);

        // The fleet's alerts of the last 24 h as CSV, with Enter on Download.
        const csv = await download(page, () => page.keyboard.press('Enter'));
        assert(/^fleet-001_alerts_.*\.csv$/.test(csv.name), `suggested CSV name: ${csv.name}`);
        const lines = csv.bytes.toString('utf8').split(/\r?\n/).filter((l) => l);
        assert(lines[0]?.startsWith('id,vehicle_id,fleet_id,alert_type,'), `CSV header: ${lines[0]}`);
        assert(lines.length >= 2, `the demo fleet's alerts are in the file: ${lines.length - 1} rows`);
        assert(
          lines.slice(1).every((l) => l.split(',')[2] === 'fleet-001'),
          `every row is the fleet's: ${lines.slice(1, 3).join(' | ')}`,
        );
        await page.waitForSelector('[data-testid="export-panel"][data-status="done"]', { timeout: 10_000 });
        assert(Number(await panel.getAttribute('data-bytes')) === csv.bytes.length, 'the size shown is the file\'s');
        const done = await text(page, 'export-status');
        assert(done.includes(csv.name) && /\(\d[\d,.]* (bytes?|kB)\)$/.test(done), `status when done: ${done}`);

        // One vehicle's telemetry as Parquet: the file starts (and ends) with the magic bytes.
        const vehicle = await page.getByTestId('export-vehicle').locator('option').nth(1).getAttribute('value');
        assert(vehicle?.startsWith('fleet-001-'), `a vehicle of the fleet to choose: ${vehicle}`);
        await page.getByTestId('export-kind').selectOption('telemetry');
        await page.getByTestId('export-vehicle').selectOption(vehicle);
        await page.getByTestId('export-format-parquet').check();
        const parquet = await download(page, () => page.getByTestId('export-download-btn').click());
        assert(parquet.name.endsWith('.parquet') && parquet.name.includes(vehicle), `suggested Parquet name: ${parquet.name}`);
        const magic = (b) => b.toString('latin1');
        assert(magic(parquet.bytes.subarray(0, 4)) === 'PAR1', `Parquet header: ${magic(parquet.bytes.subarray(0, 4))}`);
        assert(magic(parquet.bytes.subarray(-4)) === 'PAR1', 'the Parquet file is whole (its footer ends in PAR1)');
        await page.waitForSelector(`[data-testid="export-panel"][data-status="done"][data-bytes="${parquet.bytes.length}"]`, {
          timeout: 10_000,
        });
      } finally {
        await page.getByTestId('nav-map').click();
      }
    },
  ],
  [
    'an export with from after to is stopped in the page; one over 366 days shows the server naming `from`',
    async ({ page }) => {
      await page.getByTestId('nav-analytics').click();
      const asked = [];
      const onRequest = (r) => r.url().includes('/api/v1/export/') && asked.push(r.url());
      page.on('request', onRequest);
      try {
        await page.getByTestId('export-kind').selectOption('alerts');
        await page.getByTestId('export-vehicle').selectOption('');
        await page.getByTestId('export-format-csv').check();
        await page.getByTestId('export-window').selectOption('custom');
        const now = Date.now();
        const from = page.getByTestId('export-from');
        await from.fill(localInput(now - 3_600_000));
        await page.getByTestId('export-to').fill(localInput(now - 2 * 3_600_000));
        await page.getByTestId('export-download-btn').click();
        const fromError = page.getByTestId('export-from-error');
        await fromError.waitFor({ timeout: 5_000 });
        assert(/From must be before To/.test(await fromError.textContent()), `message by From: ${await fromError.textContent()}`);
        assert((await from.getAttribute('aria-invalid')) === 'true', 'From is marked invalid');
        const describedBy = await from.getAttribute('aria-describedby');
        assert(describedBy && describedBy === (await fromError.getAttribute('id')), 'From is described by its message');
        assert(await from.evaluate((el) => el === document.activeElement), 'the focus goes to From');
        await page.waitForTimeout(300);
        assert(asked.length === 0, `nothing was asked of the server: ${asked}`);

        // 400 days: the page leaves the limit to the server, which refuses naming `from`.
        await from.fill(localInput(now - 400 * 24 * 3_600_000));
        await page.getByTestId('export-to').fill(localInput(now));
        assert((await fromError.count()) === 0, 'the message by From goes once From is before To');
        await page.getByTestId('export-download-btn').click();
        await page.waitForSelector('[data-testid="export-panel"][data-status="error"]', { timeout: 10_000 });
        const shown = await text(page, 'export-error');
        assert(/HTTP 422, field `from`/.test(shown) && /366 days/.test(shown), `the server's message: ${shown}`);
        assert(/366 days/.test(await fromError.textContent()), `and by From: ${await fromError.textContent()}`);
        assert(asked.length === 1 && /[?&]from=/.test(asked[0]), `one request, with from: ${asked}`);
        assert((await page.getByRole('alert').filter({ hasText: '366 days' }).count()) === 1, 'announced as an alert');
      } finally {
        page.off('request', onRequest);
        await page.getByTestId('export-window').selectOption('24h');
        await page.getByTestId('nav-map').click();
      }
    },
  ],
  [
    'a slow export shows the bytes received as they come, and Cancel stops it',
    async ({ page }) => {
      await page.getByTestId('nav-analytics').click();
      // The whole fleet's readings of the day through a 4 kB/s line: long enough to watch.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: 4_000,
        uploadThroughput: -1,
      });
      const downloads = [];
      const onDownload = (d) => downloads.push(d.suggestedFilename());
      page.on('download', onDownload);
      try {
        await page.getByTestId('export-kind').selectOption('telemetry');
        await page.getByTestId('export-vehicle').selectOption('');
        await page.getByTestId('export-format-csv').check();
        await page.getByTestId('export-download-btn').click();
        const received = () => page.getByTestId('export-panel').getAttribute('data-bytes').then(Number);
        await page.waitForFunction(
          () => Number(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-bytes')) > 0,
          null,
          { timeout: 15_000 },
        );
        const first = await received();
        const status = await text(page, 'export-status');
        assert(/^\d[\d,.]* (bytes?|kB) received$/.test(status), `progress in words: ${status}`);
        await page.waitForFunction(
          (n) => Number(document.querySelector('[data-testid="export-panel"]')?.getAttribute('data-bytes')) > n,
          first,
          { timeout: 10_000 },
        );
        assert((await page.getByTestId('export-panel').getAttribute('data-status')) === 'downloading', 'still downloading');
        await page.getByTestId('export-cancel-btn').focus();
        await page.keyboard.press('Enter');
        await page.waitForSelector('[data-testid="export-panel"][data-status="cancelled"]', { timeout: 5_000 });
        assert((await text(page, 'export-status')) === 'Download cancelled.', 'says it was cancelled');
        const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
        assert(focused === 'export-download-btn', `the focus goes back to Download: ${focused}`);
        await page.waitForTimeout(1_000);
        assert(downloads.length === 0, `nothing was saved: ${downloads}`);
      } finally {
        page.off('download', onDownload);
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await cdp.detach();
        await page.getByTestId('nav-map').click();
      }
    },
  ],
  [
    "the Reports section runs the fleet's daily report for today, opens a vehicle's days, and a reload keeps it",
    async ({ page }) => {
      await page.getByTestId('nav-analytics').click();
      try {
        // The section is a tab, reached with the arrow keys from the one chosen.
        await page.getByTestId('analytics-tab-performance').focus();
        await page.keyboard.press('ArrowRight');
        const section = page.getByTestId('reports-section');
        await section.waitFor({ timeout: 10_000 });
        const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
        assert(focused === 'analytics-tab-reports', `the focus follows to the Reports tab: ${focused}`);

        // The last day: today at the browser's offset, which the form starts with.
        const { today, offset } = await page.evaluate(() => {
          const d = new Date();
          const offset = -d.getTimezoneOffset() || 0;
          return { today: new Date(d.getTime() + offset * 60_000).toISOString().slice(0, 10), offset: String(offset) };
        });
        const shownOffset = await page.getByTestId('report-utc-offset').inputValue();
        assert(shownOffset === offset, `the offset defaults to the browser's: ${shownOffset} (${offset})`);
        await page.getByTestId('report-from').fill(today);
        await page.getByTestId('report-to').fill(today);
        // The section ran the default range on opening: this is the answer to the day asked for.
        const answered = page.waitForResponse(
          (r) => r.url().includes(`/api/v1/reports/fleet/fleet-001?from=${today}&to=${today}&`),
          { timeout: 30_000 },
        );
        await page.getByTestId('report-run-btn').click();
        const response = await answered;
        assert(response.status() === 200, `the report is served: HTTP ${response.status()} ${await response.text()}`);
        const asked = new URL(response.url()).searchParams;
        assert(
          asked.get('from') === today && asked.get('to') === today && asked.get('utc_offset_minutes') === offset,
          `asked for today at the offset: ${asked}`,
        );
        await page.waitForSelector('[data-testid="reports-section"][data-status="loaded"]', { timeout: 30_000 });

        const distance = Number(await page.getByTestId('report-card-distance').getAttribute('data-value'));
        const distanceText = await page.getByTestId('report-card-distance').locator('dd').textContent();
        assert(distance > 0, `the fleet drove today: ${distance} km`);
        assert(/\d.*km$/.test(distanceText.trim()), `the distance in km: ${distanceText}`);
        const driving = await page.getByTestId('report-card-driving').locator('dd').textContent();
        assert(/^(\d[\d,.]* h( \d+ min)?|\d+ min|< 1 min)$/.test(driving.trim()), `driving time in words: ${driving}`);
        const rows = page.getByTestId('report-vehicle-row');
        const count = await rows.count();
        assert(count > 0, `the vehicles table has rows: ${count}`);
        await page.getByTestId('report-distance-chart').waitFor();

        // Enter on a vehicle's row shows its day under it.
        const first = rows.first();
        const vehicleId = await first.getAttribute('data-vehicle-id');
        await first.getByRole('button').focus();
        await page.keyboard.press('Enter');
        const day = page.getByTestId('report-vehicle-day');
        await day.first().waitFor({ timeout: 5_000 });
        assert((await day.count()) === 1 && (await day.first().getAttribute('data-day')) === today, 'its one day, today');
        assert((await first.getByRole('button').getAttribute('aria-expanded')) === 'true', 'the row says it is open');

        // The report's rows as CSV: one per vehicle and day, all of them today's.
        const csv = await download(page, () => page.getByTestId('report-download-csv').click());
        assert(csv.name === `fleet-001_report_${today}_${today}.csv`, `suggested CSV name: ${csv.name}`);
        const lines = csv.bytes.toString('utf8').split(/\r?\n/).filter((l) => l);
        assert(lines[0]?.startsWith('day,vehicle_id,readings,distance_km,'), `CSV header: ${lines[0]}`);
        assert(lines.length - 1 === count, `a row per vehicle of the table: ${lines.length - 1} for ${count}`);
        assert(lines.slice(1).every((l) => l.startsWith(`${today},`)), `every row is today's: ${lines[1]}`);
        await page.waitForSelector('[data-testid="report-download"][data-status="done"]', { timeout: 10_000 });

        // A reload keeps the section, the range, the offset and the open vehicle.
        assert(page.url().includes('tab=reports'), `the URL names the section: ${page.url()}`);
        await page.reload();
        await page.waitForSelector('[data-testid="reports-section"][data-status="loaded"]', { timeout: 30_000 });
        assert(
          (await page.getByTestId('analytics-tab-reports').getAttribute('aria-selected')) === 'true',
          'the Reports tab is still chosen',
        );
        const kept = [
          await page.getByTestId('report-from').inputValue(),
          await page.getByTestId('report-to').inputValue(),
          await page.getByTestId('report-utc-offset').inputValue(),
        ];
        assert(kept.join() === [today, today, offset].join(), `the form is kept: ${kept}`);
        assert(Number(await page.getByTestId('report-card-distance').getAttribute('data-value')) > 0, 'distance after the reload');
        assert((await page.getByTestId('report-vehicle-row').count()) > 0, 'vehicles after the reload');
        await page
          .locator(`[data-testid="report-vehicle-row"][data-vehicle-id="${vehicleId}"] button[aria-expanded="true"]`)
          .waitFor({ timeout: 5_000 });
      } finally {
        await page.getByTestId('analytics-tab-performance').click();
        await page.getByTestId('nav-map').click();
      }
    },
  ],
  [
    'REROUTE takes waypoints picked on the map and is executed',
    async ({ page }) => {
      const item = page.locator('[data-testid="vehicle-list-item"]', { hasText: 'MOVING' }).nth(1);
      await item.click();
      await page.getByTestId('cmd-reroute-btn').click();
      await page.getByTestId('reroute-picker').waitFor();
      for (const [dx, dy] of [[-120, -80], [60, -140]]) await clickMap(page, dx, dy);
      await page.waitForFunction(() => /\(2 picked\)/.test(document.querySelector('[data-testid="reroute-picker"]')?.textContent ?? ''));
      await page.getByTestId('reroute-send-btn').click();
      await page.getByTestId('confirm-dialog-btn').click();
      await page.waitForSelector('[data-testid="command-feedback"][data-status="EXECUTED"]', { timeout: 30_000 });
      assert(/^REROUTE: DISPATCHED/.test(await text(page, 'command-feedback')), 'REROUTE lifecycle shown');
    },
  ],
  [
    'a mission is created from waypoints picked on the map and followed',
    async ({ page }) => {
      const item = page.locator('[data-testid="vehicle-list-item"]', { hasText: 'MOVING' }).nth(2);
      const vehicleId = await item.getAttribute('data-vehicle-id');
      await item.click();
      await page.getByTestId('nav-missions').click();
      await page.getByTestId('mission-pick-btn').click();
      for (const [dx, dy] of [[100, 60], [160, 120], [40, 180]]) await clickMap(page, dx, dy);
      await page.getByTestId('mission-create-btn').click();
      const mission = page.locator('[data-testid="mission-item"]').first();
      await mission.waitFor({ timeout: 15_000 });
      assert((await mission.textContent()).includes(vehicleId), 'the mission is for the selected vehicle');
      assert(/0\/3 waypoints|[123]\/3 waypoints/.test(await mission.textContent()), 'three waypoints');
      assert(['ASSIGNED', 'IN_PROGRESS'].includes(await mission.getAttribute('data-status')), 'active mission');
      const missionId = await mission.getAttribute('data-mission-id');

      // The list comes from the server: the mission is still there after a page reload, with
      // the route the map draws when its vehicle is selected.
      await page.reload();
      await page.getByTestId('nav-missions').click();
      const listed = page.locator(`[data-testid="mission-item"][data-mission-id="${missionId}"]`);
      await listed.waitFor({ timeout: 15_000 });
      assert((await listed.textContent()).includes(vehicleId), 'the reloaded mission names its vehicle');
      assert(/[0-3]\/3 waypoints/.test(await listed.textContent()), 'the reloaded mission has its three waypoints');
      await listed.getByRole('button', { name: vehicleId }).click();
      await page.waitForFunction(
        async () => {
          const source = window.__fleetMap?.getSource('route');
          if (!source) return false;
          const data = await source.getData();
          return data.features.filter((f) => f.geometry.type === 'Point').length === 3;
        },
        null,
        { timeout: 15_000, polling: 500 },
      );
      await page.getByTestId('nav-map').click();
    },
  ],
  [
    'an operator has no Audit view: no entry in the navigation, and a link to it opens the map',
    async ({ page, server }) => {
      await page.getByTestId('nav-map').waitFor();
      assert((await page.getByTestId('nav-analytics').count()) === 1, 'the navigation is there');
      assert((await page.getByTestId('nav-audit').count()) === 0, 'no Audit entry for an OPERATOR');
      // A link to the Audit view (the hash changes without a load: the reload reads it).
      await page.goto(`${server.url}/#view=audit&action=LOGIN_SUCCEEDED`);
      await page.reload();
      await page.waitForSelector('[data-testid="nav-map"][aria-current="page"]', { timeout: 15_000 });
      assert((await page.getByTestId('audit-view').count()) === 0, 'no audit trail shown');
      assert((await page.getByTestId('nav-audit').count()) === 0, 'still no Audit entry');
      await page.waitForFunction(() => /view=map/.test(location.hash), null, { timeout: 5_000 });
    },
  ],
  [
    "the ADMIN's login shows every fleet to choose from, and fleet-001's vehicles",
    async ({ page, server }) => {
      await page.getByTestId('logout-btn').click();
      await page.getByTestId('login-email').waitFor({ timeout: 10_000 });
      await login(page, server.url, ADMIN);
      const select = page.getByTestId('fleet-select');
      await select.waitFor({ timeout: 15_000 });
      const options = await select.locator('option').evaluateAll((els) => els.map((o) => o.value));
      assert(['fleet-001', 'fleet-002', 'fleet-003'].every((f) => options.includes(f)), `every fleet to choose: ${options}`);
      assert((await select.inputValue()) === 'fleet-001', `the first fleet is chosen: ${await select.inputValue()}`);
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="vehicle-list-item"]').length > 0, null, {
        timeout: 20_000,
      });
      const ids = await page
        .getByTestId('vehicle-list-item')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-vehicle-id')));
      assert(ids.length > 0, `vehicles listed: ${ids.length}`);
      await page.waitForFunction(
        async () => ((await window.__fleetMap?.getSource('vehicles')?.getData())?.features.length ?? 0) > 0,
        null,
        { timeout: 20_000, polling: 500 },
      );
      await page.waitForSelector('[data-testid="connection-state"][data-phase="open"]', { timeout: 15_000 });
    },
  ],
  [
    'the ADMIN\'s Audit view lists the logins, filters by action, and a reload keeps view and filter',
    async ({ page }) => {
      const nav = page.getByTestId('nav-audit');
      await nav.waitFor({ timeout: 5_000 });
      // Reached with the keyboard like the other views.
      await nav.focus();
      await page.keyboard.press('Enter');
      const view = page.getByTestId('audit-view');
      await page.waitForSelector('[data-testid="audit-view"][data-status="loaded"]', { timeout: 15_000 });
      assert(page.url().includes('view=audit'), `the URL names the view: ${page.url()}`);
      const actions = () => page.getByTestId('audit-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-action')));
      const all = await actions();
      assert(all.includes('LOGIN_SUCCEEDED'), `a succeeded login is listed: ${all}`);
      // The refused password of the first test, and the commands sent since, are there too.
      assert(all.some((a) => a !== 'LOGIN_SUCCEEDED'), `other actions too: ${[...new Set(all)]}`);
      const firstRow = page.getByTestId('audit-row').filter({ has: page.locator('text=Login succeeded') }).first();
      const time = await firstRow.locator('time').getAttribute('datetime');
      assert(!Number.isNaN(Date.parse(time)), `each row has its time: ${time}`);
      assert((await firstRow.locator('td').first().textContent()).trim().length > 0, 'the time in words');

      // Filter by action, with the keyboard: the select, then Enter on Apply.
      await page.getByTestId('audit-action').focus();
      await page.getByTestId('audit-action').selectOption('LOGIN_SUCCEEDED');
      const answered = page.waitForResponse(
        (r) => r.url().includes('/api/v1/audit?') && r.url().includes('action=LOGIN_SUCCEEDED'),
        { timeout: 15_000 },
      );
      await page.getByTestId('audit-apply-btn').focus();
      await page.keyboard.press('Enter');
      const response = await answered;
      assert(response.status() === 200, `the filtered trail is served: HTTP ${response.status()}`);
      await page.waitForFunction(
        () => {
          const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
          return (
            document.querySelector('[data-testid="audit-view"]')?.getAttribute('data-status') === 'loaded' &&
            rows.length > 0 &&
            rows.every((r) => r.getAttribute('data-action') === 'LOGIN_SUCCEEDED')
          );
        },
        null,
        { timeout: 15_000 },
      );
      const filtered = await actions();
      assert(filtered.length > 0 && filtered.every((a) => a === 'LOGIN_SUCCEEDED'), `only succeeded logins: ${filtered}`);
      assert(page.url().includes('action=LOGIN_SUCCEEDED'), `the URL keeps the filter: ${page.url()}`);

      // A reload keeps the view and the filter.
      await page.reload();
      await page.waitForSelector('[data-testid="audit-view"][data-status="loaded"]', { timeout: 20_000 });
      assert((await page.getByTestId('audit-action').inputValue()) === 'LOGIN_SUCCEEDED', 'the action is still chosen');
      assert((await page.getByTestId('nav-audit').getAttribute('aria-current')) === 'page', 'the Audit view is still open');
      const reloaded = await actions();
      assert(reloaded.length > 0 && reloaded.every((a) => a === 'LOGIN_SUCCEEDED'), `still only succeeded logins: ${reloaded}`);
      assert((await view.count()) === 1, 'one audit view');
      await page.getByTestId('nav-map').click();
    },
  ],
  [
    'the page raised no errors',
    async ({ consoleErrors }) => {
      assert(consoleErrors.length === 0, `page errors: ${consoleErrors.join('; ')}`);
    },
  ],
];

const ok = await runTests(tests, {
  before: async (ctx) => {
    ctx.server = await startServer({ dashboardDir: DIST });
    ctx.browser = await launchBrowser();
    ctx.page = await ctx.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    ctx.consoleErrors = [];
    ctx.page.on('pageerror', (e) => ctx.consoleErrors.push(String(e)));
    ctx.onFailure = async (name) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      await ctx.page.screenshot({ path: join(ARTIFACTS, `${name.replace(/\W+/g, '-')}.png`) });
      if (ctx.server.logs) console.log(ctx.server.logs().split('\n').slice(-20).join('\n'));
    };
    // The first test is the refused login; later ones share one logged-in page.
  },
  after: async (ctx) => {
    if (ctx.consoleErrors?.length) console.log(`page errors:\n  ${ctx.consoleErrors.join('\n  ')}`);
    await ctx.browser?.close();
    await ctx.server?.stop();
  },
});
process.exit(ok ? 0 : 1);
