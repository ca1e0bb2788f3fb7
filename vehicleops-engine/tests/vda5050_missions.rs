//! Missions on VDA 5050 vehicles go as orders with base and horizon: an engine on the VDA 5050
//! transport against a real MQTT broker, a simulated AGV from `run_simulator`, and a raw MQTT
//! client that records every `order`, `instantActions` and `state` on the wire.
//!
//! - A mission of three waypoints a few metres apart (map frame, sent as GPS through the site
//!   georeference) is one order: the start node and the first two waypoints are the base, the
//!   third the horizon. Once the vehicle reaches the first waypoint, an order update releases
//!   the rest; no update follows when nothing is left to release. The mission ends COMPLETED
//!   from what the vehicle reports.
//! - Cancelling a second mission sends instantActions `cancelOrder`; the vehicle drops the
//!   order and stands still. The cancelled mission stays CANCELLED (a progress step on its way
//!   when it was cancelled does not revive it).
//!
//! The broker address comes from `VEHICLEOPS_TEST_MQTT` (`host:port`, e.g. from
//! `bash scripts/mosquitto.sh start`); without it the test prints SKIPPED and passes. No timed
//! assertions: every wait polls with a deadline.

#![cfg(feature = "vda5050")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::eventually;
use vehicleops_core::{
    CommandKind, GeoPoint, Mission, MissionPriority, MissionRequest, MissionStatus, MissionType,
    SimulatorConfig, Waypoint,
};
use vehicleops_engine::{Engine, EngineSettings, TransportSettings, Vda5050Transport};
use vehicleops_vda5050::messages::{ActionStatus, InstantActions, Order, State};
use vehicleops_vda5050::mqtt::{self, Incoming};
use vehicleops_vda5050::{
    MessageKind, MqttEndpoint, RoutePoint, SimAgvConfig, SinkConfig, SiteGeoreference,
    SourceConfig, StopMode, TopicScheme,
};

const FLEET: &str = "fleet-vda";
const AGV: &str = "AGV-1";
const ARRIVAL_RADIUS_M: f64 = 0.5;

fn broker() -> Option<String> {
    match std::env::var("VEHICLEOPS_TEST_MQTT") {
        Ok(address) if !address.trim().is_empty() => Some(address.trim().to_owned()),
        _ => {
            eprintln!(
                "SKIPPED: VEHICLEOPS_TEST_MQTT is not set (start a broker with scripts/mosquitto.sh)"
            );
            None
        }
    }
}

fn site() -> SiteGeoreference {
    SiteGeoreference {
        origin: GeoPoint {
            latitude: 52.52,
            longitude: 13.405,
        },
        rotation_deg: 0.0,
    }
}

fn endpoint(address: &str, client_id: String) -> MqttEndpoint {
    let mut e =
        MqttEndpoint::from_address(address, client_id).expect("VEHICLEOPS_TEST_MQTT is host:port");
    e.keep_alive = Duration::from_secs(2);
    e
}

/// The VDA 5050 transport as the reference server builds it, on an interface and client ids
/// of this test's own so other tests on the broker stay apart.
fn transport(address: &str, scheme: &TopicScheme, tag: &str) -> Vda5050Transport {
    let mut source = SourceConfig::new(endpoint(address, format!("{tag}-ingest")), FLEET);
    source.scheme = scheme.clone();
    source.georeference = Some(site());
    let sink = SinkConfig {
        endpoint: endpoint(address, format!("{tag}-commands")),
        scheme: scheme.clone(),
        manufacturer: "acme".into(),
        stop_mode: StopMode::Pause,
        charging_node: RoutePoint {
            node_id: "charger".into(),
            x: -10.0,
            y: 0.0,
            map_id: "site".into(),
        },
        georeference: Some(site()),
    };
    let mut agv = SimAgvConfig::new(endpoint(address, tag.to_owned()), "acme", "");
    agv.scheme = scheme.clone();
    agv.speed_mps = 4.0;
    Vda5050Transport {
        source,
        sink,
        pinning: Default::default(),
        vehicles: Vec::new(),
        simulated_agv: agv,
        subscribe_timeout: Duration::from_secs(30),
    }
}

