//! Two server instances on real PostgreSQL and Kafka (the production topology): ingest through
//! the consumer group into PostgreSQL, REST and tokens served by either instance, WebSocket
//! fan-out through the processed topic, and a command dispatched on one instance executed by
//! the simulator attached to the other.
//!
//! Needs `--features postgres,kafka` and the services of `scripts/pg.sh` and `scripts/kafka.sh`:
//! `VEHICLEOPS_TEST_DATABASE_URL` and `VEHICLEOPS_TEST_KAFKA` (bootstrap servers). Without them
//! the test prints SKIPPED and passes.

#![cfg(all(feature = "postgres", feature = "kafka"))]

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use vehicleops_server::app;
use vehicleops_server::config::Config;

fn services() -> Option<(String, String)> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (
        get("VEHICLEOPS_TEST_DATABASE_URL"),
        get("VEHICLEOPS_TEST_KAFKA"),
    ) {
        (Some(db), Some(kafka)) => Some((db, kafka)),
        _ => {
            eprintln!(
                "SKIPPED: set VEHICLEOPS_TEST_DATABASE_URL (scripts/pg.sh start) and \
                 VEHICLEOPS_TEST_KAFKA (scripts/kafka.sh start) to run this test"
            );
            None
        }
    }
}

async fn instance(db: &str, kafka: &str, run: &str, simulator: bool) -> app::RunningServer {
    let fleet = format!("fleet-it-{run}");
    let group = format!("vehicleops-it-{run}");
    let suffix = format!(".it-{run}");
    let email = format!("admin-{run}@vehicleops.io");
    let args = [
        "vehicleops-server",
        "--app-env",
        "production",
        "--app-host",
        "127.0.0.1",
        "--app-port",
        "0",
        "--secret-key",
        SECRET,
        "--admin-email",
        &email,
        "--admin-password",
        "Integration123!",
        "--store",
        "postgres",
        "--database-url",
        db,
        "--bus",
        "kafka",
        "--kafka-bootstrap-servers",
        kafka,
        "--kafka-consumer-group",
        &group,
        "--kafka-topic-suffix",
        &suffix,
        "--simulator",
        if simulator { "true" } else { "false" },
        "--simulator-fleet",
        &fleet,
        "--simulator-vehicles",
        "3",
        "--simulator-interval-ms",
        "250",
        "--simulator-scenario",
        "normal",
        "--dashboard-dir",
        "/nonexistent",
        // Leaves room for consumer groups forming on a broker that other suites keep busy.
        "--command-delivery-timeout-seconds",
        "30",
    ];
    app::start(Config::load_from(args).unwrap())
        .await
        .expect("instance starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_ingest_rest_websocket_and_commands() {
    let Some((db, kafka)) = services() else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let run = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let fleet = format!("fleet-it-{run}");
    let a = instance(&db, &kafka, &run, true).await;
    let b = instance(&db, &kafka, &run, false).await;
    let http = reqwest::Client::new();
    let (base_a, base_b) = (
        format!("http://{}", a.local_addr()),
        format!("http://{}", b.local_addr()),
    );

    // A token issued by A works on B: same key, no server-side session.
    let login: Value = http
        .post(format!("{base_a}/api/v1/auth/login"))
        .json(
            &json!({"email": format!("admin-{run}@vehicleops.io"), "password": "Integration123!"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    assert_eq!(login["operator"]["role"], "ADMIN");
    let get = |url: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // Readings ingested through Kafka land in PostgreSQL, visible from B.
    let summary = eventually("readings stored in PostgreSQL", || {
        let url = format!("{base_b}/api/v1/fleet/{fleet}/summary");
        let get = &get;
        async move {
            let (st, b) = get(url).await;
            (st == StatusCode::OK && b["last_updated"].is_string()).then_some(b)
        }
    })
    .await;
    assert_eq!(summary["total_vehicles"], 3);

    // B's WebSocket clients see A's readings through the processed topic.
    let (mut ws, _) = connect_async(format!(
        "ws://{}/ws/fleet/{fleet}?token={token}",
        b.local_addr()
    ))
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a live update")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["fleet_id"] == fleet.as_str() && v.get("vehicle_id").is_some() {
                break;
            }
        }
    }

    // A command dispatched on B reaches the simulator behind A and comes back EXECUTED — the
    // first one sent: B runs no simulator, so it takes none of the commands meant for A's.
    let vehicle = format!("{fleet}-VH-001");
    let r = http
        .post(format!("{base_b}/api/v1/commands/{vehicle}"))
        .bearer_auth(&token)
        .json(&json!({"command": "STOP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = eventually("the command reaches a final status", || {
        let url = format!("{base_a}/api/v1/commands/{vehicle}/history");
        let (get, id) = (&get, &id);
        async move {
            let (_, h) = get(url).await;
            h["data"]
                .as_array()
                .and_then(|d| d.iter().find(|c| c["id"] == id.as_str()))
                .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
                .filter(|s| s != "DISPATCHED" && s != "DELIVERED")
        }
    })
    .await;
    assert_eq!(status, "EXECUTED");

    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
