//! Decoding and validating telemetry from JSON bytes.
//!
//! This is the hot path of ingest, so it walks the JSON once with a hand-written serde visitor:
//! keys are borrowed from the input, unknown keys are skipped, and the field being read is
//! remembered so a wrong type is reported against the field that has it.

use std::cell::Cell;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::error::ValidationError;
use crate::model::{MapPose, Telemetry, VehicleStatus};

/// Readings larger than this are rejected before parsing (a reading is ~300 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Longest accepted vehicle or fleet id.
pub const MAX_ID_LEN: usize = 128;

/// Decodes one JSON telemetry message and validates every field.
///
/// ```
/// let json = br#"{"vehicle_id":"fleet-001-VH-001","fleet_id":"fleet-001","latitude":4.711,
///   "longitude":-74.0721,"speed_kmh":42.5,"battery_pct":78.0,"engine_temp_c":72.3,
///   "load_pct":65.0,"status":"MOVING","timestamp":"2024-02-15T14:32:18Z"}"#;
/// let t = vehicleops_core::decode_telemetry(json).unwrap();
/// assert_eq!(t.speed_kmh, 42.5);
///
/// let bad = std::str::from_utf8(json).unwrap().replace("4.711", "91.0");
/// let err = vehicleops_core::decode_telemetry(bad.as_bytes()).unwrap_err();
/// assert_eq!(err.field, "latitude");
/// assert_eq!(err.to_string(), "invalid `latitude`: latitude 91 is outside -90..=90");
/// ```
pub fn decode_telemetry(bytes: &[u8]) -> Result<Telemetry, ValidationError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(ValidationError::new(
            "payload",
            format!(
                "{} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit",
                bytes.len()
            ),
        ));
    }
    // Validating UTF-8 once up front lets serde_json borrow every string without re-checking
    // it, which is most of the parse time for a message this small.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ValidationError::new("payload", format!("payload is not UTF-8 text: {e}")))?;
    let current = Cell::new("payload");
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = TelemetrySeed { current: &current }
        .deserialize(&mut de)
        .and_then(|t| de.end().map(|_| t));
    match parsed {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(v)) => Err(v),
        Err(e) => Err(ValidationError::new(current.get(), describe_json_error(&e))),
    }
}

fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("malformed JSON: {e}"),
        Category::Data => e.to_string(),
        Category::Io => format!("could not read payload: {e}"),
    }
}

struct TelemetrySeed<'c> {
    current: &'c Cell<&'static str>,
}

/// Serde errors abort the parse (and name `current`); a range failure is returned as the inner
/// `Err` so the rest of the message need not be read.
type Decoded = Result<Telemetry, ValidationError>;

impl<'de> DeserializeSeed<'de> for TelemetrySeed<'_> {
    type Value = Decoded;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Decoded, D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Default)]
struct Fields {
    vehicle_id: Option<String>,
    fleet_id: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    speed_kmh: Option<f64>,
    battery_pct: Option<f64>,
    engine_temp_c: Option<f64>,
    load_pct: Option<f64>,
    status: Option<VehicleStatus>,
    timestamp: Option<DateTime<Utc>>,
    heading_deg: Option<f64>,
    seq: Option<u64>,
    pose: Option<MapPose>,
}

