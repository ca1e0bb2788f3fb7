//! The audit trail: who did what and when — route, handler and bodies. ADMIN reads all of it;
//! MANAGER the entries of their fleets; others are refused.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vehicleops_core::{AuditAction, AuditEntry, AuditFilter, Role};

use super::AppState;
use super::handlers::{ApiResult, window};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(list_audit))
}

/// Entries per page unless the request says.
const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this fleet's entries (a MANAGER's fleets otherwise; every entry for an ADMIN).
    pub fleet_id: Option<String>,
    /// Only this operator's entries (an operator id; the email tried, for failed logins).
    pub actor: Option<String>,
    /// Only this action.
    #[param(example = "COMMAND_DISPATCHED")]
    pub action: Option<String>,
    /// Start of the window (default: 24 hours before `to`); at most 366 days.
    pub from: Option<DateTime<Utc>>,
    /// End of the window (default: now).
    pub to: Option<DateTime<Utc>>,
    /// Entries per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: String,
    pub at: DateTime<Utc>,
    /// An operator id; the email tried, for a failed login.
    pub actor: String,
    #[schema(example = "COMMAND_DISPATCHED")]
    pub action: String,
    pub fleet_id: Option<String>,
    pub vehicle_id: Option<String>,
    /// The command, mission or alert acted on.
    pub target_id: Option<String>,
    /// The client's address, for logins.
    pub source: Option<String>,
    pub detail: String,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(e: AuditEntry) -> Self {
        AuditEntryOut {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action.as_str().into(),
            fleet_id: e.fleet_id,
            vehicle_id: e.vehicle_id,
            target_id: e.target_id,
            source: e.source,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub data: Vec<AuditEntryOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A cursor names the last entry of a page: its time and id.
fn cursor_of(entry: &AuditEntryOut) -> String {
    format!("{}|{}", entry.at.to_rfc3339(), entry.id)
}

fn parse_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, String)> {
    let bad = || ApiError::unprocessable("cursor", "not a cursor this endpoint returned");
    let (at, id) = cursor.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .to_utc();
    Ok((at, id.to_owned()))
}

/// The audit trail, newest first: logins (succeeded and failed, with the client's address),
/// commands dispatched, missions created and cancelled, alerts acknowledged. ADMIN reads every
/// entry; MANAGER the entries of their fleets (logins, which have no fleet, are ADMIN's);
/// OPERATOR is refused. Pages follow `next_cursor`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let fleet_ids = match (principal.role, &q.fleet_id) {
        (Role::Admin, None) => None,
        (Role::Admin | Role::Manager, Some(fleet_id)) => {
            principal.require_fleet(fleet_id)?;
            Some(vec![fleet_id.clone()])
        }
        (Role::Manager, None) => Some(principal.fleet_ids.clone()),
        (Role::Operator, _) => {
            return Err(ApiError::forbidden(
                "The audit trail is for ADMIN and MANAGER operators",
            ));
        }
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=AuditFilter::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::unprocessable(
            "limit",
            format!("must be between 1 and {}", AuditFilter::MAX_LIMIT),
        ));
    }
    let filter = AuditFilter {
        fleet_ids,
        actor: q.actor,
        action: q
            .action
            .as_deref()
            .map(|a| AuditAction::parse("action", a))
            .transpose()
            .map_err(|e| ApiError::unprocessable(e.field, e.reason))?,
        range: window(q.from, q.to)?,
        before: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let data: Vec<AuditEntryOut> = state
        .engine
        .audit_log(&filter)
        .await?
        .into_iter()
        .map(AuditEntryOut::from)
        .collect();
    let next_cursor = (data.len() == limit as usize)
        .then(|| data.last().map(cursor_of))
        .flatten();
    Ok(Json(AuditPage { data, next_cursor }))
}
