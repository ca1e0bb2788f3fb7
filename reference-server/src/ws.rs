//! `WS /ws/fleet/{fleet_id}?token=…`: live fleet telemetry.
//!
//! The token and fleet access are checked before the upgrade, so a refused client gets an
//! ordinary HTTP error envelope. After the upgrade the client receives one `SNAPSHOT` frame with
//! every vehicle's latest state, then:
//!
//! * every vehicle update as a bare object in the original's shape
//!   (`{"vehicle_id", "latitude", …, "alerts": [], "timestamp"}`);
//! * alerts as `{"type":"ALERT","payload":{…}}`;
//! * command and mission lifecycle steps as `{"type":"COMMAND"|"MISSION","payload":{…}}`.
//!
//! A text `ping` is answered with `pong`. Each client has its own hub subscription, whose queue
//! coalesces updates per vehicle: a slow client gets the latest state of each vehicle, never
//! an ever-growing backlog, and never delays anyone else. A client that cannot take a frame for
//! [`SEND_TIMEOUT`], or lets more than [`MAX_BACKLOG`] events queue up, is disconnected.
//!
//! Limits: client messages of at most [`MAX_MESSAGE_BYTES`] (a larger one closes the socket
//! with 1009); at most `VEHICLEOPS_WS_MAX_SESSIONS_PER_OPERATOR` sessions per operator (one
//! more is refused with 429 before the upgrade); a session ends with a close frame (1008,
//! "token expired") when its token expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vehicleops_core::{Alert, LiveEvent, LiveUpdate};

use crate::api::AppState;
use crate::api::dto::{CommandOut, MissionOut};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};

/// Longest a client may take to accept a batch of frames before it is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most events sent per write batch (then flushed).
const BATCH: usize = 256;
/// Largest message (and frame) a client may send: clients only send small control messages.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most events that may wait for a client that is not reading before it is disconnected.
pub const MAX_BACKLOG: usize = 4096;
/// Close code of a policy violation (RFC 6455): token expired, backlog exceeded.
const POLICY_VIOLATION: u16 = 1008;
/// Close code of a message too big to process (RFC 6455).
const MESSAGE_TOO_BIG: u16 = 1009;
/// Longest a close frame may take to send when a session is ended.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Open WebSocket sessions per operator, and how many one may have.
#[derive(Debug)]
pub struct SessionLimits {
    max_per_operator: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl SessionLimits {
    pub fn new(max_per_operator: usize) -> Self {
        SessionLimits {
            max_per_operator,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more session of `operator_id`, held until the permit is dropped;
    /// `None` when the operator already has the most allowed.
    pub fn try_acquire(self: &Arc<Self>, operator_id: &str) -> Option<SessionPermit> {
        let mut open = self.open.lock().expect("session lock poisoned");
        let n = open.entry(operator_id.to_owned()).or_insert(0);
        if *n >= self.max_per_operator {
            return None;
        }
        *n += 1;
        Some(SessionPermit {
            limits: self.clone(),
            operator_id: operator_id.to_owned(),
        })
    }
}

/// One operator's place among its open sessions; released on drop.
#[derive(Debug)]
pub struct SessionPermit {
    limits: Arc<SessionLimits>,
    operator_id: String,
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().expect("session lock poisoned");
        if let Some(n) = open.get_mut(&self.operator_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.operator_id);
            }
        }
    }
}

/// When an already verified token expires (its `exp` claim), as time left from now.
fn time_left(token: &str) -> Option<Duration> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // The signature and expiry were checked by `TokenService::verify`; only `exp` is read here.
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&[]),
        &validation,
    )
    .ok()?;
    let exp = data.claims.get("exp")?.as_i64()?;
    let left_ms = exp.saturating_mul(1000) - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(left_ms.max(0) as u64))
}

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// The upgrade handler.
pub async fn fleet_ws(
    State(state): State<AppState>,
    ApiPath(fleet_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = q
        .token
        .ok_or_else(|| ApiError::unauthorized("Missing `token` query parameter"))?;
    let principal = state.tokens.verify(&token)?;
    let expires_in = time_left(&token).unwrap_or(Duration::ZERO);
    state.fleet(&principal, &fleet_id).await?;
    let upgrade = upgrade.map_err(|r| {
        ApiError::new(
            r.status(),
            "UPGRADE_REQUIRED",
            "Expected a WebSocket upgrade request",
        )
    })?;
    let permit = state
        .ws_sessions
        .try_acquire(&principal.id)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                format!(
                    "Operator already has the most WebSocket sessions allowed ({})",
                    state.ws_sessions.max_per_operator
                ),
            )
        })?;
    Ok(upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            session(state, fleet_id, principal, expires_in, socket).await
        })
        .into_response())
}

