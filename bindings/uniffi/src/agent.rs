//! [`VehicleAgent`]: the vehicle side of VehicleOps for an app running on (or riding along
//! with) a vehicle. It speaks VDA 5050 2.x over MQTT like [`vehicleops_vda5050::SimulatedAgv`],
//! through the same connection layer and schema checks:
//!
//! - each [`TelemetrySample`] (GPS position, heading, speed, battery…) becomes a `state`
//!   message, its position converted to the site's map frame with the georeference the server
//!   uses. Samples go through a bounded [`OfflineBuffer`]: while the broker is unreachable they
//!   wait there (the oldest dropped and counted when it is full) and are sent in order, with
//!   their own timestamps, once the connection is back;
//! - `instantActions` (`startPause`, `cancelOrder` → STOP; `stopPause` → RESUME) and `order`s
//!   (REROUTE; RETURN_TO_BASE when the order ends with `startCharging`) are handed to the app's
//!   [`CommandHandler`]; the action or order is reported RUNNING / delivered in `state` while
//!   it runs, then FINISHED or FAILED (for orders: completed, or an `orderError`) from the
//!   handler's result, which the server turns into EXECUTED or FAILED;
//! - `connection` ONLINE on every (re)connect, a retained CONNECTIONBROKEN last will, OFFLINE on
//!   [`VehicleAgent::shutdown`].
//!
//! Limits: the agent does not drive anything itself; an order counts as completed when the
//! handler returns (the app decides when that is). States are sent per sample and per command
//! step, not on a fixed 30-second heartbeat. A sample handed to the MQTT client just before a
//! disconnect is noticed can be lost (QoS 1 on a clean session).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, LastWill, QoS};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;
use vehicleops_core::GeoPoint;
use vehicleops_vda5050::factsheet::FACTSHEET_REQUEST;
use vehicleops_vda5050::messages::{
    Action, ActionState, ActionStatus, AgvPosition, BatteryState, Connection, ConnectionState,
    EStop, EdgeState, ErrorLevel, ErrorReference, Header, InstantActions, Load, NodeState,
    OperatingMode, Order, PROTOCOL_VERSION, SafetyState, State, VehicleError, Velocity,
};
use vehicleops_vda5050::mqtt::{self, Incoming};
use vehicleops_vda5050::{
    MessageKind, MqttEndpoint, SchemaValidator, SiteGeoreference, TopicScheme,
};

use crate::buffer::OfflineBuffer;
use crate::error::VehicleOpsError;
use crate::operator::{CommandKind, Waypoint};
use crate::{on_runtime, runtime};

type Result<T> = std::result::Result<T, VehicleOpsError>;

/// Where the broker is, how to log in to it, who the vehicle is, and where its site lies on the
/// earth. `Debug` hides the password, and is exported, so Kotlin's `toString()` and Swift's
/// `debugDescription` hide it too.
#[derive(Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AgentConfig {
    pub broker_host: String,
    pub broker_port: u16,
    /// The VDA 5050 manufacturer (third topic level).
    pub manufacturer: String,
    /// The VDA 5050 serial number, which is the VehicleOps vehicle id.
    pub serial_number: String,
    /// WGS84 position of the site map's origin (the server's `VEHICLEOPS_VDA5050_ORIGIN_*`).
    pub origin_latitude: f64,
    pub origin_longitude: f64,
    /// The map's x axis, degrees counter-clockwise from east.
    #[uniffi(default = 0.0)]
    pub rotation_deg: f64,
    #[uniffi(default = "site")]
    pub map_id: String,
    /// First two topic levels (`uagv/v2/…`).
    #[uniffi(default = "uagv")]
    pub interface_name: String,
    #[uniffi(default = "v2")]
    pub major_version: String,
    /// MQTT client id; default `vehicleops-agent-<serial_number>`.
    #[uniffi(default = None)]
    pub client_id: Option<String>,
    /// Samples kept while the broker is unreachable; beyond that the oldest are dropped.
    #[uniffi(default = 1000)]
    pub offline_buffer_capacity: u32,
    #[uniffi(default = 5)]
    pub keep_alive_secs: u32,
    /// MQTT user name, for brokers with a password file; sent with `password`.
    #[uniffi(default = None)]
    pub username: Option<String>,
    /// Sent only with `username`; never logged. Without `ca_file` it crosses the network in
    /// clear.
    #[uniffi(default = None)]
    pub password: Option<String>,
    /// Path of a PEM file with the CA certificate(s) the broker's certificate must chain to.
    /// Set, the agent speaks MQTT over TLS and never falls back to plain TCP; the certificate
    /// must name `broker_host` (a DNS name or an IP address in its subjectAltName). The file is
    /// checked by `start`.
    #[uniffi(default = None)]
    pub ca_file: Option<String>,
    /// The vehicle's top speed, m/s: its factsheet tells the master control (VDA 5050
    /// `physicalParameters.speedMax`).
    #[uniffi(default = 2.0)]
    pub max_speed_mps: f64,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("broker_host", &self.broker_host)
            .field("broker_port", &self.broker_port)
            .field("manufacturer", &self.manufacturer)
            .field("serial_number", &self.serial_number)
            .field("origin_latitude", &self.origin_latitude)
            .field("origin_longitude", &self.origin_longitude)
            .field("rotation_deg", &self.rotation_deg)
            .field("map_id", &self.map_id)
            .field("interface_name", &self.interface_name)
            .field("major_version", &self.major_version)
            .field("client_id", &self.client_id)
            .field("offline_buffer_capacity", &self.offline_buffer_capacity)
            .field("keep_alive_secs", &self.keep_alive_secs)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Checks that `path` is a PEM file with at least one CA certificate that parses, so that a
