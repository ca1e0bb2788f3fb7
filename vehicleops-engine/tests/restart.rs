//! State survives: an engine that crashes mid-episode, mid-command and mid-mission is replaced
//! by a new one on the same database, which takes all three up again — one alert per episode
//! and one clear across the crash, the pending command ends EXPIRED on time, the mission
//! reaches COMPLETED from the readings the new engine sees.
//!
//! A crash is the engine's runtime shutting down under it (no close, no drain: every task is
//! dropped where it is), the closest an in-process test comes to SIGKILL. The SQLite case always
//! runs; the Kafka + PostgreSQL case (two instances of one consumer group, the first one leaving
//! so its partitions move to the second) runs when `VEHICLEOPS_TEST_KAFKA` and
//! `VEHICLEOPS_TEST_DATABASE_URL` are set, and prints SKIPPED otherwise.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::eventually_every;
use vehicleops_core::{
    AlertFilter, AlertType, Command, CommandKind, CommandParams, CommandStatus, CommandTimeouts,
    Mission, MissionPriority, MissionRequest, MissionStatus, MissionType, Telemetry, Vehicle,
    VehicleStatus, Waypoint,
};
use vehicleops_engine::{Engine, EngineSettings, StoreSettings};

const FLEET: &str = "fleet-restart";
/// How often a wait polls the engine.
const POLL: Duration = Duration::from_millis(50);

fn reading(vehicle: &str, seq: u64, speed_kmh: f64, lat: f64, lon: f64) -> Telemetry {
    Telemetry {
        vehicle_id: vehicle.into(),
        fleet_id: FLEET.into(),
        latitude: lat,
        longitude: lon,
        speed_kmh,
        battery_pct: 80.0,
        engine_temp_c: 70.0,
        load_pct: 10.0,
        status: VehicleStatus::Moving,
        timestamp: Utc::now(),
        heading_deg: 0.0,
        seq,
        pose: None,
    }
}

