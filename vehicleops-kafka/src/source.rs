//! [`KafkaTelemetrySource`]: the ingest pipeline's [`TelemetrySource`] on a Kafka consumer group.
//!
//! A dedicated thread runs an rdkafka `BaseConsumer` and turns what it polls into batches of
//! raw records (payload + topic/partition/offset), handed to the pipeline through a small
//! bounded queue. That keeps [`TelemetrySource::next_batch`] cancellation-safe (the pipeline
//! selects on it). When the queue is full the thread waits briefly for room, then pauses its
//! partitions and keeps polling — so rebalances are still served and the member stays in the
//! group — instead of buffering without bound.
//!
//! **Delivery.** Auto-commit is off. Each batch carries a [`BatchAck`] that records, per
//! partition, the highest offset of the batch + 1 as stored and commits it; the pipeline calls
//! it only after the store has made the batch durable. A commit the coordinator refuses (as it
//! does mid-rebalance) stays recorded and goes out with the next ack, before a revocation, or
//! on close. A crash before the commit redelivers the batch, and the store's natural key
//! absorbs the replay: at-least-once delivery, exactly-once rows.
//!
//! **Rebalancing.** The group uses the cooperative-sticky assignor, so a rebalance only moves
//! the partitions that change owner. Before a partition is given up, the revocation callback
//! waits (up to [`SourceSettings::revoke_drain_timeout`]) until every batch already handed to
//! the pipeline from that partition has been stored and committed, and drops records of that partition that
//! were polled but not yet handed out — the new owner starts exactly after the last stored
//! record. An ack that arrives after its partition moved (the drain timed out) is not committed,
//! so it can never move the new owner's position, and batches of it still queued then are
//! handed out without its records.
//!
//! The source also tells the pipeline which partitions it was assigned and which it gave up
//! ([`TelemetrySource::take_partition_changes`]): a vehicle's readings may have been processed
//! by another member while its partition was away, so the pipeline drops what it knows of the
//! vehicles of a newly assigned partition and reloads their open alert episodes from the
//! repository (and drops the vehicles of a revoked one). Partitions kept through a rebalance
//! are not reported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tracing::{debug, info, warn};
use vehicleops_core::{
    BatchAck, Error, PartitionChanges, RecordOrigin, Result, SourceBatch, SourceRecord,
    TelemetrySource,
};

use crate::config::KafkaConfig;
use crate::context::{LoggingContext, kafka_error};

/// Tuning of a [`KafkaTelemetrySource`].
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Upper bound on a batch, whatever the pipeline asks for.
    pub max_batch: usize,
    /// Batches polled ahead of the pipeline.
    pub queued_batches: usize,
    /// How long one poll waits for a first message.
    pub poll_timeout: Duration,
    /// How long a revocation waits for in-flight batches of the revoked partitions to be
    /// stored and committed before letting them go anyway (they are then redelivered to the
    /// new owner, and the store absorbs the duplicates).
    pub revoke_drain_timeout: Duration,
    /// Where a group without committed offsets starts: `earliest` (default) or `latest`.
    pub auto_offset_reset: String,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            max_batch: 5000,
            queued_batches: 2,
            poll_timeout: Duration::from_millis(100),
            revoke_drain_timeout: Duration::from_secs(30),
            auto_offset_reset: "earliest".into(),
        }
    }
}

type PartitionKey = (String, i32);

