use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::geodesy;
use crate::inproc::{InProcessBus, TelemetryPublisher, VehicleCommandLink, command_channel};
use crate::model::{CommandParams, VehicleStatus, Waypoint};
use crate::traits::{CommandSink, SourceRecord, TelemetrySource};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 15, 14, 0, 0).unwrap()
}

fn config(vehicles: u32, scenario: Scenario, seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        vehicles,
        scenario,
        seed,
        ..SimulatorConfig::default()
    }
}

fn sim(vehicles: u32, scenario: Scenario) -> Simulator {
    Simulator::new(config(vehicles, scenario, 7)).unwrap()
}

/// Steps `ticks` times at the configured interval after the simulator's current tick count.
fn run(sim: &mut Simulator, ticks: u64) -> Vec<Vec<Telemetry>> {
    let interval = Duration::milliseconds(sim.config().interval_ms as i64);
    (0..ticks)
        .map(|_| {
            let now = t0() + interval * sim.ticks() as i32;
            sim.step(now)
        })
        .collect()
}

/// Steps until `done` holds for vehicle `i`'s reading, at most `limit` ticks; the readings seen.
fn run_until(
    sim: &mut Simulator,
    i: usize,
    limit: u64,
    done: impl Fn(&Telemetry) -> bool,
) -> Vec<Telemetry> {
    let mut seen = Vec::new();
    for _ in 0..limit {
        let r = run(sim, 1).remove(0).swap_remove(i);
        let stop = done(&r);
        seen.push(r);
        if stop {
            return seen;
        }
    }
    panic!(
        "condition not reached within {limit} ticks; last {:?}",
        seen.last()
    );
}

fn command(vehicle: &str, kind: CommandKind, waypoints: Vec<Waypoint>) -> Command {
    let mut c = Command::new(
        vehicle,
        "fleet-demo-001",
        CommandKind::Resume,
        CommandParams::default(),
        "op-001",
    )
    .unwrap();
    // Built by hand so tests can also send what `Command::new` would refuse.
    c.command = kind;
    c.params.waypoints = waypoints;
    c.issued_at = t0();
    c
}

fn statuses(acks: &[CommandAck]) -> Vec<CommandStatus> {
    acks.iter().map(|a| a.status).collect()
}

const VH1: &str = "fleet-demo-001-VH-001";

#[test]
fn same_seed_and_times_give_identical_readings() {
    for scenario in Scenario::ALL {
        let a = run(&mut Simulator::new(config(5, scenario, 11)).unwrap(), 300);
        let b = run(&mut Simulator::new(config(5, scenario, 11)).unwrap(), 300);
        assert_eq!(a, b, "{scenario}");
        let c = run(&mut Simulator::new(config(5, scenario, 12)).unwrap(), 300);
        assert_ne!(a, c, "{scenario}: another seed must give another fleet");
    }
}

#[test]
fn a_vehicle_does_not_depend_on_fleet_size() {
    let small = run(
        &mut Simulator::new(config(2, Scenario::Normal, 3)).unwrap(),
        50,
    );
    let large = run(
        &mut Simulator::new(config(9, Scenario::Normal, 3)).unwrap(),
        50,
    );
    for (s, l) in small.iter().zip(&large) {
        assert_eq!(s[..2], l[..2]);
    }
}

#[test]
fn every_reading_is_valid_and_carries_ids_seq_and_time() {
    for scenario in Scenario::ALL {
        let mut s = sim(20, scenario);
        let ticks = run(&mut s, 600);
        for (n, batch) in ticks.iter().enumerate() {
            assert_eq!(batch.len(), 20);
            for (i, r) in batch.iter().enumerate() {
                r.validate()
                    .unwrap_or_else(|e| panic!("{scenario} tick {n}: {e}: {r:?}"));
                assert_eq!(r.vehicle_id, format!("fleet-demo-001-VH-{:03}", i + 1));
                assert_eq!(r.fleet_id, "fleet-demo-001");
                assert_eq!(r.seq, n as u64 + 1);
                assert_eq!(r.timestamp, t0() + Duration::milliseconds(500 * n as i64));
            }
        }
    }
}

