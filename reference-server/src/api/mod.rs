//! The HTTP surface: shared state, the router, the OpenAPI document, Swagger UI, health and
//! readiness.

pub mod audit;
pub mod dto;
pub mod export;
pub mod handlers;
pub mod history;
pub mod reports;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::cors::CorsLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use vehicleops_core::Fleet;
use vehicleops_engine::Engine;

use crate::auth::{LoginLimiter, Principal, TokenService};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::{Metrics, serve_metrics, track_http};
use dto::*;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The system itself: every handler delegates to it.
    pub engine: Engine,
    pub tokens: Arc<TokenService>,
    pub limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    /// A valid argon2 hash checked when a login names an unknown e-mail (equal timing).
    pub dummy_hash: Arc<str>,
    /// False once shutdown has begun; `/readyz` then reports 503.
    pub ready: Arc<AtomicBool>,
    /// Open WebSocket sessions per operator, and how many one may have.
    pub ws_sessions: Arc<crate::ws::SessionLimits>,
    /// Longest an HTTP request may take (408 past it).
    pub request_timeout: Duration,
}

impl AppState {
    /// The fleet, if the caller may see it: 403 first (so existence does not leak), then 404.
    pub async fn fleet(&self, principal: &Principal, fleet_id: &str) -> Result<Fleet, ApiError> {
        principal.require_fleet(fleet_id)?;
        self.engine
            .store()
            .get_fleet(fleet_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("Fleet {fleet_id} not found")))
    }

    /// The fleet of a vehicle (registered, or only seen in telemetry) if the caller may see it.
    pub async fn vehicle(
        &self,
        principal: &Principal,
        vehicle_id: &str,
    ) -> Result<String, ApiError> {
        let fleet_id = match self.engine.store().get_vehicle(vehicle_id).await? {
            Some(v) => v.fleet_id,
            None => self
                .engine
                .latest(vehicle_id)
                .await?
                .map(|t| t.fleet_id)
                .ok_or_else(|| ApiError::not_found(format!("Vehicle {vehicle_id} not found")))?,
        };
        principal.require_fleet(&fleet_id)?;
        Ok(fleet_id)
    }
}

/// The OpenAPI 3 document of the REST API.
#[derive(OpenApi)]
#[openapi(
    info(title = "VehicleOps API", description = "Fleet telemetry, commands, analytics, alerts and missions. \
        Live telemetry: `WS /ws/fleet/{fleet_id}?token=…` (see docs/api.md)."),
    paths(
        handlers::login,
        handlers::list_fleets,
        handlers::fleet_summary,
        handlers::fleet_vehicles,
        handlers::vehicle_capabilities,
        handlers::telemetry_latest,
        handlers::telemetry_history,
        handlers::dispatch_command,
        handlers::command_history,
        handlers::vehicle_metrics,
        handlers::speed_series,
        handlers::metric_series,
        handlers::fleet_performance,
        handlers::list_alerts,
        handlers::acknowledge_alert,
        handlers::create_mission,
        handlers::list_missions,
        handlers::get_mission,
        handlers::cancel_mission,
        history::vehicle_path,
        history::fleet_snapshot,
        export::export,
        reports::fleet_report,
        audit::list_audit,
    ),
    components(schemas(
        ErrorBody, CommandName, StatusName, SeverityName, MetricName, MissionTypeName, PriorityName,
        MissionStatusName
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth"), (name = "fleet"), (name = "telemetry"), (name = "commands"),
        (name = "analytics"), (name = "alerts"), (name = "missions"), (name = "history"), (name = "audit"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

const SWAGGER_BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VehicleOps API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>"#;
const DOCS_INIT: &str = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });";

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn healthz() -> Json<HealthOut> {
    Json(HealthOut {
        status: "ok".into(),
    })
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<ReadyOut>) {
    if !state.ready.load(Ordering::Relaxed) {
        let body = ReadyOut {
            status: "shutting_down".into(),
            store: None,
            detail: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let (status, body) = ready_response(state.engine.store_status().await);
    (status, Json(body))
}

/// `/readyz`'s answer to the store's status. A failure is logged in full but answered with a
/// fixed text: the error may name the store's address (host, port, user), which an
/// unauthenticated probe must not learn.
fn ready_response<E: std::fmt::Display>(
    status: Result<vehicleops_core::StoreStatus, E>,
) -> (StatusCode, ReadyOut) {
    match status {
        Ok(s) => (
            StatusCode::OK,
            ReadyOut {
                status: "ready".into(),
                store: Some(s.backend),
                detail: None,
            },
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the store is unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ReadyOut {
                    status: "unavailable".into(),
                    store: None,
                    detail: Some("the store is unreachable (see the server log)".into()),
                },
            )
        }
    }
}

/// Answers 408 when a request (its body included) takes longer than the state's timeout.
/// A WebSocket upgrade answers at once; its session runs outside this limit.
async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!("The request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
    )
}

/// Content-Security-Policy of the dashboard: everything from its own origin (MapLibre and its
/// web worker are bundled with it), inline styles (set by MapLibre and React), data/blob images
/// and workers (WebGL textures, the worker blob), the API and the WebSocket on the same origin.
const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    worker-src 'self' blob:; child-src 'self' blob:; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";
/// Content-Security-Policy of Swagger UI at `/docs` (its own scripts, inline styles and data
/// images).
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/// Content-Security-Policy of API answers (JSON, never rendered as a page).
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The dashboard's `connect-src`: its own origin, over HTTP and WebSocket (`'self'` alone does
/// not cover `ws:`/`wss:` in every browser). The Host header is only used when it is a plain
/// host\[:port\].
fn connect_src(host: Option<&HeaderValue>) -> String {
    let host = host.and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    });
    match host {
        Some(h) => format!("connect-src 'self' ws://{h} wss://{h}"),
        None => "connect-src 'self'".into(),
    }
}

