//! Daily reports through the engine: telemetry from the store's rollups, alerts and completed
//! missions counted on the site's days, totals per vehicle, day and fleet; the report as CSV
//! and Parquet; bad queries refused with the field named.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use common::engine_with_vehicles;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vehicleops_core::{
    Alert, AlertType, ErrorKind, Mission, MissionPriority, MissionStatus, MissionType, Reading,
    ReportQuery, Severity, Telemetry, VehicleStatus,
};
use vehicleops_engine::{Engine, ExportFormat};

const FLEET: &str = "fleet-report";

/// 20:00 UTC on 2026-11-30: 15:00 the same day at UTC−5.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// One reading a second for `secs` seconds from `start`, `distance_m` each, in `status`.
fn drive(vehicle: &str, start: DateTime<Utc>, secs: i64, status: VehicleStatus) -> Vec<Reading> {
    (0..secs)
        .map(|i| Reading {
            telemetry: Telemetry {
                vehicle_id: vehicle.into(),
                fleet_id: FLEET.into(),
                latitude: 4.7,
                longitude: -74.05,
                speed_kmh: if status == VehicleStatus::Moving {
                    18.0
                } else {
                    0.0
                },
                battery_pct: 80.0,
                engine_temp_c: 60.0,
                load_pct: 0.0,
                status,
                timestamp: start + Duration::seconds(i),
                heading_deg: 0.0,
                seq: i as u64,
                pose: None,
            },
            distance_m: if status == VehicleStatus::Moving {
                5.0
            } else {
                0.0
            },
        })
        .collect()
}

fn alert(id: &str, vehicle: &str, alert_type: AlertType, at: DateTime<Utc>) -> Alert {
    Alert {
        id: id.into(),
        vehicle_id: vehicle.into(),
        fleet_id: FLEET.into(),
        alert_type,
        severity: Severity::High,
        value: 1.0,
        threshold: 0.0,
        message: String::new(),
        key: None,
        triggered_at: at,
        cleared_at: None,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    }
}

fn mission(id: &str, vehicle: &str, status: MissionStatus, ended: DateTime<Utc>) -> Mission {
    Mission {
        id: id.into(),
        fleet_id: FLEET.into(),
        vehicle_id: vehicle.into(),
        mission_type: MissionType::Delivery,
        priority: MissionPriority::High,
        waypoints: Vec::new(),
        status,
        completed_waypoints: 0,
        // Created long before the report: it counts by when it ended.
        created_at: ended - Duration::days(3),
        started_at: None,
        completed_at: Some(ended),
        estimated_completion: None,
        failure_reason: None,
    }
}

/// VH-1 drives 10 minutes at 15:00 local on the 30th and idles 5 minutes just after midnight
/// local (05:00 UTC on 1 December); VH-2 charges 2 minutes on the 30th. Alerts and missions on
/// both days.
async fn engine_with_a_day_of_work() -> Engine {
    let engine = engine_with_vehicles(
        &[FLEET, "fleet-other"],
        &[("VH-1", FLEET), ("VH-2", FLEET), ("VH-9", "fleet-other")],
    )
    .await;
    let store = engine.store();
    let after_midnight = Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap();
    for batch in [
        drive("VH-1", t0(), 600, VehicleStatus::Moving),
        drive("VH-1", after_midnight, 300, VehicleStatus::Idle),
        drive("VH-2", t0(), 120, VehicleStatus::Charging),
    ] {
        store.write_batch(&batch).await.unwrap();
    }
    for a in [
        alert(
            "a1",
            "VH-1",
            AlertType::OVERSPEED,
            t0() + Duration::minutes(1),
        ),
        alert(
            "a2",
            "VH-1",
            AlertType::OVERSPEED,
            t0() + Duration::minutes(2),
        ),
        alert("a3", "VH-2", AlertType::LOW_BATTERY, t0()),
        // 04:59 UTC on 1 December is still the 30th at UTC−5.
        alert(
            "a4",
            "VH-1",
            AlertType::OFFLINE,
            after_midnight - Duration::minutes(1),
        ),
        alert(
            "a5",
            "VH-1",
            AlertType::OFFLINE,
            after_midnight + Duration::minutes(1),
        ),
    ] {
        store.insert_alert(&a).await.unwrap();
    }
    for m in [
        mission(
            "m1",
            "VH-1",
            MissionStatus::Completed,
            t0() + Duration::minutes(10),
        ),
        mission(
            "m2",
            "VH-1",
            MissionStatus::Cancelled,
            t0() + Duration::minutes(11),
        ),
        mission(
            "m3",
            "VH-1",
            MissionStatus::Completed,
            after_midnight + Duration::hours(1),
        ),
    ] {
        store.insert_mission(&m).await.unwrap();
    }
    engine
}

