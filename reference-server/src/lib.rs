//! # vehicleops-server
//!
//! The reference server: the original system's REST API under `/api/v1` and its live WebSocket
//! at `/ws/fleet/{fleet_id}`, as a thin axum layer over the VehicleOps SDK, with JWT auth
//! (argon2 passwords, roles, per-fleet access), OpenAPI at `/openapi.json` with Swagger UI at
//! `/docs`, Prometheus metrics at `/metrics`, and `/healthz` / `/readyz`.
//!
//! With no configuration, [`app::start`] runs the one-machine demo: embedded SQLite store,
//! in-process bus, built-in simulator and the demo accounts.
//!
//! ```no_run
//! # async fn run() -> Result<(), vehicleops_server::error::StartupError> {
//! let config = vehicleops_server::config::Config::load()?;
//! let server = vehicleops_server::app::start(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run_until_signal().await
//! # }
//! ```

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
#[cfg(feature = "kafka")]
pub mod kafka_mode;
pub mod metrics;
pub mod secret_key;
mod serve;
#[cfg(feature = "vda5050")]
pub mod vda5050_mode;
pub mod ws;
