//! Built-in alert rules.
//!
//! Every rule implements [`AlertRule`]: the pipeline calls [`AlertRule::evaluate`] for every
//! reading with the rule's private [`RuleState`](crate::RuleState) slot for that vehicle, and
//! [`AlertRule::on_tick`] periodically for rules that fire on silence. Rules emit
//! [`AlertSignal`](crate::AlertSignal)s that describe *episodes*: one
//! [`Raised`](crate::AlertTransition::Raised) when a condition starts, one
//! [`Cleared`](crate::AlertTransition::Cleared) when it ends, nothing in between; or one-off
//! [`Event`](crate::AlertTransition::Event)s such as entering a geofence.
//!
//! | Rule | Alert types | Fires on |
//! |---|---|---|
//! | [`ThresholdRule`] | OVERSPEED, LOW_BATTERY, ENGINE_OVERHEAT, custom | a metric above/below a limit, with hysteresis and debounce |
//! | [`GeofenceRule`] | GEOFENCE_ENTER, GEOFENCE_EXIT, GEOFENCE_DWELL | polygon and circle fences, R-tree indexed |
//! | [`OfflineRule`] | OFFLINE | no reading for longer than a timeout (on tick) |
//! | [`RateOfChangeRule`] | RAPID_CHANGE | a metric changing faster than a rate between readings |
//!
//! [`default_rules`] gives the original system's three thresholds (OVERSPEED > 80 km/h,
//! LOW_BATTERY < 15 %, ENGINE_OVERHEAT > 100 °C) plus a 30-second OFFLINE rule.
//! [`RuleConfig`] describes any rule as data (JSON, TOML, a Python dict) and validates it.
//!
//! Rules are cheap on the hot path: `evaluate` allocates nothing unless it emits a signal (a
//! rule's per-vehicle state is boxed once, on first use).
//!
//! ```
//! use chrono::Duration;
//! use vehicleops_core::{
//!     AlertRule, AlertTransition, Fence, GeoPoint, GeofenceRule, RuleState, ThresholdRule,
//!     decode_telemetry,
//! };
//!
//! // The original's overspeed rule, but only after 3 readings over the limit.
//! let overspeed = ThresholdRule::overspeed().with_raise_after(3);
//! let depot = GeoPoint { latitude: 4.711, longitude: -74.0721 };
//! let fences = GeofenceRule::new(vec![
//!     Fence::circle("depot", depot, 250.0).with_dwell(Duration::minutes(10)),
//! ])
//! .unwrap();
//!
//! let reading = |speed: f64, second: u32| {
//!     decode_telemetry(format!(r#"{{"vehicle_id":"VH-5","fleet_id":"fleet-001",
//!         "latitude":4.711,"longitude":-74.0721,"speed_kmh":{speed},"battery_pct":80,
//!         "engine_temp_c":70,"status":"MOVING","timestamp":"2024-02-15T14:32:{second:02}Z"}}"#)
//!         .as_bytes())
//!     .unwrap()
//! };
//!
//! // One state slot per (vehicle, rule); the pipeline keeps these for you.
//! let (mut speed_state, mut fence_state) = (RuleState::default(), RuleState::default());
//! let mut signals = Vec::new();
//! for (i, speed) in [92.5, 95.0, 91.0, 93.0, 60.0].into_iter().enumerate() {
//!     let r = reading(speed, i as u32);
//!     overspeed.evaluate(&r, &mut speed_state, &mut signals);
//!     fences.evaluate(&r, &mut fence_state, &mut signals);
//! }
//! let kinds: Vec<_> = signals.iter().map(|s| (s.alert_type.as_str(), s.transition)).collect();
//! assert_eq!(kinds, [
//!     ("GEOFENCE_ENTER", AlertTransition::Event),
//!     ("OVERSPEED", AlertTransition::Raised),
//!     ("OVERSPEED", AlertTransition::Cleared),
//! ]);
//! assert_eq!(signals[1].message, "Vehicle VH-5 exceeded speed limit: 91.0 km/h");
//! ```

mod config;
mod episode;
mod geofence;
mod host;
mod offline;
mod rate;
mod template;
mod threshold;

#[cfg(test)]
mod testing;

use std::sync::Arc;

pub use config::{
    FenceConfig, GeofenceConfig, OfflineConfig, RateOfChangeConfig, RuleConfig, ShapeConfig,
    ThresholdConfig,
};
pub use episode::Debounce;
pub use geofence::{Fence, FenceShape, GeofenceRule};
pub use host::{HostRule, HostRuleError, HostRuleFunction, HostViolation};
pub use offline::OfflineRule;
pub use rate::{RateDirection, RateOfChangeRule};
pub use template::MessageTemplate;
pub use threshold::{Comparison, ThresholdRule};

use crate::error::ValidationError;
use crate::model::AlertType;
use crate::traits::AlertRule;

/// The rules a pipeline runs when configured with none: OVERSPEED, LOW_BATTERY and
/// ENGINE_OVERHEAT with the original system's thresholds, and OFFLINE after 30 s.
pub fn default_rules() -> Vec<Arc<dyn AlertRule>> {
    vec![
        Arc::new(ThresholdRule::overspeed()),
        Arc::new(ThresholdRule::low_battery()),
        Arc::new(ThresholdRule::engine_overheat()),
        Arc::new(OfflineRule::default()),
    ]
}

