//! [`TimeSeriesStore`] for [`SqliteStore`]: batched idempotent inserts and the analytics queries.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::Duration;
use rusqlite::{Connection, Row, params};
use vehicleops_core::{
    Error, FleetPerformanceReport, HistoryQuery, MapPose, Metric, Reading, Result, SeriesPoint,
    StoreStatus, Telemetry, TimeRange, TimeSeriesStore, VehicleMetricsSummary, VehiclePerformance,
    VehicleStatus, WriteOutcome,
};

use super::convert::{from_micros, micros};
use super::{SqliteStore, backend_error};

/// Rows per multi-row INSERT. Fewer statement executions per batch; 32 rows × 17 columns stays
/// far below SQLite's bound-parameter limit.
const ROWS_PER_INSERT: usize = 32;

const INSERT_COLUMNS: &str = "INSERT OR IGNORE INTO telemetry (vehicle_id, ts, seq, fleet_id, \
     latitude, longitude, speed_kmh, battery_pct, engine_temp_c, load_pct, status, heading_deg, \
     distance_m, pose_x, pose_y, pose_theta, pose_map_id) VALUES ";
const INSERT_ROW: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/// The columns [`telemetry_from_row`] reads, in its order.
const SELECT_TELEMETRY: &str = "SELECT vehicle_id, ts, seq, fleet_id, latitude, longitude, \
     speed_kmh, battery_pct, engine_temp_c, load_pct, status, heading_deg, pose_x, pose_y, \
     pose_theta, pose_map_id FROM telemetry";

fn insert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(INSERT_COLUMNS.len() + rows * (INSERT_ROW.len() + 1));
    sql.push_str(INSERT_COLUMNS);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(INSERT_ROW);
    }
    sql
}

/// Writes `readings` in one transaction; returns how many rows were new.
fn write_readings(conn: &mut Connection, readings: &[Reading]) -> Result<WriteOutcome> {
    // In key order, consecutive inserts land on the same b-tree leaf instead of hopping between
    // vehicles: the pages they touch stay hot in the CPU cache.
    let mut sorted: Vec<&Reading> = readings.iter().collect();
    sorted.sort_unstable_by(|a, b| {
        let (a, b) = (&a.telemetry, &b.telemetry);
        (a.vehicle_id.as_str(), a.timestamp, a.seq).cmp(&(
            b.vehicle_id.as_str(),
            b.timestamp,
            b.seq,
        ))
    });
    let readings = sorted;
    let tx = conn.transaction().map_err(backend_error)?;
    let mut inserted = 0u64;
    {
        let chunks = readings.chunks_exact(ROWS_PER_INSERT);
        let remainder = chunks.remainder();
        if chunks.len() > 0 {
            let mut stmt = tx
                .prepare_cached(&insert_sql(ROWS_PER_INSERT))
                .map_err(backend_error)?;
            for chunk in chunks {
                let params = chunk.iter().flat_map(|r| reading_params(r));
                inserted += stmt
                    .execute(rusqlite::params_from_iter(params))
                    .map_err(backend_error)? as u64;
            }
        }
        if !remainder.is_empty() {
            let mut stmt = tx.prepare_cached(&insert_sql(1)).map_err(backend_error)?;
            for &reading in remainder {
                inserted += stmt
                    .execute(rusqlite::params_from_iter(reading_params(reading)))
                    .map_err(backend_error)? as u64;
            }
        }
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
            stmt.execute(params![fleet_id, vehicle_id])
                .map_err(backend_error)?;
        }
    }
    tx.commit().map_err(backend_error)?;
    Ok(WriteOutcome {
        inserted,
        duplicates: readings.len() as u64 - inserted,
    })
}

/// The 17 values of one reading, in [`INSERT_COLUMNS`] order.
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

fn latest_of(conn: &Connection, vehicle_id: &str) -> Result<Option<Telemetry>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{SELECT_TELEMETRY} WHERE vehicle_id = ? ORDER BY ts DESC, seq DESC LIMIT 1"
        ))
        .map_err(backend_error)?;
    let mut rows = stmt
        .query_map([vehicle_id], telemetry_from_row)
        .map_err(backend_error)?;
    rows.next().transpose().map_err(backend_error)
}

fn latest_for_fleet(conn: &Connection, fleet_id: &str) -> Result<Vec<Telemetry>> {
    let vehicles: Vec<String> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT vehicle_id FROM telemetry_streams WHERE fleet_id = ? ORDER BY vehicle_id",
            )
            .map_err(backend_error)?;
        stmt.query_map([fleet_id], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(backend_error)?
    };
    let mut latest = Vec::with_capacity(vehicles.len());
    for vehicle_id in vehicles {
        // A vehicle that moved to another fleet belongs to that fleet now.
        if let Some(t) = latest_of(conn, &vehicle_id)?.filter(|t| t.fleet_id == fleet_id) {
            latest.push(t);
        }
    }
    Ok(latest)
}

