//! Topic administration and the event topics, against `VEHICLEOPS_TEST_KAFKA`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::Message;
use vehicleops_core::hub::LiveEvent;
use vehicleops_core::{
    Alert, AlertType, LiveHub, Mission, MissionPriority, MissionStatus, MissionType, Severity,
    Waypoint,
};
use vehicleops_kafka::{
    KafkaEventPublisher, ProducerSettings, TopicDifference, ensure_topics, standard_topics,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_are_created_and_a_differing_one_is_reported_not_changed() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "admin");
    // Someone created the alerts topic by hand: 1 partition, the broker's default retention.
    let admin: AdminClient<DefaultClientContext> = config.client_config().create().unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(
                &config.topics.alerts,
                1,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");

    let specs = standard_topics(&config.topics);
    let report = ensure_topics(&config, &specs, None, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(report.created.len(), 6, "{report:?}");
    assert_eq!(report.existing, std::slice::from_ref(&config.topics.alerts));
    assert_eq!(
        report.differences,
        [
            TopicDifference::Partitions {
                topic: config.topics.alerts.clone(),
                expected: 4,
                actual: 1,
            },
            TopicDifference::Retention {
                topic: config.topics.alerts.clone(),
                expected: Duration::from_secs(48 * 3600),
                actual: Some(Duration::from_secs(7 * 24 * 3600)),
            },
        ]
    );
    assert!(report.require_match().is_err());

    // A second run creates nothing, and finds the created topics exactly as specified.
    let again = ensure_topics(&config, &specs, None, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.existing.len(), 7);
    assert_eq!(again.differences.len(), 2, "{again:?}");
    drop_topics(&config).await;
}

fn alert(fleet: &str) -> Alert {
    Alert {
        id: format!("al-{}", uuid::Uuid::new_v4().simple()),
        vehicle_id: "VH-1".into(),
        fleet_id: fleet.into(),
        alert_type: AlertType::OVERSPEED,
        severity: Severity::High,
        value: 95.0,
        threshold: 80.0,
        message: "Vehicle exceeded speed limit: 95.0 km/h".into(),
        key: None,
        triggered_at: Utc::now(),
        cleared_at: None,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_keyed_by_fleet_and_mission_events_by_mission_including_via_the_hub() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "events");
    create_topics(&config).await;
    let events = Arc::new(KafkaEventPublisher::new(&config, &ProducerSettings::default()).unwrap());

    let direct = alert("fleet-A");
    events.publish_alert(&direct).await.unwrap();

    // Alerts and mission changes published on a live hub are forwarded by the bridge.
    let hub = LiveHub::new();
    let bridge = events.clone().bridge_hub(&hub);
    let bridged = alert("fleet-B");
    let mission = Mission {
        id: "ms-42".into(),
        fleet_id: "fleet-B".into(),
        vehicle_id: "VH-9".into(),
        mission_type: MissionType::Delivery,
        priority: MissionPriority::High,
        waypoints: vec![Waypoint {
            latitude: 4.7,
            longitude: -74.0,
            order: 0,
        }],
        status: MissionStatus::Assigned,
        completed_waypoints: 0,
        created_at: Utc::now(),
        started_at: None,
        completed_at: None,
        estimated_completion: None,
        failure_reason: None,
    };
    hub.publish_event(LiveEvent::Alert(Arc::new(bridged.clone())));
    hub.publish_event(LiveEvent::Mission(Arc::new(mission.clone())));

    let alerts = read_topic(&bootstrap, &config.topics.alerts, 2);
    let mut got: Vec<(String, String)> = alerts
        .iter()
        .map(|m| {
            let a: Alert = serde_json::from_slice(m.payload().unwrap()).unwrap();
            (String::from_utf8(m.key().unwrap().to_vec()).unwrap(), a.id)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("fleet-A".to_owned(), direct.id.clone()),
            ("fleet-B".to_owned(), bridged.id.clone())
        ]
    );
    let missions = read_topic(&bootstrap, &config.topics.missions, 1);
    assert_eq!(missions.len(), 1);
    assert_eq!(missions[0].key(), Some(b"ms-42".as_slice()));
    let m: Mission = serde_json::from_slice(missions[0].payload().unwrap()).unwrap();
    assert_eq!(m, mission);

    hub.close();
    bridge.await.unwrap();
    drop_topics(&config).await;
}
