//! PostgreSQL-specific behaviour against a real server: migrations (idempotent, staged
//! upgrade, concurrent starters, no clash with a host application), the rollup answering
//! exactly like raw rows on ragged windows, retention by partition, and clear errors.
#![cfg(feature = "postgres")]

mod postgres_support;

use chrono::{DateTime, Duration, Utc};
use sqlx::Connection;
use vehicleops_core::{
    ErrorKind, HistoryQuery, Metric, Reading, Telemetry, TimeRange, TimeSeriesStore, VehicleStatus,
};
use vehicleops_store::postgres::LATEST_SCHEMA_VERSION;
use vehicleops_store::{PostgresConfig, PostgresStore, TelemetryLayout};

use postgres_support::{admin_url, free_port, fresh_database, with_database};

/// A base time on a whole hour.
const T0: i64 = 1_700_002_800;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap()
}

fn config(url: &str) -> PostgresConfig {
    let mut config = PostgresConfig::new(url);
    config.max_connections = 4;
    config
}

/// `n` seconds of 1 Hz readings of `vehicle_id` from `T0 + start`, with values from a fixed
/// pseudo-random sequence (so windows and buckets see varied numbers).
fn one_hertz(vehicle_id: &str, start: i64, n: i64, seed: u64) -> Vec<Reading> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let speed = (next() * 100.0 * 8.0).round() / 8.0;
            Reading {
                telemetry: Telemetry {
                    vehicle_id: vehicle_id.into(),
                    fleet_id: "fleet-001".into(),
                    latitude: 4.71,
                    longitude: -74.07,
                    speed_kmh: speed,
                    battery_pct: (next() * 100.0 * 8.0).round() / 8.0,
                    engine_temp_c: 60.0 + (next() * 50.0 * 8.0).round() / 8.0,
                    load_pct: (next() * 100.0 * 8.0).round() / 8.0,
                    status: if speed > 80.0 {
                        VehicleStatus::Alert
                    } else {
                        VehicleStatus::Moving
                    },
                    timestamp: at(start + i),
                    heading_deg: 0.0,
                    seq: (start + i + 1_000_000) as u64,
                    pose: None,
                },
                distance_m: (next() * 10.0 * 8.0).round() / 8.0,
            }
        })
        .collect()
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: expected {expected}, got {actual}"
    );
}

/// The series computed naively from the readings: `(bucket start, avg, max, min)`.
fn naive_series(
    readings: &[Reading],
    metric: Metric,
    range: TimeRange,
    bucket_secs: i64,
) -> Vec<(DateTime<Utc>, f64, f64, f64)> {
    let mut buckets: std::collections::BTreeMap<i64, (f64, f64, f64, f64)> = Default::default();
    for r in readings
        .iter()
        .filter(|r| range.contains(r.telemetry.timestamp))
    {
        let v = metric.value(&r.telemetry);
        let b = r.telemetry.timestamp.timestamp().div_euclid(bucket_secs) * bucket_secs;
        let e = buckets.entry(b).or_insert((0.0, 0.0, f64::MIN, f64::MAX));
        *e = (e.0 + v, e.1 + 1.0, e.2.max(v), e.3.min(v));
    }
    buckets
        .into_iter()
        .map(|(b, (sum, n, max, min))| (DateTime::from_timestamp(b, 0).unwrap(), sum / n, max, min))
        .collect()
}

