use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// An inclusive time window `[from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl TimeRange {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, ValidationError> {
        if from > to {
            return Err(ValidationError::new(
                "from",
                "`from` must not be after `to`",
            ));
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t <= self.to
    }
}

/// A numeric telemetry field that can be aggregated into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    SpeedKmh,
    BatteryPct,
    EngineTempC,
    LoadPct,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::SpeedKmh,
        Metric::BatteryPct,
        Metric::EngineTempC,
        Metric::LoadPct,
    ];

    /// The column / JSON field name.
    pub fn column(self) -> &'static str {
        match self {
            Metric::SpeedKmh => "speed_kmh",
            Metric::BatteryPct => "battery_pct",
            Metric::EngineTempC => "engine_temp_c",
            Metric::LoadPct => "load_pct",
        }
    }

    pub fn value(self, t: &crate::Telemetry) -> f64 {
        match self {
            Metric::SpeedKmh => t.speed_kmh,
            Metric::BatteryPct => t.battery_pct,
            Metric::EngineTempC => t.engine_temp_c,
            Metric::LoadPct => t.load_pct,
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Metric::ALL
            .into_iter()
            .find(|m| m.column() == s || m.column().split('_').next() == Some(s))
            .ok_or_else(|| {
                ValidationError::new(
                    "metric",
                    format!(
                        "unknown metric {s:?}; expected speed_kmh, battery_pct, engine_temp_c or load_pct"
                    ),
                )
            })
    }
}

/// One bucket of a series. Field names are the original's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub bucket: DateTime<Utc>,
    pub avg_value: f64,
    pub max_value: f64,
    pub min_value: f64,
}

/// Per-vehicle aggregate over a time window. Field names are the original's; the averages are
/// `None` when the window holds no reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleMetricsSummary {
    pub vehicle_id: String,
    pub total_readings: u64,
    pub avg_speed_kmh: Option<f64>,
    pub max_speed_kmh: Option<f64>,
    pub avg_battery_pct: Option<f64>,
    pub min_battery_pct: Option<f64>,
    pub avg_engine_temp_c: Option<f64>,
    pub max_engine_temp_c: Option<f64>,
    pub total_distance_km: f64,
    /// Readings whose status was `ALERT`.
    pub alert_count: u64,
}

/// One row of the fleet performance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehiclePerformance {
    pub vehicle_id: String,
    pub avg_speed: f64,
    pub avg_battery: f64,
    pub distance_km: f64,
    pub alerts: u64,
}

/// Fleet performance over a window, vehicles ranked by distance (longest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetPerformanceReport {
    pub fleet_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub vehicles: Vec<VehiclePerformance>,
}

/// Live fleet overview. Field names are the original's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSummary {
    pub fleet_id: String,
    pub fleet_name: String,
    pub total_vehicles: u64,
    pub active_vehicles: u64,
    pub idle_vehicles: u64,
    pub vehicles_in_alert: u64,
    pub avg_battery_pct: Option<f64>,
    pub avg_speed_kmh: Option<f64>,
    pub active_missions: u64,
    pub open_alerts: u64,
    /// Vehicles per status, every status present (0 when none).
    pub by_status: std::collections::BTreeMap<String, u64>,
    pub last_updated: Option<DateTime<Utc>>,
}

impl FleetSummary {
    /// Builds the summary from each vehicle's latest reading plus the repository's counts.
    /// `total_vehicles` counts registered vehicles and those that have reported, whichever is more.
    pub fn compute(
        fleet_id: &str,
        fleet_name: &str,
        registered_vehicles: u64,
        latest: &[crate::Telemetry],
        active_missions: u64,
        open_alerts: u64,
    ) -> Self {
        let mut by_status: std::collections::BTreeMap<String, u64> = crate::VehicleStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        let (mut battery, mut speed) = (0.0, 0.0);
        let mut last_updated = None;
        for t in latest {
            *by_status.entry(t.status.as_str().to_string()).or_default() += 1;
            battery += t.battery_pct;
            speed += t.speed_kmh;
            last_updated = last_updated.max(Some(t.timestamp));
        }
        let n = latest.len() as f64;
        let count = |s: crate::VehicleStatus| by_status[s.as_str()];
        use crate::VehicleStatus as S;
        FleetSummary {
            fleet_id: fleet_id.to_string(),
            fleet_name: fleet_name.to_string(),
            total_vehicles: registered_vehicles.max(latest.len() as u64),
            active_vehicles: latest.iter().filter(|t| t.status.is_active()).count() as u64,
            idle_vehicles: count(S::Idle) + count(S::Stopped) + count(S::Charging),
            vehicles_in_alert: count(S::Alert),
            avg_battery_pct: (n > 0.0).then(|| battery / n),
            avg_speed_kmh: (n > 0.0).then(|| speed / n),
            active_missions,
            open_alerts,
            by_status,
            last_updated,
        }
    }
}
