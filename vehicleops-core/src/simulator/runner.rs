//! Runs a [`Simulator`] on the caller's tokio runtime.

use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::Simulator;
use crate::error::{Error, Result};
use crate::inproc::{TelemetryPublisher, VehicleCommandLink};

/// Most commands taken from the link per tick, so a flood of commands cannot stall telemetry.
const MAX_COMMANDS_PER_TICK: usize = 256;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub ticks: u64,
    /// Readings published.
    pub readings: u64,
    /// Commands received from the link.
    pub commands: u64,
}

/// A running simulator task. Dropping the handle stops the task; [`SimulatorHandle::stop`] does
/// so gracefully and returns what the run did.
#[derive(Debug)]
pub struct SimulatorHandle {
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<RunReport>>>,
}

impl SimulatorHandle {
    /// Stops the run after the current tick's step (an unfinished publish is abandoned) and
    /// returns its report, or the error that ended it earlier.
    pub async fn stop(mut self) -> Result<RunReport> {
        if let Some(tx) = self.stop_tx.take() {
            // The task may already have ended on its own; then there is nobody to tell.
            let _ = tx.send(());
        }
        self.join_task().await
    }

    /// Waits for a finite run (`max_ticks`) to end, or for the error that ended it.
    pub async fn join(mut self) -> Result<RunReport> {
        self.join_task().await
    }

    /// Whether the task has ended (finished its ticks, failed or been stopped).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    async fn join_task(&mut self) -> Result<RunReport> {
        let task = self.task.take().ok_or(Error::Closed("simulator"))?;
        task.await.map_err(|e| Error::Backend {
            backend: "simulator",
            message: format!("simulator task failed: {e}"),
            source: Some(Box::new(e)),
        })?
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Simulator {
    /// Starts ticking every configured interval on the current tokio runtime: each tick takes
    /// pending commands from `commands`, steps the fleet, publishes the readings and sends the
    /// acknowledgements back. Runs until stopped, until `max_ticks`, or until publishing fails
    /// (for instance because the bus was closed).
    ///
    /// Tick times are wall-clock time at the start plus tokio's elapsed time, so a paused tokio
    /// clock in tests drives the simulation deterministically. Fails with
    /// [`crate::ErrorKind::Config`] outside a tokio runtime.
    pub fn spawn(
        self,
        publisher: Arc<dyn TelemetryPublisher>,
        commands: Option<Arc<dyn VehicleCommandLink>>,
    ) -> Result<SimulatorHandle> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("the simulator must be started from within a tokio runtime".into())
        })?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = runtime.spawn(self.run(publisher, commands, stop_rx));
        Ok(SimulatorHandle {
            stop_tx: Some(stop_tx),
            task: Some(task),
        })
    }

    async fn run(
        mut self,
        publisher: Arc<dyn TelemetryPublisher>,
        commands: Option<Arc<dyn VehicleCommandLink>>,
        stop_rx: oneshot::Receiver<()>,
    ) -> Result<RunReport> {
        tracing::info!(
            fleet = %self.config.fleet_id,
            vehicles = self.config.vehicles,
            interval_ms = self.config.interval_ms,
            area = %self.config.area,
            scenario = %self.config.scenario,
            "simulator started"
        );
        let mut report = RunReport::default();
        let outcome = tokio::select! {
            biased;
            // A dropped handle aborts the task, so an error here also means "stop".
            _ = stop_rx => Ok(()),
            r = self.tick_loop(&*publisher, commands.as_deref(), &mut report) => r,
        };
        tracing::info!(
            ticks = report.ticks,
            readings = report.readings,
            "simulator stopped"
        );
        outcome.map(|()| report)
    }

    async fn tick_loop(
        &mut self,
        publisher: &dyn TelemetryPublisher,
        commands: Option<&dyn VehicleCommandLink>,
        report: &mut RunReport,
    ) -> Result<()> {
        let start_wall = Utc::now();
        let start = Instant::now();
        let mut ticker = tokio::time::interval(self.config.interval());
        // After a stall, carry on at the normal pace rather than bursting to catch up.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let tick_at = ticker.tick().await;
            let now = start_wall
                + chrono::Duration::from_std(tick_at - start).unwrap_or(chrono::Duration::zero());

            let mut acks = Vec::new();
            if let Some(link) = commands {
                match link.poll_commands(MAX_COMMANDS_PER_TICK).await {
                    Ok(received) => {
                        report.commands += received.len() as u64;
                        for command in &received {
                            acks.extend(self.apply_command(command));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "polling vehicle commands failed"),
                }
            }

            let readings = self.step(now);
            let count = readings.len() as u64;
            publisher.publish(readings).await?;
            report.ticks += 1;
            report.readings += count;

            acks.extend(self.drain_acks());
            if let Some(link) = commands.filter(|_| !acks.is_empty()) {
                if let Err(e) = link.send_acks(acks).await {
                    tracing::warn!(error = %e, "sending command acknowledgements failed");
                }
            }

            if self.config.max_ticks.is_some_and(|max| report.ticks >= max) {
                return Ok(());
            }
        }
    }
}
