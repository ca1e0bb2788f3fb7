"""Ingest throughput through the Python binding's batch API, next to the same engine fed from
Rust (its built-in simulator), in one run.

    python bench_ingest.py [--readings 200000] [--batch 5000] [--vehicles 100] [--db PATH]

Use a release build of the wheel (scripts/bench.sh builds one). Both figures are readings per
second from the first publish until every reading is stored in SQLite (end to end through
validation, the default alert rules, the live hub and the store). The Python figure includes
building nothing: the readings are prepared as dicts before the clock starts, so it measures
crossing the boundary plus ingest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import datetime, timedelta, timezone

import vehicleops

FLEET = "fleet-bench"


def make_readings(n: int, vehicles: int):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        v, tick = i % vehicles, i // vehicles
        out.append(
            {
                "vehicle_id": f"{FLEET}-VH-{v:04d}",
                "fleet_id": FLEET,
                "latitude": 4.70 + v * 1e-3 + tick * 1e-6,
                "longitude": -74.07 + tick * 1e-6,
                "speed_kmh": 20.0 + (tick % 40),
                "battery_pct": 90.0 - (tick % 50) * 0.1,
                "engine_temp_c": 70.0 + (tick % 10),
                "load_pct": 40.0,
                "status": "MOVING",
                "timestamp": (t0 + timedelta(seconds=tick)).isoformat(),
                "seq": tick,
            }
        )
    return out


def engine_for(db: str | None, name: str) -> vehicleops.Engine:
    if db is None:
        return vehicleops.Engine()
    return vehicleops.Engine(os.path.join(db, f"{name}.db"))


async def python_batches(readings, batch: int, db: str | None) -> float:
    engine = engine_for(db, "python")
    await engine.start()
    started = time.perf_counter()
    for i in range(0, len(readings), batch):
        await engine.publish(readings[i : i + batch])
    await engine.flush()
    elapsed = time.perf_counter() - started
    stats = await engine.close()
    assert stats["stored"] == len(readings), stats
    return len(readings) / elapsed


async def rust_simulator(target: int, vehicles: int, db: str | None) -> float:
    """The same engine fed by its Rust simulator: no Python in the ingest path. With 1 ms ticks
    and enough vehicles the simulator produces faster than the pipeline ingests, so this is the
    embedded pipeline's own rate."""
    engine = engine_for(db, "rust")
    await engine.start()
    run = await engine.run_simulator(
        vehicles=vehicles, interval_ms=1, scenario="high-load", fleet_id=FLEET
    )
    started = time.perf_counter()
    while engine.stats()["stored"] < target:
        await asyncio.sleep(0.01)
    stored = engine.stats()["stored"]
    elapsed = time.perf_counter() - started
    await run.stop()
    await engine.close()
    return stored / elapsed


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readings", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=5_000)
    p.add_argument("--vehicles", type=int, default=100)
    p.add_argument("--sim-vehicles", type=int, default=2_000, help="vehicles of the Rust run")
    p.add_argument("--db", choices=["memory", "file"], default="memory")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = tmp if args.db == "file" else None
        readings = make_readings(args.readings, args.vehicles)
        py_rate = await python_batches(readings, args.batch, db)
        rust_rate = await rust_simulator(args.readings, args.sim_vehicles, db)

    print(f"vehicleops {vehicleops.__version__} · Python {platform.python_version()} · "
          f"{os.cpu_count()} CPUs · SQLite {args.db} · {args.readings} readings, "
          f"{args.vehicles} vehicles, default rules")
    print(f"{'path':<48} {'readings/s':>12}")
    print(f"{'Python batch publish (' + str(args.batch) + '/call) -> stored':<48} {py_rate:>12,.0f}")
    print(f"{'Rust simulator in the same engine -> stored':<48} {rust_rate:>12,.0f}")
    print(f"{'Python / Rust':<48} {py_rate / rust_rate:>12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
