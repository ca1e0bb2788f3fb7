//! # vehicleops-engine
//!
//! The one VehicleOps [`Engine`]: store (SQLite file or memory, PostgreSQL/TimescaleDB),
//! transport (in-process, Kafka, VDA 5050 over MQTT), alert rules, ingest pipeline, live hub,
//! command center, mission service and simulator, built from [`EngineSettings`]. The reference
//! server's handlers, the Python and Node `Engine`s and Rust applications all run it; none of
//! them assembles the pipeline or decides a rule itself.
//!
//! | settings | backend | feature |
//! |---|---|---|
//! | [`StoreSettings::Sqlite`] | `SqliteStore` (file, or memory when `path` is `None`) | always |
//! | [`StoreSettings::Postgres`] | `PostgresStore` (TimescaleDB when installed) | `postgres` |
//! | [`TransportSettings::InProcess`] | in-process bus and command channel | always |
//! | `TransportSettings::Kafka` | consumer-group source, publishers, command sink, live feed | `kafka` |
//! | `TransportSettings::Vda5050` | VDA 5050 telemetry source and command sink over MQTT | `vda5050` |
//!
//! A backend whose feature is off is refused with a [`vehicleops_core::ErrorKind::Config`]
//! error naming the feature.

mod audit;
mod engine;
mod export;
mod history;
mod report;
mod retention;
mod settings;
mod simulation;
mod store;
mod transport;

pub use engine::{Engine, EngineBuilder};
pub use export::{
    ExportFormat, ExportKind, ExportRequest, ExportStream, PARQUET_ROW_GROUP, report_file_name,
};
pub use retention::RetentionStats;
#[cfg(feature = "kafka")]
pub use settings::KafkaTransport;
#[cfg(feature = "vda5050")]
pub use settings::Vda5050Transport;
pub use settings::{
    DEFAULT_BUS_CAPACITY, DEFAULT_RETENTION_INTERVAL, EngineSettings, StoreSettings,
    TransportSettings,
};
pub use simulation::SimulatorRun;
pub use store::open_store;
pub use vehicleops_core::{FleetStore, ReadingPublisher};
