//! [`TimeSeriesStore`] for [`SqliteStore`]: batched idempotent inserts and the analytics queries.
//!
//! Readings live in two tables (see the schema): `telemetry_recent`, clustered by time, takes
//! every new reading at or after the `recent_from` watermark, and `telemetry`, clustered by
//! vehicle, holds everything older. Writes append to the recent table in a few pages whatever the
//! number of vehicles; [`compact`] moves its older half into `telemetry` once it grows past the
//! configured size, adding them to the per-minute rollups ([`rollup`]) as it goes. Every query
//! reads its tables inside one read transaction, so it sees one consistent snapshot even while a
//! compaction commits.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use vehicleops_core::{
    Error, FleetPerformanceReport, HistoryQuery, MapPose, Metric, Reading, ReportFigures,
    ReportQuery, Result, SeriesPoint, StoreStatus, Telemetry, TimeRange, TimeSeriesStore,
    VehicleDay, VehicleMetricsSummary, VehiclePerformance, VehicleStatus, WriteOutcome,
};

use super::convert::{from_micros, micros};
use super::rollup::{self, WindowPlan};
use super::{SqliteOptions, SqliteStore, backend_error};

/// Rows per multi-row INSERT. Fewer statement executions per batch; 32 rows × 17 columns stays
/// far below SQLite's bound-parameter limit.
const ROWS_PER_INSERT: usize = 32;

/// The two homes of a reading.
const RECENT: &str = "telemetry_recent";
const ARCHIVE: &str = "telemetry";

const COLUMNS: &str = "vehicle_id, ts, seq, fleet_id, latitude, longitude, speed_kmh, \
     battery_pct, engine_temp_c, load_pct, status, heading_deg, distance_m, pose_x, pose_y, \
     pose_theta, pose_map_id";
const INSERT_ROW: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/// The columns [`telemetry_from_row`] reads, in its order.
const SELECT_COLUMNS: &str = "vehicle_id, ts, seq, fleet_id, latitude, longitude, speed_kmh, \
     battery_pct, engine_temp_c, load_pct, status, heading_deg, pose_x, pose_y, pose_theta, \
     pose_map_id";

/// When to compact. The watermark itself is read inside each write transaction (one indexed row),
/// so routing stays right even if another process wrote to the same file.
pub(super) struct Tiers {
    /// Rows in `telemetry_recent` as this store counts them: only decides when to compact.
    recent_rows: AtomicU64,
    /// Vehicle–fleet pairs that have reported (`telemetry_streams`): the vehicle count.
    streams: AtomicU64,
    compact_after_rows: u64,
    compact_rows_per_vehicle: u64,
}

impl Tiers {
    /// Counts the recent table's rows and the vehicles.
    pub(super) fn load(conn: &Connection, options: &SqliteOptions) -> Result<Self> {
        let count = |table: &str| -> Result<u64> {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(backend_error)
        };
        Ok(Tiers {
            recent_rows: AtomicU64::new(count(RECENT)?),
            streams: AtomicU64::new(count("telemetry_streams")?),
            compact_after_rows: options.compact_after_rows.max(1),
            compact_rows_per_vehicle: options.compact_rows_per_vehicle,
        })
    }

    /// Compact once `telemetry_recent` holds this many rows.
    fn compact_threshold(&self) -> u64 {
        let per_vehicle = self
            .compact_rows_per_vehicle
            .saturating_mul(self.streams.load(Ordering::Acquire));
        self.compact_after_rows.max(per_vehicle)
    }
}

fn insert_sql(table: &str, rows: usize) -> String {
    let mut sql = format!("INSERT OR IGNORE INTO {table} ({COLUMNS}) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(INSERT_ROW);
    }
    sql
}

/// Inserts `rows` into `table` with cached multi-row statements; returns how many were new.
fn insert_rows(conn: &Connection, table: &str, rows: &[&Reading]) -> Result<u64> {
    let mut inserted = 0u64;
    let chunks = rows.chunks_exact(ROWS_PER_INSERT);
    let remainder = chunks.remainder();
    if chunks.len() > 0 {
        let mut stmt = conn
            .prepare_cached(&insert_sql(table, ROWS_PER_INSERT))
            .map_err(backend_error)?;
        for chunk in chunks {
            let params = chunk.iter().flat_map(|r| reading_params(r));
            inserted += stmt
                .execute(rusqlite::params_from_iter(params))
                .map_err(backend_error)? as u64;
        }
    }
    if !remainder.is_empty() {
        let mut stmt = conn
            .prepare_cached(&insert_sql(table, 1))
            .map_err(backend_error)?;
        for &reading in remainder {
            inserted += stmt
                .execute(rusqlite::params_from_iter(reading_params(reading)))
                .map_err(backend_error)? as u64;
        }
    }
    Ok(inserted)
}

/// Inserts readings older than the watermark straight into the archive, adding each new one to
/// its minute's rollup. One at a time, to know which were new; late readings are few.
fn insert_late_rows(conn: &Connection, rows: &[&Reading]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut inserted = 0;
    let mut stmt = conn
        .prepare_cached(&insert_sql(ARCHIVE, 1))
        .map_err(backend_error)?;
    for &reading in rows {
        let added = stmt
            .execute(rusqlite::params_from_iter(reading_params(reading)))
            .map_err(backend_error)?;
        if added == 1 {
            rollup::add_reading(conn, reading)?;
            inserted += 1;
        }
    }
    Ok(inserted)
}

