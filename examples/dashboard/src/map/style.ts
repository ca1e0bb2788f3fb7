/**
 * The offline map style and the vehicle layers.
 *
 * The default style needs no network at all (a plant floor may have none): a plain background
 * and a metric-looking grid generated here around the fleet's centre. Nothing in it asks for
 * tiles, sprites or glyphs; labels that a map would draw with glyphs (cluster counts) are drawn
 * as canvas-made icons instead (see `icons.ts`).
 */
import type { AddLayerObject, ExpressionSpecification, StyleSpecification } from 'maplibre-gl';
import type { VehicleStatus } from '../types';

export const STATUS_COLORS: Record<VehicleStatus, string> = {
  MOVING: '#22c55e',
  IDLE: '#94a3b8',
  STOPPED: '#f59e0b',
  CHARGING: '#38bdf8',
  LOW_BATTERY: '#eab308',
  ALERT: '#ef4444',
  OFFLINE: '#475569',
};
export const ALERT_COLOR = '#ef4444';

/** Grid lines every `step` degrees over ±`span` degrees around the centre (major every 5th). */
export function gridLines(center: [number, number], span = 0.12, step = 0.004) {
  const features: GeoJSON.Feature<GeoJSON.LineString, { major: boolean }>[] = [];
  const n = Math.ceil(span / step);
  const [lon0, lat0] = [
    Math.round(center[0] / step) * step,
    Math.round(center[1] / step) * step,
  ];
  for (let i = -n; i <= n; i++) {
    const major = i % 5 === 0;
    const lon = lon0 + i * step;
    const lat = lat0 + i * step;
    features.push({
      type: 'Feature',
      properties: { major },
      geometry: { type: 'LineString', coordinates: [[lon, lat0 - span], [lon, lat0 + span]] },
    });
    features.push({
      type: 'Feature',
      properties: { major },
      geometry: { type: 'LineString', coordinates: [[lon0 - span, lat], [lon0 + span, lat]] },
    });
  }
  return { type: 'FeatureCollection' as const, features };
}

export function offlineStyle(center: [number, number]): StyleSpecification {
  return {
    version: 8,
    name: 'VehicleOps offline',
    sources: { grid: { type: 'geojson', data: gridLines(center) } },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#0b1220' } },
      {
        id: 'grid-minor',
        type: 'line',
        source: 'grid',
        filter: ['!', ['get', 'major']],
        paint: { 'line-color': '#1e293b', 'line-width': 1 },
      },
      {
        id: 'grid-major',
        type: 'line',
        source: 'grid',
        filter: ['get', 'major'],
        paint: { 'line-color': '#334155', 'line-width': 1.5 },
      },
    ],
  };
}

const statusColor = ['match', ['get', 'status']] as unknown[];
for (const [status, color] of Object.entries(STATUS_COLORS)) statusColor.push(status, color);
statusColor.push('#94a3b8');
const statusColorExpr = statusColor as ExpressionSpecification;

/**
 * Layer definitions for the vehicles source (clustered), a trip being played back (its path and
 * cursor) and the waypoint/route source.
 */
export const vehicleLayers: AddLayerObject[] = [
  {
    id: 'clusters',
    type: 'circle',
    source: 'vehicles',
    filter: ['has', 'point_count'],
    paint: {
      'circle-color': ['case', ['>', ['get', 'alerts'], 0], '#7f1d1d', '#1d4ed8'],
      'circle-opacity': 0.85,
      'circle-radius': ['step', ['get', 'point_count'], 14, 25, 18, 100, 24, 1000, 30],
      'circle-stroke-color': ['case', ['>', ['get', 'alerts'], 0], ALERT_COLOR, '#93c5fd'],
      'circle-stroke-width': 2,
    },
  },
  {
    id: 'cluster-count',
    type: 'symbol',
    source: 'vehicles',
    filter: ['has', 'point_count'],
    layout: {
      'icon-image': ['concat', 'count:', ['get', 'point_count_abbreviated']],
      'icon-allow-overlap': true,
      'icon-ignore-placement': true,
    },
  },
  {
    id: 'vehicle-alert-halo',
    type: 'circle',
    source: 'vehicles',
    filter: ['all', ['!', ['has', 'point_count']], ['==', ['get', 'alert'], 1]],
    paint: { 'circle-color': ALERT_COLOR, 'circle-opacity': 0.35, 'circle-radius': 14 },
  },
  {
    id: 'vehicles',
    type: 'circle',
    source: 'vehicles',
    filter: ['!', ['has', 'point_count']],
    paint: {
      'circle-color': ['case', ['==', ['get', 'alert'], 1], ALERT_COLOR, statusColorExpr],
      'circle-radius': 7,
      'circle-stroke-color': '#f8fafc',
      'circle-stroke-width': 1.5,
    },
  },
  {
    id: 'vehicle-heading',
    type: 'symbol',
    source: 'vehicles',
    // Symbol placement runs on the main thread for every source refresh; arrows are only
    // legible close up, so they cost nothing while the whole fleet is in view.
    minzoom: 15,
    filter: ['all', ['!', ['has', 'point_count']], ['==', ['get', 'status'], 'MOVING']],
    layout: {
      'icon-image': 'heading-arrow',
      'icon-rotate': ['get', 'heading'],
      'icon-rotation-alignment': 'map',
      'icon-allow-overlap': true,
      'icon-ignore-placement': true,
    },
  },
  {
    id: 'playback-line',
    type: 'line',
    source: 'playback',
    filter: ['==', ['geometry-type'], 'LineString'],
    paint: { 'line-color': '#38bdf8', 'line-width': 3, 'line-opacity': 0.85 },
  },
  {
    id: 'playback-cursor',
    type: 'circle',
    source: 'playback',
    filter: ['==', ['geometry-type'], 'Point'],
    paint: {
      'circle-color': '#38bdf8',
      'circle-radius': 8,
      'circle-stroke-color': '#f8fafc',
      'circle-stroke-width': 3,
    },
  },
  {
    id: 'route-line',
    type: 'line',
    source: 'route',
    filter: ['==', ['geometry-type'], 'LineString'],
    paint: { 'line-color': '#facc15', 'line-width': 2, 'line-dasharray': [2, 1] },
  },
  {
    id: 'route-points',
    type: 'circle',
    source: 'route',
    filter: ['==', ['geometry-type'], 'Point'],
    paint: {
      'circle-color': '#facc15',
      'circle-radius': 5,
      'circle-stroke-color': '#0b1220',
      'circle-stroke-width': 2,
    },
  },
];

/** Properties of one vehicle feature; short names keep the worker message small. */
export interface VehicleProps {
  id: string;
  status: VehicleStatus;
  alert: 0 | 1;
  heading: number;
}
