//! Test helpers: readings with sensible defaults, a driver that runs a rule over a sequence,
//! and an allocation counter to check that the hot path stays allocation-free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use chrono::{DateTime, TimeZone, Utc};

use crate::model::{AlertSignal, AlertTransition, Telemetry, VehicleStatus};
use crate::traits::{AlertRule, RuleState};

/// `2024-01-01T10:00:00Z` plus `secs` seconds.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A normal reading of `vehicle_id` (fleet `fleet-001`, in Bogotá) taken `secs` seconds after
/// [`at(0)`](at). Adjust fields with struct update or the `with_*` helpers.
pub(crate) fn reading(vehicle_id: &str, secs: i64) -> Telemetry {
    Telemetry {
        vehicle_id: vehicle_id.to_string(),
        fleet_id: "fleet-001".to_string(),
        latitude: 4.711,
        longitude: -74.0721,
        speed_kmh: 42.0,
        battery_pct: 85.0,
        engine_temp_c: 72.0,
        load_pct: 50.0,
        status: VehicleStatus::Moving,
        timestamp: at(secs),
        heading_deg: 0.0,
        seq: secs.max(0) as u64,
        pose: None,
    }
}

/// Builder-style tweaks of a test reading.
pub(crate) trait ReadingExt {
    fn with_speed(self, kmh: f64) -> Self;
    fn with_battery(self, pct: f64) -> Self;
    fn with_temp(self, c: f64) -> Self;
    fn with_position(self, latitude: f64, longitude: f64) -> Self;
}

impl ReadingExt for Telemetry {
    fn with_speed(mut self, kmh: f64) -> Self {
        self.speed_kmh = kmh;
        self
    }
    fn with_battery(mut self, pct: f64) -> Self {
        self.battery_pct = pct;
        self
    }
    fn with_temp(mut self, c: f64) -> Self {
        self.engine_temp_c = c;
        self
    }
    fn with_position(mut self, latitude: f64, longitude: f64) -> Self {
        self.latitude = latitude;
        self.longitude = longitude;
        self
    }
}

/// Evaluates each reading in turn with one state slot; returns the signals of each reading.
pub(crate) fn run(
    rule: &dyn AlertRule,
    state: &mut RuleState,
    readings: &[Telemetry],
) -> Vec<Vec<AlertSignal>> {
    readings
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            rule.evaluate(r, state, &mut out);
            out
        })
        .collect()
}

/// The transition of each reading's single signal, `None` for readings without one. Panics if
/// a reading produced more than one signal.
pub(crate) fn transitions(signals: &[Vec<AlertSignal>]) -> Vec<Option<AlertTransition>> {
    signals
        .iter()
        .map(|s| {
            assert!(s.len() <= 1, "expected at most one signal, got {s:?}");
            s.first().map(|s| s.transition)
        })
        .collect()
}

/// The system allocator, counting allocations per thread so that a test can measure its own
/// code while other tests run in parallel.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: allocations may happen while a thread's locals are being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` unchanged; counting touches no allocator state.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// How many heap allocations this thread made while running `f`.
pub(crate) fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}
