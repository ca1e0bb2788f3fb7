//! The VDA 5050 `factsheet` (2.0 and later): what a vehicle says it can do. The command sink
//! asks each vehicle for it (instant action `factsheetRequest`), keeps the parts VehicleOps
//! uses as [`VehicleCapabilities`] and refuses a command whose action the vehicle does not list.
//!
//! A 2.1 factsheet is checked against the official schema before it is read; no 2.0 factsheet
//! schema is shipped, so a 2.0 one is read as far as it goes (missing parts stay unknown).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use vehicleops_core::{ActionCapability, ActionParameterCapability, VehicleCapabilities};

use crate::version::ProtocolVersion;

/// The instant action that asks a vehicle for its factsheet.
pub const FACTSHEET_REQUEST: &str = "factsheetRequest";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Factsheet {
    type_specification: Option<TypeSpecification>,
    physical_parameters: Option<PhysicalParameters>,
    protocol_limits: Option<ProtocolLimits>,
    protocol_features: Option<ProtocolFeatures>,
    load_specification: Option<LoadSpecification>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TypeSpecification {
    series_name: Option<String>,
    agv_kinematic: Option<String>,
    agv_class: Option<String>,
    max_load_mass: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PhysicalParameters {
    speed_max: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ProtocolLimits {
    max_array_lens: Option<MaxArrayLens>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MaxArrayLens {
    #[serde(rename = "order.nodes")]
    order_nodes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ProtocolFeatures {
    agv_actions: Option<Vec<AgvAction>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AgvAction {
    action_type: String,
    action_description: Option<String>,
    action_scopes: Vec<String>,
    action_parameters: Vec<AgvActionParameter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AgvActionParameter {
    key: String,
    value_data_type: String,
    description: Option<String>,
    is_optional: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LoadSpecification {
    load_sets: Vec<LoadSet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LoadSet {
    load_type: Option<String>,
}

/// The capabilities a factsheet (already checked against its version's schema, where one is
/// shipped) describes; `Err` says what in it cannot be read.
pub fn capabilities(
    vehicle_id: &str,
    version: ProtocolVersion,
    factsheet: &serde_json::Value,
    received_at: DateTime<Utc>,
) -> Result<VehicleCapabilities, String> {
    let f: Factsheet =
        serde_json::from_value(factsheet.clone()).map_err(|e| format!("factsheet: {e}"))?;
    let kind = f.type_specification.unwrap_or_default();
    let mut load_types: Vec<String> = f
        .load_specification
        .map(|l| {
            l.load_sets
                .into_iter()
                .filter_map(|s| s.load_type)
                .collect()
        })
        .unwrap_or_default();
    load_types.sort();
    load_types.dedup();
    let actions = f
        .protocol_features
        .and_then(|p| p.agv_actions)
        .map(|actions| {
            actions
                .into_iter()
                .map(|a| ActionCapability {
                    action_type: a.action_type,
                    description: a.action_description,
                    scopes: a.action_scopes,
                    parameters: a
                        .action_parameters
                        .into_iter()
                        .map(|p| ActionParameterCapability {
                            key: p.key,
                            value_type: p.value_data_type,
                            optional: p.is_optional,
                            description: p.description,
                        })
                        .collect(),
                })
                .collect()
        });
    Ok(VehicleCapabilities {
        vehicle_id: vehicle_id.to_owned(),
        source: format!("VDA 5050 {} factsheet", version.as_str()),
        received_at,
        series_name: kind.series_name,
        kinematic: kind.agv_kinematic,
        vehicle_class: kind.agv_class,
        max_speed_mps: f.physical_parameters.and_then(|p| p.speed_max),
        max_load_kg: kind.max_load_mass,
        load_types,
        max_order_nodes: f
            .protocol_limits
            .and_then(|l| l.max_array_lens)
            .and_then(|l| l.order_nodes),
        actions,
    })
}

/// A complete factsheet (valid under the 2.1.0 schema) for a vehicle of `series_name` that executes
/// `actions` (each `(actionType, scopes)`), without the header.
pub fn document(
    series_name: &str,
    speed_max: f64,
    actions: &[(&str, &[&str])],
) -> serde_json::Value {
    let agv_actions: Vec<serde_json::Value> = actions
        .iter()
        .map(|(action_type, scopes)| {
            serde_json::json!({
                "actionType": action_type,
                "actionScopes": scopes,
                "actionParameters": [],
                // Not `blockingTypes`: the official 2.1.0 schema types it as one string while
                // the specification's text makes it an array; leaving it out satisfies both.
            })
        })
        .collect();
    serde_json::json!({
        "typeSpecification": {
            "seriesName": series_name,
            "agvKinematic": "DIFF",
            "agvClass": "CARRIER",
            "maxLoadMass": 500.0,
            "localizationTypes": ["NATURAL"],
            "navigationTypes": ["AUTONOMOUS"],
        },
        "physicalParameters": {
            "speedMin": 0.0,
            "speedMax": speed_max,
            "accelerationMax": 1.0,
            "decelerationMax": 1.5,
            "heightMax": 0.4,
            "width": 0.8,
            "length": 1.2,
        },
        "protocolLimits": {
            "maxStringLens": {},
            "maxArrayLens": { "order.nodes": 1000, "order.edges": 999 },
            "timing": { "minOrderInterval": 0.1, "minStateInterval": 0.05 },
        },
        "protocolFeatures": {
            "optionalParameters": [],
            "agvActions": agv_actions,
        },
        "agvGeometry": {},
        "loadSpecification": {
            "loadSets": [{
                "setName": "default",
                "loadType": "EPAL",
                "maxWeight": 500.0,
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaValidator;
    use crate::topic::MessageKind;

    fn with_header(mut body: serde_json::Value) -> serde_json::Value {
        let header = serde_json::json!({
            "headerId": 1,
            "timestamp": "2026-12-02T10:00:00.000Z",
            "version": "2.1.0",
            "manufacturer": "acme",
            "serialNumber": "AGV-1",
        });
        body.as_object_mut()
            .unwrap()
            .extend(header.as_object().unwrap().clone());
        body
    }

    #[test]
    fn a_factsheet_becomes_capabilities() {
        let sheet = with_header(document(
            "sim-2",
            1.5,
            &[("startPause", &["INSTANT"]), ("startCharging", &["NODE"])],
        ));
        SchemaValidator::for_version(ProtocolVersion::V2_1)
            .validate(MessageKind::Factsheet, &sheet)
            .expect("the simulated factsheet is valid 2.1");
        let at = Utc::now();
        let caps = capabilities("AGV-1", ProtocolVersion::V2_1, &sheet, at).unwrap();
        assert_eq!(caps.source, "VDA 5050 2.1.0 factsheet");
        assert_eq!(caps.series_name.as_deref(), Some("sim-2"));
        assert_eq!(caps.max_speed_mps, Some(1.5));
        assert_eq!(caps.max_load_kg, Some(500.0));
        assert_eq!(caps.load_types, ["EPAL"]);
        assert_eq!(caps.max_order_nodes, Some(1000));
        assert_eq!(caps.check_action("startPause", "INSTANT"), Ok(()));
        let err = caps.check_action("startCharging", "INSTANT").unwrap_err();
        assert!(err.contains("only as NODE"), "{err}");
        let err = caps.check_action("stopPause", "INSTANT").unwrap_err();
        assert!(
            err.contains("does not execute action stopPause")
                && err.contains("startPause, startCharging"),
            "{err}"
        );
    }

    #[test]
    fn a_factsheet_without_actions_refuses_nothing() {
        // What a vehicle sends before anyone filled its factsheet in (e.g. vda-5050-lib's
        // virtual AGV): a header and nothing else.
        let sheet = with_header(serde_json::json!({}));
        let caps = capabilities("AGV-1", ProtocolVersion::V2_0, &sheet, Utc::now()).unwrap();
        assert_eq!(caps.actions, None);
        assert_eq!(caps.max_speed_mps, None);
        assert_eq!(caps.check_action("anything", "INSTANT"), Ok(()));
        // A part of the wrong shape is an error that says where.
        let bad = with_header(serde_json::json!({"physicalParameters": {"speedMax": "fast"}}));
        let err = capabilities("AGV-1", ProtocolVersion::V2_0, &bad, Utc::now()).unwrap_err();
        assert!(err.contains("factsheet"), "{err}");
    }
}
