/**
 * The selected vehicle: live values, active mission, speed/battery chart, and the command
 * buttons with their confirmation and lifecycle feedback.
 */
import { useEffect } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import { selectSelectedVehicle, vehicleSelected } from '../store/fleetSlice';
import { isTerminal, refreshCommandHistory, selectLatestCommand } from '../store/commandsSlice';
import { fetchMission, missionProgress } from '../store/missionsSlice';
import { confirmRequested, pickStarted, pickEnded, lastWaypointRemoved } from '../store/uiSlice';
import { formatNumber } from '../hooks';
import { SpeedBatteryChart } from './SpeedBatteryChart';
import { CapabilitiesPanel } from './CapabilitiesPanel';
import { PlaybackPanel } from './PlaybackPanel';
import type { CommandKind } from '../types';

const COMMANDS: { kind: CommandKind; label: string; testid: string }[] = [
  { kind: 'STOP', label: 'Stop', testid: 'cmd-stop-btn' },
  { kind: 'RESUME', label: 'Resume', testid: 'cmd-resume-btn' },
  { kind: 'REROUTE', label: 'Reroute…', testid: 'cmd-reroute-btn' },
  { kind: 'RETURN_TO_BASE', label: 'Return to base', testid: 'cmd-rtb-btn' },
];

export function VehicleDetail() {
  const dispatch = useAppDispatch();
  const v = useAppSelector(selectSelectedVehicle);
  const command = useAppSelector((s) => selectLatestCommand(s, s.fleet.selectedId));
  const missionId = v?.active_mission_id ?? null;
  const mission = useAppSelector((s) => (missionId ? s.missions.byId[missionId] : undefined));
  const picking = useAppSelector((s) => s.ui.picking);
  const picked = useAppSelector((s) => s.ui.picked);

  // The lifecycle normally arrives over the WebSocket; polling the history covers frames lost
  // in a reconnect. Stops once the command reached a final state.
  const lastStep = command?.steps[command.steps.length - 1];
  const polling = !!command?.id && !command.error && !(lastStep && isTerminal(lastStep));
  useEffect(() => {
    if (!polling || !command) return;
    const id = setInterval(() => void dispatch(refreshCommandHistory(command.vehicleId)), 1500);
    return () => clearInterval(id);
  }, [polling, command, dispatch]);

  useEffect(() => {
    if (missionId && !mission) void dispatch(fetchMission(missionId));
  }, [missionId, mission, dispatch]);

  if (!v) {
    return (
      <section className="vehicle-detail empty muted">Select a vehicle on the map or in the list.</section>
    );
  }

  const ask = (kind: CommandKind) => {
    if (kind === 'REROUTE') {
      dispatch(pickStarted('reroute'));
      return;
    }
    dispatch(confirmRequested({ vehicleId: v.vehicle_id, command: kind, waypoints: [] }));
  };
  const progress = mission ? missionProgress(mission) : null;

  return (
    <section className="vehicle-detail" data-testid="vehicle-detail-panel" data-vehicle-id={v.vehicle_id}>
      <header>
        <h2>{v.vehicle_id}</h2>
        <button className="link" aria-label="Close" onClick={() => dispatch(vehicleSelected(null))}>
          ×
        </button>
      </header>
      <dl className="metrics">
        <div>
          <dt>Status</dt>
          <dd data-testid="status-value" className={`status status-${v.status}`}>
            {v.status}
          </dd>
        </div>
        <div>
          <dt>Speed</dt>
          <dd data-testid="speed-value">{formatNumber(v.speed_kmh)} km/h</dd>
        </div>
        <div>
          <dt>Battery</dt>
          <dd data-testid="battery-value">{formatNumber(v.battery_pct)} %</dd>
        </div>
        <div>
          <dt>Temperature</dt>
          <dd data-testid="temp-value">{formatNumber(v.engine_temp_c)} °C</dd>
        </div>
        <div>
          <dt>Load</dt>
          <dd data-testid="load-value">{formatNumber(v.load_pct, 0)} %</dd>
        </div>
        <div>
          <dt>Mission</dt>
          <dd data-testid="mission-value">
            {missionId ? (
              <>
                {missionId}
                {mission && progress && ` · ${mission.status} ${progress.done}/${progress.total}`}
              </>
            ) : (
              'none'
            )}
          </dd>
        </div>
      </dl>
      {v.alerts && v.alerts.length > 0 && (
        <div className="vehicle-alerts" data-testid="vehicle-alerts">
          {v.alerts.join(' · ')}
        </div>
      )}
      <div className="commands">
        {COMMANDS.map((c) => (
          <button
            key={c.kind}
            data-testid={c.testid}
            className={c.kind === 'STOP' ? 'danger' : undefined}
            onClick={() => ask(c.kind)}
            disabled={picking !== null}
          >
            {c.label}
          </button>
        ))}
      </div>
      {picking === 'reroute' && (
        <div className="pick-box" data-testid="reroute-picker">
          Click the map to add waypoints ({picked.length} picked).
          <div className="row">
            <button
              data-testid="reroute-send-btn"
              disabled={picked.length === 0}
              onClick={() =>
                dispatch(confirmRequested({ vehicleId: v.vehicle_id, command: 'REROUTE', waypoints: picked }))
              }
            >
              Send route
            </button>
            <button onClick={() => dispatch(lastWaypointRemoved())} disabled={picked.length === 0}>
              Undo
            </button>
            <button onClick={() => dispatch(pickEnded())}>Cancel</button>
          </div>
        </div>
      )}
      {command && (
        <div className="command-feedback" data-testid="command-feedback" data-status={lastStep ?? 'PENDING'}>
          <strong>{command.command}</strong>:{' '}
          {command.error ? (
            <span className="error">{command.error}</span>
          ) : command.steps.length ? (
            command.steps.map((st, i) => (
              <span key={st} className={`step step-${st}`}>
                {i > 0 && ' → '}
                {st}
              </span>
            ))
          ) : (
            'sending…'
          )}
        </div>
      )}
      <SpeedBatteryChart vehicleId={v.vehicle_id} />
      <PlaybackPanel vehicleId={v.vehicle_id} />
      <CapabilitiesPanel vehicleId={v.vehicle_id} />
    </section>
  );
}
