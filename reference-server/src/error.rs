//! Errors: the API's error envelope `{detail, status_code, error}` and start-up failures.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use vehicleops_core::{Error as CoreError, ErrorKind};

/// The body of every error response, as in the original system.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "Vehicle fleet-001-VH-099 not found")]
    pub detail: String,
    /// The HTTP status, repeated.
    #[schema(example = 404)]
    pub status_code: u16,
    /// Stable code: UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, UNPROCESSABLE,
    /// TOO_MANY_REQUESTS, SERVICE_UNAVAILABLE, INTERNAL_ERROR, …
    #[schema(example = "NOT_FOUND")]
    pub error: String,
    /// For UNPROCESSABLE: the request field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error an API handler returns; rendered as [`ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (rate limiting).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", detail)
    }

    /// 422 naming the request field at fault.
    pub fn unprocessable(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        let field = field.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNPROCESSABLE",
            format!("invalid `{field}`: {reason}"),
        );
        e.field = Some(field);
        e
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many failed login attempts; try again later",
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// A failure the client cannot fix. The cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Unexpected server error",
        )
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match (&e, e.kind()) {
            (CoreError::Validation(v), _) => ApiError::unprocessable(v.field, &v.reason),
            (CoreError::NotFound { entity, id }, _) => {
                ApiError::not_found(format!("{} {id} not found", capitalize(entity)))
            }
            (_, ErrorKind::Conflict | ErrorKind::InvalidTransition) => {
                ApiError::conflict(e.to_string())
            }
            (_, ErrorKind::Backend | ErrorKind::Closed) => {
                tracing::warn!(error = %e, "backend unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "A backend is unavailable; retry later",
                )
            }
            _ => ApiError::internal(e),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            detail: self.detail,
            status_code: self.status.as_u16(),
            error: self.code.to_owned(),
            field: self.field,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Bad command line (also `--help` and `--version`, which clap reports this way).
    #[error(transparent)]
    Cli(clap::Error),
    #[error("configuration error: {0}")]
    Config(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_the_original_codes() {
        let e: ApiError = CoreError::not_found("vehicle", "fleet-001-VH-099").into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.detail, "Vehicle fleet-001-VH-099 not found");
        let e: ApiError = CoreError::Conflict("vehicle has an active mission".into()).into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "CONFLICT"));
        let e: ApiError =
            CoreError::Validation(vehicleops_core::ValidationError::new("waypoints", "empty"))
                .into();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("waypoints"));
        let e: ApiError = CoreError::Closed("bus").into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