/// Writes `readings` in one transaction, each into the table its timestamp belongs to; returns
/// how many rows were new. Compacts afterwards when the recent table has grown enough.
fn write_readings(
    conn: &mut Connection,
    tiers: &Tiers,
    readings: &[Reading],
) -> Result<WriteOutcome> {
    // IMMEDIATE takes the write lock first: the watermark read below cannot move before commit.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend_error)?;
    let recent_from = watermark(&tx)?;
    let (mut recent, mut late): (Vec<&Reading>, Vec<&Reading>) = readings
        .iter()
        .partition(|r| micros(r.telemetry.timestamp) >= recent_from);
    // Each in its table's key order, so consecutive inserts land on the same b-tree leaf.
    recent.sort_unstable_by(|a, b| {
        let (a, b) = (&a.telemetry, &b.telemetry);
        (a.timestamp, a.vehicle_id.as_str(), a.seq).cmp(&(
            b.timestamp,
            b.vehicle_id.as_str(),
            b.seq,
        ))
    });
    late.sort_unstable_by(|a, b| {
        let (a, b) = (&a.telemetry, &b.telemetry);
        (a.vehicle_id.as_str(), a.timestamp, a.seq).cmp(&(
            b.vehicle_id.as_str(),
            b.timestamp,
            b.seq,
        ))
    });

    let inserted_recent = insert_rows(&tx, RECENT, &recent)?;
    let inserted_late = insert_late_rows(&tx, &late)?;
    let mut new_streams = 0;
    {
        let streams: BTreeSet<(&str, &str)> = readings
            .iter()
            .map(|r| {
                (
                    r.telemetry.fleet_id.as_str(),
                    r.telemetry.vehicle_id.as_str(),
                )
            })
            .collect();
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO telemetry_streams (fleet_id, vehicle_id) VALUES (?, ?)",
            )
            .map_err(backend_error)?;
        for (fleet_id, vehicle_id) in streams {
            new_streams += stmt
                .execute(params![fleet_id, vehicle_id])
                .map_err(backend_error)? as u64;
        }
    }
    tx.commit().map_err(backend_error)?;
    tiers.streams.fetch_add(new_streams, Ordering::AcqRel);

    let recent_rows = tiers
        .recent_rows
        .fetch_add(inserted_recent, Ordering::AcqRel)
        + inserted_recent;
    if recent_rows >= tiers.compact_threshold() {
        // The batch is already durable: a failed compaction must not report it as failed (the
        // caller would only replay it). The rows stay in the recent table and the next write
        // tries again.
        if let Err(e) = compact(conn, tiers) {
            tracing::warn!(error = %e, "moving recent telemetry to the archive table failed");
        }
    }
    let inserted = inserted_recent + inserted_late;
    Ok(WriteOutcome {
        inserted,
        duplicates: readings.len() as u64 - inserted,
    })
}

/// Moves the older half of `telemetry_recent` into `telemetry` and advances the watermark, in
/// one transaction. The newer half stays, so a vehicle whose readings lag a little behind the
/// others still finds its time range in the recent table.
fn compact(conn: &mut Connection, tiers: &Tiers) -> Result<()> {
    let recent_rows = tiers.recent_rows.load(Ordering::Acquire);
    let new_recent_from: Option<i64> = conn
        .query_row(
            "SELECT ts FROM telemetry_recent ORDER BY ts LIMIT 1 OFFSET ?",
            [recent_rows / 2],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend_error)?;
    match new_recent_from {
        Some(ts) => archive_before(conn, tiers, ts),
        None => Ok(()),
    }
}

/// Moves every reading of `telemetry_recent` before `new_recent_from` (µs) into `telemetry`,
/// adding them to the rollups, and advances the watermark to it, in one transaction. Nothing
/// happens when the watermark is already there or beyond.
pub(super) fn archive_before(
    conn: &mut Connection,
    tiers: &Tiers,
    new_recent_from: i64,
) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend_error)?;
    if new_recent_from <= watermark(&tx)? {
        return Ok(());
    }
    rollup::add_rows_before(&tx, RECENT, new_recent_from)?;
    // Sorted by the archive's key: each vehicle's readings are appended together.
    tx.execute(
        &format!(
            "INSERT OR IGNORE INTO {ARCHIVE} ({COLUMNS}) SELECT {COLUMNS} FROM {RECENT} \
             WHERE ts < ?1 ORDER BY vehicle_id, ts, seq"
        ),
        [new_recent_from],
    )
    .map_err(backend_error)?;
    let moved = tx
        .execute(
            &format!("DELETE FROM {RECENT} WHERE ts < ?1"),
            [new_recent_from],
        )
        .map_err(backend_error)?;
    tx.execute(
        "UPDATE telemetry_meta SET value = ?1 WHERE key = 'recent_from'",
        [new_recent_from],
    )
    .map_err(backend_error)?;
    tx.commit().map_err(backend_error)?;
    tiers.recent_rows.fetch_sub(moved as u64, Ordering::AcqRel);
    Ok(())
}

/// The current watermark: readings at or after it (µs) belong in `telemetry_recent`.
fn watermark(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT value FROM telemetry_meta WHERE key = 'recent_from'")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(backend_error)
}

/// The 17 values of one reading, in [`COLUMNS`] order.
fn reading_params(reading: &Reading) -> [rusqlite::types::ToSqlOutput<'_>; 17] {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    let t = &reading.telemetry;
    let real = |v: f64| ToSqlOutput::Owned(Value::Real(v));
    fn text(s: &str) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
    }
    let pose = t.pose.as_ref();
    let opt_real = |v: Option<f64>| v.map_or(ToSqlOutput::Owned(Value::Null), real);
    [
        text(&t.vehicle_id),
        ToSqlOutput::Owned(Value::Integer(micros(t.timestamp))),
        // Stored as the same 64 bits: values above i64::MAX read back unchanged but sort below 0.
        ToSqlOutput::Owned(Value::Integer(t.seq as i64)),
        text(&t.fleet_id),
        real(t.latitude),
        real(t.longitude),
        real(t.speed_kmh),
        real(t.battery_pct),
        real(t.engine_temp_c),
        real(t.load_pct),
        text(t.status.as_str()),
        real(t.heading_deg),
        real(reading.distance_m),
        opt_real(pose.map(|p| p.x)),
        opt_real(pose.map(|p| p.y)),
        opt_real(pose.map(|p| p.theta)),
        pose.map_or(ToSqlOutput::Owned(Value::Null), |p| text(&p.map_id)),
    ]
}

