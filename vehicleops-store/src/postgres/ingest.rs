//! Getting batches in, fast and idempotently.
//!
//! Two paths, both one transaction per batch:
//!
//! - **direct** (the common case, every row new): binary `COPY` straight into `telemetry`,
//!   then the newest reading per vehicle and the batch's minute aggregates, computed here, are
//!   upserted into `telemetry_latest` and the rollup. This is a raw `COPY` plus two small
//!   statements.
//! - **staged** (a replay, or a batch repeating a key): the direct `COPY` stops at the first
//!   stored key and its transaction rolls back; the batch is then copied into a temporary
//!   staging table and moved with `INSERT … ON CONFLICT DO NOTHING RETURNING`, and only the rows
//!   actually inserted feed the latest table and the rollup, in SQL.
//!
//! Either way a replayed batch never duplicates a row, and `inserted` counts new rows exactly.
//! Where the server cannot take `COPY FROM STDIN` (PGlite) the staged path fills its staging
//! table with `INSERT … SELECT FROM unnest(arrays)` instead.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::{Acquire, PgConnection, Postgres};

/// A query with its parameters bound as it goes.
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;
use vehicleops_core::{Error, Reading, Result, VehicleStatus, WriteOutcome};

use super::queries::{UNNEST_TELEMETRY, latest_and_rollup_upsert_sql, latest_upsert_sql};
use super::{IngestMethod, PostgresStore, TelemetryLayout, copy, sqlstate};

/// Rows per staging `INSERT` without COPY (about 40 kB of parameters): PGlite's socket server
/// mishandles a message split over several socket reads (around 64 kB), so messages stay small.
const UNNEST_CHUNK: usize = 200;

impl PostgresStore {
    /// Stores a batch (see the module docs for how).
    pub(crate) async fn write_readings(&self, readings: &[Reading]) -> Result<WriteOutcome> {
        if readings.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let data = match self.ingest {
            IngestMethod::BinaryCopy => Some(copy::encode_readings(readings)?),
            IngestMethod::Unnest => {
                for r in readings {
                    copy::seq_to_bigint(r.telemetry.seq)?;
                }
                None
            }
        };
        if self.layout == TelemetryLayout::Partitioned {
            self.ensure_partitions(readings.iter().map(|r| r.telemetry.timestamp.date_naive()))
                .await?;
        }
        let inserted = match self.write_attempt(readings, data.as_deref()).await {
            // A partition dropped behind our back (retention run by another process): forget
            // what we knew, recreate, retry once.
            Err(Error::Backend { message, .. })
                if message.contains("SQLSTATE 23514")
                    && self.layout == TelemetryLayout::Partitioned =>
            {
                tracing::warn!(%message, "telemetry partition missing; recreating");
                self.partitions.lock().expect("partition cache").clear();
                self.ensure_partitions(readings.iter().map(|r| r.telemetry.timestamp.date_naive()))
                    .await?;
                self.write_attempt(readings, data.as_deref()).await?
            }
            other => other?,
        };
        Ok(WriteOutcome {
            inserted,
            duplicates: readings.len() as u64 - inserted,
        })
    }

    async fn write_attempt(&self, readings: &[Reading], copy_data: Option<&[u8]>) -> Result<u64> {
        if let Some(data) = copy_data
            && let Some(inserted) = self.write_direct(readings, data).await?
        {
            return Ok(inserted);
        }
        self.write_staged(readings, copy_data).await
    }

    /// The direct path; `Ok(None)` when some key is stored already (nothing was written).
    async fn write_direct(&self, readings: &[Reading], data: &[u8]) -> Result<Option<u64>> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.db(e))?;
        let mut tx = conn.begin().await.map_err(|e| self.db(e))?;
        let copied = copy_into(
            &mut tx,
            &format!(
                "COPY vehicleops.telemetry ({}) FROM STDIN (FORMAT binary)",
                copy::STAGING_COLUMNS
            ),
            data,
        )
        .await;
        match copied {
            Ok(_) => {}
            Err(e) if sqlstate(&e).as_deref() == Some("23505") => {
                tx.rollback().await.map_err(|e| self.db(e))?;
                return Ok(None);
            }
            Err(e) => return Err(self.db(e)),
        }
        let latest = newest_per_vehicle(readings);
        if self.upkeep.minutes {
            let minutes = minute_aggregates(readings);
            let sql = latest_and_rollup_upsert_sql(self.upkeep);
            let upsert = bind_telemetry_arrays(sqlx::query(&sql), &latest);
            bind_rollup_arrays(upsert, &minutes, self.upkeep.statuses)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db(e))?;
        } else {
            let sql = latest_upsert_sql();
            bind_telemetry_arrays(sqlx::query(&sql), &latest)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db(e))?;
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(Some(readings.len() as u64))
    }

    /// The staged path: stage, then move only new rows.
    async fn write_staged(&self, readings: &[Reading], copy_data: Option<&[u8]>) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.db(e))?;
        let mut tx = conn.begin().await.map_err(|e| self.db(e))?;
        match copy_data {
            Some(data) => copy_into(
                &mut tx,
                &format!(
                    "COPY pg_temp.vehicleops_staging ({}) FROM STDIN (FORMAT binary)",
                    copy::STAGING_COLUMNS
                ),
                data,
            )
            .await
            .map(drop)
            .map_err(|e| self.db(e))?,
            None => {
                let staging = format!(
                    "INSERT INTO pg_temp.vehicleops_staging ({}) SELECT * FROM {UNNEST_TELEMETRY}",
                    copy::STAGING_COLUMNS
                );
                for chunk in readings.chunks(UNNEST_CHUNK) {
                    let rows: Vec<&Reading> = chunk.iter().collect();
                    bind_telemetry_arrays(sqlx::query(&staging), &rows)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.db(e))?;
                }
            }
        }
        let inserted: i64 = sqlx::query_scalar(&self.ingest_sql)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(inserted as u64)
    }
}

