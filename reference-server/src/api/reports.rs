//! Daily reports: a fleet's figures per vehicle and site day, as JSON or as a CSV/Parquet file
//! — route, handler and bodies.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vehicleops_core::{
    FleetDay, FleetReport, ReportFigures, ReportQuery, VehicleDay, VehicleTotals,
};
use vehicleops_engine::{ExportFormat, report_file_name};

use super::AppState;
use super::export::chunks;
use super::handlers::ApiResult;
use crate::auth::Principal;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};

pub fn routes() -> Router<AppState> {
    Router::new().route("/reports/fleet/{fleet_id}", get(fleet_report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First day, in the site's time (default: six days before `to`).
    #[param(example = "2026-11-24")]
    pub from: Option<NaiveDate>,
    /// Last day, included (default: today in the site's time); at most 366 days in all.
    #[param(example = "2026-11-30")]
    pub to: Option<NaiveDate>,
    /// The site's offset from UTC in minutes, where its days start (default 0; −720 to 840).
    #[param(example = -300)]
    pub utc_offset_minutes: Option<i32>,
    /// Only this vehicle (it must be the fleet's).
    pub vehicle_id: Option<String>,
    /// `json` (default), or a download: `csv` or `parquet` (one row per vehicle and day).
    #[param(example = "json")]
    pub format: Option<String>,
}

/// What a vehicle, a day or the fleet adds up to. Times are seconds of observed time: each
/// minute with readings counts 60 s, shared between the statuses its readings had; driving is
/// MOVING, `other_s` is ALERT, LOW_BATTERY and OFFLINE.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FiguresOut {
    pub readings: u64,
    pub distance_km: f64,
    pub driving_s: f64,
    pub idle_s: f64,
    pub stopped_s: f64,
    pub charging_s: f64,
    pub other_s: f64,
    /// Null without readings.
    pub avg_speed_kmh: Option<f64>,
    pub max_speed_kmh: Option<f64>,
    /// Alerts raised.
    pub alerts: u64,
    #[schema(example = json!({"OVERSPEED": 2}))]
    pub alerts_by_type: std::collections::BTreeMap<String, u64>,
    pub missions_completed: u64,
}

impl From<ReportFigures> for FiguresOut {
    fn from(f: ReportFigures) -> Self {
        FiguresOut {
            readings: f.readings,
            distance_km: f.distance_km,
            driving_s: f.driving_s,
            idle_s: f.idle_s,
            stopped_s: f.stopped_s,
            charging_s: f.charging_s,
            other_s: f.other_s,
            avg_speed_kmh: f.avg_speed_kmh,
            max_speed_kmh: f.max_speed_kmh,
            alerts: f.alerts,
            alerts_by_type: f.alerts_by_type,
            missions_completed: f.missions_completed,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetDayOut {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: FiguresOut,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VehicleTotalsOut {
    pub vehicle_id: String,
    #[serde(flatten)]
    pub figures: FiguresOut,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VehicleDayOut {
    pub vehicle_id: String,
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: FiguresOut,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetReportOut {
    pub fleet_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub utc_offset_minutes: i32,
    /// The whole fleet over the days.
    pub fleet: FiguresOut,
    /// The fleet per day, oldest first.
    pub fleet_days: Vec<FleetDayOut>,
    /// Per vehicle over the days, longest distance first.
    pub vehicles: Vec<VehicleTotalsOut>,
    /// Per vehicle and day, by day then vehicle.
    pub days: Vec<VehicleDayOut>,
}

impl From<FleetReport> for FleetReportOut {
    fn from(r: FleetReport) -> Self {
        FleetReportOut {
            fleet_id: r.fleet_id,
            from: r.from,
            to: r.to,
            utc_offset_minutes: r.utc_offset_minutes,
            fleet: r.fleet.into(),
            fleet_days: r
                .fleet_days
                .into_iter()
                .map(|FleetDay { day, figures }| FleetDayOut {
                    day,
                    figures: figures.into(),
                })
                .collect(),
            vehicles: r
                .vehicles
                .into_iter()
                .map(
                    |VehicleTotals {
                         vehicle_id,
                         figures,
                     }| VehicleTotalsOut {
                        vehicle_id,
                        figures: figures.into(),
                    },
                )
                .collect(),
            days: r
                .days
                .into_iter()
                .map(
                    |VehicleDay {
                         vehicle_id,
                         day,
                         figures,
                     }| VehicleDayOut {
                        vehicle_id,
                        day,
                        figures: figures.into(),
                    },
                )
                .collect(),
        }
    }
}

/// A fleet's daily report: distance, time driving, idle, stopped and charging, average and top
/// speed, alerts by type and missions completed — per vehicle and day, per day, per vehicle and
/// for the fleet. Days are the site's (`utc_offset_minutes`); figures come from per-minute
/// rollups, so a month of a large fleet answers without scanning raw readings. With `format`
/// `csv` or `parquet` the per-vehicle days come as a file.
#[utoipa::path(get, path = "/api/v1/reports/fleet/{fleet_id}", tag = "analytics",
    security(("bearer" = [])),
    params(("fleet_id" = String, Path, description = "Fleet identifier"), ReportParams),
    responses(
        (status = 200, description = "The report (JSON), or the file as an attachment",
            content((FleetReportOut = "application/json"), ("text/csv"),
                ("application/vnd.apache.parquet"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn fleet_report(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(fleet_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    state.fleet(&principal, &fleet_id).await?;
    let utc_offset_minutes = q.utc_offset_minutes.unwrap_or(0);
    let to = match q.to {
        Some(to) => to,
        None => (Utc::now() + Duration::minutes(i64::from(utc_offset_minutes.clamp(-720, 840))))
            .date_naive(),
    };
    let from = match q.from {
        Some(from) => from,
        None => to.checked_sub_days(chrono::Days::new(6)).ok_or_else(|| {
            vehicleops_core::Error::validation(
                "to",
                "the report's days are out of range".to_string(),
            )
        })?,
    };
    let query = ReportQuery {
        fleet_id,
        vehicle_id: q.vehicle_id,
        from,
        to,
        utc_offset_minutes,
    };
    let format = match q.format.as_deref() {
        None | Some("json") => None,
        Some(other) => Some(ExportFormat::parse(other).map_err(|_| {
            vehicleops_core::Error::validation(
                "format",
                format!("unknown format `{other}`; json, csv or parquet"),
            )
        })?),
    };
    let Some(format) = format else {
        let report = state.engine.fleet_report(query).await?;
        return Ok(Json(FleetReportOut::from(report)).into_response());
    };
    let file_name = report_file_name(&query, format);
    let stream = state.engine.export_report(query, format).await?;
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(chunks(stream)),
    )
        .into_response())
}