#[test]
fn motion_is_consistent_with_speed_and_heading() {
    for scenario in Scenario::ALL {
        let ticks = run(&mut sim(10, scenario), 1200);
        let mut moved = 0;
        for pair in ticks.windows(2) {
            for (prev, cur) in pair[0].iter().zip(&pair[1]) {
                let dt = (cur.timestamp - prev.timestamp).num_milliseconds() as f64 / 1000.0;
                let d = geodesy::distance_m(prev.position(), cur.position());
                let expected = cur.speed_kmh / 3.6 * dt;
                assert!(
                    (d - expected).abs() < 0.05,
                    "{scenario}: moved {d} m at {} km/h over {dt} s",
                    cur.speed_kmh
                );
                // Speed rises at most with the hardest acceleration (a faulty drive's 3 m/s²).
                assert!(
                    (cur.speed_kmh - prev.speed_kmh) / 3.6 <= 3.0 * dt + 1e-9,
                    "{scenario}: {} -> {} km/h",
                    prev.speed_kmh,
                    cur.speed_kmh
                );
                if d > 1.0 {
                    moved += 1;
                    let bearing = geodesy::bearing_deg(prev.position(), cur.position());
                    let off = (bearing - cur.heading_deg + 540.0).rem_euclid(360.0) - 180.0;
                    assert!(
                        off.abs() < 0.5,
                        "{scenario}: heading {} vs bearing {bearing}",
                        cur.heading_deg
                    );
                }
            }
        }
        assert!(moved > 5000, "{scenario}: vehicles barely moved ({moved})");
    }
}

#[test]
fn normal_operation_stays_in_the_area_at_urban_speeds_without_faults() {
    let area = Area::Bogota;
    let ticks = run(&mut sim(20, Scenario::Normal), 1200);
    let all: Vec<&Telemetry> = ticks.iter().flatten().collect();
    for r in &all {
        assert!(r.speed_kmh <= 60.0 + 1e-9, "{r:?}");
        assert!(r.engine_temp_c <= 100.0, "{r:?}");
        assert!(r.battery_pct >= 15.0, "{r:?}");
        assert_ne!(r.status, VehicleStatus::Alert);
        assert!(geodesy::distance_m(area.center(), r.position()) <= area.radius_m() + 1.0);
    }
    let cruising = all.iter().filter(|r| r.speed_kmh >= 20.0).count();
    assert!(
        cruising * 2 > all.len(),
        "most of the time vehicles should cruise"
    );
    // Loads change at waypoints, and vehicles slow down and dwell there.
    let loads: std::collections::HashSet<u64> = all.iter().map(|r| r.load_pct.to_bits()).collect();
    assert!(loads.len() > 40, "load changed only {} times", loads.len());
    assert!(all.iter().any(|r| r.status == VehicleStatus::Idle));
}

#[test]
fn high_load_runs_heavy_and_never_dwells() {
    let ticks = run(&mut sim(10, Scenario::HighLoad), 600);
    for r in ticks.iter().skip(20).flatten() {
        assert!(r.load_pct >= 60.0, "{r:?}");
        assert!(r.speed_kmh > 0.0, "a high-load vehicle never parks: {r:?}");
    }
}

