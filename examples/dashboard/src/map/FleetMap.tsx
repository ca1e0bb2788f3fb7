/**
 * The live fleet map. Vehicles are one clustered GeoJSON source drawn by WebGL circle/symbol
 * layers (never one DOM element per vehicle). The component reads the store directly rather than
 * through React state: a fleet-sized update must not re-render React, only refresh the source.
 */
import { useEffect, useRef, useState } from 'react';
import type { GeoJSONSource, MapMouseEvent } from 'maplibre-gl';
import type { DashboardConfig } from '../config';
import { useAppDispatch, useAppSelector, useAppStore, type RootState } from '../store';
import { selectActiveCount, vehicleSelected } from '../store/fleetSlice';
import { waypointPicked } from '../store/uiSlice';
import type { PathPoint, VehiclePath, Waypoint } from '../types';
import { selectPlaybackPosition } from '../store/playbackSlice';
import { TimeTravelBar } from '../components/TimeTravelBar';
import { clusterExpansionZoom, createMap, type FleetMapInstance } from './engine';
import { countIcon, headingArrow } from './icons';
import { gridLines, vehicleLayers } from './style';
import { FeatureCache, mapRefreshInterval } from './features';

/** [[west, south], [east, north]] of `[longitude, latitude]` points. */
function boundsOf(points: Iterable<[number, number]>): [[number, number], [number, number]] {
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [lon, lat] of points) {
    w = Math.min(w, lon);
    e = Math.max(e, lon);
    s = Math.min(s, lat);
    n = Math.max(n, lat);
  }
  return [[w, s], [e, n]];
}

function routeCollection(points: Waypoint[]): GeoJSON.FeatureCollection {
  const coords = points.map((w) => [w.longitude, w.latitude]);
  const features: GeoJSON.Feature[] = coords.map((c, i) => ({
    type: 'Feature',
    properties: { order: i + 1 },
    geometry: { type: 'Point', coordinates: c },
  }));
  if (coords.length > 1) {
    features.push({ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: coords } });
  }
  return { type: 'FeatureCollection', features };
}

/** A played-back trip: its path as a line and the cursor as a point. */
function playbackCollection(path: VehiclePath | null, cursor: PathPoint | null): GeoJSON.FeatureCollection {
  const features: GeoJSON.Feature[] = [];
  if (path && path.points.length > 1) {
    features.push({
      type: 'Feature',
      properties: {},
      geometry: { type: 'LineString', coordinates: path.points.map((p) => [p.longitude, p.latitude]) },
    });
  }
  if (cursor) {
    features.push({
      type: 'Feature',
      properties: { status: cursor.status },
      geometry: { type: 'Point', coordinates: [cursor.longitude, cursor.latitude] },
    });
  }
  return { type: 'FeatureCollection', features };
}

/** The route drawn on the map: the waypoints being picked, else the selected vehicle's mission. */
function routeOf(s: RootState): Waypoint[] {
  if (s.ui.picking) return s.ui.picked;
  const id = s.fleet.selectedId;
  const missionId = id ? s.fleet.vehicles[id]?.active_mission_id : null;
  const mission = missionId ? s.missions.byId[missionId] : undefined;
  return mission && Array.isArray(mission.waypoints) ? mission.waypoints : [];
}

declare global {
  interface Window {
    /** The map, for end-to-end tests and the benchmark harness. */
    __fleetMap?: FleetMapInstance;
  }
}

