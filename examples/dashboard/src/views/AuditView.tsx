/**
 * The Audit view (ADMIN and MANAGER): who did what and when — logins, commands, missions,
 * alert acknowledgements — newest first, filtered by action, actor, fleet and window, with
 * "Load older" following the server's cursor. The filter is in the store and so in the URL
 * (`urlState`): a reload lists the same entries.
 */
import { useId, useMemo, useState, type FormEvent } from 'react';
import { useAppDispatch, useAppSelector } from '../store';
import { auditFilterApplied } from '../store/auditSlice';
import { useAuditLogInfiniteQuery } from '../store/auditApi';
import { useFleetsQuery } from '../store/fleetsApi';
import { queryFailure } from '../store/thunk';
import {
  AUDIT_ACTIONS,
  auditActionLabel,
  auditFormOf,
  defaultAuditWindow,
  mergeAuditPages,
  sameAuditFilter,
  validateAuditForm,
  type AuditField,
  type AuditForm,
} from '../store/audit';
import { formatCount, formatDateTime, formatFailure } from '../format';
import type { AuditEntry } from '../types';

const FIELDS: readonly AuditField[] = ['action', 'actor', 'fleet_id', 'from', 'to'];

export function AuditView() {
  const dispatch = useAppDispatch();
  const filter = useAppSelector((s) => s.audit.filter);
  const role = useAppSelector((s) => s.auth.operator?.role);
  const fleets = useFleetsQuery();
  const [start] = useState(() => {
    const now = Date.now();
    return { form: auditFormOf(filter, now), shown: defaultAuditWindow(now) };
  });
  const [form, setForm] = useState<AuditForm>(start.form);
  // The default window the form shows: left as it is, the filter keeps "the last 24 hours".
  const [shown, setShown] = useState(start.shown);
  const [attempted, setAttempted] = useState(false);

  const query = useAuditLogInfiniteQuery(filter);
  // This filter's pages only: another filter's entries are not shown under this one's name.
  const data = query.currentData;
  const { entries, nextCursor } = useMemo(() => mergeAuditPages(data?.pages ?? []), [data]);
  const failure = query.isError ? queryFailure(query.error, 'The audit trail could not be read.') : null;

  const id = useId();
  const fieldId = (f: AuditField) => `${id}-${f}`;
  const checked = validateAuditForm(form, shown);
  const same = checked.filter !== null && sameAuditFilter(checked.filter, filter);
  const shownErrors = attempted ? checked.errors : {};
  // The server's complaint is about what was asked: by its field while the form still says it.
  // A fleet refused (403) is the fleet's.
  const serverField: AuditField | null =
    failure && same
      ? failure.field && (FIELDS as readonly string[]).includes(failure.field)
        ? (failure.field as AuditField)
        : failure.status === 403 && filter.fleetId
          ? 'fleet_id'
          : null
      : null;
  const fieldError = (f: AuditField) => shownErrors[f] ?? (serverField === f ? failure!.message : undefined);
  const invalid = (f: AuditField) => ({
    'aria-invalid': !!fieldError(f),
    'aria-describedby': fieldError(f) ? `${fieldId(f)}-error` : undefined,
  });
  const errorText = (f: AuditField) => {
    const message = fieldError(f);
    return message ? (
      <span className="field-error" id={`${fieldId(f)}-error`} data-testid={`audit-${f}-error`}>
        {message}
      </span>
    ) : null;
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setAttempted(true);
    if (!checked.filter) {
      const first = FIELDS.find((f) => checked.errors[f]);
      if (first) document.getElementById(fieldId(first))?.focus();
      return;
    }
    if (same) {
      // Busy, not disabled: pressed again while it reads, it asks for nothing more.
      if (!query.isFetching) void query.refetch();
    } else {
      dispatch(auditFilterApplied(checked.filter));
    }
  };

  const lastDay = () => {
    const window = defaultAuditWindow(Date.now());
    setShown(window);
    setForm((f) => ({ ...f, ...window }));
  };

  const reading = query.isFetching && !query.isFetchingNextPage;
  const status = reading ? 'loading' : query.isError ? 'error' : data ? 'loaded' : 'idle';
  const fleetName = (fleetId: string | null) => fleets.data?.find((f) => f.id === fleetId)?.name;
  return (
    <section className="audit-view" aria-labelledby={`${id}-heading`} data-testid="audit-view" data-status={status}>
      <h2 id={`${id}-heading`}>Audit trail</h2>
      <p className="muted small">
        {role === 'ADMIN'
          ? 'Every login, command, mission and alert acknowledgement.'
          : 'Commands, missions and alert acknowledgements of your fleets.'}
      </p>
      <form noValidate className="audit-form" onSubmit={submit} data-testid="audit-form">
        <div className="field">
          <label htmlFor={fieldId('action')}>Action</label>
          <select
            id={fieldId('action')}
            data-testid="audit-action"
            value={form.action}
            {...invalid('action')}
            onChange={(e) => setForm((f) => ({ ...f, action: e.target.value }))}
          >
            <option value="">All actions</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {auditActionLabel(a)}
              </option>
            ))}
          </select>
          {errorText('action')}
        </div>
        <div className="field">
          <label htmlFor={fieldId('actor')}>Actor</label>
          <input
            id={fieldId('actor')}
            type="text"
            data-testid="audit-actor"
            placeholder="Operator id or email"
            autoComplete="off"
            value={form.actor}
            {...invalid('actor')}
            onChange={(e) => setForm((f) => ({ ...f, actor: e.target.value }))}
          />
          {errorText('actor')}
        </div>
        <div className="field">
          <label htmlFor={fieldId('fleet_id')}>Fleet</label>
          <select
            id={fieldId('fleet_id')}
            data-testid="audit-fleet"
            value={form.fleetId}
            aria-busy={fleets.isLoading}
            {...invalid('fleet_id')}
            onChange={(e) => setForm((f) => ({ ...f, fleetId: e.target.value }))}
          >
            <option value="">{role === 'ADMIN' ? 'All fleets' : 'All my fleets'}</option>
            {/* A fleet the URL named stays a choice until the list says otherwise. */}
            {form.fleetId && !fleets.data?.some((f) => f.id === form.fleetId) && (
              <option value={form.fleetId}>{form.fleetId}</option>
            )}
            {(fleets.data ?? []).map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} ({f.id})
              </option>
            ))}
          </select>
          {errorText('fleet_id')}
        </div>
        <div className="field">
          <label htmlFor={fieldId('from')}>From</label>
          <input
            id={fieldId('from')}
            type="datetime-local"
            data-testid="audit-from"
            value={form.from}
            {...invalid('from')}
            onChange={(e) => setForm((f) => ({ ...f, from: e.target.value }))}
          />
          {errorText('from')}
        </div>
        <div className="field">
          <label htmlFor={fieldId('to')}>To</label>
          <input
            id={fieldId('to')}
            type="datetime-local"
            data-testid="audit-to"
            value={form.to}
            {...invalid('to')}
            onChange={(e) => setForm((f) => ({ ...f, to: e.target.value }))}
          />
          {errorText('to')}
        </div>
        <div className="field audit-actions">
          <div className="row">
            <button type="submit" className="primary" data-testid="audit-apply-btn" aria-disabled={same && query.isFetching}>
              {same ? 'Refresh' : 'Apply'}
            </button>
            <button type="button" onClick={lastDay} data-testid="audit-last-day-btn">
              Last 24 hours
            </button>
          </div>
        </div>
      </form>
      <p className="muted small" data-testid="audit-window">
        {filter.from && filter.to
          ? `From ${formatDateTime(filter.from)} to ${formatDateTime(filter.to)}.`
          : 'The last 24 hours, up to when the list was read.'}
      </p>

      <div role="status" className="audit-status" data-testid="audit-status">
        {reading && (data ? 'Updating the audit trail…' : 'Reading the audit trail…')}
        {query.isFetchingNextPage && 'Reading older entries…'}
      </div>
      {failure && (
        <p className="error" role="alert" data-testid="audit-error" data-field={failure.field ?? ''}>
          {formatFailure(query.isFetchNextPageError ? 'Older entries could not be read' : 'The audit trail could not be read', failure)}
          : {failure.message}{' '}
          <button
            type="button"
            onClick={() => void (query.isFetchNextPageError ? query.fetchNextPage() : query.refetch())}
          >
            Retry
          </button>
        </p>
      )}
      {data && <AuditTable entries={entries} fleetName={fleetName} complete={!nextCursor} />}
      {data && query.hasNextPage && (
        <button
          type="button"
          data-testid="audit-load-older"
          aria-disabled={query.isFetchingNextPage}
          onClick={() => {
            if (!query.isFetching) void query.fetchNextPage();
          }}
        >
          {query.isFetchingNextPage ? 'Loading older entries…' : 'Load older'}
        </button>
      )}
    </section>
  );
}

