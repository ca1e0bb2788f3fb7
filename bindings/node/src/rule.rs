//! Alert rules written as JavaScript functions.
//!
//! The function only classifies a reading (`null` = normal, a verdict object = violating); this
//! module calls it and reads its answer ([`JsFunction`], a [`HostRuleFunction`]). The episodes
//! are the core's [`HostRule`], the same for every host language: one raise when a vehicle
//! starts violating, one clear when it is back to normal, a clear and a raise when the verdict's
//! alert type changes, with the per-vehicle state the pipeline keeps for each rule.
//!
//! `AlertRule::evaluate` is synchronous and runs on the pipeline's processing task, while a JS
//! function can only run on the JavaScript thread. [`JsFunction`] hands each reading to the JS
//! thread through a *weak* thread-safe function (so it never keeps Node alive) and waits for the
//! verdict at most `timeout` (inside `block_in_place`, so the runtime moves other tasks off the
//! waiting worker). A verdict that does not come in time — the JS thread is busy or shutting
//! down — a function that throws, or a malformed verdict is a rule error: counted, and the
//! episode stays as it was. So a slow or broken JS rule delays the pipeline by at most `timeout`
//! per reading and never stops it.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::Duration;

use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use serde::Deserialize;
use serde_json::Value;
use vehicleops_core::{
    AlertType, HostRule, HostRuleError, HostRuleFunction, HostViolation, Severity, Telemetry,
};

use crate::convert::to_js;

/// A JS function `(reading) => verdict | null`, called with one argument, never keeping the
/// event loop alive.
pub type RuleFunction = ThreadsafeFunction<Value, Value, Value, Status, false, true>;

/// The [`AlertRule`](vehicleops_core::AlertRule) the engine runs for a JS function.
pub type JsRule = HostRule<JsFunction>;

/// The rule `name` backed by `function`, waiting at most `timeout` per verdict and adding its
/// errors to `failures` (the engine's `ruleFailures`) as well as to its own count.
pub fn js_rule(
    name: String,
    function: RuleFunction,
    timeout: Duration,
    failures: Arc<AtomicU64>,
) -> JsRule {
    HostRule::new(name, JsFunction::new(function, timeout)).with_shared_error_counter(failures)
}

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

/// A JavaScript function classifying readings, called on the JS thread.
pub struct JsFunction {
    function: RuleFunction,
    timeout: Duration,
}

impl JsFunction {
    pub fn new(function: RuleFunction, timeout: Duration) -> Self {
        JsFunction { function, timeout }
    }
}

impl HostRuleFunction for JsFunction {
    fn call(&self, reading: &Telemetry) -> Result<Option<HostViolation>, HostRuleError> {
        let arg = to_js(reading).map_err(|e| HostRuleError::new(e.reason.as_str()))?;
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
            return Err(HostRuleError::new(format!("call refused ({status})")));
        }
        match wait(|| rx.recv_timeout(self.timeout)) {
            Err(_) => Err(HostRuleError::new(format!(
                "no verdict within {} ms",
                self.timeout.as_millis()
            ))),
            Ok(Err(e)) => Err(HostRuleError::new(e.reason.as_str())),
            Ok(Ok(answer)) => verdict(answer),
        }
    }
}

/// Reads the function's answer: `null` is a normal reading, a verdict a violating one,
/// anything else (a reported exception, a malformed verdict) an error.
fn verdict(answer: Value) -> Result<Option<HostViolation>, HostRuleError> {
    if answer.is_null() {
        return Ok(None);
    }
    if let Ok(t) = serde_json::from_value::<Thrown>(answer.clone()) {
        return Err(HostRuleError::new(format!("threw: {}", t.rule_error)));
    }
    let v = serde_json::from_value::<Verdict>(answer)
        .map_err(|e| HostRuleError::new(format!("malformed verdict: {e}")))?;
    Ok(Some(HostViolation {
        alert_type: AlertType::custom(v.alert_type),
        severity: v.severity,
        value: v.value,
        threshold: v.threshold,
        message: v.message,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_is_a_normal_reading() {
        assert_eq!(verdict(Value::Null), Ok(None));
    }

    #[test]
    fn verdicts_are_read_in_camel_case() {
        let v = verdict(json!({
            "alertType": "SLOW_ZONE", "severity": "CRITICAL", "value": 1.0,
            "threshold": 0.5, "message": "m"
        }))
        .unwrap()
        .unwrap();
        assert_eq!(v.alert_type.as_str(), "SLOW_ZONE");
        assert_eq!(v.severity, Severity::Critical);
        assert_eq!((v.value, v.threshold, v.message.as_str()), (1.0, 0.5, "m"));
    }

    #[test]
    fn exceptions_and_malformed_verdicts_are_errors() {
        let thrown = verdict(json!({"ruleError": "boom"})).unwrap_err();
        assert_eq!(thrown.message, "threw: boom");
        let bad = verdict(json!({"alert_type": "X"})).unwrap_err();
        assert!(bad.message.starts_with("malformed verdict"), "{bad}");
        assert!(verdict(json!(42)).is_err());
    }
}
