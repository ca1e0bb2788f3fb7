//! The audit trail through the API: logins (both outcomes, with the client's address),
//! commands, missions and alert acknowledgements are recorded with who and what; ADMIN reads
//! everything, MANAGER their fleets' entries, OPERATOR nothing; filters and pages.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn actions(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_records_who_did_what_and_shows_it_by_role() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let manager = s.token("manager").await;
    let admin = s.token("admin").await;
    let wrong = s.login("operator@vehicleops.io", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // A command, an alert acknowledged (an overspeed of a fleet-002 vehicle), a mission
    // created and cancelled.
    let (st, command) = s
        .post(
            "/api/v1/commands/fleet-001-VH-001",
            &operator,
            json!({"command": "STOP", "params": {"reason": "aisle blocked"}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{command}");
    s.inject(vec![reading("fleet-002-VH-900", "fleet-002", 95.0, 1)])
        .await;
    let alert = eventually("the overspeed alert", || async {
        let (_, b) = s.get("/api/v1/alerts?fleet_id=fleet-002", &operator).await;
        b["data"].get(0).cloned()
    })
    .await;
    let alert_id = alert["id"].as_str().unwrap();
    let (st, _) = s
        .post(
            &format!("/api/v1/alerts/{alert_id}/acknowledge"),
            &operator,
            json!({"notes": "driver called"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, mission) = s
        .post(
            "/api/v1/missions",
            &manager,
            json!({"vehicle_id": "fleet-001-VH-002", "fleet_id": "fleet-001",
                   "mission_type": "DELIVERY",
                   "waypoints": [{"latitude": 4.72, "longitude": -74.06, "order": 1}]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{mission}");
    let mission_id = mission["id"].as_str().unwrap();
    let (st, _) = s
        .post(
            &format!("/api/v1/missions/{mission_id}/cancel"),
            &manager,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // ADMIN: everything, newest first.
    let (st, all) = s.get("/api/v1/audit", &admin).await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(
        actions(&all),
        [
            "MISSION_CANCELLED",
            "MISSION_CREATED",
            "ALERT_ACKNOWLEDGED",
            "COMMAND_DISPATCHED",
            "LOGIN_FAILED",
            "LOGIN_SUCCEEDED",
            "LOGIN_SUCCEEDED",
            "LOGIN_SUCCEEDED",
        ]
    );
    let entry = |action: &str| {
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .unwrap()
            .clone()
    };
    let dispatched = entry("COMMAND_DISPATCHED");
    assert_eq!(dispatched["actor"], "op-001");
    assert_eq!(dispatched["fleet_id"], "fleet-001");
    assert_eq!(dispatched["vehicle_id"], "fleet-001-VH-001");
    assert_eq!(dispatched["target_id"], command["id"]);
    assert_eq!(dispatched["detail"], "STOP: aisle blocked");
    let failed = entry("LOGIN_FAILED");
    assert_eq!(failed["actor"], "operator@vehicleops.io");
    assert_eq!(failed["source"], "127.0.0.1");
    assert_eq!(entry("ALERT_ACKNOWLEDGED")["target_id"], alert_id);
    assert_eq!(
        entry("ALERT_ACKNOWLEDGED")["detail"],
        "OVERSPEED: driver called"
    );
    assert_eq!(entry("MISSION_CREATED")["actor"], "op-manager");
    assert_eq!(entry("MISSION_CREATED")["target_id"], mission_id);

    // MANAGER: their fleets' entries only (logins have none); OPERATOR: refused.
    let (st, theirs) = s.get("/api/v1/audit", &manager).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        actions(&theirs),
        [
            "MISSION_CANCELLED",
            "MISSION_CREATED",
            "ALERT_ACKNOWLEDGED",
            "COMMAND_DISPATCHED"
        ]
    );
    let (st, b) = s.get("/api/v1/audit", &operator).await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Filters, and pages of two that follow the cursor to the end.
    let (_, failed_only) = s.get("/api/v1/audit?action=LOGIN_FAILED", &admin).await;
    assert_eq!(actions(&failed_only), ["LOGIN_FAILED"]);
    let (_, by_actor) = s.get("/api/v1/audit?actor=op-manager", &admin).await;
    assert_eq!(by_actor["data"].as_array().unwrap().len(), 3, "{by_actor}");
    let (_, fleet_2) = s.get("/api/v1/audit?fleet_id=fleet-002", &manager).await;
    assert_eq!(actions(&fleet_2), ["ALERT_ACKNOWLEDGED"]);
    let mut seen = Vec::new();
    let mut url = "/api/v1/audit?limit=2".to_string();
    loop {
        let (st, page) = s.get(&url, &admin).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        seen.extend(actions(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let mut next = reqwest::Url::parse("http://server/api/v1/audit").unwrap();
                next.query_pairs_mut()
                    .append_pair("limit", "2")
                    .append_pair("cursor", cursor);
                url = format!("{}?{}", next.path(), next.query().unwrap());
            }
            None => break,
        }
    }
    assert_eq!(seen, actions(&all));

    for (query, field) in [
        ("action=LOGOUT", "action"),
        ("limit=0", "limit"),
        ("cursor=nonsense", "cursor"),
    ] {
        let (st, b) = s.get(&format!("/api/v1/audit?{query}"), &admin).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}: {b}"
        );
    }
    let (st, b) = s.get("/api/v1/audit?fleet_id=fleet-999", &manager).await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    s.stop().await;
}
