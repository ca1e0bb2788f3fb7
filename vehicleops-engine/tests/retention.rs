//! Retention that applies: a started engine removes what is past its policy at start and on its
//! schedule, counts it, and refuses a policy that makes no sense.

mod common;

use chrono::{Duration, Utc};
use common::eventually;
use vehicleops_core::{
    Alert, AlertType, ErrorKind, HistoryQuery, Reading, RetentionPolicy, Severity, Telemetry,
    TimeRange, VehicleStatus,
};
use vehicleops_engine::{Engine, EngineSettings};

fn reading(days_ago: i64) -> Reading {
    Reading {
        telemetry: Telemetry {
            vehicle_id: "VH-1".into(),
            fleet_id: "fleet-r".into(),
            latitude: 4.7,
            longitude: -74.0,
            speed_kmh: 20.0,
            battery_pct: 80.0,
            engine_temp_c: 60.0,
            load_pct: 0.0,
            status: VehicleStatus::Moving,
            timestamp: Utc::now() - Duration::days(days_ago),
            heading_deg: 0.0,
            seq: 0,
            pose: None,
        },
        distance_m: 0.0,
    }
}

fn cleared_alert(id: &str, days_ago: i64) -> Alert {
    let at = Utc::now() - Duration::days(days_ago);
    Alert {
        id: id.into(),
        vehicle_id: "VH-1".into(),
        fleet_id: "fleet-r".into(),
        alert_type: AlertType::OVERSPEED,
        severity: Severity::High,
        value: 90.0,
        threshold: 80.0,
        message: "over speed".into(),
        key: None,
        triggered_at: at,
        cleared_at: Some(at + Duration::seconds(10)),
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    }
}

#[tokio::test]
async fn a_started_engine_applies_its_policy_and_counts_what_went() {
    let engine = Engine::open(EngineSettings {
        retention: RetentionPolicy {
            telemetry_days: Some(7),
            rollup_days: Some(30),
            alerts_days: Some(7),
            ..RetentionPolicy::default()
        },
        ..EngineSettings::default()
    })
    .await
    .unwrap();
    let store = engine.store().clone();
    store.write_batch(&[reading(10), reading(1)]).await.unwrap();
    store.insert_alert(&cleared_alert("old", 10)).await.unwrap();
    store.insert_alert(&cleared_alert("new", 1)).await.unwrap();
    assert_eq!(engine.retention_stats().runs, 0);

    engine.start().await.unwrap();
    let stats = eventually("the run at start", || async {
        let s = engine.retention_stats();
        (s.runs >= 1).then_some(s)
    })
    .await;
    assert_eq!(stats.removed.telemetry_rows, 1, "{stats:?}");
    assert_eq!(stats.removed.alerts, 1, "{stats:?}");
    assert!(stats.last_run_at.is_some());
    let left = store
        .history(&HistoryQuery {
            vehicle_id: "VH-1".into(),
            range: TimeRange::new(Utc::now() - Duration::days(30), Utc::now()).unwrap(),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the reading of yesterday stays");
    assert!(store.get_alert("old").await.unwrap().is_none());
    assert!(store.get_alert("new").await.unwrap().is_some());

    // On demand: nothing more to remove, and counted as a run.
    let report = engine.apply_retention().await.unwrap();
    assert_eq!(report.telemetry_rows + report.alerts, 0);
    assert!(engine.retention_stats().runs >= 2);
    engine.close().await.unwrap();
}

#[tokio::test]
async fn a_policy_that_makes_no_sense_is_refused_naming_the_field() {
    for (policy, field) in [
        (
            RetentionPolicy {
                telemetry_days: Some(30),
                rollup_days: Some(7),
                ..RetentionPolicy::default()
            },
            "rollup_days",
        ),
        (
            RetentionPolicy {
                alerts_days: Some(0),
                ..RetentionPolicy::default()
            },
            "alerts_days",
        ),
    ] {
        let Err(e) = Engine::open(EngineSettings {
            retention: policy,
            ..EngineSettings::default()
        })
        .await
        else {
            panic!("{policy:?} was accepted");
        };
        assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
    // Keeping everything (the default) removes nothing and schedules nothing.
    let engine = Engine::open(EngineSettings::default()).await.unwrap();
    assert_eq!(engine.apply_retention().await.unwrap(), Default::default());
    assert_eq!(engine.retention_stats().runs, 0);
}
