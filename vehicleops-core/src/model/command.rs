use chrono::{DateTime, SubsecRound, Utc};
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
    /// After this the command must not be carried out: a vehicle (or the link that delivers to
    /// it) that receives it later answers EXPIRED instead. Set by
    /// [`CommandCenter::dispatch`](crate::CommandCenter::dispatch) to the issue time plus the
    /// delivery timeout; `None` for commands stored before expiry existed.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The key the issuer dispatched it with: a retry with the same key (same issuer) returns
    /// this command instead of sending another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
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
            // To the microsecond, as stores keep it: the command a retry reads back is the one
            // the first dispatch returned.
            issued_at: Utc::now().trunc_subsecs(6),
            delivered_at: None,
            executed_at: None,
            failure_reason: None,
            expires_at: None,
            idempotency_key: None,
        })
    }

    /// Whether the command is past its expiry at `now` (never, without one).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expiry| expiry < now)
    }

    /// The acknowledgement that refuses this command because it reached the vehicle at `at`,
    /// after its expiry: EXPIRED, saying so.
    pub fn expired_ack(&self, at: DateTime<Utc>) -> CommandAck {
        let expiry = self
            .expires_at
            .map_or_else(|| "-".to_owned(), |e| e.to_rfc3339());
        CommandAck {
            command_id: self.id.clone(),
            vehicle_id: self.vehicle_id.clone(),
            status: CommandStatus::Expired,
            at,
            reason: Some(format!(
                "arrived after its expiry ({expiry}) and was not carried out"
            )),
        }
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

/// The longest idempotency key accepted, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// Checks an idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] printable ASCII characters
/// (space to `~`). The error names `idempotency_key`.
pub fn validate_idempotency_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ValidationError::new(
            "idempotency_key",
            format!(
                "must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters long, got {}",
                key.chars().count()
            ),
        ));
    }
    if let Some(bad) = key.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(ValidationError::new(
            "idempotency_key",
            format!("must be printable ASCII characters only, found {bad:?}"),
        ));
    }
    Ok(())
}

/// A vehicle's acknowledgement of a command, flowing back from a [`crate::CommandSink`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandAck {
    pub command_id: String,
    pub vehicle_id: String,
    /// DELIVERED, EXECUTED or FAILED; EXPIRED when the command arrived after its expiry.
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
    fn expiry_is_strictly_after_expires_at_and_never_without_one() {
        let mut c = stop();
        let t = Utc::now();
        assert!(!c.is_expired_at(t + chrono::Duration::days(365)));
        c.expires_at = Some(t);
        assert!(!c.is_expired_at(t));
        assert!(c.is_expired_at(t + chrono::Duration::milliseconds(1)));
        let ack = c.expired_ack(t + chrono::Duration::seconds(1));
        assert_eq!(
            (ack.status, ack.command_id.as_str()),
            (Expired, c.id.as_str())
        );
        assert!(ack.reason.unwrap().contains("after its expiry"));
        // A late command can still be refused: DISPATCHED → EXPIRED is legal.
        c.advance(Expired, t, Some("late".into())).unwrap();
    }

    #[test]
    fn idempotency_keys_are_1_to_200_printable_ascii_characters() {
        for good in ["a", "retry-7f3c 2024-02-15T14:32:18Z ~!", &"k".repeat(200)] {
            validate_idempotency_key(good).unwrap();
        }
        for bad in [
            "",
            &"k".repeat(201),
            "tab\there",
            "new\nline",
            "caf\u{e9}",
            "\u{7f}",
        ] {
            let e = validate_idempotency_key(bad).unwrap_err();
            assert_eq!(e.field, "idempotency_key", "{bad:?}");
        }
    }

    #[test]
    fn older_json_without_expiry_or_key_still_decodes() {
        let mut v = serde_json::to_value(stop()).unwrap();
        assert!(v["expires_at"].is_null());
        assert!(v.get("idempotency_key").is_none(), "skipped when unset");
        let obj = v.as_object_mut().unwrap();
        obj.remove("expires_at");
        let c: Command = serde_json::from_value(v).unwrap();
        assert_eq!((c.expires_at, c.idempotency_key), (None, None));
        let mut keyed = stop();
        keyed.idempotency_key = Some("k-1".into());
        keyed.expires_at = Some(Utc::now());
        let back: Command = serde_json::from_value(serde_json::to_value(&keyed).unwrap()).unwrap();
        assert_eq!(back, keyed);
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