async fn assert_analytics_match_raw(store: &PostgresStore, readings: &[Reading]) {
    let windows = [
        (37, 2 * 3600 + 23 * 60 + 11),
        (0, 3 * 3600),
        (60, 120),
        (61, 119),
        (3599, 7201),
        (-100, 50),
    ];
    for (from, to) in windows {
        let range = TimeRange::new(at(from), at(to)).unwrap();
        for bucket_secs in [60, 90, 300, 420, 3600] {
            for metric in Metric::ALL {
                let got = store
                    .series("VH-1", metric, range, Duration::seconds(bucket_secs))
                    .await
                    .unwrap();
                let want = naive_series(readings, metric, range, bucket_secs);
                let what = format!("{metric:?} window {from}..={to} bucket {bucket_secs}s");
                assert_eq!(got.len(), want.len(), "{what}: bucket count");
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.bucket, w.0, "{what}");
                    assert_close(g.avg_value, w.1, &what);
                    assert_close(g.max_value, w.2, &what);
                    assert_close(g.min_value, w.3, &what);
                }
            }
        }
        let inside: Vec<&Reading> = readings
            .iter()
            .filter(|r| range.contains(r.telemetry.timestamp))
            .collect();
        let summary = store.vehicle_summary("VH-1", range).await.unwrap();
        let what = format!("summary {from}..={to}");
        assert_eq!(summary.total_readings, inside.len() as u64, "{what}");
        let distance: f64 = inside.iter().map(|r| r.distance_m).sum();
        assert_close(summary.total_distance_km, distance / 1000.0, &what);
        let alerts = inside
            .iter()
            .filter(|r| r.telemetry.status == VehicleStatus::Alert)
            .count() as u64;
        assert_eq!(summary.alert_count, alerts, "{what}");
        if !inside.is_empty() {
            let max_speed = inside
                .iter()
                .map(|r| r.telemetry.speed_kmh)
                .fold(f64::MIN, f64::max);
            assert_close(summary.max_speed_kmh.unwrap(), max_speed, &what);
            let min_battery = inside
                .iter()
                .map(|r| r.telemetry.battery_pct)
                .fold(f64::MAX, f64::min);
            assert_close(summary.min_battery_pct.unwrap(), min_battery, &what);
            let avg_temp = inside
                .iter()
                .map(|r| r.telemetry.engine_temp_c)
                .sum::<f64>()
                / inside.len() as f64;
            assert_close(summary.avg_engine_temp_c.unwrap(), avg_temp, &what);
        }
        let report = store.fleet_performance("fleet-001", range).await.unwrap();
        if inside.is_empty() {
            assert!(report.vehicles.is_empty());
        } else {
            assert_eq!(report.vehicles.len(), 1);
            assert_close(report.vehicles[0].distance_km, distance / 1000.0, &what);
            assert_eq!(report.vehicles[0].alerts, alerts, "{what}");
        }
    }
}

async fn relation_exists(store: &PostgresStore, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn staged_upgrade_backfills_the_rollup_and_migrations_are_idempotent() {
    let url = fresh_database().await;
    let mut v1 = config(&url);
    v1.schema_version = Some(1);
    let old = PostgresStore::connect_with(v1).await.unwrap();
    assert_eq!(old.schema_version(), 1);
    assert_eq!(old.layout(), TelemetryLayout::Partitioned);
    assert!(!relation_exists(&old, "vehicleops.telemetry_1m").await);
    let first = one_hertz("VH-1", -30, 2 * 3600, 7);
    assert_eq!(
        old.write_batch(&first).await.unwrap().inserted,
        first.len() as u64
    );
    // Without a rollup, analytics come from raw rows.
    assert_analytics_match_raw(&old, &first).await;
    drop(old);

    let new = PostgresStore::connect_with(config(&url)).await.unwrap();
    assert_eq!(new.schema_version(), LATEST_SCHEMA_VERSION);
    assert!(relation_exists(&new, "vehicleops.telemetry_1m").await);
    let rollup_rows: i64 =
        sqlx::query_scalar("SELECT sum(readings)::bigint FROM vehicleops.telemetry_1m")
            .fetch_one(new.pool())
            .await
            .unwrap();
    assert_eq!(
        rollup_rows,
        first.len() as i64,
        "the upgrade backfilled existing rows"
    );
    // Later ingest keeps the rollup current, replays included.
    let mut all = first.clone();
    let second = one_hertz("VH-1", 2 * 3600 - 30, 3600, 11);
    let outcome = new.write_batch(&second).await.unwrap();
    assert_eq!(outcome.inserted, second.len() as u64);
    assert_eq!(
        new.write_batch(&second).await.unwrap().duplicates,
        second.len() as u64
    );
    all.extend(second);
    assert_analytics_match_raw(&new, &all).await;

    // Connecting again applies nothing and changes nothing.
    let again = PostgresStore::connect_with(config(&url)).await.unwrap();
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM vehicleops.schema_migrations ORDER BY version")
            .fetch_all(again.pool())
            .await
            .unwrap();
    assert_eq!(versions, (1..=LATEST_SCHEMA_VERSION).collect::<Vec<_>>());
    let status = again.status().await.unwrap();
    assert_eq!(status.backend, "postgresql");
    for feature in [
        "range_partitioning",
        "brin",
        "date_bin",
        "rollup_1m",
        "binary_copy",
    ] {
        assert!(
            status.features.iter().any(|f| f == feature),
            "{feature} in {:?}",
            status.features
        );
    }
}

#[tokio::test]
async fn concurrent_starters_migrate_once_beside_a_host_applications_own_tables() {
    let url = fresh_database().await;
    // A host application with its own sqlx migrations table and a table named like ours.
    let mut host = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text);
         INSERT INTO _sqlx_migrations VALUES (1, 'host app');
         CREATE TABLE telemetry (id int); INSERT INTO telemetry VALUES (42);",
    )
    .execute(&mut host)
    .await
    .unwrap();

    let starters = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PostgresStore::connect_with(config(&url)).await })
    });
    for starter in starters {
        let store = starter
            .await
            .unwrap()
            .expect("every concurrent starter connects");
        assert_eq!(store.schema_version(), LATEST_SCHEMA_VERSION);
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM vehicleops.schema_migrations")
        .fetch_one(&mut host)
        .await
        .unwrap();
    assert_eq!(applied, i64::from(LATEST_SCHEMA_VERSION));
    let host_rows: (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM _sqlx_migrations), (SELECT id FROM public.telemetry)",
    )
    .fetch_one(&mut host)
    .await
    .unwrap();
    assert_eq!(
        host_rows,
        (1, 42),
        "the host application's tables are untouched"
    );
}

