//! The server's logs, at the most verbose level, never contain a password, token or key.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use reqwest::StatusCode;

/// Collects everything written by the tracing subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything the server side logs; the test's own HTTP and WebSocket clients are left out
    // (a client logging the URL it was given is not the server leaking it).
    tracing_subscriber::fmt()
        .with_env_filter(
            "trace,tungstenite=off,tokio_tungstenite=off,reqwest=off,hyper_util::client=off",
        )
        .with_writer(move || writer.clone())
        .init();

    let s = TestServer::start(&[]).await;
    let token = s.token("operator").await;
    let (st, _) = s.get("/api/v1/fleet/fleet-001/summary", &token).await;
    assert_eq!(st, StatusCode::OK);
    let r = s.login("manager@vehicleops.io", "Wrong-Password-42").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/fleet/fleet-001?token={token}", s.ws_base))
            .await
            .unwrap();
    drop(ws);
    s.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("login"),
        "the capture works: {}",
        &logs[..logs.len().min(500)]
    );
    for secret in [
        token.as_str(),
        SECRET,
        "Operator123!",
        "Wrong-Password-42",
        "Manager123!",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
    // Not even a part of the token (its signature) appears.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature));
}
