//! Decode + validate + the default alert rules, one core.
//!
//! Run with: `cargo bench -p vehicleops-benches --bench decode_rules`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use vehicleops_core::{RuleState, decode_telemetry, default_rules};

/// Realistic readings: 200 vehicles, varied values, the original's payload shape plus seq and
/// heading.
fn payloads() -> Vec<Vec<u8>> {
    (0..10_000u64)
        .map(|i| {
            let v = i % 200;
            format!(
                r#"{{"vehicle_id":"fleet-001-VH-{v:03}","fleet_id":"fleet-001","latitude":{lat:.6},"longitude":{lon:.6},"speed_kmh":{speed:.2},"battery_pct":{bat:.1},"engine_temp_c":{temp:.1},"load_pct":{load:.1},"status":"MOVING","timestamp":"2024-02-15T14:{m:02}:{s:02}.{ms:03}Z","heading_deg":{hd:.1},"seq":{seq}}}"#,
                lat = 4.7110 + (i % 97) as f64 * 1e-4,
                lon = -74.0721 - (i % 89) as f64 * 1e-4,
                speed = (i % 85) as f64 + 0.37,
                bat = 100.0 - (i % 90) as f64,
                temp = 60.0 + (i % 45) as f64,
                load = (i % 100) as f64,
                m = (i / 60) % 60,
                s = i % 60,
                ms = i % 1000,
                hd = (i % 360) as f64,
                seq = i / 200,
            )
            .into_bytes()
        })
        .collect()
}

fn decode(c: &mut Criterion) {
    let payloads = payloads();
    let mut g = c.benchmark_group("decode_validate");
    g.throughput(Throughput::Elements(payloads.len() as u64));
    g.bench_function("10k_readings", |b| {
        b.iter(|| {
            for p in &payloads {
                black_box(decode_telemetry(black_box(p)).unwrap());
            }
        })
    });
    g.finish();
}

/// What the pipeline does per reading before storage: decode, validate, run the default rules
/// against that vehicle's rule state.
fn decode_and_rules(c: &mut Criterion) {
    let payloads = payloads();
    let rules = default_rules();
    let mut states: HashMap<String, Vec<RuleState>> = HashMap::new();
    let mut signals = Vec::new();
    let mut g = c.benchmark_group("decode_validate_rules");
    g.throughput(Throughput::Elements(payloads.len() as u64));
    g.bench_function("10k_readings_default_rules", |b| {
        b.iter(|| {
            for p in &payloads {
                let t = decode_telemetry(black_box(p)).unwrap();
                let slots = match states.get_mut(&t.vehicle_id) {
                    Some(s) => s,
                    None => states
                        .entry(t.vehicle_id.clone())
                        .or_insert_with(|| rules.iter().map(|_| RuleState::default()).collect()),
                };
                for (rule, state) in rules.iter().zip(slots.iter_mut()) {
                    rule.evaluate(&t, state, &mut signals);
                }
                signals.clear();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, decode, decode_and_rules);
criterion_main!(benches);
