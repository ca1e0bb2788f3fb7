//! Missions: creation with the one-active-mission-per-vehicle rule, and progress from telemetry.
//!
//! [`advance_mission`] is the pure state machine: a mission starts (ASSIGNED → IN_PROGRESS) when
//! its vehicle starts moving, a waypoint counts as reached when a reading is within the arrival
//! radius of it, and the mission completes at the last one. [`MissionService`] applies it to the
//! pipeline's readings (it is a [`ReadingObserver`]), keeps an estimated completion time from the
//! remaining route and the vehicle's recent speed, persists each step and publishes it live.
//!
//! The route goes to the vehicle through a [`MissionLink`] given in [`MissionServiceConfig`]:
//! [`MissionService::create`] assigns the new mission through it (a mission whose route cannot
//! be sent ends FAILED), each step that reaches waypoints is reported to it (so a transport
//! that holds part of the route back, like a VDA 5050 order's horizon, can release more), and
//! [`MissionService::cancel`] tells it the vehicle is to drop the mission.
//! [`CommandMissionLink`] is the link for transports without a mission form of their own: the
//! route as a REROUTE command, a STOP when cancelled.
//!
//! Active missions are shared through the repository: [`MissionService::resume`] takes up the
//! ones stored (after a restart), and a periodic refresh ([`MissionServiceConfig`]) takes up
//! missions created by another instance and drops the ones that ended elsewhere, so a mission
//! progresses on whichever instance sees its vehicle's readings.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::commands::CommandCenter;
use crate::error::{Error, ErrorKind, Result, ValidationError};
use crate::geodesy::distance_m;
use crate::hub::{LiveEvent, LiveHub};
use crate::model::{
    CommandKind, CommandParams, Mission, MissionPriority, MissionStatus, MissionType, Reading,
    Telemetry, Waypoint,
};
use crate::pipeline::ReadingObserver;
use crate::traits::{FleetRepository, MissionLink};

/// Default distance at which a waypoint counts as reached.
pub const DEFAULT_ARRIVAL_RADIUS_M: f64 = 25.0;
/// Speeds below this count as standing still.
const MOVING_KMH: f64 = 0.5;

/// A request to create a mission, in the original's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissionRequest {
    pub fleet_id: String,
    pub vehicle_id: String,
    pub mission_type: MissionType,
    pub waypoints: Vec<Waypoint>,
    #[serde(default)]
    pub priority: MissionPriority,
}

impl MissionRequest {
    /// Checks the waypoints and returns a new ASSIGNED mission, waypoints sorted by `order`.
    pub fn into_mission(self) -> Result<Mission, ValidationError> {
        if self.waypoints.is_empty() {
            return Err(ValidationError::new(
                "waypoints",
                "a mission needs at least one waypoint",
            ));
        }
        if self.waypoints.len() > 1000 {
            return Err(ValidationError::new("waypoints", "at most 1000 waypoints"));
        }
        for wp in &self.waypoints {
            crate::decode::validate_lat_lon(wp.latitude, wp.longitude, "waypoints")?;
        }
        let mut waypoints = self.waypoints;
        waypoints.sort_by_key(|w| w.order);
        for (i, wp) in waypoints.iter_mut().enumerate() {
            wp.order = i as u32 + 1;
        }
        Ok(Mission {
            id: format!("mission-{}", uuid::Uuid::new_v4().simple()),
            fleet_id: self.fleet_id,
            vehicle_id: self.vehicle_id,
            mission_type: self.mission_type,
            priority: self.priority,
            waypoints,
            status: MissionStatus::Assigned,
            completed_waypoints: 0,
            created_at: Utc::now(),
            started_at: None,
            completed_at: None,
            estimated_completion: None,
            failure_reason: None,
        })
    }
}

