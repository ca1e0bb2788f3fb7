//! Kafka mode (feature `kafka`): ingest from a consumer group, commands over Kafka, and live
//! fan-out so several instances serve the same WebSocket feed.
//!
//! Each instance's pipeline reads its share of `fleet.telemetry.raw` (one consumer group for
//! all instances) and publishes what it processed to `fleet.telemetry.processed`, its alerts to
//! `fleet.alerts.triggered` and mission progress to `fleet.missions.events`. Every instance
//! then reads those three topics *in full* (a consumer group of its own, starting at the
//! newest offset) into the hub its WebSocket clients subscribe to. A client therefore sees
//! every vehicle whichever instance it is connected to, and no update twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use vehicleops_core::hub::{LiveEvent, LiveHub, LiveUpdate};
use vehicleops_core::{Alert, Mission, Reading, SourceRecord, TelemetrySource};
use vehicleops_kafka::{KafkaConfig, KafkaTelemetrySource, SourceSettings};

use crate::config::Config;
use crate::error::StartupError;

/// Kafka settings: the server's flags and variables, plus the security settings the Kafka
/// crate reads from the environment (`VEHICLEOPS_KAFKA_SASL_*`, `…_SSL_CA_LOCATION`).
pub fn kafka_config(config: &Config) -> Result<KafkaConfig, StartupError> {
    let mut k = KafkaConfig::from_env()?;
    k.bootstrap_servers = config.kafka_bootstrap_servers.clone();
    k.group_id = config.kafka_consumer_group.clone();
    k.topics.telemetry_raw = config.kafka_telemetry_topic.clone();
    k.topics.commands = config.kafka_commands_topic.clone();
    let suffix = &config.kafka_topic_suffix;
    let t = &mut k.topics;
    for topic in [
        &mut t.telemetry_raw,
        &mut t.telemetry_processed,
        &mut t.commands,
        &mut t.command_acks,
        &mut t.alerts,
        &mut t.missions,
        &mut t.dead_letters,
    ] {
        topic.push_str(suffix);
    }
    k.validate()?;
    Ok(k)
}

/// Creates missing topics with the standard partitions and retention.
pub async fn ensure_topics(kafka: &KafkaConfig) -> Result<(), StartupError> {
    let specs = vehicleops_kafka::standard_topics(&kafka.topics);
    vehicleops_kafka::ensure_topics(kafka, &specs, None, Duration::from_secs(30)).await?;
    Ok(())
}

/// What a fan-out topic carries.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Processed,
    Alerts,
    Missions,
}

/// A running fan-out consumer; [`Fanout::close`] leaves its group.
pub struct Fanout {
    sources: Vec<Arc<KafkaTelemetrySource>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fanout {
    /// Starts reading the processed, alert and mission topics into `hub`. `kafka.group_id` must
    /// be unique to this instance.
    pub fn start(kafka: &KafkaConfig, hub: LiveHub) -> Result<Self, StartupError> {
        let mut sources = Vec::new();
        let mut tasks = Vec::new();
        for (topic, feed) in [
            (&kafka.topics.telemetry_processed, Feed::Processed),
            (&kafka.topics.alerts, Feed::Alerts),
            (&kafka.topics.missions, Feed::Missions),
        ] {
            let mut c = kafka.clone();
            c.topics.telemetry_raw = topic.clone();
            c.group_id = format!("{}.fanout", kafka.group_id);
            let source = Arc::new(KafkaTelemetrySource::new(
                &c,
                SourceSettings {
                    auto_offset_reset: "latest".into(),
                    ..SourceSettings::default()
                },
            )?);
            tasks.push(tokio::spawn(forward(source.clone(), feed, hub.clone())));
            sources.push(source);
        }
        Ok(Fanout { sources, tasks })
    }

    pub fn close(self) {
        for s in &self.sources {
            s.close();
        }
        for t in self.tasks {
            t.abort();
        }
    }
}

async fn forward(source: Arc<KafkaTelemetrySource>, feed: Feed, hub: LiveHub) {
    loop {
        let batch = match source.next_batch(1000).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, ?feed, "fan-out consumer error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut updates = Vec::new();
        for record in &batch.records {
            let SourceRecord::Raw { payload, .. } = record else {
                continue;
            };
            match feed {
                Feed::Processed => match serde_json::from_slice::<Reading>(payload) {
                    Ok(r) => {
                        updates.push(Arc::new(LiveUpdate::from_reading(&r.telemetry, Vec::new())))
                    }
                    Err(e) => tracing::debug!(error = %e, "undecodable processed reading"),
                },
                Feed::Alerts => match serde_json::from_slice::<Alert>(payload) {
                    Ok(a) => hub.publish_event(LiveEvent::Alert(Arc::new(a))),
                    Err(e) => tracing::debug!(error = %e, "undecodable alert event"),
                },
                Feed::Missions => match serde_json::from_slice::<Mission>(payload) {
                    Ok(m) => hub.publish_event(LiveEvent::Mission(Arc::new(m))),
                    Err(e) => tracing::debug!(error = %e, "undecodable mission event"),
                },
            }
        }
        hub.publish_updates(&updates);
        if let Some(ack) = batch.ack {
            if let Err(e) = ack.ack().await {
                tracing::debug!(error = %e, "fan-out offsets not committed");
            }
        }
    }
}
