//! The extension points of the SDK. Each is object safe and used as `Arc<dyn …>`.

use std::any::Any;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::*;

// ---------------------------------------------------------------------------------------------
// Telemetry sources
// ---------------------------------------------------------------------------------------------

/// Where a raw record came from, kept for dead letters (e.g. Kafka partition and offset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOrigin {
    /// Topic, MQTT topic or channel name.
    pub stream: String,
    pub partition: i32,
    pub offset: i64,
}

/// One record from a source: raw bytes to decode, or a reading a source already decoded
/// (for instance one mapped from a VDA 5050 `state` message, or the in-process bus).
#[derive(Debug, Clone)]
pub enum SourceRecord {
    Raw {
        payload: Vec<u8>,
        origin: RecordOrigin,
    },
    Decoded(Telemetry),
}

/// Acknowledges a batch to its source once the batch is durable (e.g. commits Kafka offsets).
#[async_trait]
pub trait BatchAck: Send {
    async fn ack(self: Box<Self>) -> Result<()>;
}

/// A batch of records with the acknowledgement the pipeline gives once it is stored.
pub struct SourceBatch {
    pub records: Vec<SourceRecord>,
    /// `None` for sources without positions to commit.
    pub ack: Option<Box<dyn BatchAck>>,
}

impl std::fmt::Debug for SourceBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceBatch")
            .field("records", &self.records.len())
            .field("ack", &self.ack.is_some())
            .finish()
    }
}

/// Partitions a source took up or gave up (a Kafka consumer-group rebalance), as reported by
/// [`TelemetrySource::take_partition_changes`]. Partitions are those of
/// [`RecordOrigin::partition`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionChanges {
    /// Partitions newly assigned to this instance: other instances may have read them since
    /// this one last did (if it ever did).
    pub assigned: Vec<i32>,
    /// Partitions this instance gave up and has not been assigned again.
    pub revoked: Vec<i32>,
}

impl PartitionChanges {
    pub fn is_empty(&self) -> bool {
        self.assigned.is_empty() && self.revoked.is_empty()
    }
}

/// A stream of telemetry, delivered at least once.
///
/// Implementations: the in-process bus ([`crate::inproc`]), Kafka (`vehicleops-kafka`),
/// VDA 5050 over MQTT.
#[async_trait]
pub trait TelemetrySource: Send + Sync {
    /// Waits for the next batch of at most `max` records. `Ok(None)` means the source has ended
    /// (closed or shut down) and will yield nothing more.
    async fn next_batch(&self, max: usize) -> Result<Option<SourceBatch>>;

    /// The partitions this source was assigned or gave up since the previous call, or `None`
    /// when none changed (the default, for sources without partitions that move between
    /// instances). The pipeline calls it right after each [`Self::next_batch`] and on its ticks,
    /// and forgets what it knows of the vehicles of those partitions (see [`crate::pipeline`]).
    ///
    /// A source that implements it reports an assignment no later than with the first batch
    /// holding records of the assigned partition, and hands out no record of a partition after
    /// reporting it revoked (until it reports it assigned again). A partition revoked and then
    /// assigned again before the call is reported as assigned only.
    fn take_partition_changes(&self) -> Option<PartitionChanges> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Alert rules
// ---------------------------------------------------------------------------------------------

/// A rule's private state for one vehicle. The pipeline keeps one slot per (vehicle, rule), so a
/// stateful rule never shares state between vehicles and needs no locking.
#[derive(Default)]
pub struct RuleState(Option<Box<dyn Any + Send>>);

impl RuleState {
    /// The state as `T`, created with `T::default()` on first use.
    pub fn get<T: Any + Send + Default>(&mut self) -> &mut T {
        if !self.0.as_ref().is_some_and(|b| b.is::<T>()) {
            self.0 = Some(Box::new(T::default()));
        }
        self.0
            .as_mut()
            .and_then(|b| b.downcast_mut::<T>())
            .expect("state type was just set")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// Evaluates readings against a condition and signals alert episodes.
///
/// Rules are called from the pipeline's processing task in per-vehicle order. They should be
/// fast and must not block: the pipeline calls every rule for every reading.
pub trait AlertRule: Send + Sync {
    /// A short stable name, for logs and metrics.
    fn name(&self) -> &str;

    /// Evaluates one reading; pushes zero or more signals to `out`.
    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>);

    /// Called periodically with the wall-clock time and the vehicle's last reading, for rules
    /// that fire on silence (e.g. OFFLINE). The default does nothing.
    fn on_tick(
        &self,
        _now: DateTime<Utc>,
        _last: &Telemetry,
        _state: &mut RuleState,
        _out: &mut Vec<AlertSignal>,
    ) {
    }

    /// An episode of this rule was open before a restart (or before the vehicle's readings
    /// moved to this instance): take it up. A rule that recognises `alert` as one of its own
    /// episodes (same alert type and key) puts `state` into that open episode and returns
    /// `true`, so the next violating reading raises nothing and the next normal one (after
    /// debounce) clears it. `state` is the vehicle's slot for this rule, usually still empty.
    ///
    /// The pipeline offers each open alert it reloads to the rules in order until one claims it;
    /// an alert no rule claims is cleared by the vehicle's next reading that does not raise it
    /// again. The default claims nothing.
    fn restore(&self, _alert: &Alert, _state: &mut RuleState) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// What a sink says when it has accepted a command for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchReceipt {
    pub command_id: String,
    pub accepted_at: DateTime<Utc>,
    /// Transport detail, e.g. `fleet.commands[3]@1042`.
    pub transport_ref: Option<String>,
}

/// Carries commands to vehicles, and their acknowledgements back.
#[async_trait]
pub trait CommandSink: Send + Sync {
    /// Hands `command` to the transport. STOP must not wait behind queued commands.
    async fn dispatch(&self, command: &Command) -> Result<DispatchReceipt>;

