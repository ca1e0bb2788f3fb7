//! Missions reaching their vehicles through a [`MissionLink`]: the command link's REROUTE and
//! STOP, and the mission service assigning, reporting progress and cancelling through a link
//! that records what it was told. An in-memory repository stands in for the store.
//!
//! No timed assertions: the background persistence task is waited for by polling with a
//! deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;
use crate::commands::{CommandCenter, CommandCenterTask, CommandTimeouts};
use crate::geodesy::destination;
use crate::model::{GeoPoint, Telemetry};
use crate::test_support::{HeldWrite, MemoryRepository, RecordingSink, telemetry};

const START: GeoPoint = GeoPoint {
    latitude: 4.7110,
    longitude: -74.0721,
};

/// What a [`RecordingLink`] was told.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Assign { mission: String, by: String },
    Progressed { mission: String, completed: u32 },
    Cancel { mission: String, by: String },
}

/// Records every call; fails `assign` / `cancel` while told to.
#[derive(Default)]
struct RecordingLink {
    calls: Mutex<Vec<Call>>,
    refuse_assign: AtomicBool,
    refuse_cancel: AtomicBool,
    /// What `waypoints_reached` answers.
    reached: Mutex<Option<u32>>,
}

impl RecordingLink {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl MissionLink for RecordingLink {
    async fn assign(&self, mission: &Mission, issued_by: &str) -> Result<()> {
        if self.refuse_assign.load(Ordering::SeqCst) {
            return Err(Error::backend_msg("link", "broker unreachable"));
        }
        self.calls.lock().unwrap().push(Call::Assign {
            mission: mission.id.clone(),
            by: issued_by.into(),
        });
        Ok(())
    }

    async fn progressed(&self, mission: &Mission) -> Result<()> {
        self.calls.lock().unwrap().push(Call::Progressed {
            mission: mission.id.clone(),
            completed: mission.completed_waypoints,
        });
        Ok(())
    }

    fn waypoints_reached(&self, _mission: &Mission) -> Option<u32> {
        *self.reached.lock().unwrap()
    }

    async fn cancel(&self, mission: &Mission, issued_by: &str) -> Result<()> {
        self.calls.lock().unwrap().push(Call::Cancel {
            mission: mission.id.clone(),
            by: issued_by.into(),
        });
        if self.refuse_cancel.load(Ordering::SeqCst) {
            return Err(Error::backend_msg("link", "broker unreachable"));
        }
        Ok(())
    }
}

/// Polls `check` until it returns `Some`, for at most 30 s.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waypoints 500 m, 1000 m, … east of [`START`].
fn route(n: usize) -> Vec<GeoPoint> {
    (1..=n)
        .map(|i| destination(START, 90.0, 500.0 * i as f64))
        .collect()
}

fn request(vehicle_id: &str, points: &[GeoPoint]) -> MissionRequest {
    MissionRequest {
        fleet_id: "fleet-001".into(),
        vehicle_id: vehicle_id.into(),
        mission_type: MissionType::Delivery,
        waypoints: points
            .iter()
            .enumerate()
            .map(|(i, p)| Waypoint {
                latitude: p.latitude,
                longitude: p.longitude,
                order: i as u32 + 1,
            })
            .collect(),
        priority: MissionPriority::Normal,
    }
}

fn reading(vehicle_id: &str, p: GeoPoint, second: i64, speed_kmh: f64) -> Reading {
    Reading {
        telemetry: Telemetry {
            latitude: p.latitude,
            longitude: p.longitude,
            speed_kmh,
            heading_deg: 90.0,
            ..telemetry(vehicle_id, second)
        },
        distance_m: 0.0,
    }
}

struct Fixture {
    service: Arc<MissionService>,
    repo: Arc<MemoryRepository>,
    link: Arc<RecordingLink>,
    _task: MissionServiceTask,
}

fn fixture() -> Fixture {
    let repo = Arc::new(MemoryRepository::default());
    let link = Arc::new(RecordingLink::default());
    let (service, task) = MissionService::start_with(
        repo.clone(),
        None,
        MissionServiceConfig {
            arrival_radius_m: 25.0,
            refresh_interval: None,
            link: Some(link.clone()),
        },
    );
    Fixture {
        service,
        repo,
        link,
        _task: task,
    }
}

#[tokio::test]
async fn the_command_link_sends_the_route_as_reroute_and_a_cancel_as_stop() {
    let repo = Arc::new(MemoryRepository::default());
    let sink = Arc::new(RecordingSink::default());
    let (center, _task): (Arc<CommandCenter>, CommandCenterTask) =
        CommandCenter::start(sink.clone(), repo.clone(), None, CommandTimeouts::default());
    let link = CommandMissionLink::new(center);
    let mission = request("VH-1", &route(2)).into_mission().unwrap();

    link.assign(&mission, "op-1").await.unwrap();
    link.progressed(&mission).await.unwrap();
    link.cancel(&mission, "op-2").await.unwrap();

    let sent = sink.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "progress sends nothing: {sent:?}");
    let (reroute, stop) = (&sent[0], &sent[1]);
    assert_eq!(
        (reroute.command, reroute.vehicle_id.as_str()),
        (CommandKind::Reroute, "VH-1")
    );
    assert_eq!(reroute.params.waypoints, mission.waypoints);
    assert_eq!(
        reroute.params.reason.as_deref(),
        Some(format!("mission {}", mission.id).as_str())
    );
    assert_eq!(reroute.issued_by, "op-1");
    assert_eq!(
        (stop.command, stop.issued_by.as_str()),
        (CommandKind::Stop, "op-2")
    );
    assert!(stop.params.waypoints.is_empty());
    assert_eq!(
        stop.params.reason.as_deref(),
        Some(format!("mission {} cancelled", mission.id).as_str())
    );
    // Both went through the command center: recorded with their issuer.
    let stored = repo.commands.lock().unwrap().len();
    assert_eq!(stored, 2);

