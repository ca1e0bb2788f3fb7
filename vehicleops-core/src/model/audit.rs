//! The audit trail: who did what and when — logins, commands, missions, alert
//! acknowledgements — kept in the repository, queried newest first, pruned by retention.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TimeRange;
use crate::error::ValidationError;

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditAction {
    LoginSucceeded,
    /// A wrong password, an unknown email or a disabled operator; `actor` is the email tried.
    LoginFailed,
    CommandDispatched,
    MissionCreated,
    MissionCancelled,
    AlertAcknowledged,
}

impl AuditAction {
    pub const ALL: [AuditAction; 6] = [
        AuditAction::LoginSucceeded,
        AuditAction::LoginFailed,
        AuditAction::CommandDispatched,
        AuditAction::MissionCreated,
        AuditAction::MissionCancelled,
        AuditAction::AlertAcknowledged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::LoginSucceeded => "LOGIN_SUCCEEDED",
            AuditAction::LoginFailed => "LOGIN_FAILED",
            AuditAction::CommandDispatched => "COMMAND_DISPATCHED",
            AuditAction::MissionCreated => "MISSION_CREATED",
            AuditAction::MissionCancelled => "MISSION_CANCELLED",
            AuditAction::AlertAcknowledged => "ALERT_ACKNOWLEDGED",
        }
    }

    /// Parses an action's name; the error names `field` and lists the names.
    pub fn parse(field: &'static str, name: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
                ValidationError::new(
                    field,
                    format!("unknown action `{name}`; one of {}", names.join(", ")),
                )
            })
    }
}

/// One thing someone did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// Who: an operator id (the email tried, for a failed login).
    pub actor: String,
    pub action: AuditAction,
    pub fleet_id: Option<String>,
    pub vehicle_id: Option<String>,
    /// What was acted on: a command, mission or alert id.
    pub target_id: Option<String>,
    /// Where from, e.g. the client's address for a login.
    pub source: Option<String>,
    /// What was done, in words (e.g. `STOP: aisle blocked`).
    pub detail: String,
}

impl AuditEntry {
    /// An entry of `action` by `actor`, now, with a fresh id and nothing else filled in.
    pub fn new(actor: impl Into<String>, action: AuditAction) -> Self {
        AuditEntry {
            id: uuid::Uuid::new_v4().to_string(),
            at: Utc::now(),
            actor: actor.into(),
            action,
            fleet_id: None,
            vehicle_id: None,
            target_id: None,
            source: None,
            detail: String::new(),
        }
    }
}

/// Which entries to list, newest first (by time, then id). `None` means "any".
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFilter {
    /// Only entries of these fleets (entries without a fleet, such as logins, are left out);
    /// `None` for every entry.
    pub fleet_ids: Option<Vec<String>>,
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    /// Inclusive at both ends.
    pub range: TimeRange,
    /// `(at, id)` of the last entry already read; the page holds older ones.
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: u32,
}

impl AuditFilter {
    /// Largest page a store returns.
    pub const MAX_LIMIT: u32 = 1_000;

    /// The window a query without one reads: `to` (default now) and `from` (default a day
    /// before `to`); the error names `from` when it is after `to`.
    pub fn window(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<TimeRange, ValidationError> {
        let to = to.unwrap_or_else(Utc::now);
        TimeRange::new(from.unwrap_or(to - chrono::Duration::days(1)), to)
    }

    /// The page size a store uses: `limit`, at most [`Self::MAX_LIMIT`] (also for 0).
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => Self::MAX_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_by_name_and_a_wrong_one_is_named() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse("action", action.as_str()), Ok(action));
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::Value::String(action.as_str().into())
            );
        }
        let err = AuditAction::parse("action", "LOGOUT").unwrap_err();
        assert_eq!(err.field, "action");
        assert!(err.reason.contains("LOGIN_FAILED"), "{}", err.reason);
    }
}
