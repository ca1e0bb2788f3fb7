//! The native face of [`vehicleops_engine::Engine`]: every method converts its arguments from
//! JavaScript, calls the engine and maps its result and errors back. Store, transport,
//! pipeline, commands, missions and simulator are the engine's; what is left here is what only
//! Node has (rules written in JavaScript, the camelCase options).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::Value;
use vehicleops_core::{
    AlertFilter, AuditAction, AuditEntry, AuditFilter, CommandKind, CommandParams, ErrorKind,
    GeoPoint, HistoryQuery, Metric, MissionFilter, MissionRequest, MissionStatus, PipelineConfig,
    RetentionPolicy, Severity, SimulatorConfig, Vehicle, decode_telemetry,
};
use vehicleops_engine::{
    DEFAULT_BUS_CAPACITY, DEFAULT_RETENTION_INTERVAL, EngineSettings, ExportFormat, ExportKind,
    ExportRequest, KafkaTransport, StoreSettings, TransportSettings,
};
use vehicleops_kafka::KafkaConfig;

use crate::convert::{from_js, range, report_query, rule_config, time, to_js};
use crate::error::{IntoJsError, OrJs, invalid_input};
use crate::rule::{RuleFunction, js_rule};
use crate::subscription::NativeSubscription;

/// Who commands and missions are issued by when the caller does not say.
const ISSUED_BY: &str = "node";
/// Longest wait for one JS rule verdict unless `ruleTimeoutMs` says otherwise.
const DEFAULT_RULE_TIMEOUT_MS: u32 = 1000;
/// Commands per page of `commandHistory` by default.
const DEFAULT_COMMAND_PAGE: u32 = 20;
/// Alerts per page of `alerts`, missions per page of `listMissions` by default.
const DEFAULT_PAGE: u32 = 100;

/// How the engine is built; every field is optional.
#[napi(object)]
#[derive(Default)]
pub struct EngineOptions {
    /// SQLite database file; in memory when absent (and no `database_url`).
    pub path: Option<String>,
    /// PostgreSQL URL (`postgres://user:pass@host:5432/db`) instead of SQLite.
    pub database_url: Option<String>,
    /// Kafka instead of the in-process bus.
    pub kafka: Option<KafkaOptions>,
    /// Load the built-in rules (OVERSPEED, LOW_BATTERY, ENGINE_OVERHEAT, OFFLINE); default true.
    pub default_rules: Option<bool>,
    /// Longest wait for one JS rule verdict, in milliseconds; default 1000.
    pub rule_timeout_ms: Option<u32>,
    /// Readings the in-process bus holds before publishers wait; default 20000.
    pub bus_capacity: Option<u32>,
    /// Largest batch the pipeline reads and stores at once; the pipeline's default (5000).
    pub batch_size: Option<u32>,
    /// Days each kind of record is kept (absent: for ever), applied at `start()` and then every
    /// `retentionIntervalS` seconds (default 3600).
    pub retention: Option<RetentionOptions>,
    pub retention_interval_s: Option<f64>,
}

/// Days each kind of record is kept; an absent one is kept for ever. Only records that are over
/// go (cleared alerts, finished commands and missions).
#[napi(object)]
pub struct RetentionOptions {
    pub telemetry_days: Option<u32>,
    /// At least `telemetryDays`: summaries of older windows read the rollups.
    pub rollup_days: Option<u32>,
    pub alerts_days: Option<u32>,
    pub commands_days: Option<u32>,
    pub missions_days: Option<u32>,
    /// The audit trail.
    pub audit_days: Option<u32>,
}

impl From<RetentionOptions> for RetentionPolicy {
    fn from(o: RetentionOptions) -> Self {
        RetentionPolicy {
            telemetry_days: o.telemetry_days,
            rollup_days: o.rollup_days,
            alerts_days: o.alerts_days,
            commands_days: o.commands_days,
            missions_days: o.missions_days,
            audit_days: o.audit_days,
        }
    }
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
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: Option<String>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    /// PEM file of the CA that signed the brokers' certificates; the system store otherwise.
    pub ssl_ca_location: Option<String>,
}

