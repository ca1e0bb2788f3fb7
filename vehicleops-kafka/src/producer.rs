//! Everything VehicleOps writes to Kafka.
//!
//! - [`KafkaTelemetryPublisher`]: the simulator's (or a gateway's) [`TelemetryPublisher`] onto
//!   the raw topic, keyed by vehicle id so each vehicle's readings stay in order in one
//!   partition; batched (`linger.ms`), LZ4-compressed, idempotent with `acks=all`.
//! - [`KafkaEventPublisher`]: processed telemetry (key vehicle id), alert episodes (key fleet
//!   id) and mission events (key mission id). It is also a [`ReadingObserver`], so the pipeline
//!   feeds the processed topic directly, and [`KafkaEventPublisher::bridge_hub`] forwards a live
//!   hub's alerts and mission changes. Its records carry the publishing instance's id in the
//!   `vehicleops.origin` header, so [`crate::KafkaLiveFeed`] can skip an instance's own events.
//! - [`KafkaDeadLetterSink`]: readings that failed validation, as the original bytes with the
//!   reason and their source topic/partition/offset in headers.
//!
//! Every send waits for the brokers' acknowledgement, so a publish that returned `Ok` is
//! replicated (`acks=all`); librdkafka retries on its own while a broker is away, up to
//! `message.timeout.ms`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;
use tracing::warn;
use vehicleops_core::hub::{ALL_FLEETS, LiveEvent, LiveHub};
use vehicleops_core::pipeline::ReadingObserver;
use vehicleops_core::{
    Alert, DeadLetter, DeadLetterSink, Error, Mission, Reading, Result, Telemetry,
};
use vehicleops_core::{ReadingPublisher, TelemetryPublisher};

use crate::config::KafkaConfig;
use crate::context::{LoggingContext, kafka_error};

/// Header names on dead letters.
pub mod dead_letter_headers {
    pub const REASON: &str = "vehicleops.reason";
    pub const FIELD: &str = "vehicleops.field";
    pub const SOURCE_TOPIC: &str = "vehicleops.source.topic";
    pub const SOURCE_PARTITION: &str = "vehicleops.source.partition";
    pub const SOURCE_OFFSET: &str = "vehicleops.source.offset";
    pub const REJECTED_AT: &str = "vehicleops.rejected_at";
}

/// Producer tuning shared by the publishers.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    /// How long librdkafka gathers records into one request.
    pub linger: Duration,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: String,
    /// How long a record may wait for the brokers (including retries while they are away).
    pub message_timeout: Duration,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            linger: Duration::from_millis(5),
            compression: "lz4".into(),
            message_timeout: Duration::from_secs(120),
        }
    }
}

/// An idempotent, `acks=all` producer: retries never duplicate or reorder within a partition.
pub(crate) fn reliable_producer(
    config: &KafkaConfig,
    settings: &ProducerSettings,
    client: &'static str,
) -> Result<FutureProducer<LoggingContext>> {
    config.validate()?;
    config
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", settings.linger.as_millis().to_string())
        .set("compression.type", &settings.compression)
        .set("batch.num.messages", "10000")
        .set(
            "message.timeout.ms",
            settings.message_timeout.as_millis().to_string(),
        )
        .create_with_context(LoggingContext { client })
        .map_err(|e| kafka_error("creating a Kafka producer", e))
}