function AuditTable(props: {
  entries: AuditEntry[];
  fleetName: (fleetId: string | null) => string | undefined;
  complete: boolean;
}) {
  const { entries, fleetName, complete } = props;
  const id = useId();
  if (!entries.length) {
    return (
      <p className="muted" data-testid="audit-empty">
        No entry matches the filter in this window.
      </p>
    );
  }
  const dash = <span aria-label="none">–</span>;
  return (
    <>
      <p className="muted" id={`${id}-count`} data-testid="audit-count" data-count={entries.length}>
        {formatCount(entries.length)} {entries.length === 1 ? 'entry' : 'entries'}, newest first
        {complete ? ' (all of the window).' : '; older ones follow “Load older”.'}
      </p>
      {/* Wider than the view on a narrow screen: the region scrolls, and takes the focus to. */}
      <div className="table-scroll" role="region" aria-labelledby={`${id}-count`} tabIndex={0}>
        <table className="report audit-table" data-testid="audit-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Fleet</th>
              <th scope="col">Vehicle</th>
              <th scope="col">Target</th>
              <th scope="col">Source</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id} data-testid="audit-row" data-action={e.action} data-entry-id={e.id}>
                <td className="num">
                  <time dateTime={e.at}>{formatDateTime(e.at)}</time>
                </td>
                <td className="audit-actor">{e.actor}</td>
                <td>
                  <span className={`audit-action audit-action-${e.action}`}>{auditActionLabel(e.action)}</span>
                </td>
                <td title={fleetName(e.fleet_id)}>{e.fleet_id ?? dash}</td>
                <td>{e.vehicle_id ?? dash}</td>
                <td className={e.target_id ? 'audit-id' : undefined}>{e.target_id ?? dash}</td>
                <td>{e.source ?? dash}</td>
                <td className="audit-detail">{e.detail || dash}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
