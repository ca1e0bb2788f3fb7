//! # vehicleops-kafka
//!
//! VehicleOps on Apache Kafka, through `rdkafka` (librdkafka built from its bundled sources):
//!
//! - [`KafkaTelemetrySource`]: the ingest pipeline's source — a consumer group on
//!   `fleet.telemetry.raw`, batch consumption on its own thread, offsets committed only after
//!   the pipeline stored the batch, cooperative rebalancing that finishes in-flight batches
//!   before partitions move;
//! - [`KafkaTelemetryPublisher`]: what the simulator publishes through (key vehicle id);
//! - [`KafkaCommandSink`] and [`KafkaVehicleLink`]: commands on `fleet.commands` and
//!   acknowledgements on `fleet.commands.acks`, platform side and vehicle side;
//! - [`KafkaEventPublisher`]: `fleet.telemetry.processed` (key vehicle id),
//!   `fleet.alerts.triggered` (key fleet id), `fleet.missions.events` (key mission id);
//! - [`KafkaLiveFeed`]: fills a server instance's live hub from those topics, so every instance
//!   serves the whole fleet to its WebSocket clients;
//! - [`KafkaDeadLetterSink`]: readings that failed validation, with reason and source position;
//! - [`admin::ensure_topics`]: creates the topics with the original's partitions and retention;
//! - [`KafkaConfig`]: settings with the original's defaults, from the environment.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vehicleops_core::{PipelineBuilder, default_rules};
//! use vehicleops_kafka::{KafkaConfig, KafkaTelemetrySource, SourceSettings, ensure_topics, standard_topics};
//! use vehicleops_store::SqliteStore;
//!
//! # async fn run() -> vehicleops_core::Result<()> {
//! let kafka = KafkaConfig::from_env()?; // KAFKA_BOOTSTRAP_SERVERS, KAFKA_CONSUMER_GROUP, …
//! ensure_topics(&kafka, &standard_topics(&kafka.topics), None, Duration::from_secs(10)).await?;
//! let store = Arc::new(SqliteStore::open("fleet.db")?);
//! // Offsets are committed only after each batch is stored.
//! let source = Arc::new(KafkaTelemetrySource::new(&kafka, SourceSettings::default())?);
//! let pipeline = PipelineBuilder::new(source, store.clone())
//!     .repository(store)
//!     .rules(default_rules())
//!     .spawn();
//! pipeline.join().await?;
//! # Ok(()) }
//! ```
//!
//! `docs/kafka.md` explains partitioning, scale-out with consumer groups and the processed
//! topic's role in serving WebSocket clients from several instances.

pub mod admin;
pub mod commands;
pub mod config;
pub mod context;
pub mod live;
pub mod producer;
pub mod source;

pub use admin::{TopicDifference, TopicReport, TopicSpec, ensure_topics, standard_topics};
pub use commands::{KafkaCommandSink, KafkaVehicleLink};
pub use config::{KafkaConfig, SecurityProtocol, TopicNames};
pub use live::KafkaLiveFeed;
pub use producer::{
    Delivered, KafkaDeadLetterSink, KafkaEventPublisher, KafkaTelemetryPublisher, ProducerSettings,
    dead_letter_headers,
};
pub use source::{KafkaTelemetrySource, SourceSettings};
