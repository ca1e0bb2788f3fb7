//! The REST handlers of `/api/v1`, one per endpoint of the original contract (plus fleet listing,
//! a generic metric series and mission cancellation).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use vehicleops_core::{
    AlertFilter, AuditAction, AuditEntry, CommandKind, CommandParams, HistoryQuery, Metric,
    MissionFilter, MissionPriority, MissionRequest, MissionStatus, MissionType, Severity,
    TimeRange, VehicleStatus, Waypoint, validate_idempotency_key,
};

use super::AppState;
use super::dto::*;
use crate::auth::{MAX_EMAIL_BYTES, MAX_PASSWORD_BYTES, Principal, verify_password};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, decode_json};

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// Checks an optional numeric parameter against its range, or takes the default.
fn bounded(name: &str, value: Option<u32>, default: u32, min: u32, max: u32) -> ApiResult<u32> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(ApiError::unprocessable(
            name,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
    Ok(v)
}

/// Longest window an analytics or history query may span.
const MAX_WINDOW: Duration = Duration::days(366);

/// The query window: `to` defaults to now, `from` to 24 hours before `to`. Both must lie in
/// 1970-01-01 ..= 2100-01-01 and the window may span at most [`MAX_WINDOW`], so no date
/// arithmetic here or in a store can overflow and no query scans without end.
pub(super) fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> ApiResult<TimeRange> {
    let to = instant("to", to.unwrap_or_else(Utc::now))?;
    let from = match from {
        Some(from) => instant("from", from)?,
        None => (to - Duration::hours(24)).max(DateTime::<Utc>::UNIX_EPOCH),
    };
    let range = TimeRange::new(from, to).map_err(|e| ApiError::unprocessable(e.field, e.reason))?;
    if range.to - range.from > MAX_WINDOW {
        return Err(ApiError::unprocessable(
            "from",
            format!("the window may span at most {} days", MAX_WINDOW.num_days()),
        ));
    }
    Ok(range)
}

/// An instant a query names (`field`), within 1970-01-01 ..= 2100-01-01.
pub(super) fn instant(field: &'static str, t: DateTime<Utc>) -> ApiResult<DateTime<Utc>> {
    let latest = DateTime::parse_from_rfc3339("2100-01-01T00:00:00Z")
        .expect("a valid constant")
        .to_utc();
    if (DateTime::<Utc>::UNIX_EPOCH..=latest).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::unprocessable(
            field,
            format!("{t} is outside 1970-01-01 ..= 2100-01-01"),
        ))
    }
}

fn waypoints(input: Vec<WaypointIn>) -> Vec<Waypoint> {
    input
        .into_iter()
        .map(|w| Waypoint {
            latitude: w.latitude,
            longitude: w.longitude,
            order: w.order,
        })
        .collect()
}

// --- auth -------------------------------------------------------------------------------------