/// Advances `mission` with one reading of its vehicle. Returns whether its status or progress
/// changed (not merely its estimate).
pub fn advance_mission(mission: &mut Mission, t: &Telemetry, arrival_radius_m: f64) -> bool {
    if !mission.status.is_active() {
        return false;
    }
    let mut changed = false;
    let here = t.position();
    let at_next = |m: &Mission| {
        m.waypoints
            .get(m.completed_waypoints as usize)
            .is_some_and(|wp| distance_m(here, wp.point()) <= arrival_radius_m)
    };
    if mission.status == MissionStatus::Assigned && (t.speed_kmh > MOVING_KMH || at_next(mission)) {
        mission.status = MissionStatus::InProgress;
        mission.started_at = Some(t.timestamp);
        changed = true;
    }
    if mission.status == MissionStatus::InProgress {
        while at_next(mission) {
            mission.completed_waypoints += 1;
            changed = true;
        }
        if mission.completed_waypoints >= mission.total_waypoints() {
            mission.status = MissionStatus::Completed;
            mission.completed_at = Some(t.timestamp);
            mission.estimated_completion = Some(t.timestamp);
        }
    }
    changed
}

/// Advances an active `mission` to `reached` waypoints (as its transport reports them), at the
/// time of reading `t`; starts it if it was only assigned and completes it at the last one.
/// Returns whether anything changed. Never goes back.
pub fn reach_waypoints(mission: &mut Mission, reached: u32, t: &Telemetry) -> bool {
    let reached = reached.min(mission.total_waypoints());
    if !mission.status.is_active() || reached <= mission.completed_waypoints {
        return false;
    }
    if mission.status == MissionStatus::Assigned {
        mission.status = MissionStatus::InProgress;
        mission.started_at = Some(t.timestamp);
    }
    mission.completed_waypoints = reached;
    if reached >= mission.total_waypoints() {
        mission.status = MissionStatus::Completed;
        mission.completed_at = Some(t.timestamp);
        mission.estimated_completion = Some(t.timestamp);
    }
    true
}

/// Remaining route length in metres from `here` through the waypoints not yet reached.
pub fn remaining_route_m(mission: &Mission, here: crate::model::GeoPoint) -> f64 {
    let rest =
        &mission.waypoints[(mission.completed_waypoints as usize).min(mission.waypoints.len())..];
    let mut total = 0.0;
    let mut from = here;
    for wp in rest {
        total += distance_m(from, wp.point());
        from = wp.point();
    }
    total
}

struct Tracked {
    mission: Mission,
    /// Exponentially weighted speed while moving, km/h.
    speed_kmh: f64,
}

/// How long a mission that ended here is kept from being taken up again by a refresh that read
/// the repository before its end was stored.
const ENDED_MEMORY: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Tracking {
    /// Active missions by vehicle id.
    by_vehicle: HashMap<String, Tracked>,
    /// Missions that ended here (completed or cancelled), by id, with when: until the repository
    /// stops listing them as active, a refresh must not take them up again.
    ended: HashMap<String, Instant>,
    /// Missions created here whose route is on its way to the vehicle: tracked once it got
    /// there (a refresh must not take them up before), never if it could not be sent.
    assigning: HashSet<String>,
}

impl Tracking {
    fn ended_here(&mut self, mission_id: &str) {
        let now = Instant::now();
        if self.ended.len() >= 1024 {
            self.ended
                .retain(|_, at| now.duration_since(*at) < ENDED_MEMORY);
        }
        self.ended.insert(mission_id.to_string(), now);
    }
}

/// How a [`MissionService`] runs.
#[derive(Clone)]
pub struct MissionServiceConfig {
    /// Distance at which a waypoint counts as reached.
    pub arrival_radius_m: f64,
    /// How often active missions are re-read from the repository, to take up the ones created
    /// by another instance (or stored before a restart) and drop the ones that ended elsewhere.
    /// The first refresh runs at start. `None`: never (single instance; call
    /// [`MissionService::resume`] after a restart).
    pub refresh_interval: Option<Duration>,
    /// Where missions go to their vehicles (assigned, progressed, cancelled); `None`: nowhere,
    /// missions are only tracked (the vehicles get their routes some other way).
    pub link: Option<Arc<dyn MissionLink>>,
}

impl Default for MissionServiceConfig {
    fn default() -> Self {
        MissionServiceConfig {
            arrival_radius_m: DEFAULT_ARRIVAL_RADIUS_M,
            refresh_interval: Some(Duration::from_secs(2)),
            link: None,
        }
    }
}

