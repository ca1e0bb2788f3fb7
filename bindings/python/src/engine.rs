//! The `Engine` class: [`vehicleops_engine::Engine`] for Python.
//!
//! Each method converts its arguments, calls the engine and maps its errors; the engine does
//! everything else (store, transport, rules, pipeline, commands, missions, simulator). I/O
//! methods return awaitables run on the binding's tokio runtime: arguments are read while the
//! caller holds the GIL, the work runs detached from the interpreter, and results are converted
//! to Python objects with the GIL taken only for the conversion.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use serde::de::DeserializeOwned;
use vehicleops_core::simulator::{Area, Scenario};
use vehicleops_core::{
    AlertFilter, AuditAction, AuditEntry, AuditFilter, CommandKind, CommandParams, GeoPoint,
    HistoryQuery, Metric, MissionFilter, MissionRequest, MissionStatus, PipelineConfig,
    RetentionPolicy, Severity, SimulatorConfig, Telemetry, Vehicle, Waypoint,
};
use vehicleops_engine::{
    DEFAULT_BUS_CAPACITY, DEFAULT_RETENTION_INTERVAL, EngineSettings, ExportFormat, ExportKind,
    ExportRequest, KafkaTransport, StoreSettings, TransportSettings,
};
use vehicleops_kafka::{KafkaConfig, SecurityProtocol};

use crate::awaitable::awaitable;
use crate::convert::{
    instant, invalid, report_query, rule_config_from_py, telemetry_from_py, time_range, to_py,
};
use crate::errors::IntoPyResult;
use crate::live::Subscription;

/// The VehicleOps engine. See the `vehicleops` package docs for the full API.
#[pyclass(module = "vehicleops._vehicleops", frozen)]
pub struct Engine {
    inner: vehicleops_engine::Engine,
    /// Failed calls of this engine's Python rules, for `stats()["rule_errors"]`.
    rule_errors: Arc<AtomicU64>,
}

/// Parses an upper-case enum value (`"DELIVERY"`, `"IN_PROGRESS"`, …) through its serde name.
fn parse_enum<T: DeserializeOwned>(value: &str, field: &'static str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| invalid(field, e.to_string()))
}

fn depythonize_or_none<T: DeserializeOwned>(
    obj: Option<&Bound<'_, PyAny>>,
    field: &'static str,
) -> PyResult<Option<T>> {
    match obj {
        Some(o) if !o.is_none() => pythonize::depythonize(o)
            .map(Some)
            .map_err(|e| invalid(field, e.to_string())),
        _ => Ok(None),
    }
}

fn waypoints_from_py(
    obj: Option<&Bound<'_, PyAny>>,
    field: &'static str,
) -> PyResult<Vec<Waypoint>> {
    Ok(depythonize_or_none(obj, field)?.unwrap_or_default())
}

/// The Kafka transport the `kafka_*` keyword arguments describe; `None` without bootstrap
/// servers (then no other `kafka_*` argument may be given).
struct KafkaArgs {
    bootstrap_servers: Option<String>,
    group_id: Option<String>,
    topic_suffix: Option<String>,
    security_protocol: Option<String>,
    sasl_mechanism: Option<String>,
    sasl_username: Option<String>,
    sasl_password: Option<String>,
    ssl_ca_location: Option<String>,
}

impl KafkaArgs {
    fn into_transport(self) -> PyResult<Option<KafkaTransport>> {
        let Some(servers) = self.bootstrap_servers else {
            let given = [
                &self.group_id,
                &self.topic_suffix,
                &self.security_protocol,
                &self.sasl_mechanism,
                &self.sasl_username,
                &self.sasl_password,
                &self.ssl_ca_location,
            ];
            if given.iter().any(|a| a.is_some()) {
                return Err(invalid(
                    "kafka_bootstrap_servers",
                    "is required with the other kafka_* arguments",
                ));
            }
            return Ok(None);
        };
        let mut config = KafkaConfig::new(servers);
        if let Some(group_id) = self.group_id {
            config.group_id = group_id;
        }
        if let Some(suffix) = self.topic_suffix {
            config.topics = config.topics.with_suffix(&suffix);
        }
        if let Some(protocol) = self.security_protocol {
            config.security_protocol = protocol
                .parse::<SecurityProtocol>()
                .map_err(|e| invalid("kafka_security_protocol", e.to_string()))?;
        }
        config.sasl_mechanism = self.sasl_mechanism;
        config.sasl_username = self.sasl_username;
        config.sasl_password = self.sasl_password;
        config.ssl_ca_location = self.ssl_ca_location;
        // The engine checks again at start; refusing a misconfiguration here names it at once.
        config.validate().into_py_result()?;
        Ok(Some(KafkaTransport {
            config,
            create_topics: true,
            share_events: true,
        }))
    }
}

