"""The README quick start: simulator, a Python rule, live alerts, a STOP command, analytics.

    python bindings/python/examples/quickstart.py
"""

import asyncio
import vehicleops


def too_hot(reading):
    """A custom rule: None when fine, a dict describing the violation otherwise."""
    if reading["engine_temp_c"] > 95:
        return {"alert_type": "HOT_ENGINE", "severity": "HIGH",
                "value": reading["engine_temp_c"], "threshold": 95.0,
                "message": f"{reading['vehicle_id']} engine at {reading['engine_temp_c']} °C"}
    return None


async def aenumerate(iterator):
    n = 0
    async for item in iterator:
        yield n, item
        n += 1


async def main():
    engine = vehicleops.Engine()            # or Engine("fleet.db") for a file
    engine.add_rule("too-hot", too_hot)     # next to OVERSPEED, LOW_BATTERY, ENGINE_OVERHEAT, …
    await engine.start()

    run = await engine.run_simulator(vehicles=5, scenario="fault-injection", interval_ms=200)
    async with engine.subscribe(run.fleet_id) as live:
        async for n, event in aenumerate(live):  # {"type": "update" | "alert" | …, "data": {...}}
            if event["type"] == "alert":
                print("ALERT", event["data"]["alert_type"], event["data"]["message"])
            elif n % 25 == 0:
                print(event["data"]["vehicle_id"], event["data"]["speed_kmh"], "km/h")
            if n == 100:
                break

    vehicle = run.vehicle_ids[0]
    stop = await engine.dispatch_command(vehicle, "STOP", issued_by="op-001")
    print(stop["status"])                   # DISPATCHED → DELIVERED → EXECUTED

    print(await engine.vehicle_summary(vehicle))
    print(await engine.series(vehicle, "speed_kmh", bucket_minutes=1))
    print(await engine.fleet_performance(run.fleet_id))

    await run.stop()
    await engine.close()


asyncio.run(main())
