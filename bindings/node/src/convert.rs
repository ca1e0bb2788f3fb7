//! Plain data between the core's serde shapes (snake_case) and JavaScript (camelCase).
//!
//! Values cross the boundary as JSON values; the keys are renamed here, once, by one rule:
//! `_x` ↔ `X` for a lower-case letter or digit `x`. Maps keyed by data rather than by field
//! names (statuses, alert types) keep their keys. The TypeScript types in `lib/types.ts`
//! describe the camelCase shapes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use vehicleops_core::{Error, TimeRange, ValidationError};

use crate::error::{IntoJsError, invalid_input};

/// Fields whose value is a map keyed by data; their keys are never renamed.
const DATA_KEYED: [&str; 2] = ["by_status", "alerts_by_type"];

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rename_keys(value: Value, rename: fn(&str) -> String, data_keyed: bool) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                if data_keyed {
                    out.insert(k, v);
                    continue;
                }
                let key = rename(&k);
                let keep = DATA_KEYED.contains(&key.as_str()) || DATA_KEYED.contains(&k.as_str());
                out.insert(key, rename_keys(v, rename, keep));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| rename_keys(v, rename, false))
                .collect(),
        ),
        Value::Number(n) => Value::Number(integral(n)),
        other => other,
    }
}

/// JavaScript numbers arrive as floats; whole ones become integers so `u64` fields accept them.
fn integral(n: serde_json::Number) -> serde_json::Number {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 => {
            serde_json::Number::from(f as u64)
        }
        Some(f) if n.is_f64() && f.fract() == 0.0 && f < 0.0 && f > i64::MIN as f64 => {
            serde_json::Number::from(f as i64)
        }
        _ => n,
    }
}

/// `faultInjection` → `fault-injection`; kebab-case input is left as it is.
pub fn camel_to_kebab(s: &str) -> String {
    camel_to_snake(s).replace('_', "-")
}

/// Serialises a core value into the camelCase JSON value JavaScript receives.
pub fn to_js<T: Serialize>(value: &T) -> napi::Result<Value> {
    let v =
        serde_json::to_value(value).map_err(|e| Error::backend("serialization", e).into_js())?;
    Ok(rename_keys(v, snake_to_camel, false))
}

/// Reads a core value from a camelCase JSON value built by JavaScript. Serde's message names
/// the field at fault (in the core's snake_case spelling); `what` says which argument it was.
pub fn from_js<T: DeserializeOwned>(what: &'static str, value: Value) -> napi::Result<T> {
    let v = rename_keys(value, camel_to_snake, false);
    serde_json::from_value(v).map_err(|e| invalid_input(what, e.to_string()))
}

/// Parses an optional ISO 8601 time, `default` when absent.
fn time(
    field: &'static str,
    s: Option<&str>,
    default: DateTime<Utc>,
) -> napi::Result<DateTime<Utc>> {
    match s {
        None => Ok(default),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| invalid_input(field, format!("not an ISO 8601 time ({s:?}): {e}"))),
    }
}

/// A query window; open ends reach back to the Unix epoch and forward to year 9999.
pub fn range(from: Option<&str>, to: Option<&str>) -> napi::Result<TimeRange> {
    let from = time("from", from, DateTime::UNIX_EPOCH)?;
    let far = DateTime::from_timestamp(253_402_300_799, 0).expect("year 9999 is representable");
    let to = time("to", to, far)?;
    TimeRange::new(from, to).map_err(ValidationError::into_js)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_round_trip_between_cases() {
        for key in ["engine_temp_c", "speed_kmh", "vehicle_id", "map_id", "seq"] {
            assert_eq!(camel_to_snake(&snake_to_camel(key)), key);
        }
        assert_eq!(snake_to_camel("engine_temp_c"), "engineTempC");
    }

    #[test]
    fn data_keyed_maps_keep_their_keys() {
        let v = json!({"alerts_by_type": {"too_slow": 2}, "by_status": {"LOW_BATTERY": 1},
                       "nested": [{"fleet_id": "f"}]});
        let js = rename_keys(v, snake_to_camel, false);
        assert_eq!(js["alertsByType"]["too_slow"], 2);
        assert_eq!(js["byStatus"]["LOW_BATTERY"], 1);
        assert_eq!(js["nested"][0]["fleetId"], "f");
    }

    #[test]
    fn whole_floats_fill_integer_fields() {
        #[derive(serde::Deserialize)]
        struct S {
            seq: u64,
        }
        let s: S = from_js("reading", json!({"seq": 4294967296.0})).unwrap();
        assert_eq!(s.seq, 4_294_967_296);
    }

    #[test]
    fn a_window_with_from_after_to_is_refused() {
        assert!(range(Some("2024-01-02T00:00:00Z"), Some("2024-01-01T00:00:00Z")).is_err());
        assert!(range(Some("yesterday"), None).is_err());
        let all = range(None, None).unwrap();
        assert!(all.contains(Utc::now()));
    }
}
