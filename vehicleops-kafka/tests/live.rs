//! Two server instances share the raw topic's partitions; through the processed and alerts
//! topics each instance's live hub still sees the whole fleet, and no event echoes between
//! them. Needs `VEHICLEOPS_TEST_KAFKA`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rdkafka::message::Message;
use vehicleops_core::hub::{ALL_FLEETS, LiveEvent};
use vehicleops_core::inproc::TelemetryPublisher;
use vehicleops_core::{
    Alert, AlertRule, AlertType, LiveHub, PipelineBuilder, Subscription, ThresholdRule,
};
use vehicleops_kafka::{
    KafkaConfig, KafkaEventPublisher, KafkaLiveFeed, KafkaTelemetryPublisher, KafkaTelemetrySource,
    ProducerSettings, SourceSettings,
};
use vehicleops_store::SqliteStore;

const FLEET: &str = "fleet-live";

/// One server instance: pipeline (in the shared group), hub, event publisher + bridge, feed.
struct Instance {
    hub: LiveHub,
    events: Subscription,
    pipeline: vehicleops_core::PipelineHandle,
    source: Arc<KafkaTelemetrySource>,
    feed: KafkaLiveFeed,
}

fn start_instance(config: &KafkaConfig) -> Instance {
    let hub = LiveHub::new();
    let events = hub.subscribe(ALL_FLEETS);
    let publisher =
        Arc::new(KafkaEventPublisher::new(config, &ProducerSettings::default()).unwrap());
    let source = Arc::new(KafkaTelemetrySource::new(config, SourceSettings::default()).unwrap());
    let pipeline =
        PipelineBuilder::new(source.clone(), Arc::new(SqliteStore::in_memory().unwrap()))
            // Only OVERSPEED: the readings are from 2024, so OFFLINE would fire for everyone.
            .rules([Arc::new(ThresholdRule::overspeed()) as Arc<dyn AlertRule>])
            .hub(hub.clone())
            .observer(publisher.clone())
            .spawn();
    let feed = KafkaLiveFeed::start(config, hub.clone(), Some(&publisher), true).unwrap();
    publisher.bridge_hub(&hub);
    Instance {
        hub,
        events,
        pipeline,
        source,
        feed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_serves_the_whole_fleet_and_alerts_do_not_echo() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "live");
    create_topics(&config).await;
    let a = start_instance(&config);
    let b = start_instance(&config);

    let vehicles = 24;
    let ticks = 60;
    let publisher = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap();
    let mut readings = fleet_tick_range(FLEET, vehicles, 1, ticks);
    // Vehicle 0 speeds from tick 20 on: one OVERSPEED episode.
    for r in readings
        .iter_mut()
        .filter(|r| r.vehicle_id == "VH-0000" && r.seq >= 20)
    {
        r.speed_kmh = 120.0;
    }
    publisher.publish(readings).await.unwrap();

    for (name, instance) in [("A", &a), ("B", &b)] {
        wait_until(
            &format!("instance {name} sees every vehicle's last reading"),
            Duration::from_secs(90),
            || {
                let snapshot = instance.hub.snapshot(FLEET);
                async move { snapshot.len() == vehicles && snapshot.iter().all(|u| u.seq == ticks) }
            },
        )
        .await;
    }
    // Between them the instances stored everything (live views run ahead of the store; each
    // has its own store here, so a reading replayed after a partition moved counts twice).
    let (stats_a, stats_b) = (a.pipeline.stats(), b.pipeline.stats());
    wait_until(
        "both instances store everything",
        Duration::from_secs(60),
        || {
            let stored = stats_a.snapshot().stored + stats_b.snapshot().stored;
            async move { stored >= vehicles as u64 * ticks }
        },
    )
    .await;

    // The alert was raised once, reached both hubs once, and the topic holds it once.
    let alerts_on_topic = read_topic(&bootstrap, &config.topics.alerts, 1);
    assert_eq!(alerts_on_topic.len(), 1);
    let raised: Alert = serde_json::from_slice(alerts_on_topic[0].payload().unwrap()).unwrap();
    assert_eq!(raised.alert_type, AlertType::OVERSPEED);
    for (name, mut instance) in [("A", a), ("B", b)] {
        let mut events = Vec::new();
        wait_until(
            &format!("instance {name} receives the alert"),
            Duration::from_secs(30),
            || {
                instance.events.drain_into(&mut events, usize::MAX);
                let seen = events
                    .iter()
                    .any(|e| matches!(e, LiveEvent::Alert(x) if x.id == raised.id));
                async move { seen }
            },
        )
        .await;
        // Whoever did not ingest vehicle 0 shows its alert on the live update too.
        let v0 = instance
            .hub
            .snapshot(FLEET)
            .into_iter()
            .find(|u| u.vehicle_id == "VH-0000")
            .unwrap();
        assert_eq!(v0.alerts, [AlertType::OVERSPEED], "instance {name}");
        instance.pipeline.shutdown().await.unwrap();
        instance.feed.close();
        let source = instance.source;
        tokio::task::spawn_blocking(move || source.close())
            .await
            .unwrap();
        let alerts: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, LiveEvent::Alert(_)))
            .collect();
        assert_eq!(alerts.len(), 1, "instance {name}: {alerts:?}");
    }
    // Still one record: no instance sent a fed alert back.
    assert_eq!(read_topic(&bootstrap, &config.topics.alerts, 2).len(), 1);
    drop_topics(&config).await;
}
