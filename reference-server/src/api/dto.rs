//! Request and response bodies in the original system's shape, with their OpenAPI schemas.
//!
//! They mirror the SDK's types field by field; keeping them here lets the API document and
//! validate its contract without the SDK depending on an OpenAPI crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vehicleops_core::{
    Alert, Command, CommandKind, FleetSummary, Metric, Mission, MissionPriority, MissionStatus,
    MissionType, SeriesPoint, Severity, Telemetry, VehicleCapabilities, VehicleMetricsSummary,
    VehiclePerformance, VehicleStatus,
};

/// Declares an API enum with its wire names (so the OpenAPI document lists the accepted values
/// and decoding names the field of an unknown one) and its conversion to the SDK enum.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident => $core:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        impl From<$name> for $core {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => $core::$variant,)+
                }
            }
        }
    };
}

wire_enum!(
    /// A vehicle command.
    CommandName => CommandKind { Stop = "STOP", Resume = "RESUME", Reroute = "REROUTE", ReturnToBase = "RETURN_TO_BASE" }
);
wire_enum!(
    /// A vehicle's reported status.
    StatusName => VehicleStatus { Idle = "IDLE", Moving = "MOVING", Alert = "ALERT", LowBattery = "LOW_BATTERY",
        Offline = "OFFLINE", Stopped = "STOPPED", Charging = "CHARGING" }
);
wire_enum!(
    /// Alert severity.
    SeverityName => Severity { Low = "LOW", Medium = "MEDIUM", High = "HIGH", Critical = "CRITICAL" }
);
wire_enum!(
    /// A telemetry metric for series.
    MetricName => Metric { SpeedKmh = "speed_kmh", BatteryPct = "battery_pct", EngineTempC = "engine_temp_c", LoadPct = "load_pct" }
);
wire_enum!(
    /// What a mission is for.
    MissionTypeName => MissionType { Delivery = "DELIVERY", Pickup = "PICKUP", Inspection = "INSPECTION",
        Patrol = "PATROL", Charging = "CHARGING", Transfer = "TRANSFER" }
);
wire_enum!(
    /// Where a mission is in its lifecycle.
    MissionStatusName => MissionStatus { Assigned = "ASSIGNED", InProgress = "IN_PROGRESS",
        Completed = "COMPLETED", Failed = "FAILED", Cancelled = "CANCELLED" }
);
wire_enum!(
    /// Mission priority.
    PriorityName => MissionPriority { Low = "LOW", Normal = "NORMAL", High = "HIGH", Urgent = "URGENT" }
);

// --- auth -------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "operator@vehicleops.io")]
    pub email: String,
    #[schema(example = "Operator123!")]
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorOut {
    #[schema(example = "op-001")]
    pub id: String,
    pub email: String,
    /// ADMIN, MANAGER or OPERATOR.
    #[schema(example = "OPERATOR")]
    pub role: String,
    pub fleet_ids: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
    pub operator: OperatorOut,
}

// --- fleet ------------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetOut {
    #[schema(example = "fleet-001")]
    pub id: String,
    #[schema(example = "Industrial Zone A")]
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetSummaryOut {
    pub fleet_id: String,
    pub fleet_name: String,
    pub total_vehicles: u64,
    pub active_vehicles: u64,
    pub idle_vehicles: u64,
    pub vehicles_in_alert: u64,
    pub avg_battery_pct: Option<f64>,
    pub avg_speed_kmh: Option<f64>,
    pub active_missions: u64,
    pub open_alerts: u64,
    /// Vehicles by reported status.
    pub by_status: std::collections::BTreeMap<String, u64>,
    pub last_updated: Option<DateTime<Utc>>,
}