/// Runs a `COPY … FROM STDIN` with `data`, returning the rows copied.
async fn copy_into(conn: &mut PgConnection, statement: &str, data: &[u8]) -> sqlx::Result<u64> {
    let mut copy_in = conn.copy_in_raw(statement).await?;
    if let Err(e) = copy_in.send(data).await {
        // The server may have refused mid-stream (e.g. a stored key); its error says why.
        return Err(copy_in.abort(e.to_string()).await.err().unwrap_or(e));
    }
    copy_in.finish().await
}

/// The newest reading (by time, then seq) of each vehicle in the batch.
fn newest_per_vehicle(readings: &[Reading]) -> Vec<&Reading> {
    let mut newest: HashMap<&str, &Reading> = HashMap::new();
    for r in readings {
        let t = &r.telemetry;
        newest
            .entry(t.vehicle_id.as_str())
            .and_modify(|kept| {
                let k = &kept.telemetry;
                if (t.timestamp, t.seq) > (k.timestamp, k.seq) {
                    *kept = r;
                }
            })
            .or_insert(r);
    }
    let mut rows: Vec<&Reading> = newest.into_values().collect();
    // A stable order, so concurrent batches lock rows in the same order.
    rows.sort_by(|a, b| a.telemetry.vehicle_id.cmp(&b.telemetry.vehicle_id));
    rows
}

