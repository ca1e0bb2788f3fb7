//! Looking back: the path a vehicle drove over a window, and a fleet as it was at an instant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Alert, Telemetry, TimeRange, VehicleStatus};

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
