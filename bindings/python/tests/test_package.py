"""The installed package: wheel layout, decoding and typed exceptions."""

import json
import os
import sys

import pytest

import vehicleops
from conftest import reading


def test_is_imported_from_the_installed_wheel():
    # scripts/test.sh installs the wheel into a fresh virtualenv; the source tree is not used.
    assert os.path.realpath(vehicleops.__file__).startswith(os.path.realpath(sys.prefix))
    native = vehicleops._vehicleops.__file__
    assert native.endswith(".abi3.so"), native
    assert os.path.exists(os.path.join(os.path.dirname(vehicleops.__file__), "py.typed"))
    assert os.path.exists(os.path.join(os.path.dirname(vehicleops.__file__), "_vehicleops.pyi"))


def test_exception_hierarchy():
    for cls in (
        vehicleops.ValidationError,
        vehicleops.NotFoundError,
        vehicleops.ConflictError,
        vehicleops.BackendError,
        vehicleops.ClosedError,
        vehicleops.ConfigError,
    ):
        assert issubclass(cls, vehicleops.VehicleOpsError)
    assert issubclass(vehicleops.InvalidTransitionError, vehicleops.ConflictError)
    assert issubclass(vehicleops.VehicleOpsError, Exception)


def test_decode_telemetry_returns_the_reading():
    payload = json.dumps(reading(speed_kmh=42.5)).encode()
    t = vehicleops.decode_telemetry(payload)
    assert t["speed_kmh"] == 42.5
    assert t["status"] == "MOVING"
    assert t["timestamp"] == "2024-02-15T14:00:00Z"
    assert vehicleops.decode_telemetry(payload.decode())["vehicle_id"] == "VH-1"


@pytest.mark.parametrize(
    "payload, field",
    [
        (json.dumps(reading(latitude=91.0)), "latitude"),
        (json.dumps(reading(battery_pct="full")), "battery_pct"),
        (json.dumps(reading(status="FLYING")), "status"),
        ("not json", "payload"),
        # Cut off inside a value: the error names the field being read.
        ('{"vehicle_id": ', "vehicle_id"),
    ],
)
def test_decode_telemetry_names_the_bad_field(payload, field):
    with pytest.raises(vehicleops.ValidationError) as e:
        vehicleops.decode_telemetry(payload.encode())
    assert e.value.field == field
    assert e.value.kind == "UNPROCESSABLE"
    assert field in str(e.value)


async def test_methods_before_start_raise_closed():
    engine = vehicleops.Engine()
    with pytest.raises(vehicleops.ClosedError):
        await engine.publish([reading()])
    with pytest.raises(vehicleops.ClosedError):
        await engine.dispatch_command("VH-1", "STOP")


async def test_rules_are_fixed_once_started(engine):
    # The engine refuses a rule for a running pipeline as a conflict with its state.
    with pytest.raises(vehicleops.ConflictError):
        engine.add_rule("late", lambda r: None)
    with pytest.raises(vehicleops.ValidationError) as e:
        engine.add_rule("not-callable", 42)
    assert e.value.field == "function"
