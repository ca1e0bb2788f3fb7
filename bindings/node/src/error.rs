//! One mapping from the core's errors to JavaScript errors.
//!
//! N-API promises reject with plain `Error`s whose `code` napi-rs fills from its own status, so
//! the kind travels in the message as a small JSON envelope (`VOERR:{…}`). The TypeScript layer
//! turns it back into a `VehicleOpsError` with `kind`, `code` and `field` properties; called
//! directly, the message is still readable.

use napi::Status;
use serde::Serialize;
use vehicleops_core::{Error, ErrorKind, ValidationError};

/// Prefix that marks an error envelope in a message.
pub const ENVELOPE_PREFIX: &str = "VOERR:";

#[derive(Serialize)]
struct Envelope<'a> {
    kind: &'static str,
    code: &'static str,
    field: Option<&'a str>,
    message: String,
}

/// The stable kind name JavaScript code matches on, one per [`ErrorKind`].
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Validation => "validation",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::InvalidTransition => "invalid_transition",
        ErrorKind::Backend => "backend",
        ErrorKind::Closed => "closed",
        ErrorKind::Config => "config",
        // `ErrorKind` is non-exhaustive: a kind added later still reaches JS, as "internal".
        _ => "internal",
    }
}

fn envelope(kind: ErrorKind, field: Option<&str>, message: String) -> napi::Error {
    let envelope = Envelope {
        kind: kind_name(kind),
        code: kind.code(),
        field,
        message,
    };
    let json = serde_json::to_string(&envelope).unwrap_or_else(|_| envelope.message.clone());
    napi::Error::new(Status::GenericFailure, format!("{ENVELOPE_PREFIX}{json}"))
}

/// Converts an SDK error into the JavaScript error the binding throws.
pub trait IntoJsError {
    fn into_js(self) -> napi::Error;
}

impl IntoJsError for Error {
    fn into_js(self) -> napi::Error {
        let field = match &self {
            Error::Validation(v) => Some(v.field),
            _ => None,
        };
        envelope(self.kind(), field, self.to_string())
    }
}

impl IntoJsError for ValidationError {
    fn into_js(self) -> napi::Error {
        Error::Validation(self).into_js()
    }
}

/// `?`-friendly conversion of SDK results at the boundary.
pub trait OrJs<T> {
    fn or_js(self) -> napi::Result<T>;
}

impl<T, E: IntoJsError> OrJs<T> for Result<T, E> {
    fn or_js(self) -> napi::Result<T> {
        self.map_err(IntoJsError::into_js)
    }
}

/// A validation error about an input the caller built badly (a field of an options object).
pub fn invalid_input(field: &'static str, reason: impl Into<String>) -> napi::Error {
    ValidationError::new(field, reason).into_js()
}

/// A validation error about a field named at run time, e.g. a path inside a nested input
/// (`fences[0].shape.radius_m`).
pub fn invalid_field(field: &str, reason: impl std::fmt::Display) -> napi::Error {
    envelope(
        ErrorKind::Validation,
        Some(field),
        format!("invalid `{field}`: {reason}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(err: napi::Error) -> serde_json::Value {
        let json = err
            .reason
            .strip_prefix(ENVELOPE_PREFIX)
            .expect("an envelope");
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validation_errors_name_the_field() {
        let v = parse(Error::validation("latitude", "must be within ±90").into_js());
        assert_eq!(v["kind"], "validation");
        assert_eq!(v["code"], "UNPROCESSABLE");
        assert_eq!(v["field"], "latitude");
        assert!(v["message"].as_str().unwrap().contains("latitude"));
    }

    #[test]
    fn conflicts_and_not_found_keep_their_kind() {
        let v = parse(Error::Conflict("vehicle VH-1 already has a mission".into()).into_js());
        assert_eq!(
            (v["kind"].as_str(), v["code"].as_str()),
            (Some("conflict"), Some("CONFLICT"))
        );
        assert!(v["field"].is_null());
        let v = parse(Error::not_found("vehicle", "VH-9").into_js());
        assert_eq!(v["kind"], "not_found");
        assert_eq!(v["message"], "vehicle `VH-9` not found");
    }
}
