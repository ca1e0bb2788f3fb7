//! # vehicleops-store
//!
//! Storage backends for VehicleOps: implementations of the core's
//! [`TimeSeriesStore`](vehicleops_core::TimeSeriesStore) and
//! [`FleetRepository`](vehicleops_core::FleetRepository) traits.
//!
//! - feature `sqlite` (default): the embedded store, backed by a bundled SQLite.
//! - feature `testing`: the conformance suite every backend runs.
