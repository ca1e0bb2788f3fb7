//! # vehicleops-store
//!
//! Storage backends for VehicleOps: implementations of the core's
//! [`TimeSeriesStore`](vehicleops_core::TimeSeriesStore) and
//! [`FleetRepository`](vehicleops_core::FleetRepository) traits.
//!
//! - feature `sqlite` (default): the embedded store, backed by a bundled SQLite.
//! - feature `postgres`: the PostgreSQL / TimescaleDB store ([`PostgresStore`]).
//! - feature `testing`: the conformance suite every backend runs.

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStore, TelemetryLayout};
