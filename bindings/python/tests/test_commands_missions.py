"""Commands through the simulator, and missions with their conflicts."""

import pytest

import vehicleops
from conftest import FLEET, eventually, reading


async def test_a_retry_with_the_same_idempotency_key_returns_the_original_command(engine):
    await engine.register_fleet("idem", "Idempotency")
    await engine.register_vehicle("idem-VH-1", "idem")
    first = await engine.dispatch_command(
        "idem-VH-1", "STOP", reason="retry", issued_by="op-001", idempotency_key="stop-idem-0001"
    )
    assert first["idempotency_key"] == "stop-idem-0001"
    assert first["expires_at"] > first["issued_at"]
    retry = await engine.dispatch_command(
        "idem-VH-1", "STOP", reason="retry", issued_by="op-001", idempotency_key="stop-idem-0001"
    )
    assert retry["id"] == first["id"]
    history = await engine.command_history("idem-VH-1")
    assert [c["id"] for c in history] == [first["id"]]

    with pytest.raises(vehicleops.ConflictError):
        await engine.dispatch_command(
            "idem-VH-1", "RESUME", issued_by="op-001", idempotency_key="stop-idem-0001"
        )
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.dispatch_command("idem-VH-1", "STOP", idempotency_key="x" * 201)
    assert e.value.field == "idempotency_key"
    assert len(await engine.command_history("idem-VH-1")) == 1


async def test_stop_reaches_executed_with_the_simulator(engine):
    run = await engine.run_simulator(vehicles=3, scenario="high-load", interval_ms=20, seed=7)
    assert run.vehicle_ids == [f"{run.fleet_id}-VH-00{i}" for i in (1, 2, 3)]
    vehicle = run.vehicle_ids[0]
    live = engine.subscribe(run.fleet_id)

    async def moving():
        t = await engine.latest(vehicle)
        return t is not None and t["speed_kmh"] > 5

    await eventually("the vehicle moves", moving)

    with pytest.raises(vehicleops.NotFoundError):
        await engine.dispatch_command(f"{run.fleet_id}-VH-404", "STOP")
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.dispatch_command(vehicle, "JUMP")
    assert e.value.field == "command"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.dispatch_command(vehicle, "REROUTE")
    assert e.value.field == "params.waypoints"

    cmd = await engine.dispatch_command(vehicle, "STOP", reason="inspection", issued_by="op-001")
    assert (cmd["status"], cmd["command"], cmd["issued_by"]) == ("DISPATCHED", "STOP", "op-001")

    async def executed():
        return (await engine.get_command(cmd["id"]))["status"] == "EXECUTED"

    await eventually("STOP is executed", executed)

    async def standing():
        t = await engine.latest(vehicle)
        return t["speed_kmh"] == 0.0 and t["status"] == "STOPPED"

    await eventually("the vehicle reports standing still", standing)

    history = await engine.command_history(vehicle)
    assert history[0]["id"] == cmd["id"]

    seen = []
    async for event in live:
        if event["type"] == "command" and event["data"]["id"] == cmd["id"]:
            seen.append(event["data"]["status"])
            if seen[-1] == "EXECUTED":
                break
    assert seen == ["DISPATCHED", "DELIVERED", "EXECUTED"]
    live.close()

    report = await run.stop()
    assert report["commands"] >= 1 and report["readings"] > 0
    assert run.finished
    with pytest.raises(vehicleops.ClosedError):
        await run.stop()

    summary = await engine.fleet_summary(run.fleet_id)
    assert summary["total_vehicles"] == 3


async def test_simulator_options_are_validated(engine):
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.run_simulator(scenario="chaos")
    assert e.value.field == "scenario"


async def test_a_second_active_mission_is_a_conflict(engine):
    await engine.register_fleet(FLEET, "Industrial Zone A")
    await engine.register_vehicle("VH-1", FLEET)
    waypoints = [{"latitude": 4.712, "longitude": -74.071}, {"latitude": 4.713, "longitude": -74.070}]
    mission = await engine.create_mission(FLEET, "VH-1", waypoints, priority="HIGH")
    assert (mission["status"], mission["priority"]) == ("ASSIGNED", "HIGH")
    assert [w["order"] for w in mission["waypoints"]] == [1, 2]

    with pytest.raises(vehicleops.ConflictError) as e:
        await engine.create_mission(FLEET, "VH-1", waypoints)
    assert e.value.kind == "CONFLICT"
    assert isinstance(e.value, vehicleops.VehicleOpsError)

    with pytest.raises(vehicleops.NotFoundError):
        await engine.create_mission("fleet-002", "VH-1", waypoints)
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.create_mission(FLEET, "VH-1", [])
    assert e.value.field == "waypoints"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.create_mission(FLEET, "VH-1", waypoints, mission_type="PARTY")
    assert e.value.field == "mission_type"

    assert (await engine.get_mission(mission["id"]))["id"] == mission["id"]
    cancelled = await engine.cancel_mission(mission["id"])
    assert cancelled["status"] == "CANCELLED"
    with pytest.raises(vehicleops.InvalidTransitionError):
        await engine.cancel_mission(mission["id"])
    with pytest.raises(vehicleops.NotFoundError):
        await engine.get_mission("mission-404")
    # The vehicle is free again.
    await engine.create_mission(FLEET, "VH-1", waypoints)


async def test_mission_progress_comes_from_telemetry(engine):
    await engine.register_fleet(FLEET)
    await engine.register_vehicle("VH-1", FLEET)
    start = reading("VH-1", 0)
    target = {"latitude": start["latitude"] + 0.001, "longitude": start["longitude"]}
    mission = await engine.create_mission(FLEET, "VH-1", [target])
    await engine.publish([reading("VH-1", 0), reading("VH-1", 1, latitude=target["latitude"])])
    await engine.flush()

    async def completed():
        return (await engine.get_mission(mission["id"]))["status"] == "COMPLETED"

    await eventually("the mission completes", completed)
