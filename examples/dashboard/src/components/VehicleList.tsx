/**
 * Searchable, filterable vehicle list. Refreshed at most twice a second and capped at
 * {@link MAX_ROWS} rows: a whole fleet re-rendered per animation frame would stall the map.
 */
import { useCallback } from 'react';
import { useAppDispatch, useAppSelector, type RootState } from '../store';
import {
  searchChanged,
  selectFilteredVehicles,
  statusFilterChanged,
  vehicleSelected,
} from '../store/fleetSlice';
import { VEHICLE_STATUSES, type VehicleStatus } from '../types';
import { useThrottledSelector } from '../hooks';
import { STATUS_COLORS } from '../map/style';

export const MAX_ROWS = 300;

export function VehicleList() {
  const dispatch = useAppDispatch();
  const search = useAppSelector((s) => s.fleet.search);
  const status = useAppSelector((s) => s.fleet.statusFilter);
  const selectedId = useAppSelector((s) => s.fleet.selectedId);
  const rows = useThrottledSelector(
    useCallback((s: RootState) => selectFilteredVehicles(s), []),
    500,
  );
  return (
    <section className="vehicle-list" data-testid="vehicle-list">
      <div className="list-filters">
        <input
          type="search"
          placeholder="Search vehicle id"
          value={search}
          data-testid="vehicle-search"
          onChange={(e) => dispatch(searchChanged(e.target.value))}
        />
        <select
          value={status}
          data-testid="status-filter"
          onChange={(e) => dispatch(statusFilterChanged(e.target.value as VehicleStatus | 'ALL'))}
        >
          <option value="ALL">All statuses</option>
          {VEHICLE_STATUSES.map((st) => (
            <option key={st} value={st}>
              {st}
            </option>
          ))}
        </select>
      </div>
      <div className="list-meta muted">
        {rows.length > MAX_ROWS ? `Showing ${MAX_ROWS} of ${rows.length}` : `${rows.length} vehicles`}
      </div>
      <ul>
        {rows.slice(0, MAX_ROWS).map((v) => (
          <li
            key={v.vehicle_id}
            data-testid="vehicle-list-item"
            data-vehicle-id={v.vehicle_id}
            className={v.vehicle_id === selectedId ? 'selected' : undefined}
            onClick={() => dispatch(vehicleSelected(v.vehicle_id))}
          >
            <span className="status-dot" style={{ background: v.alerts?.length ? '#ef4444' : STATUS_COLORS[v.status] }} />
            <span className="vid">{v.vehicle_id}</span>
            <span className="vstatus">{v.status}</span>
            <span className="vspeed">{v.speed_kmh.toFixed(0)} km/h</span>
            <span className="vbatt">{v.battery_pct.toFixed(0)}%</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
