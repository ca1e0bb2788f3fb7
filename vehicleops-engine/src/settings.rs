//! What an [`crate::Engine`] is built from: one definition of every setting and its default,
//! shared by the reference server, the bindings and Rust applications.

use std::path::PathBuf;
use std::time::Duration;

use vehicleops_core::missions::DEFAULT_ARRIVAL_RADIUS_M;
use vehicleops_core::{CommandTimeouts, PipelineConfig, RetentionPolicy};

/// Which database an engine keeps its data in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// SQLite at `path`, or in memory when `None`.
    Sqlite { path: Option<PathBuf> },
    /// PostgreSQL (TimescaleDB when installed) at `url`, e.g.
    /// `postgres://user:pass@host:5432/db`. Needs the `postgres` feature.
    Postgres { url: String },
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings::Sqlite { path: None }
    }
}

/// Readings the in-process bus holds before publishers wait.
pub const DEFAULT_BUS_CAPACITY: usize = 20_000;

/// Where readings and commands travel between vehicles and the engine.
// Built once per engine: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum TransportSettings {
    /// Within this process; publishers wait once `capacity` readings are queued.
    InProcess { capacity: usize },
    /// Through Kafka topics (feature `kafka`).
    #[cfg(feature = "kafka")]
    Kafka(KafkaTransport),
    /// VDA 5050 vehicles over MQTT (feature `vda5050`).
    #[cfg(feature = "vda5050")]
    Vda5050(Vda5050Transport),
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings::InProcess {
            capacity: DEFAULT_BUS_CAPACITY,
        }
    }
}

impl TransportSettings {
    /// A short name for logs: `in-process`, `kafka`, `vda5050`.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportSettings::InProcess { .. } => "in-process",
            #[cfg(feature = "kafka")]
            TransportSettings::Kafka(_) => "kafka",
            #[cfg(feature = "vda5050")]
            TransportSettings::Vda5050(_) => "vda5050",
        }
    }
}

/// Kafka as the transport. `config` is the one definition of the connection (bootstrap
/// servers, group, topics, SASL/TLS); see `vehicleops_kafka::KafkaConfig::from_env`.
#[cfg(feature = "kafka")]
#[derive(Debug, Clone)]
pub struct KafkaTransport {
    pub config: vehicleops_kafka::KafkaConfig,
    /// Create missing topics with the standard layout before starting.
    pub create_topics: bool,
    /// Publish processed readings, alerts and mission progress to the event topics and feed
    /// the other instances' events into this engine's live hub, so a live subscriber sees
    /// every vehicle whichever instance it is connected to.
    pub share_events: bool,
}

#[cfg(feature = "kafka")]
impl KafkaTransport {
    /// The standard topics and group on `bootstrap_servers`, created when missing, events
    /// shared between instances.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaTransport {
            config: vehicleops_kafka::KafkaConfig::new(bootstrap_servers),
            create_topics: true,
            share_events: true,
        }
    }
}

/// VDA 5050 over MQTT as the transport: telemetry from every vehicle's `state`,
/// `visualization` and `connection`, commands as instant actions and orders.
#[cfg(feature = "vda5050")]
#[derive(Debug, Clone)]
pub struct Vda5050Transport {
    pub source: vehicleops_vda5050::SourceConfig,
    pub sink: vehicleops_vda5050::SinkConfig,
    /// Per-vehicle manufacturer and protocol version of the command sink.
    pub pinning: vehicleops_vda5050::IdentityPinning,
    /// Vehicles (serial numbers) registered in the source's fleet at start.
    pub vehicles: Vec<String>,
    /// What a simulated AGV started by [`crate::Engine::run_simulator`] looks like (its
    /// serial number and position are set per vehicle).
    pub simulated_agv: vehicleops_vda5050::SimAgvConfig,
    /// Longest the start waits for the broker to acknowledge the subscriptions.
    pub subscribe_timeout: Duration,
}

/// Everything an [`crate::Engine`] is built from. `EngineSettings::default()` is the embedded
/// engine: SQLite in memory, the in-process bus, the default rules.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub store: StoreSettings,
    pub transport: TransportSettings,
    /// Run the built-in rules (OVERSPEED, LOW_BATTERY, ENGINE_OVERHEAT, OFFLINE).
    pub default_rules: bool,
    /// The ingest pipeline. Its `max_vehicles` also caps the vehicles the live hub keeps; its
    /// `accept_past` / `accept_future` window is off by default: set it (e.g. 7 days back,
    /// 5 minutes ahead) to dead-letter readings dated far from now.
    pub pipeline: PipelineConfig,
    pub command_timeouts: CommandTimeouts,
    /// Distance at which a mission waypoint counts as reached, metres.
    pub arrival_radius_m: f64,
    /// Longest a close waits for what was published to be stored.
    pub drain_timeout: Duration,
    /// How long each kind of record is kept (default: everything for ever). A started engine
    /// applies it at start and then every `retention_interval`.
    pub retention: RetentionPolicy,
    pub retention_interval: Duration,
}

/// How often a started engine applies its retention policy.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            store: StoreSettings::default(),
            transport: TransportSettings::default(),
            default_rules: true,
            pipeline: PipelineConfig::default(),
            command_timeouts: CommandTimeouts::default(),
            arrival_radius_m: DEFAULT_ARRIVAL_RADIUS_M,
            drain_timeout: Duration::from_secs(30),
            retention: RetentionPolicy::default(),
            retention_interval: DEFAULT_RETENTION_INTERVAL,
        }
    }
}

impl EngineSettings {
    /// A short name of the store for logs: `sqlite`, `sqlite-memory`, `postgres`.
    pub fn store_kind(&self) -> &'static str {
        match &self.store {
            StoreSettings::Sqlite { path: Some(_) } => "sqlite",
            StoreSettings::Sqlite { path: None } => "sqlite-memory",
            StoreSettings::Postgres { .. } => "postgres",
        }
    }
}
