/**
 * Open alerts of the fleet, newest first: loaded over REST, kept live from the WebSocket, and
 * acknowledged with operator notes.
 */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { Alert } from '../types';
import type { LiveAlert } from '../ws/fleetSocket';
import { createAppThunk, errorMessage } from './thunk';

export interface AlertsState {
  byId: Record<string, Alert>;
  /** Ids, newest first. */
  order: string[];
  /** Alert ids whose acknowledgement is in flight. */
  acknowledging: Record<string, true>;
  error: string | null;
  /** Live alerts without an id: the list must be refetched to act on them. */
  stale: boolean;
  /** List fetches in flight. */
  fetching: number;
  /**
   * Ids of live alerts received while a fetch was in flight. The server publishes an alert live
   * before storing it, so the fetch's answer may not hold it yet: replacing the list with that
   * answer alone would drop the alert from the panel until the next one.
   */
  liveDuringFetch: string[];
}

export const initialAlertsState: AlertsState = {
  byId: {},
  order: [],
  acknowledging: {},
  error: null,
  stale: false,
  fetching: 0,
  liveDuringFetch: [],
};

/** Keeps the panel bounded whatever the alert rate. */
export const MAX_ALERTS = 200;

export const fetchAlerts = createAppThunk(
  'alerts/fetch',
  async (fleetId: string, { extra, rejectWithValue }) => {
    try {
      return (await extra.api.alerts(fleetId, false)).data;
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

export const acknowledgeAlert = createAppThunk(
  'alerts/acknowledge',
  async (arg: { id: string; notes: string }, { extra, rejectWithValue }) => {
    try {
      const res = await extra.api.acknowledgeAlert(arg.id, arg.notes);
      return { ...res, id: arg.id, notes: res.notes ?? arg.notes };
    } catch (e) {
      return rejectWithValue(errorMessage(e));
    }
  },
);

function insert(s: AlertsState, alert: Alert): void {
  const known = s.byId[alert.id];
  s.byId[alert.id] = known ? { ...known, ...alert } : alert;
  if (!known) {
    s.order.unshift(alert.id);
    while (s.order.length > MAX_ALERTS) delete s.byId[s.order.pop()!];
  }
}

function endFetch(s: AlertsState): void {
  s.fetching = Math.max(0, s.fetching - 1);
  if (s.fetching === 0) s.liveDuringFetch = [];
}

const alertsSlice = createSlice({
  name: 'alerts',
  initialState: initialAlertsState,
  reducers: {
    alertReceived: (s, a: PayloadAction<LiveAlert>) => {
      const live = a.payload;
      if (!live.id) {
        s.stale = true;
        return;
      }
      insert(s, {
        severity: 'MEDIUM',
        value: 0,
        threshold: 0,
        acknowledged: false,
        // Live frames carry the original's `timestamp`; stored alerts call it `triggered_at`.
        triggered_at: live.timestamp,
        ...live,
        id: live.id,
      } as Alert);
      if (s.fetching > 0) s.liveDuringFetch.push(live.id);
    },
    alertsCleared: () => initialAlertsState,
  },
  extraReducers: (b) => {
    b.addCase(fetchAlerts.pending, (s) => {
      s.fetching += 1;
    })
      .addCase(fetchAlerts.fulfilled, (s, a) => {
        // The server's list is the truth for what is open; newest first by trigger time. Live
        // alerts that arrived meanwhile stay on top (the answer may predate them).
        const arrivedMeanwhile = s.liveDuringFetch.map((id) => s.byId[id]).filter((x) => x !== undefined);
        const sorted = [...a.payload].sort((x, y) =>
          (y.triggered_at ?? '').localeCompare(x.triggered_at ?? ''),
        );
        s.byId = {};
        s.order = [];
        for (const alert of sorted.reverse()) insert(s, alert);
        for (const alert of arrivedMeanwhile) if (!s.byId[alert.id]) insert(s, alert);
        s.error = null;
        s.stale = false;
        endFetch(s);
      })
      .addCase(fetchAlerts.rejected, (s, a) => {
        s.error = a.payload ?? 'Could not load alerts';
        endFetch(s);
      })
      .addCase(acknowledgeAlert.pending, (s, a) => {
        s.acknowledging[a.meta.arg.id] = true;
      })
      .addCase(acknowledgeAlert.fulfilled, (s, a) => {
        delete s.acknowledging[a.payload.id];
        const alert = s.byId[a.payload.id];
        if (alert) {
          alert.acknowledged = true;
          alert.acknowledged_by = a.payload.acknowledged_by ?? null;
          alert.acknowledged_at = a.payload.acknowledged_at ?? null;
          alert.notes = a.payload.notes ?? null;
        }
      })
      .addCase(acknowledgeAlert.rejected, (s, a) => {
        delete s.acknowledging[a.meta.arg.id];
        s.error = a.payload ?? 'Could not acknowledge the alert';
      });
  },
});

export const { alertReceived, alertsCleared } = alertsSlice.actions;
export default alertsSlice.reducer;
