//! VDA 5050 2.x over MQTT for VehicleOps: connect standard industrial AGVs and AMRs.
//!
//! - [`Vda5050TelemetrySource`]: `state`, `visualization` and `connection` of every vehicle
//!   as telemetry for the ingest pipeline (with [`FatalErrorRule`] for FATAL errors).
//! - [`Vda5050CommandSink`]: commands as instant actions and orders, with the lifecycle read
//!   back from `state`; missions as orders with base and horizon.
//! - [`SimulatedAgv`]: a VDA 5050 vehicle over MQTT, to run the whole loop without hardware.
//! - [`SchemaValidator`]: the official 2.1.0 JSON schemas, used on every message both ways.
//!
//! Topics follow `interfaceName/majorVersion/manufacturer/serialNumber/topic`
//! ([`TopicScheme`]); the VehicleOps vehicle id is the serial number.

pub mod agv;
pub mod georef;
pub mod messages;
mod mqtt;
pub mod order;
pub mod schema;
pub mod sink;
pub mod source;
pub mod topic;

pub use agv::{AgvCounters, SimAgvConfig, SimulatedAgv};
pub use georef::SiteGeoreference;
pub use mqtt::MqttEndpoint;
pub use order::{OrderProgress, RoutePoint};
pub use schema::{SchemaError, SchemaValidator};
pub use sink::{SinkConfig, StopMode, Vda5050CommandSink};
pub use source::{
    FatalErrorBoard, FatalErrorRule, SourceConfig, SourceCounters, Vda5050TelemetrySource,
    fatal_error_alert, status_of,
};
pub use topic::{MessageKind, TopicAddress, TopicScheme};
