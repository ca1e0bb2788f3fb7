//! Ingest throughput of the vehicle agent, called from Rust: the baseline for the same
//! measurement from Kotlin (`bindings/uniffi/tests/kotlin/AgentBench.kt`). Each sample becomes
//! a schema-checked VDA 5050 `state` published with QoS 1; the clock stops when the agent has
//! handed every sample to the broker connection.
//!
//! Run with: `cargo run --release -p vehicleops-uniffi --example agent_ingest -- 127.0.0.1:18850 100000 1000`
//! (broker address, samples, batch size).

use std::time::{Duration, Instant};

use vehicleops_uniffi::{AgentConfig, TelemetrySample, VehicleAgent};

fn main() {
    let mut args = std::env::args().skip(1);
    let broker = args.next().unwrap_or_else(|| "127.0.0.1:18850".into());
    let total: u64 = args.next().map_or(100_000, |a| a.parse().expect("samples"));
    let batch: u64 = args
        .next()
        .map_or(1_000, |a| a.parse().expect("batch size"));
    let (host, port) = broker.rsplit_once(':').expect("host:port");
    let agent = VehicleAgent::start(AgentConfig {
        broker_host: host.into(),
        broker_port: port.parse().expect("port"),
        manufacturer: "bench".into(),
        serial_number: format!("RUST-{}", std::process::id()),
        origin_latitude: 4.711,
        origin_longitude: -74.0721,
        rotation_deg: 0.0,
        map_id: "site".into(),
        interface_name: "bench".into(),
        major_version: "v2".into(),
        client_id: None,
        offline_buffer_capacity: total as u32,
        keep_alive_secs: 5,
        username: None,
        password: None,
        ca_file: None,
        max_speed_mps: 2.0,
    })
    .expect("agent starts");
    while !agent.stats().connected {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sample = |i: u64| TelemetrySample {
        latitude: 4.711 + (i % 1000) as f64 * 1e-6,
        longitude: -74.0721,
        speed_kmh: 12.0,
        battery_pct: 80.0,
        heading_deg: 90.0,
        charging: false,
        loaded: false,
        timestamp: None,
    };
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        let n = batch.min(total - sent);
        agent
            .publish_batch((sent..sent + n).map(sample).collect())
            .expect("publish");
        sent += n;
    }
    let queued = started.elapsed();
    while agent.stats().published < total {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "rust: {total} samples in batches of {batch}: {:.0} samples/s to the broker (queued in {:.1} ms)",
        total as f64 / elapsed,
        queued.as_secs_f64() * 1e3
    );
}
