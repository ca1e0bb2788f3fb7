//! [`RateOfChangeRule`]: a metric changing too fast between consecutive readings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::episode::{Debounce, Episode, Level};
use crate::error::ValidationError;
use crate::model::{Alert, AlertSignal, AlertTransition, AlertType, Metric, Severity, Telemetry};
use crate::traits::{AlertRule, RuleState};

/// Which change counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateDirection {
    /// The metric increasing (engine heating up).
    Rising,
    /// The metric decreasing (battery draining).
    Falling,
    /// Either way.
    Either,
}

impl RateDirection {
    fn as_str(self) -> &'static str {
        match self {
            RateDirection::Rising => "rising",
            RateDirection::Falling => "falling",
            RateDirection::Either => "changing",
        }
    }
}

/// Raises RAPID_CHANGE while a metric changes faster than a limit, measured between a
/// vehicle's consecutive readings by their timestamps.
///
/// The rate is expressed per second in the chosen direction: for [`RateDirection::Falling`] a
/// battery going from 80 % to 77 % in a minute has rate 0.05. An episode is raised when the
/// rate is strictly above `max_rate_per_sec` and cleared when it is strictly below
/// `clear_rate_per_sec` (default: the same limit), with the same [`Debounce`] as
/// [`super::ThresholdRule`]. Signals carry the rate per second as `value`, the limit as
/// `threshold`, and the metric's column name as `key`, so rate rules on different metrics keep
/// separate episodes.
///
/// A reading whose timestamp is not after the previous one (a duplicate or a late replay) is
/// ignored, because no rate can be computed from it.
#[derive(Debug, Clone)]
pub struct RateOfChangeRule {
    name: String,
    metric: Metric,
    direction: RateDirection,
    max_rate_per_sec: f64,
    clear_rate_per_sec: f64,
    severity: Severity,
    debounce: Debounce,
}

/// Per-vehicle state: the previous reading's value and the episode.
#[derive(Debug, Default)]
struct RateState {
    previous: Option<(DateTime<Utc>, f64)>,
    episode: Episode,
}

impl RateOfChangeRule {
    /// A rule without hysteresis or debounce, severity MEDIUM.
    pub fn new(metric: Metric, direction: RateDirection, max_rate_per_sec: f64) -> Self {
        Self {
            name: format!("rapid_change_{}", metric.column()),
            metric,
            direction,
            max_rate_per_sec,
            clear_rate_per_sec: max_rate_per_sec,
            severity: Severity::Medium,
            debounce: Debounce::default(),
        }
    }

    /// Battery falling faster than 2 % per minute.
    pub fn battery_drain() -> Self {
        Self::new(Metric::BatteryPct, RateDirection::Falling, 2.0 / 60.0)
    }

