//! Looking back: the path a vehicle drove (trip playback) and a fleet at a past instant.

use chrono::{DateTime, Duration, Utc};
use vehicleops_core::history::simplify_path;
use vehicleops_core::{
    Error, FleetSnapshot, HistoryQuery, PathPoint, Result, TimeRange, VehiclePath,
};

use crate::Engine;

impl Engine {
    /// Longest window [`Engine::vehicle_path`] reads, in days: a week of 1 Hz readings is about
    /// 600,000 points held at once (≈ 30 MB) while they are simplified.
    pub const PATH_MAX_DAYS: i64 = 7;
    /// Largest simplification tolerance, metres.
    pub const PATH_MAX_TOLERANCE_M: f64 = 1000.0;

    /// The path a vehicle drove in `range`, for replaying a trip: its readings simplified with
    /// Douglas–Peucker so that none lies farther than `tolerance_m` metres from the path (0
    /// keeps every reading), keeping every change of status and the window's ends. The
    /// window may span [`Self::PATH_MAX_DAYS`]; readings are read from the store in pages.
    pub async fn vehicle_path(
        &self,
        vehicle_id: &str,
        range: TimeRange,
        tolerance_m: f64,
    ) -> Result<VehiclePath> {
        if !(0.0..=Self::PATH_MAX_TOLERANCE_M).contains(&tolerance_m) {
            return Err(Error::validation(
                "tolerance_m",
                format!(
                    "must be between 0 and {} metres, got {tolerance_m}",
                    Self::PATH_MAX_TOLERANCE_M
                ),
            ));
        }
        if range.to - range.from > Duration::days(Self::PATH_MAX_DAYS) {
            return Err(Error::validation(
                "from",
                format!(
                    "a path may span at most {} days; ask for a shorter window",
                    Self::PATH_MAX_DAYS
                ),
            ));
        }
        let mut points: Vec<PathPoint> = Vec::new();
        let mut last: Option<(DateTime<Utc>, u64)> = None;
        let mut from = range.from;
        loop {
            let page = self
                .store()
                .history(&HistoryQuery {
                    vehicle_id: vehicle_id.to_owned(),
                    range: TimeRange { from, to: range.to },
                    limit: HistoryQuery::MAX_LIMIT,
                })
                .await?;
            let full = page.len() == HistoryQuery::MAX_LIMIT as usize;
            let before = points.len();
            // The next page starts at the last timestamp read: readings already taken at that
            // timestamp (lower or equal `seq`) come again and are skipped.
            for t in &page {
                let key = (t.timestamp, t.seq);
                if last.is_none_or(|l| key > l) {
                    points.push(PathPoint::from(t));
                    last = Some(key);
                }
            }
            match last {
                // A page that added nothing would come back the same: a whole page of readings
                // at one instant (no vehicle reports that way), so stop rather than loop.
                Some((t, _)) if full && points.len() > before => from = t,
                _ => break,
            }
        }
        let readings = points.len() as u64;
        // Simplifying a week of readings is tens of milliseconds of CPU: off the async threads.
        let points = tokio::task::spawn_blocking(move || simplify_path(points, tolerance_m))
            .await
            .map_err(|e| Error::backend("simplify", e))?;
        Ok(VehiclePath {
            vehicle_id: vehicle_id.to_owned(),
            range,
            readings,
            tolerance_m,
            points,
        })
    }

    /// The fleet as it was at `at`: each vehicle's last reading at or before it (see
    /// [`vehicleops_core::TimeSeriesStore::fleet_at`]) and the alerts open then.
    pub async fn fleet_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<FleetSnapshot> {
        let store = self.store();
        let (vehicles, open_alerts) = tokio::try_join!(
            store.fleet_at(fleet_id, at),
            store.alerts_open_at(fleet_id, at)
        )?;
        Ok(FleetSnapshot {
            fleet_id: fleet_id.to_owned(),
            at,
            vehicles,
            open_alerts,
        })
    }
}
