//! PostgreSQL-specific behaviour against a real server: migrations (idempotent, staged
//! upgrade, concurrent starters, no clash with a host application), the rollup answering
//! exactly like raw rows on ragged windows, retention by partition, and clear errors.
#![cfg(feature = "postgres")]

mod postgres_support;

use chrono::{Duration, Utc};
use sqlx::Connection;
use vehicleops_core::{
    ErrorKind, HistoryQuery, ReportQuery, RetentionPolicy, RetentionStore, TimeRange,
    TimeSeriesStore, VehicleStatus,
};
use vehicleops_store::postgres::LATEST_SCHEMA_VERSION;
use vehicleops_store::{PostgresConfig, PostgresStore, TelemetryLayout};

use postgres_support::analytics::{assert_analytics_match_raw, one_hertz};
use postgres_support::{admin_url, free_port, fresh_database, with_database};

fn config(url: &str) -> PostgresConfig {
    let mut config = PostgresConfig::new(url);
    config.max_connections = 4;
    config
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
    // …and counted their statuses, so a daily report shares each minute between them.
    let mut minutes: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    for r in &first {
        let m = minutes
            .entry(r.telemetry.timestamp.timestamp().div_euclid(60))
            .or_default();
        m.0 += 1.0;
        m.1 += f64::from(u8::from(r.telemetry.status == VehicleStatus::Moving));
    }
    let days = new
        .report_days(&ReportQuery {
            fleet_id: first[0].telemetry.fleet_id.clone(),
            vehicle_id: None,
            from: first[0].telemetry.timestamp.date_naive(),
            to: first.last().unwrap().telemetry.timestamp.date_naive(),
            utc_offset_minutes: 0,
        })
        .await
        .unwrap();
    let driving: f64 = days.iter().map(|d| d.figures.driving_s).sum();
    let expected: f64 = minutes.values().map(|(n, moving)| 60.0 * moving / n).sum();
    assert!((driving - expected).abs() < 1e-6, "{driving} vs {expected}");
    assert!(driving > 0.0);
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

    let report = store
        .apply_retention(
            &RetentionPolicy {
                telemetry_days: Some(90),
                ..RetentionPolicy::default()
            }
            .cutoffs(Utc::now()),
        )
        .await
        .unwrap();
    assert!(report.telemetry_partitions >= 1, "{report:?}");
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
    // The rollup outlives the readings (its own retention), then goes too.
    let old_window = TimeRange::new(now - Duration::days(101), now - Duration::days(99)).unwrap();
    let summarised = || async {
        store
            .vehicle_summary("VH-1", old_window)
            .await
            .unwrap()
            .total_readings
    };
    assert_eq!(
        summarised().await,
        3,
        "the rollup still counts the readings"
    );
    let report = store
        .apply_retention(
            &RetentionPolicy {
                telemetry_days: Some(90),
                rollup_days: Some(90),
                ..RetentionPolicy::default()
            }
            .cutoffs(Utc::now()),
        )
        .await
        .unwrap();
    assert!(report.rollups >= 1, "{report:?}");
    assert_eq!(summarised().await, 0);
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
