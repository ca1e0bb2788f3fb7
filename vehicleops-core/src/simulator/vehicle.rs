//! One simulated vehicle: its plan, its motion and its sensors.
//!
//! Motion is kinematic: each tick the vehicle picks a desired speed (cruise, approach to the
//! next waypoint, dwell, STOP), moves its speed towards it within acceleration limits, then
//! advances `speed × dt` along the great-circle bearing to its target. Arriving early clips the
//! step at the waypoint and reports the speed actually covered, so the reported speed always
//! matches the distance between consecutive readings.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::{Area, Scenario};
use crate::geodesy;
use crate::model::{GeoPoint, Telemetry, VehicleStatus, Waypoint};

/// Seed thresholds the derived status follows (OVERSPEED, ENGINE_OVERHEAT, LOW_BATTERY).
const OVERSPEED_KMH: f64 = 80.0;
const OVERHEAT_C: f64 = 100.0;
const LOW_BATTERY_PCT: f64 = 15.0;

/// Comfortable acceleration and service braking, m/s².
const ACCEL_MS2: f64 = 1.5;
const BRAKE_MS2: f64 = 2.0;
/// Braking on an operator STOP, m/s² (about 0.7 g): 60 km/h to standstill in under 3 s.
const EMERGENCY_BRAKE_MS2: f64 = 7.0;
/// A misbehaving drive during an overspeed fault accelerates harder.
const FAULT_ACCEL_MS2: f64 = 3.0;
/// Slowest speed when creeping up to a waypoint, m/s.
const CREEP_MS: f64 = 1.5;

/// Battery use per kilometre at zero load, %; full load uses 1.8 times as much.
const DRAIN_PCT_PER_KM: f64 = 0.5;
const MAX_LOAD_FACTOR: f64 = 1.8;
/// Electronics drain while powered, %/s.
const IDLE_DRAIN_PCT_PER_S: f64 = 0.002;
/// The pack keeps this much in reserve so a vehicle can always limp home after a failure.
const RESERVE_PCT: f64 = 1.0;
const CHARGE_PCT_PER_S: f64 = 0.4;

/// Engine temperature at rest, and the time constants of warming and cooling, °C and s.
const AMBIENT_ENGINE_C: f64 = 55.0;
const THERMAL_TAU_S: f64 = 30.0;
const FAULT_THERMAL_TAU_S: f64 = 12.0;

/// Mean fault episodes per vehicle per second in fault-injection: a 20-vehicle fleet sees
/// one every ~20 s, so alerts show up within the first minute and every kind within a few.
const FAULT_RATE_PER_S: f64 = 0.0025;

/// What a vehicle does when it is not held by an operator STOP.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plan {
    /// Drives between random waypoints inside the area.
    Roam { target: GeoPoint },
    /// Follows an operator's waypoints (front first), then parks.
    Route { waypoints: VecDeque<GeoPoint> },
    /// Drives home to charge.
    ReturnToBase,
    /// At home, charging until full, then roams again.
    Charging,
    /// Reached the end of an operator route; waits for a command.
    Parked,
}

/// A fault episode in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Overspeed { target_ms: f64, remaining_s: f64 },
    Overheat { target_c: f64, remaining_s: f64 },
}

#[derive(Debug, Clone)]
pub(super) struct SimVehicle {
    pub id: String,
    pub home: GeoPoint,
    pub pos: GeoPoint,
    /// Speed the drive is at (carried into the next tick).
    speed_ms: f64,
    /// Speed over the last tick: distance covered / dt. Differs from `speed_ms` only on a tick
    /// that ends on a waypoint, which is what keeps reported speed and positions consistent.
    pub reported_ms: f64,
    heading_deg: f64,
    pub battery_pct: f64,
    engine_temp_c: f64,
    load_pct: f64,
    seq: u64,
    pub plan: Plan,
    /// Held by an operator STOP until RESUME.
    pub stopped: bool,
    cruise_ms: f64,
    dwell_s: f64,
    fault: Option<Fault>,
    rng: ChaCha8Rng,
}

/// What every vehicle of the fleet shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct World<'a> {
    pub fleet_id: &'a str,
    pub area: Area,
    pub scenario: Scenario,
}

