//! Alert rules written in a host language (a Python callable, a JavaScript function, …).
//!
//! A binding implements only [`HostRuleFunction`]: call the host function with one reading and
//! turn its answer into "fine" (`Ok(None)`), "violating" (`Ok(Some(HostViolation))`) or "no
//! usable answer" (`Err(HostRuleError)`: an exception, a timeout, a malformed return value).
//! [`HostRule`] turns that stream into episodes with the episode logic of the built-in rules
//! (their debounce defaults: raise and clear on the first reading), so host rules behave the
//! same in every language:
//!
//! - a fine reading clears the open episode, if any;
//! - the first violating reading raises one alert; further violations of the same alert type
//!   are the same episode;
//! - a violation of another alert type clears the open episode and raises a new one;
//! - an error is counted ([`HostRule::errors`]), logged (the first one, then every
//!   [`HostRule::LOG_EVERY`]th) and leaves the episode exactly as it was: it neither raises nor
//!   clears.
//!
//! Each vehicle has its own episode, in the [`RuleState`] slot the pipeline keeps per
//! (vehicle, rule). After a restart, [`AlertRule::restore`] takes up a stored open alert
//! (without a key) as the vehicle's open episode.
//!
//! ```
//! use vehicleops_core::{
//!     AlertRule, AlertTransition, HostRule, HostRuleError, HostViolation, RuleState, Telemetry,
//!     decode_telemetry,
//! };
//!
//! // What a binding would do with a host callable, here a Rust closure.
//! let rule = HostRule::new("too_fast", |r: &Telemetry| {
//!     if r.speed_kmh.is_nan() {
//!         return Err(HostRuleError::new("no speed"));
//!     }
//!     Ok((r.speed_kmh > 50.0).then(|| HostViolation {
//!         value: r.speed_kmh,
//!         threshold: 50.0,
//!         ..HostViolation::new("too_fast")
//!     }))
//! });
//! let reading = |speed: f64, second: u32| {
//!     decode_telemetry(format!(r#"{{"vehicle_id":"VH-1","fleet_id":"fleet-001",
//!         "latitude":4.711,"longitude":-74.0721,"speed_kmh":{speed},"battery_pct":80,
//!         "engine_temp_c":70,"status":"MOVING","timestamp":"2024-02-15T14:32:{second:02}Z"}}"#)
//!         .as_bytes())
//!     .unwrap()
//! };
//! let (mut state, mut out) = (RuleState::default(), Vec::new());
//! for (i, speed) in [40.0, 60.0, 70.0, 30.0].into_iter().enumerate() {
//!     rule.evaluate(&reading(speed, i as u32), &mut state, &mut out);
//! }
//! let got: Vec<_> = out.iter().map(|s| (s.alert_type.as_str(), s.transition)).collect();
//! assert_eq!(got, [("TOO_FAST", AlertTransition::Raised), ("TOO_FAST", AlertTransition::Cleared)]);
//! assert_eq!(out[0].message, "TOO_FAST raised by rule too_fast");
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::warn;

use super::episode::{Debounce, Episode, Level};
use crate::model::{Alert, AlertSignal, AlertTransition, AlertType, Severity, Telemetry};
use crate::traits::{AlertRule, RuleState};

/// What a host function reported for a violating reading.
#[derive(Debug, Clone, PartialEq)]
pub struct HostViolation {
    pub alert_type: AlertType,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

impl HostViolation {
    /// A violation with the defaults for the rule `rule_name`: alert type `rule_name`
    /// upper-cased, severity MEDIUM, value and threshold 0, message
    /// `"<ALERT_TYPE> raised by rule <rule_name>"`.
    pub fn new(rule_name: &str) -> Self {
        Self::of_type(rule_name, AlertType::custom(rule_name.to_uppercase()))
    }

    /// The defaults of [`HostViolation::new`] with another alert type; the default message
    /// names that type: `"<alert_type> raised by rule <rule_name>"`.
    pub fn of_type(rule_name: &str, alert_type: AlertType) -> Self {
        let message = format!("{alert_type} raised by rule {rule_name}");
        HostViolation {
            alert_type,
            severity: Severity::Medium,
            value: 0.0,
            threshold: 0.0,
            message,
        }
    }

    fn signal(&self, transition: AlertTransition) -> AlertSignal {
        AlertSignal {
            transition,
            alert_type: self.alert_type.clone(),
            severity: self.severity,
            value: self.value,
            threshold: self.threshold,
            message: self.message.clone(),
            key: None,
        }
    }
}

/// Why a host function gave no usable answer: it threw, timed out, or returned something that
/// is neither "fine" nor a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRuleError {
    pub message: String,
}

