/** Fleet summary cards from GET /fleet/{id}/summary, refreshed every few seconds. */
import { useAppSelector } from '../store';
import { formatNumber } from '../hooks';

export function SummaryCards() {
  const s = useAppSelector((st) => st.fleet.summary);
  const cards: [string, string, string][] = s
    ? [
        ['total', 'Vehicles', String(s.total_vehicles)],
        ['active', 'Active', String(s.active_vehicles)],
        ['idle', 'Idle', String(s.idle_vehicles)],
        ['alert', 'In alert', String(s.vehicles_in_alert)],
        ['battery', 'Avg battery', `${formatNumber(s.avg_battery_pct, 0)} %`],
        ['speed', 'Avg speed', `${formatNumber(s.avg_speed_kmh)} km/h`],
        ['missions', 'Active missions', String(s.active_missions)],
        ['open-alerts', 'Open alerts', String(s.open_alerts)],
      ]
    : [];
  return (
    <section className="summary-cards" data-testid="summary-cards">
      {s?.fleet_name && <div className="fleet-name">{s.fleet_name}</div>}
      {cards.map(([key, label, value]) => (
        <div key={key} className={`card card-${key}`} data-testid={`summary-${key}`}>
          <div className="card-value">{value}</div>
          <div className="card-label">{label}</div>
        </div>
      ))}
    </section>
  );
}
