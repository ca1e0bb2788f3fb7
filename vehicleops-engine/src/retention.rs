//! Retention that applies: the engine removes what is past [`EngineSettings::retention`] on a
//! schedule while it runs (and on demand), and counts what it removed for `/metrics`.
//!
//! [`EngineSettings::retention`]: crate::EngineSettings::retention

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vehicleops_core::{FleetStore, Result, RetentionPolicy, RetentionReport};

use crate::Engine;

/// What retention has done since the engine opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionStats {
    /// Runs that completed.
    pub runs: u64,
    /// Runs that failed (the next one tries again).
    pub failures: u64,
    /// When the last run completed.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Everything removed, summed over the runs.
    pub removed: RetentionReport,
}

/// The counters behind [`RetentionStats`], shared with the scheduled task.
#[derive(Debug, Default)]
pub(crate) struct RetentionCounters {
    runs: AtomicU64,
    failures: AtomicU64,
    /// Unix seconds; 0 for never.
    last_run: AtomicI64,
    telemetry_rows: AtomicU64,
    telemetry_partitions: AtomicU64,
    rollups: AtomicU64,
    alerts: AtomicU64,
    commands: AtomicU64,
    missions: AtomicU64,
    audit: AtomicU64,
}

impl RetentionCounters {
    fn record(&self, report: &RetentionReport) {
        for (counter, n) in [
            (&self.telemetry_rows, report.telemetry_rows),
            (&self.telemetry_partitions, report.telemetry_partitions),
            (&self.rollups, report.rollups),
            (&self.alerts, report.alerts),
            (&self.commands, report.commands),
            (&self.missions, report.missions),
            (&self.audit, report.audit),
        ] {
            counter.fetch_add(n, Ordering::Relaxed);
        }
        self.last_run
            .store(Utc::now().timestamp(), Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RetentionStats {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RetentionStats {
            runs: n(&self.runs),
            failures: n(&self.failures),
            last_run_at: match self.last_run.load(Ordering::Relaxed) {
                0 => None,
                secs => DateTime::from_timestamp(secs, 0),
            },
            removed: RetentionReport {
                telemetry_rows: n(&self.telemetry_rows),
                telemetry_partitions: n(&self.telemetry_partitions),
                rollups: n(&self.rollups),
                alerts: n(&self.alerts),
                commands: n(&self.commands),
                missions: n(&self.missions),
                audit: n(&self.audit),
            },
        }
    }
}

/// One run: the policy's cutoffs as of now, applied and counted.
async fn run(
    store: &dyn FleetStore,
    policy: &RetentionPolicy,
    counters: &RetentionCounters,
) -> Result<RetentionReport> {
    match store.apply_retention(&policy.cutoffs(Utc::now())).await {
        Ok(report) => {
            counters.record(&report);
            Ok(report)
        }
        Err(e) => {
            counters.failures.fetch_add(1, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// The scheduled runs of a started engine; stopped when dropped (at close).
pub(crate) struct RetentionTask(Option<JoinHandle<()>>);

impl Drop for RetentionTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl RetentionTask {
    /// Runs the policy now and then every `every`; nothing when the policy keeps everything.
    pub(crate) fn start(
        store: Arc<dyn FleetStore>,
        policy: RetentionPolicy,
        every: Duration,
        counters: Arc<RetentionCounters>,
    ) -> Self {
        if policy.is_keep_all() {
            return RetentionTask(None);
        }
        info!(?policy, every_secs = every.as_secs(), "retention scheduled");
        RetentionTask(Some(tokio::spawn(async move {
            let mut clock = tokio::time::interval(every.max(Duration::from_secs(1)));
            clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                clock.tick().await;
                if let Err(e) = run(&*store, &policy, &counters).await {
                    warn!(error = %e, "retention run failed; the next run tries again");
                }
            }
        })))
    }
}

impl Engine {
    /// Removes now what is past the engine's retention policy (the schedule does this while the
    /// engine runs), and returns what went. An empty report when the policy keeps everything.
    pub async fn apply_retention(&self) -> Result<RetentionReport> {
        let policy = self.settings().retention;
        if policy.is_keep_all() {
            return Ok(RetentionReport::default());
        }
        run(&**self.store(), &policy, self.retention_counters()).await
    }

    /// What retention has removed since the engine opened, for metrics.
    pub fn retention_stats(&self) -> RetentionStats {
        self.retention_counters().snapshot()
    }
}
