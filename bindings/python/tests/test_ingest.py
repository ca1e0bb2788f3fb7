"""Publishing, validation at the boundary, analytics queries and the file store."""

from datetime import timedelta

import pytest

import vehicleops
from conftest import FLEET, T0, reading, speeds


async def test_batch_publish_then_analytics(engine):
    readings = [reading("VH-1", s, speed_kmh=float(s % 50)) for s in range(120)]
    readings += [reading("VH-2", s, speed_kmh=10.0) for s in range(60)]
    assert await engine.publish(readings) == 180
    await engine.flush()

    stats = engine.stats()
    assert (stats["published"], stats["stored"], stats["dead_lettered"]) == (180, 180, 0)

    latest = await engine.latest("VH-1")
    assert latest["seq"] == 119
    assert await engine.latest("VH-404") is None

    history = await engine.history("VH-1", limit=10_000)
    assert [r["seq"] for r in history] == list(range(120))
    window = await engine.history("VH-1", T0 + timedelta(seconds=10), T0 + timedelta(seconds=19))
    assert speeds(window) == [float(s) for s in range(10, 20)]
    assert len(await engine.history("VH-1", limit=5)) == 5

    summary = await engine.vehicle_summary("VH-1")
    assert summary["total_readings"] == 120
    assert summary["max_speed_kmh"] == 49.0
    assert summary["total_distance_km"] > 0

    # Two one-minute buckets of 60 readings each: speeds 0..49,0..9 and 10..49,0..19.
    series = await engine.series("VH-1", "speed_kmh", bucket_minutes=1)
    assert len(series) == 2
    assert series[0]["bucket"] == "2024-02-15T14:00:00Z"
    assert (series[0]["min_value"], series[0]["max_value"]) == (0.0, 49.0)
    assert series[0]["avg_value"] == pytest.approx((sum(range(50)) + sum(range(10))) / 60)

    report = await engine.fleet_performance(FLEET)
    assert [v["vehicle_id"] for v in report["vehicles"]] == ["VH-1", "VH-2"]


async def test_telemetry_objects_publish_like_dicts(engine):
    t = vehicleops.Telemetry(
        vehicle_id="VH-7",
        fleet_id=FLEET,
        latitude=4.7,
        longitude=-74.0,
        speed_kmh=12.0,
        battery_pct=55.0,
        engine_temp_c=60.0,
        timestamp=T0,
    )
    await engine.publish([t])
    await engine.flush()
    assert (await engine.latest("VH-7"))["battery_pct"] == 55.0


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"latitude": 123.0}, "latitude"),
        ({"speed_kmh": "fast"}, "speed_kmh"),
        ({"speed_kmh": float("nan")}, "speed_kmh"),
        ({"status": "FLYING"}, "status"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"fleet_id": ""}, "fleet_id"),
    ],
)
async def test_bad_reading_raises_validation_error_and_publishes_nothing(engine, bad, field):
    batch = [reading("VH-1", 0), reading("VH-1", 1, **bad)]
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.publish(batch)
    assert e.value.field == field
    assert engine.stats()["published"] == 0
    assert await engine.latest("VH-1") is None


async def test_missing_field_and_non_dict_readings(engine):
    r = reading()
    del r["battery_pct"]
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.publish([r])
    assert e.value.field == "battery_pct"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.publish(["not a reading"])
    assert e.value.field == "payload"


async def test_naive_datetimes_are_refused(engine):
    naive = T0.replace(tzinfo=None)
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.publish([reading(timestamp=naive)])
    assert e.value.field == "timestamp"
    await engine.publish([reading(timestamp=T0)])


async def test_raw_payloads_are_decoded_and_bad_ones_dead_lettered(engine):
    import json

    good = json.dumps(reading("VH-3", 0)).encode()
    await engine.publish_raw([good, b'{"vehicle_id": ', b"{}"])
    await engine.flush()
    stats = engine.stats()
    assert (stats["stored"], stats["dead_lettered"]) == (1, 2)


async def test_query_arguments_are_validated(engine):
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.series("VH-1", "altitude")
    assert e.value.field == "metric"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.series("VH-1", "speed_kmh", bucket_minutes=0)
    assert e.value.field == "bucket_minutes"
    with pytest.raises(vehicleops.ValidationError):
        await engine.history("VH-1", T0, T0 - timedelta(seconds=1))


async def test_file_engine_keeps_readings_across_engines(tmp_path):
    path = tmp_path / "fleet.db"
    first = vehicleops.Engine(path)
    await first.start()
    await first.publish([reading("VH-1", s) for s in range(10)])
    final = await first.close()
    assert final["stored"] == 10

    second = vehicleops.Engine(str(path))
    await second.start()
    assert (await second.latest("VH-1"))["seq"] == 9
    await second.close()
