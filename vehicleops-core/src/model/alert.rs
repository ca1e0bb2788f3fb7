use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Alert severity, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "LOW" => Ok(Severity::Low),
            "MEDIUM" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            other => Err(crate::ValidationError::new(
                "severity",
                format!("unknown severity {other:?}; expected LOW, MEDIUM, HIGH or CRITICAL"),
            )),
        }
    }
}

/// The kind of an alert. Built-in kinds are constants; custom rules (including rules written in
/// Python or JavaScript) may use any upper-case name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertType(Cow<'static, str>);

impl AlertType {
    pub const OVERSPEED: AlertType = AlertType(Cow::Borrowed("OVERSPEED"));
    pub const LOW_BATTERY: AlertType = AlertType(Cow::Borrowed("LOW_BATTERY"));
    pub const ENGINE_OVERHEAT: AlertType = AlertType(Cow::Borrowed("ENGINE_OVERHEAT"));
    pub const GEOFENCE_ENTER: AlertType = AlertType(Cow::Borrowed("GEOFENCE_ENTER"));
    pub const GEOFENCE_EXIT: AlertType = AlertType(Cow::Borrowed("GEOFENCE_EXIT"));
    pub const GEOFENCE_DWELL: AlertType = AlertType(Cow::Borrowed("GEOFENCE_DWELL"));
    pub const OFFLINE: AlertType = AlertType(Cow::Borrowed("OFFLINE"));
    pub const RAPID_CHANGE: AlertType = AlertType(Cow::Borrowed("RAPID_CHANGE"));

    pub fn custom(name: impl Into<String>) -> Self {
        AlertType(Cow::Owned(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AlertType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a rule signal starts an episode, ends one, or is a one-off event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertTransition {
    /// An episode starts: an alert is raised and stays open until cleared.
    Raised,
    /// The episode with the same type and key ends.
    Cleared,
    /// A one-off event (e.g. entering a geofence): raised and immediately closed.
    Event,
}

/// What a rule emits. The pipeline turns it into a stored [`Alert`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSignal {
    pub transition: AlertTransition,
    pub alert_type: AlertType,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    /// Distinguishes parallel episodes of one type, e.g. the geofence id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A stored alert episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    pub alert_type: AlertType,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub triggered_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    pub acknowledged: bool,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
}
