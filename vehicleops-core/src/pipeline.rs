//! The ingest pipeline: source → validate → per-vehicle state → rules → store → acknowledge.
//!
//! Two tasks joined by a bounded channel:
//!
//! * the **processing task** reads batches from the [`TelemetrySource`], decodes and validates
//!   each record (invalid ones go to the [`DeadLetterSink`] with the reason), keeps per-vehicle
//!   state (last reading, distance by haversine, each rule's state), runs the [`AlertRule`]s and
//!   publishes live updates and alerts to the [`LiveHub`] at once — live views never wait on the
//!   database;
//! * the **writer task** stores each batch (retrying with backoff while the store is down),
//!   records alert episodes in the [`FleetRepository`], and only then acknowledges the batch to
//!   its source — so a source position is committed only once the batch is durable.
//!
//! Readings that arrive out of order or again (a replay after a crash) are still written (the
//! store's natural key makes that a no-op) but change no state and raise no alert.
//!
//! **Open episodes survive a restart.** With a repository set, the first batch in which the
//! processing task sees a vehicle also loads that vehicle's open alerts
//! ([`FleetRepository::open_alerts`], one query for all the batch's new vehicles; nothing once
//! every vehicle has been seen) and offers each to the rules ([`AlertRule::restore`]): the rule
//! whose episode it is takes it up, so the episode clears once instead of being raised again. An
//! alert no rule claims is cleared by the vehicle's first reading that does not raise it again.
//! Because the load is per first-seen vehicle, it also covers vehicles whose Kafka partition
//! moved to this instance. While the repository cannot answer, processing does not wait: the
//! load is retried with backoff on later batches, and an episode raised again meanwhile keeps
//! the new alert and clears the stored one.
//!
//! **Partitions that move between instances.** Several instances can share a partitioned
//! source (a Kafka consumer group). The processor remembers the partition of each vehicle's
//! last raw record ([`RecordOrigin::partition`]) and asks the source, after every batch and on
//! every tick, which partitions it was assigned or gave up
//! ([`TelemetrySource::take_partition_changes`]):
//!
//! * a partition **newly assigned** to this instance may have been read by another one since
//!   this one last did: the episodes that one raised or cleared are unknown here. Before the
//!   batch is applied, the state of the vehicles of that partition (open episodes, rule states,
//!   last reading) is dropped, so their next reading is a first sight and reloads their open
//!   episodes from the repository, as on a fresh instance (counted in `vehicles_reassigned`);
//! * a partition **given up** is read by another instance now: the state of its vehicles is
//!   dropped once the batch is applied (counted in `vehicles_released`), so this instance does
//!   not keep their stale episodes nor raise OFFLINE for vehicles it no longer receives.
//!
//! Vehicles of the partitions this instance kept are left alone: their newest alerts may not be
//! stored yet (processing runs ahead of the writer), so a reload could miss them. Readings a
//! source decoded itself carry no partition and are never forgotten this way; a source without
//! partitions reports no changes. Per reading this costs one stored integer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::decode::decode_telemetry;
use crate::error::{Error, Result, ValidationError};
use crate::geodesy;
use crate::hub::{LiveEvent, LiveHub, LiveUpdate};
use crate::model::{Alert, AlertSignal, AlertTransition, AlertType, Reading, Telemetry};
use crate::traits::*;

/// Tuning knobs. The defaults suit both the embedded store and PostgreSQL.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Most records asked of the source at once (and so the largest store batch).
    pub batch_size: usize,
    /// Batches buffered between processing and the writer; bounds memory and applies
    /// backpressure to the source when the store is slow.
    pub write_queue: usize,
    /// Most readings the writer stores in one write. When batches queue up behind a slow
    /// write, the writer merges them (up to this many readings) into one store write and one
    /// round of acknowledgements, so a store that is slow per transaction catches up instead
    /// of falling further behind. While the write queue is full, processing goes on — live
    /// updates keep flowing — and merges its batches into one held job of up to this many
    /// readings; only then does it stop reading the source.
    pub max_write_rows: usize,
    /// How often silence-based rules (OFFLINE) are evaluated.
    pub tick_interval: Duration,
    /// First retry delay after a failed store write; doubles up to `max_retry_delay`.
    pub initial_retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// How long shutdown keeps retrying a failing store before giving up (unacknowledged).
    pub shutdown_timeout: Duration,
    /// Longest wait for the repository when loading the open alerts of newly seen vehicles;
    /// after it, processing goes on and the load is retried on later batches (with the retry
    /// delays above).
    pub restore_timeout: Duration,
    /// Oldest reading accepted, as an age relative to the time it is processed; older ones are
    /// dead-lettered (field `timestamp`). `None` (the default here): no bound.
    pub accept_past: Option<Duration>,
    /// Furthest a reading may be dated ahead of the time it is processed; later ones are
    /// dead-lettered (field `timestamp`), so a clock far ahead cannot freeze a vehicle.
    /// `None` (the default here): no bound.
    pub accept_future: Option<Duration>,
    /// Most vehicles whose state (last reading, rule states, open episodes) is kept. Beyond
    /// it, the least recently seen vehicle's state is dropped (counted in
    /// [`PipelineStats::vehicles_evicted`]); its next reading is a first sight again, its open
    /// episodes reloaded from the repository. Also the default cap of an engine's live hub.
    pub max_vehicles: usize,
}

/// Default of [`PipelineConfig::max_vehicles`].
pub const DEFAULT_MAX_VEHICLES: usize = 100_000;

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 5000,
            write_queue: 8,
            max_write_rows: 20_000,
            tick_interval: Duration::from_secs(1),
            initial_retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            restore_timeout: Duration::from_secs(2),
            accept_past: None,
            accept_future: None,
            max_vehicles: DEFAULT_MAX_VEHICLES,
        }
    }
}

