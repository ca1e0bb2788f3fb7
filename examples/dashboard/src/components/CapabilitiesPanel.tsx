/**
 * What the selected vehicle says it can do (for VDA 5050 vehicles: their factsheet), under
 * its detail: type, limits, load handling and the actions it executes. A command needing an
 * action it does not list is refused by the server before anything is sent.
 */
import { useEffect } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import { fetchCapabilities, selectCapabilities } from '../store/capabilitiesSlice';
import { formatTime } from '../hooks';

const speed = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'kilometer-per-hour', maximumFractionDigits: 1 });
const mass = new Intl.NumberFormat(undefined, { style: 'unit', unit: 'kilogram', maximumFractionDigits: 0 });

export function CapabilitiesPanel({ vehicleId }: { vehicleId: string }) {
  const dispatch = useAppDispatch();
  const entry = useAppSelector((s) => selectCapabilities(s, vehicleId));
  useEffect(() => {
    void dispatch(fetchCapabilities(vehicleId));
  }, [vehicleId, dispatch]);

  let body;
  if (!entry || entry.status === 'loading') {
    body = <p className="muted" role="status">Loading…</p>;
  } else if (entry.status === 'error') {
    body = (
      <p className="error" role="alert">
        Could not load: {entry.error}{' '}
        <button className="link" onClick={() => void dispatch(fetchCapabilities(vehicleId))}>
          Retry
        </button>
      </p>
    );
  } else if (entry.status === 'none') {
    body = (
      <p className="muted" data-testid="capabilities-none">
        Not described by the vehicle. VDA 5050 vehicles send a factsheet when they come online; until then
        every command is sent unchecked.
      </p>
    );
  } else {
    const c = entry.data;
    const row = (label: string, value: string | null) => (
      <div>
        <dt>{label}</dt>
        <dd>{value ?? '–'}</dd>
      </div>
    );
    body = (
      <>
        <dl className="metrics">
          {row('Type', [c.series_name, c.vehicle_class, c.kinematic].filter(Boolean).join(' · ') || null)}
          {row('Max speed', c.max_speed_mps === null ? null : speed.format(c.max_speed_mps * 3.6))}
          {row('Max load', c.max_load_kg === null ? null : mass.format(c.max_load_kg))}
          {row('Loads', c.load_types.length ? c.load_types.join(', ') : null)}
          {row('Route nodes', c.max_order_nodes === null ? null : `≤ ${c.max_order_nodes}`)}
        </dl>
        {c.actions === null ? (
          <p className="muted">Lists no actions: nothing is refused.</p>
        ) : (
          <ul className="capability-actions" data-testid="capability-actions">
            {c.actions.map((a) => (
              <li key={a.action_type} title={a.description ?? undefined}>
                <code>{a.action_type}</code> <span className="muted">{a.scopes.join(', ').toLowerCase()}</span>
              </li>
            ))}
          </ul>
        )}
        <p className="muted small">
          {c.source}, received {formatTime(c.received_at)}
        </p>
      </>
    );
  }
  return (
    <details className="capabilities" data-testid="capabilities-panel" data-status={entry?.status ?? 'loading'}>
      <summary>Capabilities</summary>
      {body}
    </details>
  );
}