    /// Engine temperature rising faster than 5 °C per minute.
    pub fn engine_heating() -> Self {
        Self::new(Metric::EngineTempC, RateDirection::Rising, 5.0 / 60.0)
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The rate (per second, not above the limit) under which an episode ends.
    pub fn with_clear_rate_per_sec(mut self, rate: f64) -> Self {
        self.clear_rate_per_sec = rate;
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn with_debounce(mut self, debounce: Debounce) -> Self {
        self.debounce = debounce;
        self
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn direction(&self) -> RateDirection {
        self.direction
    }

    pub fn max_rate_per_sec(&self) -> f64 {
        self.max_rate_per_sec
    }

    pub fn clear_rate_per_sec(&self) -> f64 {
        self.clear_rate_per_sec
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn debounce(&self) -> Debounce {
        self.debounce
    }

    /// Checks the configuration; errors name the field at fault.
    pub fn validate(&self) -> Result<(), ValidationError> {
        super::finite("max_rate_per_sec", self.max_rate_per_sec)?;
        if self.max_rate_per_sec <= 0.0 {
            return Err(ValidationError::new(
                "max_rate_per_sec",
                format!("must be positive, got {}", self.max_rate_per_sec),
            ));
        }
        super::finite("clear_rate_per_sec", self.clear_rate_per_sec)?;
        if self.clear_rate_per_sec > self.max_rate_per_sec {
            return Err(ValidationError::new(
                "clear_rate_per_sec",
                format!(
                    "clear rate {} must not be above the limit {}",
                    self.clear_rate_per_sec, self.max_rate_per_sec
                ),
            ));
        }
        self.debounce.validate()
    }

    fn level(&self, rate: f64) -> Level {
        if rate > self.max_rate_per_sec {
            Level::Violating
        } else if rate < self.clear_rate_per_sec {
            Level::Normal
        } else {
            Level::Band
        }
    }
}

impl AlertRule for RateOfChangeRule {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        let value = self.metric.value(reading);
        let at = reading.timestamp;
        let state = state.get::<RateState>();
        let Some((prev_at, prev_value)) = state.previous else {
            state.previous = Some((at, value));
            return;
        };
        if at <= prev_at {
            return;
        }
        state.previous = Some((at, value));
        let dt = (at - prev_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        let signed = (value - prev_value) / dt;
        let rate = match self.direction {
            RateDirection::Rising => signed,
            RateDirection::Falling => -signed,
            RateDirection::Either => signed.abs(),
        };
        let Some(transition) = state.episode.step(&self.debounce, at, self.level(rate)) else {
            return;
        };
        let (threshold, message) = match transition {
            AlertTransition::Raised => (
                self.max_rate_per_sec,
                format!(
                    "Vehicle {} {} {} at {:.2}/min (limit {:.2}/min)",
                    reading.vehicle_id,
                    self.metric.column(),
                    self.direction.as_str(),
                    rate * 60.0,
                    self.max_rate_per_sec * 60.0
                ),
            ),
            _ => (
                self.clear_rate_per_sec,
                format!(
                    "Vehicle {} {} rate back to normal: {:.2}/min",
                    reading.vehicle_id,
                    self.metric.column(),
                    rate * 60.0
                ),
            ),
        };
        out.push(AlertSignal {
            transition,
            alert_type: AlertType::RAPID_CHANGE,
            severity: self.severity,
            value: rate,
            threshold,
            message,
            key: Some(self.metric.column().to_string()),
        });
    }

    /// Claims an open RAPID_CHANGE alert of this rule's metric. The first reading after the
    /// restart only sets the base value; the rates from then on continue the episode.
    fn restore(&self, alert: &Alert, state: &mut RuleState) -> bool {
        if alert.alert_type != AlertType::RAPID_CHANGE
            || alert.key.as_deref() != Some(self.metric.column())
        {
            return false;
        }
        state.get::<RateState>().episode.restore();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{ReadingExt, at, reading, run, transitions};
    use AlertTransition::{Cleared, Raised};

    /// Battery readings one minute apart.
    fn battery_per_minute(vehicle: &str, values: &[f64]) -> Vec<Telemetry> {
        values
            .iter()
            .enumerate()
            .map(|(i, &b)| reading(vehicle, 60 * i as i64).with_battery(b))
            .collect()
    }

    #[test]
    fn battery_drain_raises_once_and_clears_once() {
        let rule = RateOfChangeRule::battery_drain();
        let signals = run(
            &rule,
            &mut RuleState::default(),
            // -1, -3 (raise), -4, -2.5, -1 (clear), -0.5, +10 (charging is not draining)
            &battery_per_minute("VH-1", &[90.0, 89.0, 86.0, 82.0, 79.5, 78.5, 78.0, 88.0]),
        );
        assert_eq!(
            transitions(&signals),
            [
                None,
                None,
                Some(Raised),
                None,
                None,
                Some(Cleared),
                None,
                None
            ]
        );
        let s = &signals[2][0];
        assert_eq!(s.alert_type, AlertType::RAPID_CHANGE);
        assert_eq!(s.key.as_deref(), Some("battery_pct"));
        assert!((s.value - 3.0 / 60.0).abs() < 1e-12, "{}", s.value);
        assert!((s.threshold - 2.0 / 60.0).abs() < 1e-12);
        assert_eq!(
            s.message,
            "Vehicle VH-1 battery_pct falling at 3.00/min (limit 2.00/min)"
        );
        assert_eq!(signals[5][0].key.as_deref(), Some("battery_pct"));
    }

    #[test]
    fn a_restored_episode_continues_and_clears_once() {
        use crate::rules::episode::open_alert;
        let rule = RateOfChangeRule::battery_drain();
        let mut state = RuleState::default();
        let other_metric = open_alert(
            "VH-1",
            AlertType::RAPID_CHANGE,
            Some("engine_temp_c"),
            at(0),
            0.1,
        );
        assert!(!rule.restore(&other_metric, &mut state));
        let overspeed = open_alert(
            "VH-1",
            AlertType::OVERSPEED,
            Some("battery_pct"),
            at(0),
            1.0,
        );
        assert!(!rule.restore(&overspeed, &mut state));
        assert!(state.is_empty());
        let stored = open_alert(
            "VH-1",
            AlertType::RAPID_CHANGE,
            Some("battery_pct"),
            at(0),
            0.05,
        );
        assert!(rule.restore(&stored, &mut state));
        let signals = run(
            &rule,
            &mut state,
            // base value, -4/min (still the stored episode), -1/min (clear), -5/min (new one)
            &battery_per_minute("VH-1", &[80.0, 76.0, 75.0, 70.0]),
        );
        assert_eq!(
            transitions(&signals),
            [None, None, Some(Cleared), Some(Raised)]
        );
    }

    #[test]
    fn exactly_the_limit_is_not_too_fast() {
        // Exactly 0.5 per second, written so the rate is exact in floating point.
        let rule = RateOfChangeRule::new(Metric::EngineTempC, RateDirection::Rising, 0.5);
        let temps = |v: &[(i64, f64)]| -> Vec<Telemetry> {
            v.iter()
                .map(|&(s, t)| reading("VH-1", s).with_temp(t))
                .collect()
        };
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &temps(&[(0, 70.0), (2, 71.0), (4, 72.5), (6, 73.5), (8, 73.5)]),
        );
        // +0.5/s: no; +0.75/s: raise; +0.5/s: in the (empty) band, stays; 0/s: clear.
        assert_eq!(
            transitions(&signals),
            [None, None, Some(Raised), None, Some(Cleared)]
        );
    }

    #[test]
    fn engine_heating_ignores_cooling_and_either_catches_both() {
        let cooling: Vec<_> = [(0, 100.0), (60, 90.0)]
            .iter()
            .map(|&(s, t)| reading("VH-1", s).with_temp(t))
            .collect();
        let rising = RateOfChangeRule::engine_heating();
        assert_eq!(
            transitions(&run(&rising, &mut RuleState::default(), &cooling)),
            [None, None]
        );
        let either = RateOfChangeRule::new(Metric::EngineTempC, RateDirection::Either, 5.0 / 60.0);
        assert_eq!(
            transitions(&run(&either, &mut RuleState::default(), &cooling)),
            [None, Some(Raised)]
        );
    }

    #[test]
    fn duplicate_and_late_readings_are_ignored() {
        let rule = RateOfChangeRule::battery_drain();
        let r = |s: i64, b: f64| reading("VH-1", s).with_battery(b);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            // The duplicate at t=0 would be an infinite rate; the late one a huge drop.
            &[
                r(0, 90.0),
                r(0, 10.0),
                r(60, 89.5),
                r(30, 20.0),
                r(120, 89.0),
            ],
        );
        assert_eq!(transitions(&signals), [None, None, None, None, None]);
    }

    #[test]
    fn state_is_per_vehicle() {
        let rule = RateOfChangeRule::battery_drain();
        let (mut a, mut b) = (RuleState::default(), RuleState::default());
        let mut out = Vec::new();
        // A and B interleave; only A drains fast. Shared state would see 90 -> 50 or 50 -> 87.
        rule.evaluate(&reading("A", 0).with_battery(90.0), &mut a, &mut out);
        rule.evaluate(&reading("B", 0).with_battery(50.0), &mut b, &mut out);
        rule.evaluate(&reading("B", 60).with_battery(49.5), &mut b, &mut out);
        assert!(out.is_empty());
        rule.evaluate(&reading("A", 60).with_battery(87.0), &mut a, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].transition, Raised);
    }

    #[test]
    fn validation_names_the_field() {
        assert!(RateOfChangeRule::battery_drain().validate().is_ok());
        let field = |r: RateOfChangeRule| r.validate().unwrap_err().field;
        assert_eq!(
            field(RateOfChangeRule::new(
                Metric::SpeedKmh,
                RateDirection::Either,
                0.0
            )),
            "max_rate_per_sec"
        );
        assert_eq!(
            field(RateOfChangeRule::new(
                Metric::SpeedKmh,
                RateDirection::Either,
                f64::NAN
            )),
            "max_rate_per_sec"
        );
        assert_eq!(
            field(RateOfChangeRule::battery_drain().with_clear_rate_per_sec(1.0)),
            "clear_rate_per_sec"
        );
        assert_eq!(
            field(RateOfChangeRule::battery_drain().with_debounce(Debounce {
                clear_after: 0,
                ..Debounce::default()
            })),
            "clear_after"
        );
    }
}
