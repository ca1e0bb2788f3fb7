//! Helpers shared by the integration tests, which run against real brokers started by
//! `scripts/kafka.sh`. Each test uses its own topics and consumer group (a random suffix), so
//! tests can share a broker and run in parallel.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use vehicleops_core::{HistoryQuery, Telemetry, TimeRange, TimeSeriesStore, VehicleStatus};
use vehicleops_kafka::{KafkaConfig, TopicNames, ensure_topics, standard_topics};

/// The single broker's bootstrap address, or `None` (with a notice) when tests should skip.
pub fn single_broker() -> Option<String> {
    bootstrap_from("VEHICLEOPS_TEST_KAFKA", "scripts/kafka.sh start")
}

/// The three-broker cluster's bootstrap address, or `None` (with a notice).
pub fn cluster() -> Option<String> {
    bootstrap_from(
        "VEHICLEOPS_TEST_KAFKA_CLUSTER",
        "scripts/kafka.sh --brokers 3 start",
    )
}

fn bootstrap_from(var: &str, how: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            eprintln!(
                "SKIPPED: {var} is not set; start Kafka with `{how}` and export \
                 {var}=<its bootstrap servers> to run this test"
            );
            None
        }
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,librdkafka=off,rdkafka=off".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A configuration whose topics and group are unique to this test run.
pub fn unique_config(bootstrap: &str, test: &str) -> KafkaConfig {
    let suffix = format!("{test}.{}", uuid::Uuid::new_v4().simple());
    KafkaConfig {
        group_id: format!("vehicleops-test.{suffix}"),
        topics: TopicNames::default().with_suffix(&suffix),
        ..KafkaConfig::new(bootstrap)
    }
}

/// Creates this test's topics with the standard layout.
/// Creates the standard topics and waits until they show in the cluster metadata. The wait is
/// a guard for a broker starved by the rest of the test command (one CI run saw topics take
/// over 30 s to appear), not a performance assertion.
pub async fn create_topics(config: &KafkaConfig) {
    let report = ensure_topics(
        config,
        &standard_topics(&config.topics),
        None,
        Duration::from_secs(120),
    )
    .await
    .expect("creating topics");
    assert_eq!(report.created.len(), 7, "{report:?}");
}

pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 15, 14, 0, 0).unwrap()
}

/// Reading number `seq` (1-based) of vehicle `v`: one per second, moving north slowly.
pub fn reading(fleet: &str, v: usize, seq: u64) -> Telemetry {
    Telemetry {
        vehicle_id: format!("VH-{v:04}"),
        fleet_id: fleet.into(),
        latitude: 4.70 + seq as f64 * 1e-5,
        longitude: -74.07 + v as f64 * 1e-3,
        speed_kmh: 30.0 + (seq % 20) as f64,
        battery_pct: 90.0 - (seq % 50) as f64 * 0.1,
        engine_temp_c: 70.0,
        load_pct: 10.0,
        status: VehicleStatus::Moving,
        timestamp: epoch() + chrono::Duration::seconds(seq as i64),
        heading_deg: 0.0,
        seq,
        pose: None,
    }
}

/// Readings `from..=to` of every vehicle, interleaved vehicle by vehicle like a fleet ticking.
pub fn fleet_tick_range(fleet: &str, vehicles: usize, from: u64, to: u64) -> Vec<Telemetry> {
    let mut out = Vec::new();
    for seq in from..=to {
        for v in 0..vehicles {
            out.push(reading(fleet, v, seq));
        }
    }
    out
}

/// The natural keys of readings.
pub fn keys(readings: &[Telemetry]) -> BTreeSet<(String, u64)> {
    readings
        .iter()
        .map(|t| (t.vehicle_id.clone(), t.seq))
        .collect()
}

/// Every stored reading of the given vehicles, as natural keys, plus the row count (which
/// would exceed the key count if anything were stored twice).
pub async fn stored_keys(
    store: &dyn TimeSeriesStore,
    vehicles: usize,
) -> (BTreeSet<(String, u64)>, usize) {
    let mut set = BTreeSet::new();
    let mut rows = 0;
    for v in 0..vehicles {
        let history = store
            .history(&HistoryQuery {
                vehicle_id: format!("VH-{v:04}"),
                range: TimeRange {
                    from: epoch(),
                    to: epoch() + chrono::Duration::days(1),
                },
                limit: HistoryQuery::MAX_LIMIT,
            })
            .await
            .expect("history");
        rows += history.len();
        set.extend(history.into_iter().map(|t| (t.vehicle_id, t.seq)));
    }
    (set, rows)
}

/// Polls `done` every 100 ms until it is true; panics with `what` after `limit` (a guard
/// against hanging, not a performance assertion).
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sum of the group's committed offsets on `topic` (= records consumed and stored).
pub fn committed_total(config: &KafkaConfig, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// Reads `topic` from the beginning until `expected` records, or until nothing more arrived
/// for 5 s (so a test can check that no further record shows up), or 60 s passed.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("reader.{}", uuid::Uuid::new_v4().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_record = Instant::now();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.expect("record").detach());
            last_record = Instant::now();
        } else if !out.is_empty() && last_record.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    out
}

/// `scripts/kafka.sh` in this repository.
pub fn kafka_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh")
}

/// Runs `scripts/kafka.sh args…` with extra environment; panics with its output on failure.
pub fn run_script(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Process::new("bash")
        .arg(kafka_script())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running scripts/kafka.sh");
    assert!(
        out.status.success(),
        "scripts/kafka.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Leader broker id of each partition of `topic`.
pub fn leaders(bootstrap: &str, topic: &str) -> HashMap<i32, i32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("client");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0]
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect()
}

/// Deletes this test's topics, so repeated runs do not pile partitions up on the broker.
pub async fn drop_topics(config: &KafkaConfig) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> =
        config.client_config().create().expect("admin client");
    let t = &config.topics;
    let names = [
        t.telemetry_raw.as_str(),
        &t.telemetry_processed,
        &t.commands,
        &t.command_acks,
        &t.alerts,
        &t.missions,
        &t.dead_letters,
    ];
    admin
        .delete_topics(&names, &AdminOptions::new())
        .await
        .expect("deleting topics");
}
