//! Alert rules written in Python.
//!
//! A Python rule is a plain callable `fn(reading: dict) -> None | dict`. Returning a dict means
//! "this reading violates the rule"; `None` means "this reading is fine". This module only calls
//! the function and reads its answer ([`PythonFunction`], a [`HostRuleFunction`]); the episodes
//! are the core's [`HostRule`], the same for every host language: the first violating reading
//! raises one alert, further violations of the same alert type are part of the same episode, a
//! violation of another alert type clears it and raises a new one, and the first fine reading
//! clears it. A call that raises or returns something unusable is counted
//! ([`HostRule::errors`]) and leaves the episode as it was. Each vehicle has its own episode.
//!
//! The pipeline calls rules on its processing task, so the function attaches to the
//! interpreter only for the call itself and never waits on anything while attached.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use vehicleops_core::{
    AlertType, HostRule, HostRuleError, HostRuleFunction, HostViolation, Severity, Telemetry,
};

/// The [`AlertRule`](vehicleops_core::AlertRule) the engine runs for a Python function.
pub type PythonRule = HostRule<PythonFunction>;

/// The rule `name` backed by the Python callable `function`.
pub fn python_rule(name: String, function: Py<PyAny>) -> PythonRule {
    HostRule::new(name.clone(), PythonFunction::new(name, function))
}

/// A Python callable classifying readings.
pub struct PythonFunction {
    /// The rule's name, for the defaults of a violation dict.
    rule: String,
    function: Py<PyAny>,
    /// Whether the traceback of a failure was printed already (only the first one is).
    traceback_shown: AtomicBool,
}

impl PythonFunction {
    pub fn new(rule: String, function: Py<PyAny>) -> Self {
        PythonFunction {
            rule,
            function,
            traceback_shown: AtomicBool::new(false),
        }
    }

    fn classify(&self, py: Python<'_>, reading: &Telemetry) -> PyResult<Option<HostViolation>> {
        let arg = pythonize::pythonize(py, reading)?;
        let result = self.function.bind(py).call1((arg,))?;
        if result.is_none() {
            return Ok(None);
        }
        self.violation(result.cast::<PyDict>().map_err(PyErr::from)?)
            .map(Some)
    }

    /// Reads a violation dict; every key is optional (see [`HostViolation::of_type`] for the
    /// defaults).
    fn violation(&self, d: &Bound<'_, PyDict>) -> PyResult<HostViolation> {
        let get = |key: &str| d.get_item(key);
        let alert_type = match get("alert_type")? {
            Some(v) => AlertType::custom(v.extract::<String>()?),
            None => AlertType::custom(self.rule.to_uppercase()),
        };
        let mut v = HostViolation::of_type(&self.rule, alert_type);
        if let Some(s) = get("severity")? {
            v.severity = s
                .extract::<String>()?
                .parse::<Severity>()
                .map_err(|e| crate::errors::to_py_err(e.into()))?;
        }
        if let Some(x) = get("value")? {
            v.value = x.extract::<f64>()?;
        }
        if let Some(x) = get("threshold")? {
            v.threshold = x.extract::<f64>()?;
        }
        if let Some(m) = get("message")? {
            v.message = m.extract::<String>()?;
        }
        Ok(v)
    }
}

impl HostRuleFunction for PythonFunction {
    fn call(&self, reading: &Telemetry) -> Result<Option<HostViolation>, HostRuleError> {
        crate::awaitable::attach(|py| {
            self.classify(py, reading).map_err(|e| {
                // Python users read tracebacks on stderr: show the first one there as well.
                if !self.traceback_shown.swap(true, Ordering::Relaxed) {
                    e.display(py);
                }
                HostRuleError::new(e.to_string())
            })
        })
        .unwrap_or_else(|| {
            Err(HostRuleError::new(
                "the Python interpreter is shutting down",
            ))
        })
    }
}
