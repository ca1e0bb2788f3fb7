"""Type stubs of the native module ``vehicleops._vehicleops``."""

from __future__ import annotations

from datetime import date, datetime
from os import PathLike
from types import TracebackType
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Type,
    TypedDict,
    Union,
)

__version__: str

TimeBound = Union[datetime, str, None]
"""A window bound: an aware ``datetime`` or an RFC 3339 string; ``None`` leaves it open."""

Reading = Mapping[str, Any]
"""A telemetry reading: vehicle_id, fleet_id, latitude, longitude, speed_kmh, battery_pct,
engine_temp_c, status, timestamp; optional load_pct, heading_deg, seq, pose."""

Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
CommandName = Literal["STOP", "RESUME", "REROUTE", "RETURN_TO_BASE"]
Scenario = Literal["normal", "high-load", "fault-injection"]
Area = Literal["bogota", "medellin", "cali"]
Metric = Literal["speed_kmh", "battery_pct", "engine_temp_c", "load_pct"]
MissionType = Literal["DELIVERY", "PICKUP", "INSPECTION", "PATROL", "CHARGING", "TRANSFER"]
MissionPriority = Literal["LOW", "NORMAL", "HIGH", "URGENT"]
MissionStatus = Literal["ASSIGNED", "IN_PROGRESS", "COMPLETED", "CANCELLED", "FAILED"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
GeoPoint = Mapping[str, float]
"""``{"latitude": ..., "longitude": ...}``."""
Waypoint = Mapping[str, float]
"""``{"latitude": ..., "longitude": ..., "order": ...}`` (order optional)."""

RuleResult = Optional[Mapping[str, Any]]
"""``None`` for a fine reading; for a violating one a dict with any of alert_type, severity,
value, threshold, message."""

RuleConfig = Mapping[str, Any]
"""A built-in rule as data, selected by ``type``:

- ``{"type": "threshold", "alert_type", "metric", "comparison": "above" | "below", "threshold",
  "clear_threshold"?, "severity"?, "raise_after"?, "min_duration_secs"?, "clear_after"?,
  "message"?, "key"?, "name"?}``
- ``{"type": "geofence", "fences": [{"id", "fleet_id"?, "dwell_secs"?, "shape": {"type":
  "polygon", "points": [GeoPoint, ...]} | {"type": "circle", "center": GeoPoint, "radius_m"}}]}``
- ``{"type": "offline", "timeout_secs"?, "severity"?}``
- ``{"type": "rate_of_change", "metric", "direction": "rising" | "falling" | "either",
  "max_rate_per_sec", ...}``
"""

class VehicleOpsError(Exception):
    kind: str
    """Stable code: UNPROCESSABLE, NOT_FOUND, CONFLICT, BACKEND_ERROR, CLOSED, CONFIG_ERROR."""

class ValidationError(VehicleOpsError):
    field: str
    """The offending field, e.g. ``"latitude"`` (``"payload"`` for unreadable input)."""

class NotFoundError(VehicleOpsError): ...
class ConflictError(VehicleOpsError): ...
class InvalidTransitionError(ConflictError): ...
class BackendError(VehicleOpsError): ...
class ClosedError(VehicleOpsError): ...
class ConfigError(VehicleOpsError): ...

def decode_telemetry(payload: Union[bytes, str]) -> Dict[str, Any]:
    """Decodes and validates one JSON reading; raises ValidationError naming the field."""

class Subscription:
    """Live events of a fleet: ``{"type": "update" | "alert" | "command" | "mission", "data": {...}}``."""

    @property
    def fleet_id(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def __aiter__(self) -> Subscription: ...
    def __anext__(self) -> Awaitable[Dict[str, Any]]: ...
    def close(self) -> None: ...
    def __aenter__(self) -> Awaitable[Subscription]: ...
    def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> Awaitable[bool]: ...

class SimulatorRun:
    """A running simulator; ``await run.stop()`` ends it, and so does ``Engine.close()``."""

    @property
    def fleet_id(self) -> str: ...
    @property
    def vehicle_ids(self) -> List[str]: ...
    @property
    def finished(self) -> bool: ...
    def stop(self) -> Awaitable[Dict[str, int]]:
        """Stops the run; returns ``{"ticks", "readings", "commands"}``. ClosedError if it was
        stopped already."""

class RetentionPolicy(TypedDict, total=False):
    """Days each kind of record is kept; a missing key keeps it for ever. Only records that are
    over go (cleared alerts, finished commands and missions)."""

    telemetry_days: int
    rollup_days: int
    alerts_days: int
    commands_days: int
    missions_days: int
    audit_days: int

class Engine:
    """The engine: store (SQLite file or memory, or PostgreSQL), transport (in-process, or
    Kafka), pipeline and rules, live hub, commands, missions and simulator."""

    def __init__(
        self,
        path: Union[str, PathLike[str], None] = None,
        *,
        database_url: Optional[str] = None,
        kafka_bootstrap_servers: Optional[str] = None,
        kafka_group_id: Optional[str] = None,
        kafka_topic_suffix: Optional[str] = None,
        kafka_security_protocol: Optional[SecurityProtocol] = None,
        kafka_sasl_mechanism: Optional[str] = None,
        kafka_sasl_username: Optional[str] = None,
        kafka_sasl_password: Optional[str] = None,
        kafka_ssl_ca_location: Optional[str] = None,
        default_rules: bool = True,
        bus_capacity: int = 20000,
        batch_size: Optional[int] = None,
        retention: Optional[RetentionPolicy] = None,
        retention_interval_s: Optional[float] = None,
    ) -> None:
        """Opens (and migrates) the store; ``kafka_*`` arguments need
        ``kafka_bootstrap_servers`` (ValidationError naming it otherwise). ``retention``: days
        each kind is kept (absent: for ever), applied at ``start()`` and every
        ``retention_interval_s`` (default 3600)."""
    def add_rule(self, name: str, function: Callable[[Dict[str, Any]], RuleResult]) -> None:
        """Adds a Python alert rule (before ``start()``, ConflictError after); one alert per
        episode."""
    def add_rule_config(self, config: RuleConfig) -> None:
        """Adds a built-in rule described as a dict (before ``start()``, ConflictError after);
        a bad configuration raises ValidationError naming the field."""
    def start(self) -> Awaitable[None]:
        """Connects the transport and starts ingesting; ConflictError when started."""
    def close(self) -> Awaitable[Optional[Dict[str, Any]]]:
        """Stops the simulators, drains and stops the engine; returns the final pipeline
        counters (``None`` if it was not running)."""
    def publish(self, readings: Iterable[Any]) -> Awaitable[int]:
        """Validates and publishes a batch (dicts or ``vehicleops.Telemetry``)."""
    def publish_raw(self, payloads: Iterable[bytes]) -> Awaitable[int]:
        """Publishes raw JSON payloads; invalid ones are dead-lettered, not raised."""
    def flush(self) -> Awaitable[None]:
        """Waits until everything published so far is stored."""
    def stats(self) -> Dict[str, Any]:
        """Pipeline counters plus ``published`` and ``rule_errors`` (failed Python rule calls)."""
    def subscribe(self, fleet_id: str = "*") -> Subscription: ...
    def subscriber_count(self) -> int: ...
    def snapshot(self, fleet_id: str) -> List[Dict[str, Any]]: ...
    def register_fleet(self, fleet_id: str, name: Optional[str] = None) -> Awaitable[Dict[str, Any]]:
        """Registers or renames a fleet (name defaults to the id); returns ``{"id", "name"}``."""
    def register_vehicle(
        self,
        vehicle_id: str,
        fleet_id: str,
        name: Optional[str] = None,
        home: Optional[GeoPoint] = None,
    ) -> Awaitable[Dict[str, Any]]:
        """Registers or updates a vehicle of an existing fleet (NotFoundError otherwise); a
        ``name`` or ``home`` not given keeps the stored one. Returns the vehicle."""
    def list_fleets(self) -> Awaitable[List[Dict[str, Any]]]: ...
    def list_vehicles(self, fleet_id: str) -> Awaitable[List[Dict[str, Any]]]: ...
    def fleet_summary(self, fleet_id: str) -> Awaitable[Dict[str, Any]]: ...
    def vehicle_capabilities(self, vehicle_id: str) -> Awaitable[Optional[Dict[str, Any]]]: ...
    def latest(self, vehicle_id: str) -> Awaitable[Optional[Dict[str, Any]]]: ...
    def history(
        self, vehicle_id: str, start: TimeBound = None, end: TimeBound = None, limit: int = 1000
    ) -> Awaitable[List[Dict[str, Any]]]: ...
    def vehicle_path(
        self,
        vehicle_id: str,
        start: Union[str, datetime],
        end: Union[str, datetime],
        tolerance_m: float = 2.0,
    ) -> Awaitable[Dict[str, Any]]:
        """The path a vehicle drove between ``start`` and ``end`` (at most 7 days apart), for
        replaying a trip: ``readings`` stored in the window and ``points`` (oldest first),
        simplified so that no reading lies farther than ``tolerance_m`` metres from the path
        (0 keeps all), keeping every change of status and the window's ends."""
    def fleet_at(self, fleet_id: str, at: Union[str, datetime]) -> Awaitable[Dict[str, Any]]:
        """A fleet as it was at ``at``: ``vehicles`` (each one's last reading by then) and
        ``open_alerts`` (triggered by then, not yet cleared)."""
    def apply_retention(self) -> Awaitable[Dict[str, int]]:
        """Removes now what is past the retention policy; returns what went by kind
        (``telemetry_rows``, ``telemetry_partitions``, ``rollups``, ``alerts``, ``commands``,
        ``missions``)."""
    def retention_stats(self) -> Dict[str, Any]:
        """``runs``, ``failures``, ``last_run_at`` and ``removed`` (by kind) since opening."""
    def export(
        self,
        kind: Literal["telemetry", "alerts", "commands", "missions"],
        fleet_id: str,
        path: Union[str, PathLike[str]],
        start: Union[str, datetime],
        end: Union[str, datetime],
        vehicle_id: Optional[str] = None,
        format: Optional[Literal["csv", "parquet"]] = None,
    ) -> Awaitable[int]:
        """Writes a fleet's ``kind`` records between ``start`` and ``end`` (at most 366 days
        apart) to ``path`` as CSV or Parquet (``format``, else the file's extension), only
        ``vehicle_id``'s when given; returns the number of records. Read back with
        ``pyarrow.parquet.read_table`` or ``pandas.read_csv``."""
    def audit_log(
        self,
        *,
        start: TimeBound = None,
        end: TimeBound = None,
        fleet_id: Optional[str] = None,
        actor: Optional[str] = None,
        action: Optional[str] = None,
        limit: int = 100,
    ) -> Awaitable[List[Dict[str, Any]]]:
        """The audit trail, newest first (``id``, ``at``, ``actor``, ``action``, ``fleet_id``,
        ``vehicle_id``, ``target_id``, ``source``, ``detail``): commands, missions and alert
        acknowledgements made through this engine, and what :meth:`record_audit` added. The
        window defaults to the last day (at most 366 days); ``action`` is e.g.
        ``"COMMAND_DISPATCHED"``; at most ``limit`` entries (1000)."""
    def record_audit(
        self,
        actor: str,
        action: str,
        *,
        fleet_id: Optional[str] = None,
        vehicle_id: Optional[str] = None,
        target_id: Optional[str] = None,
        source: Optional[str] = None,
        detail: str = "",
    ) -> Awaitable[None]:
        """Adds an entry to the audit trail for what the host application does itself, e.g.
        ``record_audit(user, "LOGIN_SUCCEEDED", source=client_ip)``."""
    def fleet_report(
        self,
        fleet_id: str,
        start: Union[str, date],
        end: Union[str, date],
        vehicle_id: Optional[str] = None,
        utc_offset_minutes: int = 0,
    ) -> Awaitable[Dict[str, Any]]:
        """The fleet's daily report from day ``start`` to day ``end`` (both included, at most
        366 days; ``datetime.date`` or ``"YYYY-MM-DD"``) on the calendar of a site
        ``utc_offset_minutes`` ahead of UTC: ``fleet``, ``fleet_days``, ``vehicles`` and ``days``
        (per vehicle and day), each with ``readings``, ``distance_km``, ``driving_s``,
        ``idle_s``, ``stopped_s``, ``charging_s``, ``other_s``, ``avg_speed_kmh``,
        ``max_speed_kmh``, ``alerts``, ``alerts_by_type`` and ``missions_completed``."""
    def export_report(
        self,
        fleet_id: str,
        path: Union[str, PathLike[str]],
        start: Union[str, date],
        end: Union[str, date],
        vehicle_id: Optional[str] = None,
        utc_offset_minutes: int = 0,
        format: Optional[Literal["csv", "parquet"]] = None,
    ) -> Awaitable[int]:
        """Writes :meth:`fleet_report`'s per-vehicle days to ``path`` as CSV or Parquet
        (``format``, else the file's extension); returns the number of rows."""
    def vehicle_summary(
        self, vehicle_id: str, start: TimeBound = None, end: TimeBound = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def series(
        self,
        vehicle_id: str,
        metric: Metric,
        bucket_minutes: float = 5.0,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> Awaitable[List[Dict[str, Any]]]: ...
    def fleet_performance(
        self, fleet_id: str, start: TimeBound = None, end: TimeBound = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def alerts(
        self,
        *,
        fleet_id: Optional[str] = None,
        vehicle_id: Optional[str] = None,
        severity: Optional[Severity] = None,
        acknowledged: Optional[bool] = None,
        limit: int = 100,
    ) -> Awaitable[List[Dict[str, Any]]]: ...
    def acknowledge_alert(
        self, alert_id: str, by: str, notes: Optional[str] = None
    ) -> Awaitable[Dict[str, Any]]: ...
    def dispatch_command(
        self,
        vehicle_id: str,
        command: CommandName,
        *,
        waypoints: Optional[List[Waypoint]] = None,
        reason: Optional[str] = None,
        issued_by: str = "python",
        idempotency_key: Optional[str] = None,
    ) -> Awaitable[Dict[str, Any]]:
        """Dispatches a command; returns it DISPATCHED, with ``expires_at`` (a vehicle that
        receives it later refuses it: EXPIRED). With ``idempotency_key`` (1 to 200 printable
        ASCII characters, ValidationError otherwise) a retry by the same ``issued_by`` returns
        the original command and sends nothing; ConflictError if the key was used for a
        different command."""
    def get_command(self, command_id: str) -> Awaitable[Dict[str, Any]]: ...
    def command_history(self, vehicle_id: str, limit: int = 20) -> Awaitable[List[Dict[str, Any]]]: ...
    def create_mission(
        self,
        fleet_id: str,
        vehicle_id: str,
        waypoints: List[Waypoint],
        *,
        mission_type: MissionType = "DELIVERY",
        priority: MissionPriority = "NORMAL",
        issued_by: str = "python",
    ) -> Awaitable[Dict[str, Any]]:
        """Creates a mission and sends its route to the vehicle (a REROUTE issued by
        ``issued_by``); ConflictError if the vehicle already has an active one."""
    def get_mission(self, mission_id: str) -> Awaitable[Dict[str, Any]]: ...
    def cancel_mission(self, mission_id: str, issued_by: str = "python") -> Awaitable[Dict[str, Any]]:
        """Cancels an active mission and stops its vehicle (a STOP issued by ``issued_by``)."""
    def list_missions(
        self,
        *,
        fleet_id: Optional[str] = None,
        vehicle_id: Optional[str] = None,
        status: Optional[MissionStatus] = None,
        limit: int = 100,
    ) -> Awaitable[List[Dict[str, Any]]]:
        """Missions, newest first; ``limit=0`` for all."""
    def run_simulator(
        self,
        *,
        vehicles: int = 20,
        scenario: Scenario = "normal",
        seed: int = 42,
        interval_ms: int = 500,
        fleet_id: str = "fleet-demo-001",
        area: Area = "bogota",
        max_ticks: Optional[int] = None,
    ) -> Awaitable[SimulatorRun]: ...
