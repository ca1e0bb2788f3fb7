//! Failure tests: nothing lost, nothing stored twice.
//!
//! - the consuming process SIGKILLed mid-stream and restarted (`VEHICLEOPS_TEST_KAFKA`);
//! - the partition leader's broker SIGKILLed mid-stream in a three-broker cluster
//!   (`VEHICLEOPS_TEST_KAFKA_CLUSTER`, started by `scripts/kafka.sh --brokers 3 start`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use common::*;
use vehicleops_core::PipelineBuilder;
use vehicleops_core::inproc::TelemetryPublisher;
use vehicleops_kafka::{
    KafkaConfig, KafkaTelemetryPublisher, KafkaTelemetrySource, ProducerSettings, SourceSettings,
};
use vehicleops_store::SqliteStore;

const FLEET: &str = "fleet-failures";

/// Publishes `ticks` fleet ticks of `vehicles` readings, `pause` apart. With `hold = (n,
/// resume)`, it stops after tick `n` until `resume` is notified, so a test can act mid-stream
/// however slowly a busy machine lets the consumer catch up.
fn produce_in_background(
    publisher: Arc<KafkaTelemetryPublisher>,
    vehicles: usize,
    ticks: u64,
    pause: Duration,
    hold: Option<(u64, Arc<Notify>)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for seq in 1..=ticks {
            publisher
                .publish(fleet_tick_range(FLEET, vehicles, seq, seq))
                .await
                .expect("publishing telemetry");
            if let Some((_, resume)) = hold.as_ref().filter(|(n, _)| *n == seq) {
                resume.notified().await;
            }
            tokio::time::sleep(pause).await;
        }
    })
}

/// The `kafka_ingest` example, built on demand if `cargo test` was run for this file only.
fn ingest_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let bin = deps
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/kafka_ingest");
    if !bin.exists() {
        let status = Process::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "vehicleops-kafka",
                "--example",
                "kafka_ingest",
            ])
            .status()
            .expect("building the kafka_ingest example");
        assert!(status.success(), "building the kafka_ingest example failed");
    }
    bin
}

/// An ingest process, SIGKILLed when dropped: a failing test leaves no consumer behind.
struct Ingest(Child);

impl Ingest {
    /// SIGKILL: no shutdown, no final commit.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the ingest process; its `stored=N` lines update `stored`.
fn spawn_ingest(config: &KafkaConfig, db: &std::path::Path, stored: Arc<AtomicU64>) -> Ingest {
    let mut child = Process::new(ingest_binary())
        .arg(db)
        .env(
            "VEHICLEOPS_KAFKA_BOOTSTRAP_SERVERS",
            &config.bootstrap_servers,
        )
        .env("VEHICLEOPS_KAFKA_GROUP_ID", &config.group_id)
        .env(
            "VEHICLEOPS_KAFKA_TELEMETRY_TOPIC",
            &config.topics.telemetry_raw,
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting kafka_ingest");
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            if let Some(n) = line
                .strip_prefix("stored=")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
            {
                stored.store(n, Ordering::SeqCst);
            }
        }
    });
    Ingest(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_killed_mid_stream_resumes_from_committed_offsets() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "crash");
    create_topics(&config).await;
    let dir = std::env::temp_dir().join(format!("vehicleops-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fleet.db");

    let (vehicles, ticks) = (40, 300);
    let publisher =
        Arc::new(KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap());
    // 4,000 readings, then the producer waits until the first process is killed.
    let resume = Arc::new(Notify::new());
    let producer = produce_in_background(
        publisher,
        vehicles,
        ticks,
        Duration::from_millis(20),
        Some((100, resume.clone())),
    );

    let stored_first = Arc::new(AtomicU64::new(0));
    let first = spawn_ingest(&config, &db, stored_first.clone());
    wait_until(
        "the first process stores readings",
        Duration::from_secs(180),
        || {
            let n = stored_first.load(Ordering::SeqCst);
            async move { n >= 2000 }
        },
    )
    .await;
    first.kill();
    resume.notify_one();

    let stored_second = Arc::new(AtomicU64::new(0));
    let second = spawn_ingest(&config, &db, stored_second.clone());
    producer.await.unwrap();
    let total = (vehicles as u64 * ticks) as i64;
    let cfg = config.clone();
    wait_until(
        "every reading committed",
        Duration::from_secs(120),
        move || {
            let cfg = cfg.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    committed_total(&cfg, &cfg.topics.telemetry_raw, 12)
                })
                .await
                .unwrap()
                    >= total
            }
        },
    )
    .await;
    second.kill();

    let store = SqliteStore::open(&db).unwrap();
    let (stored, rows) = stored_keys(&store, vehicles).await;
    assert_eq!(rows as i64, total, "rows stored twice or lost");
    assert_eq!(stored, keys(&fleet_tick_range(FLEET, vehicles, 1, ticks)));
    let _ = std::fs::remove_dir_all(&dir);
    drop_topics(&config).await;
}

/// Brings every node of the three-broker cluster up (`start` only starts nodes that are down),
/// when created and again when dropped — also when the test fails.
struct WholeCluster;

impl WholeCluster {
    fn ensure() -> Self {
        run_script(&["--brokers", "3", "start"], &[]);
        WholeCluster
    }
}

impl Drop for WholeCluster {
    fn drop(&mut self) {
        let _ = Process::new("bash")
            .arg(kafka_script())
            .args(["--brokers", "3", "start"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_leader_killed_mid_stream_in_a_three_broker_cluster() {
    let Some(bootstrap) = cluster() else {
        return;
    };
    init_tracing();
    let _restore = tokio::task::spawn_blocking(WholeCluster::ensure)
        .await
        .unwrap();
    let config = unique_config(&bootstrap, "failover");
    create_topics(&config).await;
    let (vehicles, ticks) = (24, 300);
    let publisher =
        Arc::new(KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap());
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let source = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let pipeline = PipelineBuilder::new(source.clone(), store.clone()).spawn();
    let stats = pipeline.stats();
    let producer =
        produce_in_background(publisher, vehicles, ticks, Duration::from_millis(20), None);

    wait_until("readings flow", Duration::from_secs(90), || {
        let n = stats.snapshot().stored;
        async move { n >= 1000 }
    })
    .await;
    // The broker leading partition 0 of the raw topic dies without warning.
    let leader = leaders(&bootstrap, &config.topics.telemetry_raw)[&0];
    let pid = run_script(&["--brokers", "3", "pid", &leader.to_string()], &[]);
    assert!(!pid.is_empty(), "no PID for broker {leader}");
    let killed = Process::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success());
    assert!(!producer.is_finished(), "the kill should land mid-stream");
    producer.await.unwrap();

    let expected = vehicles as u64 * ticks;
    wait_until("every reading stored", Duration::from_secs(180), || {
        let s = stats.snapshot();
        async move { s.stored + s.duplicates >= expected && s.stored >= expected }
    })
    .await;
    let new_leader = leaders(&bootstrap, &config.topics.telemetry_raw)[&0];
    let last = pipeline.shutdown().await.unwrap();
    tokio::task::spawn_blocking(move || source.close())
        .await
        .unwrap();

    assert_ne!(new_leader, leader, "leadership should have moved");
    assert_eq!(last.stored, expected);
    let (stored, rows) = stored_keys(store.as_ref(), vehicles).await;
    assert_eq!(rows as u64, expected, "rows stored twice or lost");
    assert_eq!(stored, keys(&fleet_tick_range(FLEET, vehicles, 1, ticks)));
    drop_topics(&config).await;
}