/// What went over the wire to or from one vehicle, in the order the broker delivered it.
#[derive(Debug, Clone)]
enum Wire {
    Order(Order),
    InstantActions(InstantActions),
    State(Box<State>),
}

/// Subscribes to every vehicle's `order`, `instantActions` and `state` under `scheme` and
/// records those of `serial` (the latest state also apart).
async fn wiretap(
    address: &str,
    scheme: &TopicScheme,
    tag: &str,
    serial: &'static str,
) -> Arc<Mutex<Vec<Wire>>> {
    let mut conn = mqtt::connect(
        &endpoint(address, format!("{tag}-wiretap")),
        [
            MessageKind::Order,
            MessageKind::InstantActions,
            MessageKind::State,
        ]
        .into_iter()
        .map(|k| scheme.all_vehicles(k))
        .collect(),
        None,
        4096,
    );
    mqtt::wait_subscribed(&mut conn.subscribed).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let scheme = scheme.clone();
    let mut inbox = conn.inbox;
    let task = conn.task;
    tokio::spawn(async move {
        let _keep = (conn.client, task);
        while let Some(Incoming { topic, payload }) = inbox.recv().await {
            let Some(address) = scheme.parse(&topic) else {
                continue;
            };
            if address.serial_number != serial {
                continue;
            }
            let wire = match address.kind {
                MessageKind::Order => Wire::Order(serde_json::from_slice(&payload).unwrap()),
                MessageKind::InstantActions => {
                    Wire::InstantActions(serde_json::from_slice(&payload).unwrap())
                }
                MessageKind::State => {
                    Wire::State(Box::new(serde_json::from_slice(&payload).unwrap()))
                }
                _ => continue,
            };
            log.lock().unwrap().push(wire);
        }
    });
    seen
}