/// wrong path or file is an error at `start` rather than a connection that never comes up.
fn check_ca_file(path: &str) -> Result<()> {
    use rumqttc::tokio_rustls::rustls::RootCertStore;
    use rumqttc::tokio_rustls::rustls::pki_types::CertificateDer;
    use rumqttc::tokio_rustls::rustls::pki_types::pem::PemObject;

    let config = |problem: String| VehicleOpsError::Config {
        detail: format!("ca_file {path:?}: {problem}"),
    };
    let pem = std::fs::read(path).map_err(|e| config(format!("cannot be read: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| config(format!("is not valid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config(format!("holds a certificate that does not parse: {e}")))?;
    }
    if roots.is_empty() {
        return Err(config(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(())
}

/// One telemetry reading of the vehicle.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TelemetrySample {
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    /// Compass heading, degrees clockwise from north.
    #[uniffi(default = 0.0)]
    pub heading_deg: f64,
    #[uniffi(default = false)]
    pub charging: bool,
    /// Carrying a load (`load_pct` 100 on the server).
    #[uniffi(default = false)]
    pub loaded: bool,
    /// When it was measured; default: when `publish` is called.
    #[uniffi(default = None)]
    pub timestamp: Option<SystemTime>,
}

/// A command for the vehicle, as the app's [`CommandHandler`] receives it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgentCommand {
    /// The VehicleOps command id (the VDA 5050 action id, or the order's).
    pub id: String,
    pub kind: CommandKind,
    /// REROUTE: where to drive, in order; RETURN_TO_BASE: the charging station. Empty for
    /// STOP and RESUME.
    pub waypoints: Vec<Waypoint>,
}

/// Why the app refused or failed a command; the server records it as the failure reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum CommandRejected {
    #[error("{reason}")]
    Rejected { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for CommandRejected {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        CommandRejected::Rejected {
            reason: format!("command handler failed: {}", e.reason),
        }
    }
}

/// Implemented by the app: carries out a command and returns when it is done (the agent
/// then reports it FINISHED / completed), or throws `CommandRejected` (FAILED). Called on a
/// background thread, one command at a time.
#[uniffi::export(foreign)]
pub trait CommandHandler: Send + Sync {
    fn on_command(&self, command: AgentCommand) -> std::result::Result<(), CommandRejected>;
}

/// What the agent has done so far.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AgentStats {
    /// Connected to the broker with the command topics subscribed.
    pub connected: bool,
    /// `state` messages handed to the broker connection.
    pub published: u64,
    /// Samples waiting in the offline buffer.
    pub buffered: u64,
    /// Samples dropped because the offline buffer was full.
    pub dropped: u64,
    pub commands_received: u64,
    /// Commands the handler rejected or that were unsupported.
    pub commands_failed: u64,
}

/// The vehicle's VDA 5050 bookkeeping besides telemetry: order, actions, pause, errors.
#[derive(Debug, Default)]
struct Vehicle {
    order_id: String,
    order_update_id: u64,
    last_node_id: String,
    last_node_sequence_id: u64,
    node_states: Vec<NodeState>,
    edge_states: Vec<EdgeState>,
    action_states: Vec<ActionState>,
    errors: Vec<VehicleError>,
    paused: bool,
    /// The latest sample, for states sent on command steps.
    last_sample: Option<TelemetrySample>,
}

impl Vehicle {
    fn set_action(&mut self, action: &Action, status: ActionStatus, result: Option<String>) {
        let entry = ActionState {
            action_id: action.action_id.clone(),
            action_type: Some(action.action_type.clone()),
            action_status: status,
            result_description: result,
        };
        match self
            .action_states
            .iter_mut()
            .find(|a| a.action_id == action.action_id)
        {
            Some(a) => *a = entry,
            None => self.action_states.push(entry),
        }
    }
}

/// Identity and map of the vehicle.
#[derive(Debug, Clone)]
struct Site {
    scheme: TopicScheme,
    manufacturer: String,
    serial_number: String,
    map_id: String,
    georeference: SiteGeoreference,
    /// For the factsheet.
    max_speed_mps: f64,
}

/// The MQTT client with the per-topic header counters; one publish at a time, so header ids
/// reach the broker in order (the server drops a `state` whose id and time do not advance).
struct Publisher {
    client: AsyncClient,
    header_ids: [u64; 6],
    validator: SchemaValidator,
}

impl Publisher {
    async fn publish<T: Serialize>(
        &mut self,
        site: &Site,
        kind: MessageKind,
        at: DateTime<Utc>,
        retain: bool,
        build: impl FnOnce(Header) -> T,
    ) -> Result<()> {
        let slot = MessageKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind has a slot");
        let header = Header {
            header_id: self.header_ids[slot],
            timestamp: at,
            version: PROTOCOL_VERSION.into(),
            manufacturer: site.manufacturer.clone(),
            serial_number: site.serial_number.clone(),
        };
        let payload = self
            .validator
            .to_checked_json(kind, &build(header))
            .map_err(|e| VehicleOpsError::validation("state", e.to_string()))?;
        let topic = site
            .scheme
            .topic(&site.manufacturer, &site.serial_number, kind);
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .map_err(VehicleOpsError::transport)?;
        self.header_ids[slot] += 1;
        Ok(())
    }
}

/// A sample waiting to be sent, numbered so a flush removes exactly what it sent.
#[derive(Debug, Clone)]
struct Pending {
    number: u64,
    sample: TelemetrySample,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    commands_received: AtomicU64,
    commands_failed: AtomicU64,
}

struct Inner {
    site: Site,
    buffer: Mutex<OfflineBuffer<Pending>>,
    next_number: AtomicU64,
    wake: Notify,
    vehicle: Mutex<Vehicle>,
    publisher: tokio::sync::Mutex<Publisher>,
    handler: RwLock<Option<Arc<dyn CommandHandler>>>,
    subscribed: watch::Receiver<bool>,
    counters: Counters,
    closed: AtomicBool,
    broker: Broker,
}

/// Where the agent connects and how, for [`VehicleAgent::wait_connected`]'s error.
#[derive(Debug, Clone)]
struct Broker {
    host: String,
    port: u16,
    tls: bool,
    login: bool,
}

impl Broker {
    /// Why the agent is not connected, judged from whether the broker accepts TCP at all (the
    /// MQTT layer retries quietly and does not say why a connection attempt failed).
    async fn diagnose(&self) -> String {
        let address = format!("{}:{}", self.host, self.port);
        let probe = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(address.as_str()),
        )
        .await;
        match probe {
            Err(_) => format!("{address} does not answer (TCP connect timed out)"),
            Ok(Err(e)) => format!("{address} cannot be reached: {e}"),
            Ok(Ok(_)) => {
                let what = match (self.tls, self.login) {
                    (true, true) => {
                        "the TLS handshake or the login failed: check that the broker's \
                         certificate chains to ca_file and names the broker host, and the \
                         username and password"
                    }
                    (true, false) => {
                        "the TLS handshake failed or the broker wants a login: check that \
                         the broker's certificate chains to ca_file and names the broker \
                         host, and whether it needs a username and password"
                    }
                    (false, true) => {
                        "the broker refused the username or password, or its listener \
                         expects TLS (ca_file)"
                    }
                    (false, false) => {
                        "the broker wants a username and password, or its listener expects \
                         TLS (ca_file)"
                    }
                };
                format!("{address} accepts connections, but {what}")
            }
        }
    }
}

