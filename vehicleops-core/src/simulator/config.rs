//! Simulator options: the original's command-line flags plus a seed and a finite-run limit.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::model::GeoPoint;

/// One of the original's three geofenced operating areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    #[default]
    Bogota,
    Medellin,
    Cali,
}

impl Area {
    pub const ALL: [Area; 3] = [Area::Bogota, Area::Medellin, Area::Cali];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Bogota => "bogota",
            Area::Medellin => "medellin",
            Area::Cali => "cali",
        }
    }

    /// The centre of the area (the seed's coordinates).
    pub fn center(self) -> GeoPoint {
        let (latitude, longitude) = match self {
            Area::Bogota => (4.7110, -74.0721),
            Area::Medellin => (6.2442, -75.5812),
            Area::Cali => (3.4516, -76.5320),
        };
        GeoPoint {
            latitude,
            longitude,
        }
    }

    /// Vehicles stay within this distance of the centre.
    pub fn radius_m(self) -> f64 {
        match self {
            Area::Bogota => 15_000.0,
            Area::Medellin => 12_000.0,
            Area::Cali => 10_000.0,
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Area {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Area::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "area",
                    format!("unknown area {s:?}; expected one of bogota, medellin, cali"),
                )
            })
    }
}

/// What kind of day the fleet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Standard operations on random routes; no faults, nothing above 80 km/h.
    #[default]
    Normal,
    /// Throughput stress: heavily loaded vehicles with no dwell at waypoints. Pair it with many
    /// vehicles and a short interval ([`SimulatorConfig::high_load`]).
    HighLoad,
    /// Normal operations plus fault episodes: overspeed, overheating and battery failures.
    FaultInjection,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::Normal,
        Scenario::HighLoad,
        Scenario::FaultInjection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::HighLoad => "high-load",
            Scenario::FaultInjection => "fault-injection",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scenario {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "scenario",
                    format!(
                        "unknown scenario {s:?}; expected one of normal, high-load, fault-injection"
                    ),
                )
            })
    }
}

/// Simulator options. Every field has a default, so `{}` is a valid configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Fleet the vehicles belong to; vehicle ids are `{fleet_id}-VH-001`, `-VH-002`, …
    pub fleet_id: String,
    /// Number of simulated vehicles.
    pub vehicles: u32,
    /// Milliseconds between readings of each vehicle.
    pub interval_ms: u64,
    pub area: Area,
    pub scenario: Scenario,
    /// Same seed and same tick times give identical readings.
    pub seed: u64,
    /// Stop the async runner after this many ticks; `None` runs until stopped.
    pub max_ticks: Option<u64>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            fleet_id: "fleet-demo-001".to_owned(),
            vehicles: 20,
            interval_ms: 500,
            area: Area::default(),
            scenario: Scenario::default(),
            seed: 42,
            max_ticks: None,
        }
    }
}

impl SimulatorConfig {
    /// Upper bound on `vehicles`, to catch typos that would exhaust memory.
    pub const MAX_VEHICLES: u32 = 100_000;

    /// The stress preset: 200 vehicles every 100 ms (2,000 readings/s) in the high-load
    /// scenario.
    pub fn high_load() -> Self {
        SimulatorConfig {
            vehicles: 200,
            interval_ms: 100,
            scenario: Scenario::HighLoad,
            ..SimulatorConfig::default()
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Checks every option, naming the field at fault.
    pub fn validate(&self) -> Result<(), ValidationError> {
        crate::decode::validate_ids(&self.vehicle_id(self.vehicles.max(1)), &self.fleet_id)
            .map_err(|e| {
                if e.field == "vehicle_id" {
                    ValidationError::new(
                        "fleet_id",
                        format!("makes vehicle ids that are {}", e.reason),
                    )
                } else {
                    e
                }
            })?;
        if self.vehicles == 0 {
            return Err(ValidationError::new("vehicles", "must be at least 1"));
        }
        if self.vehicles > Self::MAX_VEHICLES {
            return Err(ValidationError::new(
                "vehicles",
                format!(
                    "{} is more than the maximum of {}",
                    self.vehicles,
                    Self::MAX_VEHICLES
                ),
            ));
        }
        if self.interval_ms == 0 {
            return Err(ValidationError::new("interval_ms", "must be at least 1 ms"));
        }
        if self.max_ticks == Some(0) {
            return Err(ValidationError::new(
                "max_ticks",
                "must be at least 1 (leave it out to run until stopped)",
            ));
        }
        Ok(())
    }

    /// The id of the `n`-th vehicle (1-based), as the original names them.
    pub fn vehicle_id(&self, n: u32) -> String {
        format!("{}-VH-{n:03}", self.fleet_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original_simulator() {
        let c = SimulatorConfig::default();
        assert_eq!(c.fleet_id, "fleet-demo-001");
        assert_eq!(c.vehicles, 20);
        assert_eq!(c.interval_ms, 500);
        assert_eq!(c.area, Area::Bogota);
        assert_eq!(c.scenario, Scenario::Normal);
        assert_eq!(c.vehicle_id(1), "fleet-demo-001-VH-001");
        c.validate().unwrap();
        let empty: SimulatorConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, c);
    }

    #[test]
    fn parses_areas_and_scenarios_and_lists_the_valid_ones() {
        assert_eq!("medellin".parse::<Area>().unwrap(), Area::Medellin);
        assert_eq!(
            "fault-injection".parse::<Scenario>().unwrap(),
            Scenario::FaultInjection
        );
        let e = "paris".parse::<Area>().unwrap_err();
        assert_eq!(e.field, "area");
        assert!(e.reason.contains("bogota, medellin, cali"), "{e}");
        let e = "mixed".parse::<Scenario>().unwrap_err();
        assert_eq!(e.field, "scenario");
        assert!(
            e.reason.contains("normal, high-load, fault-injection"),
            "{e}"
        );
        let c: SimulatorConfig =
            serde_json::from_str(r#"{"area":"cali","scenario":"high-load"}"#).unwrap();
        assert_eq!((c.area, c.scenario), (Area::Cali, Scenario::HighLoad));
        for a in Area::ALL {
            assert_eq!(a.to_string().parse::<Area>().unwrap(), a);
        }
        for s in Scenario::ALL {
            assert_eq!(s.to_string().parse::<Scenario>().unwrap(), s);
        }
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |f: fn(&mut SimulatorConfig)| {
            let mut c = SimulatorConfig::default();
            f(&mut c);
            c.validate().unwrap_err().field
        };
        assert_eq!(bad(|c| c.vehicles = 0), "vehicles");
        assert_eq!(bad(|c| c.vehicles = u32::MAX), "vehicles");
        assert_eq!(bad(|c| c.interval_ms = 0), "interval_ms");
        assert_eq!(bad(|c| c.fleet_id.clear()), "fleet_id");
        assert_eq!(bad(|c| c.max_ticks = Some(0)), "max_ticks");
        SimulatorConfig::high_load().validate().unwrap();
    }
}
