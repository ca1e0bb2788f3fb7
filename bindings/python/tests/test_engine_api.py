"""What the binding gained with the shared engine: rules from configuration, registration and
listing of fleets and vehicles, mission listing, missions driven by the simulator, cancelling
that stops the vehicle, and the Kafka security options."""

from __future__ import annotations

from datetime import timedelta

import pytest

import vehicleops
from conftest import FLEET, T0, eventually, reading

OVERLOAD = {
    "type": "threshold",
    "alert_type": "OVERLOAD",
    "metric": "load_pct",
    "comparison": "above",
    "threshold": 90,
    "severity": "HIGH",
    "message": "{vehicle_id} loaded to {value}",
}


async def test_a_threshold_rule_from_configuration_raises_an_alert():
    engine = vehicleops.Engine(default_rules=False)
    engine.add_rule_config(OVERLOAD)
    await engine.start()
    loads = [50.0, 95.0, 97.0, 40.0]
    await engine.publish([reading("VH-1", s, load_pct=v) for s, v in enumerate(loads)])
    await engine.flush()

    alerts = await engine.alerts(vehicle_id="VH-1")
    assert [a["alert_type"] for a in alerts] == ["OVERLOAD"]
    alert = alerts[0]
    assert (alert["severity"], alert["value"], alert["threshold"]) == ("HIGH", 95.0, 90.0)
    assert alert["message"].startswith("VH-1 loaded to 95")
    assert alert["cleared_at"] is not None
    stats = engine.stats()
    assert (stats["alerts_raised"], stats["alerts_cleared"]) == (1, 1)
    await engine.close()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"threshold": None}, "threshold"),  # missing
        ({"threshold": "high"}, "threshold"),  # wrong type
        ({"threshold": float("nan")}, "threshold"),  # refused when the rule is built
        ({"metric": "altitude"}, "metric"),
        ({"comparison": "sideways"}, "comparison"),
        ({"clear_threshold": 95}, "clear_threshold"),
        ({"treshold": 5}, "treshold"),  # unknown field
        ({"type": "teleport"}, "type"),
        ({"type": None}, "type"),
    ],
)
def test_a_bad_rule_configuration_names_the_field(change, field):
    config = {**OVERLOAD, **change}
    config = {k: v for k, v in config.items() if v is not None}
    engine = vehicleops.Engine()
    with pytest.raises(vehicleops.ValidationError) as e:
        engine.add_rule_config(config)
    assert e.value.field == field
    assert e.value.kind == "UNPROCESSABLE"


def test_a_nested_rule_configuration_error_names_its_path():
    engine = vehicleops.Engine()
    bad_fence = {
        "type": "geofence",
        "fences": [{"id": "depot", "shape": {"type": "circle", "center": [4.7, -74.0]}}],
    }
    with pytest.raises(vehicleops.ValidationError) as e:
        engine.add_rule_config(bad_fence)
    assert e.value.field.startswith("fences[0].shape")
    with pytest.raises(vehicleops.ValidationError) as e:
        engine.add_rule_config(["not", "a", "dict"])
    assert e.value.field == "config"
    # Every kind of rule is accepted.
    engine.add_rule_config({"type": "offline", "timeout_secs": 45})
    engine.add_rule_config(
        {"type": "rate_of_change", "metric": "battery_pct", "direction": "falling",
         "max_rate_per_sec": 0.05}
    )
    engine.add_rule_config(
        {"type": "geofence", "fences": [{"id": "pump", "shape": {
            "type": "circle", "center": {"latitude": 4.71, "longitude": -74.07}, "radius_m": 50}}]}
    )


async def test_rules_from_configuration_are_fixed_once_started(engine):
    with pytest.raises(vehicleops.ConflictError):
        engine.add_rule_config(OVERLOAD)