#[test]
fn fault_injection_produces_episodes_of_every_kind_within_minutes() {
    let ticks = run(&mut sim(20, Scenario::FaultInjection), 1200);
    let alert_worthy =
        |r: &Telemetry| r.speed_kmh > 80.0 || r.engine_temp_c > 100.0 || r.battery_pct < 15.0;
    let first = ticks
        .iter()
        .position(|batch| batch.iter().any(alert_worthy))
        .expect("no fault at all");
    assert!(first <= 120, "first fault only after {} s", first / 2);

    // Episodes, not blips: count runs of consecutive ticks above a threshold per vehicle.
    let episodes = |over: fn(&Telemetry) -> bool, min_len: usize| {
        let mut count = 0;
        for i in 0..20 {
            let mut run_len = 0;
            for batch in &ticks {
                if over(&batch[i]) {
                    run_len += 1;
                } else {
                    count += usize::from(run_len >= min_len);
                    run_len = 0;
                }
            }
        }
        count
    };
    let overspeed = episodes(|r| r.speed_kmh > 80.0 && r.speed_kmh <= 120.0, 4);
    let overheat = episodes(|r| r.engine_temp_c > 100.0, 10);
    let battery = episodes(|r| r.battery_pct < 15.0, 4);
    assert!(overspeed >= 3, "overspeed episodes: {overspeed}");
    assert!(overheat >= 3, "overheat episodes: {overheat}");
    assert!(battery >= 3, "battery failures: {battery}");
    let flat: Vec<&Telemetry> = ticks.iter().flatten().collect();
    assert!(flat.iter().any(|r| r.status == VehicleStatus::Alert));
    assert!(flat.iter().any(|r| r.status == VehicleStatus::LowBattery));
    assert!(flat.iter().all(|r| r.speed_kmh <= 120.0));
}

#[test]
fn battery_drains_while_driving_and_charges_at_base() {
    let mut s = sim(1, Scenario::Normal);
    let driving = run(&mut s, 200);
    let batteries: Vec<f64> = driving.iter().map(|b| b[0].battery_pct).collect();
    assert!(batteries.windows(2).all(|w| w[1] <= w[0]));
    assert!(batteries[199] < batteries[0]);

    let acks = s.apply_command(&command(VH1, CommandKind::ReturnToBase, vec![]));
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Executed]
    );
    let home = s.home_of(VH1).unwrap();
    let trip = run_until(&mut s, 0, 5000, |r| r.status == VehicleStatus::Charging);
    let arrived = trip.last().unwrap();
    assert!(geodesy::distance_m(arrived.position(), home) < 0.01);
    let charging = run(&mut s, 20);
    for pair in charging.windows(2) {
        assert_eq!(pair[1][0].status, VehicleStatus::Charging);
        assert_eq!(pair[1][0].speed_kmh, 0.0);
        assert!(pair[1][0].battery_pct > pair[0][0].battery_pct);
    }
}

#[test]
fn a_charged_vehicle_leaves_the_charger_and_roams_again() {
    let mut s = sim(1, Scenario::Normal);
    s.apply_command(&command(VH1, CommandKind::ReturnToBase, vec![]));
    run_until(&mut s, 0, 50, |r| r.status == VehicleStatus::Charging);
    let left = run_until(&mut s, 0, 2000, |r| r.status == VehicleStatus::Moving);
    // It left once full: the first tick on the road used hardly any charge.
    assert!(left.last().unwrap().battery_pct >= 99.9);
    assert!(
        left[..left.len() - 1]
            .iter()
            .all(|r| r.status == VehicleStatus::Charging)
    );
}

#[test]
fn stop_halts_within_a_few_ticks_and_is_acknowledged_delivered_then_executed() {
    let mut s = sim(1, Scenario::Normal);
    let moving = run_until(&mut s, 0, 100, |r| r.speed_kmh > 30.0);
    assert!(moving.last().unwrap().speed_kmh > 30.0);

    let stop = command(VH1, CommandKind::Stop, vec![]);
    let acks = s.apply_command(&stop);
    assert_eq!(statuses(&acks), [CommandStatus::Delivered]);
    assert_eq!(acks[0].command_id, stop.id);
    let braking = run_until(&mut s, 0, 6, |r| r.speed_kmh == 0.0);
    assert_eq!(braking.last().unwrap().status, VehicleStatus::Stopped);
    let acks = s.drain_acks();
    assert_eq!(statuses(&acks), [CommandStatus::Executed]);
    assert_eq!(acks[0].at, braking.last().unwrap().timestamp);

    // It stays put until RESUME.
    let held = run(&mut s, 30);
    let at = braking.last().unwrap().position();
    assert!(held.iter().all(|b| b[0].position() == at
        && b[0].speed_kmh == 0.0
        && b[0].status == VehicleStatus::Stopped));
    let acks = s.apply_command(&command(VH1, CommandKind::Resume, vec![]));
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Executed]
    );
    run_until(&mut s, 0, 20, |r| {
        r.speed_kmh > 5.0 && r.status == VehicleStatus::Moving
    });
}

