"""Shared helpers for the binding's tests (run by scripts/test.sh against the installed wheel)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, List

import pytest

import vehicleops

FLEET = "fleet-001"
T0 = datetime(2024, 2, 15, 14, 0, 0, tzinfo=timezone.utc)


def reading(vehicle_id: str = "VH-1", second: int = 0, **fields: Any) -> Dict[str, Any]:
    """A valid reading `second` seconds after T0, with `fields` overriding the defaults."""
    r: Dict[str, Any] = {
        "vehicle_id": vehicle_id,
        "fleet_id": FLEET,
        "latitude": 4.711 + second * 1e-5,
        "longitude": -74.0721,
        "speed_kmh": 30.0,
        "battery_pct": 80.0,
        "engine_temp_c": 70.0,
        "load_pct": 50.0,
        "status": "MOVING",
        "timestamp": (T0 + timedelta(seconds=second)).isoformat(),
        "seq": second,
    }
    r.update(fields)
    return r


async def eventually(what: str, check: Callable[[], Awaitable[bool]], attempts: int = 400) -> None:
    """Polls `check` until it holds; the bound only keeps a broken build from hanging."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"gave up waiting for: {what}")


@pytest.fixture
async def engine():
    e = vehicleops.Engine()
    await e.start()
    yield e
    await e.close()


def speeds(rows: List[Dict[str, Any]]) -> List[float]:
    return [r["speed_kmh"] for r in rows]
