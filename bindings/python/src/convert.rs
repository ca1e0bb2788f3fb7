//! Conversions between Python objects and the SDK's types.
//!
//! Readings come in as mappings (dicts, or anything with `keys`/`__getitem__`) and are read
//! field by field, so a wrong type is reported as a `ValidationError` naming that field. Results
//! go out as plain dicts and lists in the JSON shape of the REST API (timestamps as RFC 3339
//! strings), built with `pythonize` from the types' serde representation.

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vehicleops_core::decode::parse_timestamp;
use vehicleops_core::{
    Error, MapPose, ReportQuery, RuleConfig, Telemetry, TimeRange, ValidationError, VehicleStatus,
};

use crate::errors::IntoPyResult;

/// Serializes `value` into Python objects; attaches to the interpreter only for the conversion.
pub fn to_py<T: Serialize>(value: &T) -> PyResult<Py<PyAny>> {
    crate::awaitable::attach(|py| Ok(pythonize::pythonize(py, value)?.unbind()))
        .unwrap_or_else(|| Err(crate::errors::interpreter_exiting()))
}

/// Reads one telemetry mapping and validates it like a decoded JSON message.
pub fn telemetry_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Telemetry> {
    read_telemetry(obj)?
        .and_then(|t| t.validate().map(|()| t))
        .into_py_result()
}

/// `Ok(Err(_))` is a validation failure; `Err(_)` a Python error (e.g. a failing `__getitem__`).
fn read_telemetry(obj: &Bound<'_, PyAny>) -> PyResult<Result<Telemetry, ValidationError>> {
    let Ok(map) = obj.cast::<PyDict>() else {
        return Ok(Err(ValidationError::new(
            "payload",
            "a reading must be a dict (or a vehicleops.Telemetry)",
        )));
    };
    let fields = Fields { map };
    macro_rules! req {
        ($e:expr) => {
            match $e? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            }
        };
    }
    // Read in the wire format's field order, so the first problem reported is the first field.
    let vehicle_id = req!(fields.required("vehicle_id"));
    let fleet_id = req!(fields.required("fleet_id"));
    let latitude = req!(fields.required("latitude"));
    let longitude = req!(fields.required("longitude"));
    let speed_kmh = req!(fields.required("speed_kmh"));
    let battery_pct = req!(fields.required("battery_pct"));
    let engine_temp_c = req!(fields.required("engine_temp_c"));
    let load_pct = req!(fields.optional("load_pct")).unwrap_or(0.0);
    let status: String = req!(fields.required("status"));
    let status = match status.parse::<VehicleStatus>() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let timestamp = match map.get_item("timestamp")? {
        None => return Ok(Err(missing("timestamp"))),
        Some(v) => match timestamp_from_py(&v)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        },
    };
    let heading_deg = req!(fields.optional("heading_deg")).unwrap_or(0.0);
    let seq = req!(fields.optional("seq")).unwrap_or(0);
    let pose = match map.get_item("pose")? {
        Some(p) if !p.is_none() => match pythonize::depythonize::<MapPose>(&p) {
            Ok(pose) => Some(pose),
            Err(e) => return Ok(Err(ValidationError::new("pose", e.to_string()))),
        },
        _ => None,
    };
    Ok(Ok(Telemetry {
        vehicle_id,
        fleet_id,
        latitude,
        longitude,
        speed_kmh,
        battery_pct,
        engine_temp_c,
        load_pct,
        status,
        timestamp,
        heading_deg,
        seq,
        pose,
    }))
}

struct Fields<'a, 'py> {
    map: &'a Bound<'py, PyDict>,
}

impl Fields<'_, '_> {
    fn required<T>(&self, field: &'static str) -> PyResult<Result<T, ValidationError>>
    where
        T: for<'a, 'py> FromPyObject<'a, 'py>,
    {
        Ok(match self.optional(field)? {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(missing(field)),
            Err(e) => Err(e),
        })
    }

    fn optional<T>(&self, field: &'static str) -> PyResult<Result<Option<T>, ValidationError>>
    where
        T: for<'a, 'py> FromPyObject<'a, 'py>,
    {
        Ok(match self.map.get_item(field)? {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => v.extract::<T>().map(Some).map_err(|_| {
                let type_name = v
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "?".into());
                ValidationError::new(field, format!("wrong type {type_name}"))
            }),
        })
    }
}

fn missing(field: &'static str) -> ValidationError {
    ValidationError::new(field, "missing required field")
}

/// A timestamp given as an RFC 3339 string or a timezone-aware `datetime`.
fn timestamp_from_py(v: &Bound<'_, PyAny>) -> PyResult<Result<DateTime<Utc>, ValidationError>> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(parse_timestamp(&s.to_cow()?));
    }
    match v.call_method0("isoformat") {
        Ok(iso) => {
            let iso: String = iso.extract()?;
            Ok(parse_timestamp(&iso).map_err(|_| {
                ValidationError::new(
                    "timestamp",
                    format!(
                        "{iso:?} has no timezone; use an aware datetime (e.g. tz=timezone.utc)"
                    ),
                )
            }))
        }
        Err(_) => Ok(Err(ValidationError::new(
            "timestamp",
            "expected an RFC 3339 string or a datetime",
        ))),
    }
}

