//! Exports: every kind as CSV and as Parquet, read back; windows, vehicles and fleets respected;
//! long windows read in pages; bad requests refused before any byte.

mod common;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt64Type};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::engine_with_vehicles;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vehicleops_core::{
    Alert, AlertType, Command, CommandKind, CommandParams, CommandStatus, ErrorKind, Mission,
    MissionPriority, MissionStatus, MissionType, Reading, Severity, Telemetry, TimeRange,
    VehicleStatus, Waypoint,
};
use vehicleops_engine::{Engine, ExportFormat, ExportKind, ExportRequest};

const FLEET: &str = "fleet-export";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
}

fn reading(vehicle: &str, fleet: &str, secs: i64) -> Reading {
    Reading {
        telemetry: Telemetry {
            vehicle_id: vehicle.into(),
            fleet_id: fleet.into(),
            latitude: 4.70 + secs as f64 * 1e-6,
            longitude: -74.05,
            speed_kmh: (secs % 40) as f64,
            battery_pct: 80.0,
            engine_temp_c: 65.5,
            load_pct: 10.0,
            status: VehicleStatus::Moving,
            timestamp: t0() + Duration::seconds(secs),
            heading_deg: 90.0,
            seq: secs as u64,
            pose: None,
        },
        distance_m: 1.0,
    }
}

async fn engine_with_fleet() -> Engine {
    engine_with_vehicles(
        &[FLEET, "fleet-other"],
        &[("VH-1", FLEET), ("VH-2", FLEET), ("VH-9", "fleet-other")],
    )
    .await
}

fn request(kind: ExportKind, format: ExportFormat, range: TimeRange) -> ExportRequest {
    ExportRequest {
        kind,
        format,
        fleet_id: FLEET.into(),
        vehicle_id: None,
        range,
    }
}

fn window(from_secs: i64, to_secs: i64) -> TimeRange {
    TimeRange {
        from: t0() + Duration::seconds(from_secs),
        to: t0() + Duration::seconds(to_secs),
    }
}

/// The whole export in memory.
async fn bytes_of(engine: &Engine, request: ExportRequest) -> Vec<u8> {
    let mut stream = engine.export(request).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next_chunk().await {
        out.extend(chunk.unwrap());
    }
    out
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn parquet_batches(bytes: Vec<u8>) -> Vec<arrow_array::RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

#[tokio::test]
async fn telemetry_of_a_long_window_exports_every_reading_once_as_csv_and_parquet() {
    let engine = engine_with_fleet().await;
    // VH-1: 25,000 readings (three store pages); VH-2: 10; VH-9 in another fleet.
    let mut readings: Vec<Reading> = (0..25_000).map(|s| reading("VH-1", FLEET, s)).collect();
    readings.extend((0..10).map(|s| reading("VH-2", FLEET, s * 100)));
    readings.extend((0..10).map(|s| reading("VH-9", "fleet-other", s)));
    for chunk in readings.chunks(5_000) {
        engine.store().write_batch(chunk).await.unwrap();
    }
    let range = window(0, 24_999);

    let csv = bytes_of(
        &engine,
        request(ExportKind::Telemetry, ExportFormat::Csv, range),
    )
    .await;
    let (header, rows) = csv_rows(&csv);
    assert_eq!(header, ExportKind::Telemetry.columns());
    assert_eq!(rows.len(), 25_010, "every reading of the fleet, once");
    assert_eq!(
        rows[0][..4],
        ["VH-1", FLEET, "2026-11-30T08:00:00.000000Z", "0"],
        "vehicle by vehicle, oldest first, times in RFC 3339 UTC"
    );
    assert_eq!(rows[24_999][3], "24999");
    assert_eq!(rows[25_000][0], "VH-2");
    assert!(rows.iter().all(|r| r[1] == FLEET), "no other fleet");
    assert_eq!(rows[1][6], "1", "speed");
    assert_eq!(rows[0][12], "", "no map pose: empty cells");

    let parquet = bytes_of(
        &engine,
        request(ExportKind::Telemetry, ExportFormat::Parquet, range),
    )
    .await;
    let batches = parquet_batches(parquet);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ExportKind::Telemetry.columns());
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 25_010);
    let seq_sum: u64 = batches
        .iter()
        .map(|b| {
            b.column_by_name("seq")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .values()
                .iter()
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        seq_sum,
        (0..25_000u64).sum::<u64>() + (0..10u64).map(|s| s * 100).sum::<u64>()
    );
    let first_time = batches[0]
        .column_by_name("timestamp")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .value(0);
    assert_eq!(first_time, t0().timestamp_micros());

    // A narrower window and one vehicle.
    let one = ExportRequest {
        vehicle_id: Some("VH-2".into()),
        ..request(ExportKind::Telemetry, ExportFormat::Csv, window(100, 500))
    };
    let (_, rows) = csv_rows(&bytes_of(&engine, one).await);
    let seqs: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(
        seqs,
        ["100", "200", "300", "400", "500"],
        "both ends included"
    );
}

