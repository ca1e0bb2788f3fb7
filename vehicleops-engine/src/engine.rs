//! [`Engine`]: the one VehicleOps system that the reference server, the Python and Node
//! bindings and Rust applications run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{info, warn};
use vehicleops_core::commands::CommandCenterTask;
use vehicleops_core::inproc::InProcessTelemetrySource;
use vehicleops_core::missions::{CommandMissionLink, MissionServiceConfig, MissionServiceTask};
use vehicleops_core::pipeline::{PipelineStats, ReadingObserver};
use vehicleops_core::{
    Alert, AlertFilter, AlertRule, AuditAction, AuditEntry, Command, CommandCenter, CommandKind,
    CommandParams, CommandSink, DeadLetterSink, Error, Fleet, FleetPerformanceReport, FleetStore,
    FleetSummary, HistoryQuery, LiveHub, LiveUpdate, Metric, Mission, MissionFilter, MissionLink,
    MissionRequest, MissionService, Page, PipelineBuilder, PipelineHandle, ReadingPublisher,
    Result, SeriesPoint, Simulator, SimulatorConfig, StatsSnapshot, StoreStatus, Subscription,
    Telemetry, TimeRange, Vehicle, VehicleCapabilities, VehicleMetricsSummary, default_rules,
};

use crate::retention::{RetentionCounters, RetentionTask};
use crate::settings::EngineSettings;
use crate::simulation::{self, SimulatorRun};
use crate::store::open_store;
use crate::transport::{self, SimulatorTarget};

/// Builds an [`Engine`]: settings plus what cannot be written down as settings (rules in code,
/// observers, a dead-letter sink).
pub struct EngineBuilder {
    settings: EngineSettings,
    rules: Vec<Arc<dyn AlertRule>>,
    observers: Vec<Arc<dyn ReadingObserver>>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
}

impl EngineBuilder {
    /// Adds an alert rule run besides the default ones (a custom `AlertRule`, a rule built
    /// from a `RuleConfig`, a host-language rule).
    pub fn rule(mut self, rule: Arc<dyn AlertRule>) -> Self {
        self.rules.push(rule);
        self
    }

    pub fn rules(mut self, rules: impl IntoIterator<Item = Arc<dyn AlertRule>>) -> Self {
        self.rules.extend(rules);
        self
    }

    /// Sees every valid reading after it was processed.
    pub fn observer(mut self, observer: Arc<dyn ReadingObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Where invalid readings go (besides being counted); the transport's own dead-letter
    /// topic otherwise, if it has one.
    pub fn dead_letters(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// Opens (and migrates) the store. The engine answers queries from then on; [`Engine::start`]
    /// connects the transport and starts ingesting.
    pub async fn open(self) -> Result<Engine> {
        self.settings.retention.validate()?;
        let store = open_store(&self.settings.store).await?;
        Ok(Engine::from_parts(self, store))
    }

    /// An engine on a store that is already open (e.g. a store of the application's own).
    pub fn open_with_store(self, store: Arc<dyn FleetStore>) -> Engine {
        Engine::from_parts(self, store)
    }
}

/// Parts that exist between [`Engine::start`] and [`Engine::close`].
struct Running {
    publisher: Option<Arc<dyn ReadingPublisher>>,
    inproc_source: Option<Arc<InProcessTelemetrySource>>,
    simulator: SimulatorTarget,
    pipeline: Option<PipelineHandle>,
    stats: Arc<PipelineStats>,
    commands: Arc<CommandCenter>,
    missions: Arc<MissionService>,
    /// The transport's command sink, for what it learnt of the vehicles.
    sink: Arc<dyn CommandSink>,
    simulators: Vec<SimulatorRun>,
    on_stop: Vec<Box<dyn FnOnce() + Send>>,
    // Background tasks, aborted when dropped.
    _tasks: (CommandCenterTask, MissionServiceTask, RetentionTask),
}

struct Shared {
    settings: EngineSettings,
    store: Arc<dyn FleetStore>,
    hub: LiveHub,
    /// Rules run besides the default and the transport's ones; fixed at `start`.
    rules: Mutex<Vec<Arc<dyn AlertRule>>>,
    observers: Vec<Arc<dyn ReadingObserver>>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    running: Mutex<Option<Running>>,
    /// Readings and raw payloads published through the engine, for `flush` and `close`.
    published: AtomicU64,
    /// Messages the transport refused before the pipeline saw them.
    source_rejections: Arc<AtomicU64>,
    /// The last run's counters, kept after `close`.
    final_stats: Mutex<Option<StatsSnapshot>>,
    /// What retention removed (scheduled and on-demand runs).
    retention: Arc<RetentionCounters>,
}

/// The VehicleOps engine: store, transport, rules, ingest pipeline, live hub, commands,
/// missions and simulator, built from [`EngineSettings`]. Cheap to clone (clones share one
/// engine).
///
/// ```
/// use vehicleops_engine::{Engine, EngineSettings};
/// use vehicleops_core::SimulatorConfig;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> vehicleops_core::Result<()> {
/// let engine = Engine::open(EngineSettings::default()).await?;
/// engine.start().await?;
/// let run = engine.run_simulator(SimulatorConfig { max_ticks: Some(3), ..Default::default() }).await?;
/// let mut live = engine.subscribe(run.fleet_id());
/// assert!(live.recv().await.is_some());
/// engine.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("transport", &self.shared.settings.transport.kind())
            .field("started", &self.is_started())
            .finish_non_exhaustive()
    }
}

