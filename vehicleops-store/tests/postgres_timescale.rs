//! The TimescaleDB layout against a real TimescaleDB: PGlite (PostgreSQL 17 in WebAssembly)
//! with the extension, served by `scripts/timescale.sh start`, which prints the
//! `VEHICLEOPS_TEST_TIMESCALE_URL` this test reads. Skipped, with a message, when it is unset.
//!
//! PGlite takes one connection at a time and runs no background workers: the store uses a pool
//! of one, and the policies are checked as registered, not as run by the scheduler (their work
//! is exercised directly: `refresh_continuous_aggregate`, `compress_chunk`, `drop_chunks`).
#![cfg(feature = "postgres")]

mod postgres_support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use vehicleops_core::{
    HistoryQuery, ReportQuery, RetentionPolicy, RetentionStore, TimeRange, TimeSeriesStore,
};
use vehicleops_store::{PostgresConfig, PostgresStore, TelemetryLayout};

use postgres_support::analytics::{assert_analytics_match_raw, at, one_hertz};

fn timescale_url() -> Option<String> {
    let url = std::env::var("VEHICLEOPS_TEST_TIMESCALE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!(
            "SKIPPED: VEHICLEOPS_TEST_TIMESCALE_URL is not set; run \
             `eval \"$(scripts/timescale.sh start)\"` to test the TimescaleDB layout"
        );
    }
    url
}

/// Drops everything the store created, so the next connect starts from an empty database.
async fn reset(url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to TimescaleDB");
    sqlx::Executor::execute(&mut conn, "DROP SCHEMA IF EXISTS vehicleops CASCADE")
        .await
        .expect("drop schema vehicleops");
    conn.close().await.ok();
}

async fn connect(url: &str) -> PostgresStore {
    let mut config = PostgresConfig::new(url);
    config.max_connections = 1; // PGlite serves one connection at a time
    PostgresStore::connect_with(config)
        .await
        .expect("connect the store")
}

