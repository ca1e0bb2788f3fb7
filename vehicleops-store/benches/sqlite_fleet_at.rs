//! The embedded store's `fleet_at` (the dashboard's time travel): one fleet of 1,000 vehicles
//! over 30 days, each reporting every 10 minutes (4.32 M readings in a SQLite file — the same
//! vehicles, days and one probe per vehicle as 1 Hz data, with fewer rows to load), asked for the
//! fleet at three instants, 20 times each, then for daily reports of 1, 7 and 30 days; prints
//! min / median / max.
//!
//! ```sh
//! cargo bench -p vehicleops-store --bench sqlite_fleet_at
//! ```
//! `VEHICLEOPS_BENCH_QUICK=1` loads 2 days instead of 30.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration};
use vehicleops_core::{Reading, Telemetry, TimeSeriesStore, VehicleStatus};
use vehicleops_store::SqliteStore;

const BATCH: usize = 5_000;

fn main() {
    let quick = std::env::var("VEHICLEOPS_BENCH_QUICK").is_ok_and(|v| v == "1");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(quick));
}

async fn run(quick: bool) {
    let dir = tempfile::tempdir().expect("scratch dir");
    let store = SqliteStore::open(dir.path().join("fleet.db")).expect("store");
    let (vehicles, days, every) = (1_000usize, if quick { 2 } else { 30 }, 600i64);
    let start = DateTime::from_timestamp(1_720_000_000 - 1_720_000_000 % 86_400, 0).unwrap();
    let steps = days * 86_400 / every;
    println!(
        "== fleet at an instant (SQLite file): {vehicles} vehicles, {days} days, a reading every {every} s = {} rows",
        vehicles as i64 * steps
    );
    let began = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for step in 0..steps {
        for v in 0..vehicles {
            batch.push(Reading {
                telemetry: Telemetry {
                    vehicle_id: format!("AT-{v:04}"),
                    fleet_id: "fleet-at".into(),
                    latitude: 4.71 + step as f64 * 1e-5,
                    longitude: -74.07,
                    speed_kmh: (step % 90) as f64,
                    battery_pct: 80.0,
                    engine_temp_c: 70.0,
                    load_pct: 25.0,
                    status: VehicleStatus::Moving,
                    timestamp: start + Duration::seconds(step * every),
                    heading_deg: 0.0,
                    seq: step as u64,
                    pose: None,
                },
                distance_m: 1.11,
            });
            if batch.len() == BATCH {
                store.write_batch(&batch).await.expect("write");
                batch.clear();
            }
        }
    }
    store.write_batch(&batch).await.expect("write");
    println!("loaded in {:.1} s", began.elapsed().as_secs_f64());
    for (what, at) in [
        (
            "the last hour",
            start + Duration::days(days) - Duration::minutes(30),
        ),
        (
            "mid-period",
            start + Duration::days(days / 2) + Duration::hours(12),
        ),
        ("the first day", start + Duration::hours(3)),
    ] {
        let mut times: Vec<StdDuration> = Vec::new();
        let mut found = 0;
        for _ in 0..20 {
            let began = Instant::now();
            found = store
                .fleet_at("fleet-at", at)
                .await
                .expect("fleet_at")
                .len();
            times.push(began.elapsed());
        }
        assert_eq!(found, vehicles, "every vehicle had reported by then");
        times.sort();
        let ms = |d: StdDuration| d.as_secs_f64() * 1e3;
        println!(
            "store.fleet_at({what}): {found} vehicles; min {:.1} ms, median {:.1} ms, max {:.1} ms over 20 runs",
            ms(times[0]),
            ms(times[10]),
            ms(times[19])
        );
    }

    // Daily reports read the per-minute rollups: one row per vehicle and minute with readings
    // (here one in ten minutes; 1 Hz data fills every minute, ten times the rows).
    for report_days in [1, 7, days] {
        let to = (start + Duration::days(days - 1)).date_naive();
        let query = vehicleops_core::ReportQuery {
            fleet_id: "fleet-at".into(),
            vehicle_id: None,
            from: to - Duration::days(report_days - 1),
            to,
            utc_offset_minutes: 0,
        };
        let mut times: Vec<StdDuration> = Vec::new();
        let mut rows = 0;
        for _ in 0..5 {
            let began = Instant::now();
            rows = store.report_days(&query).await.expect("report_days").len();
            times.push(began.elapsed());
        }
        assert_eq!(
            rows,
            vehicles * report_days as usize,
            "a row per vehicle-day"
        );
        times.sort();
        println!(
            "store.report_days({report_days} days): {rows} vehicle-days from {} rollup minutes; min {:.0} ms, median {:.0} ms, max {:.0} ms over 5 runs",
            vehicles as i64 * report_days * 86_400 / every,
            times[0].as_secs_f64() * 1e3,
            times[2].as_secs_f64() * 1e3,
            times[4].as_secs_f64() * 1e3
        );
    }
}
