//! The whole embedded system in one process: simulator → in-process bus → pipeline (validation,
//! default rules) → `SqliteStore`, live hub, command center and mission service.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use vehicleops_core::geodesy::destination;
use vehicleops_core::hub::ALL_FLEETS;
use vehicleops_core::inproc::{InProcessBus, TelemetryPublisher, command_channel};
use vehicleops_core::missions::DEFAULT_ARRIVAL_RADIUS_M;
use vehicleops_core::simulator::Scenario;
use vehicleops_core::*;
use vehicleops_store::SqliteStore;

fn simulator(vehicles: u32, scenario: Scenario, seed: u64) -> Simulator {
    Simulator::new(SimulatorConfig {
        fleet_id: "fleet-001".into(),
        vehicles,
        interval_ms: 1000,
        scenario,
        seed,
        ..SimulatorConfig::default()
    })
    .unwrap()
}

fn all_time() -> TimeRange {
    TimeRange::new(
        DateTime::from_timestamp(0, 0).unwrap(),
        DateTime::from_timestamp(4_000_000_000, 0).unwrap(),
    )
    .unwrap()
}

type Key = (String, DateTime<Utc>, u64);

async fn stored_keys(store: &SqliteStore, vehicles: &[String]) -> Vec<Key> {
    let mut keys = Vec::new();
    for v in vehicles {
        let rows = store
            .history(&HistoryQuery {
                vehicle_id: v.clone(),
                range: all_time(),
                limit: u32::MAX,
            })
            .await
            .unwrap();
        keys.extend(rows.into_iter().map(|t| (t.vehicle_id, t.timestamp, t.seq)));
    }
    keys
}

