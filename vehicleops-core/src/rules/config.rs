//! [`RuleConfig`]: rules described as data (JSON, TOML, a Python dict, a JS object), validated
//! into ready-to-run rules.

use std::sync::Arc;

use chrono::Duration;
use geo::{Coord, LineString, Polygon};
use serde::{Deserialize, Serialize};

use super::episode::Debounce;
use super::geofence::{Fence, FenceShape, GeofenceRule};
use super::offline::OfflineRule;
use super::rate::{RateDirection, RateOfChangeRule};
use super::seconds;
use super::template::MessageTemplate;
use super::threshold::{Comparison, ThresholdRule};
use crate::error::ValidationError;
use crate::model::{AlertType, GeoPoint, Metric, Severity};
use crate::traits::AlertRule;

/// Any built-in rule, as configuration. The `type` field selects the rule:
///
/// ```
/// use vehicleops_core::RuleConfig;
///
/// let rules: Vec<RuleConfig> = serde_json::from_str(r#"[
///   {"type": "threshold", "alert_type": "OVERSPEED", "metric": "speed_kmh",
///    "comparison": "above", "threshold": 60, "clear_threshold": 55, "severity": "HIGH",
///    "raise_after": 2, "message": "Vehicle {vehicle_id} over 60 km/h: {value}"},
///   {"type": "geofence", "fences": [
///     {"id": "depot", "dwell_secs": 600, "shape": {"type": "polygon", "points": [
///       {"latitude": 4.70, "longitude": -74.08}, {"latitude": 4.70, "longitude": -74.06},
///       {"latitude": 4.72, "longitude": -74.06}]}},
///     {"id": "pump", "fleet_id": "fleet-001",
///      "shape": {"type": "circle", "center": {"latitude": 4.71, "longitude": -74.07}, "radius_m": 50}}]},
///   {"type": "offline", "timeout_secs": 45},
///   {"type": "rate_of_change", "metric": "battery_pct", "direction": "falling",
///    "max_rate_per_sec": 0.0333}
/// ]"#).unwrap();
/// let built: Vec<_> = rules.into_iter().map(|r| r.into_rule().unwrap()).collect();
/// assert_eq!(built[2].name(), "offline");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleConfig {
    Threshold(ThresholdConfig),
    Geofence(GeofenceConfig),
    Offline(OfflineConfig),
    RateOfChange(RateOfChangeConfig),
}

impl RuleConfig {
    /// The configuration of [`super::default_rules`], e.g. to write out as a starting point
    /// for a configuration file.
    pub fn defaults() -> Vec<RuleConfig> {
        vec![
            RuleConfig::Threshold((&ThresholdRule::overspeed()).into()),
            RuleConfig::Threshold((&ThresholdRule::low_battery()).into()),
            RuleConfig::Threshold((&ThresholdRule::engine_overheat()).into()),
            RuleConfig::Offline((&OfflineRule::default()).into()),
        ]
    }