async def test_fleets_and_vehicles_are_registered_and_listed(engine):
    assert await engine.list_fleets() == []
    assert await engine.register_fleet(FLEET, "Industrial Zone A") == {
        "id": FLEET,
        "name": "Industrial Zone A",
    }
    assert (await engine.register_fleet("fleet-002"))["name"] == "fleet-002"
    await engine.register_vehicle("VH-1", FLEET, "Forklift 1")
    await engine.register_vehicle("VH-2", FLEET)
    await engine.register_vehicle("VH-9", "fleet-002")

    fleets = await engine.list_fleets()
    assert sorted(f["id"] for f in fleets) == [FLEET, "fleet-002"]
    vehicles = await engine.list_vehicles(FLEET)
    assert sorted(v["id"] for v in vehicles) == ["VH-1", "VH-2"]
    assert {v["id"]: v["name"] for v in vehicles}["VH-1"] == "Forklift 1"
    assert await engine.list_vehicles("fleet-404") == []

    with pytest.raises(vehicleops.NotFoundError):
        await engine.register_vehicle("VH-3", "fleet-404")
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.register_fleet("  ")
    assert e.value.field == "fleet_id"
    summary = await engine.fleet_summary(FLEET)
    assert (summary["fleet_name"], summary["total_vehicles"]) == ("Industrial Zone A", 2)
    # In-process vehicles describe no capabilities (VDA 5050 ones send a factsheet).
    assert await engine.vehicle_capabilities("VH-1") is None


async def test_a_vehicle_home_is_kept_across_updates(engine):
    await engine.register_fleet(FLEET)
    home = {"latitude": 4.7110, "longitude": -74.0721}
    vehicle = await engine.register_vehicle("VH-1", FLEET, home=home)
    assert vehicle["home"] == home
    # Renaming without a home keeps the stored one.
    renamed = await engine.register_vehicle("VH-1", FLEET, name="Tug 1")
    assert (renamed["name"], renamed["home"]) == ("Tug 1", home)
    (listed,) = await engine.list_vehicles(FLEET)
    assert (listed["name"], listed["home"]) == ("Tug 1", home)

    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.register_vehicle("VH-2", FLEET, home={"latitude": 4.7})
    assert e.value.field == "home"


async def test_missions_are_listed_by_fleet_vehicle_and_status(engine):
    await engine.register_fleet(FLEET)
    await engine.register_fleet("fleet-002")
    for vehicle, fleet in (("VH-1", FLEET), ("VH-2", FLEET), ("VH-9", "fleet-002")):
        await engine.register_vehicle(vehicle, fleet)
    route = [{"latitude": 4.712, "longitude": -74.071}]
    first = await engine.create_mission(FLEET, "VH-1", route)
    second = await engine.create_mission(FLEET, "VH-2", route, mission_type="PICKUP")
    other = await engine.create_mission("fleet-002", "VH-9", route)
    await engine.cancel_mission(first["id"])

    def ids(missions):
        return sorted(m["id"] for m in missions)

    assert ids(await engine.list_missions()) == ids([first, second, other])
    assert ids(await engine.list_missions(fleet_id=FLEET)) == ids([first, second])
    assert ids(await engine.list_missions(vehicle_id="VH-9")) == [other["id"]]
    assert ids(await engine.list_missions(status="CANCELLED")) == [first["id"]]
    assigned = await engine.list_missions(fleet_id=FLEET, status="ASSIGNED")
    assert [(m["id"], m["mission_type"]) for m in assigned] == [(second["id"], "PICKUP")]
    assert len(await engine.list_missions(limit=1)) == 1
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.list_missions(status="LOST")
    assert e.value.field == "status"


async def _position(engine, vehicle):
    """The vehicle's newest stored position, once it reported one."""
    latest = {}

    async def reported():
        t = await engine.latest(vehicle)
        if t is not None:
            latest.update(t)
        return t is not None

    await eventually(f"{vehicle} reports", reported, attempts=2000)
    return latest["latitude"], latest["longitude"]


