//! The fleet simulator: believable telemetry for demos, tests and load runs.
//!
//! [`Simulator`] is a deterministic synchronous core: the caller passes the time of every tick
//! to [`Simulator::step`], so the same seed and the same times give identical readings.
//! [`Simulator::spawn`] runs it on the caller's tokio runtime, publishing every tick through a
//! [`TelemetryPublisher`](crate::inproc::TelemetryPublisher) and obeying commands from a
//! [`VehicleCommandLink`](crate::inproc::VehicleCommandLink).
//!
//! Each vehicle drives between random waypoints inside its area (the original's Bogotá, Medellín
//! and Cali), slowing down at waypoints where its load changes, heading along the great-circle
//! bearing. Its battery drains with distance and load; it heads home when the charge gets short
//! of the trip back, and charges there. Engine temperature follows speed and load with inertia.
//! The fault-injection scenario adds overspeed, overheating and battery-failure episodes.
//!
//! Commands: STOP brakes hard and holds the vehicle (EXECUTED once it stands still); RESUME
//! releases it; REROUTE and RETURN_TO_BASE replace the plan (EXECUTED once adopted; a stopped
//! vehicle keeps standing until RESUME). Every command delivered to a simulated vehicle is
//! acknowledged DELIVERED first, unless it arrives after its `expires_at`: then it is
//! acknowledged EXPIRED and ignored, as is a RESUME overtaken by a STOP issued after it.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use vehicleops_core::simulator::{Simulator, SimulatorConfig};
//!
//! let mut sim = Simulator::new(SimulatorConfig { vehicles: 3, ..Default::default() }).unwrap();
//! let t0 = Utc.with_ymd_and_hms(2024, 2, 15, 14, 0, 0).unwrap();
//! let readings = sim.step(t0);
//! assert_eq!(readings.len(), 3);
//! assert_eq!(readings[0].vehicle_id, "fleet-demo-001-VH-001");
//! let next = sim.step(t0 + Duration::milliseconds(500));
//! assert!(next[0].seq > readings[0].seq);
//! ```

mod config;
mod runner;
mod vehicle;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use config::{Area, Scenario, SimulatorConfig};
pub use runner::{RunReport, SimulatorHandle};

use crate::error::ValidationError;
use crate::model::{Command, CommandAck, CommandKind, CommandStatus, GeoPoint, Telemetry};
use vehicle::{Plan, SimVehicle, World};

/// The longest gap one tick may cover; a runner that stalled longer does not teleport vehicles.
const MAX_TICK_S: f64 = 10.0;

/// A simulated fleet. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Simulator {
    config: SimulatorConfig,
    vehicles: Vec<SimVehicle>,
    by_id: HashMap<String, usize>,
    /// Operator STOPs not yet carried out: (vehicle index, command id).
    pending_stops: Vec<(usize, String)>,
    /// When each vehicle's latest STOP was issued, to spot RESUMEs it overtook.
    last_stop_issued: HashMap<usize, DateTime<Utc>>,
    acks: Vec<CommandAck>,
    last_tick: Option<DateTime<Utc>>,
    ticks: u64,
}

impl Simulator {
    /// A fleet parked at its homes, about to set off. Fails on an invalid configuration.
    pub fn new(config: SimulatorConfig) -> Result<Self, ValidationError> {
        config.validate()?;
        let world = world(&config);
        let vehicles: Vec<SimVehicle> = (1..=config.vehicles)
            .map(|n| {
                // One ChaCha stream per vehicle: a vehicle's randomness does not depend on how
                // many others there are or on which of them received commands.
                let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
                rng.set_stream(u64::from(n));
                SimVehicle::new(config.vehicle_id(n), world, rng)
            })
            .collect();
        let by_id = vehicles
            .iter()
            .enumerate()
            .map(|(i, v)| (v.id.clone(), i))
            .collect();
        Ok(Simulator {
            config,
            vehicles,
            by_id,
            pending_stops: Vec::new(),
            last_stop_issued: HashMap::new(),
            acks: Vec::new(),
            last_tick: None,
            ticks: 0,
        })
    }

    pub fn config(&self) -> &SimulatorConfig {
        &self.config
    }

    /// Ids of the simulated vehicles, in order.
    pub fn vehicle_ids(&self) -> impl Iterator<Item = &str> {
        self.vehicles.iter().map(|v| v.id.as_str())
    }

    /// Where a vehicle started, and where RETURN_TO_BASE takes it.
    pub fn home_of(&self, vehicle_id: &str) -> Option<GeoPoint> {
        self.by_id.get(vehicle_id).map(|&i| self.vehicles[i].home)
    }

    /// Ticks taken so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Advances every vehicle to `now` and returns one reading per vehicle, in vehicle order.
    ///
    /// The first tick covers one configured interval; later ticks cover the time since the
    /// previous one (none if `now` went backwards, at most 10 s).
    pub fn step(&mut self, now: DateTime<Utc>) -> Vec<Telemetry> {
        let dt_s = match self.last_tick {
            None => self.config.interval_ms as f64 / 1000.0,
            Some(last) => ((now - last).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6)
                .clamp(0.0, MAX_TICK_S),
        };
        self.last_tick = Some(now);
        self.ticks += 1;
        let world = world(&self.config);
        let readings: Vec<Telemetry> = self
            .vehicles
            .iter_mut()
            .map(|v| v.step(dt_s, now, world))
            .collect();

        // A STOP is carried out once its vehicle stands still.
        let vehicles = &self.vehicles;
        let acks = &mut self.acks;
        self.pending_stops.retain(|(i, command_id)| {
            let v = &vehicles[*i];
            if !v.is_standing() {
                return true;
            }
            acks.push(ack(command_id, &v.id, CommandStatus::Executed, now, None));
            false
        });
        readings
    }

