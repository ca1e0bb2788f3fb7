//! [`OperatorClient`]: the reference server's REST API for operator apps (see `docs/api.md`).
//! Responses are deserialized straight from the server's JSON into UniFFI records; errors come
//! from its envelope `{detail, status_code, error, field?}`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::VehicleOpsError;
use crate::live::{self, FleetListener, Subscription};
use crate::on_runtime;
use crate::time::{rfc3339, rfc3339_opt, to_rfc3339};

type Result<T> = std::result::Result<T, VehicleOpsError>;

/// A vehicle's status, as the server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VehicleStatus {
    Idle,
    Moving,
    Alert,
    LowBattery,
    Offline,
    Stopped,
    Charging,
}

impl From<vehicleops_core::VehicleStatus> for VehicleStatus {
    fn from(s: vehicleops_core::VehicleStatus) -> Self {
        use vehicleops_core::VehicleStatus as S;
        match s {
            S::Idle => VehicleStatus::Idle,
            S::Moving => VehicleStatus::Moving,
            S::Alert => VehicleStatus::Alert,
            S::LowBattery => VehicleStatus::LowBattery,
            S::Offline => VehicleStatus::Offline,
            S::Stopped => VehicleStatus::Stopped,
            S::Charging => VehicleStatus::Charging,
        }
    }
}

/// The commands an operator can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandKind {
    Stop,
    Resume,
    Reroute,
    ReturnToBase,
}

/// Where a command is in its lifecycle: DISPATCHED → DELIVERED → EXECUTED / FAILED / TIMEOUT,
/// or EXPIRED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandStatus {
    Dispatched,
    Delivered,
    Executed,
    Failed,
    Timeout,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// The logged-in operator.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct OperatorInfo {
    pub id: String,
    pub email: String,
    /// `ADMIN`, `MANAGER` or `OPERATOR`.
    pub role: String,
    /// The fleets a MANAGER or OPERATOR may see (ADMIN: all, list empty).
    pub fleet_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct Fleet {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct FleetSummary {
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
    /// Vehicle count per status name.
    pub by_status: HashMap<String, u64>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub last_updated: Option<SystemTime>,
}

/// One vehicle in a fleet listing; readings are absent until the vehicle reported.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct Vehicle {
    pub vehicle_id: String,
    pub fleet_id: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub battery_pct: Option<f64>,
    pub engine_temp_c: Option<f64>,
    pub load_pct: Option<f64>,
    pub status: VehicleStatus,
    pub active_mission_id: Option<String>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub last_seen: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct VehiclePage {
    #[serde(rename = "data")]
    pub vehicles: Vec<Vehicle>,
    pub total: u64,
    pub page: u32,
    pub limit: u32,
}

/// A vehicle's latest reading.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct Telemetry {
    pub vehicle_id: String,
    pub fleet_id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    pub engine_temp_c: f64,
    pub load_pct: f64,
    pub heading_deg: f64,
    pub status: VehicleStatus,
    #[serde(deserialize_with = "rfc3339")]
    pub timestamp: SystemTime,
}

/// One reading of a vehicle's history.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct TelemetryPoint {
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    pub engine_temp_c: f64,
    pub load_pct: f64,
    pub status: VehicleStatus,
    #[serde(deserialize_with = "rfc3339")]
    pub timestamp: SystemTime,
}

/// A GPS waypoint of a REROUTE.
#[derive(Debug, Clone, PartialEq, Serialize, uniffi::Record)]
pub struct Waypoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// The server accepted a command (202); follow it with [`OperatorClient::command_history`].
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct CommandReceipt {
    pub id: String,
    pub vehicle_id: String,
    pub command: CommandKind,
    pub status: CommandStatus,
    pub issued_by: String,
    #[serde(deserialize_with = "rfc3339")]
    pub issued_at: SystemTime,
}

/// A command and how far it got.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct CommandRecord {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    pub command: CommandKind,
    pub status: CommandStatus,
    pub issued_by: String,
    #[serde(deserialize_with = "rfc3339")]
    pub issued_at: SystemTime,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub delivered_at: Option<SystemTime>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub executed_at: Option<SystemTime>,
    pub failure_reason: Option<String>,
}