async def test_the_simulator_drives_a_mission_to_completion(engine):
    run = await engine.run_simulator(vehicles=2, interval_ms=100, seed=11)
    vehicle = run.vehicle_ids[0]
    lat, lon = await _position(engine, vehicle)
    # Two waypoints about 100 m apart, the first about 100 m from the vehicle: a couple of
    # hundred metres at the simulator's 20-60 km/h, well inside its operating area.
    route = [
        {"latitude": lat + 0.0009, "longitude": lon},
        {"latitude": lat + 0.0009, "longitude": lon + 0.0009},
    ]
    mission = await engine.create_mission(run.fleet_id, vehicle, route, issued_by="dispatcher")
    assert mission["status"] == "ASSIGNED"

    # The engine sent the route to the vehicle.
    (reroute,) = [c for c in await engine.command_history(vehicle) if c["command"] == "REROUTE"]
    assert reroute["issued_by"] == "dispatcher"
    assert [(w["latitude"], w["longitude"]) for w in reroute["params"]["waypoints"]] == [
        (w["latitude"], w["longitude"]) for w in route
    ]

    statuses = set()

    async def completed():
        m = await engine.get_mission(mission["id"])
        statuses.add(m["status"])
        return m["status"] == "COMPLETED"

    # The bound only keeps a broken build from hanging (pytest's timeout is 120 s).
    await eventually("the simulated vehicle completes its mission", completed, attempts=4000)
    assert "FAILED" not in statuses and "CANCELLED" not in statuses
    assert (await engine.get_command(reroute["id"]))["status"] == "EXECUTED"
    done = await engine.list_missions(vehicle_id=vehicle, status="COMPLETED")
    assert [m["id"] for m in done] == [mission["id"]]


async def test_cancelling_a_mission_stops_the_vehicle(engine):
    run = await engine.run_simulator(vehicles=2, interval_ms=100, seed=5)
    vehicle = run.vehicle_ids[1]
    lat, lon = await _position(engine, vehicle)
    far = [{"latitude": lat + 0.02, "longitude": lon}]
    mission = await engine.create_mission(run.fleet_id, vehicle, far)
    cancelled = await engine.cancel_mission(mission["id"], issued_by="op-007")
    assert cancelled["status"] == "CANCELLED"

    history = await engine.command_history(vehicle)
    (stop,) = [c for c in history if c["command"] == "STOP"]
    assert [c["command"] for c in history].count("REROUTE") == 1
    assert stop["issued_by"] == "op-007"
    assert mission["id"] in stop["params"]["reason"]

    async def stopped():
        command = await engine.get_command(stop["id"])
        t = await engine.latest(vehicle)
        return command["status"] == "EXECUTED" and t["status"] == "STOPPED"

    await eventually("the vehicle of the cancelled mission stands still", stopped, attempts=2000)
    with pytest.raises(vehicleops.InvalidTransitionError):
        await engine.cancel_mission(mission["id"])


def test_kafka_security_options_are_checked_when_the_engine_is_made():
    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.Engine(kafka_sasl_username="fleet")
    assert e.value.field == "kafka_bootstrap_servers"
    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.Engine(kafka_bootstrap_servers="localhost:9092", kafka_security_protocol="smoke")
    assert e.value.field == "kafka_security_protocol"
    with pytest.raises(vehicleops.ConfigError) as e:
        vehicleops.Engine(kafka_bootstrap_servers="localhost:9092", kafka_security_protocol="SASL_SSL")
    assert "SASL mechanism" in str(e.value)
    # A complete configuration makes an engine; the brokers are contacted only by start().
    engine = vehicleops.Engine(
        kafka_bootstrap_servers="localhost:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="fleet",
        kafka_sasl_password="secret",
        kafka_ssl_ca_location="/etc/ssl/certs/ca.pem",
    )
    assert "started=False" in repr(engine)


