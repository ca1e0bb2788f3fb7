//! A server process killed with SIGKILL mid-episode, mid-command and mid-mission, then started
//! again on the same SQLite file and Kafka consumer group: the alert episode continues (one
//! alert, then one clear), the command still ends EXPIRED, the mission completes from the
//! readings the new process reads.
//!
//! Needs `--features kafka` and `VEHICLEOPS_TEST_KAFKA` (bootstrap servers of
//! `scripts/kafka.sh`); without it the test prints SKIPPED and passes.

#![cfg(feature = "kafka")]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{SECRET, eventually_within};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use vehicleops_core::{Telemetry, TelemetryPublisher, Vehicle};
use vehicleops_engine::{Engine, EngineSettings, StoreSettings};
use vehicleops_kafka::{KafkaConfig, KafkaTelemetryPublisher, ProducerSettings};

const FLEET: &str = "fleet-001";
const DEADLINE: Duration = Duration::from_secs(90);
/// How often a wait polls the server.
const POLL: Duration = Duration::from_millis(100);
const START: (f64, f64) = (4.7110, -74.0721);
const WAYPOINT: (f64, f64) = (4.7130, -74.0721);

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server binary and waits until it answers.
async fn start(http: &Client, db: &Path, kafka: &str, run: &str) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_vehicleops-server"))
        .args(["--app-env", "demo", "--app-host", "127.0.0.1"])
        .args(["--app-port", &port.to_string(), "--secret-key", SECRET])
        .args(["--simulator", "false", "--dashboard-dir", "/nonexistent"])
        .args(["--store", "sqlite", "--sqlite-path"])
        .arg(db)
        .args(["--bus", "kafka", "--kafka-bootstrap-servers", kafka])
        .args(["--kafka-consumer-group", &format!("crash-{run}")])
        .args(["--kafka-topic-suffix", &format!("crash-{run}")])
        .args(["--command-delivery-timeout-seconds", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    eventually_within("the server answers", DEADLINE, POLL, || async {
        let r = http.get(format!("{}/readyz", server.base)).send().await;
        r.ok().filter(|r| r.status() == StatusCode::OK).map(|_| ())
    })
    .await;
    server
}

async fn token(http: &Client, base: &str) -> String {
    let r: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "operator@vehicleops.io", "password": "Operator123!"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

async fn get(http: &Client, base: &str, token: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn reading(vehicle: &str, seq: u64, speed_kmh: f64, (lat, lon): (f64, f64)) -> Telemetry {
    Telemetry {
        latitude: lat,
        longitude: lon,
        load_pct: 10.0,
        ..common::reading(vehicle, FLEET, speed_kmh, seq)
    }
}

async fn overspeed(http: &Client, base: &str, token: &str, vehicle: &str) -> Vec<Value> {
    let page = get(
        http,
        base,
        token,
        &format!("/api/v1/alerts?vehicle_id={vehicle}&acknowledged=false&limit=100"),
    )
    .await;
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .filter(|a| a["alert_type"] == "OVERSPEED")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_with_sigkill_is_taken_up_by_the_next_process() {
    let Some(kafka) = std::env::var("VEHICLEOPS_TEST_KAFKA")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        eprintln!("SKIPPED: set VEHICLEOPS_TEST_KAFKA (scripts/kafka.sh start) to run this test");
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let vehicle = format!("VH-CRASH-{run}");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    // The vehicle is registered before the server ever runs (commands need a registered one).
    {
        let engine = Engine::open(EngineSettings {
            store: StoreSettings::Sqlite {
                path: Some(db.clone()),
            },
            ..EngineSettings::default()
        })
        .await
        .unwrap();
        engine
            .register_fleet(FLEET, Some("Industrial Zone A"))
            .await
            .unwrap();
        engine
            .register_vehicle(Vehicle {
                id: vehicle.clone(),
                fleet_id: FLEET.into(),
                name: None,
                home: None,
            })
            .await
            .unwrap();
    }
    let mut config = KafkaConfig::new(kafka.clone());
    config.topics = config.topics.with_suffix(&format!("crash-{run}"));
    let http = Client::new();

    let first = start(&http, &db, &kafka, &run).await;
    let producer = KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap();
    let token = token(&http, &first.base).await;
    producer
        .publish(vec![
            reading(&vehicle, 1, 40.0, START),
            reading(&vehicle, 2, 95.0, START),
        ])
        .await
        .unwrap();
    let alert = eventually_within("the overspeed alert is stored", DEADLINE, POLL, || async {
        overspeed(&http, &first.base, &token, &vehicle).await.pop()
    })
    .await;
    let post = |path: String, body: Value| {
        let (http, token, base) = (http.clone(), token.clone(), first.base.clone());
        async move {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, command) = post(
        format!("/api/v1/commands/{vehicle}"),
        json!({"command": "STOP", "params": {"reason": "crash test"}}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{command}");
    let (st, mission) = post(
        "/api/v1/missions".into(),
        json!({"fleet_id": FLEET, "vehicle_id": vehicle, "mission_type": "DELIVERY",
               "waypoints": [{"latitude": WAYPOINT.0, "longitude": WAYPOINT.1, "order": 1}]}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{mission}");

    // SIGKILL: no drain, no close, no offsets committed beyond what was stored.
    drop(first);

    let second = start(&http, &db, &kafka, &run).await;
    producer
        .publish(vec![reading(&vehicle, 3, 96.0, START)])
        .await
        .unwrap();
    producer
        .publish(vec![reading(&vehicle, 4, 30.0, WAYPOINT)])
        .await
        .unwrap();
    let alerts = eventually_within("the episode is cleared", DEADLINE, POLL, || async {
        let a = overspeed(&http, &second.base, &token, &vehicle).await;
        a.iter().any(|a| a["cleared_at"].is_string()).then_some(a)
    })
    .await;
    assert_eq!(alerts.len(), 1, "one episode, one alert: {alerts:?}");
    assert_eq!(alerts[0]["id"], alert["id"]);

    let id = mission["id"].as_str().unwrap();
    let done = eventually_within("the mission completes", DEADLINE, POLL, || async {
        let m = get(
            &http,
            &second.base,
            &token,
            &format!("/api/v1/missions/{id}"),
        )
        .await;
        (m["status"] == "COMPLETED").then_some(m)
    })
    .await;
    assert_eq!(done["completed_waypoints"], 1, "{done}");

    let stop_id = command["id"].as_str().unwrap();
    let history = eventually_within("the STOP expires", DEADLINE, POLL, || async {
        let h = get(
            &http,
            &second.base,
            &token,
            &format!("/api/v1/commands/{vehicle}/history"),
        )
        .await;
        h["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == stop_id && c["status"] == "EXPIRED")
            .then_some(h)
    })
    .await;
    assert!(history["total"].as_u64().unwrap() >= 2, "{history}");
}
