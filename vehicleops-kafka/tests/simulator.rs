//! The fleet simulator on Kafka, end to end: it publishes through [`KafkaTelemetryPublisher`]
//! and obeys commands from [`KafkaVehicleLink`]; the pipeline consumes the raw topic into the
//! SQLite store and the live hub, publishes processed readings to their topic, and the command
//! center sees a STOP reach EXECUTED. Needs `VEHICLEOPS_TEST_KAFKA`.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use common::*;
use rdkafka::message::Message;
use vehicleops_core::inproc::{TelemetryPublisher, VehicleCommandLink};
use vehicleops_core::{
    CommandCenter, CommandKind, CommandParams, CommandStatus, CommandTimeouts, Fleet,
    FleetRepository, HistoryQuery, LiveHub, PipelineBuilder, Simulator, SimulatorConfig, Telemetry,
    TimeRange, TimeSeriesStore, Vehicle, default_rules,
};
use vehicleops_kafka::{
    KafkaCommandSink, KafkaEventPublisher, KafkaTelemetryPublisher, KafkaTelemetrySource,
    KafkaVehicleLink, ProducerSettings, SourceSettings,
};
use vehicleops_store::SqliteStore;

/// Forwards to Kafka and remembers every reading's natural key, to compare with the store.
struct Recording {
    inner: KafkaTelemetryPublisher,
    keys: Mutex<BTreeSet<(String, u64)>>,
}

#[async_trait]
impl TelemetryPublisher for Recording {
    async fn publish(&self, batch: Vec<Telemetry>) -> vehicleops_core::Result<()> {
        let keys = keys(&batch);
        self.inner.publish(batch).await?;
        self.keys.lock().unwrap().extend(keys);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_publishes_to_kafka_and_obeys_a_stop_dispatched_through_kafka() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "simulator");
    create_topics(&config).await;
    let settings = ProducerSettings::default();

    let sim_config = SimulatorConfig {
        fleet_id: "fleet-sim".into(),
        vehicles: 10,
        interval_ms: 25,
        // A finite run that ends by itself: stopping it could abandon a publish whose records
        // still reach Kafka, and then the test would not know what was published.
        max_ticks: Some(240),
        ..SimulatorConfig::default()
    };
    let simulator = Simulator::new(sim_config.clone()).unwrap();
    let vehicle_ids: Vec<String> = simulator.vehicle_ids().map(str::to_owned).collect();

    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .upsert_fleet(&Fleet {
            id: sim_config.fleet_id.clone(),
            name: "Simulated".into(),
        })
        .await
        .unwrap();
    for id in &vehicle_ids {
        store
            .upsert_vehicle(&Vehicle {
                id: id.clone(),
                fleet_id: sim_config.fleet_id.clone(),
                name: None,
                home: None,
            })
            .await
            .unwrap();
    }

    // Platform side: pipeline from Kafka, processed readings back to Kafka, command center.
    let hub = LiveHub::new();
    let mut live = hub.subscribe(&sim_config.fleet_id);
    let source = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let events = Arc::new(KafkaEventPublisher::new(&config, &settings).unwrap());
    let pipeline = PipelineBuilder::new(source.clone(), store.clone())
        .repository(store.clone())
        .rules(default_rules())
        .hub(hub.clone())
        .observer(events.clone())
        .spawn();
    let sink = Arc::new(KafkaCommandSink::new(&config, &settings).unwrap());
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        Some(hub.clone()),
        CommandTimeouts {
            delivery: Duration::from_secs(120),
            execution: Duration::from_secs(120),
            ..CommandTimeouts::default()
        },
    );

    // Vehicle side: the simulator on Kafka.
    let publisher = Arc::new(Recording {
        inner: KafkaTelemetryPublisher::new(&config, &settings).unwrap(),
        keys: Mutex::new(BTreeSet::new()),
    });
    let link = Arc::new(
        KafkaVehicleLink::new(
            &config,
            &format!("{}.vehicles", config.group_id),
            None,
            &settings,
        )
        .unwrap(),
    );
    let running = simulator
        .spawn(
            publisher.clone(),
            Some(link.clone() as Arc<dyn VehicleCommandLink>),
        )
        .unwrap();

    let stats = pipeline.stats();
    wait_until("readings reach the store", Duration::from_secs(60), || {
        let n = stats.snapshot().stored;
        async move { n >= 50 }
    })
    .await;
    let stop = center
        .dispatch(
            &vehicle_ids[0],
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    wait_until("the STOP is EXECUTED", Duration::from_secs(60), || {
        let store = store.clone();
        let id = stop.id.clone();
        async move {
            store.get_command(&id).await.unwrap().unwrap().status == CommandStatus::Executed
        }
    })
    .await;
    let report = running.join().await.unwrap();
    assert!(report.commands >= 1);

    wait_until(
        "every published reading stored",
        Duration::from_secs(60),
        || {
            let n = stats.snapshot().stored;
            async move { n >= report.readings }
        },
    )
    .await;
    let last = pipeline.shutdown().await.unwrap();
    assert_eq!(last.stored, report.readings);
    assert_eq!(last.duplicates, 0);

    // Every published reading is stored once, compared by natural key.
    let published = publisher.keys.lock().unwrap().clone();
    assert_eq!(published.len() as u64, report.readings);
    let mut stored = BTreeSet::new();
    let mut rows = 0;
    for id in &vehicle_ids {
        let history = store
            .history(&HistoryQuery {
                vehicle_id: id.clone(),
                range: TimeRange {
                    from: Utc::now() - chrono::Duration::days(1),
                    to: Utc::now() + chrono::Duration::days(1),
                },
                limit: HistoryQuery::MAX_LIMIT,
            })
            .await
            .unwrap();
        rows += history.len();
        stored.extend(history.into_iter().map(|t| (t.vehicle_id, t.seq)));
    }
    assert_eq!(rows, published.len());
    assert_eq!(stored, published);

    // The live hub saw the fleet, and every processed reading went to its topic keyed by
    // vehicle.
    let mut seen = Vec::new();
    live.drain_into(&mut seen, usize::MAX);
    assert!(!seen.is_empty());
    // The pipeline's observer only enqueues: deliver what it still holds before reading.
    events.flush(Duration::from_secs(30)).unwrap();
    let processed = read_topic(
        &bootstrap,
        &config.topics.telemetry_processed,
        published.len(),
    );
    assert_eq!(processed.len(), published.len());
    for m in &processed {
        let reading: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(
            reading["vehicle_id"].as_str().map(str::as_bytes),
            m.key(),
            "processed readings are keyed by vehicle id"
        );
    }
    sink.close();
    link.close();
    tokio::task::spawn_blocking(move || source.close())
        .await
        .unwrap();
    drop_topics(&config).await;
}
