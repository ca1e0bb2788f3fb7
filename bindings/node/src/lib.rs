//! # vehicleops-node
//!
//! The thin native layer of the Node.js package `vehicleops`: [`engine::NativeEngine`] wraps
//! the one `vehicleops_engine::Engine` (argument conversion, delegation, error mapping) with
//! Promise methods, live subscriptions read in batches, alert rules written in JavaScript
//! ([`rule::JsRule`]) and one mapping of SDK errors to JS errors ([`error::IntoJsError`]). The
//! idiomatic API (types, async iteration, error class) is the TypeScript layer in `lib/`.
//!
//! Every `async fn` runs on napi-rs's process-wide tokio runtime; the engine spawns its
//! background tasks there.

pub mod convert;
pub mod engine;
pub mod error;
pub mod rule;
pub mod subscription;