/// Which alerts to list; every field is optional (defaults: all visible fleets, open alerts,
/// 50 newest).
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct AlertFilter {
    #[uniffi(default = None)]
    pub fleet_id: Option<String>,
    #[uniffi(default = None)]
    pub vehicle_id: Option<String>,
    #[uniffi(default = None)]
    pub severity: Option<Severity>,
    /// `true`: acknowledged alerts; `false` or absent: open ones.
    #[uniffi(default = None)]
    pub acknowledged: Option<bool>,
    #[uniffi(default = None)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct Alert {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    /// e.g. `OVERSPEED`, `LOW_BATTERY`, `VDA5050_FATAL_ERROR`.
    pub alert_type: String,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    pub acknowledged: bool,
    #[serde(deserialize_with = "rfc3339")]
    pub triggered_at: SystemTime,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub cleared_at: Option<SystemTime>,
    pub acknowledged_by: Option<String>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub acknowledged_at: Option<SystemTime>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct AcknowledgedAlert {
    pub id: String,
    pub acknowledged: bool,
    pub acknowledged_by: Option<String>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub acknowledged_at: Option<SystemTime>,
    pub notes: Option<String>,
}

/// What a mission is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MissionType {
    Delivery,
    Pickup,
    Inspection,
    Patrol,
    Charging,
    Transfer,
}

impl From<vehicleops_core::MissionType> for MissionType {
    fn from(t: vehicleops_core::MissionType) -> Self {
        use vehicleops_core::MissionType as T;
        match t {
            T::Delivery => MissionType::Delivery,
            T::Pickup => MissionType::Pickup,
            T::Inspection => MissionType::Inspection,
            T::Patrol => MissionType::Patrol,
            T::Charging => MissionType::Charging,
            T::Transfer => MissionType::Transfer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MissionPriority {
    Low,
    Normal,
    High,
    Urgent,
}

impl From<vehicleops_core::MissionPriority> for MissionPriority {
    fn from(p: vehicleops_core::MissionPriority) -> Self {
        use vehicleops_core::MissionPriority as P;
        match p {
            P::Low => MissionPriority::Low,
            P::Normal => MissionPriority::Normal,
            P::High => MissionPriority::High,
            P::Urgent => MissionPriority::Urgent,
        }
    }
}

/// Where a mission is: ASSIGNED → IN_PROGRESS → COMPLETED / FAILED / CANCELLED (an ASSIGNED
/// mission may also be cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MissionStatus {
    Assigned,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl From<vehicleops_core::MissionStatus> for MissionStatus {
    fn from(s: vehicleops_core::MissionStatus) -> Self {
        use vehicleops_core::MissionStatus as S;
        match s {
            S::Assigned => MissionStatus::Assigned,
            S::InProgress => MissionStatus::InProgress,
            S::Completed => MissionStatus::Completed,
            S::Failed => MissionStatus::Failed,
            S::Cancelled => MissionStatus::Cancelled,
        }
    }
}

/// A point of a mission's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, uniffi::Record)]
pub struct MissionWaypoint {
    pub latitude: f64,
    pub longitude: f64,
    /// 1-based position in the route. The server sorts a new mission's waypoints by it (equal
    /// values keep list order, so 0 everywhere means "in list order") and numbers them 1…n.
    #[uniffi(default = 0)]
    pub order: u32,
}

/// A mission to create: a route for one vehicle of a fleet.
#[derive(Debug, Clone, PartialEq, Serialize, uniffi::Record)]
pub struct MissionCreate {
    pub fleet_id: String,
    pub vehicle_id: String,
    pub mission_type: MissionType,
    /// At least one, at most 1000.
    pub waypoints: Vec<MissionWaypoint>,
    /// NORMAL when absent.
    #[uniffi(default = None)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<MissionPriority>,
}

/// The server created the mission (201) and sent its route to the vehicle.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct MissionCreated {
    pub id: String,
    pub vehicle_id: String,
    pub status: MissionStatus,
    /// The number of waypoints (the server's `waypoints`).
    #[serde(rename = "waypoints")]
    pub total_waypoints: u32,
    #[serde(deserialize_with = "rfc3339")]
    pub created_at: SystemTime,
}

/// A mission with its progress and route.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct Mission {
    pub id: String,
    pub fleet_id: String,
    pub vehicle_id: String,
    pub mission_type: MissionType,
    pub priority: MissionPriority,
    pub status: MissionStatus,
    pub completed_waypoints: u32,
    pub total_waypoints: u32,
    /// 0–100.
    pub completion_pct: f64,
    #[serde(deserialize_with = "rfc3339")]
    pub created_at: SystemTime,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub started_at: Option<SystemTime>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub completed_at: Option<SystemTime>,
    #[serde(deserialize_with = "rfc3339_opt")]
    pub estimated_completion: Option<SystemTime>,
    /// Why a FAILED mission failed.
    pub failure_reason: Option<String>,
    /// The route, in order.
    pub waypoints: Vec<MissionWaypoint>,
}

/// Which missions to list; every field is optional (defaults: all visible fleets, any status,
/// 50 newest; `limit` 1–500).
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct MissionFilter {
    #[uniffi(default = None)]
    pub fleet_id: Option<String>,
    #[uniffi(default = None)]
    pub vehicle_id: Option<String>,
    #[uniffi(default = None)]
    pub status: Option<MissionStatus>,
    #[uniffi(default = None)]
    pub limit: Option<u32>,
}

/// A telemetry field that can be aggregated into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    SpeedKmh,
    BatteryPct,
    EngineTempC,
    LoadPct,
}

