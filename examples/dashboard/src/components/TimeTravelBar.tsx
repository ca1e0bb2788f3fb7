/**
 * The map's time travel control: "Time travel" switches the map from live to the fleet as it was
 * at the instant on the slider (up to 1, 6 or 24 hours back); "Back to live" returns. The
 * slider takes the arrow keys (10 s a step), Page Up/Down and Home/End.
 */
import { useEffect } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import {
  TIME_TRAVEL_SPANS,
  instantChosen,
  loadSnapshot,
  selectTimeTravel,
  spanChosen,
  timeTravelEnded,
  timeTravelStarted,
} from '../store/timeTravelSlice';

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });
const count = new Intl.NumberFormat();

/** Scrubbing asks for a snapshot once the slider rests this long. */
const SETTLE_MS = 150;

export function TimeTravelBar() {
  const dispatch = useAppDispatch();
  const fleetId = useAppSelector((s) => s.fleet.fleetId);
  const t = useAppSelector(selectTimeTravel);

  useEffect(() => {
    if (!t.active || !fleetId) return;
    const timer = setTimeout(() => void dispatch(loadSnapshot({ fleetId, at: t.at })), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [t.active, t.at, fleetId, dispatch]);

  // Another fleet chosen: back to live.
  useEffect(() => {
    dispatch(timeTravelEnded());
  }, [fleetId, dispatch]);

  if (!t.active) {
    return (
      <div className="time-travel">
        <button
          data-testid="time-travel-toggle"
          aria-pressed={false}
          disabled={!fleetId}
          onClick={() => dispatch(timeTravelStarted({ now: Date.now() }))}
        >
          Time travel
        </button>
      </div>
    );
  }
  const from = t.until - t.hours * 3_600_000;
  return (
    <div
      className="time-travel active"
      data-testid="time-travel-bar"
      data-status={t.status}
      data-shown-at={t.shownAt ?? ''}
      role="group"
      aria-label="Time travel"
    >
      <div className="row">
        <strong data-testid="time-travel-time">{when.format(t.at)}</strong>
        <select
          aria-label="How far back"
          data-testid="time-travel-span"
          value={t.hours}
          onChange={(e) => dispatch(spanChosen(Number(e.target.value)))}
        >
          {TIME_TRAVEL_SPANS.map((h) => (
            <option key={h} value={h}>
              {h === 1 ? 'Last hour' : `Last ${h} hours`}
            </option>
          ))}
        </select>
        <button data-testid="time-travel-live-btn" onClick={() => dispatch(timeTravelEnded())}>
          Back to live
        </button>
      </div>
      <input
        type="range"
        data-testid="time-travel-slider"
        aria-label="Instant shown on the map"
        aria-valuetext={when.format(t.at)}
        min={from}
        max={t.until}
        step={10_000}
        value={t.at}
        onChange={(e) => dispatch(instantChosen(Number(e.target.value)))}
      />
      <div className="muted" data-testid="time-travel-summary" role="status">
        {t.status === 'error' ? (
          <span className="error">Could not load: {t.error}</span>
        ) : t.shownAt === null ? (
          'Loading…'
        ) : (
          `${count.format(Object.keys(t.vehicles).length)} vehicles · ${count.format(t.openAlerts)} open alerts at ${when.format(t.shownAt)}`
        )}
      </div>
    </div>
  );
}
