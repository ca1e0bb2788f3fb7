//! Tests that need a server of their own (scripts/pg.sh, so stopping it or changing its
//! authentication disturbs no other test): a PostgreSQL restart in the middle of ingest (writes
//! fail with a clear, retryable error while the server is down, succeed again after it is back,
//! and nothing acknowledged is lost or duplicated), and a wrong password.
#![cfg(feature = "postgres")]

mod postgres_support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use vehicleops_core::{
    ErrorKind, HistoryQuery, Reading, Telemetry, TimeRange, TimeSeriesStore, VehicleStatus,
};
use vehicleops_store::{PostgresConfig, PostgresStore};

use postgres_support::Cluster;

const BATCHES: i64 = 40;
const BATCH_LEN: i64 = 250;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn batch(index: i64) -> Vec<Reading> {
    (0..BATCH_LEN)
        .map(|i| {
            let n = index * BATCH_LEN + i;
            Reading {
                telemetry: Telemetry {
                    vehicle_id: "VH-1".into(),
                    fleet_id: "fleet-001".into(),
                    latitude: 4.71,
                    longitude: -74.07,
                    speed_kmh: 20.0,
                    battery_pct: 80.0,
                    engine_temp_c: 70.0,
                    load_pct: 0.0,
                    status: VehicleStatus::Moving,
                    timestamp: t0() + Duration::seconds(n),
                    heading_deg: 0.0,
                    seq: n as u64,
                    pose: None,
                },
                distance_m: 1.0,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_ingest_loses_nothing_acknowledged() {
    let cluster = Cluster::start_new();
    let mut config = PostgresConfig::new(cluster.url.clone());
    config.max_connections = 2;
    config.acquire_timeout = StdDuration::from_secs(1);
    let store = Arc::new(PostgresStore::connect_with(config).await.unwrap());

    // The writer stores batches in order, retrying a failed batch with backoff until it is
    // acknowledged, and reports its first failure.
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<vehicleops_core::Error>();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut failed_tx = Some(failed_tx);
            let mut inserted = 0u64;
            for index in 0..BATCHES {
                let readings = batch(index);
                let mut backoff = StdDuration::from_millis(50);
                loop {
                    match store.write_batch(&readings).await {
                        Ok(outcome) => {
                            inserted += outcome.inserted;
                            acked_tx.send(index).unwrap();
                            break;
                        }
                        Err(e) => {
                            if let Some(tx) = failed_tx.take() {
                                let _ = tx.send(e);
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(StdDuration::from_secs(1));
                        }
                    }
                }
            }
            inserted
        })
    };

    // Let some batches through, then take the server down under the writer's feet.
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        acknowledged.push(acked_rx.recv().await.unwrap());
    }
    cluster.stop();
    let error = failed_rx
        .await
        .expect("a write fails while the server is down");
    assert_eq!(error.kind(), ErrorKind::Backend, "{error}");
    let text = error.to_string();
    assert!(
        text.contains("retry"),
        "the error says the write may be retried: {text}"
    );
    assert!(
        text.contains("127.0.0.1"),
        "the error names the server: {text}"
    );
    eprintln!("error while the server was down: {text}");
    cluster.start();

    let inserted = writer.await.unwrap();
    while let Ok(index) = acked_rx.try_recv() {
        acknowledged.push(index);
    }
    assert_eq!(
        inserted,
        (BATCHES * BATCH_LEN) as u64,
        "every row inserted exactly once"
    );

    let stored = store
        .history(&HistoryQuery {
            vehicle_id: "VH-1".into(),
            range: TimeRange::new(t0(), t0() + Duration::days(1)).unwrap(),
            limit: HistoryQuery::MAX_LIMIT,
        })
        .await
        .unwrap();
    let seqs: Vec<u64> = stored.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (0..(BATCHES * BATCH_LEN) as u64).collect::<Vec<_>>());
    let summary = store
        .vehicle_summary(
            "VH-1",
            TimeRange::new(t0(), t0() + Duration::days(1)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        summary.total_readings,
        (BATCHES * BATCH_LEN) as u64,
        "rollup agrees"
    );
    cluster.run("destroy");
}

#[tokio::test]
async fn a_wrong_password_is_a_config_error_about_the_login() {
    let cluster = Cluster::start_with_password(Some("right-secret"));
    let good = PostgresStore::connect(&cluster.url).await;
    assert!(
        good.is_ok(),
        "the right password connects: {:?}",
        good.err()
    );
    let wrong = cluster.url.replacen(":right-secret@", ":wrong-secret@", 1);
    let err = PostgresStore::connect(&wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("rejected the login") && text.contains("password"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-secret"),
        "the password is never echoed: {text}"
    );
    cluster.run("destroy");
}
