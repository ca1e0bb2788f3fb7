"""Type stubs of the native module ``vehicleops._vehicleops``."""

from __future__ import annotations

from datetime import datetime
from os import PathLike
from types import TracebackType
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Literal, Mapping, Optional, Type, Union

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
Waypoint = Mapping[str, float]
"""``{"latitude": ..., "longitude": ..., "order": ...}`` (order optional)."""

RuleResult = Optional[Mapping[str, Any]]
"""``None`` for a fine reading; for a violating one a dict with any of alert_type, severity,
value, threshold, message."""

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
    """A running simulator; ``await run.stop()`` ends it."""

    @property
    def fleet_id(self) -> str: ...
    @property
    def vehicle_ids(self) -> List[str]: ...
    @property
    def finished(self) -> bool: ...
    def stop(self) -> Awaitable[Dict[str, int]]:
        """Stops the run; returns ``{"ticks", "readings", "commands"}``."""

class Engine:
    """The engine: store (SQLite file or memory, or PostgreSQL), bus (in-process, or Kafka),
    pipeline and rules, live hub, commands, missions and simulator."""

    def __init__(
        self,
        path: Union[str, PathLike[str], None] = None,
        *,
        database_url: Optional[str] = None,
        kafka_bootstrap_servers: Optional[str] = None,
        kafka_group_id: Optional[str] = None,
        kafka_topic_suffix: Optional[str] = None,
        default_rules: bool = True,
        bus_capacity: int = 20000,
        batch_size: Optional[int] = None,
    ) -> None: ...
    def add_rule(self, name: str, function: Callable[[Dict[str, Any]], RuleResult]) -> None:
        """Adds a Python alert rule (before ``start()``); one alert per episode."""
    def start(self) -> Awaitable[None]: ...
    def close(self) -> Awaitable[Optional[Dict[str, Any]]]:
        """Drains and stops the engine; returns the final pipeline counters."""
    def publish(self, readings: Iterable[Any]) -> Awaitable[int]:
        """Validates and publishes a batch (dicts or ``vehicleops.Telemetry``)."""
    def publish_raw(self, payloads: Iterable[bytes]) -> Awaitable[int]:
        """Publishes raw JSON payloads; invalid ones are dead-lettered, not raised."""
    def flush(self) -> Awaitable[None]:
        """Waits until everything published so far is stored."""
    def stats(self) -> Dict[str, Any]: ...
    def subscribe(self, fleet_id: str = "*") -> Subscription: ...
    def subscriber_count(self) -> int: ...
    def snapshot(self, fleet_id: str) -> List[Dict[str, Any]]: ...
    def register_fleet(self, fleet_id: str, name: Optional[str] = None) -> Awaitable[None]: ...
    def register_vehicle(
        self, vehicle_id: str, fleet_id: str, name: Optional[str] = None
    ) -> Awaitable[None]: ...
    def fleet_summary(self, fleet_id: str) -> Awaitable[Dict[str, Any]]: ...
    def latest(self, vehicle_id: str) -> Awaitable[Optional[Dict[str, Any]]]: ...
    def history(
        self, vehicle_id: str, start: TimeBound = None, end: TimeBound = None, limit: int = 1000
    ) -> Awaitable[List[Dict[str, Any]]]: ...
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
    ) -> Awaitable[Dict[str, Any]]: ...
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
    ) -> Awaitable[Dict[str, Any]]: ...
    def get_mission(self, mission_id: str) -> Awaitable[Dict[str, Any]]: ...
    def cancel_mission(self, mission_id: str) -> Awaitable[Dict[str, Any]]: ...
    def run_simulator(
        self,
        *,
        vehicles: int = 10,
        scenario: Scenario = "normal",
        seed: int = 42,
        interval_ms: int = 500,
        fleet_id: str = "fleet-demo-001",
        area: Area = "bogota",
        max_ticks: Optional[int] = None,
    ) -> Awaitable[SimulatorRun]: ...