fn telemetry_from_row(row: &Row<'_>) -> rusqlite::Result<Telemetry> {
    let status: String = row.get(10)?;
    let status = status.parse::<VehicleStatus>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let pose = match (
        row.get::<_, Option<f64>>(12)?,
        row.get::<_, Option<f64>>(13)?,
        row.get::<_, Option<f64>>(14)?,
        row.get::<_, Option<String>>(15)?,
    ) {
        (Some(x), Some(y), Some(theta), Some(map_id)) => Some(MapPose {
            x,
            y,
            theta,
            map_id,
        }),
        _ => None,
    };
    Ok(Telemetry {
        vehicle_id: row.get(0)?,
        timestamp: from_micros(row.get(1)?)?,
        seq: row.get::<_, i64>(2)? as u64,
        fleet_id: row.get(3)?,
        latitude: row.get(4)?,
        longitude: row.get(5)?,
        speed_kmh: row.get(6)?,
        battery_pct: row.get(7)?,
        engine_temp_c: row.get(8)?,
        load_pct: row.get(9)?,
        status,
        heading_deg: row.get(11)?,
        pose,
    })
}

/// Runs `work` inside one read transaction, so reads spanning both tables see one snapshot.
fn in_snapshot<T>(conn: &Connection, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let tx = conn.unchecked_transaction().map_err(backend_error)?;
    let result = work(&tx)?;
    tx.finish().map_err(backend_error)?;
    Ok(result)
}

/// The newest reading of `vehicle_id` in `table`.
/// Every reading in the recent table is newer than every archived one.
fn latest_of(conn: &Connection, vehicle_id: &str) -> Result<Option<Telemetry>> {
    match latest_in_by(conn, RECENT, vehicle_id, i64::MAX)? {
        Some(latest) => Ok(Some(latest)),
        None => latest_in_by(conn, ARCHIVE, vehicle_id, i64::MAX),
    }
}

/// The newest reading of a vehicle at or before `at` (microseconds) in `table`.
fn latest_in_by(
    conn: &Connection,
    table: &str,
    vehicle_id: &str,
    at: i64,
) -> Result<Option<Telemetry>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SELECT_COLUMNS} FROM {table} WHERE vehicle_id = ? AND ts <= ? \
             ORDER BY ts DESC, seq DESC LIMIT 1"
        ))
        .map_err(backend_error)?;
    stmt.query_row(params![vehicle_id, at], telemetry_from_row)
        .optional()
        .map_err(backend_error)
}

/// The last reading at or before `at` (microseconds; `i64::MAX` for the newest) of each vehicle
/// that has reported for the fleet, if it was in the fleet then. When `at` falls in the recent
/// table's span, one pass over it backwards from `at` finds the vehicles that reported there,
/// stopping once every one was met; the others (and every vehicle when `at` is older than the
/// recent table) take one primary-key probe of the archive.
fn fleet_at(conn: &Connection, fleet_id: &str, at: i64) -> Result<Vec<Telemetry>> {
    let mut missing: HashSet<String> = {
        let mut stmt = conn
            .prepare_cached("SELECT vehicle_id FROM telemetry_streams WHERE fleet_id = ?")
            .map_err(backend_error)?;
        stmt.query_map([fleet_id], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(backend_error)?
    };
    let mut found = Vec::with_capacity(missing.len());
    if !missing.is_empty() && at >= watermark(conn)? {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM {RECENT} WHERE ts <= ? \
                 ORDER BY ts DESC, vehicle_id DESC, seq DESC"
            ))
            .map_err(backend_error)?;
        let mut rows = stmt.query([at]).map_err(backend_error)?;
        while let Some(row) = rows.next().map_err(backend_error)? {
            let vehicle_id: String = row.get(0).map_err(backend_error)?;
            if missing.remove(&vehicle_id) {
                found.push(telemetry_from_row(row).map_err(backend_error)?);
                if missing.is_empty() {
                    break;
                }
            }
        }
    }
    for vehicle_id in missing {
        found.extend(latest_in_by(conn, ARCHIVE, &vehicle_id, at)?);
    }
    // A vehicle whose reading then was in another fleet belonged to that fleet then (and one
    // that moved since belongs to the other fleet now).
    found.retain(|t| t.fleet_id == fleet_id);
    found.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
    Ok(found)
}

/// Readings of one vehicle in a window from `table`, oldest first, at most `limit`.
fn history_in(
    conn: &Connection,
    table: &str,
    vehicle_id: &str,
    range: TimeRange,
    limit: u32,
) -> Result<Vec<Telemetry>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SELECT_COLUMNS} FROM {table} WHERE vehicle_id = ? AND ts BETWEEN ? AND ? \
             ORDER BY ts, seq LIMIT ?"
        ))
        .map_err(backend_error)?;
    stmt.query_map(
        params![vehicle_id, micros(range.from), micros(range.to), limit],
        telemetry_from_row,
    )
    .and_then(|rows| rows.collect())
    .map_err(backend_error)
}

/// The archive holds the older readings, so its rows come first.
fn history(conn: &Connection, query: &HistoryQuery) -> Result<Vec<Telemetry>> {
    let limit = query.limit.min(HistoryQuery::MAX_LIMIT);
    let mut readings = history_in(conn, ARCHIVE, &query.vehicle_id, query.range, limit)?;
    let left = limit - readings.len() as u32;
    if left > 0 {
        readings.extend(history_in(
            conn,
            RECENT,
            &query.vehicle_id,
            query.range,
            left,
        )?);
    }
    Ok(readings)
}

