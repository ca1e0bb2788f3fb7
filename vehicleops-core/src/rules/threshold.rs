//! [`ThresholdRule`]: a metric above or below a limit, with hysteresis and debounce.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::episode::{Debounce, Episode, Level};
use super::template::{MessageTemplate, push_number};
use crate::error::ValidationError;
use crate::model::{Alert, AlertSignal, AlertTransition, AlertType, Metric, Severity, Telemetry};
use crate::traits::{AlertRule, RuleState};

/// Which side of the threshold is the bad one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Violating when the value is strictly greater than the threshold (overspeed).
    Above,
    /// Violating when the value is strictly less than the threshold (low battery).
    Below,
}

/// Raises an alert while a metric is beyond a threshold.
///
/// * **Hysteresis**: an episode starts when the value is strictly beyond `threshold` and ends
///   only when it is strictly back on the safe side of `clear_threshold` (for the overspeed
///   preset: raise above 80 km/h, clear below 75 km/h). Values in between keep the episode in
///   whatever state it is in, so a vehicle hovering around 80 km/h raises one alert, not fifty.
/// * **Debounce** ([`Debounce`]): raise after N consecutive violating readings and a minimum
///   duration by reading timestamps; clear after M consecutive normal readings.
///
/// Each episode emits exactly one [`AlertTransition::Raised`] signal (value = the reading's
/// value, threshold = `threshold`) and one [`AlertTransition::Cleared`] signal (value = the
/// reading's value, threshold = `clear_threshold`).
///
/// The builder methods do not check their arguments; call [`ThresholdRule::validate`] on a
/// hand-built rule (a [`super::RuleConfig`] does it for you).
#[derive(Debug, Clone)]
pub struct ThresholdRule {
    name: String,
    alert_type: AlertType,
    metric: Metric,
    comparison: Comparison,
    threshold: f64,
    clear_threshold: f64,
    severity: Severity,
    debounce: Debounce,
    message: MessageTemplate,
    key: Option<String>,
}

impl ThresholdRule {
    /// A rule without hysteresis (clear threshold = threshold) or debounce, severity MEDIUM, a
    /// generic message, named after the alert type in lower case.
    pub fn new(
        alert_type: AlertType,
        metric: Metric,
        comparison: Comparison,
        threshold: f64,
    ) -> Self {
        let message = match comparison {
            Comparison::Above => "Vehicle {vehicle_id} {metric} {value} is above {threshold}",
            Comparison::Below => "Vehicle {vehicle_id} {metric} {value} is below {threshold}",
        }
        .replace("{metric}", metric.column());
        Self {
            name: alert_type.as_str().to_ascii_lowercase(),
            alert_type,
            metric,
            comparison,
            threshold,
            clear_threshold: threshold,
            severity: Severity::Medium,
            debounce: Debounce::default(),
            message: MessageTemplate::parse(&message).expect("generic template is valid"),
            key: None,
        }
    }

    /// OVERSPEED: speed above 80 km/h, severity HIGH, clears below 75 km/h.
    pub fn overspeed() -> Self {
        Self::new(
            AlertType::OVERSPEED,
            Metric::SpeedKmh,
            Comparison::Above,
            80.0,
        )
        .with_clear_threshold(75.0)
        .with_severity(Severity::High)
        .with_message(preset_template(
            "Vehicle {vehicle_id} exceeded speed limit: {value} km/h",
        ))
    }

    /// LOW_BATTERY: battery below 15 %, severity MEDIUM, clears above 20 % (after charging).
    pub fn low_battery() -> Self {
        Self::new(
            AlertType::LOW_BATTERY,
            Metric::BatteryPct,
            Comparison::Below,
            15.0,
        )
        .with_clear_threshold(20.0)
        .with_severity(Severity::Medium)
        .with_message(preset_template(
            "Vehicle {vehicle_id} battery low: {value}%",
        ))
    }

    /// ENGINE_OVERHEAT: engine temperature above 100 °C, severity HIGH, clears below 95 °C.
    pub fn engine_overheat() -> Self {
        Self::new(
            AlertType::ENGINE_OVERHEAT,
            Metric::EngineTempC,
            Comparison::Above,
            100.0,
        )
        .with_clear_threshold(95.0)
        .with_severity(Severity::High)
        .with_message(preset_template(
            "Vehicle {vehicle_id} engine overheating: {value} °C",
        ))
    }