#[test]
fn stop_of_a_standing_vehicle_is_executed_at_once() {
    let mut s = sim(1, Scenario::Normal);
    let acks = s.apply_command(&command(VH1, CommandKind::Stop, vec![]));
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Executed]
    );
    assert_eq!(run(&mut s, 1)[0][0].status, VehicleStatus::Stopped);
}

#[test]
fn a_resume_overtaken_by_a_later_stop_does_not_undo_it() {
    let mut s = sim(1, Scenario::Normal);
    run(&mut s, 20);
    let mut resume = command(VH1, CommandKind::Resume, vec![]);
    let mut stop = command(VH1, CommandKind::Stop, vec![]);
    resume.issued_at = t0() + Duration::seconds(9);
    stop.issued_at = t0() + Duration::seconds(10);
    // The priority lane hands the STOP over first.
    s.apply_command(&stop);
    let acks = s.apply_command(&resume);
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Failed]
    );
    assert!(acks[1].reason.as_deref().unwrap().contains("superseded"));
    let after = run(&mut s, 10);
    assert_eq!(after[9][0].status, VehicleStatus::Stopped);
}

#[test]
fn a_command_arriving_after_its_expiry_is_refused_and_not_carried_out() {
    let mut s = sim(1, Scenario::Normal);
    // Under way at 20 ticks (10 s of simulated time).
    let before = run_until(&mut s, 0, 100, |r| r.speed_kmh > 20.0);
    let now = before.last().unwrap().timestamp;
    let mut stop = command(VH1, CommandKind::Stop, vec![]);
    stop.expires_at = Some(now - Duration::milliseconds(1));
    let acks = s.apply_command(&stop);
    assert_eq!(statuses(&acks), [CommandStatus::Expired]);
    assert_eq!(acks[0].command_id, stop.id);
    assert_eq!(acks[0].at, now, "acknowledged at simulated time");
    assert!(
        acks[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("after its expiry"),
        "{acks:?}"
    );
    // Nothing happened: a STOP halts within 6 ticks, yet 10 ticks on the vehicle has not
    // stopped, and no EXECUTED follows.
    let after = run(&mut s, 10);
    assert!(
        after.iter().all(|r| r[0].status != VehicleStatus::Stopped),
        "{after:?}"
    );
    assert!(s.drain_acks().is_empty());

    // The same command still within its expiry is carried out.
    let mut in_time = command(VH1, CommandKind::Stop, vec![]);
    in_time.expires_at = Some(t0() + Duration::hours(1));
    assert_eq!(
        statuses(&s.apply_command(&in_time))[0],
        CommandStatus::Delivered
    );
    run_until(&mut s, 0, 200, |r| r.status == VehicleStatus::Stopped);
}

#[test]
fn resume_while_braking_cancels_the_pending_stop() {
    let mut s = sim(1, Scenario::Normal);
    run_until(&mut s, 0, 100, |r| r.speed_kmh > 30.0);
    let stop = command(VH1, CommandKind::Stop, vec![]);
    s.apply_command(&stop);
    let mut resume = command(VH1, CommandKind::Resume, vec![]);
    resume.issued_at = t0() + Duration::seconds(1);
    let acks = s.apply_command(&resume);
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Executed]
    );
    let acks = s.drain_acks();
    assert_eq!(statuses(&acks), [CommandStatus::Failed]);
    assert_eq!(acks[0].command_id, stop.id);
}

