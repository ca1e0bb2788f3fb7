//! State survives a restart: open alert episodes, pending commands and active missions are taken
//! up by a new process (here: new pipeline, command center and mission service on a new store
//! handle of the same database), so nothing raises twice and nothing hangs forever.
//!
//! Every scenario runs on a file-backed `SqliteStore` and, with the `postgres` feature, on
//! PostgreSQL when `VEHICLEOPS_TEST_DATABASE_URL` is set (`eval "$(scripts/pg.sh start)"`);
//! without it the PostgreSQL variants print SKIPPED and pass.
//!
//! No assertion depends on timing: each waits for what it needs with a generous deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use vehicleops_core::geodesy::destination;
use vehicleops_core::inproc::{
    InProcessBus, InProcessPublisher, InProcessVehicleLink, command_channel,
};
use vehicleops_core::missions::{MissionServiceConfig, MissionSync};
use vehicleops_core::pipeline::ReadingObserver;
use vehicleops_core::*;

const FLEET: &str = "fleet-001";
const DEADLINE: Duration = Duration::from_secs(60);

/// A database that can be opened again, as a restarted process would.
enum Backend {
    #[cfg(feature = "sqlite")]
    SqliteFile(std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(String),
}

type Stores = (Arc<dyn TimeSeriesStore>, Arc<dyn FleetRepository>);

impl Backend {
    /// A new, empty SQLite file for `name`.
    #[cfg(feature = "sqlite")]
    fn sqlite(name: &str) -> Backend {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("restart-state");
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        let path = dir.join(format!("{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Backend::SqliteFile(path)
    }

    /// A new database on the test server, or `None` (after saying so) when no server is set.
    #[cfg(feature = "postgres")]
    async fn postgres() -> Option<Backend> {
        match std::env::var("VEHICLEOPS_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {}
            _ => {
                eprintln!(
                    "SKIPPED: VEHICLEOPS_TEST_DATABASE_URL is not set; run \
                     `eval \"$(scripts/pg.sh start)\"` to run the restart tests on PostgreSQL"
                );
                return None;
            }
        }
        Some(Backend::Postgres(postgres_support::fresh_database().await))
    }

    /// A new store handle on the database (a new process's).
    async fn open(&self) -> Stores {
        match self {
            #[cfg(feature = "sqlite")]
            Backend::SqliteFile(path) => {
                let store = Arc::new(
                    vehicleops_store::SqliteStore::open(path).expect("open the SQLite file"),
                );
                (store.clone(), store)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(url) => {
                let mut config = vehicleops_store::PostgresConfig::new(url.clone());
                config.max_connections = 4;
                let store = Arc::new(
                    vehicleops_store::PostgresStore::connect_with(config)
                        .await
                        .expect("connect to the test database"),
                );
                (store.clone(), store)
            }
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_support;

/// Polls `probe` until it gives a value; panics after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An hour from now, to the second: the OFFLINE rule compares the wall clock with the newest
/// reading, so it stays quiet however slowly a loaded machine runs the test.
fn now_s() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).unwrap()
}

fn reading(vehicle_id: &str, at: DateTime<Utc>, seq: u64, speed_kmh: f64) -> Telemetry {
    Telemetry {
        vehicle_id: vehicle_id.into(),
        fleet_id: FLEET.into(),
        latitude: 4.711,
        longitude: -74.0721,
        speed_kmh,
        battery_pct: 80.0,
        engine_temp_c: 70.0,
        load_pct: 10.0,
        status: VehicleStatus::Moving,
        timestamp: at,
        heading_deg: 0.0,
        seq,
        pose: None,
    }
}

async fn register(repo: &dyn FleetRepository, vehicles: &[&str]) {
    repo.upsert_fleet(&Fleet {
        id: FLEET.into(),
        name: "Restart test fleet".into(),
    })
    .await
    .unwrap();
    for id in vehicles {
        repo.upsert_vehicle(&Vehicle {
            id: (*id).into(),
            fleet_id: FLEET.into(),
            name: None,
            home: None,
        })
        .await
        .unwrap();
    }
}

/// A pipeline with the default rules on `stores`, fed through the returned publisher.
fn pipeline(stores: &Stores) -> (PipelineHandle, InProcessPublisher) {
    let bus = InProcessBus::new(256);
    let handle = PipelineBuilder::new(Arc::new(bus.source), stores.0.clone())
        .repository(stores.1.clone())
        .rules(default_rules())
        .spawn();
    (handle, bus.publisher)
}

/// Publishes `readings` and waits until the pipeline has stored them and recorded their alert
/// changes (the writer records a batch's alerts before it stops counting the batch in flight).
async fn feed(handle: &PipelineHandle, publisher: &InProcessPublisher, readings: Vec<Telemetry>) {
    let stats = handle.stats();
    let expected = stats.snapshot().valid + readings.len() as u64;
    publisher.publish(readings).await.unwrap();
    eventually("the pipeline to store the readings", || {
        let s = stats.snapshot();
        async move { (s.valid == expected && s.in_flight == 0).then_some(()) }
    })
    .await;
}

async fn alerts_of(repo: &dyn FleetRepository, vehicle_id: &str) -> Vec<Alert> {
    repo.list_alerts(&AlertFilter {
        vehicle_id: Some(vehicle_id.into()),
        ..AlertFilter::default()
    })
    .await
    .unwrap()
    .data
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// One overspeed episode across a restart: one alert, then one clear. Also: an open alert no rule
/// claims is cleared by the vehicle's first reading after the restart.
async fn an_alert_episode_survives_a_restart(backend: Backend) {
    let t0 = now_s();
    let secs = |s: i64| t0 + chrono::Duration::seconds(s);

    // Process #1 sees the vehicle speeding, raises and stores the alert, then goes away.
    let first = backend.open().await;
    let (handle, publisher) = pipeline(&first);
    feed(&handle, &publisher, vec![reading("VH-1", secs(0), 0, 95.0)]).await;
    let raised = alerts_of(&*first.1, "VH-1").await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].alert_type, AlertType::OVERSPEED);
    assert_eq!(raised[0].cleared_at, None);
    // An open alert of a type none of the default rules raises, e.g. from a rule since removed.
    let orphan = Alert {
        id: "alert-orphan".into(),
        vehicle_id: "VH-2".into(),
        fleet_id: FLEET.into(),
        alert_type: AlertType::custom("OVERLOAD"),
        severity: Severity::Medium,
        value: 120.0,
        threshold: 100.0,
        message: "VH-2 overloaded".into(),
        key: None,
        triggered_at: secs(-10),
        cleared_at: None,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    };
    first.1.insert_alert(&orphan).await.unwrap();
    drop(publisher);
    handle.shutdown().await.unwrap();
    drop(first);

    // Process #2, on a new handle of the same database.
    let second = backend.open().await;
    let (handle, publisher) = pipeline(&second);
    feed(
        &handle,
        &publisher,
        vec![
            reading("VH-1", secs(1), 1, 97.0),
            reading("VH-1", secs(2), 2, 99.0),
            reading("VH-2", secs(2), 2, 30.0),
        ],
    )
    .await;
    let alerts = alerts_of(&*second.1, "VH-1").await;
    assert_eq!(
        alerts, raised,
        "still over the limit: the stored episode, no second alert"
    );
    let orphan_now = second.1.get_alert("alert-orphan").await.unwrap().unwrap();
    assert_eq!(
        orphan_now.cleared_at,
        Some(secs(2)),
        "an episode no rule takes up clears with the vehicle's first reading"
    );

    feed(&handle, &publisher, vec![reading("VH-1", secs(3), 3, 60.0)]).await;
    let alerts = alerts_of(&*second.1, "VH-1").await;
    assert_eq!(alerts.len(), 1, "one episode, one alert: {alerts:?}");
    assert_eq!(alerts[0].id, raised[0].id);
    assert_eq!(
        alerts[0].cleared_at,
        Some(secs(3)),
        "cleared once, when back to normal"
    );

    // A later episode is a new alert again.
    feed(&handle, &publisher, vec![reading("VH-1", secs(4), 4, 91.0)]).await;
    assert_eq!(alerts_of(&*second.1, "VH-1").await.len(), 2);

    drop(publisher);
    let stats = handle.shutdown().await.unwrap();
    assert_eq!(stats.alerts_restored, 2, "{stats:?}");
    assert_eq!(stats.alerts_raised, 1, "only the later episode: {stats:?}");
    assert_eq!(stats.alerts_cleared, 2, "{stats:?}");
}

/// Dispatches `kind` (no parameters, no key) to `VH-C` as `issued_by`.
async fn dispatch_to_vh_c(center: &CommandCenter, kind: CommandKind, issued_by: &str) -> Command {
    center
        .dispatch("VH-C", kind, CommandParams::default(), issued_by, None)
        .await
        .unwrap()
}

/// `VH-C` acknowledges `command` with `status` at `at`.
async fn vehicle_acks(
    link: &InProcessVehicleLink,
    command: &Command,
    status: CommandStatus,
    at: DateTime<Utc>,
) {
    link.send_acks(vec![CommandAck {
        command_id: command.id.clone(),
        vehicle_id: "VH-C".into(),
        status,
        at,
        reason: None,
    }])
    .await
    .unwrap();
}

/// Waits until `command` is stored with `status` (`what` names the wait) and returns it.
async fn stored_as(
    repo: &Arc<dyn FleetRepository>,
    command: &Command,
    status: CommandStatus,
    what: &str,
) -> Command {
    eventually(what, || async {
        let stored = repo.get_command(&command.id).await.unwrap().unwrap();
        Some(stored).filter(|c| c.status == status)
    })
    .await
}

/// Commands dispatched before a restart expire (never acknowledged) or time out (delivered,
/// never finished) on the restarted center, on time measured from their stored times; an ack
/// that reaches the restarted center still moves a command on.
async fn pending_commands_survive_a_restart(backend: Backend) {
    let patient = CommandTimeouts {
        delivery: Duration::from_secs(3600),
        execution: Duration::from_secs(3600),
        sweep_interval: Duration::from_millis(20),
    };

    // #1: dispatch two commands; the vehicle confirms delivery of one, then #1 goes away.
    let stores = backend.open().await;
    register(&*stores.1, &["VH-C"]).await;
    let (sink, link) = command_channel(16);
    let (center, task) =
        CommandCenter::start(Arc::new(sink), stores.1.clone(), None, patient.clone());
    let never_acked = dispatch_to_vh_c(&center, CommandKind::Stop, "op-1").await;
    let delivered = dispatch_to_vh_c(&center, CommandKind::Resume, "op-1").await;
    vehicle_acks(&link, &delivered, CommandStatus::Delivered, Utc::now()).await;
    stored_as(
        &stores.1,
        &delivered,
        CommandStatus::Delivered,
        "the delivery to be stored",
    )
    .await;
    drop((center, task, link, stores));

    // #2, with short timeouts: both commands end, neither hangs.
    let stores = backend.open().await;
    let short = CommandTimeouts {
        delivery: Duration::from_millis(300),
        execution: Duration::from_millis(300),
        sweep_interval: Duration::from_millis(20),
    };
    let (sink, _link) = command_channel(16);
    let (center, task) = CommandCenter::start(Arc::new(sink), stores.1.clone(), None, short);
    assert_eq!(center.resume().await.unwrap(), 2);
    let expired = stored_as(
        &stores.1,
        &never_acked,
        CommandStatus::Expired,
        "the undelivered command to expire",
    )
    .await;
    let timed_out = stored_as(
        &stores.1,
        &delivered,
        CommandStatus::Timeout,
        "the delivered command to time out",
    )
    .await;
    assert_eq!(
        expired.failure_reason.as_deref(),
        Some("no vehicle acknowledged the command in time")
    );
    assert_eq!(
        timed_out.failure_reason.as_deref(),
        Some("the vehicle did not finish the command in time")
    );
    assert_eq!(
        (
            expired.issued_at.timestamp_micros(),
            expired.issued_by.as_str()
        ),
        (never_acked.issued_at.timestamp_micros(), "op-1"),
        "who issued what and when is kept"
    );
    assert_eq!(center.pending_count(), 0);
    drop((center, task, stores));

    // #3 dispatches a command that is delivered; #4 takes it up and applies the vehicle's
    // EXECUTED ack.
    let stores = backend.open().await;
    let (sink, link) = command_channel(16);
    let (center, task) =
        CommandCenter::start(Arc::new(sink), stores.1.clone(), None, patient.clone());
    let reroute = dispatch_to_vh_c(&center, CommandKind::ReturnToBase, "op-2").await;
    vehicle_acks(&link, &reroute, CommandStatus::Delivered, Utc::now()).await;
    stored_as(
        &stores.1,
        &reroute,
        CommandStatus::Delivered,
        "the delivery to be stored",
    )
    .await;
    drop((center, task, link, stores));

    let stores = backend.open().await;
    let (sink, link) = command_channel(16);
    let (center, _task) = CommandCenter::start(Arc::new(sink), stores.1.clone(), None, patient);
    assert_eq!(center.resume().await.unwrap(), 1);
    assert_eq!(
        center.resume().await.unwrap(),
        0,
        "resuming twice takes nothing twice"
    );
    assert_eq!(center.pending_count(), 1);
    let done_at = Utc::now();
    vehicle_acks(&link, &reroute, CommandStatus::Executed, done_at).await;
    let executed = stored_as(
        &stores.1,
        &reroute,
        CommandStatus::Executed,
        "the command to be executed",
    )
    .await;
    assert!(executed.delivered_at.is_some());
    assert_eq!(
        executed.executed_at.map(|t| t.timestamp_micros()),
        Some(done_at.timestamp_micros())
    );
    eventually("the center to stop tracking it", || {
        let n = center.pending_count();
        async move { (n == 0).then_some(()) }
    })
    .await;
}

fn mission_request(vehicle_id: &str, start: GeoPoint) -> (MissionRequest, Vec<GeoPoint>) {
    let points: Vec<GeoPoint> = (1..=2)
        .map(|i| destination(start, 90.0, 400.0 * f64::from(i)))
        .collect();
    let waypoints = points
        .iter()
        .enumerate()
        .map(|(i, p)| Waypoint {
            latitude: p.latitude,
            longitude: p.longitude,
            order: i as u32 + 1,
        })
        .collect();
    (
        MissionRequest {
            fleet_id: FLEET.into(),
            vehicle_id: vehicle_id.into(),
            mission_type: MissionType::Delivery,
            waypoints,
            priority: MissionPriority::Normal,
        },
        points,
    )
}

/// Readings that start moving at `start` and then stop at each waypoint.
fn drive(
    vehicle_id: &str,
    start: GeoPoint,
    waypoints: &[GeoPoint],
    t0: DateTime<Utc>,
) -> Vec<Telemetry> {
    std::iter::once(start)
        .chain(waypoints.iter().copied())
        .enumerate()
        .map(|(i, p)| Telemetry {
            latitude: p.latitude,
            longitude: p.longitude,
            ..reading(
                vehicle_id,
                t0 + chrono::Duration::seconds(i as i64),
                i as u64,
                20.0,
            )
        })
        .collect()
}

const START: GeoPoint = GeoPoint {
    latitude: 4.711,
    longitude: -74.0721,
};

fn no_refresh() -> MissionServiceConfig {
    MissionServiceConfig {
        refresh_interval: None,
        ..MissionServiceConfig::default()
    }
}

async fn wait_for_mission(
    repo: &Arc<dyn FleetRepository>,
    id: &str,
    status: MissionStatus,
) -> Mission {
    eventually(&format!("mission {id} to be {}", status.as_str()), || {
        let repo = repo.clone();
        let id = id.to_string();
        async move {
            repo.get_mission(&id)
                .await
                .unwrap()
                .filter(|m| m.status == status)
        }
    })
    .await
}

/// A mission created before a restart is taken up by the restarted service and completes from
/// the readings at its waypoints.
async fn an_active_mission_survives_a_restart(backend: Backend) {
    let stores = backend.open().await;
    register(&*stores.1, &["VH-M"]).await;
    let (service, task) = MissionService::start_with(stores.1.clone(), None, no_refresh());
    let (request, waypoints) = mission_request("VH-M", START);
    let mission = service.create(request, "op-1").await.unwrap();
    drop((service, task, stores));

    let stores = backend.open().await;
    let (service, _task) = MissionService::start_with(stores.1.clone(), None, no_refresh());
    assert_eq!(service.resume().await.unwrap(), 1);
    assert_eq!(service.resume().await.unwrap(), 0, "taken up once");
    let bus = InProcessBus::new(64);
    let handle = PipelineBuilder::new(Arc::new(bus.source), stores.0.clone())
        .repository(stores.1.clone())
        .observer(service.clone() as Arc<dyn ReadingObserver>)
        .spawn();
    bus.publisher
        .publish(drive("VH-M", START, &waypoints, now_s()))
        .await
        .unwrap();
    let done = wait_for_mission(&stores.1, &mission.id, MissionStatus::Completed).await;
    assert_eq!(done.completed_waypoints, 2);
    assert!(done.started_at.is_some() && done.completed_at.is_some());
    drop(bus.publisher);
    handle.shutdown().await.unwrap();
    assert_eq!(service.active_count(), 0);
}

/// Two instances on one database: a mission created on A progresses on B, which sees the
/// vehicle's readings; one cancelled on A stops being tracked on B.
async fn missions_follow_the_vehicle_across_instances(backend: Backend) {
    let refreshing = MissionServiceConfig {
        refresh_interval: Some(Duration::from_millis(50)),
        ..MissionServiceConfig::default()
    };
    let a_stores = backend.open().await;
    register(&*a_stores.1, &["VH-A", "VH-B"]).await;
    let b_stores = backend.open().await;
    let (a, _a_task) = MissionService::start_with(a_stores.1.clone(), None, refreshing.clone());
    let (b, _b_task) = MissionService::start_with(b_stores.1.clone(), None, refreshing);

    let (request, waypoints) = mission_request("VH-A", START);
    let mission = a.create(request, "op-1").await.unwrap();
    let (other, _) = mission_request("VH-B", START);
    let other = a.create(other, "op-1").await.unwrap();
    eventually("instance B to take up both missions", || {
        let n = b.active_count();
        async move { (n == 2).then_some(()) }
    })
    .await;

    // Cancelled on A: B drops it at its next refresh.
    a.cancel(&other.id, "op-1").await.unwrap();
    eventually("instance B to drop the cancelled mission", || {
        let n = b.active_count();
        async move { (n == 1).then_some(()) }
    })
    .await;
    assert_eq!(
        b.sync().await.unwrap(),
        MissionSync::default(),
        "nothing left to reconcile"
    );

    // The vehicle's readings reach B only.
    b.observe(
        &drive("VH-A", START, &waypoints, now_s())
            .into_iter()
            .map(|telemetry| Reading {
                telemetry,
                distance_m: 0.0,
            })
            .collect::<Vec<_>>(),
    );
    let done = wait_for_mission(&b_stores.1, &mission.id, MissionStatus::Completed).await;
    assert_eq!(done.completed_waypoints, 2);
    eventually("instance A to drop the mission completed on B", || {
        let n = a.active_count();
        async move { (n == 0).then_some(()) }
    })
    .await;
    assert_eq!(
        b_stores
            .1
            .get_mission(&other.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MissionStatus::Cancelled,
        "B never wrote over the cancellation"
    );
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "sqlite")]
mod sqlite_file {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alert_episode() {
        an_alert_episode_survives_a_restart(Backend::sqlite("alerts")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pending_commands() {
        pending_commands_survive_a_restart(Backend::sqlite("commands")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn active_mission() {
        an_active_mission_survives_a_restart(Backend::sqlite("missions")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missions_across_instances() {
        missions_follow_the_vehicle_across_instances(Backend::sqlite("instances")).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alert_episode() {
        if let Some(backend) = Backend::postgres().await {
            an_alert_episode_survives_a_restart(backend).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pending_commands() {
        if let Some(backend) = Backend::postgres().await {
            pending_commands_survive_a_restart(backend).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn active_mission() {
        if let Some(backend) = Backend::postgres().await {
            an_active_mission_survives_a_restart(backend).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missions_across_instances() {
        if let Some(backend) = Backend::postgres().await {
            missions_follow_the_vehicle_across_instances(backend).await;
        }
    }
}