/// A running vehicle agent. `shutdown()` says OFFLINE and disconnects; dropping it without
/// that drops the connection, and the broker publishes the CONNECTIONBROKEN last will.
#[derive(uniffi::Object)]
pub struct VehicleAgent {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for VehicleAgent {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("tasks lock").iter() {
            task.abort();
        }
    }
}

#[uniffi::export]
impl VehicleAgent {
    /// Connects to the broker (retrying in the background while it is unreachable) and starts
    /// sending. Samples published before the connection is up wait in the offline buffer.
    #[uniffi::constructor]
    pub fn start(config: AgentConfig) -> Result<Arc<Self>> {
        for (field, value) in [
            ("manufacturer", &config.manufacturer),
            ("serial_number", &config.serial_number),
            ("broker_host", &config.broker_host),
        ] {
            if value.is_empty() || value.contains(['/', '+', '#']) {
                return Err(VehicleOpsError::validation(
                    field,
                    "must be non-empty, without '/', '+' or '#'",
                ));
            }
        }
        let site = Site {
            scheme: TopicScheme {
                interface_name: config.interface_name.clone(),
                major_version: config.major_version.clone(),
            },
            manufacturer: config.manufacturer.clone(),
            serial_number: config.serial_number.clone(),
            map_id: config.map_id.clone(),
            georeference: SiteGeoreference {
                origin: GeoPoint {
                    latitude: config.origin_latitude,
                    longitude: config.origin_longitude,
                },
                rotation_deg: config.rotation_deg,
            },
            max_speed_mps: config.max_speed_mps,
        };
        let mut endpoint = MqttEndpoint::new(
            config.broker_host.clone(),
            config.broker_port,
            config
                .client_id
                .clone()
                .unwrap_or_else(|| format!("vehicleops-agent-{}", config.serial_number)),
        );
        endpoint.keep_alive = Duration::from_secs(config.keep_alive_secs.max(1).into());
        match (&config.username, &config.password) {
            (Some(username), password) => {
                if username.is_empty() {
                    return Err(VehicleOpsError::validation("username", "must be non-empty"));
                }
                endpoint.username = Some(username.clone());
                endpoint.password = password.clone();
            }
            (None, Some(_)) => {
                return Err(VehicleOpsError::validation(
                    "password",
                    "set without a username (MQTT sends a password only with a user name)",
                ));
            }
            (None, None) => {}
        }
        if let Some(ca_file) = &config.ca_file {
            check_ca_file(ca_file)?;
            endpoint = endpoint.with_tls(ca_file);
        }
        let validator = SchemaValidator::official();
        let will = Connection {
            header: Header {
                header_id: 0,
                timestamp: Utc::now(),
                version: PROTOCOL_VERSION.into(),
                manufacturer: site.manufacturer.clone(),
                serial_number: site.serial_number.clone(),
            },
            connection_state: ConnectionState::ConnectionBroken,
        };
        let will = validator
            .to_checked_json(MessageKind::Connection, &will)
            .map_err(|e| VehicleOpsError::validation("manufacturer", e.to_string()))?;
        let topic = |kind| {
            site.scheme
                .topic(&site.manufacturer, &site.serial_number, kind)
        };
        let subscriptions = vec![
            topic(MessageKind::Order),
            topic(MessageKind::InstantActions),
        ];
        let will = LastWill::new(topic(MessageKind::Connection), will, QoS::AtLeastOnce, true);
        let _entered = runtime().enter();
        let connection = mqtt::connect(&endpoint, subscriptions, Some(will), 64);
        let inner = Arc::new(Inner {
            site,
            buffer: Mutex::new(OfflineBuffer::new(config.offline_buffer_capacity as usize)),
            next_number: AtomicU64::new(0),
            wake: Notify::new(),
            vehicle: Mutex::new(Vehicle::default()),
            publisher: tokio::sync::Mutex::new(Publisher {
                client: connection.client,
                // The last will took connection header id 0.
                header_ids: {
                    let mut ids = [0; 6];
                    ids[MessageKind::ALL
                        .iter()
                        .position(|k| *k == MessageKind::Connection)
                        .expect("connection has a slot")] = 1;
                    ids
                },
                validator: validator.clone(),
            }),
            handler: RwLock::new(None),
            subscribed: connection.subscribed,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            broker: Broker {
                host: config.broker_host.clone(),
                port: config.broker_port,
                tls: config.ca_file.is_some(),
                login: config.username.is_some(),
            },
        });
        let sender = runtime().spawn(send_loop(inner.clone()));
        let commands = runtime().spawn(command_loop(inner.clone(), connection.inbox, validator));
        Ok(Arc::new(VehicleAgent {
            inner,
            tasks: Mutex::new(vec![connection.task, sender, commands]),
        }))
    }

