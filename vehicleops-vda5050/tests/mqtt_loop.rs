//! The VDA 5050 loop against a real MQTT broker: simulated AGVs → MQTT → pipeline → SQLite
//! store and live hub; commands and orders back. The broker address comes from
//! `VEHICLEOPS_TEST_MQTT` (`host:port`, e.g. from `scripts/mosquitto.sh start`); without it
//! every test prints a notice and passes without running.
//!
//! Each test uses its own interface name, so tests share one broker without seeing each
//! other's vehicles.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use vehicleops_core::*;
use vehicleops_store::SqliteStore;
use vehicleops_vda5050::messages::{ErrorLevel, VehicleError};
use vehicleops_vda5050::*;

mod common;
use common::*;

fn agv(address: &str, scheme: &TopicScheme, tag: &str, serial: &str, x: f64) -> SimulatedAgv {
    let mut config =
        SimAgvConfig::new(endpoint(address, format!("{tag}-{serial}")), "acme", serial);
    config.scheme = scheme.clone();
    config.x = x;
    config.speed_mps = 10.0;
    config.tick = Duration::from_millis(50);
    SimulatedAgv::start(config)
}

#[derive(Default)]
struct CollectingDeadLetters(Mutex<Vec<DeadLetter>>);

#[async_trait]
impl DeadLetterSink for CollectingDeadLetters {
    async fn send(&self, letters: Vec<DeadLetter>) -> Result<()> {
        self.0.lock().unwrap().extend(letters);
        Ok(())
    }
}

struct Platform {
    store: Arc<SqliteStore>,
    hub: LiveHub,
    source: Arc<Vda5050TelemetrySource>,
    pipeline: PipelineHandle,
    dead: Arc<CollectingDeadLetters>,
}

