//! [`Vda5050TelemetrySource`]: VDA 5050 `state`, `visualization` and `connection` messages of
//! every vehicle under one topic scheme, as VehicleOps telemetry.
//!
//! Mapping (the vehicle id is the VDA 5050 `serialNumber`):
//!
//! | VehicleOps | VDA 5050 |
//! |---|---|
//! | `pose` | `agvPosition` x, y, theta, mapId |
//! | `latitude`, `longitude`, `heading_deg` | `agvPosition` through the [`SiteGeoreference`]; 0 without one |
//! | `speed_kmh` | `velocity` √(vx² + vy²) × 3.6 |
//! | `battery_pct` | `batteryState.batteryCharge` |
//! | `load_pct` | 100 with any entry in `loads`, else 0 |
//! | `engine_temp_c` | always 0 (VDA 5050 has none) |
//! | `status` | see [`status_of`] |
//!
//! `visualization` updates pose and speed on top of the vehicle's last `state`; `connection`
//! OFFLINE or CONNECTIONBROKEN (the vehicle's last will) yields a reading with status OFFLINE.
//! Messages of another major version, and messages whose header `manufacturer` or
//! `serialNumber` differs from their topic's, are rejected; a `state` or `visualization` whose
//! `headerId` and timestamp do not advance is a repeat and dropped.
//! Messages that are not JSON, fail the official schema, or do not map to valid telemetry go to
//! the configured [`DeadLetterSink`] with the reason and are counted in [`SourceCounters`].
//!
//! FATAL errors make the status ALERT and are posted on a [`FatalErrorBoard`];
//! [`FatalErrorRule`] turns them into alert episodes in the pipeline.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};
use vehicleops_core::{
    AlertRule, AlertSignal, AlertTransition, AlertType, DeadLetter, DeadLetterSink, MapPose,
    RecordOrigin, Result, RuleState, Severity, SourceBatch, SourceRecord, Telemetry,
    TelemetrySource, VehicleStatus,
};

use crate::georef::SiteGeoreference;
use crate::messages::{Connection, ConnectionState, OperatingMode, State, Visualization};
use crate::mqtt::{self, Incoming, MqttEndpoint};
use crate::schema::SchemaValidator;
use crate::topic::{MessageKind, TopicScheme};

/// How to reach the fleet and how to read it.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub endpoint: MqttEndpoint,
    pub scheme: TopicScheme,
    /// The VehicleOps fleet every vehicle under this scheme belongs to.
    pub fleet_id: String,
    /// Gives readings GPS coordinates; without it latitude and longitude are 0.
    pub georeference: Option<SiteGeoreference>,
    /// Messages buffered between the MQTT connection and the pipeline.
    pub inbox_capacity: usize,
    /// Most vehicles the source remembers (last reading, last headers, FATAL errors); beyond
    /// it the least recently seen one is forgotten (counted in
    /// [`SourceCounters::vehicles_evicted`]) and starts afresh with its next `state`.
    pub max_vehicles: usize,
}

impl SourceConfig {
    pub fn new(endpoint: MqttEndpoint, fleet_id: impl Into<String>) -> Self {
        SourceConfig {
            endpoint,
            scheme: TopicScheme::default(),
            fleet_id: fleet_id.into(),
            georeference: None,
            inbox_capacity: 4096,
            max_vehicles: 100_000,
        }
    }
}

/// What the source did with the messages it received.
#[derive(Debug, Default)]
pub struct SourceCounters {
    pub received: AtomicU64,
    pub readings: AtomicU64,
    /// Rejected messages (sent to the dead-letter sink when one is configured).
    pub rejected: AtomicU64,
    /// `state` and `visualization` messages dropped as repeats: a `headerId` not above the
    /// last one of the same vehicle and topic, with a timestamp not after it (MQTT QoS 1 may
    /// deliver twice).
    pub duplicates: AtomicU64,
    /// Vehicles forgotten because more than [`SourceConfig::max_vehicles`] were remembered.
    pub vehicles_evicted: AtomicU64,
}

/// The FATAL errors each vehicle reported in its latest `state`, for [`FatalErrorRule`] and
/// for anyone who wants the details (error type and description) of an ALERT status.
#[derive(Debug, Default)]
pub struct FatalErrorBoard {
    by_vehicle: RwLock<HashMap<String, Vec<String>>>,
}

impl FatalErrorBoard {
    /// `"errorType: errorDescription"` of each FATAL error the vehicle reports now.
    pub fn fatal_errors(&self, vehicle_id: &str) -> Vec<String> {
        self.by_vehicle
            .read()
            .expect("board lock")
            .get(vehicle_id)
            .cloned()
            .unwrap_or_default()
    }

