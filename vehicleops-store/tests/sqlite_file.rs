//! The file-backed embedded store keeps its data across reopening, and reports its settings.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;

use chrono::DateTime;
use vehicleops_core::{
    Fleet, FleetRepository, HistoryQuery, Reading, Telemetry, TimeRange, TimeSeriesStore,
    VehicleStatus,
};
use vehicleops_store::SqliteStore;

/// A fresh database path in Cargo's scratch directory for integration tests.
fn scratch_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sqlite-file");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn reading(secs: i64) -> Reading {
    Reading {
        telemetry: Telemetry {
            vehicle_id: "VH-1".into(),
            fleet_id: "fleet-001".into(),
            latitude: 4.71,
            longitude: -74.07,
            speed_kmh: 20.0,
            battery_pct: 75.0,
            engine_temp_c: 68.0,
            load_pct: 0.0,
            status: VehicleStatus::Moving,
            timestamp: DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
            heading_deg: 45.0,
            seq: secs as u64,
            pose: None,
        },
        distance_m: 5.0,
    }
}

#[tokio::test]
async fn reopening_keeps_data_and_schema() {
    let path = scratch_db("reopen.db");
    let batch: Vec<Reading> = (0..10).map(reading).collect();
    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.write_batch(&batch).await.unwrap().inserted, 10);
        store
            .upsert_fleet(&Fleet {
                id: "fleet-001".into(),
                name: "Yard".into(),
            })
            .await
            .unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    let replay = store.write_batch(&batch).await.unwrap();
    assert_eq!((replay.inserted, replay.duplicates), (0, 10));
    let history = store
        .history(&HistoryQuery {
            vehicle_id: "VH-1".into(),
            range: TimeRange::new(batch[0].telemetry.timestamp, batch[9].telemetry.timestamp)
                .unwrap(),
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 10);
    assert_eq!(
        store.get_fleet("fleet-001").await.unwrap().map(|f| f.name),
        Some("Yard".to_string())
    );
}

#[tokio::test]
async fn status_reports_sqlite_in_wal_mode() {
    let store = SqliteStore::open(scratch_db("status.db")).unwrap();
    let status = store.status().await.unwrap();
    assert_eq!(status.backend, "sqlite");
    assert!(status.version.starts_with('3'), "{}", status.version);
    assert!(
        status.features.iter().any(|f| f == "wal"),
        "{:?}",
        status.features
    );

    let memory = SqliteStore::in_memory().unwrap().status().await.unwrap();
    assert_eq!(memory.features, vec!["in-memory".to_string()]);
}