async fn platform(address: &str, scheme: &TopicScheme, tag: &str) -> Platform {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .upsert_fleet(&Fleet {
            id: FLEET.into(),
            name: "VDA hall".into(),
        })
        .await
        .unwrap();
    let hub = LiveHub::new();
    let dead = Arc::new(CollectingDeadLetters::default());
    let mut config = SourceConfig::new(endpoint(address, format!("{tag}-source")), FLEET);
    config.scheme = scheme.clone();
    config.georeference = Some(site());
    let source = Arc::new(Vda5050TelemetrySource::connect(config).with_dead_letters(dead.clone()));
    source.wait_subscribed().await;
    let mut rules = default_rules();
    rules.push(Arc::new(FatalErrorRule::new(source.fatal_errors())));
    let pipeline = PipelineBuilder::new(source.clone(), store.clone())
        .repository(store.clone())
        .hub(hub.clone())
        .rules(rules)
        .spawn();
    Platform {
        store,
        hub,
        source,
        pipeline,
        dead,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agvs_reach_the_store_and_live_hub_and_fatal_errors_raise_alerts() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("flow");
    let p = platform(&address, &scheme, &tag).await;
    let a = agv(&address, &scheme, &tag, "AGV-1", 0.0);
    let b = agv(&address, &scheme, &tag, "AGV-2", 40.0);

    for (serial, x) in [("AGV-1", 0.0), ("AGV-2", 40.0)] {
        let latest = eventually("a stored reading", || {
            let store = p.store.clone();
            async move { store.latest(serial).await.unwrap() }
        })
        .await;
        assert_eq!(latest.fleet_id, FLEET);
        assert_eq!(latest.status, VehicleStatus::Idle);
        assert_eq!(latest.battery_pct, 90.0);
        let pose = latest.pose.clone().expect("map pose");
        assert_eq!((pose.x, pose.y, pose.map_id.as_str()), (x, 0.0, "site"));
        // Georeferenced: x metres east of the site origin.
        let here = geodesy::distance_m(site().origin, latest.position());
        assert!((here - x).abs() < 0.01, "{here}");
    }
    let live = eventually("both vehicles on the live hub", || {
        let snapshot = p.hub.snapshot(FLEET);
        async move { (snapshot.len() == 2).then_some(snapshot) }
    })
    .await;
    assert!(live.iter().all(|u| u.pose.is_some()));

    a.raise_error(VehicleError {
        error_type: "laserScannerFault".into(),
        error_references: Vec::new(),
        error_description: Some("front scanner blind".into()),
        error_level: ErrorLevel::Fatal,
    });
    let alert = eventually("a FATAL error alert", || {
        let store = p.store.clone();
        async move {
            let filter = AlertFilter {
                vehicle_id: Some("AGV-1".into()),
                limit: 10,
                ..AlertFilter::default()
            };
            store
                .list_alerts(&filter)
                .await
                .unwrap()
                .data
                .into_iter()
                .find(|a| a.alert_type == fatal_error_alert())
        }
    })
    .await;
    assert_eq!(alert.severity, Severity::Critical);
    assert!(
        alert
            .message
            .contains("laserScannerFault: front scanner blind"),
        "{}",
        alert.message
    );
    assert_eq!(
        p.store.latest("AGV-1").await.unwrap().unwrap().status,
        VehicleStatus::Alert
    );

    a.clear_errors();
    eventually("the FATAL alert cleared", || {
        let store = p.store.clone();
        async move {
            let alert = store
                .list_alerts(&AlertFilter {
                    vehicle_id: Some("AGV-1".into()),
                    limit: 10,
                    ..AlertFilter::default()
                })
                .await
                .unwrap();
            alert
                .data
                .iter()
                .any(|a| a.alert_type == fatal_error_alert() && a.cleared_at.is_some())
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        p.source
            .counters()
            .rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        a.counters()
            .schema_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    drop((a, b));
    p.pipeline.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_fires_the_last_will_and_the_vehicle_goes_offline() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("will");
    let p = platform(&address, &scheme, &tag).await;
    let a = agv(&address, &scheme, &tag, "AGV-9", 5.0);
    let online = eventually("a reading", || {
        let store = p.store.clone();
        async move { store.latest("AGV-9").await.unwrap() }
    })
    .await;
    assert_ne!(online.status, VehicleStatus::Offline);

    a.kill();
    let offline = eventually("OFFLINE after the last will", || {
        let store = p.store.clone();
        async move {
            store
                .latest("AGV-9")
                .await
                .unwrap()
                .filter(|t| t.status == VehicleStatus::Offline)
        }
    })
    .await;
    assert!(offline.timestamp >= online.timestamp);
    assert!(offline.pose.is_some(), "the last known pose is kept");
    assert_eq!(offline.battery_pct, online.battery_pct);
    let live = p.hub.snapshot(FLEET);
    assert_eq!(live[0].status, VehicleStatus::Offline);

    // A clean shutdown says OFFLINE itself.
    let b = agv(&address, &scheme, &tag, "AGV-10", 8.0);
    eventually("a reading", || {
        let store = p.store.clone();
        async move { store.latest("AGV-10").await.unwrap() }
    })
    .await;
    b.shutdown().await;
    eventually("OFFLINE after a clean shutdown", || {
        let store = p.store.clone();
        async move {
            store
                .latest("AGV-10")
                .await
                .unwrap()
                .filter(|t| t.status == VehicleStatus::Offline)
        }
    })
    .await;
    p.pipeline.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_messages_are_dead_lettered_with_the_schema_violation() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("invalid");
    let p = platform(&address, &scheme, &tag).await;
    let raw = raw_client(&address, &format!("{tag}-raw")).await;
    let topic = scheme.topic("acme", "AGV-X", MessageKind::State);
    let bad_state = serde_json::json!({
        "headerId": 1, "timestamp": "2026-01-01T00:00:00Z", "version": "2.1.0",
        "manufacturer": "acme", "serialNumber": "AGV-X", "orderId": "", "orderUpdateId": 0,
        "lastNodeId": "", "lastNodeSequenceId": 0, "driving": false, "operatingMode": "AUTOMATIC",
        "nodeStates": [], "edgeStates": [], "actionStates": [], "errors": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": false}
    });
    let mut wrong_enum = bad_state.clone();
    wrong_enum["batteryState"] = serde_json::json!({"batteryCharge": 50.0, "charging": false});
    wrong_enum["operatingMode"] = "FLYING".into();
    for payload in [
        bad_state.to_string(),
        wrong_enum.to_string(),
        "{not json".to_owned(),
    ] {
        raw.publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    let letters = eventually("three dead letters", || {
        let letters = p.dead.0.lock().unwrap().clone();
        async move { (letters.len() >= 3).then_some(letters) }
    })
    .await;
    assert_eq!(letters[0].origin.stream, topic);
    assert!(
        letters[0].reason.contains("invalid VDA 5050 state message")
            && letters[0].reason.contains("batteryState"),
        "{}",
        letters[0].reason
    );
    assert_eq!(letters[1].field, "/operatingMode");
    assert!(
        letters[1].reason.contains("FLYING"),
        "{}",
        letters[1].reason
    );
    assert!(
        letters[2].reason.starts_with("not JSON"),
        "{}",
        letters[2].reason
    );
    assert!(p.store.latest("AGV-X").await.unwrap().is_none());
    p.pipeline.shutdown().await.unwrap();
}

async fn raw_client(address: &str, id: &str) -> AsyncClient {
    let (host, port) = address.rsplit_once(':').unwrap();
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new(id, host, port.parse().unwrap()), 64);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
}

fn sink(address: &str, scheme: &TopicScheme, tag: &str) -> Vda5050CommandSink {
    sink_stopping_with(address, scheme, tag, StopMode::Pause)
}

fn sink_stopping_with(
    address: &str,
    scheme: &TopicScheme,
    tag: &str,
    stop_mode: StopMode,
) -> Vda5050CommandSink {
    Vda5050CommandSink::connect(SinkConfig {
        endpoint: endpoint(address, format!("{tag}-sink")),
        scheme: scheme.clone(),
        manufacturer: "acme".into(),
        stop_mode,
        charging_node: RoutePoint {
            node_id: "charger".into(),
            x: 0.0,
            y: 20.0,
            map_id: "site".into(),
        },
        georeference: Some(site()),
    })
}

async fn command_status(store: &SqliteStore, id: &str, want: CommandStatus) -> Command {
    eventually(&format!("command {id} {want:?}"), || async {
        store
            .get_command(id)
            .await
            .unwrap()
            .filter(|c| c.status == want || c.status.is_terminal())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_round_trip_with_their_lifecycle_and_every_message_validates() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("commands");
    let seen = recorder(&address, &scheme, &format!("{tag}-recorder")).await;
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .upsert_fleet(&Fleet {
            id: FLEET.into(),
            name: "VDA hall".into(),
        })
        .await
        .unwrap();
    store
        .upsert_vehicle(&Vehicle {
            id: "AGV-5".into(),
            fleet_id: FLEET.into(),
            name: None,
            home: None,
        })
        .await
        .unwrap();
    let sink = Arc::new(sink(&address, &scheme, &tag));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let agv = agv(&address, &scheme, &tag, "AGV-5", 0.0);
    eventually("the sink sees the vehicle", || async {
        sink.last_state("AGV-5")
    })
    .await;

    // REROUTE through two GPS waypoints 30 m and 60 m east.
    let wp = |x: f64, y: f64, order| {
        let p = site().to_geo(x, y);
        Waypoint {
            latitude: p.latitude,
            longitude: p.longitude,
            order,
        }
    };
    let params = CommandParams {
        waypoints: vec![wp(30.0, 0.0, 1), wp(60.0, 0.0, 2)],
        reason: None,
    };
    let reroute = center
        .dispatch("AGV-5", CommandKind::Reroute, params, "op-1", None)
        .await
        .unwrap();
    // STOP while it drives: the vehicle pauses mid-route.
    eventually("driving", || async {
        sink.last_state("AGV-5").filter(|s| s.driving)
    })
    .await;
    let stop = center
        .dispatch(
            "AGV-5",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let stop = command_status(&store, &stop.id, CommandStatus::Executed).await;
    assert_eq!(stop.status, CommandStatus::Executed);
    assert!(stop.delivered_at.is_some() && stop.executed_at.is_some());
    let paused = eventually("paused and still", || async {
        sink.last_state("AGV-5")
            .filter(|s| s.paused == Some(true) && !s.driving)
    })
    .await;
    assert!(
        !paused.node_states.is_empty(),
        "the route is kept while paused"
    );
    assert_eq!(
        store
            .get_command(&reroute.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        CommandStatus::Delivered
    );

    // A second REROUTE while the first order runs is an order update that continues from
    // the first route's last node.
    let params = CommandParams {
        waypoints: vec![wp(60.0, 30.0, 1)],
        reason: None,
    };
    let extend = center
        .dispatch("AGV-5", CommandKind::Reroute, params, "op-1", None)
        .await
        .unwrap();
    let updated = eventually("the order update taken", || async {
        sink.last_state("AGV-5").filter(|s| s.order_update_id == 1)
    })
    .await;
    assert_eq!(updated.order_id, reroute.id);

    let resume = center
        .dispatch(
            "AGV-5",
            CommandKind::Resume,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        command_status(&store, &resume.id, CommandStatus::Executed)
            .await
            .status,
        CommandStatus::Executed
    );
    let reroute = command_status(&store, &reroute.id, CommandStatus::Executed).await;
    assert_eq!(reroute.status, CommandStatus::Executed);
    let extend = command_status(&store, &extend.id, CommandStatus::Executed).await;
    assert_eq!(extend.status, CommandStatus::Executed);
    let at = agv.state().agv_position.unwrap();
    assert!(
        (at.x - 60.0).abs() < 0.1 && (at.y - 30.0).abs() < 0.1,
        "{at:?}"
    );

    let home = center
        .dispatch(
            "AGV-5",
            CommandKind::ReturnToBase,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let home = command_status(&store, &home.id, CommandStatus::Executed).await;
    assert_eq!(home.status, CommandStatus::Executed);
    let state = agv.state();
    assert!(state.battery_state.charging);
    assert_eq!(state.last_node_id, "charger");

    // Everything on the wire — connection, state, visualization, the factsheet the sink asked
    // for, order, instantActions — is valid against the official schemas.
    let validator = SchemaValidator::official();
    let seen = seen.lock().unwrap().clone();
    let mut kinds = std::collections::BTreeSet::new();
    for (topic, payload) in &seen {
        let kind = scheme
            .parse(topic)
            .unwrap_or_else(|| panic!("unexpected topic {topic}"))
            .kind;
        kinds.insert(kind.as_str());
        let json: serde_json::Value = serde_json::from_slice(payload).unwrap();
        validator
            .validate(kind, &json)
            .unwrap_or_else(|e| panic!("{topic}: {e}"));
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "connection",
            "factsheet",
            "instantActions",
            "order",
            "state",
            "visualization"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_order_with_a_horizon_completes_node_by_node() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("mission");
    let sink = sink(&address, &scheme, &tag);
    sink.wait_subscribed().await;
    let agv = agv(&address, &scheme, &tag, "AGV-7", 0.0);
    eventually("the sink sees the vehicle", || async {
        sink.last_state("AGV-7")
    })
    .await;
    let waypoints = (1..=4)
        .map(|i| {
            let p = site().to_geo(10.0 * i as f64, 5.0);
            Waypoint {
                latitude: p.latitude,
                longitude: p.longitude,
                order: i,
            }
        })
        .collect();
    let mission = MissionRequest {
        fleet_id: FLEET.into(),
        vehicle_id: "AGV-7".into(),
        mission_type: MissionType::Delivery,
        waypoints,
        priority: MissionPriority::default(),
    }
    .into_mission()
    .unwrap();
    // Start node + 4 waypoints; release the start and the first two waypoints.
    let order = sink.assign_mission(&mission, 2).await.unwrap();
    assert_eq!(order.nodes.len(), 5);
    assert_eq!(
        order
            .nodes
            .iter()
            .map(|n| n.sequence_id)
            .collect::<Vec<_>>(),
        [0, 2, 4, 6, 8]
    );
    assert_eq!(order.nodes.iter().filter(|n| n.released).count(), 3);

    // The vehicle stops at the end of the base and waits for the horizon to be released.
    let at_base = eventually("the end of the base", || async {
        sink.order_progress("AGV-7")
            .filter(|p| p.nodes_reached == 3)
            .zip(sink.last_state("AGV-7"))
            .filter(|(_, s)| !s.driving)
    })
    .await;
    assert!(!at_base.0.finished);
    assert_eq!(at_base.1.last_node_sequence_id, 4);
    assert_eq!(
        at_base.1.node_states.iter().filter(|n| !n.released).count(),
        2
    );

    let update = sink.release("AGV-7", 5).await.unwrap();
    assert_eq!(
        (update.order_id.as_str(), update.order_update_id),
        (order.order_id.as_str(), 1)
    );
    assert_eq!(
        update
            .nodes
            .iter()
            .map(|n| n.sequence_id)
            .collect::<Vec<_>>(),
        [4, 6, 8]
    );
    let mut reached = Vec::new();
    let done = eventually("the whole order", || {
        let p = sink.order_progress("AGV-7");
        if let Some(p) = p {
            if reached.last() != Some(&p.nodes_reached) {
                reached.push(p.nodes_reached);
            }
        }
        async move { p.filter(|p| p.finished) }
    })
    .await;
    assert_eq!((done.nodes_reached, done.nodes_total), (5, 5));
    assert!(
        reached.windows(2).all(|w| w[0] < w[1]),
        "progress only grows: {reached:?}"
    );
    let at = agv.state().agv_position.unwrap();
    assert!(
        (at.x - 40.0).abs() < 0.1 && (at.y - 5.0).abs() < 0.1,
        "{at:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_by_cancel_order_fails_the_running_reroute() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("cancel");
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .upsert_fleet(&Fleet {
            id: FLEET.into(),
            name: "VDA hall".into(),
        })
        .await
        .unwrap();
    store
        .upsert_vehicle(&Vehicle {
            id: "AGV-3".into(),
            fleet_id: FLEET.into(),
            name: None,
            home: None,
        })
        .await
        .unwrap();
    let sink = Arc::new(sink_stopping_with(
        &address,
        &scheme,
        &tag,
        StopMode::CancelOrder,
    ));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let agv = agv(&address, &scheme, &tag, "AGV-3", 0.0);
    eventually("the sink sees the vehicle", || async {
        sink.last_state("AGV-3")
    })
    .await;
    let far = site().to_geo(500.0, 0.0);
    let params = CommandParams {
        waypoints: vec![Waypoint {
            latitude: far.latitude,
            longitude: far.longitude,
            order: 1,
        }],
        reason: None,
    };
    let reroute = center
        .dispatch("AGV-3", CommandKind::Reroute, params, "op-1", None)
        .await
        .unwrap();
    eventually("driving", || async {
        sink.last_state("AGV-3").filter(|s| s.driving)
    })
    .await;
    let stop = center
        .dispatch(
            "AGV-3",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        command_status(&store, &stop.id, CommandStatus::Executed)
            .await
            .status,
        CommandStatus::Executed
    );
    let reroute = command_status(&store, &reroute.id, CommandStatus::Failed).await;
    assert_eq!(reroute.status, CommandStatus::Failed);
    assert_eq!(
        reroute.failure_reason.as_deref(),
        Some("the order ended before its last node (cancelled)")
    );
    let state = agv.state();
    assert!(state.node_states.is_empty() && !state.driving);
    assert!(state.agv_position.unwrap().x < 500.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_manufacturer_cannot_redirect_or_acknowledge_a_vehicles_commands() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("pinning");
    let seen = recorder(&address, &scheme, &format!("{tag}-recorder")).await;
    // A valid state to forge from, published by a simulated vehicle that is then gone.
    let template = {
        let _agv = agv(&address, &scheme, &tag, "TEMPLATE", 0.0);
        eventually("a state to copy", || async {
            seen.lock()
                .unwrap()
                .iter()
                .find(|(t, _)| t.ends_with("/TEMPLATE/state"))
                .map(|(_, p)| serde_json::from_slice::<serde_json::Value>(p).unwrap())
        })
        .await
    };
    let state = |manufacturer: &str, serial: &str, header_id: u64, finished: Option<&str>| {
        let mut s = template.clone();
        s["manufacturer"] = manufacturer.into();
        s["serialNumber"] = serial.into();
        s["headerId"] = header_id.into();
        s["timestamp"] = chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into();
        s["actionStates"] = match finished {
            Some(id) => serde_json::json!([
                {"actionId": id, "actionType": "startPause", "actionStatus": "FINISHED"}
            ]),
            None => serde_json::json!([]),
        };
        serde_json::to_vec(&s).unwrap()
    };
    let sink = sink(&address, &scheme, &tag);
    sink.wait_subscribed().await;
    let rejected = || {
        sink.counters()
            .rejected
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let forger = raw_client(&address, &format!("{tag}-forger")).await;
    let evil_topic = scheme.topic("evil", "AGV-1", MessageKind::State);
    let acme_topic = scheme.topic("acme", "AGV-1", MessageKind::State);

    // `evil` claims AGV-1; and a state of AGV-2 under AGV-1's topic.
    forger
        .publish(
            &evil_topic,
            QoS::AtLeastOnce,
            false,
            state("evil", "AGV-1", 1, None),
        )
        .await
        .unwrap();
    forger
        .publish(
            &acme_topic,
            QoS::AtLeastOnce,
            false,
            state("acme", "AGV-2", 2, None),
        )
        .await
        .unwrap();
    eventually("both states rejected", || async {
        (rejected() >= 2).then_some(())
    })
    .await;
    assert!(sink.last_state("AGV-1").is_none());
    assert!(sink.last_state("AGV-2").is_none());

    // AGV-1's STOP still goes to the pinned manufacturer's topic.
    let stop = Command::new(
        "AGV-1",
        FLEET,
        CommandKind::Stop,
        CommandParams::default(),
        "op-1",
    )
    .unwrap();
    sink.dispatch(&stop).await.unwrap();
    let topic = eventually("the STOP published", || async {
        seen.lock()
            .unwrap()
            .iter()
            .find(|(t, p)| {
                t.ends_with("/instantActions") && String::from_utf8_lossy(p).contains(&stop.id)
            })
            .map(|(t, _)| t.clone())
    })
    .await;
    assert_eq!(
        topic,
        scheme.topic("acme", "AGV-1", MessageKind::InstantActions)
    );

    // `evil` reporting it FINISHED acknowledges nothing.
    forger
        .publish(
            &evil_topic,
            QoS::AtLeastOnce,
            false,
            state("evil", "AGV-1", 3, Some(&stop.id)),
        )
        .await
        .unwrap();
    eventually("the forged ack rejected", || async {
        (rejected() >= 3).then_some(())
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), sink.next_ack())
            .await
            .is_err(),
        "no acknowledgement from a foreign manufacturer"
    );

    // The pinned identity's does.
    forger
        .publish(
            &acme_topic,
            QoS::AtLeastOnce,
            false,
            state("acme", "AGV-1", 4, Some(&stop.id)),
        )
        .await
        .unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(30), sink.next_ack())
        .await
        .expect("an ack from the pinned vehicle")
        .unwrap();
    assert_eq!(
        (ack.command_id.as_str(), ack.status),
        (stop.id.as_str(), CommandStatus::Executed)
    );
    assert_eq!(rejected(), 3);
}

/// A private mosquitto that only lets `agv` / `s3cret` in, stopped (by its pid) on drop;
/// plain TCP on `port` and, with `tls_port`, TLS with a certificate for 127.0.0.1 issued by
/// the CA in `dir/ca.pem`.
struct AuthBroker {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
    tls_port: Option<u16>,
}

impl Drop for AuthBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_program(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `<name>.pem` / `<name>.key` in `dir`.
fn make_ca(dir: &std::path::Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=VehicleOps test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `server.pem` / `server.key` for 127.0.0.1, issued by the CA `ca`.
fn make_server_cert(dir: &std::path::Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    // mosquitto started as root reads keys as its own `mosquitto` user: a throwaway key may
    // be readable by it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
}

/// `None` (with a notice) when mosquitto or mosquitto_passwd (or, with `tls`, openssl) is
/// not installed.
fn auth_broker(tls: bool) -> Option<AuthBroker> {
    if tls && find_program("openssl").is_none() {
        eprintln!("openssl not installed: skipping");
        return None;
    }
    let (Some(mosquitto), Some(passwd)) =
        (find_program("mosquitto"), find_program("mosquitto_passwd"))
    else {
        eprintln!("mosquitto / mosquitto_passwd not installed: skipping");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("vehicleops-mqtt-auth-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("passwd");
    let status = std::process::Command::new(passwd)
        .args(["-b", "-c"])
        .arg(&password_file)
        .args(["agv", "s3cret"])
        .status()
        .unwrap();
    assert!(status.success(), "mosquitto_passwd failed");
    let port = free_port();
    let mut conf = format!(
        "allow_anonymous false\npassword_file {}\npersistence false\nlistener {port} 127.0.0.1\n",
        password_file.display()
    );
    let tls_port = tls.then(|| {
        make_ca(&dir, "ca");
        make_server_cert(&dir);
        let tls_port = free_port();
        conf.push_str(&format!(
            "listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
            dir.display()
        ));
        tls_port
    });
    let config = dir.join("mosquitto.conf");
    std::fs::write(&config, conf).unwrap();
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    let child = std::process::Command::new(mosquitto)
        .arg("-c")
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let broker = AuthBroker {
        child,
        dir,
        port,
        tls_port,
    };
    for _ in 0..100 {
        let open = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        if open(port) && tls_port.is_none_or(open) {
            return Some(broker);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the password-protected mosquitto did not open port {port}: {}",
        std::fs::read_to_string(broker.dir.join("mosquitto.log")).unwrap_or_default()
    );
}

/// Whether a connection stays unsubscribed for 2 s. It is kept whole (its inbox alive) all
/// along: with the inbox gone the event loop ends, which also ends the wait.
async fn refused(conn: mqtt::Connection) -> bool {
    let mut subscribed = conn.subscribed.clone();
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        mqtt::wait_subscribed(&mut subscribed),
    )
    .await;
    let got_in = *subscribed.borrow();
    conn.task.abort();
    drop(conn);
    !got_in
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_broker_refuses_a_wrong_password_and_accepts_the_right_one() {
    let Some(broker) = auth_broker(false) else {
        return;
    };
    let topic = "auth-test/hello".to_owned();
    let login = |id: &str, credentials: Option<(&str, &str)>| {
        let mut e = MqttEndpoint::new("127.0.0.1", broker.port, id);
        if let Some((user, password)) = credentials {
            e = e.with_credentials(user, password);
        }
        mqtt::connect(&e, vec![topic.clone()], None, 16)
    };
    let log = || std::fs::read_to_string(broker.dir.join("mosquitto.log")).unwrap_or_default();
    assert!(
        refused(login("wrong", Some(("agv", "guess")))).await,
        "a wrong password is refused; broker log:\n{}",
        log()
    );
    assert!(
        refused(login("anonymous", None)).await,
        "anonymous is refused"
    );

    let mut conn = login("right", Some(("agv", "s3cret")));
    tokio::time::timeout(
        Duration::from_secs(10),
        mqtt::wait_subscribed(&mut conn.subscribed),
    )
    .await
    .expect("the right password gets in");
    conn.client
        .publish(topic.as_str(), QoS::AtLeastOnce, false, b"hi".to_vec())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), conn.inbox.recv())
        .await
        .expect("its own message back")
        .unwrap();
    assert_eq!(
        (got.topic.as_str(), got.payload.as_slice()),
        (topic.as_str(), &b"hi"[..])
    );
    conn.task.abort();
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file_reaches_the_broker_and_an_unknown_ca_or_plain_tcp_does_not() {
    let Some(broker) = auth_broker(true) else {
        return;
    };
    let tls_port = broker.tls_port.unwrap();
    make_ca(&broker.dir, "other");
    let topic = "tls-test/hello".to_owned();
    let login = |id: &str, ca: Option<&str>| {
        let mut e = MqttEndpoint::new("127.0.0.1", tls_port, id).with_credentials("agv", "s3cret");
        if let Some(ca) = ca {
            e = e.with_tls(broker.dir.join(ca));
        }
        mqtt::connect(&e, vec![topic.clone()], None, 16)
    };
    let log = || std::fs::read_to_string(broker.dir.join("mosquitto.log")).unwrap_or_default();
    assert!(
        refused(login("plain", None)).await,
        "plain TCP to the TLS listener"
    );
    assert!(
        refused(login("unknown-ca", Some("other.pem"))).await,
        "a broker certificate from another CA is not trusted"
    );
    assert!(
        refused(login("missing-ca", Some("no-such.pem"))).await,
        "no CA, no connection (never plain TCP)"
    );

    let mut conn = login("tls", Some("ca.pem"));
    tokio::time::timeout(
        Duration::from_secs(10),
        mqtt::wait_subscribed(&mut conn.subscribed),
    )
    .await
    .unwrap_or_else(|_| panic!("TLS with the right CA gets in; broker log:\n{}", log()));
    conn.client
        .publish(topic.as_str(), QoS::AtLeastOnce, false, b"hi".to_vec())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), conn.inbox.recv())
        .await
        .expect("its own message back")
        .unwrap();
    assert_eq!(got.payload, b"hi");
    conn.task.abort();
    drop(broker);
}
