//! VDA 5050 protocol versions: which one a vehicle speaks, and what each lacks.
//!
//! Master control talks to every vehicle in the version it announces in its headers
//! (`connection`, `state`), or the one configured for it. 2.0.x and 2.1.x are supported;
//! anything else (1.x, 3.x, …) is refused with [`UnsupportedVersion`].
//!
//! The official 2.0.0 and 2.1.0 schemas differ only in fields 2.1 added (compared with
//! `schemas/2.0.0/` and `schemas/`):
//!
//! | Message | Only in 2.1.0 | Only in 2.0.0 |
//! |---|---|---|
//! | order | `edges[].corridor`; object values of `actionParameters[].value` | — |
//! | instantActions | object values of `actionParameters[].value` | — |
//! | state | `maps`, `errors[].errorHint` | `nodeStates[].nodePosition` requires `theta` |
//! | connection, visualization | — | — |
//!
//! [`adapt`] takes those out of a message for a 2.0 peer, so nothing 2.0 lacks is sent.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::topic::MessageKind;

/// A VDA 5050 version this crate speaks.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ProtocolVersion {
    /// 2.0.0 (and 2.0.x).
    #[serde(rename = "2.0.0")]
    V2_0,
    /// 2.1.0 (and 2.1.x); also spoken to vehicles announcing a later 2.y, which must accept
    /// 2.1 messages under the specification's semantic versioning.
    #[default]
    #[serde(rename = "2.1.0")]
    V2_1,
}

impl ProtocolVersion {
    pub const ALL: [ProtocolVersion; 2] = [ProtocolVersion::V2_0, ProtocolVersion::V2_1];

    /// What goes into the `version` field of our headers.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2_0 => "2.0.0",
            ProtocolVersion::V2_1 => "2.1.0",
        }
    }

    /// The version a `[Major].[Minor].[Patch]` string (as in a header) is spoken in.
    pub fn parse(version: &str) -> Result<ProtocolVersion, UnsupportedVersion> {
        let unsupported = || UnsupportedVersion(version.to_owned());
        let mut parts = version.trim().split('.');
        let major: u32 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(unsupported)?;
        let minor: u32 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(unsupported)?;
        match (major, minor) {
            (2, 0) => Ok(ProtocolVersion::V2_0),
            (2, _) => Ok(ProtocolVersion::V2_1),
            _ => Err(unsupported()),
        }
    }

    /// Whether a message stamped `version` is one a vehicle speaking `self` understands: the
    /// same major and a minor not above its own.
    pub fn accepts(self, version: &str) -> bool {
        ProtocolVersion::parse(version).is_ok_and(|v| v <= self)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProtocolVersion {
    type Err = UnsupportedVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolVersion::parse(s)
    }
}

/// A version this crate does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("VDA 5050 version {0:?} is not supported (supported: 2.0.x and 2.1.x)")]
pub struct UnsupportedVersion(pub String);

/// Takes out of `message` (a `kind` message as JSON) what `version` lacks, so a 2.0 peer gets
/// nothing it does not know (see the module table). 2.1 messages are left as they are. `Err`
/// names what cannot be expressed in 2.0 at all (an object as an action parameter value).
pub fn adapt(
    message: &mut Value,
    kind: MessageKind,
    version: ProtocolVersion,
) -> Result<(), String> {
    if version == ProtocolVersion::V2_1 {
        return Ok(());
    }
    let check_actions = |actions: Option<&Value>, at: &str| -> Result<(), String> {
        for (i, a) in actions
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let params = a.get("actionParameters").and_then(Value::as_array);
            for (j, p) in params.into_iter().flatten().enumerate() {
                if p.get("value").is_some_and(Value::is_object) {
                    return Err(format!(
                        "{at}/{i}/actionParameters/{j}/value: VDA 5050 2.0 has no object parameter values"
                    ));
                }
            }
        }
        Ok(())
    };
    match kind {
        MessageKind::Order => {
            if let Some(nodes) = message.get("nodes").and_then(Value::as_array) {
                for (i, n) in nodes.iter().enumerate() {
                    check_actions(n.get("actions"), &format!("/nodes/{i}/actions"))?;
                }
            }
            if let Some(edges) = message.get_mut("edges").and_then(Value::as_array_mut) {
                for (i, e) in edges.iter_mut().enumerate() {
                    check_actions(e.get("actions"), &format!("/edges/{i}/actions"))?;
                    if let Some(e) = e.as_object_mut() {
                        e.remove("corridor");
                    }
                }
            }
        }
        MessageKind::InstantActions => check_actions(message.get("actions"), "/actions")?,
        MessageKind::State => {
            if let Some(m) = message.as_object_mut() {
                m.remove("maps");
            }
            if let Some(errors) = message.get_mut("errors").and_then(Value::as_array_mut) {
                for e in errors.iter_mut().filter_map(Value::as_object_mut) {
                    e.remove("errorHint");
                }
            }
            // 2.0 requires theta in a node state's position, which is optional anyway.
            drop_node_positions_without_theta(message);
        }
        MessageKind::Connection | MessageKind::Visualization | MessageKind::Factsheet => {}
    }
    Ok(())
}