    // A vehicle the command center does not know: the assignment fails.
    let stranger = request("VH-404", &route(1)).into_mission().unwrap();
    let err = link.assign(&stranger, "op-1").await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn the_service_assigns_new_missions_through_its_link() {
    let f = fixture();
    let mission = f
        .service
        .create(request("VH-1", &route(2)), "op-7")
        .await
        .unwrap();
    assert_eq!(mission.status, MissionStatus::Assigned);
    assert_eq!(
        f.link.calls(),
        [Call::Assign {
            mission: mission.id.clone(),
            by: "op-7".into()
        }]
    );
    assert_eq!(f.service.active_count(), 1);
    assert_eq!(
        f.repo.mission(&mission.id).unwrap().status,
        MissionStatus::Assigned
    );
}

#[tokio::test]
async fn progress_is_reported_once_per_reached_waypoint() {
    let f = fixture();
    let wp = route(3);
    let mission = f
        .service
        .create(request("VH-1", &wp), "op-1")
        .await
        .unwrap();
    let feed = |r: Reading| f.service.observe(&[r]);
    // Parked, then moving: the mission starts but no waypoint is reached.
    feed(reading("VH-1", START, 0, 0.0));
    feed(reading("VH-1", START, 1, 20.0));
    // 30 m short of the first waypoint, then there; halfway to the second; second; third.
    feed(reading("VH-1", destination(START, 90.0, 470.0), 2, 20.0));
    feed(reading("VH-1", wp[0], 3, 20.0));
    feed(reading("VH-1", destination(START, 90.0, 750.0), 4, 20.0));
    feed(reading("VH-1", wp[1], 5, 20.0));
    feed(reading("VH-1", wp[1], 6, 0.0));
    feed(reading("VH-1", wp[2], 7, 20.0));
    // Another vehicle's readings touch nothing.
    feed(reading("VH-2", wp[0], 8, 20.0));

    // The link hears of progress after the step is stored, in order: once the third report
    // is there, every step before it was handled.
    let progressed = |calls: &[Call]| -> Vec<u32> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Progressed {
                    mission: id,
                    completed,
                } if *id == mission.id => Some(*completed),
                _ => None,
            })
            .collect()
    };
    eventually("three progress reports", || {
        (progressed(&f.link.calls()).len() >= 3).then_some(())
    })
    .await;
    assert_eq!(progressed(&f.link.calls()), [1, 2, 3]);
    assert_eq!(f.link.calls().len(), 4, "assign + 3: {:?}", f.link.calls());
    let stored = f.repo.mission(&mission.id).unwrap();
    assert_eq!(
        (stored.status, stored.completed_waypoints),
        (MissionStatus::Completed, 3)
    );
    // Finished: further readings report nothing.
    feed(reading("VH-1", wp[2], 9, 20.0));
    assert_eq!(f.service.active_count(), 0);

    // Two waypoints reached by one reading: one report, with both counted.
    let close: Vec<GeoPoint> = (1..=2)
        .map(|i| destination(START, 0.0, 5.0 * i as f64))
        .collect();
    let second = f
        .service
        .create(request("VH-2", &close), "op-1")
        .await
        .unwrap();
    f.service.observe(&[reading("VH-2", close[1], 10, 5.0)]);
    eventually("a report for the second mission", || {
        f.link
            .calls()
            .into_iter()
            .find(|c| matches!(c, Call::Progressed { mission, .. } if *mission == second.id))
    })
    .await;
    let reports: Vec<Call> = f
        .link
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Progressed { mission, .. } if *mission == second.id))
        .collect();
    assert_eq!(
        reports,
        [Call::Progressed {
            mission: second.id.clone(),
            completed: 2
        }]
    );
}