fn query(from: &str, to: &str, offset: i32) -> ReportQuery {
    ReportQuery {
        fleet_id: FLEET.into(),
        vehicle_id: None,
        from: day(from),
        to: day(to),
        utc_offset_minutes: offset,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn a_report_adds_up_each_vehicles_days_on_the_sites_calendar() {
    let engine = engine_with_a_day_of_work().await;
    let report = engine
        .fleet_report(query("2026-11-30", "2026-12-01", -300))
        .await
        .unwrap();

    let rows: Vec<(String, &str)> = report
        .days
        .iter()
        .map(|d| (d.day.to_string(), d.vehicle_id.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-11-30".to_string(), "VH-1"),
            ("2026-11-30".to_string(), "VH-2"),
            ("2026-12-01".to_string(), "VH-1"),
        ]
    );
    let drove = &report.days[0].figures;
    assert_eq!(drove.readings, 600);
    assert!(close(drove.distance_km, 3.0));
    assert!(close(drove.driving_s, 600.0), "{drove:?}");
    assert_eq!(drove.avg_speed_kmh, Some(18.0));
    assert_eq!(
        drove.alerts, 3,
        "two overspeeds and the offline at 23:59 local"
    );
    assert_eq!(drove.alerts_by_type["OVERSPEED"], 2);
    assert_eq!(drove.alerts_by_type["OFFLINE"], 1);
    assert_eq!(
        drove.missions_completed, 1,
        "the cancelled one does not count"
    );
    let charged = &report.days[1].figures;
    assert!(close(charged.charging_s, 120.0));
    assert_eq!(charged.alerts_by_type["LOW_BATTERY"], 1);
    let idled = &report.days[2].figures;
    assert!(close(idled.idle_s, 300.0));
    assert_eq!(idled.max_speed_kmh, Some(0.0));
    assert_eq!((idled.alerts, idled.missions_completed), (1, 1));

    assert_eq!(
        report.vehicles[0].vehicle_id, "VH-1",
        "longest distance first"
    );
    assert_eq!(report.vehicles[0].figures.readings, 900);
    assert!(close(report.fleet.driving_s, 600.0));
    assert!(close(report.fleet.idle_s, 300.0));
    assert!(close(report.fleet.charging_s, 120.0));
    assert_eq!(report.fleet.alerts, 5);
    assert_eq!(report.fleet.missions_completed, 2);
    assert_eq!(report.fleet_days.len(), 2);
    assert_eq!(report.fleet_days[0].figures.readings, 720);

    // One vehicle only.
    let one = engine
        .fleet_report(ReportQuery {
            vehicle_id: Some("VH-2".into()),
            ..query("2026-11-30", "2026-12-01", -300)
        })
        .await
        .unwrap();
    assert_eq!(one.vehicles.len(), 1);
    assert_eq!(one.fleet.alerts, 1);
    assert_eq!(one.fleet.missions_completed, 0);

    // In UTC the idle minutes and the late alert move to 1 December.
    let utc = engine
        .fleet_report(query("2026-11-30", "2026-11-30", 0))
        .await
        .unwrap();
    assert_eq!(utc.fleet.readings, 720);
    assert_eq!(utc.fleet.alerts, 3);
}

#[tokio::test]
async fn a_report_exports_as_csv_and_parquet_one_row_per_vehicle_day() {
    let engine = engine_with_a_day_of_work().await;
    let mut csv = Vec::new();
    let mut stream = engine
        .export_report(query("2026-11-30", "2026-12-01", -300), ExportFormat::Csv)
        .await
        .unwrap();
    while let Some(chunk) = stream.next_chunk().await {
        csv.extend(chunk.unwrap());
    }
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "day,vehicle_id,readings,distance_km,driving_s,idle_s,stopped_s,charging_s,other_s,\
         avg_speed_kmh,max_speed_kmh,alerts,alerts_by_type,missions_completed"
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("2026-11-30,VH-1,600,3,600,0,0,0,0,18,18,3,"),
        "{first}"
    );
    assert!(
        first.contains(r#""{""OFFLINE"":1,""OVERSPEED"":2}""#),
        "{first}"
    );
    assert_eq!(lines.count(), 2);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.parquet");
    let rows = engine
        .export_report(
            query("2026-11-30", "2026-12-01", -300),
            ExportFormat::Parquet,
        )
        .await
        .unwrap()
        .write_to(&path)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let batch = &batches[0];
    let readings = batch
        .column_by_name("readings")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert_eq!(readings.values(), &[600, 120, 300]);
    let idle = batch
        .column_by_name("idle_s")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(close(idle.value(2), 300.0));
}

#[tokio::test]
async fn bad_report_queries_name_what_is_wrong() {
    let engine = engine_with_a_day_of_work().await;
    let err = engine
        .fleet_report(query("2026-12-01", "2026-11-30", 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(err.to_string().contains("from"), "{err}");
    let err = engine
        .fleet_report(query("2025-01-01", "2026-11-30", 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 366 days"), "{err}");
    let err = engine
        .fleet_report(query("2026-11-30", "2026-11-30", 901))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("utc_offset_minutes"), "{err}");
    let err = engine
        .fleet_report(ReportQuery {
            fleet_id: "fleet-404".into(),
            ..query("2026-11-30", "2026-11-30", 0)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = engine
        .fleet_report(ReportQuery {
            vehicle_id: Some("VH-9".into()),
            ..query("2026-11-30", "2026-11-30", 0)
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in fleet"), "{err}");

    // A known fleet with nothing in the range: an empty report, not an error.
    let quiet = engine
        .fleet_report(query("2026-01-01", "2026-01-31", 0))
        .await
        .unwrap();
    assert!(quiet.days.is_empty() && quiet.vehicles.is_empty());
    assert_eq!(quiet.fleet.readings, 0);
    assert_eq!(quiet.fleet.avg_speed_kmh, None);
}
