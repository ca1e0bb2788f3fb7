//! Validation of VDA 5050 messages against the official 2.1.0 JSON schemas.
//!
//! The schemas (MIT, see `schemas/LICENSE`) are compiled into the crate, so validation needs no
//! files at run time. Both sides validate: the telemetry source rejects what vehicles send
//! before mapping it, and the command sink and simulated AGV check what they publish.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::topic::MessageKind;

fn schema_text(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Order => include_str!("../schemas/order.json"),
        MessageKind::InstantActions => include_str!("../schemas/instantActions.json"),
        MessageKind::State => include_str!("../schemas/state.json"),
        MessageKind::Visualization => include_str!("../schemas/visualization.json"),
        MessageKind::Connection => include_str!("../schemas/connection.json"),
        MessageKind::Factsheet => include_str!("../schemas/factsheet.json"),
    }
}

/// Why a message was rejected: every schema violation, each with the JSON pointer it is at.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid VDA 5050 {kind} message: {}", .violations.join("; "))]
pub struct SchemaError {
    pub kind: MessageKind,
    /// `"<pointer>: <what is wrong>"`, e.g. `"/batteryState: \"charging\" is a required property"`.
    pub violations: Vec<String>,
}

impl SchemaError {
    /// The JSON pointer of the first violation (`/` for the document), for dead letters.
    pub fn first_path(&self) -> &str {
        self.violations
            .first()
            .and_then(|v| v.split(": ").next())
            .unwrap_or("/")
    }
}

/// Compiled validators for every message kind. Cheap to clone; build once with
/// [`SchemaValidator::official`].
#[derive(Clone)]
pub struct SchemaValidator {
    validators: Arc<HashMap<MessageKind, jsonschema::Validator>>,
}

impl std::fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaValidator").finish_non_exhaustive()
    }
}

impl SchemaValidator {
    /// The official VDA 5050 2.1.0 schemas, compiled once per process (with `date-time`
    /// formats checked).
    pub fn official() -> SchemaValidator {
        static OFFICIAL: OnceLock<SchemaValidator> = OnceLock::new();
        OFFICIAL
            .get_or_init(|| {
                let validators = MessageKind::ALL
                    .into_iter()
                    .map(|kind| {
                        let schema: serde_json::Value = serde_json::from_str(schema_text(kind))
                            .expect("bundled schemas are JSON");
                        let validator = jsonschema::options()
                            .should_validate_formats(true)
                            .build(&schema)
                            .expect("bundled schemas compile");
                        (kind, validator)
                    })
                    .collect();
                SchemaValidator {
                    validators: Arc::new(validators),
                }
            })
            .clone()
    }

    /// Checks a parsed message.
    pub fn validate(
        &self,
        kind: MessageKind,
        message: &serde_json::Value,
    ) -> Result<(), SchemaError> {
        let validator = &self.validators[&kind];
        let violations: Vec<String> = validator
            .iter_errors(message)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() {
                    "/".to_owned()
                } else {
                    path
                };
                format!("{path}: {e}")
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(SchemaError { kind, violations })
        }
    }

    /// Serializes a typed message and checks it, returning the JSON bytes to publish.
    pub fn to_checked_json<T: Serialize>(
        &self,
        kind: MessageKind,
        message: &T,
    ) -> Result<Vec<u8>, SchemaError> {
        let value = serde_json::to_value(message).map_err(|e| SchemaError {
            kind,
            violations: vec![format!("/: cannot serialize: {e}")],
        })?;
        self.validate(kind, &value)?;
        Ok(serde_json::to_vec(&value).expect("a JSON value serializes"))
    }
}
