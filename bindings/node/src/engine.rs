//! The engine: its store (SQLite, or PostgreSQL) and bus (in-process, or Kafka), opened by
//! `vehicleops-backends`; pipeline with default and custom rules,
//! live hub, command center, mission service and simulator, all on the binding's runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::{Value, json};
use vehicleops_engine::{
    BusCloser, BusSettings, FleetStore, KafkaSettings, ReadingPublisher, StoreSettings, open_bus,
    open_store,
};
use vehicleops_core::commands::CommandCenterTask;
use vehicleops_core::missions::{DEFAULT_ARRIVAL_RADIUS_M, MissionServiceTask};
use vehicleops_core::pipeline::PipelineStats;
use vehicleops_core::{
    AlertFilter, AlertRule, CommandCenter, CommandKind, CommandParams, CommandTimeouts, Error,
    Fleet, HistoryQuery, LiveHub, Metric, MissionRequest, MissionService, PipelineBuilder,
    PipelineConfig, PipelineHandle, Severity, Simulator, SimulatorConfig, SimulatorHandle,
    TelemetrySource, Vehicle, VehicleCommandLink, decode_telemetry, default_rules,
};

use crate::convert::{from_js, range, to_js};
use crate::error::{IntoJsError, OrJs, invalid_input};
use crate::rule::{RuleFunction, js_rule};
use crate::subscription::NativeSubscription;

/// How the engine is built; every field is optional.
#[napi(object)]
pub struct EngineOptions {
    /// SQLite database file; in memory when absent (and no `database_url`).
    pub path: Option<String>,
    /// PostgreSQL URL (`postgres://user:pass@host:5432/db`) instead of SQLite.
    pub database_url: Option<String>,
    /// Kafka instead of the in-process bus.
    pub kafka: Option<KafkaOptions>,
    /// Load the built-in rules (OVERSPEED, LOW_BATTERY, ENGINE_OVERHEAT, …); default true.
    pub default_rules: Option<bool>,
    /// Longest wait for one JS rule verdict, in milliseconds; default 1000.
    pub rule_timeout_ms: Option<u32>,
    /// Readings the in-process bus holds before publishers wait; default 20000.
    pub bus_capacity: Option<u32>,
    /// Largest batch the pipeline reads and stores at once; default 2000.
    pub batch_size: Option<u32>,
}

/// Where an engine's readings and commands travel when it uses Kafka.
#[napi(object)]
pub struct KafkaOptions {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Consumer group of the ingest; default `vehicleops-backend`.
    pub group_id: Option<String>,
    /// Appended to every topic name, to keep deployments or test runs apart on one cluster.
    pub topic_suffix: Option<String>,
}

/// Everything that is fixed when the pipeline starts.
struct Setup {
    source: Arc<dyn TelemetrySource>,
    rules: Vec<Arc<dyn AlertRule>>,
    config: PipelineConfig,
}

struct Inner {
    store: Arc<dyn FleetStore>,
    hub: LiveHub,
    /// Simulators started by this engine; `close()` stops them.
    simulators: Mutex<Vec<SharedSimulator>>,
    /// Taken (and so dropped) by `close()`.
    publisher: Mutex<Option<Arc<dyn ReadingPublisher>>>,
    /// Readings published through `publisher`, for `close()` on a bus that does not end by
    /// itself.
    published: AtomicU64,
    source_ends_with_publishers: bool,
    /// Closed by `close()` once the pipeline has stopped.
    bus_closer: Mutex<Option<BusCloser>>,
    setup: Mutex<Option<Setup>>,
    pipeline: tokio::sync::Mutex<Option<PipelineHandle>>,
    stats: OnceLock<Arc<PipelineStats>>,
    commands: Arc<CommandCenter>,
    missions: Arc<MissionService>,
    /// The vehicles' end of the command channel, handed to the first simulator.
    vehicle_link: Mutex<Option<Arc<dyn VehicleCommandLink>>>,
    rule_timeout: Duration,
    rule_failures: Arc<AtomicU64>,
    /// Background tasks that end when the engine is dropped.
    _tasks: (CommandCenterTask, MissionServiceTask),
}

/// An embedded VehicleOps engine.
#[napi]
pub struct NativeEngine {
    inner: Arc<Inner>,
}

fn closed() -> napi::Error {
    Error::Closed("engine").into_js()
}

