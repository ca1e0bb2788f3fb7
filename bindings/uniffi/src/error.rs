//! The one error type every exported call throws: `VehicleOpsException` in Kotlin,
//! `VehicleOpsError` in Swift. Each variant is a kind (the core's [`ErrorKind`]s plus what an
//! HTTP client and a transport add), and carries the human-readable `detail`; `Validation` also
//! names the offending `field`.

use vehicleops_core::{Error as CoreError, ErrorKind};

/// Everything that can go wrong in the operator client or the vehicle agent.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum VehicleOpsError {
    /// Input failed validation (HTTP 422, or a value the binding refused before sending).
    #[error("invalid `{field}`: {detail}")]
    Validation { detail: String, field: String },
    /// The vehicle, fleet, alert or mission does not exist (HTTP 404).
    #[error("not found: {detail}")]
    NotFound { detail: String },
    /// The request conflicts with current state (HTTP 409, or a refused state transition).
    #[error("conflict: {detail}")]
    Conflict { detail: String },
    /// Wrong credentials, or a missing or expired token (HTTP 401).
    #[error("unauthorized: {detail}")]
    Unauthorized { detail: String },
    /// The operator may not see or command this fleet (HTTP 403).
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },
    /// Too many failed logins; retry after `retry_after_secs` when the server said so (HTTP 429).
    #[error("rate limited: {detail}")]
    RateLimited {
        detail: String,
        retry_after_secs: Option<u64>,
    },
    /// A backend (database, broker) is down or the server answered 503; worth retrying.
    #[error("backend unavailable: {detail}")]
    Backend { detail: String },
    /// The server or broker could not be reached, or the connection broke.
    #[error("transport: {detail}")]
    Transport { detail: String },
    /// The object was closed (`close()` on the agent, a cancelled subscription).
    #[error("closed: {detail}")]
    Closed { detail: String },
    /// Configuration is missing or wrong (e.g. a base URL that does not parse).
    #[error("configuration: {detail}")]
    Config { detail: String },
    /// The server answered something this client does not understand, or failed (HTTP 500).
    #[error("internal: {detail}")]
    Internal { detail: String },
}

impl VehicleOpsError {
    pub(crate) fn transport(e: impl std::fmt::Display) -> Self {
        VehicleOpsError::Transport {
            detail: e.to_string(),
        }
    }

    pub(crate) fn validation(field: &str, detail: impl Into<String>) -> Self {
        VehicleOpsError::Validation {
            detail: detail.into(),
            field: field.to_owned(),
        }
    }

    /// Maps the reference server's error envelope
    /// (`{"detail", "status_code", "error", "field"?}`) and the `Retry-After` header.
    pub(crate) fn from_envelope(status: u16, body: &str, retry_after_secs: Option<u64>) -> Self {
        #[derive(serde::Deserialize)]
        struct Envelope {
            detail: String,
            #[serde(default)]
            error: String,
            #[serde(default)]
            field: Option<String>,
        }
        let (detail, code, field) = match serde_json::from_str::<Envelope>(body) {
            Ok(e) => (e.detail, e.error, e.field),
            Err(_) => (
                format!(
                    "HTTP {status}: {}",
                    body.chars().take(200).collect::<String>()
                ),
                String::new(),
                None,
            ),
        };
        match (code.as_str(), status) {
            ("UNPROCESSABLE", _) | (_, 422) => VehicleOpsError::Validation {
                detail,
                field: field.unwrap_or_default(),
            },
            ("NOT_FOUND", _) | (_, 404) => VehicleOpsError::NotFound { detail },
            ("CONFLICT", _) | (_, 409) => VehicleOpsError::Conflict { detail },
            ("UNAUTHORIZED", _) | (_, 401) => VehicleOpsError::Unauthorized { detail },
            ("FORBIDDEN", _) | (_, 403) => VehicleOpsError::Forbidden { detail },
            ("TOO_MANY_REQUESTS", _) | (_, 429) => VehicleOpsError::RateLimited {
                detail,
                retry_after_secs,
            },
            ("SERVICE_UNAVAILABLE", _) | (_, 503) => VehicleOpsError::Backend { detail },
            _ => VehicleOpsError::Internal { detail },
        }
    }
}

impl From<CoreError> for VehicleOpsError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match (&e, e.kind()) {
            (CoreError::Validation(v), _) => VehicleOpsError::Validation {
                detail: v.reason.clone(),
                field: v.field.to_owned(),
            },
            (_, ErrorKind::NotFound) => VehicleOpsError::NotFound { detail },
            (_, ErrorKind::Conflict | ErrorKind::InvalidTransition) => {
                VehicleOpsError::Conflict { detail }
            }
            (_, ErrorKind::Backend) => VehicleOpsError::Backend { detail },
            (_, ErrorKind::Closed) => VehicleOpsError::Closed { detail },
            (_, ErrorKind::Config) => VehicleOpsError::Config { detail },
            // `ErrorKind` is non-exhaustive: a kind added later still arrives, as internal.
            _ => VehicleOpsError::Internal { detail },
        }
    }
}

impl From<reqwest::Error> for VehicleOpsError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() {
            VehicleOpsError::Internal {
                detail: format!("unexpected response: {e}"),
            }
        } else {
            VehicleOpsError::transport(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_map_to_their_kind_with_detail_and_field() {
        let e = VehicleOpsError::from_envelope(
            401,
            r#"{"detail":"Invalid credentials","status_code":401,"error":"UNAUTHORIZED"}"#,
            None,
        );
        assert_eq!(
            e,
            VehicleOpsError::Unauthorized {
                detail: "Invalid credentials".into()
            }
        );
        let e = VehicleOpsError::from_envelope(
            422,
            r#"{"detail":"limit must be 1-200","status_code":422,"error":"UNPROCESSABLE","field":"limit"}"#,
            None,
        );
        assert_eq!(
            e,
            VehicleOpsError::Validation {
                detail: "limit must be 1-200".into(),
                field: "limit".into()
            }
        );
        let e = VehicleOpsError::from_envelope(
            409,
            r#"{"detail":"Vehicle v already has an active mission","status_code":409,"error":"CONFLICT"}"#,
            None,
        );
        assert_eq!(
            e,
            VehicleOpsError::Conflict {
                detail: "Vehicle v already has an active mission".into()
            }
        );
        let e = VehicleOpsError::from_envelope(429, "{}", Some(30));
        assert!(
            matches!(e, VehicleOpsError::RateLimited { retry_after_secs: Some(30), ref detail } if detail.starts_with("HTTP 429")),
            "{e:?}"
        );
    }

    #[test]
    fn core_errors_keep_their_kind() {
        let e: VehicleOpsError = CoreError::validation("speed_kmh", "must be >= 0").into();
        assert_eq!(
            e,
            VehicleOpsError::Validation {
                detail: "must be >= 0".into(),
                field: "speed_kmh".into()
            }
        );
        let e: VehicleOpsError = CoreError::not_found("vehicle", "V-1").into();
        assert!(matches!(e, VehicleOpsError::NotFound { .. }));
        let e: VehicleOpsError = CoreError::backend_msg("mqtt", "broker down").into();
        assert!(matches!(e, VehicleOpsError::Backend { .. }));
    }
}