impl KafkaOptions {
    fn transport(self) -> napi::Result<KafkaTransport> {
        let mut config = KafkaConfig::new(self.bootstrap_servers);
        if let Some(group) = self.group_id {
            config.group_id = group;
        }
        if let Some(suffix) = self.topic_suffix {
            config.topics = config.topics.with_suffix(&suffix);
        }
        if let Some(protocol) = self.security_protocol {
            config.security_protocol = protocol.parse().or_js()?;
        }
        config.sasl_mechanism = self.sasl_mechanism;
        config.sasl_username = self.sasl_username;
        config.sasl_password = self.sasl_password;
        config.ssl_ca_location = self.ssl_ca_location;
        Ok(KafkaTransport {
            config,
            create_topics: true,
            share_events: true,
        })
    }
}

impl EngineOptions {
    fn settings(self) -> napi::Result<EngineSettings> {
        let store = match (self.path, self.database_url) {
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
        let transport = match self.kafka {
            Some(kafka) => TransportSettings::Kafka(kafka.transport()?),
            None => TransportSettings::InProcess {
                capacity: self
                    .bus_capacity
                    .map_or(DEFAULT_BUS_CAPACITY, |c| c as usize),
            },
        };
        let mut pipeline = PipelineConfig::default();
        if let Some(batch_size) = self.batch_size {
            if batch_size == 0 {
                return Err(invalid_input("batchSize", "must be at least 1"));
            }
            pipeline.batch_size = batch_size as usize;
        }
        let retention_interval = match self.retention_interval_s {
            Some(s) if s.is_finite() && s >= 1.0 => Duration::from_secs_f64(s),
            Some(_) => {
                return Err(invalid_input(
                    "retentionIntervalS",
                    "must be at least 1 second",
                ));
            }
            None => DEFAULT_RETENTION_INTERVAL,
        };
        Ok(EngineSettings {
            store,
            transport,
            default_rules: self.default_rules.unwrap_or(true),
            pipeline,
            retention: self.retention.map(Into::into).unwrap_or_default(),
            retention_interval,
            ..EngineSettings::default()
        })
    }
}

/// An embedded VehicleOps engine.
#[napi]
pub struct NativeEngine {
    inner: vehicleops_engine::Engine,
    rule_timeout: Duration,
    /// JS rule calls that gave no verdict, over every JS rule of this engine.
    rule_failures: Arc<AtomicU64>,
}

/// Opens an engine (its store: connected and migrated); `start()` connects the transport.
#[napi]
pub async fn open_engine(options: Option<EngineOptions>) -> napi::Result<NativeEngine> {
    let options = options.unwrap_or_default();
    let rule_timeout = options.rule_timeout_ms.unwrap_or(DEFAULT_RULE_TIMEOUT_MS);
    let settings = options.settings()?;
    let inner = vehicleops_engine::Engine::builder(settings)
        .open()
        .await
        .or_js()?;
    Ok(NativeEngine {
        inner,
        rule_timeout: Duration::from_millis(rule_timeout.into()),
        rule_failures: Arc::default(),
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

/// A simulated fleet started by `runSimulator`; `stop()` ends it, and so does closing the
/// engine.
#[napi]
pub struct SimulatorRun {
    inner: vehicleops_engine::SimulatorRun,
}

#[napi]
impl SimulatorRun {
    /// The fleet the simulated vehicles belong to.
    #[napi(getter)]
    pub fn fleet_id(&self) -> String {
        self.inner.fleet_id().to_owned()
    }

    /// Ids of the simulated vehicles.
    #[napi(getter)]
    pub fn vehicle_ids(&self) -> Vec<String> {
        self.inner.vehicle_ids().to_vec()
    }

    /// Whether the run has ended (stopped, `maxTicks` reached, or failed).
    #[napi(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Stops the run and returns `{ticks, readings, commands}`; `null` when already stopped.
    #[napi]
    pub async fn stop(&self) -> napi::Result<Option<Value>> {
        match self.inner.stop().await {
            Ok(report) => to_js(&report).map(Some),
            Err(e) if e.kind() == ErrorKind::Closed => Ok(None),
            Err(e) => Err(e.into_js()),
        }
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

/// Mission filters as JavaScript passes them.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct MissionQuery {
    fleet_id: Option<String>,
    vehicle_id: Option<String>,
    status: Option<MissionStatus>,
    limit: Option<u32>,
}

/// Audit-trail filters as JavaScript passes them.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct AuditQuery {
    from: Option<String>,
    to: Option<String>,
    fleet_id: Option<String>,
    actor: Option<String>,
    action: Option<AuditAction>,
    limit: Option<u32>,
}

/// An audit entry as a host application records it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditRecord {
    actor: String,
    action: AuditAction,
    #[serde(default)]
    fleet_id: Option<String>,
    #[serde(default)]
    vehicle_id: Option<String>,
    #[serde(default)]
    target_id: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    detail: String,
}

/// Reads an optional plain-object argument; absent means every field's default.
fn optional<T: serde::de::DeserializeOwned + Default>(
    what: &'static str,
    value: Option<Value>,
) -> napi::Result<T> {
    value.map_or_else(|| Ok(T::default()), |v| from_js(what, v))
}

#[napi]
impl NativeEngine {
    // -----------------------------------------------------------------------------------------
    // Lifecycle
    // -----------------------------------------------------------------------------------------

    /// Adds a rule written in JavaScript; only before `start()`.
    #[napi(ts_args_type = "name: string, rule: (reading: any) => any")]
    pub fn add_rule(&self, name: String, rule: RuleFunction) -> napi::Result<()> {
        let rule = js_rule(name, rule, self.rule_timeout, self.rule_failures.clone());
        self.inner.add_rule(Arc::new(rule)).or_js()
    }

    /// Adds a built-in rule described as data (a `RuleConfig`: threshold, geofence, offline,
    /// rate of change); only before `start()`.
    #[napi]
    pub fn add_rule_config(&self, config: Value) -> napi::Result<()> {
        let rule = rule_config(config)?.into_rule().or_js()?;
        self.inner.add_rule(rule).or_js()
    }

    /// Connects the transport and starts the pipeline, commands and missions.
    #[napi]
    pub async fn start(&self) -> napi::Result<()> {
        self.inner.start().await.or_js()
    }

    /// Waits until everything published so far is stored (or dead-lettered).
    #[napi]
    pub async fn flush(&self) -> napi::Result<()> {
        self.inner.flush().await.or_js()
    }

    /// Stops the simulators, stores everything published so far, ends live subscriptions and
    /// returns the final counters. Idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<Value> {
        self.inner.close().await.or_js()?;
        self.stats()
    }

    /// Pipeline counters plus `published` (through this engine) and `ruleFailures` (JS rule
    /// calls that gave no verdict).
    #[napi]
    pub fn stats(&self) -> napi::Result<Value> {
        let mut v = to_js(&self.inner.stats())?;
        v["published"] = self.inner.published().into();
        v["ruleFailures"] = self.rule_failures.load(Ordering::Relaxed).into();
        Ok(v)
    }

    // -----------------------------------------------------------------------------------------
    // Publishing and live
    // -----------------------------------------------------------------------------------------

    /// Publishes readings given as newline-separated JSON objects in the wire format
    /// (snake_case). Every line is validated first; a bad one rejects the whole batch with an
    /// error naming its field. Returns how many readings were published.
    #[napi]
    pub async fn publish_ndjson(&self, lines: Buffer) -> napi::Result<u32> {
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
        Ok(self.inner.publish(batch).await.or_js()? as u32)
    }

    /// Publishes raw payloads, one per non-blank line, decoded by the pipeline: invalid ones
    /// are dead-lettered (`stats().deadLettered`), not refused. Returns how many were published.
    #[napi]
    pub async fn publish_raw_ndjson(&self, lines: Buffer) -> napi::Result<u32> {
        let payloads: Vec<Vec<u8>> = lines
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect();
        Ok(self.inner.publish_raw(payloads).await.or_js()? as u32)
    }

    /// Live events of one fleet (`"*"` for all).
    #[napi]
    pub fn subscribe(&self, fleet_id: String) -> NativeSubscription {
        NativeSubscription::new(self.inner.subscribe(&fleet_id))
    }

    /// How many live subscriptions are open.
    #[napi]
    pub fn subscriber_count(&self) -> u32 {
        self.inner.hub().subscriber_count() as u32
    }

    /// The newest live state of every vehicle of a fleet, without waiting.
    #[napi]
    pub fn snapshot(&self, fleet_id: String) -> napi::Result<Value> {
        let updates: Vec<_> = self
            .inner
            .snapshot(&fleet_id)
            .iter()
            .map(|u| (**u).clone())
            .collect();
        to_js(&updates)
    }

    // -----------------------------------------------------------------------------------------
    // Fleets and vehicles
    // -----------------------------------------------------------------------------------------

    /// Registers (or renames) a fleet; the name defaults to the id.
    #[napi]
    pub async fn register_fleet(
        &self,
        fleet_id: String,
        name: Option<String>,
    ) -> napi::Result<Value> {
        let fleet = self
            .inner
            .register_fleet(&fleet_id, name.as_deref())
            .await
            .or_js()?;
        to_js(&fleet)
    }

    /// Registers a vehicle of an existing fleet, or updates it (a `name` or `home` not given
    /// keeps the stored one).
    #[napi(ts_args_type = "vehicleId: string, fleetId: string, name?: string | null, home?: any")]
    pub async fn register_vehicle(
        &self,
        vehicle_id: String,
        fleet_id: String,
        name: Option<String>,
        home: Option<Value>,
    ) -> napi::Result<Value> {
        let home: Option<GeoPoint> = match home {
            Some(Value::Null) | None => None,
            Some(h) => Some(from_js("home", h)?),
        };
        let vehicle = Vehicle {
            id: vehicle_id,
            fleet_id,
            name,
            home,
        };
        to_js(&self.inner.register_vehicle(vehicle).await.or_js()?)
    }

    #[napi]
    pub async fn list_fleets(&self) -> napi::Result<Value> {
        to_js(&self.inner.list_fleets().await.or_js()?)
    }

    #[napi]
    pub async fn list_vehicles(&self, fleet_id: String) -> napi::Result<Value> {
        to_js(&self.inner.list_vehicles(&fleet_id).await.or_js()?)
    }

    /// The fleet overview: vehicles by status, averages, active missions and open alerts.
    #[napi]
    pub async fn fleet_summary(&self, fleet_id: String) -> napi::Result<Value> {
        to_js(&self.inner.fleet_summary(&fleet_id).await.or_js()?)
    }

    // -----------------------------------------------------------------------------------------
    // Telemetry and analytics
    // -----------------------------------------------------------------------------------------

    #[napi]
    pub async fn vehicle_capabilities(&self, vehicle_id: String) -> napi::Result<Option<Value>> {
        let c = self.inner.vehicle_capabilities(&vehicle_id).or_js()?;
        c.as_ref().map(to_js).transpose()
    }

    #[napi]
    pub async fn latest(&self, vehicle_id: String) -> napi::Result<Option<Value>> {
        let t = self.inner.latest(&vehicle_id).await.or_js()?;
        t.as_ref().map(to_js).transpose()
    }

    #[napi]
    pub async fn fleet_latest(&self, fleet_id: String) -> napi::Result<Value> {
        to_js(&self.inner.latest_for_fleet(&fleet_id).await.or_js()?)
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
            limit: limit.unwrap_or(HistoryQuery::DEFAULT_LIMIT),
        };
        to_js(&self.inner.history(&query).await.or_js()?)
    }

    /// The path a vehicle drove between `from` and `to` (ISO 8601, at most 7 days apart) for
    /// replaying a trip, simplified so that no reading lies farther than `toleranceM` metres
    /// (default 2; 0 keeps all) from it.
    #[napi]
    pub async fn vehicle_path(
        &self,
        vehicle_id: String,
        from: String,
        to: String,
        tolerance_m: Option<f64>,
    ) -> napi::Result<Value> {
        let window = range(Some(&from), Some(&to))?;
        to_js(
            &self
                .inner
                .vehicle_path(&vehicle_id, window, tolerance_m.unwrap_or(2.0))
                .await
                .or_js()?,
        )
    }

    /// A fleet as it was at `at` (ISO 8601): each vehicle's last reading by then and the alerts
    /// open then.
    #[napi]
    pub async fn fleet_at(&self, fleet_id: String, at: String) -> napi::Result<Value> {
        let at = time("at", Some(&at), chrono::DateTime::UNIX_EPOCH)?;
        to_js(&self.inner.fleet_at(&fleet_id, at).await.or_js()?)
    }

    /// Removes now what is past the retention policy; resolves to what went, by kind.
    #[napi]
    pub async fn apply_retention(&self) -> napi::Result<Value> {
        to_js(&self.inner.apply_retention().await.or_js()?)
    }

    /// What retention has removed since the engine opened.
    #[napi]
    pub fn retention_stats(&self) -> napi::Result<Value> {
        to_js(&self.inner.retention_stats())
    }

    /// Writes a fleet's `kind` records (telemetry, alerts, commands, missions) between `from`
    /// and `to` to the file at `path` as CSV or Parquet (`format`, else the file's extension),
    /// only `vehicle_id`'s when given; resolves to the number of records written.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub async fn export(
        &self,
        kind: String,
        fleet_id: String,
        path: String,
        from: String,
        to: String,
        vehicle_id: Option<String>,
        format: Option<String>,
    ) -> napi::Result<f64> {
        let request = ExportRequest {
            kind: ExportKind::parse(&kind).or_js()?,
            format: match format.as_deref() {
                Some(f) => ExportFormat::parse(f),
                None => ExportFormat::for_path(&path),
            }
            .or_js()?,
            fleet_id,
            vehicle_id,
            range: range(Some(&from), Some(&to))?,
        };
        let stream = self.inner.export(request).await.or_js()?;
        Ok(stream.write_to(&path).await.or_js()? as f64)
    }

