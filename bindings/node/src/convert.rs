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
use vehicleops_core::{Error, ReportQuery, RuleConfig, TimeRange, ValidationError};

use crate::error::{IntoJsError, invalid_field, invalid_input};

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

/// A rule configuration from a JavaScript object: `type` (`threshold`, `geofence`, `offline`,
/// `rateOfChange`/`rate_of_change`) selects the rule, the other keys are its fields in camelCase
/// (or snake_case). A bad field is named in the error, with its path inside nested objects in
/// the core's spelling (`threshold`, `fences[0].shape.radius_m`).
pub fn rule_config(value: Value) -> napi::Result<RuleConfig> {
    let mut value = rename_keys(value, camel_to_snake, false);
    let Some(fields) = value.as_object_mut() else {
        return Err(invalid_input("config", "must be an object"));
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => camel_to_snake(&kind),
        _ => String::new(),
    };
    // Each variant's fields are read on their own, so errors keep their path (serde reads an
    // internally tagged enum through a buffer that loses it).
    Ok(match kind.as_str() {
        "threshold" => RuleConfig::Threshold(with_path(value)?),
        "geofence" => RuleConfig::Geofence(with_path(value)?),
        "offline" => RuleConfig::Offline(with_path(value)?),
        "rate_of_change" => RuleConfig::RateOfChange(with_path(value)?),
        _ => {
            return Err(invalid_input(
                "type",
                "must be one of threshold, geofence, offline, rate_of_change",
            ));
        }
    })
}

/// Deserialises `value`; an error names the field at fault by its path.
fn with_path<T: DeserializeOwned>(value: Value) -> napi::Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // A missing field is reported at the object that should have it.
        let named = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "config".to_owned(),
            (path, Some(name)) => format!("{path}.{name}"),
            (path, None) => path.to_owned(),
        };
        invalid_field(&field, message)
    })
}

/// Parses an optional ISO 8601 time, `default` when absent.
pub fn time(
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

/// The days of a report (`YYYY-MM-DD`, errors naming `from` / `to`).
pub fn report_query(
    fleet_id: String,
    from: &str,
    to: &str,
    vehicle_id: Option<String>,
    utc_offset_minutes: Option<i32>,
) -> napi::Result<ReportQuery> {
    Ok(ReportQuery {
        fleet_id,
        vehicle_id,
        from: ReportQuery::parse_day("from", from).map_err(ValidationError::into_js)?,
        to: ReportQuery::parse_day("to", to).map_err(ValidationError::into_js)?,
        utc_offset_minutes: utc_offset_minutes.unwrap_or(0),
    })
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

    fn field_of(err: napi::Error) -> String {
        let json = err
            .reason
            .strip_prefix(crate::error::ENVELOPE_PREFIX)
            .unwrap();
        let v: Value = serde_json::from_str(json).unwrap();
        v["field"].as_str().unwrap().to_owned()
    }

    #[test]
    fn rule_configs_are_read_in_camel_case() {
        let config = rule_config(json!({
            "type": "threshold", "alertType": "SLOW", "metric": "speed_kmh",
            "comparison": "above", "threshold": 40, "raiseAfter": 2
        }))
        .unwrap();
        assert!(matches!(&config, RuleConfig::Threshold(t) if t.raise_after == 2));
        assert_eq!(config.into_rule().unwrap().name(), "slow");
        let offline = rule_config(json!({"type": "offline", "timeoutSecs": 45})).unwrap();
        assert!(matches!(offline, RuleConfig::Offline(_)));
        let rate = json!({"type": "rateOfChange", "metric": "battery_pct", "direction": "falling",
                          "maxRatePerSec": 0.5});
        assert!(matches!(
            rule_config(rate).unwrap(),
            RuleConfig::RateOfChange(_)
        ));
    }

    #[test]
    fn bad_rule_configs_name_the_field() {
        let base = json!({"type": "threshold", "alertType": "SLOW", "metric": "speed_kmh",
                          "comparison": "above", "threshold": 40});
        let with = |key: &str, value: Value| {
            let mut v = base.clone();
            v[key] = value;
            field_of(rule_config(v).unwrap_err())
        };
        assert_eq!(with("threshold", json!("fast")), "threshold");
        assert_eq!(with("comparison", json!("sideways")), "comparison");
        assert_eq!(with("limit", json!(3)), "limit");
        let mut missing = base.clone();
        missing.as_object_mut().unwrap().remove("metric");
        assert_eq!(field_of(rule_config(missing).unwrap_err()), "metric");
        assert_eq!(
            field_of(rule_config(json!({"type": "x"})).unwrap_err()),
            "type"
        );
        let fence = json!({"type": "geofence", "fences": [{"id": "depot", "shape":
            {"type": "circle", "center": {"latitude": 4.7, "longitude": -74.0}, "radiusM": "far"}}]});
        assert!(field_of(rule_config(fence).unwrap_err()).starts_with("fences[0].shape"));
    }

    #[test]
    fn a_window_with_from_after_to_is_refused() {
        assert!(range(Some("2024-01-02T00:00:00Z"), Some("2024-01-01T00:00:00Z")).is_err());
        assert!(range(Some("yesterday"), None).is_err());
        let all = range(None, None).unwrap();
        assert!(all.contains(Utc::now()));
    }
}
