//! The engine: its store (SQLite, or PostgreSQL) and bus (in-process, or Kafka), ingest
//! pipeline with the default and Python rules, live hub, command center, mission service and
//! simulator, in one object. `vehicleops-backends` opens the store and the bus.
//!
//! Every I/O method returns an awaitable run on the binding's tokio runtime. Arguments are read
//! while the caller holds the GIL; the work itself runs detached from the interpreter, and
//! results are converted to Python objects with the GIL taken only for the conversion.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use serde::de::DeserializeOwned;
use vehicleops_engine::{
    BusCloser, BusSettings, FleetStore, KafkaSettings, ReadingPublisher, StoreSettings, open_bus,
    open_store,
};
use vehicleops_core::missions::DEFAULT_ARRIVAL_RADIUS_M;
use vehicleops_core::pipeline::PipelineStats;
use vehicleops_core::simulator::{Area, Scenario};
use vehicleops_core::{
    AlertFilter, AlertRule, CommandCenter, CommandKind, CommandParams, CommandTimeouts, Error,
    Fleet, FleetSummary, HistoryQuery, LiveHub, Metric, MissionRequest, MissionService,
    PipelineBuilder, PipelineConfig, PipelineHandle, Severity, Simulator, SimulatorConfig,
    SimulatorHandle, Telemetry, Vehicle, VehicleCommandLink, Waypoint, default_rules,
};

use crate::convert::{invalid, telemetry_from_py, time_range, to_py};
use crate::errors::{IntoPyResult, to_py_err};
use crate::live::Subscription;
use crate::rules::PythonRule;

use crate::awaitable::awaitable as future_into_py;

/// Parts that exist between `start()` and `close()`.
struct Running {
    /// Closed once the pipeline has stopped, so Kafka offsets are still committed at the end.
    bus_closer: BusCloser,
    publisher: Arc<dyn ReadingPublisher>,
    pipeline: Option<PipelineHandle>,
    stats: Arc<PipelineStats>,
    commands: Arc<CommandCenter>,
    missions: Arc<MissionService>,
    /// The vehicle side of the command channel, handed to the first simulator started.
    vehicle_link: Option<Arc<dyn VehicleCommandLink>>,
    // Background tasks, aborted when dropped.
    _tasks: (
        vehicleops_core::commands::CommandCenterTask,
        vehicleops_core::missions::MissionServiceTask,
    ),
}

struct Inner {
    store: Arc<dyn FleetStore>,
    hub: LiveHub,
    default_rules: bool,
    bus: BusSettings,
    pipeline_config: PipelineConfig,
    python_rules: Mutex<Vec<Arc<PythonRule>>>,
    running: Mutex<Option<Running>>,
    /// Readings (and raw payloads) handed to the bus, for `flush()`.
    published: AtomicU64,
}

impl Inner {
    /// Runs `f` on the running parts; fails if the engine is not started or already closed.
    fn with_running<T>(&self, f: impl FnOnce(&mut Running) -> T) -> PyResult<T> {
        let mut running = self.running.lock().expect("engine lock poisoned");
        match running.as_mut() {
            Some(r) => Ok(f(r)),
            None => Err(to_py_err(Error::Closed(
                "engine (call `await engine.start()` first)",
            ))),
        }
    }

    fn commands(&self) -> PyResult<Arc<CommandCenter>> {
        self.with_running(|r| r.commands.clone())
    }

    fn missions(&self) -> PyResult<Arc<MissionService>> {
        self.with_running(|r| r.missions.clone())
    }

    fn publisher(&self) -> PyResult<Arc<dyn ReadingPublisher>> {
        self.with_running(|r| r.publisher.clone())
    }
}

/// The embedded VehicleOps engine. See the `vehicleops` package docs for the full API.
#[pyclass(module = "vehicleops._vehicleops", frozen)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Parses an upper-case enum value (`"STOP"`, `"DELIVERY"`, …) through its serde name.
fn parse_enum<T: DeserializeOwned>(value: &str, field: &'static str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| invalid(field, e.to_string()))
}