async fn scalar_i64(store: &PostgresStore, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Runs conformance checks one after the other, each on a freshly reset schema (one
/// connection means they cannot run in parallel).
macro_rules! run_conformance_checks {
    ($url:expr; $($check:ident),+ $(,)?) => {$(
        reset($url).await;
        let store: vehicleops_store::testing::Store = Arc::new(connect($url).await);
        eprintln!("conformance: {}", stringify!($check));
        vehicleops_store::testing::$check(vehicleops_store::testing::CheckInput::from_store(
            store.clone(),
        ))
        .await;
        drop(store);
    )+};
}

#[tokio::test]
async fn timescaledb_layout_end_to_end() {
    let Some(url) = timescale_url() else { return };
    reset(&url).await;
    let store = connect(&url).await;
    assert_eq!(store.layout(), TelemetryLayout::TimescaleDb);

    // Hypertable with 1-day chunks, both continuous aggregates, the three kinds of policy.
    let chunk_secs = scalar_i64(
        &store,
        "SELECT extract(epoch FROM time_interval)::bigint FROM timescaledb_information.dimensions
         WHERE hypertable_schema = 'vehicleops' AND hypertable_name = 'telemetry'",
    )
    .await;
    assert_eq!(chunk_secs, 86_400);
    let caggs = scalar_i64(
        &store,
        "SELECT count(*) FROM timescaledb_information.continuous_aggregates
         WHERE view_schema = 'vehicleops' AND view_name IN ('telemetry_1m', 'telemetry_1h')",
    )
    .await;
    assert_eq!(caggs, 2);
    let status = store.status().await.unwrap();
    eprintln!("status: {status:?}");
    assert_eq!(status.backend, "timescaledb");
    for feature in [
        "hypertable",
        "compression",
        "time_bucket",
        "continuous_aggregate:telemetry_1m",
        "continuous_aggregate:telemetry_1h",
        "policy_compression",
        "policy_retention",
        "policy_refresh_continuous_aggregate",
    ] {
        assert!(
            status.features.iter().any(|f| f == feature),
            "{feature} in {:?}",
            status.features
        );
    }

    // Ingest is idempotent; analytics through real-time aggregates match the raw rows.
    let readings = one_hertz("VH-1", -30, 3600 + 200, 5);
    assert_eq!(
        store.write_batch(&readings).await.unwrap().inserted,
        readings.len() as u64
    );
    assert_eq!(
        store.write_batch(&readings).await.unwrap().duplicates,
        readings.len() as u64
    );
    assert_analytics_match_raw(&store, &readings).await;
    let report_query = ReportQuery {
        fleet_id: readings[0].telemetry.fleet_id.clone(),
        vehicle_id: None,
        from: readings[0].telemetry.timestamp.date_naive(),
        to: readings.last().unwrap().telemetry.timestamp.date_naive(),
        utc_offset_minutes: 0,
    };
    let real_time_report = store.report_days(&report_query).await.unwrap();
    assert_eq!(
        real_time_report
            .iter()
            .map(|d| d.figures.readings)
            .sum::<u64>(),
        readings.len() as u64
    );

    // Materialized (what the refresh policies do on a server with background workers).
    let materialization: String = sqlx::query_scalar(
        "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
         FROM timescaledb_information.continuous_aggregates
         WHERE view_schema = 'vehicleops' AND view_name = 'telemetry_1m'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let materialized_rows = format!("SELECT count(*) FROM {materialization}");
    assert_eq!(
        scalar_i64(&store, &materialized_rows).await,
        0,
        "nothing materialized yet"
    );
    store.refresh_rollups().await.unwrap();
    assert!(
        scalar_i64(&store, &materialized_rows).await > 0,
        "refresh materialized minutes"
    );
    assert_analytics_match_raw(&store, &readings).await;
    assert_eq!(
        store.report_days(&report_query).await.unwrap(),
        real_time_report,
        "the report reads the same from materialized minutes"
    );

    // Compressed chunks (what the compression policy does) still take idempotent replays.
    let compressed = scalar_i64(
        &store,
        "SELECT count(compress_chunk(c, if_not_compressed => true))
         FROM show_chunks('vehicleops.telemetry') c",
    )
    .await;
    assert!(compressed > 0);
    let replay = store.write_batch(&readings[..100]).await.unwrap();
    assert_eq!(
        replay.duplicates, 100,
        "no duplicate into a compressed chunk"
    );
    assert_analytics_match_raw(&store, &readings).await;

    // Retention drops whole chunks past 90 days (here: all of this 2023 data).
    let recent = {
        let mut r = one_hertz("VH-2", 0, 3, 9);
        for (i, reading) in r.iter_mut().enumerate() {
            reading.telemetry.timestamp =
                Utc::now() - Duration::hours(1) + Duration::seconds(i as i64);
        }
        r
    };
    store.write_batch(&recent).await.unwrap();
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
    let old = store
        .history(&HistoryQuery {
            vehicle_id: "VH-1".into(),
            range: TimeRange::new(at(-86_400), at(86_400)).unwrap(),
            limit: 10,
        })
        .await
        .unwrap();
    assert!(old.is_empty(), "expired chunks are gone");
    assert_eq!(
        store.latest("VH-2").await.unwrap().unwrap().seq,
        recent[2].telemetry.seq
    );
    drop(store);

    run_conformance_checks!(&url;
        idempotent_writes,
        same_timestamp_different_seq_are_distinct,
        every_field_round_trips,
        history_is_oldest_first_and_limited,
        windows_are_inclusive,
        latest_and_latest_for_fleet,
        fleet_at_is_each_vehicles_last_reading_by_then,
        series_buckets_align_to_the_epoch,
        series_supports_every_metric,
        vehicle_summary_figures,
        fleet_performance_ranking,
        report_days_share_each_minute_between_statuses_per_site_day,
        missions_ended_between_page_by_end_time,
        audit_trail_lists_newest_first_by_fleet_actor_and_action,
        status_names_the_backend,
        fleets_vehicles_operators_round_trip,
        alerts_lifecycle_and_filters,
        count_open_alerts,
        alerts_open_at_an_instant,
        commands_lifecycle,
        missions_lifecycle,
        concurrent_missions_for_one_vehicle_admit_one,
        records_between_page_a_fleets_window_oldest_first,
        retention_removes_what_is_over_and_keeps_the_rest,
        unknown_entities_are_not_found,
    );
}
