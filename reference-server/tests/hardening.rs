//! Limits from the security review (issue 15), against real servers: request-body list caps,
//! the header-read and request timeouts, WebSocket message size, sessions per operator and token expiry, demo
//! mode on a public address, and the bounded HTTP method label.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use vehicleops_server::app;
use vehicleops_server::auth::TokenService;
use vehicleops_server::config::{AppEnv, Config};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn waypoints(n: usize) -> Value {
    (0..n)
        .map(|i| json!({"latitude": 4.7 + i as f64 * 1e-5, "longitude": -74.07, "order": i + 1}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_lists_and_texts_are_capped() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let path = "/api/v1/commands/fleet-001-VH-001";

    let (st, b) = s
        .post(
            path,
            &operator,
            json!({"command": "REROUTE", "params": {"waypoints": waypoints(1001)}}),
        )
        .await;
    let field = assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");
    assert_eq!(field.as_deref(), Some("params.waypoints"), "{b}");

    let (st, b) = s
        .post(
            path,
            &operator,
            json!({"command": "STOP", "params": {"reason": "x".repeat(501)}}),
        )
        .await;
    let field = assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");
    assert_eq!(field.as_deref(), Some("params.reason"), "{b}");

    // At the caps, accepted.
    let (st, b) = s
        .post(
            path,
            &operator,
            json!({"command": "REROUTE", "params": {"waypoints": waypoints(1000), "reason": "é".repeat(500)}}),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{b}");

    let (st, b) = s
        .post(
            "/api/v1/missions",
            &operator,
            json!({"fleet_id": "fleet-001", "vehicle_id": "fleet-001-VH-002",
                   "mission_type": "DELIVERY", "waypoints": waypoints(1001)}),
        )
        .await;
    let field = assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE");
    assert_eq!(field.as_deref(), Some("waypoints"), "{b}");
    s.stop().await;
}

/// Slow-loris: a client that sends its headers a byte at a time, or opens a connection and
/// sends nothing, loses the connection after the header-read timeout; a normal request on a
/// kept-alive connection is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let s = TestServer::start(&["--header-read-timeout-seconds", "1"]).await;
    let closed = |mut tcp: TcpStream| async move {
        tokio::time::timeout(PATIENCE, async {
            let mut buf = [0u8; 1024];
            // Some servers answer 408 before closing; either way the socket ends.
            while tcp.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        })
        .await
        .is_ok()
    };

    let silent = TcpStream::connect(s.server.local_addr()).await.unwrap();
    let mut dribbling = TcpStream::connect(s.server.local_addr()).await.unwrap();
    dribbling
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let dribble = tokio::spawn(async move {
        for byte in b"Host: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if dribbling.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        dribbling
    });
    assert!(
        closed(silent).await,
        "a connection that sends nothing stays open"
    );
    let dribbling = dribble.await.unwrap();
    assert!(
        closed(dribbling).await,
        "a connection dribbling its headers stays open"
    );

    // An ordinary client is unaffected.
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_body_never_arrives_times_out() {
    let s = TestServer::start(&["--request-timeout-seconds", "1"]).await;
    let mut tcp = TcpStream::connect(s.server.local_addr()).await.unwrap();
    // Headers promise a body that never comes.
    tcp.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\"",
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer to a request stuck reading its body"
    );
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");

    // A WebSocket session is not a request in progress: it outlives the timeout. Its token is
    // issued here, as a login would: a login's password hashing can itself take longer than
    // this server's 1 s request timeout on a busy machine.
    let account = s
        .server
        .engine()
        .store()
        .operator_by_email("operator@vehicleops.io")
        .await
        .unwrap()
        .expect("the demo operator");
    let operator = TokenService::new(SECRET.as_bytes(), Duration::from_secs(600), AppEnv::Demo)
        .issue(&account)
        .unwrap();
    let mut ws = connect(&s, &operator).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ws.send(Message::Text("ping".into())).await.unwrap();
    let pong = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "pong" => return true,
                Some(Ok(_)) => {}
                _ => return false,
            }
        }
    })
    .await
    .expect("an answer to ping");
    assert!(pong, "the session ended");
    s.stop().await;
}