/// Makes a received `kind` message of `version` readable where that version's schema is
/// stricter than its specification, before the message is checked against the schema: 2.0's
/// state schema requires `theta` in `nodeStates[].nodePosition`, while the specification
/// makes a node state's position optional extra information ("master control has this
/// information") defined as the order's `nodePosition`, whose `theta` is optional — and
/// vehicles echo the order's position there (vda-5050-lib 1.4.0 does, see
/// `interop/vda5050/`), so a 2.0 vehicle running an order we sent without `theta` would have
/// every `state` rejected. Such positions are dropped (nothing reads them); returns whether
/// any was.
pub fn relax_received(message: &mut Value, kind: MessageKind, version: ProtocolVersion) -> bool {
    version == ProtocolVersion::V2_0
        && kind == MessageKind::State
        && drop_node_positions_without_theta(message)
}

fn drop_node_positions_without_theta(message: &mut Value) -> bool {
    let mut dropped = false;
    if let Some(nodes) = message.get_mut("nodeStates").and_then(Value::as_array_mut) {
        for n in nodes.iter_mut().filter_map(Value::as_object_mut) {
            let no_theta = n
                .get("nodePosition")
                .is_some_and(|p| p.get("theta").is_none());
            if no_theta {
                n.remove("nodePosition");
                dropped = true;
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_parse_by_major_and_minor_and_others_are_refused() {
        use ProtocolVersion::*;
        for (s, v) in [
            ("2.0.0", V2_0),
            ("2.0.3", V2_0),
            ("2.1.0", V2_1),
            ("2.2.0", V2_1),
        ] {
            assert_eq!(ProtocolVersion::parse(s), Ok(v), "{s}");
        }
        for s in ["1.1.0", "1.1", "3.0.0", "", "two", "2"] {
            let e = ProtocolVersion::parse(s).unwrap_err();
            assert!(e.to_string().contains("is not supported"), "{e}");
        }
        assert!(V2_0.accepts("2.0.0") && V2_0.accepts("2.0.1"));
        assert!(!V2_0.accepts("2.1.0") && !V2_0.accepts("3.0.0"));
        assert!(V2_1.accepts("2.0.0") && V2_1.accepts("2.1.0"));
        assert!(!V2_1.accepts("1.1.0"));
        assert_eq!(V2_0.to_string(), "2.0.0");
        assert_eq!(serde_json::to_value(V2_0).unwrap(), json!("2.0.0"));
    }

    #[test]
    fn a_2_0_peer_gets_no_2_1_fields() {
        let mut order = json!({
            "nodes": [{"nodeId": "a", "actions": []}],
            "edges": [{"edgeId": "e", "actions": [], "corridor": {"leftWidth": 1.0, "rightWidth": 1.0}}]
        });
        let as_21 = order.clone();
        adapt(
            &mut order.clone(),
            MessageKind::Order,
            ProtocolVersion::V2_1,
        )
        .unwrap();
        assert_eq!(order, as_21, "2.1 is left alone");
        adapt(&mut order, MessageKind::Order, ProtocolVersion::V2_0).unwrap();
        assert!(order["edges"][0].get("corridor").is_none());

        let mut state = json!({
            "maps": [],
            "errors": [{"errorType": "x", "errorLevel": "WARNING", "errorHint": "h"}],
            "nodeStates": [
                {"nodeId": "a", "nodePosition": {"x": 1.0, "y": 2.0, "mapId": "m"}},
                {"nodeId": "b", "nodePosition": {"x": 1.0, "y": 2.0, "theta": 0.0, "mapId": "m"}}
            ]
        });
        adapt(&mut state, MessageKind::State, ProtocolVersion::V2_0).unwrap();
        assert!(state.get("maps").is_none());
        assert!(state["errors"][0].get("errorHint").is_none());
        assert!(state["nodeStates"][0].get("nodePosition").is_none());
        assert!(state["nodeStates"][1].get("nodePosition").is_some());

        // Received: a 2.0 state's node positions without theta are dropped before the check;
        // 2.1 states and other messages are left alone.
        let received = json!({"nodeStates": [
            {"nodeId": "a", "nodePosition": {"x": 1.0, "y": 2.0, "mapId": "m"}},
            {"nodeId": "b", "nodePosition": {"x": 1.0, "y": 2.0, "theta": 0.0, "mapId": "m"}}
        ]});
        let mut as_21 = received.clone();
        assert!(!relax_received(
            &mut as_21,
            MessageKind::State,
            ProtocolVersion::V2_1
        ));
        assert_eq!(as_21, received);
        let mut as_order = received.clone();
        assert!(!relax_received(
            &mut as_order,
            MessageKind::Order,
            ProtocolVersion::V2_0
        ));
        let mut as_20 = received.clone();
        assert!(relax_received(
            &mut as_20,
            MessageKind::State,
            ProtocolVersion::V2_0
        ));
        assert!(as_20["nodeStates"][0].get("nodePosition").is_none());
        assert!(as_20["nodeStates"][1].get("nodePosition").is_some());
        assert!(!relax_received(
            &mut as_20,
            MessageKind::State,
            ProtocolVersion::V2_0
        ));

        let mut object_param =
            json!({"actions": [{"actionParameters": [{"key": "k", "value": {"a": 1}}]}]});
        let e = adapt(
            &mut object_param,
            MessageKind::InstantActions,
            ProtocolVersion::V2_0,
        )
        .unwrap_err();
        assert!(e.starts_with("/actions/0/actionParameters/0/value"), "{e}");
    }
}