    /// Waits for the next acknowledgement from any vehicle; `None` once the sink is closed.
    async fn next_ack(&self) -> Option<CommandAck>;

    /// What the vehicle told this transport it can do (a VDA 5050 factsheet), once it has;
    /// `None` until then and for transports whose vehicles describe nothing.
    fn capabilities(&self, _vehicle_id: &str) -> Option<VehicleCapabilities> {
        None
    }
}

/// Carries missions to vehicles in the transport's own form: what a
/// [`crate::MissionService`] calls when a mission is created, progresses and is cancelled.
///
/// Transports without a mission form of their own use [`crate::missions::CommandMissionLink`]
/// (the route as a REROUTE command, a STOP when cancelled); VDA 5050 sends an order with a base
/// and a horizon and releases the horizon as the vehicle reaches waypoints.
#[async_trait]
pub trait MissionLink: Send + Sync {
    /// Sends a new mission to its vehicle, on behalf of `issued_by`. An error means the vehicle
    /// did not get the route: the mission service ends the mission FAILED.
    async fn assign(&self, mission: &Mission, issued_by: &str) -> Result<()>;

    /// The mission progressed (`completed_waypoints` grew; called once per reading that
    /// reached one or more waypoints, the last one included): release more of its route if the
    /// transport holds some back.
    async fn progressed(&self, mission: &Mission) -> Result<()>;

    /// The mission was cancelled (by `issued_by`): the vehicle drops it. An error is logged;
    /// the cancellation stands.
    async fn cancel(&self, mission: &Mission, issued_by: &str) -> Result<()>;

    /// How many of the mission's waypoints (counted from the first, in order) the vehicle
    /// reports passed in the transport's own terms — VDA 5050: the order's nodes behind it in
    /// its `state` — when the transport knows. The mission service counts the larger of this
    /// and what the vehicle's positions show, so a vehicle that passes a waypoint between two
    /// readings, or outside the arrival radius, still completes its mission. Called with the
    /// service's lock held: answer from memory, without waiting.
    fn waypoints_reached(&self, _mission: &Mission) -> Option<u32> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------------------------

/// What a batch write did. `inserted + duplicates` equals the batch length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    pub inserted: u64,
    /// Rows whose natural key `(vehicle_id, timestamp, seq)` was already stored.
    pub duplicates: u64,
}

/// History query: readings of one vehicle in a window, oldest first, at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub vehicle_id: String,
    pub range: TimeRange,
    pub limit: u32,
}

impl HistoryQuery {
    pub const DEFAULT_LIMIT: u32 = 1000;
    pub const MAX_LIMIT: u32 = 10_000;
}

/// Which engine backs a store and what it uses, for logs and status endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// e.g. `"sqlite"`, `"postgresql"`, `"timescaledb"`.
    pub backend: String,
    pub version: String,
    /// Free-form features in use, e.g. `["hypertable", "continuous_aggregates"]`.
    pub features: Vec<String>,
}