fn settings(store: StoreSettings) -> EngineSettings {
    EngineSettings {
        store,
        command_timeouts: CommandTimeouts {
            delivery: Duration::from_secs(3),
            execution: Duration::from_secs(10),
            sweep_interval: Duration::from_millis(100),
        },
        ..EngineSettings::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn overspeed_alerts(engine: &Engine, vehicle: &str) -> Vec<vehicleops_core::Alert> {
    let page = engine
        .alerts(&AlertFilter {
            vehicle_id: Some(vehicle.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    page.data
        .into_iter()
        .filter(|a| a.alert_type == AlertType::OVERSPEED)
        .collect()
}

/// What the first engine left in flight.
struct InFlight {
    alert_id: String,
    command: Command,
    mission: Mission,
}

const START: (f64, f64) = (4.7110, -74.0721);
const WAYPOINT: (f64, f64) = (4.7120, -74.0721);

/// Engine #1: an overspeed episode opens for `vehicle`, a STOP nobody acknowledges is pending,
/// a mission is ASSIGNED.
async fn before_the_crash(engine: &Engine, vehicle: &str) -> InFlight {
    engine.register_fleet(FLEET, None).await.unwrap();
    engine
        .register_vehicle(Vehicle {
            id: vehicle.into(),
            fleet_id: FLEET.into(),
            name: None,
            home: None,
        })
        .await
        .unwrap();
    engine
        .publish(vec![
            reading(vehicle, 1, 40.0, START.0, START.1),
            reading(vehicle, 2, 95.0, START.0, START.1),
            reading(vehicle, 3, 97.0, START.0, START.1),
        ])
        .await
        .unwrap();
    let alerts = eventually_every("the overspeed alert is stored", POLL, || async {
        let a = overspeed_alerts(engine, vehicle).await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(alerts.len(), 1, "one episode, one alert: {alerts:?}");
    assert!(alerts[0].cleared_at.is_none());
    let mission = engine
        .create_mission(
            MissionRequest {
                fleet_id: FLEET.into(),
                vehicle_id: vehicle.into(),
                mission_type: MissionType::Delivery,
                waypoints: vec![Waypoint {
                    latitude: WAYPOINT.0,
                    longitude: WAYPOINT.1,
                    order: 1,
                }],
                priority: MissionPriority::Normal,
            },
            "tester",
        )
        .await
        .unwrap();
    let command = engine
        .dispatch_command(
            vehicle,
            CommandKind::Stop,
            CommandParams::default(),
            "tester",
            None,
        )
        .await
        .unwrap();
    InFlight {
        alert_id: alerts[0].id.clone(),
        command,
        mission,
    }
}

/// Engine #2 after the crash: the episode continues and clears once, the command expires, the
/// mission completes.
async fn after_the_crash(engine: &Engine, vehicle: &str, before: &InFlight) {
    // Still over the limit: the same episode, nothing new raised.
    engine
        .publish(vec![reading(vehicle, 4, 96.0, START.0, START.1)])
        .await
        .unwrap();
    engine.flush().await.unwrap();
    // Back under the limit, at the mission's waypoint.
    engine
        .publish(vec![reading(vehicle, 5, 30.0, WAYPOINT.0, WAYPOINT.1)])
        .await
        .unwrap();
    let alerts = eventually_every("the episode is cleared", POLL, || async {
        let a = overspeed_alerts(engine, vehicle).await;
        a.iter().any(|a| a.cleared_at.is_some()).then_some(a)
    })
    .await;
    assert_eq!(
        alerts.len(),
        1,
        "still one alert for the episode: {alerts:?}"
    );
    assert_eq!(alerts[0].id, before.alert_id);

    let command = eventually_every(
        "the pending command reaches a final status",
        POLL,
        || async {
            let c = engine.command(&before.command.id).await.unwrap();
            c.status.is_terminal().then_some(c)
        },
    )
    .await;
    assert_eq!(command.status, CommandStatus::Expired, "{command:?}");

    let mission = eventually_every("the mission completes", POLL, || async {
        let m = engine.mission(&before.mission.id).await.unwrap();
        (m.status == MissionStatus::Completed).then_some(m)
    })
    .await;
    assert_eq!(mission.completed_waypoints, 1);
}

#[test]
fn a_crashed_engine_on_a_sqlite_file_is_taken_up_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSettings::Sqlite {
        path: Some(dir.path().join("fleet.db")),
    };
    let vehicle = "VH-RESTART-1";

    let first = runtime();
    let before = first.block_on(async {
        let engine = Engine::open(settings(store.clone())).await.unwrap();
        engine.start().await.unwrap();
        before_the_crash(&engine, vehicle).await
    });
    // The crash: every task of engine #1 is dropped where it is.
    first.shutdown_background();

    runtime().block_on(async {
        let engine = Engine::open(settings(store)).await.unwrap();
        engine.start().await.unwrap();
        after_the_crash(&engine, vehicle, &before).await;
        engine.close().await.unwrap();
    });
}

#[cfg(all(feature = "kafka", feature = "postgres"))]
#[test]
fn a_partition_moving_to_another_instance_keeps_episodes_commands_and_missions() {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (Some(kafka), Some(db)) = (
        get("VEHICLEOPS_TEST_KAFKA"),
        get("VEHICLEOPS_TEST_DATABASE_URL"),
    ) else {
        eprintln!(
            "SKIPPED: set VEHICLEOPS_TEST_KAFKA (scripts/kafka.sh start) and \
             VEHICLEOPS_TEST_DATABASE_URL (scripts/pg.sh start) to run this test"
        );
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut config = vehicleops_kafka::KafkaConfig::new(kafka);
    config.group_id = format!("vehicleops-restart-{run}");
    config.topics = config.topics.with_suffix(&format!(".restart-{run}"));
    let instance = || EngineSettings {
        transport: vehicleops_engine::TransportSettings::Kafka(vehicleops_engine::KafkaTransport {
            config: config.clone(),
            create_topics: true,
            share_events: false,
        }),
        ..settings(StoreSettings::Postgres { url: db.clone() })
    };
    let vehicle = format!("VH-MOVE-{run}");
    runtime().block_on(async {
        // Instance A owns every partition while the episode, the command and the mission begin.
        let a = Engine::open(instance()).await.unwrap();
        a.start().await.unwrap();
        let before = before_the_crash(&a, &vehicle).await;
        // Instance B joins the group; A leaves it, so its partitions move to B.
        let b = Engine::open(instance()).await.unwrap();
        b.start().await.unwrap();
        a.close().await.unwrap();
        after_the_crash(&b, &vehicle, &before).await;
        b.close().await.unwrap();
    });
}