fn history(conn: &Connection, query: &HistoryQuery) -> Result<Vec<Telemetry>> {
    let limit = query.limit.min(HistoryQuery::MAX_LIMIT);
    let mut stmt = conn
        .prepare_cached(&format!(
            "{SELECT_TELEMETRY} WHERE vehicle_id = ? AND ts BETWEEN ? AND ? \
             ORDER BY ts, seq LIMIT ?"
        ))
        .map_err(backend_error)?;
    stmt.query_map(
        params![
            query.vehicle_id,
            micros(query.range.from),
            micros(query.range.to),
            limit
        ],
        telemetry_from_row,
    )
    .and_then(|rows| rows.collect())
    .map_err(backend_error)
}

fn vehicle_summary(
    conn: &Connection,
    vehicle_id: &str,
    range: TimeRange,
) -> Result<VehicleMetricsSummary> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT COUNT(*), AVG(speed_kmh), MAX(speed_kmh), AVG(battery_pct), \
             MIN(battery_pct), AVG(engine_temp_c), MAX(engine_temp_c), \
             COALESCE(SUM(distance_m), 0.0) / 1000.0, COALESCE(SUM(status = 'ALERT'), 0) \
             FROM telemetry WHERE vehicle_id = ? AND ts BETWEEN ? AND ?",
        )
        .map_err(backend_error)?;
    stmt.query_row(
        params![vehicle_id, micros(range.from), micros(range.to)],
        |row| {
            Ok(VehicleMetricsSummary {
                vehicle_id: vehicle_id.to_string(),
                total_readings: row.get::<_, i64>(0)? as u64,
                avg_speed_kmh: row.get(1)?,
                max_speed_kmh: row.get(2)?,
                avg_battery_pct: row.get(3)?,
                min_battery_pct: row.get(4)?,
                avg_engine_temp_c: row.get(5)?,
                max_engine_temp_c: row.get(6)?,
                total_distance_km: row.get(7)?,
                alert_count: row.get::<_, i64>(8)? as u64,
            })
        },
    )
    .map_err(backend_error)
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
    // `column()` is one of four fixed names, never user text. The bucket start is the floor of
    // ts / bucket (SQLite's `%` truncates toward zero, hence the double modulo for pre-1970).
    let column = metric.column();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT ts - ((ts % ?1) + ?1) % ?1 AS bucket, AVG({column}), MAX({column}), \
             MIN({column}) FROM telemetry WHERE vehicle_id = ?2 AND ts BETWEEN ?3 AND ?4 \
             GROUP BY bucket ORDER BY bucket"
        ))
        .map_err(backend_error)?;
    stmt.query_map(
        params![bucket_us, vehicle_id, micros(range.from), micros(range.to)],
        |row| {
            Ok(SeriesPoint {
                bucket: from_micros(row.get(0)?)?,
                avg_value: row.get(1)?,
                max_value: row.get(2)?,
                min_value: row.get(3)?,
            })
        },
    )
    .and_then(|rows| rows.collect())
    .map_err(backend_error)
}

fn fleet_performance(
    conn: &Connection,
    fleet_id: &str,
    range: TimeRange,
) -> Result<FleetPerformanceReport> {
    // CROSS JOIN fixes the loop order: the fleet's vehicles outside, each one's key range of
    // telemetry inside.
    let mut stmt = conn
        .prepare_cached(
            "SELECT t.vehicle_id, AVG(t.speed_kmh), AVG(t.battery_pct), \
             COALESCE(SUM(t.distance_m), 0.0) / 1000.0 AS distance_km, \
             COALESCE(SUM(t.status = 'ALERT'), 0) \
             FROM telemetry_streams s CROSS JOIN telemetry t \
             ON t.vehicle_id = s.vehicle_id AND t.ts BETWEEN ?2 AND ?3 AND t.fleet_id = s.fleet_id \
             WHERE s.fleet_id = ?1 \
             GROUP BY t.vehicle_id ORDER BY distance_km DESC, t.vehicle_id",
        )
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

#[async_trait]
impl TimeSeriesStore for SqliteStore {
    async fn write_batch(&self, readings: &[Reading]) -> Result<WriteOutcome> {
        if readings.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let readings = readings.to_vec();
        let outcome = self
            .with_writer(move |conn| write_readings(conn, &readings))
            .await?;
        self.note_rows_written(outcome.inserted);
        Ok(outcome)
    }

    async fn latest(&self, vehicle_id: &str) -> Result<Option<Telemetry>> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| latest_of(conn, &vehicle_id))
            .await
    }

    async fn latest_for_fleet(&self, fleet_id: &str) -> Result<Vec<Telemetry>> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| latest_for_fleet(conn, &fleet_id))
            .await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Vec<Telemetry>> {
        let query = query.clone();
        self.with_reader(move |conn| history(conn, &query)).await
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
        self.with_reader(move |conn| series(conn, &vehicle_id, metric, range, bucket))
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

    async fn status(&self) -> Result<StoreStatus> {
        self.store_status().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_insert_has_one_placeholder_group_per_row() {
        let sql = insert_sql(3);
        assert_eq!(sql.matches(INSERT_ROW).count(), 3);
        assert_eq!(sql.matches('?').count(), 3 * 17);
    }
}