impl SimVehicle {
    /// A vehicle parked at a random home inside the area, about to set off.
    pub fn new(id: String, world: World, mut rng: ChaCha8Rng) -> Self {
        let center = world.area.center();
        // sqrt makes the start uniform over the disc; 0.8 keeps homes off the boundary.
        let r = world.area.radius_m() * 0.8 * rng.random::<f64>().sqrt();
        let home = geodesy::destination(center, rng.random_range(0.0..360.0), r);
        let mut v = SimVehicle {
            id,
            home,
            pos: home,
            speed_ms: 0.0,
            reported_ms: 0.0,
            heading_deg: 0.0,
            battery_pct: rng.random_range(60.0..100.0),
            engine_temp_c: AMBIENT_ENGINE_C + rng.random_range(0.0..10.0),
            load_pct: 0.0,
            seq: 0,
            plan: Plan::Parked,
            stopped: false,
            cruise_ms: 0.0,
            dwell_s: 0.0,
            fault: None,
            rng,
        };
        v.load_pct = v.random_load(world);
        v.roam(world);
        v.heading_deg = v.target().map_or(0.0, |t| geodesy::bearing_deg(v.pos, t));
        v
    }

    /// Starts (or continues) roaming towards a fresh random waypoint.
    pub fn roam(&mut self, world: World) {
        let target = self.random_waypoint(world.area);
        self.cruise_ms = self.random_cruise(world);
        self.plan = Plan::Roam { target };
    }

    /// Replaces the plan with an operator's route.
    pub fn follow(&mut self, waypoints: &[Waypoint], world: World) {
        let mut sorted = waypoints.to_vec();
        // Stable, so waypoints without an order (0) keep the order they were given in.
        sorted.sort_by_key(|w| w.order);
        self.plan = Plan::Route {
            waypoints: sorted.iter().map(Waypoint::point).collect(),
        };
        self.cruise_ms = self.random_cruise(world);
        self.dwell_s = 0.0;
    }

    pub fn return_to_base(&mut self) {
        self.dwell_s = 0.0;
        self.plan = if geodesy::distance_m(self.pos, self.home) < 1.0 {
            Plan::Charging
        } else {
            Plan::ReturnToBase
        };
    }

    /// Battery needed to leave the charger or keep roaming: the trip home at full load with a
    /// margin, on top of the low-battery threshold.
    pub fn battery_reserve_pct(&self) -> f64 {
        let home_km = geodesy::distance_m(self.pos, self.home) / 1000.0;
        LOW_BATTERY_PCT + 5.0 + 1.2 * home_km * DRAIN_PCT_PER_KM * MAX_LOAD_FACTOR
    }

    /// Stood still over the last tick and is not rolling now.
    pub fn is_standing(&self) -> bool {
        self.reported_ms == 0.0 && self.speed_ms == 0.0
    }

    fn target(&self) -> Option<GeoPoint> {
        match &self.plan {
            Plan::Roam { target } => Some(*target),
            Plan::Route { waypoints } => waypoints.front().copied(),
            Plan::ReturnToBase => Some(self.home),
            Plan::Charging | Plan::Parked => None,
        }
    }

    /// Advances the vehicle by `dt_s` seconds and returns its reading at `now`.
    pub fn step(&mut self, dt_s: f64, now: DateTime<Utc>, world: World) -> Telemetry {
        if world.scenario == Scenario::FaultInjection {
            self.maybe_inject_fault(dt_s);
        }
        self.tick_fault(dt_s);

        match self.plan {
            Plan::Roam { .. } if self.battery_pct < self.battery_reserve_pct() => {
                // Range-aware: head home while the charge still covers the trip.
                self.return_to_base();
            }
            Plan::Charging => {
                self.battery_pct = (self.battery_pct + CHARGE_PCT_PER_S * dt_s).min(100.0);
                if self.battery_pct >= 100.0 && !self.stopped {
                    self.roam(world);
                }
            }
            _ => {}
        }

        let distance_m = self.drive(dt_s, world);
        self.reported_ms = if dt_s > 0.0 { distance_m / dt_s } else { 0.0 };

        if self.plan != Plan::Charging {
            let load_factor = 1.0 + (MAX_LOAD_FACTOR - 1.0) * self.load_pct / 100.0;
            let drain =
                distance_m / 1000.0 * DRAIN_PCT_PER_KM * load_factor + IDLE_DRAIN_PCT_PER_S * dt_s;
            // Draining never takes the pack below its reserve; only a failure can.
            let floor = RESERVE_PCT.min(self.battery_pct);
            self.battery_pct = (self.battery_pct - drain).max(floor);
        }
        self.update_temperature(dt_s);

        self.seq += 1;
        Telemetry {
            vehicle_id: self.id.clone(),
            fleet_id: world.fleet_id.to_owned(),
            latitude: self.pos.latitude,
            longitude: self.pos.longitude,
            speed_kmh: self.reported_ms * 3.6,
            battery_pct: self.battery_pct,
            engine_temp_c: self.engine_temp_c,
            load_pct: self.load_pct,
            status: self.status(),
            timestamp: now,
            heading_deg: self.heading_deg,
            seq: self.seq,
            pose: None,
        }
    }