#[tokio::test]
async fn daily_partitions_are_created_at_ingest_and_dropped_by_retention() {
    let url = fresh_database().await;
    let store = PostgresStore::connect_with(config(&url)).await.unwrap();
    let now = Utc::now();
    let mut old = one_hertz("VH-1", 0, 3, 1);
    let mut recent = one_hertz("VH-1", 0, 3, 2);
    for (i, r) in old.iter_mut().enumerate() {
        r.telemetry.timestamp = now - Duration::days(100) + Duration::seconds(i as i64);
    }
    for (i, r) in recent.iter_mut().enumerate() {
        r.telemetry.timestamp = now - Duration::hours(1) + Duration::seconds(i as i64);
    }
    store.write_batch(&old).await.unwrap();
    store.write_batch(&recent).await.unwrap();
    let old_day = format!(
        "vehicleops.telemetry_p{}",
        old[0].telemetry.timestamp.format("%Y%m%d")
    );
    assert!(
        relation_exists(&store, &old_day).await,
        "partition created for an old day"
    );

    assert!(store.apply_retention().await.unwrap() >= 1);
    assert!(
        !relation_exists(&store, &old_day).await,
        "the expired partition is dropped"
    );
    let everything = TimeRange::new(now - Duration::days(200), now).unwrap();
    let left = store
        .history(&HistoryQuery {
            vehicle_id: "VH-1".into(),
            range: everything,
            limit: HistoryQuery::MAX_LIMIT,
        })
        .await
        .unwrap();
    assert_eq!(left.len(), recent.len(), "only recent readings remain");
    let old_window = TimeRange::new(now - Duration::days(101), now - Duration::days(99)).unwrap();
    assert_eq!(
        store
            .vehicle_summary("VH-1", old_window)
            .await
            .unwrap()
            .total_readings,
        0
    );
    // A late reading for a dropped day recreates its partition.
    assert_eq!(
        store.write_batch(&old).await.unwrap().inserted,
        old.len() as u64
    );
}

#[tokio::test]
async fn a_malformed_connection_string_is_a_config_error() {
    let err = PostgresStore::connect("definitely not a url")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .contains("postgres://user:password@host:port/database"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_a_backend_error_naming_it() {
    let port = free_port();
    let mut config = PostgresConfig::new(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    config.acquire_timeout = std::time::Duration::from_secs(2);
    let err = PostgresStore::connect_with(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("running"), "{text}");
}

#[tokio::test]
async fn an_unknown_database_is_a_config_error_saying_to_create_it() {
    let url = with_database(admin_url(), "vo_no_such_database");
    let err = PostgresStore::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("does not exist") && text.contains("create"),
        "{text}"
    );
}

#[tokio::test]
async fn a_role_without_privileges_gets_permission_advice() {
    let url = fresh_database().await;
    let role = format!("vo_limited_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url()).await.unwrap();
    sqlx::raw_sql(&format!("CREATE ROLE {role} LOGIN"))
        .execute(&mut admin)
        .await
        .unwrap();
    let limited = url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let err = PostgresStore::connect(&limited).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    let text = err.to_string();
    assert!(
        text.contains("permission denied") && text.contains("grant"),
        "{text}"
    );
}
