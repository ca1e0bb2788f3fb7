//! Python exceptions for the SDK's errors.
//!
//! Every [`vehicleops_core::ErrorKind`] has its own exception class under the common base
//! `VehicleOpsError`, so Python code can catch as broadly or narrowly as it likes. Each raised
//! exception carries `.kind` (the stable code of the HTTP error envelope, e.g. `"CONFLICT"`) and
//! validation errors carry `.field`, the offending field.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, create_exception};
use vehicleops_core::{Error, ErrorKind};

create_exception!(
    _vehicleops,
    VehicleOpsError,
    PyException,
    "Base class of every error raised by VehicleOps."
);
create_exception!(
    _vehicleops,
    ValidationError,
    VehicleOpsError,
    "Input failed validation; `.field` names the offending field."
);
create_exception!(
    _vehicleops,
    NotFoundError,
    VehicleOpsError,
    "The referenced vehicle, fleet, command, mission or alert does not exist."
);
create_exception!(
    _vehicleops,
    ConflictError,
    VehicleOpsError,
    "The request conflicts with current state, e.g. a second active mission for a vehicle."
);
create_exception!(
    _vehicleops,
    InvalidTransitionError,
    ConflictError,
    "A lifecycle refused a transition, e.g. cancelling a completed mission."
);
create_exception!(
    _vehicleops,
    BackendError,
    VehicleOpsError,
    "A backend (database, broker) failed; usually worth retrying."
);
create_exception!(
    _vehicleops,
    ClosedError,
    VehicleOpsError,
    "The engine or one of its components has been shut down."
);
create_exception!(
    _vehicleops,
    ConfigError,
    VehicleOpsError,
    "Configuration is missing or wrong."
);

/// Registers the exception classes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VehicleOpsError", py.get_type::<VehicleOpsError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add(
        "InvalidTransitionError",
        py.get_type::<InvalidTransitionError>(),
    )?;
    m.add("BackendError", py.get_type::<BackendError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    Ok(())
}

/// Turns SDK errors into Python exceptions: the one place where that mapping lives.
pub trait IntoPyResult<T> {
    fn into_py_result(self) -> PyResult<T>;
}

impl<T, E: Into<Error>> IntoPyResult<T> for Result<T, E> {
    fn into_py_result(self) -> PyResult<T> {
        self.map_err(|e| to_py_err(e.into()))
    }
}

/// The exception for `error`, with `.kind` and (for validation errors) `.field` set.
///
/// Setting attributes needs the interpreter, so this attaches briefly (never waiting on
/// anything while attached); once the interpreter is exiting the exception goes without them.
pub fn to_py_err(error: Error) -> PyErr {
    let kind = error.kind();
    let message = error.to_string();
    let field = match &error {
        Error::Validation(v) => Some(v.field),
        _ => None,
    };
    let make = |message: String| match kind {
        ErrorKind::Validation => ValidationError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Conflict => ConflictError::new_err(message),
        ErrorKind::InvalidTransition => InvalidTransitionError::new_err(message),
        ErrorKind::Backend => BackendError::new_err(message),
        ErrorKind::Closed => ClosedError::new_err(message),
        ErrorKind::Config => ConfigError::new_err(message),
        _ => VehicleOpsError::new_err(message),
    };
    let fallback = message.clone();
    crate::awaitable::attach(|py| {
        let err = make(message);
        let value = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail short of memory
        // exhaustion, in which case the bare exception is still the right thing to raise.
        let _ = value.setattr("kind", kind.code());
        if let Some(field) = field {
            let _ = value.setattr("field", field);
        }
        err
    })
    .unwrap_or_else(|| make(fallback))
}

/// A `ValidationError` for a field named at run time, e.g. a path into a nested argument
/// (`fences[0].shape`); [`to_py_err`] covers the SDK's errors, whose fields are fixed.
pub fn validation_error(field: &str, reason: &str) -> PyErr {
    let err = ValidationError::new_err(format!("invalid `{field}`: {reason}"));
    crate::awaitable::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("kind", ErrorKind::Validation.code());
        let _ = value.setattr("field", field);
    });
    err
}

/// What a runtime thread returns instead of a result once the interpreter is exiting.
pub fn interpreter_exiting() -> PyErr {
    ClosedError::new_err("the Python interpreter is exiting")
}
