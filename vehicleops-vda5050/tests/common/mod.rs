//! Fixtures the VDA 5050 integration tests share: the broker from `VEHICLEOPS_TEST_MQTT`,
//! per-test topic schemes, endpoints, the site georeference, polling and a message recorder.
#![allow(dead_code)] // each test file uses its own subset

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use vehicleops_core::GeoPoint;
use vehicleops_vda5050::{MqttEndpoint, SiteGeoreference, TopicScheme};

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
