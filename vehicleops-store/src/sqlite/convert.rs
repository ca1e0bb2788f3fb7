//! Conversions between domain values and SQLite column values.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vehicleops_core::{Error, Result};

use super::BACKEND;

/// Timestamps are stored as INTEGER microseconds since the Unix epoch: compact, ordered, and
/// bucketed with integer arithmetic. Sub-microsecond precision is dropped.
pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(us: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Integer,
            format!("timestamp {us} µs is out of range").into(),
        )
    })
}

pub(super) fn opt_from_micros(us: Option<i64>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    us.map(from_micros).transpose()
}

/// The stored name of a unit enum: its serde name (e.g. `IN_PROGRESS`), the same the REST API
/// uses, so the database reads like the API.
pub(super) fn enum_name<T: Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        Ok(other) => Err(Error::backend_msg(
            BACKEND,
            format!("expected a unit enum, got {other}"),
        )),
        Err(e) => Err(Error::backend(BACKEND, e)),
    }
}

/// Parses a stored enum name back; a failure means the row was written by something else.
pub(super) fn parse_enum<T: DeserializeOwned>(name: String) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(name)).map_err(conversion_error)
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::backend(BACKEND, e))
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(conversion_error)
}

fn conversion_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vehicleops_core::{MissionStatus, Severity};

    #[test]
    fn enums_are_stored_by_their_api_names() {
        assert_eq!(
            enum_name(&MissionStatus::InProgress).unwrap(),
            "IN_PROGRESS"
        );
        assert_eq!(
            parse_enum::<Severity>("CRITICAL".into()).unwrap(),
            Severity::Critical
        );
        assert!(parse_enum::<Severity>("SEVERE".into()).is_err());
    }

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        assert_eq!(from_micros(micros(t)).unwrap(), t);
        assert_eq!(micros(t), 1_700_000_000_123_456);
    }
}
