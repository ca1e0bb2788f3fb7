"""VehicleOps for Python: monitor and control fleets of autonomous industrial vehicles.

A thin, idiomatic layer over the Rust SDK's engine (the one the reference server runs). The
:class:`Engine` runs the whole system in your process -- SQLite store (in memory or a file),
in-process bus, ingest pipeline with the built-in alert rules, rules from configuration
(``add_rule_config``) and your own Python rules (``add_rule``), live updates, commands, missions
and a fleet simulator -- with ``asyncio`` methods::

    import asyncio, vehicleops

    async def main():
        engine = vehicleops.Engine()
        await engine.start()
        run = await engine.run_simulator(vehicles=5, scenario="fault-injection")
        async with engine.subscribe("fleet-demo-001") as live:
            async for event in live:
                if event["type"] == "alert":
                    print(event["data"]["message"])
                    break
        await run.stop()
        await engine.close()

    asyncio.run(main())

Results are plain dicts and lists in the JSON shape of the REST API (timestamps are RFC 3339
strings). Errors are :class:`VehicleOpsError` subclasses with a ``kind`` code;
:class:`ValidationError` also names the offending ``field``.
"""

from __future__ import annotations

import atexit
import dataclasses
from datetime import datetime, timezone
from typing import Any, Dict, Optional, Union

from ._vehicleops import _shutdown
from ._vehicleops import (
    BackendError,
    ClosedError,
    ConfigError,
    ConflictError,
    Engine,
    InvalidTransitionError,
    NotFoundError,
    SimulatorRun,
    Subscription,
    ValidationError,
    VehicleOpsError,
    __version__,
    decode_telemetry,
)

__all__ = [
    "Engine",
    "SimulatorRun",
    "Subscription",
    "Telemetry",
    "decode_telemetry",
    "VehicleOpsError",
    "ValidationError",
    "NotFoundError",
    "ConflictError",
    "InvalidTransitionError",
    "BackendError",
    "ClosedError",
    "ConfigError",
    "__version__",
]

# Let awaitables that are completing on the runtime's threads finish before the interpreter
# tears down (see `_shutdown` in the native module).
atexit.register(_shutdown)


@dataclasses.dataclass
class Telemetry:
    """One reading of a vehicle, in the wire format's field names and units.

    ``Engine.publish`` takes these or plain dicts with the same keys. ``timestamp`` defaults to
    now (UTC); a naive ``datetime`` is rejected, since its time zone would be a guess.
    """

    vehicle_id: str
    fleet_id: str
    latitude: float
    longitude: float
    speed_kmh: float
    battery_pct: float
    engine_temp_c: float
    status: str = "MOVING"
    load_pct: float = 0.0
    heading_deg: float = 0.0
    seq: int = 0
    timestamp: Union[datetime, str] = dataclasses.field(
        default_factory=lambda: datetime.now(timezone.utc)
    )
    pose: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        """The reading as a dict with an RFC 3339 timestamp, ready to publish or serialize."""
        d = dataclasses.asdict(self)
        if isinstance(self.timestamp, datetime):
            d["timestamp"] = self.timestamp.isoformat()
        if self.pose is None:
            del d["pose"]
        return d