impl From<vehicleops_core::Metric> for Metric {
    fn from(m: vehicleops_core::Metric) -> Self {
        use vehicleops_core::Metric as M;
        match m {
            M::SpeedKmh => Metric::SpeedKmh,
            M::BatteryPct => Metric::BatteryPct,
            M::EngineTempC => Metric::EngineTempC,
            M::LoadPct => Metric::LoadPct,
        }
    }
}

/// One time bucket of a metric series.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct SeriesPoint {
    /// Start of the bucket.
    #[serde(deserialize_with = "rfc3339")]
    pub bucket: SystemTime,
    pub avg_value: f64,
    pub max_value: f64,
    pub min_value: f64,
}

/// Aggregates of one vehicle over a window; the averages are absent when it holds no reading.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct VehicleMetrics {
    pub vehicle_id: String,
    pub total_readings: u64,
    pub avg_speed_kmh: Option<f64>,
    pub max_speed_kmh: Option<f64>,
    pub avg_battery_pct: Option<f64>,
    pub min_battery_pct: Option<f64>,
    pub avg_engine_temp_c: Option<f64>,
    pub max_engine_temp_c: Option<f64>,
    pub total_distance_km: f64,
    /// Readings whose status was ALERT.
    pub alert_count: u64,
}

/// One vehicle's row of a fleet performance report.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct VehiclePerformance {
    pub vehicle_id: String,
    pub avg_speed: f64,
    pub avg_battery: f64,
    pub distance_km: f64,
    pub alerts: u64,
}

/// A fleet's performance over a window, vehicles ranked by distance (longest first).
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct FleetPerformance {
    pub fleet_id: String,
    #[serde(deserialize_with = "rfc3339")]
    pub from: SystemTime,
    #[serde(deserialize_with = "rfc3339")]
    pub to: SystemTime,
    pub vehicles: Vec<VehiclePerformance>,
}

/// What the client shares with its requests and subscriptions.
pub(crate) struct Shared {
    /// e.g. `http://127.0.0.1:8000` (no trailing slash, no `/api/v1`).
    pub(crate) base_url: String,
    http: reqwest::Client,
    token: RwLock<Option<String>>,
}

impl Shared {
    pub(crate) fn token(&self) -> Result<String> {
        self.token
            .read()
            .expect("token lock")
            .clone()
            .ok_or_else(|| VehicleOpsError::Unauthorized {
                detail: "not logged in: call login() first".into(),
            })
    }

    fn request(&self, method: Method, path: &str) -> Result<RequestBuilder> {
        let token = self.token()?;
        Ok(self
            .http
            .request(method, format!("{}/api/v1{path}", self.base_url))
            .bearer_auth(token))
    }

    /// Sends and decodes the JSON body, or maps the error envelope.
    async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response.text().await.unwrap_or_default();
        Err(VehicleOpsError::from_envelope(
            status.as_u16(),
            &body,
            retry_after,
        ))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        Self::send(self.request(Method::GET, path)?.query(query)).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: serde_json::Value) -> Result<T> {
        Self::send(self.request(Method::POST, path)?.json(&body)).await
    }
}

/// The wire name of one of the enums above (e.g. `MissionStatus::InProgress` → `IN_PROGRESS`),
/// for query parameters.
fn wire_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => unreachable!("the binding's enums serialize as strings"),
    }
}