impl HostRuleError {
    pub fn new(message: impl Into<String>) -> Self {
        HostRuleError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for HostRuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostRuleError {}

impl From<String> for HostRuleError {
    fn from(message: String) -> Self {
        HostRuleError { message }
    }
}

impl From<&str> for HostRuleError {
    fn from(message: &str) -> Self {
        HostRuleError::new(message)
    }
}

/// A function in a host language that classifies one reading. Bindings implement this and
/// nothing else; [`HostRule`] keeps the episodes.
///
/// Called on the pipeline's processing task for every reading: it should be quick, and must
/// not wait without bound (a binding that has to wait for another thread gives up after a
/// timeout and returns an error).
pub trait HostRuleFunction: Send + Sync {
    /// `Ok(None)`: the reading is fine. `Ok(Some(v))`: it violates the rule.
    /// `Err(e)`: no usable answer; the episode stays as it is.
    fn call(&self, reading: &Telemetry) -> Result<Option<HostViolation>, HostRuleError>;
}

/// Any `Fn(&Telemetry) -> Result<Option<HostViolation>, HostRuleError>` is a host function,
/// which is handy for tests and for Rust rules written in the same style.
impl<C> HostRuleFunction for C
where
    C: Fn(&Telemetry) -> Result<Option<HostViolation>, HostRuleError> + Send + Sync,
{
    fn call(&self, reading: &Telemetry) -> Result<Option<HostViolation>, HostRuleError> {
        self(reading)
    }
}

/// One vehicle's episode of a host rule.
#[derive(Default)]
struct HostEpisode {
    episode: Episode,
    /// The violation that raised the open episode; `Some` exactly while the episode is active.
    open: Option<HostViolation>,
}

/// Host rules raise and clear on the first reading, like the built-in rules' defaults.
const DEBOUNCE: Debounce = Debounce {
    raise_after: 1,
    min_duration: chrono::Duration::zero(),
    clear_after: 1,
};

/// An [`AlertRule`] backed by a [`HostRuleFunction`], with the same episode semantics for every
/// host language (see the [module documentation](self)).
pub struct HostRule<F> {
    name: String,
    function: F,
    errors: AtomicU64,
    /// Also counts this rule's errors, e.g. one counter for all the rules of an engine.
    shared_errors: Option<Arc<AtomicU64>>,
}

impl<F: HostRuleFunction> HostRule<F> {
    /// After the first error, one in this many is logged.
    pub const LOG_EVERY: u64 = 1000;

    pub fn new(name: impl Into<String>, function: F) -> Self {
        HostRule {
            name: name.into(),
            function,
            errors: AtomicU64::new(0),
            shared_errors: None,
        }
    }

    /// Also adds every error of this rule to `counter` (which may be shared by several rules).
    pub fn with_shared_error_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.shared_errors = Some(counter);
        self
    }

    /// How many calls of this rule's function failed so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn function(&self) -> &F {
        &self.function
    }

    fn failed(&self, error: &HostRuleError) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(shared) = &self.shared_errors {
            shared.fetch_add(1, Ordering::Relaxed);
        }
        if n == 1 {
            warn!(rule = %self.name, "alert rule failed; the episode stays as it was: {error}");
        } else if n % Self::LOG_EVERY == 0 {
            warn!(rule = %self.name, errors = n, "alert rule failed {n} times so far; latest: {error}");
        }
    }
}