impl From<FleetSummary> for FleetSummaryOut {
    fn from(s: FleetSummary) -> Self {
        let one_decimal = |v: Option<f64>| v.map(|x| (x * 10.0).round() / 10.0);
        FleetSummaryOut {
            fleet_id: s.fleet_id,
            fleet_name: s.fleet_name,
            total_vehicles: s.total_vehicles,
            active_vehicles: s.active_vehicles,
            idle_vehicles: s.idle_vehicles,
            vehicles_in_alert: s.vehicles_in_alert,
            avg_battery_pct: one_decimal(s.avg_battery_pct),
            avg_speed_kmh: one_decimal(s.avg_speed_kmh),
            active_missions: s.active_missions,
            open_alerts: s.open_alerts,
            by_status: s.by_status,
            last_updated: s.last_updated,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VehicleListQuery {
    /// Only vehicles with this status.
    pub status: Option<StatusName>,
    /// 1-based page (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Page size (default 50, max 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A vehicle with its latest reading; position and readings are null before the first one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VehicleOut {
    #[schema(example = "fleet-001-VH-001")]
    pub vehicle_id: String,
    pub fleet_id: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub battery_pct: Option<f64>,
    pub engine_temp_c: Option<f64>,
    pub load_pct: Option<f64>,
    #[schema(example = "MOVING")]
    pub status: String,
    pub active_mission_id: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VehiclePage {
    pub data: Vec<VehicleOut>,
    pub total: u64,
    pub page: u32,
    pub limit: u32,
}

// --- telemetry --------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TelemetryOut {
    pub vehicle_id: String,
    pub fleet_id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    pub engine_temp_c: f64,
    pub load_pct: f64,
    pub heading_deg: f64,
    pub status: String,
    pub timestamp: DateTime<Utc>,
}

impl From<&Telemetry> for TelemetryOut {
    fn from(t: &Telemetry) -> Self {
        TelemetryOut {
            vehicle_id: t.vehicle_id.clone(),
            fleet_id: t.fleet_id.clone(),
            latitude: t.latitude,
            longitude: t.longitude,
            speed_kmh: t.speed_kmh,
            battery_pct: t.battery_pct,
            engine_temp_c: t.engine_temp_c,
            load_pct: t.load_pct,
            heading_deg: t.heading_deg,
            status: t.status.as_str().into(),
            timestamp: t.timestamp,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQueryParams {
    /// Start of the window (ISO 8601), inclusive.
    pub from: DateTime<Utc>,
    /// End of the window (ISO 8601), inclusive.
    pub to: DateTime<Utc>,
    /// Most readings returned (default 1000, max 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryPoint {
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    pub engine_temp_c: f64,
    pub load_pct: f64,
    pub status: String,
    pub timestamp: DateTime<Utc>,
}

impl From<&Telemetry> for HistoryPoint {
    fn from(t: &Telemetry) -> Self {
        HistoryPoint {
            latitude: t.latitude,
            longitude: t.longitude,
            speed_kmh: t.speed_kmh,
            battery_pct: t.battery_pct,
            engine_temp_c: t.engine_temp_c,
            load_pct: t.load_pct,
            status: t.status.as_str().into(),
            timestamp: t.timestamp,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryOut {
    pub vehicle_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total_records: u64,
    pub data: Vec<HistoryPoint>,
}

// --- commands ---------------------------------------------------------------------------------

/// A route point, in requests (REROUTE, new missions) and in mission records.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct WaypointIn {
    #[schema(example = 4.712)]
    pub latitude: f64,
    #[schema(example = -74.073)]
    pub longitude: f64,
    /// 1-based position in the route.
    #[serde(default)]
    pub order: u32,
}

/// Most waypoints in a request (a REROUTE's route, a mission's).
pub const MAX_WAYPOINTS: usize = 1000;
/// Longest command reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A list of waypoints of at most [`MAX_WAYPOINTS`]: a longer one fails deserialization, so
/// the 422 names the field (e.g. `params.waypoints`).
fn bounded_waypoints<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<WaypointIn>, D::Error> {
    struct Bounded;
    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<WaypointIn>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_WAYPOINTS} waypoints")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(w) = seq.next_element::<WaypointIn>()? {
                if out.len() == MAX_WAYPOINTS {
                    return Err(serde::de::Error::custom(format!(
                        "at most {MAX_WAYPOINTS} waypoints"
                    )));
                }
                out.push(w);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Bounded)
}

/// A reason of at most [`MAX_REASON_CHARS`] characters.
fn bounded_reason<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let reason = Option::<String>::deserialize(d)?;
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(serde::de::Error::custom(format!(
            "at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(reason)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CommandParamsIn {
    /// New route, for REROUTE (at most 1000 waypoints).
    #[serde(default, deserialize_with = "bounded_waypoints")]
    #[schema(max_items = 1000)]
    pub waypoints: Vec<WaypointIn>,
    /// Free-text reason, kept with the command (at most 500 characters).
    #[serde(default, deserialize_with = "bounded_reason")]
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CommandRequest {
    pub command: CommandName,
    #[serde(default)]
    pub params: CommandParamsIn,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandDispatched {
    #[schema(example = "cmd-6f1c…")]
    pub id: String,
    pub vehicle_id: String,
    pub command: String,
    #[schema(example = "DISPATCHED")]
    pub status: String,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    /// After this the command is not carried out: a vehicle that receives it later refuses it
    /// (EXPIRED). The issue time plus the server's command delivery timeout.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<Command> for CommandDispatched {
    fn from(c: Command) -> Self {
        CommandDispatched {
            id: c.id,
            vehicle_id: c.vehicle_id,
            command: c.command.as_str().into(),
            status: c.status.as_str().into(),
            issued_by: c.issued_by,
            issued_at: c.issued_at,
            expires_at: c.expires_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandOut {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    pub command: String,
    /// DISPATCHED, DELIVERED, EXECUTED, FAILED, TIMEOUT or EXPIRED.
    pub status: String,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub executed_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    /// When the command stops being carried out (see `CommandDispatched.expires_at`).
    pub expires_at: Option<DateTime<Utc>>,
    /// The `Idempotency-Key` it was dispatched with, if any.
    pub idempotency_key: Option<String>,
}

impl From<&Command> for CommandOut {
    fn from(c: &Command) -> Self {
        CommandOut {
            id: c.id.clone(),
            vehicle_id: c.vehicle_id.clone(),
            fleet_id: c.fleet_id.clone(),
            command: c.command.as_str().into(),
            status: c.status.as_str().into(),
            issued_by: c.issued_by.clone(),
            issued_at: c.issued_at,
            delivered_at: c.delivered_at,
            executed_at: c.executed_at,
            failure_reason: c.failure_reason.clone(),
            expires_at: c.expires_at,
            idempotency_key: c.idempotency_key.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandHistory {
    pub data: Vec<CommandOut>,
    pub total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// Most entries returned (default 20, max 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

// --- analytics --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Start of the window (default: 24 hours before `to`).
    pub from: Option<DateTime<Utc>>,
    /// End of the window (default: now).
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Start of the window (default: 24 hours before `to`).
    pub from: Option<DateTime<Utc>>,
    /// End of the window (default: now).
    pub to: Option<DateTime<Utc>>,
    /// Bucket width in minutes, 1–60 (default 5).
    #[param(minimum = 1, maximum = 60)]
    pub bucket_minutes: Option<u32>,
    /// For `/series` only (required there).
    pub metric: Option<MetricName>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VehicleMetricsOut {
    pub vehicle_id: String,
    pub total_readings: u64,
    pub avg_speed_kmh: Option<f64>,
    pub max_speed_kmh: Option<f64>,
    pub avg_battery_pct: Option<f64>,
    pub min_battery_pct: Option<f64>,
    pub avg_engine_temp_c: Option<f64>,
    pub max_engine_temp_c: Option<f64>,
    pub total_distance_km: f64,
    pub alert_count: u64,
}

impl From<VehicleMetricsSummary> for VehicleMetricsOut {
    fn from(m: VehicleMetricsSummary) -> Self {
        VehicleMetricsOut {
            vehicle_id: m.vehicle_id,
            total_readings: m.total_readings,
            avg_speed_kmh: m.avg_speed_kmh,
            max_speed_kmh: m.max_speed_kmh,
            avg_battery_pct: m.avg_battery_pct,
            min_battery_pct: m.min_battery_pct,
            avg_engine_temp_c: m.avg_engine_temp_c,
            max_engine_temp_c: m.max_engine_temp_c,
            total_distance_km: m.total_distance_km,
            alert_count: m.alert_count,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeriesPointOut {
    pub bucket: DateTime<Utc>,
    pub avg_value: f64,
    pub max_value: f64,
    pub min_value: f64,
}

impl From<SeriesPoint> for SeriesPointOut {
    fn from(p: SeriesPoint) -> Self {
        SeriesPointOut {
            bucket: p.bucket,
            avg_value: p.avg_value,
            max_value: p.max_value,
            min_value: p.min_value,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VehiclePerformanceOut {
    pub vehicle_id: String,
    pub avg_speed: f64,
    pub avg_battery: f64,
    pub distance_km: f64,
    pub alerts: u64,
}

impl From<VehiclePerformance> for VehiclePerformanceOut {
    fn from(v: VehiclePerformance) -> Self {
        VehiclePerformanceOut {
            vehicle_id: v.vehicle_id,
            avg_speed: v.avg_speed,
            avg_battery: v.avg_battery,
            distance_km: v.distance_km,
            alerts: v.alerts,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetPerformanceOut {
    pub fleet_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub vehicles: Vec<VehiclePerformanceOut>,
}

// --- alerts -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    pub fleet_id: Option<String>,
    pub vehicle_id: Option<String>,
    pub severity: Option<SeverityName>,
    /// Acknowledged (true) or open (false, the default) alerts.
    pub acknowledged: Option<bool>,
    /// Most alerts returned (default 50, max 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertOut {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    #[schema(example = "OVERSPEED")]
    pub alert_type: String,
    #[schema(example = "HIGH")]
    pub severity: String,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    pub acknowledged: bool,
    pub triggered_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
}

impl From<&Alert> for AlertOut {
    fn from(a: &Alert) -> Self {
        AlertOut {
            id: a.id.clone(),
            vehicle_id: a.vehicle_id.clone(),
            fleet_id: a.fleet_id.clone(),
            alert_type: a.alert_type.to_string(),
            severity: a.severity.as_str().into(),
            value: a.value,
            threshold: a.threshold,
            message: a.message.clone(),
            acknowledged: a.acknowledged,
            triggered_at: a.triggered_at,
            cleared_at: a.cleared_at,
            acknowledged_by: a.acknowledged_by.clone(),
            acknowledged_at: a.acknowledged_at,
            notes: a.notes.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertPage {
    pub data: Vec<AlertOut>,
    pub total: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AcknowledgeRequest {
    /// What the operator did about it.
    #[serde(default)]
    #[schema(example = "Operator contacted — vehicle slowing down")]
    pub notes: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcknowledgeOut {
    pub id: String,
    pub acknowledged: bool,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
}

// --- missions ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct MissionCreate {
    #[schema(example = "fleet-001")]
    pub fleet_id: String,
    #[schema(example = "fleet-001-VH-001")]
    pub vehicle_id: String,
    pub mission_type: MissionTypeName,
    /// At most 1000.
    #[serde(deserialize_with = "bounded_waypoints")]
    #[schema(max_items = 1000)]
    pub waypoints: Vec<WaypointIn>,
    /// NORMAL when absent.
    #[serde(default)]
    pub priority: Option<PriorityName>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MissionCreated {
    pub id: String,
    pub vehicle_id: String,
    #[schema(example = "ASSIGNED")]
    pub status: String,
    /// Number of waypoints.
    pub waypoints: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MissionOut {
    pub id: String,
    pub fleet_id: String,
    pub vehicle_id: String,
    pub mission_type: String,
    pub priority: String,
    /// ASSIGNED, IN_PROGRESS, COMPLETED, FAILED or CANCELLED.
    pub status: String,
    pub completed_waypoints: u32,
    pub total_waypoints: u32,
    pub completion_pct: f64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub estimated_completion: Option<DateTime<Utc>>,
    /// Why a FAILED mission failed.
    pub failure_reason: Option<String>,
    /// The route, in order (so a client can draw it).
    pub waypoints: Vec<WaypointIn>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MissionQuery {
    pub fleet_id: Option<String>,
    pub vehicle_id: Option<String>,
    pub status: Option<MissionStatusName>,
    /// Most missions returned (default 50, max 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MissionPage {
    pub data: Vec<MissionOut>,
    pub total: u64,
}

/// The wire name of a serde enum variant (e.g. `MissionType::Delivery` → `"DELIVERY"`).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

impl From<&Mission> for MissionOut {
    fn from(m: &Mission) -> Self {
        MissionOut {
            id: m.id.clone(),
            fleet_id: m.fleet_id.clone(),
            vehicle_id: m.vehicle_id.clone(),
            mission_type: m.mission_type.as_str().into(),
            priority: wire_name(&m.priority),
            status: m.status.as_str().into(),
            completed_waypoints: m.completed_waypoints,
            total_waypoints: m.total_waypoints(),
            completion_pct: m.completion_pct(),
            created_at: m.created_at,
            started_at: m.started_at,
            completed_at: m.completed_at,
            estimated_completion: m.estimated_completion,
            failure_reason: m.failure_reason.clone(),
            waypoints: m
                .waypoints
                .iter()
                .map(|w| WaypointIn {
                    latitude: w.latitude,
                    longitude: w.longitude,
                    order: w.order,
                })
                .collect(),
        }
    }
}

// --- operations -------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthOut {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadyOut {
    pub status: String,
    pub store: Option<String>,
    pub detail: Option<String>,
}

/// What a vehicle told its transport it can do (for VDA 5050 vehicles: their factsheet).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CapabilitiesOut {
    pub vehicle_id: String,
    /// Where they come from, e.g. `VDA 5050 2.1.0 factsheet`.
    pub source: String,
    pub received_at: DateTime<Utc>,
    pub series_name: Option<String>,
    /// DIFF, OMNI or THREEWHEEL.
    pub kinematic: Option<String>,
    /// FORKLIFT, CONVEYOR, TUGGER or CARRIER.
    pub vehicle_class: Option<String>,
    /// Metres per second.
    pub max_speed_mps: Option<f64>,
    /// Kilograms.
    pub max_load_kg: Option<f64>,
    pub load_types: Vec<String>,
    /// The most nodes one order (route) may carry.
    pub max_order_nodes: Option<u64>,
    /// The actions it executes; a command needing another fails at once. Absent when its
    /// description lists none (nothing is refused then).
    pub actions: Option<Vec<ActionCapabilityOut>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionCapabilityOut {
    pub action_type: String,
    pub description: Option<String>,
    /// INSTANT, NODE and/or EDGE.
    pub scopes: Vec<String>,
    pub parameters: Vec<ActionParameterOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionParameterOut {
    pub key: String,
    /// BOOL, NUMBER, INTEGER, FLOAT, STRING, OBJECT or ARRAY.
    pub value_type: String,
    pub optional: bool,
    pub description: Option<String>,
}

impl From<VehicleCapabilities> for CapabilitiesOut {
    fn from(c: VehicleCapabilities) -> Self {
        CapabilitiesOut {
            vehicle_id: c.vehicle_id,
            source: c.source,
            received_at: c.received_at,
            series_name: c.series_name,
            kinematic: c.kinematic,
            vehicle_class: c.vehicle_class,
            max_speed_mps: c.max_speed_mps,
            max_load_kg: c.max_load_kg,
            load_types: c.load_types,
            max_order_nodes: c.max_order_nodes,
            actions: c.actions.map(|actions| {
                actions
                    .into_iter()
                    .map(|a| ActionCapabilityOut {
                        action_type: a.action_type,
                        description: a.description,
                        scopes: a.scopes,
                        parameters: a
                            .parameters
                            .into_iter()
                            .map(|p| ActionParameterOut {
                                key: p.key,
                                value_type: p.value_type,
                                optional: p.optional,
                                description: p.description,
                            })
                            .collect(),
                    })
                    .collect()
            }),
        }
    }
}