    /// The fleet's daily report from day `from` to day `to` (`YYYY-MM-DD`, both included, days
    /// of a site `utc_offset_minutes` ahead of UTC).
    #[napi]
    pub async fn fleet_report(
        &self,
        fleet_id: String,
        from: String,
        to: String,
        vehicle_id: Option<String>,
        utc_offset_minutes: Option<i32>,
    ) -> napi::Result<Value> {
        let query = report_query(fleet_id, &from, &to, vehicle_id, utc_offset_minutes)?;
        to_js(&self.inner.fleet_report(query).await.or_js()?)
    }

    /// Writes the report's per-vehicle days to `path` as CSV or Parquet (`format`, else the
    /// file's extension); resolves to the number of rows.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub async fn export_report(
        &self,
        fleet_id: String,
        path: String,
        from: String,
        to: String,
        vehicle_id: Option<String>,
        utc_offset_minutes: Option<i32>,
        format: Option<String>,
    ) -> napi::Result<f64> {
        let query = report_query(fleet_id, &from, &to, vehicle_id, utc_offset_minutes)?;
        let format = match format.as_deref() {
            Some(f) => ExportFormat::parse(f),
            None => ExportFormat::for_path(&path),
        }
        .or_js()?;
        let stream = self.inner.export_report(query, format).await.or_js()?;
        Ok(stream.write_to(&path).await.or_js()? as f64)
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
                .vehicle_summary(&vehicle_id, window)
                .await
                .or_js()?,
        )
    }

    /// `metric` in buckets of `bucket_minutes` (default 5).
    #[napi]
    pub async fn series(
        &self,
        vehicle_id: String,
        metric: String,
        from: Option<String>,
        to: Option<String>,
        bucket_minutes: Option<f64>,
    ) -> napi::Result<Value> {
        let metric: Metric = metric.parse().or_js()?;
        let window = range(from.as_deref(), to.as_deref())?;
        let minutes = bucket_minutes.unwrap_or(5.0);
        let millis = (minutes * 60_000.0).round();
        if !(millis.is_finite() && millis >= 1.0) {
            return Err(invalid_input("bucketMinutes", "must be a positive number"));
        }
        let bucket = chrono::Duration::milliseconds(millis as i64);
        let points = self
            .inner
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
                .fleet_performance(&fleet_id, window)
                .await
                .or_js()?,
        )
    }

    // -----------------------------------------------------------------------------------------
    // Alerts
    // -----------------------------------------------------------------------------------------

    /// Newest first, `{data, total}`.
    #[napi]
    pub async fn alerts(&self, filter: Option<Value>) -> napi::Result<Value> {
        let q: AlertQuery = optional("filter", filter)?;
        let filter = AlertFilter {
            fleet_id: q.fleet_id,
            vehicle_id: q.vehicle_id,
            severity: q.severity,
            acknowledged: q.acknowledged,
            limit: q.limit.unwrap_or(DEFAULT_PAGE),
        };
        to_js(&self.inner.alerts(&filter).await.or_js()?)
    }

    #[napi]
    pub async fn acknowledge_alert(
        &self,
        alert_id: String,
        by: String,
        notes: Option<String>,
    ) -> napi::Result<Value> {
        let alert = self
            .inner
            .acknowledge_alert(&alert_id, &by, notes.as_deref())
            .await
            .or_js()?;
        to_js(&alert)
    }

    // -----------------------------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------------------------

    /// Dispatches STOP, RESUME, REROUTE or RETURN_TO_BASE to a registered vehicle. With an
    /// idempotency key, a retry by the same issuer returns the original command.
    #[napi]
    pub async fn dispatch_command(
        &self,
        vehicle_id: String,
        command: String,
        params: Option<Value>,
        issued_by: Option<String>,
        idempotency_key: Option<String>,
    ) -> napi::Result<Value> {
        let kind: CommandKind = command.parse().or_js()?;
        let params: CommandParams = optional("params", params)?;
        let issued_by = issued_by.as_deref().unwrap_or(ISSUED_BY);
        let command = self
            .inner
            .dispatch_command(
                &vehicle_id,
                kind,
                params,
                issued_by,
                idempotency_key.as_deref(),
            )
            .await
            .or_js()?;
        to_js(&command)
    }

    /// A command with its current status; `null` when unknown.
    #[napi]
    pub async fn get_command(&self, command_id: String) -> napi::Result<Option<Value>> {
        match self.inner.command(&command_id).await {
            Ok(command) => to_js(&command).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into_js()),
        }
    }

    /// Newest first, `{data, total}`.
    #[napi]
    pub async fn command_history(
        &self,
        vehicle_id: String,
        limit: Option<u32>,
    ) -> napi::Result<Value> {
        let limit = limit.unwrap_or(DEFAULT_COMMAND_PAGE);
        to_js(
            &self
                .inner
                .command_history(&vehicle_id, limit)
                .await
                .or_js()?,
        )
    }

    // -----------------------------------------------------------------------------------------
    // Missions
    // -----------------------------------------------------------------------------------------

    /// Creates a mission and sends its route to the vehicle.
    #[napi]
    pub async fn create_mission(
        &self,
        request: Value,
        issued_by: Option<String>,
    ) -> napi::Result<Value> {
        let request: MissionRequest = from_js("mission", request)?;
        let issued_by = issued_by.as_deref().unwrap_or(ISSUED_BY);
        to_js(
            &self
                .inner
                .create_mission(request, issued_by)
                .await
                .or_js()?,
        )
    }

    #[napi]
    pub async fn get_mission(&self, mission_id: String) -> napi::Result<Value> {
        to_js(&self.inner.mission(&mission_id).await.or_js()?)
    }

    /// Cancels an active mission and stops its vehicle.
    #[napi]
    pub async fn cancel_mission(
        &self,
        mission_id: String,
        issued_by: Option<String>,
    ) -> napi::Result<Value> {
        let issued_by = issued_by.as_deref().unwrap_or(ISSUED_BY);
        to_js(
            &self
                .inner
                .cancel_mission(&mission_id, issued_by)
                .await
                .or_js()?,
        )
    }

    /// The audit trail, newest first (window: the last day unless given, at most 366 days).
    #[napi]
    pub async fn audit_log(&self, query: Option<Value>) -> napi::Result<Value> {
        let q: AuditQuery = optional("query", query)?;
        let parse = |field, t: Option<String>| {
            t.map(|t| time(field, Some(&t), chrono::DateTime::UNIX_EPOCH))
                .transpose()
        };
        let filter = AuditFilter {
            fleet_ids: q.fleet_id.map(|f| vec![f]),
            actor: q.actor,
            action: q.action,
            range: AuditFilter::window(parse("from", q.from)?, parse("to", q.to)?).or_js()?,
            before: None,
            limit: q.limit.unwrap_or(DEFAULT_PAGE),
        };
        to_js(&self.inner.audit_log(&filter).await.or_js()?)
    }

    /// Adds an entry to the audit trail for what the host application does itself.
    #[napi]
    pub async fn record_audit(&self, entry: Value) -> napi::Result<()> {
        let r: AuditRecord = from_js("entry", entry)?;
        self.inner
            .record_audit(AuditEntry {
                fleet_id: r.fleet_id,
                vehicle_id: r.vehicle_id,
                target_id: r.target_id,
                source: r.source,
                detail: r.detail,
                ..AuditEntry::new(r.actor, r.action)
            })
            .await
            .or_js()
    }

    /// Newest first, `{data, total}`.
    #[napi]
    pub async fn list_missions(&self, filter: Option<Value>) -> napi::Result<Value> {
        let q: MissionQuery = optional("filter", filter)?;
        let filter = MissionFilter {
            fleet_id: q.fleet_id,
            vehicle_id: q.vehicle_id,
            status: q.status,
            limit: q.limit.unwrap_or(DEFAULT_PAGE),
        };
        to_js(&self.inner.list_missions(&filter).await.or_js()?)
    }

    // -----------------------------------------------------------------------------------------
    // Simulator
    // -----------------------------------------------------------------------------------------

    /// Registers and runs a simulated fleet on the engine's transport; the first simulator
    /// also executes the commands and missions sent to its vehicles.
    #[napi]
    pub async fn run_simulator(&self, options: Option<Value>) -> napi::Result<SimulatorRun> {
        let config = optional::<SimulatorOptions>("simulator", options)?.into_config()?;
        let inner = self.inner.run_simulator(config).await.or_js()?;
        Ok(SimulatorRun { inner })
    }
}

