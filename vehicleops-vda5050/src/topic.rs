//! The VDA 5050 topic scheme: `interfaceName/majorVersion/manufacturer/serialNumber/topic`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The message kinds, i.e. the last topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    Order,
    InstantActions,
    State,
    Visualization,
    Connection,
    Factsheet,
}

impl MessageKind {
    pub const ALL: [MessageKind; 6] = [
        MessageKind::Order,
        MessageKind::InstantActions,
        MessageKind::State,
        MessageKind::Visualization,
        MessageKind::Connection,
        MessageKind::Factsheet,
    ];

    /// The topic level, which is also the schema's name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Order => "order",
            MessageKind::InstantActions => "instantActions",
            MessageKind::State => "state",
            MessageKind::Visualization => "visualization",
            MessageKind::Connection => "connection",
            MessageKind::Factsheet => "factsheet",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown VDA 5050 topic {s:?}"))
    }
}

/// The first two topic levels, shared by a whole installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicScheme {
    /// `uagv` in the specification's examples.
    pub interface_name: String,
    /// `v2` for VDA 5050 2.x.
    pub major_version: String,
}

impl Default for TopicScheme {
    fn default() -> Self {
        TopicScheme {
            interface_name: "uagv".into(),
            major_version: "v2".into(),
        }
    }
}

/// Who a topic is about and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAddress {
    pub manufacturer: String,
    pub serial_number: String,
    pub kind: MessageKind,
}

impl TopicScheme {
    /// The topic of one vehicle's messages of one kind.
    pub fn topic(&self, manufacturer: &str, serial_number: &str, kind: MessageKind) -> String {
        format!(
            "{}/{}/{manufacturer}/{serial_number}/{kind}",
            self.interface_name, self.major_version
        )
    }

    /// A subscription filter for one kind of message from every vehicle.
    pub fn all_vehicles(&self, kind: MessageKind) -> String {
        format!("{}/{}/+/+/{kind}", self.interface_name, self.major_version)
    }

    /// Splits a topic of this scheme; `None` for topics of other schemes or unknown kinds.
    pub fn parse(&self, topic: &str) -> Option<TopicAddress> {
        let mut levels = topic.split('/');
        let (interface, major) = (levels.next()?, levels.next()?);
        let (manufacturer, serial, kind) = (levels.next()?, levels.next()?, levels.next()?);
        if levels.next().is_some()
            || interface != self.interface_name
            || major != self.major_version
            || manufacturer.is_empty()
            || serial.is_empty()
        {
            return None;
        }
        Some(TopicAddress {
            manufacturer: manufacturer.to_owned(),
            serial_number: serial.to_owned(),
            kind: kind.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_topics() {
        let scheme = TopicScheme::default();
        let topic = scheme.topic("acme", "AGV-7", MessageKind::InstantActions);
        assert_eq!(topic, "uagv/v2/acme/AGV-7/instantActions");
        assert_eq!(
            scheme.parse(&topic),
            Some(TopicAddress {
                manufacturer: "acme".into(),
                serial_number: "AGV-7".into(),
                kind: MessageKind::InstantActions
            })
        );
        assert_eq!(scheme.all_vehicles(MessageKind::State), "uagv/v2/+/+/state");
    }

    #[test]
    fn rejects_foreign_topics() {
        let scheme = TopicScheme::default();
        for topic in [
            "uagv/v1/acme/AGV-7/state",
            "other/v2/acme/AGV-7/state",
            "uagv/v2/acme/AGV-7/status",
            "uagv/v2/acme/AGV-7/state/extra",
            "uagv/v2/acme/state",
            "uagv/v2//AGV-7/state",
        ] {
            assert_eq!(scheme.parse(topic), None, "{topic}");
        }
    }
}