async def test_a_path_replays_the_drive_and_a_snapshot_shows_the_fleet_then(engine):
    # Ten readings along a straight line, 1.1 m apart; over the speed limit at 3 and 4, IDLE
    # at 7.
    rows = [
        reading(
            "VH-1",
            s,
            speed_kmh=95.0 if s in (3, 4) else 30.0,
            status="IDLE" if s == 7 else "MOVING",
        )
        for s in range(10)
    ]
    await engine.publish(rows + [reading("VH-2", 2)])
    await engine.flush()

    path = await engine.vehicle_path("VH-1", T0, T0 + timedelta(minutes=1), tolerance_m=1.0)
    assert path["readings"] == 10
    # Each reading's latitude says which second it is.
    assert [round((p["latitude"] - 4.711) / 1e-5) for p in path["points"]] == [0, 7, 8, 9]
    assert path["points"][1]["status"] == "IDLE"
    end = (T0 + timedelta(minutes=1)).isoformat()
    everything = await engine.vehicle_path("VH-1", T0.isoformat(), end, tolerance_m=0)
    assert len(everything["points"]) == 10
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.vehicle_path("VH-1", T0, T0 + timedelta(days=8))
    assert e.value.field == "from"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.vehicle_path("VH-1", T0, T0 + timedelta(minutes=1), tolerance_m=-1)
    assert e.value.field == "tolerance_m"

    during = await engine.fleet_at(FLEET, T0 + timedelta(seconds=4))
    assert [(v["vehicle_id"], v["seq"]) for v in during["vehicles"]] == [("VH-1", 4), ("VH-2", 2)]
    # The readings are from 2024: an offline sweep that runs meanwhile (a slow machine) marks the
    # vehicles OFFLINE as of then, which is right and not what this checks.
    def raised(snapshot):
        return [a["alert_type"] for a in snapshot["open_alerts"] if a["alert_type"] != "OFFLINE"]

    assert raised(during) == ["OVERSPEED"]
    after = await engine.fleet_at(FLEET, (T0 + timedelta(seconds=6)).isoformat())
    assert raised(after) == []
    assert (await engine.fleet_at(FLEET, T0 - timedelta(seconds=1)))["vehicles"] == []
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.fleet_at(FLEET, "yesterday")
    assert e.value.field == "at"


async def test_exports_write_csv_and_parquet_that_pyarrow_reads_back(engine, tmp_path):
    import csv

    import pyarrow.parquet as pq

    await engine.register_fleet(FLEET)
    rows = [reading("VH-1", s, speed_kmh=95.0 if s in (3, 4) else 30.0) for s in range(10)]
    await engine.publish(rows + [reading("VH-2", 2)])
    await engine.flush()
    start, end = T0, T0 + timedelta(minutes=1)

    written = await engine.export("telemetry", FLEET, tmp_path / "t.parquet", start, end)
    assert written == 11
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == 11
    assert table.column_names[:4] == ["vehicle_id", "fleet_id", "timestamp", "seq"]
    assert table.column("vehicle_id").to_pylist() == ["VH-1"] * 10 + ["VH-2"]
    assert table.column("seq").to_pylist()[:10] == list(range(10))
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert table.column("timestamp").to_pylist()[0] == T0

    # One vehicle, as CSV by the file's name; alerts by the explicit format.
    path = str(tmp_path / "vh2.csv")
    assert await engine.export("telemetry", FLEET, path, start, end, vehicle_id="VH-2") == 1
    with open(path, newline="") as f:
        [row] = list(csv.DictReader(f))
    assert (row["vehicle_id"], row["seq"]) == ("VH-2", "2")
    n = await engine.export("alerts", FLEET, tmp_path / "a.out", start, end, format="parquet")
    alerts = pq.read_table(tmp_path / "a.out")
    assert n == alerts.num_rows == 1
    assert alerts.column("alert_type").to_pylist() == ["OVERSPEED"]

    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.export("audit", FLEET, tmp_path / "x.csv", start, end)
    assert e.value.field == "kind"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.export("alerts", FLEET, tmp_path / "x.xlsx", start, end)
    assert e.value.field == "format"
    with pytest.raises(vehicleops.NotFoundError):
        await engine.export("alerts", "fleet-404", tmp_path / "x.csv", start, end)
    assert not (tmp_path / "x.csv").exists()