    /// Validates the configuration and builds the rule. Errors name the field at fault.
    pub fn into_rule(self) -> Result<Arc<dyn AlertRule>, ValidationError> {
        Ok(match self {
            RuleConfig::Threshold(c) => Arc::new(c.into_rule()?),
            RuleConfig::Geofence(c) => Arc::new(c.into_rule()?),
            RuleConfig::Offline(c) => Arc::new(c.into_rule()?),
            RuleConfig::RateOfChange(c) => Arc::new(c.into_rule()?),
        })
    }
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn medium() -> Severity {
    Severity::Medium
}

fn high() -> Severity {
    Severity::High
}

/// Seconds as a [`Duration`]; must be finite, not negative and at most about 300 years.
fn duration(field: &'static str, secs: f64) -> Result<Duration, ValidationError> {
    const MAX_SECS: f64 = 1e10;
    if !(secs.is_finite() && (0.0..=MAX_SECS).contains(&secs)) {
        return Err(ValidationError::new(
            field,
            format!("{secs} is not a number of seconds between 0 and {MAX_SECS}"),
        ));
    }
    Ok(Duration::microseconds((secs * 1e6).round() as i64))
}

fn debounce(
    raise_after: u32,
    min_duration_secs: f64,
    clear_after: u32,
) -> Result<Debounce, ValidationError> {
    let d = Debounce {
        raise_after,
        min_duration: duration("min_duration_secs", min_duration_secs)?,
        clear_after,
    };
    d.validate()?;
    Ok(d)
}

/// A [`ThresholdRule`]. Optional fields default as in [`ThresholdRule::new`]; debounce fields
/// default to raising and clearing on the first reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Upper-case alert type, e.g. `OVERSPEED` or a custom `OVERLOAD`.
    pub alert_type: String,
    pub metric: Metric,
    pub comparison: Comparison,
    pub threshold: f64,
    /// Defaults to `threshold` (no hysteresis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_threshold: Option<f64>,
    #[serde(default = "medium")]
    pub severity: Severity,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub raise_after: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_duration_secs: f64,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub clear_after: u32,
    /// A [`MessageTemplate`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Tells apart parallel episodes of one alert type ([`ThresholdRule::with_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ThresholdConfig {
    pub fn into_rule(self) -> Result<ThresholdRule, ValidationError> {
        let mut rule = ThresholdRule::new(
            AlertType::custom(self.alert_type),
            self.metric,
            self.comparison,
            self.threshold,
        )
        .with_severity(self.severity)
        .with_debounce(debounce(
            self.raise_after,
            self.min_duration_secs,
            self.clear_after,
        )?);
        if let Some(name) = self.name {
            rule = rule.with_name(name);
        }
        if let Some(clear) = self.clear_threshold {
            rule = rule.with_clear_threshold(clear);
        }
        if let Some(message) = self.message {
            rule = rule.with_message(MessageTemplate::parse(&message)?);
        }
        if let Some(key) = self.key {
            rule = rule.with_key(key);
        }
        rule.validate()?;
        Ok(rule)
    }
}

/// A [`GeofenceRule`] over a set of fences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeofenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub fences: Vec<FenceConfig>,
}

impl GeofenceConfig {
    pub fn into_rule(self) -> Result<GeofenceRule, ValidationError> {
        let fences = self
            .fences
            .into_iter()
            .map(FenceConfig::into_fence)
            .collect::<Result<Vec<_>, _>>()?;
        let rule = GeofenceRule::new(fences)?;
        Ok(match self.name {
            Some(name) => rule.with_name(name),
            None => rule,
        })
    }
}

/// One [`Fence`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FenceConfig {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Restricts the fence to one fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_id: Option<String>,
    pub shape: ShapeConfig,
    /// Raise GEOFENCE_DWELL after this many seconds inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_secs: Option<f64>,
    #[serde(default = "medium")]
    pub severity: Severity,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub on_enter: bool,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub on_exit: bool,
}

/// A fence's area. Points are `{"latitude": …, "longitude": …}` objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShapeConfig {
    Polygon {
        points: Vec<GeoPoint>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        holes: Vec<Vec<GeoPoint>>,
    },
    Circle {
        center: GeoPoint,
        radius_m: f64,
    },
}

fn ring(points: Vec<GeoPoint>) -> LineString<f64> {
    points
        .into_iter()
        .map(|p| Coord {
            x: p.longitude,
            y: p.latitude,
        })
        .collect()
}

