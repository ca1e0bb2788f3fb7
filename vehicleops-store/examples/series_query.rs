//! Times the analytics the dashboard asks for over 30 days of 1 Hz data from one vehicle
//! (2,592,000 readings): the 5-minute speed series, the vehicle summary and the latest reading.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p vehicleops-store --example series_query -- [days]
//! ```
//!
//! The database goes to a fresh directory under the system temp dir, removed at the end.

use std::time::Instant;

use chrono::{DateTime, Duration};
use vehicleops_core::{Metric, Reading, Telemetry, TimeRange, TimeSeriesStore, VehicleStatus};
use vehicleops_store::SqliteStore;

const RUNS: u32 = 5;

fn main() -> vehicleops_core::Result<()> {
    let days: i64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("days is a whole number"))
        .unwrap_or(30);
    let seconds = days * 86_400;
    let start = DateTime::from_timestamp(1_700_000_100, 0).expect("valid start");

    let dir = std::env::temp_dir().join(format!("vehicleops-series-query-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let store = SqliteStore::open(dir.join("series.db"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");

    runtime.block_on(async {
        let loading = Instant::now();
        for chunk_start in (0..seconds).step_by(10_000) {
            let batch: Vec<Reading> = (chunk_start..(chunk_start + 10_000).min(seconds))
                .map(|s| Reading {
                    telemetry: Telemetry {
                        vehicle_id: "VH-1".into(),
                        fleet_id: "fleet-001".into(),
                        latitude: 4.7,
                        longitude: -74.1,
                        speed_kmh: (s % 90) as f64,
                        battery_pct: 100.0 - (s % 100) as f64,
                        engine_temp_c: 70.0,
                        load_pct: 0.0,
                        status: VehicleStatus::Moving,
                        timestamp: start + Duration::seconds(s),
                        heading_deg: 0.0,
                        seq: s as u64,
                        pose: None,
                    },
                    distance_m: 5.0,
                })
                .collect();
            store.write_batch(&batch).await?;
        }
        println!(
            "loaded {seconds} readings in {:.1} s",
            loading.elapsed().as_secs_f64()
        );

        let window =
            TimeRange::new(start, start + Duration::seconds(seconds - 1)).expect("ordered window");
        let timed = |label: &'static str, elapsed: std::time::Duration, detail: String| {
            println!(
                "{label}: {:.1} ms per query (mean of {RUNS}) — {detail}",
                elapsed.as_secs_f64() * 1000.0 / f64::from(RUNS)
            );
        };

        let began = Instant::now();
        let mut points = 0;
        for _ in 0..RUNS {
            points = store
                .series("VH-1", Metric::SpeedKmh, window, Duration::minutes(5))
                .await?
                .len();
        }
        timed(
            "5-minute speed series",
            began.elapsed(),
            format!("{points} buckets"),
        );

        let began = Instant::now();
        let mut readings = 0;
        for _ in 0..RUNS {
            readings = store.vehicle_summary("VH-1", window).await?.total_readings;
        }
        timed(
            "vehicle summary",
            began.elapsed(),
            format!("{readings} readings"),
        );

        let began = Instant::now();
        for _ in 0..RUNS {
            store.latest("VH-1").await?;
        }
        timed("latest", began.elapsed(), String::new());
        Ok::<_, vehicleops_core::Error>(())
    })?;

    drop(store);
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
    Ok(())
}
