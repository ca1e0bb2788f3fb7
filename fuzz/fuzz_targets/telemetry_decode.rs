//! `vehicleops_core::decode_telemetry` on arbitrary producer bytes (Kafka, in-process bus).
//!
//! Beyond "no panic": an accepted reading must pass `Telemetry::validate`, and serializing it
//! and decoding it again must give the same reading (what the pipeline stores or republishes
//! can be read back) — numbers to within a few ULP: serde_json without its `float_roundtrip`
//! feature parses some 17-digit numbers 1 ULP off (found by this target, see docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vehicleops_core::decode::{MAX_PAYLOAD_BYTES, parse_timestamp};
use vehicleops_core::{Telemetry, decode_telemetry};

/// Equal up to a few ULP per number.
fn assert_same(a: &Telemetry, b: &Telemetry) {
    let close =
        |x: f64, y: f64| x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs());
    let numbers = |t: &Telemetry| {
        let p = t.pose.as_ref();
        [
            t.latitude,
            t.longitude,
            t.speed_kmh,
            t.battery_pct,
            t.engine_temp_c,
            t.load_pct,
            t.heading_deg,
            p.map_or(0.0, |p| p.x),
            p.map_or(0.0, |p| p.y),
            p.map_or(0.0, |p| p.theta),
        ]
    };
    for (x, y) in numbers(a).into_iter().zip(numbers(b)) {
        assert!(
            close(x, y),
            "round trip changed {x} into {y}: {a:?} / {b:?}"
        );
    }
    let rest = |t: &Telemetry| {
        (
            t.vehicle_id.clone(),
            t.fleet_id.clone(),
            t.status,
            t.timestamp,
            t.seq,
            t.pose.as_ref().map(|p| p.map_id.clone()),
        )
    };
    assert_eq!(rest(a), rest(b), "round trip through JSON");
}

fuzz_target!(|data: &[u8]| {
    match decode_telemetry(data) {
        Ok(t) => {
            assert!(data.len() <= MAX_PAYLOAD_BYTES);
            t.validate().expect("a decoded reading is valid");
            let json = serde_json::to_vec(&t).expect("a reading serializes");
            let again = decode_telemetry(&json).expect("a serialized reading decodes");
            assert_same(&t, &again);
        }
        Err(e) => {
            assert!(!e.field.is_empty());
            let _ = e.to_string();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ts) = parse_timestamp(text) {
            let _ = ts.to_rfc3339();
        }
    }
});