/// Builds an engine. Async because the command and mission services start background tasks on
/// the binding's runtime.
#[napi]
pub async fn open_engine(options: Option<EngineOptions>) -> napi::Result<NativeEngine> {
    let o = options.unwrap_or(EngineOptions {
        path: None,
        database_url: None,
        kafka: None,
        default_rules: None,
        rule_timeout_ms: None,
        bus_capacity: None,
        batch_size: None,
    });
    let store = match (o.path, o.database_url) {
        (Some(_), Some(_)) => {
            return Err(invalid_input(
                "databaseUrl",
                "give either a SQLite `path` or a PostgreSQL `databaseUrl`, not both",
            ));
        }
        (_, Some(url)) => StoreSettings::Postgres { url },
        (path, None) => StoreSettings::Sqlite {
            path: path.map(Into::into),
        },
    };
    let bus = match o.kafka {
        Some(k) => BusSettings::Kafka(KafkaSettings {
            group_id: k
                .group_id
                .unwrap_or_else(|| KafkaSettings::new("").group_id),
            topic_suffix: k.topic_suffix,
            ..KafkaSettings::new(k.bootstrap_servers)
        }),
        None => BusSettings::InProcess {
            capacity: o.bus_capacity.unwrap_or(20_000) as usize,
        },
    };
    let store = open_store(&store).await.or_js()?;
    let bus = open_bus(&bus).await.or_js()?;
    let hub = LiveHub::new();
    let (commands, commands_task) = CommandCenter::start(
        bus.command_sink,
        store.clone(),
        Some(hub.clone()),
        CommandTimeouts::default(),
    );
    let (missions, missions_task) =
        MissionService::start(store.clone(), Some(hub.clone()), DEFAULT_ARRIVAL_RADIUS_M);
    let rules = if o.default_rules.unwrap_or(true) {
        default_rules()
    } else {
        Vec::new()
    };
    let config = PipelineConfig {
        batch_size: o.batch_size.map_or(2000, |b| b.max(1) as usize),
        ..PipelineConfig::default()
    };
    Ok(NativeEngine {
        inner: Arc::new(Inner {
            store,
            hub,
            simulators: Mutex::new(Vec::new()),
            publisher: Mutex::new(Some(bus.publisher)),
            published: AtomicU64::new(0),
            source_ends_with_publishers: bus.source_ends_with_publishers,
            bus_closer: Mutex::new(Some(bus.closer)),
            setup: Mutex::new(Some(Setup {
                source: bus.source,
                rules,
                config,
            })),
            pipeline: tokio::sync::Mutex::new(None),
            stats: OnceLock::new(),
            commands,
            missions,
            vehicle_link: Mutex::new(Some(bus.vehicle_link)),
            rule_timeout: Duration::from_millis(o.rule_timeout_ms.unwrap_or(1000).into()),
            rule_failures: Arc::new(AtomicU64::new(0)),
            _tasks: (commands_task, missions_task),
        }),
    })
}

/// Simulator options as JavaScript passes them (camelCase, all optional).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct SimulatorOptions {
    fleet_id: Option<String>,
    vehicles: Option<u32>,
    interval_ms: Option<u64>,
    area: Option<String>,
    scenario: Option<String>,
    seed: Option<u64>,
    max_ticks: Option<u64>,
}

impl SimulatorOptions {
    fn into_config(self) -> napi::Result<SimulatorConfig> {
        let mut c = SimulatorConfig::default();
        if let Some(v) = self.fleet_id {
            c.fleet_id = v;
        }
        if let Some(v) = self.vehicles {
            c.vehicles = v;
        }
        if let Some(v) = self.interval_ms {
            c.interval_ms = v;
        }
        if let Some(v) = self.area {
            c.area = v.parse().or_js()?;
        }
        if let Some(v) = self.scenario {
            // Accept the TypeScript spelling `faultInjection` as well as `fault-injection`.
            let v = crate::convert::camel_to_kebab(&v);
            c.scenario = v.parse().or_js()?;
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        c.max_ticks = self.max_ticks;
        c.validate().or_js()?;
        Ok(c)
    }
}

/// A running simulator; `stop()` ends it, and so does closing the engine.
/// A simulator's handle, shared by its `SimulatorRun` and the engine.
type SharedSimulator = Arc<tokio::sync::Mutex<Option<SimulatorHandle>>>;

#[napi]
pub struct SimulatorRun {
    handle: SharedSimulator,
    vehicle_ids: Vec<String>,
}

#[napi]
impl SimulatorRun {
    /// Ids of the simulated vehicles.
    #[napi(getter)]
    pub fn vehicle_ids(&self) -> Vec<String> {
        self.vehicle_ids.clone()
    }

