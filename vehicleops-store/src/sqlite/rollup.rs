//! Per-minute rollups of archived readings (`telemetry_minutes`), and how a query window splits
//! between them and raw rows.
//!
//! A rollup row aggregates the readings of one vehicle and one minute that are in the archive
//! table. Whole minutes of a window are read from rollups; the partial minutes at its edges, and
//! everything still in the recent table, are read raw. Rollups are written in the same
//! transaction as the archived rows they describe, so the two always agree.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use vehicleops_core::{Reading, Result, TimeRange, VehicleStatus};

use super::backend_error;
use super::convert::micros;

/// One minute in microseconds.
pub(super) const MINUTE_US: i64 = 60_000_000;
/// One hour in microseconds.
pub(super) const HOUR_US: i64 = 60 * MINUTE_US;

/// Recomputes one vehicle-hour of `telemetry_hours` (`?1`, `[?2, ?3)`) from its minutes.
const REFRESH_HOUR: &str = "INSERT OR REPLACE INTO telemetry_hours (vehicle_id, hour, readings, \
     distance_m, speed_kmh_sum, speed_kmh_max, driving_s, idle_s, stopped_s, charging_s, \
     observed_s) \
     SELECT vehicle_id, ?2, SUM(readings), SUM(distance_m), SUM(speed_kmh_sum), \
     MAX(speed_kmh_max), SUM(60.0 * moving_readings / readings), \
     SUM(60.0 * idle_readings / readings), SUM(60.0 * stopped_readings / readings), \
     SUM(60.0 * charging_readings / readings), 60.0 * COUNT(*) \
     FROM telemetry_minutes WHERE vehicle_id = ?1 AND minute >= ?2 AND minute < ?3 \
     GROUP BY vehicle_id";

/// Columns of `telemetry_minutes`, in the order the insert statements below fill them.
const COLUMNS: &str = "vehicle_id, minute, readings, alerts, distance_m, \
     speed_kmh_sum, speed_kmh_min, speed_kmh_max, battery_pct_sum, battery_pct_min, \
     battery_pct_max, engine_temp_c_sum, engine_temp_c_min, engine_temp_c_max, load_pct_sum, \
     load_pct_min, load_pct_max, moving_readings, idle_readings, stopped_readings, \
     charging_readings";

/// Merges a new partial aggregate (`excluded`) into the stored one.
const MERGE: &str = "ON CONFLICT (vehicle_id, minute) DO UPDATE SET \
     readings = readings + excluded.readings, alerts = alerts + excluded.alerts, \
     distance_m = distance_m + excluded.distance_m, \
     speed_kmh_sum = speed_kmh_sum + excluded.speed_kmh_sum, \
     speed_kmh_min = MIN(speed_kmh_min, excluded.speed_kmh_min), \
     speed_kmh_max = MAX(speed_kmh_max, excluded.speed_kmh_max), \
     battery_pct_sum = battery_pct_sum + excluded.battery_pct_sum, \
     battery_pct_min = MIN(battery_pct_min, excluded.battery_pct_min), \
     battery_pct_max = MAX(battery_pct_max, excluded.battery_pct_max), \
     engine_temp_c_sum = engine_temp_c_sum + excluded.engine_temp_c_sum, \
     engine_temp_c_min = MIN(engine_temp_c_min, excluded.engine_temp_c_min), \
     engine_temp_c_max = MAX(engine_temp_c_max, excluded.engine_temp_c_max), \
     load_pct_sum = load_pct_sum + excluded.load_pct_sum, \
     load_pct_min = MIN(load_pct_min, excluded.load_pct_min), \
     load_pct_max = MAX(load_pct_max, excluded.load_pct_max), \
     moving_readings = moving_readings + excluded.moving_readings, \
     idle_readings = idle_readings + excluded.idle_readings, \
     stopped_readings = stopped_readings + excluded.stopped_readings, \
     charging_readings = charging_readings + excluded.charging_readings";

/// The statuses whose readings a rollup counts apart (ALERT is `alerts`), in column order.
const COUNTED_STATUSES: [VehicleStatus; 4] = [
    VehicleStatus::Moving,
    VehicleStatus::Idle,
    VehicleStatus::Stopped,
    VehicleStatus::Charging,
];

/// Start of the minute holding `ts` (floor, also before 1970).
pub(super) fn minute_of(ts: i64) -> i64 {
    ts - ts.rem_euclid(MINUTE_US)
}

