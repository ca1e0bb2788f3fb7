//! `TimeSeriesStore` for PostgreSQL: binary-COPY ingest and the original's analytics.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;
use sqlx::postgres::{PgRow, types::PgInterval};
use vehicleops_core::{
    Error, FleetPerformanceReport, HistoryQuery, MapPose, Metric, Reading, ReportFigures,
    ReportQuery, Result, SeriesPoint, StoreStatus, Telemetry, TimeRange, TimeSeriesStore,
    VehicleDay, VehicleMetricsSummary, VehiclePerformance, WriteOutcome,
};

use super::queries::{
    READINGS, SELECT_TELEMETRY, SUMMARY_COLUMNS, metric_columns, parts_sql, window_edges,
};
use super::{PostgresStore, TelemetryLayout};

impl PostgresStore {
    /// The rollup to read for buckets of `bucket` width: the coarsest one dividing it.
    fn rollup_for(&self, bucket: Duration) -> Option<(&'static str, Duration)> {
        let micros = bucket.num_microseconds()?;
        self.rollups
            .iter()
            .rev()
            .find(|(_, width)| {
                let w = width.num_microseconds().unwrap_or(i64::MAX);
                micros >= w && micros % w == 0
            })
            .copied()
    }

    /// The coarsest rollup, for whole-window aggregates.
    fn coarsest_rollup(&self) -> Option<(&'static str, Duration)> {
        self.rollups.last().copied()
    }

    /// Per-vehicle aggregate rows over `[from, to]` for `key_column = key`, grouped by vehicle.
    async fn aggregate_by_vehicle(
        &self,
        key_column: &str,
        key: &str,
        range: TimeRange,
    ) -> Result<Vec<PgRow>> {
        let rollup = self.coarsest_rollup();
        let mut columns = vec![READINGS];
        columns.extend(SUMMARY_COLUMNS);
        let parts = parts_sql(key_column, rollup.map(|r| r.0), &columns);
        let sql = format!(
            "SELECT vehicle_id,
                    sum(n)::bigint AS readings,
                    sum(speed_sum) / sum(n) AS avg_speed, max(speed_max) AS max_speed,
                    sum(battery_sum) / sum(n) AS avg_battery, min(battery_min) AS min_battery,
                    sum(temp_sum) / sum(n) AS avg_temp, max(temp_max) AS max_temp,
                    sum(distance_sum) AS distance_m, sum(alert_readings)::bigint AS alerts
             FROM ({parts}) p
             GROUP BY vehicle_id
             ORDER BY sum(distance_sum) DESC, vehicle_id"
        );
        let [from, first, end, to] = window_edges(range.from, range.to, rollup.map(|r| r.1));
        sqlx::query(&sql)
            .bind(key)
            .bind(from)
            .bind(first)
            .bind(end)
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))
    }
}

impl PostgresStore {
    /// The telemetry part of a daily report, from the 1-minute rollup that counts readings per
    /// status (the table on plain PostgreSQL, a real-time continuous aggregate on TimescaleDB):
    /// each minute's 60 s shared between its statuses, minutes summed per site day.
    async fn report_days_from_rollups(&self, query: &ReportQuery) -> Result<Vec<VehicleDay>> {
        if !self.rollup_statuses {
            return Err(Error::backend_msg(
                "postgresql",
                format!(
                    "daily reports need schema version 7 (this database is at {}); open the \
                     store without a schema_version to migrate it",
                    self.schema_version
                ),
            ));
        }
        let range = query.range();
        // Whole hours when the site's days start on the hour (their shares summed already),
        // minutes otherwise.
        let (source, figures) = if self.report_hours && query.utc_offset_minutes % 60 == 0 {
            (
                "vehicleops.telemetry_report_1h",
                "sum(driving_s) AS driving_s, sum(idle_s) AS idle_s,
                 sum(stopped_s) AS stopped_s, sum(charging_s) AS charging_s,
                 sum(observed_s) AS observed_s",
            )
        } else {
            (
                super::migrations::report_rollup(self.layout),
                "sum(60.0::float8 * moving_readings / readings) AS driving_s,
                 sum(60.0::float8 * idle_readings / readings) AS idle_s,
                 sum(60.0::float8 * stopped_readings / readings) AS stopped_s,
                 sum(60.0::float8 * charging_readings / readings) AS charging_s,
                 60.0::float8 * count(*) AS observed_s",
            )
        };
        let sql = format!(
            "SELECT date_bin(INTERVAL '1 day', bucket, $2) AS day_start, vehicle_id,
                    sum(readings::float8) AS readings, sum(distance_sum) AS distance_m,
                    sum(speed_sum) / sum(readings::float8) AS avg_speed,
                    max(speed_max) AS max_speed, {figures}
             FROM {source}
             WHERE fleet_id = $1 AND bucket BETWEEN $2 AND $3
               AND ($4::text IS NULL OR vehicle_id = $4)
             GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let rows = sqlx::query(&sql)
            .bind(&query.fleet_id)
            .bind(range.from)
            .bind(range.to)
            .bind(query.vehicle_id.as_deref())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| -> std::result::Result<VehicleDay, sqlx::Error> {
                let float = |c: &str| row.try_get::<f64, _>(c);
                let (driving_s, idle_s, stopped_s, charging_s) = (
                    float("driving_s")?,
                    float("idle_s")?,
                    float("stopped_s")?,
                    float("charging_s")?,
                );
                let day_start: DateTime<Utc> = row.try_get("day_start")?;
                Ok(VehicleDay {
                    vehicle_id: row.try_get("vehicle_id")?,
                    day: query.from + Duration::days((day_start - range.from).num_days()),
                    figures: ReportFigures {
                        readings: float("readings")? as u64,
                        distance_km: float("distance_m")? / 1000.0,
                        avg_speed_kmh: row.try_get("avg_speed")?,
                        max_speed_kmh: row.try_get("max_speed")?,
                        driving_s,
                        idle_s,
                        stopped_s,
                        charging_s,
                        other_s: (float("observed_s")?
                            - driving_s
                            - idle_s
                            - stopped_s
                            - charging_s)
                            .max(0.0),
                        ..ReportFigures::default()
                    },
                })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.db(e))
    }
}

#[async_trait]
impl TimeSeriesStore for PostgresStore {
    async fn write_batch(&self, readings: &[Reading]) -> Result<WriteOutcome> {
        self.write_readings(readings).await
    }