/// Decodes and validates one reading in the wire format (snake_case JSON bytes).
#[napi]
pub fn decode_telemetry_json(bytes: Buffer) -> napi::Result<Value> {
    to_js(&decode_telemetry(&bytes).or_js()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vehicleops_kafka::SecurityProtocol;

    fn kafka(security_protocol: Option<&str>) -> KafkaOptions {
        KafkaOptions {
            bootstrap_servers: "b-1.msk:9096,b-2.msk:9096".into(),
            group_id: Some("fleet-ingest".into()),
            topic_suffix: Some("staging".into()),
            security_protocol: security_protocol.map(Into::into),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("fleet".into()),
            sasl_password: Some("secret".into()),
            ssl_ca_location: Some("/etc/ssl/msk.pem".into()),
        }
    }

    #[test]
    fn kafka_options_map_onto_the_kafka_config() {
        let t = kafka(Some("sasl_ssl")).transport().unwrap();
        let c = &t.config;
        assert_eq!(c.bootstrap_servers, "b-1.msk:9096,b-2.msk:9096");
        assert_eq!(c.group_id, "fleet-ingest");
        assert_eq!(c.topics.telemetry_raw, "fleet.telemetry.raw.staging");
        assert_eq!(c.topics.commands, "fleet.commands.staging");
        assert_eq!(c.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(c.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(c.sasl_username.as_deref(), Some("fleet"));
        assert_eq!(c.sasl_password.as_deref(), Some("secret"));
        assert_eq!(c.ssl_ca_location.as_deref(), Some("/etc/ssl/msk.pem"));
        assert!(t.create_topics && t.share_events);
        let plain = KafkaOptions {
            group_id: None,
            topic_suffix: None,
            ..kafka(None)
        }
        .transport()
        .unwrap();
        assert_eq!(plain.config.security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(plain.config.group_id, KafkaConfig::default().group_id);
        assert_eq!(plain.config.topics, KafkaConfig::default().topics);
        assert!(kafka(Some("carrier_pigeon")).transport().is_err());
    }

    #[test]
    fn defaults_come_from_the_engine_and_the_pipeline() {
        let s = EngineOptions::default().settings().unwrap();
        assert_eq!(s.pipeline.batch_size, PipelineConfig::default().batch_size);
        assert!(s.default_rules);
        assert!(matches!(
            s.transport,
            TransportSettings::InProcess { capacity } if capacity == DEFAULT_BUS_CAPACITY
        ));
        assert_eq!(s.store, StoreSettings::Sqlite { path: None });
        let s = EngineOptions {
            batch_size: Some(7),
            bus_capacity: Some(9),
            default_rules: Some(false),
            ..Default::default()
        }
        .settings()
        .unwrap();
        assert_eq!(s.pipeline.batch_size, 7);
        assert!(!s.default_rules);
        assert!(matches!(
            s.transport,
            TransportSettings::InProcess { capacity: 9 }
        ));
        let zero = EngineOptions {
            batch_size: Some(0),
            ..Default::default()
        };
        assert!(zero.settings().is_err());
    }
}