/// Start of the hour holding `ts` (floor, also before 1970; `i64::MIN`, the watermark of a
/// store that never archived, stays itself).
pub(super) fn hour_of(ts: i64) -> i64 {
    ts.div_euclid(HOUR_US).saturating_mul(HOUR_US)
}

/// Recomputes the hourly rows (`telemetry_hours`) of the given vehicle-hours from their
/// minutes, after those changed: each minute's 60 s shared between the statuses of its
/// readings, summed per hour.
fn refresh_hours<'a>(
    conn: &Connection,
    hours: impl IntoIterator<Item = (&'a str, i64)>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(REFRESH_HOUR).map_err(backend_error)?;
    for (vehicle_id, hour) in hours {
        stmt.execute(params![vehicle_id, hour, hour + HOUR_US])
            .map_err(backend_error)?;
    }
    Ok(())
}

/// The aggregate of one vehicle-minute, as stored.
struct MinuteAggregate {
    readings: i64,
    alerts: i64,
    distance_m: f64,
    /// Sum, min and max of speed, battery, engine temperature and load, in that order.
    metrics: [(f64, f64, f64); 4],
    /// Readings per status of [`COUNTED_STATUSES`].
    statuses: [i64; 4],
}

impl MinuteAggregate {
    fn new() -> Self {
        MinuteAggregate {
            readings: 0,
            alerts: 0,
            distance_m: 0.0,
            metrics: [(0.0, f64::INFINITY, f64::NEG_INFINITY); 4],
            statuses: [0; 4],
        }
    }

    fn add(&mut self, status: VehicleStatus, distance_m: f64, values: [f64; 4]) {
        self.readings += 1;
        self.alerts += i64::from(status == VehicleStatus::Alert);
        if let Some(i) = COUNTED_STATUSES.iter().position(|s| *s == status) {
            self.statuses[i] += 1;
        }
        self.distance_m += distance_m;
        for ((sum, min, max), value) in self.metrics.iter_mut().zip(values) {
            *sum += value;
            *min = min.min(value);
            *max = max.max(value);
        }
    }

    /// Merges this aggregate into the stored row of `(vehicle_id, minute)`.
    fn upsert(&self, conn: &Connection, vehicle_id: &str, minute: i64) -> Result<()> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "INSERT INTO telemetry_minutes ({COLUMNS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {MERGE}"
            ))
            .map_err(backend_error)?;
        let [speed, battery, engine_temp, load] = self.metrics;
        stmt.execute(params![
            vehicle_id,
            minute,
            self.readings,
            self.alerts,
            self.distance_m,
            speed.0,
            speed.1,
            speed.2,
            battery.0,
            battery.1,
            battery.2,
            engine_temp.0,
            engine_temp.1,
            engine_temp.2,
            load.0,
            load.1,
            load.2,
            self.statuses[0],
            self.statuses[1],
            self.statuses[2],
            self.statuses[3],
        ])
        .map_err(backend_error)?;
        Ok(())
    }
}

/// Adds the readings of `table` with `ts < until` to the rollups: called for rows about to move
/// into the archive. Aggregated here while the rows stream by in key order, then one upsert per
/// vehicle-minute; a SQL GROUP BY would sort every row first.
pub(super) fn add_rows_before(conn: &Connection, table: &str, until: i64) -> Result<()> {
    let mut minutes: HashMap<(String, i64), MinuteAggregate> = HashMap::new();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT vehicle_id, ts, status, distance_m, speed_kmh, battery_pct, engine_temp_c, \
             load_pct FROM {table} WHERE ts < ?1"
        ))
        .map_err(backend_error)?;
    let mut rows = stmt.query([until]).map_err(backend_error)?;
    while let Some(row) = rows.next().map_err(backend_error)? {
        let values = (|| -> rusqlite::Result<_> {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get_ref(2)?.as_str()?,
                row.get::<_, f64>(3)?,
                [row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?],
            ))
        })()
        .map_err(backend_error)?;
        let (vehicle_id, ts, status, distance_m, metrics) = values;
        // Statuses a rollup does not count apart (LOW_BATTERY, OFFLINE) only add to `readings`.
        let status = VehicleStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
            .unwrap_or(VehicleStatus::Offline);
        minutes
            .entry((vehicle_id, minute_of(ts)))
            .or_insert_with(MinuteAggregate::new)
            .add(status, distance_m, metrics);
    }
    for ((vehicle_id, minute), aggregate) in &minutes {
        aggregate.upsert(conn, vehicle_id, *minute)?;
    }
    let hours: std::collections::BTreeSet<(&str, i64)> = minutes
        .keys()
        .map(|(vehicle_id, minute)| (vehicle_id.as_str(), hour_of(*minute)))
        .collect();
    refresh_hours(conn, hours)
}