    async fn latest(&self, vehicle_id: &str) -> Result<Option<Telemetry>> {
        sqlx::query(&format!(
            "SELECT {SELECT_TELEMETRY} FROM vehicleops.telemetry_latest WHERE vehicle_id = $1"
        ))
        .bind(vehicle_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db(e))?
        .map(|row| telemetry_from_row(&row))
        .transpose()
    }

    async fn latest_for_fleet(&self, fleet_id: &str) -> Result<Vec<Telemetry>> {
        sqlx::query(&format!(
            "SELECT {SELECT_TELEMETRY} FROM vehicleops.telemetry_latest
             WHERE fleet_id = $1 ORDER BY vehicle_id"
        ))
        .bind(fleet_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?
        .iter()
        .map(telemetry_from_row)
        .collect()
    }

    async fn fleet_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Telemetry>> {
        // Every vehicle that has reported (one row each in `telemetry_latest`, whatever its
        // fleet now) takes one backward probe of the key (vehicle_id, time, seq). The probe
        // first looks in the day before `at` (a partition or two, pruned at run time); only a
        // vehicle silent that long is probed again through every older partition — one probe
        // through thirty daily partitions costs about as much as thirty.
        sqlx::query(&format!(
            "WITH near AS (
                 SELECT t.* FROM vehicleops.telemetry_latest l
                 CROSS JOIN LATERAL (
                     SELECT {SELECT_TELEMETRY} FROM vehicleops.telemetry r
                     WHERE r.vehicle_id = l.vehicle_id
                       AND r.time <= $2 AND r.time > $2 - INTERVAL '1 day'
                     ORDER BY r.time DESC, r.seq DESC LIMIT 1) t),
             far AS (
                 SELECT t.* FROM vehicleops.telemetry_latest l
                 CROSS JOIN LATERAL (
                     SELECT {SELECT_TELEMETRY} FROM vehicleops.telemetry r
                     WHERE r.vehicle_id = l.vehicle_id AND r.time <= $2 - INTERVAL '1 day'
                     ORDER BY r.time DESC, r.seq DESC LIMIT 1) t
                 WHERE NOT EXISTS (SELECT 1 FROM near n WHERE n.vehicle_id = l.vehicle_id))
             SELECT * FROM near WHERE fleet_id = $1
             UNION ALL
             SELECT * FROM far WHERE fleet_id = $1
             ORDER BY vehicle_id"
        ))
        .bind(fleet_id)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?
        .iter()
        .map(telemetry_from_row)
        .collect()
    }

    async fn history(&self, query: &HistoryQuery) -> Result<Vec<Telemetry>> {
        let limit = query.limit.min(HistoryQuery::MAX_LIMIT);
        sqlx::query(&format!(
            "SELECT {SELECT_TELEMETRY} FROM vehicleops.telemetry
             WHERE vehicle_id = $1 AND time >= $2 AND time <= $3
             ORDER BY time, seq LIMIT $4"
        ))
        .bind(&query.vehicle_id)
        .bind(query.range.from)
        .bind(query.range.to)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?
        .iter()
        .map(telemetry_from_row)
        .collect()
    }