/// A JSON string that may or may not borrow from the input (it must own when it has escapes).
struct Str<'de>(std::borrow::Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(v.to_owned().into()))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for TelemetrySeed<'_> {
    type Value = Decoded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a telemetry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        let mut f = Fields::default();
        loop {
            self.current.set("payload");
            let Some(key) = map.next_key::<Str<'de>>()? else {
                break;
            };
            macro_rules! read {
                ($name:literal, $slot:expr, $ty:ty) => {{
                    self.current.set($name);
                    $slot = Some(map.next_value::<$ty>()?);
                }};
            }
            match key.0.as_ref() {
                "vehicle_id" => {
                    self.current.set("vehicle_id");
                    f.vehicle_id = Some(map.next_value::<Str>()?.0.into_owned());
                }
                "fleet_id" => {
                    self.current.set("fleet_id");
                    f.fleet_id = Some(map.next_value::<Str>()?.0.into_owned());
                }
                "latitude" => read!("latitude", f.latitude, f64),
                "longitude" => read!("longitude", f.longitude, f64),
                "speed_kmh" => read!("speed_kmh", f.speed_kmh, f64),
                "battery_pct" => read!("battery_pct", f.battery_pct, f64),
                "engine_temp_c" => read!("engine_temp_c", f.engine_temp_c, f64),
                "load_pct" => read!("load_pct", f.load_pct, f64),
                "heading_deg" | "heading" => read!("heading_deg", f.heading_deg, f64),
                "seq" => read!("seq", f.seq, u64),
                "pose" => {
                    self.current.set("pose");
                    f.pose = map.next_value::<Option<MapPose>>()?;
                }
                "status" => {
                    self.current.set("status");
                    let s = map.next_value::<Str>()?;
                    match s.0.parse() {
                        Ok(st) => f.status = Some(st),
                        Err(e) => return skip_rest(map, e),
                    }
                }
                "timestamp" => {
                    self.current.set("timestamp");
                    let s = map.next_value::<Str>()?;
                    match parse_timestamp(&s.0) {
                        Ok(ts) => f.timestamp = Some(ts),
                        Err(e) => return skip_rest(map, e),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.current.set("payload");
        Ok(f.finish())
    }
}

/// Reads past the remaining entries so the caller's end-of-input check still holds.
fn skip_rest<'de, A: MapAccess<'de>>(
    mut map: A,
    err: ValidationError,
) -> Result<Decoded, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(Err(err))
}

impl Fields {
    fn finish(self) -> Decoded {
        fn req<T>(v: Option<T>, field: &'static str) -> Result<T, ValidationError> {
            v.ok_or_else(|| ValidationError::new(field, "missing required field"))
        }
        let t = Telemetry {
            vehicle_id: req(self.vehicle_id, "vehicle_id")?,
            fleet_id: req(self.fleet_id, "fleet_id")?,
            latitude: req(self.latitude, "latitude")?,
            longitude: req(self.longitude, "longitude")?,
            speed_kmh: req(self.speed_kmh, "speed_kmh")?,
            battery_pct: req(self.battery_pct, "battery_pct")?,
            engine_temp_c: req(self.engine_temp_c, "engine_temp_c")?,
            load_pct: self.load_pct.unwrap_or(0.0),
            status: req(self.status, "status")?,
            timestamp: req(self.timestamp, "timestamp")?,
            heading_deg: self.heading_deg.unwrap_or(0.0),
            seq: self.seq.unwrap_or(0),
            pose: self.pose,
        };
        t.validate()?;
        Ok(t)
    }
}

/// Parses an RFC 3339 timestamp (`2024-02-15T14:32:18Z`, offsets and fractions allowed).
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ValidationError::new(
                "timestamp",
                format!("{s:?} is not an RFC 3339 timestamp ({e}); use e.g. 2024-02-15T14:32:18Z"),
            )
        })
}

