//! Fixtures the VDA 5050 integration tests share: the broker from `VEHICLEOPS_TEST_MQTT`,
//! per-test topic schemes, endpoints, the site georeference, polling and a message recorder.
#![allow(dead_code)] // each test file uses its own subset

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use vehicleops_core::{Command, Fleet, FleetRepository, GeoPoint, Vehicle};
use vehicleops_store::SqliteStore;
use vehicleops_vda5050::{
    IdentityPinning, MqttEndpoint, ProtocolVersion, RoutePoint, SimAgvConfig, SimulatedAgv,
    SinkConfig, SiteGeoreference, StopMode, TopicScheme, Vda5050CommandSink,
};

pub const FLEET: &str = "fleet-vda";

pub fn broker() -> Option<String> {
    match std::env::var("VEHICLEOPS_TEST_MQTT") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            eprintln!(
                "VEHICLEOPS_TEST_MQTT is not set: skipping (start a broker with scripts/mosquitto.sh)"
            );
            None
        }
    }
}

/// A topic scheme and client-id prefix no other test uses.
pub fn isolated(name: &str) -> (TopicScheme, String) {
    let tag = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    (
        TopicScheme {
            interface_name: format!("test-{tag}"),
            major_version: "v2".into(),
        },
        tag,
    )
}

pub fn endpoint(address: &str, client_id: String) -> MqttEndpoint {
    let mut e =
        MqttEndpoint::from_address(address, client_id).expect("VEHICLEOPS_TEST_MQTT is host:port");
    e.keep_alive = Duration::from_secs(2);
    e
}

pub fn site() -> SiteGeoreference {
    SiteGeoreference {
        origin: GeoPoint {
            latitude: 52.52,
            longitude: 13.405,
        },
        rotation_deg: 0.0,
    }
}

/// Polls `check` until it yields a value. The deadline only keeps a broken build from hanging
/// CI; nothing is asserted about how long it takes.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Records every message under a scheme, for schema checks.
pub async fn recorder(
    address: &str,
    scheme: &TopicScheme,
    id: &str,
) -> Arc<Mutex<Vec<(String, Vec<u8>)>>> {
    let (host, port) = address.rsplit_once(':').unwrap();
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new(id, host, port.parse().unwrap()), 64);
    client
        .subscribe(format!("{}/#", scheme.interface_name), QoS::AtLeastOnce)
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let sink = seen.clone();
    tokio::spawn(async move {
        let _keep = client;
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => sink
                    .lock()
                    .unwrap()
                    .push((p.topic.clone(), p.payload.to_vec())),
                _ => {}
            }
        }
    });
    rx.await.unwrap();
    seen
}

/// A simulated AGV of manufacturer `acme` speaking `version`, fast (10 m/s, 50 ms ticks).
pub fn agv(
    address: &str,
    scheme: &TopicScheme,
    tag: &str,
    serial: &str,
    version: ProtocolVersion,
) -> SimulatedAgv {
    let mut config =
        SimAgvConfig::new(endpoint(address, format!("{tag}-{serial}")), "acme", serial);
    config.scheme = scheme.clone();
    config.speed_mps = 10.0;
    config.tick = Duration::from_millis(50);
    config.protocol_version = version;
    SimulatedAgv::start(config)
}

/// The command sink for `acme` vehicles under `scheme`, with these registered versions.
pub fn sink(
    address: &str,
    scheme: &TopicScheme,
    tag: &str,
    versions: &[(&str, ProtocolVersion)],
) -> Vda5050CommandSink {
    let pinning = IdentityPinning {
        versions: versions.iter().map(|(v, p)| ((*v).into(), *p)).collect(),
        ..Default::default()
    };
    Vda5050CommandSink::connect_pinned(
        SinkConfig {
            endpoint: endpoint(address, format!("{tag}-sink")),
            scheme: scheme.clone(),
            manufacturer: "acme".into(),
            stop_mode: StopMode::Pause,
            charging_node: RoutePoint {
                node_id: "charger".into(),
                x: 0.0,
                y: 20.0,
                map_id: "site".into(),
            },
            georeference: Some(site()),
        },
        pinning,
    )
}

/// An in-memory store with [`FLEET`] and these vehicles registered.
pub async fn store_with(vehicles: &[&str]) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    store
        .upsert_fleet(&Fleet {
            id: FLEET.into(),
            name: "VDA hall".into(),
        })
        .await
        .unwrap();
    for id in vehicles {
        store
            .upsert_vehicle(&Vehicle {
                id: (*id).into(),
                fleet_id: FLEET.into(),
                name: None,
                home: None,
            })
            .await
            .unwrap();
    }
    store
}

/// The command once it has ended (EXECUTED, FAILED, …).
pub async fn finished(store: &SqliteStore, id: &str) -> Command {
    eventually(&format!("command {id} finished"), || async {
        store
            .get_command(id)
            .await
            .unwrap()
            .filter(|c| c.status.is_terminal())
    })
    .await
}