/// The optional `from` / `to` of an analytics window (the server defaults to the last 24 hours).
fn window(from: Option<SystemTime>, to: Option<SystemTime>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(from) = from {
        query.push(("from", to_rfc3339(from)));
    }
    if let Some(to) = to {
        query.push(("to", to_rfc3339(to)));
    }
    query
}

/// Percent-encodes one path segment (vehicle and fleet ids are user data).
fn segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// How [`OperatorClient::connect_with_options`] may reach the server.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ConnectOptions {
    /// Allow plain `http://` (and `ws://`) to a host other than this device. The password, the
    /// token and every reply then cross the network unencrypted: for a lab network only.
    /// Without it such a URL is refused; `http://` to 127.0.0.0/8, `::1` or `localhost` is
    /// always allowed.
    #[uniffi(default = false)]
    pub allow_insecure_http: bool,
}

/// Whether the client may talk to `url`: `https` always; `http` to a loopback host (127.0.0.0/8,
/// `::1`, `localhost`) always, elsewhere only when `allow_insecure_http`. Also applied to every
/// redirect, so an https server cannot send the client to plain http.
fn check_transport(
    url: &reqwest::Url,
    allow_insecure_http: bool,
) -> std::result::Result<(), String> {
    match url.scheme() {
        "https" => return Ok(()),
        "http" => {}
        _ => return Err("expected http:// or https://".into()),
    }
    // The parser has normalised the host: IPv4 in dotted decimal, IPv6 in brackets, names in
    // lower case.
    let host = url.host_str().unwrap_or_default();
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>();
    let loopback = match ip {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => matches!(host, "localhost" | "localhost."),
    };
    if loopback || allow_insecure_http {
        return Ok(());
    }
    Err(format!(
        "plain http:// to {} would send the password and the token unencrypted: use \
         https://, or allow it explicitly with connect_with_options and \
         ConnectOptions(allow_insecure_http = true) (Kotlin: allowInsecureHttp; plain http is \
         always allowed to 127.0.0.0/8, ::1 and localhost)",
        host
    ))
}

/// A client of one reference server. Log in once; every call then carries the token.
#[derive(uniffi::Object)]
pub struct OperatorClient {
    shared: Arc<Shared>,
}

impl OperatorClient {
    /// Runs `call` with the shared state on the binding's runtime.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        on_runtime(call(self.shared.clone())).await
    }
}

#[uniffi::export]
impl OperatorClient {
    /// A client for the server at `base_url` (`https://host[:port]`, or `http://` to this
    /// device: 127.0.0.0/8, `::1`, `localhost`; a trailing `/api/v1` is accepted). Plain
    /// `http://` to any other host throws `Config`: see [`Self::connect_with_options`].
    /// Nothing is sent until [`Self::login`].
    #[uniffi::constructor]
    pub fn connect(base_url: String) -> Result<Arc<Self>> {
        Self::connect_with_options(base_url, ConnectOptions::default())
    }

    /// [`Self::connect`] with options, e.g. `allow_insecure_http` for plain `http://` to a
    /// server on another host (a lab network).
    #[uniffi::constructor]
    pub fn connect_with_options(base_url: String, options: ConnectOptions) -> Result<Arc<Self>> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
        let url = reqwest::Url::parse(trimmed).map_err(|e| VehicleOpsError::Config {
            detail: format!("base URL {base_url:?}: {e}"),
        })?;
        let allow_insecure_http = options.allow_insecure_http;
        check_transport(&url, allow_insecure_http).map_err(|reason| VehicleOpsError::Config {
            detail: format!("base URL {base_url:?}: {reason}"),
        })?;
        // Normalised (lower-case scheme and host), so the live feed's ws:// or wss:// follows.
        let trimmed = url.as_str().trim_end_matches('/');
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else if let Err(reason) = check_transport(attempt.url(), allow_insecure_http) {
                let to = attempt.url().to_string();
                attempt.error(format!("redirect to {to} refused: {reason}"))
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(redirects)
            .build()
            .map_err(|e| VehicleOpsError::Config {
                detail: e.to_string(),
            })?;
        Ok(Arc::new(OperatorClient {
            shared: Arc::new(Shared {
                base_url: trimmed.to_owned(),
                http,
                token: RwLock::new(None),
            }),
        }))
    }

