//! An in-process transport, so the whole system can run in one process without a broker.
//!
//! Two independent pieces:
//!
//! - **Telemetry**: [`InProcessBus::new`] gives a cloneable [`InProcessPublisher`] (what the
//!   simulator publishes through, via the [`TelemetryPublisher`] trait) and an
//!   [`InProcessTelemetrySource`] (what the ingest pipeline reads, via [`TelemetrySource`]). The
//!   queue is bounded: a full queue makes publishers wait, nothing is ever dropped.
//! - **Commands**: [`command_channel`] gives the platform-side [`InProcessCommandSink`]
//!   ([`CommandSink`]) and the vehicle-side [`InProcessVehicleLink`] ([`VehicleCommandLink`]).
//!   STOP travels in its own lane, which the vehicle side always drains first, so it never waits
//!   behind queued RESUME/REROUTE/RETURN_TO_BASE commands.
//!
//! ```
//! # block_on(async {
//! use vehicleops_core::inproc::{InProcessBus, TelemetryPublisher};
//! use vehicleops_core::TelemetrySource;
//!
//! let InProcessBus { publisher, source } = InProcessBus::new(64);
//! publisher.publish_raw(b"{}".to_vec()).await.unwrap();
//! drop(publisher); // the last publisher gone: the source ends once drained
//! let batch = source.next_batch(10).await.unwrap().unwrap();
//! assert_eq!(batch.records.len(), 1);
//! assert!(source.next_batch(10).await.unwrap().is_none());
//! # });
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use async_trait::async_trait;
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, Notify, mpsc};

use crate::error::{Error, Result};
use crate::model::{Command, CommandAck, CommandKind, Telemetry};
use crate::traits::{
    CommandSink, DispatchReceipt, RecordOrigin, SourceBatch, SourceRecord, TelemetrySource,
};

pub use crate::traits::{ReadingPublisher, TelemetryPublisher, VehicleCommandLink};

/// The stream name raw records carry in their [`RecordOrigin`], for dead letters.
pub const INPROC_STREAM: &str = "inproc";

// ---------------------------------------------------------------------------------------------
// Telemetry
// ---------------------------------------------------------------------------------------------

/// A bounded in-process telemetry queue: publish on one side, read batches on the other.
#[derive(Debug)]
pub struct InProcessBus {
    pub publisher: InProcessPublisher,
    pub source: InProcessTelemetrySource,
}

impl InProcessBus {
    /// A bus holding at most `capacity` records (at least 1) before publishers wait.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        InProcessBus {
            publisher: InProcessPublisher { tx },
            source: InProcessTelemetrySource {
                rx: Mutex::new(rx),
                closing: AtomicBool::new(false),
                close_signal: Notify::new(),
            },
        }
    }
}

/// The sending side of an [`InProcessBus`]. Clone it for every producer; the source ends once
/// all clones are dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct InProcessPublisher {
    tx: mpsc::Sender<SourceRecord>,
}

impl InProcessPublisher {
    /// Publishes raw bytes, to be decoded (and possibly rejected) by the pipeline. This is how
    /// tests inject malformed payloads.
    pub async fn publish_raw(&self, payload: Vec<u8>) -> Result<()> {
        self.send(SourceRecord::Raw {
            payload,
            origin: RecordOrigin {
                stream: INPROC_STREAM.to_owned(),
                ..RecordOrigin::default()
            },
        })
        .await
    }

    async fn send(&self, record: SourceRecord) -> Result<()> {
        self.tx
            .send(record)
            .await
            .map_err(|_| Error::Closed("in-process telemetry bus"))
    }
}