/// Time-series storage of readings and the analytics over them.
///
/// Writes are idempotent on `(vehicle_id, timestamp, seq)`. Windows are inclusive.
#[async_trait]
pub trait TimeSeriesStore: Send + Sync {
    /// Stores a batch durably; when this returns `Ok` the batch survives a crash.
    async fn write_batch(&self, readings: &[Reading]) -> Result<WriteOutcome>;

    /// The newest reading of a vehicle.
    async fn latest(&self, vehicle_id: &str) -> Result<Option<Telemetry>>;

    /// The newest reading of every vehicle of a fleet, ordered by vehicle id.
    async fn latest_for_fleet(&self, fleet_id: &str) -> Result<Vec<Telemetry>>;

    /// Readings of one vehicle in a window, oldest first (ties by `seq`), at most `limit`.
    async fn history(&self, query: &HistoryQuery) -> Result<Vec<Telemetry>>;

    /// The fleet as it was at `at`: the last reading at or before `at` (ties by `seq`) of each
    /// vehicle that has reported for `fleet_id`, ordered by vehicle id. A vehicle whose last
    /// reading by then was in another fleet, or that had not reported yet, is left out.
    async fn fleet_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Telemetry>>;

    /// Aggregates of one vehicle over a window.
    async fn vehicle_summary(
        &self,
        vehicle_id: &str,
        range: TimeRange,
    ) -> Result<VehicleMetricsSummary>;

    /// `metric` of one vehicle bucketed by `bucket` (aligned to the Unix epoch), oldest first;
    /// empty buckets are omitted.
    async fn series(
        &self,
        vehicle_id: &str,
        metric: Metric,
        range: TimeRange,
        bucket: Duration,
    ) -> Result<Vec<SeriesPoint>>;

    /// Per-vehicle performance of a fleet, ranked by distance, longest first.
    async fn fleet_performance(
        &self,
        fleet_id: &str,
        range: TimeRange,
    ) -> Result<FleetPerformanceReport>;

    /// The telemetry part of a daily report ([`ReportQuery`], validated): per vehicle and site
    /// day with readings, the readings, distance, time per status and speeds, read from the
    /// per-minute rollups (and readings not rolled up yet), never from a scan of raw readings;
    /// alerts and missions are the caller's. Ordered by day, then vehicle id.
    async fn report_days(&self, query: &ReportQuery) -> Result<Vec<VehicleDay>>;

    async fn status(&self) -> Result<StoreStatus>;
}

/// Filters for listing alerts. `None` means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub fleet_id: Option<String>,
    pub vehicle_id: Option<String>,
    pub severity: Option<Severity>,
    pub acknowledged: Option<bool>,
    pub limit: u32,
}

/// Filters for listing missions. `None` means "any"; a `limit` of 0 means "no limit".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MissionFilter {
    pub fleet_id: Option<String>,
    pub vehicle_id: Option<String>,
    pub status: Option<MissionStatus>,
    pub limit: u32,
}

/// One keyset page of a fleet's alerts, commands or missions in a window, oldest first (by
/// their time — triggered, issued, created — then id): how exports read a range of any size
/// without holding it. The next page starts `after` the last record of this one.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordsQuery {
    pub fleet_id: String,
    /// Inclusive at both ends.
    pub range: TimeRange,
    /// `(time, id)` of the last record already read; `None` for the first page.
    pub after: Option<(DateTime<Utc>, String)>,
    pub limit: u32,
}

impl RecordsQuery {
    /// Largest page a store returns.
    pub const MAX_LIMIT: u32 = 10_000;

    /// The page size a store uses: `limit`, at most [`Self::MAX_LIMIT`] (also for 0).
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => Self::MAX_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// A page of results with the total that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub total: u64,
}