    /// Moves speed and position on by one tick; returns the metres covered.
    fn drive(&mut self, dt_s: f64, world: World) -> f64 {
        let target = self.target();
        let to_target_m = target.map_or(0.0, |t| geodesy::distance_m(self.pos, t));
        let overspeeding = matches!(self.fault, Some(Fault::Overspeed { .. }));

        let desired_ms = if self.stopped || target.is_none() {
            0.0
        } else if self.dwell_s > 0.0 {
            self.dwell_s = (self.dwell_s - dt_s).max(0.0);
            0.0
        } else if let Some(Fault::Overspeed { target_ms, .. }) = self.fault {
            target_ms
        } else {
            // Slow down towards the waypoint so the vehicle can stop on it.
            let approach_ms = (2.0 * BRAKE_MS2 * to_target_m).sqrt().max(CREEP_MS);
            self.cruise_ms.min(approach_ms)
        };
        let accel = if overspeeding {
            FAULT_ACCEL_MS2
        } else {
            ACCEL_MS2
        };
        let brake = if self.stopped {
            EMERGENCY_BRAKE_MS2
        } else {
            BRAKE_MS2
        };
        self.speed_ms = if desired_ms > self.speed_ms {
            desired_ms.min(self.speed_ms + accel * dt_s)
        } else {
            desired_ms.max(self.speed_ms - brake * dt_s)
        };

        let Some(target) = target else {
            // Nowhere to go (charging, parked): any remaining speed is bled off in place.
            self.speed_ms = 0.0;
            return 0.0;
        };
        if to_target_m > 0.0 {
            self.heading_deg = geodesy::bearing_deg(self.pos, target);
        }
        let step_m = self.speed_ms * dt_s;
        if to_target_m <= step_m || (to_target_m < 0.5 && !self.stopped) {
            self.pos = target;
            // The tick ended on the waypoint, so the vehicle covered less than a full step: it
            // rolls on (if it does) from the speed it actually made.
            if dt_s > 0.0 {
                self.speed_ms = self.speed_ms.min(to_target_m / dt_s);
            }
            self.arrive(world);
            to_target_m
        } else {
            self.pos = geodesy::destination(self.pos, self.heading_deg, step_m);
            step_m
        }
    }

    /// Reached the current target: decide what comes next.
    fn arrive(&mut self, world: World) {
        let overspeeding = matches!(self.fault, Some(Fault::Overspeed { .. }));
        match &mut self.plan {
            Plan::Roam { .. } => {
                self.load_pct = self.random_load(world);
                self.dwell_s = match world.scenario {
                    Scenario::HighLoad => 0.0,
                    _ if overspeeding => 0.0,
                    _ => self.rng.random_range(3.0..12.0),
                };
                self.roam(world);
            }
            Plan::Route { waypoints } => {
                waypoints.pop_front();
                if waypoints.is_empty() {
                    self.plan = Plan::Parked;
                }
            }
            Plan::ReturnToBase => self.plan = Plan::Charging,
            Plan::Charging | Plan::Parked => {}
        }
        if self.dwell_s > 0.0 || self.target().is_none() {
            // It stops on the point: the next tick starts from standstill.
            self.speed_ms = 0.0;
        }
    }

