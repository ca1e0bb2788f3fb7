//! [`RetentionStore`] for [`PostgresStore`].
//!
//! - Plain PostgreSQL: readings go by whole daily partitions (`DROP TABLE`, no row-by-row
//!   delete, no bloat); rollup rows and ended alerts, commands and missions by `DELETE` through
//!   their time indexes.
//! - TimescaleDB: the rollups are materialized up to the readings' cutoff first, so dropping raw
//!   chunks never loses what the continuous aggregates have not yet read; then `drop_chunks` on
//!   the hypertable and on the aggregates. The retention policies (which TimescaleDB's
//!   background workers run) are set to the same periods, so both agree.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};
use vehicleops_core::{Result, RetentionCutoffs, RetentionReport, RetentionStore};

use super::{PostgresStore, TelemetryLayout};

/// How far back the 1-minute aggregate's refresh policy re-reads raw readings (see its
/// migration): raw chunks younger than this must stay, or a refresh would empty their minutes.
const TIMESCALE_REFRESH_WINDOW: Duration = Duration::days(3);

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn apply_retention(&self, cutoffs: &RetentionCutoffs) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        match self.layout {
            TelemetryLayout::Partitioned => {
                if let Some(cutoff) = cutoffs.telemetry {
                    let dropped: i64 = sqlx::query_scalar(
                        "SELECT vehicleops.drop_telemetry_partitions($1)::bigint",
                    )
                    .bind(cutoff)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| self.db(e))?;
                    report.telemetry_partitions = dropped as u64;
                    self.partitions.lock().expect("partition cache").clear();
                }
                if let (Some(cutoff), true) = (cutoffs.rollups, self.upkeep.minutes) {
                    report.rollups = self
                        .delete(
                            "DELETE FROM vehicleops.telemetry_1m
                             WHERE bucket <= $1 - INTERVAL '1 minute'",
                            cutoff,
                        )
                        .await?;
                }
                if let (Some(cutoff), true) = (cutoffs.rollups, self.upkeep.hours) {
                    report.rollups += self
                        .delete(
                            "DELETE FROM vehicleops.telemetry_report_1h
                             WHERE bucket <= $1 - INTERVAL '1 hour'",
                            cutoff,
                        )
                        .await?;
                }
            }
            TelemetryLayout::TimescaleDb => {
                self.sync_policies(cutoffs).await;
                if let Some(cutoff) = cutoffs.telemetry {
                    let floor = Utc::now() - TIMESCALE_REFRESH_WINDOW;
                    let cutoff = if cutoff > floor {
                        warn!(
                            "TimescaleDB re-reads the last 3 days of readings into its rollups; \
                             keeping raw readings 3 days"
                        );
                        floor
                    } else {
                        cutoff
                    };
                    for relation in self.aggregate_relations() {
                        let call = format!(
                            "CALL refresh_continuous_aggregate('{relation}', NULL, '{}')",
                            cutoff.to_rfc3339()
                        );
                        sqlx::Executor::execute(&self.pool, call.as_str())
                            .await
                            .map_err(|e| self.db(e))?;
                    }
                    report.telemetry_partitions =
                        self.drop_chunks("vehicleops.telemetry", cutoff).await?;
                }
                if let Some(cutoff) = cutoffs.rollups {
                    for relation in self.aggregate_relations() {
                        report.rollups += self.drop_chunks(relation, cutoff).await?;
                    }
                }
            }
        }
        for (cutoff, sql, removed) in [
            (
                cutoffs.alerts,
                "DELETE FROM vehicleops.alerts WHERE triggered_at < $1 AND cleared_at IS NOT NULL",
                &mut report.alerts,
            ),
            (
                cutoffs.commands,
                "DELETE FROM vehicleops.commands WHERE issued_at < $1
                 AND status NOT IN ('DISPATCHED', 'DELIVERED')",
                &mut report.commands,
            ),
            (
                cutoffs.missions,
                "DELETE FROM vehicleops.missions WHERE created_at < $1
                 AND status NOT IN ('ASSIGNED', 'IN_PROGRESS')",
                &mut report.missions,
            ),
            (
                cutoffs.audit,
                "DELETE FROM vehicleops.audit_log WHERE at < $1",
                &mut report.audit,
            ),
        ] {
            if let Some(cutoff) = cutoff {
                *removed = self.delete(sql, cutoff).await?;
            }
        }
        info!(?report, "retention applied");
        Ok(report)
    }
}

impl PostgresStore {
    async fn delete(&self, sql: &str, cutoff: DateTime<Utc>) -> Result<u64> {
        Ok(sqlx::query(sql)
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(|e| self.db(e))?
            .rows_affected())
    }

    async fn drop_chunks(&self, relation: &str, cutoff: DateTime<Utc>) -> Result<u64> {
        let dropped: i64 =
            sqlx::query_scalar("SELECT count(*) FROM drop_chunks($1::regclass, older_than => $2)")
                .bind(relation)
                .bind(cutoff)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.db(e))?;
        Ok(dropped as u64)
    }

    /// Sets TimescaleDB's retention policies to the periods of `cutoffs` (removing them for
    /// what is kept for ever), once per change. A failure is logged, not returned: the chunks
    /// are dropped by this run either way.
    async fn sync_policies(&self, cutoffs: &RetentionCutoffs) {
        let days =
            |cutoff: Option<DateTime<Utc>>| cutoff.map(|c| (Utc::now() - c).num_days().max(1));
        let wanted = (days(cutoffs.telemetry), days(cutoffs.rollups));
        if *self.retention_policies.lock().expect("policy cache") == Some(wanted) {
            return;
        }
        let relations = std::iter::once(("vehicleops.telemetry", wanted.0))
            .chain(self.aggregate_relations().map(|r| (r, wanted.1)));
        for (relation, days) in relations {
            let mut statements = vec![format!(
                "SELECT remove_retention_policy('{relation}', if_exists => true)"
            )];
            if let Some(days) = days {
                statements.push(format!(
                    "SELECT add_retention_policy('{relation}', INTERVAL '{days} days')"
                ));
            }
            for sql in statements {
                if let Err(e) = sqlx::Executor::execute(&self.pool, sql.as_str()).await {
                    warn!(relation, error = %e, "could not set the TimescaleDB retention policy");
                    return;
                }
            }
        }
        *self.retention_policies.lock().expect("policy cache") = Some(wanted);
    }
}
