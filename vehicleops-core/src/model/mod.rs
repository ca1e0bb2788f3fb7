//! Domain types. Field names follow the original system's REST/WebSocket contract.

mod alert;
mod analytics;
mod audit;
mod capabilities;
mod command;
mod fleet;
mod history;
mod mission;
mod report;
mod telemetry;

pub use alert::{Alert, AlertSignal, AlertTransition, AlertType, Severity};
pub use analytics::{
    FleetPerformanceReport, FleetSummary, Metric, SeriesPoint, TimeRange, VehicleMetricsSummary,
    VehiclePerformance,
};
pub use audit::{AuditAction, AuditEntry, AuditFilter};
pub use capabilities::{ActionCapability, ActionParameterCapability, VehicleCapabilities};
pub use command::{
    Command, CommandAck, CommandKind, CommandParams, CommandStatus, MAX_IDEMPOTENCY_KEY_LEN,
    validate_idempotency_key,
};
pub use fleet::{Fleet, Operator, Role, Vehicle};
pub use history::{
    FleetSnapshot, PathPoint, RetentionCutoffs, RetentionPolicy, RetentionReport, VehiclePath,
};
pub use mission::{Mission, MissionPriority, MissionStatus, MissionType};
pub use report::{
    FleetDay, FleetReport, FleetReportBuilder, MAX_REPORT_DAYS, ReportFigures, ReportQuery,
    UTC_OFFSET_MINUTES, VehicleDay, VehicleTotals,
};
pub use telemetry::{GeoPoint, MapPose, Reading, Telemetry, VehicleStatus, Waypoint};