#[pymethods]
impl Engine {
    /// An engine on an in-memory database (`path=None`), the SQLite file at `path`, or the
    /// PostgreSQL database at `database_url`; readings and commands travel through an
    /// in-process bus, or through Kafka when `kafka_bootstrap_servers` is given (topics
    /// created when missing; `kafka_topic_suffix` keeps deployments apart on one cluster;
    /// `kafka_security_protocol`, `kafka_sasl_*` and `kafka_ssl_ca_location` for managed Kafka
    /// such as Amazon MSK). `batch_size` caps the readings per store transaction (the
    /// pipeline's default if `None`).
    #[new]
    #[pyo3(signature = (
        path=None, *, database_url=None, kafka_bootstrap_servers=None, kafka_group_id=None,
        kafka_topic_suffix=None, kafka_security_protocol=None, kafka_sasl_mechanism=None,
        kafka_sasl_username=None, kafka_sasl_password=None, kafka_ssl_ca_location=None,
        default_rules=true, bus_capacity=DEFAULT_BUS_CAPACITY, batch_size=None, retention=None,
        retention_interval_s=None
    ))]
    #[allow(clippy::too_many_arguments)] // keyword arguments on the Python side
    fn new(
        py: Python<'_>,
        path: Option<std::path::PathBuf>,
        database_url: Option<String>,
        kafka_bootstrap_servers: Option<String>,
        kafka_group_id: Option<String>,
        kafka_topic_suffix: Option<String>,
        kafka_security_protocol: Option<String>,
        kafka_sasl_mechanism: Option<String>,
        kafka_sasl_username: Option<String>,
        kafka_sasl_password: Option<String>,
        kafka_ssl_ca_location: Option<String>,
        default_rules: bool,
        bus_capacity: usize,
        batch_size: Option<usize>,
        retention: Option<Bound<'_, PyAny>>,
        retention_interval_s: Option<f64>,
    ) -> PyResult<Self> {
        let retention: RetentionPolicy =
            depythonize_or_none(retention.as_ref(), "retention")?.unwrap_or_default();
        let retention_interval = match retention_interval_s {
            Some(s) if s.is_finite() && s >= 1.0 => Duration::from_secs_f64(s),
            Some(_) => return Err(invalid("retention_interval_s", "must be at least 1 second")),
            None => DEFAULT_RETENTION_INTERVAL,
        };
        let pipeline = PipelineConfig::default();
        let batch_size = batch_size.unwrap_or(pipeline.batch_size);
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
        let kafka = KafkaArgs {
            bootstrap_servers: kafka_bootstrap_servers,
            group_id: kafka_group_id,
            topic_suffix: kafka_topic_suffix,
            security_protocol: kafka_security_protocol,
            sasl_mechanism: kafka_sasl_mechanism,
            sasl_username: kafka_sasl_username,
            sasl_password: kafka_sasl_password,
            ssl_ca_location: kafka_ssl_ca_location,
        };
        let transport = match kafka.into_transport()? {
            Some(kafka) => TransportSettings::Kafka(kafka),
            None => TransportSettings::InProcess {
                capacity: bus_capacity,
            },
        };
        let settings = EngineSettings {
            store,
            transport,
            default_rules,
            pipeline: PipelineConfig {
                batch_size,
                ..pipeline
            },
            retention,
            retention_interval,
            ..EngineSettings::default()
        };
        // Opening connects and migrates the schema: blocking work, done without the GIL.
        let inner = py
            .detach(|| {
                crate::runtime().block_on(vehicleops_engine::Engine::builder(settings).open())
            })
            .into_py_result()?;
        Ok(Engine {
            inner,
            rule_errors: Arc::new(AtomicU64::new(0)),
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
        let rule = crate::rules::python_rule(name, function.unbind())
            .with_shared_error_counter(self.rule_errors.clone());
        self.inner.add_rule(Arc::new(rule)).into_py_result()
    }

    /// Adds a built-in rule described as a dict (a `RuleConfig`): `{"type": "threshold" |
    /// "geofence" | "offline" | "rate_of_change", ...}`; call before `start()`. A bad
    /// configuration raises `ValidationError` naming the field at fault.
    fn add_rule_config(&self, config: Bound<'_, PyAny>) -> PyResult<()> {
        let rule = rule_config_from_py(&config)?.into_rule().into_py_result()?;
        self.inner.add_rule(rule).into_py_result()
    }

    /// Connects the transport and starts the pipeline, the command center and the mission
    /// service.
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.start().await.into_py_result() })
    }

    /// Stops the simulators, stores everything already published, stops the background tasks
    /// and returns the final pipeline counters (`None` if the engine was not running). Live
    /// subscriptions end.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let stats = inner.close().await.into_py_result()?;
            to_py(&stats)
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
        awaitable(
            py,
            async move { inner.publish(batch).await.into_py_result() },
        )
    }

    /// Publishes raw JSON payloads (`bytes`), decoded by the pipeline: invalid ones go to the
    /// dead letters (counted in `stats()["dead_lettered"]`) instead of raising.
    fn publish_raw<'py>(
        &self,
        py: Python<'py>,
        payloads: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut batch: Vec<Vec<u8>> = Vec::new();
        for item in payloads.try_iter()? {
            let item = item?;
            let bytes = item
                .cast::<PyBytes>()
                .map_err(|_| invalid("payload", "raw payloads must be bytes"))?;
            batch.push(bytes.as_bytes().to_vec());
        }
        let inner = self.inner.clone();
        awaitable(py, async move {
            inner.publish_raw(batch).await.into_py_result()
        })
    }

    /// Waits until every reading published so far has been processed and stored.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.flush().await.into_py_result() })
    }

    /// Pipeline counters: received, valid, dead_lettered, stored, duplicates, alerts_raised, …
    /// (those of the last run once closed) plus `published` (through this engine) and
    /// `rule_errors` (failed Python rule calls).
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let dict = pythonize::pythonize(py, &self.inner.stats())?;
        dict.set_item("published", self.inner.published())?;
        dict.set_item("rule_errors", self.rule_errors.load(Ordering::Relaxed))?;
        Ok(dict.unbind())
    }

    /// Subscribes to live events of `fleet_id` (`"*"` for every fleet).
    #[pyo3(signature = (fleet_id="*"))]
    fn subscribe(&self, fleet_id: &str) -> Subscription {
        Subscription::new(self.inner.subscribe(fleet_id))
    }

    /// How many live subscriptions are open (closed or collected ones are gone).
    fn subscriber_count(&self) -> usize {
        self.inner.hub().subscriber_count()
    }

    /// The newest live state of every vehicle of a fleet, without waiting.
    fn snapshot(&self, fleet_id: &str) -> PyResult<Py<PyAny>> {
        let updates: Vec<_> = self
            .inner
            .snapshot(fleet_id)
            .iter()
            .map(|u| (**u).clone())
            .collect();
        to_py(&updates)
    }

    // ---------------------------------------------------------------------------------------
    // Fleets and vehicles
    // ---------------------------------------------------------------------------------------

    /// Registers (or renames) a fleet; the name defaults to the id. Returns the fleet.
    #[pyo3(signature = (fleet_id, name=None))]
    fn register_fleet<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let fleet = inner
                .register_fleet(&fleet_id, name.as_deref())
                .await
                .into_py_result()?;
            to_py(&fleet)
        })
    }

    /// Registers a vehicle of an existing fleet, or updates it (a `name` or `home` not given
    /// keeps the stored one); `home` is `{"latitude": ..., "longitude": ...}`, where
    /// RETURN_TO_BASE takes it. Commands and missions need registered vehicles. Returns the
    /// vehicle.
    #[pyo3(signature = (vehicle_id, fleet_id, name=None, home=None))]
    fn register_vehicle<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        fleet_id: String,
        name: Option<String>,
        home: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let vehicle = Vehicle {
            id: vehicle_id,
            fleet_id,
            name,
            home: depythonize_or_none::<GeoPoint>(home.as_ref(), "home")?,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let vehicle = inner.register_vehicle(vehicle).await.into_py_result()?;
            to_py(&vehicle)
        })
    }

    /// Every registered fleet.
    fn list_fleets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let fleets = inner.list_fleets().await.into_py_result()?;
            to_py(&fleets)
        })
    }

    /// The registered vehicles of a fleet.
    fn list_vehicles<'py>(&self, py: Python<'py>, fleet_id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let vehicles = inner.list_vehicles(&fleet_id).await.into_py_result()?;
            to_py(&vehicles)
        })
    }

    /// The fleet overview: vehicles by status, averages, active missions and open alerts.
    fn fleet_summary<'py>(&self, py: Python<'py>, fleet_id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let summary = inner.fleet_summary(&fleet_id).await.into_py_result()?;
            to_py(&summary)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Analytics
    // ---------------------------------------------------------------------------------------

    /// What the vehicle told its transport it can do (a VDA 5050 factsheet), or `None`.
    fn vehicle_capabilities<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let c = inner.vehicle_capabilities(&vehicle_id).into_py_result()?;
            to_py(&c)
        })
    }

    /// The newest stored reading of a vehicle, or `None`.
    fn latest<'py>(&self, py: Python<'py>, vehicle_id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let t = inner.latest(&vehicle_id).await.into_py_result()?;
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
        let query = HistoryQuery {
            vehicle_id,
            range: time_range(start.as_ref(), end.as_ref())?,
            limit,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let rows = inner.history(&query).await.into_py_result()?;
            to_py(&rows)
        })
    }

    /// The path a vehicle drove between `start` and `end` (at most 7 days apart), for replaying
    /// a trip: a dict with `readings` (stored in the window) and `points` (oldest first), the
    /// readings simplified so that none lies farther than `tolerance_m` metres from the path
    /// (0 keeps all), keeping every change of status and the window's ends.
    #[pyo3(signature = (vehicle_id, start, end, tolerance_m=2.0))]
    fn vehicle_path<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        start: Bound<'py, PyAny>,
        end: Bound<'py, PyAny>,
        tolerance_m: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let range = time_range(Some(&start), Some(&end))?;
        let inner = self.inner.clone();
        awaitable(py, async move {
            let path = inner
                .vehicle_path(&vehicle_id, range, tolerance_m)
                .await
                .into_py_result()?;
            to_py(&path)
        })
    }

    /// A fleet as it was at `at` (a datetime or RFC 3339 string): `vehicles`, each one's last
    /// reading by then, and `open_alerts`, the alerts open then.
    fn fleet_at<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        at: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let at = instant(&at, "at")?;
        let inner = self.inner.clone();
        awaitable(py, async move {
            let snapshot = inner.fleet_at(&fleet_id, at).await.into_py_result()?;
            to_py(&snapshot)
        })
    }

    /// Removes now what is past the engine's `retention` policy (a started engine also does
    /// it at start and every `retention_interval_s`); returns what went, by kind.
    fn apply_retention<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let report = inner.apply_retention().await.into_py_result()?;
            to_py(&report)
        })
    }

    /// What retention has removed since the engine opened: `runs`, `failures`,
    /// `last_run_at` and `removed` by kind.
    fn retention_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.inner.retention_stats())
            .map_err(|e| invalid("retention_stats", e.to_string()))
    }

    /// Writes a fleet's `kind` records (`"telemetry"`, `"alerts"`, `"commands"` or
    /// `"missions"`) between `start` and `end` to the file at `path`, as CSV or Parquet
    /// (`format`, else told by the file's extension); only `vehicle_id`'s when given. The store
    /// is read page by page, so memory stays flat over long windows. Returns the number of
    /// records written; a failed export leaves no file.
    #[pyo3(signature = (kind, fleet_id, path, start, end, vehicle_id=None, format=None))]
    #[allow(clippy::too_many_arguments)]
    fn export<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        fleet_id: String,
        path: std::path::PathBuf,
        start: Bound<'py, PyAny>,
        end: Bound<'py, PyAny>,
        vehicle_id: Option<String>,
        format: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = ExportRequest {
            kind: ExportKind::parse(kind).into_py_result()?,
            format: match format {
                Some(f) => ExportFormat::parse(f),
                None => ExportFormat::for_path(&path),
            }
            .into_py_result()?,
            fleet_id,
            vehicle_id,
            range: time_range(Some(&start), Some(&end))?,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let stream = inner.export(request).await.into_py_result()?;
            stream.write_to(&path).await.into_py_result()
        })
    }

    /// The fleet's daily report from day `start` to day `end` (both included; `datetime.date`
    /// or `"YYYY-MM-DD"`, days of a site `utc_offset_minutes` ahead of UTC): `fleet`,
    /// `fleet_days`, `vehicles` and `days` (per vehicle and day), each with distance, time
    /// driving/idle/stopped/charging, speeds, alerts by type and missions completed.
    #[pyo3(signature = (fleet_id, start, end, vehicle_id=None, utc_offset_minutes=0))]
    fn fleet_report<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        start: Bound<'py, PyAny>,
        end: Bound<'py, PyAny>,
        vehicle_id: Option<String>,
        utc_offset_minutes: i32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = report_query(fleet_id, &start, &end, vehicle_id, utc_offset_minutes)?;
        let inner = self.inner.clone();
        awaitable(py, async move {
            let report = inner.fleet_report(query).await.into_py_result()?;
            to_py(&report)
        })
    }

    /// Writes [`fleet_report`]'s per-vehicle days to `path` as CSV or Parquet (`format`, else
    /// the file's extension); returns the number of rows.
    #[pyo3(signature = (fleet_id, path, start, end, vehicle_id=None, utc_offset_minutes=0, format=None))]
    #[allow(clippy::too_many_arguments)]
    fn export_report<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        path: std::path::PathBuf,
        start: Bound<'py, PyAny>,
        end: Bound<'py, PyAny>,
        vehicle_id: Option<String>,
        utc_offset_minutes: i32,
        format: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = report_query(fleet_id, &start, &end, vehicle_id, utc_offset_minutes)?;
        let format = match format {
            Some(f) => ExportFormat::parse(f),
            None => ExportFormat::for_path(&path),
        }
        .into_py_result()?;
        let inner = self.inner.clone();
        awaitable(py, async move {
            let stream = inner.export_report(query, format).await.into_py_result()?;
            stream.write_to(&path).await.into_py_result()
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
        let inner = self.inner.clone();
        awaitable(py, async move {
            let s = inner
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
        // Minutes as a duration: a number that is not one has no duration to become.
        if !(bucket_minutes.is_finite() && bucket_minutes > 0.0) {
            return Err(invalid("bucket_minutes", "must be a positive number"));
        }
        let bucket = chrono::Duration::milliseconds((bucket_minutes * 60_000.0) as i64);
        let range = time_range(start.as_ref(), end.as_ref())?;
        let inner = self.inner.clone();
        awaitable(py, async move {
            let points = inner
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
        let inner = self.inner.clone();
        awaitable(py, async move {
            let report = inner
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
        let filter = AlertFilter {
            fleet_id,
            vehicle_id,
            severity: severity
                .map(str::parse::<Severity>)
                .transpose()
                .into_py_result()?,
            acknowledged,
            limit,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let page = inner.alerts(&filter).await.into_py_result()?;
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
        let inner = self.inner.clone();
        awaitable(py, async move {
            let alert = inner
                .acknowledge_alert(&alert_id, &by, notes.as_deref())
                .await
                .into_py_result()?;
            to_py(&alert)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Commands
    // ---------------------------------------------------------------------------------------

    /// Dispatches STOP, RESUME, REROUTE (with `waypoints`) or RETURN_TO_BASE to a registered
    /// vehicle; returns the command, DISPATCHED, with its `expires_at`. Its lifecycle goes out
    /// on live subscriptions. With `idempotency_key`, a retry by the same `issued_by` returns
    /// the original command instead of sending another (ConflictError if the key was used for
    /// a different command).
    #[pyo3(signature = (vehicle_id, command, *, waypoints=None, reason=None, issued_by="python".to_owned(), idempotency_key=None))]
    #[allow(clippy::too_many_arguments)] // keyword arguments on the Python side
    fn dispatch_command<'py>(
        &self,
        py: Python<'py>,
        vehicle_id: String,
        command: &str,
        waypoints: Option<Bound<'py, PyAny>>,
        reason: Option<String>,
        issued_by: String,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind: CommandKind = command.parse().into_py_result()?;
        let params = CommandParams {
            waypoints: waypoints_from_py(waypoints.as_ref(), "params.waypoints")?,
            reason,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let c = inner
                .dispatch_command(
                    &vehicle_id,
                    kind,
                    params,
                    &issued_by,
                    idempotency_key.as_deref(),
                )
                .await
                .into_py_result()?;
            to_py(&c)
        })
    }

    /// A command by id, with its current status.
    fn get_command<'py>(&self, py: Python<'py>, command_id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let c = inner.command(&command_id).await.into_py_result()?;
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
        let inner = self.inner.clone();
        awaitable(py, async move {
            let page = inner
                .command_history(&vehicle_id, limit)
                .await
                .into_py_result()?;
            to_py(&page.data)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Missions
    // ---------------------------------------------------------------------------------------

    /// Creates a mission and sends its route to the vehicle (a REROUTE issued by
    /// `issued_by`); progress then comes from what the vehicle reports. `ConflictError` if the
    /// vehicle already has an active mission.
    #[pyo3(signature = (
        fleet_id, vehicle_id, waypoints, *, mission_type="DELIVERY", priority="NORMAL",
        issued_by="python".to_owned()
    ))]
    #[allow(clippy::too_many_arguments)] // keyword arguments on the Python side
    fn create_mission<'py>(
        &self,
        py: Python<'py>,
        fleet_id: String,
        vehicle_id: String,
        waypoints: Bound<'py, PyAny>,
        mission_type: &str,
        priority: &str,
        issued_by: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = MissionRequest {
            fleet_id,
            vehicle_id,
            mission_type: parse_enum(mission_type, "mission_type")?,
            waypoints: waypoints_from_py(Some(&waypoints), "waypoints")?,
            priority: parse_enum(priority, "priority")?,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let m = inner
                .create_mission(request, &issued_by)
                .await
                .into_py_result()?;
            to_py(&m)
        })
    }

    /// A mission with its live progress and estimated completion.
    fn get_mission<'py>(&self, py: Python<'py>, mission_id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let m = inner.mission(&mission_id).await.into_py_result()?;
            to_py(&m)
        })
    }

    /// Cancels an active mission and stops its vehicle (a STOP issued by `issued_by`).
    #[pyo3(signature = (mission_id, issued_by="python".to_owned()))]
    fn cancel_mission<'py>(
        &self,
        py: Python<'py>,
        mission_id: String,
        issued_by: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move {
            let m = inner
                .cancel_mission(&mission_id, &issued_by)
                .await
                .into_py_result()?;
            to_py(&m)
        })
    }

    /// The audit trail, newest first: what operators did through this engine (commands,
    /// missions, acknowledgements) and what the host recorded (`record_audit`). The window
    /// defaults to the last day (at most 366 days); `action` is e.g. `"COMMAND_DISPATCHED"`;
    /// at most `limit` entries (1000).
    #[pyo3(signature = (*, start=None, end=None, fleet_id=None, actor=None, action=None, limit=100))]
    #[allow(clippy::too_many_arguments)]
    fn audit_log<'py>(
        &self,
        py: Python<'py>,
        start: Option<Bound<'py, PyAny>>,
        end: Option<Bound<'py, PyAny>>,
        fleet_id: Option<String>,
        actor: Option<String>,
        action: Option<&str>,
        limit: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bound = |v: Option<&Bound<'py, PyAny>>, field| {
            v.filter(|v| !v.is_none())
                .map(|v| instant(v, field))
                .transpose()
        };
        let filter = AuditFilter {
            fleet_ids: fleet_id.map(|f| vec![f]),
            actor,
            action: action
                .map(|a| AuditAction::parse("action", a))
                .transpose()
                .into_py_result()?,
            range: AuditFilter::window(
                bound(start.as_ref(), "start")?,
                bound(end.as_ref(), "end")?,
            )
            .into_py_result()?,
            before: None,
            limit,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let entries = inner.audit_log(&filter).await.into_py_result()?;
            to_py(&entries)
        })
    }

    /// Adds an entry to the audit trail for what the host application does itself (e.g. its
    /// own logins: `record_audit(user, "LOGIN_SUCCEEDED", source=client_ip)`).
    #[pyo3(signature = (actor, action, *, fleet_id=None, vehicle_id=None, target_id=None, source=None, detail=String::new()))]
    #[allow(clippy::too_many_arguments)]
    fn record_audit<'py>(
        &self,
        py: Python<'py>,
        actor: String,
        action: &str,
        fleet_id: Option<String>,
        vehicle_id: Option<String>,
        target_id: Option<String>,
        source: Option<String>,
        detail: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entry = AuditEntry {
            fleet_id,
            vehicle_id,
            target_id,
            source,
            detail,
            ..AuditEntry::new(
                actor,
                AuditAction::parse("action", action).into_py_result()?,
            )
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            inner.record_audit(entry).await.into_py_result()
        })
    }

    /// Missions, newest first, filtered by fleet, vehicle and status (`ASSIGNED`,
    /// `IN_PROGRESS`, `COMPLETED`, `CANCELLED`, `FAILED`); `limit=0` for all.
    #[pyo3(signature = (*, fleet_id=None, vehicle_id=None, status=None, limit=100))]
    fn list_missions<'py>(
        &self,
        py: Python<'py>,
        fleet_id: Option<String>,
        vehicle_id: Option<String>,
        status: Option<&str>,
        limit: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = MissionFilter {
            fleet_id,
            vehicle_id,
            status: status
                .map(|s| parse_enum::<MissionStatus>(s, "status"))
                .transpose()?,
            limit,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let page = inner.list_missions(&filter).await.into_py_result()?;
            to_py(&page.data)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Simulator
    // ---------------------------------------------------------------------------------------

    /// Registers and simulates a fleet publishing into this engine; returns a `SimulatorRun`.
    /// The first simulator started also executes the commands and missions sent to its
    /// vehicles. `close()` stops every run still going.
    /// Unset arguments take the simulator's defaults (`SimulatorConfig::default()`: 20 vehicles,
    /// every 500 ms, fleet `fleet-demo-001`, Bogotá, scenario `normal`, seed 42).
    #[pyo3(signature = (*, vehicles=None, scenario=None, seed=None, interval_ms=None, fleet_id=None, area=None, max_ticks=None))]
    #[allow(clippy::too_many_arguments)] // keyword arguments on the Python side
    fn run_simulator<'py>(
        &self,
        py: Python<'py>,
        vehicles: Option<u32>,
        scenario: Option<&str>,
        seed: Option<u64>,
        interval_ms: Option<u64>,
        fleet_id: Option<String>,
        area: Option<&str>,
        max_ticks: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let defaults = SimulatorConfig::default();
        let config = SimulatorConfig {
            fleet_id: fleet_id.unwrap_or(defaults.fleet_id),
            vehicles: vehicles.unwrap_or(defaults.vehicles),
            interval_ms: interval_ms.unwrap_or(defaults.interval_ms),
            area: area
                .map_or(Ok(defaults.area), str::parse::<Area>)
                .into_py_result()?,
            scenario: scenario
                .map_or(Ok(defaults.scenario), str::parse::<Scenario>)
                .into_py_result()?,
            seed: seed.unwrap_or(defaults.seed),
            max_ticks,
        };
        let inner = self.inner.clone();
        awaitable(py, async move {
            let run = inner.run_simulator(config).await.into_py_result()?;
            Ok(SimulatorRun { inner: run })
        })
    }

    fn __repr__(&self) -> String {
        let started = if self.inner.is_started() {
            "True"
        } else {
            "False"
        };
        format!("Engine(started={started})")
    }
}

/// A simulated fleet started by `Engine.run_simulator`; the engine stops it when it closes.
#[pyclass(module = "vehicleops._vehicleops", frozen)]
pub struct SimulatorRun {
    inner: vehicleops_engine::SimulatorRun,
}

#[pymethods]
impl SimulatorRun {
    #[getter]
    fn fleet_id(&self) -> &str {
        self.inner.fleet_id()
    }

    /// The simulated vehicles' ids, `{fleet_id}-VH-001`, ….
    #[getter]
    fn vehicle_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.vehicle_ids())
    }

    /// Whether the run has ended (stopped, `max_ticks` reached, or failed).
    #[getter]
    fn finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Stops the run; returns `{ticks, readings, commands}`. `ClosedError` if it was stopped
    /// already.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let run = self.inner.clone();
        awaitable(py, async move {
            let report = run.stop().await.into_py_result()?;
            to_py(&report)
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "SimulatorRun(fleet_id={:?}, vehicles={}, finished={})",
            self.inner.fleet_id(),
            self.inner.vehicle_ids().len(),
            if self.finished() { "True" } else { "False" }
        )
    }
}