/// Per-partition progress shared by the consumer thread, the rebalance callback and the acks.
#[derive(Debug, Default)]
struct Ledger {
    state: Mutex<LedgerState>,
    /// Signalled whenever a partition's stored or committed position moves.
    progress: Condvar,
    /// Serialises commits, so an older commit can never land after a newer one.
    commit_lock: Mutex<()>,
    /// Taken by an acknowledgement before it commits, awaited without holding a thread: of
    /// the many batches a merged store write acknowledges at once, the first commits every
    /// recorded position and the others find theirs committed (before, each held a blocking
    /// thread waiting on `commit_lock`: ~300 idle threads at 1,000 readings/s).
    commit_turn: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct LedgerState {
    /// Partitions this member owns, with their progress.
    owned: HashMap<PartitionKey, Progress>,
    /// Bumped on every revocation, so the consumer thread knows to drop records it holds for
    /// partitions it no longer owns.
    revocations: u64,
    /// Set when the source closes: revocations then do not wait for acks that will not come.
    closing: bool,
    /// Partitions assigned or revoked since the pipeline last asked
    /// ([`TelemetrySource::take_partition_changes`]).
    changes: PartitionChanges,
}

/// Positions are "next offset to read" (last record's offset + 1); 0 until known.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    /// After the last record handed to the pipeline.
    dispatched: i64,
    /// After the last record the pipeline acknowledged as stored.
    stored: i64,
    /// After the last record whose offset the group coordinator accepted.
    committed: i64,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        // A poisoned lock only means another thread panicked mid-update of plain integers.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits the stored-but-uncommitted positions of owned partitions (of `only`, if given).
    ///
    /// A commit can fail while the group rebalances (`REBALANCE_IN_PROGRESS`,
    /// `ILLEGAL_GENERATION`); the positions stay in the ledger and the next call — the next
    /// batch's ack, the revocation callback, or closing — commits them.
    fn commit_stored(
        &self,
        consumer: &BaseConsumer<IngestContext>,
        only: Option<&[PartitionKey]>,
    ) -> std::result::Result<(), KafkaError> {
        let _serial = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut tpl = TopicPartitionList::new();
        let mut positions = Vec::new();
        {
            let state = self.lock();
            for (key, p) in &state.owned {
                if p.stored > p.committed && only.is_none_or(|o| o.contains(key)) {
                    tpl.add_partition_offset(&key.0, key.1, Offset::Offset(p.stored))?;
                    positions.push((key.clone(), p.stored));
                }
            }
        }
        if positions.is_empty() {
            return Ok(());
        }
        consumer.commit(&tpl, CommitMode::Sync)?;
        let mut state = self.lock();
        for (key, at) in positions {
            if let Some(p) = state.owned.get_mut(&key) {
                p.committed = p.committed.max(at);
            }
        }
        drop(state);
        self.progress.notify_all();
        Ok(())
    }
}

/// Whether a commit was refused only because the group is mid-rebalance.
fn rebalancing(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::RebalanceInProgress | RDKafkaErrorCode::IllegalGeneration)
    )
}

/// How often a revocation retries commits that the coordinator refused mid-rebalance.
const REVOKE_RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// The consumer's context: logging, plus the rebalance protocol above.
struct IngestContext {
    logging: LoggingContext,
    ledger: Arc<Ledger>,
    drain_timeout: Duration,
}

impl ClientContext for IngestContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.logging.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.logging.error(error, reason);
    }
}

fn keys(tpl: &TopicPartitionList) -> Vec<PartitionKey> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked = keys(tpl);
        let deadline = Instant::now() + self.drain_timeout;
        let lost = consumer.assignment_lost();
        // Finish in-flight batches first: the pipeline's writer keeps storing and acking while
        // this thread waits here, and the positions it stored are committed here, before
        // librdkafka hands the partitions to another member.
        loop {
            if !lost && let Err(e) = self.ledger.commit_stored(consumer, Some(&revoked)) {
                debug!(error = %e, "commit before revocation refused; retrying");
            }
            let state = self.ledger.lock();
            let pending: Vec<&PartitionKey> = revoked
                .iter()
                .filter(|k| {
                    state
                        .owned
                        .get(*k)
                        .is_some_and(|p| p.committed < p.dispatched)
                })
                .collect();
            if pending.is_empty() || lost || state.closing {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                warn!(
                    partitions = ?pending,
                    "revoking partitions with batches still uncommitted after {:?}; \
                     the new owner will replay them",
                    self.drain_timeout
                );
                break;
            }
            let wait = (deadline - now).min(REVOKE_RETRY_INTERVAL);
            drop(
                self.ledger
                    .progress
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|p| p.into_inner()),
            );
        }
        let mut state = self.ledger.lock();
        for k in &revoked {
            state.owned.remove(k);
            if !state.changes.revoked.contains(&k.1) {
                state.changes.revoked.push(k.1);
            }
        }
        state.revocations += 1;
        drop(state);
        // librdkafka keeps a partition's pause across revocation and re-assignment; clear it so
        // a partition that comes back later is fetched again.
        if let Err(e) = consumer.resume(tpl) {
            debug!(error = %e, "resuming revoked partitions failed");
        }
        info!(partitions = ?revoked, lost, "partitions revoked");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let assigned = keys(tpl);
                let mut state = self.ledger.lock();
                for k in &assigned {
                    // With the cooperative assignor an assignment lists only the partitions
                    // added; an eager one lists them all, so check what is new.
                    if state.owned.contains_key(k) {
                        continue;
                    }
                    state.owned.insert(k.clone(), Progress::default());
                    // Another member may have read it since: the pipeline reloads its
                    // vehicles. Assigned again after a revocation it has not been told of yet,
                    // it is reported as assigned only.
                    state.changes.revoked.retain(|p| *p != k.1);
                    if !state.changes.assigned.contains(&k.1) {
                        state.changes.assigned.push(k.1);
                    }
                }
                drop(state);
                // New partitions start fetching even while others are paused; the consumer
                // thread pauses them too if the pipeline is still behind.
                if let Err(e) = consumer.resume(tpl) {
                    debug!(error = %e, "resuming assigned partitions failed");
                }
                info!(partitions = ?assigned, "partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => warn!(error = %e, "consumer group rebalance failed"),
        }
    }
}