/// Exchange e-mail and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, body = ErrorBody, description = "Wrong e-mail or password"),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Too many failed attempts (Retry-After)"),
        (status = 503, body = ErrorBody, description = "Too many logins at once (Retry-After)"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if body.email.len() > MAX_EMAIL_BYTES {
        return Err(ApiError::unprocessable(
            "email",
            format!("must be at most {MAX_EMAIL_BYTES} bytes"),
        ));
    }
    if body.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unprocessable(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let ip = state.limiter.client_ip(peer.ip(), &headers);
    // Counted as failed from here until the password is known to be right, so concurrent
    // guesses cannot slip past the limit together.
    let attempt = match state.limiter.reserve(ip, &body.email) {
        Ok(attempt) => attempt,
        Err(retry_after) => {
            state.metrics.login_failed();
            tracing::warn!(client = %ip, "login rate-limited");
            return Err(ApiError::too_many_requests(retry_after));
        }
    };
    let operator = match state
        .engine
        .store()
        .operator_by_email(&body.email.to_lowercase())
        .await
    {
        Ok(operator) => operator,
        Err(e) => {
            attempt.succeeded(); // not the client's failure
            return Err(e.into());
        }
    };
    // Verify against a dummy hash when the account does not exist, so response time does not
    // reveal which e-mails are registered.
    let hash = operator
        .as_ref()
        .map(|o| o.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    let password = body.password;
    let hashing = state.limiter.hashing();
    let Ok(matches) = hashing.run(move || verify_password(&password, &hash)).await else {
        attempt.succeeded(); // the password was never checked
        tracing::warn!(client = %ip, "login refused: password hashing is saturated");
        let mut busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Too many logins at once; retry shortly",
        );
        busy.retry_after = Some(1);
        return Err(busy);
    };
    let operator = match operator {
        Some(o) if matches => {
            attempt.succeeded();
            o
        }
        _ => {
            drop(attempt); // stays counted
            state.metrics.login_failed();
            tracing::info!(client = %ip, "login failed");
            record_login(&state, &body.email.to_lowercase(), ip, false).await;
            return Err(ApiError::unauthorized("Incorrect email or password"));
        }
    };
    record_login(&state, &operator.id, ip, true).await;
    let access_token = state.tokens.issue(&operator)?;
    tracing::info!(operator_id = %operator.id, role = operator.role.as_str(), "login");
    Ok(Json(LoginResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: state.tokens.lifetime().as_secs(),
        operator: OperatorOut {
            id: operator.id,
            email: operator.email,
            role: operator.role.as_str().into(),
            fleet_ids: operator.fleet_ids,
        },
    }))
}

/// A login in the audit trail (rate-limited attempts are not: they only show in `/metrics`). A
/// store failure is logged; the login's answer does not depend on it.
async fn record_login(state: &AppState, actor: &str, client: std::net::IpAddr, succeeded: bool) {
    let action = if succeeded {
        AuditAction::LoginSucceeded
    } else {
        AuditAction::LoginFailed
    };
    let entry = AuditEntry {
        source: Some(client.to_string()),
        ..AuditEntry::new(actor, action)
    };
    if let Err(e) = state.engine.record_audit(entry).await {
        tracing::warn!(error = %e, "could not record the login in the audit trail");
    }
}

// --- fleets -----------------------------------------------------------------------------------

/// Fleets the caller may see.
#[utoipa::path(get, path = "/api/v1/fleets", tag = "fleet", security(("bearer" = [])),
    responses((status = 200, body = [FleetOut]), (status = 401, body = ErrorBody)))]
