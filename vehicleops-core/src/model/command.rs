use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Waypoint;
use crate::error::{Error, ValidationError};

/// What an operator can ask a vehicle to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandKind {
    /// Halt now. Never queued behind other commands.
    Stop,
    /// Continue the last active route or mission.
    Resume,
    /// Follow new waypoints (`params.waypoints`).
    Reroute,
    /// Drive to the vehicle's home station.
    ReturnToBase,
}

impl CommandKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Stop => "STOP",
            CommandKind::Resume => "RESUME",
            CommandKind::Reroute => "REROUTE",
            CommandKind::ReturnToBase => "RETURN_TO_BASE",
        }
    }
}

impl std::str::FromStr for CommandKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "STOP" => Ok(CommandKind::Stop),
            "RESUME" => Ok(CommandKind::Resume),
            "REROUTE" => Ok(CommandKind::Reroute),
            "RETURN_TO_BASE" => Ok(CommandKind::ReturnToBase),
            other => Err(ValidationError::new(
                "command",
                format!(
                    "unknown command {other:?}; expected STOP, RESUME, REROUTE or RETURN_TO_BASE"
                ),
            )),
        }
    }
}

/// Command parameters. Only REROUTE uses waypoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandParams {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waypoints: Vec<Waypoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a command is in its life.
///
/// `DISPATCHED → DELIVERED → EXECUTED | FAILED | TIMEOUT`, and `DISPATCHED → EXPIRED` when no
/// vehicle picked it up in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandStatus {
    Dispatched,
    Delivered,
    Executed,
    Failed,
    Timeout,
    Expired,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Dispatched => "DISPATCHED",
            CommandStatus::Delivered => "DELIVERED",
            CommandStatus::Executed => "EXECUTED",
            CommandStatus::Failed => "FAILED",
            CommandStatus::Timeout => "TIMEOUT",
            CommandStatus::Expired => "EXPIRED",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, CommandStatus::Dispatched | CommandStatus::Delivered)
    }

    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_become(self, to: CommandStatus) -> bool {
        use CommandStatus::*;
        matches!(
            (self, to),
            (Dispatched, Delivered | Executed | Failed | Expired)
                | (Delivered, Executed | Failed | Timeout)
        )
    }
}

impl std::str::FromStr for CommandStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use CommandStatus::*;
        [Dispatched, Delivered, Executed, Failed, Timeout, Expired]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", format!("unknown command status {s:?}")))
    }
}

/// A command and its lifecycle record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: String,
    pub vehicle_id: String,
    pub fleet_id: String,
    pub command: CommandKind,
    #[serde(default)]
    pub params: CommandParams,
    pub status: CommandStatus,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub executed_at: Option<DateTime<Utc>>,
    /// Set with FAILED, TIMEOUT and EXPIRED.
    pub failure_reason: Option<String>,
}

impl Command {
    /// A new DISPATCHED command with a fresh id.
    pub fn new(
        vehicle_id: impl Into<String>,
        fleet_id: impl Into<String>,
        command: CommandKind,
        params: CommandParams,
        issued_by: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        if command == CommandKind::Reroute && params.waypoints.is_empty() {
            return Err(ValidationError::new(
                "params.waypoints",
                "REROUTE needs at least one waypoint",
            ));
        }
        for wp in &params.waypoints {
            crate::decode::validate_lat_lon(wp.latitude, wp.longitude, "params.waypoints")?;
        }
        Ok(Command {
            id: format!("cmd-{}", uuid::Uuid::new_v4().simple()),
            vehicle_id: vehicle_id.into(),
            fleet_id: fleet_id.into(),
            command,
            params,
            status: CommandStatus::Dispatched,
            issued_by: issued_by.into(),
            issued_at: Utc::now(),
            delivered_at: None,
            executed_at: None,
            failure_reason: None,
        })
    }

    /// Applies a lifecycle step, stamping the matching time.
    pub fn advance(
        &mut self,
        to: CommandStatus,
        at: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<(), Error> {
        if !self.status.can_become(to) {
            return Err(Error::InvalidTransition {
                entity: "command",
                from: self.status.as_str().into(),
                to: to.as_str().into(),
            });
        }
        match to {
            CommandStatus::Delivered => self.delivered_at = Some(at),
            CommandStatus::Executed => {
                self.delivered_at.get_or_insert(at);
                self.executed_at = Some(at);
            }
            _ => self.failure_reason = reason,
        }
        self.status = to;
        Ok(())
    }
}

/// A vehicle's acknowledgement of a command, flowing back from a [`crate::CommandSink`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandAck {
    pub command_id: String,
    pub vehicle_id: String,
    /// DELIVERED, EXECUTED or FAILED.
    pub status: CommandStatus,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommandStatus::*;

    fn stop() -> Command {
        Command::new(
            "VH-1",
            "fleet-001",
            CommandKind::Stop,
            CommandParams::default(),
            "op-001",
        )
        .unwrap()
    }

    #[test]
    fn lifecycle_happy_path_stamps_times() {
        let mut c = stop();
        assert_eq!(c.status, Dispatched);
        let t1 = Utc::now();
        c.advance(Delivered, t1, None).unwrap();
        assert_eq!(c.delivered_at, Some(t1));
        let t2 = t1 + chrono::Duration::seconds(2);
        c.advance(Executed, t2, None).unwrap();
        assert_eq!((c.status, c.executed_at), (Executed, Some(t2)));
    }

    #[test]
    fn executed_without_a_delivered_ack_implies_delivery() {
        let mut c = stop();
        let t = Utc::now();
        c.advance(Executed, t, None).unwrap();
        assert_eq!(c.delivered_at, Some(t));
    }

    #[test]
    fn refuses_illegal_transitions() {
        let all = [Dispatched, Delivered, Executed, Failed, Timeout, Expired];
        for from in all {
            for to in all {
                let legal = from.can_become(to);
                let expected = matches!(
                    (from, to),
                    (Dispatched, Delivered | Executed | Failed | Expired)
                        | (Delivered, Executed | Failed | Timeout)
                );
                assert_eq!(legal, expected, "{from:?} -> {to:?}");
            }
        }
        let mut c = stop();
        c.advance(Expired, Utc::now(), Some("nobody answered".into()))
            .unwrap();
        let err = c.advance(Executed, Utc::now(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move command from EXPIRED to EXECUTED"
        );
        assert_eq!(c.failure_reason.as_deref(), Some("nobody answered"));
    }

    #[test]
    fn reroute_needs_valid_waypoints() {
        let e = Command::new(
            "VH-1",
            "f",
            CommandKind::Reroute,
            CommandParams::default(),
            "op",
        )
        .unwrap_err();
        assert_eq!(e.field, "params.waypoints");
        let params = CommandParams {
            waypoints: vec![Waypoint {
                latitude: 95.0,
                longitude: 0.0,
                order: 1,
            }],
            reason: None,
        };
        let e = Command::new("VH-1", "f", CommandKind::Reroute, params, "op").unwrap_err();
        assert_eq!(e.field, "params.waypoints");
    }

    #[test]
    fn serializes_in_the_original_shape() {
        let v = serde_json::to_value(stop()).unwrap();
        assert_eq!(v["command"], "STOP");
        assert_eq!(v["status"], "DISPATCHED");
        assert_eq!(v["issued_by"], "op-001");
        assert_eq!(
            "RETURN_TO_BASE".parse::<CommandKind>().unwrap(),
            CommandKind::ReturnToBase
        );
        assert_eq!("JUMP".parse::<CommandKind>().unwrap_err().field, "command");
    }
}
