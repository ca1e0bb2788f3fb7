/**
 * Page-level benchmark harness (built only with `vite build --mode bench`).
 *
 * Mounts the real map, vehicle list, summary and alert panels on a real store, and feeds the
 * real WebSocket client synthetic frames in the server's shape: `?vehicles=N` vehicles, each
 * reporting once a second, spread evenly over the second, as the server sends them (one frame
 * per update). It records every animation frame's interval and the long tasks, and publishes
 * the result on `window.__benchResult` after `?seconds=S` of measurement.
 */
import { createRoot } from 'react-dom/client';
import { Provider } from 'react-redux';
import { ApiClient } from './api/client';
import { defaultConfig } from './config';
import { createStore } from './store';
import { fleetChosen } from './store/fleetSlice';
import { connectLive } from './live';
import type { SocketLike } from './ws/fleetSocket';
import { FleetMap } from './map/FleetMap';
import { VehicleList } from './components/VehicleList';
import { AlertsPanel } from './components/AlertsPanel';
import type { VehicleState, VehicleStatus } from './types';
import './styles.css';

const params = new URLSearchParams(location.search);
const N = Number(params.get('vehicles') ?? 1000);
const WARMUP_S = Number(params.get('warmup') ?? 5);
const MEASURE_S = Number(params.get('seconds') ?? 20);
/** `parts=map,list,alerts` (default all): which panels to mount, to attribute the cost. */
const PARTS = new Set((params.get('parts') ?? 'map,list,alerts').split(','));
/** `feed=0` mounts everything but sends no updates: the cost of an idle page. */
const FEED = params.get('feed') !== '0';
/** `refresh=ms`: the map's source refresh interval (default: the dashboard's). */
const config = { ...defaultConfig, mapRefreshMs: Number(params.get('refresh') ?? defaultConfig.mapRefreshMs) };

declare global {
  interface Window {
    __benchResult?: unknown;
  }
}

const api = new ApiClient('/bench-has-no-api');
const store = createStore(api, {
  auth: {
    token: 'bench',
    operator: { id: 'bench', email: 'bench@local', role: 'OPERATOR', fleet_ids: ['fleet-bench'] },
    expiresAt: null,
    status: 'idle',
    error: null,
  },
});
store.dispatch(fleetChosen('fleet-bench'));

// A socket that "opens" at once; the harness pushes frames through the client's receive().
const fakeSocket = (): SocketLike => {
  const s: SocketLike = {
    readyState: 1,
    send: () => {},
    close: () => {},
    onopen: null,
    onclose: null,
    onmessage: null,
    onerror: null,
  };
  setTimeout(() => s.onopen?.({}), 0);
  return s;
};
const socket = connectLive(store, 'ws://bench', { factory: fakeSocket });
socket.start();

const STATUSES: VehicleStatus[] = ['MOVING', 'MOVING', 'MOVING', 'MOVING', 'IDLE', 'STOPPED', 'CHARGING', 'LOW_BATTERY'];
const [lon0, lat0] = defaultConfig.center;
const vehicles: VehicleState[] = Array.from({ length: N }, (_, i) => ({
  vehicle_id: `fleet-bench-VH-${String(i + 1).padStart(5, '0')}`,
  fleet_id: 'fleet-bench',
  latitude: lat0 + (Math.random() - 0.5) * 0.1,
  longitude: lon0 + (Math.random() - 0.5) * 0.1,
  speed_kmh: 30,
  battery_pct: 90,
  engine_temp_c: 70,
  load_pct: 50,
  heading_deg: Math.random() * 360,
  status: STATUSES[i % STATUSES.length]!,
  alerts: i % 97 === 0 ? ['OVERSPEED'] : [],
  seq: 0,
  timestamp: new Date().toISOString(),
}));

