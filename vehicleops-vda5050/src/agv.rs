//! A simulated VDA 5050 AGV: connects to the broker with a CONNECTIONBROKEN last will, reports
//! `connection`, `state` and `visualization`, drives orders node by node at a constant speed
//! in the map frame and executes instant actions (`startPause`, `stopPause`, `cancelOrder`,
//! `factsheetRequest`; `startCharging` and `stopCharging` also on nodes) — those of
//! [`SimAgvConfig::actions`], which its `factsheet` lists. Anything else fails with a
//! FAILED action state. Orders and instant actions that fail the schema are reported as
//! WARNING errors, as a real vehicle would.
//!
//! It speaks one protocol version ([`SimAgvConfig::protocol_version`], 2.1.0 by default):
//! its headers carry it, what it publishes and receives is checked against that version's
//! official schemas, and like a real vehicle it rejects an order or instant actions stamped
//! with a version it does not speak (in 2.0 mode anything but 2.0.x) with a WARNING
//! `versionError`: the order is not taken, the actions are not run.
//!
//! Every message it publishes is checked against the official schema first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rumqttc::{AsyncClient, LastWill, QoS};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::factsheet::FACTSHEET_REQUEST;
use crate::messages::*;
use crate::mqtt::{self, Incoming, MqttEndpoint};
use crate::schema::SchemaValidator;
use crate::topic::{MessageKind, TopicScheme};
use crate::version::ProtocolVersion;

/// How the simulated vehicle behaves.
#[derive(Debug, Clone)]
pub struct SimAgvConfig {
    pub endpoint: MqttEndpoint,
    pub scheme: TopicScheme,
    pub manufacturer: String,
    pub serial_number: String,
    pub map_id: String,
    /// Start pose in the map frame.
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    /// Driving speed, m/s.
    pub speed_mps: f64,
    /// How often `state` and `visualization` are published (and the vehicle moves).
    pub tick: Duration,
    pub battery_pct: f64,
    /// The VDA 5050 version it speaks (and accepts messages in).
    pub protocol_version: ProtocolVersion,
    /// The actions it executes and lists in its factsheet (by default every one it knows,
    /// [`SimAgvConfig::ALL_ACTIONS`]); others fail as unsupported. Without
    /// `factsheetRequest` it never publishes a factsheet.
    pub actions: Vec<String>,
}

impl SimAgvConfig {
    pub fn new(endpoint: MqttEndpoint, manufacturer: &str, serial_number: &str) -> Self {
        SimAgvConfig {
            endpoint,
            scheme: TopicScheme::default(),
            manufacturer: manufacturer.to_owned(),
            serial_number: serial_number.to_owned(),
            map_id: "site".into(),
            x: 0.0,
            y: 0.0,
            theta: 0.0,
            speed_mps: 2.0,
            tick: Duration::from_millis(200),
            battery_pct: 90.0,
            protocol_version: ProtocolVersion::default(),
            actions: Self::ALL_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Every action the simulated vehicle knows.
    pub const ALL_ACTIONS: [&str; 6] = [
        "startPause",
        "stopPause",
        "cancelOrder",
        "startCharging",
        "stopCharging",
        FACTSHEET_REQUEST,
    ];

    /// Its factsheet (without header): [`Self::actions`] with their scopes.
    fn factsheet(&self) -> serde_json::Value {
        let scopes = |action: &str| -> &'static [&'static str] {
            match action {
                "startCharging" | "stopCharging" => &["INSTANT", "NODE"],
                _ => &["INSTANT"],
            }
        };
        let actions: Vec<(&str, &[&str])> = self
            .actions
            .iter()
            .map(|a| (a.as_str(), scopes(a)))
            .collect();
        crate::factsheet::document("vehicleops-sim", self.speed_mps, &actions)
    }
}

/// The vehicle's own state: what it reports plus the order nodes and edges it still has.
struct Vehicle {
    state: State,
    /// Remaining nodes and edges of the current order, with their actions.
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    header_ids: [u64; 6],
    /// [`SimAgvConfig::actions`].
    actions: Vec<String>,
    /// A `factsheetRequest` was run: the factsheet goes out with the next publication.
    factsheet_requested: bool,
}

impl Vehicle {
    /// Standing at the configured pose, no order, ready.
    pub(crate) fn new(config: &SimAgvConfig) -> Self {
        Vehicle {
            state: State {
                header: Header {
                    header_id: 0,
                    timestamp: Utc::now(),
                    version: config.protocol_version.as_str().into(),
                    manufacturer: config.manufacturer.clone(),
                    serial_number: config.serial_number.clone(),
                },
                order_id: String::new(),
                order_update_id: 0,
                last_node_id: String::new(),
                last_node_sequence_id: 0,
                driving: false,
                paused: Some(false),
                operating_mode: OperatingMode::Automatic,
                node_states: Vec::new(),
                edge_states: Vec::new(),
                agv_position: Some(AgvPosition {
                    x: config.x,
                    y: config.y,
                    theta: config.theta,
                    map_id: config.map_id.clone(),
                    position_initialized: true,
                }),
                velocity: Some(Velocity::default()),
                loads: Vec::new(),
                action_states: Vec::new(),
                battery_state: BatteryState {
                    battery_charge: config.battery_pct,
                    charging: false,
                },
                errors: Vec::new(),
                safety_state: SafetyState {
                    e_stop: EStop::None,
                    field_violation: false,
                },
            },
            nodes: Vec::new(),
            edges: Vec::new(),
            header_ids: [0; 6],
            actions: config.actions.clone(),
            factsheet_requested: false,
        }
    }