/// How often `flush` and `close` look at the pipeline's counters.
const POLL: Duration = Duration::from_millis(2);

impl Engine {
    pub fn builder(settings: EngineSettings) -> EngineBuilder {
        EngineBuilder {
            settings,
            rules: Vec::new(),
            observers: Vec::new(),
            dead_letters: None,
        }
    }

    /// Opens an engine with nothing beyond `settings` (see [`EngineBuilder::open`]).
    pub async fn open(settings: EngineSettings) -> Result<Engine> {
        Self::builder(settings).open().await
    }

    fn from_parts(builder: EngineBuilder, store: Arc<dyn FleetStore>) -> Engine {
        let hub = LiveHub::with_max_vehicles(builder.settings.pipeline.max_vehicles);
        Engine {
            shared: Arc::new(Shared {
                settings: builder.settings,
                store,
                hub,
                rules: Mutex::new(builder.rules),
                observers: builder.observers,
                dead_letters: builder.dead_letters,
                running: Mutex::new(None),
                published: AtomicU64::new(0),
                source_rejections: Arc::new(AtomicU64::new(0)),
                final_stats: Mutex::new(None),
                retention: Arc::default(),
            }),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.shared.settings
    }

    /// The store, for queries the engine does not wrap.
    pub fn store(&self) -> &Arc<dyn FleetStore> {
        &self.shared.store
    }

    pub(crate) fn retention_counters(&self) -> &Arc<RetentionCounters> {
        &self.shared.retention
    }

    /// The live hub: readings, alerts, command and mission changes of every fleet.
    pub fn hub(&self) -> &LiveHub {
        &self.shared.hub
    }

    /// Adds an alert rule (see [`EngineBuilder::rule`]); `Conflict` once started, since the
    /// pipeline's rules are fixed while it runs.
    pub fn add_rule(&self, rule: Arc<dyn AlertRule>) -> Result<()> {
        let running = self.lock();
        if running.is_some() {
            return Err(Error::Conflict(
                "rules must be added before the engine starts".into(),
            ));
        }
        self.shared
            .rules
            .lock()
            .expect("rules lock poisoned")
            .push(rule);
        Ok(())
    }

    pub fn is_started(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.shared.running.lock().expect("engine lock poisoned")
    }

    /// Runs `f` on the running parts; `Closed` before `start` or after `close`.
    fn with_running<T>(&self, f: impl FnOnce(&mut Running) -> T) -> Result<T> {
        match self.lock().as_mut() {
            Some(r) => Ok(f(r)),
            None => Err(Error::Closed("engine (start it first)")),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Lifecycle
    // -----------------------------------------------------------------------------------------

    /// Connects the transport and starts the pipeline, the command center and the mission
    /// service. What was in flight before a restart is taken up again: open alert episodes
    /// continue, pending commands still reach a final status, active missions keep
    /// progressing. `Conflict` when already started.
    pub async fn start(&self) -> Result<()> {
        if self.is_started() {
            return Err(Error::Conflict("the engine is already started".into()));
        }
        let shared = &self.shared;
        let settings = &shared.settings;
        settings.retention.validate()?;
        let transport =
            transport::open(&settings.transport, &shared.hub, &shared.source_rejections).await?;
        #[cfg(feature = "vda5050")]
        if let SimulatorTarget::Vda5050(vda) = &transport.simulator {
            self.ensure_fleet(
                &vda.source.fleet_id,
                &format!("VDA 5050 fleet ({})", vda.source.scheme.interface_name),
            )
            .await?;
            for serial in &vda.vehicles {
                self.ensure_vehicle(serial, &vda.source.fleet_id, None)
                    .await?;
            }
        }
        let store = shared.store.clone();
        let (commands, commands_task) = CommandCenter::start(
            transport.sink.clone(),
            store.clone(),
            Some(shared.hub.clone()),
            settings.command_timeouts.clone(),
        );
        // Missions travel in the transport's own form (VDA 5050 orders) or as commands.
        let mission_link: Arc<dyn MissionLink> = match &transport.mission_link {
            Some(link) => link.clone(),
            None => Arc::new(CommandMissionLink::new(commands.clone())),
        };
        let (missions, missions_task) = MissionService::start_with(
            store.clone(),
            Some(shared.hub.clone()),
            MissionServiceConfig {
                arrival_radius_m: settings.arrival_radius_m,
                link: Some(mission_link),
                ..MissionServiceConfig::default()
            },
        );
        let rules = settings
            .default_rules
            .then(default_rules)
            .unwrap_or_default()
            .into_iter()
            .chain(transport.rules.iter().cloned())
            .chain(shared.rules.lock().expect("rules lock poisoned").clone());
        let mut pipeline = PipelineBuilder::new(transport.source.clone(), store.clone())
            .repository(store.clone())
            .hub(shared.hub.clone())
            .rules(rules)
            .config(settings.pipeline.clone())
            .observer(missions.clone());
        for observer in transport.observers.iter().chain(&shared.observers) {
            pipeline = pipeline.observer(observer.clone());
        }
        if let Some(sink) = shared
            .dead_letters
            .as_ref()
            .or(transport.dead_letters.as_ref())
        {
            pipeline = pipeline.dead_letters(sink.clone());
        }
        let pipeline = pipeline.spawn();
        // What was in flight before a restart (or on another instance) is taken up again.
        commands.resume().await?;
        missions.resume().await?;
        let mut running = self.lock();
        if running.is_some() {
            return Err(Error::Conflict("the engine is already started".into()));
        }
        *running = Some(Running {
            publisher: transport.publisher,
            inproc_source: transport.inproc_source,
            simulator: transport.simulator,
            stats: pipeline.stats(),
            pipeline: Some(pipeline),
            commands,
            missions,
            sink: transport.sink.clone(),
            simulators: Vec::new(),
            on_stop: transport.on_stop,
            _tasks: (
                commands_task,
                missions_task,
                RetentionTask::start(
                    store.clone(),
                    settings.retention,
                    settings.retention_interval,
                    shared.retention.clone(),
                ),
            ),
        });
        info!(
            transport = settings.transport.kind(),
            store = settings.store_kind(),
            "engine started"
        );
        Ok(())
    }

    /// Waits until every reading published through this engine so far has been processed and
    /// stored (or dead-lettered).
    pub async fn flush(&self) -> Result<()> {
        let stats = self.with_running(|r| r.stats.clone())?;
        let target = self.shared.published.load(Ordering::Relaxed);
        loop {
            let s = stats.snapshot();
            if s.received >= target && s.valid + s.dead_lettered == s.received && s.in_flight == 0 {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the simulators, stores everything already published (up to the drain timeout),
    /// stops the background tasks and the transport, and ends every live subscription. Returns
    /// the pipeline's final counters; `None` when the engine was not running.
    pub async fn close(&self) -> Result<Option<StatsSnapshot>> {
        let Some(mut running) = self.lock().take() else {
            // Never started (or closed already): live subscriptions still end.
            self.shared.hub.close();
            return Ok(None);
        };
        for run in running.simulators.drain(..) {
            match run.stop().await {
                Ok(_) | Err(Error::Closed(_)) => {}
                Err(e) => warn!(error = %e, "simulator stopped with an error"),
            }
        }
        let drain = self.shared.settings.drain_timeout;
        let pipeline = running
            .pipeline
            .take()
            .expect("a running engine has a pipeline");
        let drained = match running.inproc_source.take() {
            // In-process readings exist only in the queue: refuse new ones and let the pipeline
            // run until it has stored every queued reading and the source ends.
            Some(source) => {
                source.close().await;
                tokio::time::timeout(drain, pipeline.join())
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::backend_msg(
                            "pipeline",
                            "still draining after the shutdown timeout",
                        ))
                    })
            }
            // A broker keeps what was not read: take what this engine published, then stop
            // reading, store and acknowledge the rest.
            None => {
                let published = self.shared.published.load(Ordering::Relaxed);
                let deadline = Instant::now() + drain;
                while running.stats.snapshot().received < published && Instant::now() < deadline {
                    tokio::time::sleep(POLL).await;
                }
                pipeline.shutdown().await
            }
        };
        for stop in running.on_stop.drain(..) {
            stop();
        }
        drop(running);
        self.shared.hub.close();
        let stats = drained?;
        info!(
            received = stats.received,
            stored = stats.stored,
            dead_letters = stats.dead_lettered,
            "engine closed"
        );
        *self.shared.final_stats.lock().expect("stats lock poisoned") = Some(stats.clone());
        Ok(Some(stats))
    }

    /// The pipeline's counters (those of the last run once closed; zero before the start).
    pub fn stats(&self) -> StatsSnapshot {
        match self.with_running(|r| r.stats.snapshot()) {
            Ok(s) => s,
            Err(_) => self
                .shared
                .final_stats
                .lock()
                .expect("stats lock poisoned")
                .clone()
                .unwrap_or_default(),
        }
    }

    /// The running pipeline's live counters, for exporters that read them at scrape time.
    pub fn pipeline_stats(&self) -> Result<Arc<PipelineStats>> {
        self.with_running(|r| r.stats.clone())
    }

    /// Readings and payloads published through this engine.
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// Messages the transport refused before the pipeline saw them (VDA 5050 messages failing
    /// the schema).
    pub fn source_rejections(&self) -> u64 {
        self.shared.source_rejections.load(Ordering::Relaxed)
    }

    /// Command acknowledgements ignored because another vehicle than the command's sent them.
    pub fn foreign_acks(&self) -> u64 {
        self.commands().map_or(0, |c| c.foreign_acks())
    }

    // -----------------------------------------------------------------------------------------
    // Publishing and live
    // -----------------------------------------------------------------------------------------

    fn publisher(&self) -> Result<Arc<dyn ReadingPublisher>> {
        self.with_running(|r| r.publisher.clone())?.ok_or_else(|| {
            Error::Config(format!(
                "the {} transport takes telemetry from the vehicles themselves; nothing can be \
                 published through the engine",
                self.shared.settings.transport.kind()
            ))
        })
    }

    /// Publishes readings (validated first: one invalid reading fails the call and nothing is
    /// published). Returns how many were published.
    pub async fn publish(&self, readings: Vec<Telemetry>) -> Result<usize> {
        for t in &readings {
            t.validate()?;
        }
        let publisher = self.publisher()?;
        let n = readings.len();
        publisher.publish(readings).await?;
        self.shared.published.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Publishes raw JSON payloads, decoded by the pipeline: invalid ones are dead-lettered
    /// (counted in `stats().dead_lettered`), not refused.
    pub async fn publish_raw(&self, payloads: Vec<Vec<u8>>) -> Result<usize> {
        let publisher = self.publisher()?;
        let n = payloads.len();
        publisher.publish_raw(payloads).await?;
        self.shared.published.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Live events of `fleet_id` (`"*"` for every fleet).
    pub fn subscribe(&self, fleet_id: &str) -> Subscription {
        self.shared.hub.subscribe(fleet_id)
    }

    /// The newest live state of every vehicle of a fleet, without waiting.
    pub fn snapshot(&self, fleet_id: &str) -> Vec<Arc<LiveUpdate>> {
        self.shared.hub.snapshot(fleet_id)
    }

    // -----------------------------------------------------------------------------------------
    // Fleets and vehicles: one registration rule
    // -----------------------------------------------------------------------------------------

    /// Registers a fleet, or renames it; the name defaults to the id.
    pub async fn register_fleet(&self, fleet_id: &str, name: Option<&str>) -> Result<Fleet> {
        let fleet = Fleet {
            id: non_empty(fleet_id, "fleet_id")?.to_owned(),
            name: name.unwrap_or(fleet_id).to_owned(),
        };
        self.shared.store.upsert_fleet(&fleet).await?;
        Ok(fleet)
    }

    /// Registers a fleet under `name` unless it exists (then it keeps its name).
    async fn ensure_fleet(&self, fleet_id: &str, name: &str) -> Result<Fleet> {
        match self.shared.store.get_fleet(fleet_id).await? {
            Some(f) => Ok(f),
            None => self.register_fleet(fleet_id, Some(name)).await,
        }
    }

    /// Registers a vehicle of an existing fleet (`NotFound` otherwise), or updates it: a new
    /// fleet moves it, a `name` or `home` given replaces the stored one, one not given keeps
    /// it. Commands and missions need registered vehicles.
    pub async fn register_vehicle(&self, vehicle: Vehicle) -> Result<Vehicle> {
        non_empty(&vehicle.id, "vehicle_id")?;
        if let Some(home) = &vehicle.home {
            home.validate("home")?;
        }
        let store = &self.shared.store;
        if store.get_fleet(&vehicle.fleet_id).await?.is_none() {
            return Err(Error::not_found("fleet", &vehicle.fleet_id));
        }
        let stored = store.get_vehicle(&vehicle.id).await?;
        let vehicle = Vehicle {
            name: vehicle
                .name
                .or_else(|| stored.as_ref().and_then(|v| v.name.clone())),
            home: vehicle
                .home
                .or_else(|| stored.as_ref().and_then(|v| v.home)),
            ..vehicle
        };
        store.upsert_vehicle(&vehicle).await?;
        Ok(vehicle)
    }

    async fn ensure_vehicle(
        &self,
        vehicle_id: &str,
        fleet_id: &str,
        home: Option<vehicleops_core::GeoPoint>,
    ) -> Result<Vehicle> {
        self.register_vehicle(Vehicle {
            id: vehicle_id.to_owned(),
            fleet_id: fleet_id.to_owned(),
            name: None,
            home,
        })
        .await
    }

    pub async fn list_fleets(&self) -> Result<Vec<Fleet>> {
        self.shared.store.list_fleets().await
    }

    /// A fleet; `NotFound` when unknown.
    pub async fn fleet(&self, fleet_id: &str) -> Result<Fleet> {
        self.shared
            .store
            .get_fleet(fleet_id)
            .await?
            .ok_or_else(|| Error::not_found("fleet", fleet_id))
    }

    /// A vehicle; `NotFound` when unknown.
    pub async fn vehicle(&self, vehicle_id: &str) -> Result<Vehicle> {
        self.shared
            .store
            .get_vehicle(vehicle_id)
            .await?
            .ok_or_else(|| Error::not_found("vehicle", vehicle_id))
    }

    pub async fn list_vehicles(&self, fleet_id: &str) -> Result<Vec<Vehicle>> {
        self.shared.store.list_vehicles(fleet_id).await
    }

    // -----------------------------------------------------------------------------------------
    // Telemetry and analytics
    // -----------------------------------------------------------------------------------------

    /// The newest stored reading of a vehicle.
    pub async fn latest(&self, vehicle_id: &str) -> Result<Option<Telemetry>> {
        self.shared.store.latest(vehicle_id).await
    }

    /// What the vehicle told the transport it can do (a VDA 5050 factsheet), once it has;
    /// `None` until then, and on transports whose vehicles describe nothing.
    pub fn vehicle_capabilities(&self, vehicle_id: &str) -> Result<Option<VehicleCapabilities>> {
        self.with_running(|r| r.sink.capabilities(vehicle_id))
    }

    /// The newest stored reading of every vehicle of a fleet, by vehicle id.
    pub async fn latest_for_fleet(&self, fleet_id: &str) -> Result<Vec<Telemetry>> {
        self.shared.store.latest_for_fleet(fleet_id).await
    }

    /// Readings of a vehicle in a window, oldest first; `limit` must be 1..=`MAX_LIMIT`.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<Telemetry>> {
        if query.limit == 0 || query.limit > HistoryQuery::MAX_LIMIT {
            return Err(vehicleops_core::ValidationError::new(
                "limit",
                format!("must be 1..={}", HistoryQuery::MAX_LIMIT),
            )
            .into());
        }
        self.shared.store.history(query).await
    }

    pub async fn vehicle_summary(
        &self,
        vehicle_id: &str,
        range: TimeRange,
    ) -> Result<VehicleMetricsSummary> {
        self.shared.store.vehicle_summary(vehicle_id, range).await
    }

    /// `metric` of a vehicle in buckets of `bucket` (positive), oldest first.
    pub async fn series(
        &self,
        vehicle_id: &str,
        metric: Metric,
        range: TimeRange,
        bucket: chrono::Duration,
    ) -> Result<Vec<SeriesPoint>> {
        if bucket <= chrono::Duration::zero() {
            return Err(vehicleops_core::ValidationError::new(
                "bucket",
                "must be a positive duration",
            )
            .into());
        }
        self.shared
            .store
            .series(vehicle_id, metric, range, bucket)
            .await
    }

    /// The fleet overview: vehicles by status, averages, active missions and open alerts.
    pub async fn fleet_summary(&self, fleet_id: &str) -> Result<FleetSummary> {
        let store = &self.shared.store;
        let fleet = self.fleet(fleet_id).await?;
        let (vehicles, latest, missions, alerts) = tokio::try_join!(
            store.list_vehicles(fleet_id),
            store.latest_for_fleet(fleet_id),
            store.count_active_missions(fleet_id),
            store.count_open_alerts(fleet_id),
        )?;
        Ok(FleetSummary::compute(
            &fleet.id,
            &fleet.name,
            vehicles.len() as u64,
            &latest,
            missions,
            alerts,
        ))
    }

    /// Per-vehicle performance of a fleet, longest distance first.
    pub async fn fleet_performance(
        &self,
        fleet_id: &str,
        range: TimeRange,
    ) -> Result<FleetPerformanceReport> {
        self.shared.store.fleet_performance(fleet_id, range).await
    }

    pub async fn store_status(&self) -> Result<StoreStatus> {
        self.shared.store.status().await
    }

    // -----------------------------------------------------------------------------------------
    // Alerts
    // -----------------------------------------------------------------------------------------

    /// Alerts, newest first, with the total that matched.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>> {
        self.shared.store.list_alerts(filter).await
    }

    /// An alert; `NotFound` when unknown.
    pub async fn alert(&self, alert_id: &str) -> Result<Alert> {
        self.shared
            .store
            .get_alert(alert_id)
            .await?
            .ok_or_else(|| Error::not_found("alert", alert_id))
    }

    /// Acknowledges an alert on behalf of `by`; returns it updated.
    pub async fn acknowledge_alert(
        &self,
        alert_id: &str,
        by: &str,
        notes: Option<&str>,
    ) -> Result<Alert> {
        let alert = self
            .shared
            .store
            .acknowledge_alert(alert_id, by, Utc::now(), notes)
            .await?;
        self.audit(AuditEntry {
            fleet_id: Some(alert.fleet_id.clone()),
            vehicle_id: Some(alert.vehicle_id.clone()),
            target_id: Some(alert.id.clone()),
            detail: match notes {
                Some(notes) => format!("{}: {notes}", alert.alert_type),
                None => alert.alert_type.to_string(),
            },
            ..AuditEntry::new(by, AuditAction::AlertAcknowledged)
        })
        .await;
        Ok(alert)
    }

    // -----------------------------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------------------------

    fn commands(&self) -> Result<Arc<CommandCenter>> {
        self.with_running(|r| r.commands.clone())
    }

    fn missions(&self) -> Result<Arc<MissionService>> {
        self.with_running(|r| r.missions.clone())
    }

    /// Dispatches a command to a registered vehicle (`NotFound` otherwise); returns it
    /// DISPATCHED. Its lifecycle goes out on the live hub. It expires after the settings'
    /// `command_timeouts.delivery`: a vehicle that receives it later refuses it (EXPIRED).
    ///
    /// With an `idempotency_key` (1 to 200 printable ASCII characters; `Validation`
    /// otherwise) the dispatch is safe to retry: when `issued_by` already dispatched a command
    /// with this key, that command is returned as it is now and nothing is sent again;
    /// `Conflict` when the key was used for a different vehicle, command or parameters.
    pub async fn dispatch_command(
        &self,
        vehicle_id: &str,
        kind: CommandKind,
        params: CommandParams,
        issued_by: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Command> {
        let asked_at = Utc::now();
        let command = self
            .commands()?
            .dispatch(vehicle_id, kind, params, issued_by, idempotency_key)
            .await?;
        // A retry with the same key returns the first command: recorded once, when it was sent.
        if command.issued_at >= asked_at {
            let mut detail = command.command.as_str().to_string();
            if let Some(reason) = &command.params.reason {
                detail = format!("{detail}: {reason}");
            }
            self.audit(AuditEntry {
                fleet_id: Some(command.fleet_id.clone()),
                vehicle_id: Some(command.vehicle_id.clone()),
                target_id: Some(command.id.clone()),
                detail,
                ..AuditEntry::new(issued_by, AuditAction::CommandDispatched)
            })
            .await;
        }
        Ok(command)
    }

    /// A command with its current status; `NotFound` when unknown.
    pub async fn command(&self, command_id: &str) -> Result<Command> {
        self.shared
            .store
            .get_command(command_id)
            .await?
            .ok_or_else(|| Error::not_found("command", command_id))
    }

    /// Commands of a vehicle, newest first.
    pub async fn command_history(&self, vehicle_id: &str, limit: u32) -> Result<Page<Command>> {
        self.shared.store.list_commands(vehicle_id, limit).await
    }

    // -----------------------------------------------------------------------------------------
    // Missions
    // -----------------------------------------------------------------------------------------

    /// Creates a mission for a vehicle of the fleet (`NotFound` otherwise, `Conflict` when it
    /// already has an active one) and sends it to the vehicle through the transport on behalf
    /// of `issued_by`: a VDA 5050 order whose horizon is released as waypoints are reached, or
    /// elsewhere a REROUTE command. Progress then comes from what the vehicle reports. When
    /// the route cannot be sent, the mission ends FAILED and the transport's error is returned.
    pub async fn create_mission(
        &self,
        request: MissionRequest,
        issued_by: &str,
    ) -> Result<Mission> {
        let mission = self.missions()?.create(request, issued_by).await?;
        self.audit(AuditEntry {
            fleet_id: Some(mission.fleet_id.clone()),
            vehicle_id: Some(mission.vehicle_id.clone()),
            target_id: Some(mission.id.clone()),
            detail: format!(
                "{} with {} waypoints",
                mission.mission_type.as_str(),
                mission.waypoints.len()
            ),
            ..AuditEntry::new(issued_by, AuditAction::MissionCreated)
        })
        .await;
        Ok(mission)
    }

    /// A mission with its live progress and estimated completion; `NotFound` when unknown.
    pub async fn mission(&self, mission_id: &str) -> Result<Mission> {
        match self.missions() {
            Ok(missions) => missions.get(mission_id).await,
            Err(_) => self
                .shared
                .store
                .get_mission(mission_id)
                .await?
                .ok_or_else(|| Error::not_found("mission", mission_id)),
        }
    }

    /// Missions, newest first, with the total that matched.
    pub async fn list_missions(&self, filter: &MissionFilter) -> Result<Page<Mission>> {
        self.shared.store.list_missions(filter).await
    }

    /// Cancels an active mission and has its vehicle drop it on behalf of `issued_by` (VDA
    /// 5050: instant action `cancelOrder`; elsewhere a STOP command). The cancellation stands
    /// even when the vehicle cannot be told (logged).
    pub async fn cancel_mission(&self, mission_id: &str, issued_by: &str) -> Result<Mission> {
        let mission = self.missions()?.cancel(mission_id, issued_by).await?;
        self.audit(AuditEntry {
            fleet_id: Some(mission.fleet_id.clone()),
            vehicle_id: Some(mission.vehicle_id.clone()),
            target_id: Some(mission.id.clone()),
            detail: mission.mission_type.as_str().to_string(),
            ..AuditEntry::new(issued_by, AuditAction::MissionCancelled)
        })
        .await;
        Ok(mission)
    }

    // -----------------------------------------------------------------------------------------
    // Simulator and vehicle side
    // -----------------------------------------------------------------------------------------

    /// Hands the vehicle side of the transport's commands (in-process, Kafka) to the caller, a
    /// gateway or a test acting as the vehicles: it polls the commands dispatched through this
    /// engine (STOP first; never one past its expiry, which the link acknowledges EXPIRED
    /// itself) and sends the vehicles' acknowledgements back. Simulators started afterwards
    /// still publish readings but receive no commands.
    ///
    /// There is one vehicle side: `Conflict` if it was already taken, by an earlier call or by
    /// the first simulator; `Config` on VDA 5050, where vehicles take their commands over MQTT;
    /// `Closed` before `start`.
    pub fn take_vehicle_link(&self) -> Result<Arc<dyn vehicleops_core::VehicleCommandLink>> {
        let open = self.with_running(|r| match &mut r.simulator {
            SimulatorTarget::Core { link, .. } => link.take().ok_or_else(|| {
                Error::Conflict(
                    "the vehicle side of commands was already taken (by take_vehicle_link or \
                     the first simulator started)"
                        .into(),
                )
            }),
            #[cfg(feature = "vda5050")]
            SimulatorTarget::Vda5050(_) => Err(Error::Config(
                "VDA 5050 vehicles receive their commands over MQTT; there is no vehicle link \
                 to take"
                    .into(),
            )),
        })??;
        open()
    }

    /// Registers and runs a simulated fleet on the engine's transport: the SDK's simulator
    /// (in-process, Kafka; the first one started also executes the commands and missions sent
    /// to its vehicles), or simulated VDA 5050 AGVs on the broker (`vehicles` of them, in the
    /// transport's fleet). The engine stops it when it closes.
    pub async fn run_simulator(&self, config: SimulatorConfig) -> Result<SimulatorRun> {
        enum Target {
            Core(
                Arc<dyn vehicleops_core::TelemetryPublisher>,
                Option<transport::OpenVehicleLink>,
            ),
            #[cfg(feature = "vda5050")]
            Vda5050(Box<crate::settings::Vda5050Transport>),
        }
        let target = self.with_running(|r| match &mut r.simulator {
            SimulatorTarget::Core { publisher, link } => {
                Target::Core(publisher.clone(), link.take())
            }
            #[cfg(feature = "vda5050")]
            SimulatorTarget::Vda5050(vda) => Target::Vda5050(vda.clone()),
        })?;
        let run = match target {
            Target::Core(publisher, link) => {
                let simulator = Simulator::new(config)?;
                let link = link.map(|open| open()).transpose()?;
                let fleet_id = simulator.config().fleet_id.clone();
                self.ensure_fleet(
                    &fleet_id,
                    &format!("Simulated fleet ({})", simulator.config().area),
                )
                .await?;
                let ids: Vec<String> = simulator.vehicle_ids().map(str::to_owned).collect();
                for id in &ids {
                    self.ensure_vehicle(id, &fleet_id, simulator.home_of(id))
                        .await?;
                }
                info!(seed = simulator.config().seed, scenario = %simulator.config().scenario, "simulator seeded");
                let handle = simulator.spawn(publisher, link)?;
                SimulatorRun::new(fleet_id, ids, simulation::Running::Core(handle))
            }
            #[cfg(feature = "vda5050")]
            Target::Vda5050(vda) => self.start_agvs(&vda, &config).await?,
        };
        self.with_running(|r| r.simulators.push(run.clone()))?;
        Ok(run)
    }

    #[cfg(feature = "vda5050")]
    async fn start_agvs(
        &self,
        vda: &crate::settings::Vda5050Transport,
        config: &SimulatorConfig,
    ) -> Result<SimulatorRun> {
        /// Distance between the AGVs' start positions along the map's x axis, metres.
        const AGV_SPACING_M: f64 = 5.0;
        let fleet_id = vda.source.fleet_id.clone();
        let serials: Vec<String> = (1..=config.vehicles).map(|i| format!("AGV-{i}")).collect();
        for serial in &serials {
            self.ensure_vehicle(serial, &fleet_id, None).await?;
        }
        let agvs = serials
            .iter()
            .enumerate()
            .map(|(i, serial)| {
                let mut agv = vda.simulated_agv.clone();
                agv.endpoint.client_id = format!("{}-sim-{serial}", agv.endpoint.client_id);
                agv.serial_number = serial.clone();
                agv.x = AGV_SPACING_M * i as f64;
                agv.tick = Duration::from_millis(config.interval_ms.max(1));
                vehicleops_vda5050::SimulatedAgv::start(agv)
            })
            .collect();
        Ok(SimulatorRun::new(
            fleet_id,
            serials,
            simulation::Running::Vda5050(agvs),
        ))
    }
}

fn non_empty<'a>(value: &'a str, field: &'static str) -> Result<&'a str> {
    if value.trim().is_empty() {
        return Err(vehicleops_core::ValidationError::new(field, "must not be empty").into());
    }
    Ok(value)
}
