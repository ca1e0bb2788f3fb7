/**
 * Trip playback of one vehicle: its path over a window (simplified by the server), a cursor
 * in time that the slider sets and the play loop advances at 1×–60×, and the position at the
 * cursor, interpolated between the path's points.
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { PathPoint, VehiclePath } from '../types';
import type { RootState } from '.';
import { createAppThunk, errorMessage } from './thunk';

export const PLAYBACK_SPEEDS = [1, 5, 10, 30, 60] as const;

/** Windows the panel offers, back from now, in minutes. */
export const PLAYBACK_WINDOWS = [
  { minutes: 15, label: 'Last 15 minutes' },
  { minutes: 60, label: 'Last hour' },
  { minutes: 360, label: 'Last 6 hours' },
  { minutes: 1440, label: 'Last 24 hours' },
] as const;

interface PlaybackState {
  vehicleId: string | null;
  status: 'idle' | 'loading' | 'loaded' | 'error';
  error: string | null;
  path: VehiclePath | null;
  /** Point times in ms, parallel to `path.points`. */
  times: number[];
  /** The instant shown, ms since the epoch. */
  cursor: number;
  playing: boolean;
  speed: number;
}

const initialState: PlaybackState = {
  vehicleId: null,
  status: 'idle',
  error: null,
  path: null,
  times: [],
  cursor: 0,
  playing: false,
  speed: 10,
};

export const loadPath = createAppThunk(
  'playback/load',
  async (arg: { vehicleId: string; minutes: number }, { extra, rejectWithValue }) => {
    const to = new Date();
    const from = new Date(to.getTime() - arg.minutes * 60_000);
    try {
      return await extra.api.vehiclePath(arg.vehicleId, { from: from.toISOString(), to: to.toISOString() });
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

const playbackSlice = createSlice({
  name: 'playback',
  initialState,
  reducers: {
    cursorSet(state, action: PayloadAction<number>) {
      state.cursor = clamp(action.payload, state.times);
    },
    playToggled(state) {
      if (!state.times.length) return;
      // Play from the start again once the end was reached.
      const [first, end] = [state.times[0]!, state.times[state.times.length - 1]!];
      if (!state.playing && state.cursor >= end) state.cursor = first;
      state.playing = !state.playing;
    },
    speedSet(state, action: PayloadAction<number>) {
      state.speed = action.payload;
    },
    /** Advances the cursor by `elapsedMs` of wall time at the chosen speed; stops at the end. */
    ticked(state, action: PayloadAction<number>) {
      if (!state.playing || !state.times.length) return;
      const end = state.times[state.times.length - 1]!;
      state.cursor = Math.min(end, state.cursor + action.payload * state.speed);
      if (state.cursor >= end) state.playing = false;
    },
    playbackClosed() {
      return initialState;
    },
  },
  extraReducers: (builder) => {
    builder
      .addCase(loadPath.pending, (state, action) => {
        state.vehicleId = action.meta.arg.vehicleId;
        state.status = 'loading';
        state.error = null;
        state.playing = false;
      })
      .addCase(loadPath.fulfilled, (state, action) => {
        if (state.vehicleId !== action.meta.arg.vehicleId) return;
        state.status = 'loaded';
        state.path = action.payload;
        state.times = action.payload.points.map((p) => Date.parse(p.timestamp));
        state.cursor = state.times[0] ?? 0;
      })
      .addCase(loadPath.rejected, (state, action) => {
        if (state.vehicleId !== action.meta.arg.vehicleId) return;
        state.status = 'error';
        state.error = action.payload ?? action.error.message ?? 'request failed';
      });
  },
});

function clamp(t: number, times: number[]): number {
  if (!times.length) return t;
  return Math.min(times[times.length - 1]!, Math.max(times[0]!, t));
}

/** Where the vehicle was at `cursor`: between two points, linearly in time. */
export function positionAt(points: PathPoint[], times: number[], cursor: number): PathPoint | null {
  const last = points.length - 1;
  if (last < 0 || times.length !== points.length) return null;
  if (cursor <= times[0]!) return points[0]!;
  if (cursor >= times[last]!) return points[last]!;
  // The last point at or before the cursor.
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= cursor) lo = mid;
    else hi = mid;
  }
  const [a, b] = [points[lo]!, points[hi]!];
  const f = (cursor - times[lo]!) / (times[hi]! - times[lo]! || 1);
  return {
    ...a,
    timestamp: new Date(cursor).toISOString(),
    latitude: a.latitude + (b.latitude - a.latitude) * f,
    longitude: a.longitude + (b.longitude - a.longitude) * f,
    speed_kmh: a.speed_kmh + (b.speed_kmh - a.speed_kmh) * f,
  };
}

export const selectPlayback = (s: RootState) => s.playback;
export const selectPlaybackPosition = (s: RootState): PathPoint | null =>
  s.playback.path ? positionAt(s.playback.path.points, s.playback.times, s.playback.cursor) : null;

export const { cursorSet, playToggled, speedSet, ticked, playbackClosed } = playbackSlice.actions;
export default playbackSlice.reducer;
