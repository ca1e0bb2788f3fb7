//! Looking back: a vehicle's path for trip playback and a fleet at a past instant — routes,
//! handlers and bodies.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vehicleops_core::{FleetSnapshot, PathPoint, VehiclePath};

use super::AppState;
use super::dto::{AlertOut, TelemetryOut};
use super::handlers::{ApiResult, instant, window};
use crate::auth::Principal;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/telemetry/{vehicle_id}/path", get(vehicle_path))
        .route("/fleet/{fleet_id}/snapshot", get(fleet_snapshot))
}

/// The tolerance a path is simplified with unless the request names one, metres: below what
/// a site map shows, far above GNSS jitter at rest.
const DEFAULT_TOLERANCE_M: f64 = 2.0;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// Start of the window (default: 24 hours before `to`); a path spans at most 7 days.
    pub from: Option<DateTime<Utc>>,
    /// End of the window (default: now).
    pub to: Option<DateTime<Utc>>,
    /// Simplification tolerance in metres (default 2, at most 1000; 0 keeps every reading):
    /// no reading lies farther than this from the returned path.
    #[param(minimum = 0, maximum = 1000)]
    pub tolerance_m: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PathPointOut {
    pub timestamp: DateTime<Utc>,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
    #[schema(example = "MOVING")]
    pub status: String,
}

impl From<&PathPoint> for PathPointOut {
    fn from(p: &PathPoint) -> Self {
        PathPointOut {
            timestamp: p.timestamp,
            latitude: p.latitude,
            longitude: p.longitude,
            speed_kmh: p.speed_kmh,
            heading_deg: p.heading_deg,
            status: p.status.as_str().into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PathOut {
    pub vehicle_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Readings stored for the window, before simplification.
    pub readings: u64,
    pub tolerance_m: f64,
    /// Oldest first: the window's first and last readings, every change of status, and the
    /// points the path needs within the tolerance.
    pub points: Vec<PathPointOut>,
}

impl From<VehiclePath> for PathOut {
    fn from(p: VehiclePath) -> Self {
        PathOut {
            points: p.points.iter().map(PathPointOut::from).collect(),
            vehicle_id: p.vehicle_id,
            from: p.range.from,
            to: p.range.to,
            readings: p.readings,
            tolerance_m: p.tolerance_m,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The instant (ISO 8601).
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetSnapshotOut {
    pub fleet_id: String,
    pub at: DateTime<Utc>,
    /// Each vehicle's last reading at or before `at`, by vehicle id (vehicles that had not
    /// reported by then are absent).
    pub vehicles: Vec<TelemetryOut>,
    /// Alerts open at `at`: triggered by then and not yet cleared; oldest first.
    pub open_alerts: Vec<AlertOut>,
}

impl From<FleetSnapshot> for FleetSnapshotOut {
    fn from(s: FleetSnapshot) -> Self {
        FleetSnapshotOut {
            fleet_id: s.fleet_id,
            at: s.at,
            vehicles: s.vehicles.iter().map(TelemetryOut::from).collect(),
            open_alerts: s.open_alerts.iter().map(AlertOut::from).collect(),
        }
    }
}

/// The path a vehicle drove in a window, simplified for replaying the trip on a map.
#[utoipa::path(get, path = "/api/v1/telemetry/{vehicle_id}/path", tag = "history",
    security(("bearer" = [])), params(("vehicle_id" = String, Path), PathQuery),
    responses((status = 200, body = PathOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn vehicle_path(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(vehicle_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<Json<PathOut>> {
    state.vehicle(&principal, &vehicle_id).await?;
    let range = window(q.from, q.to)?;
    let tolerance = q.tolerance_m.unwrap_or(DEFAULT_TOLERANCE_M);
    let path = state
        .engine
        .vehicle_path(&vehicle_id, range, tolerance)
        .await?;
    Ok(Json(path.into()))
}

/// A fleet as it was at an instant: where each vehicle was, its status, and the open alerts.
#[utoipa::path(get, path = "/api/v1/fleet/{fleet_id}/snapshot", tag = "history",
    security(("bearer" = [])), params(("fleet_id" = String, Path), SnapshotQuery),
    responses((status = 200, body = FleetSnapshotOut), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn fleet_snapshot(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(fleet_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SnapshotQuery>,
) -> ApiResult<Json<FleetSnapshotOut>> {
    state.fleet(&principal, &fleet_id).await?;
    let at = instant("at", q.at)?;
    Ok(Json(state.engine.fleet_at(&fleet_id, at).await?.into()))
}
