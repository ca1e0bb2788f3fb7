//! Commands over Kafka, both ends.
//!
//! - Platform side, [`KafkaCommandSink`] ([`CommandSink`]): each command goes to
//!   `fleet.commands` as JSON keyed by vehicle id (so one vehicle's commands stay in order),
//!   through an idempotent `acks=all` producer; the receipt names the partition and offset.
//!   Acknowledgements come back from `fleet.commands.acks` and are handed out by
//!   [`CommandSink::next_ack`], which is what [`vehicleops_core::CommandCenter`] drives the
//!   lifecycle from.
//! - Vehicle side, [`KafkaVehicleLink`] ([`VehicleCommandLink`]): consumes `fleet.commands`
//!   into a local buffer and hands out STOP before anything else; acknowledgements are produced
//!   to `fleet.commands.acks`. A command past its `expires_at` when polled is never handed out:
//!   the link acknowledges it EXPIRED itself.
//!
//! STOP never waits behind other commands: dispatch sends each command at once (no queue on
//! the platform side), and the vehicle side reorders what it has received.
//!
//! The vehicle side commits its position automatically: a command is a lifecycle event whose
//! loss the command center's timeouts cover. The platform side reads acknowledgements in a
//! consumer group of its own from the start of what the topic retains (1 h), so every server
//! instance sees every ack; the command center applies those of the commands it dispatched and
//! its state machine ignores the rest and any replay.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tracing::{info, warn};
use vehicleops_core::VehicleCommandLink;
use vehicleops_core::inproc::refuse_expired;
use vehicleops_core::{
    Command, CommandAck, CommandKind, CommandSink, DispatchReceipt, Error, Result,
};

use crate::config::KafkaConfig;
use crate::context::{LoggingContext, kafka_error};
use crate::producer::{Outgoing, ProducerSettings, reliable_producer, send_all};