    async fn vehicle_summary(
        &self,
        vehicle_id: &str,
        range: TimeRange,
    ) -> Result<VehicleMetricsSummary> {
        let rows = self
            .aggregate_by_vehicle("vehicle_id", vehicle_id, range)
            .await?;
        let Some(row) = rows.first() else {
            return Ok(VehicleMetricsSummary {
                vehicle_id: vehicle_id.to_string(),
                total_readings: 0,
                avg_speed_kmh: None,
                max_speed_kmh: None,
                avg_battery_pct: None,
                min_battery_pct: None,
                avg_engine_temp_c: None,
                max_engine_temp_c: None,
                total_distance_km: 0.0,
                alert_count: 0,
            });
        };
        let get = |c: &str| row.try_get::<f64, _>(c).map_err(|e| self.db(e));
        Ok(VehicleMetricsSummary {
            vehicle_id: vehicle_id.to_string(),
            total_readings: row.try_get::<i64, _>("readings").map_err(|e| self.db(e))? as u64,
            avg_speed_kmh: Some(get("avg_speed")?),
            max_speed_kmh: Some(get("max_speed")?),
            avg_battery_pct: Some(get("avg_battery")?),
            min_battery_pct: Some(get("min_battery")?),
            avg_engine_temp_c: Some(get("avg_temp")?),
            max_engine_temp_c: Some(get("max_temp")?),
            total_distance_km: get("distance_m")? / 1000.0,
            alert_count: row.try_get::<i64, _>("alerts").map_err(|e| self.db(e))? as u64,
        })
    }

    async fn series(
        &self,
        vehicle_id: &str,
        metric: Metric,
        range: TimeRange,
        bucket: Duration,
    ) -> Result<Vec<SeriesPoint>> {
        let micros = bucket
            .num_microseconds()
            .filter(|m| *m > 0)
            .ok_or_else(|| Error::validation("bucket", "bucket must be a positive duration"))?;
        let rollup = self.rollup_for(bucket);
        let mut columns = vec![READINGS];
        columns.extend(metric_columns(metric));
        let parts = parts_sql("vehicle_id", rollup.map(|r| r.0), &columns);
        let bucket_fn = match self.layout {
            TelemetryLayout::TimescaleDb => "time_bucket($6, t, TIMESTAMPTZ 'epoch')",
            TelemetryLayout::Partitioned => "date_bin($6, t, TIMESTAMPTZ 'epoch')",
        };
        let sql = format!(
            "SELECT {bucket_fn} AS bucket, sum(s) / sum(n) AS avg_value,
                    max(mx) AS max_value, min(mn) AS min_value
             FROM ({parts}) p GROUP BY 1 ORDER BY 1"
        );
        let [from, first, end, to] = window_edges(range.from, range.to, rollup.map(|r| r.1));
        let interval = PgInterval {
            months: 0,
            days: 0,
            microseconds: micros,
        };
        let rows = sqlx::query(&sql)
            .bind(vehicle_id)
            .bind(from)
            .bind(first)
            .bind(end)
            .bind(to)
            .bind(interval)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                Ok(SeriesPoint {
                    bucket: row.try_get("bucket")?,
                    avg_value: row.try_get("avg_value")?,
                    max_value: row.try_get("max_value")?,
                    min_value: row.try_get("min_value")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    async fn fleet_performance(
        &self,
        fleet_id: &str,
        range: TimeRange,
    ) -> Result<FleetPerformanceReport> {
        let rows = self
            .aggregate_by_vehicle("fleet_id", fleet_id, range)
            .await?;
        let vehicles = rows
            .iter()
            .map(|row| {
                Ok(VehiclePerformance {
                    vehicle_id: row.try_get("vehicle_id")?,
                    avg_speed: row.try_get("avg_speed")?,
                    avg_battery: row.try_get("avg_battery")?,
                    distance_km: row.try_get::<f64, _>("distance_m")? / 1000.0,
                    alerts: row.try_get::<i64, _>("alerts")? as u64,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))?;
        Ok(FleetPerformanceReport {
            fleet_id: fleet_id.to_string(),
            from: range.from,
            to: range.to,
            vehicles,
        })
    }

    async fn report_days(&self, query: &ReportQuery) -> Result<Vec<VehicleDay>> {
        self.report_days_from_rollups(query).await
    }

    async fn status(&self) -> Result<StoreStatus> {
        self.status_inner().await
    }
}

/// A `Telemetry` from a row selected with [`SELECT_TELEMETRY`].
fn telemetry_from_row(row: &PgRow) -> Result<Telemetry> {
    let read = || -> Result<Telemetry, sqlx::Error> {
        let status: String = row.try_get("status")?;
        let pose = match row.try_get::<Option<String>, _>("pose_map_id")? {
            Some(map_id) => Some(MapPose {
                x: row.try_get("pose_x")?,
                y: row.try_get("pose_y")?,
                theta: row.try_get("pose_theta")?,
                map_id,
            }),
            None => None,
        };
        Ok(Telemetry {
            vehicle_id: row.try_get("vehicle_id")?,
            fleet_id: row.try_get("fleet_id")?,
            latitude: row.try_get("latitude")?,
            longitude: row.try_get("longitude")?,
            speed_kmh: row.try_get("speed_kmh")?,
            battery_pct: row.try_get("battery_pct")?,
            engine_temp_c: row.try_get("engine_temp_c")?,
            load_pct: row.try_get("load_pct")?,
            status: status
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            timestamp: row.try_get::<DateTime<Utc>, _>("time")?,
            heading_deg: row.try_get("heading_deg")?,
            seq: row.try_get::<i64, _>("seq")? as u64,
            pose,
        })
    };
    read().map_err(super::map_err)
}