impl FenceConfig {
    pub fn into_fence(self) -> Result<Fence, ValidationError> {
        let mut fence = match self.shape {
            ShapeConfig::Polygon { points, holes } => Fence::from_geo_polygon(
                self.id,
                Polygon::new(ring(points), holes.into_iter().map(ring).collect()),
            ),
            ShapeConfig::Circle { center, radius_m } => Fence::circle(self.id, center, radius_m),
        }
        .with_severity(self.severity)
        .with_enter_events(self.on_enter)
        .with_exit_events(self.on_exit);
        if let Some(name) = self.name {
            fence = fence.with_name(name);
        }
        if let Some(fleet) = self.fleet_id {
            fence = fence.with_fleet(fleet);
        }
        if let Some(secs) = self.dwell_secs {
            fence = fence.with_dwell(duration("dwell_secs", secs)?);
        }
        fence.validate()?;
        Ok(fence)
    }
}

/// An [`OfflineRule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineConfig {
    #[serde(default = "OfflineConfig::default_timeout")]
    pub timeout_secs: f64,
    #[serde(default = "high")]
    pub severity: Severity,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            timeout_secs: Self::default_timeout(),
            severity: high(),
        }
    }
}

impl OfflineConfig {
    fn default_timeout() -> f64 {
        OfflineRule::DEFAULT_TIMEOUT.num_seconds() as f64
    }

    pub fn into_rule(self) -> Result<OfflineRule, ValidationError> {
        let rule = OfflineRule::new(duration("timeout_secs", self.timeout_secs)?)
            .with_severity(self.severity);
        rule.validate()?;
        Ok(rule)
    }
}

/// A [`RateOfChangeRule`]. Rates are per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateOfChangeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub metric: Metric,
    pub direction: RateDirection,
    pub max_rate_per_sec: f64,
    /// Defaults to `max_rate_per_sec` (no hysteresis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_rate_per_sec: Option<f64>,
    #[serde(default = "medium")]
    pub severity: Severity,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub raise_after: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_duration_secs: f64,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub clear_after: u32,
}

impl RateOfChangeConfig {
    pub fn into_rule(self) -> Result<RateOfChangeRule, ValidationError> {
        let mut rule = RateOfChangeRule::new(self.metric, self.direction, self.max_rate_per_sec)
            .with_severity(self.severity)
            .with_debounce(debounce(
                self.raise_after,
                self.min_duration_secs,
                self.clear_after,
            )?);
        if let Some(name) = self.name {
            rule = rule.with_name(name);
        }
        if let Some(clear) = self.clear_rate_per_sec {
            rule = rule.with_clear_rate_per_sec(clear);
        }
        rule.validate()?;
        Ok(rule)
    }
}

fn points(ring: &LineString<f64>) -> Vec<GeoPoint> {
    // Rings are stored closed; the configuration lists each vertex once.
    let n = ring.0.len().saturating_sub(1);
    ring.0[..n]
        .iter()
        .map(|c| GeoPoint {
            latitude: c.y,
            longitude: c.x,
        })
        .collect()
}

impl From<&ThresholdRule> for ThresholdConfig {
    fn from(rule: &ThresholdRule) -> Self {
        let d = rule.debounce();
        Self {
            name: Some(AlertRule::name(rule).to_string()),
            alert_type: rule.alert_type().to_string(),
            metric: rule.metric(),
            comparison: rule.comparison(),
            threshold: rule.threshold(),
            clear_threshold: Some(rule.clear_threshold()),
            severity: rule.severity(),
            raise_after: d.raise_after,
            min_duration_secs: seconds(d.min_duration),
            clear_after: d.clear_after,
            message: Some(rule.message().as_str().to_string()),
            key: rule.key().map(str::to_string),
        }
    }
}

impl From<&Fence> for FenceConfig {
    fn from(fence: &Fence) -> Self {
        let shape = match fence.shape() {
            FenceShape::Polygon(polygon) => ShapeConfig::Polygon {
                points: points(polygon.exterior()),
                holes: polygon.interiors().iter().map(points).collect(),
            },
            FenceShape::Circle { center, radius_m } => ShapeConfig::Circle {
                center: *center,
                radius_m: *radius_m,
            },
        };
        Self {
            id: fence.id().to_string(),
            name: fence.name().map(str::to_string),
            fleet_id: fence.fleet_id().map(str::to_string),
            shape,
            dwell_secs: fence.dwell().map(seconds),
            severity: fence.severity(),
            on_enter: fence.enter_events(),
            on_exit: fence.exit_events(),
        }
    }
}

