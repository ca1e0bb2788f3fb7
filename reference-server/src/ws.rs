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
//! [`SEND_TIMEOUT`] is disconnected.

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
    state.fleet(&principal, &fleet_id).await?;
    let upgrade = upgrade.map_err(|r| {
        ApiError::new(
            r.status(),
            "UPGRADE_REQUIRED",
            "Expected a WebSocket upgrade request",
        )
    })?;
    Ok(upgrade
        .on_upgrade(move |socket| session(state, fleet_id, principal, socket))
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

async fn session(state: AppState, fleet_id: String, principal: Principal, socket: WebSocket) {
    let _counted = state.metrics.ws_client();
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
                    let close = CloseFrame { code: 1001, reason: Utf8Bytes::from_static("server shutting down") };
                    let _ = tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Close(Some(close)))).await;
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
                match tokio::time::timeout(SEND_TIMEOUT, write).await {
                    Ok(Ok(())) => state.metrics.ws_frames_sent(n),
                    Ok(Err(_)) => break,
                    Err(_) => {
                        tracing::info!(fleet_id, "websocket client too slow; disconnecting");
                        break;
                    }
                }
            }
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) if text.trim() == "ping" => {
                    if tx.send(Message::Text(Utf8Bytes::from_static("pong"))).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::debug!(fleet_id, operator_id = %principal.id, "websocket disconnected");
}