type Consumer_ = BaseConsumer<IngestContext>;

/// How often a paused consumer checks whether the pipeline has room again.
const PAUSED_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How long the consumer thread waits for room in the batch queue before it pauses its
/// partitions. Pausing makes librdkafka drop what it prefetched, so brief waits (the pipeline
/// is busy with the previous batch) are better spent waiting; rebalance callbacks wait at
/// most this long (heartbeats run on librdkafka's own thread).
const PAUSE_AFTER: Duration = Duration::from_millis(500);

/// Counts batches the pipeline took, so the consumer thread can sleep until there is room.
#[derive(Debug, Default)]
struct Handoff {
    taken: Mutex<u64>,
    room: Condvar,
}

impl Handoff {
    fn count(&self) -> std::sync::MutexGuard<'_, u64> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn took_one(&self) {
        *self.count() += 1;
        self.room.notify_one();
    }

    fn wake(&self) {
        let _guard = self.count();
        self.room.notify_all();
    }
}

/// Records polled and the next offset per partition they cover.
struct PolledBatch {
    records: Vec<SourceRecord>,
    next_offsets: HashMap<PartitionKey, i64>,
    /// [`LedgerState::revocations`] when the batch was queued: records of partitions revoked
    /// since are dropped when the pipeline takes it.
    revocations: u64,
}

