/** The live connection's state, always visible: operators must know when the map is stale. */
import { useAppSelector } from '../store';

const LABELS = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting',
  closed: 'Disconnected',
} as const;

export function ConnectionBadge() {
  const c = useAppSelector((s) => s.ui.connection);
  const retry =
    c.phase === 'reconnecting' && c.retryInMs !== null
      ? ` (attempt ${c.attempt}, retry in ${(c.retryInMs / 1000).toFixed(1)} s)`
      : '';
  return (
    <span
      className={`connection connection-${c.phase}`}
      data-testid="connection-state"
      data-phase={c.phase}
      title={c.lastError ?? undefined}
    >
      <span className="dot" /> {LABELS[c.phase]}
      {retry}
    </span>
  );
}
