//! WebSocket clients of `/ws/fleet/{id}`: each records, for every vehicle update of the run's
//! vehicles, the time from the reading's timestamp (its publish time) to its arrival.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Highest latency the histograms track, in microseconds (larger values are clamped).
const MAX_LATENCY_US: u64 = 600_000_000;

/// The fields of a frame the clients look at. Vehicle updates are bare objects; every other
/// frame has a `type`.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    vehicle_id: Option<&'a str>,
    timestamp: Option<DateTime<Utc>>,
}

/// A new latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Shared state of all clients.
#[derive(Debug, Default)]
pub struct WsCounters {
    /// Updates of the run's vehicles received, over all clients.
    pub updates: AtomicU64,
    /// Latencies are recorded only while this is set (after warm-up).
    pub measuring: AtomicBool,
    /// Set to end every client.
    pub stop: AtomicBool,
}

/// Connected clients.
pub struct WsClients {
    pub counters: Arc<WsCounters>,
    tasks: Vec<JoinHandle<Result<Histogram<u64>>>>,
}

impl WsClients {
    /// Connects `count` clients to `ws_url` (with the token) before the load starts, so every
    /// client sees every update of the run.
    pub async fn connect(ws_url: &str, count: usize, prefix: &str) -> Result<Self> {
        let counters = Arc::new(WsCounters::default());
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (stream, _) = tokio_tungstenite::connect_async(ws_url)
                .await
                .with_context(|| format!("connecting a WebSocket client to {}", redact(ws_url)))?;
            let counters = counters.clone();
            let prefix = prefix.to_owned();
            tasks.push(tokio::spawn(async move {
                let (_tx, mut rx) = stream.split();
                let mut hist = histogram();
                while !counters.stop.load(Ordering::Relaxed) {
                    let next =
                        tokio::time::timeout(std::time::Duration::from_millis(200), rx.next());
                    let msg = match next.await {
                        Err(_) => continue,
                        Ok(None) => break,
                        Ok(Some(m)) => m.context("WebSocket read")?,
                    };
                    let Message::Text(text) = msg else { continue };
                    let now = Utc::now();
                    let Ok(frame) = serde_json::from_str::<Frame<'_>>(&text) else {
                        continue;
                    };
                    if frame.kind.is_some()
                        || !frame.vehicle_id.is_some_and(|v| v.starts_with(&prefix))
                    {
                        continue;
                    }
                    counters.updates.fetch_add(1, Ordering::Relaxed);
                    if let Some(ts) = frame.timestamp
                        && counters.measuring.load(Ordering::Relaxed)
                    {
                        let us = (now - ts).num_microseconds().unwrap_or(i64::MAX).max(1) as u64;
                        hist.saturating_record(us.min(MAX_LATENCY_US));
                    }
                }
                Ok(hist)
            }));
        }
        Ok(WsClients { counters, tasks })
    }

    /// Stops every client and merges their histograms.
    pub async fn finish(self) -> Result<Histogram<u64>> {
        self.counters.stop.store(true, Ordering::Relaxed);
        let mut all = histogram();
        for task in self.tasks {
            let h = task.await.context("WebSocket client task")??;
            all.add(&h).context("merging histograms")?;
        }
        Ok(all)
    }
}

/// `url` without its token, for messages.
fn redact(url: &str) -> &str {
    url.split_once("?token=").map_or(url, |(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_frames_parse_and_typed_frames_are_told_apart() {
        let update = r#"{"vehicle_id":"ld-1-00001","fleet_id":"fleet-001","latitude":4.6,"alerts":[],"seq":3,"timestamp":"2026-11-27T16:00:00.123456Z"}"#;
        let f: Frame<'_> = serde_json::from_str(update).unwrap();
        assert_eq!(f.kind, None);
        assert_eq!(f.vehicle_id, Some("ld-1-00001"));
        assert_eq!(f.timestamp.unwrap().timestamp_subsec_micros(), 123_456);
        let alert = r#"{"type":"ALERT","payload":{"vehicle_id":"x"}}"#;
        let f: Frame<'_> = serde_json::from_str(alert).unwrap();
        assert_eq!(f.kind, Some("ALERT"));
    }

    #[test]
    fn redact_hides_the_token() {
        assert_eq!(
            redact("ws://h/ws/fleet/f?token=secret"),
            "ws://h/ws/fleet/f"
        );
    }
}
