//! Live fleet updates: one background task per [`Subscription`] reads the server's WebSocket
//! (`/ws/fleet/{fleet_id}?token=…`) and calls the app's [`FleetListener`], reconnecting with
//! [`Backoff`] when the connection breaks.
//!
//! Listener calls are made one at a time, in frame order, on a blocking-pool thread (never on a
//! runtime worker, so a slow listener cannot stall other work). After `cancel()` (or dropping
//! the subscription) the task closes the socket and its last call is
//! `on_connection_state(CLOSED)`: nothing is delivered after that.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::debug;
use vehicleops_core::LiveUpdate;

use crate::backoff::Backoff;
use crate::operator::{CommandRecord, Severity, Shared, VehicleStatus, is_permanent_refusal};
use crate::runtime;
use crate::time::rfc3339;

/// A vehicle's live state.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VehicleUpdate {
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
    /// Alert types currently open for the vehicle.
    pub alerts: Vec<String>,
    /// Per-vehicle sequence number of the reading.
    pub seq: u64,
    pub timestamp: SystemTime,
}

/// The server sends the core's [`LiveUpdate`] as is: its wire shape is defined once, there.
impl From<LiveUpdate> for VehicleUpdate {
    fn from(u: LiveUpdate) -> Self {
        VehicleUpdate {
            vehicle_id: u.vehicle_id,
            fleet_id: u.fleet_id,
            latitude: u.latitude,
            longitude: u.longitude,
            speed_kmh: u.speed_kmh,
            battery_pct: u.battery_pct,
            engine_temp_c: u.engine_temp_c,
            load_pct: u.load_pct,
            heading_deg: u.heading_deg,
            status: u.status.into(),
            alerts: u.alerts.iter().map(|a| a.as_str().to_owned()).collect(),
            seq: u.seq,
            timestamp: u.timestamp.into(),
        }
    }
}

/// An alert as it is raised.
#[derive(Debug, Clone, PartialEq, Deserialize, uniffi::Record)]
pub struct LiveAlert {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    pub alert_type: String,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    #[serde(deserialize_with = "rfc3339")]
    pub timestamp: SystemTime,
}

/// The subscription's connection, as the listener hears it.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ConnectionState {
    Connecting,
    /// The snapshot arrived; updates follow.
    Connected,
    /// The connection broke (`reason`); attempt `attempt` follows after `delay_ms`.
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    /// The server refused the subscription for good (expired token, no access, unknown fleet);
    /// log in again and subscribe anew.
    Refused {
        reason: String,
    },
    /// Cancelled; the last call the listener receives.
    Closed,
}

/// Implemented by the app (Kotlin, Swift) to receive live updates.
#[uniffi::export(foreign)]
pub trait FleetListener: Send + Sync {
    fn on_vehicle_update(&self, update: VehicleUpdate);
    fn on_alert(&self, alert: LiveAlert);
    /// A step of a command's lifecycle (DELIVERED, EXECUTED, FAILED…) in the fleet.
    fn on_command_update(&self, command: CommandRecord);
    fn on_connection_state(&self, state: ConnectionState);
}

/// A running live subscription. `cancel()` or dropping it stops the background task.
#[derive(uniffi::Object)]
pub struct Subscription {
    stop: watch::Sender<bool>,
}

