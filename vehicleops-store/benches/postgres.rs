//! PostgreSQL store benchmarks against a real server, printing their numbers:
//!
//! 1. ingest rows/s of `PostgresStore::write_batch` next to a raw binary `COPY` of the same rows,
//!    in batches of the same size, into a table of the same layout (daily partitions, the same
//!    primary key and indexes) on the same server in the same run;
//! 2. the 5-minute speed series over 30 days of 1 Hz data for one vehicle (2,592,000 rows);
//! 3. a fleet of 1,000 vehicles at a past instant (`fleet_at`) over 30 days of readings, and
//!    its daily reports of 1, 7 and 30 days (`report_days`).
//!
//! ```sh
//! eval "$(scripts/pg.sh start)"
//! cargo bench -p vehicleops-store --features postgres --bench postgres
//! ```
//! Reads `VEHICLEOPS_TEST_DATABASE_URL` (or `DATABASE_URL`); creates and drops its own database.
//! `VEHICLEOPS_BENCH_QUICK=1` shrinks the data for a smoke run; `VEHICLEOPS_BENCH_KEEP=1` keeps
//! the database for inspection (e.g. `EXPLAIN ANALYZE`); `VEHICLEOPS_BENCH_ONLY=ingest`,
//! `series` or `fleet_at` runs one section.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use sqlx::Connection;
use vehicleops_core::{Metric, Reading, Telemetry, TimeRange, TimeSeriesStore, VehicleStatus};
use vehicleops_store::postgres::copy::{STAGING_COLUMNS, encode_readings};
use vehicleops_store::{PostgresConfig, PostgresStore};

const BATCH: usize = 5_000;

fn main() {
    let url = std::env::var("VEHICLEOPS_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!(
            "postgres bench skipped: set VEHICLEOPS_TEST_DATABASE_URL (eval \"$(scripts/pg.sh start)\")"
        );
        return;
    };
    let quick = std::env::var("VEHICLEOPS_BENCH_QUICK").is_ok_and(|v| v == "1");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(&url, quick));
}

/// `url` with another database name.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let root = base[authority..]
        .find('/')
        .map_or(base, |i| &base[..authority + i]);
    if query.is_empty() {
        format!("{root}/{database}")
    } else {
        format!("{root}/{database}?{query}")
    }
}

fn reading(vehicle: usize, t: DateTime<Utc>, seq: u64, prev_lat: f64) -> Reading {
    let latitude = prev_lat + 0.00001;
    Reading {
        telemetry: Telemetry {
            vehicle_id: format!("VH-{vehicle:04}"),
            fleet_id: format!("fleet-{:03}", vehicle % 10),
            latitude,
            longitude: -74.07,
            speed_kmh: (seq % 90) as f64 + 0.5,
            battery_pct: 100.0 - (seq % 100) as f64 * 0.5,
            engine_temp_c: 70.0 + (seq % 40) as f64,
            load_pct: 25.0,
            status: if seq % 90 > 80 {
                VehicleStatus::Alert
            } else {
                VehicleStatus::Moving
            },
            timestamp: t,
            heading_deg: 0.0,
            seq,
            pose: None,
        },
        distance_m: 1.11,
    }
}

/// `vehicles` vehicles reporting at 1 Hz for `seconds` from `start`, in time order.
fn fleet_data(vehicles: usize, seconds: i64, start: DateTime<Utc>) -> Vec<Reading> {
    let mut out = Vec::with_capacity(vehicles * seconds as usize);
    for s in 0..seconds {
        for v in 0..vehicles {
            out.push(reading(v, start + Duration::seconds(s), s as u64, 4.71));
        }
    }
    out
}

async fn run(admin_url: &str, quick: bool) {
    let name = format!("vo_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create bench database");
    let url = with_database(admin_url, &name);

    // `VEHICLEOPS_BENCH_ONLY=ingest|series|fleet_at` runs one section.
    let only = std::env::var("VEHICLEOPS_BENCH_ONLY").ok();
    let runs = |section: &str| only.as_deref().is_none_or(|o| o == section);
    if runs("ingest") {
        ingest_bench(&url, quick).await;
    }
    if runs("series") {
        series_bench(&url, quick).await;
    }
    if runs("fleet_at") {
        fleet_at_bench(&url, quick).await;
    }

    if std::env::var("VEHICLEOPS_BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("kept database {name} for inspection");
    } else {
        let drop = format!("DROP DATABASE {name} WITH (FORCE)");
        sqlx::Executor::execute(&mut admin, drop.as_str())
            .await
            .expect("drop bench database");
    }
}

