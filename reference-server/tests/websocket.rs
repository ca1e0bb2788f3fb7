//! The live WebSocket over real TCP: auth before upgrade, snapshot, live updates in the
//! original's shape, alert and command frames, ping/pong, and a slow client that does not stall
//! a fast one.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(s: &TestServer, fleet: &str, token: &str) -> Ws {
    let (ws, response) = connect_async(format!("{}/ws/fleet/{fleet}?token={token}", s.ws_base))
        .await
        .expect("websocket connects");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

async fn refused(url: String) -> u16 {
    match connect_async(url).await {
        Err(WsError::Http(response)) => {
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("error envelope");
            assert_eq!(body["status_code"], response.status().as_u16());
            response.status().as_u16()
        }
        Ok(_) => panic!("the upgrade was accepted"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// The next text frame, as JSON when it is JSON.
async fn next_text(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame in time")
            .expect("stream open")
            .expect("valid frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap_or(Value::String(t.to_string()));
        }
    }
}

/// Reads frames until one satisfies `pred`.
async fn until(ws: &mut Ws, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no frame with {what}"
        );
        let v = next_text(ws).await;
        if pred(&v) {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_fleet_access_are_checked_before_the_upgrade() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let admin = s.token("admin").await;
    assert_eq!(
        refused(format!("{}/ws/fleet/fleet-001", s.ws_base)).await,
        401
    );
    assert_eq!(
        refused(format!(
            "{}/ws/fleet/fleet-001?token=not.a.token",
            s.ws_base
        ))
        .await,
        401
    );
    assert_eq!(
        refused(format!("{}/ws/fleet/fleet-003?token={operator}", s.ws_base)).await,
        403
    );
    assert_eq!(
        refused(format!("{}/ws/fleet/fleet-999?token={admin}", s.ws_base)).await,
        404
    );
    // A plain HTTP request (no upgrade) with a valid token is refused with an envelope too.
    let r = s
        .http
        .get(s.url(&format!("/ws/fleet/fleet-001?token={operator}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status_code"], body["status_code"].as_u64().unwrap());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_live_updates_alerts_commands_and_pong() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    // Let the simulator report first, so the snapshot has vehicles.
    eventually("first readings", || async {
        let (_, b) = s.get("/api/v1/fleet/fleet-001/summary", &operator).await;
        b["last_updated"].is_string().then_some(())
    })
    .await;
    let mut ws = connect(&s, "fleet-001", &operator).await;

    let snapshot = next_text(&mut ws).await;
    assert_eq!(snapshot["type"], "SNAPSHOT");
    assert_eq!(snapshot["payload"]["fleet_id"], "fleet-001");
    let vehicles = snapshot["payload"]["vehicles"].as_array().unwrap();
    assert!(!vehicles.is_empty());
    assert!(vehicles.iter().all(|v| v["fleet_id"] == "fleet-001"));

    // Live updates are bare objects in the original's shape.
    let update = until(&mut ws, "a vehicle update", |v| {
        v.get("vehicle_id").is_some()
    })
    .await;
    for key in [
        "latitude",
        "longitude",
        "speed_kmh",
        "battery_pct",
        "engine_temp_c",
        "status",
        "alerts",
        "timestamp",
    ] {
        assert!(update.get(key).is_some(), "{key} missing in {update}");
    }
    assert!(update["alerts"].is_array());

    ws.send(Message::text("ping")).await.unwrap();
    until(&mut ws, "pong", |v| v == "pong").await;

    s.inject(vec![reading("fleet-001-VH-950", "fleet-001", 92.5, 1)])
        .await;
    let alert = until(&mut ws, "an ALERT frame", |v| v["type"] == "ALERT").await;
    let payload = &alert["payload"];
    assert_eq!(payload["vehicle_id"], "fleet-001-VH-950");
    assert_eq!(payload["alert_type"], "OVERSPEED");
    assert_eq!(payload["value"], 92.5);
    assert_eq!(payload["threshold"], 80.0);
    assert!(payload["timestamp"].is_string());
    // The vehicle's next update lists the open alert.
    let flagged = until(&mut ws, "VH-950's update", |v| {
        v["vehicle_id"] == "fleet-001-VH-950"
    })
    .await;
    assert_eq!(flagged["alerts"], json!(["OVERSPEED"]));

    let (st, _) = s
        .post(
            "/api/v1/commands/fleet-001-VH-002",
            &operator,
            json!({"command": "STOP"}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let command = until(&mut ws, "a COMMAND frame", |v| v["type"] == "COMMAND").await;
    assert_eq!(command["payload"]["vehicle_id"], "fleet-001-VH-002");
    assert_eq!(command["payload"]["command"], "STOP");
    let executed = until(&mut ws, "the command executed", |v| {
        v["type"] == "COMMAND" && v["payload"]["status"] == "EXECUTED"
    })
    .await;
    assert_eq!(executed["payload"]["id"], command["payload"]["id"]);

    // Mission progress: a mission whose first waypoint is where the vehicle is starts (and
    // reaches it) as soon as the vehicle reports again.
    let (_, here) = s
        .get("/api/v1/telemetry/fleet-001-VH-003/latest", &operator)
        .await;
    let (st, created) = s
        .post(
            "/api/v1/missions",
            &operator,
            json!({"fleet_id": "fleet-001", "vehicle_id": "fleet-001-VH-003", "mission_type": "INSPECTION",
                   "waypoints": [{"latitude": here["latitude"], "longitude": here["longitude"], "order": 1},
                                 {"latitude": 4.60, "longitude": -74.20, "order": 2}]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let mission = until(&mut ws, "a MISSION frame", |v| v["type"] == "MISSION").await;
    assert_eq!(mission["payload"]["id"], created["id"]);
    assert_eq!(mission["payload"]["status"], "IN_PROGRESS");
    assert_eq!(mission["payload"]["total_waypoints"], 2);

    // Shutdown closes the session with a close frame.
    s.stop().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
}

/// A client whose socket receive buffer is tiny and who never reads.
async fn slow_client(s: &TestServer, token: &str) -> WebSocketStream<TcpStream> {
    let addr = s.server.local_addr();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = client_async(
        format!("ws://{addr}/ws/fleet/fleet-002?token={token}"),
        stream,
    )
    .await
    .unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_stall_a_fast_one_and_gets_the_latest_state() {
    let s = TestServer::start(&["--simulator", "false"]).await;
    let operator = s.token("operator").await;
    let mut slow = slow_client(&s, &operator).await;
    let mut fast = connect(&s, "fleet-002", &operator).await;
    assert_eq!(next_text(&mut fast).await["type"], "SNAPSHOT");

    const READINGS: u64 = 20_000;
    let vehicles = ["fleet-002-VH-901", "fleet-002-VH-902"];
    let injector = {
        let engine = s.server.engine().clone();
        tokio::spawn(async move {
            for chunk in (1..=READINGS).collect::<Vec<_>>().chunks(500) {
                let batch = chunk
                    .iter()
                    .flat_map(|&seq| {
                        vehicles.map(|v| reading(v, "fleet-002", 10.0 + (seq % 50) as f64, seq))
                    })
                    .collect();
                engine.publish(batch).await.unwrap();
            }
        })
    };
    // The fast client keeps up to the very last reading while the slow one reads nothing.
    let last = until(&mut fast, "the last reading", |v| {
        v["vehicle_id"] == vehicles[1] && v["seq"] == READINGS
    })
    .await;
    assert_eq!(last["fleet_id"], "fleet-002");
    injector.await.unwrap();

    // The slow client now reads: it gets the latest state of each vehicle, and coalescing spared
    // it (and the server) most intermediate states.
    let mut received = 0u64;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen_last = [false, false];
    while seen_last != [true, true] {
        let msg = tokio::time::timeout_at(deadline, slow.next())
            .await
            .expect("frames in time")
            .unwrap()
            .unwrap();
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        if let Some(i) = vehicles.iter().position(|id| v["vehicle_id"] == *id) {
            received += 1;
            if v["seq"] == READINGS {
                seen_last[i] = true;
            }
        }
    }
    assert!(
        received < 2 * READINGS,
        "the slow client got {received} of {} updates",
        2 * READINGS
    );
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let coalesced: f64 = metrics
        .lines()
        .find(|l| l.starts_with("vehicleops_websocket_updates_coalesced_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(coalesced > 0.0);
    s.stop().await;
}
