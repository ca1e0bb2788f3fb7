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

/// Completes an asyncio future on its loop's thread, unless it was cancelled meanwhile;
/// returns whether the future took the outcome.
fn complete_future(
    future: &Bound<'_, PyAny>,
    ok: bool,
    value: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(false);
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,))?;
    Ok(true)
}

/// A new asyncio future on the running loop whose cancellation fires the returned receiver.
fn asyncio_future<'py>(
    py: Python<'py>,
) -> PyResult<(Bound<'py, PyAny>, Py<PyAny>, oneshot::Receiver<()>)> {
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
    Ok((py_future, event_loop.unbind(), cancel_rx))
}

/// What to run on the loop's thread once the asyncio future took the outcome (`true`) or
/// refused it (`false`: cancelled first).
type Settle = Box<dyn FnOnce(bool) + Send>;

/// Hands `result` to the asyncio future on its loop's thread, then runs `settle` there.
/// If the loop is gone, `settle` is dropped without running.
fn resolve<T>(event_loop: Py<PyAny>, future: Py<PyAny>, result: PyResult<T>, settle: Option<Settle>)
where
    T: for<'a> IntoPyObject<'a>,
{
    attach(|py| {
        let (ok, value) = match result.and_then(|v| v.into_py_any(py)) {
            Ok(v) => (true, v),
            Err(e) => (false, e.into_value(py).into_any()),
        };
        let settle = Mutex::new(settle);
        let completed =
            PyCFunction::new_closure(py, None, None, move |args: &Bound<'_, PyTuple>, _| {
                let taken = complete_future(&args.get_item(0)?, ok, &args.get_item(1)?);
                if let Some(settle) = settle.lock().expect("settle lock poisoned").take() {
                    settle(matches!(taken, Ok(true)));
                }
                taken.map(|_| ())
            })
            .and_then(|complete| {
                event_loop
                    .bind(py)
                    .call_method1("call_soon_threadsafe", (complete, future.bind(py), value))
            });
        if let Err(e) = completed {
            // The loop is closed: nobody is waiting for this result any more.
            if !e.is_instance_of::<PyRuntimeError>(py) {
                e.display(py);
            }
        }
    });
}

/// Runs `fut` on the binding's runtime and returns an asyncio future for its result.
/// Cancelling the asyncio future drops `fut`.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (py_future, event_loop, cancel_rx) = asyncio_future(py)?;
    let future_ref = py_future.clone().unbind();
    crate::runtime().spawn(async move {
        let result = tokio::select! {
            biased;
            _ = cancel_rx => return,
            r = fut => r,
        };
        resolve(event_loop, future_ref, result, None);
    });
    Ok(py_future)
}

/// Like [`awaitable`], for a value taken from a queue: `fut` yields the value and what to do
/// with it should the asyncio future not take it (cancelled after `fut` took the value, before
/// the loop could deliver it). Either way the hand-back is dropped on the loop's thread as the
/// outcome settles, before the awaiting coroutine resumes: a `fut` that holds its queue's lock
/// in the hand-back thus keeps the next value from overtaking one that goes back, and has
/// released the lock by the time Python sees the value.
pub fn awaitable_taking<'py, F, T, G>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<(T, G)>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Clone + Send + 'static,
    G: FnOnce(T) + Send + 'static,
{
    let (py_future, event_loop, cancel_rx) = asyncio_future(py)?;
    let future_ref = py_future.clone().unbind();
    crate::runtime().spawn(async move {
        let result = tokio::select! {
            biased;
            _ = cancel_rx => return,
            r = fut => r,
        };
        match result {
            Ok((value, give_back)) => {
                let kept = value.clone();
                let settle: Settle = Box::new(move |taken| {
                    if !taken {
                        give_back(kept);
                    }
                });
                resolve(event_loop, future_ref, Ok(value), Some(settle));
            }
            Err(e) => resolve::<T>(event_loop, future_ref, Err(e), None),
        }
    });
    Ok(py_future)
}