#[test]
fn reroute_heads_to_the_new_waypoints_and_parks_at_the_last() {
    let mut s = sim(1, Scenario::Normal);
    let start = run(&mut s, 20)[19][0].clone();
    let first = geodesy::destination(start.position(), 45.0, 800.0);
    let last = geodesy::destination(first, 180.0, 500.0);
    let wp = |p: GeoPoint, order| Waypoint {
        latitude: p.latitude,
        longitude: p.longitude,
        order,
    };
    // Given out of order: `order` decides.
    let reroute = command(VH1, CommandKind::Reroute, vec![wp(last, 2), wp(first, 1)]);
    let acks = s.apply_command(&reroute);
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Executed]
    );

    let next = run(&mut s, 1).remove(0).remove(0);
    let to_first = geodesy::bearing_deg(start.position(), first);
    let off = (next.heading_deg - to_first + 540.0).rem_euclid(360.0) - 180.0;
    assert!(
        off.abs() < 0.5,
        "heading {} vs {to_first}",
        next.heading_deg
    );

    let trip = run_until(&mut s, 0, 2000, |r| {
        geodesy::distance_m(r.position(), last) < 0.01
    });
    assert!(
        trip.iter()
            .any(|r| geodesy::distance_m(r.position(), first) < 0.01),
        "the route skipped its first waypoint"
    );
    let parked = run(&mut s, 10);
    assert!(
        parked.iter().all(|b| b[0].status == VehicleStatus::Idle
            && geodesy::distance_m(b[0].position(), last) < 0.01)
    );
}

#[test]
fn reroute_without_usable_waypoints_fails_with_a_reason() {
    let mut s = sim(1, Scenario::Normal);
    let acks = s.apply_command(&command(VH1, CommandKind::Reroute, vec![]));
    assert_eq!(
        statuses(&acks),
        [CommandStatus::Delivered, CommandStatus::Failed]
    );
    assert!(acks[1].reason.as_deref().unwrap().contains("waypoint"));
    let bad = Waypoint {
        latitude: 95.0,
        longitude: 0.0,
        order: 1,
    };
    let acks = s.apply_command(&command(VH1, CommandKind::Reroute, vec![bad]));
    assert_eq!(acks[1].status, CommandStatus::Failed);
    assert!(acks[1].reason.as_deref().unwrap().contains("latitude"));
}

#[test]
fn commands_for_unknown_vehicles_fail_without_delivery() {
    let mut s = sim(2, Scenario::Normal);
    let acks = s.apply_command(&command("fleet-demo-001-VH-003", CommandKind::Stop, vec![]));
    assert_eq!(statuses(&acks), [CommandStatus::Failed]);
    assert!(acks[0].reason.as_deref().unwrap().contains("not part of"));
}

#[test]
fn a_tick_never_covers_more_than_ten_seconds() {
    let mut s = sim(1, Scenario::HighLoad);
    let before = run(&mut s, 40)[39][0].clone();
    let after = s.step(before.timestamp + Duration::hours(1)).remove(0);
    let d = geodesy::distance_m(before.position(), after.position());
    assert!(d <= 10.0 * 60.0 / 3.6 + 1e-6, "jumped {d} m");
    // Time going backwards moves nothing but still yields a fresh reading.
    let back = s.step(t0()).remove(0);
    assert_eq!(back.position(), after.position());
    assert_eq!(back.seq, after.seq + 1);
}

#[test]
fn spawn_outside_a_runtime_is_a_config_error() {
    let s = sim(1, Scenario::Normal);
    let InProcessBus { publisher, .. } = InProcessBus::new(4);
    let err = s.spawn(Arc::new(publisher), None).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Config);
}

