"""Live subscriptions as async iterators, and alert rules written in Python."""

import asyncio
import gc

import pytest

import vehicleops
from conftest import FLEET, eventually, reading


async def next_event(sub, of_type):
    async for event in sub:
        if event["type"] == of_type:
            return event
    raise AssertionError(f"subscription ended before a {of_type} event")


async def test_async_for_receives_vehicle_updates(engine):
    sub = engine.subscribe(FLEET)
    await engine.publish([reading("VH-1", 0, speed_kmh=12.5)])
    event = await next_event(sub, "update")
    assert event["data"]["vehicle_id"] == "VH-1"
    assert event["data"]["speed_kmh"] == 12.5
    assert engine.snapshot(FLEET)[0]["vehicle_id"] == "VH-1"
    sub.close()


async def test_close_ends_a_pending_iteration(engine):
    sub = engine.subscribe(FLEET)
    pending = asyncio.ensure_future(sub.__anext__())
    await asyncio.sleep(0.05)
    assert not pending.done()
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await pending
    assert sub.closed
    await eventually("the hub forgot the subscription", _count_is(engine, 0))


async def test_async_with_and_garbage_collection_unsubscribe(engine):
    async with engine.subscribe(FLEET) as sub:
        assert engine.subscriber_count() == 1
        await engine.publish([reading("VH-1", 0)])
        assert (await next_event(sub, "update"))["data"]["seq"] == 0
    assert engine.subscriber_count() == 0

    engine.subscribe(FLEET)  # dropped at once
    gc.collect()
    assert engine.subscriber_count() == 0


async def test_engine_close_ends_subscriptions():
    e = vehicleops.Engine()
    await e.start()
    sub = e.subscribe("*")
    await e.close()
    events = [ev async for ev in sub]
    assert all(ev["type"] != "alert" for ev in events)


def _count_is(engine, n):
    async def check():
        return engine.subscriber_count() == n

    return check


def too_fast(r):
    if r["speed_kmh"] > 50:
        return {
            "alert_type": "TOO_FAST",
            "severity": "HIGH",
            "value": r["speed_kmh"],
            "threshold": 50.0,
            "message": f"{r['vehicle_id']} at {r['speed_kmh']} km/h",
        }
    return None


async def test_python_rule_raises_one_alert_per_episode():
    engine = vehicleops.Engine(default_rules=False)
    engine.add_rule("too-fast", too_fast)
    await engine.start()
    live = engine.subscribe(FLEET)
    # Two episodes: 60, 70, 65 and later 55; each cleared by the next slow reading.
    pattern = [10, 60, 70, 65, 20, 30, 55, 10]
    await engine.publish([reading("VH-1", s, speed_kmh=float(v)) for s, v in enumerate(pattern)])
    await engine.flush()

    alerts = await engine.alerts(fleet_id=FLEET)
    assert [a["alert_type"] for a in alerts] == ["TOO_FAST", "TOO_FAST"]
    oldest = alerts[-1]
    assert (oldest["severity"], oldest["value"], oldest["threshold"]) == ("HIGH", 60.0, 50.0)
    assert oldest["message"] == "VH-1 at 60.0 km/h"
    assert all(a["cleared_at"] is not None for a in alerts)
    stats = engine.stats()
    assert (stats["alerts_raised"], stats["alerts_cleared"], stats["rule_errors"]) == (2, 2, 0)

    first = await next_event(live, "alert")
    assert first["data"]["alert_type"] == "TOO_FAST"

    acked = await engine.acknowledge_alert(oldest["id"], "op-001", "checked")
    assert acked["acknowledged"] and acked["acknowledged_by"] == "op-001"
    assert len(await engine.alerts(acknowledged=False)) == 1
    trail = await engine.audit_log(action="ALERT_ACKNOWLEDGED")
    assert [(e["actor"], e["target_id"], e["detail"]) for e in trail] == [
        ("op-001", oldest["id"], "TOO_FAST: checked")
    ]
    with pytest.raises(vehicleops.NotFoundError):
        await engine.acknowledge_alert("alert-404", "op-001")
    live.close()
    await engine.close()


async def test_a_failing_python_rule_is_counted_and_ingest_goes_on():
    engine = vehicleops.Engine(default_rules=False)
    engine.add_rule("broken", lambda r: 1 / 0)
    await engine.start()
    await engine.publish([reading("VH-1", s) for s in range(5)])
    await engine.flush()
    stats = engine.stats()
    assert (stats["stored"], stats["rule_errors"]) == (5, 5)
    await engine.close()


