//! Security headers on the dashboard, the docs and API answers: a Content-Security-Policy with
//! `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_docs_and_api_answers_carry_security_headers() {
    let dashboard = tempfile::tempdir().unwrap();
    std::fs::write(
        dashboard.path().join("index.html"),
        "<!doctype html><title>d</title>",
    )
    .unwrap();
    let dir = dashboard.path().to_str().unwrap();
    let s = TestServer::start(&["--dashboard-dir", dir]).await;
    let addr = s.server.local_addr();
    for (path, csp_has) in [
        ("/", vec!["script-src 'self'", "worker-src 'self' blob:"]),
        ("/fleets/fleet-001", vec!["script-src 'self'"]),
        ("/docs", vec!["script-src 'self'"]),
        ("/docs/swagger-ui-bundle.js", vec!["script-src 'self'"]),
        ("/healthz", vec!["default-src 'none'"]),
        ("/api/v1/fleets", vec!["default-src 'none'"]),
    ] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert!(
            r.status() == StatusCode::OK || r.status() == StatusCode::UNAUTHORIZED,
            "{path}: {}",
            r.status()
        );
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        for part in csp_has {
            assert!(csp.contains(part), "{path}: {csp} lacks {part}");
        }
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        if path == "/" {
            assert!(csp.contains(&format!("ws://{addr}")), "{csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    s.stop().await;
}
