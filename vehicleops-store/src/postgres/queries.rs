//! SQL text built once per layout: the ingest statement and the analytics over raw rows plus
//! rollups.

use chrono::{DateTime, Duration, Utc};

use super::migrations::{ROLLUP_AGGREGATES, STATUS_AGGREGATES};

/// Columns of `telemetry` as `Telemetry` is read back.
pub(crate) const SELECT_TELEMETRY: &str = "vehicle_id, fleet_id, time, seq, latitude, longitude, \
     speed_kmh, battery_pct, engine_temp_c, load_pct, heading_deg, status, distance_m, \
     pose_x, pose_y, pose_theta, pose_map_id";

/// Which rollup tables ingest keeps current (plain PostgreSQL; TimescaleDB's rollups are
/// continuous aggregates), by what the schema holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RollupUpkeep {
    /// `telemetry_1m` (schema version 2 on).
    pub minutes: bool,
    /// Its readings per status (version 7 on).
    pub statuses: bool,
    /// `telemetry_report_1h`: each vehicle-hour's status shares (version 9 on; needs
    /// `statuses`).
    pub hours: bool,
}

/// Columns of a batch's minute aggregates, in `telemetry_1m` column order.
const BATCH_COLUMNS: &str = "vehicle_id, fleet_id, bucket, readings, speed_sum, speed_min, \
    speed_max, battery_sum, battery_min, battery_max, temp_sum, temp_min, temp_max, load_sum, \
    load_min, load_max, distance_sum, alert_readings";
const STATUS_COLUMNS: &str = "moving_readings, idle_readings, stopped_readings, charging_readings";

/// The minute upsert from a `batch` CTE and, with `upkeep.hours`, the hour upsert after it:
/// CTEs to follow a `WITH` list (each begins with a comma).
fn rollup_ctes(upkeep: RollupUpkeep) -> String {
    let merge = rollup_merge(upkeep.statuses);
    let (returning, hours) = if upkeep.hours {
        (
            format!(" RETURNING r.vehicle_id, r.fleet_id, r.bucket, r.readings, {STATUS_COLUMNS}"),
            HOURS_UPSERT,
        )
    } else {
        (String::new(), "")
    };
    // Ordered so that concurrent batches lock rollup rows in the same order (no deadlock).
    format!(
        ", rollup AS (
            INSERT INTO vehicleops.telemetry_1m AS r SELECT * FROM batch ORDER BY 1, 3, 2
            ON CONFLICT (vehicle_id, bucket, fleet_id) DO UPDATE SET {merge}{returning}
        ){hours}"
    )
}

/// Folds a batch into `telemetry_report_1h`. `rollup` holds each touched minute as it is now
/// (the upsert's RETURNING), `batch` what the batch added to it: the minute's status shares
/// before the batch follow from its counts less the batch's (none when the batch created it,
/// which then adds 60 s of observed time).
const HOURS_UPSERT: &str = ", hours AS (
    INSERT INTO vehicleops.telemetry_report_1h AS h
    SELECT n.vehicle_id, n.fleet_id,
           date_bin(INTERVAL '1 hour', n.bucket, TIMESTAMPTZ 'epoch'),
           sum(b.readings), sum(b.distance_sum), sum(b.speed_sum), max(b.speed_max),
           sum(60.0::float8 * n.moving_readings / n.readings - CASE WHEN n.readings = b.readings
               THEN 0 ELSE 60.0::float8 * (n.moving_readings - b.moving_readings)
                    / (n.readings - b.readings) END),
           sum(60.0::float8 * n.idle_readings / n.readings - CASE WHEN n.readings = b.readings
               THEN 0 ELSE 60.0::float8 * (n.idle_readings - b.idle_readings)
                    / (n.readings - b.readings) END),
           sum(60.0::float8 * n.stopped_readings / n.readings - CASE WHEN n.readings = b.readings
               THEN 0 ELSE 60.0::float8 * (n.stopped_readings - b.stopped_readings)
                    / (n.readings - b.readings) END),
           sum(60.0::float8 * n.charging_readings / n.readings - CASE WHEN n.readings = b.readings
               THEN 0 ELSE 60.0::float8 * (n.charging_readings - b.charging_readings)
                    / (n.readings - b.readings) END),
           sum(CASE WHEN n.readings = b.readings THEN 60.0::float8 ELSE 0 END)
    FROM rollup n JOIN batch b USING (vehicle_id, fleet_id, bucket)
    GROUP BY 1, 2, 3 ORDER BY 1, 3, 2
    ON CONFLICT (vehicle_id, bucket, fleet_id) DO UPDATE SET
        readings = h.readings + excluded.readings,
        distance_sum = h.distance_sum + excluded.distance_sum,
        speed_sum = h.speed_sum + excluded.speed_sum,
        speed_max = greatest(h.speed_max, excluded.speed_max),
        driving_s = h.driving_s + excluded.driving_s,
        idle_s = h.idle_s + excluded.idle_s,
        stopped_s = h.stopped_s + excluded.stopped_s,
        charging_s = h.charging_s + excluded.charging_s,
        observed_s = h.observed_s + excluded.observed_s)";

