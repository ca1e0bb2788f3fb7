//! Looking back: the path a vehicle drove over a window, a fleet as it was at an instant, and
//! how long the past is kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Alert, Telemetry, TimeRange, VehicleStatus};
use crate::error::ValidationError;

/// One point of a vehicle's path: where it was at a reading, and how it was moving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathPoint {
    pub timestamp: DateTime<Utc>,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub heading_deg: f64,
    pub status: VehicleStatus,
}

impl From<&Telemetry> for PathPoint {
    fn from(t: &Telemetry) -> Self {
        PathPoint {
            timestamp: t.timestamp,
            latitude: t.latitude,
            longitude: t.longitude,
            speed_kmh: t.speed_kmh,
            heading_deg: t.heading_deg,
            status: t.status,
        }
    }
}

/// The path a vehicle drove over a window, simplified for display: no reading of the window
/// lies farther than `tolerance_m` from the line through `points`, and every change of status
/// is kept (the first reading of each), as are the window's first and last readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehiclePath {
    pub vehicle_id: String,
    pub range: TimeRange,
    /// Readings stored for the window (before simplification).
    pub readings: u64,
    pub tolerance_m: f64,
    /// Oldest first.
    pub points: Vec<PathPoint>,
}

/// A fleet as it was at an instant: each vehicle's last reading at or before it and the alerts
/// open then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    pub fleet_id: String,
    pub at: DateTime<Utc>,
    /// By vehicle id; a vehicle without a reading by `at` is absent.
    pub vehicles: Vec<Telemetry>,
    /// Triggered at or before `at` and not cleared by then, oldest first.
    pub open_alerts: Vec<Alert>,
}

/// How long each kind of record is kept, in days; `None` keeps it for ever. Only records that
/// are over are removed: alerts once cleared, commands once they ended, missions once they
/// ended — an old open alert or active mission stays however old.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Raw readings.
    pub telemetry_days: Option<u32>,
    /// Per-minute (and hourly) rollups, which summaries and series read once the raw readings
    /// are gone; at least `telemetry_days`.
    pub rollup_days: Option<u32>,
    pub alerts_days: Option<u32>,
    pub commands_days: Option<u32>,
    pub missions_days: Option<u32>,
    /// The audit trail.
    pub audit_days: Option<u32>,
}

impl RetentionPolicy {
    /// Whether anything is ever removed.
    pub fn is_keep_all(&self) -> bool {
        *self == RetentionPolicy::default()
    }

    /// Checks the policy: every period at least one day, rollups kept at least as long as
    /// the readings they summarise (errors name the field).
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (field, days) in [
            ("telemetry_days", self.telemetry_days),
            ("rollup_days", self.rollup_days),
            ("alerts_days", self.alerts_days),
            ("commands_days", self.commands_days),
            ("missions_days", self.missions_days),
            ("audit_days", self.audit_days),
        ] {
            if days == Some(0) {
                return Err(ValidationError::new(
                    field,
                    "must be at least 1 day (leave it unset to keep for ever)",
                ));
            }
        }
        match (self.telemetry_days, self.rollup_days) {
            (Some(raw), Some(rollup)) if rollup < raw => Err(ValidationError::new(
                "rollup_days",
                format!("must be at least telemetry_days ({raw}): rollups summarise readings"),
            )),
            (None, Some(_)) => Err(ValidationError::new(
                "rollup_days",
                "readings are kept for ever, so their rollups must be too",
            )),
            _ => Ok(()),
        }
    }

    /// The instants before which each kind goes, as of `now`.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> RetentionCutoffs {
        let before = |days: Option<u32>| days.map(|d| now - chrono::Duration::days(i64::from(d)));
        RetentionCutoffs {
            telemetry: before(self.telemetry_days),
            rollups: before(self.rollup_days),
            alerts: before(self.alerts_days),
            commands: before(self.commands_days),
            missions: before(self.missions_days),
            audit: before(self.audit_days),
        }
    }
}

/// What one retention run removes: each kind's records older than its instant (`None`: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionCutoffs {
    pub telemetry: Option<DateTime<Utc>>,
    pub rollups: Option<DateTime<Utc>>,
    pub alerts: Option<DateTime<Utc>>,
    pub commands: Option<DateTime<Utc>>,
    pub missions: Option<DateTime<Utc>>,
    pub audit: Option<DateTime<Utc>>,
}

/// What a retention run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Readings deleted one by one (the embedded store).
    pub telemetry_rows: u64,
    /// Whole daily partitions or TimescaleDB chunks of readings dropped (PostgreSQL).
    pub telemetry_partitions: u64,
    /// Rollup rows deleted, or rollup chunks dropped on TimescaleDB.
    pub rollups: u64,
    pub alerts: u64,
    pub commands: u64,
    pub missions: u64,
    /// Audit entries.
    pub audit: u64,
}
