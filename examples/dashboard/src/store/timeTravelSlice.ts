/**
 * Time travel: the map shows the fleet as it was at an instant the operator scrubs to, instead
 * of live. Each instant is one snapshot request (each vehicle's last reading by then and the
 * alerts open then); an answer for an instant the slider has already left is dropped.
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { FleetSnapshot, VehicleState } from '../types';
import type { RootState } from '.';
import { createAppThunk, errorMessage } from './thunk';

/** How far back the slider reaches, in hours. */
export const TIME_TRAVEL_SPANS = [1, 6, 24] as const;

interface TimeTravelState {
  active: boolean;
  /** The end of the slider's range: when time travel began, ms. */
  until: number;
  hours: number;
  /** The instant asked for, ms. */
  at: number;
  status: 'idle' | 'loading' | 'loaded' | 'error';
  error: string | null;
  /** The vehicles at the instant shown, in the live record's shape; `version` counts loads. */
  vehicles: Record<string, VehicleState>;
  version: number;
  shownAt: number | null;
  openAlerts: number;
}

const initialState: TimeTravelState = {
  active: false,
  until: 0,
  hours: 1,
  at: 0,
  status: 'idle',
  error: null,
  vehicles: {},
  version: 0,
  shownAt: null,
  openAlerts: 0,
};

export const loadSnapshot = createAppThunk(
  'timeTravel/load',
  async (arg: { fleetId: string; at: number }, { extra, rejectWithValue }) => {
    try {
      return await extra.api.fleetSnapshot(arg.fleetId, new Date(arg.at).toISOString());
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

/** The snapshot's vehicles keyed by id, each with the types of its alerts open then. */
export function vehiclesOf(snapshot: FleetSnapshot): Record<string, VehicleState> {
  const alerts = new Map<string, string[]>();
  for (const a of snapshot.open_alerts) {
    alerts.set(a.vehicle_id, [...(alerts.get(a.vehicle_id) ?? []), a.alert_type]);
  }
  const out: Record<string, VehicleState> = {};
  for (const v of snapshot.vehicles) out[v.vehicle_id] = { ...v, alerts: alerts.get(v.vehicle_id) ?? [] };
  return out;
}

const timeTravelSlice = createSlice({
  name: 'timeTravel',
  initialState,
  reducers: {
    /** Starts at the present, with the slider reaching `hours` back. */
    timeTravelStarted(state, action: PayloadAction<{ now: number; hours?: number }>) {
      state.active = true;
      state.until = action.payload.now;
      state.hours = action.payload.hours ?? state.hours;
      state.at = action.payload.now;
    },
    spanChosen(state, action: PayloadAction<number>) {
      state.hours = action.payload;
      state.at = Math.max(state.at, state.until - action.payload * 3_600_000);
    },
    instantChosen(state, action: PayloadAction<number>) {
      state.at = Math.min(state.until, Math.max(state.until - state.hours * 3_600_000, action.payload));
    },
    timeTravelEnded() {
      return initialState;
    },
  },
  extraReducers: (builder) => {
    builder
      .addCase(loadSnapshot.pending, (state) => {
        state.status = 'loading';
      })
      .addCase(loadSnapshot.fulfilled, (state, action) => {
        if (!state.active || action.meta.arg.at !== state.at) return;
        state.status = 'loaded';
        state.error = null;
        state.vehicles = vehiclesOf(action.payload);
        state.version += 1;
        state.shownAt = action.meta.arg.at;
        state.openAlerts = action.payload.open_alerts.length;
      })
      .addCase(loadSnapshot.rejected, (state, action) => {
        if (!state.active || action.meta.arg.at !== state.at) return;
        state.status = 'error';
        state.error = action.payload ?? action.error.message ?? 'request failed';
      });
  },
});

export const selectTimeTravel = (s: RootState) => s.timeTravel;

export const { timeTravelStarted, spanChosen, instantChosen, timeTravelEnded } = timeTravelSlice.actions;
export default timeTravelSlice.reducer;
