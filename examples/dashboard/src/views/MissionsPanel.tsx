/** Missions: create one from waypoints clicked on the map, and follow each one's progress. */
import { useState } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import { cancelMission, createMission, missionProgress } from '../store/missionsSlice';
import { lastWaypointRemoved, pickEnded, pickStarted } from '../store/uiSlice';
import { vehicleSelected } from '../store/fleetSlice';
import { formatTime } from '../hooks';

const TYPES = ['DELIVERY', 'PICKUP', 'INSPECTION', 'PATROL', 'CHARGING', 'TRANSFER'];
const PRIORITIES = ['LOW', 'NORMAL', 'HIGH', 'URGENT'];

export function MissionsPanel() {
  const dispatch = useAppDispatch();
  const fleetId = useAppSelector((s) => s.fleet.fleetId);
  const selectedId = useAppSelector((s) => s.fleet.selectedId);
  const { byId, order, creating, error } = useAppSelector((s) => s.missions);
  const picking = useAppSelector((s) => s.ui.picking);
  const picked = useAppSelector((s) => s.ui.picked);
  const [missionType, setMissionType] = useState('DELIVERY');
  const [priority, setPriority] = useState('NORMAL');

  const create = async () => {
    if (!fleetId || !selectedId || picked.length === 0) return;
    const result = await dispatch(
      createMission({ fleetId, vehicleId: selectedId, missionType, priority, waypoints: picked }),
    );
    if (createMission.fulfilled.match(result)) dispatch(pickEnded());
  };

  return (
    <section className="missions-panel" data-testid="missions-panel">
      <h2>New mission</h2>
      <div className="form-grid">
        <label>
          Vehicle
          <input readOnly value={selectedId ?? 'select one on the map'} data-testid="mission-vehicle" />
        </label>
        <label>
          Type
          <select value={missionType} onChange={(e) => setMissionType(e.target.value)}>
            {TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Priority
          <select value={priority} onChange={(e) => setPriority(e.target.value)}>
            {PRIORITIES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
      </div>
      {picking === 'mission' ? (
        <div className="pick-box">
          Click the map to add waypoints ({picked.length} picked).
          <div className="row">
            <button data-testid="mission-create-btn" disabled={!selectedId || picked.length === 0 || creating} onClick={() => void create()}>
              {creating ? 'Creating…' : 'Create mission'}
            </button>
            <button onClick={() => dispatch(lastWaypointRemoved())} disabled={picked.length === 0}>
              Undo
            </button>
            <button onClick={() => dispatch(pickEnded())}>Cancel</button>
          </div>
        </div>
      ) : (
        <button data-testid="mission-pick-btn" disabled={picking !== null} onClick={() => dispatch(pickStarted('mission'))}>
          Pick waypoints on the map
        </button>
      )}
      {error && <div className="error">{error}</div>}
      <h2>Missions</h2>
      {order.length === 0 && <p className="muted">No missions yet.</p>}
      <ul className="missions">
        {order.map((id) => {
          const m = byId[id]!;
          const p = missionProgress(m);
          return (
            <li key={id} data-testid="mission-item" data-mission-id={id} data-status={m.status}>
              <div className="row">
                <strong>{id}</strong>
                <span className={`mission-status mission-${m.status}`}>{m.status}</span>
                {(m.status === 'ASSIGNED' || m.status === 'IN_PROGRESS') && (
                  <button data-testid="mission-cancel-btn" onClick={() => void dispatch(cancelMission(id))}>
                    Cancel
                  </button>
                )}
              </div>
              <div className="muted">
                <button className="link" onClick={() => dispatch(vehicleSelected(m.vehicle_id))}>
                  {m.vehicle_id}
                </button>{' '}
                · {m.mission_type ?? ''} · {p.done}/{p.total} waypoints
                {m.estimated_completion && ` · ETA ${formatTime(m.estimated_completion)}`}
              </div>
              <div className="progress" aria-label="progress">
                <div style={{ width: `${Math.min(100, p.pct)}%` }} />
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