#[tokio::test]
async fn alerts_commands_and_missions_export_in_time_order_with_their_fields() {
    let engine = engine_with_fleet().await;
    let store = engine.store();
    for (i, vehicle) in ["VH-1", "VH-2", "VH-1"].into_iter().enumerate() {
        let at = t0() + Duration::minutes(i as i64);
        store
            .insert_alert(&Alert {
                id: format!("a{i}"),
                vehicle_id: vehicle.into(),
                fleet_id: FLEET.into(),
                alert_type: AlertType::OVERSPEED,
                severity: Severity::High,
                value: 92.5,
                threshold: 80.0,
                message: format!("{vehicle} over speed, \"fast\""),
                key: None,
                triggered_at: at,
                cleared_at: (i == 0).then(|| at + Duration::seconds(30)),
                acknowledged: false,
                acknowledged_by: None,
                acknowledged_at: None,
                notes: None,
            })
            .await
            .unwrap();
        store
            .insert_command(&Command {
                id: format!("c{i}"),
                vehicle_id: vehicle.into(),
                fleet_id: FLEET.into(),
                command: CommandKind::Stop,
                params: CommandParams {
                    reason: Some("aisle, blocked".into()),
                    ..CommandParams::default()
                },
                status: CommandStatus::Executed,
                issued_by: "op-1".into(),
                issued_at: at,
                delivered_at: Some(at),
                executed_at: Some(at + Duration::seconds(1)),
                failure_reason: None,
                expires_at: None,
                idempotency_key: None,
            })
            .await
            .unwrap();
        store
            .insert_mission(&Mission {
                id: format!("m{i}"),
                fleet_id: FLEET.into(),
                vehicle_id: vehicle.into(),
                mission_type: MissionType::Delivery,
                priority: MissionPriority::High,
                waypoints: vec![Waypoint {
                    latitude: 4.7,
                    longitude: -74.0,
                    order: 1,
                }],
                status: MissionStatus::Completed,
                completed_waypoints: 1,
                created_at: at,
                started_at: Some(at),
                completed_at: Some(at + Duration::minutes(5)),
                estimated_completion: None,
                failure_reason: None,
            })
            .await
            .unwrap();
    }
    let range = window(0, 3600);

    let (header, rows) = csv_rows(
        &bytes_of(
            &engine,
            request(ExportKind::Alerts, ExportFormat::Csv, range),
        )
        .await,
    );
    assert_eq!(header, ExportKind::Alerts.columns());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["a0", "a1", "a2"]);
    assert_eq!(
        rows[0][7], "VH-1 over speed, \"fast\"",
        "quoting round-trips"
    );
    assert_eq!(rows[0][9], "2026-11-30T08:00:30.000000Z", "cleared_at");
    assert_eq!(rows[1][9], "", "not cleared");

    let (_, rows) = csv_rows(
        &bytes_of(
            &engine,
            request(ExportKind::Commands, ExportFormat::Csv, range),
        )
        .await,
    );
    assert_eq!(rows.len(), 3);
    let params: serde_json::Value = serde_json::from_str(&rows[0][4]).unwrap();
    assert_eq!(params["reason"], "aisle, blocked", "params as JSON");

    let by_vehicle = ExportRequest {
        vehicle_id: Some("VH-1".into()),
        ..request(ExportKind::Missions, ExportFormat::Parquet, range)
    };
    let batches = parquet_batches(bytes_of(&engine, by_vehicle).await);
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("id").unwrap().as_string::<i32>();
            (0..col.len())
                .map(|i| col.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, ["m0", "m2"], "only VH-1's missions");
    let mission_type = batches[0]
        .column_by_name("mission_type")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_string();
    assert_eq!(mission_type, "DELIVERY");

    // A window with nothing in it: a header alone, and a valid Parquet file of no rows.
    let empty = window(7200, 9000);
    let csv = bytes_of(
        &engine,
        request(ExportKind::Commands, ExportFormat::Csv, empty),
    )
    .await;
    assert_eq!(
        String::from_utf8(csv).unwrap().trim_end(),
        ExportKind::Commands.columns().join(",")
    );
    let batches = parquet_batches(
        bytes_of(
            &engine,
            request(ExportKind::Alerts, ExportFormat::Parquet, empty),
        )
        .await,
    );
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}

#[tokio::test]
async fn write_to_saves_the_file_and_bad_requests_fail_before_any_byte() {
    let engine = engine_with_fleet().await;
    engine
        .store()
        .write_batch(&[reading("VH-1", FLEET, 0), reading("VH-1", FLEET, 1)])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let rows = engine
        .export(request(
            ExportKind::Telemetry,
            ExportFormat::Parquet,
            window(0, 10),
        ))
        .await
        .unwrap()
        .write_to(&path)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    let batches = parquet_batches(std::fs::read(&path).unwrap());
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    let refused = |request: ExportRequest| {
        let engine = &engine;
        async move { engine.export(request).await.err().expect("refused") }
    };
    let e = refused(ExportRequest {
        fleet_id: "fleet-404".into(),
        ..request(ExportKind::Alerts, ExportFormat::Csv, window(0, 10))
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = refused(ExportRequest {
        vehicle_id: Some("VH-9".into()),
        ..request(ExportKind::Alerts, ExportFormat::Csv, window(0, 10))
    })
    .await;
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.to_string().contains("vehicle_id"), "{e}");
    let e = refused(request(
        ExportKind::Telemetry,
        ExportFormat::Csv,
        TimeRange {
            from: t0() - Duration::days(400),
            to: t0(),
        },
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.to_string().contains("366 days"), "{e}");
    assert_eq!(
        ExportKind::parse("audit").unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        ExportFormat::parse("xlsx").unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        ExportFormat::for_path("out/Week.PARQUET").unwrap(),
        ExportFormat::Parquet
    );
    assert_eq!(ExportFormat::for_path("a.csv").unwrap(), ExportFormat::Csv);
    assert!(ExportFormat::for_path("a.xlsx").is_err());
}

#[test]
fn file_names_say_what_the_file_holds() {
    let r = ExportRequest {
        vehicle_id: Some("AGV 7/α".into()),
        ..request(ExportKind::Missions, ExportFormat::Parquet, window(0, 60))
    };
    assert_eq!(
        r.file_name(),
        "fleet-export_AGV-7--_missions_20261130T080000Z_20261130T080100Z.parquet"
    );
}