    fn header(&mut self, config: &SimAgvConfig, kind: MessageKind) -> Header {
        let slot = MessageKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind has a slot");
        let header_id = self.header_ids[slot];
        self.header_ids[slot] += 1;
        Header {
            header_id,
            timestamp: Utc::now(),
            version: config.protocol_version.as_str().to_owned(),
            manufacturer: config.manufacturer.clone(),
            serial_number: config.serial_number.clone(),
        }
    }

    fn warn(&mut self, error_type: &str, description: String, references: Vec<(&str, String)>) {
        self.state.errors.push(VehicleError {
            error_type: error_type.to_owned(),
            error_references: references
                .into_iter()
                .map(|(k, v)| ErrorReference {
                    reference_key: k.to_owned(),
                    reference_value: v,
                })
                .collect(),
            error_description: Some(description),
            error_level: ErrorLevel::Warning,
        });
    }

    fn set_action(&mut self, action: &Action, status: ActionStatus, result: Option<String>) {
        let entry = ActionState {
            action_id: action.action_id.clone(),
            action_type: Some(action.action_type.clone()),
            action_status: status,
            result_description: result,
        };
        match self
            .state
            .action_states
            .iter_mut()
            .find(|a| a.action_id == action.action_id)
        {
            Some(a) => *a = entry,
            None => self.state.action_states.push(entry),
        }
    }

    /// Runs an action at once (instant actions, and node actions on arrival).
    fn execute(&mut self, action: &Action) {
        let known = self.actions.contains(&action.action_type);
        let ok = known
            && match action.action_type.as_str() {
                "startPause" => {
                    self.state.paused = Some(true);
                    true
                }
                "stopPause" => {
                    self.state.paused = Some(false);
                    true
                }
                "cancelOrder" => {
                    for node in std::mem::take(&mut self.nodes) {
                        for a in &node.actions {
                            self.set_action(
                                a,
                                ActionStatus::Failed,
                                Some("order cancelled".into()),
                            );
                        }
                    }
                    self.edges.clear();
                    self.sync_route();
                    true
                }
                "startCharging" => {
                    self.state.battery_state.charging = true;
                    true
                }
                "stopCharging" => {
                    self.state.battery_state.charging = false;
                    true
                }
                FACTSHEET_REQUEST => {
                    self.factsheet_requested = true;
                    true
                }
                _ => false,
            };
        if ok {
            self.set_action(action, ActionStatus::Finished, None);
        } else {
            self.set_action(
                action,
                ActionStatus::Failed,
                Some(format!("unsupported action {}", action.action_type)),
            );
        }
    }

    fn sync_route(&mut self) {
        self.state.node_states = self.nodes.iter().map(NodeState::from).collect();
        self.state.edge_states = self.edges.iter().map(EdgeState::from).collect();
    }

