//! A plain Kafka consumer on the raw topic beside the server's: publish → consume latency of
//! the same records with the server's fetch settings, so the report can tell Kafka's share of
//! the end-to-end latency from the pipeline's and the WebSocket's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde::Deserialize;

use crate::ws::{WsCounters, histogram};

#[derive(Deserialize)]
struct Stamp {
    timestamp: DateTime<Utc>,
}

/// The tap while it runs.
pub struct KafkaTap {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Histogram<u64>>,
}

impl KafkaTap {
    /// Subscribes in a group of its own, from the end of the topic; records latencies while
    /// `measuring` (shared with the WebSocket clients) is set.
    pub fn start(bootstrap: &str, topic: &str, group: &str, gate: Arc<WsCounters>) -> Result<Self> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .set("fetch.min.bytes", "1")
            .set("fetch.wait.max.ms", "50")
            .create()
            .context("creating the Kafka tap")?;
        consumer.subscribe(&[topic])?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kafka-tap".into())
            .spawn(move || {
                let mut hist = histogram();
                while !stop_flag.load(Ordering::Relaxed) {
                    let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
                        continue;
                    };
                    let now = Utc::now();
                    if !gate.measuring.load(Ordering::Relaxed) {
                        continue;
                    }
                    if let Some(Ok(s)) = m.payload().map(serde_json::from_slice::<Stamp>) {
                        let us = (now - s.timestamp).num_microseconds().unwrap_or(i64::MAX);
                        hist.saturating_record(us.max(1) as u64);
                    }
                }
                hist
            })?;
        Ok(KafkaTap { stop, thread })
    }

    pub fn finish(self) -> Histogram<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| histogram())
    }
}
