//! VDA 5050 mode (feature `vda5050`): the server's settings mapped onto the adapter's
//! (broker, topic scheme, georeference, charging node), registration of the VDA fleet and its
//! vehicles, and the simulated AGVs the built-in simulator runs in this mode. The transport
//! itself is assembled in [`crate::app`].

use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use vehicleops_core::{DeadLetter, DeadLetterSink, Fleet, FleetRepository, GeoPoint, Vehicle};
use vehicleops_vda5050::{
    MqttEndpoint, RoutePoint, SimAgvConfig, SimulatedAgv, SinkConfig, SiteGeoreference,
    SourceConfig, StopMode, TopicScheme,
};

use crate::config::{Config, Vda5050StopMode};
use crate::error::StartupError;

/// Distance between the simulated AGVs' start positions along the map's x axis, in metres.
const AGV_SPACING_M: f64 = 5.0;

/// The broker, with a client id of this instance's prefix and `role`.
fn endpoint(config: &Config, role: &str) -> MqttEndpoint {
    MqttEndpoint::new(
        config.mqtt_host.clone(),
        config.mqtt_port,
        format!("{}-{role}", config.mqtt_client_id),
    )
}

fn scheme(config: &Config) -> TopicScheme {
    TopicScheme {
        interface_name: config.vda5050_interface.clone(),
        major_version: config.vda5050_major_version.clone(),
    }
}

/// The site's georeference, when both origin coordinates are set.
fn georeference(config: &Config) -> Option<SiteGeoreference> {
    let (latitude, longitude) = config.vda5050_origin_lat.zip(config.vda5050_origin_lon)?;
    Some(SiteGeoreference {
        origin: GeoPoint {
            latitude,
            longitude,
        },
        rotation_deg: config.vda5050_rotation_deg,
    })
}

/// How the telemetry source reaches and reads the fleet.
pub fn source_config(config: &Config) -> SourceConfig {
    let mut source = SourceConfig::new(endpoint(config, "ingest"), &config.vda5050_fleet);
    source.scheme = scheme(config);
    source.georeference = georeference(config);
    source
}

/// How the command sink reaches the fleet and what STOP and RETURN_TO_BASE send.
pub fn sink_config(config: &Config) -> SinkConfig {
    SinkConfig {
        endpoint: endpoint(config, "commands"),
        scheme: scheme(config),
        manufacturer: config.vda5050_manufacturer.clone(),
        stop_mode: match config.vda5050_stop_mode {
            Vda5050StopMode::Pause => StopMode::Pause,
            Vda5050StopMode::CancelOrder => StopMode::CancelOrder,
        },
        charging_node: RoutePoint {
            node_id: config.vda5050_charging_node.clone(),
            x: config.vda5050_charging_x,
            y: config.vda5050_charging_y,
            map_id: config.vda5050_map_id.clone(),
        },
        georeference: georeference(config),
    }
}

/// Counts the messages the source rejects (it logs each one itself), for
/// `vehicleops_source_rejections`.
pub struct CountingDeadLetters(pub Counter);

#[async_trait]
impl DeadLetterSink for CountingDeadLetters {
    async fn send(&self, letters: Vec<DeadLetter>) -> vehicleops_core::Result<()> {
        self.0.inc_by(letters.len() as u64);
        Ok(())
    }
}

/// Serial numbers of the simulated AGVs: `AGV-1` … `AGV-<n>`.
pub fn simulated_serials(config: &Config) -> Vec<String> {
    (1..=config.simulator_vehicles)
        .map(|i| format!("AGV-{i}"))
        .collect()
}

/// Registers the VDA fleet and `serials` in it: commands and missions need known vehicles.
pub async fn register(
    repo: &dyn FleetRepository,
    config: &Config,
    serials: &[String],
) -> Result<(), StartupError> {
    if repo.get_fleet(&config.vda5050_fleet).await?.is_none() {
        repo.upsert_fleet(&Fleet {
            id: config.vda5050_fleet.clone(),
            name: format!("VDA 5050 fleet ({})", config.vda5050_interface),
        })
        .await?;
    }
    for serial in serials {
        if repo.get_vehicle(serial).await?.is_none() {
            repo.upsert_vehicle(&Vehicle {
                id: serial.clone(),
                fleet_id: config.vda5050_fleet.clone(),
                name: None,
                home: None,
            })
            .await?;
        }
    }
    Ok(())
}

/// Starts the simulated AGVs on the broker, spaced along the map's x axis.
pub fn start_agvs(config: &Config) -> Vec<SimulatedAgv> {
    simulated_serials(config)
        .iter()
        .enumerate()
        .map(|(i, serial)| {
            let mut agv = SimAgvConfig::new(
                endpoint(config, &format!("sim-{serial}")),
                &config.vda5050_manufacturer,
                serial,
            );
            agv.scheme = scheme(config);
            agv.map_id = config.vda5050_map_id.clone();
            agv.x = AGV_SPACING_M * i as f64;
            agv.tick = Duration::from_millis(config.simulator_interval_ms.max(1));
            SimulatedAgv::start(agv)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn settings_reach_the_adapter() {
        let c = Config::try_parse_from([
            "s",
            "--mqtt-host",
            "broker",
            "--mqtt-port",
            "1884",
            "--mqtt-client-id",
            "vo-a",
            "--vda5050-interface",
            "hall",
            "--vda5050-origin-lat",
            "4.6",
            "--vda5050-origin-lon",
            "-74.1",
            "--vda5050-charging-node",
            "dock",
            "--vda5050-charging-y",
            "20",
            "--vda5050-stop-mode",
            "cancel-order",
        ])
        .unwrap();
        let source = source_config(&c);
        assert_eq!(
            (
                source.endpoint.host.as_str(),
                source.endpoint.port,
                source.endpoint.client_id.as_str()
            ),
            ("broker", 1884, "vo-a-ingest")
        );
        assert_eq!(source.scheme.interface_name, "hall");
        assert_eq!(source.fleet_id, "fleet-vda");
        let origin = source.georeference.unwrap().origin;
        assert_eq!((origin.latitude, origin.longitude), (4.6, -74.1));
        let sink = sink_config(&c);
        assert_eq!(sink.endpoint.client_id, "vo-a-commands");
        assert_eq!(sink.stop_mode, StopMode::CancelOrder);
        assert_eq!(
            (sink.charging_node.node_id.as_str(), sink.charging_node.y),
            ("dock", 20.0)
        );
    }

    #[tokio::test]
    async fn rejected_messages_are_counted() {
        let sink = CountingDeadLetters(Counter::default());
        let letter = DeadLetter {
            payload: b"{not json".to_vec(),
            field: String::new(),
            reason: "not JSON".into(),
            origin: Default::default(),
            at: chrono::Utc::now(),
        };
        sink.send(vec![letter.clone(), letter]).await.unwrap();
        assert_eq!(sink.0.get(), 2);
    }

    #[test]
    fn without_an_origin_there_is_no_georeference() {
        let c = Config::try_parse_from(["s", "--simulator-vehicles", "3"]).unwrap();
        assert!(source_config(&c).georeference.is_none());
        assert_eq!(simulated_serials(&c), ["AGV-1", "AGV-2", "AGV-3"]);
    }
}
