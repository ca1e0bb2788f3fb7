//! Talking to each vehicle in its VDA 5050 version, against a real MQTT broker
//! (`VEHICLEOPS_TEST_MQTT`, `host:port`, e.g. from `scripts/mosquitto.sh start`; without it
//! every test prints a notice and passes without running).

use std::sync::Arc;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use vehicleops_core::*;
use vehicleops_store::SqliteStore;
use vehicleops_vda5050::*;

mod common;
use common::*;

fn waypoint(x: f64, y: f64, order: u32) -> Waypoint {
    let p = site().to_geo(x, y);
    Waypoint {
        latitude: p.latitude,
        longitude: p.longitude,
        order,
    }
}

/// Every command kind on one vehicle: REROUTE, STOP while it drives, RESUME, RETURN_TO_BASE;
/// each must end EXECUTED.
async fn every_command(
    center: &CommandCenter,
    store: &SqliteStore,
    sink: &Vda5050CommandSink,
    v: &str,
) {
    let reroute = center
        .dispatch(
            v,
            CommandKind::Reroute,
            CommandParams {
                waypoints: vec![waypoint(40.0, 0.0, 1)],
                reason: None,
            },
            "op-1",
            None,
        )
        .await
        .unwrap();
    eventually(&format!("{v} driving"), || async {
        sink.last_state(v).filter(|s| s.driving)
    })
    .await;
    let stop = center
        .dispatch(v, CommandKind::Stop, CommandParams::default(), "op-1", None)
        .await
        .unwrap();
    let stop = finished(store, &stop.id).await;
    assert_eq!(stop.status, CommandStatus::Executed, "{v} STOP: {stop:?}");
    let resume = center
        .dispatch(
            v,
            CommandKind::Resume,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let resume = finished(store, &resume.id).await;
    assert_eq!(
        resume.status,
        CommandStatus::Executed,
        "{v} RESUME: {resume:?}"
    );
    let reroute = finished(store, &reroute.id).await;
    assert_eq!(
        reroute.status,
        CommandStatus::Executed,
        "{v} REROUTE: {reroute:?}"
    );
    let home = center
        .dispatch(
            v,
            CommandKind::ReturnToBase,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let home = finished(store, &home.id).await;
    assert_eq!(
        home.status,
        CommandStatus::Executed,
        "{v} RETURN_TO_BASE: {home:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_0_and_a_2_1_vehicle_each_get_every_command_in_their_own_version() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("versions");
    let seen = recorder(&address, &scheme, &format!("{tag}-recorder")).await;
    let store = store_with(&["AGV-20", "AGV-21"]).await;
    let sink = Arc::new(sink(&address, &scheme, &tag, &[]));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let old = agv(&address, &scheme, &tag, "AGV-20", ProtocolVersion::V2_0);
    let new = agv(&address, &scheme, &tag, "AGV-21", ProtocolVersion::V2_1);
    for v in ["AGV-20", "AGV-21"] {
        eventually("the sink sees the vehicle", || async { sink.last_state(v) }).await;
    }
    assert_eq!(sink.version_of("AGV-20").unwrap(), ProtocolVersion::V2_0);
    assert_eq!(sink.version_of("AGV-21").unwrap(), ProtocolVersion::V2_1);

    // Both at once, on one broker.
    tokio::join!(
        every_command(&center, &store, &sink, "AGV-20"),
        every_command(&center, &store, &sink, "AGV-21"),
    );
    for agv in [&old, &new] {
        let state = agv.state();
        assert!(state.errors.is_empty(), "{:?}", state.errors);
        assert_eq!(state.last_node_id, "charger");
    }

    // Each direction: headers carry the vehicle's version and every message is valid
    // against that version's official schemas — the factsheets the sink asked for included.
    let seen = seen.lock().unwrap().clone();
    let mut checked = std::collections::BTreeSet::new();
    for (topic, payload) in &seen {
        let address = scheme.parse(topic).unwrap();
        let version = match address.serial_number.as_str() {
            "AGV-20" => ProtocolVersion::V2_0,
            "AGV-21" => ProtocolVersion::V2_1,
            other => panic!("unexpected vehicle {other}"),
        };
        let json: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(json["version"], version.as_str(), "{topic}");
        let schemas = SchemaValidator::for_version(version);
        // No 2.0 factsheet schema is shipped; that factsheet is checked by being read.
        if schemas.covers(address.kind) {
            schemas
                .validate(address.kind, &json)
                .unwrap_or_else(|e| panic!("{topic}: {e}"));
        }
        checked.insert((address.serial_number, address.kind.as_str()));
    }
    for v in ["AGV-20", "AGV-21"] {
        for kind in [
            "connection",
            "factsheet",
            "instantActions",
            "order",
            "state",
            "visualization",
        ] {
            assert!(checked.contains(&(v.to_owned(), kind)), "no {kind} of {v}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_version_wins_over_the_announced_one() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("override");
    let seen = recorder(&address, &scheme, &format!("{tag}-recorder")).await;
    let store = store_with(&["AGV-20"]).await;
    // Registered as 2.1 although it speaks (and announces) 2.0: the registration is obeyed,
    // and the 2.0 vehicle rejects what it gets, as a real one would.
    let sink = Arc::new(sink(
        &address,
        &scheme,
        &tag,
        &[("AGV-20", ProtocolVersion::V2_1)],
    ));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let _agv = agv(&address, &scheme, &tag, "AGV-20", ProtocolVersion::V2_0);
    eventually("the sink sees the vehicle", || async {
        sink.last_state("AGV-20")
    })
    .await;
    assert_eq!(sink.version_of("AGV-20").unwrap(), ProtocolVersion::V2_1);
    let stop = center
        .dispatch(
            "AGV-20",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let stop = finished(&store, &stop.id).await;
    assert_eq!(stop.status, CommandStatus::Failed);
    let reason = stop.failure_reason.unwrap_or_default();
    assert!(
        reason.contains("versionError")
            && reason.contains(
                "instantActions version 2.1.0 is not compatible with client version 2.0.0"
            ),
        "{reason}"
    );
    let sent = seen.lock().unwrap().clone();
    let (_, payload) = sent
        .iter()
        .find(|(t, p)| {
            t.ends_with("/instantActions") && String::from_utf8_lossy(p).contains(&stop.id)
        })
        .expect("the STOP was sent");
    let json: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(json["version"], "2.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_announcing_an_unsupported_version_gets_nothing_and_commands_fail_at_once() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("unsupported");
    let seen = recorder(&address, &scheme, &format!("{tag}-recorder")).await;
    let store = store_with(&["AGV-30", "AGV-11"]).await;
    let sink = Arc::new(sink(&address, &scheme, &tag, &[]));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    // Vehicles from the future and the past announce themselves on `connection`.
    let (host, port) = address.rsplit_once(':').unwrap();
    let (client, mut eventloop) = AsyncClient::new(
        MqttOptions::new(format!("{tag}-raw"), host, port.parse().unwrap()),
        64,
    );
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    for (serial, version) in [("AGV-30", "3.0.0"), ("AGV-11", "1.1.0")] {
        let connection = serde_json::json!({
            "headerId": 0,
            "timestamp": "2026-01-01T00:00:00.00Z",
            "version": version,
            "manufacturer": "acme",
            "serialNumber": serial,
            "connectionState": "ONLINE",
        });
        client
            .publish(
                scheme.topic("acme", serial, MessageKind::Connection),
                QoS::AtLeastOnce,
                true,
                serde_json::to_vec(&connection).unwrap(),
            )
            .await
            .unwrap();
    }
    for (serial, version) in [("AGV-30", "3.0.0"), ("AGV-11", "1.1.0")] {
        eventually("the version learned", || async {
            sink.version_of(serial).err()
        })
        .await;
        let err = center
            .dispatch(
                serial,
                CommandKind::Stop,
                CommandParams::default(),
                "op-1",
                None,
            )
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("announces VDA 5050 version \"{version}\""))
                && text.contains("not supported"),
            "{text}"
        );
    }
    let sent = seen.lock().unwrap().clone();
    assert!(
        !sent
            .iter()
            .any(|(t, _)| t.ends_with("/instantActions") || t.ends_with("/order")),
        "nothing is sent to them"
    );
    drop(client);
}