ERROR_SPEED = 99.0


def too_fast_or_broken(r):
    """TOO_FAST above 50 km/h, but raises at exactly ERROR_SPEED."""
    if r["speed_kmh"] == ERROR_SPEED:
        raise RuntimeError("sensor glitch")
    return too_fast(r)


async def test_an_exception_leaves_the_episode_as_it_was():
    engine = vehicleops.Engine(default_rules=False)
    engine.add_rule("too-fast", too_fast_or_broken)
    await engine.start()
    e = ERROR_SPEED
    # VH-1: an exception neither clears the open episode (70 is still the same one) nor raises
    # a closed one; 20 clears it. VH-2: the episode is still open after the exception.
    pattern = {"VH-1": [10, 60, e, 70, e, 20, e, 20], "VH-2": [60, e]}
    await engine.publish(
        [
            reading(vehicle, s, speed_kmh=float(v))
            for vehicle, speeds in pattern.items()
            for s, v in enumerate(speeds)
        ]
    )
    await engine.flush()

    stats = engine.stats()
    assert (stats["alerts_raised"], stats["alerts_cleared"], stats["rule_errors"]) == (2, 1, 4)
    [first] = await engine.alerts(vehicle_id="VH-1")
    assert (first["alert_type"], first["value"]) == ("TOO_FAST", 60.0)
    assert first["cleared_at"] is not None
    [second] = await engine.alerts(vehicle_id="VH-2")
    assert second["cleared_at"] is None, "an exception does not clear an open episode"
    await engine.close()


def fast_or_slow(r):
    if r["speed_kmh"] > 50:
        return {"alert_type": "TOO_FAST", "value": r["speed_kmh"]}
    if r["speed_kmh"] < 5:
        return {"alert_type": "TOO_SLOW", "severity": "LOW", "value": r["speed_kmh"]}
    return None


async def test_a_change_of_alert_type_clears_one_episode_and_raises_the_other():
    engine = vehicleops.Engine(default_rules=False)
    engine.add_rule("pace", fast_or_slow)
    await engine.start()
    await engine.publish(
        [reading("VH-1", s, speed_kmh=float(v)) for s, v in enumerate([60, 2, 3, 20])]
    )
    await engine.flush()

    stats = engine.stats()
    assert (stats["alerts_raised"], stats["alerts_cleared"]) == (2, 2)
    slow, fast = await engine.alerts(vehicle_id="VH-1")
    assert (fast["alert_type"], fast["severity"], fast["value"]) == ("TOO_FAST", "MEDIUM", 60.0)
    assert fast["message"] == "TOO_FAST raised by rule pace"
    assert (slow["alert_type"], slow["severity"], slow["value"]) == ("TOO_SLOW", "LOW", 2.0)
    assert fast["cleared_at"] == slow["triggered_at"], "the new type ends the old episode"
    assert slow["cleared_at"] is not None
    await engine.close()


async def test_default_rules_raise_overspeed(engine):
    await engine.publish([reading("VH-9", s, speed_kmh=v) for s, v in enumerate([40.0, 95.0, 96.0])])
    await engine.flush()
    alerts = await engine.alerts(vehicle_id="VH-9")
    # One episode, one alert. (The 2024 timestamps also make OFFLINE fire on the wall clock.)
    overspeed = [a for a in alerts if a["alert_type"] == "OVERSPEED"]
    assert len(overspeed) == 1 and overspeed[0]["value"] == 95.0


async def test_a_cancelled_wait_leaves_the_subscription_usable(engine):
    sub = engine.subscribe(FLEET)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(sub.__anext__(), 0.05)
    await engine.publish([reading("VH-1", 0)])
    assert (await next_event(sub, "update"))["data"]["vehicle_id"] == "VH-1"
    sub.close()


async def test_waits_cancelled_while_events_arrive_lose_nothing(engine):
    # Each round cancels a pending wait at a varying point around the event's arrival: the
    # event is either not taken yet or handed back, so the next wait always receives it.
    sub = engine.subscribe(FLEET)
    for seq in range(60):
        pending = asyncio.ensure_future(sub.__anext__())
        await engine.publish([reading("VH-1", seq)])
        for _ in range(seq % 4):
            await asyncio.sleep(0)
        event = None if pending.cancel() else pending.result()
        if event is None or event["type"] != "update":  # OFFLINE alerts may come in between
            event = await next_event(sub, "update")
        assert event["data"]["seq"] == seq
    sub.close()