    fn post(&self, vehicle_id: &str, errors: Vec<String>) {
        let mut board = self.by_vehicle.write().expect("board lock");
        if errors.is_empty() {
            board.remove(vehicle_id);
        } else {
            board.insert(vehicle_id.to_owned(), errors);
        }
    }
}

/// The alert type [`FatalErrorRule`] raises.
pub fn fatal_error_alert() -> AlertType {
    AlertType::custom("VDA5050_FATAL_ERROR")
}

/// Raises a CRITICAL `VDA5050_FATAL_ERROR` episode while a vehicle's readings carry status
/// ALERT because of FATAL errors, and clears it when they stop. Add it to the pipeline's rules
/// next to the source it shares the board with.
pub struct FatalErrorRule {
    board: Arc<FatalErrorBoard>,
}

impl FatalErrorRule {
    pub fn new(board: Arc<FatalErrorBoard>) -> Self {
        FatalErrorRule { board }
    }
}

impl AlertRule for FatalErrorRule {
    fn name(&self) -> &str {
        "vda5050_fatal_error"
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        // OFFLINE readings say nothing about errors: keep the episode as it is.
        if reading.status == VehicleStatus::Offline {
            return;
        }
        let raised: &mut bool = state.get();
        let fatal = reading.status == VehicleStatus::Alert;
        if fatal == *raised {
            return;
        }
        *raised = fatal;
        let errors = self.board.fatal_errors(&reading.vehicle_id);
        let message = if fatal {
            format!(
                "Vehicle {} reported FATAL error(s): {}",
                reading.vehicle_id,
                if errors.is_empty() {
                    "unknown".to_owned()
                } else {
                    errors.join("; ")
                }
            )
        } else {
            format!(
                "Vehicle {} has no FATAL errors any more",
                reading.vehicle_id
            )
        };
        out.push(AlertSignal {
            transition: if fatal {
                AlertTransition::Raised
            } else {
                AlertTransition::Cleared
            },
            alert_type: fatal_error_alert(),
            severity: Severity::Critical,
            value: errors.len() as f64,
            threshold: 1.0,
            message,
            key: None,
        });
    }
}

/// The status a `state` maps to, first match wins: FATAL errors → ALERT; charging → CHARGING;
/// paused, or not under master control (MANUAL, SERVICE, TEACHIN) → STOPPED; driving → MOVING;
/// otherwise IDLE.
pub fn status_of(state: &State) -> VehicleStatus {
    if state.fatal_errors().next().is_some() {
        VehicleStatus::Alert
    } else if state.battery_state.charging {
        VehicleStatus::Charging
    } else if state.paused == Some(true)
        || matches!(
            state.operating_mode,
            OperatingMode::Manual | OperatingMode::Service | OperatingMode::Teachin
        )
    {
        VehicleStatus::Stopped
    } else if state.driving {
        VehicleStatus::Moving
    } else {
        VehicleStatus::Idle
    }
}

/// A rejected message and why.
struct Rejection {
    field: String,
    reason: String,
}

