//! Without `SECRET_KEY`, a demo server keeps its generated token key in a file, so the tokens
//! it issued (an open dashboard's) are still accepted after a restart.

mod common;

use std::path::PathBuf;

use common::*;
use reqwest::StatusCode;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vo-key-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_restart_with_the_same_key_file_only() {
    let dir = scratch_dir("restart");
    let key_file = dir.join("secret-key");
    let key_flag = ["--secret-key-file", key_file.to_str().unwrap()];

    let first = TestServer::start_without_secret_key(&key_flag).await;
    let token = first.token("operator").await;
    first.stop().await;
    assert!(key_file.exists(), "the generated key is kept");

    let restarted = TestServer::start_without_secret_key(&key_flag).await;
    let (st, body) = restarted.get("/api/v1/fleets", &token).await;
    assert_eq!(st, StatusCode::OK, "the old token still works: {body}");
    restarted.stop().await;

    // A server with another key (another file) refuses it.
    let elsewhere = dir.join("another-key");
    let other =
        TestServer::start_without_secret_key(&["--secret-key-file", elsewhere.to_str().unwrap()])
            .await;
    let (st, body) = other.get("/api/v1/fleets", &token).await;
    assert_error(st, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    other.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
