//! Live updates as a Python async iterator.

use std::sync::Arc;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::{Mutex, watch};
use vehicleops_core::LiveEvent;

/// A live subscription to one fleet (or every fleet with `"*"`).
///
/// `async for event in subscription` yields dicts `{"type": ..., "data": ...}` where `type` is
/// `"update"` (a vehicle's newest state), `"alert"`, `"command"` or `"mission"`. Updates are
/// coalesced per vehicle when the consumer falls behind; alerts and lifecycle events never are.
/// `close()` (or leaving `async with`, or garbage collection) unsubscribes and ends the
/// iteration, also for an `__anext__` already waiting.
#[pyclass(module = "vehicleops._vehicleops", frozen)]
pub struct Subscription {
    fleet_id: String,
    /// `None` once closed; the async lock is held by at most one pending `__anext__`.
    inner: Arc<Mutex<Option<vehicleops_core::Subscription>>>,
    closed: watch::Sender<bool>,
}

impl Subscription {
    pub fn new(sub: vehicleops_core::Subscription) -> Self {
        Subscription {
            fleet_id: sub.fleet_id().to_owned(),
            inner: Arc::new(Mutex::new(Some(sub))),
            closed: watch::channel(false).0,
        }
    }
}

#[pymethods]
impl Subscription {
    /// The fleet this subscription follows.
    #[getter]
    fn fleet_id(&self) -> &str {
        &self.fleet_id
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        let mut closed = self.closed.subscribe();
        crate::awaitable::awaitable(py, async move {
            let mut guard = inner.lock().await;
            let Some(sub) = guard.as_mut() else {
                return Err(PyStopAsyncIteration::new_err(()));
            };
            tokio::select! {
                event = sub.recv() => match event {
                    Some(event) => event_to_py(&event),
                    None => Err(PyStopAsyncIteration::new_err(())),
                },
                _ = closed.wait_for(|c| *c) => {
                    // Unsubscribe now rather than when the Python object is collected.
                    *guard = None;
                    Err(PyStopAsyncIteration::new_err(()))
                }
            }
        })
    }

    /// Unsubscribes; a pending `__anext__` ends the iteration.
    fn close(&self) {
        self.closed.send_replace(true);
        if let Ok(mut guard) = self.inner.try_lock() {
            *guard = None;
        }
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::awaitable::awaitable(py, async move { Ok(slf) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<Bound<'py, PyAny>>,
        _exc: Option<Bound<'py, PyAny>>,
        _traceback: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        crate::awaitable::awaitable(py, async move { Ok(false) })
    }

    fn __repr__(&self) -> String {
        format!(
            "Subscription(fleet_id={:?}, closed={})",
            self.fleet_id,
            self.closed()
        )
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Wakes a pending `__anext__`, which then drops the hub subscription with the lock.
        self.closed.send_replace(true);
    }
}

/// `{"type": ..., "data": ...}` for one live event.
fn event_to_py(event: &LiveEvent) -> PyResult<Py<PyAny>> {
    crate::awaitable::attach(|py| {
        let (kind, data) = match event {
            LiveEvent::Update(u) => ("update", pythonize::pythonize(py, &**u)?),
            LiveEvent::Alert(a) => ("alert", pythonize::pythonize(py, &**a)?),
            LiveEvent::Command(c) => ("command", pythonize::pythonize(py, &**c)?),
            LiveEvent::Mission(m) => ("mission", pythonize::pythonize(py, &**m)?),
        };
        let dict = PyDict::new(py);
        dict.set_item("type", kind)?;
        dict.set_item("data", data)?;
        Ok(dict.into_any().unbind())
    })
    .unwrap_or_else(|| Err(crate::errors::interpreter_exiting()))
}