    /// Renames the rule (for logs and metrics).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the raise threshold, keeping the clear threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Where an episode ends: for [`Comparison::Above`] it must not be above the threshold, for
    /// [`Comparison::Below`] not below it.
    pub fn with_clear_threshold(mut self, clear_threshold: f64) -> Self {
        self.clear_threshold = clear_threshold;
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Replaces the whole debounce configuration.
    pub fn with_debounce(mut self, debounce: Debounce) -> Self {
        self.debounce = debounce;
        self
    }

    /// Raise only after `n` consecutive violating readings.
    pub fn with_raise_after(mut self, n: u32) -> Self {
        self.debounce.raise_after = n;
        self
    }

    /// Raise only once the violation has lasted `d` by reading timestamps.
    pub fn with_min_duration(mut self, d: Duration) -> Self {
        self.debounce.min_duration = d;
        self
    }

    /// Clear only after `n` consecutive normal readings.
    pub fn with_clear_after(mut self, n: u32) -> Self {
        self.debounce.clear_after = n;
        self
    }

    /// The Raised signal's message.
    pub fn with_message(mut self, template: MessageTemplate) -> Self {
        self.message = template;
        self
    }

    /// Sets the signals' `key`, which tells apart parallel episodes of one alert type: two
    /// OVERSPEED rules (say HIGH above 80 and CRITICAL above 100) need different keys.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn alert_type(&self) -> &AlertType {
        &self.alert_type
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn comparison(&self) -> Comparison {
        self.comparison
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn clear_threshold(&self) -> f64 {
        self.clear_threshold
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn debounce(&self) -> Debounce {
        self.debounce
    }

    pub fn message(&self) -> &MessageTemplate {
        &self.message
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Checks the configuration; errors name the field at fault.
    pub fn validate(&self) -> Result<(), ValidationError> {
        super::validate_alert_type(&self.alert_type)?;
        super::finite("threshold", self.threshold)?;
        super::finite("clear_threshold", self.clear_threshold)?;
        let (wrong_side, side) = match self.comparison {
            Comparison::Above => (self.clear_threshold > self.threshold, "above"),
            Comparison::Below => (self.clear_threshold < self.threshold, "below"),
        };
        if wrong_side {
            return Err(ValidationError::new(
                "clear_threshold",
                format!(
                    "clear threshold {} must not be {side} the threshold {}: alerts would clear while the value is still beyond the threshold",
                    self.clear_threshold, self.threshold
                ),
            ));
        }
        self.debounce.validate()
    }

    fn level(&self, value: f64) -> Level {
        let (violating, normal) = match self.comparison {
            Comparison::Above => (value > self.threshold, value < self.clear_threshold),
            Comparison::Below => (value < self.threshold, value > self.clear_threshold),
        };
        if violating {
            Level::Violating
        } else if normal {
            Level::Normal
        } else {
            Level::Band
        }
    }
}

fn preset_template(source: &str) -> MessageTemplate {
    MessageTemplate::parse(source).expect("preset templates are valid")
}

impl AlertRule for ThresholdRule {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        let value = self.metric.value(reading);
        let level = self.level(value);
        match state
            .get::<Episode>()
            .step(&self.debounce, reading.timestamp, level)
        {
            None => {}
            Some(AlertTransition::Raised) => out.push(AlertSignal {
                transition: AlertTransition::Raised,
                alert_type: self.alert_type.clone(),
                severity: self.severity,
                value,
                threshold: self.threshold,
                message: self.message.render(reading, value, self.threshold),
                key: self.key.clone(),
            }),
            Some(transition) => {
                let mut message = format!(
                    "Vehicle {} {} back to normal: ",
                    reading.vehicle_id,
                    self.metric.column()
                );
                push_number(&mut message, value);
                out.push(AlertSignal {
                    transition,
                    alert_type: self.alert_type.clone(),
                    severity: self.severity,
                    value,
                    threshold: self.clear_threshold,
                    message,
                    key: self.key.clone(),
                });
            }
        }
    }

    /// Claims an open alert of this rule's type and key: the episode is active again, so it
    /// clears on the next normal reading(s) and raises nothing meanwhile.
    fn restore(&self, alert: &Alert, state: &mut RuleState) -> bool {
        if alert.alert_type != self.alert_type || alert.key != self.key {
            return false;
        }
        state.get::<Episode>().restore();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{ReadingExt, reading, run, transitions};
    use AlertTransition::{Cleared, Raised};

    fn speeds(vehicle: &str, speeds: &[f64]) -> Vec<Telemetry> {
        speeds
            .iter()
            .enumerate()
            .map(|(i, &s)| reading(vehicle, i as i64).with_speed(s))
            .collect()
    }

    #[test]
    fn one_overspeed_episode_raises_once_and_clears_once() {
        let rule = ThresholdRule::overspeed();
        let mut state = RuleState::default();
        let signals = run(
            &rule,
            &mut state,
            &speeds(
                "fleet-001-VH-005",
                &[70.0, 92.5, 95.0, 85.0, 79.0, 76.0, 74.0, 73.0, 60.0],
            ),
        );
        assert_eq!(
            transitions(&signals),
            [
                None,
                Some(Raised),
                None,
                None,
                None,
                None,
                Some(Cleared),
                None,
                None
            ]
        );
        let raised = &signals[1][0];
        assert_eq!(raised.alert_type, AlertType::OVERSPEED);
        assert_eq!(raised.severity, Severity::High);
        assert_eq!(raised.value, 92.5);
        assert_eq!(raised.threshold, 80.0);
        assert_eq!(
            raised.message,
            "Vehicle fleet-001-VH-005 exceeded speed limit: 92.5 km/h"
        );
        assert_eq!(raised.key, None);
        let cleared = &signals[6][0];
        assert_eq!(cleared.alert_type, AlertType::OVERSPEED);
        assert_eq!(cleared.value, 74.0);
        assert_eq!(cleared.threshold, 75.0);
        assert_eq!(
            cleared.message,
            "Vehicle fleet-001-VH-005 speed_kmh back to normal: 74.0"
        );
    }

    #[test]
    fn a_restored_episode_raises_nothing_and_clears_once() {
        use crate::rules::episode::open_alert;
        use crate::rules::testing::at;
        let rule = ThresholdRule::overspeed();
        let stored = open_alert("VH-1", AlertType::OVERSPEED, None, at(-60), 92.5);
        let mut state = RuleState::default();
        assert!(rule.restore(&stored, &mut state));
        let signals = run(
            &rule,
            &mut state,
            &speeds("VH-1", &[95.0, 90.0, 78.0, 70.0, 60.0, 91.0]),
        );
        assert_eq!(
            transitions(&signals),
            [None, None, None, Some(Cleared), None, Some(Raised)],
            "over the limit: still the stored episode; below the clear threshold: cleared; \
             over again: a new episode"
        );
    }

    #[test]
    fn restore_claims_only_the_rules_own_type_and_key() {
        use crate::rules::episode::open_alert;
        use crate::rules::testing::at;
        let overspeed =
            |key: Option<&str>| open_alert("VH-1", AlertType::OVERSPEED, key, at(0), 90.0);
        let mut state = RuleState::default();
        assert!(!ThresholdRule::low_battery().restore(&overspeed(None), &mut state));
        assert!(state.is_empty(), "a refused alert leaves the state alone");
        let critical = ThresholdRule::overspeed()
            .with_threshold(100.0)
            .with_key("critical");
        assert!(!critical.restore(&overspeed(None), &mut state));
        assert!(!ThresholdRule::overspeed().restore(&overspeed(Some("critical")), &mut state));
        assert!(critical.restore(&overspeed(Some("critical")), &mut state));
        assert!(state.get::<Episode>().is_active());
    }

    #[test]
    fn a_restored_episode_waits_for_clear_after() {
        use crate::rules::episode::open_alert;
        use crate::rules::testing::at;
        let rule = ThresholdRule::overspeed().with_clear_after(2);
        let mut state = RuleState::default();
        assert!(rule.restore(
            &open_alert("VH-1", AlertType::OVERSPEED, None, at(0), 90.0),
            &mut state
        ));
        let signals = run(
            &rule,
            &mut state,
            &speeds("VH-1", &[60.0, 90.0, 60.0, 60.0]),
        );
        assert_eq!(transitions(&signals), [None, None, None, Some(Cleared)]);
    }

    #[test]
    fn a_second_episode_raises_again() {
        let rule = ThresholdRule::overspeed();
        let mut state = RuleState::default();
        let signals = run(
            &rule,
            &mut state,
            &speeds("VH-1", &[90.0, 70.0, 90.0, 70.0]),
        );
        assert_eq!(
            transitions(&signals),
            [Some(Raised), Some(Cleared), Some(Raised), Some(Cleared)]
        );
    }

    #[test]
    fn exactly_at_the_thresholds_changes_nothing() {
        let rule = ThresholdRule::overspeed();
        let mut state = RuleState::default();
        // 80 is not above 80; 75 is not below 75.
        let signals = run(
            &rule,
            &mut state,
            &speeds("VH-1", &[80.0, 80.000_001, 75.0, 74.999_999]),
        );
        assert_eq!(
            transitions(&signals),
            [None, Some(Raised), None, Some(Cleared)]
        );
    }

    #[test]
    fn low_battery_matches_the_original_service() {
        let rule = ThresholdRule::low_battery();
        let mut state = RuleState::default();
        let r = reading("fleet-001-VH-002", 0).with_battery(12.0);
        let signals = run(&rule, &mut state, &[r]);
        let s = &signals[0][0];
        assert_eq!(s.alert_type, AlertType::LOW_BATTERY);
        assert_eq!(s.transition, Raised);
        assert_eq!(s.severity, Severity::Medium);
        assert_eq!(s.value, 12.0);
        assert_eq!(s.threshold, 15.0);
        assert_eq!(s.message, "Vehicle fleet-001-VH-002 battery low: 12.0%");

        // Hysteresis on the way up: 15 and 20 keep it open, above 20 clears.
        let more: Vec<_> = [15.0, 18.0, 20.0, 20.5]
            .iter()
            .enumerate()
            .map(|(i, &b)| reading("fleet-001-VH-002", i as i64 + 1).with_battery(b))
            .collect();
        let signals = run(&rule, &mut state, &more);
        assert_eq!(transitions(&signals), [None, None, None, Some(Cleared)]);
    }

    #[test]
    fn exactly_fifteen_percent_is_not_low() {
        let rule = ThresholdRule::low_battery();
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[reading("VH-1", 0).with_battery(15.0)],
        );
        assert_eq!(transitions(&signals), [None]);
    }

    #[test]
    fn engine_overheat_matches_the_original_service() {
        let rule = ThresholdRule::engine_overheat();
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[
                reading("fleet-001-VH-003", 0).with_temp(100.0),
                reading("fleet-001-VH-003", 1).with_temp(108.0),
            ],
        );
        assert_eq!(transitions(&signals), [None, Some(Raised)]);
        let s = &signals[1][0];
        assert_eq!(s.alert_type, AlertType::ENGINE_OVERHEAT);
        assert_eq!(s.severity, Severity::High);
        assert_eq!(s.value, 108.0);
        assert_eq!(s.threshold, 100.0);
    }

    #[test]
    fn normal_telemetry_raises_nothing() {
        let r = reading("fleet-001-VH-004", 0)
            .with_speed(42.0)
            .with_battery(85.0)
            .with_temp(72.0);
        for rule in [
            ThresholdRule::overspeed(),
            ThresholdRule::low_battery(),
            ThresholdRule::engine_overheat(),
        ] {
            let signals = run(&rule, &mut RuleState::default(), std::slice::from_ref(&r));
            assert_eq!(transitions(&signals), [None], "{}", rule.name);
        }
    }

    #[test]
    fn debounce_by_count_and_duration() {
        let rule = ThresholdRule::overspeed()
            .with_raise_after(3)
            .with_min_duration(Duration::seconds(5))
            .with_clear_after(2);
        let mut state = RuleState::default();
        let at = |secs: i64, speed: f64| reading("VH-1", secs).with_speed(speed);
        let signals = run(
            &rule,
            &mut state,
            &[
                at(0, 90.0),
                at(1, 90.0),
                at(2, 90.0), // three readings, but only 2 s
                at(5, 90.0), // 5 s since the first violation: raise
                at(6, 70.0),
                at(7, 78.0), // in the band: the clear streak restarts
                at(8, 70.0),
                at(9, 70.0), // second consecutive normal reading: clear
            ],
        );
        assert_eq!(
            transitions(&signals),
            [
                None,
                None,
                None,
                Some(Raised),
                None,
                None,
                None,
                Some(Cleared)
            ]
        );
    }

    #[test]
    fn a_short_spike_does_not_raise_with_debounce() {
        let rule = ThresholdRule::overspeed().with_raise_after(2);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &speeds("VH-1", &[95.0, 60.0, 95.0, 60.0]),
        );
        assert_eq!(transitions(&signals), [None, None, None, None]);
    }

    #[test]
    fn state_is_per_vehicle() {
        let rule = ThresholdRule::overspeed().with_raise_after(2);
        let mut states = [RuleState::default(), RuleState::default()];
        let mut seen = Vec::new();
        // Interleaved: A violates twice, B violates once between A's readings.
        for (slot, r) in [
            (0, reading("A", 0).with_speed(90.0)),
            (1, reading("B", 0).with_speed(90.0)),
            (0, reading("A", 1).with_speed(90.0)),
            (1, reading("B", 1).with_speed(50.0)),
            (0, reading("A", 2).with_speed(50.0)),
        ] {
            let mut out = Vec::new();
            rule.evaluate(&r, &mut states[slot], &mut out);
            seen.push(out.first().map(|s| (r.vehicle_id.clone(), s.transition)));
        }
        assert_eq!(
            seen,
            [
                None,
                None,
                Some(("A".to_string(), Raised)),
                None,
                Some(("A".to_string(), Cleared))
            ]
        );
    }

    #[test]
    fn validation_names_the_field() {
        let err = |r: ThresholdRule| r.validate().unwrap_err();
        assert!(ThresholdRule::overspeed().validate().is_ok());
        assert!(ThresholdRule::low_battery().validate().is_ok());
        assert!(ThresholdRule::engine_overheat().validate().is_ok());

        let e = err(ThresholdRule::overspeed().with_clear_threshold(85.0));
        assert_eq!(e.field, "clear_threshold");
        assert!(e.reason.contains("must not be above"), "{}", e.reason);
        assert_eq!(
            err(ThresholdRule::low_battery().with_clear_threshold(10.0)).field,
            "clear_threshold"
        );
        assert_eq!(
            err(ThresholdRule::overspeed().with_threshold(f64::NAN)).field,
            "threshold"
        );
        assert_eq!(
            err(ThresholdRule::overspeed().with_clear_threshold(f64::INFINITY)).field,
            "clear_threshold"
        );
        assert_eq!(
            err(ThresholdRule::overspeed().with_raise_after(0)).field,
            "raise_after"
        );
        let lower = ThresholdRule::new(
            AlertType::custom("overload"),
            Metric::LoadPct,
            Comparison::Above,
            95.0,
        );
        assert_eq!(err(lower).field, "alert_type");
    }

    #[test]
    fn a_key_separates_parallel_episodes_of_one_type() {
        let critical = ThresholdRule::overspeed()
            .with_threshold(100.0)
            .with_clear_threshold(95.0)
            .with_severity(Severity::Critical)
            .with_key("critical");
        let signals = run(
            &critical,
            &mut RuleState::default(),
            &speeds("VH-1", &[90.0, 101.0, 90.0]),
        );
        assert_eq!(transitions(&signals), [None, Some(Raised), Some(Cleared)]);
        assert_eq!(signals[1][0].key.as_deref(), Some("critical"));
        assert_eq!(signals[2][0].key.as_deref(), Some("critical"));
    }

    #[test]
    fn custom_rule_on_any_metric() {
        let rule = ThresholdRule::new(
            AlertType::custom("OVERLOAD"),
            Metric::LoadPct,
            Comparison::Above,
            95.0,
        );
        assert!(rule.validate().is_ok());
        assert_eq!(AlertRule::name(&rule), "overload");
        let mut r = reading("VH-1", 0);
        r.load_pct = 99.0;
        let signals = run(&rule, &mut RuleState::default(), &[r]);
        assert_eq!(
            signals[0][0].message,
            "Vehicle VH-1 load_pct 99.0 is above 95.0"
        );
    }
}