fn vehicle_summary(
    conn: &Connection,
    vehicle_id: &str,
    range: TimeRange,
) -> Result<VehicleMetricsSummary> {
    let plan = WindowPlan::new(range, true);
    let mut total = SummaryParts::default();
    let raw = |table: &str| {
        format!(
            "SELECT COUNT(*), SUM(speed_kmh), MAX(speed_kmh), SUM(battery_pct), MIN(battery_pct), \
             SUM(engine_temp_c), MAX(engine_temp_c), SUM(distance_m), SUM(status = 'ALERT') \
             FROM {table} WHERE vehicle_id = ? AND ts BETWEEN ? AND ?"
        )
    };
    for (from, to) in plan.raw_archive_ranges() {
        total.merge(SummaryParts::query(
            conn,
            &raw(ARCHIVE),
            vehicle_id,
            from,
            to,
        )?);
    }
    total.merge(SummaryParts::query(
        conn,
        &raw(RECENT),
        vehicle_id,
        plan.from,
        plan.to,
    )?);
    if let Some((start, end)) = plan.whole_minutes {
        let sql = "SELECT SUM(readings), SUM(speed_kmh_sum), MAX(speed_kmh_max), \
             SUM(battery_pct_sum), MIN(battery_pct_min), SUM(engine_temp_c_sum), \
             MAX(engine_temp_c_max), SUM(distance_m), SUM(alerts) FROM telemetry_minutes \
             WHERE vehicle_id = ? AND minute >= ? AND minute < ?";
        total.merge(SummaryParts::query(conn, sql, vehicle_id, start, end)?);
    }
    let n = total.readings as f64;
    let avg = |sum: f64| (total.readings > 0).then(|| sum / n);
    Ok(VehicleMetricsSummary {
        vehicle_id: vehicle_id.to_string(),
        total_readings: total.readings,
        avg_speed_kmh: avg(total.speed_sum),
        max_speed_kmh: total.speed_max,
        avg_battery_pct: avg(total.battery_sum),
        min_battery_pct: total.battery_min,
        avg_engine_temp_c: avg(total.engine_temp_sum),
        max_engine_temp_c: total.engine_temp_max,
        total_distance_km: total.distance_m / 1000.0,
        alert_count: total.alerts,
    })
}

/// The additive parts of a vehicle summary, from raw rows or rollups, merged across sources.
#[derive(Default)]
struct SummaryParts {
    readings: u64,
    speed_sum: f64,
    speed_max: Option<f64>,
    battery_sum: f64,
    battery_min: Option<f64>,
    engine_temp_sum: f64,
    engine_temp_max: Option<f64>,
    distance_m: f64,
    alerts: u64,
}

impl SummaryParts {
    /// Runs `sql` (vehicle, from, to) returning the nine parts in field order; NULLs (no rows)
    /// count as nothing.
    fn query(conn: &Connection, sql: &str, vehicle_id: &str, from: i64, to: i64) -> Result<Self> {
        let mut stmt = conn.prepare_cached(sql).map_err(backend_error)?;
        stmt.query_row(params![vehicle_id, from, to], |row| {
            Ok(SummaryParts {
                readings: row.get::<_, Option<i64>>(0)?.unwrap_or(0) as u64,
                speed_sum: row.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
                speed_max: row.get(2)?,
                battery_sum: row.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                battery_min: row.get(4)?,
                engine_temp_sum: row.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
                engine_temp_max: row.get(6)?,
                distance_m: row.get::<_, Option<f64>>(7)?.unwrap_or(0.0),
                alerts: row.get::<_, Option<i64>>(8)?.unwrap_or(0) as u64,
            })
        })
        .map_err(backend_error)
    }

    fn merge(&mut self, other: SummaryParts) {
        fn pick(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            }
        }
        self.readings += other.readings;
        self.speed_sum += other.speed_sum;
        self.speed_max = pick(self.speed_max, other.speed_max, f64::max);
        self.battery_sum += other.battery_sum;
        self.battery_min = pick(self.battery_min, other.battery_min, f64::min);
        self.engine_temp_sum += other.engine_temp_sum;
        self.engine_temp_max = pick(self.engine_temp_max, other.engine_temp_max, f64::max);
        self.distance_m += other.distance_m;
        self.alerts += other.alerts;
    }
}