impl<F: HostRuleFunction> AlertRule for HostRule<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        let verdict = match self.function.call(reading) {
            Ok(verdict) => verdict,
            Err(e) => return self.failed(&e),
        };
        let state = state.get::<HostEpisode>();
        let at = reading.timestamp;
        let Some(violation) = verdict else {
            if state.episode.step(&DEBOUNCE, at, Level::Normal) == Some(AlertTransition::Cleared) {
                out.extend(
                    state
                        .open
                        .take()
                        .map(|o| o.signal(AlertTransition::Cleared)),
                );
            }
            return;
        };
        if let Some(open) = &state.open {
            if open.alert_type == violation.alert_type {
                return;
            }
            // Another alert type: that episode is over and a new one starts.
            state.episode.step(&DEBOUNCE, at, Level::Normal);
            if let Some(old) = state.open.take() {
                out.push(old.signal(AlertTransition::Cleared));
            }
        }
        if state.episode.step(&DEBOUNCE, at, Level::Violating) == Some(AlertTransition::Raised) {
            out.push(violation.signal(AlertTransition::Raised));
            state.open = Some(violation);
        }
    }

    /// Claims an open alert that can be this rule's: it becomes the vehicle's open episode, so
    /// the next fine reading clears it and violations of its type raise nothing meanwhile. A
    /// host function may report any alert type, so any type is taken; but host rules never set
    /// a key, hold one episode per vehicle, and a cleared alert is no open episode: a keyed or
    /// cleared alert, or a second one for a vehicle whose episode is already open, is refused.
    fn restore(&self, alert: &Alert, state: &mut RuleState) -> bool {
        if alert.key.is_some() || alert.cleared_at.is_some() {
            return false;
        }
        let state = state.get::<HostEpisode>();
        if state.open.is_some() {
            return false;
        }
        state.episode.restore();
        state.open = Some(HostViolation {
            alert_type: alert.alert_type.clone(),
            severity: alert.severity,
            value: alert.value,
            threshold: alert.threshold,
            message: alert.message.clone(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::rules::episode;
    use crate::rules::testing::{at, reading};
    use AlertTransition::{Cleared, Raised};

    /// A scripted host function: answers with the next verdict of its script.
    type Script = Mutex<std::vec::IntoIter<Result<Option<&'static str>, &'static str>>>;

    fn scripted(
        verdicts: Vec<Result<Option<&'static str>, &'static str>>,
    ) -> HostRule<impl HostRuleFunction> {
        let script: Script = Mutex::new(verdicts.into_iter());
        HostRule::new("scripted", move |r: &Telemetry| {
            match script.lock().unwrap().next().expect("script too short") {
                Ok(None) => Ok(None),
                Ok(Some(ty)) => Ok(Some(HostViolation {
                    value: r.speed_kmh,
                    ..HostViolation::of_type("scripted", AlertType::custom(ty))
                })),
                Err(e) => Err(HostRuleError::new(e)),
            }
        })
    }

    /// Runs the whole script for one vehicle; the (type, transition) of each reading's signals.
    fn run<F: HostRuleFunction>(
        rule: &HostRule<F>,
        state: &mut RuleState,
        n: usize,
    ) -> Vec<Vec<(String, AlertTransition)>> {
        (0..n)
            .map(|i| {
                let mut out = Vec::new();
                rule.evaluate(&reading("VH-1", i as i64), state, &mut out);
                out.into_iter()
                    .map(|s| (s.alert_type.as_str().to_string(), s.transition))
                    .collect()
            })
            .collect()
    }

    fn sig(ty: &str, t: AlertTransition) -> Vec<(String, AlertTransition)> {
        vec![(ty.to_string(), t)]
    }

    #[test]
    fn raises_once_and_clears_once() {
        let rule = scripted(vec![
            Ok(None),
            Ok(Some("A")),
            Ok(Some("A")),
            Ok(Some("A")),
            Ok(None),
            Ok(None),
            Ok(Some("A")),
        ]);
        let got = run(&rule, &mut RuleState::default(), 7);
        assert_eq!(
            got,
            [
                vec![],
                sig("A", Raised),
                vec![],
                vec![],
                sig("A", Cleared),
                vec![],
                sig("A", Raised),
            ]
        );
        assert_eq!(rule.errors(), 0);
    }

    #[test]
    fn signals_carry_the_violation_that_raised_the_episode() {
        let rule = scripted(vec![Ok(Some("A")), Ok(Some("A")), Ok(None)]);
        let mut state = RuleState::default();
        let mut out = Vec::new();
        for (i, speed) in [60.0, 70.0, 20.0].into_iter().enumerate() {
            let mut r = reading("VH-1", i as i64);
            r.speed_kmh = speed;
            rule.evaluate(&r, &mut state, &mut out);
        }
        assert_eq!(out.len(), 2);
        for s in &out {
            assert_eq!(
                (s.value, s.severity, s.key.as_deref()),
                (60.0, Severity::Medium, None)
            );
            assert_eq!(s.message, "A raised by rule scripted");
        }
    }

    #[test]
    fn a_change_of_alert_type_clears_one_episode_and_raises_the_other() {
        let rule = scripted(vec![Ok(Some("A")), Ok(Some("B")), Ok(Some("B")), Ok(None)]);
        let got = run(&rule, &mut RuleState::default(), 4);
        assert_eq!(
            got,
            [
                sig("A", Raised),
                vec![("A".into(), Cleared), ("B".into(), Raised)],
                vec![],
                sig("B", Cleared),
            ]
        );
    }

    #[test]
    fn an_error_leaves_an_open_episode_open() {
        let rule = scripted(vec![
            Ok(Some("A")),
            Err("boom"),
            Err("boom"),
            Ok(Some("A")),
            Ok(None),
        ]);
        let got = run(&rule, &mut RuleState::default(), 5);
        assert_eq!(
            got,
            [sig("A", Raised), vec![], vec![], vec![], sig("A", Cleared)],
            "neither cleared by the errors nor raised again after them"
        );
        assert_eq!(rule.errors(), 2);
    }

    #[test]
    fn an_error_leaves_a_closed_episode_closed() {
        let rule = scripted(vec![Err("boom"), Ok(None), Err("boom"), Ok(Some("A"))]);
        let got = run(&rule, &mut RuleState::default(), 4);
        assert_eq!(got, [vec![], vec![], vec![], sig("A", Raised)]);
        assert_eq!(rule.errors(), 2);
    }

    #[test]
    fn errors_are_counted_per_rule_and_in_a_shared_counter() {
        let shared = Arc::new(AtomicU64::new(0));
        let broken = || {
            HostRule::new("broken", |_: &Telemetry| Err(HostRuleError::from("boom")))
                .with_shared_error_counter(shared.clone())
        };
        let (one, two) = (broken(), broken());
        let mut state = RuleState::default();
        let mut out = Vec::new();
        for i in 0..2_500 {
            one.evaluate(&reading("VH-1", i), &mut state, &mut out);
        }
        two.evaluate(&reading("VH-1", 0), &mut RuleState::default(), &mut out);
        assert!(out.is_empty());
        assert_eq!((one.errors(), two.errors()), (2_500, 1));
        assert_eq!(shared.load(Ordering::Relaxed), 2_501);
    }

    #[test]
    fn vehicles_have_their_own_episodes() {
        let rule = HostRule::new("too_fast", |r: &Telemetry| {
            Ok((r.speed_kmh > 50.0).then(|| HostViolation::new("too_fast")))
        });
        let (mut s1, mut s2) = (RuleState::default(), RuleState::default());
        let mut out = Vec::new();
        let fast = |v: &str, i| {
            let mut r = reading(v, i);
            r.speed_kmh = 80.0;
            r
        };
        rule.evaluate(&fast("VH-1", 0), &mut s1, &mut out);
        rule.evaluate(&fast("VH-2", 0), &mut s2, &mut out);
        rule.evaluate(&reading("VH-1", 1), &mut s1, &mut out);
        let got: Vec<_> = out.iter().map(|s| s.transition).collect();
        assert_eq!(got, [Raised, Raised, Cleared]);
        assert_eq!(out[0].alert_type.as_str(), "TOO_FAST");
    }

    #[test]
    fn defaults_of_a_violation() {
        let v = HostViolation::new("slow-zone");
        assert_eq!(v.alert_type.as_str(), "SLOW-ZONE");
        assert_eq!(
            (v.severity, v.value, v.threshold),
            (Severity::Medium, 0.0, 0.0)
        );
        assert_eq!(v.message, "SLOW-ZONE raised by rule slow-zone");
        let v = HostViolation::of_type("slow-zone", AlertType::custom("SLOW_ZONE"));
        assert_eq!(v.message, "SLOW_ZONE raised by rule slow-zone");
    }

    fn open_alert(ty: &str) -> Alert {
        Alert {
            message: "restored".into(),
            ..episode::open_alert("VH-1", AlertType::custom(ty), None, at(-10), 61.0)
        }
    }

    #[test]
    fn a_restored_alert_is_the_open_episode() {
        let rule = scripted(vec![Ok(Some("A")), Ok(None)]);
        let mut state = RuleState::default();
        assert!(rule.restore(&open_alert("A"), &mut state));
        let mut out = Vec::new();
        rule.evaluate(&reading("VH-1", 0), &mut state, &mut out);
        assert!(out.is_empty(), "still the restored episode: {out:?}");
        rule.evaluate(&reading("VH-1", 1), &mut state, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].transition, out[0].message.as_str()),
            (Cleared, "restored")
        );

        let keyed = Alert {
            key: Some("depot".into()),
            ..open_alert("GEOFENCE_DWELL")
        };
        let mut empty = RuleState::default();
        assert!(!rule.restore(&keyed, &mut empty));
        let cleared = Alert {
            cleared_at: Some(at(-5)),
            ..open_alert("A")
        };
        assert!(!rule.restore(&cleared, &mut empty));
        assert!(empty.is_empty(), "a refused alert leaves the state alone");
    }

    #[test]
    fn a_restored_episode_of_another_type_ends_when_the_type_changes() {
        let rule = scripted(vec![Ok(Some("B"))]);
        let mut state = RuleState::default();
        assert!(rule.restore(&open_alert("A"), &mut state));
        assert!(
            !rule.restore(&open_alert("C"), &mut state),
            "one open episode per vehicle"
        );
        let got = run(&rule, &mut state, 1);
        assert_eq!(got, [vec![("A".into(), Cleared), ("B".into(), Raised)]]);
    }
}
