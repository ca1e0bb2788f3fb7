"""The load harness through the Python binding: a fixed offered rate of readings for a while,
publish → live update latency, sustained stored rate, and a loss / duplicate check.

    python bench_load.py [--rate 10000] [--seconds 10] [--vehicles 1000]
                         [--database-url URL] [--kafka HOST:PORT] [--report out.json] [--smoke]

The engine is embedded (SQLite in memory, in-process bus) unless `--database-url` (PostgreSQL)
and/or `--kafka` are given; then readings go Python → Kafka → pipeline → PostgreSQL → live hub,
like `vehicleops-load` (benches/) does with the reference server. Every reading carries its
publish time as its timestamp; the latency is live-update receive time minus that timestamp
(the hub coalesces updates per vehicle for a slow reader, so only delivered updates count).
After the run every vehicle's stored count must equal what was published for it: the exit code
is 1 when a reading was lost or stored twice. `--smoke` runs 3 s at 500 readings/s and checks
only that (CI runs it; it never asserts a timing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from datetime import datetime, timezone

import vehicleops


# Publish calls outstanding at once.
MAX_IN_FLIGHT = 16


def percentile(sorted_ms: list[float], p: float) -> float | None:
    if not sorted_ms:
        return None
    return sorted_ms[min(len(sorted_ms) - 1, int(p / 100 * len(sorted_ms)))]


async def run(args: argparse.Namespace) -> dict:
    run_id = uuid.uuid4().hex[:8]
    fleet = f"load-py-{run_id}"
    options: dict = {}
    if args.database_url:
        options["database_url"] = args.database_url
    if args.kafka:
        options.update(
            kafka_bootstrap_servers=args.kafka,
            kafka_group_id=f"vehicleops-load-py.{run_id}",
            kafka_topic_suffix=f"load-py.{run_id}",
        )
    engine = vehicleops.Engine(**options)
    await engine.start()
    vehicles = [f"{fleet}-VH-{v:05d}" for v in range(args.vehicles)]
    published = {v: 0 for v in vehicles}
    latencies: list[float] = []
    live = engine.subscribe(fleet)

    async def receive() -> None:
        async for event in live:
            if event["type"] == "update":
                sent = datetime.fromisoformat(event["data"]["timestamp"].replace("Z", "+00:00"))
                latencies.append((datetime.now(timezone.utc) - sent).total_seconds() * 1000)

    # A probe first, so the clock starts once the bus is ready (a Kafka consumer group joins
    # in seconds) rather than measuring that start as latency.
    probe = {"vehicle_id": vehicles[0], "fleet_id": fleet, "latitude": 4.70, "longitude": -74.07,
             "speed_kmh": 0.0, "battery_pct": 80.0, "engine_temp_c": 70.0, "load_pct": 0.0,
             "status": "IDLE", "timestamp": datetime.now(timezone.utc).isoformat(), "seq": 0}
    await engine.publish([probe])
    published[vehicles[0]] += 1
    async for event in live:
        if event["type"] == "update":
            break
    receiver = asyncio.ensure_future(receive())
    tick = 0.01
    per_tick = max(1, round(args.rate * tick))
    total_ticks = int(args.seconds / tick)
    started = time.perf_counter()
    sent = 1  # the probe
    behind = 0
    in_flight: list[asyncio.Future] = []
    for t in range(total_ticks):
        now = datetime.now(timezone.utc).isoformat()
        batch = []
        for i in range(per_tick):
            v = vehicles[(sent - 1 + i) % len(vehicles)]
            published[v] += 1
            batch.append(
                {
                    "vehicle_id": v, "fleet_id": fleet, "latitude": 4.70, "longitude": -74.07,
                    "speed_kmh": 30.0, "battery_pct": 80.0, "engine_temp_c": 70.0,
                    "load_pct": 40.0, "status": "MOVING", "timestamp": now,
                    "seq": published[v],
                }
            )
        # Several batches in flight, like a gateway would: a Kafka publish waits for the
        # brokers' acknowledgement (linger + acks=all), which must not pace the offered rate.
        in_flight.append(asyncio.ensure_future(engine.publish(batch)))
        if len(in_flight) > MAX_IN_FLIGHT:
            await in_flight.pop(0)
        sent += per_tick
        delay = started + (t + 1) * tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            behind += 1
    for pending in in_flight:
        await pending
    publish_seconds = time.perf_counter() - started
    await engine.flush()
    stored_seconds = time.perf_counter() - started
    stats = engine.stats()
    live.close()
    await receiver

    # Loss and duplicates: every vehicle's stored rows against what was published for it.
    mismatched = {}
    for v, n in published.items():
        rows = (await engine.vehicle_summary(v, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"))[
            "total_readings"
        ]
        if rows != n:
            mismatched[v] = {"published": n, "stored": rows}
    await engine.close()

    latencies.sort()
    return {
        "harness": "bindings/python/scripts/bench_load.py",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": ("kafka" if args.kafka else "in-process") + " + "
        + ("postgresql" if args.database_url else "sqlite-memory"),
        "offered_rate": args.rate,
        "seconds": args.seconds,
        "vehicles": args.vehicles,
        "published": sent,
        "publish_rate": sent / publish_seconds,
        "stored": stats["stored"],
        "stored_rate": stats["stored"] / stored_seconds,
        "ticks_behind_schedule": behind,
        "latency_ms": {
            "updates": len(latencies),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "p999": percentile(latencies, 99.9),
            "max": latencies[-1] if latencies else None,
        },
        "duplicates": stats["duplicates"],
        "lost_or_duplicated_vehicles": mismatched,
        "ok": not mismatched and stats["duplicates"] == 0 and stats["stored"] == sent,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=10_000, help="offered readings per second")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    p.add_argument("--vehicles", type=int, default=1_000)
    p.add_argument("--database-url", help="PostgreSQL instead of SQLite in memory")
    p.add_argument("--kafka", help="Kafka bootstrap servers instead of the in-process bus")
    p.add_argument("--report", help="write the JSON report here")
    p.add_argument("--smoke", action="store_true", help="3 s at 500/s; check loss and duplicates only")
    args = p.parse_args()
    if args.smoke:
        args.rate, args.seconds, args.vehicles = 500, 3.0, 50
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    lat = report["latency_ms"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    print(f"{report['mode']}: offered {args.rate}/s for {args.seconds:g} s, "
          f"{report['vehicles']} vehicles")
    print(f"  published {report['published']} ({report['publish_rate']:,.0f}/s), "
          f"stored {report['stored']} ({report['stored_rate']:,.0f}/s end to end)")
    print(f"  publish → live update ms: p50 {fmt(lat['p50'])}, p99 {fmt(lat['p99'])}, "
          f"p99.9 {fmt(lat['p999'])}, max {fmt(lat['max'])} over {lat['updates']} updates")
    print(f"  lost or duplicated: {'none' if report['ok'] else report['lost_or_duplicated_vehicles']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
