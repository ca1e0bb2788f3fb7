//! Simulator → Kafka → pipeline → SQLite store → live hub, against the broker started by
//! `scripts/kafka.sh start` (set `VEHICLEOPS_TEST_KAFKA`).

mod common;

use std::collections::BTreeSet;
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

/// The partitions of `source`'s current assignment.
fn assigned_partitions(source: &KafkaTelemetrySource) -> BTreeSet<i32> {
    source
        .assignment()
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// What `source` reported since `seen` was last cleared, as (assigned, revoked).
fn collect_changes(
    source: &KafkaTelemetrySource,
    seen: &mut (BTreeSet<i32>, BTreeSet<i32>),
) -> (BTreeSet<i32>, BTreeSet<i32>) {
    if let Some(c) = source.take_partition_changes() {
        seen.0.extend(c.assigned);
        seen.1.extend(c.revoked);
    }
    seen.clone()
}

/// The source tells the pipeline which partitions it was assigned and which it gave up: the
/// initial assignment, the partitions a second member takes (the ones kept are not reported),
/// and the ones that come back when the second member leaves — whose vehicles the pipeline then
/// reloads from the repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_reports_partitions_assigned_again_after_a_member_leaves() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "reassign");
    create_topics(&config).await;
    let all: BTreeSet<i32> = (0..12).collect();
    let first = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());

    let mut seen = Default::default();
    wait_until(
        "the first member reports the initial assignment",
        Duration::from_secs(60),
        || {
            let (assigned, _) = collect_changes(&first, &mut seen);
            let done = assigned == all;
            async move { done }
        },
    )
    .await;
    assert_eq!(seen.1, BTreeSet::new(), "nothing revoked yet");
    assert_eq!(first.take_partition_changes(), None, "reported once");

    let second = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let mut seen = Default::default();
    let mut moved = BTreeSet::new();
    wait_until(
        "the second member takes partitions from the first",
        Duration::from_secs(60),
        || {
            let (_, revoked) = collect_changes(&first, &mut seen);
            let (a, b) = (assigned_partitions(&first), assigned_partitions(&second));
            moved = b.clone();
            let done = !b.is_empty()
                && a.is_disjoint(&b)
                && a.union(&b).copied().collect::<BTreeSet<_>>() == all
                && revoked == b;
            async move { done }
        },
    )
    .await;
    assert_eq!(
        seen.0,
        BTreeSet::new(),
        "the partitions the first member kept are not reported as assigned"
    );

    let leaving = second.clone();
    tokio::task::spawn_blocking(move || leaving.close())
        .await
        .unwrap();
    let mut seen = Default::default();
    wait_until(
        "the first member gets the second's partitions back",
        Duration::from_secs(60),
        || {
            let (assigned, _) = collect_changes(&first, &mut seen);
            let done = assigned == moved && assigned_partitions(&first) == all;
            async move { done }
        },
    )
    .await;
    assert_eq!(
        seen.1,
        BTreeSet::new(),
        "nothing more revoked from the first member"
    );
    assert_eq!(
        collect_changes(&first, &mut seen).0,
        moved,
        "only the partitions that came back are reported"
    );
    tokio::task::spawn_blocking(move || first.close())
        .await
        .unwrap();
    drop_topics(&config).await;
}

/// Reading `seq` of vehicle `v` at `speed_kmh` (OVERSPEED above 80 km/h, clears below 75).
fn at_speed(v: usize, seq: u64, speed_kmh: f64) -> vehicleops_core::Telemetry {
    vehicleops_core::Telemetry {
        speed_kmh,
        ..reading(FLEET, v, seq)
    }
}

/// The open alerts of vehicle `v`, by id.
async fn open_alert_ids(store: &SqliteStore, v: usize) -> Vec<String> {
    use vehicleops_core::FleetRepository;
    store
        .open_alerts(&[format!("VH-{v:04}")])
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect()
}