async fn ingest_bench(url: &str, quick: bool) {
    let store = PostgresStore::connect_with(PostgresConfig::new(url))
        .await
        .expect("store");
    // The raw baseline: a table of the same layout, filled by plain binary COPY.
    sqlx::Executor::execute(
        store.pool(),
        "CREATE SCHEMA raw;
         CREATE TABLE raw.telemetry (LIKE vehicleops.telemetry INCLUDING ALL)
             PARTITION BY RANGE (time);",
    )
    .await
    .expect("raw table");

    let (vehicles, seconds) = if quick { (100, 100) } else { (200, 1_000) };
    println!(
        "== ingest: {vehicles} vehicles x {seconds} s at 1 Hz, batches of {BATCH} rows, one transaction each"
    );
    for round in 0..4 {
        // Fresh times each round, so every row is a new insert for both sides.
        let start = DateTime::from_timestamp(1_700_000_000 + round * 86_400 * 3, 0).unwrap();
        let rows = fleet_data(vehicles, seconds, start);
        for day in 0..2 {
            let d = (start + Duration::days(day)).date_naive();
            let next = d + chrono::Days::new(1);
            sqlx::Executor::execute(
                store.pool(),
                format!(
                    "CREATE TABLE IF NOT EXISTS raw.telemetry_{} PARTITION OF raw.telemetry
                     FOR VALUES FROM ('{d} 00:00:00+00') TO ('{next} 00:00:00+00')",
                    d.format("%Y%m%d")
                )
                .as_str(),
            )
            .await
            .expect("raw partition");
        }
        // Alternate which goes first, and start each from a checkpoint, so neither side pays
        // for the other's dirty pages or profits from running second.
        let (raw, stored) = if round % 2 == 0 {
            checkpoint(&store).await;
            let raw = raw_copy(&store, &rows).await;
            checkpoint(&store).await;
            (raw, store_ingest(&store, &rows).await)
        } else {
            checkpoint(&store).await;
            let stored = store_ingest(&store, &rows).await;
            checkpoint(&store).await;
            (raw_copy(&store, &rows).await, stored)
        };
        println!(
            "round {round}: raw COPY {:>9.0} rows/s | store write_batch {:>9.0} rows/s | ratio {:.2}",
            raw,
            stored,
            stored / raw
        );
    }
}

async fn checkpoint(store: &PostgresStore) {
    // Needs superuser (as on the private test cluster); without it the runs are just noisier.
    let _ = sqlx::Executor::execute(store.pool(), "CHECKPOINT").await;
}