/// Binds one array per telemetry column (`$1..=$17`, as [`UNNEST_TELEMETRY`] reads them).
fn bind_telemetry_arrays<'q>(query: PgQuery<'q>, rows: &[&'q Reading]) -> PgQuery<'q> {
    let column = |f: fn(&Reading) -> f64| rows.iter().map(|r| f(r)).collect::<Vec<f64>>();
    let pose = |f: fn(&vehicleops_core::MapPose) -> f64| {
        rows.iter()
            .map(|r| r.telemetry.pose.as_ref().map(f))
            .collect::<Vec<Option<f64>>>()
    };
    query
        .bind(
            rows.iter()
                .map(|r| r.telemetry.vehicle_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.telemetry.fleet_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.telemetry.timestamp)
                .collect::<Vec<_>>(),
        )
        // Range-checked by the caller (`copy::seq_to_bigint`).
        .bind(
            rows.iter()
                .map(|r| r.telemetry.seq as i64)
                .collect::<Vec<_>>(),
        )
        .bind(column(|r| r.telemetry.latitude))
        .bind(column(|r| r.telemetry.longitude))
        .bind(column(|r| r.telemetry.speed_kmh))
        .bind(column(|r| r.telemetry.battery_pct))
        .bind(column(|r| r.telemetry.engine_temp_c))
        .bind(column(|r| r.telemetry.load_pct))
        .bind(column(|r| r.telemetry.heading_deg))
        .bind(
            rows.iter()
                .map(|r| r.telemetry.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(column(|r| r.distance_m))
        .bind(pose(|p| p.x))
        .bind(pose(|p| p.y))
        .bind(pose(|p| p.theta))
        .bind(
            rows.iter()
                .map(|r| r.telemetry.pose.as_ref().map(|p| p.map_id.as_str()))
                .collect::<Vec<_>>(),
        )
}

/// Sum, minimum and maximum of one metric in one bucket.
#[derive(Clone, Copy)]
struct Stat {
    sum: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(v: f64) -> Self {
        Stat {
            sum: v,
            min: v,
            max: v,
        }
    }

    fn add(&mut self, v: f64) {
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// One row of the 1-minute rollup, aggregated from a batch.
struct MinuteAggregate {
    readings: i64,
    speed: Stat,
    battery: Stat,
    temp: Stat,
    load: Stat,
    distance: f64,
    alerts: i64,
    /// Readings per status of [`COUNTED_STATUSES`].
    statuses: [i64; 4],
}

/// The statuses the rollup counts apart (ALERT is `alerts`), in column order.
const COUNTED_STATUSES: [VehicleStatus; 4] = [
    VehicleStatus::Moving,
    VehicleStatus::Idle,
    VehicleStatus::Stopped,
    VehicleStatus::Charging,
];

/// `[1, 0, 0, 0]`-style counts of one reading's status.
fn status_counts(status: VehicleStatus) -> [i64; 4] {
    COUNTED_STATUSES.map(|s| i64::from(s == status))
}

const MINUTE_MICROS: i64 = 60_000_000;

/// The minute a reading falls in, as PostgreSQL's `date_bin('1 minute', time, epoch)` sees it
/// (times are stored to the microsecond).
fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros().div_euclid(MINUTE_MICROS) * MINUTE_MICROS;
    DateTime::from_timestamp_micros(micros).expect("a minute boundary of a valid time")
}

/// A rollup key: vehicle, minute, fleet (the table's primary-key order).
type MinuteKey<'a> = (&'a str, DateTime<Utc>, &'a str);

/// The batch aggregated per (vehicle, minute, fleet), in primary-key order so that concurrent
/// batches lock rollup rows in the same order.
fn minute_aggregates(readings: &[Reading]) -> Vec<(MinuteKey<'_>, MinuteAggregate)> {
    let mut groups: HashMap<MinuteKey<'_>, MinuteAggregate> = HashMap::new();
    for r in readings {
        let t = &r.telemetry;
        let alert = i64::from(t.status == VehicleStatus::Alert);
        let statuses = status_counts(t.status);
        groups
            .entry((
                t.vehicle_id.as_str(),
                minute_of(t.timestamp),
                t.fleet_id.as_str(),
            ))
            .and_modify(|g| {
                g.readings += 1;
                g.speed.add(t.speed_kmh);
                g.battery.add(t.battery_pct);
                g.temp.add(t.engine_temp_c);
                g.load.add(t.load_pct);
                g.distance += r.distance_m;
                g.alerts += alert;
                for (count, add) in g.statuses.iter_mut().zip(statuses) {
                    *count += add;
                }
            })
            .or_insert(MinuteAggregate {
                readings: 1,
                speed: Stat::of(t.speed_kmh),
                battery: Stat::of(t.battery_pct),
                temp: Stat::of(t.engine_temp_c),
                load: Stat::of(t.load_pct),
                distance: r.distance_m,
                alerts: alert,
                statuses,
            });
    }
    let mut rows: Vec<_> = groups.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

/// Binds the rollup rows as the 18 arrays after the telemetry ones (`$18..=$35`), and with
/// `statuses` the counts per status (`$36..=$39`).
fn bind_rollup_arrays<'q>(
    query: PgQuery<'q>,
    rows: &[(MinuteKey<'q>, MinuteAggregate)],
    statuses: bool,
) -> PgQuery<'q> {
    let stat =
        |f: fn(&MinuteAggregate) -> f64| rows.iter().map(|(_, g)| f(g)).collect::<Vec<f64>>();
    let query = query
        .bind(rows.iter().map(|((v, _, _), _)| *v).collect::<Vec<_>>())
        .bind(rows.iter().map(|((_, _, f), _)| *f).collect::<Vec<_>>())
        .bind(rows.iter().map(|((_, b, _), _)| *b).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, g)| g.readings).collect::<Vec<_>>())
        .bind(stat(|g| g.speed.sum))
        .bind(stat(|g| g.speed.min))
        .bind(stat(|g| g.speed.max))
        .bind(stat(|g| g.battery.sum))
        .bind(stat(|g| g.battery.min))
        .bind(stat(|g| g.battery.max))
        .bind(stat(|g| g.temp.sum))
        .bind(stat(|g| g.temp.min))
        .bind(stat(|g| g.temp.max))
        .bind(stat(|g| g.load.sum))
        .bind(stat(|g| g.load.min))
        .bind(stat(|g| g.load.max))
        .bind(stat(|g| g.distance))
        .bind(rows.iter().map(|(_, g)| g.alerts).collect::<Vec<_>>());
    if !statuses {
        return query;
    }
    (0..COUNTED_STATUSES.len()).fold(query, |query, i| {
        query.bind(rows.iter().map(|(_, g)| g.statuses[i]).collect::<Vec<_>>())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn minutes_floor_like_date_bin_including_before_the_epoch() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 10, 5, 59).unwrap();
        assert_eq!(
            minute_of(t),
            Utc.with_ymd_and_hms(2024, 1, 1, 10, 5, 0).unwrap()
        );
        let before = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 30).unwrap();
        assert_eq!(
            minute_of(before),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 0).unwrap()
        );
    }
}