    /// Queues a sample for sending; returns at once. While the broker is unreachable samples
    /// wait in the offline buffer (see [`AgentStats::buffered`] and `dropped`).
    pub fn publish(&self, sample: TelemetrySample) -> Result<()> {
        self.publish_batch(vec![sample])
    }

    /// Queues several samples in one call (cheaper across the language boundary), in order.
    /// If one is invalid, none is queued.
    pub fn publish_batch(&self, samples: Vec<TelemetrySample>) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(VehicleOpsError::Closed {
                detail: "the agent was shut down".into(),
            });
        }
        samples.iter().try_for_each(check_sample)?;
        let now = Utc::now();
        {
            let mut buffer = self.inner.buffer.lock().expect("buffer lock");
            for sample in samples {
                let at = sample.timestamp.map_or(now, DateTime::<Utc>::from);
                let number = self.inner.next_number.fetch_add(1, Ordering::SeqCst);
                buffer.push(Pending { number, sample, at });
            }
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Sets (or replaces) the handler that receives commands. Commands arriving without one
    /// are reported FAILED.
    pub fn set_command_handler(&self, handler: Arc<dyn CommandHandler>) {
        *self.inner.handler.write().expect("handler lock") = Some(handler);
    }

    pub fn stats(&self) -> AgentStats {
        let buffer = self.inner.buffer.lock().expect("buffer lock");
        let c = &self.inner.counters;
        AgentStats {
            connected: *self.inner.subscribed.borrow(),
            published: c.published.load(Ordering::Relaxed),
            buffered: buffer.len() as u64,
            dropped: buffer.dropped(),
            commands_received: c.commands_received.load(Ordering::Relaxed),
            commands_failed: c.commands_failed.load(Ordering::Relaxed),
        }
    }

    /// Waits until the agent is connected with its command topics subscribed
    /// (`stats().connected`), at most `timeout_ms`. Throws `Transport` saying what seems wrong
    /// (broker unreachable, or reachable but refusing the login or the TLS handshake) when it
    /// is not, and `Closed` after `shutdown()`. The agent keeps trying in the background
    /// either way; publishing does not need to wait for this.
    pub async fn wait_connected(&self, timeout_ms: u32) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(VehicleOpsError::Closed {
                detail: "the agent was shut down".into(),
            });
        }
        let mut subscribed = self.inner.subscribed.clone();
        let broker = self.inner.broker.clone();
        on_runtime(async move {
            let wait = async { subscribed.wait_for(|ready| *ready).await.map(|_| ()) };
            match tokio::time::timeout(Duration::from_millis(timeout_ms.into()), wait).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(VehicleOpsError::Closed {
                    detail: "the agent's broker connection was stopped".into(),
                }),
                Err(_) => Err(VehicleOpsError::Transport {
                    detail: format!(
                        "not connected to the MQTT broker within {timeout_ms} ms: {}",
                        broker.diagnose().await
                    ),
                }),
            }
        })
        .await
    }

    /// Says OFFLINE (when connected), disconnects and stops the background tasks. Samples
    /// still buffered are discarded. Later `publish` calls throw `Closed`.
    pub async fn shutdown(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        let inner = self.inner.clone();
        on_runtime(async move {
            let (event_loop, others) = tasks.split_first().expect("the agent has tasks");
            for task in others {
                task.abort();
            }
            if *inner.subscribed.borrow() {
                let mut publisher = inner.publisher.lock().await;
                let offline = publisher
                    .publish(
                        &inner.site,
                        MessageKind::Connection,
                        Utc::now(),
                        true,
                        |header| Connection {
                            header,
                            connection_state: ConnectionState::Offline,
                        },
                    )
                    .await;
                let _ = publisher.client.disconnect().await;
                // Let the event loop send both before it is stopped.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while !event_loop.is_finished() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await;
                offline?;
            }
            event_loop.abort();
            Ok(())
        })
        .await
    }
}

fn check_sample(s: &TelemetrySample) -> Result<()> {
    let checks = [
        ("latitude", (-90.0..=90.0).contains(&s.latitude)),
        ("longitude", (-180.0..=180.0).contains(&s.longitude)),
        ("speed_kmh", s.speed_kmh.is_finite() && s.speed_kmh >= 0.0),
        ("battery_pct", (0.0..=100.0).contains(&s.battery_pct)),
        ("heading_deg", s.heading_deg.is_finite()),
    ];
    match checks.into_iter().find(|(_, ok)| !ok) {
        Some((field, _)) => Err(VehicleOpsError::validation(field, "out of range")),
        None => Ok(()),
    }
}

/// The `state` message for a sample (or none yet) and the vehicle's bookkeeping.
fn build_state(
    site: &Site,
    vehicle: &Vehicle,
    sample: Option<&TelemetrySample>,
    header: Header,
) -> State {
    let position = sample.map(|s| {
        let (x, y) = site.georeference.to_map(GeoPoint {
            latitude: s.latitude,
            longitude: s.longitude,
        });
        // The inverse of `SiteGeoreference::heading_deg`, in (-π, π].
        let theta = (90.0 - s.heading_deg - site.georeference.rotation_deg).to_radians();
        AgvPosition {
            x,
            y,
            theta: theta.sin().atan2(theta.cos()),
            map_id: site.map_id.clone(),
            position_initialized: true,
        }
    });
    let speed_mps = sample.map_or(0.0, |s| s.speed_kmh / 3.6);
    State {
        header,
        order_id: vehicle.order_id.clone(),
        order_update_id: vehicle.order_update_id,
        last_node_id: vehicle.last_node_id.clone(),
        last_node_sequence_id: vehicle.last_node_sequence_id,
        driving: speed_mps > 0.0 && !vehicle.paused,
        paused: Some(vehicle.paused),
        operating_mode: OperatingMode::Automatic,
        node_states: vehicle.node_states.clone(),
        edge_states: vehicle.edge_states.clone(),
        agv_position: position,
        velocity: Some(Velocity {
            vx: speed_mps,
            vy: 0.0,
            omega: 0.0,
        }),
        loads: if sample.is_some_and(|s| s.loaded) {
            vec![Load { load_id: None }]
        } else {
            Vec::new()
        },
        action_states: vehicle.action_states.clone(),
        battery_state: BatteryState {
            battery_charge: sample.map_or(0.0, |s| s.battery_pct),
            charging: sample.is_some_and(|s| s.charging),
        },
        errors: vehicle.errors.clone(),
        safety_state: SafetyState {
            e_stop: EStop::None,
            field_violation: false,
        },
    }
}

