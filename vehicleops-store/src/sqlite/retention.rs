//! [`RetentionStore`] for [`SqliteStore`]: rows past their retention deleted.
//!
//! Readings before the cutoff are first archived (which adds them to the per-minute rollups),
//! so no reading leaves without its rollup, then deleted vehicle by vehicle through the
//! archive's `(vehicle_id, ts)` key — one short write transaction per vehicle, so ingest is
//! never held up for long.

use async_trait::async_trait;
use vehicleops_core::{Result, RetentionCutoffs, RetentionReport, RetentionStore};

use super::convert::micros;
use super::rollup::{HOUR_US, MINUTE_US};
use super::{SqliteStore, backend_error, telemetry};

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn apply_retention(&self, cutoffs: &RetentionCutoffs) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let vehicles = if cutoffs.telemetry.is_some() || cutoffs.rollups.is_some() {
            self.with_reader(|conn| {
                conn.prepare("SELECT DISTINCT vehicle_id FROM telemetry_streams")
                    .and_then(|mut stmt| {
                        stmt.query_map([], |row| row.get::<_, String>(0))?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(backend_error)
            })
            .await?
        } else {
            Vec::new()
        };
        if let Some(cutoff) = cutoffs.telemetry.map(micros) {
            let tiers = self.tiers();
            self.with_writer(move |conn| telemetry::archive_before(conn, &tiers, cutoff))
                .await?;
            report.telemetry_rows = self
                .per_vehicle(
                    &vehicles,
                    "DELETE FROM telemetry WHERE vehicle_id = ?1 AND ts < ?2",
                    cutoff,
                )
                .await?;
        }
        if let Some(cutoff) = cutoffs.rollups.map(micros) {
            // Whole minutes (hours) only: a row goes once all of it is before the cutoff.
            report.rollups = self
                .per_vehicle(
                    &vehicles,
                    "DELETE FROM telemetry_minutes WHERE vehicle_id = ?1 AND minute <= ?2",
                    cutoff.saturating_sub(MINUTE_US),
                )
                .await?
                + self
                    .per_vehicle(
                        &vehicles,
                        "DELETE FROM telemetry_hours WHERE vehicle_id = ?1 AND hour <= ?2",
                        cutoff.saturating_sub(HOUR_US),
                    )
                    .await?;
        }
        for (cutoff, sql, removed) in [
            (
                cutoffs.alerts,
                "DELETE FROM alerts WHERE triggered_at < ?1 AND cleared_at IS NOT NULL",
                &mut report.alerts,
            ),
            (
                cutoffs.commands,
                "DELETE FROM commands WHERE issued_at < ?1 \
                 AND status NOT IN ('DISPATCHED', 'DELIVERED')",
                &mut report.commands,
            ),
            (
                cutoffs.missions,
                "DELETE FROM missions WHERE created_at < ?1 \
                 AND status NOT IN ('ASSIGNED', 'IN_PROGRESS')",
                &mut report.missions,
            ),
            (
                cutoffs.audit,
                "DELETE FROM audit_log WHERE at < ?1",
                &mut report.audit,
            ),
        ] {
            if let Some(cutoff) = cutoff.map(micros) {
                *removed = self
                    .with_writer(move |conn| conn.execute(sql, [cutoff]).map_err(backend_error))
                    .await? as u64;
            }
        }
        Ok(report)
    }
}

impl SqliteStore {
    /// Runs `sql` (binding a vehicle id and `value`) once per vehicle, each in its own write.
    async fn per_vehicle(&self, vehicles: &[String], sql: &'static str, value: i64) -> Result<u64> {
        let mut removed = 0;
        for vehicle in vehicles {
            let vehicle = vehicle.clone();
            removed += self
                .with_writer(move |conn| {
                    conn.prepare_cached(sql)
                        .and_then(|mut stmt| stmt.execute(rusqlite::params![vehicle, value]))
                        .map_err(backend_error)
                })
                .await? as u64;
        }
        Ok(removed)
    }
}