fn waypoints_from_py(
    obj: Option<&Bound<'_, PyAny>>,
    field: &'static str,
) -> PyResult<Vec<Waypoint>> {
    match obj {
        Some(o) if !o.is_none() => {
            pythonize::depythonize(o).map_err(|e| invalid(field, e.to_string()))
        }
        _ => Ok(Vec::new()),
    }
}

#[pymethods]
impl Engine {
    /// An engine on an in-memory database (`path=None`), the SQLite file at `path`, or the
    /// PostgreSQL database at `database_url`; readings and commands travel through an
    /// in-process bus, or through Kafka when `kafka_bootstrap_servers` is given (topics
    /// created when missing; `kafka_topic_suffix` keeps deployments apart on one cluster).
    /// `batch_size` caps the readings per store transaction (the pipeline's default if `None`).
    #[new]
    #[pyo3(signature = (
        path=None, *, database_url=None, kafka_bootstrap_servers=None, kafka_group_id=None,
        kafka_topic_suffix=None, default_rules=true, bus_capacity=20_000, batch_size=None
    ))]
    #[allow(clippy::too_many_arguments)] // keyword arguments on the Python side
    fn new(
        py: Python<'_>,
        path: Option<std::path::PathBuf>,
        database_url: Option<String>,
        kafka_bootstrap_servers: Option<String>,
        kafka_group_id: Option<String>,
        kafka_topic_suffix: Option<String>,
        default_rules: bool,
        bus_capacity: usize,
        batch_size: Option<usize>,
    ) -> PyResult<Self> {
        let batch_size = batch_size.unwrap_or(PipelineConfig::default().batch_size);
        if batch_size == 0 {
            return Err(invalid("batch_size", "must be at least 1"));
        }
        let store = match (path, database_url) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "database_url",
                    "give either a SQLite `path` or a PostgreSQL `database_url`, not both",
                ));
            }
            (_, Some(url)) => StoreSettings::Postgres { url },
            (path, None) => StoreSettings::Sqlite { path },
        };
        let bus = match kafka_bootstrap_servers {
            Some(servers) => BusSettings::Kafka(KafkaSettings {
                group_id: kafka_group_id.unwrap_or_else(|| KafkaSettings::new("").group_id),
                topic_suffix: kafka_topic_suffix,
                ..KafkaSettings::new(servers)
            }),
            None if kafka_group_id.is_some() || kafka_topic_suffix.is_some() => {
                return Err(invalid(
                    "kafka_bootstrap_servers",
                    "is required with the other kafka_* arguments",
                ));
            }
            None => BusSettings::InProcess {
                capacity: bus_capacity,
            },
        };
        // Opening connects and migrates the schema: blocking work, done without the GIL.
        let store = py
            .detach(|| crate::runtime().block_on(open_store(&store)))
            .into_py_result()?;
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                hub: LiveHub::new(),
                default_rules,
                bus,
                pipeline_config: PipelineConfig {
                    batch_size,
                    ..PipelineConfig::default()
                },
                python_rules: Mutex::new(Vec::new()),
                running: Mutex::new(None),
                published: AtomicU64::new(0),
            }),
        })
    }

    /// Adds an alert rule written in Python; call before `start()`.
    ///
    /// `function(reading: dict) -> None | dict` returns `None` for a fine reading and a dict
    /// (`alert_type`, `severity`, `value`, `threshold`, `message`; all optional) for a violating
    /// one. One alert is raised per episode and cleared by the next fine reading.
    fn add_rule(&self, name: String, function: Bound<'_, PyAny>) -> PyResult<()> {
        if !function.is_callable() {
            return Err(invalid("function", "must be callable"));
        }
        if self
            .inner
            .running
            .lock()
            .expect("engine lock poisoned")
            .is_some()
        {
            return Err(to_py_err(Error::Config(
                "rules must be added before `start()`".into(),
            )));
        }
        self.inner
            .python_rules
            .lock()
            .expect("rules lock poisoned")
            .push(Arc::new(crate::rules::python_rule(name, function.unbind())));
        Ok(())
    }

    /// Starts the pipeline, the command center and the mission service (connecting to Kafka
    /// first when configured).
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let already_started =
                || to_py_err(Error::Conflict("the engine is already started".into()));
            if inner
                .running
                .lock()
                .expect("engine lock poisoned")
                .is_some()
            {
                return Err(already_started());
            }
            let bus = open_bus(&inner.bus).await.into_py_result()?;
            let mut running = inner.running.lock().expect("engine lock poisoned");
            if running.is_some() {
                return Err(already_started());
            }
            let mut rules: Vec<Arc<dyn AlertRule>> = if inner.default_rules {
                default_rules()
            } else {
                Vec::new()
            };
            for rule in inner
                .python_rules
                .lock()
                .expect("rules lock poisoned")
                .iter()
            {
                rules.push(rule.clone());
            }
            let (missions, missions_task) = MissionService::start(
                inner.store.clone(),
                Some(inner.hub.clone()),
                DEFAULT_ARRIVAL_RADIUS_M,
            );
            let pipeline = PipelineBuilder::new(bus.source, inner.store.clone())
                .repository(inner.store.clone())
                .rules(rules)
                .hub(inner.hub.clone())
                .observer(missions.clone())
                .config(inner.pipeline_config.clone())
                .spawn();
            let (commands, commands_task) = CommandCenter::start(
                bus.command_sink,
                inner.store.clone(),
                Some(inner.hub.clone()),
                CommandTimeouts::default(),
            );
            *running = Some(Running {
                publisher: bus.publisher,
                vehicle_link: Some(bus.vehicle_link),
                bus_closer: bus.closer,
                stats: pipeline.stats(),
                pipeline: Some(pipeline),
                commands,
                missions,
                _tasks: (commands_task, missions_task),
            });
            Ok(())
        })
    }

    /// Stops taking readings, stores everything already published, stops the background tasks
    /// and returns the final pipeline counters. Live subscriptions end.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let running = inner.running.lock().expect("engine lock poisoned").take();
            let Some(mut running) = running else {
                return Ok(None);
            };
            let pipeline = running.pipeline.take();
            // Shutdown stops reading the bus, so first let the pipeline take everything this
            // engine published (simulators still running are cut off at their current tick).
            let published = inner.published.load(Ordering::Relaxed);
            while running.stats.snapshot().received < published {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let Running { mut bus_closer, .. } = running;
            let stats = match pipeline {
                Some(p) => p.shutdown().await.into_py_result()?,
                None => Default::default(),
            };
            bus_closer.close();
            inner.hub.close();
            to_py(&stats).map(Some)
        })
    }

    /// Publishes a batch of readings (dicts or `vehicleops.Telemetry`). Every reading is
    /// validated first: one bad reading raises `ValidationError` and nothing is published.
    /// Returns how many readings were published.
    fn publish<'py>(
        &self,
        py: Python<'py>,
        readings: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let publisher = self.inner.publisher()?;
        let mut batch: Vec<Telemetry> = Vec::with_capacity(readings.len().unwrap_or(0));
        for item in readings.try_iter()? {
            let item = item?;
            let reading = if item.hasattr("to_dict")? {
                telemetry_from_py(&item.call_method0("to_dict")?)?
            } else {
                telemetry_from_py(&item)?
            };
            batch.push(reading);
        }
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let n = batch.len();
            publisher.publish(batch).await.into_py_result()?;
            inner.published.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        })
    }

    /// Publishes raw JSON payloads (`bytes`), decoded by the pipeline: invalid ones go to the
    /// dead letters (counted in `stats()["dead_lettered"]`) instead of raising.
    fn publish_raw<'py>(
        &self,
        py: Python<'py>,
        payloads: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let publisher = self.inner.publisher()?;
        let mut batch: Vec<Vec<u8>> = Vec::new();
        for item in payloads.try_iter()? {
            let item = item?;
            let bytes = item
                .cast::<PyBytes>()
                .map_err(|_| invalid("payload", "raw payloads must be bytes"))?;
            batch.push(bytes.as_bytes().to_vec());
        }
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let n = batch.len();
            publisher.publish_raw(batch).await.into_py_result()?;
            inner.published.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        })
    }

    /// Waits until every reading published so far has been processed and stored.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = self.inner.with_running(|r| r.stats.clone())?;
        let target = self.inner.published.load(Ordering::Relaxed);
        future_into_py(py, async move {
            loop {
                let s = stats.snapshot();
                if s.received >= target
                    && s.valid + s.dead_lettered == s.received
                    && s.in_flight == 0
                {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    }

    /// Pipeline counters: received, valid, dead_lettered, stored, duplicates, alerts_raised, …
    /// plus `published` (by this engine) and `rule_errors` (failed Python rule calls).
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let snapshot = self
            .inner
            .with_running(|r| r.stats.snapshot())
            .unwrap_or_default();
        let dict = pythonize::pythonize(py, &snapshot)?;
        dict.set_item("published", self.inner.published.load(Ordering::Relaxed))?;
        let rule_errors: u64 = self
            .inner
            .python_rules
            .lock()
            .expect("rules lock poisoned")
            .iter()
            .map(|r| r.errors())
            .sum();
        dict.set_item("rule_errors", rule_errors)?;
        Ok(dict.unbind())
    }

    /// Subscribes to live events of `fleet_id` (`"*"` for every fleet).
    #[pyo3(signature = (fleet_id="*"))]
    fn subscribe(&self, fleet_id: &str) -> Subscription {
        Subscription::new(self.inner.hub.subscribe(fleet_id))
    }

    /// How many live subscriptions are open (closed or collected ones are gone).
    fn subscriber_count(&self) -> usize {
        self.inner.hub.subscriber_count()
    }

    /// The newest live state of every vehicle of a fleet, without waiting.
    fn snapshot(&self, fleet_id: &str) -> PyResult<Py<PyAny>> {
        let updates: Vec<_> = self
            .inner
            .hub
            .snapshot(fleet_id)
            .iter()
            .map(|u| (**u).clone())
            .collect();
        to_py(&updates)
    }

    // ---------------------------------------------------------------------------------------
    // Fleets and vehicles
    // ---------------------------------------------------------------------------------------

    /// Registers (or renames) a fleet.
    #[pyo3(signature = (fleet_id, name=None))]
    fn register_fleet<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let name = name.unwrap_or_else(|| fleet_id.clone());
            store
                .upsert_fleet(&Fleet { id: fleet_id, name })
                .await
                .into_py_result()
        })
    }

    /// Registers a vehicle of an existing fleet; commands and missions need registered vehicles.
    #[pyo3(signature = (vehicle_id, fleet_id, name=None))]
    fn register_vehicle<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        fleet_id: String,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let vehicle = Vehicle {
                id: vehicle_id,
                fleet_id,
                name,
                home: None,
            };
            store.upsert_vehicle(&vehicle).await.into_py_result()
        })
    }

    /// The fleet overview: vehicles by status, averages, active missions and open alerts.
    fn fleet_summary<'py>(&self, py: Python<'py>, fleet_id: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let fleet = store
                .get_fleet(&fleet_id)
                .await
                .into_py_result()?
                .ok_or_else(|| to_py_err(Error::not_found("fleet", &fleet_id)))?;
            let vehicles = store.list_vehicles(&fleet_id).await.into_py_result()?;
            let latest = store.latest_for_fleet(&fleet_id).await.into_py_result()?;
            let missions = store
                .count_active_missions(&fleet_id)
                .await
                .into_py_result()?;
            let alerts = store.count_open_alerts(&fleet_id).await.into_py_result()?;
            let summary = FleetSummary::compute(
                &fleet.id,
                &fleet.name,
                vehicles.len() as u64,
                &latest,
                missions,
                alerts,
            );
            to_py(&summary)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Analytics
    // ---------------------------------------------------------------------------------------

    /// The newest stored reading of a vehicle, or `None`.
    fn latest<'py>(&self, py: Python<'py>, vehicle_id: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let t = store.latest(&vehicle_id).await.into_py_result()?;
            to_py(&t)
        })
    }

    /// Readings of a vehicle between `start` and `end` (datetimes or RFC 3339 strings), oldest
    /// first, at most `limit`.
    #[pyo3(signature = (vehicle_id, start=None, end=None, limit=HistoryQuery::DEFAULT_LIMIT))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        start: Option<Bound<'py, PyAny>>,
        end: Option<Bound<'py, PyAny>>,
        limit: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let range = time_range(start.as_ref(), end.as_ref())?;
        if limit == 0 || limit > HistoryQuery::MAX_LIMIT {
            return Err(invalid(
                "limit",
                format!("must be 1..={}", HistoryQuery::MAX_LIMIT),
            ));
        }
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let rows = store
                .history(&HistoryQuery {
                    vehicle_id,
                    range,
                    limit,
                })
                .await
                .into_py_result()?;
            to_py(&rows)
        })
    }

    /// Aggregates of a vehicle over a window: readings, speeds, battery, temperature, distance.
    #[pyo3(signature = (vehicle_id, start=None, end=None))]
    fn vehicle_summary<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        start: Option<Bound<'py, PyAny>>,
        end: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let range = time_range(start.as_ref(), end.as_ref())?;
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let s = store
                .vehicle_summary(&vehicle_id, range)
                .await
                .into_py_result()?;
            to_py(&s)
        })
    }

    /// `metric` (speed_kmh, battery_pct, engine_temp_c, load_pct) of a vehicle in buckets of
    /// `bucket_minutes`: `[{bucket, avg_value, max_value, min_value}]`, oldest first.
    #[pyo3(signature = (vehicle_id, metric, bucket_minutes=5.0, start=None, end=None))]
    fn series<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        metric: &str,
        bucket_minutes: f64,
        start: Option<Bound<'py, PyAny>>,
        end: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let metric: Metric = metric.parse().into_py_result()?;
        if !(bucket_minutes.is_finite() && bucket_minutes > 0.0) {
            return Err(invalid("bucket_minutes", "must be a positive number"));
        }
        let bucket = chrono::Duration::milliseconds((bucket_minutes * 60_000.0) as i64);
        let range = time_range(start.as_ref(), end.as_ref())?;
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let points = store
                .series(&vehicle_id, metric, range, bucket)
                .await
                .into_py_result()?;
            to_py(&points)
        })
    }

    /// Per-vehicle performance of a fleet, longest distance first.
    #[pyo3(signature = (fleet_id, start=None, end=None))]
    fn fleet_performance<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        start: Option<Bound<'py, PyAny>>,
        end: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let range = time_range(start.as_ref(), end.as_ref())?;
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let report = store
                .fleet_performance(&fleet_id, range)
                .await
                .into_py_result()?;
            to_py(&report)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Alerts
    // ---------------------------------------------------------------------------------------

    /// Alerts, newest first, filtered by fleet, vehicle, severity and acknowledgement.
    #[pyo3(signature = (*, fleet_id=None, vehicle_id=None, severity=None, acknowledged=None, limit=100))]
    fn alerts<'py>(
        &self,
        py: Python<'py>,
        fleet_id: Option<String>,
        vehicle_id: Option<String>,
        severity: Option<&str>,
        acknowledged: Option<bool>,
        limit: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let severity = severity
            .map(str::parse::<Severity>)
            .transpose()
            .into_py_result()?;
        let filter = AlertFilter {
            fleet_id,
            vehicle_id,
            severity,
            acknowledged,
            limit,
        };
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let page = store.list_alerts(&filter).await.into_py_result()?;
            to_py(&page.data)
        })
    }

    /// Acknowledges an alert on behalf of `by`; returns the updated alert.
    #[pyo3(signature = (alert_id, by, notes=None))]
    fn acknowledge_alert<'py>(
        &self,
        py: Python<'py>,
        alert_id: String,
        by: String,
        notes: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let alert = store
                .acknowledge_alert(&alert_id, &by, chrono::Utc::now(), notes.as_deref())
                .await
                .into_py_result()?;
            to_py(&alert)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Commands
    // ---------------------------------------------------------------------------------------

    /// Dispatches STOP, RESUME, REROUTE (with `waypoints`) or RETURN_TO_BASE to a registered
    /// vehicle; returns the command, DISPATCHED. Its lifecycle goes out on live subscriptions.
    #[pyo3(signature = (vehicle_id, command, *, waypoints=None, reason=None, issued_by="python".to_owned()))]
    fn dispatch_command<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        command: &str,
        waypoints: Option<Bound<'py, PyAny>>,
        reason: Option<String>,
        issued_by: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind: CommandKind = command.parse().into_py_result()?;
        let params = CommandParams {
            waypoints: waypoints_from_py(waypoints.as_ref(), "params.waypoints")?,
            reason,
        };
        let commands = self.inner.commands()?;
        future_into_py(py, async move {
            let c = commands
                .dispatch(&vehicle_id, kind, params, &issued_by)
                .await
                .into_py_result()?;
            to_py(&c)
        })
    }

    /// A command by id, with its current status.
    fn get_command<'py>(&self, py: Python<'py>, command_id: String) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let c = store
                .get_command(&command_id)
                .await
                .into_py_result()?
                .ok_or_else(|| to_py_err(Error::not_found("command", &command_id)))?;
            to_py(&c)
        })
    }

    /// Commands of a vehicle, newest first.
    #[pyo3(signature = (vehicle_id, limit=20))]
    fn command_history<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        limit: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let commands = self.inner.commands()?;
        future_into_py(py, async move {
            let page = commands
                .history(&vehicle_id, limit)
                .await
                .into_py_result()?;
            to_py(&page.data)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Missions
    // ---------------------------------------------------------------------------------------

    /// Creates a mission; `ConflictError` if the vehicle already has an active one.
    #[pyo3(signature = (fleet_id, vehicle_id, waypoints, *, mission_type="DELIVERY", priority="NORMAL"))]
    fn create_mission<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        vehicle_id: String,
        waypoints: Bound<'py, PyAny>,
        mission_type: &str,
        priority: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = MissionRequest {
            fleet_id,
            vehicle_id,
            mission_type: parse_enum(mission_type, "mission_type")?,
            waypoints: waypoints_from_py(Some(&waypoints), "waypoints")?,
            priority: parse_enum(priority, "priority")?,
        };
        let missions = self.inner.missions()?;
        future_into_py(py, async move {
            let m = missions.create(request).await.into_py_result()?;
            to_py(&m)
        })
    }

    /// A mission with its live progress and estimated completion.
    fn get_mission<'py>(&self, py: Python<'py>, mission_id: String) -> PyResult<Bound<'py, PyAny>> {
        let missions = self.inner.missions()?;
        future_into_py(py, async move {
            let m = missions.get(&mission_id).await.into_py_result()?;
            to_py(&m)
        })
    }

    /// Cancels an active mission.
    fn cancel_mission<'py>(
        &self,
        py: Python<'py>,
        mission_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let missions = self.inner.missions()?;
        future_into_py(py, async move {
            let m = missions.cancel(&mission_id).await.into_py_result()?;
            to_py(&m)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Simulator
    // ---------------------------------------------------------------------------------------

    /// Registers and simulates a fleet publishing into this engine; returns a `SimulatorRun`.
    /// The first simulator started also executes the commands dispatched to its vehicles.
    #[pyo3(signature = (*, vehicles=10, scenario="normal", seed=42, interval_ms=500, fleet_id="fleet-demo-001".to_owned(), area="bogota", max_ticks=None))]
    #[allow(clippy::too_many_arguments)]
    fn run_simulator<'py>(
        &self,
        py: Python<'py>,
        vehicles: u32,
        scenario: &str,
        seed: u64,
        interval_ms: u64,
        fleet_id: String,
        area: &str,
        max_ticks: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let config = SimulatorConfig {
            fleet_id,
            vehicles,
            interval_ms,
            area: area.parse::<Area>().into_py_result()?,
            scenario: scenario.parse::<Scenario>().into_py_result()?,
            seed,
            max_ticks,
        };
        let simulator = Simulator::new(config).into_py_result()?;
        let (publisher, link) = self
            .inner
            .with_running(|r| (r.publisher.clone(), r.vehicle_link.take()))?;
        let store = self.inner.store.clone();
        future_into_py(py, async move {
            let fleet_id = simulator.config().fleet_id.clone();
            store
                .upsert_fleet(&Fleet {
                    id: fleet_id.clone(),
                    name: fleet_id.clone(),
                })
                .await
                .into_py_result()?;
            let vehicle_ids: Vec<String> = simulator.vehicle_ids().map(str::to_owned).collect();
            for id in &vehicle_ids {
                let vehicle = Vehicle {
                    id: id.clone(),
                    fleet_id: fleet_id.clone(),
                    name: None,
                    home: simulator.home_of(id),
                };
                store.upsert_vehicle(&vehicle).await.into_py_result()?;
            }
            let handle = simulator.spawn(publisher, link).into_py_result()?;
            Ok(SimulatorRun {
                fleet_id,
                vehicle_ids,
                handle: Mutex::new(Some(handle)),
            })
        })
    }

    fn __repr__(&self) -> String {
        let started = self
            .inner
            .running
            .lock()
            .map(|r| r.is_some())
            .unwrap_or(false);
        format!("Engine(started={started})")
    }
}

