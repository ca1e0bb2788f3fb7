//! `POST /api/v1/commands/{vehicle_id}` with an `Idempotency-Key`: a retry answers with the
//! original command and sends nothing new; bad keys are a 422 naming the header; the OpenAPI
//! document lists the header.

mod common;

use common::*;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const VEHICLE: &str = "fleet-001-VH-001";

async fn dispatch(
    s: &TestServer,
    token: &str,
    keys: &[HeaderValue],
    body: Value,
) -> (StatusCode, Value) {
    let mut req = s
        .http
        .post(s.url(&format!("/api/v1/commands/{VEHICLE}")))
        .bearer_auth(token)
        .json(&body);
    for key in keys {
        req = req.header("Idempotency-Key", key.clone());
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn key(k: &str) -> Vec<HeaderValue> {
    vec![HeaderValue::from_str(k).unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_idempotency_key_returns_the_original_command() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let stop = json!({"command": "STOP", "params": {"reason": "inspection"}});

    let (st, first) = dispatch(&s, &operator, &key("retry-7f3c"), stop.clone()).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    let issued: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(first["issued_at"].clone()).unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(first["expires_at"].clone()).unwrap();
    assert!(expires > issued, "{first}");

    let (st, again) = dispatch(&s, &operator, &key("retry-7f3c"), stop.clone()).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["id"], id.as_str(), "the original command");
    assert_eq!(again["issued_at"], first["issued_at"]);

    let (st, h) = s
        .get(&format!("/api/v1/commands/{VEHICLE}/history"), &operator)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["total"], 1, "one command dispatched: {h}");
    assert_eq!(h["data"][0]["id"], id.as_str());
    assert_eq!(h["data"][0]["idempotency_key"], "retry-7f3c");
    assert_eq!(h["data"][0]["expires_at"], first["expires_at"]);

    // The key reused for something else is a conflict; another operator's key is its own.
    let (st, b) = dispatch(
        &s,
        &operator,
        &key("retry-7f3c"),
        json!({"command": "RESUME"}),
    )
    .await;
    assert_error(st, &b, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("used for a different command"),
        "{b}"
    );
    let admin = s.token("admin").await;
    let (st, other) = dispatch(&s, &admin, &key("retry-7f3c"), stop).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{other}");
    assert_ne!(other["id"], id.as_str());
    let (_, h) = s
        .get(&format!("/api/v1/commands/{VEHICLE}/history"), &operator)
        .await;
    assert_eq!(h["total"], 2, "{h}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_idempotency_key_is_a_422_naming_the_header() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let stop = json!({"command": "STOP"});
    let bad: Vec<(&str, Vec<HeaderValue>)> = vec![
        ("empty", key("")),
        ("too long", key(&"k".repeat(201))),
        (
            "not ASCII",
            vec![HeaderValue::from_bytes(b"caf\xe9").unwrap()],
        ),
        ("a tab", key("a\tb")),
        (
            "given twice",
            vec![HeaderValue::from_static("a"), HeaderValue::from_static("b")],
        ),
    ];
    for (what, keys) in bad {
        let (st, b) = dispatch(&s, &operator, &keys, stop.clone()).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some("Idempotency-Key"),
            "{what}: {b}"
        );
    }
    let (_, h) = s
        .get(&format!("/api/v1/commands/{VEHICLE}/history"), &operator)
        .await;
    assert_eq!(h["total"], 0, "nothing dispatched: {h}");

    // The longest key accepted, and the header in the OpenAPI document.
    let (st, b) = dispatch(&s, &operator, &key(&"k".repeat(200)), stop).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");
    let (st, doc) = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    let params = doc["paths"]["/api/v1/commands/{vehicle_id}"]["post"]["parameters"]
        .as_array()
        .unwrap();
    let header = params
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap_or_else(|| panic!("Idempotency-Key missing from {params:?}"));
    assert_eq!(header["in"], "header");
    assert_ne!(header["required"], true);
    assert!(
        doc["components"]["schemas"]["CommandDispatched"]["properties"]
            .get("expires_at")
            .is_some()
    );
    s.stop().await;
}