/// One record to send.
pub(crate) struct Outgoing<'a> {
    pub key: &'a str,
    pub payload: Vec<u8>,
    pub headers: Option<OwnedHeaders>,
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Enqueues every record (waiting while librdkafka's queue is full), then waits for all
/// deliveries. Fails with the first delivery error.
pub(crate) async fn send_all(
    producer: &FutureProducer<LoggingContext>,
    topic: &str,
    records: Vec<Outgoing<'_>>,
) -> Result<Vec<Delivered>> {
    let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(records.len());
    for r in &records {
        let mut record = FutureRecord::to(topic).key(r.key).payload(&r.payload);
        if let Some(h) = &r.headers {
            record = record.headers(h.clone());
        }
        loop {
            match producer.send_result(record) {
                Ok(f) => {
                    pending.push(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => return Err(kafka_error("enqueueing a record", e)),
            }
        }
    }
    let mut delivered = Vec::with_capacity(pending.len());
    for f in pending {
        match f.await {
            Ok(Ok(d)) => delivered.push(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Ok(Err((e, _))) => return Err(kafka_error(&format!("delivering to {topic}"), e)),
            Err(_) => return Err(Error::Closed("Kafka producer")),
        }
    }
    Ok(delivered)
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::backend("json", e))
}

/// Publishes telemetry to the raw topic (the simulator's transport to the platform).
pub struct KafkaTelemetryPublisher {
    producer: FutureProducer<LoggingContext>,
    topic: String,
}

impl std::fmt::Debug for KafkaTelemetryPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTelemetryPublisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaTelemetryPublisher {
    pub fn new(config: &KafkaConfig, settings: &ProducerSettings) -> Result<Self> {
        Ok(KafkaTelemetryPublisher {
            producer: reliable_producer(config, settings, "telemetry-publisher")?,
            topic: config.topics.telemetry_raw.clone(),
        })
    }

    /// Publishes payloads as they are, keyed by `key` — for gateways that forward vehicles'
    /// JSON untouched, and for tests that need malformed records.
    pub async fn publish_raw(&self, records: Vec<(String, Vec<u8>)>) -> Result<Vec<Delivered>> {
        let out = records
            .iter()
            .map(|(k, p)| Outgoing {
                key: k,
                payload: p.clone(),
                headers: None,
            })
            .collect();
        send_all(&self.producer, &self.topic, out).await
    }

    /// Waits until everything enqueued has been delivered (or `timeout` passed).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .flush(timeout)
            .map_err(|e| kafka_error("flushing the telemetry producer", e))
    }
}

#[async_trait]
impl TelemetryPublisher for KafkaTelemetryPublisher {
    async fn publish(&self, batch: Vec<Telemetry>) -> Result<()> {
        let mut out = Vec::with_capacity(batch.len());
        for t in &batch {
            out.push(Outgoing {
                key: &t.vehicle_id,
                payload: to_json(t)?,
                headers: None,
            });
        }
        send_all(&self.producer, &self.topic, out).await.map(|_| ())
    }
}

#[async_trait]
impl ReadingPublisher for KafkaTelemetryPublisher {
    /// Keys each payload by its vehicle id, so one vehicle's readings stay in order on one
    /// partition; a payload that does not decode is sent unkeyed (it is dead-lettered).
    async fn publish_raw(&self, payloads: Vec<Vec<u8>>) -> Result<()> {
        let records = payloads
            .into_iter()
            .map(|p| {
                let key = vehicleops_core::decode_telemetry(&p)
                    .map(|t| t.vehicle_id)
                    .unwrap_or_default();
                (key, p)
            })
            .collect();
        KafkaTelemetryPublisher::publish_raw(self, records).await?;
        Ok(())
    }
}

/// Publishes processed telemetry, alerts and mission events.
pub struct KafkaEventPublisher {
    producer: FutureProducer<LoggingContext>,
    processed_topic: String,
    alerts_topic: String,
    missions_topic: String,
    instance_id: String,
    /// Events a [`crate::KafkaLiveFeed`] put on the local hub, which the bridge must not send
    /// back to Kafka.
    pub(crate) fed: Arc<FedEvents>,
}

/// Header naming the server instance that published an event.
pub const ORIGIN_HEADER: &str = "vehicleops.origin";

/// Keys of hub events that came from Kafka (see [`fed_key`]), while a bridge is running.
#[derive(Debug, Default)]
pub(crate) struct FedEvents {
    bridging: AtomicBool,
    keys: Mutex<HashSet<String>>,
}

impl FedEvents {
    /// Remembers an event the feed is about to publish on the hub, if a bridge would see it.
    pub(crate) fn mark(&self, event: &LiveEvent) {
        if self.bridging.load(Ordering::SeqCst)
            && let Some(key) = fed_key(event)
        {
            self.keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
        }
    }

    /// Whether the bridge should skip `event` (it came from Kafka); forgets it.
    fn take(&self, event: &LiveEvent) -> bool {
        fed_key(event).is_some_and(|k| {
            self.keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&k)
        })
    }
}

/// Identifies one alert or mission state, to recognise it on its way back.
fn fed_key(event: &LiveEvent) -> Option<String> {
    match event {
        LiveEvent::Alert(a) => Some(format!("alert:{}:{}", a.id, a.cleared_at.is_some())),
        LiveEvent::Mission(m) => Some(format!(
            "mission:{}:{}:{}",
            m.id,
            m.status.as_str(),
            m.completed_waypoints
        )),
        LiveEvent::Update(_) | LiveEvent::Command(_) => None,
    }
}

impl std::fmt::Debug for KafkaEventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaEventPublisher")
            .finish_non_exhaustive()
    }
}

impl KafkaEventPublisher {
    pub fn new(config: &KafkaConfig, settings: &ProducerSettings) -> Result<Self> {
        Ok(KafkaEventPublisher {
            producer: reliable_producer(config, settings, "event-publisher")?,
            processed_topic: config.topics.telemetry_processed.clone(),
            alerts_topic: config.topics.alerts.clone(),
            missions_topic: config.topics.missions.clone(),
            instance_id: format!("{}-{}", config.client_id, uuid::Uuid::new_v4().simple()),
            fed: Arc::default(),
        })
    }