pub(crate) fn validate_ids(vehicle_id: &str, fleet_id: &str) -> Result<(), ValidationError> {
    for (field, v) in [("vehicle_id", vehicle_id), ("fleet_id", fleet_id)] {
        if v.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if v.len() > MAX_ID_LEN {
            return Err(ValidationError::new(
                field,
                format!("longer than {MAX_ID_LEN} bytes"),
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_lat_lon(
    lat: f64,
    lon: f64,
    field_prefix: &'static str,
) -> Result<(), ValidationError> {
    let name = |f: &'static str| {
        if field_prefix.is_empty() {
            f
        } else {
            field_prefix
        }
    };
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(ValidationError::new(
            name("latitude"),
            format!("latitude {lat} is outside -90..=90"),
        ));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(ValidationError::new(
            name("longitude"),
            format!("longitude {lon} is outside -180..=180"),
        ));
    }
    Ok(())
}

pub(crate) fn validate_numbers(t: &Telemetry) -> Result<(), ValidationError> {
    validate_lat_lon(t.latitude, t.longitude, "")?;
    let finite = |field: &'static str, v: f64| {
        if v.is_finite() {
            Ok(())
        } else {
            Err(ValidationError::new(
                field,
                format!("{v} is not a finite number"),
            ))
        }
    };
    finite("speed_kmh", t.speed_kmh)?;
    finite("battery_pct", t.battery_pct)?;
    finite("engine_temp_c", t.engine_temp_c)?;
    finite("load_pct", t.load_pct)?;
    finite("heading_deg", t.heading_deg)?;
    if t.speed_kmh < 0.0 {
        return Err(ValidationError::new(
            "speed_kmh",
            format!("{} is negative", t.speed_kmh),
        ));
    }
    if !(0.0..=100.0).contains(&t.battery_pct) {
        return Err(ValidationError::new(
            "battery_pct",
            format!("{} is outside 0..=100", t.battery_pct),
        ));
    }
    if !(0.0..=100.0).contains(&t.load_pct) {
        return Err(ValidationError::new(
            "load_pct",
            format!("{} is outside 0..=100", t.load_pct),
        ));
    }
    if !(-60.0..=300.0).contains(&t.engine_temp_c) {
        return Err(ValidationError::new(
            "engine_temp_c",
            format!("{} °C is outside the plausible -60..=300", t.engine_temp_c),
        ));
    }
    if !(0.0..=360.0).contains(&t.heading_deg) {
        return Err(ValidationError::new(
            "heading_deg",
            format!("{} is outside 0..=360", t.heading_deg),
        ));
    }
    if let Some(p) = &t.pose {
        for (field, v) in [("pose.x", p.x), ("pose.y", p.y), ("pose.theta", p.theta)] {
            finite(field, v)?;
        }
        if p.map_id.is_empty() {
            return Err(ValidationError::new("pose.map_id", "must not be empty"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"vehicle_id":"fleet-001-VH-001","fleet_id":"fleet-001","latitude":4.711,"longitude":-74.0721,"speed_kmh":42.5,"battery_pct":78.0,"engine_temp_c":72.3,"load_pct":65.0,"status":"MOVING","timestamp":"2024-02-15T14:32:18Z"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v[field] = serde_json::from_str(value).unwrap();
        v.to_string()
    }

    fn err_of(json: &str) -> ValidationError {
        decode_telemetry(json.as_bytes()).expect_err("should be rejected")
    }

    #[test]
    fn decodes_the_original_payload() {
        let t = decode_telemetry(GOOD.as_bytes()).unwrap();
        assert_eq!(t.vehicle_id, "fleet-001-VH-001");
        assert_eq!(t.status, VehicleStatus::Moving);
        assert_eq!(t.timestamp.to_rfc3339(), "2024-02-15T14:32:18+00:00");
        assert_eq!(t.seq, 0);
        assert!(t.pose.is_none());
    }

    #[test]
    fn decodes_extensions_and_ignores_unknown_fields() {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v["seq"] = 7.into();
        v["heading_deg"] = 90.5.into();
        v["pose"] = serde_json::json!({"x": 1.0, "y": 2.0, "theta": 0.5, "map_id": "hall-a"});
        v["firmware"] = serde_json::json!({"nested": [1, 2, 3]});
        v["vehicle_id"] = "VH-\u{e9}\\n".into();
        let t = decode_telemetry(v.to_string().replace("\\\\n", "x").as_bytes()).unwrap();
        assert_eq!(t.seq, 7);
        assert_eq!(t.heading_deg, 90.5);
        assert_eq!(t.pose.unwrap().map_id, "hall-a");
    }

    #[test]
    fn round_trips_through_serde() {
        let t = decode_telemetry(GOOD.as_bytes()).unwrap();
        let back = decode_telemetry(serde_json::to_string(&t).unwrap().as_bytes()).unwrap();
        assert_eq!(t, back);
    }

    #[test]
    fn rejects_malformed_json() {
        let e = err_of(r#"{"vehicle_id": "x","#);
        assert_eq!(e.field, "payload");
        assert!(e.reason.contains("malformed JSON"), "{e}");
        assert!(err_of("[1,2]").reason.contains("telemetry object"));
        assert!(
            err_of(&format!("{GOOD} trailing"))
                .reason
                .contains("malformed")
        );
    }

    #[test]
    fn rejects_wrong_types_naming_the_field() {
        let e = err_of(&with("speed_kmh", r#""fast""#));
        assert_eq!(e.field, "speed_kmh");
        assert!(e.reason.contains("invalid type"), "{e}");
        assert_eq!(err_of(&with("vehicle_id", "12")).field, "vehicle_id");
        assert_eq!(err_of(&with("seq", "-1")).field, "seq");
    }

    #[test]
    fn rejects_non_finite_numbers() {
        // JSON has no NaN literal and serde rejects overflow to infinity.
        assert_eq!(err_of(&GOOD.replace("42.5", "NaN")).field, "speed_kmh");
        assert_eq!(err_of(&GOOD.replace("42.5", "1e999")).field, "speed_kmh");
        // A hand-built reading with NaN is caught by validate().
        let mut t = decode_telemetry(GOOD.as_bytes()).unwrap();
        t.engine_temp_c = f64::NAN;
        assert_eq!(t.validate().unwrap_err().field, "engine_temp_c");
        t.engine_temp_c = 70.0;
        t.latitude = f64::INFINITY;
        assert_eq!(t.validate().unwrap_err().field, "latitude");
    }

    #[test]
    fn rejects_out_of_range_values() {
        assert_eq!(err_of(&with("latitude", "90.5")).field, "latitude");
        assert_eq!(err_of(&with("latitude", "-91")).field, "latitude");
        assert_eq!(err_of(&with("longitude", "180.01")).field, "longitude");
        assert_eq!(err_of(&with("speed_kmh", "-0.1")).field, "speed_kmh");
        assert_eq!(err_of(&with("battery_pct", "100.5")).field, "battery_pct");
        assert_eq!(err_of(&with("battery_pct", "-1")).field, "battery_pct");
        assert_eq!(err_of(&with("load_pct", "101")).field, "load_pct");
        assert_eq!(err_of(&with("heading_deg", "400")).field, "heading_deg");
        assert_eq!(err_of(&with("vehicle_id", r#""""#)).field, "vehicle_id");
        // Boundaries are valid.
        decode_telemetry(with("latitude", "-90").as_bytes()).unwrap();
        decode_telemetry(with("battery_pct", "0").as_bytes()).unwrap();
    }

    #[test]
    fn rejects_unknown_status_and_bad_timestamp() {
        let e = err_of(&with("status", r#""FLYING""#));
        assert_eq!(e.field, "status");
        assert!(e.reason.contains("FLYING") && e.reason.contains("MOVING"));
        let e = err_of(&with("timestamp", r#""yesterday""#));
        assert_eq!(e.field, "timestamp");
        assert!(e.reason.contains("RFC 3339"));
    }

    #[test]
    fn rejects_missing_fields() {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v.as_object_mut().unwrap().remove("battery_pct");
        let e = err_of(&v.to_string());
        assert_eq!(e.field, "battery_pct");
        assert!(e.reason.contains("missing"));
    }

    #[test]
    fn rejects_oversize_payloads_before_parsing() {
        let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_PAYLOAD_BYTES));
        let e = err_of(&big);
        assert_eq!(e.field, "payload");
        assert!(e.reason.contains("limit"));
    }
}