fn series(
    conn: &Connection,
    vehicle_id: &str,
    metric: Metric,
    range: TimeRange,
    bucket: Duration,
) -> Result<Vec<SeriesPoint>> {
    let bucket_us = bucket
        .num_microseconds()
        .filter(|&us| us > 0)
        .ok_or_else(|| Error::validation("bucket", "the bucket must be positive"))?;
    // Floor, not truncation: epoch-aligned for times before 1970 too.
    let bucket_of = |ts: i64| ts - ts.rem_euclid(bucket_us);
    // A minute lies inside one bucket only when buckets are whole minutes.
    let plan = WindowPlan::new(range, bucket_us % rollup::MINUTE_US == 0);
    // `column()` is one of four fixed names, never user text.
    let column = metric.column();
    let mut buckets: BTreeMap<i64, BucketAggregate> = BTreeMap::new();

    let mut add_raw = |table: &str, from: i64, to: i64| -> Result<()> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT ts, {column} FROM {table} WHERE vehicle_id = ? AND ts BETWEEN ? AND ?"
            ))
            .map_err(backend_error)?;
        let mut rows = stmt
            .query(params![vehicle_id, from, to])
            .map_err(backend_error)?;
        while let Some(row) = rows.next().map_err(backend_error)? {
            let ts: i64 = row.get(0).map_err(backend_error)?;
            let value: f64 = row.get(1).map_err(backend_error)?;
            buckets
                .entry(bucket_of(ts))
                .or_default()
                .merge(1, value, value, value);
        }
        Ok(())
    };
    for (from, to) in plan.raw_archive_ranges() {
        add_raw(ARCHIVE, from, to)?;
    }
    add_raw(RECENT, plan.from, plan.to)?;

    if let Some((start, end)) = plan.whole_minutes {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT minute, readings, {column}_sum, {column}_min, {column}_max \
                 FROM telemetry_minutes WHERE vehicle_id = ? AND minute >= ? AND minute < ?"
            ))
            .map_err(backend_error)?;
        let mut rows = stmt
            .query(params![vehicle_id, start, end])
            .map_err(backend_error)?;
        while let Some(row) = rows.next().map_err(backend_error)? {
            let minute: i64 = row.get(0).map_err(backend_error)?;
            let readings: i64 = row.get(1).map_err(backend_error)?;
            let (sum, min, max): (f64, f64, f64) = (
                row.get(2).map_err(backend_error)?,
                row.get(3).map_err(backend_error)?,
                row.get(4).map_err(backend_error)?,
            );
            buckets
                .entry(bucket_of(minute))
                .or_default()
                .merge(readings as u64, sum, min, max);
        }
    }

    buckets
        .into_iter()
        .map(|(start, aggregate)| {
            Ok(SeriesPoint {
                bucket: from_micros(start).map_err(backend_error)?,
                avg_value: aggregate.sum / aggregate.count as f64,
                max_value: aggregate.max,
                min_value: aggregate.min,
            })
        })
        .collect()
}

/// The running count/sum/min/max of one series bucket.
struct BucketAggregate {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for BucketAggregate {
    fn default() -> Self {
        BucketAggregate {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl BucketAggregate {
    fn merge(&mut self, count: u64, sum: f64, min: f64, max: f64) {
        self.count += count;
        self.sum += sum;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }
}

fn fleet_performance(
    conn: &Connection,
    fleet_id: &str,
    range: TimeRange,
) -> Result<FleetPerformanceReport> {
    // Archive: CROSS JOIN fixes the loop order, the fleet's vehicles outside and each one's key
    // range inside. Recent: small and clustered by time, so scanned by the window.
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT vehicle_id, AVG(speed_kmh), AVG(battery_pct), \
             COALESCE(SUM(distance_m), 0.0) / 1000.0 AS distance_km, \
             COALESCE(SUM(status = 'ALERT'), 0) \
             FROM (SELECT t.vehicle_id, t.speed_kmh, t.battery_pct, t.distance_m, t.status \
                   FROM telemetry_streams s CROSS JOIN {ARCHIVE} t \
                   ON t.vehicle_id = s.vehicle_id AND t.ts BETWEEN ?2 AND ?3 \
                   AND t.fleet_id = s.fleet_id \
                   WHERE s.fleet_id = ?1 \
                   UNION ALL \
                   SELECT vehicle_id, speed_kmh, battery_pct, distance_m, status FROM {RECENT} \
                   WHERE fleet_id = ?1 AND ts BETWEEN ?2 AND ?3) \
             GROUP BY vehicle_id ORDER BY distance_km DESC, vehicle_id"
        ))
        .map_err(backend_error)?;
    let vehicles = stmt
        .query_map(
            params![fleet_id, micros(range.from), micros(range.to)],
            |row| {
                Ok(VehiclePerformance {
                    vehicle_id: row.get(0)?,
                    avg_speed: row.get(1)?,
                    avg_battery: row.get(2)?,
                    distance_km: row.get(3)?,
                    alerts: row.get::<_, i64>(4)? as u64,
                })
            },
        )
        .and_then(|rows| rows.collect())
        .map_err(backend_error)?;
    Ok(FleetPerformanceReport {
        fleet_id: fleet_id.to_string(),
        from: range.from,
        to: range.to,
        vehicles,
    })
}

/// The telemetry part of a daily report. Whole hours before the watermark's hour come from
/// `telemetry_hours` (every reading there is archived, so its hour is complete) when the site's
/// days start on the hour; the rest minute by minute, from the rollups (every archived reading
/// is in one) and the recent table grouped by minute — a minute split between the two is summed
/// first, then its 60 s are shared between the statuses of its readings.
fn report_days(conn: &Connection, query: &ReportQuery) -> Result<Vec<VehicleDay>> {
    let range = query.range();
    let (from, to) = (micros(range.from), micros(range.to));
    // Minutes from here on; hours before it.
    let minutes_from = if query.utc_offset_minutes % 60 == 0 {
        rollup::hour_of(watermark(conn)?).clamp(from, to.saturating_add(1))
    } else {
        from
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "WITH parts AS ( \
                SELECT m.vehicle_id, m.minute, m.readings, m.distance_m, m.speed_kmh_sum, \
                       m.speed_kmh_max, m.moving_readings, m.idle_readings, m.stopped_readings, \
                       m.charging_readings \
                FROM telemetry_streams s CROSS JOIN telemetry_minutes m \
                  ON m.vehicle_id = s.vehicle_id AND m.minute BETWEEN ?5 AND ?3 \
                WHERE s.fleet_id = ?1 AND (?4 IS NULL OR s.vehicle_id = ?4) \
                UNION ALL \
                SELECT vehicle_id, ts - (((ts % {MINUTE}) + {MINUTE}) % {MINUTE}), COUNT(*), \
                       SUM(distance_m), SUM(speed_kmh), MAX(speed_kmh), SUM(status = 'MOVING'), \
                       SUM(status = 'IDLE'), SUM(status = 'STOPPED'), SUM(status = 'CHARGING') \
                FROM {RECENT} WHERE fleet_id = ?1 AND (?4 IS NULL OR vehicle_id = ?4) \
                  AND ts BETWEEN ?5 AND ?3 GROUP BY 1, 2), \
             spans AS ( \
                SELECT vehicle_id, minute AS start, SUM(readings) AS n, \
                       SUM(distance_m) AS distance_m, SUM(speed_kmh_sum) AS speed_sum, \
                       MAX(speed_kmh_max) AS speed_max, \
                       60.0 * SUM(moving_readings) / SUM(readings) AS driving_s, \
                       60.0 * SUM(idle_readings) / SUM(readings) AS idle_s, \
                       60.0 * SUM(stopped_readings) / SUM(readings) AS stopped_s, \
                       60.0 * SUM(charging_readings) / SUM(readings) AS charging_s, \
                       60.0 AS observed_s \
                FROM parts GROUP BY vehicle_id, minute \
                UNION ALL \
                SELECT h.vehicle_id, h.hour, h.readings, h.distance_m, h.speed_kmh_sum, \
                       h.speed_kmh_max, h.driving_s, h.idle_s, h.stopped_s, h.charging_s, \
                       h.observed_s \
                FROM telemetry_streams s CROSS JOIN telemetry_hours h \
                  ON h.vehicle_id = s.vehicle_id AND h.hour >= ?2 AND h.hour < ?5 \
                WHERE s.fleet_id = ?1 AND (?4 IS NULL OR s.vehicle_id = ?4)) \
             SELECT (start - ?2) / {DAY} AS day, vehicle_id, SUM(n), SUM(distance_m), \
                    SUM(speed_sum) / SUM(n), MAX(speed_max), SUM(driving_s), SUM(idle_s), \
                    SUM(stopped_s), SUM(charging_s), SUM(observed_s) \
             FROM spans GROUP BY 1, 2 ORDER BY 1, 2",
            MINUTE = rollup::MINUTE_US,
            DAY = 24 * rollup::HOUR_US,
        ))
        .map_err(backend_error)?;
    let rows = stmt
        .query_map(
            params![query.fleet_id, from, to, query.vehicle_id, minutes_from],
            |row| {
                let day: i64 = row.get(0)?;
                let (driving_s, idle_s, stopped_s, charging_s, observed_s): (
                    f64,
                    f64,
                    f64,
                    f64,
                    f64,
                ) = (
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                    row.get(10)?,
                );
                Ok(VehicleDay {
                    vehicle_id: row.get(1)?,
                    day: query.from + Duration::days(day),
                    figures: ReportFigures {
                        readings: row.get::<_, i64>(2)? as u64,
                        distance_km: row.get::<_, f64>(3)? / 1000.0,
                        avg_speed_kmh: row.get(4)?,
                        max_speed_kmh: row.get(5)?,
                        driving_s,
                        idle_s,
                        stopped_s,
                        charging_s,
                        other_s: (observed_s - driving_s - idle_s - stopped_s - charging_s)
                            .max(0.0),
                        ..ReportFigures::default()
                    },
                })
            },
        )
        .and_then(|rows| rows.collect())
        .map_err(backend_error)?;
    Ok(rows)
}

#[async_trait]
impl TimeSeriesStore for SqliteStore {
    async fn write_batch(&self, readings: &[Reading]) -> Result<WriteOutcome> {
        if readings.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let readings = readings.to_vec();
        let tiers = self.tiers();
        let outcome = self
            .with_writer(move |conn| write_readings(conn, &tiers, &readings))
            .await?;
        self.note_rows_written(outcome.inserted);
        Ok(outcome)
    }

