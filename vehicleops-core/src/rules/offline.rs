//! [`OfflineRule`]: a vehicle that has stopped reporting.

use chrono::{DateTime, Duration, Utc};

use super::seconds;
use crate::error::ValidationError;
use crate::model::{Alert, AlertSignal, AlertTransition, AlertType, Severity, Telemetry};
use crate::traits::{AlertRule, RuleState};

/// Raises OFFLINE when a vehicle has sent nothing for longer than a timeout.
///
/// Silence can only be noticed by the clock, so the rule works in
/// [`on_tick`](AlertRule::on_tick): when `now - last.timestamp` is strictly greater than the
/// timeout it raises once (value = seconds of silence, threshold = the timeout in seconds).
/// The vehicle's next fresh reading (newer than the last one before the silence), seen by
/// [`evaluate`](AlertRule::evaluate), clears the episode (value = seconds between the two).
#[derive(Debug, Clone)]
pub struct OfflineRule {
    timeout: Duration,
    severity: Severity,
}

/// Per-vehicle state: the timestamp of the last reading before the silence, while raised.
#[derive(Debug, Default)]
struct Offline {
    silent_since: Option<DateTime<Utc>>,
}

impl Default for OfflineRule {
    fn default() -> Self {
        Self::new(Self::DEFAULT_TIMEOUT)
    }
}

impl OfflineRule {
    /// 30 seconds without a reading.
    pub const DEFAULT_TIMEOUT: Duration = Duration::seconds(30);

    /// A rule with the given timeout and severity HIGH (a silent autonomous vehicle is one
    /// nobody can see or stop).
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            severity: Severity::High,
        }
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.timeout <= Duration::zero() {
            return Err(ValidationError::new("timeout_secs", "must be positive"));
        }
        Ok(())
    }
}

impl AlertRule for OfflineRule {
    fn name(&self) -> &str {
        "offline"
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        // Most vehicles are never offline: leave their slot empty rather than box a state.
        if state.is_empty() {
            return;
        }
        let offline = state.get::<Offline>();
        // Only a reading newer than the last one before the silence shows the vehicle is back;
        // an older one is a late redelivery.
        let Some(since) = offline.silent_since.filter(|&s| reading.timestamp > s) else {
            return;
        };
        offline.silent_since = None;
        let gap = seconds(reading.timestamp - since);
        out.push(AlertSignal {
            transition: AlertTransition::Cleared,
            alert_type: AlertType::OFFLINE,
            severity: self.severity,
            value: gap,
            threshold: seconds(self.timeout),
            message: format!("Vehicle {} back online after {gap} s", reading.vehicle_id),
            key: None,
        });
    }

    fn on_tick(
        &self,
        now: DateTime<Utc>,
        last: &Telemetry,
        state: &mut RuleState,
        out: &mut Vec<AlertSignal>,
    ) {
        let silence = now - last.timestamp;
        if silence <= self.timeout {
            return;
        }
        let offline = state.get::<Offline>();
        if offline.silent_since.is_some() {
            return;
        }
        offline.silent_since = Some(last.timestamp);
        let value = seconds(silence);
        out.push(AlertSignal {
            transition: AlertTransition::Raised,
            alert_type: AlertType::OFFLINE,
            severity: self.severity,
            value,
            threshold: seconds(self.timeout),
            message: format!(
                "Vehicle {} offline: no telemetry for {value} s",
                last.vehicle_id
            ),
            key: None,
        });
    }

