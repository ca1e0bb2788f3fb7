//! Validation of VDA 5050 messages against the official 2.1.0 and 2.0.0 JSON schemas.
//!
//! The schemas (MIT, see `schemas/LICENSE`; where each set comes from is in
//! `schemas/README.md`) are compiled into the crate, so validation needs no files at run time.
//! [`SchemaValidator::official`] is the 2.1.0 set, [`SchemaValidator::for_version`] the set of
//! the version a vehicle speaks (2.0.0 has no factsheet schema here). Both sides validate: the telemetry source rejects what vehicles send
//! before mapping it, and the command sink and simulated AGV check what they publish.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::topic::MessageKind;
use crate::version::{ProtocolVersion, adapt};

fn schema_text(version: ProtocolVersion, kind: MessageKind) -> Option<&'static str> {
    match version {
        ProtocolVersion::V2_1 => Some(schema_text_2_1(kind)),
        ProtocolVersion::V2_0 => schema_text_2_0(kind),
    }
}

/// The 2.0.0 set: `schemas/2.0.0/`, without a factsheet schema.
fn schema_text_2_0(kind: MessageKind) -> Option<&'static str> {
    Some(match kind {
        MessageKind::Order => include_str!("../schemas/2.0.0/order.json"),
        MessageKind::InstantActions => include_str!("../schemas/2.0.0/instantActions.json"),
        MessageKind::State => include_str!("../schemas/2.0.0/state.json"),
        MessageKind::Visualization => include_str!("../schemas/2.0.0/visualization.json"),
        MessageKind::Connection => include_str!("../schemas/2.0.0/connection.json"),
        MessageKind::Factsheet => return None,
    })
}

fn schema_text_2_1(kind: MessageKind) -> &'static str {
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
    version: ProtocolVersion,
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
        Self::for_version(ProtocolVersion::V2_1)
    }

    /// The official schemas of `version`, compiled once per process (with `date-time`
    /// formats checked).
    pub fn for_version(version: ProtocolVersion) -> SchemaValidator {
        static SETS: OnceLock<HashMap<ProtocolVersion, SchemaValidator>> = OnceLock::new();
        SETS.get_or_init(|| {
            ProtocolVersion::ALL
                .into_iter()
                .map(|version| (version, Self::compile(version)))
                .collect()
        })[&version]
            .clone()
    }

    fn compile(version: ProtocolVersion) -> SchemaValidator {
        let validators = MessageKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let text = schema_text(version, kind)?;
                let schema: serde_json::Value =
                    serde_json::from_str(text).expect("bundled schemas are JSON");
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .expect("bundled schemas compile");
                Some((kind, validator))
            })
            .collect();
        SchemaValidator {
            version,
            validators: Arc::new(validators),
        }
    }

    /// The protocol version whose schemas these are.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Checks a parsed message.
    /// Whether a schema for `kind` is shipped in this version's set (2.0.0 has no factsheet).
    pub fn covers(&self, kind: MessageKind) -> bool {
        self.validators.contains_key(&kind)
    }

    pub fn validate(
        &self,
        kind: MessageKind,
        message: &serde_json::Value,
    ) -> Result<(), SchemaError> {
        let Some(validator) = self.validators.get(&kind) else {
            return Err(SchemaError {
                kind,
                violations: vec![format!(
                    "/: no VDA 5050 {} {kind} schema is shipped",
                    self.version
                )],
            });
        };
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

    /// Serializes a typed message, takes out what this version lacks
    /// ([`crate::version::adapt`]) and checks it, returning the JSON bytes to publish.
    pub fn to_checked_json<T: Serialize>(
        &self,
        kind: MessageKind,
        message: &T,
    ) -> Result<Vec<u8>, SchemaError> {
        let mut value = serde_json::to_value(message).map_err(|e| SchemaError {
            kind,
            violations: vec![format!("/: cannot serialize: {e}")],
        })?;
        adapt(&mut value, kind, self.version).map_err(|v| SchemaError {
            kind,
            violations: vec![v],
        })?;
        self.validate(kind, &value)?;
        Ok(serde_json::to_vec(&value).expect("a JSON value serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{
        Action, BlockingType, Header, Node, NodePosition, Order, PROTOCOL_VERSION,
    };

    fn header() -> Header {
        Header {
            header_id: 3,
            timestamp: chrono::Utc::now(),
            version: PROTOCOL_VERSION.into(),
            manufacturer: "acme".into(),
            serial_number: "AGV-1".into(),
        }
    }

    #[test]
    fn the_simulators_state_is_valid_and_a_broken_one_names_every_violation() {
        let v = SchemaValidator::official();
        let state = serde_json::to_value(crate::agv::sample_state("AGV-1")).unwrap();
        v.validate(MessageKind::State, &state).unwrap();
        let mut broken = state.clone();
        broken.as_object_mut().unwrap().remove("batteryState");
        broken["operatingMode"] = "FLYING".into();
        broken["timestamp"] = "yesterday".into();
        let e = v.validate(MessageKind::State, &broken).unwrap_err();
        assert_eq!(e.kind, MessageKind::State);
        assert_eq!(e.violations.len(), 3, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("invalid VDA 5050 state message: "),
            "{text}"
        );
        for needle in ["batteryState", "/operatingMode: ", "FLYING", "/timestamp: "] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }

    #[test]
    fn typed_messages_are_checked_before_they_are_published() {
        let v = SchemaValidator::official();
        let node = |theta| Node {
            node_id: "n0".into(),
            sequence_id: 0,
            released: true,
            node_position: Some(NodePosition {
                x: 1.0,
                y: 2.0,
                theta,
                allowed_deviation_x_y: None,
                map_id: "site".into(),
            }),
            actions: vec![Action::new("startCharging", "a1", BlockingType::Hard)],
        };
        let ok = Order {
            header: header(),
            order_id: "o1".into(),
            order_update_id: 0,
            nodes: vec![node(Some(1.0))],
            edges: vec![],
        };
        let bytes = v.to_checked_json(MessageKind::Order, &ok).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["nodes"][0]["nodePosition"]["mapId"], "site");
        assert_eq!(json["headerId"], 3);
        // theta must lie within ±π.
        let bad = Order {
            nodes: vec![node(Some(4.0))],
            ..ok
        };
        let e = v.to_checked_json(MessageKind::Order, &bad).unwrap_err();
        assert_eq!(e.first_path(), "/nodes/0/nodePosition/theta");
    }
}
