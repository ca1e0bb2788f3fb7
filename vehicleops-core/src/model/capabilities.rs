//! What a vehicle says it can do: for VDA 5050 vehicles, what their `factsheet` lists. A
//! transport keeps it and refuses a command the vehicle cannot execute before sending it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A vehicle's capabilities as its transport learnt them from the vehicle itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleCapabilities {
    pub vehicle_id: String,
    /// Where they come from, e.g. `VDA 5050 2.1.0 factsheet`.
    pub source: String,
    pub received_at: DateTime<Utc>,
    /// The vehicle's type (`typeSpecification.seriesName`).
    pub series_name: Option<String>,
    /// `DIFF`, `OMNI`, `THREEWHEEL` (`typeSpecification.agvKinematic`).
    pub kinematic: Option<String>,
    /// `FORKLIFT`, `CONVEYOR`, `TUGGER`, `CARRIER` (`typeSpecification.agvClass`).
    pub vehicle_class: Option<String>,
    /// Maximum speed, m/s (`physicalParameters.speedMax`).
    pub max_speed_mps: Option<f64>,
    /// Maximum load, kg (`typeSpecification.maxLoadMass`).
    pub max_load_kg: Option<f64>,
    /// Load handling: the load types of its load sets (`loadSpecification.loadSets`).
    pub load_types: Vec<String>,
    /// The most nodes one order may carry (`protocolLimits.maxArrayLens["order.nodes"]`).
    pub max_order_nodes: Option<u64>,
    /// Every action it executes; an action not listed is never sent to it. `None` when its
    /// description lists no actions at all (nothing is refused then).
    pub actions: Option<Vec<ActionCapability>>,
}

/// One action a vehicle executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionCapability {
    pub action_type: String,
    pub description: Option<String>,
    /// Where it may be used: `INSTANT`, `NODE`, `EDGE`.
    pub scopes: Vec<String>,
    pub parameters: Vec<ActionParameterCapability>,
}

/// A parameter of an action a vehicle executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionParameterCapability {
    pub key: String,
    /// `BOOL`, `NUMBER`, `INTEGER`, `FLOAT`, `STRING`, `OBJECT`, `ARRAY`.
    pub value_type: String,
    pub optional: bool,
    pub description: Option<String>,
}

impl VehicleCapabilities {
    /// Whether the vehicle executes `action_type` used as `scope` (`INSTANT`, `NODE`, `EDGE`):
    /// `Err` with the reason when its list of actions leaves it out.
    pub fn check_action(&self, action_type: &str, scope: &str) -> Result<(), String> {
        let Some(actions) = &self.actions else {
            return Ok(());
        };
        match actions.iter().find(|a| a.action_type == action_type) {
            Some(a) if a.scopes.iter().any(|s| s == scope) => Ok(()),
            Some(a) => Err(format!(
                "vehicle {} executes action {action_type} only as {} (its {}), not as {scope}",
                self.vehicle_id,
                a.scopes.join(", "),
                self.source
            )),
            None => Err(format!(
                "vehicle {} does not execute action {action_type}: its {} lists {}",
                self.vehicle_id,
                self.source,
                if actions.is_empty() {
                    "no actions".to_owned()
                } else {
                    actions
                        .iter()
                        .map(|a| a.action_type.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )),
        }
    }
}