async fn connect(s: &TestServer, token: &str) -> Result<Ws, WsError> {
    connect_async(format!("{}/ws/fleet/fleet-001?token={token}", s.ws_base))
        .await
        .map(|(ws, _)| ws)
}

/// Reads until the server ends the session; its close frame, if it sent one.
async fn closed(ws: &mut Ws, what: &str) -> Option<CloseFrame> {
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await;
    ended.unwrap_or_else(|_| panic!("the server did not close the socket: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_websocket_message_closes_the_socket() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let mut ws = connect(&s, &operator).await.unwrap();
    // A small message is fine.
    ws.send(Message::Text("ping".into())).await.unwrap();
    let big = "x".repeat(2 << 20);
    // The server may close while the message is still being written.
    let _ = ws.send(Message::Text(big.into())).await;
    let frame = closed(&mut ws, "2 MiB message").await;
    if let Some(f) = frame {
        assert_eq!(u16::from(f.code), 1009, "{f:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_has_at_most_the_allowed_sessions() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(connect(&s, &operator).await.expect("within the cap"));
    }
    match connect(&s, &operator).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"], "TOO_MANY_REQUESTS", "{body}");
        }
        Ok(_) => panic!("a 9th session was accepted"),
        Err(e) => panic!("unexpected error: {e}"),
    }
    // Another operator is not affected.
    let manager = s.token("manager").await;
    connect(&s, &manager).await.expect("another operator");
    // Closing one session frees its place.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    let _ = closed(&mut first, "client close").await;
    let again = eventually("a freed place", || async {
        connect(&s, &operator).await.ok()
    })
    .await;
    drop(again);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_when_its_token_expires() {
    let s = TestServer::start(&[]).await;
    // A token valid for 2 s, signed with the server's key as its TokenService signs them.
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "op-admin", "email": "admin@vehicleops.io", "role": "ADMIN", "fleet_ids": [],
        "iat": now, "exp": now + 2, "iss": "vehicleops", "mode": "demo",
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let mut ws = connect(&s, &token).await.expect("token still valid");
    let frame = closed(&mut ws, "token expiry")
        .await
        .expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008, "{frame:?}");
    assert_eq!(frame.reason.as_str(), "token expired");
    s.stop().await;
}

fn demo_args(host: &str) -> Vec<String> {
    [
        "vehicleops-server",
        "--app-env",
        "demo",
        "--app-host",
        host,
        "--app-port",
        "0",
        "--secret-key",
        SECRET,
        "--simulator",
        "false",
        "--dashboard-dir",
        "/nonexistent-dashboard",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_refuses_a_public_address_unless_allowed() {
    let config = Config::load_from(demo_args("0.0.0.0")).unwrap();
    let e = app::start(config).await.unwrap_err().to_string();
    assert!(e.contains("VEHICLEOPS_DEMO_ALLOW_PUBLIC"), "{e}");
    assert!(e.contains("0.0.0.0"), "{e}");

    let mut args = demo_args("0.0.0.0");
    args.extend(["--demo-allow-public".into(), "true".into()]);
    let server = app::start(Config::load_from(args).unwrap())
        .await
        .expect("allowed explicitly");
    server.shutdown().await.unwrap();

    let server = app::start(Config::load_from(demo_args("127.0.0.1")).unwrap())
        .await
        .expect("loopback is fine");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_add_one_metrics_series() {
    let s = TestServer::start(&[]).await;
    for i in 0..300 {
        let method = Method::from_bytes(format!("M{i}ETHOD").as_bytes()).unwrap();
        let r = s
            .http
            .request(method, s.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let methods: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("vehicleops_http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.contains("OTHER"), "{methods:?}");
    assert!(methods.len() <= 10, "{methods:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_no_address() {
    let s = TestServer::start(&[]).await;
    let r = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    let port = s.server.local_addr().port().to_string();
    assert!(
        !body.contains("127.0.0.1") && !body.contains(&port),
        "{body}"
    );
    s.stop().await;
}