#[async_trait]
impl TelemetryPublisher for InProcessPublisher {
    async fn publish(&self, batch: Vec<Telemetry>) -> Result<()> {
        // Record by record, so a batch larger than the queue still goes through as the
        // consumer makes room.
        for reading in batch {
            self.send(SourceRecord::Decoded(reading)).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ReadingPublisher for InProcessPublisher {
    async fn publish_raw(&self, payloads: Vec<Vec<u8>>) -> Result<()> {
        for payload in payloads {
            InProcessPublisher::publish_raw(self, payload).await?;
        }
        Ok(())
    }
}

/// The receiving side of an [`InProcessBus`].
#[derive(Debug)]
pub struct InProcessTelemetrySource {
    // `next_batch` takes `&self`; the lock is only contended if several tasks read one source.
    rx: Mutex<mpsc::Receiver<SourceRecord>>,
    // `close` must not wait for the lock a pending `next_batch` holds, so it only raises a flag
    // and wakes the reader, which closes the channel itself.
    closing: AtomicBool,
    close_signal: Notify,
}

impl InProcessTelemetrySource {
    /// Refuses further publishes; what is already queued can still be read, then the source
    /// ends. Safe to call while another task waits in `next_batch`.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::Release);
        match self.rx.try_lock() {
            Ok(mut rx) => rx.close(),
            // A reader is waiting with the receiver: it closes the channel as soon as it wakes.
            Err(_) => self.close_signal.notify_waiters(),
        }
    }
}

#[async_trait]
impl TelemetrySource for InProcessTelemetrySource {
    /// Waits for at least one record, then takes whatever else is queued, up to `max` (a `max`
    /// of 0 is read as 1). Batches carry no ack: the bus has no positions to commit.
    async fn next_batch(&self, max: usize) -> Result<Option<SourceBatch>> {
        let mut rx = self.rx.lock().await;
        let mut records = Vec::with_capacity(max.clamp(1, 1024));
        loop {
            let woken = self.close_signal.notified();
            tokio::pin!(woken);
            // Registered before the flag is read, so a `close` in between is not missed.
            woken.as_mut().enable();
            if self.closing.load(Ordering::Acquire) {
                rx.close();
            }
            tokio::select! {
                n = rx.recv_many(&mut records, max.max(1)) => {
                    return Ok((n > 0).then_some(SourceBatch { records, ack: None }));
                }
                // Closed meanwhile: loop to close the channel and drain what is queued.
                _ = woken => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// Splits received commands into those still within their expiry at `now`, in order, and the
/// EXPIRED acknowledgements of the rest: what a [`VehicleCommandLink`] hands out and what it
/// answers itself.
pub fn refuse_expired(
    commands: Vec<Command>,
    now: chrono::DateTime<Utc>,
) -> (Vec<Command>, Vec<CommandAck>) {
    let mut refused = Vec::new();
    let live = commands
        .into_iter()
        .filter(|c| {
            if !c.is_expired_at(now) {
                return true;
            }
            tracing::info!(command_id = %c.id, vehicle_id = %c.vehicle_id,
                expires_at = ?c.expires_at, "refusing a command that arrived after its expiry");
            refused.push(c.expired_ack(now));
            false
        })
        .collect();
    (live, refused)
}

/// A connected in-process command sink and vehicle link. Each lane (STOP, other commands, acks)
/// holds up to `capacity` messages (at least 1).
pub fn command_channel(capacity: usize) -> (InProcessCommandSink, InProcessVehicleLink) {
    let capacity = capacity.max(1);
    let (stop_tx, stop_rx) = mpsc::channel(capacity);
    let (normal_tx, normal_rx) = mpsc::channel(capacity);
    let (ack_tx, ack_rx) = mpsc::channel(capacity);
    (
        InProcessCommandSink {
            stop_tx,
            normal_tx,
            ack_rx: Mutex::new(ack_rx),
        },
        InProcessVehicleLink {
            lanes: Mutex::new(Lanes { stop_rx, normal_rx }),
            ack_tx,
        },
    )
}

/// The platform side of an in-process command transport.
#[derive(Debug)]
pub struct InProcessCommandSink {
    stop_tx: mpsc::Sender<Command>,
    normal_tx: mpsc::Sender<Command>,
    ack_rx: Mutex<mpsc::Receiver<CommandAck>>,
}

impl InProcessCommandSink {
    /// Stops accepting acknowledgements; [`CommandSink::next_ack`] returns what is queued, then
    /// `None`.
    pub async fn close(&self) {
        self.ack_rx.lock().await.close();
    }
}

#[async_trait]
impl CommandSink for InProcessCommandSink {
    /// Queues the command in its lane (STOP in the priority lane), waiting only if that lane
    /// is full. Fails with [`crate::ErrorKind::Closed`] once the vehicle link is dropped.
    async fn dispatch(&self, command: &Command) -> Result<DispatchReceipt> {
        let (lane, name) = if command.command == CommandKind::Stop {
            (&self.stop_tx, "inproc:stop")
        } else {
            (&self.normal_tx, "inproc:commands")
        };
        lane.send(command.clone())
            .await
            .map_err(|_| Error::Closed("in-process vehicle link"))?;
        Ok(DispatchReceipt {
            command_id: command.id.clone(),
            accepted_at: Utc::now(),
            transport_ref: Some(name.to_owned()),
        })
    }

    async fn next_ack(&self) -> Option<CommandAck> {
        self.ack_rx.lock().await.recv().await
    }
}

#[derive(Debug)]
struct Lanes {
    stop_rx: mpsc::Receiver<Command>,
    normal_rx: mpsc::Receiver<Command>,
}

/// The vehicle side of an in-process command transport.
#[derive(Debug)]
pub struct InProcessVehicleLink {
    lanes: Mutex<Lanes>,
    ack_tx: mpsc::Sender<CommandAck>,
}

#[async_trait]
impl VehicleCommandLink for InProcessVehicleLink {
    async fn poll_commands(&self, max: usize) -> Result<Vec<Command>> {
        let now = Utc::now();
        let mut out = Vec::new();
        let mut late = Vec::new();
        {
            let mut guard = self.lanes.lock().await;
            let lanes = &mut *guard;
            // The STOP lane is emptied first: a STOP dispatched after a RESUME still comes out
            // ahead of it.
            for lane in [&mut lanes.stop_rx, &mut lanes.normal_rx] {
                while out.len() < max {
                    match lane.try_recv() {
                        Ok(command) if command.is_expired_at(now) => late.push(command),
                        Ok(command) => out.push(command),
                        Err(_) => break,
                    }
                }
            }
        }
        let (_, refusals) = refuse_expired(late, now);
        // The command center's sweep expires them anyway if this answer cannot get through.
        if !refusals.is_empty() {
            if let Err(e) = self.send_acks(refusals).await {
                tracing::warn!(error = %e, "could not acknowledge expired commands");
            }
        }
        Ok(out)
    }

    async fn send_acks(&self, acks: Vec<CommandAck>) -> Result<()> {
        for ack in acks {
            self.ack_tx
                .send(ack)
                .await
                .map_err(|_| Error::Closed("in-process command sink"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::model::{CommandParams, CommandStatus, VehicleStatus, Waypoint};

    fn reading(seq: u64) -> Telemetry {
        Telemetry {
            vehicle_id: "fleet-demo-001-VH-001".into(),
            fleet_id: "fleet-demo-001".into(),
            latitude: 4.711,
            longitude: -74.0721,
            speed_kmh: 30.0,
            battery_pct: 80.0,
            engine_temp_c: 70.0,
            load_pct: 50.0,
            status: VehicleStatus::Moving,
            timestamp: Utc.with_ymd_and_hms(2024, 2, 15, 14, 32, 18).unwrap(),
            heading_deg: 90.0,
            seq,
            pose: None,
        }
    }

    fn seqs(batch: &SourceBatch) -> Vec<u64> {
        batch
            .records
            .iter()
            .map(|r| match r {
                SourceRecord::Decoded(t) => t.seq,
                SourceRecord::Raw { .. } => panic!("expected a decoded record"),
            })
            .collect()
    }

    #[tokio::test]
    async fn close_wakes_a_waiting_reader_and_keeps_what_is_queued() {
        let bus = InProcessBus::new(8);
        let source = Arc::new(bus.source);
        let reader = {
            let source = source.clone();
            tokio::spawn(async move {
                source
                    .next_batch(10)
                    .await
                    .unwrap()
                    .map(|b| b.records.len())
            })
        };
        tokio::task::yield_now().await;
        // The reader holds the receiver while it waits; closing must not wait for it.
        source.close().await;
        assert_eq!(reader.await.unwrap(), None);
        assert!(
            bus.publisher.publish(vec![reading(1)]).await.is_err(),
            "publishing after close fails"
        );

        let bus = InProcessBus::new(8);
        bus.publisher
            .publish(vec![reading(1), reading(2)])
            .await
            .unwrap();
        bus.source.close().await;
        let batch = bus.source.next_batch(10).await.unwrap().unwrap();
        assert_eq!(seqs(&batch), vec![1, 2]);
        assert!(bus.source.next_batch(10).await.unwrap().is_none());
    }

    fn command(kind: CommandKind) -> Command {
        let params = CommandParams {
            waypoints: vec![Waypoint {
                latitude: 4.72,
                longitude: -74.06,
                order: 1,
            }],
            reason: None,
        };
        Command::new(
            "fleet-demo-001-VH-001",
            "fleet-demo-001",
            kind,
            params,
            "op-001",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn source_drains_what_is_queued_up_to_max_without_waiting_for_more() {
        let InProcessBus { publisher, source } = InProcessBus::new(16);
        publisher
            .publish((1..=5).map(reading).collect())
            .await
            .unwrap();
        let first = source.next_batch(3).await.unwrap().unwrap();
        assert_eq!(seqs(&first), [1, 2, 3]);
        assert!(first.ack.is_none());
        // Only two are left: the source returns them instead of waiting for a third.
        let second = source.next_batch(3).await.unwrap().unwrap();
        assert_eq!(seqs(&second), [4, 5]);
    }

    #[tokio::test]
    async fn source_ends_once_every_publisher_is_dropped_and_the_queue_is_drained() {
        let InProcessBus { publisher, source } = InProcessBus::new(16);
        let second = publisher.clone();
        publisher.publish(vec![reading(1)]).await.unwrap();
        drop(publisher);
        second.publish(vec![reading(2)]).await.unwrap();
        drop(second);
        let batch = source.next_batch(10).await.unwrap().unwrap();
        assert_eq!(seqs(&batch), [1, 2]);
        assert!(source.next_batch(10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn closing_the_source_refuses_publishes_but_keeps_what_was_queued() {
        let InProcessBus { publisher, source } = InProcessBus::new(16);
        publisher.publish(vec![reading(1)]).await.unwrap();
        source.close().await;
        let err = publisher.publish(vec![reading(2)]).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Closed);
        let batch = source.next_batch(10).await.unwrap().unwrap();
        assert_eq!(seqs(&batch), [1]);
        assert!(source.next_batch(10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_full_bus_makes_the_publisher_wait_and_loses_nothing() {
        let InProcessBus { publisher, source } = InProcessBus::new(4);
        let publisher: Arc<dyn TelemetryPublisher> = Arc::new(publisher);
        // 100 readings through a queue of 4: the publisher can only finish as the reader
        // makes room.
        let producer = tokio::spawn({
            let publisher = publisher.clone();
            async move { publisher.publish((1..=100).map(reading).collect()).await }
        });
        drop(publisher);
        let mut received = Vec::new();
        while let Some(batch) = source.next_batch(7).await.unwrap() {
            assert!(batch.records.len() <= 7);
            received.extend(seqs(&batch));
        }
        producer.await.unwrap().unwrap();
        assert_eq!(received, (1..=100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn publisher_blocks_while_the_bus_is_full() {
        let InProcessBus { publisher, source } = InProcessBus::new(2);
        publisher
            .publish(vec![reading(1), reading(2)])
            .await
            .unwrap();
        let mut third = boxed(publisher.publish(vec![reading(3)]));
        assert!(
            poll_once(&mut third).is_none(),
            "a full bus must make the publisher wait"
        );
        let batch = source.next_batch(1).await.unwrap().unwrap();
        assert_eq!(seqs(&batch), [1]);
        third.await.unwrap();
        let batch = source.next_batch(10).await.unwrap().unwrap();
        assert_eq!(seqs(&batch), [2, 3]);
    }

    type BoxedFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

    fn boxed<'a, T>(f: impl std::future::Future<Output = T> + Send + 'a) -> BoxedFuture<'a, T> {
        Box::pin(f)
    }

    /// Polls a future once with a no-op waker; `None` if it is still pending.
    fn poll_once<T>(f: &mut BoxedFuture<'_, T>) -> Option<T> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn raw_bytes_pass_through_untouched() {
        let InProcessBus { publisher, source } = InProcessBus::new(4);
        publisher.publish_raw(b"{not json".to_vec()).await.unwrap();
        let batch = source.next_batch(4).await.unwrap().unwrap();
        match &batch.records[..] {
            [SourceRecord::Raw { payload, origin }] => {
                assert_eq!(payload, b"{not json");
                assert_eq!(origin.stream, INPROC_STREAM);
            }
            other => panic!("expected one raw record, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn stop_jumps_ahead_of_earlier_commands() {
        let (sink, link) = command_channel(8);
        let resume = command(CommandKind::Resume);
        let reroute = command(CommandKind::Reroute);
        let stop = command(CommandKind::Stop);
        for c in [&resume, &reroute, &stop] {
            let receipt = sink.dispatch(c).await.unwrap();
            assert_eq!(receipt.command_id, c.id);
        }
        let polled: Vec<_> = link
            .poll_commands(10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(polled, [stop.id, resume.id, reroute.id]);
        assert!(link.poll_commands(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn stop_is_dispatched_even_when_the_normal_lane_is_full() {
        let (sink, link) = command_channel(1);
        sink.dispatch(&command(CommandKind::Resume)).await.unwrap();
        // The normal lane is now full; STOP must still go through at once.
        let stop = command(CommandKind::Stop);
        let mut dispatch = boxed(sink.dispatch(&stop));
        assert!(poll_once(&mut dispatch).is_some());
        assert_eq!(link.poll_commands(1).await.unwrap()[0].id, stop.id);
    }

    #[tokio::test]
    async fn poll_respects_max_and_acks_flow_back() {
        let (sink, link) = command_channel(8);
        for _ in 0..3 {
            sink.dispatch(&command(CommandKind::Resume)).await.unwrap();
        }
        assert_eq!(link.poll_commands(2).await.unwrap().len(), 2);
        assert_eq!(link.poll_commands(2).await.unwrap().len(), 1);
        let ack = CommandAck {
            command_id: "cmd-1".into(),
            vehicle_id: "fleet-demo-001-VH-001".into(),
            status: CommandStatus::Delivered,
            at: Utc::now(),
            reason: None,
        };
        link.send_acks(vec![ack.clone()]).await.unwrap();
        assert_eq!(sink.next_ack().await, Some(ack));
        drop(link);
        assert_eq!(sink.next_ack().await, None);
        let err = sink
            .dispatch(&command(CommandKind::Stop))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Closed);
    }

    #[tokio::test]
    async fn expired_commands_are_never_handed_out_and_are_acknowledged_expired() {
        let (sink, link) = command_channel(8);
        let mut late_stop = command(CommandKind::Stop);
        late_stop.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
        let mut late_resume = command(CommandKind::Resume);
        late_resume.expires_at = late_stop.expires_at;
        let mut in_time = command(CommandKind::ReturnToBase);
        in_time.expires_at = Some(Utc::now() + chrono::Duration::hours(1));
        let no_expiry = command(CommandKind::Resume);
        for c in [&late_stop, &late_resume, &in_time, &no_expiry] {
            sink.dispatch(c).await.unwrap();
        }
        // The late ones do not count against `max` either.
        let polled: Vec<_> = link
            .poll_commands(2)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(polled, [in_time.id.clone(), no_expiry.id.clone()]);
        assert!(link.poll_commands(10).await.unwrap().is_empty());
        for late in [&late_stop, &late_resume] {
            let ack = sink.next_ack().await.unwrap();
            assert_eq!(
                (ack.command_id.as_str(), ack.status),
                (late.id.as_str(), CommandStatus::Expired)
            );
            assert!(ack.reason.unwrap().contains("after its expiry"));
        }
    }

    #[tokio::test]
    async fn the_link_sees_no_commands_once_the_sink_is_gone() {
        let (sink, link) = command_channel(8);
        drop(sink);
        assert!(link.poll_commands(10).await.unwrap().is_empty());
        let ack = CommandAck {
            command_id: "cmd-1".into(),
            vehicle_id: "fleet-demo-001-VH-001".into(),
            status: CommandStatus::Delivered,
            at: Utc::now(),
            reason: None,
        };
        let err = link.send_acks(vec![ack]).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Closed);
    }
}