#[uniffi::export]
impl Subscription {
    /// Stops the subscription: the socket is closed and the listener's last call is
    /// `on_connection_state(CLOSED)`. Calling it again does nothing.
    pub fn cancel(&self) {
        self.stop.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.stop.borrow()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// One parsed frame.
#[derive(Debug, PartialEq)]
enum Frame {
    Vehicles(Vec<VehicleUpdate>),
    Alert(LiveAlert),
    Command(CommandRecord),
    /// Mission progress frames, `pong`, and anything newer than this client.
    Other,
}

fn parse_frame(text: &str) -> Result<Frame, serde_json::Error> {
    #[derive(Deserialize)]
    struct Tagged {
        #[serde(rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        payload: serde_json::Value,
    }
    #[derive(Deserialize)]
    struct Snapshot {
        vehicles: Vec<LiveUpdate>,
    }
    if text.trim() == "pong" {
        return Ok(Frame::Other);
    }
    let value: serde_json::Value = serde_json::from_str(text)?;
    let tagged = Tagged::deserialize(&value)?;
    Ok(match tagged.kind.as_deref() {
        // A bare object is a vehicle update.
        None => Frame::Vehicles(vec![LiveUpdate::deserialize(value)?.into()]),
        Some("SNAPSHOT") => Frame::Vehicles(
            Snapshot::deserialize(tagged.payload)?
                .vehicles
                .into_iter()
                .map(Into::into)
                .collect(),
        ),
        Some("ALERT") => Frame::Alert(LiveAlert::deserialize(tagged.payload)?),
        Some("COMMAND") => Frame::Command(CommandRecord::deserialize(tagged.payload)?),
        Some(_) => Frame::Other,
    })
}

/// Starts the background task.
pub(crate) fn subscribe(
    shared: Arc<Shared>,
    fleet_id: String,
    listener: Arc<dyn FleetListener>,
) -> Arc<Subscription> {
    let (stop, stopped) = watch::channel(false);
    runtime().spawn(run(shared, fleet_id, listener, stopped));
    Arc::new(Subscription { stop })
}

/// Calls the listener on a blocking-pool thread and waits for it. A listener that throws is
/// logged and does not end the subscription.
async fn deliver(
    listener: &Arc<dyn FleetListener>,
    call: impl FnOnce(&dyn FleetListener) + Send + 'static,
) {
    let listener = listener.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || call(&*listener)).await {
        debug!(error = %e, "fleet listener failed");
    }
}

/// How one connection ended.
enum Ended {
    Cancelled,
    Broken(String),
    Refused(String),
}

async fn run(
    shared: Arc<Shared>,
    fleet_id: String,
    listener: Arc<dyn FleetListener>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(15));
    let mut attempt = 0u32;
    deliver(&listener, |l| {
        l.on_connection_state(ConnectionState::Connecting)
    })
    .await;
    loop {
        let ended = tokio::select! {
            ended = connection(&shared, &fleet_id, &listener, &mut backoff) => ended,
            _ = stopped.wait_for(|s| *s) => Ended::Cancelled,
        };
        let reason = match ended {
            Ended::Cancelled => break,
            Ended::Refused(reason) => {
                deliver(&listener, |l| {
                    l.on_connection_state(ConnectionState::Refused { reason })
                })
                .await;
                // Stay until cancelled so that CLOSED stays the last call.
                let _ = stopped.wait_for(|s| *s).await;
                break;
            }
            Ended::Broken(reason) => reason,
        };
        attempt += 1;
        let delay = backoff.next_delay();
        let state = ConnectionState::Reconnecting {
            attempt,
            delay_ms: delay.as_millis() as u64,
            reason,
        };
        deliver(&listener, move |l| l.on_connection_state(state)).await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    deliver(&listener, |l| {
        l.on_connection_state(ConnectionState::Closed)
    })
    .await;
}

/// The live feed's base URL for the client's (normalised) base URL: `wss://` for `https://`,
/// `ws://` for `http://` (which `OperatorClient` only allows to loopback or when told to).
pub(crate) fn ws_base(base_url: &str) -> String {
    if let Some(rest) = base_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base_url.to_owned()
    }
}

