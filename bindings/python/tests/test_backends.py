"""The engine on PostgreSQL and on Kafka: run when the test command provides the servers
(VEHICLEOPS_TEST_DATABASE_URL, VEHICLEOPS_TEST_KAFKA), skipped otherwise."""

from __future__ import annotations

import json
import os
import uuid

import pytest

import vehicleops
from conftest import eventually, reading

DATABASE_URL = os.environ.get("VEHICLEOPS_TEST_DATABASE_URL")
KAFKA = os.environ.get("VEHICLEOPS_TEST_KAFKA")
needs_postgres = pytest.mark.skipif(not DATABASE_URL, reason="VEHICLEOPS_TEST_DATABASE_URL not set")
needs_kafka = pytest.mark.skipif(not KAFKA, reason="VEHICLEOPS_TEST_KAFKA not set")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def kafka_options() -> dict:
    run = uuid.uuid4().hex
    return {
        "kafka_bootstrap_servers": KAFKA,
        "kafka_group_id": f"vehicleops-py-test.{run}",
        "kafka_topic_suffix": f"py-test.{run}",
    }


@needs_postgres
async def test_postgres_store_keeps_readings_and_alerts_across_engines():
    vehicle, fleet = unique("PY-PG"), unique("fleet-pg")
    engine = vehicleops.Engine(database_url=DATABASE_URL)
    await engine.start()
    speeds = [40.0, 95.0, 96.0, 50.0]
    await engine.publish(
        [reading(vehicle, s, fleet_id=fleet, speed_kmh=v) for s, v in enumerate(speeds)]
    )
    await engine.flush()
    await engine.close()

    # A second engine on the same database sees what the first one stored.
    again = vehicleops.Engine(database_url=DATABASE_URL)
    await again.start()
    rows = await again.history(vehicle, "2024-02-15T13:00:00Z", "2024-02-15T15:00:00Z")
    assert [r["speed_kmh"] for r in rows] == speeds
    overspeed = [a for a in await again.alerts(vehicle_id=vehicle) if a["alert_type"] == "OVERSPEED"]
    assert len(overspeed) == 1 and overspeed[0]["value"] == 95.0
    await again.close()


def test_a_database_url_and_a_path_together_are_refused(tmp_path):
    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.Engine(tmp_path / "fleet.db", database_url="postgres://nowhere/db")
    assert e.value.field == "database_url"


def test_kafka_options_without_bootstrap_servers_are_refused():
    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.Engine(kafka_topic_suffix="x")
    assert e.value.field == "kafka_bootstrap_servers"


def test_an_unreachable_database_is_a_backend_error():
    with pytest.raises(vehicleops.BackendError) as e:
        vehicleops.Engine(database_url="postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2")
    assert e.value.kind == "BACKEND_ERROR"


@needs_kafka
async def test_kafka_bus_carries_readings_raw_payloads_and_commands():
    engine = vehicleops.Engine(**kafka_options())
    await engine.start()
    vehicle = unique("PY-KAFKA")
    await engine.publish([reading(vehicle, s) for s in range(5)])
    good = json.dumps(reading(vehicle, 5)).encode()
    await engine.publish_raw([good, b'{"vehicle_id": "broken"}'])
    await engine.flush()
    rows = await engine.history(vehicle, "2024-02-15T13:00:00Z", "2024-02-15T15:00:00Z")
    assert [r["seq"] for r in rows] == list(range(6))
    assert engine.stats()["dead_lettered"] == 1

    # Commands travel over the Kafka command topics to the simulator and back.
    run = await engine.run_simulator(vehicles=2, interval_ms=50, seed=3)
    target = run.vehicle_ids[0]

    async def reporting():
        return await engine.latest(target) is not None

    await eventually("the simulated vehicle reports over Kafka", reporting, attempts=1200)
    cmd = await engine.dispatch_command(target, "STOP", reason="kafka test")

    async def executed():
        return (await engine.get_command(cmd["id"]))["status"] == "EXECUTED"

    await eventually("STOP is executed over Kafka", executed, attempts=1200)
    await run.stop()
    await engine.close()


@needs_postgres
@needs_kafka
async def test_kafka_into_postgres():
    engine = vehicleops.Engine(database_url=DATABASE_URL, **kafka_options())
    await engine.start()
    vehicle = unique("PY-BOTH")
    await engine.publish([reading(vehicle, s) for s in range(100)])
    await engine.flush()
    summary = await engine.vehicle_summary(vehicle, "2024-02-15T13:00:00Z", "2024-02-15T15:00:00Z")
    assert summary["total_readings"] == 100
    await engine.close()
