/**
 * UI state shared by distant components: the current view (and Analytics section), the
 * connection indicator, the confirmation dialog, and waypoint picking on the map (for REROUTE
 * and new missions).
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { CommandKind, Waypoint } from '../types';
import type { ConnectionInfo } from '../ws/fleetSocket';

/** `audit` is for ADMIN and MANAGER operators only (see `canReadAudit`). */
export type View = 'map' | 'analytics' | 'missions' | 'audit';
export const ALL_VIEWS: readonly View[] = ['map', 'missions', 'analytics', 'audit'];
/** The Analytics view's sections. */
export type AnalyticsTab = 'performance' | 'reports';
export const ANALYTICS_TABS: readonly AnalyticsTab[] = ['performance', 'reports'];
export type PickPurpose = 'reroute' | 'mission';

export interface UiState {
  view: View;
  analyticsTab: AnalyticsTab;
  connection: ConnectionInfo;
  /** A command waiting for the operator's confirmation. */
  confirming: { vehicleId: string; command: CommandKind; waypoints: Waypoint[] } | null;
  picking: PickPurpose | null;
  picked: Waypoint[];
}

export const initialUiState: UiState = {
  view: 'map',
  analyticsTab: 'performance',
  connection: { phase: 'idle', attempt: 0, retryInMs: null, reconnects: 0, lastError: null },
  confirming: null,
  picking: null,
  picked: [],
};

const uiSlice = createSlice({
  name: 'ui',
  initialState: initialUiState,
  reducers: {
    viewChosen: (s, a: PayloadAction<View>) => {
      s.view = a.payload;
    },
    analyticsTabChosen: (s, a: PayloadAction<AnalyticsTab>) => {
      s.analyticsTab = a.payload;
    },
    connectionChanged: (s, a: PayloadAction<ConnectionInfo>) => {
      s.connection = a.payload;
    },
    confirmRequested: (s, a: PayloadAction<NonNullable<UiState['confirming']>>) => {
      s.confirming = a.payload;
    },
    confirmClosed: (s) => {
      s.confirming = null;
    },
    pickStarted: (s, a: PayloadAction<PickPurpose>) => {
      s.picking = a.payload;
      s.picked = [];
    },
    waypointPicked: (s, a: PayloadAction<{ latitude: number; longitude: number }>) => {
      if (!s.picking) return;
      s.picked.push({ ...a.payload, order: s.picked.length + 1 });
    },
    lastWaypointRemoved: (s) => {
      s.picked.pop();
    },
    pickEnded: (s) => {
      s.picking = null;
      s.picked = [];
    },
  },
});

export const {
  viewChosen,
  analyticsTabChosen,
  connectionChanged,
  confirmRequested,
  confirmClosed,
  pickStarted,
  waypointPicked,
  lastWaypointRemoved,
  pickEnded,
} = uiSlice.actions;
export default uiSlice.reducer;
