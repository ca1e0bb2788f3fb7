//! Alert rules written as JavaScript functions.
//!
//! `AlertRule::evaluate` is synchronous and runs on the pipeline's processing task, while a JS
//! function can only run on the JavaScript thread. The adapter hands each reading to the JS
//! thread through a *weak* thread-safe function (so it never keeps Node alive) and waits for the
//! verdict at most `timeout` (inside `block_in_place`, so the runtime moves other tasks off the
//! waiting worker). A verdict that does not come in time — the JS thread is busy or shutting
//! down — or a function that throws counts as a rule failure and leaves the episode as it was,
//! so a slow or broken JS rule delays the pipeline by at most `timeout` per reading and never
//! stops it.
//!
//! Episodes live here, not in JS: the function only classifies a reading (`null` = normal, an
//! object = violating); the adapter raises once when a vehicle starts violating and clears once
//! when it is back to normal, with the per-vehicle state the pipeline keeps for each rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;
use vehicleops_core::{
    AlertRule, AlertSignal, AlertTransition, AlertType, RuleState, Severity, Telemetry,
};

use crate::convert::to_js;

/// A JS function `(reading) => verdict | null`, called with one argument, never keeping the
/// event loop alive.
pub type RuleFunction = ThreadsafeFunction<Value, Value, Value, Status, false, true>;

/// What a JS rule returns for a violating reading (camelCase, as JavaScript writes it).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Verdict {
    alert_type: String,
    severity: Severity,
    value: f64,
    threshold: f64,
    message: String,
}

/// The TypeScript wrapper reports a thrown exception as `{ruleError: message}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Thrown {
    rule_error: String,
}

/// How one reading was classified.
#[derive(Debug)]
enum Classified {
    Violating(Verdict),
    Normal,
    /// No usable answer (timeout, exception, malformed verdict): the episode stays as it is.
    Unknown,
}

/// The open episode of one vehicle, if any.
#[derive(Default)]
struct Episode {
    open: Option<AlertSignal>,
}

/// An [`AlertRule`] backed by a JavaScript function.
pub struct JsRule {
    name: String,
    function: Arc<RuleFunction>,
    timeout: Duration,
    failures: Arc<AtomicU64>,
}

impl JsRule {
    pub fn new(
        name: String,
        function: RuleFunction,
        timeout: Duration,
        failures: Arc<AtomicU64>,
    ) -> Self {
        JsRule {
            name,
            function: Arc::new(function),
            timeout,
            failures,
        }
    }

    fn failed(&self, why: &str) -> Classified {
        self.failures.fetch_add(1, Ordering::Relaxed);
        warn!(rule = %self.name, "JS rule gave no verdict: {why}");
        Classified::Unknown
    }

    fn classify(&self, reading: &Telemetry) -> Classified {
        let arg = match to_js(reading) {
            Ok(v) => v,
            Err(e) => return self.failed(&e.reason),
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let status = self.function.call_with_return_value(
            arg,
            ThreadsafeFunctionCallMode::NonBlocking,
            move |answer, _env| {
                // The waiter may have given up already; then nobody needs the answer.
                let _ = tx.send(answer);
                Ok(())
            },
        );
        if status != Status::Ok {
            return self.failed(&format!("call refused ({status})"));
        }
        let answer = wait(|| rx.recv_timeout(self.timeout));
        match answer {
            Err(_) => self.failed("timed out"),
            Ok(Err(e)) => self.failed(&e.reason),
            Ok(Ok(Value::Null)) => Classified::Normal,
            Ok(Ok(v)) => {
                if let Ok(t) = serde_json::from_value::<Thrown>(v.clone()) {
                    return self.failed(&format!("threw: {}", t.rule_error));
                }
                match serde_json::from_value::<Verdict>(v) {
                    Ok(verdict) => Classified::Violating(verdict),
                    Err(e) => self.failed(&format!("malformed verdict: {e}")),
                }
            }
        }
    }
}

/// Blocks for the verdict; on a multi-threaded runtime the worker's other tasks move elsewhere
/// meanwhile.
fn wait<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Advances one vehicle's episode with a classification; returns the signal it causes.
fn step(episode: &mut Episode, classified: Classified) -> Option<AlertSignal> {
    match (classified, episode.open.is_some()) {
        (Classified::Violating(v), false) => {
            let signal = AlertSignal {
                transition: AlertTransition::Raised,
                alert_type: AlertType::custom(v.alert_type),
                severity: v.severity,
                value: v.value,
                threshold: v.threshold,
                message: v.message,
                key: None,
            };
            episode.open = Some(signal.clone());
            Some(signal)
        }
        (Classified::Normal, true) => {
            let mut signal = episode.open.take()?;
            signal.transition = AlertTransition::Cleared;
            Some(signal)
        }
        _ => None,
    }
}

impl AlertRule for JsRule {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        let classified = self.classify(reading);
        out.extend(step(state.get::<Episode>(), classified));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violating(value: f64) -> Classified {
        Classified::Violating(Verdict {
            alert_type: "SLOW_ZONE".into(),
            severity: Severity::High,
            value,
            threshold: 10.0,
            message: "too fast in the slow zone".into(),
        })
    }

    #[test]
    fn one_episode_raises_once_and_clears_once() {
        let mut e = Episode::default();
        let raised = step(&mut e, violating(12.0)).unwrap();
        assert_eq!(raised.transition, AlertTransition::Raised);
        assert_eq!(raised.alert_type.as_str(), "SLOW_ZONE");
        assert!(step(&mut e, violating(14.0)).is_none());
        let cleared = step(&mut e, Classified::Normal).unwrap();
        assert_eq!(cleared.transition, AlertTransition::Cleared);
        assert_eq!(cleared.alert_type.as_str(), "SLOW_ZONE");
        assert!(step(&mut e, Classified::Normal).is_none());
    }

    #[test]
    fn no_answer_keeps_the_episode_as_it_was() {
        let mut e = Episode::default();
        assert!(step(&mut e, Classified::Unknown).is_none());
        step(&mut e, violating(12.0)).unwrap();
        assert!(step(&mut e, Classified::Unknown).is_none());
        assert!(e.open.is_some(), "a timeout does not clear an open episode");
    }

    #[test]
    fn verdicts_are_read_in_camel_case() {
        let v: Verdict = serde_json::from_value(serde_json::json!({
            "alertType": "SLOW_ZONE", "severity": "CRITICAL", "value": 1.0,
            "threshold": 0.5, "message": "m"
        }))
        .unwrap();
        assert_eq!(v.severity, Severity::Critical);
        let bad = serde_json::from_value::<Verdict>(serde_json::json!({"alert_type": "X"}));
        assert!(bad.is_err());
    }
}
