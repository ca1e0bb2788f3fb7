//! The engine's own rules: registration, lifecycle and what it refuses, the same for the server
//! and every binding since they all delegate here.

use vehicleops_core::{Error, ErrorKind, GeoPoint, LiveEvent, Vehicle};
use vehicleops_engine::{Engine, EngineSettings};

fn vehicle(id: &str, fleet: &str, name: Option<&str>, home: Option<GeoPoint>) -> Vehicle {
    Vehicle {
        id: id.into(),
        fleet_id: fleet.into(),
        name: name.map(str::to_owned),
        home,
    }
}

#[tokio::test]
async fn registration_is_one_rule() {
    let engine = Engine::open(EngineSettings::default()).await.unwrap();
    // A vehicle needs its fleet.
    let e = engine
        .register_vehicle(vehicle("VH-1", "fleet-x", None, None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // A fleet's name defaults to its id; registering again renames it.
    assert_eq!(
        engine.register_fleet("fleet-x", None).await.unwrap().name,
        "fleet-x"
    );
    engine
        .register_fleet("fleet-x", Some("Yard X"))
        .await
        .unwrap();
    assert_eq!(engine.fleet("fleet-x").await.unwrap().name, "Yard X");
    // A vehicle's name and home stay unless given again.
    let home = GeoPoint {
        latitude: 4.71,
        longitude: -74.07,
    };
    engine
        .register_vehicle(vehicle("VH-1", "fleet-x", Some("Tug 1"), Some(home)))
        .await
        .unwrap();
    let again = engine
        .register_vehicle(vehicle("VH-1", "fleet-x", None, None))
        .await
        .unwrap();
    assert_eq!(
        (again.name.as_deref(), again.home),
        (Some("Tug 1"), Some(home))
    );
    assert_eq!(engine.vehicle("VH-1").await.unwrap(), again);
    // A home off the globe is refused, naming the field; nothing is stored.
    let off = GeoPoint {
        latitude: 95.0,
        longitude: 0.0,
    };
    let e = engine
        .register_vehicle(vehicle("VH-2", "fleet-x", None, Some(off)))
        .await
        .unwrap_err();
    match e {
        Error::Validation(v) => assert_eq!(v.field, "home"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(engine.vehicle("VH-2").await, Err(e) if e.kind() == ErrorKind::NotFound));
    let e = engine.register_fleet(" ", None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn lifecycle_refuses_what_does_not_fit() {
    let engine = Engine::open(EngineSettings::default()).await.unwrap();
    let e = engine.publish(Vec::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "publishing before start: {e}");
    engine.start().await.unwrap();
    assert_eq!(
        engine.start().await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let rule = vehicleops_core::RuleConfig::defaults()
        .remove(0)
        .into_rule()
        .unwrap();
    assert_eq!(
        engine.add_rule(rule).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert!(engine.close().await.unwrap().is_some());
    assert!(
        engine.close().await.unwrap().is_none(),
        "a second close does nothing"
    );
}

#[tokio::test]
async fn closing_an_engine_never_started_ends_its_subscriptions() {
    let engine = Engine::open(EngineSettings::default()).await.unwrap();
    let mut live = engine.subscribe("*");
    engine.close().await.unwrap();
    let next: Option<LiveEvent> = live.recv().await;
    assert!(next.is_none());
}

fn reading_at(vehicle: &str, at: chrono::DateTime<chrono::Utc>) -> vehicleops_core::Telemetry {
    serde_json::from_value(serde_json::json!({
        "vehicle_id": vehicle, "fleet_id": "fleet-w", "latitude": 4.7, "longitude": -74.0,
        "speed_kmh": 10.0, "battery_pct": 90.0, "engine_temp_c": 70.0, "status": "MOVING",
        "timestamp": at.to_rfc3339(), "seq": 1
    }))
    .unwrap()
}

#[tokio::test]
async fn the_timestamp_window_and_the_vehicle_cap_reach_the_pipeline_and_the_hub() {
    use std::time::Duration;
    let mut settings = EngineSettings::default();
    settings.pipeline.accept_past = Some(Duration::from_secs(7 * 24 * 3600));
    settings.pipeline.accept_future = Some(Duration::from_secs(300));
    settings.pipeline.max_vehicles = 5;
    let engine = Engine::open(settings).await.unwrap();
    engine.start().await.unwrap();
    let now = chrono::Utc::now();
    engine
        .publish(vec![
            reading_at("VH-old", now - chrono::Duration::days(8)),
            reading_at("VH-ahead", now + chrono::Duration::minutes(1)),
        ])
        .await
        .unwrap();
    let many = (0..20)
        .map(|i| reading_at(&format!("VH-{i:02}"), now))
        .collect();
    engine.publish(many).await.unwrap();
    engine.flush().await.unwrap();
    let live = engine.snapshot("fleet-w");
    assert_eq!(live.len(), 5, "{live:?}");
    assert!(live.iter().all(|u| u.vehicle_id != "VH-old"));
    let stats = engine.close().await.unwrap().unwrap();
    assert_eq!((stats.valid, stats.dead_lettered), (21, 1));
    assert_eq!(stats.vehicles_evicted, 21 - 5);
}