/// The alert payload of an `ALERT` frame: the original's fields plus id, fleet and severity.
#[derive(Debug, Serialize)]
struct AlertPayload<'a> {
    id: &'a str,
    vehicle_id: &'a str,
    fleet_id: &'a str,
    alert_type: &'a str,
    severity: &'a str,
    value: f64,
    threshold: f64,
    message: &'a str,
    timestamp: chrono::DateTime<chrono::Utc>,
}

impl<'a> From<&'a Alert> for AlertPayload<'a> {
    fn from(a: &'a Alert) -> Self {
        AlertPayload {
            id: &a.id,
            vehicle_id: &a.vehicle_id,
            fleet_id: &a.fleet_id,
            alert_type: a.alert_type.as_str(),
            severity: a.severity.as_str(),
            value: a.value,
            threshold: a.threshold,
            message: &a.message,
            timestamp: a.triggered_at,
        }
    }
}

/// The JSON text of one event's frame.
pub fn frame(event: &LiveEvent) -> String {
    let value = match event {
        LiveEvent::Update(u) => return serde_json::to_string(&**u).expect("serializable"),
        LiveEvent::Alert(a) => json!({"type": "ALERT", "payload": AlertPayload::from(&**a)}),
        LiveEvent::Command(c) => json!({"type": "COMMAND", "payload": CommandOut::from(&**c)}),
        LiveEvent::Mission(m) => json!({"type": "MISSION", "payload": MissionOut::from(&**m)}),
    };
    value.to_string()
}

fn snapshot_frame(fleet_id: &str, vehicles: &[&LiveUpdate]) -> String {
    json!({"type": "SNAPSHOT", "payload": {"fleet_id": fleet_id, "vehicles": vehicles}}).to_string()
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

async fn session(
    state: AppState,
    fleet_id: String,
    principal: Principal,
    expires_in: Duration,
    socket: WebSocket,
) {
    let _counted = state.metrics.ws_client();
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    // Subscribe before taking the snapshot, so no update falls between the two.
    let mut subscription = state.engine.subscribe(&fleet_id);
    let (mut tx, mut rx) = socket.split();
    tracing::debug!(fleet_id, operator_id = %principal.id, "websocket connected");

    let mut snapshot: Vec<std::sync::Arc<LiveUpdate>> = state.engine.snapshot(&fleet_id);
    if snapshot.is_empty() {
        // Another instance may have ingested this fleet's readings: fall back to the store.
        if let Ok(latest) = state.engine.latest_for_fleet(&fleet_id).await {
            snapshot = latest
                .iter()
                .map(|t| std::sync::Arc::new(LiveUpdate::from_reading(t, Vec::new())))
                .collect();
        }
    }
    let refs: Vec<&LiveUpdate> = snapshot.iter().map(|u| &**u).collect();
    let first = Message::Text(snapshot_frame(&fleet_id, &refs).into());
    if !matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(first)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    state.metrics.ws_frames_sent(1);

    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            event = subscription.recv() => {
                let Some(event) = event else {
                    // The hub closed: the server is shutting down.
                    let _ = tokio::time::timeout(SEND_TIMEOUT, tx.send(close(1001, "server shutting down"))).await;
                    break;
                };
                batch.push(event);
                subscription.drain_into(&mut batch, BATCH - 1);
                let n = batch.len() as u64;
                let write = async {
                    for e in batch.drain(..) {
                        tx.feed(Message::Text(frame(&e).into())).await?;
                    }
                    tx.flush().await
                };
                match send_watching_backlog(write, &subscription).await {
                    Sent::Done => state.metrics.ws_frames_sent(n),
                    Sent::Failed => break,
                    Sent::TooSlow => {
                        tracing::info!(fleet_id, operator_id = %principal.id, "websocket client too slow; disconnecting");
                        break;
                    }
                    Sent::Backlog => {
                        tracing::info!(fleet_id, operator_id = %principal.id, "websocket client not reading (event backlog over {MAX_BACKLOG}); disconnecting");
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(close(POLICY_VIOLATION, "too slow: event backlog exceeded"))).await;
                        break;
                    }
                }
            }
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) if text.trim() == "ping" => {
                    let pong = tx.send(Message::Text(Utf8Bytes::from_static("pong")));
                    if !matches!(tokio::time::timeout(SEND_TIMEOUT, pong).await, Ok(Ok(()))) {
                        break;
                    }
                }
                Some(Err(e)) => {
                    // A message over MAX_MESSAGE_BYTES, or a protocol error.
                    tracing::info!(fleet_id, operator_id = %principal.id, error = %e, "websocket read failed; closing");
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(close(MESSAGE_TOO_BIG, "message too big or malformed"))).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
            },
            () = &mut expiry => {
                tracing::debug!(fleet_id, operator_id = %principal.id, "websocket token expired; closing");
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, tx.send(close(POLICY_VIOLATION, "token expired"))).await;
                break;
            }
        }
    }
    tracing::debug!(fleet_id, operator_id = %principal.id, "websocket disconnected");
}

