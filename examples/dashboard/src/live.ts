/**
 * Wires the fleet WebSocket to the store: batched updates, alerts, command and mission
 * lifecycle frames, the connection indicator, and a refetch of REST state after a reconnect.
 */
import { FleetSocket, type SocketFactory, type Scheduler } from './ws/fleetSocket';
import type { AppStore } from './store';
import { vehiclesReceived, fetchSummary, fetchVehicles } from './store/fleetSlice';
import { alertReceived, fetchAlerts } from './store/alertsSlice';
import { commandUpdated } from './store/commandsSlice';
import { fetchMissions, missionUpdated } from './store/missionsSlice';
import { connectionChanged } from './store/uiSlice';
import { loggedOut, SESSION_REFUSED_MESSAGE } from './store/authSlice';

export function connectLive(
  store: AppStore,
  wsBase: string,
  extra: { factory?: SocketFactory; scheduler?: Scheduler } = {},
): FleetSocket {
  const socket = new FleetSocket({
    wsBase,
    fleetId: () => store.getState().fleet.fleetId,
    token: () => store.getState().auth.token,
    factory: extra.factory,
    scheduler: extra.scheduler,
    handlers: {
      onUpdates: (batch) => store.dispatch(vehiclesReceived(batch)),
      onAlert: (alert) => {
        store.dispatch(alertReceived(alert));
        const fleetId = store.getState().fleet.fleetId;
        // Frames without an id (the original's short shape) need the list to act on them.
        if (!alert.id && fleetId) void store.dispatch(fetchAlerts(fleetId));
        // The summary cards count open alerts: bring them up to date now, not at the next poll.
        if (fleetId) void store.dispatch(fetchSummary(fleetId));
      },
      onCommand: (command) => store.dispatch(commandUpdated(command)),
      onMission: (mission) => store.dispatch(missionUpdated(mission)),
      onState: (info) => store.dispatch(connectionChanged(info)),
      onResubscribed: () => {
        const fleetId = store.getState().fleet.fleetId;
        if (!fleetId) return;
        void store.dispatch(fetchVehicles(fleetId));
        void store.dispatch(fetchAlerts(fleetId));
        void store.dispatch(fetchSummary(fleetId));
        // Missions may have advanced or ended while the connection was down.
        void store.dispatch(fetchMissions(fleetId));
      },
      onUnauthorized: () => store.dispatch(loggedOut(SESSION_REFUSED_MESSAGE)),
    },
  });
  return socket;
}
