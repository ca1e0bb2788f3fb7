//! # vehicleops (Python bindings)
//!
//! The native module `vehicleops._vehicleops`, wrapped by the pure-Python package `vehicleops`.
//! It exposes the embedded engine ([`engine::Engine`]), live subscriptions as async iterators
//! ([`live::Subscription`]), Python alert rules ([`rules::PythonRule`]), typed exceptions
//! ([`errors`]) and `decode_telemetry`.
//!
//! One tokio runtime serves the whole process; awaitables returned to Python are futures on it
//! (see [`awaitable`]). The GIL is never held while waiting: async work runs on the
//! runtime's threads, which attach to the interpreter only to convert results or call Python
//! rules.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::runtime::Runtime;

mod awaitable;
mod convert;
mod engine;
mod errors;
mod live;
mod rules;

use errors::IntoPyResult;

/// The process-wide runtime behind every awaitable of the binding.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("vehicleops")
            .enable_all()
            .build()
            .expect("the vehicleops tokio runtime could not be built")
    })
}

/// The package's `atexit` hook; see [`awaitable::shutdown`].
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    awaitable::shutdown(py);
}

/// Decodes and validates one JSON telemetry message (`bytes` or `str`); returns the reading
/// as a dict or raises `ValidationError` naming the offending field.
#[pyfunction]
fn decode_telemetry(py: Python<'_>, payload: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let reading = if let Ok(b) = payload.cast::<PyBytes>() {
        vehicleops_core::decode_telemetry(b.as_bytes())
    } else {
        let s: String = payload.extract()?;
        vehicleops_core::decode_telemetry(s.as_bytes())
    }
    .into_py_result()?;
    Ok(pythonize::pythonize(py, &reading)?.unbind())
}

#[pymodule]
fn _vehicleops(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::SimulatorRun>()?;
    m.add_class::<live::Subscription>()?;
    m.add_function(wrap_pyfunction!(decode_telemetry, m)?)?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    Ok(())
}