    /// Takes a new order or an update of the current one, or reports why not.
    fn accept(&mut self, order: Order) {
        let refs = || {
            vec![
                ("orderId", order.order_id.clone()),
                ("orderUpdateId", order.order_update_id.to_string()),
            ]
        };
        let same = order.order_id == self.state.order_id;
        if same && order.order_update_id <= self.state.order_update_id {
            if order.order_update_id < self.state.order_update_id {
                self.warn(
                    "orderUpdateError",
                    "order update is older than the current one".into(),
                    refs(),
                );
            }
            return;
        }
        let Some(first) = order.nodes.first() else {
            self.warn("validationError", "order has no nodes".into(), refs());
            return;
        };
        if same {
            // The update must start at the current last base node.
            let base = self
                .nodes
                .iter()
                .filter(|n| n.released)
                .map(|n| n.sequence_id)
                .max()
                .unwrap_or(self.state.last_node_sequence_id);
            if first.sequence_id != base {
                self.warn(
                    "orderUpdateError",
                    format!(
                        "update starts at sequence id {} instead of the last base node {base}",
                        first.sequence_id
                    ),
                    refs(),
                );
                return;
            }
            self.nodes.retain(|n| n.sequence_id < base);
            self.edges.retain(|e| e.sequence_id < base);
            let start = usize::from(self.state.last_node_sequence_id == base);
            self.nodes.extend(order.nodes.iter().skip(start).cloned());
        } else {
            if !self.nodes.is_empty() {
                self.warn(
                    "orderError",
                    format!("order {} still running", self.state.order_id),
                    refs(),
                );
                return;
            }
            self.state.action_states.clear();
            self.state.last_node_sequence_id = 0;
            self.nodes = order.nodes.clone();
        }
        self.edges.extend(order.edges.iter().cloned());
        for node in &order.nodes {
            for a in &node.actions {
                self.set_action(a, ActionStatus::Waiting, None);
            }
        }
        self.state.order_id = order.order_id;
        self.state.order_update_id = order.order_update_id;
        self.sync_route();
    }