    /// Logs in with the operator's e-mail and password and keeps the token for later calls.
    /// Wrong credentials throw `Unauthorized`; too many failures `RateLimited`.
    pub async fn login(&self, username: String, password: String) -> Result<OperatorInfo> {
        self.call(|s| async move {
            #[derive(Deserialize)]
            struct LoginResponse {
                access_token: String,
                operator: OperatorInfo,
            }
            let request = s
                .http
                .post(format!("{}/api/v1/auth/login", s.base_url))
                .json(&json!({"email": username, "password": password}));
            let response: LoginResponse = Shared::send(request).await?;
            *s.token.write().expect("token lock") = Some(response.access_token);
            Ok(response.operator)
        })
        .await
    }

    /// Forgets the token; later calls throw `Unauthorized` until the next login.
    pub fn logout(&self) {
        *self.shared.token.write().expect("token lock") = None;
    }

    /// The fleets this operator may see.
    pub async fn fleets(&self) -> Result<Vec<Fleet>> {
        self.call(|s| async move { s.get("/fleets", &[]).await })
            .await
    }

    pub async fn fleet_summary(&self, fleet_id: String) -> Result<FleetSummary> {
        self.call(|s| async move {
            s.get(&format!("/fleet/{}/summary", segment(&fleet_id)), &[])
                .await
        })
        .await
    }