/// Adds security headers: a Content-Security-Policy (per kind of answer) with
/// `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff` and `Referrer-Policy:
/// no-referrer`.
async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let host = request.headers().get(header::HOST).cloned();
    let mut response = next.run(request).await;
    let csp = if path == "/docs" || path.starts_with("/docs/") {
        DOCS_CSP.to_owned()
    } else if ["/api/", "/ws/"].iter().any(|p| path.starts_with(p))
        || ["/openapi.json", "/metrics", "/healthz", "/readyz"].contains(&path.as_str())
    {
        API_CSP.to_owned()
    } else {
        format!("{DASHBOARD_CSP}; {}", connect_src(host.as_ref()))
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Builds the whole HTTP application.
///
/// `dashboard_dir`: static files served at `/` when the directory exists (SPA fallback to its
/// `index.html`); otherwise `/` redirects to `/docs`. `cors_origin`: one browser origin allowed
/// to call the API.
pub fn router(state: AppState, dashboard_dir: &Path, cors_origin: Option<&str>) -> Router {
    let metrics = state.metrics.clone();
    let timeout = state.request_timeout;
    let api = Router::new()
        .route("/auth/login", post(handlers::login))
        .route("/fleets", get(handlers::list_fleets))
        .route("/fleet/{fleet_id}/summary", get(handlers::fleet_summary))
        .route("/fleet/{fleet_id}/vehicles", get(handlers::fleet_vehicles))
        .route(
            "/vehicles/{vehicle_id}/capabilities",
            get(handlers::vehicle_capabilities),
        )
        .route(
            "/telemetry/{vehicle_id}/latest",
            get(handlers::telemetry_latest),
        )
        .route(
            "/telemetry/{vehicle_id}/history",
            get(handlers::telemetry_history),
        )
        .route("/commands/{vehicle_id}", post(handlers::dispatch_command))
        .route(
            "/commands/{vehicle_id}/history",
            get(handlers::command_history),
        )
        .route(
            "/analytics/vehicle/{vehicle_id}/metrics",
            get(handlers::vehicle_metrics),
        )
        .route(
            "/analytics/vehicle/{vehicle_id}/speed-series",
            get(handlers::speed_series),
        )
        .route(
            "/analytics/vehicle/{vehicle_id}/series",
            get(handlers::metric_series),
        )
        .route(
            "/analytics/fleet/{fleet_id}/performance",
            get(handlers::fleet_performance),
        )
        .route("/alerts", get(handlers::list_alerts))
        .route(
            "/alerts/{alert_id}/acknowledge",
            post(handlers::acknowledge_alert),
        )
        .route(
            "/missions",
            post(handlers::create_mission).get(handlers::list_missions),
        )
        .route("/missions/{mission_id}", get(handlers::get_mission))
        .route(
            "/missions/{mission_id}/cancel",
            post(handlers::cancel_mission),
        )
        .merge(history::routes())
        .merge(export::routes())
        .merge(reports::routes())
        .merge(audit::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);

    let mut app = Router::new()
        .nest("/api/v1", api)
        .route("/ws/fleet/{fleet_id}", get(crate::ws::fleet_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
        .route(
            "/docs/init.js",
            get(|| async { asset("text/javascript", DOCS_INIT.as_bytes()) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript", SWAGGER_BUNDLE) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css", SWAGGER_CSS) }),
        )
        .route("/metrics", get(serve_metrics).with_state(metrics.clone()))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);

    app = if dashboard_dir.is_dir() {
        let index = dashboard_dir.join("index.html");
        app.fallback_service(ServeDir::new(dashboard_dir).fallback(ServeFile::new(index)))
    } else {
        app.route("/", get(|| async { Redirect::temporary("/docs") }))
            .fallback(not_found)
    };

    let mut app = app
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(metrics, track_http))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // The path only: query strings may carry a WebSocket token.
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        );
    if let Some(origin) = cors_origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static(handlers::IDEMPOTENCY_KEY),
                ]),
        );
    }
    app
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_does_not_reveal_the_store_address() {
        let failure: Result<vehicleops_core::StoreStatus, String> = Err(
            "error connecting to server: Connection refused (os error 111) at db.internal:5432 \
             user=vehicleops_user"
                .into(),
        );
        let (status, body) = ready_response(failure);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let text = serde_json::to_string(&body).unwrap();
        for secret in ["db.internal", "5432", "vehicleops_user", "refused"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
