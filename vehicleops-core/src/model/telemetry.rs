use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Operational state a vehicle reports (or the platform derives, for `Offline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VehicleStatus {
    #[default]
    Idle,
    Moving,
    Alert,
    LowBattery,
    Offline,
    Stopped,
    Charging,
}

impl VehicleStatus {
    pub const ALL: [VehicleStatus; 7] = [
        VehicleStatus::Idle,
        VehicleStatus::Moving,
        VehicleStatus::Alert,
        VehicleStatus::LowBattery,
        VehicleStatus::Offline,
        VehicleStatus::Stopped,
        VehicleStatus::Charging,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VehicleStatus::Idle => "IDLE",
            VehicleStatus::Moving => "MOVING",
            VehicleStatus::Alert => "ALERT",
            VehicleStatus::LowBattery => "LOW_BATTERY",
            VehicleStatus::Offline => "OFFLINE",
            VehicleStatus::Stopped => "STOPPED",
            VehicleStatus::Charging => "CHARGING",
        }
    }

    /// Counts as "active" in the fleet summary: reporting and not parked.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            VehicleStatus::Moving | VehicleStatus::Alert | VehicleStatus::LowBattery
        )
    }
}

impl std::fmt::Display for VehicleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VehicleStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VehicleStatus::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "status",
                format!(
                    "unknown status {s:?}; expected one of IDLE, MOVING, ALERT, LOW_BATTERY, OFFLINE, STOPPED, CHARGING"
                ),
            )
        })
    }
}

/// A position in a site's own map frame (VDA 5050 `agvPosition`), metres and radians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapPose {
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    pub map_id: String,
}

/// A WGS84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPoint {
    /// Checks both coordinates are finite and on the globe; errors name `field`.
    pub fn validate(&self, field: &'static str) -> Result<(), crate::ValidationError> {
        crate::decode::validate_lat_lon(self.latitude, self.longitude, field)
    }
}

/// A route point for missions and REROUTE commands; `order` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Waypoint {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub order: u32,
}

impl Waypoint {
    pub fn point(&self) -> GeoPoint {
        GeoPoint {
            latitude: self.latitude,
            longitude: self.longitude,
        }
    }
}

/// One telemetry reading, as a vehicle publishes it.
///
/// The natural key is `(vehicle_id, timestamp, seq)`: stores use it to make writes idempotent,
/// so a replayed reading never becomes a second row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    pub vehicle_id: String,
    pub fleet_id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    pub engine_temp_c: f64,
    #[serde(default)]
    pub load_pct: f64,
    pub status: VehicleStatus,
    pub timestamp: DateTime<Utc>,
    /// Heading in degrees clockwise from north, `[0, 360)`.
    #[serde(default)]
    pub heading_deg: f64,
    /// Per-vehicle sequence number, increasing; 0 when the vehicle does not send one.
    #[serde(default)]
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<MapPose>,
}

impl Telemetry {
    pub fn position(&self) -> GeoPoint {
        GeoPoint {
            latitude: self.latitude,
            longitude: self.longitude,
        }
    }

    /// Checks every field's range. Decoding calls this; so should anyone building a `Telemetry`
    /// by hand from untrusted input.
    pub fn validate(&self) -> Result<(), ValidationError> {
        crate::decode::validate_ids(&self.vehicle_id, &self.fleet_id)?;
        crate::decode::validate_numbers(self)?;
        Ok(())
    }
}

/// A validated reading with what the pipeline derived from it at ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    #[serde(flatten)]
    pub telemetry: Telemetry,
    /// Metres travelled since this vehicle's previous reading (haversine), 0 for the first.
    pub distance_m: f64,
}