    /// One page of a fleet's vehicles, optionally only those with `status`
    /// (defaults: page 1, 50 a page, at most 200).
    pub async fn vehicles(
        &self,
        fleet_id: String,
        status: Option<VehicleStatus>,
        page: Option<u32>,
        limit: Option<u32>,
    ) -> Result<VehiclePage> {
        self.call(|s| async move {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status", wire_name(status)));
            }
            if let Some(page) = page {
                query.push(("page", page.to_string()));
            }
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            s.get(&format!("/fleet/{}/vehicles", segment(&fleet_id)), &query)
                .await
        })
        .await
    }

    /// The vehicle's latest reading; `NotFound` before its first one.
    pub async fn latest(&self, vehicle_id: String) -> Result<Telemetry> {
        self.call(|s| async move {
            s.get(&format!("/telemetry/{}/latest", segment(&vehicle_id)), &[])
                .await
        })
        .await
    }

    /// The vehicle's readings from `from` to `to`, oldest first (at most `limit`, default 1000).
    pub async fn telemetry_history(
        &self,
        vehicle_id: String,
        from: SystemTime,
        to: SystemTime,
        limit: Option<u32>,
    ) -> Result<Vec<TelemetryPoint>> {
        self.call(|s| async move {
            #[derive(Deserialize)]
            struct History {
                data: Vec<TelemetryPoint>,
            }
            let mut query = vec![("from", to_rfc3339(from)), ("to", to_rfc3339(to))];
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            let history: History = s
                .get(
                    &format!("/telemetry/{}/history", segment(&vehicle_id)),
                    &query,
                )
                .await?;
            Ok(history.data)
        })
        .await
    }

    /// Sends a command; `waypoints` are required for REROUTE, `reason` is kept in the record.
    /// With an `idempotency_key`, sending again with the same key (e.g. after a timeout)
    /// returns the original command instead of sending a second one.
    pub async fn send_command(
        &self,
        vehicle_id: String,
        command: CommandKind,
        waypoints: Vec<Waypoint>,
        reason: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<CommandReceipt> {
        self.call(|s| async move {
            let waypoints: Vec<_> = waypoints
                .iter()
                .enumerate()
                .map(|(i, w)| json!({"latitude": w.latitude, "longitude": w.longitude, "order": i}))
                .collect();
            let mut params = json!({"waypoints": waypoints});
            if let Some(reason) = reason {
                params["reason"] = json!(reason);
            }
            let mut request = s
                .request(Method::POST, &format!("/commands/{}", segment(&vehicle_id)))?
                .json(&json!({"command": command, "params": params}));
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            Shared::send(request).await
        })
        .await
    }

    /// The vehicle's commands, newest first (default 20).
    pub async fn command_history(
        &self,
        vehicle_id: String,
        limit: Option<u32>,
    ) -> Result<Vec<CommandRecord>> {
        self.call(|s| async move {
            #[derive(Deserialize)]
            struct History {
                data: Vec<CommandRecord>,
            }
            let query: Vec<_> = limit
                .map(|l| ("limit", l.to_string()))
                .into_iter()
                .collect();
            let history: History = s
                .get(
                    &format!("/commands/{}/history", segment(&vehicle_id)),
                    &query,
                )
                .await?;
            Ok(history.data)
        })
        .await
    }

    /// Alerts matching `filter`, newest first.
    pub async fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>> {
        self.call(|s| async move {
            #[derive(Deserialize)]
            struct Page {
                data: Vec<Alert>,
            }
            let mut query = Vec::new();
            if let Some(fleet) = filter.fleet_id {
                query.push(("fleet_id", fleet));
            }
            if let Some(vehicle) = filter.vehicle_id {
                query.push(("vehicle_id", vehicle));
            }
            if let Some(severity) = filter.severity {
                query.push(("severity", wire_name(severity)));
            }
            if let Some(acknowledged) = filter.acknowledged {
                query.push(("acknowledged", acknowledged.to_string()));
            }
            if let Some(limit) = filter.limit {
                query.push(("limit", limit.to_string()));
            }
            let page: Page = s.get("/alerts", &query).await?;
            Ok(page.data)
        })
        .await
    }

    /// Acknowledges an alert with optional notes on what was done about it.
    pub async fn acknowledge_alert(
        &self,
        alert_id: String,
        notes: Option<String>,
    ) -> Result<AcknowledgedAlert> {
        self.call(|s| async move {
            s.post(
                &format!("/alerts/{}/acknowledge", segment(&alert_id)),
                json!({"notes": notes}),
            )
            .await
        })
        .await
    }

    /// Per-vehicle aggregates over a window (defaults: the 24 hours up to now).
    pub async fn vehicle_metrics(
        &self,
        vehicle_id: String,
        from: Option<SystemTime>,
        to: Option<SystemTime>,
    ) -> Result<VehicleMetrics> {
        self.call(|s| async move {
            s.get(
                &format!("/analytics/vehicle/{}/metrics", segment(&vehicle_id)),
                &window(from, to),
            )
            .await
        })
        .await
    }

    /// One metric of a vehicle in time buckets of `bucket_minutes` (1–60), oldest first, over a
    /// window (defaults: the 24 hours up to now). Buckets without readings are left out.
    pub async fn metric_series(
        &self,
        vehicle_id: String,
        metric: Metric,
        bucket_minutes: u32,
        from: Option<SystemTime>,
        to: Option<SystemTime>,
    ) -> Result<Vec<SeriesPoint>> {
        self.call(|s| async move {
            let mut query = window(from, to);
            query.push(("metric", wire_name(metric)));
            query.push(("bucket_minutes", bucket_minutes.to_string()));
            s.get(
                &format!("/analytics/vehicle/{}/series", segment(&vehicle_id)),
                &query,
            )
            .await
        })
        .await
    }

    /// Per-vehicle performance of a fleet over a window (defaults: the 24 hours up to now).
    pub async fn fleet_performance(
        &self,
        fleet_id: String,
        from: Option<SystemTime>,
        to: Option<SystemTime>,
    ) -> Result<FleetPerformance> {
        self.call(|s| async move {
            s.get(
                &format!("/analytics/fleet/{}/performance", segment(&fleet_id)),
                &window(from, to),
            )
            .await
        })
        .await
    }

    /// Creates a mission and sends its route to the vehicle. A vehicle that already has an
    /// ASSIGNED or IN_PROGRESS mission throws `Conflict`; a bad route `Validation`.
    pub async fn create_mission(&self, request: MissionCreate) -> Result<MissionCreated> {
        self.call(|s| async move {
            let body = serde_json::to_value(&request).map_err(|e| VehicleOpsError::Internal {
                detail: format!("mission request: {e}"),
            })?;
            s.post("/missions", body).await
        })
        .await
    }

    /// Missions matching `filter`, newest first, each with its route.
    pub async fn missions(&self, filter: MissionFilter) -> Result<Vec<Mission>> {
        self.call(|s| async move {
            #[derive(Deserialize)]
            struct Page {
                data: Vec<Mission>,
            }
            let mut query = Vec::new();
            if let Some(fleet) = filter.fleet_id {
                query.push(("fleet_id", fleet));
            }
            if let Some(vehicle) = filter.vehicle_id {
                query.push(("vehicle_id", vehicle));
            }
            if let Some(status) = filter.status {
                query.push(("status", wire_name(status)));
            }
            if let Some(limit) = filter.limit {
                query.push(("limit", limit.to_string()));
            }
            let page: Page = s.get("/missions", &query).await?;
            Ok(page.data)
        })
        .await
    }

    /// One mission with its progress and estimated completion.
    pub async fn mission(&self, mission_id: String) -> Result<Mission> {
        self.call(|s| async move {
            s.get(&format!("/missions/{}", segment(&mission_id)), &[])
                .await
        })
        .await
    }

    /// Cancels an ASSIGNED or IN_PROGRESS mission (the vehicle is stopped) and returns it
    /// CANCELLED; one that already ended throws `Conflict`.
    pub async fn cancel_mission(&self, mission_id: String) -> Result<Mission> {
        self.call(|s| async move {
            s.post(
                &format!("/missions/{}/cancel", segment(&mission_id)),
                json!({}),
            )
            .await
        })
        .await
    }

    /// Live updates of one fleet over the server's WebSocket, delivered to `listener` (first
    /// the snapshot of every vehicle, then each update and alert) until the returned
    /// [`Subscription`] is cancelled or dropped. A broken connection is re-opened with
    /// exponential backoff; the listener hears every state change. Needs a login first.
    pub fn subscribe(
        &self,
        fleet_id: String,
        listener: Arc<dyn FleetListener>,
    ) -> Result<Arc<Subscription>> {
        // Fail fast without a token; the task reads the current one at every (re)connect.
        self.shared.token()?;
        Ok(live::subscribe(self.shared.clone(), fleet_id, listener))
    }
}

