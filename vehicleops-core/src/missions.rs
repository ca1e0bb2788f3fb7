//! Missions: creation with the one-active-mission-per-vehicle rule, and progress from telemetry.
//!
//! [`advance_mission`] is the pure state machine: a mission starts (ASSIGNED → IN_PROGRESS) when
//! its vehicle starts moving, a waypoint counts as reached when a reading is within the arrival
//! radius of it, and the mission completes at the last one. [`MissionService`] applies it to the
//! pipeline's readings (it is a [`ReadingObserver`]), keeps an estimated completion time from the
//! remaining route and the vehicle's recent speed, persists each step and publishes it live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::error::{Error, Result, ValidationError};
use crate::geodesy::distance_m;
use crate::hub::{LiveEvent, LiveHub};
use crate::model::{
    Mission, MissionPriority, MissionStatus, MissionType, Reading, Telemetry, Waypoint,
};
use crate::pipeline::ReadingObserver;
use crate::traits::FleetRepository;

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

/// Creates missions and tracks their progress from the pipeline's readings.
pub struct MissionService {
    repository: Arc<dyn FleetRepository>,
    arrival_radius_m: f64,
    /// Active missions by vehicle id.
    active: Mutex<HashMap<String, Tracked>>,
    changes: mpsc::UnboundedSender<Mission>,
}

/// Stops the persistence task when dropped.
pub struct MissionServiceTask(JoinHandle<()>);

impl Drop for MissionServiceTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl MissionService {
    /// Starts the service; progress changes are persisted and published by a background task.
    pub fn start(
        repository: Arc<dyn FleetRepository>,
        hub: Option<LiveHub>,
        arrival_radius_m: f64,
    ) -> (Arc<Self>, MissionServiceTask) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Mission>();
        let repo = repository.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let Err(e) = repo.update_mission(&m).await {
                    warn!(mission_id = %m.id, error = %e, "could not persist mission progress");
                }
                if let Some(hub) = &hub {
                    hub.publish_event(LiveEvent::Mission(Arc::new(m)));
                }
            }
        });
        let service = Arc::new(MissionService {
            repository,
            arrival_radius_m,
            active: Mutex::new(HashMap::new()),
            changes: tx,
        });
        (service, MissionServiceTask(task))
    }

    /// Creates a mission; `Conflict` when the vehicle already has an active one, `NotFound` when
    /// the vehicle is unknown or belongs to another fleet.
    pub async fn create(&self, request: MissionRequest) -> Result<Mission> {
        let vehicle = self
            .repository
            .get_vehicle(&request.vehicle_id)
            .await?
            .filter(|v| v.fleet_id == request.fleet_id)
            .ok_or_else(|| Error::not_found("vehicle", &request.vehicle_id))?;
        let mission = request.into_mission()?;
        self.repository.insert_mission(&mission).await?;
        self.active.lock().expect("missions lock").insert(
            vehicle.id,
            Tracked {
                mission: mission.clone(),
                speed_kmh: 0.0,
            },
        );
        Ok(mission)
    }

    /// The freshest view of a mission (live progress and estimate for active ones).
    pub async fn get(&self, mission_id: &str) -> Result<Mission> {
        let live = self
            .active
            .lock()
            .expect("missions lock")
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

    /// Cancels an active mission.
    pub async fn cancel(&self, mission_id: &str) -> Result<Mission> {
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
        self.active
            .lock()
            .expect("missions lock")
            .remove(&mission.vehicle_id);
        self.repository.update_mission(&mission).await?;
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
        let mut active = self.active.lock().expect("missions lock");
        if active.is_empty() {
            return;
        }
        for r in readings {
            let Some(tracked) = active.get_mut(&r.telemetry.vehicle_id) else {
                continue;
            };
            let changed =
                advance_mission(&mut tracked.mission, &r.telemetry, self.arrival_radius_m);
            Self::estimate(tracked, &r.telemetry);
            if changed {
                let _ = self.changes.send(tracked.mission.clone());
            }
            if !tracked.mission.status.is_active() {
                active.remove(&r.telemetry.vehicle_id);
            }
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
