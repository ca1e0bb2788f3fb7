//! Simulator → Kafka → pipeline → SQLite store → live hub, against the broker started by
//! `scripts/kafka.sh start` (set `VEHICLEOPS_TEST_KAFKA`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rdkafka::message::{Headers, Message};
use vehicleops_core::hub::LiveEvent;
use vehicleops_core::inproc::TelemetryPublisher;
use vehicleops_core::{LiveHub, PipelineBuilder, TelemetrySource, TimeSeriesStore};
use vehicleops_kafka::{
    KafkaDeadLetterSink, KafkaTelemetryPublisher, KafkaTelemetrySource, ProducerSettings,
    SourceSettings, dead_letter_headers,
};
use vehicleops_store::SqliteStore;

const FLEET: &str = "fleet-ingest";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_reading_is_stored_once_and_malformed_ones_reach_the_dead_letter_topic() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "ingest");
    create_topics(&config).await;

    let vehicles = 20;
    let per_vehicle = 100;
    let publisher = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap();
    let malformed: Vec<(String, Vec<u8>)> = vec![
        ("VH-0000".into(), b"{not json".to_vec()),
        (
            "VH-0001".into(),
            br#"{"vehicle_id":"VH-0001","fleet_id":"f","latitude":95.0,"longitude":0,
                "speed_kmh":1,"battery_pct":50,"engine_temp_c":60,"status":"MOVING",
                "timestamp":"2024-02-15T14:00:00Z"}"#
                .to_vec(),
        ),
        (
            "VH-0002".into(),
            br#"{"vehicle_id":"VH-0002","fleet_id":"f","latitude":4.7,"longitude":-74,
                "speed_kmh":1,"battery_pct":50,"engine_temp_c":60,"status":"FLYING",
                "timestamp":"2024-02-15T14:00:00Z"}"#
                .to_vec(),
        ),
        ("VH-0003".into(), Vec::new()),
    ];
    // Publish like the simulator does, with the malformed records in the middle of the stream.
    let all = fleet_tick_range(FLEET, vehicles, 1, per_vehicle);
    let (first, second) = all.split_at(all.len() / 2);
    publisher.publish(first.to_vec()).await.unwrap();
    let bad_positions = publisher.publish_raw(malformed.clone()).await.unwrap();
    publisher.publish(second.to_vec()).await.unwrap();

    let source = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let hub = LiveHub::new();
    let mut live = hub.subscribe(FLEET);
    let dead_letters =
        Arc::new(KafkaDeadLetterSink::new(&config, &ProducerSettings::default()).unwrap());
    let pipeline = PipelineBuilder::new(source.clone(), store.clone())
        .hub(hub.clone())
        .dead_letters(dead_letters)
        .spawn();
    let stats = pipeline.stats();
    let expected = all.len() as u64;
    wait_until("every reading stored", Duration::from_secs(90), || {
        let s = stats.snapshot();
        async move { s.stored + s.duplicates >= expected && s.dead_lettered >= 4 }
    })
    .await;
    let final_stats = pipeline.shutdown().await.unwrap();
    assert_eq!(final_stats.valid, expected);
    assert_eq!(final_stats.stored, expected);
    assert_eq!(final_stats.duplicates, 0);
    assert_eq!(final_stats.dead_lettered, 4);

    let (stored, rows) = stored_keys(store.as_ref(), vehicles).await;
    assert_eq!(rows, all.len(), "a reading was stored twice");
    assert_eq!(
        stored,
        keys(&all),
        "stored readings differ from published ones"
    );

    // The hub saw every vehicle, its newest state last.
    let mut events = Vec::new();
    live.drain_into(&mut events, usize::MAX);
    let mut newest = std::collections::HashMap::new();
    for e in events {
        if let LiveEvent::Update(u) = e {
            newest.insert(u.vehicle_id.clone(), u.timestamp);
        }
    }
    assert_eq!(newest.len(), vehicles);
    let last = epoch() + chrono::Duration::seconds(per_vehicle as i64);
    assert!(newest.values().all(|t| *t == last), "{newest:?}");
    for v in 0..vehicles {
        let latest = store.latest(&format!("VH-{v:04}")).await.unwrap().unwrap();
        assert_eq!(latest.seq, per_vehicle);
    }

    // Everything read was committed once stored: a restart would resume after the last record.
    let total_records = all.len() as i64 + malformed.len() as i64;
    source.close();
    assert_eq!(
        committed_total(&config, &config.topics.telemetry_raw, 12),
        total_records
    );

    // Dead letters carry the original bytes, the reason and where they came from.
    let letters = read_topic(&bootstrap, &config.topics.dead_letters, 4);
    assert_eq!(letters.len(), 4);
    for (payload_key, delivered) in malformed.iter().zip(&bad_positions) {
        let letter = letters
            .iter()
            .find(|m| {
                let h = m.headers().unwrap();
                let get = |name: &str| {
                    h.iter()
                        .find(|x| x.key == name)
                        .and_then(|x| x.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                get(dead_letter_headers::SOURCE_PARTITION) == Some(delivered.partition.to_string())
                    && get(dead_letter_headers::SOURCE_OFFSET) == Some(delivered.offset.to_string())
                    && get(dead_letter_headers::SOURCE_TOPIC)
                        == Some(config.topics.telemetry_raw.clone())
                    && get(dead_letter_headers::REASON).is_some_and(|r| !r.is_empty())
            })
            .unwrap_or_else(|| panic!("no dead letter for {delivered:?}"));
        assert_eq!(
            letter.payload().unwrap_or_default(),
            payload_key.1.as_slice()
        );
    }
    drop_topics(&config).await;
}

/// A second member joins the group mid-stream: partitions move cooperatively, and the
/// in-flight batches of moved partitions are committed before the new owner starts, so the
/// new owner re-reads nothing (no duplicates reach the store) and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joining_mid_stream_takes_partitions_without_loss_or_replay() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "rebalance");
    create_topics(&config).await;
    let vehicles = 24;
    let publisher =
        Arc::new(KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap());
    let store = Arc::new(SqliteStore::in_memory().unwrap());

    let first_source =
        Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let first = PipelineBuilder::new(first_source.clone(), store.clone()).spawn();

    // Keep producing in the background while the second member joins.
    let ticks = 200u64;
    let producer = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for seq in 1..=ticks {
                publisher
                    .publish(fleet_tick_range(FLEET, vehicles, seq, seq))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let first_stats = first.stats();
    wait_until(
        "the first member stores readings",
        Duration::from_secs(60),
        || {
            let stored = first_stats.snapshot().stored;
            async move { stored >= 500 }
        },
    )
    .await;
    let second_source =
        Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let second = PipelineBuilder::new(second_source.clone(), store.clone()).spawn();
    producer.await.unwrap();

    let expected = ticks * vehicles as u64;
    let second_stats = second.stats();
    wait_until("every reading stored", Duration::from_secs(90), || {
        let (a, b) = (first_stats.snapshot(), second_stats.snapshot());
        async move { a.stored + b.stored >= expected }
    })
    .await;
    let second_assignment = second_source.assignment().unwrap();
    let (a, b) = (
        first.shutdown().await.unwrap(),
        second.shutdown().await.unwrap(),
    );
    assert!(
        !second_assignment.is_empty() && b.stored > 0,
        "the second member never received partitions"
    );
    assert_eq!(a.stored + b.stored, expected);
    assert_eq!(
        a.duplicates + b.duplicates,
        0,
        "a moved partition was replayed"
    );
    let (stored, rows) = stored_keys(store.as_ref(), vehicles).await;
    assert_eq!(rows as u64, expected);
    assert_eq!(stored, keys(&fleet_tick_range(FLEET, vehicles, 1, ticks)));
    drop_topics(&config).await;
}

/// A slow consumer of batches makes the source pause its partitions rather than buffer; after
/// resuming, every partition continues exactly where it was: no gap, no record twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_pipeline_pauses_the_consumer_without_gaps_or_repeats() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "backpressure");
    create_topics(&config).await;
    let publisher = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap();
    let all = fleet_tick_range(FLEET, 12, 1, 250);
    publisher.publish(all.clone()).await.unwrap();

    let source = KafkaTelemetrySource::new(
        &config,
        SourceSettings {
            max_batch: 100,
            queued_batches: 1,
            ..SourceSettings::default()
        },
    )
    .unwrap();
    let mut next_offset: std::collections::HashMap<i32, i64> = Default::default();
    let mut seen = 0;
    let mut batches = 0u32;
    while seen < all.len() {
        let batch = source.next_batch(100).await.unwrap().unwrap();
        assert!(batch.records.len() <= 100);
        for record in &batch.records {
            let vehicleops_core::SourceRecord::Raw { origin, .. } = record else {
                panic!("Kafka records are raw");
            };
            let expected = next_offset.entry(origin.partition).or_insert(0);
            assert_eq!(origin.offset, *expected, "partition {}", origin.partition);
            *expected += 1;
        }
        seen += batch.records.len();
        batch.ack.unwrap().ack().await.unwrap();
        // Now and then much slower than the consumer: the one-batch queue stays full for
        // longer than the source waits, and it pauses its partitions.
        batches += 1;
        let pause = if batches % 8 == 0 { 700 } else { 5 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    assert_eq!(seen, all.len());
    assert_eq!(
        committed_total(&config, &config.topics.telemetry_raw, 12),
        all.len() as i64
    );
    tokio::task::spawn_blocking(move || source.close())
        .await
        .unwrap();
    drop_topics(&config).await;
}

/// Reads batches slowly from `source` until `stop`, acking each, recording every offset seen.
async fn drain_slowly(
    source: Arc<KafkaTelemetrySource>,
    seen: Arc<std::sync::Mutex<std::collections::BTreeSet<(i32, i64)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut batches = 0u32;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let next = tokio::time::timeout(Duration::from_millis(200), source.next_batch(50)).await;
        let Ok(batch) = next else { continue };
        let batch = batch.unwrap().unwrap();
        {
            let mut seen = seen.lock().unwrap();
            for record in &batch.records {
                if let vehicleops_core::SourceRecord::Raw { origin, .. } = record {
                    seen.insert((origin.partition, origin.offset));
                }
            }
        }
        batch.ack.unwrap().ack().await.unwrap();
        // Every 8th batch takes longer than the source waits for room: it pauses.
        batches += 1;
        let pause = if batches % 8 == 0 { 700 } else { 5 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Partitions move while the first member is paused by a slow pipeline: both members keep
/// consuming (no partition stays paused after it moved) and every record is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_moving_while_paused_keep_flowing() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "pausemove");
    create_topics(&config).await;
    let publisher = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap();
    let all = fleet_tick_range(FLEET, 24, 1, 200);
    let total = all.len();
    publisher.publish(all).await.unwrap();

    let slow = SourceSettings {
        max_batch: 50,
        queued_batches: 1,
        ..SourceSettings::default()
    };
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let first = Arc::new(KafkaTelemetrySource::new(&config, slow.clone()).unwrap());
    let first_task = tokio::spawn(drain_slowly(first.clone(), seen.clone(), stop.clone()));
    wait_until(
        "the first member is behind",
        Duration::from_secs(60),
        || {
            let n = seen.lock().unwrap().len();
            async move { n >= 500 }
        },
    )
    .await;
    let second = Arc::new(KafkaTelemetrySource::new(&config, slow).unwrap());
    let second_task = tokio::spawn(drain_slowly(second.clone(), seen.clone(), stop.clone()));
    wait_until("every record delivered", Duration::from_secs(120), || {
        let n = seen.lock().unwrap().len();
        async move { n >= total }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    first_task.await.unwrap();
    second_task.await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), total);
    tokio::task::spawn_blocking(move || {
        first.close();
        second.close();
    })
    .await
    .unwrap();
    drop_topics(&config).await;
}
