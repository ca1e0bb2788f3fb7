//! Rust futures as asyncio awaitables, safe at interpreter exit.
//!
//! Every touch of the interpreter from the runtime's threads goes through [`attach`], which
//! counts itself in and refuses once [`shutdown`] has begun. `shutdown` (the package's `atexit`
//! hook) waits with the GIL released until no such call is in progress, so CPython never
//! finalizes while a runtime thread is inside Python — which would end that thread mid-call and
//! crash the process on exit.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyTuple};
use tokio::sync::oneshot;

/// Set once the interpreter is shutting down.
static FINALIZING: AtomicBool = AtomicBool::new(false);
/// Runtime threads currently attached to the interpreter through [`attach`].
static ATTACHED: AtomicUsize = AtomicUsize::new(0);
/// Most time `shutdown` waits for attached threads to leave.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Runs `f` attached to the interpreter, unless it is shutting down (then `None`).
pub fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    // Count in before checking the flag: `shutdown` sets the flag before it reads the count,
    // so either it waits for this call or this call sees the flag.
    ATTACHED.fetch_add(1, Ordering::SeqCst);
    let out = if FINALIZING.load(Ordering::SeqCst) {
        None
    } else {
        Some(Python::attach(f))
    };
    ATTACHED.fetch_sub(1, Ordering::SeqCst);
    out
}

/// Stops further calls into Python from the runtime and waits (GIL released, bounded) for
/// those in progress.
pub fn shutdown(py: Python<'_>) {
    FINALIZING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while ATTACHED.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Completes an asyncio future on its loop's thread, unless it was cancelled meanwhile.
#[pyfunction]
fn complete(future: &Bound<'_, PyAny>, ok: bool, value: Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,))?;
    Ok(())
}

/// Runs `fut` on the binding's runtime and returns an asyncio future for its result.
/// Cancelling the asyncio future drops `fut`.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let py_future = event_loop.call_method0("create_future")?;

    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let cancel_tx = Mutex::new(Some(cancel_tx));
    let on_done = PyCFunction::new_closure(py, None, None, move |args: &Bound<'_, PyTuple>, _| {
        if args.get_item(0)?.call_method0("cancelled")?.is_truthy()?
            && let Some(tx) = cancel_tx.lock().expect("cancel lock poisoned").take()
        {
            let _ = tx.send(());
        }
        PyResult::Ok(())
    })?;
    py_future.call_method1("add_done_callback", (on_done,))?;

    let loop_ref = event_loop.unbind();
    let future_ref = py_future.clone().unbind();
    crate::runtime().spawn(async move {
        let result = tokio::select! {
            r = fut => r,
            _ = cancel_rx => return,
        };
        attach(|py| {
            let (ok, value) = match result.and_then(|v| v.into_py_any(py)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            let completed = wrap_pyfunction!(complete, py).and_then(|complete| {
                loop_ref.bind(py).call_method1(
                    "call_soon_threadsafe",
                    (complete, future_ref.bind(py), ok, value),
                )
            });
            if let Err(e) = completed {
                // The loop is closed: nobody is waiting for this result any more.
                if !e.is_instance_of::<PyRuntimeError>(py) {
                    e.display(py);
                }
            }
        });
    });
    Ok(py_future)
}