export function FleetMap({ config, visible = true }: { config: DashboardConfig; visible?: boolean }) {
  const containerRef = useRef<HTMLDivElement>(null);
  const mapRef = useRef<FleetMapInstance | null>(null);
  const store = useAppStore();
  const dispatch = useAppDispatch();
  const activeCount = useAppSelector(selectActiveCount);
  const picking = useAppSelector((s) => s.ui.picking);
  const timeTraveling = useAppSelector((s) => s.timeTravel.active);
  const [engine, setEngine] = useState<string>('');
  const [popup, setPopup] = useState<{ id: string; x: number; y: number } | null>(null);
  const popupVehicle = useAppSelector((s) => (popup ? s.fleet.vehicles[popup.id] : undefined));

  useEffect(() => {
    const container = containerRef.current;
    if (!container) return;
    let disposed = false;
    let unsubscribe = () => {};
    let timer: ReturnType<typeof setTimeout> | null = null;
    const cache = new FeatureCache();

    void createMap(container, config).then(({ map, engine }) => {
      if (disposed) {
        map.remove();
        return;
      }
      mapRef.current = map;
      window.__fleetMap = map;
      setEngine(engine);
      map.on('styleimagemissing', (e: { id: string }) => {
        const icon = countIcon(e.id);
        if (icon && !map.hasImage(e.id)) map.addImage(e.id, icon.image, { pixelRatio: icon.pixelRatio });
      });
      map.on('load', () => {
        const arrow = headingArrow();
        if (arrow) map.addImage('heading-arrow', arrow.image, { pixelRatio: arrow.pixelRatio });
        if (config.sitePlan) {
          map.addSource('site-plan', {
            type: 'image',
            url: config.sitePlan.url,
            coordinates: config.sitePlan.coordinates,
          });
          map.addLayer({
            id: 'site-plan',
            type: 'raster',
            source: 'site-plan',
            paint: { 'raster-opacity': config.sitePlan.opacity ?? 0.8 },
          });
        }
        map.addSource('vehicles', {
          type: 'geojson',
          data: { type: 'FeatureCollection', features: [] },
          cluster: true,
          clusterMaxZoom: 14,
          clusterRadius: 40,
          clusterProperties: { alerts: ['+', ['get', 'alert']] },
          // Points need only a margin as wide as the largest circle (the 14 px alert halo),
          // not the default 128 px: fewer features copied into neighbouring tiles.
          buffer: 32,
        });
        map.addSource('route', { type: 'geojson', data: routeCollection([]) });
        map.addSource('playback', { type: 'geojson', data: playbackCollection(null, null) });
        for (const layer of vehicleLayers) map.addLayer(layer);

        let drawnVersion = -1;
        let fitted = false;
        let drawnSelected: string | null | undefined;
        let drawnRoute: Waypoint[] | null = null;
        let drawnPath: VehiclePath | null = null;
        let drawnCursor: number | null = null;
        let lastDraw = 0;
        const draw = () => {
          timer = null;
          // A frame asked for just before the map was removed (the view left, a logout).
          if (disposed) return;
          lastDraw = performance.now();
          const s = store.getState();
          // Time travel shows the fleet at the chosen instant instead of live; the cache sends
          // the map the difference either way.
          const past = s.timeTravel.active && s.timeTravel.shownAt !== null;
          const version = past ? -2 - s.timeTravel.version : s.fleet.version;
          if (version !== drawnVersion) {
            drawnVersion = version;
            const { all, changed, removed } = cache.sync(past ? s.timeTravel.vehicles : s.fleet.vehicles);
            const source = map.getSource('vehicles') as GeoJSONSource;
            // Mapbox GL's `updateData` takes another shape; it gets the whole collection.
            if (!fitted || engine !== 'maplibre') {
              void source.setData({ type: 'FeatureCollection', features: all });
            } else if (changed.length || removed.length) {
              void source.updateData({ add: changed, remove: removed });
            }
            if (!fitted && all.length) {
              // Show the whole fleet once, wherever it operates; the operator steers from there.
              fitted = true;
              const bounds = boundsOf(all.map((f) => f.geometry.coordinates as [number, number]));
              map.fitBounds(bounds, { padding: 60, maxZoom: 15, duration: 0 });
              // Lay the offline grid under the fleet, wherever the fleet is.
              const grid = map.getSource('grid') as GeoJSONSource | undefined;
              const [[w, so], [e, n]] = bounds;
              grid?.setData(gridLines([(w + e) / 2, (so + n) / 2], Math.max(e - w, n - so) + 0.05));
            }
          }
          if (s.fleet.selectedId !== drawnSelected) {
            drawnSelected = s.fleet.selectedId;
            map.setPaintProperty('vehicles', 'circle-stroke-width', [
              'case', ['==', ['get', 'id'], drawnSelected ?? ''], 4, 1.5,
            ]);
            map.setPaintProperty('vehicles', 'circle-stroke-color', [
              'case', ['==', ['get', 'id'], drawnSelected ?? ''], '#facc15', '#f8fafc',
            ]);
          }
          if (s.playback.path !== drawnPath || s.playback.cursor !== drawnCursor) {
            const fresh = s.playback.path !== drawnPath;
            drawnPath = s.playback.path;
            drawnCursor = s.playback.cursor;
            (map.getSource('playback') as GeoJSONSource).setData(
              playbackCollection(drawnPath, selectPlaybackPosition(s)),
            );
            if (fresh && drawnPath && drawnPath.points.length > 0) {
              const points = drawnPath.points.map((p): [number, number] => [p.longitude, p.latitude]);
              map.fitBounds(boundsOf(points), { padding: 80, maxZoom: 17, duration: 0 });
            }
          }
          const route = routeOf(s);
          if (route !== drawnRoute) {
            drawnRoute = route;
            (map.getSource('route') as GeoJSONSource).setData(routeCollection(route));
          }
        };
        const schedule = () => {
          if (timer !== null) return;
          const every = mapRefreshInterval(config.mapRefreshMs, cache.size);
          const wait = Math.max(0, every - (performance.now() - lastDraw));
          timer = setTimeout(() => requestAnimationFrame(draw), wait);
        };
        unsubscribe = store.subscribe(schedule);
        schedule();
      });

      const selectAt = (e: MapMouseEvent) => {
        if (store.getState().ui.picking) {
          dispatch(waypointPicked({ latitude: e.lngLat.lat, longitude: e.lngLat.lng }));
          return;
        }
        const hits = map.queryRenderedFeatures(e.point, { layers: ['vehicles', 'clusters'] });
        const hit = hits[0];
        if (!hit) {
          setPopup(null);
          return;
        }
        if (hit.layer.id === 'clusters') {
          const clusterId = hit.properties.cluster_id as number;
          void clusterExpansionZoom(map.getSource('vehicles'), clusterId).then((zoom) =>
            map.easeTo({ center: (hit.geometry as GeoJSON.Point).coordinates as [number, number], zoom }),
          );
          return;
        }
        const id = hit.properties.id as string;
        dispatch(vehicleSelected(id));
        setPopup({ id, x: e.point.x, y: e.point.y });
      };
      map.on('click', selectAt);
      for (const layer of ['vehicles', 'clusters']) {
        map.on('mouseenter', layer, () => (map.getCanvas().style.cursor = 'pointer'));
        map.on('mouseleave', layer, () => (map.getCanvas().style.cursor = ''));
      }
    });
    return () => {
      disposed = true;
      unsubscribe();
      if (timer !== null) clearTimeout(timer);
      mapRef.current?.remove();
      mapRef.current = null;
      delete window.__fleetMap;
    };
  }, [config, store, dispatch]);

  // Keep the popup on its vehicle as it moves.
  useEffect(() => {
    const map = mapRef.current;
    if (!map || !popupVehicle || !popup) return;
    const p = map.project([popupVehicle.longitude, popupVehicle.latitude]);
    if (Math.abs(p.x - popup.x) > 0.5 || Math.abs(p.y - popup.y) > 0.5) {
      setPopup({ id: popup.id, x: p.x, y: p.y });
    }
  }, [popupVehicle, popup]);
  const popupId = popup?.id ?? null;
  useEffect(() => {
    const map = mapRef.current;
    if (!map || !popupId) return;
    const follow = () => {
      const v = store.getState().fleet.vehicles[popupId];
      if (!v) return;
      const p = map.project([v.longitude, v.latitude]);
      setPopup((old) =>
        old && old.id === popupId && (old.x !== p.x || old.y !== p.y) ? { id: old.id, x: p.x, y: p.y } : old,
      );
    };
    map.on('move', follow);
    return () => {
      map.off('move', follow);
    };
  }, [popupId, store]);

  // A map that was hidden (display: none) must measure its container again.
  useEffect(() => {
    if (visible) mapRef.current?.resize();
  }, [visible]);

  return (
    <div className={`map-wrapper${picking ? ' picking' : ''}`} data-testid="fleet-map" data-engine={engine}>
      <div ref={containerRef} className="map-container" />
      <div className="vehicle-count" data-testid="vehicle-count">
        {timeTraveling ? 'Past view' : `${activeCount} vehicles active`}
      </div>
      <TimeTravelBar />
      {popup && popupVehicle && !picking && (
        <div className="vehicle-popup" data-testid="vehicle-popup" style={{ left: popup.x, top: popup.y }}>
          <button className="popup-close" aria-label="Close" onClick={() => setPopup(null)}>
            ×
          </button>
          <strong>{popupVehicle.vehicle_id}</strong>
          <div>Speed: {popupVehicle.speed_kmh.toFixed(1)} km/h</div>
          <div>Battery: {popupVehicle.battery_pct.toFixed(0)}%</div>
          <div>Status: {popupVehicle.status}</div>
          {popupVehicle.alerts && popupVehicle.alerts.length > 0 && (
            <div className="popup-alerts">Alerts: {popupVehicle.alerts.join(', ')}</div>
          )}
        </div>
      )}
    </div>
  );
}