impl Rejection {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The (headerId, timestamp) of a message, remembered to drop repeats. `connection` has none:
/// the last will was built at connect time, so it arrives with an older headerId and timestamp
/// than the ONLINE that followed it.
fn header_of(kind: MessageKind, json: &serde_json::Value) -> Option<(u64, DateTime<Utc>)> {
    if kind == MessageKind::Connection {
        return None;
    }
    let header_id = json["headerId"].as_u64()?;
    let timestamp = json["timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?
        .with_timezone(&Utc);
    Some((header_id, timestamp))
}

/// What the source remembers of a vehicle to fill in what a message leaves out.
struct VehicleView {
    last: Telemetry,
    /// When last seen: its key in [`Mapper::recency`].
    seen: u64,
}

/// Turns messages into readings: the pure part of the source, without MQTT.
struct Mapper {
    scheme: TopicScheme,
    fleet_id: String,
    georeference: Option<SiteGeoreference>,
    validator: SchemaValidator,
    board: Arc<FatalErrorBoard>,
    counters: Arc<SourceCounters>,
    vehicles: HashMap<String, VehicleView>,
    /// The last (headerId, timestamp) per vehicle and topic.
    last_headers: HashMap<(String, MessageKind), (u64, DateTime<Utc>)>,
    /// The vehicles by when last seen, least recent first.
    recency: BTreeMap<u64, String>,
    clock: u64,
    max_vehicles: usize,
}

impl Mapper {
    fn new(config: &SourceConfig) -> Self {
        Mapper {
            scheme: config.scheme.clone(),
            fleet_id: config.fleet_id.clone(),
            georeference: config.georeference,
            validator: SchemaValidator::official(),
            board: Arc::default(),
            counters: Arc::default(),
            vehicles: HashMap::new(),
            last_headers: HashMap::new(),
            recency: BTreeMap::new(),
            clock: 0,
            max_vehicles: config.max_vehicles.max(1),
        }
    }

    /// Maps one message; `Ok(None)` for messages that yield no reading.
    fn map(&mut self, message: &Incoming) -> std::result::Result<Option<Telemetry>, Rejection> {
        let Some(address) = self.scheme.parse(&message.topic) else {
            return Err(Rejection::new(
                "topic",
                format!("not a VDA 5050 topic of this scheme: {}", message.topic),
            ));
        };
        let mut json: serde_json::Value = serde_json::from_slice(&message.payload)
            .map_err(|e| Rejection::new("/", format!("not JSON: {e}")))?;
        // Checked against the official schemas of the version the message announces (2.0.0
        // or 2.1.0; what 2.0's schema alone requires relaxed, see `relax_received`); others
        // against 2.1.0, and refused below unless 2.x.
        let announced = json["version"].as_str().unwrap_or_default().to_owned();
        let validator = match crate::version::ProtocolVersion::parse(&announced) {
            Ok(version) => {
                crate::version::relax_received(&mut json, address.kind, version);
                SchemaValidator::for_version(version)
            }
            Err(_) => self.validator.clone(),
        };
        validator
            .validate(address.kind, &json)
            .map_err(|e| Rejection::new(e.first_path().to_owned(), e.to_string()))?;
        let (manufacturer, serial) = (
            json["manufacturer"].as_str().unwrap_or_default(),
            json["serialNumber"].as_str().unwrap_or_default(),
        );
        if manufacturer != address.manufacturer || serial != address.serial_number {
            return Err(Rejection::new(
                if serial != address.serial_number {
                    "/serialNumber"
                } else {
                    "/manufacturer"
                },
                format!(
                    "header names {manufacturer}/{serial} but the topic {}/{}",
                    address.manufacturer, address.serial_number
                ),
            ));
        }
        let version = json["version"].as_str().unwrap_or_default();
        if !version.starts_with("2.") {
            return Err(Rejection::new(
                "/version",
                format!("unsupported VDA 5050 version {version:?}; this adapter speaks 2.x"),
            ));
        }
        let header = header_of(address.kind, &json);
        if self.is_repeat(&address.serial_number, address.kind, header) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        // Nothing is remembered of the message until its reading is valid.
        let mut fatal_errors = None;
        let typed = |e: serde_json::Error| {
            Rejection::new("/", format!("invalid VDA 5050 {}: {e}", address.kind))
        };
        let vehicle_id = address.serial_number;
        let reading = match address.kind {
            MessageKind::State => {
                let state: State = serde_json::from_value(json).map_err(typed)?;
                let fatal = state
                    .fatal_errors()
                    .map(|e| match &e.error_description {
                        Some(d) => format!("{}: {d}", e.error_type),
                        None => e.error_type.clone(),
                    })
                    .collect();
                fatal_errors = Some(fatal);
                let mut t = self.base(&vehicle_id, state.header.timestamp);
                t.status = status_of(&state);
                t.battery_pct = state.battery_state.battery_charge.clamp(0.0, 100.0);
                t.load_pct = if state.loads.is_empty() { 0.0 } else { 100.0 };
                t.speed_kmh = state.velocity.map_or(0.0, |v| v.speed_kmh());
                if let Some(p) = &state.agv_position {
                    self.place(&mut t, p.x, p.y, p.theta, &p.map_id);
                }
                t
            }
            MessageKind::Visualization => {
                let vis: Visualization = serde_json::from_value(json).map_err(typed)?;
                // Without a state first there is no battery or status to report.
                if !self.vehicles.contains_key(&vehicle_id) {
                    return Ok(None);
                }
                let mut t = self.base(&vehicle_id, vis.header.timestamp);
                if let Some(v) = vis.velocity {
                    t.speed_kmh = v.speed_kmh();
                }
                if let Some(p) = &vis.agv_position {
                    self.place(&mut t, p.x, p.y, p.theta, &p.map_id);
                }
                t
            }
            MessageKind::Connection => {
                let conn: Connection = serde_json::from_value(json).map_err(typed)?;
                if conn.connection_state == ConnectionState::Online
                    || !self.vehicles.contains_key(&vehicle_id)
                {
                    return Ok(None);
                }
                // A last will carries the time the vehicle connected, older than its last
                // state: stamp the reading with when the broker told us instead.
                let at = conn.header.timestamp.max(Utc::now());
                let mut t = self.base(&vehicle_id, at);
                t.status = VehicleStatus::Offline;
                t.speed_kmh = 0.0;
                t
            }
            MessageKind::Order | MessageKind::InstantActions | MessageKind::Factsheet => {
                return Ok(None);
            }
        };
        reading
            .validate()
            .map_err(|e| Rejection::new(e.field, e.reason))?;
        if let Some(fatal) = fatal_errors {
            self.board.post(&vehicle_id, fatal);
        }
        if let Some(header) = header {
            self.last_headers
                .insert((vehicle_id.clone(), address.kind), header);
        }
        self.clock += 1;
        if let Some(old) = self.vehicles.get(&vehicle_id) {
            self.recency.remove(&old.seen);
        }
        self.recency.insert(self.clock, vehicle_id.clone());
        self.vehicles.insert(
            vehicle_id,
            VehicleView {
                last: reading.clone(),
                seen: self.clock,
            },
        );
        self.evict_least_recent();
        Ok(Some(reading))
    }

    /// Forgets the least recently seen vehicles beyond `max_vehicles`.
    fn evict_least_recent(&mut self) {
        while self.vehicles.len() > self.max_vehicles {
            let Some((_, id)) = self.recency.pop_first() else {
                return;
            };
            self.vehicles.remove(&id);
            for kind in [MessageKind::State, MessageKind::Visualization] {
                self.last_headers.remove(&(id.clone(), kind));
            }
            self.board.post(&id, Vec::new());
            self.counters
                .vehicles_evicted
                .fetch_add(1, Ordering::Relaxed);
            debug!(vehicle = %id, max_vehicles = self.max_vehicles,
                   "more VDA 5050 vehicles than max_vehicles: the least recently seen is forgotten");
        }
    }

    /// Whether the message repeats one already seen. A vehicle that restarts counts headerIds
    /// from 0 again, but with later timestamps.
    fn is_repeat(
        &self,
        vehicle_id: &str,
        kind: MessageKind,
        header: Option<(u64, DateTime<Utc>)>,
    ) -> bool {
        let Some((header_id, timestamp)) = header else {
            return false;
        };
        self.last_headers
            .get(&(vehicle_id.to_owned(), kind))
            .is_some_and(|(last_id, last_at)| header_id <= *last_id && timestamp <= *last_at)
    }

    /// The vehicle's last reading (or an empty one) advanced to `at`, with the next `seq`.
    fn base(&self, vehicle_id: &str, at: DateTime<Utc>) -> Telemetry {
        match self.vehicles.get(vehicle_id) {
            Some(view) => {
                let mut t = view.last.clone();
                // Never step back: the pipeline would drop the reading as stale. Unless the last
                // one was dated far ahead (the pipeline dead-letters those when it bounds
                // timestamps): it must not drag every later reading along.
                let far_ahead = view.last.timestamp > Utc::now() + chrono::Duration::minutes(5);
                t.timestamp = if far_ahead {
                    at
                } else {
                    at.max(view.last.timestamp)
                };
                t.seq += 1;
                t
            }
            None => Telemetry {
                vehicle_id: vehicle_id.to_owned(),
                fleet_id: self.fleet_id.clone(),
                latitude: 0.0,
                longitude: 0.0,
                speed_kmh: 0.0,
                battery_pct: 0.0,
                engine_temp_c: 0.0,
                load_pct: 0.0,
                status: VehicleStatus::Idle,
                timestamp: at,
                heading_deg: 0.0,
                seq: 1,
                pose: None,
            },
        }
    }

    fn place(&self, t: &mut Telemetry, x: f64, y: f64, theta: f64, map_id: &str) {
        t.pose = Some(MapPose {
            x,
            y,
            theta,
            map_id: map_id.to_owned(),
        });
        if let Some(site) = &self.georeference {
            let p = site.to_geo(x, y);
            (t.latitude, t.longitude) = (p.latitude, p.longitude);
            t.heading_deg = site.heading_deg(theta);
        }
    }
}

/// Reads VDA 5050 vehicles from an MQTT broker. See the module docs for the mapping.
pub struct Vda5050TelemetrySource {
    inbox: Mutex<tokio::sync::mpsc::Receiver<Incoming>>,
    subscribed: watch::Receiver<bool>,
    task: JoinHandle<()>,
    mapper: Mutex<Mapper>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    board: Arc<FatalErrorBoard>,
    counters: Arc<SourceCounters>,
}

impl Drop for Vda5050TelemetrySource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Vda5050TelemetrySource {
    /// Connects and subscribes on the current runtime; messages are buffered from then on.
    pub fn connect(config: SourceConfig) -> Self {
        let subscriptions = [
            MessageKind::State,
            MessageKind::Visualization,
            MessageKind::Connection,
        ]
        .into_iter()
        .map(|kind| config.scheme.all_vehicles(kind))
        .collect();
        let conn = mqtt::connect(&config.endpoint, subscriptions, None, config.inbox_capacity);
        let mapper = Mapper::new(&config);
        Vda5050TelemetrySource {
            board: mapper.board.clone(),
            counters: mapper.counters.clone(),
            inbox: Mutex::new(conn.inbox),
            subscribed: conn.subscribed,
            task: conn.task,
            mapper: Mutex::new(mapper),
            dead_letters: None,
        }
    }

    /// Sends rejected messages to `sink`.
    pub fn with_dead_letters(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// Waits until the broker has acknowledged the subscriptions.
    pub async fn wait_subscribed(&self) {
        mqtt::wait_subscribed(&mut self.subscribed.clone()).await;
    }

    /// The board [`FatalErrorRule`] reads.
    pub fn fatal_errors(&self) -> Arc<FatalErrorBoard> {
        self.board.clone()
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }
}

#[async_trait]
impl TelemetrySource for Vda5050TelemetrySource {
    /// Waits for messages and returns the readings they map to; rejected messages are
    /// dead-lettered and never end the stream. Ends when the MQTT task has stopped.
    async fn next_batch(&self, max: usize) -> Result<Option<SourceBatch>> {
        let mut inbox = self.inbox.lock().await;
        loop {
            let mut messages = Vec::new();
            if inbox.recv_many(&mut messages, max.max(1)).await == 0 {
                return Ok(None);
            }
            let mut mapper = self.mapper.lock().await;
            let mut records = Vec::with_capacity(messages.len());
            let mut letters = Vec::new();
            for message in &messages {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                match mapper.map(message) {
                    Ok(Some(t)) => records.push(SourceRecord::Decoded(t)),
                    Ok(None) => {}
                    Err(rejection) => {
                        warn!(topic = %message.topic, reason = %rejection.reason, "VDA 5050 message rejected");
                        letters.push(DeadLetter {
                            payload: message.payload.clone(),
                            field: rejection.field,
                            reason: rejection.reason,
                            origin: RecordOrigin {
                                stream: message.topic.clone(),
                                ..RecordOrigin::default()
                            },
                            at: Utc::now(),
                        });
                    }
                }
            }
            drop(mapper);
            self.counters
                .readings
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            self.counters
                .rejected
                .fetch_add(letters.len() as u64, Ordering::Relaxed);
            if let (Some(sink), false) = (&self.dead_letters, letters.is_empty()) {
                if let Err(e) = sink.send(letters).await {
                    warn!(error = %e, "dead letters could not be stored");
                }
            }
            if !records.is_empty() {
                return Ok(Some(SourceBatch { records, ack: None }));
            }
        }
    }
}

/// Entry points for the `cargo fuzz` targets in `fuzz/` (not an API: hidden, may change).
///
/// The mapping of topic + payload to a reading or a rejection is private to the source (it is
/// fed by the MQTT task); this wraps it so a fuzzer can drive it without a broker.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The source's message mapper, remembering vehicles between calls like the real one.
    pub struct MessageMapper(Mapper);

    impl MessageMapper {
        /// A mapper for fleet `fuzz-fleet`, remembering at most `max_vehicles` vehicles,
        /// with a georeference when `georeference` is given.
        pub fn new(max_vehicles: usize, georeference: Option<SiteGeoreference>) -> Self {
            let mut config =
                SourceConfig::new(MqttEndpoint::new("localhost", 1883, "fuzz"), "fuzz-fleet");
            config.max_vehicles = max_vehicles;
            config.georeference = georeference;
            MessageMapper(Mapper::new(&config))
        }

        /// Maps one message: `Ok(Some)` a reading, `Ok(None)` nothing to report,
        /// `Err((field, reason))` the rejection that would be dead-lettered.
        pub fn map(
            &mut self,
            topic: &str,
            payload: &[u8],
        ) -> std::result::Result<Option<Telemetry>, (String, String)> {
            let message = Incoming {
                topic: topic.to_owned(),
                payload: payload.to_vec(),
            };
            self.0.map(&message).map_err(|r| (r.field, r.reason))
        }

        /// How many vehicles the mapper remembers now.
        pub fn vehicles(&self) -> usize {
            self.0.vehicles.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use vehicleops_core::GeoPoint;

    use super::*;
    use crate::agv::sample_state;
    use crate::messages::{ErrorLevel, Header, Load, VehicleError, Velocity};

    fn mapper(georeferenced: bool) -> Mapper {
        let mut config = SourceConfig::new(MqttEndpoint::new("localhost", 1883, "t"), "fleet-1");
        if georeferenced {
            config.georeference = Some(SiteGeoreference {
                origin: GeoPoint {
                    latitude: 52.52,
                    longitude: 13.405,
                },
                rotation_deg: 0.0,
            });
        }
        Mapper::new(&config)
    }

    fn message<T: serde::Serialize>(kind: MessageKind, body: &T) -> Incoming {
        Incoming {
            topic: TopicScheme::default().topic("acme", "AGV-1", kind),
            payload: serde_json::to_vec(body).unwrap(),
        }
    }

    fn header(state: &State, seconds: i64) -> Header {
        Header {
            timestamp: state.header.timestamp + Duration::seconds(seconds),
            ..state.header.clone()
        }
    }

    fn fatal() -> VehicleError {
        VehicleError {
            error_type: "bumperHit".into(),
            error_references: Vec::new(),
            error_description: Some("front bumper".into()),
            error_level: ErrorLevel::Fatal,
        }
    }

    #[test]
    fn a_state_becomes_a_reading_in_map_frame_and_gps() {
        let mut m = mapper(true);
        let mut state = sample_state("AGV-1");
        state.agv_position.as_mut().unwrap().x = 100.0;
        state.agv_position.as_mut().unwrap().theta = std::f64::consts::FRAC_PI_2;
        state.velocity = Some(Velocity {
            vx: 1.0,
            vy: 0.0,
            omega: 0.0,
        });
        state.driving = true;
        state.loads = vec![Load {
            load_id: Some("pallet-1".into()),
        }];
        let t = m
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(
            (t.vehicle_id.as_str(), t.fleet_id.as_str()),
            ("AGV-1", "fleet-1")
        );
        assert_eq!(t.status, VehicleStatus::Moving);
        assert!((t.speed_kmh - 3.6).abs() < 1e-9);
        assert_eq!(
            (t.battery_pct, t.load_pct, t.engine_temp_c),
            (90.0, 100.0, 0.0)
        );
        let pose = t.pose.clone().unwrap();
        assert_eq!((pose.x, pose.y, pose.map_id.as_str()), (100.0, 0.0, "site"));
        assert!(
            t.longitude > 13.405 && (t.latitude - 52.52).abs() < 1e-6,
            "100 m east"
        );
        assert!(t.heading_deg.abs() < 1e-9, "theta π/2 faces north");
        assert_eq!(t.timestamp, state.header.timestamp);

        // Without a georeference: the pose, and no invented GPS position.
        let t = mapper(false)
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!((t.latitude, t.longitude), (0.0, 0.0));
        assert_eq!(t.pose.unwrap().x, 100.0);
    }

    #[test]
    fn visualization_moves_the_last_state_and_needs_one_first() {
        let mut m = mapper(false);
        let state = sample_state("AGV-1");
        let mut pos = state.agv_position.clone().unwrap();
        pos.x = 7.0;
        let vis = Visualization {
            header: header(&state, 1),
            agv_position: Some(pos),
            velocity: Some(Velocity {
                vx: 0.0,
                vy: 2.0,
                omega: 0.0,
            }),
        };
        assert!(
            m.map(&message(MessageKind::Visualization, &vis))
                .ok()
                .unwrap()
                .is_none()
        );
        let first = m
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        // The next visualization (the same one again would be dropped as a repeat).
        let vis = Visualization {
            header: Header {
                header_id: 1,
                ..vis.header
            },
            ..vis
        };
        let moved = m
            .map(&message(MessageKind::Visualization, &vis))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(moved.pose.unwrap().x, 7.0);
        assert!((moved.speed_kmh - 7.2).abs() < 1e-9);
        assert_eq!(moved.battery_pct, first.battery_pct);
        assert_eq!(moved.seq, first.seq + 1);
    }

    #[test]
    fn a_broken_connection_is_an_offline_reading_that_is_never_stale() {
        let mut m = mapper(false);
        let state = sample_state("AGV-1");
        let will = Connection {
            header: header(&state, -3600),
            connection_state: ConnectionState::ConnectionBroken,
        };
        assert!(
            m.map(&message(MessageKind::Connection, &will))
                .ok()
                .unwrap()
                .is_none(),
            "unknown vehicles yield nothing"
        );
        let last = m
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        // The will of a later connection.
        let will = Connection {
            header: Header {
                header_id: 1,
                ..will.header
            },
            ..will
        };
        let offline = m
            .map(&message(MessageKind::Connection, &will))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(offline.status, VehicleStatus::Offline);
        assert!((offline.timestamp, offline.seq) > (last.timestamp, last.seq));
        assert_eq!(offline.pose, last.pose);
        let online = Connection {
            header: header(&state, 1),
            connection_state: ConnectionState::Online,
        };
        assert!(
            m.map(&message(MessageKind::Connection, &online))
                .ok()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn rejections_say_where_and_why() {
        let mut m = mapper(false);
        let mut state = serde_json::to_value(sample_state("AGV-1")).unwrap();
        state["batteryState"]["batteryCharge"] = "full".into();
        let r = m.map(&message(MessageKind::State, &state)).err().unwrap();
        assert_eq!(r.field, "/batteryState/batteryCharge");
        assert!(
            r.reason.contains("\"full\" is not of type \"number\""),
            "{}",
            r.reason
        );
        let r = m
            .map(&Incoming {
                topic: "elsewhere/state".into(),
                payload: b"{}".to_vec(),
            })
            .err()
            .unwrap();
        assert_eq!(r.field, "topic");
        let r = m
            .map(&Incoming {
                topic: TopicScheme::default().topic("acme", "AGV-1", MessageKind::State),
                payload: b"\xff".to_vec(),
            })
            .err()
            .unwrap();
        assert!(r.reason.starts_with("not JSON"), "{}", r.reason);
        // The schema sets no maximum charge; above 100 % is clamped, not rejected.
        let mut state = sample_state("AGV-1");
        state.battery_state.battery_charge = 250.0;
        let t = m
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(t.battery_pct, 100.0);
    }

    #[test]
    fn a_header_disagreeing_with_its_topic_is_rejected() {
        let mut m = mapper(false);
        // AGV-2's state published under AGV-1's topic.
        let r = m
            .map(&message(MessageKind::State, &sample_state("AGV-2")))
            .err()
            .unwrap();
        assert_eq!(r.field, "/serialNumber");
        assert!(r.reason.contains("AGV-2"), "{}", r.reason);
        // Another manufacturer in the header than in the topic.
        let mut state = sample_state("AGV-1");
        state.header.manufacturer = "evil".into();
        let r = m.map(&message(MessageKind::State, &state)).err().unwrap();
        assert_eq!(r.field, "/manufacturer");
        assert_eq!(m.vehicles.len(), 0, "nothing learnt from either");
        // Agreeing, it is a reading.
        assert!(
            m.map(&message(MessageKind::State, &sample_state("AGV-1")))
                .ok()
                .flatten()
                .is_some()
        );
    }

    #[test]
    fn repeated_messages_are_dropped_and_other_versions_rejected() {
        let mut m = mapper(false);
        let mut state = sample_state("AGV-1");
        state.header.header_id = 5;
        assert!(
            m.map(&message(MessageKind::State, &state))
                .ok()
                .flatten()
                .is_some()
        );
        assert!(
            m.map(&message(MessageKind::State, &state))
                .ok()
                .unwrap()
                .is_none()
        );
        assert_eq!(m.counters.duplicates.load(Ordering::Relaxed), 1);
        // Another topic counts its own headerIds.
        let vis = Visualization {
            header: state.header.clone(),
            agv_position: None,
            velocity: None,
        };
        assert!(
            m.map(&message(MessageKind::Visualization, &vis))
                .ok()
                .flatten()
                .is_some()
        );
        // A restarted vehicle starts again at 0, later.
        state.header.header_id = 0;
        state.header.timestamp += Duration::seconds(1);
        assert!(
            m.map(&message(MessageKind::State, &state))
                .ok()
                .flatten()
                .is_some()
        );

        state.header.version = "1.1.0".into();
        state.header.header_id = 1;
        let r = m.map(&message(MessageKind::State, &state)).err().unwrap();
        assert_eq!(r.field, "/version");
        assert!(r.reason.contains("\"1.1.0\""), "{}", r.reason);
    }

    #[test]
    fn status_follows_errors_charging_pause_mode_and_driving() {
        let base = sample_state("AGV-1");
        let with = |f: &dyn Fn(&mut State)| {
            let mut s = base.clone();
            f(&mut s);
            status_of(&s)
        };
        assert_eq!(with(&|_| {}), VehicleStatus::Idle);
        assert_eq!(with(&|s| s.driving = true), VehicleStatus::Moving);
        assert_eq!(
            with(&|s| {
                s.driving = true;
                s.paused = Some(true)
            }),
            VehicleStatus::Stopped
        );
        assert_eq!(
            with(&|s| s.operating_mode = OperatingMode::Manual),
            VehicleStatus::Stopped
        );
        assert_eq!(
            with(&|s| s.battery_state.charging = true),
            VehicleStatus::Charging
        );
        assert_eq!(
            with(&|s| {
                s.battery_state.charging = true;
                s.errors.push(fatal())
            }),
            VehicleStatus::Alert
        );
        let mut warning = fatal();
        warning.error_level = ErrorLevel::Warning;
        assert_eq!(
            with(&|s| s.errors.push(warning.clone())),
            VehicleStatus::Idle
        );
    }

    #[test]
    fn fatal_errors_raise_one_episode_with_their_description_and_clear_it() {
        let mut m = mapper(false);
        let rule = FatalErrorRule::new(m.board.clone());
        let mut rule_state = RuleState::default();
        let mut signals = Vec::new();
        let mut state = sample_state("AGV-1");
        for errors in [vec![fatal()], vec![fatal()], vec![]] {
            state.errors = errors;
            state.header.timestamp += Duration::seconds(1);
            let t = m
                .map(&message(MessageKind::State, &state))
                .ok()
                .flatten()
                .unwrap();
            rule.evaluate(&t, &mut rule_state, &mut signals);
        }
        let seen: Vec<_> = signals
            .iter()
            .map(|s| (s.transition, s.alert_type.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (AlertTransition::Raised, "VDA5050_FATAL_ERROR"),
                (AlertTransition::Cleared, "VDA5050_FATAL_ERROR")
            ]
        );
        assert_eq!(
            signals[0].message,
            "Vehicle AGV-1 reported FATAL error(s): bumperHit: front bumper"
        );
        assert_eq!(signals[0].severity, Severity::Critical);
        assert!(m.board.fatal_errors("AGV-1").is_empty());
    }

    #[test]
    fn the_least_recently_seen_vehicles_are_forgotten_beyond_the_cap() {
        let mut config = SourceConfig::new(MqttEndpoint::new("localhost", 1883, "t"), "fleet-1");
        config.max_vehicles = 100;
        let mut m = Mapper::new(&config);
        let state_of = |serial: &str| Incoming {
            topic: TopicScheme::default().topic("acme", serial, MessageKind::State),
            payload: serde_json::to_vec(&sample_state(serial)).unwrap(),
        };
        for i in 0..10_000 {
            let serial = format!("AGV-{i}");
            assert!(m.map(&state_of(&serial)).ok().flatten().is_some());
        }
        assert_eq!(m.vehicles.len(), 100);
        assert_eq!(m.recency.len(), 100);
        assert!(m.last_headers.len() <= 100);
        assert_eq!(m.counters.vehicles_evicted.load(Ordering::Relaxed), 9_900);
        assert!(m.vehicles.contains_key("AGV-9999") && !m.vehicles.contains_key("AGV-0"));
        // Invalid messages of unknown vehicles are not remembered at all.
        let mut state = sample_state("AGV-X");
        state.battery_state.battery_charge = f64::NAN;
        let mut bad = state_of("AGV-X");
        bad.payload = serde_json::to_vec(&state).unwrap();
        let _ = m.map(&bad);
        assert!(!m.vehicles.contains_key("AGV-X"));
        assert!(!m.last_headers.keys().any(|(id, _)| id == "AGV-X"));
    }

    #[test]
    fn a_state_dated_far_ahead_does_not_drag_later_readings_along() {
        let mut m = mapper(false);
        let mut state = sample_state("AGV-1");
        state.header.timestamp = "9999-12-31T23:59:59Z".parse().unwrap();
        let far = m
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(far.timestamp, state.header.timestamp);
        state.header.timestamp = Utc::now();
        state.header.header_id += 1;
        let now = m
            .map(&message(MessageKind::State, &state))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(now.timestamp, state.header.timestamp);
    }
}