/// A running simulator. Dropping it stops the simulation.
#[pyclass(module = "vehicleops._vehicleops", frozen)]
pub struct SimulatorRun {
    fleet_id: String,
    vehicle_ids: Vec<String>,
    handle: Mutex<Option<SimulatorHandle>>,
}

#[pymethods]
impl SimulatorRun {
    #[getter]
    fn fleet_id(&self) -> &str {
        &self.fleet_id
    }

    /// The simulated vehicles' ids, `{fleet_id}-VH-001`, ….
    #[getter]
    fn vehicle_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.vehicle_ids)
    }

    /// Whether the run has ended (stopped, `max_ticks` reached, or failed).
    #[getter]
    fn finished(&self) -> bool {
        self.handle
            .lock()
            .expect("simulator lock poisoned")
            .as_ref()
            .is_none_or(SimulatorHandle::is_finished)
    }

    /// Stops the run; returns `{ticks, readings, commands}`.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle.lock().expect("simulator lock poisoned").take();
        future_into_py(py, async move {
            let handle = handle.ok_or_else(|| to_py_err(Error::Closed("simulator run")))?;
            let report = handle.stop().await.into_py_result()?;
            to_py(&report)
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "SimulatorRun(fleet_id={:?}, vehicles={}, finished={})",
            self.fleet_id,
            self.vehicle_ids.len(),
            self.finished()
        )
    }
}