    /// Moves `dt` seconds towards the next released node; arrives, runs its actions.
    fn drive(&mut self, speed: f64, dt: f64) {
        let paused = self.state.paused == Some(true);
        let Some(next) = self
            .nodes
            .first()
            .filter(|n| n.released && !paused)
            .cloned()
        else {
            self.state.driving = false;
            self.state.velocity = Some(Velocity::default());
            return;
        };
        let pos = self
            .state
            .agv_position
            .as_mut()
            .expect("the simulator always knows its position");
        let target = next
            .node_position
            .clone()
            .map_or((pos.x, pos.y), |p| (p.x, p.y));
        let (dx, dy) = (target.0 - pos.x, target.1 - pos.y);
        let distance = dx.hypot(dy);
        let step = speed * dt;
        if distance > 1e-9 {
            pos.theta = dy.atan2(dx);
        }
        if step < distance {
            pos.x += dx / distance * step;
            pos.y += dy / distance * step;
            self.state.driving = true;
            self.state.velocity = Some(Velocity {
                vx: speed,
                vy: 0.0,
                omega: 0.0,
            });
            self.state.battery_state.battery_charge =
                (self.state.battery_state.battery_charge - 0.001 * step).max(0.0);
            return;
        }
        (pos.x, pos.y) = target;
        self.nodes.remove(0);
        self.edges.retain(|e| e.sequence_id > next.sequence_id);
        self.state.last_node_id = next.node_id.clone();
        self.state.last_node_sequence_id = next.sequence_id;
        for a in &next.actions {
            self.execute(a);
        }
        let still = self.nodes.first().is_some_and(|n| n.released);
        self.state.driving = still;
        self.sync_route();
    }
}

/// What a running simulated AGV published, for tests and demos.
#[derive(Debug, Default)]
pub struct AgvCounters {
    pub states: AtomicU64,
    pub visualizations: AtomicU64,
    /// Messages it refused to publish because they failed the schema (a bug if not 0).
    pub schema_failures: AtomicU64,
    /// Factsheets published (one per `factsheetRequest`).
    pub factsheets: AtomicU64,
}

/// A running simulated AGV. Dropping it is like [`SimulatedAgv::kill`].
pub struct SimulatedAgv {
    client: AsyncClient,
    vehicle: Arc<Mutex<Vehicle>>,
    config: SimAgvConfig,
    counters: Arc<AgvCounters>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for SimulatedAgv {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SimulatedAgv {
    /// Connects and starts driving on the current runtime.
    pub fn start(config: SimAgvConfig) -> Self {
        let validator = SchemaValidator::for_version(config.protocol_version);
        let mut vehicle = Vehicle::new(&config);
        let connection_topic = config.scheme.topic(
            &config.manufacturer,
            &config.serial_number,
            MessageKind::Connection,
        );
        let will = Connection {
            header: vehicle.header(&config, MessageKind::Connection),
            connection_state: ConnectionState::ConnectionBroken,
        };
        let will = validator
            .to_checked_json(MessageKind::Connection, &will)
            .expect("the last will is a valid connection message");
        let subscriptions = [MessageKind::Order, MessageKind::InstantActions]
            .into_iter()
            .map(|k| {
                config
                    .scheme
                    .topic(&config.manufacturer, &config.serial_number, k)
            })
            .collect();
        let conn = mqtt::connect(
            &config.endpoint,
            subscriptions,
            Some(LastWill::new(
                connection_topic,
                will,
                QoS::AtLeastOnce,
                true,
            )),
            256,
        );
        let vehicle = Arc::new(Mutex::new(vehicle));
        let counters = Arc::new(AgvCounters::default());
        let runner = tokio::spawn(run(
            config.clone(),
            conn.client.clone(),
            conn.inbox,
            conn.subscribed,
            vehicle.clone(),
            counters.clone(),
            validator,
        ));
        SimulatedAgv {
            client: conn.client,
            vehicle,
            config,
            counters,
            tasks: [conn.task, runner],
        }
    }

    pub fn serial_number(&self) -> &str {
        &self.config.serial_number
    }

    pub fn counters(&self) -> Arc<AgvCounters> {
        self.counters.clone()
    }

    /// A copy of what the vehicle would report now.
    pub fn state(&self) -> State {
        self.vehicle.lock().expect("vehicle lock").state.clone()
    }

    /// Adds an error to the vehicle's `state` (e.g. a FATAL one to see alerts).
    pub fn raise_error(&self, error: VehicleError) {
        self.vehicle
            .lock()
            .expect("vehicle lock")
            .state
            .errors
            .push(error);
    }

    pub fn clear_errors(&self) {
        self.vehicle
            .lock()
            .expect("vehicle lock")
            .state
            .errors
            .clear();
    }

    /// Drops the connection without a DISCONNECT, like a vehicle losing power or network:
    /// the broker publishes its CONNECTIONBROKEN last will.
    pub fn kill(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Says OFFLINE and disconnects cleanly (no last will).
    pub async fn shutdown(self) {
        self.tasks[1].abort();
        let header = self
            .vehicle
            .lock()
            .expect("vehicle lock")
            .header(&self.config, MessageKind::Connection);
        let offline = Connection {
            header,
            connection_state: ConnectionState::Offline,
        };
        let _ = publish(
            &self.client,
            &self.config,
            &SchemaValidator::for_version(self.config.protocol_version),
            &self.counters,
            MessageKind::Connection,
            &offline,
            true,
        )
        .await;
        let _ = self.client.disconnect().await;
        // Let the event loop send both before it is aborted on drop.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while !self.tasks[0].is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

async fn publish<T: Serialize>(
    client: &AsyncClient,
    config: &SimAgvConfig,
    validator: &SchemaValidator,
    counters: &AgvCounters,
    kind: MessageKind,
    message: &T,
    retain: bool,
) -> bool {
    // No 2.0 factsheet schema is shipped: such a factsheet goes out unchecked.
    let checked = if validator.covers(kind) {
        validator.to_checked_json(kind, message)
    } else {
        Ok(serde_json::to_vec(message).expect("messages serialize"))
    };
    let payload = match checked {
        Ok(p) => p,
        Err(e) => {
            counters.schema_failures.fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, "simulated AGV built an invalid message");
            return false;
        }
    };
    let topic = config
        .scheme
        .topic(&config.manufacturer, &config.serial_number, kind);
    let qos = if kind == MessageKind::Visualization {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    client.publish(topic, qos, retain, payload).await.is_ok()
}

async fn run(
    config: SimAgvConfig,
    client: AsyncClient,
    mut inbox: mpsc::Receiver<Incoming>,
    mut subscribed: tokio::sync::watch::Receiver<bool>,
    vehicle: Arc<Mutex<Vehicle>>,
    counters: Arc<AgvCounters>,
    validator: SchemaValidator,
) {
    // Announce ONLINE only once orders can reach us.
    mqtt::wait_subscribed(&mut subscribed).await;
    let online = {
        let mut v = vehicle.lock().expect("vehicle lock");
        Connection {
            header: v.header(&config, MessageKind::Connection),
            connection_state: ConnectionState::Online,
        }
    };
    publish(
        &client,
        &config,
        &validator,
        &counters,
        MessageKind::Connection,
        &online,
        true,
    )
    .await;
    let mut ticker = tokio::time::interval(config.tick);
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            Some(message) = inbox.recv() => {
                let factsheet = {
                    let mut v = vehicle.lock().expect("vehicle lock");
                    receive(&mut v, &validator, &config, message);
                    std::mem::take(&mut v.factsheet_requested).then(|| {
                        let mut sheet = config.factsheet();
                        let header = serde_json::to_value(v.header(&config, MessageKind::Factsheet))
                            .expect("a header serializes");
                        if let (Some(sheet), Some(header)) = (sheet.as_object_mut(), header.as_object()) {
                            sheet.extend(header.clone());
                        }
                        sheet
                    })
                };
                if let Some(sheet) = factsheet {
                    // Retained, as vehicles publish it: a master control that starts later reads it.
                    if publish(&client, &config, &validator, &counters, MessageKind::Factsheet, &sheet, true).await {
                        counters.factsheets.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            now = ticker.tick() => {
                // At most two ticks' worth: a stalled runtime must not make the vehicle jump.
                let dt = (now - last).min(config.tick * 2).as_secs_f64();
                last = now;
                let (state, vis) = {
                    let mut v = vehicle.lock().expect("vehicle lock");
                    v.drive(config.speed_mps, dt);
                    if v.state.battery_state.charging {
                        v.state.battery_state.battery_charge = (v.state.battery_state.battery_charge + dt).min(100.0);
                    }
                    v.state.header = v.header(&config, MessageKind::State);
                    let vis = Visualization { header: v.header(&config, MessageKind::Visualization), agv_position: v.state.agv_position.clone(), velocity: v.state.velocity };
                    (v.state.clone(), vis)
                };
                if publish(&client, &config, &validator, &counters, MessageKind::State, &state, false).await {
                    counters.states.fetch_add(1, Ordering::Relaxed);
                }
                if publish(&client, &config, &validator, &counters, MessageKind::Visualization, &vis, false).await {
                    counters.visualizations.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Applies an order or instant actions; invalid ones become WARNING errors.
fn receive(v: &mut Vehicle, validator: &SchemaValidator, config: &SimAgvConfig, message: Incoming) {
    let Some(address) = config.scheme.parse(&message.topic) else {
        return;
    };
    let json = match serde_json::from_slice::<serde_json::Value>(&message.payload) {
        Ok(json) => json,
        Err(e) => {
            return v.warn(
                "validationError",
                format!("not JSON: {e}"),
                vec![("topic", address.kind.to_string())],
            );
        }
    };
    let version = json.get("version").and_then(|v| v.as_str()).unwrap_or("");
    if !config.protocol_version.accepts(version) {
        return reject_version(v, config, address.kind, &json);
    }
    let parsed = validator
        .validate(address.kind, &json)
        .map(|()| json)
        .map_err(|e| e.to_string());
    let json = match parsed {
        Ok(json) => json,
        Err(reason) => {
            return v.warn(
                "validationError",
                reason,
                vec![("topic", address.kind.to_string())],
            );
        }
    };
    match address.kind {
        MessageKind::Order => match serde_json::from_value::<Order>(json) {
            Ok(order) => v.accept(order),
            Err(e) => v.warn(
                "validationError",
                e.to_string(),
                vec![("topic", "order".into())],
            ),
        },
        MessageKind::InstantActions => match serde_json::from_value::<InstantActions>(json) {
            Ok(message) => {
                for action in &message.actions {
                    v.execute(action);
                }
            }
            Err(e) => v.warn(
                "validationError",
                e.to_string(),
                vec![("topic", "instantActions".into())],
            ),
        },
        _ => {}
    }
}

/// Rejects a message stamped with a version the vehicle does not speak, as a real one would:
/// a WARNING `versionError` that references the order (id and update id) or the instant
/// actions (each action id), and nothing of the message is carried out.
fn reject_version(
    v: &mut Vehicle,
    config: &SimAgvConfig,
    kind: MessageKind,
    json: &serde_json::Value,
) {
    let version = json.get("version").and_then(|v| v.as_str()).unwrap_or("");
    let text = |key: &str| {
        json.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let mut references = vec![("topic", kind.to_string())];
    match kind {
        MessageKind::Order => {
            references.extend(text("orderId").map(|id| ("orderId", id)));
            references.extend(text("orderUpdateId").map(|id| ("orderUpdateId", id)));
        }
        MessageKind::InstantActions => {
            let actions = json.get("actions").and_then(|a| a.as_array());
            for a in actions.into_iter().flatten() {
                if let Some(id) = a.get("actionId").and_then(|id| id.as_str()) {
                    references.push(("actionId", id.to_owned()));
                }
            }
        }
        _ => {}
    }
    v.warn(
        "versionError",
        format!(
            "{kind} version {version} is not compatible with client version {}",
            config.protocol_version
        ),
        references,
    );
}

/// A fresh simulated vehicle's state, for other modules' unit tests.
#[cfg(test)]
pub(crate) fn sample_state(serial_number: &str) -> State {
    let endpoint = MqttEndpoint::new("localhost", 1883, "test");
    Vehicle::new(&SimAgvConfig::new(endpoint, "acme", serial_number)).state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{RoutePoint, order, route};

    fn vehicle() -> (Vehicle, SimAgvConfig) {
        let config = SimAgvConfig::new(MqttEndpoint::new("localhost", 1883, "t"), "acme", "AGV-1");
        (Vehicle::new(&config), config)
    }

    fn points(xs: &[f64]) -> Vec<RoutePoint> {
        xs.iter()
            .enumerate()
            .map(|(i, x)| RoutePoint {
                node_id: format!("n{i}"),
                x: *x,
                y: 0.0,
                map_id: "site".into(),
            })
            .collect()
    }

    fn an_order(v: &mut Vehicle, c: &SimAgvConfig, id: &str, xs: &[f64], released: usize) -> Order {
        let (nodes, edges) = route(&points(xs), 0, released, Vec::new());
        order(v.header(c, MessageKind::Order), id, 0, nodes, edges)
    }

    /// Drives in 1-second steps at 1 m/s until the vehicle stops; returns the sequence ids
    /// of the nodes reached on the way.
    fn drive_until_still(v: &mut Vehicle) -> Vec<u64> {
        let mut reached = Vec::new();
        for _ in 0..1000 {
            let before = v.state.last_node_id.clone();
            v.drive(1.0, 1.0);
            if v.state.last_node_id != before {
                reached.push(v.state.last_node_sequence_id);
            }
            if !v.state.driving {
                break;
            }
        }
        reached
    }

    #[test]
    fn drives_the_base_node_by_node_and_waits_at_the_horizon() {
        let (mut v, c) = vehicle();
        let o = an_order(&mut v, &c, "o1", &[0.0, 3.0, 6.0, 9.0], 2);
        v.accept(o);
        assert_eq!(v.state.node_states.len(), 4);
        assert_eq!(v.state.edge_states.len(), 3);
        let reached = drive_until_still(&mut v);
        assert_eq!(reached, [0, 2]);
        assert_eq!(v.state.last_node_id, "n1");
        assert_eq!(v.state.agv_position.as_ref().unwrap().x, 3.0);
        assert!(v.state.node_states.iter().all(|n| !n.released));
        assert!(!v.state.driving);
    }

    #[test]
    fn an_update_must_continue_from_the_last_base_node() {
        let (mut v, c) = vehicle();
        let o = an_order(&mut v, &c, "o1", &[0.0, 3.0, 6.0], 2);
        v.accept(o.clone());
        drive_until_still(&mut v);
        // Wrong start: sequence id 0 is not the last base node (2).
        let mut bad = o.clone();
        bad.order_update_id = 1;
        v.accept(bad);
        assert_eq!(v.state.errors[0].error_type, "orderUpdateError");
        assert_eq!(v.state.order_update_id, 0);
        // Right start: nodes from sequence id 2 on, all released.
        let (nodes, edges) = route(&points(&[3.0, 6.0])[..], 2, 2, Vec::new());
        let mut update = order(v.header(&c, MessageKind::Order), "o1", 1, nodes, edges);
        update.nodes[0].node_id = "n1".into();
        update.nodes[1].node_id = "n2".into();
        v.accept(update);
        assert_eq!(v.state.order_update_id, 1);
        drive_until_still(&mut v);
        assert_eq!(
            (v.state.last_node_id.as_str(), v.state.last_node_sequence_id),
            ("n2", 4)
        );
        assert!(v.state.node_states.is_empty());
    }

    #[test]
    fn a_new_order_while_one_runs_is_rejected() {
        let (mut v, c) = vehicle();
        let first = an_order(&mut v, &c, "o1", &[0.0, 3.0], 2);
        v.accept(first);
        let second = an_order(&mut v, &c, "o2", &[0.0, 5.0], 2);
        v.accept(second);
        assert_eq!(v.state.order_id, "o1");
        let e = &v.state.errors[0];
        assert_eq!(e.error_type, "orderError");
        assert!(
            e.error_references
                .iter()
                .any(|r| r.reference_key == "orderId" && r.reference_value == "o2")
        );
    }

    #[test]
    fn instant_actions_pause_cancel_and_fail_when_unknown() {
        let (mut v, c) = vehicle();
        let mut o = an_order(&mut v, &c, "o1", &[0.0, 30.0], 2);
        o.nodes[1]
            .actions
            .push(Action::new("startCharging", "charge", BlockingType::Hard));
        v.accept(o);
        assert_eq!(
            v.state.action_states[0].action_status,
            ActionStatus::Waiting
        );
        v.drive(1.0, 1.0); // reaches n0, heads for n1
        v.drive(1.0, 1.0);
        assert!(v.state.driving);
        v.execute(&Action::new("startPause", "p", BlockingType::Hard));
        let x = v.state.agv_position.as_ref().unwrap().x;
        v.drive(1.0, 1.0);
        assert_eq!(
            v.state.agv_position.as_ref().unwrap().x,
            x,
            "paused vehicles stand still"
        );
        assert!(!v.state.driving);
        v.execute(&Action::new("cancelOrder", "c", BlockingType::Hard));
        assert!(v.state.node_states.is_empty());
        let status = |id: &str| {
            v.state
                .action_states
                .iter()
                .find(|a| a.action_id == id)
                .map(|a| a.action_status)
        };
        assert_eq!(status("charge"), Some(ActionStatus::Failed));
        assert_eq!(status("p"), Some(ActionStatus::Finished));
        v.execute(&Action::new("liftFork", "l", BlockingType::Hard));
        let lift = v
            .state
            .action_states
            .iter()
            .find(|a| a.action_id == "l")
            .unwrap();
        assert_eq!(lift.action_status, ActionStatus::Failed);
        assert_eq!(
            lift.result_description.as_deref(),
            Some("unsupported action liftFork")
        );
    }

    #[test]
    fn header_ids_count_per_topic() {
        let (mut v, c) = vehicle();
        let ids: Vec<_> = [
            MessageKind::State,
            MessageKind::State,
            MessageKind::Connection,
            MessageKind::State,
        ]
        .into_iter()
        .map(|k| v.header(&c, k).header_id)
        .collect();
        assert_eq!(ids, [0, 1, 0, 2]);
    }
}