fn orders(wire: &[Wire]) -> Vec<Order> {
    wire.iter()
        .filter_map(|w| match w {
            Wire::Order(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn latest_state(wire: &[Wire]) -> Option<State> {
    wire.iter().rev().find_map(|w| match w {
        Wire::State(s) => Some((**s).clone()),
        _ => None,
    })
}

/// A waypoint at map point `(x, y)`, as GPS through the site georeference.
fn waypoint(x: f64, y: f64, order: u32) -> Waypoint {
    let p = site().to_geo(x, y);
    Waypoint {
        latitude: p.latitude,
        longitude: p.longitude,
        order,
    }
}

fn mission_to(points: &[(f64, f64)]) -> MissionRequest {
    MissionRequest {
        fleet_id: FLEET.into(),
        vehicle_id: AGV.into(),
        mission_type: MissionType::Delivery,
        waypoints: points
            .iter()
            .enumerate()
            .map(|(i, (x, y))| waypoint(*x, *y, i as u32 + 1))
            .collect(),
        priority: MissionPriority::Normal,
    }
}

async fn mission_until(engine: &Engine, id: &str, status: MissionStatus) -> Mission {
    eventually(&format!("mission {id} {}", status.as_str()), || async {
        Some(engine.mission(id).await.unwrap()).filter(|m| m.status == status)
    })
    .await
}

/// `(node id, x, y, released)` of an order's nodes.
fn nodes(order: &Order) -> Vec<(String, f64, f64, bool)> {
    order
        .nodes
        .iter()
        .map(|n| {
            let p = n
                .node_position
                .as_ref()
                .expect("mission nodes have positions");
            (n.node_id.clone(), p.x, p.y, n.released)
        })
        .collect()
}

fn assert_at(actual: (f64, f64), expected: (f64, f64), what: &str) {
    assert!(
        (actual.0 - expected.0).abs() < 0.01 && (actual.1 - expected.1).abs() < 0.01,
        "{what}: {actual:?}, expected {expected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missions_go_as_orders_whose_horizon_is_released_and_cancel_sends_cancel_order() {
    let Some(address) = broker() else { return };
    let tag = format!(
        "missions-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let scheme = TopicScheme {
        interface_name: format!("test-{tag}"),
        major_version: "v2".into(),
    };
    let wire = wiretap(&address, &scheme, &tag, AGV).await;
    let engine = Engine::open(EngineSettings {
        transport: TransportSettings::Vda5050(transport(&address, &scheme, &tag)),
        // Waypoints are 4 m apart; the AGV moves 0.2 m per tick.
        arrival_radius_m: ARRIVAL_RADIUS_M,
        ..EngineSettings::default()
    })
    .await
    .unwrap();
    engine.start().await.unwrap();
    let run = engine
        .run_simulator(SimulatorConfig {
            vehicles: 1,
            interval_ms: 50,
            ..SimulatorConfig::default()
        })
        .await
        .unwrap();
    assert_eq!(run.vehicle_ids(), [AGV]);
    // The engine (and its sink) know where the vehicle stands: map (0, 0).
    eventually("readings of the AGV", || async {
        engine.latest(AGV).await.unwrap().filter(|t| t.seq >= 3)
    })
    .await;

    // --- A mission of three waypoints 4 m apart, driven to COMPLETED. ---
    let route = [(0.0, 4.0), (0.0, 8.0), (0.0, 12.0)];
    let mission = engine
        .create_mission(mission_to(&route), "op-1")
        .await
        .unwrap();
    let first = eventually("the mission's order", || async {
        orders(&wire.lock().unwrap()).first().cloned()
    })
    .await;
    assert_eq!(
        (first.order_id.as_str(), first.order_update_id),
        (mission.id.as_str(), 0)
    );
    let sent = nodes(&first);
    let wp = |n: usize| format!("{}-{n}", mission.id);
    assert_eq!(
        sent.iter()
            .map(|(id, _, _, released)| (id.clone(), *released))
            .collect::<Vec<_>>(),
        [
            (format!("{AGV}-start"), true),
            (wp(1), true),
            (wp(2), true),
            (wp(3), false),
        ],
        "base = start + two waypoints, horizon = the third"
    );
    assert_at((sent[0].1, sent[0].2), (0.0, 0.0), "start node");
    for (i, (x, y)) in route.iter().enumerate() {
        assert_at((sent[i + 1].1, sent[i + 1].2), (*x, *y), "waypoint node");
    }
    assert_eq!(
        first.edges.iter().map(|e| e.released).collect::<Vec<_>>(),
        [true, true, false]
    );

    let done = mission_until(&engine, &mission.id, MissionStatus::Completed).await;
    assert_eq!(done.completed_waypoints, 3);
    let log = wire.lock().unwrap().clone();
    let sent = orders(&log);
    assert_eq!(
        sent.iter()
            .map(|o| (o.order_id.as_str(), o.order_update_id))
            .collect::<Vec<_>>(),
        [(mission.id.as_str(), 0), (mission.id.as_str(), 1)],
        "one update released the horizon; none once nothing was left to release"
    );
    let update = &sent[1];
    assert_eq!(
        nodes(update)
            .iter()
            .map(|(id, _, _, released)| (id.clone(), *released))
            .collect::<Vec<_>>(),
        [(wp(2), true), (wp(3), true)],
        "the update starts at the last base node and releases the third waypoint"
    );
    assert_eq!(
        update
            .nodes
            .iter()
            .map(|n| n.sequence_id)
            .collect::<Vec<_>>(),
        [4, 6]
    );
    // The update came once the first waypoint was reached (within the arrival radius): the
    // vehicle's last state before it shows it there or beyond, the third waypoint still held
    // back.
    let update_at = log
        .iter()
        .position(|w| matches!(w, Wire::Order(o) if o.order_update_id == 1))
        .unwrap();
    let before = latest_state(&log[..update_at]).expect("a state before the update");
    let y = before.agv_position.as_ref().unwrap().y;
    assert!(
        y >= route[0].1 - ARRIVAL_RADIUS_M - 1e-6,
        "released only once the first waypoint was reached: {before:?}"
    );
    assert!(
        before
            .node_states
            .iter()
            .any(|n| n.node_id == wp(3) && !n.released),
        "the third waypoint was horizon until then: {:?}",
        before.node_states
    );
    let end = eventually("the AGV at the end of its route", || async {
        latest_state(&wire.lock().unwrap())
            .filter(|s| s.last_node_id == wp(3) && s.node_states.is_empty())
    })
    .await;
    let at = end.agv_position.unwrap();
    assert_at((at.x, at.y), (0.0, 12.0), "AGV position");

    // --- A second mission, cancelled while the vehicle drives it. ---
    let far = engine
        .create_mission(
            mission_to(&[(0.0, 60.0), (0.0, 120.0), (0.0, 180.0)]),
            "op-2",
        )
        .await
        .unwrap();
    // Its own order — or, when the last state the sink had still showed the first order
    // running (it trails the wiretap's under load), an update of that order going on from its
    // last node: VDA 5050 admits no new order while one runs. Either way the AGV drives it.
    let far_node = |id: &str| id.starts_with(&format!("{}-", far.id));
    eventually("the AGV driving the second mission", || async {
        latest_state(&wire.lock().unwrap())
            .filter(|s| s.driving && s.node_states.iter().any(|n| far_node(&n.node_id)))
    })
    .await;
    let far_order = orders(&wire.lock().unwrap())
        .into_iter()
        .find(|o| o.nodes.iter().any(|n| far_node(&n.node_id)))
        .expect("the second mission's route went out");
    let far_sent = (far_order.order_id.clone(), far_order.order_update_id);
    assert!(
        far_sent == (far.id.clone(), 0)
            || (far_sent == (mission.id.clone(), 2) && far_order.nodes[0].node_id == wp(3)),
        "the second mission as a new order, or as an update from the first route's end: {far_sent:?}"
    );
    let cancelled = engine.cancel_mission(&far.id, "op-2").await.unwrap();
    assert_eq!(cancelled.status, MissionStatus::Cancelled);
    let cancel_id = format!("{}-cancel", far.id);
    // (Besides the factsheetRequest the sink sent when the vehicle came online.)
    let actions = eventually("instantActions cancelOrder", || async {
        wire.lock().unwrap().iter().find_map(|w| match w {
            Wire::InstantActions(a)
                if a.actions
                    .iter()
                    .all(|a| a.action_type != "factsheetRequest") =>
            {
                Some(a.clone())
            }
            _ => None,
        })
    })
    .await;
    assert_eq!(
        actions
            .actions
            .iter()
            .map(|a| (a.action_type.as_str(), a.action_id.as_str()))
            .collect::<Vec<_>>(),
        [("cancelOrder", cancel_id.as_str())]
    );
    let stopped = eventually("the AGV dropped the order", || async {
        latest_state(&wire.lock().unwrap()).filter(|s| {
            s.node_states.is_empty()
                && !s.driving
                && s.action_states
                    .iter()
                    .any(|a| a.action_id == cancel_id && a.action_status == ActionStatus::Finished)
        })
    })
    .await;
    assert_eq!(stopped.order_id, far_sent.0);
    assert_eq!(
        engine.mission(&far.id).await.unwrap().status,
        MissionStatus::Cancelled
    );

    // Missions went as orders, not as commands: no REROUTE or STOP in the vehicle's history.
    let history = engine.command_history(AGV, 50).await.unwrap();
    assert!(
        history
            .data
            .iter()
            .all(|c| !matches!(c.command, CommandKind::Reroute | CommandKind::Stop)),
        "{:?}",
        history.data
    );
    // The first mission's order and its one update, then the second mission's route.
    let sent = orders(&wire.lock().unwrap());
    assert_eq!(
        sent.iter()
            .map(|o| (o.order_id.clone(), o.order_update_id))
            .collect::<Vec<_>>(),
        [(mission.id.clone(), 0), (mission.id.clone(), 1), far_sent]
    );
    engine.close().await.unwrap();
}
