/** Vehicle features for the map source, sent as diffs. */
import type { VehicleState } from '../types';
import type { VehicleProps } from './style';

export type VehicleFeature = GeoJSON.Feature<GeoJSON.Point, VehicleProps>;

/**
 * Turns the vehicles record into map features, remembering what the map already has, so a
 * refresh sends the map only the vehicles that changed: posting a whole 10,000-feature
 * collection to the map's worker on every refresh costs more than everything else together.
 */
export class FeatureCache {
  private readonly byId = new Map<string, { state: VehicleState; feature: VehicleFeature }>();

  /** Vehicles the map has. */
  get size(): number {
    return this.byId.size;
  }

  /** The features of every vehicle, and the changes since the previous call. */
  sync(vehicles: Record<string, VehicleState>): {
    all: VehicleFeature[];
    changed: VehicleFeature[];
    removed: string[];
  } {
    const all: VehicleFeature[] = [];
    const changed: VehicleFeature[] = [];
    for (const id in vehicles) {
      const state = vehicles[id]!;
      let entry = this.byId.get(id);
      if (!entry || entry.state !== state) {
        entry = {
          state,
          feature: {
            type: 'Feature',
            id,
            geometry: { type: 'Point', coordinates: [state.longitude, state.latitude] },
            properties: {
              id,
              status: state.status,
              alert: state.alerts && state.alerts.length ? 1 : 0,
              heading: state.heading_deg ?? 0,
            },
          },
        };
        this.byId.set(id, entry);
        changed.push(entry.feature);
      }
      all.push(entry.feature);
    }
    const removed: string[] = [];
    if (this.byId.size > all.length) {
      for (const id of this.byId.keys()) {
        if (!(id in vehicles)) {
          this.byId.delete(id);
          removed.push(id);
        }
      }
    }
    return { all, changed, removed };
  }
}

/**
 * The map's source refresh interval for a fleet of `vehicles`: `configuredMs` (the floor) for a
 * small fleet, growing with the fleet (1 ms per vehicle) to once a second from 1,000 vehicles.
 * Every refresh re-clusters the fleet in the worker and repaints the map (50–120 ms without a
 * GPU), while a vehicle reports about once a second anyway: a large fleet refreshed 4 times a
 * second repaints 4 times for the same information, and drops most frames doing so.
 */
export function mapRefreshInterval(configuredMs: number, vehicles: number): number {
  return Math.max(configuredMs, Math.min(1000, vehicles));
}