/** Next reading of vehicle `i`: a few metres along its heading. */
function step(i: number): string {
  const v = vehicles[i]!;
  const rad = ((v.heading_deg ?? 0) * Math.PI) / 180;
  v.latitude += Math.cos(rad) * 0.00008;
  v.longitude += Math.sin(rad) * 0.00008;
  v.heading_deg = ((v.heading_deg ?? 0) + (Math.random() - 0.5) * 20 + 360) % 360;
  v.speed_kmh = 20 + Math.random() * 40;
  v.battery_pct = Math.max(5, v.battery_pct - 0.01);
  v.seq = (v.seq ?? 0) + 1;
  v.timestamp = new Date().toISOString();
  return JSON.stringify(v);
}

// Snapshot first, as the server does on connect.
socket.receive(JSON.stringify({ type: 'SNAPSHOT', payload: { fleet_id: 'fleet-bench', vehicles } }));

// Feed: every 10 ms, the vehicles whose turn it is in this second (N updates per second).
let cursor = 0;
let sent = 0;
const t0 = performance.now();
setInterval(() => {
  if (!FEED) return;
  const due = Math.floor(((performance.now() - t0) / 1000) * N);
  while (sent < due) {
    socket.receive(step(cursor));
    cursor = (cursor + 1) % N;
    sent++;
  }
}, 10);

// `hide=layer1,layer2`: hide map layers, to attribute the rendering cost.
const HIDE = (params.get('hide') ?? '').split(',').filter(Boolean);
if (HIDE.length) {
  const hide = setInterval(() => {
    const map = window.__fleetMap;
    if (!map || !HIDE.every((id) => map.getLayer(id))) return;
    for (const id of HIDE) map.setLayoutProperty(id, 'visibility', 'none');
    clearInterval(hide);
  }, 100);
}

// `repaint=1`: repaint the map every frame (as during a pan): the rendering cost alone.
if (params.get('repaint') === '1') {
  const again = () => {
    window.__fleetMap?.triggerRepaint();
    requestAnimationFrame(again);
  };
  requestAnimationFrame(again);
}

// Measure: animation frame intervals and long tasks after the warm-up.
const intervals: number[] = [];
const longTasks: number[] = [];
let measuring = false;
let last = 0;
new PerformanceObserver((list) => {
  if (measuring) for (const e of list.getEntries()) longTasks.push(e.duration);
}).observe({ type: 'longtask', buffered: false });
const frame = (t: number) => {
  if (measuring && last) intervals.push(t - last);
  last = t;
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);

setTimeout(() => {
  measuring = true;
  const sentAtStart = sent;
  const start = performance.now();
  setTimeout(() => {
    measuring = false;
    const elapsed = (performance.now() - start) / 1000;
    const sorted = [...intervals].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    const budget = 1000 / 60;
    // A frame interval of k budgets means k-1 frames were missed.
    const dropped = intervals.reduce((n, d) => n + Math.max(0, Math.round(d / budget) - 1), 0);
    window.__benchResult = {
      vehicles: N,
      seconds: elapsed,
      updatesPerSecond: (sent - sentAtStart) / elapsed,
      frames: intervals.length,
      fps: intervals.length / elapsed,
      frameMs: {
        mean: intervals.reduce((a, b) => a + b, 0) / Math.max(1, intervals.length),
        p50: q(0.5),
        p95: q(0.95),
        p99: q(0.99),
        max: sorted[sorted.length - 1] ?? 0,
      },
      droppedFrames: dropped,
      droppedPct: (100 * dropped) / (dropped + intervals.length),
      longTasks: longTasks.length,
      longTaskMsTotal: longTasks.reduce((a, b) => a + b, 0),
      storeVersion: store.getState().fleet.version,
      parts: [...PARTS].join(','),
      mapRefreshMs: config.mapRefreshMs,
      feed: FEED,
    };
  }, MEASURE_S * 1000);
}, WARMUP_S * 1000);

createRoot(document.getElementById('root')!).render(
  <Provider store={store}>
    <div className="shell">
      <div className="workspace" style={{ gridTemplateColumns: '300px 1fr 300px' }}>
        <aside className="left">{PARTS.has('list') && <VehicleList />}</aside>
        <div className="center">
          <div className="map-slot">{PARTS.has('map') && <FleetMap config={config} />}</div>
        </div>
        <aside className="right">{PARTS.has('alerts') && <AlertsPanel />}</aside>
      </div>
    </div>
  </Provider>,
);