/// Relational entities: fleets, vehicles, operators, alerts, commands and missions.
#[async_trait]
pub trait FleetRepository: Send + Sync {
    async fn upsert_fleet(&self, fleet: &Fleet) -> Result<()>;
    async fn get_fleet(&self, fleet_id: &str) -> Result<Option<Fleet>>;
    async fn list_fleets(&self) -> Result<Vec<Fleet>>;

    /// Registers a vehicle; its fleet must exist.
    async fn upsert_vehicle(&self, vehicle: &Vehicle) -> Result<()>;
    async fn get_vehicle(&self, vehicle_id: &str) -> Result<Option<Vehicle>>;
    async fn list_vehicles(&self, fleet_id: &str) -> Result<Vec<Vehicle>>;

    async fn upsert_operator(&self, operator: &Operator) -> Result<()>;
    /// Looks an operator up by e-mail, with the password hash filled in.
    async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>>;
    async fn get_operator(&self, operator_id: &str) -> Result<Option<Operator>>;

    async fn insert_alert(&self, alert: &Alert) -> Result<()>;
    /// Marks an alert episode as over.
    async fn clear_alert(&self, alert_id: &str, at: DateTime<Utc>) -> Result<()>;
    async fn acknowledge_alert(
        &self,
        alert_id: &str,
        by: &str,
        at: DateTime<Utc>,
        notes: Option<&str>,
    ) -> Result<Alert>;
    async fn get_alert(&self, alert_id: &str) -> Result<Option<Alert>>;
    /// Newest first.
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>>;
    /// Unacknowledged alerts of a fleet.
    async fn count_open_alerts(&self, fleet_id: &str) -> Result<u64>;
    /// Alerts of a fleet open at `at`: triggered at or before it and not cleared by then
    /// (cleared later, or not yet); oldest first, ties by id.
    async fn alerts_open_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Alert>>;
    /// Alert episodes not cleared yet (`cleared_at` unset, acknowledged or not) of these
    /// vehicles, or of every vehicle when `vehicle_ids` is empty; oldest first (by trigger time,
    /// then id). What a pipeline reloads when it first sees a vehicle after a restart.
    async fn open_alerts(&self, vehicle_ids: &[String]) -> Result<Vec<Alert>>;

    /// Inserts a command, failing with [`crate::ErrorKind::Conflict`] if its id exists or if
    /// its issuer already has a command with its idempotency key (unique per `issued_by`).
    async fn insert_command(&self, command: &Command) -> Result<()>;
    /// Replaces the stored lifecycle fields (status, times, reason, expiry) of a command.
    async fn update_command(&self, command: &Command) -> Result<()>;
    async fn get_command(&self, command_id: &str) -> Result<Option<Command>>;
    /// The command `issued_by` dispatched with this idempotency key, if any.
    async fn command_by_idempotency_key(
        &self,
        issued_by: &str,
        idempotency_key: &str,
    ) -> Result<Option<Command>>;
    /// Newest first.
    async fn list_commands(&self, vehicle_id: &str, limit: u32) -> Result<Page<Command>>;
    /// Commands still under way (DISPATCHED or DELIVERED), oldest first (by issue time, then
    /// id): what a command center resumes after a restart.
    async fn pending_commands(&self) -> Result<Vec<Command>>;

    /// Inserts a mission, failing with [`crate::ErrorKind::Conflict`] if the vehicle already
    /// has an active (ASSIGNED or IN_PROGRESS) mission. The check and insert are atomic.
    async fn insert_mission(&self, mission: &Mission) -> Result<()>;
    /// Replaces an active mission. An ended one (COMPLETED, FAILED, CANCELLED) never changes
    /// again: [`crate::ErrorKind::InvalidTransition`], so a progress write that was under way
    /// when the mission was cancelled (here or on another instance) cannot revive it. The
    /// check and the write are atomic.
    async fn update_mission(&self, mission: &Mission) -> Result<()>;
    async fn get_mission(&self, mission_id: &str) -> Result<Option<Mission>>;
    async fn active_mission(&self, vehicle_id: &str) -> Result<Option<Mission>>;
    async fn count_active_missions(&self, fleet_id: &str) -> Result<u64>;
    /// Every active (ASSIGNED or IN_PROGRESS) mission, oldest first (by creation time, then id).
    async fn active_missions(&self) -> Result<Vec<Mission>>;
    /// Newest first (by creation time, then id), with the total that matched the filter.
    async fn list_missions(&self, filter: &MissionFilter) -> Result<Page<Mission>>;

