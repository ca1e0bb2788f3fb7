//! Exports: a fleet's telemetry, alerts, commands or missions over a window as a CSV or Parquet
//! download, streamed from the engine as it reads the store.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::warn;
use utoipa::IntoParams;
use vehicleops_engine::{ExportFormat, ExportKind, ExportRequest, ExportStream};

use super::AppState;
use super::handlers::{ApiResult, window};
use crate::auth::Principal;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};

pub fn routes() -> Router<AppState> {
    Router::new().route("/export/{kind}", get(export))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The fleet whose records are exported.
    pub fleet_id: String,
    /// Only this vehicle's records (it must be the fleet's).
    pub vehicle_id: Option<String>,
    /// Start of the window (default: 24 hours before `to`); at most 366 days.
    pub from: Option<DateTime<Utc>>,
    /// End of the window (default: now).
    pub to: Option<DateTime<Utc>>,
    /// `csv` (default) or `parquet`.
    #[param(example = "parquet")]
    pub format: Option<String>,
}

/// Download a fleet's telemetry, alerts, commands or missions of a window as CSV or Parquet.
///
/// `kind` is `telemetry` (by reading time, vehicle by vehicle), `alerts` (by trigger time),
/// `commands` (by issue time) or `missions` (by creation time). The file is streamed while the
/// store is read, so a long window starts at once and the server holds one page at a time;
/// a failure part-way aborts the transfer (the file is then incomplete, never silently short).
#[utoipa::path(get, path = "/api/v1/export/{kind}", tag = "history",
    security(("bearer" = [])),
    params(("kind" = String, Path, description = "telemetry, alerts, commands or missions"),
        ExportQuery),
    responses(
        (status = 200, description = "The file, as an attachment",
            content(("text/csv"), ("application/vnd.apache.parquet"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    state.fleet(&principal, &q.fleet_id).await?;
    let request = ExportRequest {
        kind: ExportKind::parse(&kind)?,
        format: q
            .format
            .as_deref()
            .map(ExportFormat::parse)
            .transpose()?
            .unwrap_or_default(),
        fleet_id: q.fleet_id,
        vehicle_id: q.vehicle_id,
        range: window(q.from, q.to)?,
    };
    let file_name = request.file_name();
    let content_type = request.format.content_type();
    let stream = state.engine.export(request).await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(chunks(stream)),
    )
        .into_response())
}

/// The export's chunks as a body stream; an error ends it (and the transfer) after a log line.
pub(super) fn chunks(
    stream: ExportStream,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, vehicleops_core::Error>> {
    futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        if let Err(e) = &chunk {
            warn!(error = %e, rows = stream.rows(), "export failed part-way; transfer aborted");
        }
        Some((chunk, stream))
    })
}
