//! VDA 5050 mode (feature `vda5050`): the server's settings mapped onto the engine's VDA 5050
//! transport (broker, topic scheme, georeference, charging node, the vehicles to register and
//! what the built-in simulator's AGVs look like).

use std::time::Duration;

use vehicleops_core::GeoPoint;
use vehicleops_engine::Vda5050Transport;
use vehicleops_vda5050::{
    IdentityPinning, MqttEndpoint, ProtocolVersion, RoutePoint, SimAgvConfig, SinkConfig,
    SiteGeoreference, SourceConfig, StopMode, TopicScheme,
};

use crate::config::{Config, Vda5050StopMode};
use crate::error::StartupError;

/// Longest the start waits for the MQTT broker to acknowledge subscriptions.
const MQTT_SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine's transport in this mode.
pub fn transport(config: &Config) -> Result<Vda5050Transport, StartupError> {
    let mut agv = SimAgvConfig::new(
        login(
            config,
            MqttEndpoint::new(
                config.mqtt_host.clone(),
                config.mqtt_port,
                config.mqtt_client_id.clone(),
            ),
        ),
        &config.vda5050_manufacturer,
        "",
    );
    agv.scheme = scheme(config);
    agv.map_id = config.vda5050_map_id.clone();
    Ok(Vda5050Transport {
        source: source_config(config),
        sink: sink_config(config),
        pinning: pinning(config)?,
        vehicles: config.vda5050_vehicles.clone(),
        simulated_agv: agv,
        subscribe_timeout: MQTT_SUBSCRIBE_TIMEOUT,
    })
}

/// Per-vehicle manufacturers and protocol versions.
fn pinning(config: &Config) -> Result<IdentityPinning, StartupError> {
    let versions = config
        .vda5050_vehicle_versions
        .iter()
        .map(|(serial, version)| {
            let version = ProtocolVersion::parse(version).map_err(|e| {
                StartupError::Config(format!(
                    "VEHICLEOPS_VDA5050_VEHICLE_VERSIONS: {serial}={version}: {e}"
                ))
            })?;
            Ok((serial.clone(), version))
        })
        .collect::<Result<_, StartupError>>()?;
    Ok(IdentityPinning {
        vehicles: config
            .vda5050_vehicle_manufacturers
            .iter()
            .cloned()
            .collect(),
        versions,
        ..IdentityPinning::default()
    })
}

/// The broker, with a client id of this instance's prefix and `role`.
fn endpoint(config: &Config, role: &str) -> MqttEndpoint {
    login(
        config,
        MqttEndpoint::new(
            config.mqtt_host.clone(),
            config.mqtt_port,
            format!("{}-{role}", config.mqtt_client_id),
        ),
    )
}

/// `endpoint` logging in with the configured MQTT credentials, when a user name is set, and
/// over TLS with the configured CA file, when one is set.
fn login(config: &Config, mut endpoint: MqttEndpoint) -> MqttEndpoint {
    if let Some(user) = &config.mqtt_username {
        endpoint =
            endpoint.with_credentials(user, config.mqtt_password.clone().unwrap_or_default());
    }
    if let Some(ca_file) = &config.mqtt_ca_file {
        endpoint = endpoint.with_tls(ca_file);
    }
    endpoint
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

    #[test]
    fn mqtt_credentials_and_tls_reach_every_connection() {
        let c = Config::try_parse_from([
            "s",
            "--mqtt-username",
            "vehicleops",
            "--mqtt-password",
            "s3cret",
            "--mqtt-ca-file",
            "/etc/vehicleops/mqtt-ca.pem",
        ])
        .unwrap();
        let t = transport(&c).unwrap();
        for e in [
            &t.source.endpoint,
            &t.sink.endpoint,
            &t.simulated_agv.endpoint,
        ] {
            assert_eq!(
                (e.username.as_deref(), e.password.as_deref()),
                (Some("vehicleops"), Some("s3cret"))
            );
            assert!(!format!("{e:?}").contains("s3cret"), "Debug hides it");
            assert_eq!(
                e.ca_file.as_deref(),
                Some(std::path::Path::new("/etc/vehicleops/mqtt-ca.pem"))
            );
        }
        let anonymous = Config::try_parse_from(["s"]).unwrap();
        assert_eq!(source_config(&anonymous).endpoint.username, None);
        assert_eq!(source_config(&anonymous).endpoint.ca_file, None);
    }

    #[test]
    fn per_vehicle_manufacturers_and_versions_reach_the_sink() {
        let c = Config::try_parse_from([
            "s",
            "--vda5050-vehicle-manufacturers",
            "AGV-7=kuka,AGV-8=mir",
            "--vda5050-vehicle-versions",
            "AGV-7=2.0.0,AGV-9=2.1",
        ])
        .unwrap();
        let pinning = transport(&c).unwrap().pinning;
        assert_eq!(pinning.vehicles["AGV-7"], "kuka");
        assert_eq!(pinning.vehicles["AGV-8"], "mir");
        assert_eq!(pinning.versions["AGV-7"], ProtocolVersion::V2_0);
        assert_eq!(pinning.versions["AGV-9"], ProtocolVersion::V2_1);

        let c = Config::try_parse_from(["s", "--vda5050-vehicle-versions", "AGV-7=1.1.0"]).unwrap();
        let err = transport(&c).unwrap_err().to_string();
        assert!(err.contains("AGV-7=1.1.0"), "{err}");
        let bad = Config::try_parse_from(["s", "--vda5050-vehicle-versions", "AGV-7"]);
        assert!(bad.unwrap_err().to_string().contains("SERIAL=VALUE"));
    }

    #[test]
    fn without_an_origin_there_is_no_georeference() {
        let c = Config::try_parse_from(["s", "--simulator-vehicles", "3"]).unwrap();
        assert!(source_config(&c).georeference.is_none());
    }
}