    /// A page of the fleet's alerts triggered in the window ([`RecordsQuery`]).
    async fn alerts_between(&self, query: &RecordsQuery) -> Result<Vec<Alert>>;
    /// A page of the fleet's commands issued in the window ([`RecordsQuery`]).
    async fn commands_between(&self, query: &RecordsQuery) -> Result<Vec<Command>>;
    /// A page of the fleet's missions created in the window ([`RecordsQuery`]).
    async fn missions_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>>;
    /// Like [`Self::missions_between`], by the time missions ended (`completed_at`: completed,
    /// failed or cancelled) instead of created: what reports count.
    async fn missions_ended_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>>;

    /// Adds an entry to the audit trail.
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// A page of the audit trail, newest first (by time, then id) ([`AuditFilter`]).
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

/// A reading that failed validation, with why and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub payload: Vec<u8>,
    pub field: String,
    pub reason: String,
    pub origin: RecordOrigin,
    pub at: DateTime<Utc>,
}

/// Where invalid readings go. The pipeline counts them and never stops for them.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    async fn send(&self, letters: Vec<DeadLetter>) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------
// Transports: the sides an engine's user and the vehicles hold
// ---------------------------------------------------------------------------------------------

/// Where producers of telemetry (the simulator, a Kafka producer, a gateway) publish readings.
#[async_trait]
pub trait TelemetryPublisher: Send + Sync {
    /// Publishes a batch, waiting while the transport is full. Fails with
    /// [`crate::ErrorKind::Closed`] once the receiving side is gone.
    async fn publish(&self, batch: Vec<Telemetry>) -> Result<()>;
}

/// A [`TelemetryPublisher`] that also takes raw JSON payloads, which the pipeline decodes and
/// dead-letters when invalid (the in-process bus, Kafka).
#[async_trait]
pub trait ReadingPublisher: TelemetryPublisher {
    /// Publishes raw payloads in order, waiting while the transport is full.
    async fn publish_raw(&self, payloads: Vec<Vec<u8>>) -> Result<()>;
}

/// The vehicle side of a command transport: what a simulator (or a vehicle gateway) uses to
/// receive commands and answer with acknowledgements.
///
/// Polling never waits, so a simulator can check for commands once per tick. Implementations
/// return STOP commands before any other queued command; among the rest, the dispatch order.
/// A Kafka or MQTT implementation keeps its own receive buffer and drains it here.
///
/// Implementations never hand out a command past its `expires_at`: they drop it and send its
/// EXPIRED acknowledgement themselves (see [`crate::inproc::refuse_expired`]), so whatever is
/// built on a link (the simulator, a vehicle gateway) never acts on a late command.
#[async_trait]
pub trait VehicleCommandLink: Send + Sync {
    /// Takes up to `max` commands that have arrived, STOP first, without waiting; empty when
    /// there are none (also once the platform side is gone). Commands past their expiry are
    /// not returned (nor counted against `max`); they are acknowledged EXPIRED.
    async fn poll_commands(&self, max: usize) -> Result<Vec<Command>>;

    /// Sends acknowledgements (DELIVERED, EXECUTED, FAILED) back to the platform.
    async fn send_acks(&self, acks: Vec<CommandAck>) -> Result<()>;
}

/// Removing what is past its retention ([`RetentionPolicy`]), the way each backend does it
/// best: rows deleted, daily partitions or chunks dropped.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Removes each kind's records older than its cutoff (none where the cutoff is `None`):
    /// readings, rollups, and alerts, commands and missions that are over (cleared, ended).
    /// Readings go by whole daily partitions where the backend partitions by day, so some may
    /// outlive their cutoff by up to a day. Safe to run while ingesting, and again.
    async fn apply_retention(&self, cutoffs: &RetentionCutoffs) -> Result<RetentionReport>;
}

/// A store that keeps both the time series and the fleet's records (fleets, vehicles, alerts,
/// commands, missions) and applies retention to them: what an engine needs from its database.
pub trait FleetStore: TimeSeriesStore + FleetRepository + RetentionStore {}

impl<T: TimeSeriesStore + FleetRepository + RetentionStore + ?Sized> FleetStore for T {}