/// Whether a status code means the request will never succeed as it is (no point retrying).
pub(crate) fn is_permanent_refusal(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_and_checked() {
        let c = OperatorClient::connect("http://127.0.0.1:8000/api/v1/".into()).unwrap();
        assert_eq!(c.shared.base_url, "http://127.0.0.1:8000");
        let e = OperatorClient::connect("ftp://example".into())
            .err()
            .unwrap();
        assert!(matches!(e, VehicleOpsError::Config { .. }), "{e:?}");
        let e = OperatorClient::connect("not a url".into()).err().unwrap();
        assert!(matches!(e, VehicleOpsError::Config { .. }), "{e:?}");
    }

    fn refusal(url: &str) -> Option<String> {
        match OperatorClient::connect(url.into()) {
            Ok(_) => None,
            Err(VehicleOpsError::Config { detail }) => Some(detail),
            Err(e) => panic!("{url}: {e:?}"),
        }
    }

    #[test]
    fn plain_http_is_only_for_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8000",
            "http://127.1.2.3",
            "http://[::1]:8000/api/v1",
            "http://[::ffff:127.0.0.1]:8000",
            "http://localhost:8000",
            "HTTP://LocalHost.:8000",
            "https://10.0.0.5",
            "https://ops.example.com/api/v1",
        ] {
            assert_eq!(refusal(url), None, "{url} refused");
        }
        for url in [
            "http://10.0.0.5:8000",
            "http://example.com",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[::2]:8000",
            "http://0.0.0.0:8000",
            "http://192.168.1.20/api/v1",
        ] {
            let detail = refusal(url).unwrap_or_else(|| panic!("{url} allowed"));
            assert!(
                detail.contains("https://") && detail.contains("allow_insecure_http"),
                "{url}: {detail}"
            );
        }
        let allowed = ConnectOptions {
            allow_insecure_http: true,
        };
        let c = OperatorClient::connect_with_options("http://10.0.0.5:8000".into(), allowed)
            .expect("explicitly allowed");
        assert_eq!(c.shared.base_url, "http://10.0.0.5:8000");
        let e = OperatorClient::connect_with_options(
            "http://example.com".into(),
            ConnectOptions::default(),
        )
        .err()
        .unwrap();
        assert!(matches!(e, VehicleOpsError::Config { .. }), "{e:?}");
        // Redirects follow the same rule.
        let to = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(check_transport(&to("http://10.0.0.5/api/v1/auth/login"), false).is_err());
        assert!(check_transport(&to("http://10.0.0.5/api/v1/auth/login"), true).is_ok());
        assert!(check_transport(&to("ftp://127.0.0.1/"), true).is_err());
    }

    #[test]
    fn the_live_feed_follows_the_base_urls_scheme() {
        let ws = |url: &str| {
            let c = OperatorClient::connect(url.into()).unwrap();
            crate::live::ws_base(&c.shared.base_url)
        };
        assert_eq!(
            ws("HTTPS://Ops.Example.com/api/v1/"),
            "wss://ops.example.com"
        );
        assert_eq!(ws("https://10.0.0.5:8443"), "wss://10.0.0.5:8443");
        assert_eq!(ws("http://127.0.0.1:8000"), "ws://127.0.0.1:8000");
        assert_eq!(ws("http://[::1]:8000"), "ws://[::1]:8000");
    }

    #[test]
    fn calls_before_login_are_unauthorized() {
        let c = OperatorClient::connect("http://127.0.0.1:9".into()).unwrap();
        let e = c.shared.token().unwrap_err();
        assert!(matches!(e, VehicleOpsError::Unauthorized { .. }));
    }

    #[test]
    fn server_json_decodes_into_records() {
        let vehicle: Vehicle = serde_json::from_value(json!({
            "vehicle_id": "V 1", "fleet_id": "f", "latitude": null, "longitude": null,
            "speed_kmh": null, "battery_pct": null, "engine_temp_c": null, "load_pct": null,
            "status": "LOW_BATTERY", "active_mission_id": null, "last_seen": "2026-01-02T03:04:05Z"
        }))
        .unwrap();
        assert_eq!(vehicle.status, VehicleStatus::LowBattery);
        assert_eq!(
            vehicle.last_seen.unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045)
        );
        assert_eq!(segment("V 1/x"), "V%201%2Fx");
    }

    #[test]
    fn mission_records_have_the_servers_shape() {
        let request = MissionCreate {
            fleet_id: "fleet-001".into(),
            vehicle_id: "fleet-001-VH-001".into(),
            mission_type: MissionType::Delivery,
            waypoints: vec![MissionWaypoint {
                latitude: 4.7,
                longitude: -74.1,
                order: 1,
            }],
            priority: None,
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"fleet_id": "fleet-001", "vehicle_id": "fleet-001-VH-001",
                   "mission_type": "DELIVERY",
                   "waypoints": [{"latitude": 4.7, "longitude": -74.1, "order": 1}]})
        );
        let created: MissionCreated = serde_json::from_value(json!({
            "id": "mission-1", "vehicle_id": "v", "status": "ASSIGNED", "waypoints": 2,
            "created_at": "2026-01-02T03:04:05Z"
        }))
        .unwrap();
        assert_eq!(
            (created.status, created.total_waypoints),
            (MissionStatus::Assigned, 2)
        );
        let mission: Mission = serde_json::from_value(json!({
            "id": "mission-1", "fleet_id": "f", "vehicle_id": "v", "mission_type": "PATROL",
            "priority": "URGENT", "status": "IN_PROGRESS", "completed_waypoints": 1,
            "total_waypoints": 2, "completion_pct": 50.0,
            "created_at": "2026-01-02T03:04:05Z", "started_at": "2026-01-02T03:04:06.5Z",
            "completed_at": null, "estimated_completion": null, "failure_reason": null,
            "waypoints": [{"latitude": 1.0, "longitude": 2.0, "order": 1},
                          {"latitude": 1.5, "longitude": 2.5, "order": 2}]
        }))
        .unwrap();
        assert_eq!(mission.status, MissionStatus::InProgress);
        assert_eq!(mission.priority, MissionPriority::Urgent);
        assert_eq!(
            mission.started_at.unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_323_046_500)
        );
        assert_eq!(mission.waypoints[1].order, 2);
        let points: Vec<SeriesPoint> = serde_json::from_value(json!([
            {"bucket": "2026-01-02T03:00:00Z", "avg_value": 2.0, "max_value": 3.0, "min_value": 1.0}
        ]))
        .unwrap();
        assert_eq!(points[0].max_value, 3.0);
    }

    /// The mirrored enums name every core variant as the core (and so the server) does.
    #[test]
    fn mirrored_enums_use_the_cores_wire_names() {
        fn same<C: Serialize + Copy, B: From<C> + Serialize>(core: &[C]) {
            for &c in core {
                assert_eq!(wire_name(B::from(c)), wire_name(c));
            }
        }
        use vehicleops_core as core;
        same::<_, Metric>(&core::Metric::ALL);
        same::<_, MissionType>(&[
            core::MissionType::Delivery,
            core::MissionType::Pickup,
            core::MissionType::Inspection,
            core::MissionType::Patrol,
            core::MissionType::Charging,
            core::MissionType::Transfer,
        ]);
        same::<_, MissionPriority>(&[
            core::MissionPriority::Low,
            core::MissionPriority::Normal,
            core::MissionPriority::High,
            core::MissionPriority::Urgent,
        ]);
        same::<_, MissionStatus>(&[
            core::MissionStatus::Assigned,
            core::MissionStatus::InProgress,
            core::MissionStatus::Completed,
            core::MissionStatus::Failed,
            core::MissionStatus::Cancelled,
        ]);
    }
}