    /// Claims an open OFFLINE alert. Its trigger time is the last reading before the silence
    /// (the pipeline raises OFFLINE with the vehicle's last reading), so the first reading newer
    /// than that clears it and no tick raises it again meanwhile.
    fn restore(&self, alert: &Alert, state: &mut RuleState) -> bool {
        if alert.alert_type != AlertType::OFFLINE || alert.key.is_some() {
            return false;
        }
        state.get::<Offline>().silent_since = Some(alert.triggered_at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{at, reading};

    fn tick(
        rule: &OfflineRule,
        now: i64,
        last: &Telemetry,
        state: &mut RuleState,
    ) -> Vec<AlertSignal> {
        let mut out = Vec::new();
        rule.on_tick(at(now), last, state, &mut out);
        out
    }

    fn eval(rule: &OfflineRule, r: &Telemetry, state: &mut RuleState) -> Vec<AlertSignal> {
        let mut out = Vec::new();
        rule.evaluate(r, state, &mut out);
        out
    }

    #[test]
    fn raises_once_after_the_timeout_and_clears_on_the_next_reading() {
        let rule = OfflineRule::default();
        let mut state = RuleState::default();
        let last = reading("VH-7", 0);
        assert!(eval(&rule, &last, &mut state).is_empty());
        assert!(tick(&rule, 10, &last, &mut state).is_empty());
        assert!(
            tick(&rule, 30, &last, &mut state).is_empty(),
            "exactly the timeout is not yet offline"
        );

        let raised = tick(&rule, 31, &last, &mut state);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].transition, AlertTransition::Raised);
        assert_eq!(raised[0].alert_type, AlertType::OFFLINE);
        assert_eq!(raised[0].severity, Severity::High);
        assert_eq!(raised[0].value, 31.0);
        assert_eq!(raised[0].threshold, 30.0);
        assert_eq!(
            raised[0].message,
            "Vehicle VH-7 offline: no telemetry for 31 s"
        );

        assert!(tick(&rule, 45, &last, &mut state).is_empty(), "raised once");
        assert!(
            tick(&rule, 600, &last, &mut state).is_empty(),
            "raised once"
        );

        assert!(
            eval(&rule, &reading("VH-7", 0), &mut state).is_empty(),
            "a redelivered old reading is not a sign of life"
        );
        let cleared = eval(&rule, &reading("VH-7", 90), &mut state);
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].transition, AlertTransition::Cleared);
        assert_eq!(cleared[0].alert_type, AlertType::OFFLINE);
        assert_eq!(cleared[0].value, 90.0);
        assert!(eval(&rule, &reading("VH-7", 91), &mut state).is_empty());

        // A later silence is a new episode.
        let last = reading("VH-7", 91);
        assert_eq!(tick(&rule, 200, &last, &mut state).len(), 1);
    }

    #[test]
    fn a_restored_episode_is_not_raised_again_and_clears_on_a_fresh_reading() {
        use crate::rules::episode::open_alert;
        let rule = OfflineRule::default();
        let mut state = RuleState::default();
        let overspeed = open_alert("VH-7", AlertType::OVERSPEED, None, at(0), 90.0);
        assert!(!rule.restore(&overspeed, &mut state));
        assert!(state.is_empty());
        // Raised before the restart with the last reading at 0 s.
        let stored = open_alert("VH-7", AlertType::OFFLINE, None, at(0), 31.0);
        assert!(rule.restore(&stored, &mut state));
        let last = reading("VH-7", 0);
        assert!(
            tick(&rule, 600, &last, &mut state).is_empty(),
            "still the stored episode"
        );
        assert!(
            eval(&rule, &reading("VH-7", 0), &mut state).is_empty(),
            "a redelivered old reading is not a sign of life"
        );
        let cleared = eval(&rule, &reading("VH-7", 700), &mut state);
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].transition, AlertTransition::Cleared);
        assert_eq!(cleared[0].value, 700.0);
        let last = reading("VH-7", 700);
        assert_eq!(
            tick(&rule, 800, &last, &mut state).len(),
            1,
            "a later silence is a new episode"
        );
    }

    #[test]
    fn readings_never_allocate_state_for_vehicles_that_stay_online() {
        let rule = OfflineRule::default();
        let mut state = RuleState::default();
        for secs in 0..5 {
            assert!(eval(&rule, &reading("VH-1", secs), &mut state).is_empty());
        }
        assert!(state.is_empty());
    }

    #[test]
    fn state_is_per_vehicle() {
        let rule = OfflineRule::new(Duration::seconds(5));
        let (mut a, mut b) = (RuleState::default(), RuleState::default());
        let (la, lb) = (reading("A", 0), reading("B", 4));
        assert_eq!(tick(&rule, 6, &la, &mut a).len(), 1);
        assert!(tick(&rule, 6, &lb, &mut b).is_empty());
        assert!(
            eval(&rule, &reading("B", 7), &mut b).is_empty(),
            "B was never offline"
        );
        assert_eq!(eval(&rule, &reading("A", 7), &mut a).len(), 1);
    }

    #[test]
    fn timeout_must_be_positive() {
        assert!(OfflineRule::default().validate().is_ok());
        let e = OfflineRule::new(Duration::zero()).validate().unwrap_err();
        assert_eq!(e.field, "timeout_secs");
    }
}
