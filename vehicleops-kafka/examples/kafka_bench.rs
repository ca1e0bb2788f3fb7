//! Kafka throughput benchmark against a running broker (`scripts/kafka.sh start`).
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p vehicleops-kafka --example kafka_bench -- [RECORDS] [VEHICLES]
//! ```
//!
//! 1. **produce**: publishes RECORDS readings (default 500 000) of VEHICLES vehicles (default
//!    1 000) through [`KafkaTelemetryPublisher`] (JSON, key vehicle id, idempotent, `acks=all`,
//!    LZ4, linger 5 ms) to a fresh 12-partition topic, waiting for every acknowledgement;
//! 2. **consume + decode + rules**: reads them back with [`KafkaTelemetrySource`] (consumer
//!    group, batches of up to 5 000), decodes and validates every payload, runs the default
//!    alert rules with per-vehicle state, and commits each batch's offsets — the pipeline's
//!    work minus the store.
//!
//! The broker address comes from `VEHICLEOPS_KAFKA_BOOTSTRAP_SERVERS` (default
//! 127.0.0.1:9092). Prints one line per phase with records/s and MB/s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use vehicleops_core::inproc::TelemetryPublisher;
use vehicleops_core::{
    AlertSignal, RuleState, SourceRecord, Telemetry, TelemetrySource, VehicleStatus,
    decode_telemetry, default_rules,
};
use vehicleops_kafka::{
    KafkaConfig, KafkaTelemetryPublisher, KafkaTelemetrySource, ProducerSettings, SourceSettings,
    TopicSpec, ensure_topics,
};

fn reading(vehicle: usize, seq: u64) -> Telemetry {
    let start = Utc.with_ymd_and_hms(2024, 2, 15, 14, 0, 0).unwrap();
    Telemetry {
        vehicle_id: format!("VH-{vehicle:05}"),
        fleet_id: format!("fleet-{:03}", vehicle % 10),
        latitude: 4.70 + (seq % 1000) as f64 * 1e-5,
        longitude: -74.07 + vehicle as f64 * 1e-4,
        speed_kmh: 20.0 + (seq % 70) as f64,
        battery_pct: 100.0 - (seq % 90) as f64,
        engine_temp_c: 60.0 + (seq % 45) as f64,
        load_pct: 40.0,
        status: VehicleStatus::Moving,
        timestamp: start + chrono::Duration::seconds(seq as i64),
        heading_deg: 90.0,
        seq,
        pose: None,
    }
}

fn rate(what: &str, records: u64, bytes: u64, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{what:<28} {records:>9} records in {secs:>6.2} s = {:>9.0} records/s, {:>6.1} MB/s",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(500_000);
    let vehicles: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let bootstrap = std::env::var("VEHICLEOPS_KAFKA_BOOTSTRAP_SERVERS")
        .unwrap_or_else(|_| "127.0.0.1:9092".into());
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut config = KafkaConfig::new(bootstrap);
    config.topics.telemetry_raw = format!("bench.telemetry.raw.{run}");
    config.group_id = format!("bench.{run}");
    ensure_topics(
        &config,
        &[TopicSpec {
            name: config.topics.telemetry_raw.clone(),
            partitions: 12,
            retention: Duration::from_secs(3600),
        }],
        None,
        Duration::from_secs(30),
    )
    .await?;
    println!(
        "kafka_bench: {records} readings of {vehicles} vehicles -> {}",
        config.topics.telemetry_raw
    );

    // 1. Produce.
    let publisher = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default())?;
    let per_vehicle = records.div_ceil(vehicles as u64);
    let all: Vec<Telemetry> = (1..=per_vehicle)
        .flat_map(|seq| (0..vehicles).map(move |v| reading(v, seq)))
        .take(records as usize)
        .collect();
    let bytes: u64 = all
        .iter()
        .map(|t| serde_json::to_vec(t).map(|v| v.len() as u64).unwrap_or(0))
        .sum();
    let started = Instant::now();
    // Several chunks in flight keep the producer's batches full.
    let mut in_flight = Vec::new();
    for chunk in all.chunks(20_000) {
        in_flight.push(publisher.publish(chunk.to_vec()));
        if in_flight.len() == 4 {
            for f in in_flight.drain(..) {
                f.await?;
            }
        }
    }
    for f in in_flight {
        f.await?;
    }
    rate("produce (acks=all)", records, bytes, started.elapsed());

    // 2. Consume + decode + rules + commit.
    let source = KafkaTelemetrySource::new(&config, SourceSettings::default())?;
    let rules = default_rules();
    let mut states: HashMap<String, Vec<RuleState>> = HashMap::new();
    let mut signals: Vec<AlertSignal> = Vec::new();
    let (mut seen, mut consumed_bytes, mut alerts) = (0u64, 0u64, 0u64);
    let mut started = None;
    while seen < records {
        let Some(batch) = source.next_batch(5000).await? else {
            break;
        };
        // Timed from the first record, so group join time is not counted.
        started.get_or_insert_with(Instant::now);
        for record in &batch.records {
            let SourceRecord::Raw { payload, .. } = record else {
                continue;
            };
            consumed_bytes += payload.len() as u64;
            let t = decode_telemetry(payload)?;
            let state = states
                .entry(t.vehicle_id.clone())
                .or_insert_with(|| rules.iter().map(|_| RuleState::default()).collect());
            for (rule, s) in rules.iter().zip(state.iter_mut()) {
                rule.evaluate(&t, s, &mut signals);
            }
            alerts += signals.len() as u64;
            signals.clear();
            seen += 1;
        }
        if let Some(ack) = batch.ack {
            ack.ack().await?;
        }
    }
    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    rate("consume+decode+rules+commit", seen, consumed_bytes, elapsed);
    println!("alert signals raised: {alerts}");
    tokio::task::spawn_blocking(move || source.close()).await?;
    // The benchmark's topic is of no further use.
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        config.client_config().create()?;
    admin
        .delete_topics(
            &[config.topics.telemetry_raw.as_str()],
            &rdkafka::admin::AdminOptions::new(),
        )
        .await?;
    Ok(())
}