/// Moves the staged batch into `telemetry`, skipping rows whose natural key is stored already,
/// and folds exactly the inserted rows into `telemetry_latest` and the rollup tables ingest
/// keeps (`upkeep`). Returns the number of inserted rows.
pub(crate) fn ingest_sql(upkeep: RollupUpkeep) -> String {
    let latest_set = latest_set();
    let rollup = if upkeep.minutes {
        let statuses = if upkeep.statuses {
            format!(", {STATUS_AGGREGATES}")
        } else {
            String::new()
        };
        format!(
            ", batch AS (
                SELECT vehicle_id, fleet_id,
                       date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ 'epoch') AS bucket,
                       {ROLLUP_AGGREGATES}{statuses}
                FROM ins GROUP BY 1, 2, 3
            ){}",
            rollup_ctes(upkeep)
        )
    } else {
        String::new()
    };
    format!(
        "WITH ins AS (
            INSERT INTO vehicleops.telemetry SELECT * FROM pg_temp.vehicleops_staging
            ON CONFLICT DO NOTHING
            RETURNING *
        ), latest AS (
            INSERT INTO vehicleops.telemetry_latest AS l
            SELECT DISTINCT ON (vehicle_id) * FROM ins ORDER BY vehicle_id, time DESC, seq DESC
            ON CONFLICT (vehicle_id) DO UPDATE SET {latest_set}
            WHERE (l.time, l.seq) < (excluded.time, excluded.seq)
        ){rollup}
        SELECT count(*) FROM ins"
    )
}

/// How a rollup row absorbs new rows for its bucket (`r`: stored, `excluded`: new).
fn rollup_merge(statuses: bool) -> String {
    let mut merge = vec![
        "readings = r.readings + excluded.readings",
        "speed_sum = r.speed_sum + excluded.speed_sum",
        "speed_min = least(r.speed_min, excluded.speed_min)",
        "speed_max = greatest(r.speed_max, excluded.speed_max)",
        "battery_sum = r.battery_sum + excluded.battery_sum",
        "battery_min = least(r.battery_min, excluded.battery_min)",
        "battery_max = greatest(r.battery_max, excluded.battery_max)",
        "temp_sum = r.temp_sum + excluded.temp_sum",
        "temp_min = least(r.temp_min, excluded.temp_min)",
        "temp_max = greatest(r.temp_max, excluded.temp_max)",
        "load_sum = r.load_sum + excluded.load_sum",
        "load_min = least(r.load_min, excluded.load_min)",
        "load_max = greatest(r.load_max, excluded.load_max)",
        "distance_sum = r.distance_sum + excluded.distance_sum",
        "alert_readings = r.alert_readings + excluded.alert_readings",
    ];
    if statuses {
        merge.extend([
            "moving_readings = r.moving_readings + excluded.moving_readings",
            "idle_readings = r.idle_readings + excluded.idle_readings",
            "stopped_readings = r.stopped_readings + excluded.stopped_readings",
            "charging_readings = r.charging_readings + excluded.charging_readings",
        ]);
    }
    merge.join(", ")
}

