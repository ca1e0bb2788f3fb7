//! Typed VDA 5050 2.x messages (the subset master control and the simulated AGV use).
//!
//! Field names follow the specification (camelCase on the wire). Every message starts with the
//! common [`Header`]; optional fields are skipped when absent so what we publish validates
//! against the official schemas in `schemas/`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks and stamps into every header.
pub const PROTOCOL_VERSION: &str = "2.1.0";

/// Fields every VDA 5050 message carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Per topic and sender, incremented by 1 with every message sent.
    pub header_id: u64,
    pub timestamp: DateTime<Utc>,
    pub version: String,
    pub manufacturer: String,
    pub serial_number: String,
}

/// `connection`: ONLINE/OFFLINE published by the vehicle, CONNECTIONBROKEN as its last will.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    Online,
    Offline,
    #[serde(rename = "CONNECTIONBROKEN")]
    ConnectionBroken,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(flatten)]
    pub header: Header,
    pub connection_state: ConnectionState,
}

/// How an action blocks driving and other actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BlockingType {
    None,
    Soft,
    Hard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionParameter {
    pub key: String,
    pub value: serde_json::Value,
}

/// An action, in an order (on a node or edge) or as an instant action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// e.g. `startPause`, `stopPause`, `cancelOrder`, `startCharging`.
    pub action_type: String,
    /// Unique; master control uses the command id so action states map back to commands.
    pub action_id: String,
    pub blocking_type: BlockingType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_parameters: Vec<ActionParameter>,
}

impl Action {
    /// An action without parameters.
    pub fn new(action_type: &str, action_id: impl Into<String>, blocking: BlockingType) -> Self {
        Action {
            action_type: action_type.to_owned(),
            action_id: action_id.into(),
            blocking_type: blocking,
            action_parameters: Vec::new(),
        }
    }
}

/// `instantActions`: actions executed immediately, outside any order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantActions {
    #[serde(flatten)]
    pub header: Header,
    pub actions: Vec<Action>,
}

/// A position in the map frame: metres, radians counter-clockwise from the map's x axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePosition {
    pub x: f64,
    pub y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_deviation_x_y: Option<f64>,
    pub map_id: String,
}

/// A node of an order. Nodes have even sequence ids (0, 2, 4…), edges the odd ones between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub node_id: String,
    pub sequence_id: u64,
    /// `true`: part of the base (the vehicle may drive there); `false`: horizon (planned only).
    pub released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_position: Option<NodePosition>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub edge_id: String,
    pub sequence_id: u64,
    pub released: bool,
    pub start_node_id: String,
    pub end_node_id: String,
    /// m/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed: Option<f64>,
    pub actions: Vec<Action>,
}

/// `order`: a route as a graph of nodes and edges. An update keeps `order_id` and raises
/// `order_update_id`; its first node is the last base node of the previous update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(flatten)]
    pub header: Header,
    pub order_id: String,
    pub order_update_id: u64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The vehicle's pose in the map frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvPosition {
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    pub map_id: String,
    pub position_initialized: bool,
}

/// Velocity in the vehicle frame: m/s and rad/s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Velocity {
    #[serde(default)]
    pub vx: f64,
    #[serde(default)]
    pub vy: f64,
    #[serde(default)]
    pub omega: f64,
}

impl Velocity {
    /// Ground speed in km/h.
    pub fn speed_kmh(&self) -> f64 {
        self.vx.hypot(self.vy) * 3.6
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatteryState {
    /// Percent, 0–100.
    pub battery_charge: f64,
    pub charging: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatingMode {
    Automatic,
    Semiautomatic,
    Manual,
    Service,
    Teachin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorLevel {
    Warning,
    Fatal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReference {
    pub reference_key: String,
    pub reference_value: String,
}

/// An error the vehicle reports; FATAL ones need a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VehicleError {
    pub error_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_references: Vec<ErrorReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    pub error_level: ErrorLevel,
}

/// A node the vehicle still has to reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    pub node_id: String,
    pub sequence_id: u64,
    pub released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_position: Option<NodePosition>,
}

/// An edge the vehicle still has to traverse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    pub edge_id: String,
    pub sequence_id: u64,
    pub released: bool,
}

/// The state a vehicle reports for a node of the order it is executing.
impl From<&Node> for NodeState {
    fn from(n: &Node) -> Self {
        NodeState {
            node_id: n.node_id.clone(),
            sequence_id: n.sequence_id,
            released: n.released,
            node_position: n.node_position.clone(),
        }
    }
}

/// The state a vehicle reports for an edge of the order it is executing.
impl From<&Edge> for EdgeState {
    fn from(e: &Edge) -> Self {
        EdgeState {
            edge_id: e.edge_id.clone(),
            sequence_id: e.sequence_id,
            released: e.released,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionStatus {
    Waiting,
    Initializing,
    Running,
    Finished,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub action_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    pub action_status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EStop {
    Autoack,
    Manual,
    Remote,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyState {
    pub e_stop: EStop,
    pub field_violation: bool,
}

/// A load the vehicle carries (only its presence matters here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_id: Option<String>,
}

/// `state`: everything the vehicle reports about itself and its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(flatten)]
    pub header: Header,
    /// Empty when the vehicle has no order.
    pub order_id: String,
    pub order_update_id: u64,
    pub last_node_id: String,
    pub last_node_sequence_id: u64,
    pub driving: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    pub operating_mode: OperatingMode,
    pub node_states: Vec<NodeState>,
    pub edge_states: Vec<EdgeState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loads: Vec<Load>,
    pub action_states: Vec<ActionState>,
    pub battery_state: BatteryState,
    pub errors: Vec<VehicleError>,
    pub safety_state: SafetyState,
}

impl State {
    /// The FATAL errors among [`State::errors`].
    pub fn fatal_errors(&self) -> impl Iterator<Item = &VehicleError> {
        self.errors
            .iter()
            .filter(|e| e.error_level == ErrorLevel::Fatal)
    }
}

/// `visualization`: position and velocity at a higher rate than `state`, all optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visualization {
    #[serde(flatten)]
    pub header: Header,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
}
