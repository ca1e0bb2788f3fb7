/**
 * Trip playback for the selected vehicle: choose a window, load its path (drawn on the map),
 * then scrub the time slider or play it at 1×–60×; the map's cursor, the readout and the
 * speed/battery/temperature charts with the window's alerts ({@link PlaybackCharts}) follow.
 * Keyboard: the slider takes the arrow keys (one step is a second of the trip).
 */
import { useEffect, useState } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import {
  PLAYBACK_SPEEDS,
  PLAYBACK_WINDOWS,
  cursorSet,
  loadPath,
  playbackClosed,
  playToggled,
  selectPlayback,
  selectPlaybackPosition,
  speedSet,
  ticked,
} from '../store/playbackSlice';
import { PlaybackCharts } from './PlaybackCharts';

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });
const speedFormat = new Intl.NumberFormat(undefined, {
  style: 'unit',
  unit: 'kilometer-per-hour',
  maximumFractionDigits: 1,
});
const count = new Intl.NumberFormat();

export function PlaybackPanel({ vehicleId }: { vehicleId: string }) {
  const dispatch = useAppDispatch();
  const playback = useAppSelector(selectPlayback);
  const position = useAppSelector(selectPlaybackPosition);
  const [minutes, setMinutes] = useState<number>(PLAYBACK_WINDOWS[1].minutes);
  const mine = playback.vehicleId === vehicleId;

  // A playback belongs to its vehicle: choosing another one ends it.
  useEffect(() => {
    if (playback.vehicleId && playback.vehicleId !== vehicleId) dispatch(playbackClosed());
  }, [vehicleId, playback.vehicleId, dispatch]);

  // The play loop: one tick per animation frame with the wall time elapsed since the last.
  useEffect(() => {
    if (!playback.playing) return;
    let last = performance.now();
    let frame = requestAnimationFrame(function step(now) {
      dispatch(ticked(now - last));
      last = now;
      frame = requestAnimationFrame(step);
    });
    return () => cancelAnimationFrame(frame);
  }, [playback.playing, dispatch]);

  const path = mine ? playback.path : null;
  const times = playback.times;
  let body;
  if (!mine || playback.status === 'idle') {
    body = null;
  } else if (playback.status === 'loading') {
    body = (
      <p className="muted" role="status">
        Loading the path…
      </p>
    );
  } else if (playback.status === 'error') {
    body = (
      <p className="error" role="alert">
        Could not load the path: {playback.error}
      </p>
    );
  } else if (!path || path.points.length === 0) {
    body = (
      <p className="muted" data-testid="playback-empty">
        No readings in this window.
      </p>
    );
  } else {
    body = (
      <>
        <div className="row playback-controls">
          <button
            data-testid="playback-play-btn"
            aria-pressed={playback.playing}
            onClick={() => dispatch(playToggled())}
          >
            {playback.playing ? 'Pause' : 'Play'}
          </button>
          <label>
            Speed{' '}
            <select
              data-testid="playback-speed"
              value={playback.speed}
              onChange={(e) => dispatch(speedSet(Number(e.target.value)))}
            >
              {PLAYBACK_SPEEDS.map((s) => (
                <option key={s} value={s}>
                  {s}×
                </option>
              ))}
            </select>
          </label>
        </div>
        <input
          type="range"
          className="playback-slider"
          data-testid="playback-slider"
          aria-label="Playback time"
          aria-valuetext={when.format(playback.cursor)}
          min={times[0]}
          max={times[times.length - 1]}
          step={1000}
          value={playback.cursor}
          onChange={(e) => dispatch(cursorSet(Number(e.target.value)))}
        />
        <dl className="metrics">
          <div>
            <dt>Time</dt>
            <dd data-testid="playback-time" data-cursor={playback.cursor}>
              {when.format(playback.cursor)}
            </dd>
          </div>
          <div>
            <dt>Speed</dt>
            <dd data-testid="playback-speed-value">{position ? speedFormat.format(position.speed_kmh) : '–'}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd className={position ? `status status-${position.status}` : undefined}>{position?.status ?? '–'}</dd>
          </div>
        </dl>
        <p className="muted" data-testid="playback-summary">
          {count.format(path.points.length)} points drawn from {count.format(path.readings)} readings
        </p>
        <PlaybackCharts
          vehicleId={vehicleId}
          from={path.from}
          to={path.to}
          start={times[0]!}
          end={times[times.length - 1]!}
          cursor={playback.cursor}
        />
      </>
    );
  }

  return (
    <details
      className="playback"
      data-testid="playback-panel"
      data-status={mine ? playback.status : 'idle'}
      data-points={path?.points.length ?? 0}
    >
      <summary>Trip playback</summary>
      <div className="row">
        <label>
          Window{' '}
          <select data-testid="playback-window" value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
            {PLAYBACK_WINDOWS.map((w) => (
              <option key={w.minutes} value={w.minutes}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
        <button data-testid="playback-load-btn" onClick={() => void dispatch(loadPath({ vehicleId, minutes }))}>
          Load path
        </button>
        {mine && playback.status !== 'idle' && (
          <button className="link" onClick={() => dispatch(playbackClosed())}>
            Close
          </button>
        )}
      </div>
      {body}
    </details>
  );
}