/// `SET` list replacing every column of a `telemetry_latest` row but the key.
fn latest_set() -> String {
    SELECT_TELEMETRY
        .split(", ")
        .filter(|c| *c != "vehicle_id")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `unnest` over one array parameter per telemetry column, `$1..=$17`.
pub(crate) const UNNEST_TELEMETRY: &str = "unnest($1::text[], $2::text[], $3::timestamptz[], \
    $4::bigint[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], \
    $10::float8[], $11::float8[], $12::text[], $13::float8[], $14::float8[], $15::float8[], \
    $16::float8[], $17::text[])";

/// Upserts the newest reading per vehicle, given as arrays (one element per vehicle); an older
/// reading never replaces a newer one.
pub(crate) fn latest_upsert_sql() -> String {
    format!(
        "INSERT INTO vehicleops.telemetry_latest AS l ({SELECT_TELEMETRY})
         SELECT * FROM {UNNEST_TELEMETRY}
         ON CONFLICT (vehicle_id) DO UPDATE SET {}
         WHERE (l.time, l.seq) < (excluded.time, excluded.seq)",
        latest_set()
    )
}

/// Folds minute aggregates computed by the caller (arrays `$18..=$35`, in rollup column order,
/// and with `upkeep.statuses` the counts per status `$36..=$39`) into the rollup tables ingest
/// keeps, and the newest reading per vehicle (arrays `$1..=$17`, as for [`latest_upsert_sql`])
/// into `telemetry_latest`: one round trip for all.
pub(crate) fn latest_and_rollup_upsert_sql(upkeep: RollupUpkeep) -> String {
    let (status_arrays, status_columns) = if upkeep.statuses {
        (
            ", $36::bigint[], $37::bigint[], $38::bigint[], $39::bigint[]",
            format!(", {STATUS_COLUMNS}"),
        )
    } else {
        ("", String::new())
    };
    format!(
        "WITH latest AS ({}), batch AS (
            SELECT * FROM unnest($18::text[], $19::text[], $20::timestamptz[], $21::bigint[],
                $22::float8[], $23::float8[], $24::float8[], $25::float8[], $26::float8[],
                $27::float8[], $28::float8[], $29::float8[], $30::float8[], $31::float8[],
                $32::float8[], $33::float8[], $34::float8[], $35::bigint[]{status_arrays})
                AS b({BATCH_COLUMNS}{status_columns})
         ){}
         SELECT 1",
        latest_upsert_sql(),
        rollup_ctes(upkeep)
    )
}

/// One aggregated quantity of the analytics: its alias and how to get it from a raw row and
/// from a rollup row. Parts are summed/min/maxed again by the caller.
pub(crate) struct PartColumn {
    pub alias: &'static str,
    pub raw: &'static str,
    pub rollup: &'static str,
}

const fn col(alias: &'static str, raw: &'static str, rollup: &'static str) -> PartColumn {
    PartColumn { alias, raw, rollup }
}

/// Counted in float8: summing bigint would go through `numeric`, several times slower.
pub(crate) const READINGS: PartColumn = col("n", "1::float8", "readings::float8");

/// Columns of a metric: sum, min, max.
pub(crate) fn metric_columns(metric: vehicleops_core::Metric) -> [PartColumn; 3] {
    use vehicleops_core::Metric::*;
    match metric {
        SpeedKmh => [
            col("s", "speed_kmh", "speed_sum"),
            col("mn", "speed_kmh", "speed_min"),
            col("mx", "speed_kmh", "speed_max"),
        ],
        BatteryPct => [
            col("s", "battery_pct", "battery_sum"),
            col("mn", "battery_pct", "battery_min"),
            col("mx", "battery_pct", "battery_max"),
        ],
        EngineTempC => [
            col("s", "engine_temp_c", "temp_sum"),
            col("mn", "engine_temp_c", "temp_min"),
            col("mx", "engine_temp_c", "temp_max"),
        ],
        LoadPct => [
            col("s", "load_pct", "load_sum"),
            col("mn", "load_pct", "load_min"),
            col("mx", "load_pct", "load_max"),
        ],
    }
}

/// Everything the summary and the fleet report need.
pub(crate) const SUMMARY_COLUMNS: [PartColumn; 9] = [
    col("speed_sum", "speed_kmh", "speed_sum"),
    col("speed_max", "speed_kmh", "speed_max"),
    col("battery_sum", "battery_pct", "battery_sum"),
    col("battery_min", "battery_pct", "battery_min"),
    col("temp_sum", "engine_temp_c", "temp_sum"),
    col("temp_max", "engine_temp_c", "temp_max"),
    col("distance_sum", "distance_m", "distance_sum"),
    col(
        "alert_readings",
        "CASE WHEN status = 'ALERT' THEN 1::bigint ELSE 0::bigint END",
        "alert_readings",
    ),
    col("vehicle_id", "vehicle_id", "vehicle_id"),
];