impl std::fmt::Debug for MissionServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MissionServiceConfig")
            .field("arrival_radius_m", &self.arrival_radius_m)
            .field("refresh_interval", &self.refresh_interval)
            .field("link", &self.link.as_ref().map(|_| "MissionLink"))
            .finish()
    }
}

/// Equal settings and the same link (the same `Arc`, or none).
impl PartialEq for MissionServiceConfig {
    fn eq(&self, other: &Self) -> bool {
        self.arrival_radius_m == other.arrival_radius_m
            && self.refresh_interval == other.refresh_interval
            && match (&self.link, &other.link) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

/// The [`MissionLink`] of transports without a mission form of their own: a mission's route
/// goes to the vehicle as a REROUTE command (reason `mission <id>`) through the
/// [`CommandCenter`], issued by whoever created the mission, and a cancelled mission stops the
/// vehicle with a STOP (reason `mission <id> cancelled`). The vehicle gets the whole route at
/// once, so progress releases nothing.
pub struct CommandMissionLink {
    commands: Arc<CommandCenter>,
}

impl CommandMissionLink {
    pub fn new(commands: Arc<CommandCenter>) -> Self {
        CommandMissionLink { commands }
    }
}

#[async_trait]
impl MissionLink for CommandMissionLink {
    /// Dispatches the REROUTE; fails when the command center does (unknown vehicle, transport
    /// refusal — the command then ends FAILED or EXPIRED).
    async fn assign(&self, mission: &Mission, issued_by: &str) -> Result<()> {
        let route = CommandParams {
            waypoints: mission.waypoints.clone(),
            reason: Some(format!("mission {}", mission.id)),
        };
        self.commands
            .dispatch(
                &mission.vehicle_id,
                CommandKind::Reroute,
                route,
                issued_by,
                None,
            )
            .await
            .map(|_| ())
    }

    async fn progressed(&self, _mission: &Mission) -> Result<()> {
        Ok(())
    }

    async fn cancel(&self, mission: &Mission, issued_by: &str) -> Result<()> {
        let stop = CommandParams {
            waypoints: Vec::new(),
            reason: Some(format!("mission {} cancelled", mission.id)),
        };
        self.commands
            .dispatch(
                &mission.vehicle_id,
                CommandKind::Stop,
                stop,
                issued_by,
                None,
            )
            .await
            .map(|_| ())
    }
}

/// One step of a tracked mission, for the persistence task.
struct Change {
    mission: Mission,
    /// `completed_waypoints` grew with this step: the link hears of it.
    progressed: bool,
}

/// What one [`MissionService::resume`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MissionSync {
    /// Stored active missions taken up.
    pub added: usize,
    /// Tracked missions dropped because they ended elsewhere.
    pub dropped: usize,
}

/// Creates missions and tracks their progress from the pipeline's readings.
pub struct MissionService {
    repository: Arc<dyn FleetRepository>,
    hub: Option<LiveHub>,
    arrival_radius_m: f64,
    link: Option<Arc<dyn MissionLink>>,
    tracking: Mutex<Tracking>,
    changes: mpsc::UnboundedSender<Change>,
}

/// Stops the service's background tasks (persistence, refresh) when dropped.
pub struct MissionServiceTask {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MissionServiceTask {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl MissionService {
    /// Starts the service with `arrival_radius_m`, the default refresh (every 2 s) and no
    /// link (see [`MissionServiceConfig`]); progress changes are persisted and published by a
    /// background task.
    pub fn start(
        repository: Arc<dyn FleetRepository>,
        hub: Option<LiveHub>,
        arrival_radius_m: f64,
    ) -> (Arc<Self>, MissionServiceTask) {
        Self::start_with(
            repository,
            hub,
            MissionServiceConfig {
                arrival_radius_m,
                ..MissionServiceConfig::default()
            },
        )
    }

