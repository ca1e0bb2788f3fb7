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

/// Percent-encodes one path segment (vehicle and fleet ids are user data).
fn segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
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
    /// A client for the server at `base_url` (`http://host:port`; a trailing `/api/v1` is
    /// accepted). Nothing is sent until [`Self::login`].
    #[uniffi::constructor]
    pub fn connect(base_url: String) -> Result<Arc<Self>> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
        let url = reqwest::Url::parse(trimmed).map_err(|e| VehicleOpsError::Config {
            detail: format!("base URL {base_url:?}: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(VehicleOpsError::Config {
                detail: format!("base URL {base_url:?}: expected http:// or https://"),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
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
                let name = serde_json::to_value(status).expect("a status serializes");
                query.push(("status", name.as_str().unwrap_or_default().to_owned()));
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
    pub async fn send_command(
        &self,
        vehicle_id: String,
        command: CommandKind,
        waypoints: Vec<Waypoint>,
        reason: Option<String>,
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
            s.post(
                &format!("/commands/{}", segment(&vehicle_id)),
                json!({"command": command, "params": params}),
            )
            .await
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
                let name = serde_json::to_value(severity).expect("a severity serializes");
                query.push(("severity", name.as_str().unwrap_or_default().to_owned()));
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
}