/// How a write to a client ended.
enum Sent {
    Done,
    Failed,
    TooSlow,
    Backlog,
}

/// Runs `write`, giving up after [`SEND_TIMEOUT`] or as soon as more than [`MAX_BACKLOG`]
/// events wait in the client's queue (a client that does not read).
async fn send_watching_backlog<F>(write: F, subscription: &vehicleops_core::Subscription) -> Sent
where
    F: std::future::Future<Output = Result<(), axum::Error>>,
{
    tokio::pin!(write);
    let deadline = tokio::time::sleep(SEND_TIMEOUT);
    tokio::pin!(deadline);
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            result = &mut write => return if result.is_ok() { Sent::Done } else { Sent::Failed },
            () = &mut deadline => return Sent::TooSlow,
            _ = check.tick() => {
                if subscription.pending() > MAX_BACKLOG {
                    return Sent::Backlog;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn update(vehicle: usize) -> Arc<LiveUpdate> {
        Arc::new(
            serde_json::from_value(json!({
                "vehicle_id": format!("VH-{vehicle}"), "fleet_id": "fleet-001",
                "latitude": 4.7, "longitude": -74.07, "speed_kmh": 10.0, "battery_pct": 80.0,
                "engine_temp_c": 70.0, "load_pct": 50.0, "heading_deg": 0.0,
                "status": "MOVING", "alerts": [], "seq": 1,
                "timestamp": "2024-01-01T00:00:00Z",
            }))
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_once_its_backlog_passes_the_bound() {
        let hub = vehicleops_core::LiveHub::new();
        let subscription = hub.subscribe("fleet-001");
        // A write that never completes: the client's socket is full.
        let stuck = std::future::pending::<Result<(), axum::Error>>();
        let updates: Vec<_> = (0..=MAX_BACKLOG).map(update).collect();
        let publisher = async {
            // Published while the write is stuck, as the pipeline would.
            tokio::task::yield_now().await;
            hub.publish_updates(&updates);
            std::future::pending::<()>().await
        };
        let outcome = tokio::select! {
            sent = send_watching_backlog(stuck, &subscription) => sent,
            () = publisher => unreachable!(),
        };
        assert!(matches!(outcome, Sent::Backlog));
    }

    #[test]
    fn sessions_are_counted_per_operator_and_released_on_drop() {
        let limits = Arc::new(SessionLimits::new(2));
        let a = limits.try_acquire("op-1").unwrap();
        let _b = limits.try_acquire("op-1").unwrap();
        assert!(limits.try_acquire("op-1").is_none());
        assert!(limits.try_acquire("op-2").is_some());
        drop(a);
        assert!(limits.try_acquire("op-1").is_some());
    }
}
