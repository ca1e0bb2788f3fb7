/**
 * The fleet's live vehicles, the selection, list filters and the summary cards.
 *
 * `vehiclesReceived` is the hot path (one call per animation frame with up to a whole fleet):
 * it builds the new vehicles record in one copy instead of going through Immer per vehicle, and
 * drops readings older than the one already shown (per-vehicle `seq`).
 */
import { createSelector, createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { FleetSummary, VehicleListRow, VehicleState, VehicleStatus } from '../types';
import { createAppThunk, errorMessage } from './thunk';

export interface FleetState {
  fleetId: string | null;
  vehicles: Record<string, VehicleState>;
  /** Bumped on every change of `vehicles`, so the map redraws only when something moved. */
  version: number;
  /**
   * Vehicles in `vehicles` not OFFLINE ("N vehicles active"), kept up to date by each merge:
   * counting a 10,000-vehicle record on every batch cost more than the merge itself.
   */
  activeCount: number;
  selectedId: string | null;
  search: string;
  statusFilter: VehicleStatus | 'ALL';
  summary: FleetSummary | null;
  error: string | null;
}

export const initialFleetState: FleetState = {
  fleetId: null,
  vehicles: {},
  version: 0,
  activeCount: 0,
  selectedId: null,
  search: '',
  statusFilter: 'ALL',
  summary: null,
  error: null,
};

export const fetchVehicles = createAppThunk(
  'fleet/fetchVehicles',
  async (fleetId: string, { extra, rejectWithValue }) => {
    try {
      const all: VehicleState[] = [];
      const limit = 200;
      for (let page = 1; page <= 100; page++) {
        const res = await extra.api.fleetVehicles(fleetId, page, limit);
        for (const row of res.data) {
          const v = fromListRow(row);
          if (v) all.push(v);
        }
        if (res.data.length < limit || all.length >= res.total) break;
      }
      return all;
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

/**
 * A vehicles-list row as a live state. Rows of vehicles that never reported carry no position
 * and are left to the live stream; missing figures read as 0.
 */
export function fromListRow(row: VehicleListRow): VehicleState | null {
  if (typeof row.latitude !== 'number' || typeof row.longitude !== 'number') return null;
  return {
    ...row,
    latitude: row.latitude,
    longitude: row.longitude,
    speed_kmh: row.speed_kmh ?? 0,
    battery_pct: row.battery_pct ?? 0,
    engine_temp_c: row.engine_temp_c ?? undefined,
    load_pct: row.load_pct ?? undefined,
  };
}

export const fetchSummary = createAppThunk(
  'fleet/fetchSummary',
  async (fleetId: string, { extra, rejectWithValue }) => {
    try {
      return await extra.api.fleetSummary(fleetId);
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

/**
 * Whether `v` is an older reading than `shown` (it arrived late). A lower sequence number alone
 * is not enough: a vehicle or simulator that restarts counts from zero again, with newer times.
 */
export function isOlder(v: VehicleState, shown: VehicleState): boolean {
  if (v.seq === undefined || shown.seq === undefined || v.seq >= shown.seq) return false;
  if (!v.timestamp || !shown.timestamp) return true;
  return Date.parse(v.timestamp) <= Date.parse(shown.timestamp);
}

/** Whether a vehicle counts in "N vehicles active". */
function isActive(v: VehicleState | undefined): boolean {
  return v !== undefined && v.status !== 'OFFLINE';
}

/**
 * Merges readings into `current`, keeping the newer of two readings of the same vehicle; `null`
 * when nothing changed. `activeDelta` is how the number of active vehicles changed.
 */
export function mergeVehicles(
  current: Record<string, VehicleState>,
  batch: readonly VehicleState[],
): { vehicles: Record<string, VehicleState>; activeDelta: number } | null {
  let next: Record<string, VehicleState> | null = null;
  let activeDelta = 0;
  for (const v of batch) {
    const old = next ? next[v.vehicle_id] : current[v.vehicle_id];
    if (old && isOlder(v, old)) continue;
    // REST rows carry no `alerts`; keep the live alert state until a live update replaces it.
    const merged = old && v.alerts === undefined ? { ...v, alerts: old.alerts } : v;
    next ??= { ...current };
    next[v.vehicle_id] = merged;
    activeDelta += Number(isActive(merged)) - Number(isActive(old));
  }
  return next ? { vehicles: next, activeDelta } : null;
}

/** `state` with a merge applied (a new version, the active count moved on). */
function withMerge(
  state: FleetState,
  merge: { vehicles: Record<string, VehicleState>; activeDelta: number },
): FleetState {
  return {
    ...state,
    vehicles: merge.vehicles,
    activeCount: state.activeCount + merge.activeDelta,
    version: state.version + 1,
  };
}

const fleetSlice = createSlice({
  name: 'fleet',
  initialState: initialFleetState,
  reducers: {
    fleetChosen: (s, a: PayloadAction<string>) => {
      if (s.fleetId === a.payload) return;
      return { ...initialFleetState, fleetId: a.payload };
    },
    /** Handled by {@link fleetReducer} without Immer; declared here for the action creator. */
    vehiclesReceived: (_s, _a: PayloadAction<VehicleState[]>) => {},
    vehicleSelected: (s, a: PayloadAction<string | null>) => {
      s.selectedId = a.payload;
    },
    searchChanged: (s, a: PayloadAction<string>) => {
      s.search = a.payload;
    },
    statusFilterChanged: (s, a: PayloadAction<VehicleStatus | 'ALL'>) => {
      s.statusFilter = a.payload;
    },
  },
  extraReducers: (b) => {
    b.addCase(fetchVehicles.fulfilled, (s, a) => {
      const merge = mergeVehicles(s.vehicles as Record<string, VehicleState>, a.payload);
      if (!merge) return;
      return { ...withMerge(s as FleetState, merge), error: null };
    })
      .addCase(fetchVehicles.rejected, (s, a) => {
        s.error = a.payload ?? 'Could not load vehicles';
      })
      .addCase(fetchSummary.fulfilled, (s, a) => {
        s.summary = a.payload;
      });
  },
});

export const { fleetChosen, vehiclesReceived, vehicleSelected, searchChanged, statusFilterChanged } =
  fleetSlice.actions;

/**
 * The slice's reducer with the hot path taken out of Immer: a batch arrives every animation
 * frame, and Immer would walk (to finalize) and deep-freeze the whole vehicles record each time,
 * O(fleet) per frame. The merge below copies the record once and touches nothing else.
 */
export default function fleetReducer(state: FleetState | undefined, action: { type: string }): FleetState {
  if (state && vehiclesReceived.match(action)) {
    const merge = mergeVehicles(state.vehicles, action.payload);
    return merge ? withMerge(state, merge) : state;
  }
  return fleetSlice.reducer(state, action);
}

type WithFleet = { fleet: FleetState };

export const selectVehicles = (s: WithFleet) => s.fleet.vehicles;
export const selectSelectedVehicle = (s: WithFleet) =>
  s.fleet.selectedId ? (s.fleet.vehicles[s.fleet.selectedId] ?? null) : null;

/** Vehicles reporting and not offline: the "N vehicles active" figure. */
export const selectActiveCount = (s: WithFleet) => s.fleet.activeCount;

/** The list's rows: search on the id (case-insensitive), filter on the status, sorted by id. */
export const selectFilteredVehicles = createSelector(
  [selectVehicles, (s: WithFleet) => s.fleet.search, (s: WithFleet) => s.fleet.statusFilter],
  (vehicles, search, status) => {
    const needle = search.trim().toLowerCase();
    const rows: VehicleState[] = [];
    for (const id in vehicles) {
      const v = vehicles[id]!;
      if (status !== 'ALL' && v.status !== status) continue;
      if (needle && !id.toLowerCase().includes(needle)) continue;
      rows.push(v);
    }
    rows.sort((a, b) => (a.vehicle_id < b.vehicle_id ? -1 : a.vehicle_id > b.vehicle_id ? 1 : 0));
    return rows;
  },
);

/** The fleet's vehicle ids, sorted; the same array while the set of vehicles is the same. */
let lastIds: string[] = [];
export const selectVehicleIds = createSelector([selectVehicles], (vehicles) => {
  const ids = Object.keys(vehicles).sort();
  if (ids.length === lastIds.length && ids.every((id, i) => id === lastIds[i])) return lastIds;
  lastIds = ids;
  return ids;
});