/// Two instances share the raw topic and one repository. Instance A raises an OVERSPEED episode
/// for every vehicle; B takes some partitions, and for their vehicles takes the episode up and
/// clears it; B leaves and A gets the partitions back. The next overspeed of a moved vehicle
/// raises a new episode on A (A does not take it for the one B cleared); the vehicles A kept
/// stay in their first episode (no reload, nothing raised twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn episodes_cleared_elsewhere_are_not_kept_when_a_partition_comes_back() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "comeback");
    create_topics(&config).await;
    let vehicles = 24;
    let all: BTreeSet<i32> = (0..12).collect();
    let publisher = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let rules = || {
        [Arc::new(vehicleops_core::rules::ThresholdRule::overspeed())
            as Arc<dyn vehicleops_core::AlertRule>]
    };
    let instance = |source: Arc<KafkaTelemetrySource>| {
        PipelineBuilder::new(source, store.clone())
            .repository(store.clone())
            .rules(rules())
            .spawn()
    };

    let a_source = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let a = instance(a_source.clone());
    publisher
        .publish((0..vehicles).map(|v| at_speed(v, 1, 95.0)).collect())
        .await
        .unwrap();
    let mut first_episode = Vec::new();
    for v in 0..vehicles {
        wait_until("A raises every episode", Duration::from_secs(60), || {
            let store = store.clone();
            async move { open_alert_ids(&store, v).await.len() == 1 }
        })
        .await;
        first_episode.push(open_alert_ids(&store, v).await.remove(0));
    }
    let partition_of: std::collections::HashMap<usize, i32> =
        read_topic(&bootstrap, &config.topics.telemetry_raw, vehicles)
            .iter()
            .map(|m| {
                let key = std::str::from_utf8(m.key().unwrap()).unwrap();
                let v: usize = key.trim_start_matches("VH-").parse().unwrap();
                (v, m.partition())
            })
            .collect();
    assert_eq!(partition_of.len(), vehicles);

    let b_source = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let b = instance(b_source.clone());
    let mut b_partitions = BTreeSet::new();
    wait_until("B takes partitions from A", Duration::from_secs(60), || {
        let (pa, pb) = (
            assigned_partitions(&a_source),
            assigned_partitions(&b_source),
        );
        let done = !pb.is_empty()
            && pa.is_disjoint(&pb)
            && pa.union(&pb).copied().collect::<BTreeSet<_>>() == all;
        b_partitions = pb;
        async move { done }
    })
    .await;
    let (moved, kept): (Vec<usize>, Vec<usize>) =
        (0..vehicles).partition(|v| b_partitions.contains(&partition_of[v]));
    assert!(!moved.is_empty() && !kept.is_empty(), "{b_partitions:?}");

    // B takes the moved vehicles' episodes up and clears them.
    publisher
        .publish(moved.iter().map(|&v| at_speed(v, 2, 40.0)).collect())
        .await
        .unwrap();
    for &v in &moved {
        wait_until("B clears the episode", Duration::from_secs(60), || {
            let store = store.clone();
            async move { open_alert_ids(&store, v).await.is_empty() }
        })
        .await;
    }
    let b_stats = b.shutdown().await.unwrap();
    assert_eq!(
        (
            b_stats.alerts_restored,
            b_stats.alerts_cleared,
            b_stats.alerts_raised
        ),
        (moved.len() as u64, moved.len() as u64, 0)
    );
    let leaving = b_source.clone();
    tokio::task::spawn_blocking(move || leaving.close())
        .await
        .unwrap();
    wait_until(
        "A gets the partitions back",
        Duration::from_secs(60),
        || {
            let done = assigned_partitions(&a_source) == all;
            async move { done }
        },
    )
    .await;

    // Every vehicle speeds again; only the moved ones start a new episode.
    publisher
        .publish((0..vehicles).map(|v| at_speed(v, 3, 96.0)).collect())
        .await
        .unwrap();
    let a_stats = a.stats();
    let expected_valid = 2 * vehicles as u64;
    wait_until("A stores every reading", Duration::from_secs(60), || {
        let s = a_stats.snapshot();
        async move { s.valid >= expected_valid && s.in_flight == 0 }
    })
    .await;
    let a_stats = a.shutdown().await.unwrap();
    for &v in &moved {
        let open = open_alert_ids(&store, v).await;
        assert_eq!(open.len(), 1, "VH-{v:04}: a new episode");
        assert_ne!(open[0], first_episode[v], "VH-{v:04}");
    }
    for &v in &kept {
        assert_eq!(
            open_alert_ids(&store, v).await,
            vec![first_episode[v].clone()],
            "VH-{v:04} stays in its first episode"
        );
    }
    assert_eq!(
        (a_stats.valid, a_stats.alerts_raised, a_stats.alerts_cleared),
        (expected_valid, (vehicles + moved.len()) as u64, 0),
        "{a_stats:?}"
    );
    assert_eq!(
        a_stats.vehicles_released + a_stats.vehicles_reassigned,
        moved.len() as u64,
        "only the moved vehicles are forgotten: {a_stats:?}"
    );
    tokio::task::spawn_blocking(move || a_source.close())
        .await
        .unwrap();
    drop_topics(&config).await;
}