    /// Stops the run and returns `{ticks, readings, commands}`; `null` when already stopped.
    #[napi]
    pub async fn stop(&self) -> napi::Result<Option<Value>> {
        let Some(handle) = self.handle.lock().await.take() else {
            return Ok(None);
        };
        let report = handle.stop().await.or_js()?;
        Ok(Some(json!({
            "ticks": report.ticks,
            "readings": report.readings,
            "commands": report.commands,
        })))
    }
}

/// Alert filters as JavaScript passes them.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AlertQuery {
    fleet_id: Option<String>,
    vehicle_id: Option<String>,
    severity: Option<Severity>,
    acknowledged: Option<bool>,
    limit: Option<u32>,
}

impl NativeEngine {
    fn publisher(&self) -> napi::Result<Arc<dyn ReadingPublisher>> {
        self.inner
            .publisher
            .lock()
            .expect("publisher lock")
            .clone()
            .ok_or_else(closed)
    }
}

#[napi]
impl NativeEngine {
    /// Adds a rule written in JavaScript; only before `start()`.
    #[napi(ts_args_type = "name: string, rule: (reading: any) => any")]
    pub fn add_rule(&self, name: String, rule: RuleFunction) -> napi::Result<()> {
        let mut setup = self.inner.setup.lock().expect("setup lock");
        let setup = setup
            .as_mut()
            .ok_or_else(|| Error::Config("rules must be added before start()".into()).into_js())?;
        setup.rules.push(Arc::new(js_rule(
            name,
            rule,
            self.inner.rule_timeout,
            self.inner.rule_failures.clone(),
        )));
        Ok(())
    }

    /// Starts the pipeline; idempotent.
    #[napi]
    pub async fn start(&self) -> napi::Result<()> {
        let mut pipeline = self.inner.pipeline.lock().await;
        let Some(setup) = self.inner.setup.lock().expect("setup lock").take() else {
            return Ok(());
        };
        let store = self.inner.store.clone();
        let handle = PipelineBuilder::new(setup.source, store.clone())
            .repository(store)
            .rules(setup.rules)
            .hub(self.inner.hub.clone())
            .observer(self.inner.missions.clone())
            .config(setup.config)
            .spawn();
        let _ = self.inner.stats.set(handle.stats());
        *pipeline = Some(handle);
        Ok(())
    }

