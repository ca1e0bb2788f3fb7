//! Command dispatch and lifecycle tracking.
//!
//! [`CommandCenter::dispatch`] records a DISPATCHED command and hands it to the
//! [`CommandSink`]. Every command carries its expiry (`expires_at`, the issue time plus the
//! delivery timeout), which vehicles and vehicle links enforce: a command that arrives later is
//! refused (EXPIRED) instead of acting late. A dispatch may carry an idempotency key, unique per
//! issuer, so that a retry returns the original command instead of sending a second one.
//!
//! A background task applies the vehicles' acknowledgements (DELIVERED → EXECUTED | FAILED, or
//! EXPIRED from a vehicle that got a command too late) and sweeps for commands that were never
//! picked up before their expiry (EXPIRED) or never finished (TIMEOUT). Every step is persisted
//! and published to the live hub. The transitions themselves are the state machine of
//! [`Command::advance`].
//!
//! After a restart, [`CommandCenter::resume`] takes up the commands still under way from the
//! repository: their deadlines run from their stored issue and delivery times, and their
//! acknowledgements still advance them. Before expiring a command the sweep checks the stored
//! copy, so a command another instance moved on (or finished) is not expired from a stale copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::{Error, ErrorKind, Result};
use crate::hub::{LiveEvent, LiveHub};
use crate::model::{
    Command, CommandAck, CommandKind, CommandParams, CommandStatus, validate_idempotency_key,
};
use crate::traits::{CommandSink, FleetRepository, Page};

/// How long commands may take.
#[derive(Debug, Clone)]
pub struct CommandTimeouts {
    /// A command no vehicle acknowledged within this is EXPIRED.
    pub delivery: Duration,
    /// A delivered command not executed within this is TIMEOUT.
    pub execution: Duration,
    /// How often pending commands are checked against the timeouts.
    pub sweep_interval: Duration,
}

impl Default for CommandTimeouts {
    fn default() -> Self {
        CommandTimeouts {
            delivery: Duration::from_secs(30),
            execution: Duration::from_secs(120),
            sweep_interval: Duration::from_millis(500),
        }
    }
}

/// Dispatches commands and drives their lifecycle. Cheap to share behind an `Arc`.
pub struct CommandCenter {
    sink: Arc<dyn CommandSink>,
    repository: Arc<dyn FleetRepository>,
    hub: Option<LiveHub>,
    timeouts: CommandTimeouts,
    /// Commands not yet in a terminal state.
    pending: Mutex<HashMap<String, Command>>,
    /// Acknowledgements ignored because another vehicle than the command's sent them.
    foreign_acks: std::sync::atomic::AtomicU64,
}

/// Stops the lifecycle task when dropped.
pub struct CommandCenterTask(JoinHandle<()>);

impl Drop for CommandCenterTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl CommandCenter {
    /// Creates the center and starts its acknowledgement/timeout task on the current runtime.
    pub fn start(
        sink: Arc<dyn CommandSink>,
        repository: Arc<dyn FleetRepository>,
        hub: Option<LiveHub>,
        timeouts: CommandTimeouts,
    ) -> (Arc<Self>, CommandCenterTask) {
        let center = Arc::new(CommandCenter {
            sink,
            repository,
            hub,
            timeouts,
            pending: Mutex::new(HashMap::new()),
            foreign_acks: Default::default(),
        });
        let task = tokio::spawn(center.clone().run());
        (center, CommandCenterTask(task))
    }

