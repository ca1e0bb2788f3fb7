//! Alert rules written in Python.
//!
//! A Python rule is a plain callable `fn(reading: dict) -> None | dict`. Returning a dict means
//! "this reading violates the rule"; `None` means "this reading is fine". The adapter turns that
//! stream into episodes, like the built-in rules: the first violating reading raises one alert,
//! further violations of the same alert type are part of the same episode, and the first fine
//! reading clears it. Each vehicle has its own episode state.
//!
//! The pipeline calls rules on its processing task, so the adapter attaches to the interpreter
//! only for the call itself and never waits on anything while attached.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use vehicleops_core::{
    AlertRule, AlertSignal, AlertTransition, AlertType, RuleState, Severity, Telemetry,
};

/// An [`AlertRule`] that calls a Python function for every reading.
pub struct PythonRule {
    name: String,
    function: Py<PyAny>,
    /// Calls that raised or returned something unusable; such a reading counts as fine.
    errors: AtomicU64,
}

/// What the function reported for a violating reading.
#[derive(Debug, Clone, PartialEq)]
struct Violation {
    alert_type: AlertType,
    severity: Severity,
    value: f64,
    threshold: f64,
    message: String,
}

/// One vehicle's open episode, if any.
#[derive(Default)]
struct EpisodeState {
    open: Option<Violation>,
}

impl PythonRule {
    pub fn new(name: String, function: Py<PyAny>) -> Self {
        PythonRule {
            name,
            function,
            errors: AtomicU64::new(0),
        }
    }

    /// How many calls failed so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn call(&self, reading: &Telemetry) -> Option<Violation> {
        let outcome = crate::awaitable::attach(|py| -> PyResult<Option<Violation>> {
            let arg = pythonize::pythonize(py, reading)?;
            let result = self.function.bind(py).call1((arg,))?;
            if result.is_none() {
                return Ok(None);
            }
            self.violation(result.cast::<PyDict>().map_err(PyErr::from)?)
                .map(Some)
        })?;
        match outcome {
            Ok(v) => v,
            Err(e) => {
                // Report the first failure with its traceback; count the rest.
                if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    crate::awaitable::attach(|py| e.display(py));
                }
                None
            }
        }
    }

    fn violation(&self, d: &Bound<'_, PyDict>) -> PyResult<Violation> {
        let get = |key: &str| d.get_item(key);
        let alert_type = match get("alert_type")? {
            Some(v) => v.extract::<String>()?,
            None => self.name.to_uppercase(),
        };
        let severity = match get("severity")? {
            Some(v) => v
                .extract::<String>()?
                .parse::<Severity>()
                .map_err(|e| crate::errors::to_py_err(e.into()))?,
            None => Severity::Medium,
        };
        let number = |key: &str| -> PyResult<f64> {
            Ok(match get(key)? {
                Some(v) => v.extract::<f64>()?,
                None => 0.0,
            })
        };
        let message = match get("message")? {
            Some(v) => v.extract::<String>()?,
            None => format!("{alert_type} raised by rule {}", self.name),
        };
        Ok(Violation {
            alert_type: AlertType::custom(alert_type),
            severity,
            value: number("value")?,
            threshold: number("threshold")?,
            message,
        })
    }
}

fn signal(transition: AlertTransition, v: &Violation) -> AlertSignal {
    AlertSignal {
        transition,
        alert_type: v.alert_type.clone(),
        severity: v.severity,
        value: v.value,
        threshold: v.threshold,
        message: v.message.clone(),
        key: None,
    }
}

impl AlertRule for PythonRule {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        let now = self.call(reading);
        let episode = state.get::<EpisodeState>();
        match (&episode.open, now) {
            (None, None) => {}
            (Some(open), None) => {
                out.push(signal(AlertTransition::Cleared, open));
                episode.open = None;
            }
            (Some(open), Some(v)) if open.alert_type == v.alert_type => {}
            (open, Some(v)) => {
                // A new episode, or the rule switched alert types: the old one is over.
                if let Some(old) = open {
                    out.push(signal(AlertTransition::Cleared, old));
                }
                out.push(signal(AlertTransition::Raised, &v));
                episode.open = Some(v);
            }
        }
    }
}