/// A consumer thread that decodes JSON records of type `T` and passes them to `deliver`
/// until `stop` is set or `deliver` returns false.
struct JsonConsumer {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl JsonConsumer {
    /// `commit`: whether the group's position is committed (automatically) — for groups that
    /// resume after a restart; throwaway groups read from the start instead.
    fn start<T: DeserializeOwned + Send + 'static>(
        config: &KafkaConfig,
        client: &'static str,
        group_id: &str,
        topic: &str,
        commit: bool,
        mut deliver: impl FnMut(T) -> bool + Send + 'static,
    ) -> Result<Self> {
        config.validate()?;
        let consumer: BaseConsumer<LoggingContext> = config
            .consumer_config(group_id)
            .set("enable.auto.commit", commit.to_string())
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("fetch.wait.max.ms", "20")
            .create_with_context(LoggingContext { client })
            .map_err(|e| kafka_error("creating a command consumer", e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| kafka_error("subscribing to a command topic", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let topic_name = topic.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("kafka-{client}"))
            .spawn(move || {
                while !stop_flag.load(Ordering::SeqCst) {
                    match consumer.poll(Duration::from_millis(100)) {
                        Some(Ok(m)) => {
                            let payload = m.payload().unwrap_or_default();
                            match serde_json::from_slice::<T>(payload) {
                                Ok(value) => {
                                    if !deliver(value) {
                                        break;
                                    }
                                }
                                Err(e) => warn!(
                                    topic = %topic_name,
                                    partition = m.partition(),
                                    offset = m.offset(),
                                    error = %e,
                                    "skipping an undecodable record"
                                ),
                            }
                        }
                        Some(Err(e)) => warn!(error = %e, "Kafka consumer error; retrying"),
                        None => {}
                    }
                }
                // Dropping the consumer leaves the group and commits what was consumed.
                drop(consumer);
            })
            .map_err(|e| Error::backend("kafka", e))?;
        Ok(JsonConsumer {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for JsonConsumer {
    fn drop(&mut self) {
        self.close();
    }
}

/// The platform's command transport over Kafka.
pub struct KafkaCommandSink {
    producer: FutureProducer<LoggingContext>,
    topic: String,
    acks: AsyncMutex<mpsc::Receiver<CommandAck>>,
    ack_consumer: JsonConsumer,
}

impl std::fmt::Debug for KafkaCommandSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCommandSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaCommandSink {
    /// Produces to `config.topics.commands` and consumes acknowledgements from
    /// `config.topics.command_acks` in a group of its own, `<group_id>.command-acks.<random>`.
    pub fn new(config: &KafkaConfig, settings: &ProducerSettings) -> Result<Self> {
        let producer = reliable_producer(config, settings, "command-sink")?;
        let (tx, rx) = mpsc::channel(1024);
        // A group of its own: every instance sees every ack and applies those of the commands
        // it dispatched (the command center ignores the others).
        let ack_consumer = JsonConsumer::start::<CommandAck>(
            config,
            "command-acks",
            &format!(
                "{}.command-acks.{}",
                config.group_id,
                uuid::Uuid::new_v4().simple()
            ),
            &config.topics.command_acks,
            false,
            move |ack| tx.blocking_send(ack).is_ok(),
        )?;
        info!(topic = %config.topics.commands, "Kafka command sink started");
        Ok(KafkaCommandSink {
            producer,
            topic: config.topics.commands.clone(),
            acks: AsyncMutex::new(rx),
            ack_consumer,
        })
    }

    /// Stops consuming acknowledgements; `next_ack` then returns what is queued, then `None`.
    pub fn close(&self) {
        self.ack_consumer.close();
    }
}

#[async_trait]
impl CommandSink for KafkaCommandSink {
    async fn dispatch(&self, command: &Command) -> Result<DispatchReceipt> {
        let payload = serde_json::to_vec(command).map_err(|e| Error::backend("json", e))?;
        let delivered = send_all(
            &self.producer,
            &self.topic,
            vec![Outgoing {
                key: &command.vehicle_id,
                payload,
                headers: None,
            }],
        )
        .await?;
        let d = delivered[0];
        Ok(DispatchReceipt {
            command_id: command.id.clone(),
            accepted_at: Utc::now(),
            transport_ref: Some(format!("{}[{}]@{}", self.topic, d.partition, d.offset)),
        })
    }

    async fn next_ack(&self) -> Option<CommandAck> {
        self.acks.lock().await.recv().await
    }
}

/// Commands received by a vehicle-side link, STOP kept apart so it goes first.
#[derive(Debug, Default)]
struct Inbox {
    /// The vehicles served here; `None` for all.
    vehicles: Option<HashSet<String>>,
    stops: VecDeque<Command>,
    others: VecDeque<Command>,
}

impl Inbox {
    fn push(&mut self, command: Command) {
        if self
            .vehicles
            .as_ref()
            .is_some_and(|v| !v.contains(&command.vehicle_id))
        {
            return;
        }
        if command.command == CommandKind::Stop {
            self.stops.push_back(command);
        } else {
            self.others.push_back(command);
        }
    }

    /// Up to `max` commands still within their expiry at `now`, STOP first, and the EXPIRED
    /// acknowledgements of the late ones taken out on the way.
    fn take(&mut self, max: usize, now: DateTime<Utc>) -> (Vec<Command>, Vec<CommandAck>) {
        let mut out = Vec::new();
        let mut late = Vec::new();
        while out.len() < max {
            match self.stops.pop_front().or_else(|| self.others.pop_front()) {
                Some(c) if c.is_expired_at(now) => late.push(c),
                Some(c) => out.push(c),
                None => break,
            }
        }
        let (_, refusals) = refuse_expired(late, now);
        (out, refusals)
    }
}

/// The vehicle side of the Kafka command transport (a simulator or a vehicle gateway).
pub struct KafkaVehicleLink {
    inbox: Arc<Mutex<Inbox>>,
    consumer: JsonConsumer,
    producer: FutureProducer<LoggingContext>,
    acks_topic: String,
}

impl std::fmt::Debug for KafkaVehicleLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaVehicleLink").finish_non_exhaustive()
    }
}

impl KafkaVehicleLink {
    /// Consumes `config.topics.commands` in the consumer group `group_id` and produces
    /// acknowledgements to `config.topics.command_acks`.
    ///
    /// One process serving every vehicle (the simulator) passes `vehicles: None`. Several
    /// processes, each serving some vehicles, each use a group of their own (every process sees
    /// every command) and pass the vehicles they serve; commands for others are skipped.
    pub fn new(
        config: &KafkaConfig,
        group_id: &str,
        vehicles: Option<HashSet<String>>,
        settings: &ProducerSettings,
    ) -> Result<Self> {
        let inbox = Arc::new(Mutex::new(Inbox {
            vehicles,
            ..Inbox::default()
        }));
        let sink = inbox.clone();
        let consumer = JsonConsumer::start::<Command>(
            config,
            "vehicle-link",
            group_id,
            &config.topics.commands,
            true,
            move |command: Command| {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(command);
                true
            },
        )?;
        Ok(KafkaVehicleLink {
            inbox,
            consumer,
            producer: reliable_producer(config, settings, "vehicle-acks")?,
            acks_topic: config.topics.command_acks.clone(),
        })
    }

    /// Commands received and not yet taken by [`VehicleCommandLink::poll_commands`].
    pub fn buffered(&self) -> usize {
        let inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        inbox.stops.len() + inbox.others.len()
    }

    /// Stops consuming commands.
    pub fn close(&self) {
        self.consumer.close();
    }
}

#[async_trait]
impl VehicleCommandLink for KafkaVehicleLink {
    /// Commands past their expiry are dropped and acknowledged EXPIRED here, so a vehicle
    /// behind this link never receives them (e.g. ones sent while it was away).
    async fn poll_commands(&self, max: usize) -> Result<Vec<Command>> {
        let now = Utc::now();
        let (taken, refusals) = self
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(max, now);
        if !refusals.is_empty() {
            // The command center's sweep expires them anyway if this answer cannot get through.
            if let Err(e) = self.send_acks(refusals).await {
                warn!(error = %e, "could not acknowledge expired commands");
            }
        }
        Ok(taken)
    }

    async fn send_acks(&self, acks: Vec<CommandAck>) -> Result<()> {
        let mut out = Vec::with_capacity(acks.len());
        for a in &acks {
            out.push(Outgoing {
                key: &a.vehicle_id,
                payload: serde_json::to_vec(a).map_err(|e| Error::backend("json", e))?,
                headers: None,
            });
        }
        send_all(&self.producer, &self.acks_topic, out)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vehicleops_core::CommandParams;

    fn command(id: &str, kind: CommandKind) -> Command {
        let mut c = Command::new("VH-1", "fleet-001", kind, CommandParams::default(), "op-1")
            .expect("valid command");
        c.id = id.into();
        c
    }

    #[test]
    fn inbox_hands_out_stop_before_earlier_commands_and_keeps_the_rest_in_order() {
        let mut inbox = Inbox::default();
        inbox.push(command("c1", CommandKind::Resume));
        inbox.push(command("c2", CommandKind::ReturnToBase));
        inbox.push(command("c3", CommandKind::Stop));
        let ids: Vec<String> = inbox
            .take(2, Utc::now())
            .0
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["c3", "c1"]);
        let ids: Vec<String> = inbox
            .take(10, Utc::now())
            .0
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["c2"]);
        assert!(inbox.take(10, Utc::now()).0.is_empty());
    }

    #[test]
    fn inbox_refuses_commands_past_their_expiry() {
        let now = Utc::now();
        let mut inbox = Inbox::default();
        let mut late_stop = command("c1", CommandKind::Stop);
        late_stop.expires_at = Some(now - chrono::Duration::seconds(1));
        inbox.push(late_stop);
        let mut in_time = command("c2", CommandKind::Resume);
        in_time.expires_at = Some(now + chrono::Duration::seconds(30));
        inbox.push(in_time);
        inbox.push(command("c3", CommandKind::ReturnToBase));
        let (taken, refused) = inbox.take(2, now);
        let ids: Vec<String> = taken.into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["c2", "c3"], "the late one does not count against max");
        assert_eq!(refused.len(), 1);
        assert_eq!(
            (refused[0].command_id.as_str(), refused[0].status),
            ("c1", vehicleops_core::CommandStatus::Expired)
        );
        assert!(
            refused[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("after its expiry")
        );
    }

    #[test]
    fn inbox_of_a_process_serving_some_vehicles_skips_the_others() {
        let mut inbox = Inbox {
            vehicles: Some(HashSet::from(["VH-2".to_owned()])),
            ..Inbox::default()
        };
        inbox.push(command("c1", CommandKind::Stop)); // for VH-1
        let mut mine = command("c2", CommandKind::Resume);
        mine.vehicle_id = "VH-2".into();
        inbox.push(mine);
        let ids: Vec<String> = inbox
            .take(10, Utc::now())
            .0
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["c2"]);
    }
}