#[tokio::test]
async fn a_mission_whose_route_cannot_be_sent_ends_failed() {
    let f = fixture();
    f.link.refuse_assign.store(true, Ordering::SeqCst);
    let err = f
        .service
        .create(request("VH-1", &route(2)), "op-1")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("broker unreachable"), "{err}");
    let stored: Vec<Mission> = f.repo.missions.lock().unwrap().values().cloned().collect();
    assert_eq!(stored.len(), 1);
    let failed = &stored[0];
    assert_eq!(failed.status, MissionStatus::Failed, "not left ASSIGNED");
    assert!(failed.completed_at.is_some());
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("broker unreachable")),
        "{failed:?}"
    );
    assert_eq!(f.service.active_count(), 0, "not tracked");
    // Readings of the vehicle move nothing.
    f.service.observe(&[reading("VH-1", route(1)[0], 1, 20.0)]);
    assert_eq!(
        f.service.get(&failed.id).await.unwrap().status,
        MissionStatus::Failed
    );

    // The failed mission does not block the vehicle's next one.
    f.link.refuse_assign.store(false, Ordering::SeqCst);
    let next = f
        .service
        .create(request("VH-1", &route(2)), "op-1")
        .await
        .unwrap();
    assert_eq!(next.status, MissionStatus::Assigned);
    assert_eq!(f.service.active_count(), 1);
}

#[tokio::test]
async fn cancelling_tells_the_link_and_stands_when_the_link_fails() {
    let f = fixture();
    let first = f
        .service
        .create(request("VH-1", &route(2)), "op-1")
        .await
        .unwrap();
    let cancelled = f.service.cancel(&first.id, "op-2").await.unwrap();
    assert_eq!(cancelled.status, MissionStatus::Cancelled);
    assert_eq!(
        f.link.calls().last(),
        Some(&Call::Cancel {
            mission: first.id.clone(),
            by: "op-2".into()
        })
    );
    assert_eq!(
        f.repo.mission(&first.id).unwrap().status,
        MissionStatus::Cancelled
    );
    // Cancelling again is refused and tells the link nothing.
    let calls = f.link.calls().len();
    assert!(f.service.cancel(&first.id, "op-2").await.is_err());
    assert_eq!(f.link.calls().len(), calls);

    // A link that cannot reach the vehicle: logged, the cancellation stands.
    f.link.refuse_cancel.store(true, Ordering::SeqCst);
    let second = f
        .service
        .create(request("VH-1", &route(2)), "op-1")
        .await
        .unwrap();
    let cancelled = f.service.cancel(&second.id, "op-3").await.unwrap();
    assert_eq!(cancelled.status, MissionStatus::Cancelled);
    assert_eq!(
        f.link.calls().last(),
        Some(&Call::Cancel {
            mission: second.id.clone(),
            by: "op-3".into()
        })
    );
    assert_eq!(
        f.repo.mission(&second.id).unwrap().status,
        MissionStatus::Cancelled
    );
    assert_eq!(f.service.active_count(), 0);
}

