//! Timestamps: the server speaks ISO 8601 (RFC 3339), Kotlin and Swift get `Instant` / `Date`
//! (UniFFI's `SystemTime`).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// Deserializes an RFC 3339 string as a `SystemTime`.
pub(crate) fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    Ok(DateTime::<Utc>::deserialize(d)?.into())
}

/// Deserializes an optional RFC 3339 string as an optional `SystemTime`.
pub(crate) fn rfc3339_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
    Ok(Option::<DateTime<Utc>>::deserialize(d)?.map(Into::into))
}

/// A `SystemTime` as the RFC 3339 string the server's query parameters take.
pub(crate) fn to_rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
