//! Missions drive vehicles: a mission created through the API sends its route to the vehicle
//! (the built-in simulator here), progress comes from what the vehicle reports, and
//! cancelling stops the vehicle.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const VEHICLE: &str = "fleet-001-VH-002";

/// The vehicle's newest stored position, once it has one.
async fn position(s: &TestServer, token: &str) -> (f64, f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (st, t) = s
            .get(&format!("/api/v1/telemetry/{VEHICLE}/latest"), token)
            .await;
        if st == StatusCode::OK {
            return (
                t["latitude"].as_f64().unwrap(),
                t["longitude"].as_f64().unwrap(),
            );
        }
        assert!(Instant::now() < deadline, "no telemetry for {VEHICLE}: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the mission until `done` holds for it.
async fn mission_until(
    s: &TestServer,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        let (st, m) = s.get(&format!("/api/v1/missions/{id}"), token).await;
        assert_eq!(st, StatusCode::OK, "{m}");
        if done(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "mission never {what}: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn mission(waypoints: Value) -> Value {
    json!({
        "fleet_id": "fleet-001",
        "vehicle_id": VEHICLE,
        "mission_type": "DELIVERY",
        "waypoints": waypoints,
        "priority": "HIGH"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_created_through_the_api_drives_its_vehicle_to_completed() {
    let s = TestServer::start(&["--simulator-interval-ms", "100"]).await;
    let operator = s.token("operator").await;
    let (lat, lon) = position(&s, &operator).await;
    // Two waypoints about 70 m and 100 m away: the vehicle has to drive there.
    let (st, created) = s
        .post(
            "/api/v1/missions",
            &operator,
            mission(json!([
                {"latitude": lat + 0.0006, "longitude": lon, "order": 1},
                {"latitude": lat + 0.0006, "longitude": lon + 0.0006, "order": 2}
            ])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // The route went to the vehicle as a command of the operator's, and the vehicle took it.
    let (_, history) = s
        .get(&format!("/api/v1/commands/{VEHICLE}/history"), &operator)
        .await;
    let route = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "REROUTE")
        .unwrap_or_else(|| panic!("no route command: {history}"))
        .clone();
    assert_eq!(route["issued_by"], "op-001", "{route}");

    let done = mission_until(&s, &operator, &id, "completed", |m| {
        m["status"] == "COMPLETED"
    })
    .await;
    assert_eq!(done["completed_waypoints"], 2, "{done}");
    assert!(
        done["started_at"].is_string() && done["completed_at"].is_string(),
        "{done}"
    );
    // The vehicle is where the mission ended.
    let (end_lat, end_lon) = position(&s, &operator).await;
    assert!(
        (end_lat - (lat + 0.0006)).abs() < 0.0003 && (end_lon - (lon + 0.0006)).abs() < 0.0003,
        "vehicle at {end_lat},{end_lon}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_mission_stops_its_vehicle() {
    let s = TestServer::start(&["--simulator-interval-ms", "100"]).await;
    let operator = s.token("operator").await;
    let (lat, lon) = position(&s, &operator).await;
    // Far enough that the vehicle is still on its way when the mission is cancelled.
    let (st, created) = s
        .post(
            "/api/v1/missions",
            &operator,
            mission(json!([{"latitude": lat + 0.02, "longitude": lon, "order": 1}])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    mission_until(&s, &operator, &id, "started", |m| {
        m["status"] == "IN_PROGRESS"
    })
    .await;
    let (st, cancelled) = s
        .post(
            &format!("/api/v1/missions/{id}/cancel"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (st, &cancelled["status"]),
        (StatusCode::OK, &json!("CANCELLED"))
    );

    // A STOP followed, and the vehicle carried it out.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, history) = s
            .get(&format!("/api/v1/commands/{VEHICLE}/history"), &operator)
            .await;
        let stop = history["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["command"] == "STOP")
            .cloned();
        if let Some(stop) = stop.filter(|c| c["status"] == "EXECUTED") {
            assert_eq!(stop["issued_by"], "op-001", "{stop}");
            break;
        }
        assert!(Instant::now() < deadline, "no executed STOP: {history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, t) = s
        .get(&format!("/api/v1/telemetry/{VEHICLE}/latest"), &operator)
        .await;
    assert_eq!(t["status"], "STOPPED", "a stopped vehicle: {t}");
    s.stop().await;
}