pub async fn list_fleets(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<FleetOut>>> {
    let fleets = state.engine.list_fleets().await?;
    Ok(Json(
        fleets
            .into_iter()
            .filter(|f| principal.can_access(&f.id))
            .map(|f| FleetOut {
                id: f.id,
                name: f.name,
            })
            .collect(),
    ))
}

/// Live counts and averages of a fleet.
#[utoipa::path(get, path = "/api/v1/fleet/{fleet_id}/summary", tag = "fleet",
    security(("bearer" = [])), params(("fleet_id" = String, Path)),
    responses((status = 200, body = FleetSummaryOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn fleet_summary(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(fleet_id): ApiPath<String>,
) -> ApiResult<Json<FleetSummaryOut>> {
    state.fleet(&principal, &fleet_id).await?;
    Ok(Json(state.engine.fleet_summary(&fleet_id).await?.into()))
}

/// Vehicles of a fleet with their latest reading, filtered by status and paged.
#[utoipa::path(get, path = "/api/v1/fleet/{fleet_id}/vehicles", tag = "fleet",
    security(("bearer" = [])), params(("fleet_id" = String, Path), VehicleListQuery),
    responses((status = 200, body = VehiclePage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn fleet_vehicles(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(fleet_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<VehicleListQuery>,
) -> ApiResult<Json<VehiclePage>> {
    let page = bounded("page", q.page, 1, 1, 1_000_000)?;
    let limit = bounded("limit", q.limit, 50, 1, 200)?;
    let status = q.status.map(VehicleStatus::from);
    state.fleet(&principal, &fleet_id).await?;
    let (registered, latest) = tokio::try_join!(
        state.engine.list_vehicles(&fleet_id),
        state.engine.latest_for_fleet(&fleet_id),
    )?;
    let mut latest: std::collections::HashMap<_, _> = latest
        .into_iter()
        .map(|t| (t.vehicle_id.clone(), t))
        .collect();
    // Registered vehicles first (with or without readings), then vehicles only seen on the wire.
    let mut rows: Vec<VehicleOut> = registered
        .iter()
        .map(|v| vehicle_row(&v.id, &fleet_id, latest.remove(&v.id).as_ref()))
        .collect();
    rows.extend(
        latest
            .values()
            .map(|t| vehicle_row(&t.vehicle_id, &fleet_id, Some(t))),
    );
    rows.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
    if let Some(status) = status {
        rows.retain(|r| r.status == status.as_str());
    }
    let total = rows.len() as u64;
    let start = ((page - 1) as usize).saturating_mul(limit as usize);
    let mut data: Vec<VehicleOut> = rows.into_iter().skip(start).take(limit as usize).collect();
    for row in &mut data {
        row.active_mission_id = state
            .engine
            .store()
            .active_mission(&row.vehicle_id)
            .await?
            .map(|m| m.id);
    }
    Ok(Json(VehiclePage {
        data,
        total,
        page,
        limit,
    }))
}

fn vehicle_row(
    vehicle_id: &str,
    fleet_id: &str,
    t: Option<&vehicleops_core::Telemetry>,
) -> VehicleOut {
    VehicleOut {
        vehicle_id: vehicle_id.to_owned(),
        fleet_id: fleet_id.to_owned(),
        latitude: t.map(|t| t.latitude),
        longitude: t.map(|t| t.longitude),
        speed_kmh: t.map(|t| t.speed_kmh),
        battery_pct: t.map(|t| t.battery_pct),
        engine_temp_c: t.map(|t| t.engine_temp_c),
        load_pct: t.map(|t| t.load_pct),
        status: t
            .map_or(VehicleStatus::Offline, |t| t.status)
            .as_str()
            .into(),
        active_mission_id: None,
        last_seen: t.map(|t| t.timestamp),
    }
}

// --- telemetry --------------------------------------------------------------------------------

/// The newest reading of a vehicle.
#[utoipa::path(get, path = "/api/v1/telemetry/{vehicle_id}/latest", tag = "telemetry",
    security(("bearer" = [])), params(("vehicle_id" = String, Path)),
    responses((status = 200, body = TelemetryOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn telemetry_latest(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
) -> ApiResult<Json<TelemetryOut>> {
    state.vehicle(&principal, &vehicle_id).await?;
    let t = state
        .engine
        .latest(&vehicle_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No telemetry for vehicle {vehicle_id}")))?;
    Ok(Json((&t).into()))
}

/// What the vehicle told its transport it can do: for a VDA 5050 vehicle, its factsheet
/// (requested when it comes online). 404 until one was received, and on transports whose
/// vehicles describe nothing.
#[utoipa::path(get, path = "/api/v1/vehicles/{vehicle_id}/capabilities", tag = "fleet",
    security(("bearer" = [])), params(("vehicle_id" = String, Path)),
    responses((status = 200, body = CapabilitiesOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn vehicle_capabilities(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
) -> ApiResult<Json<CapabilitiesOut>> {
    state.vehicle(&principal, &vehicle_id).await?;
    let capabilities = state
        .engine
        .vehicle_capabilities(&vehicle_id)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Vehicle {vehicle_id} has described no capabilities (VDA 5050 vehicles send a \
                 factsheet when they come online)"
            ))
        })?;
    Ok(Json(capabilities.into()))
}

/// Readings of a vehicle in a window, oldest first.
#[utoipa::path(get, path = "/api/v1/telemetry/{vehicle_id}/history", tag = "telemetry",
    security(("bearer" = [])), params(("vehicle_id" = String, Path), HistoryQueryParams),
    responses((status = 200, body = HistoryOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn telemetry_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQueryParams>,
) -> ApiResult<Json<HistoryOut>> {
    let limit = bounded(
        "limit",
        q.limit,
        HistoryQuery::DEFAULT_LIMIT,
        1,
        HistoryQuery::MAX_LIMIT,
    )?;
    state.vehicle(&principal, &vehicle_id).await?;
    let range = window(Some(q.from), Some(q.to))?;
    let readings = state
        .engine
        .history(&HistoryQuery {
            vehicle_id: vehicle_id.clone(),
            range,
            limit,
        })
        .await?;
    Ok(Json(HistoryOut {
        vehicle_id,
        from: range.from,
        to: range.to,
        total_records: readings.len() as u64,
        data: readings.iter().map(HistoryPoint::from).collect(),
    }))
}

// --- commands ---------------------------------------------------------------------------------

/// The request header that makes a command dispatch safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` header: absent, or one value of 1 to 200 printable ASCII characters
/// (422 naming the header otherwise).
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    const NAME: &str = "Idempotency-Key";
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::unprocessable(NAME, "must be given once"));
    }
    let key = value
        .to_str()
        .map_err(|_| ApiError::unprocessable(NAME, "must be printable ASCII characters only"))?;
    validate_idempotency_key(key).map_err(|e| ApiError::unprocessable(NAME, e.reason))?;
    Ok(Some(key.to_owned()))
}

/// Send STOP, RESUME, REROUTE (with `params.waypoints`) or RETURN_TO_BASE to a vehicle.
///
/// The command expires at `expires_at` (its issue time plus the command delivery timeout): a
/// vehicle that receives it later refuses it and it ends EXPIRED. With an `Idempotency-Key`,
/// a retry by the same operator answers 202 with the original command (same `id`, its current
/// status) instead of sending another; 409 if the key was used for a different command.
#[utoipa::path(post, path = "/api/v1/commands/{vehicle_id}", tag = "commands",
    security(("bearer" = [])),
    params(("vehicle_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the dispatch safe to \
            retry: 1 to 200 printable ASCII characters, unique per operator. A repeated request \
            with the same key returns the command the first one dispatched.",
            example = "3f2c9a1e-stop-VH-001")),
    request_body = CommandRequest,
    responses((status = 202, body = CommandDispatched,
            description = "Dispatched, or the original command of a repeated Idempotency-Key"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "The Idempotency-Key was used for a different command"),
        (status = 422, body = ErrorBody)))]
pub async fn dispatch_command(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CommandRequest>,
) -> ApiResult<(StatusCode, Json<CommandDispatched>)> {
    let key = idempotency_key(&headers)?;
    let kind = CommandKind::from(body.command);
    state.vehicle(&principal, &vehicle_id).await?;
    let params = CommandParams {
        waypoints: waypoints(body.params.waypoints),
        reason: body.params.reason,
    };
    let command = state
        .engine
        .dispatch_command(&vehicle_id, kind, params, &principal.id, key.as_deref())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(command.into())))
}

/// Commands sent to a vehicle, newest first, with their lifecycle status.
#[utoipa::path(get, path = "/api/v1/commands/{vehicle_id}/history", tag = "commands",
    security(("bearer" = [])), params(("vehicle_id" = String, Path), LimitQuery),
    responses((status = 200, body = CommandHistory), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn command_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Json<CommandHistory>> {
    let limit = bounded("limit", q.limit, 20, 1, 200)?;
    state.vehicle(&principal, &vehicle_id).await?;
    let page = state.engine.command_history(&vehicle_id, limit).await?;
    Ok(Json(CommandHistory {
        data: page.data.iter().map(CommandOut::from).collect(),
        total: page.total,
    }))
}

// --- analytics --------------------------------------------------------------------------------

/// Aggregates of one vehicle over a window (default: the last 24 hours).
#[utoipa::path(get, path = "/api/v1/analytics/vehicle/{vehicle_id}/metrics", tag = "analytics",
    security(("bearer" = [])), params(("vehicle_id" = String, Path), WindowQuery),
    responses((status = 200, body = VehicleMetricsOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn vehicle_metrics(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Json<VehicleMetricsOut>> {
    state.vehicle(&principal, &vehicle_id).await?;
    let range = window(q.from, q.to)?;
    Ok(Json(
        state
            .engine
            .vehicle_summary(&vehicle_id, range)
            .await?
            .into(),
    ))
}

async fn series(
    state: &AppState,
    principal: &Principal,
    vehicle_id: &str,
    metric: Metric,
    q: &SeriesQuery,
) -> ApiResult<Json<Vec<SeriesPointOut>>> {
    let bucket = bounded("bucket_minutes", q.bucket_minutes, 5, 1, 60)?;
    state.vehicle(principal, vehicle_id).await?;
    let range = window(q.from, q.to)?;
    let points = state
        .engine
        .series(vehicle_id, metric, range, Duration::minutes(bucket as i64))
        .await?;
    Ok(Json(points.into_iter().map(SeriesPointOut::from).collect()))
}

/// Speed of one vehicle bucketed in time (avg, max, min per bucket).
#[utoipa::path(get, path = "/api/v1/analytics/vehicle/{vehicle_id}/speed-series", tag = "analytics",
    security(("bearer" = [])), params(("vehicle_id" = String, Path), SeriesQuery),
    responses((status = 200, body = [SeriesPointOut]), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn speed_series(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> ApiResult<Json<Vec<SeriesPointOut>>> {
    series(&state, &principal, &vehicle_id, Metric::SpeedKmh, &q).await
}

/// Any metric of one vehicle bucketed in time (`metric` = speed_kmh, battery_pct, engine_temp_c
/// or load_pct).
#[utoipa::path(get, path = "/api/v1/analytics/vehicle/{vehicle_id}/series", tag = "analytics",
    security(("bearer" = [])), params(("vehicle_id" = String, Path), SeriesQuery),
    responses((status = 200, body = [SeriesPointOut]), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn metric_series(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> ApiResult<Json<Vec<SeriesPointOut>>> {
    let metric = q
        .metric
        .map(Metric::from)
        .ok_or_else(|| ApiError::unprocessable("metric", "is required"))?;
    series(&state, &principal, &vehicle_id, metric, &q).await
}

/// Per-vehicle performance of a fleet, longest distance first.
#[utoipa::path(get, path = "/api/v1/analytics/fleet/{fleet_id}/performance", tag = "analytics",
    security(("bearer" = [])), params(("fleet_id" = String, Path), WindowQuery),
    responses((status = 200, body = FleetPerformanceOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn fleet_performance(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(fleet_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Json<FleetPerformanceOut>> {
    state.fleet(&principal, &fleet_id).await?;
    let range = window(q.from, q.to)?;
    let report = state.engine.fleet_performance(&fleet_id, range).await?;
    Ok(Json(FleetPerformanceOut {
        fleet_id: report.fleet_id,
        from: report.from,
        to: report.to,
        vehicles: report.vehicles.into_iter().map(Into::into).collect(),
    }))
}

// --- alerts -----------------------------------------------------------------------------------

/// The fleet scopes a list query runs over, after checking the caller may see the fleet and
/// vehicle asked for. An admin, or anyone asking for one fleet or one vehicle, is one query
/// (`None`: every fleet); others get one query per fleet of their own.
async fn list_scopes(
    state: &AppState,
    principal: &Principal,
    fleet_id: &Option<String>,
    vehicle_id: &Option<String>,
) -> ApiResult<Vec<Option<String>>> {
    if let Some(fleet_id) = fleet_id {
        principal.require_fleet(fleet_id)?;
    }
    if let Some(vehicle_id) = vehicle_id {
        state.vehicle(principal, vehicle_id).await?;
    }
    Ok(
        if fleet_id.is_some()
            || vehicle_id.is_some()
            || principal.role == vehicleops_core::Role::Admin
        {
            vec![fleet_id.clone()]
        } else {
            principal.fleet_ids.iter().cloned().map(Some).collect()
        },
    )
}

/// Alerts, newest first. Without `fleet_id`, every fleet the caller may see.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = [])),
    params(AlertQuery),
    responses((status = 200, body = AlertPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> ApiResult<Json<AlertPage>> {
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let severity = q.severity.map(Severity::from);
    let filter = |fleet_id: Option<String>| AlertFilter {
        fleet_id,
        vehicle_id: q.vehicle_id.clone(),
        severity,
        acknowledged: Some(q.acknowledged.unwrap_or(false)),
        limit,
    };
    let mut data = Vec::new();
    let mut total = 0;
    for scope in list_scopes(&state, &principal, &q.fleet_id, &q.vehicle_id).await? {
        let page = state.engine.alerts(&filter(scope)).await?;
        total += page.total;
        data.extend(page.data);
    }
    data.sort_by_key(|a| std::cmp::Reverse(a.triggered_at));
    data.truncate(limit as usize);
    Ok(Json(AlertPage {
        data: data.iter().map(AlertOut::from).collect(),
        total,
    }))
}

/// Mark an alert as seen, with optional notes.
#[utoipa::path(post, path = "/api/v1/alerts/{alert_id}/acknowledge", tag = "alerts",
    security(("bearer" = [])), params(("alert_id" = String, Path)),
    request_body(content = AcknowledgeRequest, description = "Optional notes"),
    responses((status = 200, body = AcknowledgeOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(alert_id): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<AcknowledgeOut>> {
    // The body is optional: no body (or an empty one) means no notes.
    let notes = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        decode_json::<AcknowledgeRequest>(&body)?.notes
    };
    if notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::unprocessable("notes", "at most 2000 characters"));
    }
    let alert = state
        .engine
        .store()
        .get_alert(&alert_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Alert {alert_id} not found")))?;
    principal.require_fleet(&alert.fleet_id)?;
    let alert = state
        .engine
        .acknowledge_alert(&alert_id, &principal.id, notes.as_deref())
        .await?;
    tracing::info!(alert_id = %alert.id, operator_id = %principal.id, "alert acknowledged");
    Ok(Json(AcknowledgeOut {
        id: alert.id,
        acknowledged: alert.acknowledged,
        acknowledged_by: alert.acknowledged_by,
        acknowledged_at: alert.acknowledged_at,
        notes: alert.notes,
    }))
}

// --- missions ---------------------------------------------------------------------------------

/// Assign a route to a vehicle. 409 when the vehicle already has an active mission.
#[utoipa::path(post, path = "/api/v1/missions", tag = "missions", security(("bearer" = [])),
    request_body = MissionCreate,
    responses((status = 201, body = MissionCreated), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_mission(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<MissionCreate>,
) -> ApiResult<(StatusCode, Json<MissionCreated>)> {
    let mission_type = MissionType::from(body.mission_type);
    let priority = body.priority.map_or(MissionPriority::default(), Into::into);
    principal.require_fleet(&body.fleet_id)?;
    let request = MissionRequest {
        fleet_id: body.fleet_id,
        vehicle_id: body.vehicle_id,
        mission_type,
        waypoints: waypoints(body.waypoints),
        priority,
    };
    let mission = state.engine.create_mission(request, &principal.id).await?;
    tracing::info!(mission_id = %mission.id, vehicle_id = %mission.vehicle_id, operator_id = %principal.id, "mission created");
    Ok((
        StatusCode::CREATED,
        Json(MissionCreated {
            waypoints: mission.total_waypoints(),
            id: mission.id,
            vehicle_id: mission.vehicle_id,
            status: mission.status.as_str().into(),
            created_at: mission.created_at,
        }),
    ))
}

/// Missions, newest first, with their routes. Without `fleet_id`, every fleet the caller may
/// see.
#[utoipa::path(get, path = "/api/v1/missions", tag = "missions", security(("bearer" = [])),
    params(MissionQuery),
    responses((status = 200, body = MissionPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_missions(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<MissionQuery>,
) -> ApiResult<Json<MissionPage>> {
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let mut data = Vec::new();
    let mut total = 0;
    for scope in list_scopes(&state, &principal, &q.fleet_id, &q.vehicle_id).await? {
        let filter = MissionFilter {
            fleet_id: scope,
            vehicle_id: q.vehicle_id.clone(),
            status: q.status.map(MissionStatus::from),
            limit,
        };
        let page = state.engine.list_missions(&filter).await?;
        total += page.total;
        data.extend(page.data);
    }
    // Several fleets' pages merge into one newest-first page, ordered as the store orders one.
    data.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    data.truncate(limit as usize);
    Ok(Json(MissionPage {
        data: data.iter().map(MissionOut::from).collect(),
        total,
    }))
}

/// A mission's progress and estimated completion.
#[utoipa::path(get, path = "/api/v1/missions/{mission_id}", tag = "missions",
    security(("bearer" = [])), params(("mission_id" = String, Path)),
    responses((status = 200, body = MissionOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_mission(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(mission_id): ApiPath<String>,
) -> ApiResult<Json<MissionOut>> {
    let mission = state.engine.mission(&mission_id).await?;
    principal.require_fleet(&mission.fleet_id)?;
    Ok(Json((&mission).into()))
}

/// Cancel an ASSIGNED or IN_PROGRESS mission. 409 when it already ended.
#[utoipa::path(post, path = "/api/v1/missions/{mission_id}/cancel", tag = "missions",
    security(("bearer" = [])), params(("mission_id" = String, Path)),
    responses((status = 200, body = MissionOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn cancel_mission(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(mission_id): ApiPath<String>,
) -> ApiResult<Json<MissionOut>> {
    let mission = state.engine.mission(&mission_id).await?;
    principal.require_fleet(&mission.fleet_id)?;
    let mission = state
        .engine
        .cancel_mission(&mission_id, &principal.id)
        .await?;
    tracing::info!(mission_id = %mission.id, operator_id = %principal.id, "mission cancelled");
    Ok(Json((&mission).into()))
}

/// Entry points for the `cargo fuzz` targets in `fuzz/` (not an API: hidden, may change).
///
/// The query DTOs are public but [`window`] and [`bounded`] are private to the handlers; this
/// replays what each handler does with its query string before it reaches the access check or
/// the store: decode the DTO ([`crate::extract::decode_query`]), bound its numbers, convert its
/// enums and validate its time window.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;
    use crate::extract::decode_query;

    /// The time-window validation of the analytics and history handlers.
    pub fn window(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<TimeRange, ApiError> {
        super::window(from, to)
    }

    /// Runs `query` through every handler's query handling; one result per endpoint.
    pub fn query(query: &str) -> Vec<Result<(), ApiError>> {
        fn run(f: impl FnOnce() -> ApiResult<()>) -> Result<(), ApiError> {
            f()
        }
        vec![
            run(|| {
                let q: VehicleListQuery = decode_query(query)?;
                let page = bounded("page", q.page, 1, 1, 1_000_000)?;
                let limit = bounded("limit", q.limit, 50, 1, 200)?;
                let _ = q.status.map(VehicleStatus::from);
                let _ = ((page - 1) as usize).saturating_mul(limit as usize);
                Ok(())
            }),
            run(|| {
                let q: HistoryQueryParams = decode_query(query)?;
                bounded(
                    "limit",
                    q.limit,
                    HistoryQuery::DEFAULT_LIMIT,
                    1,
                    HistoryQuery::MAX_LIMIT,
                )?;
                super::window(Some(q.from), Some(q.to)).map(drop)
            }),
            run(|| {
                let q: LimitQuery = decode_query(query)?;
                bounded("limit", q.limit, 20, 1, 200).map(drop)
            }),
            run(|| {
                let q: WindowQuery = decode_query(query)?;
                super::window(q.from, q.to).map(drop)
            }),
            run(|| {
                let q: SeriesQuery = decode_query(query)?;
                let _ = q.metric.map(Metric::from);
                let bucket = bounded("bucket_minutes", q.bucket_minutes, 5, 1, 60)?;
                let _ = Duration::minutes(bucket as i64);
                super::window(q.from, q.to).map(drop)
            }),
            run(|| {
                let q: AlertQuery = decode_query(query)?;
                let _ = q.severity.map(Severity::from);
                bounded("limit", q.limit, 50, 1, 500).map(drop)
            }),
            run(|| {
                let q: MissionQuery = decode_query(query)?;
                let _ = q.status.map(MissionStatus::from);
                bounded("limit", q.limit, 50, 1, 500).map(drop)
            }),
            run(|| decode_query::<crate::ws::WsQuery>(query).map(drop)),
        ]
    }
}
