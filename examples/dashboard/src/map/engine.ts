/**
 * Creates the map: MapLibre GL with the offline style by default; Mapbox GL with its own style
 * only when a Mapbox token is configured (loaded on demand, so the default bundle never fetches
 * it). Both expose the same calls the dashboard uses, so the rest of the code sees one type.
 */
import { Map as MapLibreMap, NavigationControl, ScaleControl, setWorkerUrl } from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import 'maplibre-gl/dist/maplibre-gl.css';
import type { DashboardConfig } from '../config';
import { offlineStyle } from './style';

setWorkerUrl(workerUrl);

export type FleetMapInstance = MapLibreMap;

export async function createMap(
  container: HTMLElement,
  config: DashboardConfig,
): Promise<{ map: FleetMapInstance; engine: 'maplibre' | 'mapbox' }> {
  if (config.mapboxToken) {
    const mapbox = (await import('mapbox-gl')).default;
    await import('mapbox-gl/dist/mapbox-gl.css');
    mapbox.accessToken = config.mapboxToken;
    const map = new mapbox.Map({
      container,
      style: config.mapboxStyle,
      center: config.center,
      zoom: config.zoom,
    });
    map.addControl(new mapbox.NavigationControl());
    map.addControl(new mapbox.ScaleControl());
    // The calls used here have the same shape in both libraries.
    return { map: map as unknown as FleetMapInstance, engine: 'mapbox' };
  }
  const map = new MapLibreMap({
    container,
    style: offlineStyle(config.center),
    center: config.center,
    zoom: config.zoom,
    attributionControl: false,
    // No fade-in of symbols: each source refresh costs one repaint, not 300 ms of them.
    fadeDuration: 0,
  });
  map.addControl(new NavigationControl({ showCompass: true }));
  map.addControl(new ScaleControl({ unit: 'metric' }));
  return { map, engine: 'maplibre' };
}

/** Cluster expansion zoom: a promise in MapLibre, a callback in Mapbox. */
export function clusterExpansionZoom(
  source: unknown,
  clusterId: number,
): Promise<number> {
  const s = source as {
    getClusterExpansionZoom(id: number, cb?: (err: unknown, zoom: number) => void): unknown;
  };
  return new Promise((resolve, reject) => {
    const maybe = s.getClusterExpansionZoom(clusterId, (err, zoom) =>
      err ? reject(err) : resolve(zoom),
    );
    if (maybe instanceof Promise) maybe.then(resolve, reject);
  });
}
