//! Shared test harness: a real server on 127.0.0.1:0 in demo mode with a small, fast simulator,
//! an HTTP client, logins, and telemetry injection through the in-process bus.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use vehicleops_core::Telemetry;
use vehicleops_server::app::{self, RunningServer};
use vehicleops_server::config::Config;

pub const SECRET: &str = "test-secret-key-that-is-32-bytes!!";

/// Upper bound for waiting on something asynchronous (a guard against hanging, not a
/// performance assertion).
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct TestServer {
    pub server: RunningServer,
    pub base: String,
    pub ws_base: String,
    pub http: Client,
}

impl TestServer {
    /// Demo mode with 3 simulated vehicles in fleet-001 ticking every 200 ms, plus `extra` flags.
    pub async fn start(extra: &[&str]) -> TestServer {
        let mut args = vec!["--secret-key", SECRET];
        args.extend_from_slice(extra);
        TestServer::start_without_secret_key(&args).await
    }

    /// Like [`TestServer::start`] but without `--secret-key`: the server generates its key or
    /// takes it from its key file (`--secret-key-file` in `extra`).
    pub async fn start_without_secret_key(extra: &[&str]) -> TestServer {
        let mut args = vec![
            "vehicleops-server",
            "--app-env",
            "demo",
            "--app-host",
            "127.0.0.1",
            "--app-port",
            "0",
            "--simulator",
            "true",
            "--simulator-vehicles",
            "3",
            "--simulator-interval-ms",
            "200",
            "--simulator-scenario",
            "normal",
            "--dashboard-dir",
            "/nonexistent-dashboard",
        ];
        args.extend_from_slice(extra);
        let config = Config::load_from(args).expect("test config");
        let server = app::start(config).await.expect("server starts");
        let addr = server.local_addr();
        TestServer {
            base: format!("http://{addr}"),
            ws_base: format!("ws://{addr}"),
            server,
            http: Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// A token for one of the demo accounts: "admin", "manager" or "operator".
    pub async fn token(&self, who: &str) -> String {
        let password = match who {
            "admin" => "Admin123!",
            "manager" => "Manager123!",
            _ => "Operator123!",
        };
        let r = self.login(&format!("{who}@vehicleops.io"), password).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a request with a bearer token and an optional JSON body; returns status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Publishes readings into the server's ingest pipeline.
    pub async fn inject(&self, readings: Vec<Telemetry>) {
        self.server.engine().publish(readings).await.unwrap();
    }

    pub async fn stop(self) {
        self.server.shutdown().await.unwrap();
    }
}

/// A valid reading of `vehicle_id` in `fleet_id`, `seconds_ago` seconds old.
pub fn reading(vehicle_id: &str, fleet_id: &str, speed_kmh: f64, seq: u64) -> Telemetry {
    serde_json::from_value(json!({
        "vehicle_id": vehicle_id,
        "fleet_id": fleet_id,
        "latitude": 4.7110 + seq as f64 * 1e-5,
        "longitude": -74.0721,
        "speed_kmh": speed_kmh,
        "battery_pct": 80.0,
        "engine_temp_c": 70.0,
        "load_pct": 50.0,
        "status": "MOVING",
        "timestamp": chrono::Utc::now(),
        "seq": seq,
    }))
    .unwrap()
}

/// Asserts the error envelope and returns its `field`.
pub fn assert_error(
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    code: &str,
) -> Option<String> {
    assert_eq!(status, expected, "body: {body}");
    assert_eq!(body["status_code"], expected.as_u16(), "body: {body}");
    assert_eq!(body["error"], code, "body: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "body: {body}"
    );
    body["field"].as_str().map(str::to_owned)
}

/// Polls `check` until it returns `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, PATIENCE, Duration::from_millis(50), check).await
}

/// Polls `check` every `every` until it returns `Some`, failing the test after `patience`.
pub async fn eventually_within<T, F, Fut>(
    what: &str,
    patience: Duration,
    every: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}