    /// Starts the service with `config`. Progress changes are persisted, published and (when
    /// they reach waypoints) reported to the link by a background task, in order.
    pub fn start_with(
        repository: Arc<dyn FleetRepository>,
        hub: Option<LiveHub>,
        config: MissionServiceConfig,
    ) -> (Arc<Self>, MissionServiceTask) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
        let repo = repository.clone();
        let publish_to = hub.clone();
        let link = config.link.clone();
        let persist = tokio::spawn(async move {
            while let Some(Change {
                mission: m,
                progressed,
            }) = rx.recv().await
            {
                match repo.update_mission(&m).await {
                    Ok(()) => {}
                    // Cancelled (or ended on another instance) while this step was on its way:
                    // the step is void, the vehicle hears nothing more of the mission.
                    Err(e) if e.kind() == ErrorKind::InvalidTransition => {
                        debug!(mission_id = %m.id, error = %e, "mission ended before its progress was stored; step dropped");
                        continue;
                    }
                    Err(e) => {
                        warn!(mission_id = %m.id, error = %e, "could not persist mission progress")
                    }
                }
                let m = Arc::new(m);
                if let Some(hub) = &publish_to {
                    hub.publish_event(LiveEvent::Mission(m.clone()));
                }
                if let (true, Some(link)) = (progressed, &link) {
                    if let Err(e) = link.progressed(&m).await {
                        warn!(mission_id = %m.id, completed_waypoints = m.completed_waypoints,
                              error = %e, "could not pass mission progress to the vehicle's transport");
                    }
                }
            }
        });
        let service = Arc::new(MissionService {
            repository,
            hub,
            arrival_radius_m: config.arrival_radius_m,
            link: config.link,
            tracking: Mutex::new(Tracking::default()),
            changes: tx,
        });
        let mut tasks = vec![persist];
        if let Some(every) = config.refresh_interval {
            tasks.push(tokio::spawn(refresh_loop(
                Arc::downgrade(&service),
                every.max(Duration::from_millis(10)),
            )));
        }
        (service, MissionServiceTask { tasks })
    }

    /// Takes up the active missions the repository holds that this service does not track
    /// (after a restart, or created by another instance) and drops tracked ones that ended
    /// elsewhere (e.g. cancelled on another instance). A tracked mission keeps its in-memory
    /// progress unless the stored copy is further along. Returns how many were taken up.
    pub async fn resume(&self) -> Result<usize> {
        let sync = self.sync().await?;
        info!(
            resumed = sync.added,
            dropped = sync.dropped,
            "resumed active missions"
        );
        Ok(sync.added)
    }

    /// One reconciliation with the repository (see [`MissionService::resume`]).
    pub async fn sync(&self) -> Result<MissionSync> {
        let stored = self.repository.active_missions().await?;
        let stored_ids: HashSet<String> = stored.iter().map(|m| m.id.clone()).collect();
        let mut outcome = MissionSync::default();
        // Tracked missions the snapshot does not confirm as active: ended elsewhere, or created
        // here after the snapshot was read. Each with the stored mission that would replace it.
        let mut unconfirmed: Vec<(String, Option<Mission>)> = Vec::new();
        {
            let mut tracking = self.tracking.lock().expect("missions lock");
            let now = Instant::now();
            tracking
                .ended
                .retain(|id, at| stored_ids.contains(id) && now.duration_since(*at) < ENDED_MEMORY);
            for m in stored {
                if tracking.ended.contains_key(&m.id) || tracking.assigning.contains(&m.id) {
                    continue;
                }
                match tracking.by_vehicle.get_mut(&m.vehicle_id) {
                    None => {
                        tracking.by_vehicle.insert(
                            m.vehicle_id.clone(),
                            Tracked {
                                mission: m,
                                speed_kmh: 0.0,
                            },
                        );
                        outcome.added += 1;
                    }
                    Some(tracked) if tracked.mission.id == m.id => {
                        if further_along(&m, &tracked.mission) {
                            tracked.mission = m;
                        }
                    }
                    // The repository admits one active mission per vehicle: either ours ended
                    // elsewhere and this one followed, or this one ended before ours began.
                    Some(tracked) => unconfirmed.push((tracked.mission.id.clone(), Some(m))),
                }
            }
            for tracked in tracking.by_vehicle.values() {
                if !stored_ids.contains(&tracked.mission.id) {
                    unconfirmed.push((tracked.mission.id.clone(), None));
                }
            }
        }
        for (mission_id, replacement) in unconfirmed {
            let Some(now_stored) = self.repository.get_mission(&mission_id).await? else {
                continue;
            };
            if now_stored.status.is_active() {
                continue;
            }
            {
                let mut tracking = self.tracking.lock().expect("missions lock");
                let vehicle_id = now_stored.vehicle_id.clone();
                let ours = tracking
                    .by_vehicle
                    .get(&vehicle_id)
                    .is_some_and(|t| t.mission.id == mission_id);
                if !ours {
                    continue;
                }
                tracking.by_vehicle.remove(&vehicle_id);
                outcome.dropped += 1;
                if let Some(next) = replacement {
                    tracking.by_vehicle.insert(
                        vehicle_id,
                        Tracked {
                            mission: next,
                            speed_kmh: 0.0,
                        },
                    );
                    outcome.added += 1;
                }
            }
            debug!(mission_id = %now_stored.id, status = now_stored.status.as_str(),
                   "mission ended elsewhere; no longer tracked here");
            if let Some(hub) = &self.hub {
                hub.publish_event(LiveEvent::Mission(Arc::new(now_stored)));
            }
        }
        Ok(outcome)
    }

