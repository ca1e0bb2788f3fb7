/**
 * The application shell: login when there is no token; otherwise the fleet views around one
 * always-mounted map, with the live connection started for the chosen fleet. The fleets to
 * choose from are those the server lists for the operator (`GET /fleets`: all of them for an
 * ADMIN, whose login names none); the workspace waits for them.
 */
import { useEffect, useMemo } from 'react';
import type { DashboardConfig } from './config';
import { useAppDispatch, useAppSelector, useAppStore } from './store';
import { loggedOut } from './store/authSlice';
import { fetchSummary, fetchVehicles, fleetChosen } from './store/fleetSlice';
import { fetchAlerts } from './store/alertsSlice';
import { fetchMissions } from './store/missionsSlice';
import { viewChosen, type View } from './store/uiSlice';
import { useFleetsQuery } from './store/fleetsApi';
import { queryFailure } from './store/thunk';
import { canReadAudit } from './store/audit';
import { formatFailure } from './format';
import type { FleetInfo } from './types';
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
import { AuditView } from './views/AuditView';

const VIEWS: [View, string][] = [
  ['map', 'Live map'],
  ['missions', 'Missions'],
  ['analytics', 'Analytics'],
  ['audit', 'Audit'],
];

const NO_FLEETS: FleetInfo[] = [];

/** Views that take the whole centre (the map hidden, no list on the left). */
const FULL_VIEWS: readonly View[] = ['analytics', 'audit'];

function Dashboard({ config, wsBase }: { config: DashboardConfig; wsBase: string }) {
  const dispatch = useAppDispatch();
  const store = useAppStore();
  const operator = useAppSelector((s) => s.auth.operator);
  const fleetId = useAppSelector((s) => s.fleet.fleetId);
  const view = useAppSelector((s) => s.ui.view);
  const alertsStale = useAppSelector((s) => s.alerts.stale);
  const fleetsQuery = useFleetsQuery();
  const fleets = fleetsQuery.data ?? NO_FLEETS;
  const fleetIds = useMemo(() => fleets.map((f) => f.id), [fleets]);
  // The chosen fleet once the list says it is the operator's: nothing is read before.
  const liveFleetId = fleetId && fleetIds.includes(fleetId) ? fleetId : null;
  const canAudit = canReadAudit(operator?.role);
  const views = canAudit ? VIEWS : VIEWS.filter(([v]) => v !== 'audit');

  // The first of the operator's fleets, unless one of theirs was chosen (or named by the URL).
  useEffect(() => {
    if (fleetIds[0] && (!fleetId || !fleetIds.includes(fleetId))) dispatch(fleetChosen(fleetIds[0]));
  }, [fleetId, fleetIds, dispatch]);

  // The Audit view is not for this operator (a link of someone else's): the map instead.
  useEffect(() => {
    if (view === 'audit' && operator && !canAudit) dispatch(viewChosen('map'));
  }, [view, operator, canAudit, dispatch]);

  // One live connection per fleet; it reconnects by itself and is closed on logout.
  useEffect(() => {
    if (!liveFleetId) return;
    const socket = connectLive(store, wsBase);
    socket.start();
    void dispatch(fetchVehicles(liveFleetId));
    void dispatch(fetchAlerts(liveFleetId));
    void dispatch(fetchMissions(liveFleetId));
    return () => socket.stop();
  }, [liveFleetId, store, wsBase, dispatch]);

  useInterval(() => liveFleetId && void dispatch(fetchSummary(liveFleetId)), 5000, [liveFleetId, dispatch]);
  useEffect(() => {
    if (alertsStale && liveFleetId) void dispatch(fetchAlerts(liveFleetId));
  }, [alertsStale, liveFleetId, dispatch]);

  const full = FULL_VIEWS.includes(view);
  const fleetsFailure = fleetsQuery.isError ? queryFailure(fleetsQuery.error, 'The fleets could not be read.') : null;
  let body;
  if (liveFleetId) {
    body = (
      <>
        <SummaryCards />
        <div className="workspace">
          <aside className="left">
            {view === 'missions' ? <MissionsPanel /> : view === 'map' ? <VehicleList /> : null}
          </aside>
          <div className="center">
            {view === 'analytics' && <AnalyticsView />}
            {view === 'audit' && canAudit && <AuditView />}
            <div className="map-slot" style={{ display: full ? 'none' : undefined }}>
              <FleetMap config={config} visible={!full} />
            </div>
          </div>
          <aside className="right">
            <VehicleDetail />
            <AlertsPanel />
          </aside>
        </div>
      </>
    );
  } else if (fleetsFailure) {
    body = (
      <div className="shell-message error" role="alert" data-testid="fleets-error">
        {formatFailure('The fleets could not be read', fleetsFailure)}: {fleetsFailure.message}{' '}
        <button type="button" onClick={() => void fleetsQuery.refetch()}>
          Retry
        </button>
      </div>
    );
  } else if (fleetsQuery.isSuccess && !fleetIds.length) {
    // Nothing to show on a map; the trail (which needs no fleet) stays open to those who may read it.
    body =
      view === 'audit' && canAudit ? (
        <div className="shell-main">
          <AuditView />
        </div>
      ) : (
        <p className="shell-message muted" data-testid="no-fleets">
          No fleet is open to {operator?.email ?? 'you'}: ask an administrator for one.
        </p>
      );
  } else {
    body = (
      <p className="shell-message muted" role="status" data-testid="fleets-loading">
        Loading fleets…
      </p>
    );
  }

  return (
    <div className={`shell view-${view}`}>
      <header className="topbar">
        <span className="brand">VehicleOps</span>
        {fleets.length > 1 ? (
          <select
            value={liveFleetId ?? ''}
            onChange={(e) => dispatch(fleetChosen(e.target.value))}
            data-testid="fleet-select"
            aria-label="Fleet"
          >
            {fleets.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} ({f.id})
              </option>
            ))}
          </select>
        ) : (
          <span className="fleet-id" data-testid="fleet-id">
            {fleetsQuery.isLoading ? <span className="muted">Loading fleets…</span> : liveFleetId}
          </span>
        )}
        <nav aria-label="Views">
          {views.map(([v, label]) => (
            <button
              key={v}
              type="button"
              className={view === v ? 'active' : undefined}
              aria-current={view === v ? 'page' : undefined}
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
      {body}
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