/// Counts overspeed episodes the way the OVERSPEED preset defines them: raised above 80 km/h,
/// cleared below 75 km/h.
fn expected_overspeed_episodes(readings: &[Telemetry]) -> usize {
    let mut active: HashMap<&str, bool> = HashMap::new();
    let mut episodes = 0;
    for t in readings {
        let a = active.entry(&t.vehicle_id).or_default();
        if !*a && t.speed_kmh > 80.0 {
            *a = true;
            episodes += 1;
        } else if *a && t.speed_kmh < 75.0 {
            *a = false;
        }
    }
    episodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_reading_is_stored_exactly_once_and_faults_raise_alerts() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let hub = LiveHub::new();
    let mut live = hub.subscribe("fleet-001");
    let bus = InProcessBus::new(4096);
    let pipeline = PipelineBuilder::new(Arc::new(bus.source), store.clone())
        .repository(store.clone())
        .rules(default_rules())
        .hub(hub.clone())
        .config(PipelineConfig {
            batch_size: 500,
            ..PipelineConfig::default()
        })
        .spawn();

    let mut sim = simulator(30, Scenario::FaultInjection, 7);
    let vehicles: Vec<String> = sim.vehicle_ids().map(str::to_owned).collect();
    let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let mut produced = Vec::new();
    for tick in 0..600 {
        let batch = sim.step(start + chrono::Duration::seconds(tick));
        produced.extend(batch.iter().cloned());
        bus.publisher.publish(batch.clone()).await.unwrap();
        if tick % 100 == 0 {
            // A replayed batch and malformed messages in the middle of the stream.
            bus.publisher.publish(batch).await.unwrap();
            bus.publisher
                .publish_raw(b"{\"vehicle_id\": ".to_vec())
                .await
                .unwrap();
            bus.publisher
                .publish_raw(
                    br#"{"vehicle_id":"x","fleet_id":"fleet-001","latitude":123}"#.to_vec(),
                )
                .await
                .unwrap();
        }
    }
    drop(bus.publisher);
    let stats = pipeline.join().await.unwrap();

    let produced_keys: BTreeSet<Key> = produced
        .iter()
        .map(|t| (t.vehicle_id.clone(), t.timestamp, t.seq))
        .collect();
    assert_eq!(
        produced_keys.len(),
        produced.len(),
        "the simulator's keys are unique"
    );
    let stored = stored_keys(&store, &vehicles).await;
    let stored_set: BTreeSet<Key> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "no reading is stored twice");
    assert_eq!(stored_set, produced_keys, "every valid reading is stored");
    assert_eq!(stats.stored, produced.len() as u64);
    assert_eq!(stats.duplicates, 6 * 30);
    assert_eq!(stats.dead_lettered, 12);

    // Fault injection: each kind of fault raised alerts, and overspeed once per episode.
    let alerts = store
        .list_alerts(&AlertFilter {
            fleet_id: Some("fleet-001".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let count = |ty: &AlertType| alerts.data.iter().filter(|a| &a.alert_type == ty).count();
    assert_eq!(
        count(&AlertType::OVERSPEED),
        expected_overspeed_episodes(&produced)
    );
    assert!(count(&AlertType::OVERSPEED) > 0);
    assert!(count(&AlertType::ENGINE_OVERHEAT) > 0);
    assert!(count(&AlertType::LOW_BATTERY) > 0);
    assert_eq!(stats.alerts_raised as usize, alerts.data.len());

    // The live view holds the newest state of every vehicle.
    let snapshot = hub.snapshot("fleet-001");
    assert_eq!(snapshot.len(), 30);
    let mut events = Vec::new();
    live.drain_into(&mut events, usize::MAX);
    assert!(events.iter().any(|e| matches!(e, LiveEvent::Alert(_))));
    let last_seq = produced
        .iter()
        .filter(|t| t.vehicle_id == vehicles[0])
        .map(|t| t.seq)
        .max();
    assert_eq!(snapshot[0].seq, last_seq.unwrap());

    // Analytics agree with the readings.
    let summary = store
        .vehicle_summary(&vehicles[0], all_time())
        .await
        .unwrap();
    assert_eq!(summary.total_readings, 600);
    let max_speed = produced
        .iter()
        .filter(|t| t.vehicle_id == vehicles[0])
        .map(|t| t.speed_kmh)
        .fold(0.0, f64::max);
    assert_eq!(summary.max_speed_kmh, Some(max_speed));
    assert!(summary.total_distance_km > 0.0);
}

async fn register(store: &SqliteStore, sim: &Simulator) {
    store
        .upsert_fleet(&Fleet {
            id: "fleet-001".into(),
            name: "Industrial Zone A".into(),
        })
        .await
        .unwrap();
    for id in sim.vehicle_ids() {
        let vehicle = Vehicle {
            id: id.into(),
            fleet_id: "fleet-001".into(),
            name: None,
            home: sim.home_of(id),
        };
        store.upsert_vehicle(&vehicle).await.unwrap();
    }
}

/// Waits (bounded) until `check` holds; the bound only keeps a broken build from hanging.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gave up waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_command_halts_a_simulated_vehicle_and_reaches_executed() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let hub = LiveHub::new();
    let mut live = hub.subscribe(ALL_FLEETS);
    let sim = Simulator::new(SimulatorConfig {
        fleet_id: "fleet-001".into(),
        vehicles: 3,
        interval_ms: 20,
        scenario: Scenario::HighLoad,
        ..SimulatorConfig::default()
    })
    .unwrap();
    register(&store, &sim).await;
    let bus = InProcessBus::new(1024);
    let pipeline = PipelineBuilder::new(Arc::new(bus.source), store.clone())
        .repository(store.clone())
        .hub(hub.clone())
        .spawn();
    let (sink, link) = command_channel(64);
    let (commands, _task) = CommandCenter::start(
        Arc::new(sink),
        store.clone(),
        Some(hub.clone()),
        CommandTimeouts::default(),
    );
    let running = sim
        .spawn(Arc::new(bus.publisher), Some(Arc::new(link)))
        .unwrap();

    let vehicle = "fleet-001-VH-001";
    eventually("the vehicle moves", || async {
        store
            .latest(vehicle)
            .await
            .unwrap()
            .is_some_and(|t| t.speed_kmh > 5.0)
    })
    .await;
    let unknown = commands
        .dispatch(
            "fleet-001-VH-404",
            CommandKind::Stop,
            Default::default(),
            "op-001",
            None,
        )
        .await;
    assert_eq!(unknown.unwrap_err().kind(), ErrorKind::NotFound);

    let cmd = commands
        .dispatch(
            vehicle,
            CommandKind::Stop,
            Default::default(),
            "op-001",
            None,
        )
        .await
        .unwrap();
    assert_eq!(cmd.status, CommandStatus::Dispatched);
    eventually("STOP is executed", || async {
        store.get_command(&cmd.id).await.unwrap().unwrap().status == CommandStatus::Executed
    })
    .await;
    let stored = store.get_command(&cmd.id).await.unwrap().unwrap();
    assert!(stored.delivered_at.unwrap() <= stored.executed_at.unwrap());
    assert_eq!(stored.issued_by, "op-001");
    eventually("the vehicle reports standing still", || async {
        store
            .latest(vehicle)
            .await
            .unwrap()
            .is_some_and(|t| t.speed_kmh == 0.0 && t.status == VehicleStatus::Stopped)
    })
    .await;
    let history = commands.history(vehicle, 20).await.unwrap();
    assert_eq!(history.data[0].id, cmd.id);

    // Every lifecycle step went out live, in order. The store is written before the live event
    // is published, so the last one may still be on its way: read until it has come.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen.contains(&CommandStatus::Executed) && tokio::time::Instant::now() < deadline {
        let mut events = Vec::new();
        live.drain_into(&mut events, usize::MAX);
        for e in events {
            if let LiveEvent::Command(c) = e
                && c.id == cmd.id
            {
                seen.push(c.status);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        seen,
        vec![
            CommandStatus::Dispatched,
            CommandStatus::Delivered,
            CommandStatus::Executed
        ]
    );

    running.stop().await.unwrap();
    pipeline.shutdown().await.unwrap();
}

/// An empty in-memory store with `fleet-001` and one vehicle in it.
async fn store_with_vehicle(vehicle_id: &str) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let fleet = Fleet {
        id: "fleet-001".into(),
        name: "Zone A".into(),
    };
    store.upsert_fleet(&fleet).await.unwrap();
    let vehicle = Vehicle {
        id: vehicle_id.into(),
        fleet_id: fleet.id,
        name: None,
        home: None,
    };
    store.upsert_vehicle(&vehicle).await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missions_progress_from_telemetry_and_one_active_mission_per_vehicle() {
    let store = store_with_vehicle("VH-1").await;
    let (missions, _task) = MissionService::start(store.clone(), None, DEFAULT_ARRIVAL_RADIUS_M);
    let bus = InProcessBus::new(256);
    let pipeline = PipelineBuilder::new(Arc::new(bus.source), store.clone())
        .repository(store.clone())
        .observer(missions.clone())
        .spawn();

    let start = GeoPoint {
        latitude: 4.7110,
        longitude: -74.0721,
    };
    let waypoints: Vec<Waypoint> = (1..=3)
        .map(|i| {
            let p = destination(start, 45.0, 200.0 * i as f64);
            Waypoint {
                latitude: p.latitude,
                longitude: p.longitude,
                order: i,
            }
        })
        .collect();
    let request = MissionRequest {
        fleet_id: "fleet-001".into(),
        vehicle_id: "VH-1".into(),
        mission_type: MissionType::Delivery,
        waypoints: waypoints.clone(),
        priority: MissionPriority::High,
    };
    let mission = missions.create(request.clone(), "op-1").await.unwrap();
    let conflict = missions.create(request.clone(), "op-1").await.unwrap_err();
    assert_eq!(conflict.kind(), ErrorKind::Conflict);
    let wrong_fleet = MissionRequest {
        fleet_id: "fleet-002".into(),
        ..request.clone()
    };
    assert_eq!(
        missions
            .create(wrong_fleet, "op-1")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    // Drive 10 m/s (36 km/h) along the route, one reading a second.
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    for s in 0..=61 {
        let here = destination(start, 45.0, 10.0 * s as f64);
        let t = Telemetry {
            vehicle_id: "VH-1".into(),
            fleet_id: "fleet-001".into(),
            latitude: here.latitude,
            longitude: here.longitude,
            speed_kmh: 36.0,
            battery_pct: 90.0,
            engine_temp_c: 70.0,
            load_pct: 20.0,
            status: VehicleStatus::Moving,
            timestamp: t0 + chrono::Duration::seconds(s),
            heading_deg: 45.0,
            seq: s as u64,
            pose: None,
        };
        bus.publisher.publish(vec![t]).await.unwrap();
        if s == 25 {
            eventually("first waypoint reached", || async {
                missions.get(&mission.id).await.unwrap().completed_waypoints == 1
            })
            .await;
            let m = missions.get(&mission.id).await.unwrap();
            assert_eq!(m.status, MissionStatus::InProgress);
            assert_eq!(m.completion_pct(), 33.3);
            // 350 m left at 10 m/s.
            let eta = (m.estimated_completion.unwrap() - (t0 + chrono::Duration::seconds(25)))
                .num_seconds();
            assert!((34..=36).contains(&eta), "estimate {eta} s");
        }
    }
    eventually("mission completed and persisted", || async {
        store
            .get_mission(&mission.id)
            .await
            .unwrap()
            .unwrap()
            .status
            == MissionStatus::Completed
    })
    .await;
    let done = store.get_mission(&mission.id).await.unwrap().unwrap();
    assert_eq!(done.completed_waypoints, 3);
    assert_eq!(done.started_at, Some(t0));
    // The vehicle is free for a new mission.
    missions.create(request, "op-1").await.unwrap();
    drop(bus.publisher);
    pipeline.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_reach_commands_dispatched_before_a_restart() {
    let store = store_with_vehicle("VH-1").await;
    let (sink, _link) = command_channel(8);
    let (before, task) = CommandCenter::start(
        Arc::new(sink),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let cmd = before
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            Default::default(),
            "op-001",
            None,
        )
        .await
        .unwrap();
    drop(task);

    // A new center (the process restarted) has nothing in memory but the stored command.
    let (sink, _link) = command_channel(8);
    let (after, _task) = CommandCenter::start(
        Arc::new(sink),
        store.clone(),
        None,
        CommandTimeouts::default(),
    );
    let ack = |status| CommandAck {
        command_id: cmd.id.clone(),
        vehicle_id: "VH-1".into(),
        status,
        at: Utc::now(),
        reason: None,
    };
    let delivered = after
        .apply_ack(&ack(CommandStatus::Delivered))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivered.status, CommandStatus::Delivered);
    after
        .apply_ack(&ack(CommandStatus::Executed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get_command(&cmd.id).await.unwrap().unwrap().status,
        CommandStatus::Executed
    );
    // Repeats and late acks change nothing; unknown commands are ignored.
    assert!(
        after
            .apply_ack(&ack(CommandStatus::Delivered))
            .await
            .unwrap()
            .is_none()
    );
    let unknown = CommandAck {
        command_id: "cmd-unknown".into(),
        ..ack(CommandStatus::Executed)
    };
    assert!(after.apply_ack(&unknown).await.unwrap().is_none());
}