impl From<&GeofenceRule> for GeofenceConfig {
    fn from(rule: &GeofenceRule) -> Self {
        Self {
            name: Some(AlertRule::name(rule).to_string()),
            fences: rule.fences().iter().map(FenceConfig::from).collect(),
        }
    }
}

impl From<&OfflineRule> for OfflineConfig {
    fn from(rule: &OfflineRule) -> Self {
        Self {
            timeout_secs: seconds(rule.timeout()),
            severity: rule.severity(),
        }
    }
}

impl From<&RateOfChangeRule> for RateOfChangeConfig {
    fn from(rule: &RateOfChangeRule) -> Self {
        let d = rule.debounce();
        Self {
            name: Some(AlertRule::name(rule).to_string()),
            metric: rule.metric(),
            direction: rule.direction(),
            max_rate_per_sec: rule.max_rate_per_sec(),
            clear_rate_per_sec: Some(rule.clear_rate_per_sec()),
            severity: rule.severity(),
            raise_after: d.raise_after,
            min_duration_secs: seconds(d.min_duration),
            clear_after: d.clear_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertTransition;
    use crate::rules::testing::{ReadingExt, reading, run, transitions};
    use crate::traits::RuleState;
    use serde_json::json;

    fn config(value: serde_json::Value) -> RuleConfig {
        serde_json::from_value(value).unwrap()
    }

    fn error(value: serde_json::Value) -> ValidationError {
        match config(value).into_rule() {
            Ok(rule) => panic!("{} should not validate", rule.name()),
            Err(e) => e,
        }
    }

    fn all_kinds() -> serde_json::Value {
        json!([
            {"type": "threshold", "name": "fast", "alert_type": "OVERSPEED", "metric": "speed_kmh",
             "comparison": "above", "threshold": 60.0, "clear_threshold": 55.0,
             "severity": "CRITICAL", "raise_after": 2, "min_duration_secs": 1.5, "clear_after": 3,
             "message": "{vehicle_id} at {value}", "key": "city"},
            {"type": "geofence", "name": "sites", "fences": [
                {"id": "depot", "name": "Depot", "fleet_id": "fleet-001", "dwell_secs": 600.0,
                 "severity": "LOW", "on_exit": false,
                 "shape": {"type": "polygon",
                           "points": [{"latitude": 0.0, "longitude": 0.0},
                                      {"latitude": 0.0, "longitude": 2.0},
                                      {"latitude": 2.0, "longitude": 2.0},
                                      {"latitude": 2.0, "longitude": 0.0}],
                           "holes": [[{"latitude": 0.5, "longitude": 0.5},
                                      {"latitude": 0.5, "longitude": 1.5},
                                      {"latitude": 1.5, "longitude": 1.5}]]}},
                {"id": "pump", "severity": "MEDIUM", "shape": {"type": "circle",
                 "center": {"latitude": 4.71, "longitude": -74.07}, "radius_m": 50.0}}
            ]},
            {"type": "offline", "timeout_secs": 45.0, "severity": "MEDIUM"},
            {"type": "rate_of_change", "name": "drain", "metric": "battery_pct",
             "direction": "falling", "max_rate_per_sec": 0.05, "clear_rate_per_sec": 0.02,
             "severity": "HIGH", "raise_after": 2, "min_duration_secs": 10.0, "clear_after": 2}
        ])
    }

    #[test]
    fn round_trips_through_json_and_builds() {
        let configs: Vec<RuleConfig> = serde_json::from_value(all_kinds()).unwrap();
        assert_eq!(configs.len(), 4);
        let text = serde_json::to_string(&configs).unwrap();
        let again: Vec<RuleConfig> = serde_json::from_str(&text).unwrap();
        assert_eq!(again, configs);
        // Every field made it through.
        assert_eq!(serde_json::to_value(&again).unwrap(), all_kinds());
        let names: Vec<String> = configs
            .into_iter()
            .map(|c| c.into_rule().unwrap().name().to_string())
            .collect();
        assert_eq!(names, ["fast", "sites", "offline", "drain"]);
    }

    #[test]
    fn default_configuration_builds_the_default_rules() {
        let configs = RuleConfig::defaults();
        let json = serde_json::to_string(&configs).unwrap();
        let again: Vec<RuleConfig> = serde_json::from_str(&json).unwrap();
        assert_eq!(again, configs);
        let names: Vec<String> = again
            .into_iter()
            .map(|c| c.into_rule().unwrap().name().to_string())
            .collect();
        let expected: Vec<String> = crate::rules::default_rules()
            .iter()
            .map(|r| r.name().to_string())
            .collect();
        assert_eq!(names, expected);
    }

    /// Rule → configuration → rule → configuration gives the same configuration, for every
    /// kind of rule and every parameter.
    #[test]
    fn rules_convert_back_to_their_configuration() {
        let configs: Vec<RuleConfig> = serde_json::from_value(all_kinds()).unwrap();
        for config in configs {
            let back = match config.clone() {
                RuleConfig::Threshold(c) => RuleConfig::Threshold((&c.into_rule().unwrap()).into()),
                RuleConfig::Geofence(c) => RuleConfig::Geofence((&c.into_rule().unwrap()).into()),
                RuleConfig::Offline(c) => RuleConfig::Offline((&c.into_rule().unwrap()).into()),
                RuleConfig::RateOfChange(c) => {
                    RuleConfig::RateOfChange((&c.into_rule().unwrap()).into())
                }
            };
            assert_eq!(back, config);
        }
    }

    #[test]
    fn defaults_fill_optional_fields() {
        let RuleConfig::Offline(offline) = config(json!({"type": "offline"})) else {
            panic!("wrong variant")
        };
        assert_eq!(offline, OfflineConfig::default());
        let rule = offline.into_rule().unwrap();
        assert_eq!(rule.timeout(), Duration::seconds(30));
        assert_eq!(rule.severity(), Severity::High);

        let RuleConfig::Threshold(t) = config(json!({"type": "threshold",
            "alert_type": "LOW_BATTERY", "metric": "battery_pct", "comparison": "below",
            "threshold": 15}))
        else {
            panic!("wrong variant")
        };
        let rule = t.into_rule().unwrap();
        assert_eq!(rule.clear_threshold(), 15.0);
        assert_eq!(rule.severity(), Severity::Medium);
        assert_eq!(rule.debounce(), Debounce::default());
        assert_eq!(AlertRule::name(&rule), "low_battery");
    }

    #[test]
    fn configured_parameters_take_effect() {
        let RuleConfig::Threshold(t) = serde_json::from_value::<Vec<RuleConfig>>(all_kinds())
            .unwrap()
            .swap_remove(0)
        else {
            panic!("wrong variant")
        };
        let rule = t.into_rule().unwrap();
        assert_eq!(rule.alert_type(), &AlertType::OVERSPEED);
        let r = |s: i64, v: f64| reading("VH-1", s).with_speed(v);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            // raise_after 2 and 1.5 s; clear below 55 after 3 readings.
            &[
                r(0, 61.0),
                r(1, 61.0),
                r(2, 61.0),
                r(3, 54.0),
                r(4, 54.0),
                r(5, 54.0),
            ],
        );
        assert_eq!(
            transitions(&signals),
            [
                None,
                None,
                Some(AlertTransition::Raised),
                None,
                None,
                Some(AlertTransition::Cleared)
            ]
        );
        assert_eq!(signals[2][0].message, "VH-1 at 61.0");
        assert_eq!(signals[2][0].severity, Severity::Critical);
    }

    #[test]
    fn each_validation_error_names_its_field() {
        let threshold = |extra: serde_json::Value| {
            let mut v = json!({"type": "threshold", "alert_type": "OVERSPEED",
                "metric": "speed_kmh", "comparison": "above", "threshold": 80});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            error(v)
        };
        assert_eq!(
            threshold(json!({"clear_threshold": 85})).field,
            "clear_threshold"
        );
        assert_eq!(threshold(json!({"alert_type": ""})).field, "alert_type");
        assert_eq!(
            threshold(json!({"alert_type": "over speed"})).field,
            "alert_type"
        );
        assert_eq!(threshold(json!({"raise_after": 0})).field, "raise_after");
        assert_eq!(threshold(json!({"clear_after": 0})).field, "clear_after");
        assert_eq!(
            threshold(json!({"min_duration_secs": -1})).field,
            "min_duration_secs"
        );
        assert_eq!(threshold(json!({"message": "{speed}"})).field, "message");

        let fence = |f: serde_json::Value| error(json!({"type": "geofence", "fences": [f]}));
        let p = |lat: f64, lon: f64| json!({"latitude": lat, "longitude": lon});
        let poly = |points: Vec<serde_json::Value>| json!({"id": "f", "shape": {"type": "polygon", "points": points}});
        let circle = |lat: f64, lon: f64, r: f64| json!({"id": "f", "shape": {"type": "circle", "center": p(lat, lon), "radius_m": r}});
        assert_eq!(fence(poly(vec![p(0.0, 0.0), p(1.0, 1.0)])).field, "points");
        assert_eq!(
            fence(poly(vec![p(0.0, 0.0), p(1.0, 1.0), p(95.0, 0.0)])).field,
            "latitude"
        );
        assert_eq!(
            fence(poly(vec![p(0.0, 0.0), p(1.0, 1.0), p(0.0, -200.0)])).field,
            "longitude"
        );
        assert_eq!(fence(circle(0.0, 0.0, 0.0)).field, "radius_m");
        assert_eq!(fence(circle(-91.0, 0.0, 10.0)).field, "latitude");
        let mut dwell = circle(0.0, 0.0, 10.0);
        dwell["dwell_secs"] = json!(-5);
        assert_eq!(fence(dwell).field, "dwell_secs");
        assert_eq!(
            error(json!({"type": "geofence", "fences": [circle(0.0, 0.0, 1.0), circle(1.0, 1.0, 1.0)]}))
                .field,
            "id"
        );

        assert_eq!(
            error(json!({"type": "offline", "timeout_secs": 0})).field,
            "timeout_secs"
        );
        assert_eq!(
            error(json!({"type": "offline", "timeout_secs": 1e300})).field,
            "timeout_secs"
        );

        let rate = |extra: serde_json::Value| {
            let mut v = json!({"type": "rate_of_change", "metric": "engine_temp_c",
                "direction": "rising", "max_rate_per_sec": 0.1});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            error(v)
        };
        assert_eq!(
            rate(json!({"max_rate_per_sec": -1})).field,
            "max_rate_per_sec"
        );
        assert_eq!(
            rate(json!({"clear_rate_per_sec": 0.2})).field,
            "clear_rate_per_sec"
        );
    }

    #[test]
    fn typos_and_unknown_rule_types_are_rejected() {
        let typo = serde_json::from_value::<RuleConfig>(json!({"type": "offline", "timeout": 5}));
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `timeout`")
        );
        let kind = serde_json::from_value::<RuleConfig>(json!({"type": "teleport"}));
        assert!(
            kind.unwrap_err()
                .to_string()
                .contains("unknown variant `teleport`")
        );
        let metric = serde_json::from_value::<RuleConfig>(json!({"type": "threshold",
            "alert_type": "X", "metric": "altitude", "comparison": "above", "threshold": 1}));
        assert!(metric.is_err());
    }
}