impl Inner {
    /// Sends a `state` for `sample` (or the last sample, for command steps) stamped `at`.
    async fn send_state(&self, sample: Option<&TelemetrySample>, at: DateTime<Utc>) -> Result<()> {
        let mut publisher = self.publisher.lock().await;
        let (vehicle_snapshot, sample) = {
            let mut v = self.vehicle.lock().expect("vehicle lock");
            if let Some(s) = sample {
                v.last_sample = Some(s.clone());
            }
            let sample = sample.cloned().or_else(|| v.last_sample.clone());
            (
                Vehicle {
                    order_id: v.order_id.clone(),
                    order_update_id: v.order_update_id,
                    last_node_id: v.last_node_id.clone(),
                    last_node_sequence_id: v.last_node_sequence_id,
                    node_states: v.node_states.clone(),
                    edge_states: v.edge_states.clone(),
                    action_states: v.action_states.clone(),
                    errors: v.errors.clone(),
                    paused: v.paused,
                    last_sample: None,
                },
                sample,
            )
        };
        publisher
            .publish(&self.site, MessageKind::State, at, false, |header| {
                build_state(&self.site, &vehicle_snapshot, sample.as_ref(), header)
            })
            .await?;
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Sends buffered samples, oldest first, whenever the broker connection is up; announces
/// ONLINE on every (re)connect.
async fn send_loop(inner: Arc<Inner>) {
    let mut subscribed = inner.subscribed.clone();
    let mut announced = false;
    loop {
        if !*subscribed.borrow_and_update() {
            announced = false;
            if subscribed.changed().await.is_err() {
                return;
            }
            continue;
        }
        if !announced {
            let online = inner
                .publisher
                .lock()
                .await
                .publish(
                    &inner.site,
                    MessageKind::Connection,
                    Utc::now(),
                    true,
                    |header| Connection {
                        header,
                        connection_state: ConnectionState::Online,
                    },
                )
                .await;
            if let Err(e) = online {
                warn!(error = %e, "VDA 5050 agent could not announce ONLINE");
            }
            announced = true;
        }
        let next = inner.buffer.lock().expect("buffer lock").front().cloned();
        let Some(pending) = next else {
            tokio::select! {
                _ = inner.wake.notified() => {}
                changed = subscribed.changed() => if changed.is_err() { return },
            }
            continue;
        };
        match inner.send_state(Some(&pending.sample), pending.at).await {
            Ok(()) => {
                let mut buffer = inner.buffer.lock().expect("buffer lock");
                // Unless it was dropped meanwhile to make room.
                if buffer.front().is_some_and(|p| p.number == pending.number) {
                    buffer.pop();
                }
            }
            Err(e @ VehicleOpsError::Validation { .. }) => {
                // Retrying cannot fix a message the schema refuses: skip the sample.
                warn!(error = %e, "VDA 5050 agent dropped a sample it could not encode");
                let mut buffer = inner.buffer.lock().expect("buffer lock");
                if buffer.front().is_some_and(|p| p.number == pending.number) {
                    buffer.pop();
                }
            }
            Err(e) => {
                warn!(error = %e, "VDA 5050 agent could not send a sample; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// What an incoming message asks of the vehicle.
#[derive(Debug, PartialEq)]
enum Request {
    /// Instant actions, each with the command it stands for (`None`: unsupported).
    Actions(Vec<(Action, Option<CommandKind>)>),
    /// A new order or an update, as one command.
    Order(Box<Order>, AgentCommand),
}

/// Reads an order or instant actions for this vehicle; `None` for anything else, repeats and
/// stale order updates.
fn classify(
    site: &Site,
    validator: &SchemaValidator,
    vehicle: &Vehicle,
    message: &Incoming,
) -> std::result::Result<Option<Request>, String> {
    let Some(address) = site.scheme.parse(&message.topic) else {
        return Ok(None);
    };
    let json: serde_json::Value =
        serde_json::from_slice(&message.payload).map_err(|e| format!("not JSON: {e}"))?;
    validator
        .validate(address.kind, &json)
        .map_err(|e| e.to_string())?;
    match address.kind {
        MessageKind::InstantActions => {
            let message: InstantActions =
                serde_json::from_value(json).map_err(|e| e.to_string())?;
            let actions = message
                .actions
                .into_iter()
                .map(|a| {
                    let kind = match a.action_type.as_str() {
                        "startPause" | "cancelOrder" => Some(CommandKind::Stop),
                        "stopPause" => Some(CommandKind::Resume),
                        _ => None,
                    };
                    (a, kind)
                })
                .collect();
            Ok(Some(Request::Actions(actions)))
        }
        MessageKind::Order => {
            let order: Order = serde_json::from_value(json).map_err(|e| e.to_string())?;
            if order.order_id == vehicle.order_id
                && order.order_update_id <= vehicle.order_update_id
            {
                return Ok(None);
            }
            let charge = order
                .nodes
                .last()
                .and_then(|n| n.actions.iter().find(|a| a.action_type == "startCharging"));
            let (kind, id) = match charge {
                Some(action) => (CommandKind::ReturnToBase, action.action_id.clone()),
                // REROUTE nodes are named `<command id>-<n>` by the server's command sink.
                None => (
                    CommandKind::Reroute,
                    order
                        .nodes
                        .last()
                        .and_then(|n| n.node_id.rsplit_once('-'))
                        .map_or_else(|| order.order_id.clone(), |(id, _)| id.to_owned()),
                ),
            };
            // The first node is where the vehicle stands (or its last base node).
            let waypoints = order
                .nodes
                .iter()
                .skip(1)
                .filter_map(|n| n.node_position.as_ref())
                .map(|p| {
                    let g = site.georeference.to_geo(p.x, p.y);
                    Waypoint {
                        latitude: g.latitude,
                        longitude: g.longitude,
                    }
                })
                .collect();
            let command = AgentCommand {
                id,
                kind,
                waypoints,
            };
            Ok(Some(Request::Order(Box::new(order), command)))
        }
        _ => Ok(None),
    }
}

/// Receives orders and instant actions and runs them through the app's handler.
async fn command_loop(
    inner: Arc<Inner>,
    mut inbox: mpsc::Receiver<Incoming>,
    validator: SchemaValidator,
) {
    while let Some(message) = inbox.recv().await {
        let request = {
            let vehicle = inner.vehicle.lock().expect("vehicle lock");
            classify(&inner.site, &validator, &vehicle, &message)
        };
        match request {
            Ok(Some(Request::Actions(actions))) => {
                for (action, kind) in actions {
                    if action.action_type == FACTSHEET_REQUEST {
                        send_factsheet(&inner, &action).await;
                    } else {
                        run_action(&inner, action, kind).await;
                    }
                }
            }
            Ok(Some(Request::Order(order, command))) => run_order(&inner, *order, command).await,
            Ok(None) => {}
            Err(reason) => {
                warn!(topic = %message.topic, %reason, "VDA 5050 agent ignored a message")
            }
        }
    }
}

/// Calls the handler on a blocking-pool thread; a missing handler or a panic is a rejection.
async fn handle(inner: &Inner, command: AgentCommand) -> std::result::Result<(), String> {
    inner
        .counters
        .commands_received
        .fetch_add(1, Ordering::Relaxed);
    let handler = inner.handler.read().expect("handler lock").clone();
    let result = match handler {
        None => Err("no command handler set on the vehicle agent".to_owned()),
        Some(handler) => tokio::task::spawn_blocking(move || handler.on_command(command))
            .await
            .map_err(|e| format!("command handler failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string())),
    };
    if result.is_err() {
        inner
            .counters
            .commands_failed
            .fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// What the agent lists in its factsheet: the actions it turns into commands for the app's
/// handler, and the factsheet request itself.
const AGENT_ACTIONS: [(&str, &[&str]); 5] = [
    ("startPause", &["INSTANT"]),
    ("stopPause", &["INSTANT"]),
    ("cancelOrder", &["INSTANT"]),
    ("startCharging", &["NODE"]),
    (FACTSHEET_REQUEST, &["INSTANT"]),
];

/// Answers a `factsheetRequest`: publishes the factsheet (retained, so a master control that
/// starts later reads it too) and reports the action FINISHED. Not a command of the app.
async fn send_factsheet(inner: &Inner, action: &Action) {
    let sheet = vehicleops_vda5050::factsheet::document(
        "vehicleops-agent",
        inner.site.max_speed_mps,
        &AGENT_ACTIONS,
    );
    let sent = {
        let mut publisher = inner.publisher.lock().await;
        publisher
            .publish(
                &inner.site,
                MessageKind::Factsheet,
                Utc::now(),
                true,
                |header| {
                    let mut sheet = sheet;
                    if let (Some(body), Ok(serde_json::Value::Object(header))) =
                        (sheet.as_object_mut(), serde_json::to_value(header))
                    {
                        body.extend(header);
                    }
                    sheet
                },
            )
            .await
    };
    let (status, reason) = match sent {
        Ok(()) => (ActionStatus::Finished, None),
        Err(e) => (
            ActionStatus::Failed,
            Some(format!("factsheet not sent: {e}")),
        ),
    };
    inner
        .vehicle
        .lock()
        .expect("vehicle lock")
        .set_action(action, status, reason);
    report(inner).await;
}

async fn report(inner: &Inner) {
    if let Err(e) = inner.send_state(None, Utc::now()).await {
        warn!(error = %e, "VDA 5050 agent could not report a command step");
    }
}

async fn run_action(inner: &Inner, action: Action, kind: Option<CommandKind>) {
    let Some(kind) = kind else {
        inner
            .counters
            .commands_failed
            .fetch_add(1, Ordering::Relaxed);
        let reason = format!("unsupported action {}", action.action_type);
        inner.vehicle.lock().expect("vehicle lock").set_action(
            &action,
            ActionStatus::Failed,
            Some(reason),
        );
        return report(inner).await;
    };
    inner
        .vehicle
        .lock()
        .expect("vehicle lock")
        .set_action(&action, ActionStatus::Running, None);
    report(inner).await;
    let command = AgentCommand {
        id: action.action_id.clone(),
        kind,
        waypoints: Vec::new(),
    };
    let result = handle(inner, command).await;
    {
        let mut v = inner.vehicle.lock().expect("vehicle lock");
        match result {
            Ok(()) => {
                match action.action_type.as_str() {
                    "startPause" => v.paused = true,
                    "stopPause" => v.paused = false,
                    _ => {
                        // cancelOrder: the order ends here.
                        v.node_states.clear();
                        v.edge_states.clear();
                    }
                }
                v.set_action(&action, ActionStatus::Finished, None);
            }
            Err(reason) => v.set_action(&action, ActionStatus::Failed, Some(reason)),
        }
    }
    report(inner).await;
}

async fn run_order(inner: &Inner, order: Order, command: AgentCommand) {
    let node_actions: Vec<Action> = order
        .nodes
        .iter()
        .flat_map(|n| n.actions.iter().cloned())
        .collect();
    {
        // Delivered: the order shows in `state` with its nodes still to go.
        let mut v = inner.vehicle.lock().expect("vehicle lock");
        if order.order_id != v.order_id {
            v.action_states.clear();
        }
        v.errors.clear();
        v.order_id = order.order_id.clone();
        v.order_update_id = order.order_update_id;
        v.node_states = order.nodes.iter().map(NodeState::from).collect();
        v.edge_states = order.edges.iter().map(EdgeState::from).collect();
        for a in &node_actions {
            v.set_action(a, ActionStatus::Waiting, None);
        }
    }
    report(inner).await;
    let result = handle(inner, command).await;
    {
        let mut v = inner.vehicle.lock().expect("vehicle lock");
        v.node_states.clear();
        v.edge_states.clear();
        match result {
            Ok(()) => {
                if let Some(last) = order.nodes.last() {
                    v.last_node_id = last.node_id.clone();
                    v.last_node_sequence_id = last.sequence_id;
                }
                for a in &node_actions {
                    v.set_action(a, ActionStatus::Finished, None);
                }
            }
            Err(reason) => {
                for a in &node_actions {
                    v.set_action(a, ActionStatus::Failed, Some(reason.clone()));
                }
                v.errors.push(VehicleError {
                    error_type: "orderError".into(),
                    error_references: vec![
                        ErrorReference {
                            reference_key: "orderId".into(),
                            reference_value: order.order_id.clone(),
                        },
                        ErrorReference {
                            reference_key: "orderUpdateId".into(),
                            reference_value: order.order_update_id.to_string(),
                        },
                    ],
                    error_description: Some(reason),
                    error_level: ErrorLevel::Warning,
                });
            }
        }
    }
    report(inner).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use vehicleops_vda5050::RoutePoint;
    use vehicleops_vda5050::messages::BlockingType;
    use vehicleops_vda5050::order::{order, route};

    fn site() -> Site {
        Site {
            scheme: TopicScheme::default(),
            manufacturer: "acme".into(),
            serial_number: "KT-1".into(),
            map_id: "site".into(),
            georeference: SiteGeoreference {
                origin: GeoPoint {
                    latitude: 4.711,
                    longitude: -74.0721,
                },
                rotation_deg: 0.0,
            },
            max_speed_mps: 2.0,
        }
    }

    fn header(kind_id: u64) -> Header {
        Header {
            header_id: kind_id,
            timestamp: Utc::now(),
            version: PROTOCOL_VERSION.into(),
            manufacturer: "acme".into(),
            serial_number: "KT-1".into(),
        }
    }

    fn sample() -> TelemetrySample {
        TelemetrySample {
            latitude: 4.7111,
            longitude: -74.0720,
            speed_kmh: 7.2,
            battery_pct: 64.5,
            heading_deg: 45.0,
            charging: false,
            loaded: true,
            timestamp: None,
        }
    }

    #[test]
    fn a_sample_becomes_a_valid_state_the_server_maps_back() {
        let site = site();
        let mut vehicle = Vehicle::default();
        let state = build_state(&site, &vehicle, Some(&sample()), header(3));
        SchemaValidator::official()
            .validate(MessageKind::State, &serde_json::to_value(&state).unwrap())
            .unwrap();
        let p = state.agv_position.as_ref().unwrap();
        let back = site.georeference.to_geo(p.x, p.y);
        assert!((back.latitude - 4.7111).abs() < 1e-7 && (back.longitude + 74.072).abs() < 1e-7);
        assert!((site.georeference.heading_deg(p.theta) - 45.0).abs() < 1e-9);
        assert!((state.velocity.unwrap().vx - 2.0).abs() < 1e-12);
        assert_eq!(
            (state.battery_state.battery_charge, state.loads.len()),
            (64.5, 1)
        );
        assert!(state.driving);
        vehicle.paused = true;
        let paused = build_state(&site, &vehicle, Some(&sample()), header(4));
        assert!(
            !paused.driving,
            "a paused vehicle reports that it is not driving"
        );
    }

    fn incoming(site: &Site, kind: MessageKind, body: &impl Serialize) -> Incoming {
        Incoming {
            topic: site.scheme.topic("acme", "KT-1", kind),
            payload: serde_json::to_vec(body).unwrap(),
        }
    }

    #[test]
    fn instant_actions_and_orders_become_commands() {
        let site = site();
        let validator = SchemaValidator::official();
        let vehicle = Vehicle::default();
        let actions = InstantActions {
            header: header(0),
            actions: vec![
                Action::new("startPause", "cmd-1", BlockingType::Hard),
                Action::new("liftFork", "x", BlockingType::Hard),
            ],
        };
        let m = incoming(&site, MessageKind::InstantActions, &actions);
        let Some(Request::Actions(a)) = classify(&site, &validator, &vehicle, &m).unwrap() else {
            panic!("instant actions")
        };
        assert_eq!(a[0].1, Some(CommandKind::Stop));
        assert_eq!(a[1].1, None);

        let point = |id: &str, x: f64| RoutePoint {
            node_id: id.into(),
            x,
            y: 0.0,
            map_id: "site".into(),
        };
        let points = [
            point("start", 0.0),
            point("cmd-7-0", 10.0),
            point("cmd-7-1", 20.0),
        ];
        let (nodes, edges) = route(&points, 0, 3, Vec::new());
        let reroute = order(header(1), "cmd-7", 0, nodes, edges);
        let m = incoming(&site, MessageKind::Order, &reroute);
        let Some(Request::Order(_, c)) = classify(&site, &validator, &vehicle, &m).unwrap() else {
            panic!("an order")
        };
        assert_eq!(
            (c.id.as_str(), c.kind, c.waypoints.len()),
            ("cmd-7", CommandKind::Reroute, 2)
        );
        assert!(
            c.waypoints[1].longitude > c.waypoints[0].longitude,
            "east along x"
        );

        let charge = vec![Action::new("startCharging", "cmd-9", BlockingType::Hard)];
        let (nodes, edges) = route(&[point("start", 0.0), point("charger", 0.0)], 0, 2, charge);
        let home = order(header(2), "cmd-9", 0, nodes, edges);
        let m = incoming(&site, MessageKind::Order, &home);
        let Some(Request::Order(_, c)) = classify(&site, &validator, &vehicle, &m).unwrap() else {
            panic!("an order")
        };
        assert_eq!(
            (c.id.as_str(), c.kind),
            ("cmd-9", CommandKind::ReturnToBase)
        );

        // A repeat of the order the vehicle already runs is not a new command.
        let running = Vehicle {
            order_id: "cmd-9".into(),
            ..Vehicle::default()
        };
        assert_eq!(classify(&site, &validator, &running, &m).unwrap(), None);
        let bad = Incoming {
            topic: m.topic.clone(),
            payload: b"{\"orderId\": 1}".to_vec(),
        };
        assert!(classify(&site, &validator, &vehicle, &bad).is_err());
    }

    /// No broker listens on port 1: the agent stays offline and everything stays buffered.
    #[tokio::test]
    async fn offline_samples_are_buffered_bounded_and_refused_after_shutdown() {
        let agent = VehicleAgent::start(AgentConfig {
            broker_host: "127.0.0.1".into(),
            broker_port: 1,
            manufacturer: "acme".into(),
            serial_number: "KT-9".into(),
            origin_latitude: 4.711,
            origin_longitude: -74.0721,
            rotation_deg: 0.0,
            map_id: "site".into(),
            interface_name: "uagv".into(),
            major_version: "v2".into(),
            client_id: None,
            offline_buffer_capacity: 3,
            keep_alive_secs: 5,
            username: None,
            password: None,
            ca_file: None,
            max_speed_mps: 2.0,
        })
        .unwrap();
        let mut bad = sample();
        bad.latitude = 91.0;
        let e = agent.publish_batch(vec![sample(), bad]).unwrap_err();
        assert!(matches!(e, VehicleOpsError::Validation { ref field, .. } if field == "latitude"));
        assert_eq!(agent.stats().buffered, 0, "an invalid batch queues nothing");
        agent.publish_batch(vec![sample(); 5]).unwrap();
        let stats = agent.stats();
        assert_eq!(
            (
                stats.connected,
                stats.buffered,
                stats.dropped,
                stats.published
            ),
            (false, 3, 2, 0)
        );
        agent.shutdown().await.unwrap();
        let e = agent.publish(sample()).unwrap_err();
        assert!(matches!(e, VehicleOpsError::Closed { .. }), "{e:?}");
    }

    fn config() -> AgentConfig {
        AgentConfig {
            broker_host: "127.0.0.1".into(),
            broker_port: 1,
            manufacturer: "acme".into(),
            serial_number: "KT-8".into(),
            origin_latitude: 4.711,
            origin_longitude: -74.0721,
            rotation_deg: 0.0,
            map_id: "site".into(),
            interface_name: "uagv".into(),
            major_version: "v2".into(),
            client_id: None,
            offline_buffer_capacity: 3,
            keep_alive_secs: 5,
            username: Some("agv".into()),
            password: Some("s3cret-never-shown".into()),
            ca_file: None,
            max_speed_mps: 2.0,
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", config());
        assert!(shown.contains("username: Some(\"agv\")"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    /// A wrong CA file is an error of `start` that names the file, never a plain connection.
    #[test]
    fn a_bad_ca_file_is_a_config_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("vehicleops-uniffi-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not-pem.pem");
        std::fs::write(&not_pem, "just text\n").unwrap();
        let bad_der = dir.join("bad-der.pem");
        std::fs::write(
            &bad_der,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.join("missing.pem");
        for (path, why) in [
            (&missing, "cannot be read"),
            (&not_pem, "no PEM certificate"),
            (&bad_der, "does not parse"),
        ] {
            let path = path.to_str().unwrap().to_owned();
            let e = VehicleAgent::start(AgentConfig {
                ca_file: Some(path.clone()),
                ..config()
            })
            .err()
            .unwrap();
            let VehicleOpsError::Config { detail } = e else {
                panic!("{path}: {e:?}")
            };
            assert!(
                detail.contains(&path) && detail.contains(why),
                "{path}: {detail}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_password_needs_a_username() {
        let e = VehicleAgent::start(AgentConfig {
            username: None,
            ..config()
        })
        .err()
        .unwrap();
        assert!(
            matches!(e, VehicleOpsError::Validation { ref field, .. } if field == "password"),
            "{e:?}"
        );
    }

    /// Nothing listens on port 1: the wait ends with a Transport error saying so.
    #[tokio::test]
    async fn wait_connected_says_why_it_gave_up() {
        let agent = VehicleAgent::start(config()).unwrap();
        let e = agent.wait_connected(200).await.unwrap_err();
        let VehicleOpsError::Transport { detail } = e else {
            panic!("{e:?}")
        };
        assert!(
            detail.contains("within 200 ms") && detail.contains("127.0.0.1:1 cannot be reached"),
            "{detail}"
        );
        agent.shutdown().await.unwrap();
        let e = agent.wait_connected(200).await.unwrap_err();
        assert!(matches!(e, VehicleOpsError::Closed { .. }), "{e:?}");
    }

    #[test]
    fn samples_out_of_range_are_refused() {
        let mut s = sample();
        s.battery_pct = 101.0;
        let e = check_sample(&s).unwrap_err();
        assert!(
            matches!(e, VehicleOpsError::Validation { ref field, .. } if field == "battery_pct")
        );
        assert!(check_sample(&sample()).is_ok());
    }
}
