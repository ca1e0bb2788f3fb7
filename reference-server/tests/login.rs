//! Login hardening over real HTTP: the failure limit holds under concurrent guesses, is kept
//! per client behind a trusted proxy (and only then believes `X-Forwarded-For`), oversize
//! credentials are refused before any hashing, and tokens are bound to the server's mode.

mod common;

use std::path::PathBuf;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn login_from(
    s: &TestServer,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> StatusCode {
    let mut req = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_guesses_never_pass_the_limit() {
    let s = TestServer::start(&["--login-max-failures", "3"]).await;
    let guesses = (0..50).map(|i| {
        let s = &s;
        async move { login_from(s, None, "manager@vehicleops.io", &format!("guess-{i}")).await }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let count = |code: StatusCode| statuses.iter().filter(|s| **s == code).count();
    let verified = count(StatusCode::UNAUTHORIZED);
    assert!(
        verified <= 3,
        "{verified} guesses reached password verification, the limit is 3: {statuses:?}"
    );
    assert!(count(StatusCode::TOO_MANY_REQUESTS) >= 47, "{statuses:?}");
    assert_eq!(
        verified + count(StatusCode::TOO_MANY_REQUESTS) + count(StatusCode::SERVICE_UNAVAILABLE),
        50,
        "{statuses:?}"
    );
    // The right password is refused too while the e-mail is locked.
    let r = s.login("manager@vehicleops.io", "Manager123!").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_is_limited_on_its_own() {
    let s = TestServer::start(&[
        "--login-max-failures",
        "2",
        "--trusted-proxies",
        "192.0.2.1,127.0.0.1",
    ])
    .await;
    let a = Some("203.0.113.1");
    // Different e-mails, so only the address is limited.
    for i in 0..2 {
        let st = login_from(&s, a, &format!("a{i}@example.com"), "wrong").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&s, a, "a2@example.com", "wrong").await,
        StatusCode::TOO_MANY_REQUESTS,
        "client A is limited"
    );
    // A client claiming to be someone else is still A: the proxy appends the real address.
    assert_eq!(
        login_from(
            &s,
            Some("198.51.100.9, 203.0.113.1"),
            "a3@example.com",
            "wrong"
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy is not.
    assert_eq!(
        login_from(&s, Some("203.0.113.2"), "b0@example.com", "wrong").await,
        StatusCode::UNAUTHORIZED,
        "client B is not locked out by A"
    );
    let r = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.3")
        .json(&json!({"email": "operator@vehicleops.io", "password": "Operator123!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let s = TestServer::start(&["--login-max-failures", "2"]).await;
    for i in 0..2 {
        let st = login_from(&s, Some("203.0.113.1"), &format!("a{i}@example.com"), "x").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&s, Some("203.0.113.2"), "b0@example.com", "x").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up X-Forwarded-For does not get a fresh allowance"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_credentials_are_refused_naming_the_field() {
    let s = TestServer::start(&["--login-max-failures", "2"]).await;
    let call = |email: String, password: String| {
        let s = &s;
        async move {
            let r = s.login(&email, &password).await;
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }
    };
    let long_email = format!("{}@example.com", "a".repeat(255 - 12));
    assert_eq!(long_email.len(), 255);
    let (st, body) = call(long_email, "x".into()).await;
    let field = assert_error(st, &body, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");
    assert_eq!(field.as_deref(), Some("email"), "{body}");

    let (st, body) = call("operator@vehicleops.io".into(), "p".repeat(1025)).await;
    let field = assert_error(st, &body, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");
    assert_eq!(field.as_deref(), Some("password"), "{body}");

    // At the limits the request is an ordinary (failed) login.
    let (st, _) = call(
        format!("{}@example.com", "a".repeat(254 - 12)),
        "p".repeat(1024),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Refused sizes were not counted as failures (the limit is 2, one was used above).
    let (st, _) = call("operator@vehicleops.io".into(), "Operator123!".into()).await;
    assert_eq!(st, StatusCode::OK);
    s.stop().await;
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vo-login-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_token_is_refused_by_a_development_server_sharing_its_key_file() {
    let dir = scratch_dir("mode");
    let key_file = dir.join("secret-key");
    let key_flag = ["--secret-key-file", key_file.to_str().unwrap()];

    let demo = TestServer::start_without_secret_key(&key_flag).await;
    let token = demo.token("admin").await;
    let (st, _) = demo.get("/api/v1/fleets", &token).await;
    assert_eq!(st, StatusCode::OK);
    demo.stop().await;

    let mut args = key_flag.to_vec();
    args.extend(["--app-env", "development", "--simulator", "false"]);
    let development = TestServer::start_without_secret_key(&args).await;
    let (st, body) = development.get("/api/v1/fleets", &token).await;
    assert_error(st, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    development.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