impl PolledBatch {
    fn new() -> Self {
        PolledBatch {
            records: Vec::new(),
            next_offsets: HashMap::new(),
            revocations: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records `next` as the position after the batch's last record of a partition. Looks
    /// the partition up without allocating: this runs once per record.
    fn advance(&mut self, topic: &str, partition: i32, next: i64) {
        match self
            .next_offsets
            .iter_mut()
            .find(|((t, p), _)| *p == partition && t == topic)
        {
            Some((_, at)) => *at = next,
            None => {
                self.next_offsets
                    .insert((topic.to_owned(), partition), next);
            }
        }
    }

    /// Drops records of partitions this member no longer owns.
    fn retain_owned(&mut self, state: &LedgerState) {
        let owned = |stream: &str, partition: i32| {
            state.owned.contains_key(&(stream.to_owned(), partition))
        };
        self.records.retain(|r| match r {
            SourceRecord::Raw { origin, .. } => owned(&origin.stream, origin.partition),
            SourceRecord::Decoded(_) => true,
        });
        self.next_offsets.retain(|(t, p), _| owned(t, *p));
    }
}

/// Reads `fleet.telemetry.raw` (or the configured topic) as a member of the consumer group.
///
/// Create it inside a tokio runtime; call [`KafkaTelemetrySource::close`] after the pipeline has
/// shut down to leave the group promptly (dropping the source does the same).
pub struct KafkaTelemetrySource {
    batches: AsyncMutex<mpsc::Receiver<PolledBatch>>,
    handoff: Arc<Handoff>,
    consumer: Arc<Consumer_>,
    ledger: Arc<Ledger>,
    requested_max: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for KafkaTelemetrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTelemetrySource")
            .finish_non_exhaustive()
    }
}

impl KafkaTelemetrySource {
    /// Joins `config.group_id` and subscribes to `config.topics.telemetry_raw`. Brokers need
    /// not be reachable yet: the consumer connects (and reconnects) in the background and logs
    /// why it cannot.
    pub fn new(config: &KafkaConfig, settings: SourceSettings) -> Result<Self> {
        config.validate()?;
        let ledger = Arc::new(Ledger::default());
        let context = IngestContext {
            logging: LoggingContext {
                client: "telemetry-source",
            },
            ledger: ledger.clone(),
            drain_timeout: settings.revoke_drain_timeout,
        };
        let consumer: Consumer_ = config
            .consumer_config(&config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", &settings.auto_offset_reset)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // The default 1 MiB per partition makes small batches at high rates.
            .set("fetch.min.bytes", "1")
            .set("fetch.wait.max.ms", "50")
            .create_with_context(context)
            .map_err(|e| kafka_error("creating the telemetry consumer", e))?;
        consumer
            .subscribe(&[config.topics.telemetry_raw.as_str()])
            .map_err(|e| kafka_error("subscribing to the telemetry topic", e))?;
        let consumer = Arc::new(consumer);
        let (tx, rx) = mpsc::channel(settings.queued_batches.max(1));
        let requested_max = Arc::new(AtomicUsize::new(settings.max_batch));
        let stop = Arc::new(AtomicBool::new(false));
        let handoff = Arc::new(Handoff::default());
        let poller = Poller {
            handoff: handoff.clone(),
            consumer: consumer.clone(),
            ledger: ledger.clone(),
            requested_max: requested_max.clone(),
            stop: stop.clone(),
            settings,
            tx,
        };
        let thread = std::thread::Builder::new()
            .name("kafka-telemetry-consumer".into())
            .spawn(move || poller.run())
            .map_err(|e| Error::backend("kafka", e))?;
        info!(
            topic = %config.topics.telemetry_raw,
            group = %config.group_id,
            brokers = %config.bootstrap_servers,
            "Kafka telemetry source started"
        );
        Ok(KafkaTelemetrySource {
            batches: AsyncMutex::new(rx),
            handoff,
            consumer,
            ledger,
            requested_max,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops polling and leaves the group. Batches not yet acknowledged stay uncommitted and
    /// are redelivered to whichever member takes their partitions. Waits for the consumer
    /// thread, so call it from a blocking context or `spawn_blocking` when in a hurry.
    pub fn close(&self) {
        self.ledger.lock().closing = true;
        self.ledger.progress.notify_all();
        self.stop.store(true, Ordering::SeqCst);
        self.handoff.wake();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// Partitions currently assigned to this member (for tests and status pages).
    pub fn assignment(&self) -> Result<Vec<(String, i32)>> {
        let tpl = self
            .consumer
            .assignment()
            .map_err(|e| kafka_error("reading the assignment", e))?;
        Ok(keys(&tpl))
    }
}

impl Drop for KafkaTelemetrySource {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl TelemetrySource for KafkaTelemetrySource {
    /// Waits for the next polled batch (at most `max` records; cancellation-safe). `None` once
    /// the source is closed.
    async fn next_batch(&self, max: usize) -> Result<Option<SourceBatch>> {
        self.requested_max.store(max.max(1), Ordering::Relaxed);
        let mut rx = self.batches.lock().await;
        let Some(mut batch) = rx.recv().await else {
            return Ok(None);
        };
        self.handoff.took_one();
        {
            // A revocation that gave up waiting for the pipeline can leave batches of the
            // revoked partitions queued: the new owner replays them, and the pipeline, told of
            // the revocation, must not see them.
            let state = self.ledger.lock();
            if state.revocations != batch.revocations {
                batch.retain_owned(&state);
            }
        }
        Ok(Some(SourceBatch {
            records: batch.records,
            ack: Some(Box::new(OffsetsAck {
                consumer: self.consumer.clone(),
                ledger: self.ledger.clone(),
                next_offsets: batch.next_offsets,
            })),
        }))
    }

    /// Partitions of the raw topic assigned to or revoked from this member since the last call
    /// (the first call reports the initial assignment). Records of a revoked partition still
    /// queued when it was revoked are not handed out.
    fn take_partition_changes(&self) -> Option<PartitionChanges> {
        let mut state = self.ledger.lock();
        if state.changes.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut state.changes))
    }
}

/// Commits a stored batch's offsets.
struct OffsetsAck {
    consumer: Arc<Consumer_>,
    ledger: Arc<Ledger>,
    next_offsets: HashMap<PartitionKey, i64>,
}

#[async_trait]
impl BatchAck for OffsetsAck {
    async fn ack(self: Box<Self>) -> Result<()> {
        self.record_stored();
        let ledger = self.ledger.clone();
        let _turn = ledger.commit_turn.lock().await;
        if self.committed() {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || self.commit_blocking())
            .await
            .map_err(|e| Error::backend_msg("kafka", format!("commit task failed: {e}")))?
    }
}

impl OffsetsAck {
    fn record_stored(&self) {
        {
            let mut state = self.ledger.lock();
            for (key, next) in &self.next_offsets {
                // A partition that moved on keeps its new owner's position: not recorded.
                if let Some(p) = state.owned.get_mut(key) {
                    p.stored = p.stored.max(*next);
                } else {
                    debug!(topic = %key.0, partition = key.1, "stored batch of a partition no longer owned");
                }
            }
        }
        self.ledger.progress.notify_all();
    }

    /// Whether another acknowledgement's commit already covered this batch (partitions no
    /// longer owned count as covered: their new owner commits them).
    fn committed(&self) -> bool {
        let state = self.ledger.lock();
        self.next_offsets
            .iter()
            .all(|(key, next)| state.owned.get(key).is_none_or(|p| p.committed >= *next))
    }

    fn commit_blocking(&self) -> Result<()> {
        // Not an error for the pipeline: the positions are kept and committed next time.
        match self.ledger.commit_stored(&self.consumer, None) {
            Ok(()) => {}
            Err(e) if rebalancing(&e) => {
                info!(error = %e, "commit refused while the group rebalances; retrying")
            }
            Err(e) => warn!(error = %e, "committing offsets failed; retrying with the next batch"),
        }
        Ok(())
    }
}

/// Logs consumer errors at most every [`ErrorLog::INTERVAL`], with how many were suppressed:
/// while a broker is down librdkafka reports one per reconnect attempt.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    suppressed: u32,
}

impl ErrorLog {
    const INTERVAL: Duration = Duration::from_secs(5);

    fn report(&mut self, e: &KafkaError) {
        if self.last.is_some_and(|t| t.elapsed() < Self::INTERVAL) {
            self.suppressed += 1;
            return;
        }
        warn!(error = %e, suppressed = self.suppressed, "Kafka consumer error; retrying");
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }
}

/// The consumer thread.
struct Poller {
    handoff: Arc<Handoff>,
    consumer: Arc<Consumer_>,
    ledger: Arc<Ledger>,
    requested_max: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    settings: SourceSettings,
    tx: mpsc::Sender<PolledBatch>,
}

impl Poller {
    fn run(self) {
        let mut batch = PolledBatch::new();
        let mut revocations_seen = 0;
        let mut paused = false;
        let mut unpaused_records = false;
        let mut errors = ErrorLog::default();
        while !self.stop.load(Ordering::SeqCst) {
            let max = self
                .requested_max
                .load(Ordering::Relaxed)
                .clamp(1, self.settings.max_batch.max(1));
            // Wait for a first record; then drain what is already fetched without waiting.
            let timeout = if paused {
                // Only serving the group while the pipeline catches up: look for room often.
                PAUSED_POLL_INTERVAL
            } else if batch.is_empty() {
                self.settings.poll_timeout
            } else {
                Duration::ZERO
            };
            let polled = self.consumer.poll(timeout);
            let mut fetched_nothing = polled.is_none();
            // Paused partitions deliver nothing: a record now comes from one assigned since.
            unpaused_records |= paused && matches!(polled, Some(Ok(_)));
            match polled {
                Some(Ok(m)) => {
                    let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
                    batch.records.push(SourceRecord::Raw {
                        payload: m.payload().unwrap_or_default().to_vec(),
                        origin: RecordOrigin {
                            stream: topic.to_owned(),
                            partition,
                            offset,
                        },
                    });
                    batch.advance(topic, partition, offset + 1);
                }
                Some(Err(e)) => {
                    // Transport errors: librdkafka reconnects by itself; say why we wait.
                    errors.report(&e);
                    fetched_nothing = true;
                }
                None => {}
            }
            // A revocation ran inside that poll: forget what we hold for moved partitions.
            {
                let state = self.ledger.lock();
                if state.revocations != revocations_seen {
                    revocations_seen = state.revocations;
                    batch.retain_owned(&state);
                }
            }
            if batch.is_empty() {
                // Nothing held (a revocation may just have dropped it): fetch again. librdkafka
                // keeps a partition's pause across revocation and re-assignment, so staying
                // paused here would stall those partitions for good.
                if paused && self.set_paused(false) {
                    paused = false;
                    unpaused_records = false;
                }
                continue;
            }
            if batch.records.len() < max && !fetched_nothing {
                continue;
            }
            let reserved = if paused {
                self.tx.try_reserve()
            } else {
                self.reserve_within(PAUSE_AFTER)
            };
            match reserved {
                Ok(permit) => {
                    let mut state = self.ledger.lock();
                    for (key, next) in &batch.next_offsets {
                        if let Some(p) = state.owned.get_mut(key) {
                            p.dispatched = p.dispatched.max(*next);
                        }
                    }
                    // Revocations run inside `poll` on this thread, and the batch was checked
                    // against the last one after polling: it holds only owned partitions.
                    batch.revocations = state.revocations;
                    drop(state);
                    permit.send(std::mem::replace(&mut batch, PolledBatch::new()));
                    if paused {
                        paused = !self.set_paused(false);
                        unpaused_records = false;
                    }
                }
                Err(mpsc::error::TrySendError::Full(())) => {
                    // The pipeline is behind: stop fetching but keep polling, so the group
                    // still sees us alive and rebalances are served.
                    if !paused || unpaused_records {
                        paused = self.set_paused(true) || paused;
                        unpaused_records = false;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(())) => break,
            }
        }
        self.leave_group();
    }

    /// A place in the batch queue, waiting up to `limit` for the pipeline to take a batch.
    fn reserve_within(
        &self,
        limit: Duration,
    ) -> std::result::Result<mpsc::Permit<'_, PolledBatch>, mpsc::error::TrySendError<()>> {
        let deadline = Instant::now() + limit;
        loop {
            let taken = *self.handoff.count();
            match self.tx.try_reserve() {
                Err(mpsc::error::TrySendError::Full(())) => {}
                other => return other,
            }
            let now = Instant::now();
            if now >= deadline || self.stop.load(Ordering::SeqCst) {
                return Err(mpsc::error::TrySendError::Full(()));
            }
            let count = self.handoff.count();
            // Sleep only if no batch was taken since the attempt above.
            if *count == taken {
                drop(
                    self.handoff
                        .room
                        .wait_timeout(count, deadline - now)
                        .unwrap_or_else(|p| p.into_inner()),
                );
            }
        }
    }

    /// Pauses or resumes every assigned partition; true when it worked.
    fn set_paused(&self, pause: bool) -> bool {
        let result = self.consumer.assignment().and_then(|tpl| {
            if pause {
                self.consumer.pause(&tpl)
            } else {
                self.consumer.resume(&tpl)
            }
        });
        match result {
            Ok(()) => {
                debug!(
                    pause,
                    "telemetry consumer paused/resumed (pipeline behind/caught up)"
                );
                true
            }
            Err(e) => {
                warn!(error = %e, pause, "pausing/resuming the telemetry consumer failed");
                false
            }
        }
    }

    fn leave_group(&self) {
        if let Err(e) = self.ledger.commit_stored(&self.consumer, None) {
            warn!(error = %e, "final offset commit failed; the last batches will be replayed");
        }
        {
            let mut state = self.ledger.lock();
            state.closing = true;
        }
        if let Err(e) = self.consumer.close_queue() {
            warn!(error = %e, "closing the telemetry consumer failed");
            return;
        }
        // Serve the final revocation; give up after a while if the brokers are gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.consumer.closed() && Instant::now() < deadline {
            self.consumer.poll(Duration::from_millis(100));
        }
        info!("Kafka telemetry source closed");
    }
}
