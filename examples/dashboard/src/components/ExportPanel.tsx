/**
 * Export of the fleet's records (Analytics view): what (telemetry, alerts, commands, missions),
 * the window (a preset or a custom from/to), optionally one vehicle, CSV or Parquet; Download
 * fetches the file with the session's token (see `exportSlice`) and saves it under the name the
 * server gave. The bytes received are shown while it streams, the size when done, and the
 * server's message (next to the field it names) when it refuses.
 */
import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useAppDispatch, useAppSelector, type RootState } from '../store';
import { cancelExport, exportDismissed, startExport } from '../store/exportSlice';
import { selectVehicleIds } from '../store/fleetSlice';
import {
  EXPORT_FORMATS,
  EXPORT_KINDS,
  WINDOW_PRESETS,
  formatBytes,
  presetWindow,
  toLocalInput,
  validateExport,
  type ExportField,
  type ExportForm,
  type WindowPreset,
} from '../store/exportForm';
import { useThrottledSelector } from '../hooks';
import { formatCount, formatFailure } from '../format';
import type { ExportFormat, ExportKind } from '../api/client';

export function ExportPanel({ fleetId }: { fleetId: string }) {
  const dispatch = useAppDispatch();
  const state = useAppSelector((s) => s.export);
  // The live record changes ten times a second; the list of ids is re-read every 2 s at most.
  const vehicleIds = useThrottledSelector(
    useCallback((s: RootState) => selectVehicleIds(s), []),
    2000,
  );
  const [form, setForm] = useState<ExportForm>(() => {
    const w = presetWindow('24h', Date.now());
    return {
      kind: 'alerts',
      preset: '24h',
      from: toLocalInput(Date.parse(w.from)),
      to: toLocalInput(Date.parse(w.to)),
      vehicleId: '',
      format: 'csv',
    };
  });
  const [attempted, setAttempted] = useState(false);
  const id = useId();
  const fieldIds: Record<ExportField, string> = {
    kind: `${id}-kind`,
    from: `${id}-from`,
    to: `${id}-to`,
    vehicle_id: `${id}-vehicle`,
    format: `${id}-format`,
  };

  const downloading = state.status === 'downloading';
  // Cancel goes when the download ends: the focus it had goes back to Download, not to the page.
  const downloadRef = useRef<HTMLButtonElement>(null);
  const cancelHadFocus = useRef(false);
  useEffect(() => {
    if (downloading || !cancelHadFocus.current) return;
    cancelHadFocus.current = false;
    if (!document.activeElement || document.activeElement === document.body) downloadRef.current?.focus();
  }, [downloading]);
  const custom = form.preset === 'custom';
  const { errors: clientErrors } = validateExport(form, Date.now());
  // Until Download is pressed, only what is wrong with values already entered is pointed out.
  const shownClient: Partial<Record<ExportField, string>> = {};
  for (const [field, message] of Object.entries(clientErrors) as [ExportField, string][]) {
    if (attempted || (field === 'from' ? form.from : field === 'to' ? form.to : true)) shownClient[field] = message;
  }
  // A refused daily report file (started from the Reports section) names fields of another form.
  const serverField =
    state.status === 'error' && state.request?.kind !== 'report' ? fieldOf(state.error?.field, custom) : null;
  const fieldError = (field: ExportField): string | undefined =>
    shownClient[field] ?? (serverField === field ? state.error?.message : undefined);

  const change = (patch: Partial<ExportForm>) => {
    setForm((f) => {
      const next = { ...f, ...patch };
      // Choosing "Custom" starts from the window that was chosen.
      if (patch.preset === 'custom' && f.preset !== 'custom') {
        const w = presetWindow(f.preset, Date.now());
        next.from = toLocalInput(Date.parse(w.from));
        next.to = toLocalInput(Date.parse(w.to));
      }
      return next;
    });
    // The server's complaint was about the form as it was.
    if (state.status === 'error') dispatch(exportDismissed());
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (downloading) return;
    setAttempted(true);
    const { window, errors } = validateExport(form, Date.now());
    if (!window) {
      const first = (['from', 'to'] as const).find((f) => errors[f]);
      if (first) document.getElementById(fieldIds[first])?.focus();
      return;
    }
    void dispatch(
      startExport({
        kind: form.kind,
        fleetId,
        vehicleId: form.vehicleId || null,
        window,
        format: form.format,
      }),
    );
  };

  const described = (field: ExportField) => (fieldError(field) ? `${fieldIds[field]}-error` : undefined);
  const errorText = (field: ExportField) => {
    const message = fieldError(field);
    return message ? (
      <span className="field-error" id={`${fieldIds[field]}-error`} data-testid={`export-${field}-error`}>
        {message}
      </span>
    ) : null;
  };

  return (
    <section
      className="export-panel"
      aria-labelledby={`${id}-heading`}
      data-testid="export-panel"
      data-status={state.status}
      data-bytes={state.bytes}
    >
      <h2 id={`${id}-heading`}>Export {fleetId} data</h2>
      <form noValidate onSubmit={submit}>
        <div className="export-fields">
          <div className="field">
            <label htmlFor={fieldIds.kind}>Records</label>
            <select
              id={fieldIds.kind}
              data-testid="export-kind"
              value={form.kind}
              aria-invalid={!!fieldError('kind')}
              aria-describedby={described('kind')}
              onChange={(e) => change({ kind: e.target.value as ExportKind })}
            >
              {EXPORT_KINDS.map((k) => (
                <option key={k.kind} value={k.kind}>
                  {k.label}
                </option>
              ))}
            </select>
            {errorText('kind')}
          </div>
          <div className="field">
            <label htmlFor={`${id}-window`}>Window</label>
            <select
              id={`${id}-window`}
              data-testid="export-window"
              value={form.preset}
              onChange={(e) => change({ preset: e.target.value as WindowPreset })}
            >
              {WINDOW_PRESETS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label}
                </option>
              ))}
              <option value="custom">Custom…</option>
            </select>
          </div>
          {custom && (
            <>
              <div className="field">
                <label htmlFor={fieldIds.from}>From</label>
                <input
                  id={fieldIds.from}
                  type="datetime-local"
                  data-testid="export-from"
                  value={form.from}
                  aria-invalid={!!fieldError('from')}
                  aria-describedby={described('from')}
                  onChange={(e) => change({ from: e.target.value })}
                />
                {errorText('from')}
              </div>
              <div className="field">
                <label htmlFor={fieldIds.to}>To</label>
                <input
                  id={fieldIds.to}
                  type="datetime-local"
                  data-testid="export-to"
                  value={form.to}
                  aria-invalid={!!fieldError('to')}
                  aria-describedby={described('to')}
                  onChange={(e) => change({ to: e.target.value })}
                />
                {errorText('to')}
              </div>
            </>
          )}
          <div className="field">
            <label htmlFor={fieldIds.vehicle_id}>Vehicle</label>
            <select
              id={fieldIds.vehicle_id}
              data-testid="export-vehicle"
              value={form.vehicleId}
              aria-invalid={!!fieldError('vehicle_id')}
              aria-describedby={described('vehicle_id')}
              onChange={(e) => change({ vehicleId: e.target.value })}
            >
              <option value="">All vehicles ({formatCount(vehicleIds.length)})</option>
              {/* A vehicle chosen before the list was read stays choosable. */}
              {form.vehicleId && !vehicleIds.includes(form.vehicleId) && <option value={form.vehicleId}>{form.vehicleId}</option>}
              {vehicleIds.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
            {errorText('vehicle_id')}
          </div>
          <fieldset
            className="field export-format"
            id={fieldIds.format}
            aria-invalid={!!fieldError('format')}
            aria-describedby={described('format')}
          >
            <legend>Format</legend>
            {EXPORT_FORMATS.map((f) => (
              <label key={f.format}>
                <input
                  type="radio"
                  name={`${id}-format`}
                  value={f.format}
                  data-testid={`export-format-${f.format}`}
                  checked={form.format === f.format}
                  onChange={() => change({ format: f.format as ExportFormat })}
                />{' '}
                {f.label} <span className="muted">({f.hint})</span>
              </label>
            ))}
            {errorText('format')}
          </fieldset>
        </div>
        <div className="row export-actions">
          <button
            ref={downloadRef}
            type="submit"
            className="primary"
            data-testid="export-download-btn"
            aria-disabled={downloading}
          >
            {downloading ? 'Downloading…' : 'Download'}
          </button>
          {downloading && (
            <button
              type="button"
              data-testid="export-cancel-btn"
              onFocus={() => (cancelHadFocus.current = true)}
              // Removed while focused, it may see a blur with nowhere to go: that one is kept.
              onBlur={(e) => e.relatedTarget && (cancelHadFocus.current = false)}
              onClick={() => cancelExport(state.requestId)}
            >
              Cancel
            </button>
          )}
          <span className="export-status" role="status" data-testid="export-status">
            {downloading && (
              <>
                <progress aria-label="Download progress" />{' '}
                {state.bytes > 0 ? `${formatBytes(state.bytes)} received` : 'Waiting for the server…'}
              </>
            )}
            {state.status === 'done' && state.fileName && (
              <>
                Downloaded <span data-testid="export-file-name">{state.fileName}</span> ({formatBytes(state.bytes)})
              </>
            )}
            {state.status === 'cancelled' && 'Download cancelled.'}
          </span>
        </div>
        {state.status === 'error' && state.error && (
          <p className="error" role="alert" data-testid="export-error" data-field={state.error.field ?? ''}>
            {formatFailure('Export failed', state.error)}: {state.error.message}
          </p>
        )}
      </form>
    </section>
  );
}

/** Where the server's complaint about `field` is shown: next to that field when it is on screen. */
function fieldOf(field: string | null | undefined, custom: boolean): ExportField | null {
  switch (field) {
    case 'kind':
    case 'vehicle_id':
    case 'format':
      return field;
    case 'from':
    case 'to':
      return custom ? field : null;
    default:
      return null;
  }
}
