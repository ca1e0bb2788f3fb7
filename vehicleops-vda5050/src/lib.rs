//! VDA 5050 2.x over MQTT for VehicleOps: connect standard industrial AGVs and AMRs.
//!
//! - [`Vda5050TelemetrySource`]: `state`, `visualization` and `connection` of every vehicle
//!   as telemetry for the ingest pipeline (with [`FatalErrorRule`] for FATAL errors).
//! - [`Vda5050CommandSink`]: commands as instant actions and orders, with the lifecycle read
//!   back from `state`; missions as orders with base and horizon (it is the transport's
//!   `MissionLink`: the horizon is released as waypoints are reached, `cancelOrder` on cancel).
//! - [`SimulatedAgv`]: a VDA 5050 vehicle over MQTT, to run the whole loop without hardware.
//! - [`SchemaValidator`]: the official 2.1.0 and 2.0.0 JSON schemas, used on every message
//!   both ways in the version the vehicle speaks ([`ProtocolVersion`]).
//!
//! Topics follow `interfaceName/majorVersion/manufacturer/serialNumber/topic`
//! ([`TopicScheme`]); the VehicleOps vehicle id is the serial number. `docs/vda5050.md`
//! has the full mapping.
//!
//! ```no_run
//! # async fn wire(
//! #     store: std::sync::Arc<dyn vehicleops_core::TimeSeriesStore>,
//! #     repo: std::sync::Arc<dyn vehicleops_core::FleetRepository>,
//! # ) {
//! use std::sync::Arc;
//! use vehicleops_core::{CommandCenter, CommandTimeouts, LiveHub, PipelineBuilder, default_rules};
//! use vehicleops_vda5050::*;
//!
//! let broker = |id: &str| MqttEndpoint::new("127.0.0.1", 1883, id);
//! let source = Arc::new(Vda5050TelemetrySource::connect(SourceConfig::new(broker("ingest"), "hall-3")));
//! let mut rules = default_rules();
//! rules.push(Arc::new(FatalErrorRule::new(source.fatal_errors())));
//! let hub = LiveHub::new();
//! let pipeline = PipelineBuilder::new(source, store)
//!     .repository(repo.clone())
//!     .hub(hub.clone())
//!     .rules(rules)
//!     .spawn();
//!
//! let sink = Arc::new(Vda5050CommandSink::connect(SinkConfig {
//!     endpoint: broker("commands"),
//!     scheme: TopicScheme::default(),
//!     manufacturer: "acme".into(),
//!     stop_mode: StopMode::Pause,
//!     charging_node: RoutePoint { node_id: "charger-1".into(), x: 0.0, y: 20.0, map_id: "hall-3".into() },
//!     georeference: None,
//! }));
//! let (commands, _task) = CommandCenter::start(sink, repo, Some(hub), CommandTimeouts::default());
//! # let _ = (pipeline, commands);
//! # }
//! ```

pub mod agv;
pub mod factsheet;
pub mod georef;
pub mod messages;
pub mod mqtt;
pub mod order;
pub mod schema;
pub mod sink;
pub mod source;
pub mod topic;
pub mod version;

pub use agv::{AgvCounters, SimAgvConfig, SimulatedAgv};
pub use georef::SiteGeoreference;
pub use mqtt::MqttEndpoint;
pub use order::{OrderProgress, RoutePoint};
pub use schema::{SchemaError, SchemaValidator};
pub use sink::{
    IdentityPinning, MISSION_LOOKAHEAD, SinkConfig, SinkCounters, StopMode, Vda5050CommandSink,
};
pub use source::{
    FatalErrorBoard, FatalErrorRule, SourceConfig, SourceCounters, Vda5050TelemetrySource,
    fatal_error_alert, status_of,
};
pub use topic::{MessageKind, TopicAddress, TopicScheme};
pub use version::{ProtocolVersion, UnsupportedVersion};
