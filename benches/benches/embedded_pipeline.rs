//! The embedded pipeline end to end: in-process bus → decode/validate → default rules → live hub
//! → SQLite (in memory and on a WAL file) → acknowledgement.
//!
//! Run with: `cargo bench -p vehicleops-benches --bench embedded_pipeline`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::DateTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vehicleops_core::inproc::{InProcessBus, TelemetryPublisher};
use vehicleops_core::{
    LiveHub, PipelineBuilder, Simulator, SimulatorConfig, Telemetry, default_rules,
};
use vehicleops_store::SqliteStore;

const VEHICLES: u32 = 500;
const TICKS: i64 = 200;
static RUN: AtomicU64 = AtomicU64::new(0);

fn readings() -> Vec<Vec<Telemetry>> {
    let mut sim = Simulator::new(SimulatorConfig {
        vehicles: VEHICLES,
        ..SimulatorConfig::default()
    })
    .unwrap();
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    (0..TICKS)
        .map(|s| sim.step(t0 + chrono::Duration::seconds(s)))
        .collect()
}

enum Input {
    Decoded(Vec<Vec<Telemetry>>),
    Json(Vec<Vec<u8>>),
}

/// Publishes every reading, waits until the pipeline has stored them all, returns the time.
async fn run_once(input: &Input, store: SqliteStore) -> Duration {
    let store = Arc::new(store);
    let bus = InProcessBus::new(50_000);
    let started = Instant::now();
    let pipeline = PipelineBuilder::new(Arc::new(bus.source), store.clone())
        .repository(store.clone())
        .rules(default_rules())
        .hub(LiveHub::new())
        .spawn();
    match input {
        Input::Decoded(batches) => {
            for b in batches {
                bus.publisher.publish(b.clone()).await.unwrap();
            }
        }
        Input::Json(payloads) => {
            for p in payloads {
                bus.publisher.publish_raw(p.clone()).await.unwrap();
            }
        }
    }
    drop(bus.publisher);
    let stats = pipeline.join().await.unwrap();
    assert_eq!(stats.stored, (VEHICLES as u64) * TICKS as u64);
    started.elapsed()
}

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let batches = readings();
    let json: Vec<Vec<u8>> = batches
        .iter()
        .flatten()
        .map(|t| serde_json::to_vec(t).unwrap())
        .collect();
    let inputs = [
        ("decoded", Input::Decoded(batches)),
        ("json", Input::Json(json)),
    ];
    let dir = std::env::temp_dir().join(format!("vehicleops-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("embedded_pipeline");
    g.throughput(Throughput::Elements(VEHICLES as u64 * TICKS as u64));
    g.sample_size(10);
    for (name, input) in &inputs {
        g.bench_function(format!("{name}/sqlite_memory"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(run_once(input, SqliteStore::in_memory().unwrap())))
                    .sum()
            })
        });
        g.bench_function(format!("{name}/sqlite_file"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        // A fresh database per run; files are removed with the folder at the end.
                        let n = RUN.fetch_add(1, Ordering::Relaxed);
                        let path = dir.join(format!("{name}-{n}.db"));
                        rt.block_on(run_once(input, SqliteStore::open(&path).unwrap()))
                    })
                    .sum()
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