impl PipelineConfig {
    /// Checks that `t` is dated inside the accepted window around `now`.
    pub fn check_timestamp(
        &self,
        t: &Telemetry,
        now: DateTime<Utc>,
    ) -> Result<(), ValidationError> {
        let bound = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        if let Some(past) = self.accept_past
            && now
                .checked_sub_signed(bound(past))
                .is_some_and(|oldest| t.timestamp < oldest)
        {
            return Err(ValidationError::new(
                "timestamp",
                format!(
                    "{} is more than {}s in the past",
                    t.timestamp.to_rfc3339(),
                    past.as_secs()
                ),
            ));
        }
        if let Some(future) = self.accept_future
            && now
                .checked_add_signed(bound(future))
                .is_some_and(|latest| t.timestamp > latest)
        {
            return Err(ValidationError::new(
                "timestamp",
                format!(
                    "{} is more than {}s in the future",
                    t.timestamp.to_rfc3339(),
                    future.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// Something that wants every valid reading after it was processed, e.g. mission progress.
/// Called from the processing task: must be quick and must not block.
pub trait ReadingObserver: Send + Sync {
    fn observe(&self, readings: &[Reading]);
}

/// Upper bounds, in milliseconds, of the store write duration buckets of [`PipelineStats`]:
/// 1 ms to ~33 s, doubling.
pub const WRITE_BUCKETS_MS: [f64; 16] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
    16384.0, 32768.0,
];

/// Live counters of a running pipeline.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub received: AtomicU64,
    pub valid: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub stale: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub batches_written: AtomicU64,
    pub write_errors: AtomicU64,
    pub alerts_raised: AtomicU64,
    pub alerts_cleared: AtomicU64,
    /// Open alert episodes reloaded from the repository (after a restart or a rebalance).
    pub alerts_restored: AtomicU64,
    /// Vehicles whose state was dropped because their partition was newly assigned to this
    /// instance (it came back after another instance read it): reloaded on their next reading.
    pub vehicles_reassigned: AtomicU64,
    /// Vehicles whose state was dropped because this instance gave their partition up.
    pub vehicles_released: AtomicU64,
    /// Vehicles whose state was dropped because more than
    /// [`PipelineConfig::max_vehicles`] were tracked (the least recently seen first).
    pub vehicles_evicted: AtomicU64,
    pub write_micros_total: AtomicU64,
    pub write_micros_max: AtomicU64,
    /// Readings processed but not yet stored.
    pub in_flight: AtomicU64,
    /// Milliseconds between the newest stored reading's timestamp and its storage.
    pub last_lag_ms: AtomicU64,
    /// Store batch writes by duration: `write_buckets[i]` counts writes that took at most
    /// [`WRITE_BUCKETS_MS`]`[i]` (and more than the bound before); the last counts the rest.
    pub write_buckets: [AtomicU64; WRITE_BUCKETS_MS.len() + 1],
    alerts_by_type: std::sync::Mutex<HashMap<String, u64>>,
}

/// A point-in-time copy of [`PipelineStats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsSnapshot {
    pub received: u64,
    pub valid: u64,
    pub dead_lettered: u64,
    pub stale: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub batches_written: u64,
    pub write_errors: u64,
    pub alerts_raised: u64,
    pub alerts_cleared: u64,
    pub alerts_restored: u64,
    pub vehicles_reassigned: u64,
    pub vehicles_released: u64,
    pub vehicles_evicted: u64,
    pub avg_write_ms: f64,
    pub max_write_ms: f64,
    pub in_flight: u64,
    pub last_lag_ms: u64,
    /// Total seconds spent writing batches.
    pub write_seconds_total: f64,
    /// Store writes per duration bucket: (upper bound in ms, count in that bucket), the last
    /// bound infinite. Not cumulative.
    pub write_histogram: Vec<(f64, u64)>,
    pub alerts_by_type: HashMap<String, u64>,
}

impl PipelineStats {
    /// Counts one store write of `micros` in its duration bucket.
    fn record_write_bucket(&self, micros: u64) {
        let ms = micros as f64 / 1000.0;
        let i = WRITE_BUCKETS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(WRITE_BUCKETS_MS.len());
        self.write_buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let batches = l(&self.batches_written);
        StatsSnapshot {
            received: l(&self.received),
            valid: l(&self.valid),
            dead_lettered: l(&self.dead_lettered),
            stale: l(&self.stale),
            stored: l(&self.stored),
            duplicates: l(&self.duplicates),
            batches_written: batches,
            write_errors: l(&self.write_errors),
            alerts_raised: l(&self.alerts_raised),
            alerts_cleared: l(&self.alerts_cleared),
            alerts_restored: l(&self.alerts_restored),
            vehicles_reassigned: l(&self.vehicles_reassigned),
            vehicles_released: l(&self.vehicles_released),
            vehicles_evicted: l(&self.vehicles_evicted),
            avg_write_ms: if batches == 0 {
                0.0
            } else {
                l(&self.write_micros_total) as f64 / batches as f64 / 1000.0
            },
            max_write_ms: l(&self.write_micros_max) as f64 / 1000.0,
            in_flight: l(&self.in_flight),
            last_lag_ms: l(&self.last_lag_ms),
            write_seconds_total: l(&self.write_micros_total) as f64 / 1e6,
            write_histogram: WRITE_BUCKETS_MS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(self.write_buckets.iter().map(l))
                .collect(),
            alerts_by_type: self.alerts_by_type.lock().expect("stats lock").clone(),
        }
    }
}

/// Assembles a pipeline. Only the source and the store are required.
pub struct PipelineBuilder {
    source: Arc<dyn TelemetrySource>,
    store: Arc<dyn TimeSeriesStore>,
    repository: Option<Arc<dyn FleetRepository>>,
    rules: Vec<Arc<dyn AlertRule>>,
    hub: Option<LiveHub>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    observers: Vec<Arc<dyn ReadingObserver>>,
    config: PipelineConfig,
}

impl PipelineBuilder {
    pub fn new(source: Arc<dyn TelemetrySource>, store: Arc<dyn TimeSeriesStore>) -> Self {
        PipelineBuilder {
            source,
            store,
            repository: None,
            rules: Vec::new(),
            hub: None,
            dead_letters: None,
            observers: Vec::new(),
            config: PipelineConfig::default(),
        }
    }

    /// Where alert episodes are recorded. Without one, alerts are only published live.
    pub fn repository(mut self, repo: Arc<dyn FleetRepository>) -> Self {
        self.repository = Some(repo);
        self
    }

    pub fn rules(mut self, rules: impl IntoIterator<Item = Arc<dyn AlertRule>>) -> Self {
        self.rules.extend(rules);
        self
    }

    pub fn hub(mut self, hub: LiveHub) -> Self {
        self.hub = Some(hub);
        self
    }

    pub fn dead_letters(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    pub fn observer(mut self, observer: Arc<dyn ReadingObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    pub fn config(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the pipeline on the current tokio runtime.
    pub fn spawn(self) -> PipelineHandle {
        let stats = Arc::new(PipelineStats::default());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (write_tx, write_rx) = mpsc::channel(self.config.write_queue.max(1));
        let writer = Writer {
            store: self.store,
            repository: self.repository.clone(),
            stats: stats.clone(),
            config: self.config.clone(),
            shutdown: shutdown_rx.clone(),
        };
        let writer_task = tokio::spawn(writer.run(write_rx));
        let processor = Processor {
            rules: self.rules,
            hub: self.hub,
            dead_letters: self.dead_letters,
            observers: self.observers,
            stats: stats.clone(),
            vehicles: HashMap::new(),
            recency: BTreeMap::new(),
            clock: 0,
            window: self.config.clone(),
            signals: Vec::new(),
            reload: Reload::new(self.repository, &self.config),
        };
        let process_task =
            tokio::spawn(processor.run(self.source, self.config, write_tx, shutdown_rx));
        PipelineHandle {
            stats,
            shutdown: shutdown_tx,
            process_task,
            writer_task,
        }
    }
}

/// A running pipeline. Call [`PipelineHandle::shutdown`] to drain it; dropping the handle
/// leaves it running until its source ends.
pub struct PipelineHandle {
    stats: Arc<PipelineStats>,
    shutdown: watch::Sender<bool>,
    process_task: JoinHandle<Result<()>>,
    writer_task: JoinHandle<Result<()>>,
}

impl PipelineHandle {
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    /// Stops reading, stores and acknowledges everything already read, then returns the final
    /// counters. A batch the store still refuses after `shutdown_timeout` is not acknowledged
    /// (the source will deliver it again) and the error is returned.
    pub async fn shutdown(self) -> Result<StatsSnapshot> {
        let _ = self.shutdown.send(true);
        self.join().await
    }

    /// Waits for the pipeline to end on its own (its source ended).
    pub async fn join(self) -> Result<StatsSnapshot> {
        let joined = |r: std::result::Result<Result<()>, tokio::task::JoinError>| {
            r.map_err(|e| Error::backend_msg("pipeline", format!("task failed: {e}")))?
        };
        let processed = joined(self.process_task.await);
        let written = joined(self.writer_task.await);
        processed.and(written)?;
        Ok(self.stats.snapshot())
    }
}

struct WriteJob {
    readings: Vec<Reading>,
    alerts: Vec<AlertChange>,
    /// The source batches' acknowledgements, oldest first.
    acks: Vec<Box<dyn BatchAck>>,
}

impl WriteJob {
    /// Appends a later job: its readings, alert changes and acknowledgements keep their order.
    fn absorb(&mut self, later: WriteJob) {
        self.readings.extend(later.readings);
        self.alerts.extend(later.alerts);
        self.acks.extend(later.acks);
    }
}

/// Keeps `job` for the writer, merged into the job already held.
fn hold(held: &mut Option<WriteJob>, job: WriteJob) {
    match held {
        Some(h) => h.absorb(job),
        None => *held = Some(job),
    }
}

enum AlertChange {
    Open(Arc<Alert>),
    Close {
        alert_id: String,
        at: chrono::DateTime<Utc>,
    },
}

/// Why the vehicles of some partitions are forgotten.
#[derive(Debug, Clone, Copy)]
enum Moved {
    /// Newly assigned to this instance: another one may have read them meanwhile.
    Assigned,
    /// Given up: another instance reads them now.
    Revoked,
}

/// An open episode of one vehicle: its type and key, and the alert that records it.
struct OpenEpisode {
    alert_type: AlertType,
    key: Option<String>,
    alert_id: String,
    /// Reloaded from the repository and taken up by no rule: cleared by the vehicle's next
    /// reading unless that reading raises it again.
    unclaimed: bool,
}

struct VehicleState {
    /// The partition of the vehicle's last raw record ([`RecordOrigin::partition`]); `None` for
    /// readings a source decoded itself.
    partition: Option<i32>,
    last: Telemetry,
    rule_states: Vec<RuleState>,
    open: Vec<OpenEpisode>,
    /// `Some` while this vehicle's open alerts could not be loaded yet: the ids of the alerts
    /// raised for it since, which the late load must not take up again.
    reload_owed: Option<Vec<String>>,
    /// When the vehicle was last seen: its key in [`Processor::recency`].
    seen: u64,
}

/// What the load of a newly seen vehicle's open alerts gave, kept until its first reading is
/// applied.
enum Staged {
    Alerts(Vec<Alert>),
    /// The repository did not answer; retried on later batches.
    Owed,
}

/// Loads the open alerts of newly seen vehicles (see the module docs).
struct Reload {
    repository: Option<Arc<dyn FleetRepository>>,
    timeout: Duration,
    /// Results for vehicles of the current batch not applied yet.
    staged: HashMap<String, Staged>,
    /// Vehicles whose load failed, to retry once `retry_at` has passed.
    owed: Vec<String>,
    retry_at: Instant,
    retry_delay: Duration,
    initial_retry_delay: Duration,
    max_retry_delay: Duration,
}

impl Reload {
    fn new(repository: Option<Arc<dyn FleetRepository>>, config: &PipelineConfig) -> Self {
        Reload {
            repository,
            timeout: config.restore_timeout,
            staged: HashMap::new(),
            owed: Vec::new(),
            retry_at: Instant::now(),
            retry_delay: config.initial_retry_delay,
            initial_retry_delay: config.initial_retry_delay,
            max_retry_delay: config.max_retry_delay,
        }
    }
}

struct Processor {
    rules: Vec<Arc<dyn AlertRule>>,
    hub: Option<LiveHub>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    observers: Vec<Arc<dyn ReadingObserver>>,
    stats: Arc<PipelineStats>,
    vehicles: HashMap<String, VehicleState>,
    /// The tracked vehicles by when they were last seen, least recent first.
    recency: BTreeMap<u64, String>,
    /// Counts sightings; orders `recency`.
    clock: u64,
    /// The timestamp window and the vehicle cap.
    window: PipelineConfig,
    signals: Vec<AlertSignal>,
    reload: Reload,
}

impl Processor {
    async fn run(
        mut self,
        source: Arc<dyn TelemetrySource>,
        config: PipelineConfig,
        write_tx: mpsc::Sender<WriteJob>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let mut tick = tokio::time::interval(config.tick_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // What the writer has no room for yet. Processing (and so the live hub) goes on while
        // the store is busy; the source is read only while this stays under the row limit.
        let mut held: Option<WriteJob> = None;
        loop {
            let held_rows = held.as_ref().map_or(0, |j| j.readings.len());
            let batch = tokio::select! {
                biased;
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
                permit = write_tx.reserve(), if held.is_some() => {
                    match (permit, held.take()) {
                        (Ok(permit), Some(job)) => permit.send(job),
                        _ => break,
                    }
                    continue;
                }
                _ = tick.tick() => {
                    // Partitions that moved while no batch came (e.g. all given up).
                    if let Some(changes) = source.take_partition_changes() {
                        self.forget_partitions(&changes.assigned, Moved::Assigned);
                        self.forget_partitions(&changes.revoked, Moved::Revoked);
                    }
                    let job = self.on_tick();
                    if !job.alerts.is_empty() {
                        hold(&mut held, job);
                    }
                    continue;
                }
                b = source.next_batch(config.batch_size), if held_rows < config.max_write_rows => b,
            };
            match batch {
                Ok(Some(batch)) => {
                    // Taken right after the batch: an assignment reported now may already
                    // have records in it (forget first), a revocation may not have been
                    // filtered out of it yet (forget once it is applied).
                    let changes = source.take_partition_changes();
                    if let Some(changes) = &changes {
                        self.forget_partitions(&changes.assigned, Moved::Assigned);
                    }
                    let job = self.process(batch).await;
                    if let Some(changes) = &changes {
                        self.forget_partitions(&changes.revoked, Moved::Revoked);
                    }
                    hold(&mut held, job);
                }
                Ok(None) => {
                    info!("telemetry source ended");
                    break;
                }
                Err(e) => {
                    // Sources reconnect on their own; keep polling without spinning.
                    warn!(error = %e, "telemetry source error; retrying");
                    tokio::time::sleep(config.initial_retry_delay).await;
                }
            }
        }
        // What was processed is stored and acknowledged before the writer ends.
        if let Some(job) = held {
            let _ = write_tx.send(job).await;
        }
        Ok(())
    }

    async fn process(&mut self, batch: SourceBatch) -> WriteJob {
        let now = Utc::now();
        let mut valid = Vec::with_capacity(batch.records.len());
        let mut readings = Vec::with_capacity(batch.records.len());
        let mut updates = Vec::with_capacity(batch.records.len());
        let mut alerts = Vec::new();
        let mut dead = Vec::new();
        self.stats
            .received
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        for record in batch.records {
            let decoded = match record {
                SourceRecord::Raw { payload, origin } => match decode_telemetry(&payload)
                    .and_then(|t| self.window.check_timestamp(&t, now).map(|()| t))
                {
                    Ok(t) => (t, Some(origin.partition)),
                    Err(e) => {
                        dead.push(DeadLetter {
                            payload,
                            field: e.field.to_string(),
                            reason: e.reason,
                            origin,
                            at: now,
                        });
                        continue;
                    }
                },
                SourceRecord::Decoded(t) => match t
                    .validate()
                    .and_then(|()| self.window.check_timestamp(&t, now))
                {
                    Ok(()) => (t, None),
                    Err(e) => {
                        dead.push(DeadLetter {
                            payload: serde_json::to_vec(&t).unwrap_or_default(),
                            field: e.field.to_string(),
                            reason: e.reason,
                            origin: RecordOrigin::default(),
                            at: now,
                        });
                        continue;
                    }
                },
            };
            valid.push(decoded);
        }
        if self.reload.repository.is_some() {
            self.reload_open_alerts(&valid, &mut alerts).await;
        }
        for (t, partition) in valid {
            self.apply(t, partition, &mut readings, &mut updates, &mut alerts);
        }
        // After the whole batch: a vehicle is never evicted between the load of its open
        // alerts and its first reading.
        self.evict_least_recent();
        // `in_flight` grows before `valid` does: a reader that sees `valid` (or
        // `dead_lettered`) account for this batch then also sees it in flight until stored,
        // so "received == valid + dead_lettered && in_flight == 0" means everything is stored.
        self.stats
            .in_flight
            .fetch_add(readings.len() as u64, Ordering::SeqCst);
        self.stats
            .valid
            .fetch_add(readings.len() as u64, Ordering::SeqCst);
        if !dead.is_empty() {
            self.stats
                .dead_lettered
                .fetch_add(dead.len() as u64, Ordering::Relaxed);
            debug!(count = dead.len(), first = %dead[0].reason, "dead-lettering invalid readings");
            if let Some(sink) = &self.dead_letters
                && let Err(e) = sink.send(dead).await
            {
                error!(error = %e, "dead-letter sink failed; invalid readings dropped");
            }
        }
        if let Some(hub) = &self.hub {
            hub.publish_updates(&updates);
            for change in &alerts {
                if let AlertChange::Open(a) = change {
                    hub.publish_event(LiveEvent::Alert(a.clone()));
                }
            }
        }
        for o in &self.observers {
            o.observe(&readings);
        }
        WriteJob {
            readings,
            alerts,
            acks: batch.ack.into_iter().collect(),
        }
    }

    /// Updates vehicle state with one valid reading and runs the rules.
    fn apply(
        &mut self,
        t: Telemetry,
        partition: Option<i32>,
        readings: &mut Vec<Reading>,
        updates: &mut Vec<Arc<LiveUpdate>>,
        alerts: &mut Vec<AlertChange>,
    ) {
        let is_first = !self.vehicles.contains_key(&t.vehicle_id);
        if is_first {
            let mut fresh = VehicleState {
                partition,
                last: t.clone(),
                rule_states: self.rules.iter().map(|_| RuleState::default()).collect(),
                open: Vec::new(),
                reload_owed: None,
                seen: 0,
            };
            match self.reload.staged.remove(&t.vehicle_id) {
                Some(Staged::Alerts(stored)) => {
                    restore_episodes(&self.rules, &self.stats, &mut fresh, stored, alerts)
                }
                Some(Staged::Owed) => fresh.reload_owed = Some(Vec::new()),
                None => {}
            }
            self.vehicles.insert(t.vehicle_id.clone(), fresh);
        }
        let state = self
            .vehicles
            .get_mut(&t.vehicle_id)
            .expect("inserted above");
        state.partition = partition;
        if !is_first {
            self.recency.remove(&state.seen);
        }
        self.clock += 1;
        state.seen = self.clock;
        self.recency.insert(self.clock, t.vehicle_id.clone());
        let newer = (t.timestamp, t.seq) > (state.last.timestamp, state.last.seq);
        if !is_first && !newer {
            // A replay or an out-of-order reading: store it, but leave state and alerts alone.
            self.stats.stale.fetch_add(1, Ordering::Relaxed);
            readings.push(Reading {
                telemetry: t,
                distance_m: 0.0,
            });
            return;
        }
        let distance_m = if is_first {
            0.0
        } else {
            geodesy::distance_m(state.last.position(), t.position())
        };
        self.signals.clear();
        for (rule, rule_state) in self.rules.iter().zip(state.rule_states.iter_mut()) {
            rule.evaluate(&t, rule_state, &mut self.signals);
        }
        for signal in self.signals.drain(..) {
            record_signal(&self.stats, state, &t, signal, alerts);
        }
        if state.open.iter().any(|o| o.unclaimed) {
            clear_unclaimed(&self.stats, state, &t, alerts);
        }
        if self.hub.is_some() {
            let open = state.open.iter().map(|o| o.alert_type.clone()).collect();
            updates.push(Arc::new(LiveUpdate::from_reading(&t, open)));
        }
        state.last.clone_from(&t);
        readings.push(Reading {
            telemetry: t,
            distance_m,
        });
    }

    /// Loads the open alerts of the vehicles of `batch` not seen before (and, when a retry is
    /// due, of those whose load failed earlier) in one query. New vehicles' alerts are staged for
    /// their first reading; late results are taken up at once.
    async fn reload_open_alerts(
        &mut self,
        batch: &[(Telemetry, Option<i32>)],
        alerts: &mut Vec<AlertChange>,
    ) {
        let Some(repository) = self.reload.repository.clone() else {
            return;
        };
        self.reload.staged.clear();
        let mut new_ids: Vec<String> = Vec::new();
        let mut new_set: HashSet<&str> = HashSet::new();
        for (t, _) in batch {
            if !self.vehicles.contains_key(&t.vehicle_id) && new_set.insert(&t.vehicle_id) {
                new_ids.push(t.vehicle_id.clone());
            }
        }
        let retry_owed = !self.reload.owed.is_empty() && Instant::now() >= self.reload.retry_at;
        if new_ids.is_empty() && !retry_owed {
            return;
        }
        let mut ids = new_ids.clone();
        if retry_owed {
            ids.extend(self.reload.owed.iter().cloned());
        }
        let loaded = match tokio::time::timeout(self.reload.timeout, repository.open_alerts(&ids))
            .await
        {
            Ok(Ok(loaded)) => loaded,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {:?}", self.reload.timeout),
                };
                warn!(%error, vehicles = ids.len(), retry_in_ms = self.reload.retry_delay.as_millis() as u64,
                      "could not load the open alerts of newly seen vehicles; processing goes on and the load is retried");
                for id in new_ids {
                    self.reload.staged.insert(id.clone(), Staged::Owed);
                    self.reload.owed.push(id);
                }
                self.reload.retry_at = Instant::now() + self.reload.retry_delay;
                self.reload.retry_delay =
                    (self.reload.retry_delay * 2).min(self.reload.max_retry_delay);
                return;
            }
        };
        self.reload.retry_delay = self.reload.initial_retry_delay;
        let restored = loaded.len();
        let mut by_vehicle: HashMap<String, Vec<Alert>> = HashMap::new();
        for alert in loaded {
            by_vehicle
                .entry(alert.vehicle_id.clone())
                .or_default()
                .push(alert);
        }
        if retry_owed {
            for id in std::mem::take(&mut self.reload.owed) {
                let Some(state) = self.vehicles.get_mut(&id) else {
                    continue;
                };
                let raised_since = state.reload_owed.take().unwrap_or_default();
                let mut stored = by_vehicle.remove(&id).unwrap_or_default();
                stored.retain(|a| !raised_since.contains(&a.id));
                restore_episodes(&self.rules, &self.stats, state, stored, alerts);
            }
        }
        for (id, stored) in by_vehicle {
            self.reload.staged.insert(id, Staged::Alerts(stored));
        }
        if restored > 0 {
            info!(
                alerts = restored,
                vehicles = ids.len(),
                "took up open alert episodes of newly seen vehicles"
            );
        } else {
            debug!(
                vehicles = ids.len(),
                "newly seen vehicles have no open alerts"
            );
        }
    }

    /// Drops the state of the vehicles whose last raw record came from one of `partitions`
    /// (see the module docs), so their next reading is a first sight again. Vehicles of other
    /// partitions, and those whose readings carry no partition, are kept.
    fn forget_partitions(&mut self, partitions: &[i32], moved: Moved) {
        if partitions.is_empty() {
            return;
        }
        let before = self.vehicles.len();
        let owed = !self.reload.owed.is_empty();
        let mut forgotten: Vec<String> = Vec::new();
        let recency = &mut self.recency;
        self.vehicles.retain(|id, state| {
            let moved = state.partition.is_some_and(|p| partitions.contains(&p));
            if moved {
                recency.remove(&state.seen);
                if owed {
                    forgotten.push(id.clone());
                }
            }
            !moved
        });
        // A load still owed for a forgotten vehicle is done afresh on its next reading.
        if !forgotten.is_empty() {
            self.reload.owed.retain(|id| !forgotten.contains(id));
        }
        let count = (before - self.vehicles.len()) as u64;
        let counter = match moved {
            Moved::Assigned => &self.stats.vehicles_reassigned,
            Moved::Revoked => &self.stats.vehicles_released,
        };
        counter.fetch_add(count, Ordering::Relaxed);
        if count > 0 {
            info!(
                vehicles = count,
                ?partitions,
                "{}",
                match moved {
                    Moved::Assigned => {
                        "partitions assigned again: their vehicles' state is reloaded from the \
                         repository on their next reading"
                    }
                    Moved::Revoked => "partitions given up: their vehicles' state is dropped",
                }
            );
        } else {
            debug!(
                ?partitions,
                ?moved,
                "partitions moved; no vehicle of them known here"
            );
        }
    }

    /// Drops the state of the least recently seen vehicles beyond
    /// [`PipelineConfig::max_vehicles`]; their next reading is a first sight again.
    fn evict_least_recent(&mut self) {
        let max = self.window.max_vehicles;
        if self.vehicles.len() <= max {
            return;
        }
        let mut evicted = 0u64;
        let owed = !self.reload.owed.is_empty();
        let mut forgotten: Vec<String> = Vec::new();
        while self.vehicles.len() > max {
            let Some((_, id)) = self.recency.pop_first() else {
                break;
            };
            if self.vehicles.remove(&id).is_some() {
                evicted += 1;
                if owed {
                    forgotten.push(id);
                }
            }
        }
        // A load still owed for an evicted vehicle is done afresh on its next reading.
        if !forgotten.is_empty() {
            let forgotten: HashSet<String> = forgotten.into_iter().collect();
            self.reload.owed.retain(|id| !forgotten.contains(id));
        }
        self.stats
            .vehicles_evicted
            .fetch_add(evicted, Ordering::Relaxed);
        debug!(
            vehicles = evicted,
            max_vehicles = max,
            "more vehicles than max_vehicles: the least recently seen ones' state is dropped"
        );
    }

    fn on_tick(&mut self) -> WriteJob {
        let now = Utc::now();
        let mut alerts = Vec::new();
        for state in self.vehicles.values_mut() {
            self.signals.clear();
            for (rule, rule_state) in self.rules.iter().zip(state.rule_states.iter_mut()) {
                rule.on_tick(now, &state.last, rule_state, &mut self.signals);
            }
            let last = state.last.clone();
            for signal in self.signals.drain(..) {
                record_signal(&self.stats, state, &last, signal, &mut alerts);
            }
        }
        if let Some(hub) = &self.hub {
            for change in &alerts {
                if let AlertChange::Open(a) = change {
                    hub.publish_event(LiveEvent::Alert(a.clone()));
                }
            }
        }
        WriteJob {
            readings: Vec::new(),
            alerts,
            acks: Vec::new(),
        }
    }
}

fn record_signal(
    stats: &PipelineStats,
    state: &mut VehicleState,
    t: &Telemetry,
    signal: AlertSignal,
    alerts: &mut Vec<AlertChange>,
) {
    let position = state
        .open
        .iter()
        .position(|o| o.alert_type == signal.alert_type && o.key == signal.key);
    match (signal.transition, position) {
        (AlertTransition::Cleared, Some(i)) => {
            let open = state.open.swap_remove(i);
            stats.alerts_cleared.fetch_add(1, Ordering::Relaxed);
            alerts.push(AlertChange::Close {
                alert_id: open.alert_id,
                at: t.timestamp,
            });
        }
        // Raised again while open: the same episode (a reloaded one now has its rule).
        (AlertTransition::Raised, Some(i)) => state.open[i].unclaimed = false,
        (AlertTransition::Cleared, None) => {}
        (transition, _) => {
            let alert = new_alert(t, &signal);
            if transition == AlertTransition::Raised {
                state.open.push(OpenEpisode {
                    alert_type: signal.alert_type.clone(),
                    key: signal.key.clone(),
                    alert_id: alert.id.clone(),
                    unclaimed: false,
                });
                if let Some(raised_since) = &mut state.reload_owed {
                    raised_since.push(alert.id.clone());
                }
            }
            stats.alerts_raised.fetch_add(1, Ordering::Relaxed);
            *stats
                .alerts_by_type
                .lock()
                .expect("stats lock")
                .entry(signal.alert_type.as_str().to_string())
                .or_default() += 1;
            let event = transition == AlertTransition::Event;
            let at = t.timestamp;
            let alert = Arc::new(Alert {
                cleared_at: event.then_some(at),
                ..alert
            });
            alerts.push(AlertChange::Open(alert));
        }
    }
}

/// Takes up `stored` open alerts of one vehicle: each goes to the first rule that claims it
/// ([`AlertRule::restore`]) and into the vehicle's open episodes. One already open under another
/// id (raised again while the repository could not be read) is a duplicate: it is cleared, and
/// the newer alert stands for the episode.
fn restore_episodes(
    rules: &[Arc<dyn AlertRule>],
    stats: &PipelineStats,
    state: &mut VehicleState,
    stored: Vec<Alert>,
    alerts: &mut Vec<AlertChange>,
) {
    for alert in stored {
        if state.open.iter().any(|o| o.alert_id == alert.id) {
            continue;
        }
        let duplicate = state
            .open
            .iter()
            .any(|o| o.alert_type == alert.alert_type && o.key == alert.key);
        if duplicate {
            stats.alerts_cleared.fetch_add(1, Ordering::Relaxed);
            alerts.push(AlertChange::Close {
                alert_id: alert.id,
                at: state.last.timestamp,
            });
            continue;
        }
        let claimed = rules
            .iter()
            .zip(state.rule_states.iter_mut())
            .any(|(rule, rule_state)| rule.restore(&alert, rule_state));
        if !claimed {
            debug!(alert_id = %alert.id, alert_type = %alert.alert_type, vehicle_id = %alert.vehicle_id,
                   "no rule takes up this open alert; the next reading that does not raise it clears it");
        }
        stats.alerts_restored.fetch_add(1, Ordering::Relaxed);
        state.open.push(OpenEpisode {
            alert_type: alert.alert_type,
            key: alert.key,
            alert_id: alert.id,
            unclaimed: !claimed,
        });
    }
}

/// Clears the reloaded episodes no rule took up and `t` did not raise again.
fn clear_unclaimed(
    stats: &PipelineStats,
    state: &mut VehicleState,
    t: &Telemetry,
    alerts: &mut Vec<AlertChange>,
) {
    state.open.retain(|o| {
        if !o.unclaimed {
            return true;
        }
        stats.alerts_cleared.fetch_add(1, Ordering::Relaxed);
        alerts.push(AlertChange::Close {
            alert_id: o.alert_id.clone(),
            at: t.timestamp,
        });
        false
    });
}

fn new_alert(t: &Telemetry, s: &AlertSignal) -> Alert {
    Alert {
        id: format!("alert-{}", uuid::Uuid::new_v4().simple()),
        vehicle_id: t.vehicle_id.clone(),
        fleet_id: t.fleet_id.clone(),
        alert_type: s.alert_type.clone(),
        severity: s.severity,
        value: s.value,
        threshold: s.threshold,
        message: s.message.clone(),
        key: s.key.clone(),
        triggered_at: t.timestamp,
        cleared_at: None,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    }
}

struct Writer {
    store: Arc<dyn TimeSeriesStore>,
    repository: Option<Arc<dyn FleetRepository>>,
    stats: Arc<PipelineStats>,
    config: PipelineConfig,
    shutdown: watch::Receiver<bool>,
}

/// Moves every job already queued behind `job` into it, while it holds fewer than `max_rows`
/// readings.
fn coalesce(mut job: WriteJob, jobs: &mut mpsc::Receiver<WriteJob>, max_rows: usize) -> WriteJob {
    while job.readings.len() < max_rows {
        let Ok(next) = jobs.try_recv() else { break };
        job.absorb(next);
    }
    job
}

impl Writer {
    async fn run(self, mut jobs: mpsc::Receiver<WriteJob>) -> Result<()> {
        while let Some(job) = jobs.recv().await {
            let mut job = coalesce(job, &mut jobs, self.config.max_write_rows);
            let acks = std::mem::take(&mut job.acks);
            let n = job.readings.len() as u64;
            if !job.readings.is_empty() {
                let started = Instant::now();
                let outcome = self
                    .retry("store write", || self.store.write_batch(&job.readings))
                    .await?;
                let micros = started.elapsed().as_micros() as u64;
                self.stats
                    .write_micros_total
                    .fetch_add(micros, Ordering::Relaxed);
                self.stats
                    .write_micros_max
                    .fetch_max(micros, Ordering::Relaxed);
                self.stats.record_write_bucket(micros);
                self.stats.batches_written.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .stored
                    .fetch_add(outcome.inserted, Ordering::Relaxed);
                self.stats
                    .duplicates
                    .fetch_add(outcome.duplicates, Ordering::Relaxed);
                if let Some(newest) = job.readings.iter().map(|r| r.telemetry.timestamp).max() {
                    let lag = (Utc::now() - newest).num_milliseconds().max(0) as u64;
                    self.stats.last_lag_ms.store(lag, Ordering::Relaxed);
                }
            }
            if let Some(repo) = &self.repository {
                for change in &job.alerts {
                    match change {
                        AlertChange::Open(a) => {
                            self.retry("alert insert", || repo.insert_alert(a)).await?
                        }
                        AlertChange::Close { alert_id, at } => {
                            self.retry("alert clear", || repo.clear_alert(alert_id, *at))
                                .await?
                        }
                    }
                }
            }
            // Every merged batch is durable now: acknowledge them together, so a source that
            // commits positions (Kafka) folds them into one or two commits instead of one
            // round trip per batch. A failed ack means the source will redeliver; the store
            // absorbs the replay.
            let pending: Vec<_> = acks
                .into_iter()
                .map(|ack| tokio::spawn(ack.ack()))
                .collect();
            for ack in pending {
                match ack.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        warn!(error = %e, "acknowledging a stored batch failed; it may be replayed")
                    }
                    Err(e) => warn!(error = %e, "acknowledgement task failed; it may be replayed"),
                }
            }
            self.stats.in_flight.fetch_sub(n, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Retries `op` with exponential backoff until it succeeds, or until shutdown has been
    /// requested and `shutdown_timeout` has passed since.
    async fn retry<'a, T, F, Fut>(&'a self, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>> + 'a,
    {
        let mut delay = self.config.initial_retry_delay;
        let mut give_up_at: Option<Instant> = None;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    if *self.shutdown.borrow() {
                        let deadline = *give_up_at
                            .get_or_insert_with(|| Instant::now() + self.config.shutdown_timeout);
                        if Instant::now() >= deadline {
                            error!(error = %e, "{what} still failing at shutdown; batch left unacknowledged");
                            return Err(e);
                        }
                    }
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Logic tests with a small in-memory store; the real stores run the same pipeline in
    //! `vehicleops-store/tests`.
    use std::collections::{HashSet, VecDeque};
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use async_trait::async_trait;
    use chrono::{DateTime, Duration as ChronoDuration};

    use super::*;
    use crate::model::*;
    use crate::test_support::{PartialRepository, telemetry};

    #[derive(Default)]
    struct MemoryStore {
        rows: Mutex<Vec<Reading>>,
        keys: Mutex<HashSet<(String, DateTime<Utc>, u64)>>,
        fail_next: AtomicUsize,
        fail_always: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl TimeSeriesStore for MemoryStore {
        async fn write_batch(&self, readings: &[Reading]) -> Result<WriteOutcome> {
            if self.fail_always.load(Ordering::SeqCst)
                || self
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(Error::backend_msg("memory", "store is down"));
            }
            let mut out = WriteOutcome::default();
            let mut keys = self.keys.lock().unwrap();
            for r in readings {
                let t = &r.telemetry;
                if keys.insert((t.vehicle_id.clone(), t.timestamp, t.seq)) {
                    self.rows.lock().unwrap().push(r.clone());
                    out.inserted += 1;
                } else {
                    out.duplicates += 1;
                }
            }
            Ok(out)
        }
        async fn latest(&self, _: &str) -> Result<Option<Telemetry>> {
            unimplemented_query()
        }
        async fn latest_for_fleet(&self, _: &str) -> Result<Vec<Telemetry>> {
            unimplemented_query()
        }
        async fn history(&self, _: &HistoryQuery) -> Result<Vec<Telemetry>> {
            unimplemented_query()
        }
        async fn fleet_at(&self, _: &str, _: DateTime<Utc>) -> Result<Vec<Telemetry>> {
            unimplemented_query()
        }
        async fn vehicle_summary(&self, _: &str, _: TimeRange) -> Result<VehicleMetricsSummary> {
            unimplemented_query()
        }
        async fn series(
            &self,
            _: &str,
            _: Metric,
            _: TimeRange,
            _: ChronoDuration,
        ) -> Result<Vec<SeriesPoint>> {
            unimplemented_query()
        }
        async fn fleet_performance(&self, _: &str, _: TimeRange) -> Result<FleetPerformanceReport> {
            unimplemented_query()
        }
        async fn report_days(&self, _: &ReportQuery) -> Result<Vec<VehicleDay>> {
            unimplemented_query()
        }
        async fn status(&self) -> Result<StoreStatus> {
            unimplemented_query()
        }
    }

    fn unimplemented_query<T>() -> Result<T> {
        Err(Error::backend_msg(
            "memory",
            "queries are not part of this test store",
        ))
    }

    /// Hands out prepared batches, then ends; records which batches were acknowledged. A batch
    /// can come with partition changes, reported by the next `take_partition_changes`.
    struct ScriptedSource {
        batches: Mutex<VecDeque<(Vec<SourceRecord>, PartitionChanges)>>,
        acked: Arc<Mutex<Vec<usize>>>,
        next: AtomicUsize,
        changes: Mutex<PartitionChanges>,
    }

    struct Ack(usize, Arc<Mutex<Vec<usize>>>);

    #[async_trait]
    impl BatchAck for Ack {
        async fn ack(self: Box<Self>) -> Result<()> {
            self.1.lock().unwrap().push(self.0);
            Ok(())
        }
    }

    #[async_trait]
    impl TelemetrySource for ScriptedSource {
        async fn next_batch(&self, _max: usize) -> Result<Option<SourceBatch>> {
            let next = self.batches.lock().unwrap().pop_front();
            Ok(next.map(|(records, changes)| {
                let mut pending = self.changes.lock().unwrap();
                pending.assigned.extend(changes.assigned);
                pending.revoked.extend(changes.revoked);
                SourceBatch {
                    records,
                    ack: Some(Box::new(Ack(
                        self.next.fetch_add(1, Ordering::SeqCst),
                        self.acked.clone(),
                    ))),
                }
            }))
        }

        fn take_partition_changes(&self) -> Option<PartitionChanges> {
            let changes = std::mem::take(&mut *self.changes.lock().unwrap());
            (!changes.is_empty()).then_some(changes)
        }
    }

    fn source(batches: Vec<Vec<SourceRecord>>) -> (Arc<ScriptedSource>, Arc<Mutex<Vec<usize>>>) {
        source_with_changes(
            batches
                .into_iter()
                .map(|b| (b, PartitionChanges::default()))
                .collect(),
        )
    }

    fn source_with_changes(
        batches: Vec<(Vec<SourceRecord>, PartitionChanges)>,
    ) -> (Arc<ScriptedSource>, Arc<Mutex<Vec<usize>>>) {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let s = ScriptedSource {
            batches: Mutex::new(batches.into()),
            acked: acked.clone(),
            next: AtomicUsize::new(0),
            changes: Mutex::new(PartitionChanges::default()),
        };
        (Arc::new(s), acked)
    }

    fn reading(vehicle: &str, second: i64, speed: f64, lat: f64) -> Telemetry {
        Telemetry {
            latitude: lat,
            longitude: -74.0,
            speed_kmh: speed,
            load_pct: 10.0,
            ..telemetry(vehicle, second)
        }
    }

    struct Overspeed;
    impl AlertRule for Overspeed {
        fn name(&self) -> &str {
            "test-overspeed"
        }
        fn evaluate(&self, t: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
            let active: &mut bool = state.get();
            let over = t.speed_kmh > 80.0;
            if over != *active {
                *active = over;
                out.push(AlertSignal {
                    transition: if over {
                        AlertTransition::Raised
                    } else {
                        AlertTransition::Cleared
                    },
                    alert_type: AlertType::OVERSPEED,
                    severity: Severity::High,
                    value: t.speed_kmh,
                    threshold: 80.0,
                    message: format!("{} too fast", t.vehicle_id),
                    key: None,
                });
            }
        }
    }

    #[derive(Default)]
    struct CollectingDeadLetters(Mutex<Vec<DeadLetter>>);
    #[async_trait]
    impl DeadLetterSink for CollectingDeadLetters {
        async fn send(&self, letters: Vec<DeadLetter>) -> Result<()> {
            self.0.lock().unwrap().extend(letters);
            Ok(())
        }
    }

    fn fast_config() -> PipelineConfig {
        PipelineConfig {
            initial_retry_delay: Duration::from_millis(1),
            max_retry_delay: Duration::from_millis(5),
            shutdown_timeout: Duration::from_millis(50),
            ..PipelineConfig::default()
        }
    }

    #[tokio::test]
    async fn stores_valid_readings_dead_letters_the_rest_and_acks_after_storing() {
        let good = serde_json::to_vec(&reading("VH-1", 0, 10.0, 4.70)).unwrap();
        let (src, acked) = source(vec![
            vec![
                SourceRecord::Raw {
                    payload: good,
                    origin: RecordOrigin::default(),
                },
                SourceRecord::Raw {
                    payload: b"{not json".to_vec(),
                    origin: RecordOrigin {
                        stream: "raw".into(),
                        partition: 3,
                        offset: 42,
                    },
                },
                SourceRecord::Decoded(Telemetry {
                    battery_pct: 140.0,
                    ..reading("VH-2", 0, 1.0, 4.7)
                }),
            ],
            vec![SourceRecord::Decoded(reading("VH-1", 1, 12.0, 4.71))],
        ]);
        let store = Arc::new(MemoryStore::default());
        let dead = Arc::new(CollectingDeadLetters::default());
        let stats = PipelineBuilder::new(src, store.clone())
            .dead_letters(dead.clone())
            .config(fast_config())
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!(
            (
                stats.received,
                stats.valid,
                stats.dead_lettered,
                stats.stored
            ),
            (4, 2, 2, 2)
        );
        assert_eq!(*acked.lock().unwrap(), vec![0, 1]);
        let dead = dead.0.lock().unwrap();
        assert_eq!(dead[0].field, "payload");
        assert_eq!((dead[0].origin.partition, dead[0].origin.offset), (3, 42));
        assert_eq!(dead[1].field, "battery_pct");
        let rows = store.rows.lock().unwrap();
        assert_eq!(rows[0].distance_m, 0.0);
        let expected =
            geodesy::distance_m(rows[0].telemetry.position(), rows[1].telemetry.position());
        assert!((rows[1].distance_m - expected).abs() < 1e-9 && expected > 1000.0);
    }

    #[tokio::test]
    async fn retries_a_failing_store_and_acks_only_once_stored() {
        let (src, acked) = source(vec![vec![SourceRecord::Decoded(reading(
            "VH-1", 0, 10.0, 4.7,
        ))]]);
        let store = Arc::new(MemoryStore::default());
        store.fail_next.store(3, Ordering::SeqCst);
        let stats = PipelineBuilder::new(src, store.clone())
            .config(fast_config())
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!(stats.write_errors, 3);
        assert_eq!(stats.stored, 1);
        assert_eq!(*acked.lock().unwrap(), vec![0]);
    }

    #[tokio::test]
    async fn shutdown_never_acks_what_the_store_refused() {
        let (src, acked) = source(vec![vec![SourceRecord::Decoded(reading(
            "VH-1", 0, 10.0, 4.7,
        ))]]);
        let store = Arc::new(MemoryStore::default());
        store.fail_always.store(true, Ordering::SeqCst);
        let handle = PipelineBuilder::new(src, store.clone())
            .config(fast_config())
            .spawn();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let err = handle.shutdown().await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Backend);
        assert!(acked.lock().unwrap().is_empty());
        assert!(store.rows.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn alerts_are_episodes_and_replays_raise_nothing_new() {
        let speeds = [50.0, 90.0, 95.0, 99.0, 60.0, 40.0];
        let batch: Vec<_> = speeds
            .iter()
            .enumerate()
            .map(|(i, s)| SourceRecord::Decoded(reading("VH-1", i as i64, *s, 4.7)))
            .collect();
        let (src, _) = source(vec![batch.clone(), batch]);
        let hub = LiveHub::new();
        let mut sub = hub.subscribe("fleet-001");
        let store = Arc::new(MemoryStore::default());
        let stats = PipelineBuilder::new(src, store.clone())
            .rules([Arc::new(Overspeed) as Arc<dyn AlertRule>])
            .hub(hub.clone())
            .config(fast_config())
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!((stats.alerts_raised, stats.alerts_cleared), (1, 1));
        assert_eq!((stats.stored, stats.duplicates, stats.stale), (6, 6, 6));
        assert_eq!(stats.alerts_by_type.get("OVERSPEED"), Some(&1));
        let mut events = Vec::new();
        sub.drain_into(&mut events, usize::MAX);
        let alerts: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, LiveEvent::Alert(_)))
            .collect();
        assert_eq!(alerts.len(), 1);
        match &events.last().unwrap() {
            LiveEvent::Update(u) => {
                assert_eq!(
                    u.seq, 5,
                    "live view holds the newest reading, not the replay"
                );
                assert!(u.alerts.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    fn job(first_second: i64, rows: i64, ack: usize, acked: &Arc<Mutex<Vec<usize>>>) -> WriteJob {
        WriteJob {
            readings: (first_second..first_second + rows)
                .map(|s| Reading {
                    telemetry: reading("VH-1", s, 10.0, 4.7),
                    distance_m: 0.0,
                })
                .collect(),
            alerts: Vec::new(),
            acks: vec![Box::new(Ack(ack, acked.clone()))],
        }
    }

    #[tokio::test]
    async fn queued_batches_merge_into_one_write_up_to_the_row_limit() {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = mpsc::channel(8);
        for (i, first) in [0, 10, 20, 30].into_iter().enumerate() {
            tx.send(job(first, 10, i, &acked)).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        let merged = coalesce(first, &mut rx, 25);
        // 10 + 10 + 10 reaches the limit of 25: the fourth batch waits for the next write.
        let seconds: Vec<i64> = merged
            .readings
            .iter()
            .map(|r| r.telemetry.timestamp.timestamp() % 1000)
            .collect();
        assert_eq!(merged.readings.len(), 30);
        assert!(
            seconds.windows(2).all(|w| w[0] < w[1]),
            "order kept: {seconds:?}"
        );
        assert_eq!(merged.acks.len(), 3);
        for ack in merged.acks {
            ack.ack().await.unwrap();
        }
        assert_eq!(*acked.lock().unwrap(), vec![0, 1, 2]);
        let rest = coalesce(rx.recv().await.unwrap(), &mut rx, 25);
        assert_eq!((rest.readings.len(), rest.acks.len()), (10, 1));
    }

    #[test]
    fn store_writes_are_counted_in_their_duration_bucket() {
        let stats = PipelineStats::default();
        for micros in [500, 1_000, 1_001, 3_000, 100_000_000] {
            stats.record_write_bucket(micros);
        }
        let h = stats.snapshot().write_histogram;
        assert_eq!(h.len(), WRITE_BUCKETS_MS.len() + 1);
        assert_eq!(h[0], (1.0, 2), "0.5 ms and exactly 1 ms");
        assert_eq!(h[1], (2.0, 1));
        assert_eq!(h[2], (4.0, 1));
        assert_eq!(h[WRITE_BUCKETS_MS.len()], (f64::INFINITY, 1));
    }

    /// A repository that records alert inserts and clears and answers `open_alerts` from a
    /// script (an empty list once the script is used up); nothing else is needed here.
    #[derive(Default)]
    struct ScriptedRepository {
        open_answers: Mutex<VecDeque<Result<Vec<Alert>>>>,
        open_queries: Mutex<Vec<Vec<String>>>,
        inserted: Mutex<Vec<String>>,
        cleared: Mutex<Vec<(String, DateTime<Utc>)>>,
        /// Once the script is used up: these alerts plus every inserted one as open (a store
        /// whose clears lag behind), answered once something was inserted.
        then_inserted_plus: Mutex<Option<Vec<Alert>>>,
    }

    #[async_trait]
    impl PartialRepository for ScriptedRepository {
        async fn insert_alert(&self, alert: &Alert) -> Result<()> {
            self.inserted.lock().unwrap().push(alert.id.clone());
            Ok(())
        }
        async fn clear_alert(&self, alert_id: &str, at: DateTime<Utc>) -> Result<()> {
            self.cleared
                .lock()
                .unwrap()
                .push((alert_id.to_string(), at));
            Ok(())
        }
        async fn open_alerts(&self, vehicle_ids: &[String]) -> Result<Vec<Alert>> {
            self.open_queries.lock().unwrap().push(vehicle_ids.to_vec());
            let answer = self.open_answers.lock().unwrap().pop_front();
            if let Some(answer) = answer {
                return answer;
            }
            let Some(mut open) = self.then_inserted_plus.lock().unwrap().clone() else {
                return Ok(Vec::new());
            };
            // The writer inserts what the processing task raised before this batch.
            loop {
                let inserted = self.inserted.lock().unwrap().clone();
                if !inserted.is_empty() {
                    open.extend(
                        inserted
                            .iter()
                            .map(|id| stored_overspeed(id, &vehicle_ids[0])),
                    );
                    return Ok(open);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// An OVERSPEED alert of `vehicle` raised before the restart and still open.
    fn stored_overspeed(id: &str, vehicle: &str) -> Alert {
        Alert {
            id: id.into(),
            vehicle_id: vehicle.into(),
            fleet_id: "fleet-001".into(),
            alert_type: AlertType::OVERSPEED,
            severity: Severity::High,
            value: 95.0,
            threshold: 80.0,
            message: "before the restart".into(),
            key: None,
            triggered_at: DateTime::from_timestamp(1_699_999_000, 0).unwrap(),
            cleared_at: None,
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            notes: None,
        }
    }

    fn one_reading_batches(vehicle: &str, speeds: &[f64]) -> Vec<Vec<SourceRecord>> {
        speeds
            .iter()
            .enumerate()
            .map(|(i, s)| vec![SourceRecord::Decoded(reading(vehicle, i as i64, *s, 4.7))])
            .collect()
    }

    /// Retries due at once, so which batch retries is deterministic.
    fn eager_reload_config() -> PipelineConfig {
        PipelineConfig {
            initial_retry_delay: Duration::ZERO,
            max_retry_delay: Duration::ZERO,
            ..fast_config()
        }
    }

    /// Runs the overspeed rule over `src`, with `repo` for the alerts, until the source ends.
    async fn run_overspeed(
        src: Arc<ScriptedSource>,
        repo: &Arc<ScriptedRepository>,
        config: PipelineConfig,
    ) -> StatsSnapshot {
        PipelineBuilder::new(src, Arc::new(MemoryStore::default()))
            .repository(repo.clone())
            .rules([Arc::new(crate::rules::ThresholdRule::overspeed()) as Arc<dyn AlertRule>])
            .config(config)
            .spawn()
            .join()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn open_alerts_load_once_per_batch_for_new_vehicles_only() {
        let mut batches = vec![vec![
            SourceRecord::Decoded(reading("VH-1", 0, 95.0, 4.7)),
            SourceRecord::Decoded(reading("VH-2", 0, 10.0, 4.7)),
            SourceRecord::Decoded(reading("VH-1", 1, 96.0, 4.7)),
        ]];
        batches.extend(one_reading_batches("VH-1", &[97.0, 98.0]));
        batches.push(vec![
            SourceRecord::Decoded(reading("VH-3", 9, 10.0, 4.7)),
            SourceRecord::Decoded(reading("VH-1", 9, 60.0, 4.7)),
        ]);
        let (src, _) = source(batches);
        let repo = Arc::new(ScriptedRepository::default());
        repo.open_answers
            .lock()
            .unwrap()
            .push_back(Ok(vec![stored_overspeed("old", "VH-1")]));
        let stats = run_overspeed(src, &repo, fast_config()).await;
        assert_eq!(
            *repo.open_queries.lock().unwrap(),
            vec![
                vec!["VH-1".to_string(), "VH-2".to_string()],
                vec!["VH-3".to_string()]
            ],
            "one query per batch with new vehicles, none once all are known"
        );
        assert!(
            repo.inserted.lock().unwrap().is_empty(),
            "the stored episode goes on"
        );
        let cleared = repo.cleared.lock().unwrap().clone();
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].0, "old");
        assert_eq!(cleared[0].1.timestamp(), 1_700_000_009);
        assert_eq!(
            (
                stats.alerts_restored,
                stats.alerts_raised,
                stats.alerts_cleared
            ),
            (1, 0, 1)
        );
    }

    #[tokio::test]
    async fn a_failed_load_never_stalls_processing_and_is_retried() {
        // Load fails for the first batch; the episode is raised again meanwhile. The retry on
        // the next batch finds the stored alert: a duplicate of the open one, so it is cleared
        // and the new alert stands for the episode, which clears once.
        let (src, _) = source(one_reading_batches("VH-1", &[95.0, 96.0, 60.0]));
        let repo = Arc::new(ScriptedRepository::default());
        repo.open_answers.lock().unwrap().extend([
            Err(Error::backend_msg("scripted", "database is down")),
            Ok(vec![stored_overspeed("old", "VH-1")]),
        ]);
        let stats = run_overspeed(src, &repo, eager_reload_config()).await;
        assert_eq!(repo.open_queries.lock().unwrap().len(), 2, "retried once");
        let inserted = repo.inserted.lock().unwrap().clone();
        assert_eq!(inserted.len(), 1);
        let cleared: Vec<String> = repo
            .cleared
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.0.clone())
            .collect();
        assert_eq!(cleared, vec!["old".to_string(), inserted[0].clone()]);
        assert_eq!(stats.valid, 3);
        assert_eq!((stats.alerts_raised, stats.alerts_cleared), (1, 2));
    }

    #[tokio::test]
    async fn a_late_load_does_not_take_up_an_episode_that_already_ended_here() {
        // The load fails twice; meanwhile the episode is raised and cleared here. The late answer
        // lists the alert raised here as still open (its clear is not stored yet) besides the
        // one from before the restart: the first is left alone, the second taken up and cleared
        // by the next normal reading. Each alert is cleared once.
        let (src, _) = source(one_reading_batches("VH-1", &[95.0, 60.0, 50.0]));
        let repo = Arc::new(ScriptedRepository::default());
        repo.open_answers.lock().unwrap().extend([
            Err(Error::backend_msg("scripted", "database is down")),
            Err(Error::backend_msg("scripted", "database is down")),
        ]);
        *repo.then_inserted_plus.lock().unwrap() = Some(vec![stored_overspeed("old", "VH-1")]);
        let stats = run_overspeed(src, &repo, eager_reload_config()).await;
        assert_eq!(repo.open_queries.lock().unwrap().len(), 3);
        let inserted = repo.inserted.lock().unwrap().clone();
        assert_eq!(inserted.len(), 1);
        let cleared: Vec<String> = repo
            .cleared
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.0.clone())
            .collect();
        assert_eq!(cleared, vec![inserted[0].clone(), "old".to_string()]);
        assert_eq!(
            (
                stats.alerts_raised,
                stats.alerts_cleared,
                stats.alerts_restored
            ),
            (1, 2, 1)
        );
    }

    #[tokio::test]
    async fn live_updates_keep_flowing_while_the_store_is_down() {
        let batches = (0..20)
            .map(|i| {
                vec![SourceRecord::Decoded(reading(
                    &format!("VH-{i}"),
                    i,
                    10.0,
                    4.7,
                ))]
            })
            .collect();
        let (src, acked) = source(batches);
        let store = Arc::new(MemoryStore::default());
        store.fail_always.store(true, Ordering::SeqCst);
        let hub = LiveHub::new();
        let mut sub = hub.subscribe("fleet-001");
        let handle = PipelineBuilder::new(src, store.clone())
            .hub(hub.clone())
            .config(PipelineConfig {
                write_queue: 1,
                ..fast_config()
            })
            .spawn();
        // Far more batches than the write queue holds reach live subscribers, none stored.
        let mut seen = Vec::new();
        while seen.len() < 20 {
            match sub.recv().await {
                Some(LiveEvent::Update(u)) => seen.push(u.seq),
                other => panic!("{other:?}"),
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<u64>>());
        assert!(store.rows.lock().unwrap().is_empty());
        assert!(
            acked.lock().unwrap().is_empty(),
            "nothing acknowledged before it is stored"
        );
        store.fail_always.store(false, Ordering::SeqCst);
        let stats = handle.join().await.unwrap();
        assert_eq!(stats.stored, 20);
        assert_eq!(*acked.lock().unwrap(), (0..20).collect::<Vec<usize>>());
    }

    /// A raw record of `t` as a Kafka source hands it out: from `partition` of the raw topic.
    fn raw_on(partition: i32, t: &Telemetry) -> SourceRecord {
        SourceRecord::Raw {
            payload: serde_json::to_vec(t).unwrap(),
            origin: RecordOrigin {
                stream: "fleet.telemetry.raw".into(),
                partition,
                offset: t.seq as i64,
            },
        }
    }

    fn assigned(partitions: &[i32]) -> PartitionChanges {
        PartitionChanges {
            assigned: partitions.to_vec(),
            revoked: Vec::new(),
        }
    }

    fn cleared_ids(repo: &ScriptedRepository) -> Vec<String> {
        repo.cleared
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.0.clone())
            .collect()
    }

    fn queried(repo: &ScriptedRepository) -> Vec<Vec<String>> {
        repo.open_queries.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn a_partition_assigned_again_reloads_its_vehicles_from_the_repository() {
        // VH-1's partition 3 is read here and raises an episode; then it moves to another
        // instance, which clears the episode, and comes back: the source reports partition 3
        // newly assigned with the next batch. The repository (standing in for the other
        // instance) lists no open alert any more, so the next violating reading raises a new
        // alert instead of being taken for the stale episode, and only that one is cleared.
        let (src, _) = source_with_changes(vec![
            (
                vec![raw_on(3, &reading("VH-1", 0, 95.0, 4.7))],
                PartitionChanges::default(),
            ),
            (
                vec![raw_on(3, &reading("VH-1", 60, 96.0, 4.7))],
                assigned(&[3]),
            ),
            (
                vec![raw_on(3, &reading("VH-1", 61, 60.0, 4.7))],
                PartitionChanges::default(),
            ),
        ]);
        let repo = Arc::new(ScriptedRepository::default());
        let stats = run_overspeed(src, &repo, fast_config()).await;
        let inserted = repo.inserted.lock().unwrap().clone();
        assert_eq!(inserted.len(), 2, "a new episode: {inserted:?}");
        assert_ne!(inserted[0], inserted[1]);
        assert_eq!(
            cleared_ids(&repo),
            vec![inserted[1].clone()],
            "the episode the other instance cleared is not cleared again"
        );
        assert_eq!(
            queried(&repo),
            vec![vec!["VH-1".to_string()], vec!["VH-1".to_string()]],
            "reloaded on its first reading after the assignment"
        );
        assert_eq!(
            (
                stats.vehicles_reassigned,
                stats.vehicles_released,
                stats.alerts_raised,
                stats.alerts_cleared
            ),
            (1, 0, 2, 1)
        );
    }

    #[tokio::test]
    async fn vehicles_of_partitions_kept_are_not_reloaded_when_others_are_assigned() {
        // Partitions 5 and 0 are newly assigned; VH-1 (partition 3) and VH-2 (decoded by its
        // source, no partition) keep their state: their open episodes go on (no reload, no
        // second alert) and each clears once.
        let (src, _) = source_with_changes(vec![
            (
                vec![
                    raw_on(3, &reading("VH-1", 0, 95.0, 4.7)),
                    SourceRecord::Decoded(reading("VH-2", 0, 95.0, 4.7)),
                ],
                PartitionChanges::default(),
            ),
            (
                vec![
                    raw_on(3, &reading("VH-1", 1, 96.0, 4.7)),
                    SourceRecord::Decoded(reading("VH-2", 1, 96.0, 4.7)),
                ],
                assigned(&[5, 0]),
            ),
            (
                vec![
                    raw_on(3, &reading("VH-1", 2, 60.0, 4.7)),
                    SourceRecord::Decoded(reading("VH-2", 2, 60.0, 4.7)),
                ],
                PartitionChanges::default(),
            ),
        ]);
        let repo = Arc::new(ScriptedRepository::default());
        let stats = run_overspeed(src, &repo, fast_config()).await;
        assert_eq!(
            queried(&repo),
            vec![vec!["VH-1".to_string(), "VH-2".to_string()]]
        );
        let mut inserted = repo.inserted.lock().unwrap().clone();
        let mut cleared = cleared_ids(&repo);
        inserted.sort();
        cleared.sort();
        assert_eq!(inserted.len(), 2);
        assert_eq!(cleared, inserted);
        assert_eq!(
            (
                stats.vehicles_reassigned,
                stats.alerts_raised,
                stats.alerts_cleared
            ),
            (0, 2, 2)
        );
    }

    #[tokio::test]
    async fn a_partition_given_up_drops_its_vehicles_after_the_batch() {
        // The revocation of partition 3 is reported with the second batch: that batch's reading
        // still belongs to the open episode (no reload, nothing new), and then VH-1 is
        // forgotten, so a later reading of it is a first sight (here the repository still lists
        // the episode: it is taken up and cleared once). VH-2 on partition 4 is kept.
        let (src, _) = source_with_changes(vec![
            (
                vec![
                    raw_on(3, &reading("VH-1", 0, 95.0, 4.7)),
                    raw_on(4, &reading("VH-2", 0, 10.0, 4.7)),
                ],
                PartitionChanges::default(),
            ),
            (
                vec![raw_on(3, &reading("VH-1", 1, 96.0, 4.7))],
                PartitionChanges {
                    assigned: Vec::new(),
                    revoked: vec![3],
                },
            ),
            (
                vec![
                    raw_on(3, &reading("VH-1", 2, 60.0, 4.7)),
                    raw_on(4, &reading("VH-2", 2, 10.0, 4.7)),
                ],
                PartitionChanges::default(),
            ),
        ]);
        let repo = Arc::new(ScriptedRepository::default());
        repo.open_answers.lock().unwrap().push_back(Ok(Vec::new()));
        *repo.then_inserted_plus.lock().unwrap() = Some(Vec::new());
        let stats = run_overspeed(src, &repo, fast_config()).await;
        assert_eq!(
            queried(&repo),
            vec![
                vec!["VH-1".to_string(), "VH-2".to_string()],
                vec!["VH-1".to_string()]
            ],
            "VH-1 reloaded once, after the batch that came with the revocation"
        );
        let inserted = repo.inserted.lock().unwrap().clone();
        assert_eq!(inserted.len(), 1);
        assert_eq!(cleared_ids(&repo), inserted);
        assert_eq!(
            (
                stats.vehicles_released,
                stats.vehicles_reassigned,
                stats.alerts_restored,
                stats.alerts_raised,
                stats.alerts_cleared
            ),
            (1, 0, 1, 1, 1)
        );
    }

    /// `reading` dated `offset` from now.
    fn reading_at(vehicle: &str, seq: u64, offset: ChronoDuration) -> Telemetry {
        Telemetry {
            timestamp: Utc::now() + offset,
            seq,
            ..reading(vehicle, 0, 10.0, 4.7)
        }
    }

    /// The window an engine is recommended to use: 7 days back, 5 minutes ahead.
    fn windowed_config() -> PipelineConfig {
        PipelineConfig {
            accept_past: Some(Duration::from_secs(7 * 24 * 3600)),
            accept_future: Some(Duration::from_secs(300)),
            ..fast_config()
        }
    }

    #[tokio::test]
    async fn a_reading_dated_far_ahead_is_dead_lettered_and_the_vehicle_keeps_updating() {
        let far = Telemetry {
            timestamp: "9999-12-31T23:59:59Z".parse().unwrap(),
            ..reading_at("VH-1", 2, ChronoDuration::zero())
        };
        let (src, acked) = source(vec![
            vec![SourceRecord::Decoded(reading_at(
                "VH-1",
                1,
                ChronoDuration::seconds(-60),
            ))],
            vec![
                raw_on(4, &far),
                SourceRecord::Decoded(Telemetry {
                    seq: 3,
                    ..far.clone()
                }),
            ],
            vec![SourceRecord::Decoded(reading_at(
                "VH-1",
                4,
                ChronoDuration::seconds(-30),
            ))],
            // One minute ahead is inside the window.
            vec![SourceRecord::Decoded(reading_at(
                "VH-1",
                5,
                ChronoDuration::seconds(60),
            ))],
        ]);
        let store = Arc::new(MemoryStore::default());
        let dead = Arc::new(CollectingDeadLetters::default());
        let hub = LiveHub::new();
        let stats = PipelineBuilder::new(src, store.clone())
            .dead_letters(dead.clone())
            .hub(hub.clone())
            .config(windowed_config())
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!(
            (
                stats.received,
                stats.valid,
                stats.dead_lettered,
                stats.stale
            ),
            (5, 3, 2, 0)
        );
        assert_eq!(*acked.lock().unwrap(), vec![0, 1, 2, 3]);
        let dead = dead.0.lock().unwrap();
        assert!(dead.iter().all(|d| d.field == "timestamp"), "{dead:?}");
        assert!(dead[0].reason.contains("future"), "{}", dead[0].reason);
        assert_eq!((dead[0].origin.partition, dead[0].origin.offset), (4, 2));
        let stored: Vec<u64> = store
            .rows
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.telemetry.seq)
            .collect();
        assert_eq!(stored, vec![1, 4, 5], "later readings are not stale");
        let live = hub.snapshot("fleet-001");
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].seq, 5, "the live state follows the vehicle");
    }

    #[tokio::test]
    async fn readings_older_than_the_window_are_dead_lettered_and_no_window_keeps_them() {
        let old = || {
            vec![
                vec![SourceRecord::Decoded(reading_at(
                    "VH-1",
                    1,
                    ChronoDuration::days(-8),
                ))],
                vec![SourceRecord::Decoded(reading_at(
                    "VH-1",
                    2,
                    ChronoDuration::days(-6),
                ))],
            ]
        };
        let dead = Arc::new(CollectingDeadLetters::default());
        let (src, _) = source(old());
        let stats = PipelineBuilder::new(src, Arc::new(MemoryStore::default()))
            .dead_letters(dead.clone())
            .config(windowed_config())
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!((stats.valid, stats.dead_lettered), (1, 1));
        {
            let letters = dead.0.lock().unwrap();
            assert_eq!(letters[0].field, "timestamp");
            assert!(letters[0].reason.contains("past"), "{}", letters[0].reason);
        }
        // The core default has no window: replays of old data are kept.
        let (src, _) = source(old());
        let stats = PipelineBuilder::new(src, Arc::new(MemoryStore::default()))
            .config(fast_config())
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!((stats.valid, stats.dead_lettered), (2, 0));
    }

    #[tokio::test]
    async fn vehicles_beyond_the_cap_are_evicted_least_recently_seen_first() {
        let batches: Vec<Vec<SourceRecord>> = (0..10)
            .map(|b| {
                (0..1000)
                    .map(|i| SourceRecord::Decoded(reading(&format!("VH-{b}-{i}"), 0, 10.0, 4.7)))
                    .collect()
            })
            .collect();
        let (src, _) = source(batches);
        let hub = LiveHub::with_max_vehicles(100);
        let stats = PipelineBuilder::new(src, Arc::new(MemoryStore::default()))
            .hub(hub.clone())
            .config(PipelineConfig {
                max_vehicles: 100,
                ..fast_config()
            })
            .spawn()
            .join()
            .await
            .unwrap();
        assert_eq!(stats.valid, 10_000);
        // 10,000 tracked once, 9,900 dropped: 100 left.
        assert_eq!(stats.vehicles_evicted, 9_900);
        assert!(hub.tracked_vehicles() <= 100);
        assert_eq!(hub.evicted_vehicles(), 9_900);
        let live = hub.snapshot("fleet-001");
        assert_eq!(live.len(), 100);
        assert!(live.iter().all(|u| u.vehicle_id.starts_with("VH-9-")));
    }

    #[tokio::test]
    async fn an_evicted_vehicle_keeps_its_open_episode_when_it_reports_again() {
        // Cap 1: VH-2's reading evicts VH-1, whose OVERSPEED episode is open. VH-1 reports
        // again: its episode is reloaded from the repository (not raised anew) and cleared once.
        let (src, _) = source(vec![
            vec![SourceRecord::Decoded(reading("VH-1", 0, 95.0, 4.7))],
            vec![SourceRecord::Decoded(reading("VH-2", 1, 10.0, 4.7))],
            vec![SourceRecord::Decoded(reading("VH-1", 2, 96.0, 4.7))],
            vec![SourceRecord::Decoded(reading("VH-1", 3, 60.0, 4.7))],
        ]);
        let repo = Arc::new(ScriptedRepository::default());
        repo.open_answers
            .lock()
            .unwrap()
            .extend([Ok(Vec::new()), Ok(Vec::new())]);
        *repo.then_inserted_plus.lock().unwrap() = Some(Vec::new());
        let stats = run_overspeed(
            src,
            &repo,
            PipelineConfig {
                max_vehicles: 1,
                ..fast_config()
            },
        )
        .await;
        let inserted = repo.inserted.lock().unwrap().clone();
        assert_eq!(inserted.len(), 1, "one episode: {inserted:?}");
        assert_eq!(cleared_ids(&repo), inserted);
        assert_eq!(
            queried(&repo),
            vec![
                vec!["VH-1".to_string()],
                vec!["VH-2".to_string()],
                vec!["VH-1".to_string()]
            ],
            "reloaded on its first reading after the eviction"
        );
        assert_eq!(
            (
                stats.vehicles_evicted,
                stats.alerts_restored,
                stats.alerts_raised,
                stats.alerts_cleared
            ),
            (2, 1, 1, 1)
        );
    }
}