async fn raw_copy(store: &PostgresStore, rows: &[Reading]) -> f64 {
    let began = Instant::now();
    for batch in rows.chunks(BATCH) {
        let data = encode_readings(batch).expect("encode");
        let mut conn = store.pool().acquire().await.expect("acquire");
        let mut tx = conn.begin().await.expect("begin");
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY raw.telemetry ({STAGING_COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .expect("copy in");
        copy.send(data).await.expect("send");
        copy.finish().await.expect("finish");
        tx.commit().await.expect("commit");
    }
    rows.len() as f64 / began.elapsed().as_secs_f64()
}

async fn store_ingest(store: &PostgresStore, rows: &[Reading]) -> f64 {
    let began = Instant::now();
    for batch in rows.chunks(BATCH) {
        let outcome = store.write_batch(batch).await.expect("write_batch");
        assert_eq!(outcome.inserted as usize, batch.len());
    }
    rows.len() as f64 / began.elapsed().as_secs_f64()
}

async fn series_bench(url: &str, quick: bool) {
    let store = PostgresStore::connect_with(PostgresConfig::new(url))
        .await
        .expect("store");
    let days = if quick { 2 } else { 30 };
    let seconds = days * 86_400;
    let start = DateTime::from_timestamp(1_710_000_000 - 1_710_000_000 % 86_400, 0).unwrap();
    println!("== series: 1 vehicle, {days} days at 1 Hz = {seconds} rows");
    let began = Instant::now();
    let mut lat = 4.71;
    let mut batch = Vec::with_capacity(BATCH);
    for s in 0..seconds {
        let r = reading(0, start + Duration::seconds(s), s as u64, lat);
        lat = r.telemetry.latitude;
        batch.push(r);
        if batch.len() == BATCH {
            store.write_batch(&batch).await.expect("write");
            batch.clear();
        }
    }
    store.write_batch(&batch).await.expect("write");
    let load = began.elapsed();
    println!(
        "loaded through the store in {:.1} s ({:.0} rows/s)",
        load.as_secs_f64(),
        seconds as f64 / load.as_secs_f64()
    );
    sqlx::Executor::execute(store.pool(), "VACUUM ANALYZE")
        .await
        .expect("vacuum analyze");

    let range = TimeRange::new(start, start + Duration::seconds(seconds - 1)).unwrap();
    let mut times = Vec::new();
    let mut points = 0;
    for _ in 0..30 {
        let began = Instant::now();
        let series = store
            .series("VH-0000", Metric::SpeedKmh, range, Duration::minutes(5))
            .await
            .expect("series");
        times.push(began.elapsed());
        points = series.len();
    }
    report("store.series(speed_kmh, 5 min)", &mut times, points);

    // For reference: the same question answered from raw rows only.
    let mut raw_times = Vec::new();
    for _ in 0..3 {
        let began = Instant::now();
        let rows: Vec<(DateTime<Utc>, f64)> = sqlx::query_as(
            "SELECT date_bin(INTERVAL '5 minutes', time, TIMESTAMPTZ 'epoch') AS b, avg(speed_kmh)
             FROM vehicleops.telemetry WHERE vehicle_id = $1 AND time BETWEEN $2 AND $3
             GROUP BY 1 ORDER BY 1",
        )
        .bind("VH-0000")
        .bind(range.from)
        .bind(range.to)
        .fetch_all(store.pool())
        .await
        .expect("raw series");
        raw_times.push(began.elapsed());
        points = rows.len();
    }
    report(
        "raw date_bin over telemetry (reference)",
        &mut raw_times,
        points,
    );
}

/// One fleet of 1,000 vehicles over 30 days (daily partitions), each reporting every 10
/// minutes: the same vehicles, partitions and probe per vehicle as 1 Hz data, with 600 times
/// fewer rows per vehicle to load (the key's B-tree is a level shallower than at 1 Hz).
async fn fleet_at_bench(url: &str, quick: bool) {
    let store = PostgresStore::connect_with(PostgresConfig::new(url))
        .await
        .expect("store");
    let (vehicles, days, every) = if quick {
        (1_000, 2, 600)
    } else {
        (1_000, 30, 600)
    };
    let start = DateTime::from_timestamp(1_720_000_000 - 1_720_000_000 % 86_400, 0).unwrap();
    let steps = days * 86_400 / every;
    println!(
        "== fleet at an instant: {vehicles} vehicles of one fleet, {days} days, a reading every {every} s = {} rows",
        vehicles as i64 * steps
    );
    let began = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for step in 0..steps {
        for v in 0..vehicles {
            let mut r = reading(
                v,
                start + Duration::seconds(step * every),
                step as u64,
                4.71,
            );
            r.telemetry.fleet_id = "fleet-at".into();
            r.telemetry.vehicle_id = format!("AT-{v:04}");
            batch.push(r);
            if batch.len() == BATCH {
                store.write_batch(&batch).await.expect("write");
                batch.clear();
            }
        }
    }
    store.write_batch(&batch).await.expect("write");
    println!("loaded in {:.1} s", began.elapsed().as_secs_f64());
    sqlx::Executor::execute(store.pool(), "VACUUM ANALYZE")
        .await
        .expect("vacuum analyze");
    for (what, at) in [
        (
            "the last hour",
            start + Duration::days(days) - Duration::minutes(30),
        ),
        (
            "mid-period",
            start + Duration::days(days / 2) + Duration::hours(12),
        ),
        ("the first day", start + Duration::hours(3)),
    ] {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..20 {
            let began = Instant::now();
            found = store
                .fleet_at("fleet-at", at)
                .await
                .expect("fleet_at")
                .len();
            times.push(began.elapsed());
        }
        assert_eq!(found, vehicles, "every vehicle had reported by then");
        report(&format!("store.fleet_at({what})"), &mut times, found);
    }

    // Daily reports over the same data, from the 1-minute rollup (one row per vehicle and
    // minute with readings: here one in ten minutes; 1 Hz data fills every minute).
    for report_days in [1, 7, days] {
        let to = (start + Duration::days(days - 1)).date_naive();
        let query = vehicleops_core::ReportQuery {
            fleet_id: "fleet-at".into(),
            vehicle_id: None,
            from: to - Duration::days(report_days - 1),
            to,
            utc_offset_minutes: 0,
        };
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..5 {
            let began = Instant::now();
            rows = store.report_days(&query).await.expect("report_days").len();
            times.push(began.elapsed());
        }
        assert_eq!(
            rows,
            vehicles * report_days as usize,
            "a row per vehicle-day"
        );
        report(
            &format!(
                "store.report_days({report_days} days, {} rollup minutes)",
                vehicles as i64 * report_days * 86_400 / every
            ),
            &mut times,
            rows,
        );
    }
}

fn report(what: &str, times: &mut [StdDuration], points: usize) {
    times.sort();
    let ms = |d: StdDuration| d.as_secs_f64() * 1e3;
    println!(
        "{what}: {points} points; min {:.1} ms, median {:.1} ms, max {:.1} ms over {} runs",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
