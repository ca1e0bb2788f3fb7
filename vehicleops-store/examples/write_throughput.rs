//! Measures how many readings per second `SqliteStore::write_batch` stores into a WAL file, the
//! way the embedded pipeline writes: batches of many vehicles, time moving forward.
//!
//! Run with:
//!
//! ```text
//! cargo run --release -p vehicleops-store --example write_throughput -- \
//!     [readings] [batch] [vehicles] [compact_after_rows]
//! ```
//!
//! Defaults: 1,000,000 readings in batches of 5,000 from 1,000 vehicles, and the store's default
//! compaction threshold. The database goes to a
//! fresh directory under the system temp dir, removed at the end.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use vehicleops_core::{Reading, Telemetry, TimeSeriesStore, VehicleStatus};
use vehicleops_store::{SqliteOptions, SqliteStore};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .map(|a| a.replace('_', "").parse().expect("arguments are counts"))
        .unwrap_or(default)
}

/// Reading `i` of the run: vehicles report round-robin, one reading per vehicle per second.
fn reading(i: usize, vehicles: usize, start: DateTime<Utc>) -> Reading {
    let vehicle = i % vehicles;
    let tick = (i / vehicles) as i64;
    Reading {
        telemetry: Telemetry {
            vehicle_id: format!("VH-{vehicle:05}"),
            fleet_id: format!("fleet-{:03}", vehicle % 10),
            latitude: 4.6 + vehicle as f64 * 1e-4,
            longitude: -74.1 + tick as f64 * 1e-5,
            speed_kmh: (tick % 80) as f64,
            battery_pct: 100.0 - (tick % 100) as f64,
            engine_temp_c: 60.0 + (tick % 30) as f64,
            load_pct: 25.0,
            status: VehicleStatus::Moving,
            timestamp: start + Duration::seconds(tick),
            heading_deg: 90.0,
            seq: tick as u64,
            pose: None,
        },
        distance_m: 4.2,
    }
}

/// CPU seconds this process has used (all threads), from `/proc/self/stat`; `None` where that
/// is not available. On a shared machine, readings per CPU-second is steadier than wall time.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn main() -> vehicleops_core::Result<()> {
    let total = arg(1, 1_000_000);
    let batch_size = arg(2, 5_000);
    let vehicles = arg(3, 1_000);
    let options = SqliteOptions {
        compact_after_rows: arg(4, SqliteOptions::default().compact_after_rows as usize) as u64,
        ..SqliteOptions::default()
    };

    let dir = std::env::temp_dir().join(format!(
        "vehicleops-write-throughput-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let store = SqliteStore::open_with(dir.join("bench.db"), options)?;
    let start = DateTime::from_timestamp(1_700_000_000, 0).expect("valid start");

    // Built up front so the measurement is the store, not the generator.
    let batches: Vec<Vec<Reading>> = (0..total)
        .collect::<Vec<_>>()
        .chunks(batch_size)
        .map(|chunk| chunk.iter().map(|&i| reading(i, vehicles, start)).collect())
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for (label, expect_new) in [("new readings", true), ("replayed duplicates", false)] {
            let began = Instant::now();
            let cpu_began = cpu_seconds();
            let mut stored = 0;
            for batch in &batches {
                let outcome = store.write_batch(batch).await?;
                stored += if expect_new {
                    outcome.inserted
                } else {
                    outcome.duplicates
                };
            }
            let seconds = began.elapsed().as_secs_f64();
            let cpu = cpu_began.zip(cpu_seconds()).map(|(a, b)| b - a);
            assert_eq!(
                stored as usize, total,
                "{label}: every reading accounted for"
            );
            println!(
                "{label}: {total} readings in {seconds:.2} s = {:.0} readings/s; \
                 {} (batch {batch_size}, {vehicles} vehicles)",
                total as f64 / seconds,
                cpu.map_or("CPU time unknown".into(), |cpu| format!(
                    "{cpu:.2} CPU s = {:.0} readings per CPU-second",
                    total as f64 / cpu
                )),
            );
        }
        Ok::<_, vehicleops_core::Error>(())
    })?;

    drop(store);
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
    Ok(())
}