/// A subquery of partial aggregates over `[from, to]` for rows where `key_column = $1`:
/// whole rollup buckets inside the window from `rollup` (if any), raw rows at the ragged edges.
/// Binds: `$1` key, `$2` from, `$3` first whole bucket, `$4` end of whole buckets, `$5` to.
/// Every part has a time column `t` plus `columns`.
pub(crate) fn parts_sql(key_column: &str, rollup: Option<&str>, columns: &[PartColumn]) -> String {
    let raw_cols: Vec<String> = columns
        .iter()
        .map(|c| format!("{} AS {}", c.raw, c.alias))
        .collect();
    // Two branches rather than one OR, so each is pruned to its own partition / chunk.
    let raw_cols = raw_cols.join(", ");
    let raw = format!(
        "SELECT time AS t, {raw_cols} FROM vehicleops.telemetry
         WHERE {key_column} = $1 AND time >= $2 AND time < $3
         UNION ALL
         SELECT time AS t, {raw_cols} FROM vehicleops.telemetry
         WHERE {key_column} = $1 AND time >= $4 AND time <= $5"
    );
    match rollup {
        None => raw,
        Some(relation) => {
            let rollup_cols: Vec<String> = columns
                .iter()
                .map(|c| format!("{} AS {}", c.rollup, c.alias))
                .collect();
            format!(
                "{raw}
                 UNION ALL
                 SELECT bucket AS t, {} FROM {relation}
                 WHERE {key_column} = $1 AND bucket >= $3 AND bucket < $4",
                rollup_cols.join(", ")
            )
        }
    }
}

/// The bind values `$2..=$5` of [`parts_sql`]: the window and the part of it covered by whole
/// rollup buckets of `width` (aligned to the Unix epoch). Without a rollup, or when no whole
/// bucket fits, the rollup part is empty and raw rows cover the window.
pub(crate) fn window_edges(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    width: Option<Duration>,
) -> [DateTime<Utc>; 4] {
    let after_to = to + Duration::microseconds(1);
    let Some(width) = width else {
        return [from, after_to, after_to, to];
    };
    let step = width.num_microseconds().unwrap_or(i64::MAX).max(1);
    let floor = |t: DateTime<Utc>| t.timestamp_micros().div_euclid(step) * step;
    let first_whole = {
        let f = floor(from);
        if f == from.timestamp_micros() {
            f
        } else {
            f + step
        }
    };
    let end_whole = floor(after_to);
    if end_whole <= first_whole {
        return [from, after_to, after_to, to];
    }
    let at = |micros: i64| DateTime::from_timestamp_micros(micros).expect("in range");
    [from, at(first_whole), at(end_whole), to]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, h, m, s).unwrap()
    }

    #[test]
    fn edges_split_window_into_ragged_ends_and_whole_minutes() {
        let [from, first, end, to] =
            window_edges(t(10, 0, 30), t(10, 5, 10), Some(Duration::minutes(1)));
        assert_eq!(
            (from, first, end, to),
            (t(10, 0, 30), t(10, 1, 0), t(10, 5, 0), t(10, 5, 10))
        );
    }

    #[test]
    fn an_inclusive_end_on_a_boundary_keeps_that_instant_raw() {
        // [10:00, 10:02] holds 10:02:00 itself, which belongs to the 10:02 minute: that minute
        // is not whole inside the window, so it must come from raw rows.
        let [_, first, end, _] = window_edges(t(10, 0, 0), t(10, 2, 0), Some(Duration::minutes(1)));
        assert_eq!((first, end), (t(10, 0, 0), t(10, 2, 0)));
    }

    #[test]
    fn a_window_inside_one_bucket_is_all_raw() {
        let [_, first, end, to] =
            window_edges(t(10, 0, 5), t(10, 0, 50), Some(Duration::minutes(1)));
        assert_eq!(first, end);
        assert!(first > to);
    }

    #[test]
    fn ingest_updates_rollup_only_when_it_is_a_table() {
        let upkeep = |minutes, statuses, hours| RollupUpkeep {
            minutes,
            statuses,
            hours,
        };
        let all = ingest_sql(upkeep(true, true, true));
        assert!(all.contains("telemetry_1m") && all.contains("telemetry_report_1h"));
        assert!(all.contains("moving_readings"));
        assert!(!ingest_sql(upkeep(true, true, false)).contains("telemetry_report_1h"));
        assert!(!ingest_sql(upkeep(true, false, false)).contains("moving_readings"));
        assert!(!ingest_sql(RollupUpkeep::default()).contains("telemetry_1m"));
        assert!(ingest_sql(RollupUpkeep::default()).contains("ON CONFLICT DO NOTHING"));
        assert!(
            latest_and_rollup_upsert_sql(upkeep(true, true, true)).contains("telemetry_report_1h")
        );
    }
}