    /// How many active missions this service tracks.
    pub fn active_count(&self) -> usize {
        self.tracking
            .lock()
            .expect("missions lock")
            .by_vehicle
            .len()
    }

    /// Creates a mission and sends it to its vehicle through the link on behalf of
    /// `issued_by`; `Conflict` when the vehicle already has an active one, `NotFound` when the
    /// vehicle is unknown or belongs to another fleet.
    ///
    /// When the link cannot send it, the mission is stored FAILED with the link's error as
    /// `failure_reason` (it never blocks the vehicle's next mission) and that error is returned.
    pub async fn create(&self, request: MissionRequest, issued_by: &str) -> Result<Mission> {
        let vehicle = self
            .repository
            .get_vehicle(&request.vehicle_id)
            .await?
            .filter(|v| v.fleet_id == request.fleet_id)
            .ok_or_else(|| Error::not_found("vehicle", &request.vehicle_id))?;
        let mut mission = request.into_mission()?;
        self.lock().assigning.insert(mission.id.clone());
        if let Err(e) = self.repository.insert_mission(&mission).await {
            self.lock().assigning.remove(&mission.id);
            return Err(e);
        }
        if let Some(link) = &self.link {
            if let Err(e) = link.assign(&mission, issued_by).await {
                warn!(mission_id = %mission.id, vehicle_id = %mission.vehicle_id, error = %e,
                      "mission route could not be sent; the mission failed");
                {
                    let mut tracking = self.lock();
                    tracking.assigning.remove(&mission.id);
                    tracking.ended_here(&mission.id);
                }
                mission.status = MissionStatus::Failed;
                mission.completed_at = Some(Utc::now());
                mission.failure_reason = Some(format!("the route could not be sent: {e}"));
                if let Err(store) = self.repository.update_mission(&mission).await {
                    warn!(mission_id = %mission.id, error = %store, "could not store a failed mission");
                }
                self.publish(&mission);
                return Err(e);
            }
        }
        {
            let mut tracking = self.lock();
            tracking.assigning.remove(&mission.id);
            // Cancelled while its route was on its way: nothing left to track.
            if !tracking.ended.contains_key(&mission.id) {
                tracking.by_vehicle.insert(
                    vehicle.id,
                    Tracked {
                        mission: mission.clone(),
                        speed_kmh: 0.0,
                    },
                );
            }
        }
        Ok(mission)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracking> {
        self.tracking.lock().expect("missions lock")
    }

    fn publish(&self, mission: &Mission) {
        if let Some(hub) = &self.hub {
            hub.publish_event(LiveEvent::Mission(Arc::new(mission.clone())));
        }
    }

    /// The freshest view of a mission (live progress and estimate for active ones).
    pub async fn get(&self, mission_id: &str) -> Result<Mission> {
        let live = self
            .tracking
            .lock()
            .expect("missions lock")
            .by_vehicle
            .values()
            .find(|t| t.mission.id == mission_id)
            .map(|t| t.mission.clone());
        match live {
            Some(m) => Ok(m),
            None => self
                .repository
                .get_mission(mission_id)
                .await?
                .ok_or_else(|| Error::not_found("mission", mission_id)),
        }
    }

    /// Cancels an active mission, then tells the link (on behalf of `issued_by`) so the vehicle
    /// drops it; a link failure is logged and the cancellation stands.
    pub async fn cancel(&self, mission_id: &str, issued_by: &str) -> Result<Mission> {
        let mut mission = self.get(mission_id).await?;
        if !mission.status.can_become(MissionStatus::Cancelled) {
            return Err(Error::InvalidTransition {
                entity: "mission",
                from: mission.status.as_str().into(),
                to: MissionStatus::Cancelled.as_str().into(),
            });
        }
        mission.status = MissionStatus::Cancelled;
        mission.completed_at = Some(Utc::now());
        {
            let mut tracking = self.tracking.lock().expect("missions lock");
            if tracking
                .by_vehicle
                .get(&mission.vehicle_id)
                .is_some_and(|t| t.mission.id == mission.id)
            {
                tracking.by_vehicle.remove(&mission.vehicle_id);
            }
            tracking.ended_here(&mission.id);
        }
        self.repository.update_mission(&mission).await?;
        if let Some(link) = &self.link {
            if let Err(e) = link.cancel(&mission, issued_by).await {
                warn!(mission_id = %mission.id, vehicle_id = %mission.vehicle_id, error = %e,
                      "the vehicle could not be told that its mission was cancelled");
            }
        }
        Ok(mission)
    }

    fn estimate(tracked: &mut Tracked, t: &Telemetry) {
        if t.speed_kmh > MOVING_KMH {
            tracked.speed_kmh = if tracked.speed_kmh == 0.0 {
                t.speed_kmh
            } else {
                0.8 * tracked.speed_kmh + 0.2 * t.speed_kmh
            };
        }
        let m = &mut tracked.mission;
        if m.status == MissionStatus::InProgress && tracked.speed_kmh > MOVING_KMH {
            let secs = remaining_route_m(m, t.position()) / (tracked.speed_kmh / 3.6);
            m.estimated_completion =
                Some(t.timestamp + chrono::Duration::milliseconds((secs * 1000.0) as i64));
        }
    }
}

impl ReadingObserver for MissionService {
    fn observe(&self, readings: &[Reading]) {
        let mut tracking = self.tracking.lock().expect("missions lock");
        if tracking.by_vehicle.is_empty() {
            return;
        }
        for r in readings {
            let Some(tracked) = tracking.by_vehicle.get_mut(&r.telemetry.vehicle_id) else {
                continue;
            };
            let reached_before = tracked.mission.completed_waypoints;
            let mut changed =
                advance_mission(&mut tracked.mission, &r.telemetry, self.arrival_radius_m);
            if let Some(reached) = self
                .link
                .as_ref()
                .and_then(|link| link.waypoints_reached(&tracked.mission))
            {
                changed |= reach_waypoints(&mut tracked.mission, reached, &r.telemetry);
            }
            Self::estimate(tracked, &r.telemetry);
            if changed {
                let _ = self.changes.send(Change {
                    mission: tracked.mission.clone(),
                    progressed: tracked.mission.completed_waypoints > reached_before,
                });
            }
            if !tracked.mission.status.is_active() {
                let id = tracked.mission.id.clone();
                tracking.by_vehicle.remove(&r.telemetry.vehicle_id);
                tracking.ended_here(&id);
            }
        }
    }
}

/// Whether `stored` has progressed beyond `tracked` (same mission).
fn further_along(stored: &Mission, tracked: &Mission) -> bool {
    let rank = |m: &Mission| {
        (
            match m.status {
                MissionStatus::Assigned => 0,
                MissionStatus::InProgress => 1,
                _ => 2,
            },
            m.completed_waypoints,
        )
    };
    rank(stored) > rank(tracked)
}

/// Reconciles `service` with the repository every `every` until the service is gone.
async fn refresh_loop(service: Weak<MissionService>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(service) = service.upgrade() else {
            break;
        };
        match service.sync().await {
            Ok(sync) if sync != MissionSync::default() => info!(
                added = sync.added,
                dropped = sync.dropped,
                "active missions refreshed from the repository"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not refresh active missions; retrying later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::destination;
    use crate::model::{GeoPoint, VehicleStatus};

    const START: GeoPoint = GeoPoint {
        latitude: 4.7110,
        longitude: -74.0721,
    };

    fn request(points: &[GeoPoint]) -> MissionRequest {
        MissionRequest {
            fleet_id: "fleet-001".into(),
            vehicle_id: "VH-1".into(),
            mission_type: MissionType::Delivery,
            waypoints: points
                .iter()
                .enumerate()
                .rev()
                .map(|(i, p)| Waypoint {
                    latitude: p.latitude,
                    longitude: p.longitude,
                    order: i as u32 + 1,
                })
                .collect(),
            priority: MissionPriority::Normal,
        }
    }

    fn at(p: GeoPoint, second: i64, speed: f64) -> Telemetry {
        Telemetry {
            vehicle_id: "VH-1".into(),
            fleet_id: "fleet-001".into(),
            latitude: p.latitude,
            longitude: p.longitude,
            speed_kmh: speed,
            battery_pct: 80.0,
            engine_temp_c: 70.0,
            load_pct: 0.0,
            status: VehicleStatus::Moving,
            timestamp: chrono::DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap(),
            heading_deg: 0.0,
            seq: second as u64,
            pose: None,
        }
    }

    #[test]
    fn waypoints_are_ordered_and_validated() {
        let wp: Vec<GeoPoint> = (1..=3)
            .map(|i| destination(START, 0.0, 500.0 * i as f64))
            .collect();
        let m = request(&wp).into_mission().unwrap();
        assert_eq!(
            m.waypoints.iter().map(|w| w.order).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(m.waypoints[0].latitude, wp[0].latitude);
        assert_eq!(m.status, MissionStatus::Assigned);
        assert_eq!(request(&[]).into_mission().unwrap_err().field, "waypoints");
        let bad = GeoPoint {
            latitude: 4.0,
            longitude: 200.0,
        };
        assert_eq!(
            request(&[bad]).into_mission().unwrap_err().field,
            "waypoints"
        );
    }

    #[test]
    fn progress_follows_the_vehicle_through_each_waypoint() {
        let wp: Vec<GeoPoint> = (1..=3)
            .map(|i| destination(START, 90.0, 500.0 * i as f64))
            .collect();
        let mut m = request(&wp).into_mission().unwrap();
        assert!(
            !advance_mission(&mut m, &at(START, 0, 0.0), 25.0),
            "parked: not started"
        );
        assert!(advance_mission(&mut m, &at(START, 1, 20.0), 25.0));
        assert_eq!(m.status, MissionStatus::InProgress);
        assert_eq!(m.started_at.unwrap().timestamp(), 1_700_000_001);
        // 30 m short of the first waypoint is not there yet; 10 m is.
        assert!(!advance_mission(
            &mut m,
            &at(destination(START, 90.0, 470.0), 2, 20.0),
            25.0
        ));
        assert!(advance_mission(
            &mut m,
            &at(destination(START, 90.0, 490.0), 3, 20.0),
            25.0
        ));
        assert_eq!((m.completed_waypoints, m.completion_pct()), (1, 33.3));
        let remaining = remaining_route_m(&m, destination(START, 90.0, 490.0));
        assert!((remaining - 1010.0).abs() < 1.0, "{remaining}");
        advance_mission(&mut m, &at(wp[1], 4, 20.0), 25.0);
        assert!(advance_mission(&mut m, &at(wp[2], 5, 20.0), 25.0));
        assert_eq!(m.status, MissionStatus::Completed);
        assert_eq!(m.completion_pct(), 100.0);
        assert!(
            !advance_mission(&mut m, &at(START, 6, 20.0), 25.0),
            "finished missions stay put"
        );
    }

    #[test]
    fn mission_status_transitions() {
        use MissionStatus::*;
        assert!(Assigned.can_become(InProgress) && Assigned.can_become(Cancelled));
        assert!(InProgress.can_become(Completed) && InProgress.can_become(Failed));
        assert!(!Completed.can_become(InProgress) && !Cancelled.can_become(Assigned));
        assert!(!Assigned.can_become(Completed));
        assert!(Assigned.is_active() && InProgress.is_active() && !Completed.is_active());
    }
}

#[cfg(test)]
mod link_tests;
