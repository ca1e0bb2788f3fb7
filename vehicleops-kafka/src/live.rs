//! [`KafkaLiveFeed`]: fills a server instance's [`LiveHub`] from the event topics, so WebSocket
//! clients of any instance see the whole fleet while each instance ingests only its share of the
//! raw topic's partitions.
//!
//! It reads `fleet.telemetry.processed`, `fleet.alerts.triggered` and `fleet.missions.events`
//! in a consumer group of its own (every instance gets every record), from the newest records or
//! from the beginning of what the topics retain, and
//! - turns processed readings into live updates (carrying the vehicle's open alert types, which
//!   it tracks from the alerts topic) — the hub coalesces them per subscriber;
//! - publishes alerts and mission changes as hub events (never coalesced).
//!
//! Records this instance published itself (same `vehicleops.origin`) are skipped: the local
//! pipeline already put them on the hub. Events the feed puts on the hub are not sent back to
//! Kafka by this instance's [`KafkaEventPublisher::bridge_hub`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use tracing::{info, warn};
use vehicleops_core::hub::{LiveEvent, LiveHub, LiveUpdate};
use vehicleops_core::{Alert, AlertType, Error, Mission, Reading, Result};

use crate::config::KafkaConfig;
use crate::context::{LoggingContext, kafka_error};
use crate::producer::{FedEvents, KafkaEventPublisher, ORIGIN_HEADER};

/// Most records turned into hub updates at once.
const MAX_UPDATES_PER_PUBLISH: usize = 1000;

/// A running feed; stops when dropped or [`KafkaLiveFeed::close`]d.
pub struct KafkaLiveFeed {
    stop: Arc<AtomicBool>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for KafkaLiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLiveFeed").finish_non_exhaustive()
    }
}

/// What the feed thread needs to know and keeps.
struct Feed {
    hub: LiveHub,
    topics: (String, String, String),
    own_origin: Option<String>,
    fed: Option<Arc<FedEvents>>,
    /// Open alert types per vehicle, from the alerts topic.
    open_alerts: HashMap<String, BTreeSet<AlertType>>,
    /// The last update the feed published per vehicle, re-sent when its open alerts change
    /// (an alert travels on its own topic and may arrive after the reading that raised it).
    last_fed: HashMap<String, Arc<LiveUpdate>>,
    updates: Vec<Arc<LiveUpdate>>,
}

impl KafkaLiveFeed {
    /// Starts feeding `hub`. Pass this instance's event publisher, if it has one, so its own
    /// events are skipped and fed events are not bridged back. With `from_beginning`, the feed
    /// first replays what the topics retain (6 h of processed telemetry), so a new instance's
    /// hub knows every vehicle's latest state at once; otherwise it starts with new records.
    pub fn start(
        config: &KafkaConfig,
        hub: LiveHub,
        local: Option<&KafkaEventPublisher>,
        from_beginning: bool,
    ) -> Result<Self> {
        config.validate()?;
        let group = format!(
            "{}.live.{}",
            config.group_id,
            local.map_or_else(
                || uuid::Uuid::new_v4().simple().to_string(),
                |p| p.instance_id().to_owned()
            )
        );
        let consumer: BaseConsumer<LoggingContext> = config
            .consumer_config(&group)
            .set("enable.auto.commit", "false")
            .set(
                "auto.offset.reset",
                if from_beginning { "earliest" } else { "latest" },
            )
            .set("fetch.wait.max.ms", "10")
            .create_with_context(LoggingContext {
                client: "live-feed",
            })
            .map_err(|e| kafka_error("creating the live feed consumer", e))?;
        let t = &config.topics;
        consumer
            .subscribe(&[&t.telemetry_processed, &t.alerts, &t.missions])
            .map_err(|e| kafka_error("subscribing the live feed", e))?;
        let mut feed = Feed {
            hub,
            topics: (
                t.telemetry_processed.clone(),
                t.alerts.clone(),
                t.missions.clone(),
            ),
            own_origin: local.map(|p| p.instance_id().to_owned()),
            fed: local.map(|p| p.fed.clone()),
            open_alerts: HashMap::new(),
            last_fed: HashMap::new(),
            updates: Vec::new(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kafka-live-feed".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::SeqCst) {
                    feed.poll(&consumer);
                }
            })
            .map_err(|e| Error::backend("kafka", e))?;
        info!(group, "Kafka live feed started");
        Ok(KafkaLiveFeed {
            stop,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Stops the feed and waits for its thread.
    pub fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for KafkaLiveFeed {
    fn drop(&mut self) {
        self.close();
    }
}

impl Feed {
    /// Handles what one poll (and whatever is already fetched) brings.
    fn poll(&mut self, consumer: &BaseConsumer<LoggingContext>) {
        let mut timeout = Duration::from_millis(100);
        while self.updates.len() < MAX_UPDATES_PER_PUBLISH {
            match consumer.poll(timeout) {
                Some(Ok(m)) => self.handle(&m),
                Some(Err(e)) => {
                    warn!(error = %e, "Kafka live feed error; retrying");
                    break;
                }
                None => break,
            }
            timeout = Duration::ZERO;
        }
        if !self.updates.is_empty() {
            self.hub.publish_updates(&self.updates);
            self.updates.clear();
        }
    }

    fn handle(&mut self, m: &BorrowedMessage<'_>) {
        let own = self.own_origin.as_deref().is_some_and(|own| {
            m.headers().is_some_and(|h| {
                h.iter()
                    .any(|x| x.key == ORIGIN_HEADER && x.value == Some(own.as_bytes()))
            })
        });
        let payload = m.payload().unwrap_or_default();
        let topic = m.topic();
        let decoded = if topic == self.topics.0 {
            serde_json::from_slice::<Reading>(payload).map(|r| {
                if !own {
                    let open = self
                        .open_alerts
                        .get(&r.telemetry.vehicle_id)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default();
                    let update = Arc::new(LiveUpdate::from_reading(&r.telemetry, open));
                    self.last_fed
                        .insert(r.telemetry.vehicle_id.clone(), update.clone());
                    self.updates.push(update);
                }
            })
        } else if topic == self.topics.1 {
            serde_json::from_slice::<Alert>(payload).map(|a| {
                // Track open alerts from every instance, our own included.
                let open = self.open_alerts.entry(a.vehicle_id.clone()).or_default();
                let changed = if a.cleared_at.is_none() {
                    open.insert(a.alert_type.clone())
                } else {
                    open.remove(&a.alert_type)
                };
                let alerts: Vec<AlertType> = open.iter().cloned().collect();
                if changed && let Some(last) = self.last_fed.get_mut(&a.vehicle_id) {
                    let mut update = (**last).clone();
                    update.alerts = alerts;
                    *last = Arc::new(update);
                    self.updates.push(last.clone());
                }
                if !own {
                    self.publish(LiveEvent::Alert(Arc::new(a)));
                }
            })
        } else {
            serde_json::from_slice::<Mission>(payload).map(|mission| {
                if !own {
                    self.publish(LiveEvent::Mission(Arc::new(mission)));
                }
            })
        };
        if let Err(e) = decoded {
            warn!(
                topic,
                partition = m.partition(),
                offset = m.offset(),
                error = %e,
                "skipping an undecodable live event"
            );
        }
    }

    fn publish(&mut self, event: LiveEvent) {
        // Updates first, so an alert never overtakes the reading that raised it.
        if !self.updates.is_empty() {
            self.hub.publish_updates(&self.updates);
            self.updates.clear();
        }
        if let Some(fed) = &self.fed {
            fed.mark(&event);
        }
        self.hub.publish_event(event);
    }
}