    /// This server instance's id, sent in the [`ORIGIN_HEADER`] of every record.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn origin(&self) -> OwnedHeaders {
        OwnedHeaders::new().insert(Header {
            key: ORIGIN_HEADER,
            value: Some(&self.instance_id),
        })
    }

    /// Validated, enriched readings (key vehicle id), for every server instance's live hub.
    pub async fn publish_processed(&self, readings: &[Reading]) -> Result<()> {
        let mut out = Vec::with_capacity(readings.len());
        for r in readings {
            out.push(Outgoing {
                key: &r.telemetry.vehicle_id,
                payload: to_json(r)?,
                headers: Some(self.origin()),
            });
        }
        send_all(&self.producer, &self.processed_topic, out)
            .await
            .map(|_| ())
    }

    /// An alert episode raised or cleared (key fleet id).
    pub async fn publish_alert(&self, alert: &Alert) -> Result<Delivered> {
        let out = vec![Outgoing {
            key: &alert.fleet_id,
            payload: to_json(alert)?,
            headers: Some(self.origin()),
        }];
        Ok(send_all(&self.producer, &self.alerts_topic, out).await?[0])
    }

    /// A mission created or changed (key mission id).
    pub async fn publish_mission(&self, mission: &Mission) -> Result<Delivered> {
        let out = vec![Outgoing {
            key: &mission.id,
            payload: to_json(mission)?,
            headers: Some(self.origin()),
        }];
        Ok(send_all(&self.producer, &self.missions_topic, out).await?[0])
    }

    /// Waits until every record enqueued so far (processed readings, alerts, mission events)
    /// has been delivered, or `timeout` has passed. [`ReadingObserver::observe`] only enqueues,
    /// and dropping a producer discards what it still holds: a graceful stop flushes first.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .flush(timeout)
            .map_err(|e| kafka_error("flushing the event publisher", e))
    }

    /// Forwards every alert and mission event of `hub` (all fleets) until the hub closes.
    /// Alerts are never coalesced by the hub, so none is skipped. Events a
    /// [`crate::KafkaLiveFeed`] brought from other instances are not sent back.
    pub fn bridge_hub(self: Arc<Self>, hub: &LiveHub) -> tokio::task::JoinHandle<()> {
        let mut sub = hub.subscribe(ALL_FLEETS);
        self.fed.bridging.store(true, Ordering::SeqCst);
        tokio::spawn(async move {
            while let Some(event) = sub.recv().await {
                if self.fed.take(&event) {
                    continue;
                }
                let result = match &event {
                    LiveEvent::Alert(a) => self.publish_alert(a).await.map(|_| ()),
                    LiveEvent::Mission(m) => self.publish_mission(m).await.map(|_| ()),
                    LiveEvent::Update(_) | LiveEvent::Command(_) => Ok(()),
                };
                if let Err(e) = result {
                    warn!(error = %e, "publishing a live event to Kafka failed");
                }
            }
        })
    }
}

impl ReadingObserver for KafkaEventPublisher {
    /// Enqueues the readings without waiting (observers must not block); librdkafka delivers
    /// them in the background and reports failures in the log.
    fn observe(&self, readings: &[Reading]) {
        for r in readings {
            let Ok(payload) = to_json(r) else { continue };
            let record = FutureRecord::to(&self.processed_topic)
                .key(&r.telemetry.vehicle_id)
                .payload(&payload)
                .headers(self.origin());
            if let Err((e, _)) = self.producer.send_result(record) {
                warn!(error = %e, "processed telemetry not published");
            }
        }
    }
}

/// Sends invalid readings to the dead-letter topic: the original bytes as the value (key: the
/// source partition, so one partition's rejects stay in order), and in headers the reason,
/// the offending field, the source topic/partition/offset and when it was rejected.
pub struct KafkaDeadLetterSink {
    producer: FutureProducer<LoggingContext>,
    topic: String,
}

impl std::fmt::Debug for KafkaDeadLetterSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaDeadLetterSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaDeadLetterSink {
    pub fn new(config: &KafkaConfig, settings: &ProducerSettings) -> Result<Self> {
        Ok(KafkaDeadLetterSink {
            producer: reliable_producer(config, settings, "dead-letters")?,
            topic: config.topics.dead_letters.clone(),
        })
    }

    fn headers(letter: &DeadLetter) -> OwnedHeaders {
        use dead_letter_headers::*;
        let partition = letter.origin.partition.to_string();
        let offset = letter.origin.offset.to_string();
        let at = letter.at.to_rfc3339();
        OwnedHeaders::new()
            .insert(Header {
                key: REASON,
                value: Some(&letter.reason),
            })
            .insert(Header {
                key: FIELD,
                value: Some(&letter.field),
            })
            .insert(Header {
                key: SOURCE_TOPIC,
                value: Some(&letter.origin.stream),
            })
            .insert(Header {
                key: SOURCE_PARTITION,
                value: Some(&partition),
            })
            .insert(Header {
                key: SOURCE_OFFSET,
                value: Some(&offset),
            })
            .insert(Header {
                key: REJECTED_AT,
                value: Some(&at),
            })
    }
}

#[async_trait]
impl DeadLetterSink for KafkaDeadLetterSink {
    async fn send(&self, letters: Vec<DeadLetter>) -> Result<()> {
        let keys: Vec<String> = letters
            .iter()
            .map(|l| format!("{}-{}", l.origin.stream, l.origin.partition))
            .collect();
        let out = letters
            .iter()
            .zip(&keys)
            .map(|(l, k)| Outgoing {
                key: k,
                payload: l.payload.clone(),
                headers: Some(Self::headers(l)),
            })
            .collect();
        send_all(&self.producer, &self.topic, out).await.map(|_| ())
    }
}
