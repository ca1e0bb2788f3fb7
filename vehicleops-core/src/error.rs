//! The one error type of the core, with a kind callers can match on.

use std::fmt;

/// Result alias used throughout the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarse enough to map onto HTTP statuses, Python exceptions and JS errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input failed validation (422 at the HTTP boundary).
    Validation,
    /// The referenced entity does not exist (404).
    NotFound,
    /// The request conflicts with current state, e.g. an active mission (409).
    Conflict,
    /// A state machine refused a transition.
    InvalidTransition,
    /// A backend (database, broker) failed; usually worth retrying.
    Backend,
    /// The component has been shut down.
    Closed,
    /// Configuration is missing or wrong.
    Config,
}

impl ErrorKind {
    /// Stable upper-case code, as used in the HTTP error envelope.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Validation => "UNPROCESSABLE",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::InvalidTransition => "CONFLICT",
            ErrorKind::Backend => "BACKEND_ERROR",
            ErrorKind::Closed => "CLOSED",
            ErrorKind::Config => "CONFIG_ERROR",
        }
    }
}

/// A reading or request that failed validation, naming the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid `{field}`: {reason}")]
pub struct ValidationError {
    /// The field at fault (`"payload"` when the whole message is unreadable).
    pub field: &'static str,
    /// What is wrong with it, in words a user can act on.
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// The core error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("cannot move {entity} from {from} to {to}")]
    InvalidTransition {
        entity: &'static str,
        from: String,
        to: String,
    },
    #[error("{backend} error: {message}")]
    Backend {
        backend: &'static str,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("{0} is closed")]
    Closed(&'static str),
    #[error("configuration error: {0}")]
    Config(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation(_) => ErrorKind::Validation,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidTransition { .. } => ErrorKind::InvalidTransition,
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Closed(_) => ErrorKind::Closed,
            Error::Config(_) => ErrorKind::Config,
        }
    }

    pub fn not_found(entity: &'static str, id: impl fmt::Display) -> Self {
        Error::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// Wraps a backend failure, keeping the original error as the source.
    pub fn backend<E>(backend: &'static str, err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Error::Backend {
            backend,
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    }

    pub fn backend_msg(backend: &'static str, message: impl Into<String>) -> Self {
        Error::Backend {
            backend,
            message: message.into(),
            source: None,
        }
    }

    pub fn validation(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Validation(ValidationError::new(field, reason))
    }
}
