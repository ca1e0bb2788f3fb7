//! Vehicles' capabilities from their VDA 5050 factsheet, against a real MQTT broker
//! (`VEHICLEOPS_TEST_MQTT`, `host:port`, e.g. from `scripts/mosquitto.sh start`; without it
//! every test prints a notice and passes without running): the sink asks each vehicle for its
//! factsheet, keeps what it lists, and a command whose action a vehicle does not list fails at
//! once, with nothing sent.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use vehicleops_core::*;
use vehicleops_vda5050::*;

mod common;
use common::*;

/// A 2.1 AGV executing only `actions`.
fn agv_with(
    address: &str,
    scheme: &TopicScheme,
    tag: &str,
    serial: &str,
    actions: &[&str],
) -> SimulatedAgv {
    let mut config =
        SimAgvConfig::new(endpoint(address, format!("{tag}-{serial}")), "acme", serial);
    config.scheme = scheme.clone();
    config.speed_mps = 10.0;
    config.tick = std::time::Duration::from_millis(50);
    config.actions = actions.iter().map(|a| (*a).to_owned()).collect();
    SimulatedAgv::start(config)
}

async fn capabilities(sink: &Vda5050CommandSink, serial: &str) -> VehicleCapabilities {
    eventually(&format!("the factsheet of {serial}"), || async {
        sink.capabilities_of(serial)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vehicle_is_asked_for_its_factsheet_in_its_version_and_its_capabilities_kept() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("factsheets");
    let sink = sink(&address, &scheme, &tag, &[]);
    sink.wait_subscribed().await;
    let new = agv(&address, &scheme, &tag, "AGV-21", ProtocolVersion::V2_1);
    let old = agv(&address, &scheme, &tag, "AGV-20", ProtocolVersion::V2_0);

    for (serial, version) in [("AGV-21", "2.1.0"), ("AGV-20", "2.0.0")] {
        let caps = capabilities(&sink, serial).await;
        assert_eq!(caps.vehicle_id, serial);
        assert_eq!(caps.source, format!("VDA 5050 {version} factsheet"));
        assert_eq!(caps.series_name.as_deref(), Some("vehicleops-sim"));
        assert_eq!(caps.max_speed_mps, Some(10.0));
        assert_eq!(caps.max_load_kg, Some(500.0));
        assert_eq!(caps.load_types, ["EPAL"]);
        let actions: Vec<(&str, Vec<&str>)> = caps
            .actions
            .as_ref()
            .expect("the simulated vehicle lists its actions")
            .iter()
            .map(|a| {
                (
                    a.action_type.as_str(),
                    a.scopes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("startPause", vec!["INSTANT"]),
                ("stopPause", vec!["INSTANT"]),
                ("cancelOrder", vec!["INSTANT"]),
                ("startCharging", vec!["INSTANT", "NODE"]),
                ("stopCharging", vec!["INSTANT", "NODE"]),
                ("factsheetRequest", vec!["INSTANT"]),
            ]
        );
    }
    // Each answered one request (the 2.0 one in 2.0: a request stamped 2.1 it would refuse).
    for vehicle in [&new, &old] {
        assert_eq!(vehicle.counters().factsheets.load(Ordering::Relaxed), 1);
        assert!(
            vehicle.state().errors.is_empty(),
            "{:?}",
            vehicle.state().errors
        );
    }
    assert_eq!(sink.counters().factsheets.load(Ordering::Relaxed), 2);
    assert_eq!(sink.counters().rejected.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_whose_action_the_vehicle_does_not_list_fails_at_once_and_nothing_is_sent() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("unlisted");
    let seen = recorder(&address, &scheme, &format!("{tag}-recorder")).await;
    let store = store_with(&["AGV-7"]).await;
    let sink = Arc::new(sink(&address, &scheme, &tag, &[]));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    // A vehicle that cannot pause or charge.
    let _agv = agv_with(
        &address,
        &scheme,
        &tag,
        "AGV-7",
        &["stopPause", "cancelOrder", "factsheetRequest"],
    );
    capabilities(&sink, "AGV-7").await;

    for (kind, action) in [
        (CommandKind::Stop, "startPause"),
        (CommandKind::ReturnToBase, "startCharging"),
    ] {
        let err = center
            .dispatch("AGV-7", kind, CommandParams::default(), "op-1", None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Validation, "{text}");
        assert!(
            text.contains(&format!("vehicle AGV-7 does not execute action {action}"))
                && text.contains(
                    "its VDA 5050 2.1.0 factsheet lists stopPause, cancelOrder, factsheetRequest"
                ),
            "{text}"
        );
        // Recorded FAILED with that reason, at once.
        let history = store.list_commands("AGV-7", 10).await.unwrap();
        let failed = &history.data[0];
        assert_eq!(
            (failed.command, failed.status),
            (kind, CommandStatus::Failed)
        );
        assert!(
            failed
                .failure_reason
                .as_deref()
                .is_some_and(|r| r.contains(&format!("does not execute action {action}"))),
            "{failed:?}"
        );
    }
    // What it lists still goes out and runs.
    let resume = center
        .dispatch(
            "AGV-7",
            CommandKind::Resume,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        finished(&store, &resume.id).await.status,
        CommandStatus::Executed
    );
    let sent = seen.lock().unwrap().clone();
    let on_wire = |needle: &str| {
        sent.iter().any(|(t, p)| {
            (t.ends_with("/instantActions") || t.ends_with("/order"))
                && String::from_utf8_lossy(p).contains(needle)
        })
    };
    assert!(!on_wire("startPause") && !on_wire("startCharging"));
    assert!(on_wire("stopPause") && on_wire("factsheetRequest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_without_a_factsheet_still_gets_every_command() {
    let Some(address) = broker() else { return };
    let (scheme, tag) = isolated("no-factsheet");
    let store = store_with(&["AGV-3"]).await;
    let sink = Arc::new(sink(&address, &scheme, &tag, &[]));
    sink.wait_subscribed().await;
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let agv = agv_with(
        &address,
        &scheme,
        &tag,
        "AGV-3",
        &["startPause", "stopPause"],
    );
    // It refuses the request (an unsupported action, FAILED)…
    eventually("the factsheet request refused", || async {
        agv.state()
            .action_states
            .iter()
            .any(|a| {
                a.action_type.as_deref() == Some("factsheetRequest")
                    && a.action_status == messages::ActionStatus::Failed
            })
            .then_some(())
    })
    .await;
    assert_eq!(sink.capabilities_of("AGV-3"), None);
    // …and its commands are sent unchecked.
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
        finished(&store, &stop.id).await.status,
        CommandStatus::Executed
    );
    let requests = sink.counters().factsheet_requests.load(Ordering::Relaxed);
    assert!(
        (1..=3).contains(&requests),
        "asked a few times, not forever: {requests}"
    );
}