    async fn latest(&self, vehicle_id: &str) -> Result<Option<Telemetry>> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| in_snapshot(conn, |conn| latest_of(conn, &vehicle_id)))
            .await
    }

    async fn latest_for_fleet(&self, fleet_id: &str) -> Result<Vec<Telemetry>> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| in_snapshot(conn, |conn| fleet_at(conn, &fleet_id, i64::MAX)))
            .await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Vec<Telemetry>> {
        let query = query.clone();
        self.with_reader(move |conn| in_snapshot(conn, |conn| history(conn, &query)))
            .await
    }

    async fn fleet_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Telemetry>> {
        let fleet_id = fleet_id.to_string();
        let at = micros(at);
        self.with_reader(move |conn| in_snapshot(conn, |conn| fleet_at(conn, &fleet_id, at)))
            .await
    }

    async fn vehicle_summary(
        &self,
        vehicle_id: &str,
        range: TimeRange,
    ) -> Result<VehicleMetricsSummary> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| vehicle_summary(conn, &vehicle_id, range))
            .await
    }

    async fn series(
        &self,
        vehicle_id: &str,
        metric: Metric,
        range: TimeRange,
        bucket: Duration,
    ) -> Result<Vec<SeriesPoint>> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| {
            in_snapshot(conn, |conn| {
                series(conn, &vehicle_id, metric, range, bucket)
            })
        })
        .await
    }

    async fn fleet_performance(
        &self,
        fleet_id: &str,
        range: TimeRange,
    ) -> Result<FleetPerformanceReport> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| fleet_performance(conn, &fleet_id, range))
            .await
    }

    async fn report_days(&self, query: &ReportQuery) -> Result<Vec<VehicleDay>> {
        let query = query.clone();
        self.with_reader(move |conn| in_snapshot(conn, |conn| report_days(conn, &query)))
            .await
    }

    async fn status(&self) -> Result<StoreStatus> {
        self.store_status().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn reading(vehicle_id: &str, secs: i64) -> Reading {
        Reading {
            telemetry: Telemetry {
                vehicle_id: vehicle_id.into(),
                fleet_id: "fleet-001".into(),
                latitude: 4.7,
                longitude: -74.1,
                speed_kmh: secs as f64,
                battery_pct: 80.0,
                engine_temp_c: 70.0,
                load_pct: 0.0,
                status: VehicleStatus::Moving,
                timestamp: DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
                heading_deg: 0.0,
                seq: 0,
                pose: None,
            },
            distance_m: 1.0,
        }
    }

    /// (rows in the archive, rows in the recent table, watermark in seconds after the base).
    async fn layout(store: &SqliteStore) -> (i64, i64, i64) {
        store
            .with_reader(|conn| {
                let count = |table: &str| -> Result<i64> {
                    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                        row.get(0)
                    })
                    .map_err(backend_error)
                };
                let recent_from: i64 = conn
                    .query_row(
                        "SELECT value FROM telemetry_meta WHERE key = 'recent_from'",
                        [],
                        |row| row.get(0),
                    )
                    .map_err(backend_error)?;
                Ok((
                    count(ARCHIVE)?,
                    count(RECENT)?,
                    recent_from / 1_000_000 - 1_700_000_000,
                ))
            })
            .await
            .unwrap()
    }

    /// Series and summaries read from rollups, raw edges and the recent table must equal the
    /// same figures computed directly from the readings, for windows that do and do not align
    /// with minutes and buckets that do and do not consist of whole minutes.
    #[tokio::test]
    async fn rollups_and_raw_rows_give_the_figures_of_the_readings() {
        let store = SqliteStore::in_memory_with(SqliteOptions {
            compact_after_rows: 50,
            compact_rows_per_vehicle: 0,
        })
        .unwrap();
        // 12 minutes of readings every 7 s from two vehicles, values from a small LCG.
        let mut state: u64 = 42;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let mut written = Vec::new();
        for secs in (0..720).step_by(7) {
            for vehicle in ["VH-1", "VH-2"] {
                let mut r = reading(vehicle, secs);
                r.telemetry.speed_kmh = (next() * 100.0).round();
                r.telemetry.battery_pct = (next() * 100.0).round();
                r.telemetry.engine_temp_c = 40.0 + (next() * 60.0).round();
                r.telemetry.load_pct = (next() * 100.0).round();
                r.distance_m = (next() * 50.0).round();
                if next() < 0.2 {
                    r.telemetry.status = VehicleStatus::Alert;
                }
                written.push(r);
            }
        }
        for batch in written.chunks(10) {
            store.write_batch(batch).await.unwrap();
        }
        // Late readings, older than the watermark by now, between the others.
        let late: Vec<Reading> = (0..60)
            .step_by(10)
            .map(|secs| {
                let mut r = reading("VH-1", secs + 3);
                r.telemetry.speed_kmh = 77.0;
                r
            })
            .collect();
        store.write_batch(&late).await.unwrap();
        written.extend(late);
        let (archived, _, _) = layout(&store).await;
        assert!(archived > 100, "most readings must have been archived");

        let vh1: Vec<&Reading> = written
            .iter()
            .filter(|r| r.telemetry.vehicle_id == "VH-1")
            .collect();
        let base = vh1[0].telemetry.timestamp - Duration::seconds(0);
        let at = |secs: i64| base + Duration::seconds(secs);
        let windows = [
            (at(0), at(719)),
            (at(60), at(240) - Duration::microseconds(1)),
            (at(31), at(333)),
            (at(60), at(240)),
            (at(100), at(110)),
        ];
        for (from, to) in windows {
            let range = TimeRange::new(from, to).unwrap();
            let inside: Vec<&&Reading> = vh1
                .iter()
                .filter(|r| range.contains(r.telemetry.timestamp))
                .collect();

            let summary = store.vehicle_summary("VH-1", range).await.unwrap();
            let n = inside.len() as f64;
            let sum = |f: fn(&Reading) -> f64| inside.iter().map(|r| f(r)).sum::<f64>();
            assert_eq!(summary.total_readings, inside.len() as u64, "{range:?}");
            let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
            assert!(close(
                summary.avg_speed_kmh,
                sum(|r| r.telemetry.speed_kmh) / n
            ));
            assert!(close(
                summary.avg_battery_pct,
                sum(|r| r.telemetry.battery_pct) / n
            ));
            assert!(close(
                summary.max_engine_temp_c,
                inside
                    .iter()
                    .map(|r| r.telemetry.engine_temp_c)
                    .fold(f64::MIN, f64::max)
            ));
            assert!((summary.total_distance_km - sum(|r| r.distance_m) / 1000.0).abs() < 1e-9);
            let alerts = inside
                .iter()
                .filter(|r| r.telemetry.status == VehicleStatus::Alert)
                .count();
            assert_eq!(summary.alert_count, alerts as u64);

            for bucket_secs in [60, 90, 120, 300] {
                let bucket_us = bucket_secs * 1_000_000;
                let mut expected: BTreeMap<i64, (u64, f64, f64, f64)> = BTreeMap::new();
                for r in &inside {
                    let ts = micros(r.telemetry.timestamp);
                    let v = r.telemetry.load_pct;
                    let e = expected.entry(ts - ts.rem_euclid(bucket_us)).or_insert((
                        0,
                        0.0,
                        f64::MAX,
                        f64::MIN,
                    ));
                    *e = (e.0 + 1, e.1 + v, e.2.min(v), e.3.max(v));
                }
                let series = store
                    .series(
                        "VH-1",
                        Metric::LoadPct,
                        range,
                        Duration::seconds(bucket_secs),
                    )
                    .await
                    .unwrap();
                assert_eq!(series.len(), expected.len(), "{range:?} / {bucket_secs} s");
                for (point, (start, (count, total, min, max))) in series.iter().zip(expected) {
                    assert_eq!(micros(point.bucket), start);
                    assert!((point.avg_value - total / count as f64).abs() < 1e-9);
                    assert_eq!((point.min_value, point.max_value), (min, max));
                }
            }
        }
    }

    /// Reports read hours, minutes and the recent table depending on where the watermark is;
    /// every split must give the figures of a store that never archived, whether the site's
    /// days start on the hour (hours used) or not (minutes only), late readings included.
    #[tokio::test]
    async fn reports_agree_wherever_the_readings_were_archived() {
        let raw = SqliteStore::in_memory_with(SqliteOptions {
            compact_after_rows: u64::MAX,
            compact_rows_per_vehicle: 0,
        })
        .unwrap();
        let archiving = SqliteStore::in_memory_with(SqliteOptions {
            compact_after_rows: 40,
            compact_rows_per_vehicle: 0,
        })
        .unwrap();
        // Three hours of a reading every 50 s from two vehicles, statuses cycling, across
        // midnight UTC (the base is 22:13:20 UTC), then a few late readings.
        let statuses = [
            VehicleStatus::Moving,
            VehicleStatus::Idle,
            VehicleStatus::Moving,
            VehicleStatus::Stopped,
            VehicleStatus::Charging,
            VehicleStatus::LowBattery,
        ];
        let mut written = Vec::new();
        for (i, secs) in (0..3 * 3600).step_by(50).enumerate() {
            for vehicle in ["VH-1", "VH-2"] {
                let mut r = reading(vehicle, secs);
                r.telemetry.status = statuses[(i + vehicle.len()) % statuses.len()];
                r.distance_m = (i % 7) as f64;
                written.push(r);
            }
        }
        written.extend((0..5).map(|i| reading("VH-1", 1_000 + i * 17)));
        for batch in written.chunks(25) {
            raw.write_batch(batch).await.unwrap();
            archiving.write_batch(batch).await.unwrap();
        }
        assert!(layout(&archiving).await.0 > 100, "most readings archived");
        let day = DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .date_naive();
        for offset in [0, 60, -300, 330] {
            let query = ReportQuery {
                fleet_id: "fleet-001".into(),
                vehicle_id: None,
                from: day - Duration::days(1),
                to: day + Duration::days(1),
                utc_offset_minutes: offset,
            };
            let expected = raw.report_days(&query).await.unwrap();
            let got = archiving.report_days(&query).await.unwrap();
            assert_eq!(got.len(), expected.len(), "offset {offset}");
            assert!(!got.is_empty());
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!((&g.vehicle_id, g.day), (&e.vehicle_id, e.day));
                let (g, e) = (&g.figures, &e.figures);
                assert_eq!(g.readings, e.readings, "offset {offset}");
                for (a, b) in [
                    (g.distance_km, e.distance_km),
                    (g.driving_s, e.driving_s),
                    (g.idle_s, e.idle_s),
                    (g.stopped_s, e.stopped_s),
                    (g.charging_s, e.charging_s),
                    (g.other_s, e.other_s),
                    (g.avg_speed_kmh.unwrap(), e.avg_speed_kmh.unwrap()),
                ] {
                    assert!((a - b).abs() < 1e-6, "offset {offset}: {g:?} vs {e:?}");
                }
            }
        }
    }

    #[test]
    fn the_compaction_threshold_grows_with_the_vehicles() {
        let tiers = |vehicles: u64| Tiers {
            recent_rows: AtomicU64::new(0),
            streams: AtomicU64::new(vehicles),
            compact_after_rows: 100_000,
            compact_rows_per_vehicle: 40,
        };
        assert_eq!(tiers(10).compact_threshold(), 100_000);
        assert_eq!(tiers(10_000).compact_threshold(), 400_000);
        let off = Tiers {
            compact_rows_per_vehicle: 0,
            ..tiers(10_000)
        };
        assert_eq!(off.compact_threshold(), 100_000);
    }

    #[tokio::test]
    async fn compaction_moves_the_older_half_and_late_readings_go_to_the_archive() {
        let store = SqliteStore::in_memory_with(SqliteOptions {
            compact_after_rows: 4,
            compact_rows_per_vehicle: 0,
        })
        .unwrap();
        let batch: Vec<Reading> = (0..3).map(|s| reading("VH-1", s)).collect();
        store.write_batch(&batch).await.unwrap();
        let (archived, recent, _) = layout(&store).await;
        assert_eq!(
            (archived, recent),
            (0, 3),
            "below the threshold nothing moves"
        );

        store.write_batch(&[reading("VH-1", 3)]).await.unwrap();
        // Four rows at 0..=3 s: the watermark becomes the third-oldest time, 2 s.
        assert_eq!(layout(&store).await, (2, 2, 2));

        // Older than the watermark: written straight to the archive, and still idempotent there.
        let late = [reading("VH-2", 1), reading("VH-1", 0)];
        let outcome = store.write_batch(&late).await.unwrap();
        assert_eq!((outcome.inserted, outcome.duplicates), (1, 1));
        assert_eq!(layout(&store).await, (3, 2, 2));

        // A replay of rows now split across both tables is all duplicates.
        let outcome = store.write_batch(&batch).await.unwrap();
        assert_eq!(outcome.duplicates, 3);
        let all = store
            .history(&HistoryQuery {
                vehicle_id: "VH-1".into(),
                range: TimeRange::new(
                    batch[0].telemetry.timestamp,
                    batch[0].telemetry.timestamp + Duration::seconds(3),
                )
                .unwrap(),
                limit: 100,
            })
            .await
            .unwrap();
        let speeds: Vec<f64> = all.iter().map(|t| t.speed_kmh).collect();
        assert_eq!(
            speeds,
            vec![0.0, 1.0, 2.0, 3.0],
            "archive rows first, then recent"
        );
    }

    #[test]
    fn multi_row_insert_has_one_placeholder_group_per_row() {
        let sql = insert_sql(RECENT, 3);
        assert!(sql.starts_with("INSERT OR IGNORE INTO telemetry_recent ("));
        assert_eq!(sql.matches(INSERT_ROW).count(), 3);
        assert_eq!(sql.matches('?').count(), 3 * 17);
    }
}
