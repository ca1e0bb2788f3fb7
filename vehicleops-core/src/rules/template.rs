//! Alert message templates such as `"Vehicle {vehicle_id} exceeded speed limit: {value} km/h"`.
//!
//! Templates are parsed once, when a rule is built, so a typo in a placeholder is a
//! configuration error rather than a strange message at 3 a.m., and rendering (which only
//! happens when a signal is emitted) is a walk over ready-made pieces.

use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;
use crate::model::Telemetry;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    VehicleId,
    FleetId,
    Value,
    Threshold,
}

const PLACEHOLDERS: [(&str, Piece); 4] = [
    ("vehicle_id", Piece::VehicleId),
    ("fleet_id", Piece::FleetId),
    ("value", Piece::Value),
    ("threshold", Piece::Threshold),
];

/// A parsed message template with the placeholders `{vehicle_id}`, `{fleet_id}`, `{value}` and
/// `{threshold}`. Numbers render like the original Python service did (`92.5`, `12.0`).
///
/// ```
/// use vehicleops_core::MessageTemplate;
///
/// let t: MessageTemplate = "Vehicle {vehicle_id} exceeded speed limit: {value} km/h".parse().unwrap();
/// assert_eq!(t.as_str(), "Vehicle {vehicle_id} exceeded speed limit: {value} km/h");
/// assert_eq!("{speed}".parse::<MessageTemplate>().unwrap_err().field, "message");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MessageTemplate {
    source: String,
    pieces: Vec<Piece>,
}

impl MessageTemplate {
    /// Parses `source`, rejecting unknown placeholders and unbalanced braces.
    pub fn parse(source: &str) -> Result<Self, ValidationError> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(ValidationError::new(
                    "message",
                    format!("unmatched `}}` in message template {source:?}"),
                ));
            }
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                ValidationError::new(
                    "message",
                    format!("unclosed `{{` in message template {source:?}"),
                )
            })?;
            let name = &after[..close];
            let piece = PLACEHOLDERS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| p.clone())
                .ok_or_else(|| {
                    ValidationError::new(
                        "message",
                        format!(
                            "unknown placeholder {{{name}}}; expected {{vehicle_id}}, {{fleet_id}}, {{value}} or {{threshold}}"
                        ),
                    )
                })?;
            pieces.push(piece);
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Self {
            source: source.to_string(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The message for one reading.
    pub fn render(&self, reading: &Telemetry, value: f64, threshold: f64) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::VehicleId => out.push_str(&reading.vehicle_id),
                Piece::FleetId => out.push_str(&reading.fleet_id),
                Piece::Value => push_number(&mut out, value),
                Piece::Threshold => push_number(&mut out, threshold),
            }
        }
        out
    }
}

/// Writes `x` the way Python's `str(float)` does for ordinary values: always with a fractional
/// part (`12.0`, `92.5`), which `Debug` for `f64` gives and `Display` does not.
pub(crate) fn push_number(out: &mut String, x: f64) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{x:?}");
}

impl std::str::FromStr for MessageTemplate {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for MessageTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for MessageTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::reading;

    #[test]
    fn renders_the_original_overspeed_message() {
        let t = MessageTemplate::parse("Vehicle {vehicle_id} exceeded speed limit: {value} km/h")
            .unwrap();
        let r = reading("fleet-001-VH-005", 0);
        assert_eq!(
            t.render(&r, 92.5, 80.0),
            "Vehicle fleet-001-VH-005 exceeded speed limit: 92.5 km/h"
        );
        let t = MessageTemplate::parse("{fleet_id}: {value} < {threshold}").unwrap();
        assert_eq!(t.render(&r, 12.0, 15.0), "fleet-001: 12.0 < 15.0");
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in ["{speed}", "open {value", "close }", "{}"] {
            let err = MessageTemplate::parse(bad).unwrap_err();
            assert_eq!(err.field, "message", "{bad}");
        }
        assert!(MessageTemplate::parse("no placeholders").is_ok());
        assert!(MessageTemplate::parse("").is_ok());
    }
}
