/**
 * Runtime configuration. Defaults need nothing: same-origin API and WebSocket, offline MapLibre
 * map. A deployment may drop a `config.json` next to index.html (read at start-up) or set
 * `VITE_*` variables at build time; the runtime file wins.
 */
export interface SitePlan {
  /** Image URL (relative to the dashboard or absolute). */
  url: string;
  /** Corners as [lon, lat]: top-left, top-right, bottom-right, bottom-left. */
  coordinates: [[number, number], [number, number], [number, number], [number, number]];
  opacity?: number;
}

export interface DashboardConfig {
  /** REST base, e.g. `/api/v1`. */
  apiUrl: string;
  /** WebSocket origin, e.g. `ws://host:8000`; derived from the page when empty. */
  wsUrl: string;
  /** Use Mapbox GL and its styles when set; MapLibre with the offline style otherwise. */
  mapboxToken: string | null;
  mapboxStyle: string;
  /** Initial map centre [lon, lat] and zoom (Bogotá, the demo fleet's city). */
  center: [number, number];
  zoom: number;
  sitePlan: SitePlan | null;
  /**
   * Longest a vehicle position waits before it is drawn, for small fleets; large fleets are
   * refreshed less often, down to once a second from 1,000 vehicles (see `mapRefreshInterval`).
   * Vehicles report at ~1 Hz; each source refresh re-clusters the fleet in the worker and
   * repaints the map, which on a machine without a GPU (software WebGL) is the dominant cost.
   */
  mapRefreshMs: number;
}

function env(name: string): string | undefined {
  const value = (import.meta.env as Record<string, string | undefined>)[name];
  return value && value.length ? value : undefined;
}

export const defaultConfig: DashboardConfig = {
  apiUrl: env('VITE_API_URL') ?? '/api/v1',
  wsUrl: env('VITE_WS_URL') ?? '',
  mapboxToken: env('VITE_MAPBOX_TOKEN') ?? null,
  mapboxStyle: env('VITE_MAPBOX_STYLE') ?? 'mapbox://styles/mapbox/dark-v11',
  center: [-74.0721, 4.711],
  zoom: 13,
  sitePlan: null,
  mapRefreshMs: 250,
};

/** Reads `config.json` beside the page; a missing or broken file keeps the defaults. */
export async function loadConfig(): Promise<DashboardConfig> {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    if (!res.ok) return defaultConfig;
    const file = (await res.json()) as Partial<DashboardConfig>;
    return { ...defaultConfig, ...file };
  } catch {
    return defaultConfig;
  }
}

/** `ws(s)://host` for the page's own origin when no explicit URL is configured. */
export function wsOrigin(config: DashboardConfig, location: { protocol: string; host: string }): string {
  if (config.wsUrl) return config.wsUrl.replace(/\/$/, '');
  if (/^https?:\/\//.test(config.apiUrl)) {
    const u = new URL(config.apiUrl);
    return `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}`;
  }
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}