    /// Hands a command to its vehicle and returns the acknowledgements it gives at once:
    /// DELIVERED and then EXECUTED or FAILED, or just DELIVERED for a STOP still braking (its
    /// EXECUTED comes from [`Simulator::drain_acks`] after the tick it stands still in), or
    /// just FAILED for a vehicle this simulator does not have.
    ///
    /// A command past its `expires_at` at the simulator's current time is refused: it gets one
    /// EXPIRED acknowledgement saying it arrived after its expiry, and the vehicle does nothing.
    pub fn apply_command(&mut self, command: &Command) -> Vec<CommandAck> {
        // Acks carry simulated time, never the wall clock, to stay reproducible.
        let at = self
            .last_tick
            .map_or(command.issued_at, |t| t.max(command.issued_at));
        if command.is_expired_at(at) {
            return vec![command.expired_ack(at)];
        }
        let reply = |status, reason: Option<String>| {
            ack(&command.id, &command.vehicle_id, status, at, reason)
        };
        let Some(&index) = self.by_id.get(&command.vehicle_id) else {
            return vec![reply(
                CommandStatus::Failed,
                Some(format!(
                    "vehicle {} is not part of simulated fleet {}",
                    command.vehicle_id, self.config.fleet_id
                )),
            )];
        };
        let delivered = reply(CommandStatus::Delivered, None);
        let outcome = self.carry_out(index, command, at);
        let mut acks = vec![delivered];
        if let Some((status, reason)) = outcome {
            acks.push(reply(status, reason));
        }
        acks
    }

    /// Acknowledgements that arose while stepping (EXECUTED of STOPs), oldest first.
    pub fn drain_acks(&mut self) -> Vec<CommandAck> {
        std::mem::take(&mut self.acks)
    }

    /// Applies a delivered command; the final status unless it completes later.
    fn carry_out(
        &mut self,
        index: usize,
        command: &Command,
        at: DateTime<Utc>,
    ) -> Option<(CommandStatus, Option<String>)> {
        let world = world(&self.config);
        let vehicle = &mut self.vehicles[index];
        let executed = Some((CommandStatus::Executed, None));
        match command.command {
            CommandKind::Stop => {
                vehicle.stopped = true;
                let latest = self
                    .last_stop_issued
                    .entry(index)
                    .or_insert(command.issued_at);
                *latest = (*latest).max(command.issued_at);
                if vehicle.is_standing() {
                    return executed;
                }
                self.pending_stops.push((index, command.id.clone()));
                None
            }
            CommandKind::Resume => {
                // STOP overtakes queued commands, so a RESUME can arrive after a STOP that was
                // issued later; it must not undo that STOP.
                if vehicle.stopped
                    && self
                        .last_stop_issued
                        .get(&index)
                        .is_some_and(|&stop| command.issued_at < stop)
                {
                    return Some((
                        CommandStatus::Failed,
                        Some("superseded by a STOP issued after it".to_owned()),
                    ));
                }
                if vehicle.stopped {
                    vehicle.stopped = false;
                    // STOPs still braking will never complete now.
                    let mut cancelled = Vec::new();
                    self.pending_stops.retain(|(i, id)| {
                        let keep = *i != index;
                        if !keep {
                            cancelled.push(id.clone());
                        }
                        keep
                    });
                    let vehicle_id = vehicle.id.clone();
                    for id in cancelled {
                        self.acks.push(ack(
                            &id,
                            &vehicle_id,
                            CommandStatus::Failed,
                            at,
                            Some(format!(
                                "cancelled by RESUME {} before standstill",
                                command.id
                            )),
                        ));
                    }
                    return executed;
                }
                match vehicle.plan {
                    Plan::Parked => vehicle.roam(world),
                    Plan::Charging => {
                        let needed = vehicle.battery_reserve_pct();
                        if vehicle.battery_pct < needed {
                            return Some((
                                CommandStatus::Failed,
                                Some(format!(
                                    "battery at {:.1} % is below the {needed:.1} % needed to leave the charger",
                                    vehicle.battery_pct
                                )),
                            ));
                        }
                        vehicle.roam(world);
                    }
                    // Already under way: nothing to resume.
                    Plan::Roam { .. } | Plan::Route { .. } | Plan::ReturnToBase => {}
                }
                executed
            }
            CommandKind::Reroute => {
                if command.params.waypoints.is_empty() {
                    return Some((
                        CommandStatus::Failed,
                        Some("REROUTE needs at least one waypoint".to_owned()),
                    ));
                }
                for wp in &command.params.waypoints {
                    if let Err(e) = crate::decode::validate_lat_lon(
                        wp.latitude,
                        wp.longitude,
                        "params.waypoints",
                    ) {
                        return Some((CommandStatus::Failed, Some(e.to_string())));
                    }
                }
                vehicle.follow(&command.params.waypoints, world);
                executed
            }
            CommandKind::ReturnToBase => {
                vehicle.return_to_base();
                executed
            }
        }
    }
}

fn world(config: &SimulatorConfig) -> World<'_> {
    World {
        fleet_id: &config.fleet_id,
        area: config.area,
        scenario: config.scenario,
    }
}

fn ack(
    command_id: &str,
    vehicle_id: &str,
    status: CommandStatus,
    at: DateTime<Utc>,
    reason: Option<String>,
) -> CommandAck {
    CommandAck {
        command_id: command_id.to_owned(),
        vehicle_id: vehicle_id.to_owned(),
        status,
        at,
        reason,
    }
}