/// Adds one reading just inserted into the archive.
pub(super) fn add_reading(conn: &Connection, reading: &Reading) -> Result<()> {
    let t = &reading.telemetry;
    let mut aggregate = MinuteAggregate::new();
    aggregate.add(
        t.status,
        reading.distance_m,
        [t.speed_kmh, t.battery_pct, t.engine_temp_c, t.load_pct],
    );
    let minute = minute_of(micros(t.timestamp));
    aggregate.upsert(conn, &t.vehicle_id, minute)?;
    refresh_hours(conn, [(t.vehicle_id.as_str(), hour_of(minute))])
}

/// How a window `[from, to]` (µs) splits for one query.
pub(super) struct WindowPlan {
    pub from: i64,
    pub to: i64,
    /// Minutes `[start, end)` read from rollups; `None` when the window holds no whole minute or
    /// the query cannot use rollups.
    pub whole_minutes: Option<(i64, i64)>,
}

impl WindowPlan {
    pub(super) fn new(range: TimeRange, use_rollups: bool) -> Self {
        let (from, to) = (micros(range.from), micros(range.to));
        let start = minute_of(from + MINUTE_US - 1);
        let end = minute_of(to.saturating_add(1));
        WindowPlan {
            from,
            to,
            whole_minutes: (use_rollups && start < end).then_some((start, end)),
        }
    }

    /// Inclusive ranges of archived rows to read raw: the whole window, or its partial minutes.
    pub(super) fn raw_archive_ranges(&self) -> Vec<(i64, i64)> {
        match self.whole_minutes {
            None => vec![(self.from, self.to)],
            Some((start, end)) => {
                let mut ranges = Vec::with_capacity(2);
                if self.from < start {
                    ranges.push((self.from, start - 1));
                }
                if end <= self.to {
                    ranges.push((end, self.to));
                }
                ranges
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn range(from_us: i64, to_us: i64) -> TimeRange {
        TimeRange::new(
            DateTime::from_timestamp_micros(from_us).unwrap(),
            DateTime::from_timestamp_micros(to_us).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_window_splits_into_whole_minutes_and_raw_edges() {
        let m = MINUTE_US;
        // 00:30 .. 03:10 → raw [00:30, 01:00), minutes [01:00, 03:00), raw [03:00, 03:10].
        let plan = WindowPlan::new(range(m / 2, 3 * m + m / 6), true);
        assert_eq!(plan.whole_minutes, Some((m, 3 * m)));
        assert_eq!(
            plan.raw_archive_ranges(),
            vec![(m / 2, m - 1), (3 * m, 3 * m + m / 6)]
        );

        // Exactly whole minutes, inclusive end one µs before the next minute: no raw edges.
        let plan = WindowPlan::new(range(m, 3 * m - 1), true);
        assert_eq!(plan.whole_minutes, Some((m, 3 * m)));
        assert!(plan.raw_archive_ranges().is_empty());

        // An inclusive end exactly on a minute start makes that instant a raw edge.
        let plan = WindowPlan::new(range(m, 3 * m), true);
        assert_eq!(plan.raw_archive_ranges(), vec![(3 * m, 3 * m)]);

        // Inside one minute: all raw.
        let plan = WindowPlan::new(range(m + 1, 2 * m - 2), true);
        assert_eq!(plan.whole_minutes, None);
        assert_eq!(plan.raw_archive_ranges(), vec![(m + 1, 2 * m - 2)]);

        // Rollups not usable: all raw.
        let plan = WindowPlan::new(range(0, 10 * m), false);
        assert_eq!(plan.raw_archive_ranges(), vec![(0, 10 * m)]);
    }

    #[test]
    fn hours_are_floored_and_the_lowest_instant_stays() {
        assert_eq!(hour_of(-1), -HOUR_US);
        assert_eq!(hour_of(HOUR_US + 5), HOUR_US);
        assert_eq!(hour_of(i64::MIN), i64::MIN);
    }

    #[test]
    fn minutes_are_floored_before_the_epoch_too() {
        assert_eq!(minute_of(-1), -MINUTE_US);
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(MINUTE_US + 5), MINUTE_US);
    }
}
