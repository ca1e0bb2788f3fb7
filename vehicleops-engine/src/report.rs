//! Daily reports: a fleet's figures per vehicle and site day, from the store's rollups plus the
//! alerts raised and the missions completed (see [`vehicleops_core::ReportQuery`]).

use vehicleops_core::{FleetReport, FleetReportBuilder, FleetStore, ReportQuery, Result};

use crate::Engine;
use crate::history::RecordPages;

impl Engine {
    /// The fleet's daily report over `query`'s days: per vehicle and day, per day, per vehicle
    /// and for the whole fleet — distance, time driving, idle, stopped and charging, average and
    /// top speed, alerts by type and missions completed. Checked first: the days (at most
    /// [`vehicleops_core::MAX_REPORT_DAYS`]), the offset, that the fleet is known and that the
    /// vehicle, if given, is the fleet's.
    pub async fn fleet_report(&self, query: ReportQuery) -> Result<FleetReport> {
        query.validate()?;
        self.check_fleet_scope(&query.fleet_id, query.vehicle_id.as_deref())
            .await?;
        let store: &dyn FleetStore = &**self.store();
        let range = query.range();
        let mut report = FleetReportBuilder::new(query.clone());
        let (telemetry, ()) = tokio::try_join!(store.report_days(&query), async {
            let mut alerts = RecordPages::new(&query.fleet_id, range);
            while let Some(page) = alerts
                .next(
                    |q| async move { store.alerts_between(&q).await },
                    |a| (a.triggered_at, &a.id),
                )
                .await?
            {
                page.iter().for_each(|a| report.add_alert(a));
            }
            let mut missions = RecordPages::new(&query.fleet_id, range);
            while let Some(page) = missions
                .next(
                    |q| async move { store.missions_ended_between(&q).await },
                    |m| (m.completed_at.unwrap_or(m.created_at), &m.id),
                )
                .await?
            {
                page.iter().for_each(|m| report.add_mission(m));
            }
            Ok(())
        })?;
        telemetry
            .into_iter()
            .for_each(|day| report.add_telemetry(day));
        Ok(report.finish())
    }
}