#[tokio::test]
async fn a_progress_step_in_flight_when_the_mission_is_cancelled_does_not_revive_it() {
    let f = fixture();
    let wp = route(3);
    let first = f
        .service
        .create(request("VH-1", &wp), "op-1")
        .await
        .unwrap();
    // The vehicle reaches the first waypoint; the step's write is caught on its way.
    let hold = Arc::new(HeldWrite::default());
    *f.repo.hold_next_mission_update.lock().unwrap() = Some(hold.clone());
    f.service.observe(&[reading("VH-1", wp[0], 1, 20.0)]);
    eventually("the progress write in flight", || {
        hold.held.load(Ordering::SeqCst).then_some(())
    })
    .await;

    let cancelled = f.service.cancel(&first.id, "op-2").await.unwrap();
    assert_eq!(cancelled.status, MissionStatus::Cancelled);
    hold.release.notify_one();

    // Steps are handled in order: once a later mission's progress reached the link, the held
    // step was handled too.
    let second = f
        .service
        .create(request("VH-1", &wp), "op-1")
        .await
        .unwrap();
    f.service.observe(&[reading("VH-1", wp[0], 2, 20.0)]);
    eventually("the second mission's progress", || {
        f.link
            .calls()
            .into_iter()
            .find(|c| matches!(c, Call::Progressed { mission, .. } if *mission == second.id))
    })
    .await;
    assert_eq!(
        f.repo.mission(&first.id),
        Some(cancelled),
        "the late step was not stored over the cancellation"
    );
    assert!(
        !f.link
            .calls()
            .iter()
            .any(|c| matches!(c, Call::Progressed { mission, .. } if *mission == first.id)),
        "the vehicle heard nothing of the cancelled mission's late step: {:?}",
        f.link.calls()
    );
}

#[tokio::test]
async fn waypoints_the_transport_reports_passed_count_even_where_positions_do_not_show_them() {
    let f = fixture();
    let wp = route(3);
    let mission = f
        .service
        .create(request("VH-1", &wp), "op-1")
        .await
        .unwrap();
    let progressed = |f: &Fixture| -> Vec<u32> {
        f.link
            .calls()
            .iter()
            .filter_map(|c| match c {
                Call::Progressed { completed, .. } => Some(*completed),
                _ => None,
            })
            .collect()
    };
    // Standing at the start, far from every waypoint: nothing the transport does not report.
    f.service.observe(&[reading("VH-1", START, 1, 0.0)]);
    assert_eq!(
        f.service
            .get(&mission.id)
            .await
            .unwrap()
            .completed_waypoints,
        0
    );

    // The vehicle says it passed two waypoints (its readings never came within the arrival
    // radius of them): the mission starts and counts two; the link hears of it.
    *f.link.reached.lock().unwrap() = Some(2);
    let between = destination(START, 90.0, 1200.0);
    f.service.observe(&[reading("VH-1", between, 2, 20.0)]);
    let live = f.service.get(&mission.id).await.unwrap();
    assert_eq!(
        (live.status, live.completed_waypoints),
        (MissionStatus::InProgress, 2)
    );
    eventually("the progress report", || {
        (progressed(&f) == [2]).then_some(())
    })
    .await;

    // A lower count (a stale state) never takes progress back; the last one completes it.
    *f.link.reached.lock().unwrap() = Some(1);
    f.service.observe(&[reading("VH-1", between, 3, 20.0)]);
    assert_eq!(
        f.service
            .get(&mission.id)
            .await
            .unwrap()
            .completed_waypoints,
        2
    );
    *f.link.reached.lock().unwrap() = Some(3);
    f.service.observe(&[reading("VH-1", between, 4, 0.0)]);
    eventually("the mission stored COMPLETED", || {
        f.repo
            .mission(&mission.id)
            .filter(|m| m.status == MissionStatus::Completed)
    })
    .await;
    let done = f.repo.mission(&mission.id).unwrap();
    assert_eq!(done.completed_waypoints, 3);
    assert_eq!(
        done.completed_at.map(|t| t.timestamp()),
        Some(
            reading("VH-1", between, 4, 0.0)
                .telemetry
                .timestamp
                .timestamp()
        )
    );
    assert_eq!(f.service.active_count(), 0);
}