/// One WebSocket connection, until it breaks. Cancellation drops this future (closing the
/// socket).
async fn connection(
    shared: &Shared,
    fleet_id: &str,
    listener: &Arc<dyn FleetListener>,
    backoff: &mut Backoff,
) -> Ended {
    let token = match shared.token() {
        Ok(t) => t,
        Err(e) => return Ended::Refused(e.to_string()),
    };
    let ws_base = ws_base(&shared.base_url);
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let url = format!(
        "{ws_base}/ws/fleet/{}?token={}",
        encode(fleet_id).replace('+', "%20"),
        encode(&token)
    );
    let (socket, _) = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok(ok) => ok,
        Err(tungstenite::Error::Http(response)) if is_permanent_refusal(response.status()) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            return Ended::Refused(format!("HTTP {}: {body}", response.status().as_u16()));
        }
        Err(e) => return Ended::Broken(e.to_string()),
    };
    let (mut tx, mut rx) = socket.split();
    let mut connected = false;
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    keepalive.tick().await;
    loop {
        let message = tokio::select! {
            m = rx.next() => m,
            _ = keepalive.tick() => {
                // The server answers `ping` with `pong`; a dead link shows up as a send error.
                if let Err(e) = tx.send(Message::Text("ping".into())).await {
                    return Ended::Broken(e.to_string());
                }
                continue;
            }
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let reason = frame.map_or("closed by the server".into(), |f| {
                    format!("closed by the server ({}: {})", u16::from(f.code), f.reason)
                });
                return Ended::Broken(reason);
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Ended::Broken(e.to_string()),
            None => return Ended::Broken("connection closed".into()),
        };
        match parse_frame(&text) {
            Ok(Frame::Vehicles(updates)) => {
                for update in updates {
                    deliver(listener, move |l| l.on_vehicle_update(update)).await;
                }
                if !connected {
                    // The first frame is the snapshot: the subscription is live.
                    connected = true;
                    backoff.reset();
                    deliver(listener, |l| {
                        l.on_connection_state(ConnectionState::Connected)
                    })
                    .await;
                }
            }
            Ok(Frame::Alert(alert)) => deliver(listener, move |l| l.on_alert(alert)).await,
            Ok(Frame::Command(command)) => {
                deliver(listener, move |l| l.on_command_update(command)).await
            }
            Ok(Frame::Other) => {}
            Err(e) => debug!(error = %e, "unreadable live frame skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::CommandStatus;

    const UPDATE: &str = r#"{"vehicle_id":"V-1","fleet_id":"f","latitude":1.5,"longitude":2.5,
        "speed_kmh":12.0,"battery_pct":80.0,"engine_temp_c":70.0,"load_pct":0.0,"heading_deg":90.0,
        "status":"MOVING","alerts":["OVERSPEED"],"seq":7,"timestamp":"2026-01-01T00:00:00Z"}"#;

    #[test]
    fn frames_of_every_kind_parse() {
        let Frame::Vehicles(v) = parse_frame(UPDATE).unwrap() else {
            panic!("a bare object is an update")
        };
        assert_eq!((v[0].seq, v[0].status), (7, VehicleStatus::Moving));
        assert_eq!(v[0].alerts, ["OVERSPEED"]);

        let snapshot = format!(
            r#"{{"type":"SNAPSHOT","payload":{{"fleet_id":"f","vehicles":[{UPDATE},{UPDATE}]}}}}"#
        );
        assert!(matches!(parse_frame(&snapshot).unwrap(), Frame::Vehicles(v) if v.len() == 2));

        let alert = r#"{"type":"ALERT","payload":{"id":"a1","vehicle_id":"V-1","fleet_id":"f",
            "alert_type":"LOW_BATTERY","severity":"HIGH","value":9.0,"threshold":10.0,
            "message":"low","timestamp":"2026-01-01T00:00:00Z"}}"#;
        let Frame::Alert(a) = parse_frame(alert).unwrap() else {
            panic!("an alert")
        };
        assert_eq!(
            (a.alert_type.as_str(), a.severity),
            ("LOW_BATTERY", Severity::High)
        );

        let command = r#"{"type":"COMMAND","payload":{"id":"c1","vehicle_id":"V-1","fleet_id":"f",
            "command":"STOP","status":"EXECUTED","issued_by":"op","issued_at":"2026-01-01T00:00:00Z",
            "delivered_at":"2026-01-01T00:00:01Z","executed_at":"2026-01-01T00:00:02Z",
            "failure_reason":null,"params":{}}}"#;
        let Frame::Command(c) = parse_frame(command).unwrap() else {
            panic!("a command step")
        };
        assert_eq!((c.id.as_str(), c.status), ("c1", CommandStatus::Executed));

        assert_eq!(parse_frame("pong").unwrap(), Frame::Other);
        assert_eq!(
            parse_frame(r#"{"type":"MISSION","payload":{}}"#).unwrap(),
            Frame::Other
        );
        assert!(parse_frame(r#"{"vehicle_id":"V-1"}"#).is_err());
    }
}
