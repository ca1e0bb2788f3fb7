/**
 * The application shell: login when there is no token; otherwise the fleet views around one
 * always-mounted map, with the live connection started for the chosen fleet.
 */
import { useEffect } from 'react';
import type { DashboardConfig } from './config';
import { useAppDispatch, useAppSelector, useAppStore } from './store';
import { loggedOut } from './store/authSlice';
import { fetchSummary, fetchVehicles, fleetChosen } from './store/fleetSlice';
import { fetchAlerts } from './store/alertsSlice';
import { fetchMissions } from './store/missionsSlice';
import { viewChosen, type View } from './store/uiSlice';
import { connectLive } from './live';
import { useInterval } from './hooks';
import { LoginPage } from './components/LoginPage';
import { ConnectionBadge } from './components/ConnectionBadge';
import { SummaryCards } from './components/SummaryCards';
import { VehicleList } from './components/VehicleList';
import { VehicleDetail } from './components/VehicleDetail';
import { AlertsPanel } from './components/AlertsPanel';
import { ConfirmDialog } from './components/ConfirmDialog';
import { FleetMap } from './map/FleetMap';
import { AnalyticsView } from './views/AnalyticsView';
import { MissionsPanel } from './views/MissionsPanel';

const VIEWS: [View, string][] = [
  ['map', 'Live map'],
  ['missions', 'Missions'],
  ['analytics', 'Analytics'],
];

function Dashboard({ config, wsBase }: { config: DashboardConfig; wsBase: string }) {
  const dispatch = useAppDispatch();
  const store = useAppStore();
  const operator = useAppSelector((s) => s.auth.operator);
  const fleetId = useAppSelector((s) => s.fleet.fleetId);
  const view = useAppSelector((s) => s.ui.view);
  const alertsStale = useAppSelector((s) => s.alerts.stale);
  const fleets = operator?.fleet_ids ?? [];

  // The first of the operator's fleets, unless one of theirs was chosen (or named by the URL).
  useEffect(() => {
    if (fleets[0] && (!fleetId || !fleets.includes(fleetId))) dispatch(fleetChosen(fleets[0]));
  }, [fleetId, fleets, dispatch]);

  // One live connection per fleet; it reconnects by itself and is closed on logout.
  useEffect(() => {
    if (!fleetId) return;
    const socket = connectLive(store, wsBase);
    socket.start();
    void dispatch(fetchVehicles(fleetId));
    void dispatch(fetchAlerts(fleetId));
    void dispatch(fetchMissions(fleetId));
    return () => socket.stop();
  }, [fleetId, store, wsBase, dispatch]);

  useInterval(() => fleetId && void dispatch(fetchSummary(fleetId)), 5000, [fleetId, dispatch]);
  useEffect(() => {
    if (alertsStale && fleetId) void dispatch(fetchAlerts(fleetId));
  }, [alertsStale, fleetId, dispatch]);

  return (
    <div className={`shell view-${view}`}>
      <header className="topbar">
        <span className="brand">VehicleOps</span>
        {fleets.length > 1 ? (
          <select value={fleetId ?? ''} onChange={(e) => dispatch(fleetChosen(e.target.value))} data-testid="fleet-select">
            {fleets.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        ) : (
          <span className="fleet-id">{fleetId}</span>
        )}
        <nav>
          {VIEWS.map(([v, label]) => (
            <button
              key={v}
              className={view === v ? 'active' : undefined}
              data-testid={`nav-${v}`}
              onClick={() => dispatch(viewChosen(v))}
            >
              {label}
            </button>
          ))}
        </nav>
        <ConnectionBadge />
        <span className="operator muted">{operator?.email}</span>
        <button data-testid="logout-btn" onClick={() => dispatch(loggedOut(undefined))}>
          Log out
        </button>
      </header>
      <SummaryCards />
      <div className="workspace">
        <aside className="left">
          {view === 'missions' ? <MissionsPanel /> : view === 'map' ? <VehicleList /> : null}
        </aside>
        <div className="center">
          {view === 'analytics' && <AnalyticsView />}
          <div className="map-slot" style={{ display: view === 'analytics' ? 'none' : undefined }}>
            <FleetMap config={config} visible={view !== 'analytics'} />
          </div>
        </div>
        <aside className="right">
          <VehicleDetail />
          <AlertsPanel />
        </aside>
      </div>
      <ConfirmDialog />
    </div>
  );
}

export function App({ config, wsBase }: { config: DashboardConfig; wsBase: string }) {
  const token = useAppSelector((s) => s.auth.token);
  const expiresAt = useAppSelector((s) => s.auth.expiresAt);
  const dispatch = useAppDispatch();

  // Log out when the token expires rather than failing requests one by one.
  useEffect(() => {
    if (!expiresAt) return;
    const id = setTimeout(
      () => dispatch(loggedOut('Session expired: please log in again')),
      Math.max(0, expiresAt - Date.now()),
    );
    return () => clearTimeout(id);
  }, [expiresAt, dispatch]);

  return token ? <Dashboard config={config} wsBase={wsBase} /> : <LoginPage />;
}