    fn maybe_inject_fault(&mut self, dt_s: f64) {
        if self.fault.is_some()
            || self.stopped
            || matches!(self.plan, Plan::Charging | Plan::Parked)
        {
            return;
        }
        if !self
            .rng
            .random_bool((FAULT_RATE_PER_S * dt_s).clamp(0.0, 1.0))
        {
            return;
        }
        // Overspeed and overheating twice as often as battery failures, which take a vehicle
        // off the road for a recharge.
        match self.rng.random_range(0..5) {
            0 | 1 => {
                self.fault = Some(Fault::Overspeed {
                    target_ms: self.rng.random_range(90.0..120.0) / 3.6,
                    remaining_s: self.rng.random_range(8.0..20.0),
                });
                // A runaway drive does not wait out a dwell.
                self.dwell_s = 0.0;
            }
            2 | 3 => {
                self.fault = Some(Fault::Overheat {
                    target_c: self.rng.random_range(110.0..125.0),
                    remaining_s: self.rng.random_range(40.0..80.0),
                });
            }
            _ => {
                // A cell failure: the charge collapses at once; the vehicle then heads home.
                self.battery_pct = self.battery_pct.min(self.rng.random_range(5.0..13.0));
            }
        }
    }

    fn tick_fault(&mut self, dt_s: f64) {
        let remaining = match &mut self.fault {
            Some(Fault::Overspeed { remaining_s, .. } | Fault::Overheat { remaining_s, .. }) => {
                *remaining_s -= dt_s;
                *remaining_s
            }
            None => return,
        };
        if remaining <= 0.0 {
            self.fault = None;
        }
    }

    /// Engine temperature follows speed and load with thermal inertia.
    fn update_temperature(&mut self, dt_s: f64) {
        let (target, tau) = match self.fault {
            Some(Fault::Overheat { target_c, .. }) => (target_c, FAULT_THERMAL_TAU_S),
            _ => (
                AMBIENT_ENGINE_C + 0.3 * self.reported_ms * 3.6 + 0.12 * self.load_pct,
                THERMAL_TAU_S,
            ),
        };
        let blend = 1.0 - (-dt_s / tau).exp();
        self.engine_temp_c += (target - self.engine_temp_c) * blend;
    }

    fn status(&self) -> VehicleStatus {
        let speed_kmh = self.reported_ms * 3.6;
        if self.fault.is_some() || speed_kmh > OVERSPEED_KMH || self.engine_temp_c > OVERHEAT_C {
            VehicleStatus::Alert
        } else if self.plan == Plan::Charging {
            VehicleStatus::Charging
        } else if self.stopped && self.reported_ms == 0.0 {
            VehicleStatus::Stopped
        } else if self.battery_pct < LOW_BATTERY_PCT {
            VehicleStatus::LowBattery
        } else if self.reported_ms > 0.0 {
            VehicleStatus::Moving
        } else {
            VehicleStatus::Idle
        }
    }

    fn random_load(&mut self, world: World) -> f64 {
        match world.scenario {
            Scenario::HighLoad => self.rng.random_range(60.0..100.0),
            _ => self.rng.random_range(10.0..90.0),
        }
    }

    fn random_cruise(&mut self, world: World) -> f64 {
        let kmh = match world.scenario {
            Scenario::HighLoad => self.rng.random_range(30.0..60.0),
            _ => self.rng.random_range(20.0..60.0),
        };
        kmh / 3.6
    }

    /// A waypoint 0.4–2.5 km away that stays inside the area.
    fn random_waypoint(&mut self, area: Area) -> GeoPoint {
        let distance = self.rng.random_range(400.0..2500.0);
        let bearing = self.rng.random_range(0.0..360.0);
        let candidate = geodesy::destination(self.pos, bearing, distance);
        let center = area.center();
        if geodesy::distance_m(center, candidate) <= area.radius_m() {
            return candidate;
        }
        // Near the edge: turn back inwards, within 60° of the centre, which stays inside for
        // any leg shorter than the radius.
        let inwards = geodesy::bearing_deg(self.pos, center) + self.rng.random_range(-60.0..60.0);
        geodesy::destination(self.pos, inwards.rem_euclid(360.0), distance)
    }
}