/// The window `[start, end]`; open ends reach from the Unix epoch to the year 2100.
pub fn time_range(
    start: Option<&Bound<'_, PyAny>>,
    end: Option<&Bound<'_, PyAny>>,
) -> PyResult<TimeRange> {
    let bound = |v: Option<&Bound<'_, PyAny>>, field: &'static str, default: i64| match v {
        Some(v) if !v.is_none() => timestamp_from_py(v)?
            .map_err(|e| ValidationError::new(field, e.reason))
            .into_py_result(),
        _ => Ok(DateTime::from_timestamp(default, 0).expect("a valid constant")),
    };
    let from = bound(start, "start", 0)?;
    let to = bound(end, "end", 4_102_444_800)?;
    TimeRange::new(from, to).into_py_result()
}

/// The days of a report: `start` and `end` as `datetime.date` objects or `"YYYY-MM-DD"`
/// strings (a date prints as its ISO form; a datetime does not parse, so it is refused rather
/// than cut to its day).
pub fn report_query(
    fleet_id: String,
    start: &Bound<'_, PyAny>,
    end: &Bound<'_, PyAny>,
    vehicle_id: Option<String>,
    utc_offset_minutes: i32,
) -> PyResult<ReportQuery> {
    let day = |v: &Bound<'_, PyAny>, field: &'static str| -> PyResult<chrono::NaiveDate> {
        ReportQuery::parse_day(field, &v.str()?.to_string()).into_py_result()
    };
    Ok(ReportQuery {
        fleet_id,
        vehicle_id,
        from: day(start, "start")?,
        to: day(end, "end")?,
        utc_offset_minutes,
    })
}

/// One instant (a datetime or an RFC 3339 string); errors name `field`.
pub fn instant(v: &Bound<'_, PyAny>, field: &'static str) -> PyResult<DateTime<Utc>> {
    timestamp_from_py(v)?
        .map_err(|e| ValidationError::new(field, e.reason))
        .into_py_result()
}

/// A validation error as a Python exception, for checks made in the binding itself.
pub fn invalid(field: &'static str, reason: impl Into<String>) -> PyErr {
    crate::errors::to_py_err(Error::validation(field, reason))
}

/// Reads a rule configuration dict, `{"type": "threshold" | "geofence" | "offline" |
/// "rate_of_change", ...}` (see [`RuleConfig`]). Each kind is read on its own, so an error
/// names the field at fault (`threshold`, `fences[0].shape`) instead of the whole dict, as
/// serde's internally tagged enums do.
pub fn rule_config_from_py(obj: &Bound<'_, PyAny>) -> PyResult<RuleConfig> {
    let Ok(dict) = obj.cast::<PyDict>() else {
        return Err(invalid("config", "a rule configuration must be a dict"));
    };
    let kind = match dict.get_item("type")? {
        Some(v) => v.extract::<String>().ok(),
        None => None,
    };
    let fields = dict.copy()?;
    if fields.contains("type")? {
        fields.del_item("type")?;
    }
    let fields = fields.as_any();
    match kind.as_deref() {
        Some("threshold") => from_py(fields).map(RuleConfig::Threshold),
        Some("geofence") => from_py(fields).map(RuleConfig::Geofence),
        Some("offline") => from_py(fields).map(RuleConfig::Offline),
        Some("rate_of_change") => from_py(fields).map(RuleConfig::RateOfChange),
        // A missing or unknown `type` (or a kind newer than this list): serde's own error.
        _ => from_py(obj),
    }
}

/// Reads `T` from Python objects; an error names the field at fault by its path.
fn from_py<T: DeserializeOwned>(obj: &Bound<'_, PyAny>) -> PyResult<T> {
    let mut de = pythonize::Depythonizer::from_object(obj);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let reason = e.inner().to_string();
        crate::errors::validation_error(&field_of(&e.path().to_string(), &reason), &reason)
    })
}

/// The field a deserialization error is about: its path, or for errors about a missing or
/// unknown field (whose path is the parent) that field.
fn field_of(path: &str, reason: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| reason.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        ("." | "", Some(name)) => name.to_owned(),
        (parent, Some(name)) if !parent.ends_with(name) => format!("{parent}.{name}"),
        ("." | "", None) => "config".to_owned(),
        (path, _) => path.to_owned(),
    }
}
