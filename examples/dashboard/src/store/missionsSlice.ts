/** Missions of the fleet: created from waypoints picked on the map, progress kept live. */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { Mission, Waypoint } from '../types';
import { createAppThunk, errorMessage } from './thunk';

export interface MissionsState {
  byId: Record<string, Mission>;
  /** Ids, newest first. */
  order: string[];
  creating: boolean;
  error: string | null;
}

export const initialMissionsState: MissionsState = {
  byId: {},
  order: [],
  creating: false,
  error: null,
};

export const createMission = createAppThunk(
  'missions/create',
  async (
    arg: {
      fleetId: string;
      vehicleId: string;
      missionType: string;
      priority: string;
      waypoints: Waypoint[];
    },
    { extra, rejectWithValue },
  ) => {
    try {
      const created = await extra.api.createMission({
        fleet_id: arg.fleetId,
        vehicle_id: arg.vehicleId,
        mission_type: arg.missionType,
        priority: arg.priority,
        waypoints: arg.waypoints,
      });
      // The creation answer is short (waypoints as a count); fetch the full record, and keep
      // the route we sent so the map can draw it whatever the record carries.
      let full: Mission = created;
      try {
        full = await extra.api.mission(created.id);
      } catch {
        // The short answer is enough to show the mission; progress frames fill it in.
      }
      return Array.isArray(full.waypoints) ? full : { ...full, waypoints: arg.waypoints };
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

export const fetchMission = createAppThunk(
  'missions/fetchOne',
  async (id: string, { extra, rejectWithValue }) => {
    try {
      return await extra.api.mission(id);
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

export const cancelMission = createAppThunk(
  'missions/cancel',
  async (id: string, { extra, rejectWithValue }) => {
    try {
      return await extra.api.cancelMission(id);
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

export const fetchMissions = createAppThunk(
  'missions/fetchAll',
  async (fleetId: string, { extra, rejectWithValue }) => {
    try {
      return (await extra.api.missions(fleetId)).data;
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

/** Waypoints reached and total, whichever shape the server sent. */
export function missionProgress(m: Mission): { done: number; total: number; pct: number } {
  const total =
    m.total_waypoints ?? (Array.isArray(m.waypoints) ? m.waypoints.length : (m.waypoints ?? 0));
  const done = m.completed_waypoints ?? 0;
  const pct =
    m.completion_pct ?? (m.status === 'COMPLETED' ? 100 : total ? (100 * done) / total : 0);
  return { done, total, pct };
}

function upsert(s: MissionsState, m: Mission): void {
  const known = s.byId[m.id];
  // A lifecycle frame may omit the waypoint list; keep the one we have.
  const merged: Mission = known ? { ...known, ...m } : m;
  if (known && Array.isArray(known.waypoints) && !Array.isArray(m.waypoints)) {
    merged.waypoints = known.waypoints;
  }
  s.byId[m.id] = merged;
  if (!known) s.order.unshift(m.id);
}

const missionsSlice = createSlice({
  name: 'missions',
  initialState: initialMissionsState,
  reducers: {
    missionUpdated: (s, a: PayloadAction<Mission>) => upsert(s, a.payload),
  },
  extraReducers: (b) => {
    b.addCase(createMission.pending, (s) => {
      s.creating = true;
      s.error = null;
    })
      .addCase(createMission.fulfilled, (s, a) => {
        s.creating = false;
        upsert(s, a.payload);
      })
      .addCase(createMission.rejected, (s, a) => {
        s.creating = false;
        s.error = a.payload ?? 'Could not create the mission';
      })
      .addCase(fetchMission.fulfilled, (s, a) => upsert(s, a.payload))
      .addCase(cancelMission.fulfilled, (s, a) => upsert(s, a.payload))
      .addCase(cancelMission.rejected, (s, a) => {
        s.error = a.payload ?? 'Could not cancel the mission';
      })
      .addCase(fetchMissions.fulfilled, (s, a) => {
        for (const m of a.payload) upsert(s, m);
        // The list is the server's order (newest first); missions only known from live frames
        // (no creation time here) stay on top, as the newest.
        const created = (id: string) => Date.parse(s.byId[id]?.created_at ?? '') || Infinity;
        s.order.sort((x, y) => created(y) - created(x) || (y < x ? -1 : y > x ? 1 : 0));
      })
      .addCase(fetchMissions.rejected, (s, a) => {
        s.error = a.payload ?? 'Could not load the missions';
      });
  },
});

export const { missionUpdated } = missionsSlice.actions;
export default missionsSlice.reducer;
