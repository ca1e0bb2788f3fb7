//! # vehicleops-core
//!
//! The heart of VehicleOps: the fleet telemetry domain, the four extension traits
//! ([`TelemetrySource`], [`AlertRule`], [`CommandSink`], [`TimeSeriesStore`]) plus the
//! [`FleetRepository`], built-in alert rules, the ingest [`pipeline`], the live [`hub`], command and
//! mission lifecycles, the fleet [`simulator`] and an in-process bus ([`inproc`]).
//!
//! The core owns no runtime: it spawns tasks on the caller's tokio runtime, and bindings own
//! theirs.
//!
//! ```
//! use vehicleops_core::{decode_telemetry, VehicleStatus};
//!
//! let t = decode_telemetry(br#"{"vehicle_id":"VH-1","fleet_id":"fleet-001","latitude":4.71,
//!     "longitude":-74.07,"speed_kmh":12.0,"battery_pct":80,"engine_temp_c":70,
//!     "status":"MOVING","timestamp":"2024-02-15T14:32:18Z"}"#).unwrap();
//! assert_eq!(t.status, VehicleStatus::Moving);
//! ```

pub mod commands;
pub mod decode;
pub mod error;
pub mod geodesy;
pub mod history;
pub mod hub;
pub mod inproc;
pub mod missions;
pub mod model;
pub mod pipeline;
pub mod rules;
pub mod simulator;
#[cfg(test)]
pub(crate) mod test_support;
pub mod traits;

pub use decode::decode_telemetry;
pub use error::{Error, ErrorKind, Result, ValidationError};
pub use model::*;
pub use rules::{
    Comparison, Debounce, Fence, FenceShape, GeofenceRule, MessageTemplate, OfflineRule,
    RateDirection, RateOfChangeRule, RuleConfig, ThresholdRule, default_rules,
};
pub use rules::{HostRule, HostRuleError, HostRuleFunction, HostViolation};
pub use simulator::{Simulator, SimulatorConfig, SimulatorHandle};
pub use traits::*;

pub use commands::{CommandCenter, CommandTimeouts};
pub use hub::{LiveEvent, LiveHub, LiveUpdate, Subscription};
pub use missions::{CommandMissionLink, MissionRequest, MissionService, MissionServiceConfig};
pub use pipeline::{PipelineBuilder, PipelineConfig, PipelineHandle, StatsSnapshot};