fn decoded(record: SourceRecord) -> Telemetry {
    match record {
        SourceRecord::Decoded(t) => t,
        SourceRecord::Raw { .. } => panic!("the simulator publishes decoded readings"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_finite_run_publishes_every_tick_then_ends_the_bus() {
    let s = Simulator::new(SimulatorConfig {
        vehicles: 3,
        max_ticks: Some(10),
        ..SimulatorConfig::default()
    })
    .unwrap();
    let InProcessBus { publisher, source } = InProcessBus::new(8);
    let handle = s.spawn(Arc::new(publisher), None).unwrap();
    let mut per_vehicle: HashMap<String, Vec<Telemetry>> = HashMap::new();
    while let Some(batch) = source.next_batch(100).await.unwrap() {
        for r in batch.records {
            let t = decoded(r);
            per_vehicle.entry(t.vehicle_id.clone()).or_default().push(t);
        }
    }
    let report = handle.join().await.unwrap();
    assert_eq!(
        report,
        RunReport {
            ticks: 10,
            readings: 30,
            commands: 0
        }
    );
    assert_eq!(per_vehicle.len(), 3);
    for readings in per_vehicle.values() {
        let seqs: Vec<u64> = readings.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        for pair in readings.windows(2) {
            assert_eq!(
                pair[1].timestamp - pair[0].timestamp,
                Duration::milliseconds(500)
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn stop_ends_an_endless_run_and_releases_the_bus() {
    let s = sim(2, Scenario::Normal);
    let InProcessBus { publisher, source } = InProcessBus::new(64);
    let handle = s.spawn(Arc::new(publisher), None).unwrap();
    let first = source.next_batch(2).await.unwrap().unwrap();
    assert_eq!(first.records.len(), 2);
    let report = handle.stop().await.unwrap();
    assert!(report.ticks >= 1);
    let mut rest = 0;
    while let Some(batch) = source.next_batch(100).await.unwrap() {
        rest += batch.records.len() as u64;
    }
    assert_eq!(2 + rest, report.readings);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_the_task() {
    let s = sim(2, Scenario::Normal);
    let InProcessBus { publisher, source } = InProcessBus::new(64);
    drop(s.spawn(Arc::new(publisher), None).unwrap());
    // The aborted task drops the only publisher, so the source ends.
    while source.next_batch(100).await.unwrap().is_some() {}
}

#[tokio::test(start_paused = true)]
async fn commands_travel_through_the_in_process_link_and_acks_come_back() {
    let s = sim(2, Scenario::Normal);
    let InProcessBus { publisher, source } = InProcessBus::new(100_000);
    let (sink, link) = command_channel(16);
    let link: Arc<dyn VehicleCommandLink> = Arc::new(link);
    let publisher: Arc<dyn TelemetryPublisher> = Arc::new(publisher);
    let handle = s.spawn(publisher, Some(link)).unwrap();

    // Let the fleet get going, then stop vehicle 1 and reroute vehicle 2 without waypoints.
    for _ in 0..20 {
        source.next_batch(2).await.unwrap().unwrap();
    }
    let stop = command(VH1, CommandKind::Stop, vec![]);
    let reroute = command("fleet-demo-001-VH-002", CommandKind::Reroute, vec![]);
    sink.dispatch(&reroute).await.unwrap();
    sink.dispatch(&stop).await.unwrap();

    let mut by_command: HashMap<String, Vec<CommandStatus>> = HashMap::new();
    let mut order = Vec::new();
    while by_command.get(&stop.id).is_none_or(|s| s.len() < 2)
        || by_command.get(&reroute.id).is_none_or(|s| s.len() < 2)
    {
        let ack = sink.next_ack().await.unwrap();
        order.push(ack.command_id.clone());
        by_command
            .entry(ack.command_id)
            .or_default()
            .push(ack.status);
    }
    assert_eq!(
        order[0], stop.id,
        "STOP is handled before the earlier REROUTE"
    );
    assert_eq!(
        by_command[&stop.id],
        [CommandStatus::Delivered, CommandStatus::Executed]
    );
    assert_eq!(
        by_command[&reroute.id],
        [CommandStatus::Delivered, CommandStatus::Failed]
    );
    let report = handle.stop().await.unwrap();
    assert_eq!(report.commands, 2);

    // The last reading of vehicle 1 shows it stopped.
    let mut last = None;
    while let Some(batch) = source.next_batch(1000).await.unwrap() {
        for r in batch.records.into_iter().map(decoded) {
            if r.vehicle_id == VH1 {
                last = Some(r);
            }
        }
    }
    let last = last.unwrap();
    assert_eq!((last.status, last.speed_kmh), (VehicleStatus::Stopped, 0.0));
}

#[test]
fn an_invalid_configuration_is_refused_naming_the_field() {
    let err = Simulator::new(config(0, Scenario::Normal, 1)).unwrap_err();
    assert_eq!(err.field, "vehicles");
}