    /// Validates, records and dispatches a command to a registered vehicle. The command
    /// expires at its issue time plus [`CommandTimeouts::delivery`]: a vehicle (or link) that
    /// receives it later refuses it (EXPIRED).
    ///
    /// With an `idempotency_key`, a retry is safe: if `issued_by` already dispatched a command
    /// with this key, that command is returned (as stored now) and nothing is sent again. The
    /// key is unique per issuer in the repository, so of two concurrent dispatches with one key
    /// only one is sent; the other returns it too.
    ///
    /// Fails with `NotFound` for an unknown vehicle, `Validation` for bad parameters or a bad
    /// key (1 to 200 printable ASCII characters), and `Conflict` when the key was used for a
    /// different command (another vehicle, kind or parameters).
    pub async fn dispatch(
        &self,
        vehicle_id: &str,
        kind: CommandKind,
        params: CommandParams,
        issued_by: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Command> {
        if let Some(key) = idempotency_key {
            validate_idempotency_key(key)?;
        }
        let vehicle = self
            .repository
            .get_vehicle(vehicle_id)
            .await?
            .ok_or_else(|| Error::not_found("vehicle", vehicle_id))?;
        let mut command = Command::new(vehicle_id, &vehicle.fleet_id, kind, params, issued_by)?;
        if let Some(key) = idempotency_key {
            if let Some(original) = self
                .repository
                .command_by_idempotency_key(issued_by, key)
                .await?
            {
                return same_request(original, &command, key);
            }
            command.idempotency_key = Some(key.to_owned());
        }
        command.expires_at = Some(
            command.issued_at
                + chrono::Duration::from_std(self.timeouts.delivery)
                    .unwrap_or(chrono::Duration::MAX),
        );
        if let Err(e) = self.repository.insert_command(&command).await {
            // A concurrent dispatch with the same key got in first: answer with its command.
            if let (Some(key), ErrorKind::Conflict) = (idempotency_key, e.kind()) {
                if let Some(original) = self
                    .repository
                    .command_by_idempotency_key(issued_by, key)
                    .await?
                {
                    return same_request(original, &command, key);
                }
            }
            return Err(e);
        }
        self.pending
            .lock()
            .expect("commands lock")
            .insert(command.id.clone(), command.clone());
        match self.sink.dispatch(&command).await {
            Ok(receipt) => {
                info!(command_id = %command.id, vehicle_id, command = kind.as_str(), issued_by,
                      transport = receipt.transport_ref.as_deref().unwrap_or("-"), "command dispatched");
            }
            Err(e) => {
                warn!(command_id = %command.id, error = %e, "command could not be dispatched");
                self.pending
                    .lock()
                    .expect("commands lock")
                    .remove(&command.id);
                let now = Utc::now();
                // A transport that refuses a command past its expiry (VDA 5050 messages carry
                // none) leaves it EXPIRED, not FAILED.
                let (to, reason) = if command.is_expired_at(now) {
                    (CommandStatus::Expired, format!("not sent: {e}"))
                } else {
                    (CommandStatus::Failed, format!("dispatch failed: {e}"))
                };
                command.advance(to, now, Some(reason))?;
                self.repository.update_command(&command).await?;
                self.publish(&command);
                return Err(e);
            }
        }
        self.publish(&command);
        Ok(command)
    }

    /// Takes up the commands still under way (DISPATCHED or DELIVERED) that the repository
    /// holds, e.g. after a restart: the sweep expires them on time measured from their stored
    /// issue and delivery times, and acknowledgements advance them. Commands this center already
    /// tracks keep their in-memory state. Returns how many were taken up.
    pub async fn resume(&self) -> Result<usize> {
        let stored = self.repository.pending_commands().await?;
        let found = stored.len();
        let resumed = {
            let mut pending = self.pending.lock().expect("commands lock");
            stored
                .into_iter()
                .filter(|c| !c.status.is_terminal())
                .filter(|c| {
                    if pending.contains_key(&c.id) {
                        return false;
                    }
                    pending.insert(c.id.clone(), c.clone());
                    true
                })
                .count()
        };
        info!(
            resumed,
            already_tracked = found - resumed,
            "resumed pending commands"
        );
        Ok(resumed)
    }

    /// How many commands this center is waiting on (not yet in a terminal state).
    pub fn pending_count(&self) -> usize {
        self.pending.lock().expect("commands lock").len()
    }

    /// Newest first.
    pub async fn history(&self, vehicle_id: &str, limit: u32) -> Result<Page<Command>> {
        self.repository.list_commands(vehicle_id, limit).await
    }

    /// Applies one acknowledgement. A command this center did not dispatch (it restarted, or
    /// another instance dispatched it) is looked up in the repository. Unknown commands, repeats
    /// and acks a finished command can no longer take are ignored: an at-least-once transport
    /// can deliver an ack twice.
    ///
    /// An ack naming another vehicle than the command's is ignored with a warning and counted
    /// ([`CommandCenter::foreign_acks`]): a vehicle may only answer its own commands, whatever
    /// the transport.
    pub async fn apply_ack(&self, ack: &CommandAck) -> Result<Option<Command>> {
        let foreign = |cmd: &Command| {
            if cmd.vehicle_id == ack.vehicle_id {
                return false;
            }
            let foreign_acks = self
                .foreign_acks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            warn!(command_id = %ack.command_id, command_vehicle = %cmd.vehicle_id,
                  ack_vehicle = %ack.vehicle_id, status = ?ack.status, foreign_acks,
                  "ignored an acknowledgement from another vehicle than the command's");
            true
        };
        let tracked = {
            let mut pending = self.pending.lock().expect("commands lock");
            match pending.get_mut(&ack.command_id) {
                Some(cmd) => {
                    if foreign(cmd)
                        || cmd.status == ack.status
                        || !cmd.status.can_become(ack.status)
                    {
                        return Ok(None);
                    }
                    cmd.advance(ack.status, ack.at, ack.reason.clone())?;
                    let cmd = cmd.clone();
                    if cmd.status.is_terminal() {
                        pending.remove(&ack.command_id);
                    }
                    Some(cmd)
                }
                None => None,
            }
        };
        let updated = match tracked {
            Some(cmd) => cmd,
            None => {
                let Some(mut cmd) = self.repository.get_command(&ack.command_id).await? else {
                    return Ok(None);
                };
                if foreign(&cmd) || cmd.status == ack.status || !cmd.status.can_become(ack.status) {
                    return Ok(None);
                }
                cmd.advance(ack.status, ack.at, ack.reason.clone())?;
                cmd
            }
        };
        self.repository.update_command(&updated).await?;
        self.publish(&updated);
        Ok(Some(updated))
    }

    /// Acknowledgements this center ignored because another vehicle than the command's sent
    /// them (a misbehaving or forging vehicle; exported as a metric by the server).
    pub fn foreign_acks(&self) -> u64 {
        self.foreign_acks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves commands past their deadlines to EXPIRED or TIMEOUT. An undelivered command's
    /// deadline is its `expires_at` or the issue time plus this center's delivery timeout,
    /// whichever comes first.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Vec<Command>> {
        let expired: Vec<Command> = {
            let mut pending = self.pending.lock().expect("commands lock");
            let late: Vec<String> = pending
                .values()
                .filter(|c| match c.status {
                    // Past its own expiry (vehicles refuse it from then on), or past this
                    // center's delivery timeout (which may be shorter after a restart).
                    CommandStatus::Dispatched => {
                        c.is_expired_at(now) || elapsed(c.issued_at, now) > self.timeouts.delivery
                    }
                    CommandStatus::Delivered => {
                        elapsed(c.delivered_at.unwrap_or(c.issued_at), now)
                            > self.timeouts.execution
                    }
                    _ => false,
                })
                .map(|c| c.id.clone())
                .collect();
            late.into_iter()
                .filter_map(|id| pending.remove(&id))
                .filter_map(|mut c| {
                    let (to, why) = if c.status == CommandStatus::Dispatched {
                        (
                            CommandStatus::Expired,
                            "no vehicle acknowledged the command in time",
                        )
                    } else {
                        (
                            CommandStatus::Timeout,
                            "the vehicle did not finish the command in time",
                        )
                    };
                    c.advance(to, now, Some(why.into())).ok().map(|_| c)
                })
                .collect()
        };
        let mut done = Vec::with_capacity(expired.len());
        for c in expired {
            // The stored copy may have moved on meanwhile (an ack applied by another instance,
            // or before a restart): follow it instead of expiring a stale copy.
            match self.repository.get_command(&c.id).await {
                Ok(Some(stored)) if stored.status != before_expiry(&c) => {
                    if !stored.status.is_terminal() {
                        self.pending
                            .lock()
                            .expect("commands lock")
                            .entry(stored.id.clone())
                            .or_insert(stored);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    // Not knowing better, expire as planned.
                    warn!(command_id = %c.id, error = %e, "could not re-read a command before expiring it");
                }
            }
            self.repository.update_command(&c).await?;
            self.publish(&c);
            done.push(c);
        }
        Ok(done)
    }

    fn publish(&self, command: &Command) {
        if let Some(hub) = &self.hub {
            hub.publish_event(LiveEvent::Command(Arc::new(command.clone())));
        }
    }

    async fn run(self: Arc<Self>) {
        let mut sweep = tokio::time::interval(self.timeouts.sweep_interval);
        loop {
            tokio::select! {
                ack = self.sink.next_ack() => match ack {
                    Some(ack) => {
                        if let Err(e) = self.apply_ack(&ack).await {
                            warn!(error = %e, command_id = %ack.command_id, "could not record command acknowledgement");
                        }
                    }
                    None => break,
                },
                _ = sweep.tick() => {
                    if let Err(e) = self.sweep(Utc::now()).await {
                        warn!(error = %e, "command timeout sweep failed");
                    }
                }
            }
        }
    }
}

/// The answer to a dispatch whose idempotency key `key` is already taken by `original`: the
/// original when it asked for the same thing as `request`, `Conflict` otherwise.
fn same_request(original: Command, request: &Command, key: &str) -> Result<Command> {
    let same = original.vehicle_id == request.vehicle_id
        && original.command == request.command
        && same_params(&original.params, &request.params);
    if !same {
        return Err(Error::Conflict(format!(
            "idempotency key {key:?} was used for a different command ({} {} for vehicle {}); \
             use a new key for a new command",
            original.id,
            original.command.as_str(),
            original.vehicle_id
        )));
    }
    info!(command_id = %original.id, idempotency_key = key, issued_by = %original.issued_by,
          "repeated dispatch answered with the original command");
    Ok(original)
}

/// Parameters compared as stored and read back: coordinates within 1e-9° (a JSON round trip may
/// move the last bit of a float).
fn same_params(a: &CommandParams, b: &CommandParams) -> bool {
    const EPS: f64 = 1e-9;
    a.reason == b.reason
        && a.waypoints.len() == b.waypoints.len()
        && a.waypoints.iter().zip(&b.waypoints).all(|(x, y)| {
            x.order == y.order
                && (x.latitude - y.latitude).abs() <= EPS
                && (x.longitude - y.longitude).abs() <= EPS
        })
}

/// The status an expired or timed-out command had before the sweep moved it.
fn before_expiry(c: &Command) -> CommandStatus {
    if c.status == CommandStatus::Expired {
        CommandStatus::Dispatched
    } else {
        CommandStatus::Delivered
    }
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests;
