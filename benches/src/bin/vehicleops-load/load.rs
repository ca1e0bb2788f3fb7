//! The offered load: readings of N simulated vehicles at a fixed rate, each stamped with the
//! wall-clock time it is handed to the transport, so a receiver can compute publish → receive
//! latency from the reading alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use vehicleops_core::{Telemetry, VehicleStatus};
use vehicleops_engine::Engine;

/// Generates the readings: vehicle `i` of `vehicles` is `{prefix}-{i:05}` and its readings carry
/// seq 1, 2, 3, … so the store can be checked for exactly that set afterwards.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub fleet_id: String,
    ids: Vec<String>,
    /// Readings generated so far per vehicle (= the highest seq handed out).
    pub sent: Vec<u64>,
    next: usize,
}

impl Fleet {
    pub fn new(prefix: &str, fleet_id: &str, vehicles: usize) -> Self {
        Fleet {
            fleet_id: fleet_id.to_owned(),
            ids: (0..vehicles).map(|i| format!("{prefix}-{i:05}")).collect(),
            sent: vec![0; vehicles],
            next: 0,
        }
    }

    /// The next reading, round-robin over the vehicles, stamped now. Values stay inside every
    /// default alert threshold, so the load measures ingest, not alert bookkeeping.
    pub fn next_reading(&mut self) -> Telemetry {
        let i = self.next;
        self.next = (self.next + 1) % self.ids.len();
        self.sent[i] += 1;
        let seq = self.sent[i];
        let step = (seq % 600) as f64;
        Telemetry {
            vehicle_id: self.ids[i].clone(),
            fleet_id: self.fleet_id.clone(),
            latitude: 4.60 + (i % 100) as f64 * 0.001 + step * 0.00001,
            longitude: -74.08 + (i / 100) as f64 * 0.001,
            speed_kmh: 20.0 + (seq % 40) as f64,
            battery_pct: 90.0 - step * 0.1,
            engine_temp_c: 70.0 + (seq % 20) as f64,
            load_pct: 40.0,
            status: VehicleStatus::Moving,
            timestamp: Utc::now(),
            heading_deg: 0.0,
            seq,
            pose: None,
        }
    }

    /// Every vehicle id, in generation order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Total readings generated.
    pub fn total(&self) -> u64 {
        self.sent.iter().sum()
    }
}

/// Counts the brokers' acknowledgements of produced records.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    pub acked: AtomicU64,
    pub failed: AtomicU64,
}

/// Counts every delivery report.
pub struct CountingContext(pub Arc<DeliveryCounts>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.acked.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                tracing::error!(error = %e, "record not delivered");
                self.0.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Where the readings go.
pub enum Transport {
    /// A Kafka topic, with the same producer settings as the SDK's telemetry publisher
    /// (idempotent, `acks=all`, LZ4), keyed by vehicle id.
    Kafka {
        producer: ThreadedProducer<CountingContext>,
        topic: String,
    },
    /// The in-process bus of an embedded server.
    InProcess(Engine),
}

impl Transport {
    pub fn kafka(
        bootstrap: &str,
        topic: &str,
        linger_ms: u64,
    ) -> Result<(Self, Arc<DeliveryCounts>)> {
        let counts = Arc::new(DeliveryCounts::default());
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger_ms.to_string())
            .set("compression.type", "lz4")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .create_with_context(CountingContext(counts.clone()))
            .context("creating the Kafka producer")?;
        Ok((
            Transport::Kafka {
                producer,
                topic: topic.to_owned(),
            },
            counts,
        ))
    }

    /// Hands a batch to the transport (Kafka: enqueues; acknowledged later).
    pub async fn send_batch(&self, batch: Vec<Telemetry>, counts: &DeliveryCounts) -> Result<()> {
        match self {
            Transport::Kafka { producer, topic } => {
                for t in batch {
                    let payload = serde_json::to_vec(&t)?;
                    let mut record = BaseRecord::to(topic).key(&t.vehicle_id).payload(&payload);
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                r,
                            )) => {
                                record = r;
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                            Err((e, _)) => return Err(e).context("enqueueing a record"),
                        }
                    }
                }
            }
            Transport::InProcess(engine) => {
                let n = batch.len() as u64;
                engine.publish(batch).await?;
                // The bus takes ownership on return: that is this transport's acknowledgement.
                counts.acked.fetch_add(n, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Waits until every enqueued record is acknowledged (Kafka) — at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        if let Transport::Kafka { producer, .. } = self {
            producer.flush(timeout).context("flushing the producer")?;
        }
        Ok(())
    }
}

/// Live progress of the producer, read by the sampler.
#[derive(Debug, Default)]
pub struct ProducerProgress {
    /// Readings handed to the transport.
    pub generated: AtomicU64,
    /// Set when the pacing loop could not keep up with the target rate for a whole second.
    pub fell_behind: AtomicBool,
}

/// Publishes at `rate` readings/s until `stop` is set, in 1 ms slices: each slice sends what
/// the schedule says should have been sent by now, so short stalls are caught up rather than
/// lowering the offered rate. Returns the fleet with its per-vehicle counts.
pub async fn publish_at_rate(
    mut fleet: Fleet,
    transport: &Transport,
    counts: &DeliveryCounts,
    rate: u64,
    progress: &ProducerProgress,
    stop: &AtomicBool,
) -> Result<Fleet> {
    let began = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let due = (began.elapsed().as_secs_f64() * rate as f64) as u64;
        if due > sent + rate {
            progress.fell_behind.store(true, Ordering::Relaxed);
        }
        // At most 50 ms worth at once, so one catch-up burst cannot swamp the transport.
        let n = (due.saturating_sub(sent)).min((rate / 20).max(1));
        if n == 0 {
            continue;
        }
        let batch: Vec<Telemetry> = (0..n).map(|_| fleet.next_reading()).collect();
        transport.send_batch(batch, counts).await?;
        sent += n;
        progress.generated.store(sent, Ordering::Relaxed);
    }
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_round_robin_with_per_vehicle_sequences() {
        let mut fleet = Fleet::new("ld-x", "fleet-001", 3);
        let ids: Vec<(String, u64)> = (0..7)
            .map(|_| {
                let t = fleet.next_reading();
                (t.vehicle_id, t.seq)
            })
            .collect();
        assert_eq!(ids[0], ("ld-x-00000".to_owned(), 1));
        assert_eq!(ids[3], ("ld-x-00000".to_owned(), 2));
        assert_eq!(ids[6], ("ld-x-00000".to_owned(), 3));
        assert_eq!(ids[1], ("ld-x-00001".to_owned(), 1));
        assert_eq!(fleet.sent, vec![3, 2, 2]);
        assert_eq!(fleet.total(), 7);
    }

    #[test]
    fn generated_readings_pass_validation() {
        let mut fleet = Fleet::new("ld-x", "fleet-001", 250);
        for _ in 0..2000 {
            let t = fleet.next_reading();
            t.validate().expect("valid reading");
        }
    }
}
