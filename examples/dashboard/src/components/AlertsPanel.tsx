/** Live alerts, newest first, with severity; acknowledged with the operator's notes. */
import { useState } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import { acknowledgeAlert } from '../store/alertsSlice';
import { vehicleSelected } from '../store/fleetSlice';
import { formatNumber, formatTime } from '../hooks';
import type { Alert } from '../types';

function AlertItem({ alert }: { alert: Alert }) {
  const dispatch = useAppDispatch();
  const busy = useAppSelector((s) => !!s.alerts.acknowledging[alert.id]);
  const [notes, setNotes] = useState<string | null>(null);
  return (
    <li
      className={`alert-item alert-sev-${alert.severity}${alert.acknowledged ? ' acknowledged' : ''}`}
      data-testid="alert-item"
      data-alert-id={alert.id}
      data-alert-type={alert.alert_type}
    >
      <div className="alert-head">
        <span className={`severity severity-${alert.severity}`} data-testid="alert-severity">
          {alert.severity}
        </span>
        <strong>{alert.alert_type}</strong>
        <button className="link" onClick={() => dispatch(vehicleSelected(alert.vehicle_id))}>
          {alert.vehicle_id}
        </button>
        <span className="muted">{formatTime(alert.triggered_at)}</span>
      </div>
      <div className="alert-body muted">
        {alert.message ?? `${formatNumber(alert.value)} (threshold ${formatNumber(alert.threshold)})`}
      </div>
      {alert.acknowledged ? (
        <div className="acknowledged-note" data-testid="alert-acknowledged">
          Acknowledged{alert.acknowledged_by ? ` by ${alert.acknowledged_by}` : ''}
          {alert.notes ? `: ${alert.notes}` : ''}
        </div>
      ) : notes === null ? (
        <button data-testid="alert-ack-btn" onClick={() => setNotes('')}>
          Acknowledge
        </button>
      ) : (
        <form
          className="ack-form"
          onSubmit={(e) => {
            e.preventDefault();
            void dispatch(acknowledgeAlert({ id: alert.id, notes }));
          }}
        >
          <input
            data-testid="alert-notes-input"
            placeholder="Notes (what was done)"
            value={notes}
            onChange={(e) => setNotes(e.target.value)}
            autoFocus
          />
          <button type="submit" data-testid="alert-ack-confirm-btn" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
          <button type="button" onClick={() => setNotes(null)}>
            Cancel
          </button>
        </form>
      )}
    </li>
  );
}

export function AlertsPanel() {
  const order = useAppSelector((s) => s.alerts.order);
  const byId = useAppSelector((s) => s.alerts.byId);
  const error = useAppSelector((s) => s.alerts.error);
  const open = order.filter((id) => !byId[id]!.acknowledged).length;
  return (
    <section className="alerts-panel" data-testid="alerts-panel">
      <h2>
        Alerts <span className="badge" data-testid="open-alert-count">{open}</span>
      </h2>
      {error && <div className="error small">{error}</div>}
      {order.length === 0 && <p className="muted">No open alerts.</p>}
      <ul>
        {order.slice(0, 50).map((id) => (
          <AlertItem key={id} alert={byId[id]!} />
        ))}
      </ul>
    </section>
  );
}
