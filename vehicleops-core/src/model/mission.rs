use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Waypoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MissionType {
    Delivery,
    Pickup,
    Inspection,
    Patrol,
    Charging,
    Transfer,
}

impl MissionType {
    /// The wire name, e.g. `DELIVERY`.
    pub fn as_str(self) -> &'static str {
        match self {
            MissionType::Delivery => "DELIVERY",
            MissionType::Pickup => "PICKUP",
            MissionType::Inspection => "INSPECTION",
            MissionType::Patrol => "PATROL",
            MissionType::Charging => "CHARGING",
            MissionType::Transfer => "TRANSFER",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MissionPriority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

/// `ASSIGNED → IN_PROGRESS → COMPLETED | FAILED | CANCELLED` (ASSIGNED may also be cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MissionStatus {
    Assigned,
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

impl MissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MissionStatus::Assigned => "ASSIGNED",
            MissionStatus::InProgress => "IN_PROGRESS",
            MissionStatus::Completed => "COMPLETED",
            MissionStatus::Failed => "FAILED",
            MissionStatus::Cancelled => "CANCELLED",
        }
    }

    /// ASSIGNED and IN_PROGRESS missions block a new mission for the same vehicle.
    pub fn is_active(self) -> bool {
        matches!(self, MissionStatus::Assigned | MissionStatus::InProgress)
    }

    pub fn can_become(self, to: MissionStatus) -> bool {
        use MissionStatus::*;
        matches!(
            (self, to),
            (Assigned, InProgress | Cancelled | Failed)
                | (InProgress, Completed | Failed | Cancelled)
        )
    }
}

impl std::str::FromStr for MissionStatus {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use MissionStatus::*;
        [Assigned, InProgress, Completed, Failed, Cancelled]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                crate::ValidationError::new("status", format!("unknown mission status {s:?}"))
            })
    }
}

/// A mission: an ordered route for one vehicle, with progress tracked from telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mission {
    pub id: String,
    pub fleet_id: String,
    pub vehicle_id: String,
    pub mission_type: MissionType,
    pub priority: MissionPriority,
    pub waypoints: Vec<Waypoint>,
    pub status: MissionStatus,
    pub completed_waypoints: u32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub estimated_completion: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
}

impl Mission {
    pub fn total_waypoints(&self) -> u32 {
        self.waypoints.len() as u32
    }

    /// Percentage of waypoints reached, one decimal.
    pub fn completion_pct(&self) -> f64 {
        if self.waypoints.is_empty() {
            return 0.0;
        }
        let pct = 100.0 * self.completed_waypoints as f64 / self.waypoints.len() as f64;
        (pct * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mission_type_names_are_the_wire_names() {
        use MissionType::*;
        for t in [Delivery, Pickup, Inspection, Patrol, Charging, Transfer] {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(t.as_str().into())
            );
        }
    }
}
