/** Asks before a command is sent: commands move real vehicles. */
import { useAppDispatch, useAppSelector } from '../store';
import { confirmClosed, pickEnded } from '../store/uiSlice';
import { dispatchCommand } from '../store/commandsSlice';

export function ConfirmDialog() {
  const dispatch = useAppDispatch();
  const pending = useAppSelector((s) => s.ui.confirming);
  if (!pending) return null;
  const confirm = () => {
    void dispatch(
      dispatchCommand({ vehicleId: pending.vehicleId, command: pending.command, waypoints: pending.waypoints }),
    );
    dispatch(confirmClosed());
    if (pending.command === 'REROUTE') dispatch(pickEnded());
  };
  return (
    <div className="modal-backdrop">
      <div className="modal" role="dialog" aria-modal="true" data-testid="confirm-dialog">
        <h3>Send {pending.command.replace(/_/g, ' ')}?</h3>
        <p>
          Vehicle <strong>{pending.vehicleId}</strong>
          {pending.waypoints.length > 0 && ` · ${pending.waypoints.length} waypoint(s)`}
        </p>
        <div className="row">
          <button className="danger" data-testid="confirm-dialog-btn" onClick={confirm} autoFocus>
            Confirm
          </button>
          <button data-testid="confirm-cancel-btn" onClick={() => dispatch(confirmClosed())}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  );
}