async def test_fleet_report_adds_up_days_and_export_report_writes_them(engine, tmp_path):
    import pyarrow.parquet as pq

    await engine.register_fleet(FLEET)
    rows = [reading("VH-1", s, speed_kmh=95.0 if s == 3 else 30.0) for s in range(10)]
    await engine.publish(rows + [reading("VH-2", 2, status="CHARGING", speed_kmh=0.0)])
    await engine.flush()
    day = T0.date()

    async def alert_counted():
        return (await engine.fleet_report(FLEET, day, day))["fleet"]["alerts"] >= 1

    await eventually("the alert is stored", alert_counted)
    report = await engine.fleet_report(FLEET, day, day)
    assert report["from"] == day.isoformat()
    fleet = report["fleet"]
    assert fleet["readings"] == 11
    assert fleet["max_speed_kmh"] == 95.0
    # (An offline sweep may add OFFLINE alerts for these 2024 readings on a slow machine.)
    assert fleet["alerts_by_type"]["OVERSPEED"] == 1
    assert fleet["driving_s"] > 0 and fleet["charging_s"] > 0
    assert [v["vehicle_id"] for v in report["vehicles"]] == ["VH-1", "VH-2"]
    # Strings work as days, and one vehicle's report holds only its days.
    one = await engine.fleet_report(FLEET, day.isoformat(), day.isoformat(), vehicle_id="VH-2")
    assert [d["vehicle_id"] for d in one["days"]] == ["VH-2"]

    rows_written = await engine.export_report(FLEET, tmp_path / "r.parquet", day, day)
    table = pq.read_table(tmp_path / "r.parquet")
    assert rows_written == table.num_rows == 2
    assert table.column("vehicle_id").to_pylist() == ["VH-1", "VH-2"]
    assert table.column("readings").to_pylist() == [10, 1]

    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.fleet_report(FLEET, T0, day)
    assert e.value.field == "start", "a datetime is not a day"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.fleet_report(FLEET, day, day, utc_offset_minutes=-900)
    assert e.value.field == "utc_offset_minutes"
    with pytest.raises(vehicleops.NotFoundError):
        await engine.export_report("fleet-404", tmp_path / "x.csv", day, day)
    assert not (tmp_path / "x.csv").exists()


async def test_record_audit_and_read_the_trail_back(engine):
    await engine.record_audit("user-1", "LOGIN_SUCCEEDED", source="10.1.2.3")
    await engine.record_audit("user-2", "LOGIN_FAILED", detail="x" * 600)
    trail = await engine.audit_log()
    assert [e["action"] for e in trail] == ["LOGIN_FAILED", "LOGIN_SUCCEEDED"], "newest first"
    assert len(trail[0]["detail"]) == 500, "a long detail is cut"
    assert (trail[1]["actor"], trail[1]["source"]) == ("user-1", "10.1.2.3")
    assert [e["actor"] for e in await engine.audit_log(actor="user-1")] == ["user-1"]
    assert await engine.audit_log(fleet_id=FLEET) == [], "logins have no fleet"
    assert len(await engine.audit_log(limit=1)) == 1
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.record_audit("user-1", "LOGOUT")
    assert e.value.field == "action"
    with pytest.raises(vehicleops.ValidationError) as e:
        await engine.audit_log(start=T0, end=T0 + timedelta(days=400))
    assert e.value.field == "from"


async def test_retention_runs_at_start_and_on_demand():
    from datetime import datetime, timezone

    engine = vehicleops.Engine(retention={"telemetry_days": 7, "rollup_days": 30})
    now = datetime.now(timezone.utc)
    old = reading("VH-1", 0, timestamp=(now - timedelta(days=10)).isoformat())
    new = reading("VH-1", 1, timestamp=(now - timedelta(days=1)).isoformat())
    await engine.start()
    await engine.publish([old, new])
    await engine.flush()
    report = await engine.apply_retention()
    assert report["telemetry_rows"] <= 1
    assert set(report) >= {"rollups", "alerts", "commands", "missions"}

    # The run at start is scheduled as the engine starts and may come after the readings on a
    # busy machine: whichever run removed the old reading, it went once.
    async def removed_once() -> bool:
        return engine.retention_stats()["removed"]["telemetry_rows"] == 1

    await eventually("the old reading removed once", removed_once)
    rows = await engine.history("VH-1", now - timedelta(days=30), now)
    assert [r["seq"] for r in rows] == [1]
    stats = engine.retention_stats()
    assert stats["runs"] >= 2
    assert stats["last_run_at"] is not None
    await engine.close()

    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.Engine(retention={"telemetry_days": 30, "rollup_days": 7})
    assert e.value.field == "rollup_days"
    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.Engine(retention={"telemetry_dayz": 7})
    assert e.value.field == "retention"
