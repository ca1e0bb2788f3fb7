/**
 * What each vehicle told its transport it can do (a VDA 5050 factsheet), fetched when its
 * detail opens. A 404 is an answer, not an error: the vehicle described nothing.
 */
import { createSlice } from '@reduxjs/toolkit';
import { ApiError } from '../api/client';
import type { VehicleCapabilities } from '../types';
import type { RootState } from '.';
import { createAppThunk, errorMessage } from './thunk';

export type CapabilitiesEntry =
  | { status: 'loading' }
  | { status: 'none' }
  | { status: 'loaded'; data: VehicleCapabilities }
  | { status: 'error'; error: string };

interface CapabilitiesState {
  byVehicleId: Record<string, CapabilitiesEntry>;
}

const initialState: CapabilitiesState = { byVehicleId: {} };

export const fetchCapabilities = createAppThunk(
  'capabilities/fetch',
  async (vehicleId: string, { extra, rejectWithValue }) => {
    try {
      return await extra.api.vehicleCapabilities(vehicleId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      return rejectWithValue(errorMessage(e));
    }
  },
);

const capabilitiesSlice = createSlice({
  name: 'capabilities',
  initialState,
  reducers: {},
  extraReducers: (builder) => {
    builder
      .addCase(fetchCapabilities.pending, (state, action) => {
        // A refresh keeps what is shown until the answer comes.
        if (!state.byVehicleId[action.meta.arg]) state.byVehicleId[action.meta.arg] = { status: 'loading' };
      })
      .addCase(fetchCapabilities.fulfilled, (state, action) => {
        state.byVehicleId[action.meta.arg] = action.payload
          ? { status: 'loaded', data: action.payload }
          : { status: 'none' };
      })
      .addCase(fetchCapabilities.rejected, (state, action) => {
        state.byVehicleId[action.meta.arg] = {
          status: 'error',
          error: action.payload ?? action.error.message ?? 'request failed',
        };
      });
  },
});

export const selectCapabilities = (state: RootState, vehicleId: string): CapabilitiesEntry | undefined =>
  state.capabilities.byVehicleId[vehicleId];

export default capabilitiesSlice.reducer;
