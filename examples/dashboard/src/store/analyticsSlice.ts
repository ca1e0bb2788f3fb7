/** Analytics: the selected vehicle's speed/battery series and the fleet performance report. */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { FleetPerformanceReport, SeriesPoint } from '../types';
import type { TimeWindow } from '../api/client';
import { ApiError } from '../api/client';
import { createAppThunk, errorMessage } from './thunk';

export interface VehicleSeries {
  vehicleId: string;
  speed: SeriesPoint[];
  battery: SeriesPoint[];
}

export interface AnalyticsState {
  series: VehicleSeries | null;
  seriesError: string | null;
  /** Range preset in minutes for the fleet report, or null for the custom `from`/`to`. */
  rangeMinutes: number | null;
  customRange: TimeWindow | null;
  report: FleetPerformanceReport | null;
  reportLoading: boolean;
  reportError: string | null;
}

export const initialAnalyticsState: AnalyticsState = {
  series: null,
  seriesError: null,
  rangeMinutes: 60,
  customRange: null,
  report: null,
  reportLoading: false,
  reportError: null,
};

/** The window ending `now` for a preset, or the custom window. */
export function windowOf(s: AnalyticsState, now: number): TimeWindow {
  if (s.rangeMinutes === null && s.customRange) return s.customRange;
  const minutes = s.rangeMinutes ?? 60;
  return {
    from: new Date(now - minutes * 60_000).toISOString(),
    to: new Date(now).toISOString(),
  };
}

/** A bucket width giving about 60 points over the window, at least one minute. */
export function bucketMinutesFor(w: TimeWindow): number {
  const minutes = (Date.parse(w.to) - Date.parse(w.from)) / 60_000;
  return Math.max(1, Math.round(minutes / 60));
}

export const fetchVehicleSeries = createAppThunk(
  'analytics/vehicleSeries',
  async (arg: { vehicleId: string; window: TimeWindow }, { extra, rejectWithValue }) => {
    const bucket = bucketMinutesFor(arg.window);
    try {
      const speed = await extra.api.speedSeries(arg.vehicleId, arg.window, bucket);
      let battery: SeriesPoint[] = [];
      try {
        battery = await extra.api.metricSeries(arg.vehicleId, 'battery_pct', arg.window, bucket);
      } catch (e) {
        // A server without the generic series endpoint still gets a speed chart.
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
      }
      return { vehicleId: arg.vehicleId, speed, battery };
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

export const fetchFleetReport = createAppThunk(
  'analytics/fleetReport',
  async (arg: { fleetId: string; window: TimeWindow }, { extra, rejectWithValue }) => {
    try {
      return await extra.api.fleetPerformance(arg.fleetId, arg.window);
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

const analyticsSlice = createSlice({
  name: 'analytics',
  initialState: initialAnalyticsState,
  reducers: {
    rangePresetChosen: (s, a: PayloadAction<number>) => {
      s.rangeMinutes = a.payload;
      s.customRange = null;
    },
    customRangeChosen: (s, a: PayloadAction<TimeWindow>) => {
      s.rangeMinutes = null;
      s.customRange = a.payload;
    },
  },
  extraReducers: (b) => {
    b.addCase(fetchVehicleSeries.fulfilled, (s, a) => {
      s.series = a.payload;
      s.seriesError = null;
    })
      .addCase(fetchVehicleSeries.rejected, (s, a) => {
        s.seriesError = a.payload ?? 'Could not load the series';
      })
      .addCase(fetchFleetReport.pending, (s) => {
        s.reportLoading = true;
      })
      .addCase(fetchFleetReport.fulfilled, (s, a) => {
        s.reportLoading = false;
        s.report = a.payload;
        s.reportError = null;
      })
      .addCase(fetchFleetReport.rejected, (s, a) => {
        s.reportLoading = false;
        s.reportError = a.payload ?? 'Could not load the report';
      });
  },
});

export const { rangePresetChosen, customRangeChosen } = analyticsSlice.actions;
export default analyticsSlice.reducer;
