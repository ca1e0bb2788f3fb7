//! # vehicleops-store
//!
//! Storage backends for VehicleOps: implementations of the core's
//! [`TimeSeriesStore`](vehicleops_core::TimeSeriesStore) and
//! [`FleetRepository`](vehicleops_core::FleetRepository) traits.
//!
//! - feature `sqlite` (default): [`SqliteStore`], the embedded store, backed by a bundled SQLite
//!   (tuned through [`SqliteOptions`]).
//! - feature `postgres`: `PostgresStore`, the PostgreSQL / TimescaleDB store.
//! - feature `testing`: [`testing`], the conformance suite every backend runs.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # async fn demo() -> vehicleops_core::Result<()> {
//! use chrono::Utc;
//! use vehicleops_core::{Reading, Telemetry, TimeSeriesStore, VehicleStatus};
//! use vehicleops_store::SqliteStore;
//!
//! let store = SqliteStore::in_memory()?; // or SqliteStore::open("fleet.db")?
//! let reading = Reading {
//!     telemetry: Telemetry {
//!         vehicle_id: "VH-1".into(),
//!         fleet_id: "fleet-001".into(),
//!         latitude: 4.71,
//!         longitude: -74.07,
//!         speed_kmh: 12.0,
//!         battery_pct: 80.0,
//!         engine_temp_c: 70.0,
//!         load_pct: 0.0,
//!         status: VehicleStatus::Moving,
//!         timestamp: Utc::now(),
//!         heading_deg: 0.0,
//!         seq: 1,
//!         pose: None,
//!     },
//!     distance_m: 0.0,
//! };
//! let first = store.write_batch(std::slice::from_ref(&reading)).await?;
//! let replay = store.write_batch(&[reading]).await?;
//! assert_eq!((first.inserted, replay.duplicates), (1, 1));
//! # Ok(())
//! # }
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
//! #     .block_on(demo()).unwrap();
//! ```

#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStore, TelemetryLayout};