/// Alert types are upper-case words joined by underscores, like the built-in ones, so they
/// stay usable as enum-like values in every binding and in the HTTP API.
fn validate_alert_type(alert_type: &AlertType) -> Result<(), ValidationError> {
    let s = alert_type.as_str();
    let well_formed = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ValidationError::new(
            "alert_type",
            format!("{s:?} is not an alert type; use 1 to 64 of A-Z, 0-9 and _, e.g. OVERLOAD"),
        ))
    }
}

/// A duration in (fractional) seconds, as signals and configuration express it.
fn seconds(d: chrono::Duration) -> f64 {
    d.num_microseconds()
        .map_or(d.num_seconds() as f64, |us| us as f64 / 1e6)
}

fn finite(field: &'static str, x: f64) -> Result<(), ValidationError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("must be a finite number, got {x}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ReadingExt, allocations_during, reading};
    use super::*;
    use crate::model::{AlertSignal, AlertTransition};
    use crate::traits::RuleState;

    #[test]
    fn default_rules_are_the_seed_thresholds_and_offline() {
        let rules = default_rules();
        let names: Vec<_> = rules.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            ["overspeed", "low_battery", "engine_overheat", "offline"]
        );
    }

    /// The original service's fault reading raises all three seed alerts at once; a normal one
    /// raises nothing.
    #[test]
    fn default_rules_on_normal_and_faulty_readings() {
        let rules = default_rules();
        let mut states: Vec<RuleState> = rules.iter().map(|_| RuleState::default()).collect();
        let mut eval = |r: &crate::Telemetry| {
            let mut out: Vec<AlertSignal> = Vec::new();
            for (rule, state) in rules.iter().zip(&mut states) {
                rule.evaluate(r, state, &mut out);
            }
            out
        };
        assert!(eval(&reading("VH-1", 0)).is_empty());
        let fault = reading("VH-1", 1)
            .with_speed(92.5)
            .with_battery(12.0)
            .with_temp(108.0);
        let types: Vec<_> = eval(&fault)
            .into_iter()
            .map(|s| (s.alert_type, s.transition))
            .collect();
        assert_eq!(
            types,
            [
                (AlertType::OVERSPEED, AlertTransition::Raised),
                (AlertType::LOW_BATTERY, AlertTransition::Raised),
                (AlertType::ENGINE_OVERHEAT, AlertTransition::Raised),
            ]
        );
        assert!(eval(&fault).is_empty(), "still the same episodes");
    }

    /// The pipeline calls every rule for every reading: a reading that changes no episode must
    /// not touch the heap, whatever the rule.
    #[test]
    fn evaluating_without_signals_does_not_allocate() {
        let fences = (0..1_000).map(|i| {
            let lat = 4.0 + f64::from(i) * 0.01;
            Fence::circle(
                format!("f{i}"),
                crate::GeoPoint {
                    latitude: lat,
                    longitude: -74.0,
                },
                300.0,
            )
        });
        let mut rules = default_rules();
        rules.push(Arc::new(GeofenceRule::new(fences.collect()).unwrap()));
        rules.push(Arc::new(RateOfChangeRule::battery_drain()));
        rules.push(Arc::new(RateOfChangeRule::engine_heating()));
        let mut states: Vec<RuleState> = rules.iter().map(|_| RuleState::default()).collect();
        let mut out: Vec<AlertSignal> = Vec::with_capacity(16);
        // Inside fence f50 the whole time, moving a little; values wander in the normal range.
        let readings: Vec<_> = (0..1_000)
            .map(|i| {
                let wobble = f64::from(i % 7);
                reading("VH-1", i64::from(i))
                    .with_position(4.5 + wobble * 1e-4, -74.0)
                    .with_speed(40.0 + wobble)
                    .with_battery(80.0 - f64::from(i) * 0.001)
                    .with_temp(70.0 + wobble * 0.01)
            })
            .collect();
        let mut evaluate_all = |r: &crate::Telemetry, out: &mut Vec<AlertSignal>| {
            for (rule, state) in rules.iter().zip(&mut states) {
                rule.evaluate(r, state, out);
                rule.on_tick(r.timestamp, r, state, out);
            }
        };
        // The first reading creates each rule's state and enters the fence.
        evaluate_all(&readings[0], &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        out.clear();
        let allocations = allocations_during(|| {
            for r in &readings[1..] {
                evaluate_all(r, &mut out);
            }
        });
        assert_eq!(out.first(), None, "no episode should change");
        assert_eq!(allocations, 0);
    }

    #[test]
    fn alert_type_names() {
        for good in ["OVERSPEED", "OVERLOAD_2", "X"] {
            assert!(
                validate_alert_type(&AlertType::custom(good)).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "overload", "OVER LOAD", "ÜBER", &"A".repeat(65)] {
            let e = validate_alert_type(&AlertType::custom(bad)).unwrap_err();
            assert_eq!(e.field, "alert_type", "{bad}");
        }
    }
}
