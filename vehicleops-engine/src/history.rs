//! Looking back: the path a vehicle drove (trip playback) and a fleet at a past instant.

use chrono::{DateTime, Duration, Utc};
use vehicleops_core::history::simplify_path;
use vehicleops_core::{
    Error, FleetSnapshot, HistoryQuery, PathPoint, RecordsQuery, Result, Telemetry, TimeRange,
    TimeSeriesStore, VehiclePath,
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
        let mut pages = HistoryPages::new(vehicle_id, range);
        while let Some(page) = pages.next(&**self.store()).await? {
            points.extend(page.iter().map(PathPoint::from));
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

/// A vehicle's readings in a window of any length, read from the store page by page, each
/// reading once, oldest first: what paths and exports walk.
pub(crate) struct HistoryPages {
    vehicle_id: String,
    range: TimeRange,
    /// Key of the last reading handed out.
    last: Option<(DateTime<Utc>, u64)>,
    done: bool,
}

impl HistoryPages {
    pub(crate) fn new(vehicle_id: &str, range: TimeRange) -> Self {
        HistoryPages {
            vehicle_id: vehicle_id.to_owned(),
            range,
            last: None,
            done: false,
        }
    }

    /// The next page, `None` once the window is read.
    pub(crate) async fn next(
        &mut self,
        store: &dyn TimeSeriesStore,
    ) -> Result<Option<Vec<Telemetry>>> {
        if self.done {
            return Ok(None);
        }
        let page = store
            .history(&HistoryQuery {
                vehicle_id: self.vehicle_id.clone(),
                range: TimeRange {
                    from: self.last.map_or(self.range.from, |(t, _)| t),
                    to: self.range.to,
                },
                limit: HistoryQuery::MAX_LIMIT,
            })
            .await?;
        let full = page.len() == HistoryQuery::MAX_LIMIT as usize;
        // The next page starts at the last timestamp read: readings already taken at that
        // timestamp (lower or equal `seq`) come again and are skipped.
        let last = self.last;
        let fresh: Vec<Telemetry> = page
            .into_iter()
            .filter(|t| last.is_none_or(|l| (t.timestamp, t.seq) > l))
            .collect();
        // A full page that added nothing would come back the same (a whole page of readings at
        // one instant, which no vehicle sends): stop rather than loop.
        if !full || fresh.is_empty() {
            self.done = true;
        }
        match fresh.last() {
            Some(t) => {
                self.last = Some((t.timestamp, t.seq));
                Ok(Some(fresh))
            }
            None => Ok(None),
        }
    }
}

/// A fleet's alerts, commands or missions in a window, read page by page through a
/// [`RecordsQuery`] keyset, each once, oldest first: what exports and reports walk.
pub(crate) struct RecordPages {
    query: RecordsQuery,
    done: bool,
}

impl RecordPages {
    pub(crate) fn new(fleet_id: &str, range: TimeRange) -> Self {
        RecordPages {
            query: RecordsQuery {
                fleet_id: fleet_id.to_owned(),
                range,
                after: None,
                limit: RecordsQuery::MAX_LIMIT,
            },
            done: false,
        }
    }

    /// The next page, read by `fetch` (one of the repository's `*_between` queries) and keyed
    /// as that query orders (`key`: time, id); `None` once the window is read.
    pub(crate) async fn next<T, Fut>(
        &mut self,
        fetch: impl FnOnce(RecordsQuery) -> Fut,
        key: fn(&T) -> (DateTime<Utc>, &str),
    ) -> Result<Option<Vec<T>>>
    where
        Fut: Future<Output = Result<Vec<T>>>,
    {
        if self.done {
            return Ok(None);
        }
        let page = fetch(self.query.clone()).await?;
        self.done = page.len() < self.query.page_size() as usize;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        let (time, id) = key(last);
        self.query.after = Some((time, id.to_owned()));
        Ok(Some(page))
    }
}
