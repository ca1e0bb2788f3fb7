//! Live updates as a Python async iterator.

use std::sync::Arc;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::{Mutex, watch};
use vehicleops_core::LiveEvent;

/// The hub subscription and an event a cancelled `__anext__` took but could not hand over.
struct Feed {
    /// `None` once closed.
    sub: Option<vehicleops_core::Subscription>,
    /// Delivered first by the next `__anext__`, so a cancelled wait loses nothing.
    undelivered: Option<LiveEvent>,
}

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
    /// The async lock is held by at most one pending `__anext__`, until its event is handed
    /// over (or put back).
    inner: Arc<Mutex<Feed>>,
    closed: watch::Sender<bool>,
}

impl Subscription {
    pub fn new(sub: vehicleops_core::Subscription) -> Self {
        Subscription {
            fleet_id: sub.fleet_id().to_owned(),
            inner: Arc::new(Mutex::new(Feed {
                sub: Some(sub),
                undelivered: None,
            })),
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
        crate::awaitable::awaitable_taking(py, async move {
            let mut feed = inner.lock_owned().await;
            let event = match feed.undelivered.take() {
                Some(event) => event,
                None => {
                    let Some(sub) = feed.sub.as_mut() else {
                        return Err(PyStopAsyncIteration::new_err(()));
                    };
                    tokio::select! {
                        event = sub.recv() => match event {
                            Some(event) => event,
                            None => return Err(PyStopAsyncIteration::new_err(())),
                        },
                        _ = closed.wait_for(|c| *c) => {
                            // Unsubscribe now rather than when the Python object is collected.
                            feed.sub = None;
                            return Err(PyStopAsyncIteration::new_err(()));
                        }
                    }
                }
            };
            // Holding the lock until the event is handed over keeps the next `__anext__` from
            // overtaking an event that goes back.
            let give_back = move |EventValue(event)| feed.undelivered = Some(event);
            Ok((EventValue(event), give_back))
        })
    }

    /// Unsubscribes; a pending `__anext__` ends the iteration.
    fn close(&self) {
        self.closed.send_replace(true);
        if let Ok(mut feed) = self.inner.try_lock() {
            feed.sub = None;
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

/// One live event on its way to Python as `{"type": ..., "data": ...}`.
#[derive(Clone)]
struct EventValue(LiveEvent);

impl<'py> IntoPyObject<'py> for EventValue {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (kind, data) = match &self.0 {
            LiveEvent::Update(u) => ("update", pythonize::pythonize(py, &**u)?),
            LiveEvent::Alert(a) => ("alert", pythonize::pythonize(py, &**a)?),
            LiveEvent::Command(c) => ("command", pythonize::pythonize(py, &**c)?),
            LiveEvent::Mission(m) => ("mission", pythonize::pythonize(py, &**m)?),
        };
        let dict = PyDict::new(py);
        dict.set_item("type", kind)?;
        dict.set_item("data", data)?;
        Ok(dict)
    }
}
