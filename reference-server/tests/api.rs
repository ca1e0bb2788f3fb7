//! Every REST endpoint over real HTTP: status codes, bodies, auth failures, cross-fleet 403,
//! 404, 409, 422 and paging.

mod common;

use std::time::Duration;

use chrono::DurationRound;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vehicleops_core::Role;
use vehicleops_server::auth::{Claims, TokenService};
use vehicleops_server::config::AppEnv;

/// `from=…&to=…`: from a day before now to a day after, around whatever the simulator reports.
const DAY: Day = Day;

struct Day;

impl Day {
    fn from() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            .duration_trunc(chrono::Duration::days(1))
            .unwrap()
            - chrono::Duration::days(1)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = Day::from();
        let to = from + chrono::Duration::days(3);
        let z =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        write!(f, "from={}&to={}", z(from), z(to))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_issues_tokens_and_refuses_bad_credentials() {
    let s = TestServer::start(&["--login-max-failures", "3"]).await;
    let r = s.login("operator@vehicleops.io", "Operator123!").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["operator"],
        json!({"id": "op-001", "email": "operator@vehicleops.io", "role": "OPERATOR",
               "fleet_ids": ["fleet-001", "fleet-002"]})
    );
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);

    // E-mails are case-insensitive.
    let r = s.login("Admin@VehicleOps.io", "Admin123!").await;
    assert_eq!(r.status(), StatusCode::OK);

    let (st, b) = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "x@y.z"})),
        )
        .await;
    assert_eq!(
        assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
        Some("password")
    );

    for _ in 0..3 {
        let r = s.login("manager@vehicleops.io", "wrong").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["error"], "UNAUTHORIZED");
    }
    // Rate-limited now, even with the right password.
    let r = s.login("manager@vehicleops.io", "Manager123!").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "TOO_MANY_REQUESTS");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_forged_and_expired_tokens_are_401() {
    let s = TestServer::start(&[]).await;
    let path = "/api/v1/fleet/fleet-001/summary";
    let (st, b) = s.call(Method::GET, path, None, None).await;
    assert_error(st, &b, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let r = s
        .http
        .get(s.url(path))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let claims = |exp_offset: i64| {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "op-admin".into(),
            email: "admin@vehicleops.io".into(),
            role: Role::Admin,
            fleet_ids: vec![],
            iat: now - 100,
            exp: now + exp_offset,
            iss: "vehicleops".into(),
            mode: "demo".into(),
        }
    };
    let forger = TokenService::new(&[1u8; 32], Duration::from_secs(60), AppEnv::Demo);
    let forged = forger.sign(&claims(600)).unwrap();
    let (st, b) = s.get(path, &forged).await;
    assert_error(st, &b, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let ours = TokenService::new(SECRET.as_bytes(), Duration::from_secs(60), AppEnv::Demo);
    let expired = ours.sign(&claims(-10)).unwrap();
    let (st, b) = s.get(path, &expired).await;
    assert_error(st, &b, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(b["detail"], "Token has expired");
    // The same claims, still valid, are accepted: the failures above are about the token.
    let (st, _) = s.get(path, &ours.sign(&claims(600)).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_summary_vehicles_and_paging() {
    let s = TestServer::start(&[]).await;
    let admin = s.token("admin").await;
    let operator = s.token("operator").await;

    // Wait for the simulator's first readings to be stored.
    let summary = eventually("fleet summary with readings", || async {
        let (st, b) = s.get("/api/v1/fleet/fleet-001/summary", &operator).await;
        assert_eq!(st, StatusCode::OK);
        (b["last_updated"].is_string()).then_some(b)
    })
    .await;
    assert_eq!(summary["fleet_id"], "fleet-001");
    assert_eq!(summary["fleet_name"], "Industrial Zone A");
    assert_eq!(summary["total_vehicles"], 3);
    for key in [
        "active_vehicles",
        "idle_vehicles",
        "vehicles_in_alert",
        "avg_battery_pct",
        "avg_speed_kmh",
        "active_missions",
        "open_alerts",
    ] {
        assert!(summary.get(key).is_some(), "{key} missing in {summary}");
    }

    let (st, b) = s.get("/api/v1/fleet/fleet-003/summary", &operator).await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (st, b) = s.get("/api/v1/fleet/fleet-003/summary", &admin).await;
    assert_eq!((st, &b["total_vehicles"]), (StatusCode::OK, &json!(0)));
    let (st, b) = s.get("/api/v1/fleet/fleet-999/summary", &admin).await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");

    let (st, fleets) = s.get("/api/v1/fleets", &operator).await;
    assert_eq!(st, StatusCode::OK);
    let ids: Vec<&str> = fleets
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fleet-001", "fleet-002"]);

    let (st, page) = s
        .get("/api/v1/fleet/fleet-001/vehicles?page=1&limit=2", &operator)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["page"].as_u64(),
            page["limit"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let first = &page["data"][0];
    assert_eq!(first["vehicle_id"], "fleet-001-VH-001");
    for key in [
        "fleet_id",
        "latitude",
        "longitude",
        "speed_kmh",
        "battery_pct",
        "engine_temp_c",
        "load_pct",
        "status",
        "active_mission_id",
        "last_seen",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    let (_, page2) = s
        .get("/api/v1/fleet/fleet-001/vehicles?page=2&limit=2", &operator)
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["vehicle_id"], "fleet-001-VH-003");
    let (_, page9) = s
        .get("/api/v1/fleet/fleet-001/vehicles?page=9&limit=2", &operator)
        .await;
    assert_eq!(
        (
            page9["data"].as_array().unwrap().len(),
            page9["total"].as_u64()
        ),
        (0, Some(3))
    );

    let (_, offline) = s
        .get("/api/v1/fleet/fleet-001/vehicles?status=OFFLINE", &operator)
        .await;
    assert_eq!(offline["total"], 0);
    for (query, field) in [
        ("status=FLYING", "status"),
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("page=abc", "page"),
    ] {
        let (st, b) = s
            .get(
                &format!("/api/v1/fleet/fleet-001/vehicles?{query}"),
                &operator,
            )
            .await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}"
        );
    }
    let (st, b) = s.get("/api/v1/fleet/fleet-003/vehicles", &operator).await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_latest_and_history() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let latest = eventually("a stored reading", || async {
        let (st, b) = s
            .get("/api/v1/telemetry/fleet-001-VH-002/latest", &operator)
            .await;
        (st == StatusCode::OK).then_some(b)
    })
    .await;
    assert_eq!(latest["vehicle_id"], "fleet-001-VH-002");
    for key in [
        "latitude",
        "longitude",
        "speed_kmh",
        "battery_pct",
        "engine_temp_c",
        "load_pct",
        "status",
        "timestamp",
    ] {
        assert!(latest.get(key).is_some(), "{key} missing in {latest}");
    }
    let (st, b) = s
        .get("/api/v1/telemetry/fleet-001-VH-099/latest", &operator)
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(b["detail"], "Vehicle fleet-001-VH-099 not found");

    // A vehicle of a fleet the operator cannot see, known only from its telemetry.
    s.inject(vec![reading("fleet-003-VH-001", "fleet-003", 10.0, 1)])
        .await;
    let admin = s.token("admin").await;
    eventually("fleet-003 reading stored", || async {
        let (st, _) = s
            .get("/api/v1/telemetry/fleet-003-VH-001/latest", &admin)
            .await;
        (st == StatusCode::OK).then_some(())
    })
    .await;
    let (st, b) = s
        .get("/api/v1/telemetry/fleet-003-VH-001/latest", &operator)
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (st, b) = s
        .get(
            &format!("/api/v1/telemetry/fleet-003-VH-001/history?{DAY}"),
            &operator,
        )
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");

    let (st, h) = s
        .get(
            &format!("/api/v1/telemetry/fleet-001-VH-002/history?{DAY}&limit=2"),
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["vehicle_id"], "fleet-001-VH-002");
    assert_eq!(
        h["from"],
        Day::from().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(h["total_records"], h["data"].as_array().unwrap().len());
    assert!(h["data"].as_array().unwrap().len() <= 2);
    assert!(h["data"][0]["timestamp"].is_string());

    for (query, field) in [
        ("to=2100-01-01T00:00:00Z", "from"),
        ("from=2000-01-01T00:00:00Z", "to"),
        ("from=yesterday&to=2100-01-01T00:00:00Z", "from"),
        ("from=2100-01-01T00:00:00Z&to=2000-01-01T00:00:00Z", "from"),
        (&format!("{DAY}&limit=10001"), "limit"),
        (&format!("{DAY}&limit=0"), "limit"),
    ] {
        let (st, b) = s
            .get(
                &format!("/api/v1/telemetry/fleet-001-VH-002/history?{query}"),
                &operator,
            )
            .await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_dispatch_and_history_follow_the_lifecycle() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let (st, b) = s
        .post(
            "/api/v1/commands/fleet-001-VH-001",
            &operator,
            json!({"command": "STOP", "params": {}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["vehicle_id"], "fleet-001-VH-001");
    assert_eq!(b["command"], "STOP");
    assert_eq!(b["status"], "DISPATCHED");
    assert_eq!(b["issued_by"], "op-001");
    assert!(b["issued_at"].is_string());
    let id = b["id"].as_str().unwrap().to_owned();

    // The simulated vehicle acknowledges: the history shows it EXECUTED.
    let executed = eventually("command executed", || async {
        let (st, h) = s
            .get(
                "/api/v1/commands/fleet-001-VH-001/history?limit=5",
                &operator,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        let cmd = h["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .cloned();
        cmd.filter(|c| c["status"] == "EXECUTED")
            .map(|c| (c, h["total"].clone()))
    })
    .await;
    assert!(executed.0["executed_at"].is_string());
    assert_eq!(executed.1, 1);

    let (st, b) = s
        .post(
            "/api/v1/commands/fleet-001-VH-001",
            &operator,
            json!({"command": "RESUME"}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let (_, h) = s
        .get(
            "/api/v1/commands/fleet-001-VH-001/history?limit=1",
            &operator,
        )
        .await;
    assert_eq!(
        (h["data"].as_array().unwrap().len(), h["total"].as_u64()),
        (1, Some(2))
    );
    assert_eq!(h["data"][0]["command"], "RESUME", "newest first");

    for (body, field) in [
        (json!({"command": "JUMP"}), "command"),
        (json!({"params": {}}), "command"),
        (
            json!({"command": "REROUTE", "params": {}}),
            "params.waypoints",
        ),
        (
            json!({"command": "REROUTE", "params": {"waypoints": [{"latitude": "north", "longitude": 1}]}}),
            "params.waypoints[0].latitude",
        ),
    ] {
        let (st, b) = s
            .post("/api/v1/commands/fleet-001-VH-001", &operator, body.clone())
            .await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{body}"
        );
    }
    let (st, b) = s.post("/api/v1/commands/fleet-001-VH-001", &operator,
        json!({"command": "REROUTE", "params": {"waypoints": [{"latitude": 4.72, "longitude": -74.06, "order": 1}]}})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");

    let r = s
        .http
        .post(s.url("/api/v1/commands/fleet-001-VH-001"))
        .bearer_auth(&operator)
        .header("content-type", "text/plain")
        .body("STOP")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (st, b) = s
        .post(
            "/api/v1/commands/fleet-001-VH-099",
            &operator,
            json!({"command": "STOP"}),
        )
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (st, b) = s
        .get(
            "/api/v1/commands/fleet-001-VH-001/history?limit=500",
            &operator,
        )
        .await;
    assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");

    s.inject(vec![reading("fleet-003-VH-002", "fleet-003", 10.0, 1)])
        .await;
    let admin = s.token("admin").await;
    eventually("fleet-003 reading stored", || async {
        let (st, _) = s
            .get("/api/v1/telemetry/fleet-003-VH-002/latest", &admin)
            .await;
        (st == StatusCode::OK).then_some(())
    })
    .await;
    let (st, b) = s
        .post(
            "/api/v1/commands/fleet-003-VH-002",
            &operator,
            json!({"command": "STOP"}),
        )
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (st, b) = s
        .get("/api/v1/commands/fleet-003-VH-002/history", &operator)
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_metrics_series_and_performance() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let m = eventually("readings for metrics", || async {
        let (st, b) = s
            .get(
                &format!("/api/v1/analytics/vehicle/fleet-001-VH-001/metrics?{DAY}"),
                &operator,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        (b["total_readings"].as_u64() >= Some(2)).then_some(b)
    })
    .await;
    assert_eq!(m["vehicle_id"], "fleet-001-VH-001");
    for key in [
        "avg_speed_kmh",
        "max_speed_kmh",
        "avg_battery_pct",
        "min_battery_pct",
        "avg_engine_temp_c",
        "max_engine_temp_c",
        "total_distance_km",
        "alert_count",
    ] {
        assert!(m.get(key).is_some(), "{key} missing in {m}");
    }
    // Default window: the last 24 hours, which includes the simulator's readings.
    let (st, b) = s
        .get(
            "/api/v1/analytics/vehicle/fleet-001-VH-001/metrics",
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(b["total_readings"].as_u64().unwrap() >= 2);

    let (st, series) = s
        .get(
            &format!(
                "/api/v1/analytics/vehicle/fleet-001-VH-001/speed-series?{DAY}&bucket_minutes=1"
            ),
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let point = &series.as_array().unwrap()[0];
    for key in ["bucket", "avg_value", "max_value", "min_value"] {
        assert!(point.get(key).is_some(), "{key} missing in {point}");
    }
    assert!(point["min_value"].as_f64() <= point["max_value"].as_f64());
    let (st, battery) = s
        .get(
            &format!("/api/v1/analytics/vehicle/fleet-001-VH-001/series?metric=battery_pct&{DAY}"),
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(battery[0]["avg_value"].as_f64().unwrap() > 0.0);

    for (path, field) in [
        ("speed-series?bucket_minutes=0", "bucket_minutes"),
        ("speed-series?bucket_minutes=61", "bucket_minutes"),
        ("series?metric=altitude", "metric"),
        ("series", "metric"),
        (
            "metrics?from=2100-01-01T00:00:00Z&to=2000-01-01T00:00:00Z",
            "from",
        ),
    ] {
        let (st, b) = s
            .get(
                &format!("/api/v1/analytics/vehicle/fleet-001-VH-001/{path}"),
                &operator,
            )
            .await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{path}"
        );
    }
    let (st, b) = s
        .get("/api/v1/analytics/vehicle/nope/metrics", &operator)
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");

    let (st, p) = s
        .get(
            &format!("/api/v1/analytics/fleet/fleet-001/performance?{DAY}"),
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(p["fleet_id"], "fleet-001");
    let vehicles = p["vehicles"].as_array().unwrap();
    assert_eq!(vehicles.len(), 3);
    for key in [
        "vehicle_id",
        "avg_speed",
        "avg_battery",
        "distance_km",
        "alerts",
    ] {
        assert!(vehicles[0].get(key).is_some(), "{key} missing");
    }
    let (st, b) = s
        .get("/api/v1/analytics/fleet/fleet-003/performance", &operator)
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (st, b) = s
        .get(
            "/api/v1/analytics/fleet/fleet-404/performance",
            &s.token("admin").await,
        )
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_list_filter_and_acknowledge() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let admin = s.token("admin").await;
    s.inject(vec![
        reading("fleet-002-VH-900", "fleet-002", 92.5, 1),
        reading("fleet-003-VH-900", "fleet-003", 95.0, 1),
    ])
    .await;
    let listed = eventually("the overspeed alert", || async {
        let (st, b) = s.get("/api/v1/alerts?fleet_id=fleet-002", &operator).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        (b["total"].as_u64() >= Some(1)).then_some(b)
    })
    .await;
    let alert = listed["data"][0].clone();
    assert_eq!(alert["vehicle_id"], "fleet-002-VH-900");
    assert_eq!(alert["fleet_id"], "fleet-002");
    assert_eq!(alert["alert_type"], "OVERSPEED");
    assert_eq!(alert["severity"], "HIGH");
    assert_eq!(alert["value"], 92.5);
    assert_eq!(alert["threshold"], 80.0);
    assert_eq!(alert["acknowledged"], false);
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("fleet-002-VH-900")
    );
    assert!(alert["triggered_at"].is_string());

    // Without a fleet filter an operator sees only their fleets; an admin sees all.
    eventually("the fleet-003 alert", || async {
        let (_, b) = s.get("/api/v1/alerts?fleet_id=fleet-003", &admin).await;
        (b["total"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    let (_, mine) = s.get("/api/v1/alerts", &operator).await;
    assert!(
        mine["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["fleet_id"] != "fleet-003")
    );
    let (_, all) = s.get("/api/v1/alerts", &admin).await;
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["fleet_id"] == "fleet-003")
    );
    let (_, high) = s
        .get(
            "/api/v1/alerts?severity=HIGH&vehicle_id=fleet-002-VH-900",
            &operator,
        )
        .await;
    assert_eq!(high["total"], 1);
    let (_, low) = s
        .get(
            "/api/v1/alerts?severity=LOW&vehicle_id=fleet-002-VH-900",
            &operator,
        )
        .await;
    assert_eq!(low["total"], 0);
    let (_, limited) = s.get("/api/v1/alerts?limit=1", &admin).await;
    assert_eq!(limited["data"].as_array().unwrap().len(), 1);

    let (st, b) = s.get("/api/v1/alerts?fleet_id=fleet-003", &operator).await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    for (query, field) in [
        ("severity=SEVERE", "severity"),
        ("acknowledged=maybe", "acknowledged"),
        ("limit=0", "limit"),
    ] {
        let (st, b) = s.get(&format!("/api/v1/alerts?{query}"), &operator).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}"
        );
    }

    let id = alert["id"].as_str().unwrap();
    let notes = "Operator contacted — vehicle slowing down";
    let (st, ack) = s
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &operator,
            json!({"notes": notes}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ack}");
    assert_eq!(ack["id"], id);
    assert_eq!(ack["acknowledged"], true);
    assert_eq!(ack["acknowledged_by"], "op-001");
    assert_eq!(ack["notes"], notes);
    assert!(ack["acknowledged_at"].is_string());
    let (_, open) = s.get("/api/v1/alerts?fleet_id=fleet-002", &operator).await;
    assert_eq!(
        open["total"], 0,
        "acknowledged alerts leave the default (open) list"
    );
    let (_, acked) = s
        .get(
            "/api/v1/alerts?fleet_id=fleet-002&acknowledged=true",
            &operator,
        )
        .await;
    assert_eq!(acked["data"][0]["notes"], notes);

    let (st, b) = s
        .post(
            "/api/v1/alerts/alert-nope/acknowledge",
            &operator,
            json!({}),
        )
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, other) = s.get("/api/v1/alerts?fleet_id=fleet-003", &admin).await;
    let other_id = other["data"][0]["id"].as_str().unwrap();
    let (st, b) = s
        .post(
            &format!("/api/v1/alerts/{other_id}/acknowledge"),
            &operator,
            json!({}),
        )
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (st, b) = s
        .post(
            &format!("/api/v1/alerts/{other_id}/acknowledge"),
            &admin,
            json!({"notes": 5}),
        )
        .await;
    assert_eq!(
        assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
        Some("notes")
    );
    // No body at all is fine: notes are optional.
    let (st, b) = s
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{other_id}/acknowledge"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((st, &b["notes"]), (StatusCode::OK, &Value::Null));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missions_create_conflict_get_and_cancel() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let body = json!({
        "fleet_id": "fleet-001",
        "vehicle_id": "fleet-001-VH-001",
        "mission_type": "DELIVERY",
        "waypoints": [
            {"latitude": 4.7120, "longitude": -74.0730, "order": 1},
            {"latitude": 4.7205, "longitude": -74.0650, "order": 2},
            {"latitude": 4.7310, "longitude": -74.0580, "order": 3}
        ],
        "priority": "NORMAL"
    });
    let (st, created) = s.post("/api/v1/missions", &operator, body.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["vehicle_id"], "fleet-001-VH-001");
    assert_eq!(created["status"], "ASSIGNED");
    assert_eq!(created["waypoints"], 3);
    assert!(created["created_at"].is_string());
    let id = created["id"].as_str().unwrap();

    let (st, b) = s.post("/api/v1/missions", &operator, body.clone()).await;
    assert_error(st, &b, StatusCode::CONFLICT, "CONFLICT");

    let (st, m) = s.get(&format!("/api/v1/missions/{id}"), &operator).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(m["id"], id);
    assert_eq!(m["mission_type"], "DELIVERY");
    assert_eq!(m["total_waypoints"], 3);
    for key in [
        "status",
        "completed_waypoints",
        "completion_pct",
        "started_at",
        "estimated_completion",
    ] {
        assert!(m.get(key).is_some(), "{key} missing in {m}");
    }
    let (_, vehicles) = s
        .get("/api/v1/fleet/fleet-001/vehicles?limit=1", &operator)
        .await;
    assert_eq!(vehicles["data"][0]["active_mission_id"], id);
    let (_, summary) = s.get("/api/v1/fleet/fleet-001/summary", &operator).await;
    assert_eq!(summary["active_missions"], 1);

    let (st, b) = s.get("/api/v1/missions/mission-nope", &operator).await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    let mut bad = body.clone();
    bad["vehicle_id"] = json!("fleet-001-VH-002");
    for (key, value, field) in [
        ("mission_type", json!("TELEPORT"), "mission_type"),
        ("priority", json!("ASAP"), "priority"),
        ("waypoints", json!([]), "waypoints"),
        (
            "waypoints",
            json!([{"latitude": 123.0, "longitude": 0.0}]),
            "waypoints",
        ),
        ("waypoints", json!("here"), "waypoints"),
    ] {
        let mut b2 = bad.clone();
        b2[key] = value;
        let (st, b) = s.post("/api/v1/missions", &operator, b2).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{key}"
        );
    }
    let mut other = bad.clone();
    other["fleet_id"] = json!("fleet-003");
    let (st, b) = s.post("/api/v1/missions", &operator, other).await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let mut unknown = bad.clone();
    unknown["vehicle_id"] = json!("fleet-001-VH-099");
    let (st, b) = s.post("/api/v1/missions", &operator, unknown).await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");

    let (st, c) = s
        .post(
            &format!("/api/v1/missions/{id}/cancel"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!((st, &c["status"]), (StatusCode::OK, &json!("CANCELLED")));
    let (st, b) = s
        .post(
            &format!("/api/v1/missions/{id}/cancel"),
            &operator,
            json!({}),
        )
        .await;
    assert_error(st, &b, StatusCode::CONFLICT, "CONFLICT");
    // The vehicle is free again.
    let (st, _) = s.post("/api/v1/missions", &operator, body).await;
    assert_eq!(st, StatusCode::CREATED);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missions_list_newest_first_with_routes_filters_and_rbac() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let mut ids = Vec::new();
    for vehicle in ["fleet-001-VH-001", "fleet-001-VH-002"] {
        let body = json!({
            "fleet_id": "fleet-001",
            "vehicle_id": vehicle,
            "mission_type": "INSPECTION",
            "waypoints": [
                {"latitude": 4.7120, "longitude": -74.0730, "order": 1},
                {"latitude": 4.7205, "longitude": -74.0650, "order": 2}
            ]
        });
        let (st, created) = s.post("/api/v1/missions", &operator, body).await;
        assert_eq!(st, StatusCode::CREATED, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let (st, c) = s
        .post(
            &format!("/api/v1/missions/{}/cancel", ids[0]),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");

    let listed_ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (st, page) = s
        .get("/api/v1/missions?fleet_id=fleet-001", &operator)
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(
        listed_ids(&page),
        vec![ids[1].clone(), ids[0].clone()],
        "newest first"
    );
    let newest = &page["data"][0];
    assert_eq!(newest["vehicle_id"], "fleet-001-VH-002");
    assert_eq!(newest["mission_type"], "INSPECTION");
    assert_eq!(newest["priority"], "NORMAL");
    assert_eq!(newest["total_waypoints"], 2);
    assert_eq!(
        newest["waypoints"],
        json!([
            {"latitude": 4.7120, "longitude": -74.0730, "order": 1},
            {"latitude": 4.7205, "longitude": -74.0650, "order": 2}
        ]),
        "the route comes with the mission"
    );
    let (_, single) = s
        .get(&format!("/api/v1/missions/{}", ids[1]), &operator)
        .await;
    assert_eq!(single["waypoints"], newest["waypoints"]);

    for (query, expected) in [
        ("status=CANCELLED", vec![ids[0].clone()]),
        ("vehicle_id=fleet-001-VH-002", vec![ids[1].clone()]),
        ("fleet_id=fleet-001&limit=1", vec![ids[1].clone()]),
        ("", vec![ids[1].clone(), ids[0].clone()]),
    ] {
        let (st, page) = s.get(&format!("/api/v1/missions?{query}"), &operator).await;
        assert_eq!(st, StatusCode::OK, "{query}: {page}");
        assert_eq!(listed_ids(&page), expected, "{query}");
    }
    let (_, limited) = s.get("/api/v1/missions?limit=1", &operator).await;
    assert_eq!(limited["total"], 2, "the total counts past the limit");

    let (st, b) = s
        .get("/api/v1/missions?fleet_id=fleet-003", &operator)
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (st, b) = s
        .get("/api/v1/missions?vehicle_id=fleet-001-VH-099", &operator)
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    for (query, field) in [
        ("status=LOST", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
    ] {
        let (st, b) = s.get(&format!("/api/v1/missions?{query}"), &operator).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}"
        );
    }
    let (st, _) = s.call(Method::GET, "/api/v1/missions", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_and_error_envelopes() {
    let s = TestServer::start(&[]).await;
    let (st, b) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((st, &b["status"]), (StatusCode::OK, &json!("ok")));
    let (st, b) = s.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((st, &b["store"]), (StatusCode::OK, &json!("sqlite")));

    let (st, doc) = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/fleet/{fleet_id}/summary",
        "/api/v1/fleet/{fleet_id}/vehicles",
        "/api/v1/telemetry/{vehicle_id}/latest",
        "/api/v1/telemetry/{vehicle_id}/history",
        "/api/v1/commands/{vehicle_id}",
        "/api/v1/commands/{vehicle_id}/history",
        "/api/v1/analytics/vehicle/{vehicle_id}/metrics",
        "/api/v1/analytics/vehicle/{vehicle_id}/speed-series",
        "/api/v1/analytics/fleet/{fleet_id}/performance",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/missions",
        "/api/v1/missions/{mission_id}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let docs = s.http.get(s.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui-bundle.js"));
    let bundle = s
        .http
        .get(s.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);

    // Produce some traffic, then read the metrics.
    let operator = s.token("operator").await;
    eventually("stored readings", || async {
        let (st, _) = s
            .get("/api/v1/telemetry/fleet-001-VH-001/latest", &operator)
            .await;
        (st == StatusCode::OK).then_some(())
    })
    .await;
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "vehicleops_telemetry_received_total",
        "vehicleops_pipeline_lag_seconds",
        "vehicleops_store_write_avg_seconds",
        "vehicleops_store_write_duration_seconds_bucket{le=\"+Inf\"}",
        "vehicleops_websocket_clients",
        "vehicleops_dead_letters_total",
        "# TYPE vehicleops_alerts_raised counter",
        "vehicleops_http_requests_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    let (st, b) = s.get("/api/v1/no-such-endpoint", &operator).await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (st, b) = s
        .call(Method::DELETE, "/api/v1/missions", Some(&operator), None)
        .await;
    assert_error(st, &b, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    let (st, _) = s.call(Method::GET, "/", None, None).await;
    assert_eq!(
        st,
        StatusCode::OK,
        "/ leads to the docs without a dashboard"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_are_served_when_present() {
    let dir = std::env::temp_dir().join(format!("vo-dash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>VehicleOps dashboard</h1>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    let s = TestServer::start(&["--dashboard-dir", dir.to_str().unwrap()]).await;
    let page = s
        .http
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("VehicleOps dashboard"));
    let js = s
        .http
        .get(s.url("/app.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(js, "console.log(1)");
    // Client-side routes fall back to the index; the API keeps its own 404s.
    let deep = s
        .http
        .get(s.url("/fleet/fleet-001"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(deep.contains("VehicleOps dashboard"));
    let (st, _) = s.call(Method::GET, "/api/v1/nothing", None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_pipeline_into_the_store() {
    use vehicleops_core::{HistoryQuery, TimeRange, TimeSeriesStore};
    let dir = std::env::temp_dir().join(format!("vo-drain-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("fleet.db");
    let s = TestServer::start(&[
        "--simulator",
        "false",
        "--sqlite-path",
        db.to_str().unwrap(),
    ])
    .await;
    let readings: Vec<_> = (1..=500)
        .map(|seq| reading("fleet-002-VH-777", "fleet-002", 30.0, seq))
        .collect();
    s.inject(readings).await;
    // Shut down at once: whatever was published must be stored before the server exits.
    s.stop().await;

    let store = vehicleops_store::SqliteStore::open(&db).unwrap();
    let range = TimeRange::new(
        chrono::Utc::now() - chrono::Duration::hours(1),
        chrono::Utc::now(),
    )
    .unwrap();
    let stored = store
        .history(&HistoryQuery {
            vehicle_id: "fleet-002-VH-777".into(),
            range,
            limit: 10_000,
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 500);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_query_windows_are_refused_never_panic_and_access_comes_first() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    // The operator may not see fleet-003: 403 before the window is even looked at.
    let (st, b) = s
        .get(
            "/api/v1/analytics/fleet/fleet-003/performance?to=-262143-01-01T00:00:00Z",
            &operator,
        )
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    for (query, field) in [
        ("to=-262143-01-01T00:00:00Z", "to"),
        ("from=-262143-01-01T00:00:00Z", "from"),
        ("to=%2B262142-12-31T23:59:59Z", "to"),
        ("from=1969-12-31T23:59:59Z&to=1970-01-02T00:00:00Z", "from"),
        ("from=2000-01-01T00:00:00Z&to=2002-01-01T00:00:00Z", "from"),
    ] {
        for path in [
            "/api/v1/analytics/fleet/fleet-001/performance",
            "/api/v1/analytics/vehicle/fleet-001-VH-001/metrics",
            "/api/v1/analytics/vehicle/fleet-001-VH-001/speed-series",
        ] {
            let (st, b) = s.get(&format!("{path}?{query}"), &operator).await;
            let got = assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");
            assert_eq!(got.as_deref(), Some(field), "{path}?{query}: {b}");
        }
    }
    // A window at the edge of what is allowed still answers.
    let (st, b) = s
        .get(
            "/api/v1/analytics/fleet/fleet-001/performance?from=1970-01-01T00:00:00Z&to=1971-01-01T00:00:00Z",
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.stop().await;
}
