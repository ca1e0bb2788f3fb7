//! The transport opener the bindings used before the [`crate::Engine`]; goes once they wrap
//! the engine.
#![allow(dead_code)]

use std::sync::Arc;

use vehicleops_core::inproc::{InProcessBus, command_channel};
use vehicleops_core::{CommandSink, Result, TelemetrySource, VehicleCommandLink};

use crate::transport::ReadingPublisher;

/// Where readings and commands travel between vehicles and the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusSettings {
    /// Within this process; publishers wait once `capacity` readings are queued.
    InProcess { capacity: usize },
    /// Through Kafka topics. Needs the `kafka` feature.
    Kafka(KafkaSettings),
}

/// The Kafka settings an embedded engine needs; everything else keeps
/// `vehicleops_kafka::KafkaConfig`'s defaults (the original's topic names and partitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Consumer group of the telemetry ingest (engines in one group share the partitions).
    pub group_id: String,
    /// Appended to every topic name (`fleet.telemetry.raw.<suffix>`, …) to keep several
    /// deployments or test runs apart on one cluster; `None` for the standard names.
    pub topic_suffix: Option<String>,
    /// Create missing topics with the standard layout before starting.
    pub create_topics: bool,
}

impl KafkaSettings {
    /// The standard topics and group on `bootstrap_servers`, created when missing.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaSettings {
            bootstrap_servers: bootstrap_servers.into(),
            group_id: "vehicleops-backend".into(),
            topic_suffix: None,
            create_topics: true,
        }
    }
}

/// An opened transport: its parts, to hand to the pipeline, the command center and the
/// simulator, and what closes it.
pub struct Bus {
    /// What the pipeline reads.
    pub source: Arc<dyn TelemetrySource>,
    /// Where readings are published (by the engine's user or a simulator).
    pub publisher: Arc<dyn ReadingPublisher>,
    /// The platform's side of commands (for `CommandCenter`).
    pub command_sink: Arc<dyn CommandSink>,
    /// The vehicles' side of commands (for a simulator or a gateway).
    pub vehicle_link: Arc<dyn VehicleCommandLink>,
    /// Whether `source` ends by itself once every clone of `publisher` is gone and what was
    /// published is read (the in-process bus). A Kafka source never ends that way: stop its
    /// pipeline once it has received what was published.
    pub source_ends_with_publishers: bool,
    /// Stops the transport's background consumers when closed or dropped.
    pub closer: BusCloser,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field(
                "source_ends_with_publishers",
                &self.source_ends_with_publishers,
            )
            .finish_non_exhaustive()
    }
}

/// Closes a [`Bus`]'s background consumers (pending reads end) on [`BusCloser::close`] or
/// drop. Close it after the pipeline stopped, so its last offsets are still committed.
#[derive(Default)]
pub struct BusCloser(Vec<Box<dyn FnOnce() + Send + Sync>>);

impl BusCloser {
    /// Closes now; later calls do nothing.
    pub fn close(&mut self) {
        for close in self.0.drain(..) {
            close();
        }
    }
}

impl Drop for BusCloser {
    fn drop(&mut self) {
        self.close();
    }
}

/// How many commands (per lane) the in-process command channel holds.
const IN_PROCESS_COMMAND_CAPACITY: usize = 1024;

/// Opens the transport `settings` names (creating Kafka topics when asked to).
pub async fn open_bus(settings: &BusSettings) -> Result<Bus> {
    match settings {
        BusSettings::InProcess { capacity } => {
            let bus = InProcessBus::new(*capacity);
            let (sink, link) = command_channel(IN_PROCESS_COMMAND_CAPACITY);
            Ok(Bus {
                source: Arc::new(bus.source),
                publisher: Arc::new(bus.publisher),
                command_sink: Arc::new(sink),
                vehicle_link: Arc::new(link),
                source_ends_with_publishers: true,
                closer: BusCloser::default(),
            })
        }
        BusSettings::Kafka(kafka) => kafka::open(kafka).await,
    }
}

#[cfg(feature = "kafka")]
mod kafka {
    //! The Kafka transport: the same parts the reference server's Kafka mode uses.

    use std::sync::Arc;
    use std::time::Duration;

    use vehicleops_core::Result;
    use vehicleops_kafka::{
        KafkaCommandSink, KafkaConfig, KafkaTelemetryPublisher, KafkaTelemetrySource,
        KafkaVehicleLink, ProducerSettings, SourceSettings, ensure_topics, standard_topics,
    };

    use super::{Bus, BusCloser, KafkaSettings};

    /// How long topic creation may take before opening fails.
    const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);

    pub(super) async fn open(settings: &KafkaSettings) -> Result<Bus> {
        let mut config = KafkaConfig::new(&settings.bootstrap_servers);
        config.group_id = settings.group_id.clone();
        if let Some(suffix) = &settings.topic_suffix {
            config.topics = config.topics.with_suffix(suffix);
        }
        config.validate()?;
        if settings.create_topics {
            ensure_topics(
                &config,
                &standard_topics(&config.topics),
                None,
                TOPIC_TIMEOUT,
            )
            .await?;
        }
        let producer = ProducerSettings::default();
        let source = Arc::new(KafkaTelemetrySource::new(
            &config,
            SourceSettings::default(),
        )?);
        let sink = Arc::new(KafkaCommandSink::new(&config, &producer)?);
        // A group of the link's own: the vehicles' side sees every command.
        let link = Arc::new(KafkaVehicleLink::new(
            &config,
            &format!(
                "{}.vehicles.{}",
                config.group_id,
                uuid::Uuid::new_v4().simple()
            ),
            None,
            &producer,
        )?);
        let (s, c, l) = (source.clone(), sink.clone(), link.clone());
        Ok(Bus {
            source,
            publisher: Arc::new(KafkaTelemetryPublisher::new(&config, &producer)?),
            command_sink: sink,
            vehicle_link: link,
            source_ends_with_publishers: false,
            closer: BusCloser(vec![Box::new(move || {
                s.close();
                c.close();
                l.close();
            })]),
        })
    }
}

#[cfg(not(feature = "kafka"))]
mod kafka {
    use vehicleops_core::{Error, Result};

    use super::{Bus, KafkaSettings};

    pub(super) async fn open(_settings: &KafkaSettings) -> Result<Bus> {
        Err(Error::Config(
            "a Kafka bus needs VehicleOps built with the `kafka` feature".into(),
        ))
    }
}
