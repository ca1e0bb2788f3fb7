/**
 * The daily report's choices: the parameters it was last run with (the fleet is the fleet
 * chosen), the vehicle whose days are open and the vehicles table's sort. They are what the
 * page's URL keeps (see `urlState`), so a reload shows the same report.
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import { fleetChosen } from './fleetSlice';
import {
  browserUtcOffset,
  defaultReportParams,
  DEFAULT_VEHICLE_SORT,
  nextSort,
  type ReportParams,
  type VehicleSort,
  type VehicleSortKey,
} from './reports';

export interface ReportsState {
  /** The fleet the vehicle filter and the open vehicle are of (null: not known yet). */
  fleetId: string | null;
  params: ReportParams;
  /** The vehicle whose daily rows are shown under its row. */
  openVehicleId: string | null;
  sort: VehicleSort;
}

/** The last seven days ending today, at the browser's offset. */
export function initialReportsState(now = Date.now(), utcOffsetMinutes = browserUtcOffset(new Date(now))): ReportsState {
  return {
    fleetId: null,
    params: defaultReportParams(now, utcOffsetMinutes),
    openVehicleId: null,
    sort: DEFAULT_VEHICLE_SORT,
  };
}

const reportsSlice = createSlice({
  name: 'reports',
  // Lazy: "today" is the day the store is made (or reset by a logout), not the module's load.
  initialState: () => initialReportsState(),
  reducers: {
    reportRun: (s, a: PayloadAction<ReportParams>) => {
      s.params = a.payload;
      // A vehicle filtered out of the report has no rows to show.
      if (a.payload.vehicleId && s.openVehicleId !== a.payload.vehicleId) s.openVehicleId = null;
    },
    reportVehicleToggled: (s, a: PayloadAction<string>) => {
      s.openVehicleId = s.openVehicleId === a.payload ? null : a.payload;
    },
    reportSortChosen: (s, a: PayloadAction<VehicleSortKey>) => {
      s.sort = nextSort(s.sort, a.payload);
    },
  },
  extraReducers: (b) => {
    // Another fleet's vehicles are not this one's (the first fleet chosen keeps a link's).
    b.addCase(fleetChosen, (s, a) => {
      if (s.fleetId !== null && s.fleetId !== a.payload) {
        s.params.vehicleId = null;
        s.openVehicleId = null;
      }
      s.fleetId = a.payload;
    });
  },
});

export const { reportRun, reportVehicleToggled, reportSortChosen } = reportsSlice.actions;
export default reportsSlice.reducer;