    /// Publishes readings given as newline-separated JSON objects in the wire format
    /// (snake_case). Every line is validated first; a bad one rejects the whole batch with an
    /// error naming its field. Returns how many readings were queued.
    #[napi]
    pub async fn publish_ndjson(&self, lines: Buffer) -> napi::Result<u32> {
        let publisher = self.publisher()?;
        let mut batch = Vec::new();
        for (i, line) in lines.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let reading = decode_telemetry(line).map_err(|e| {
                let reason = format!("reading {i}: {}", e.reason);
                vehicleops_core::ValidationError::new(e.field, reason).into_js()
            })?;
            batch.push(reading);
        }
        let n = batch.len() as u32;
        publisher.publish(batch).await.or_js()?;
        self.inner.published.fetch_add(n.into(), Ordering::SeqCst);
        Ok(n)
    }

    /// Registers a fleet (`{id, name}`).
    #[napi]
    pub async fn register_fleet(&self, fleet: Value) -> napi::Result<()> {
        let fleet: Fleet = from_js("fleet", fleet)?;
        self.inner.store.upsert_fleet(&fleet).await.or_js()
    }

    /// Registers a vehicle (`{id, fleetId, name?, home?}`); its fleet must exist.
    #[napi]
    pub async fn register_vehicle(&self, vehicle: Value) -> napi::Result<()> {
        let vehicle: Vehicle = from_js("vehicle", vehicle)?;
        self.inner.store.upsert_vehicle(&vehicle).await.or_js()
    }

    #[napi]
    pub async fn latest(&self, vehicle_id: String) -> napi::Result<Option<Value>> {
        let t = self.inner.store.latest(&vehicle_id).await.or_js()?;
        t.as_ref().map(to_js).transpose()
    }

    #[napi]
    pub async fn fleet_latest(&self, fleet_id: String) -> napi::Result<Value> {
        to_js(&self.inner.store.latest_for_fleet(&fleet_id).await.or_js()?)
    }

    #[napi]
    pub async fn history(
        &self,
        vehicle_id: String,
        from: Option<String>,
        to: Option<String>,
        limit: Option<u32>,
    ) -> napi::Result<Value> {
        let query = HistoryQuery {
            vehicle_id,
            range: range(from.as_deref(), to.as_deref())?,
            limit: limit
                .unwrap_or(HistoryQuery::DEFAULT_LIMIT)
                .min(HistoryQuery::MAX_LIMIT),
        };
        to_js(&self.inner.store.history(&query).await.or_js()?)
    }

    #[napi]
    pub async fn vehicle_summary(
        &self,
        vehicle_id: String,
        from: Option<String>,
        to: Option<String>,
    ) -> napi::Result<Value> {
        let window = range(from.as_deref(), to.as_deref())?;
        to_js(
            &self
                .inner
                .store
                .vehicle_summary(&vehicle_id, window)
                .await
                .or_js()?,
        )
    }

    /// `metric` bucketed by `bucket_secs` (default 300).
    #[napi]
    pub async fn series(
        &self,
        vehicle_id: String,
        metric: String,
        from: Option<String>,
        to: Option<String>,
        bucket_secs: Option<u32>,
    ) -> napi::Result<Value> {
        let metric: Metric = metric.parse().or_js()?;
        let window = range(from.as_deref(), to.as_deref())?;
        let secs = bucket_secs.unwrap_or(300);
        if secs == 0 {
            return Err(invalid_input("bucketSecs", "must be at least 1 second"));
        }
        let bucket = chrono::Duration::seconds(secs.into());
        let points = self
            .inner
            .store
            .series(&vehicle_id, metric, window, bucket)
            .await
            .or_js()?;
        to_js(&points)
    }

    #[napi]
    pub async fn fleet_performance(
        &self,
        fleet_id: String,
        from: Option<String>,
        to: Option<String>,
    ) -> napi::Result<Value> {
        let window = range(from.as_deref(), to.as_deref())?;
        to_js(
            &self
                .inner
                .store
                .fleet_performance(&fleet_id, window)
                .await
                .or_js()?,
        )
    }

    /// Dispatches STOP, RESUME, REROUTE or RETURN_TO_BASE to a registered vehicle.
    #[napi]
    pub async fn dispatch_command(
        &self,
        vehicle_id: String,
        command: String,
        params: Option<Value>,
        issued_by: String,
    ) -> napi::Result<Value> {
        let kind: CommandKind = command.parse().or_js()?;
        let params: CommandParams = match params {
            Some(p) => from_js("params", p)?,
            None => CommandParams::default(),
        };
        let c = self
            .inner
            .commands
            .dispatch(&vehicle_id, kind, params, &issued_by)
            .await
            .or_js()?;
        to_js(&c)
    }

    #[napi]
    pub async fn get_command(&self, command_id: String) -> napi::Result<Option<Value>> {
        let c = self.inner.store.get_command(&command_id).await.or_js()?;
        c.as_ref().map(to_js).transpose()
    }

    /// Newest first, `{data, total}`.
    #[napi]
    pub async fn command_history(
        &self,
        vehicle_id: String,
        limit: Option<u32>,
    ) -> napi::Result<Value> {
        let page = self
            .inner
            .commands
            .history(&vehicle_id, limit.unwrap_or(50))
            .await
            .or_js()?;
        to_js(&page)
    }

    #[napi]
    pub async fn create_mission(&self, request: Value) -> napi::Result<Value> {
        let request: MissionRequest = from_js("mission", request)?;
        to_js(&self.inner.missions.create(request).await.or_js()?)
    }

    #[napi]
    pub async fn get_mission(&self, mission_id: String) -> napi::Result<Value> {
        to_js(&self.inner.missions.get(&mission_id).await.or_js()?)
    }

    #[napi]
    pub async fn cancel_mission(&self, mission_id: String) -> napi::Result<Value> {
        to_js(&self.inner.missions.cancel(&mission_id).await.or_js()?)
    }

    /// Newest first, `{data, total}`.
    #[napi]
    pub async fn alerts(&self, filter: Option<Value>) -> napi::Result<Value> {
        let q: AlertQuery = match filter {
            Some(f) => from_js("filter", f)?,
            None => AlertQuery::default(),
        };
        let filter = AlertFilter {
            fleet_id: q.fleet_id,
            vehicle_id: q.vehicle_id,
            severity: q.severity,
            acknowledged: q.acknowledged,
            limit: q.limit.unwrap_or(100),
        };
        to_js(&self.inner.store.list_alerts(&filter).await.or_js()?)
    }

    #[napi]
    pub async fn acknowledge_alert(
        &self,
        alert_id: String,
        by: String,
        notes: Option<String>,
    ) -> napi::Result<Value> {
        let a = self
            .inner
            .store
            .acknowledge_alert(&alert_id, &by, chrono::Utc::now(), notes.as_deref())
            .await
            .or_js()?;
        to_js(&a)
    }

    /// Registers the simulated fleet and its vehicles, then runs the simulator on the engine's
    /// bus. The first simulator also executes the commands sent to its vehicles.
    #[napi]
    pub async fn run_simulator(&self, options: Option<Value>) -> napi::Result<SimulatorRun> {
        let opts: SimulatorOptions = match options {
            Some(o) => from_js("simulator", o)?,
            None => SimulatorOptions::default(),
        };
        let config = opts.into_config()?;
        let simulator = Simulator::new(config.clone()).or_js()?;
        let store = &self.inner.store;
        if store.get_fleet(&config.fleet_id).await.or_js()?.is_none() {
            let fleet = Fleet {
                id: config.fleet_id.clone(),
                name: config.fleet_id.clone(),
            };
            store.upsert_fleet(&fleet).await.or_js()?;
        }
        let vehicle_ids: Vec<String> = simulator.vehicle_ids().map(str::to_owned).collect();
        for id in &vehicle_ids {
            let vehicle = Vehicle {
                id: id.clone(),
                fleet_id: config.fleet_id.clone(),
                name: None,
                home: simulator.home_of(id),
            };
            store.upsert_vehicle(&vehicle).await.or_js()?;
        }
        let publisher = self.publisher()?;
        let link = self.inner.vehicle_link.lock().expect("link lock").take();
        let handle: SharedSimulator = Arc::new(tokio::sync::Mutex::new(Some(
            simulator.spawn(publisher, link).or_js()?,
        )));
        self.inner
            .simulators
            .lock()
            .expect("sims lock")
            .push(handle.clone());
        Ok(SimulatorRun {
            handle,
            vehicle_ids,
        })
    }

    /// Live events of one fleet (`"*"` for all).
    #[napi]
    pub fn subscribe(&self, fleet_id: String) -> NativeSubscription {
        NativeSubscription::new(self.inner.hub.subscribe(&fleet_id))
    }

    /// Pipeline counters plus `ruleFailures` (JS rule calls that gave no verdict).
    #[napi]
    pub fn stats(&self) -> napi::Result<Value> {
        let snapshot = self
            .inner
            .stats
            .get()
            .map(|s| s.snapshot())
            .unwrap_or_default();
        let mut v = to_js(&snapshot)?;
        v["ruleFailures"] = self.inner.rule_failures.load(Ordering::Relaxed).into();
        Ok(v)
    }

    /// Stops accepting readings (running simulators end), stores everything published so far,
    /// ends live subscriptions and returns the final counters. Idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<Value> {
        let simulators = std::mem::take(&mut *self.inner.simulators.lock().expect("sims lock"));
        let mut simulated = 0;
        for sim in simulators {
            if let Some(handle) = sim.lock().await.take() {
                // A run that already failed has nothing left to stop.
                if let Ok(report) = handle.stop().await {
                    simulated += report.readings;
                }
            }
        }
        self.inner.publisher.lock().expect("publisher lock").take();
        if let Some(pipeline) = self.inner.pipeline.lock().await.take() {
            if self.inner.source_ends_with_publishers {
                // The bus ends once every publisher is gone and its queue is drained; the
                // pipeline then ends on its own, having stored everything published before
                // `close()` (a shutdown signal instead would leave what is still queued unread).
                pipeline.join().await.or_js()?;
            } else {
                // Kafka keeps its source open: wait until the pipeline has taken what this
                // engine published, then stop it (it stores and commits what it took).
                let target = self.inner.published.load(Ordering::SeqCst) + simulated;
                let stats = pipeline.stats();
                while stats.snapshot().received < target {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                pipeline.shutdown().await.or_js()?;
            }
        }
        if let Some(mut closer) = self.inner.bus_closer.lock().expect("closer lock").take() {
            closer.close();
        }
        self.inner.hub.close();
        self.stats()
    }
}

/// Decodes and validates one reading in the wire format (snake_case JSON bytes).
#[napi]
pub fn decode_telemetry_json(bytes: Buffer) -> napi::Result<Value> {
    to_js(&decode_telemetry(&bytes).or_js()?)
}
