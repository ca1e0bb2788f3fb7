//! The store conformance suite: behaviour every [`TimeSeriesStore`] and [`FleetRepository`]
//! backend must share, so the embedded store and the PostgreSQL store answer alike.
//!
//! Each check is an async function taking a fresh, empty store (as [`Stores`], its two halves,
//! or as one [`Store`]) and panicking (through `assert!`) when the backend misbehaves.
//! [`store_conformance_tests!`](crate::store_conformance_tests) turns the whole list into one
//! `#[tokio::test]` per check:
//!
//! ```ignore
//! use std::sync::Arc;
//! use vehicleops_store::{SqliteStore, store_conformance_tests, testing::Store};
//!
//! async fn fresh_store() -> Store {
//!     Arc::new(SqliteStore::in_memory().unwrap())
//! }
//!
//! store_conformance_tests!(fresh_store);
//! ```
//!
//! The test crate needs `tokio` (features `macros`, `rt`) as a dependency, since the expanded
//! tests are `#[tokio::test]`s.
//!
//! Fixed points of the contract that the traits leave open, pinned here so backends agree:
//! - a limit of 0 in [`AlertFilter::limit`], [`MissionFilter::limit`] and
//!   [`FleetRepository::list_commands`] means "no limit"; `total` always counts every match;
//! - a duplicate key in a write keeps the first stored reading (later copies are ignored, even
//!   when their values differ), and a batch may repeat a key;
//! - `upsert_vehicle` with an unknown fleet, and clearing, acknowledging or updating an unknown
//!   alert, command or mission, fail with [`ErrorKind::NotFound`];
//! - clearing an alert twice keeps the first clearing time;
//! - a command's idempotency key is unique per issuer (`issued_by`): a second insert with both
//!   the same is a [`ErrorKind::Conflict`];
//! - the reload queries (`open_alerts`, `pending_commands`, `active_missions`) list oldest first,
//!   ties by id, and `open_alerts` of no vehicles means every vehicle;
//! - `alerts_between`, `commands_between` and `missions_between` page oldest first by (time,
//!   id), the window inclusive, each page after the previous page's last key;
//! - retention removes only records that are over (cleared alerts, ended commands and
//!   missions), and rollups outlive the readings they summarise until their own cutoff;
//! - timestamps are kept to the microsecond;
//! - a series bucket that is not positive fails with [`ErrorKind::Validation`].

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use vehicleops_core::{
    Alert, AlertFilter, AlertType, AuditAction, AuditEntry, AuditFilter, Command, CommandKind,
    CommandParams, CommandStatus, ErrorKind, Fleet, FleetRepository, FleetStore, GeoPoint,
    HistoryQuery, MapPose, Metric, Mission, MissionFilter, MissionPriority, MissionStatus,
    MissionType, Operator, Reading, RecordsQuery, ReportQuery, RetentionCutoffs, Role, Severity,
    Telemetry, TimeRange, TimeSeriesStore, Vehicle, VehicleStatus, Waypoint, WriteOutcome,
};

/// A backend under test: its time-series store and its repository (often the same object).
pub type Stores = (Arc<dyn TimeSeriesStore>, Arc<dyn FleetRepository>);

/// A backend under test as one store: what factories return.
pub type Store = Arc<dyn FleetStore>;

/// What a check takes from the factory's [`Store`]: the store itself, or its two halves.
pub trait CheckInput {
    fn from_store(store: Store) -> Self;
}

impl CheckInput for Store {
    fn from_store(store: Store) -> Self {
        store
    }
}

impl CheckInput for Stores {
    fn from_store(store: Store) -> Self {
        let ts: Arc<dyn TimeSeriesStore> = store.clone();
        (ts, store)
    }
}

/// Expands to one `#[tokio::test]` per conformance check, each given a fresh store by
/// `factory`: anything callable with no arguments that returns a future of
/// [`Store`](crate::testing::Store) — an `async fn` path or a `|| async { … }` closure. Every
/// call must return a new, empty store.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__store_conformance_tests!(
            $factory;
            idempotent_writes,
            same_timestamp_different_seq_are_distinct,
            every_field_round_trips,
            history_is_oldest_first_and_limited,
            windows_are_inclusive,
            latest_and_latest_for_fleet,
            fleet_at_is_each_vehicles_last_reading_by_then,
            series_buckets_align_to_the_epoch,
            series_supports_every_metric,
            vehicle_summary_figures,
            fleet_performance_ranking,
            status_names_the_backend,
            fleets_vehicles_operators_round_trip,
            alerts_lifecycle_and_filters,
            count_open_alerts,
            alerts_open_at_an_instant,
            open_alerts_are_the_uncleared_oldest_first,
            commands_lifecycle,
            command_idempotency_keys_are_unique_per_issuer,
            pending_commands_are_the_unfinished_oldest_first,
            missions_lifecycle,
            active_missions_are_assigned_or_in_progress_oldest_first,
            missions_list_filters_newest_first,
            concurrent_missions_for_one_vehicle_admit_one,
            records_between_page_a_fleets_window_oldest_first,
            missions_ended_between_page_by_end_time,
            report_days_share_each_minute_between_statuses_per_site_day,
            audit_trail_lists_newest_first_by_fleet_actor_and_action,
            retention_removes_what_is_over_and_keeps_the_rest,
            unknown_entities_are_not_found,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($factory:expr; $($check:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $check() {
                let store: $crate::testing::Store = ($factory)().await;
                $crate::testing::$check($crate::testing::CheckInput::from_store(store)).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A base time aligned to 5 minutes (and so to 1 minute), so bucket edges are easy to reason
/// about: 1_700_000_100 = 5_666_667 × 300.
const T0: i64 = 1_700_000_100;

const FLEET: &str = "fleet-001";
const OTHER_FLEET: &str = "fleet-002";

/// `T0 + secs` seconds.
fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).expect("test times are in range")
}

fn range(from_secs: i64, to_secs: i64) -> TimeRange {
    TimeRange::new(at(from_secs), at(to_secs)).expect("test ranges are ordered")
}

/// A wide window holding every reading the checks write.
fn everything() -> TimeRange {
    range(-86_400, 86_400)
}

/// A plain MOVING reading of `vehicle_id` at `T0 + secs`.
fn reading(vehicle_id: &str, fleet_id: &str, secs: i64, seq: u64) -> Reading {
    Reading {
        telemetry: Telemetry {
            vehicle_id: vehicle_id.into(),
            fleet_id: fleet_id.into(),
            latitude: 4.71,
            longitude: -74.07,
            speed_kmh: 30.0,
            battery_pct: 80.0,
            engine_temp_c: 70.0,
            load_pct: 10.0,
            status: VehicleStatus::Moving,
            timestamp: at(secs),
            heading_deg: 90.0,
            seq,
            pose: None,
        },
        distance_m: 0.0,
    }
}

fn with_speed(mut r: Reading, speed_kmh: f64) -> Reading {
    r.telemetry.speed_kmh = speed_kmh;
    r
}

fn history_query(vehicle_id: &str, range: TimeRange, limit: u32) -> HistoryQuery {
    HistoryQuery {
        vehicle_id: vehicle_id.into(),
        range,
        limit,
    }
}

/// `(timestamp offset from T0 in seconds, seq)` of each reading, for compact order assertions.
fn keys(readings: &[Telemetry]) -> Vec<(i64, u64)> {
    readings
        .iter()
        .map(|t| (t.timestamp.timestamp() - T0, t.seq))
        .collect()
}

#[track_caller]
fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "expected {expected}, got {actual}"
    );
}

#[track_caller]
fn assert_close_opt(actual: Option<f64>, expected: f64) {
    match actual {
        Some(actual) => assert_close(actual, expected),
        None => panic!("expected {expected}, got None"),
    }
}

async fn write(ts: &dyn TimeSeriesStore, readings: &[Reading]) -> WriteOutcome {
    ts.write_batch(readings).await.expect("write_batch")
}

async fn history_of(ts: &dyn TimeSeriesStore, vehicle_id: &str) -> Vec<Telemetry> {
    ts.history(&history_query(
        vehicle_id,
        everything(),
        HistoryQuery::MAX_LIMIT,
    ))
    .await
    .expect("history")
}

fn alert(id: &str, vehicle_id: &str, fleet_id: &str, severity: Severity, secs: i64) -> Alert {
    Alert {
        id: id.into(),
        vehicle_id: vehicle_id.into(),
        fleet_id: fleet_id.into(),
        alert_type: AlertType::OVERSPEED,
        severity,
        value: 92.5,
        threshold: 80.0,
        message: format!("{vehicle_id} over speed"),
        key: None,
        triggered_at: at(secs),
        cleared_at: None,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    }
}

fn command(id: &str, vehicle_id: &str, kind: CommandKind, secs: i64) -> Command {
    Command {
        id: id.into(),
        vehicle_id: vehicle_id.into(),
        fleet_id: FLEET.into(),
        command: kind,
        params: CommandParams::default(),
        status: CommandStatus::Dispatched,
        issued_by: "op-1".into(),
        issued_at: at(secs),
        delivered_at: None,
        executed_at: None,
        failure_reason: None,
        expires_at: None,
        idempotency_key: None,
    }
}

fn mission(id: &str, vehicle_id: &str) -> Mission {
    Mission {
        id: id.into(),
        fleet_id: FLEET.into(),
        vehicle_id: vehicle_id.into(),
        mission_type: MissionType::Delivery,
        priority: MissionPriority::High,
        waypoints: vec![
            Waypoint {
                latitude: 4.70,
                longitude: -74.05,
                order: 1,
            },
            Waypoint {
                latitude: 4.72,
                longitude: -74.06,
                order: 2,
            },
        ],
        status: MissionStatus::Assigned,
        completed_waypoints: 0,
        created_at: at(0),
        started_at: None,
        completed_at: None,
        estimated_completion: Some(at(3_600)),
        failure_reason: None,
    }
}

fn ids<'a, T: 'a>(items: impl IntoIterator<Item = &'a T>, id: fn(&T) -> &str) -> Vec<String> {
    items.into_iter().map(|i| id(i).to_string()).collect()
}

fn alert_ids(alerts: &[Alert]) -> Vec<String> {
    ids(alerts, |a| &a.id)
}

// ---------------------------------------------------------------------------------------------
// Time series
// ---------------------------------------------------------------------------------------------

/// Writing a batch twice stores it once; overlapping batches store only the new readings; a key
/// repeated within a batch is one row; the first stored copy wins.
pub async fn idempotent_writes((ts, _): Stores) {
    let batch = vec![
        reading("VH-1", FLEET, 0, 0),
        reading("VH-1", FLEET, 10, 0),
        reading("VH-1", FLEET, 20, 0),
    ];
    let first = write(&*ts, &batch).await;
    assert_eq!(
        first,
        WriteOutcome {
            inserted: 3,
            duplicates: 0
        }
    );
    let replay = write(&*ts, &batch).await;
    assert_eq!(
        replay,
        WriteOutcome {
            inserted: 0,
            duplicates: 3
        }
    );

    // Two already stored (one with changed values), two new.
    let overlapping = vec![
        with_speed(reading("VH-1", FLEET, 10, 0), 99.0),
        reading("VH-1", FLEET, 20, 0),
        reading("VH-1", FLEET, 30, 0),
        reading("VH-1", FLEET, 40, 0),
    ];
    let outcome = write(&*ts, &overlapping).await;
    assert_eq!(
        outcome,
        WriteOutcome {
            inserted: 2,
            duplicates: 2
        }
    );

    // The same key twice in one batch.
    let repeated = vec![reading("VH-1", FLEET, 50, 0), reading("VH-1", FLEET, 50, 0)];
    let outcome = write(&*ts, &repeated).await;
    assert_eq!(
        outcome,
        WriteOutcome {
            inserted: 1,
            duplicates: 1
        }
    );

    let stored = history_of(&*ts, "VH-1").await;
    assert_eq!(
        keys(&stored),
        vec![(0, 0), (10, 0), (20, 0), (30, 0), (40, 0), (50, 0)]
    );
    assert_eq!(stored[1].speed_kmh, 30.0, "a duplicate must not overwrite");

    assert_eq!(write(&*ts, &[]).await, WriteOutcome::default());
}

/// Readings of one vehicle at the same instant with different `seq` are different readings.
pub async fn same_timestamp_different_seq_are_distinct((ts, _): Stores) {
    let batch = vec![
        reading("VH-1", FLEET, 0, 1),
        reading("VH-1", FLEET, 0, 2),
        // Same time and seq, other vehicle: also distinct.
        reading("VH-2", FLEET, 0, 1),
    ];
    assert_eq!(write(&*ts, &batch).await.inserted, 3);
    assert_eq!(keys(&history_of(&*ts, "VH-1").await), vec![(0, 1), (0, 2)]);
    assert_eq!(keys(&history_of(&*ts, "VH-2").await), vec![(0, 1)]);
}

/// Every field of a reading, the optional map pose included, reads back as written (at
/// microsecond precision).
pub async fn every_field_round_trips((ts, _): Stores) {
    let mut with_pose = reading("VH-1", FLEET, 0, 7);
    with_pose.telemetry = Telemetry {
        latitude: -33.4489,
        longitude: -70.6693,
        speed_kmh: 12.25,
        battery_pct: 55.5,
        engine_temp_c: 81.75,
        load_pct: 42.0,
        status: VehicleStatus::LowBattery,
        timestamp: at(0) + Duration::microseconds(123_456),
        heading_deg: 271.5,
        pose: Some(MapPose {
            x: 12.5,
            y: -3.25,
            theta: 0.75,
            map_id: "warehouse-a".into(),
        }),
        ..with_pose.telemetry
    };
    with_pose.distance_m = 3.5;
    let mut without_pose = reading("VH-1", FLEET, 1, 8);
    without_pose.telemetry.status = VehicleStatus::Charging;

    write(&*ts, &[with_pose.clone(), without_pose.clone()]).await;
    let stored = history_of(&*ts, "VH-1").await;
    assert_eq!(stored, vec![with_pose.telemetry, without_pose.telemetry]);
}

/// History is oldest first with ties broken by `seq`, whatever the write order, and `limit`
/// keeps the oldest.
pub async fn history_is_oldest_first_and_limited((ts, _): Stores) {
    let batch = vec![
        reading("VH-1", FLEET, 20, 0),
        reading("VH-1", FLEET, 0, 5),
        reading("VH-1", FLEET, 10, 2),
        reading("VH-1", FLEET, 10, 1),
        reading("VH-2", FLEET, 5, 0),
    ];
    write(&*ts, &batch).await;
    let all = ts
        .history(&history_query("VH-1", everything(), 100))
        .await
        .unwrap();
    assert_eq!(keys(&all), vec![(0, 5), (10, 1), (10, 2), (20, 0)]);

    let limited = ts
        .history(&history_query("VH-1", everything(), 2))
        .await
        .unwrap();
    assert_eq!(keys(&limited), vec![(0, 5), (10, 1)]);

    let unknown = ts
        .history(&history_query("VH-404", everything(), 100))
        .await
        .unwrap();
    assert!(unknown.is_empty());
}

/// `[from, to]` includes readings exactly at `from` and exactly at `to`, in history, summary and
/// series alike.
pub async fn windows_are_inclusive((ts, _): Stores) {
    let batch = vec![
        with_speed(reading("VH-1", FLEET, 0, 0), 10.0),
        with_speed(reading("VH-1", FLEET, 10, 0), 20.0),
        with_speed(reading("VH-1", FLEET, 20, 0), 30.0),
        with_speed(reading("VH-1", FLEET, 30, 0), 40.0),
    ];
    write(&*ts, &batch).await;

    let window = range(10, 20);
    let history = ts
        .history(&history_query("VH-1", window, 100))
        .await
        .unwrap();
    assert_eq!(keys(&history), vec![(10, 0), (20, 0)]);

    let instant = ts
        .history(&history_query("VH-1", range(10, 10), 100))
        .await
        .unwrap();
    assert_eq!(keys(&instant), vec![(10, 0)]);

    let summary = ts.vehicle_summary("VH-1", window).await.unwrap();
    assert_eq!(summary.total_readings, 2);
    assert_close_opt(summary.avg_speed_kmh, 25.0);

    let series = ts
        .series("VH-1", Metric::SpeedKmh, window, Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    assert_close(series[0].avg_value, 25.0);
    assert_close(series[0].min_value, 20.0);
    assert_close(series[0].max_value, 30.0);

    // One microsecond short of a reading on either side excludes it.
    let inner = TimeRange::new(
        at(10) + Duration::microseconds(1),
        at(20) - Duration::microseconds(1),
    )
    .unwrap();
    assert!(
        ts.history(&history_query("VH-1", inner, 100))
            .await
            .unwrap()
            .is_empty()
    );
}

/// `latest` is the newest reading (ties by `seq`), not the last written; `latest_for_fleet` has
/// each of the fleet's vehicles once, ordered by vehicle id.
pub async fn latest_and_latest_for_fleet((ts, _): Stores) {
    let batch = vec![
        // Newest first, so insertion order is not the answer.
        with_speed(reading("VH-B", FLEET, 10, 2), 12.0),
        reading("VH-B", FLEET, 10, 1),
        reading("VH-B", FLEET, 0, 0),
        with_speed(reading("VH-A", FLEET, 5, 0), 5.0),
        reading("VH-A", FLEET, 1, 0),
        reading("VH-C", OTHER_FLEET, 50, 0),
    ];
    write(&*ts, &batch).await;
    // An older reading arriving late does not become the latest.
    write(&*ts, &[reading("VH-B", FLEET, -100, 0)]).await;

    let latest = ts.latest("VH-B").await.unwrap().expect("VH-B has readings");
    assert_eq!(keys(std::slice::from_ref(&latest)), vec![(10, 2)]);
    assert_eq!(latest.speed_kmh, 12.0);
    assert!(ts.latest("VH-404").await.unwrap().is_none());

    let fleet = ts.latest_for_fleet(FLEET).await.unwrap();
    let vehicles: Vec<&str> = fleet.iter().map(|t| t.vehicle_id.as_str()).collect();
    assert_eq!(vehicles, vec!["VH-A", "VH-B"]);
    assert_eq!(keys(&fleet), vec![(5, 0), (10, 2)]);

    let other = ts.latest_for_fleet(OTHER_FLEET).await.unwrap();
    assert_eq!(keys(&other), vec![(50, 0)]);
    assert!(ts.latest_for_fleet("fleet-404").await.unwrap().is_empty());
}

/// Alerts open at an instant: triggered at or before it, cleared after it or not at all;
/// oldest first, ties by id. Acknowledging does not close an alert.
pub async fn alerts_open_at_an_instant((_, repo): Stores) {
    for a in [
        alert("a2", "VH-1", FLEET, Severity::High, 10),
        alert("a1", "VH-2", FLEET, Severity::Low, 10),
        alert("a3", "VH-1", FLEET, Severity::Critical, 20),
        alert("a4", "VH-9", OTHER_FLEET, Severity::High, 5),
    ] {
        repo.insert_alert(&a).await.unwrap();
    }
    repo.clear_alert("a2", at(30)).await.unwrap();
    repo.acknowledge_alert("a3", "op-1", at(25), None)
        .await
        .unwrap();
    let open_at = |secs: i64| {
        let repo = repo.clone();
        async move { alert_ids(&repo.alerts_open_at(FLEET, at(secs)).await.unwrap()) }
    };
    assert!(open_at(9).await.is_empty());
    assert_eq!(
        open_at(10).await,
        ["a1", "a2"],
        "triggered at the instant counts"
    );
    assert_eq!(open_at(29).await, ["a1", "a2", "a3"]);
    assert_eq!(
        open_at(30).await,
        ["a1", "a3"],
        "cleared at the instant does not"
    );
    assert_eq!(open_at(1000).await, ["a1", "a3"]);
    assert_eq!(
        alert_ids(&repo.alerts_open_at(OTHER_FLEET, at(10)).await.unwrap()),
        ["a4"]
    );
    assert!(
        repo.alerts_open_at("fleet-404", at(10))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The fleet at an instant: each vehicle's last reading at or before it (ties by `seq`), among
/// the vehicles whose reading then was in the fleet — one that moved to another fleet later
/// still shows where it was, one that moved earlier does not.
pub async fn fleet_at_is_each_vehicles_last_reading_by_then((ts, _): Stores) {
    // Several batches, so a compacting backend spreads them over its tables.
    write(
        &*ts,
        &[
            reading("VH-A", FLEET, 0, 0),
            reading("VH-A", FLEET, 10, 0),
            reading("VH-B", FLEET, 5, 0),
            reading("VH-M", FLEET, 0, 0),
            reading("VH-C", OTHER_FLEET, 0, 0),
        ],
    )
    .await;
    write(
        &*ts,
        &[
            with_speed(reading("VH-A", FLEET, 10, 1), 7.0),
            reading("VH-A", FLEET, 20, 0),
            reading("VH-M", OTHER_FLEET, 25, 0),
        ],
    )
    .await;
    write(&*ts, &[reading("VH-B", FLEET, 30, 0)]).await;
    let at_of = |fleet: &'static str, secs: i64| {
        let ts = ts.clone();
        async move {
            let found = ts.fleet_at(fleet, at(secs)).await.unwrap();
            found
                .iter()
                .map(|t| (t.vehicle_id.clone(), t.timestamp.timestamp() - T0, t.seq))
                .collect::<Vec<_>>()
        }
    };
    let row = |v: &str, secs: i64, seq: u64| (v.to_owned(), secs, seq);

    assert!(at_of(FLEET, -1).await.is_empty(), "nothing reported yet");
    assert_eq!(
        at_of(FLEET, 10).await,
        [row("VH-A", 10, 1), row("VH-B", 5, 0), row("VH-M", 0, 0)]
    );
    let full = ts.fleet_at(FLEET, at(10)).await.unwrap();
    assert_eq!(full[0].speed_kmh, 7.0, "the whole reading comes back");
    assert_eq!(
        at_of(FLEET, 27).await,
        [row("VH-A", 20, 0), row("VH-B", 5, 0)],
        "VH-M was in the other fleet by then"
    );
    assert_eq!(
        at_of(OTHER_FLEET, 27).await,
        [row("VH-C", 0, 0), row("VH-M", 25, 0)]
    );
    assert_eq!(
        at_of(FLEET, 1000).await,
        [row("VH-A", 20, 0), row("VH-B", 30, 0)]
    );
    // Long after the last readings (a backend may look near the instant first), and a day
    // after them, when some vehicles' last reading is that close and others' is not.
    assert_eq!(
        at_of(FLEET, 86_400 + 25).await,
        [row("VH-A", 20, 0), row("VH-B", 30, 0)]
    );
    assert_eq!(
        at_of(FLEET, 3 * 86_400).await,
        [row("VH-A", 20, 0), row("VH-B", 30, 0)]
    );
    assert!(ts.fleet_at("fleet-404", at(10)).await.unwrap().is_empty());
}

/// Buckets start at multiples of the bucket length since the Unix epoch (not at the window
/// start); a reading exactly on an edge belongs to the later bucket; empty buckets are omitted;
/// a bucket that is not positive is a validation error.
pub async fn series_buckets_align_to_the_epoch((ts, _): Stores) {
    // (seconds after T0, speed). T0 is a multiple of 5 minutes.
    let points = [
        (0, 10.0),
        (30, 20.0),
        (59, 30.0),
        (60, 40.0),  // on the 1-minute edge
        (150, 50.0), // minutes 3 and 4 stay empty
        (300, 60.0), // on the 5-minute edge
    ];
    let batch: Vec<Reading> = points
        .iter()
        .map(|&(secs, speed)| with_speed(reading("VH-1", FLEET, secs, 0), speed))
        .collect();
    write(&*ts, &batch).await;
    // Another vehicle in the same buckets must not leak in.
    write(&*ts, &[with_speed(reading("VH-2", FLEET, 30, 0), 500.0)]).await;

    let expect = |series: &[vehicleops_core::SeriesPoint], want: &[(i64, f64, f64, f64)]| {
        let got: Vec<i64> = series.iter().map(|p| p.bucket.timestamp() - T0).collect();
        let want_buckets: Vec<i64> = want.iter().map(|w| w.0).collect();
        assert_eq!(got, want_buckets, "bucket starts (seconds after T0)");
        for (point, &(_, avg, min, max)) in series.iter().zip(want) {
            assert_close(point.avg_value, avg);
            assert_close(point.min_value, min);
            assert_close(point.max_value, max);
        }
    };

    let one_minute = ts
        .series("VH-1", Metric::SpeedKmh, everything(), Duration::minutes(1))
        .await
        .unwrap();
    expect(
        &one_minute,
        &[
            (0, 20.0, 10.0, 30.0),
            (60, 40.0, 40.0, 40.0),
            (120, 50.0, 50.0, 50.0),
            (300, 60.0, 60.0, 60.0),
        ],
    );

    let five_minutes = ts
        .series("VH-1", Metric::SpeedKmh, everything(), Duration::minutes(5))
        .await
        .unwrap();
    expect(
        &five_minutes,
        &[(0, 30.0, 10.0, 50.0), (300, 60.0, 60.0, 60.0)],
    );

    // A window starting mid-bucket still labels the bucket by its epoch-aligned start.
    let mid = ts
        .series(
            "VH-1",
            Metric::SpeedKmh,
            range(30, 90),
            Duration::minutes(1),
        )
        .await
        .unwrap();
    expect(&mid, &[(0, 25.0, 20.0, 30.0), (60, 40.0, 40.0, 40.0)]);

    let none = ts
        .series(
            "VH-404",
            Metric::SpeedKmh,
            everything(),
            Duration::minutes(1),
        )
        .await
        .unwrap();
    assert!(none.is_empty());

    for bucket in [Duration::zero(), Duration::minutes(-1)] {
        let err = ts
            .series("VH-1", Metric::SpeedKmh, everything(), bucket)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation, "bucket {bucket}: {err}");
    }
}

/// Every [`Metric`] aggregates its own column.
pub async fn series_supports_every_metric((ts, _): Stores) {
    let mut a = reading("VH-1", FLEET, 0, 0);
    let mut b = reading("VH-1", FLEET, 10, 0);
    for (r, base) in [(&mut a, 1.0), (&mut b, 3.0)] {
        r.telemetry.speed_kmh = base * 10.0;
        r.telemetry.battery_pct = base * 20.0;
        r.telemetry.engine_temp_c = base * 30.0;
        r.telemetry.load_pct = base * 5.0;
    }
    write(&*ts, &[a, b]).await;

    for metric in Metric::ALL {
        let scale = match metric {
            Metric::SpeedKmh => 10.0,
            Metric::BatteryPct => 20.0,
            Metric::EngineTempC => 30.0,
            Metric::LoadPct => 5.0,
        };
        let series = ts
            .series("VH-1", metric, everything(), Duration::minutes(5))
            .await
            .unwrap_or_else(|e| panic!("series of {metric:?}: {e}"));
        assert_eq!(series.len(), 1, "{metric:?}");
        assert_close(series[0].avg_value, 2.0 * scale);
        assert_close(series[0].min_value, scale);
        assert_close(series[0].max_value, 3.0 * scale);
    }
}

/// The vehicle summary's figures against hand-computed ones; an empty window gives zero counts
/// and no averages.
pub async fn vehicle_summary_figures((ts, _): Stores) {
    let figures = [
        // (secs, speed, battery, engine temp, distance m, status)
        (0, 10.0, 90.0, 60.0, 0.0, VehicleStatus::Moving),
        (10, 20.0, 80.0, 70.0, 1500.0, VehicleStatus::Alert),
        (20, 30.0, 70.0, 95.0, 2500.0, VehicleStatus::Alert),
        // Two readings with identical values: both count.
        (25, 0.0, 70.0, 50.0, 0.0, VehicleStatus::Idle),
        (30, 0.0, 70.0, 50.0, 0.0, VehicleStatus::Idle),
    ];
    let mut batch: Vec<Reading> = figures
        .iter()
        .map(|&(secs, speed, battery, temp, distance, status)| {
            let mut r = reading("VH-1", FLEET, secs, 0);
            r.telemetry.speed_kmh = speed;
            r.telemetry.battery_pct = battery;
            r.telemetry.engine_temp_c = temp;
            r.telemetry.status = status;
            r.distance_m = distance;
            r
        })
        .collect();
    // Outside the window, and another vehicle inside it: neither counts.
    let mut late = reading("VH-1", FLEET, 1_000, 0);
    late.distance_m = 9_999.0;
    late.telemetry.status = VehicleStatus::Alert;
    batch.push(late);
    batch.push(with_speed(reading("VH-2", FLEET, 10, 0), 300.0));
    write(&*ts, &batch).await;

    let summary = ts.vehicle_summary("VH-1", range(0, 30)).await.unwrap();
    assert_eq!(summary.vehicle_id, "VH-1");
    assert_eq!(summary.total_readings, 5);
    assert_close_opt(summary.avg_speed_kmh, 12.0);
    assert_close_opt(summary.max_speed_kmh, 30.0);
    assert_close_opt(summary.avg_battery_pct, 76.0);
    assert_close_opt(summary.min_battery_pct, 70.0);
    assert_close_opt(summary.avg_engine_temp_c, 65.0);
    assert_close_opt(summary.max_engine_temp_c, 95.0);
    assert_close(summary.total_distance_km, 4.0);
    assert_eq!(summary.alert_count, 2);

    let empty = ts.vehicle_summary("VH-1", range(100, 200)).await.unwrap();
    assert_eq!(empty.vehicle_id, "VH-1");
    assert_eq!(empty.total_readings, 0);
    assert_eq!(empty.avg_speed_kmh, None);
    assert_eq!(empty.max_speed_kmh, None);
    assert_eq!(empty.avg_battery_pct, None);
    assert_eq!(empty.min_battery_pct, None);
    assert_eq!(empty.avg_engine_temp_c, None);
    assert_eq!(empty.max_engine_temp_c, None);
    assert_close(empty.total_distance_km, 0.0);
    assert_eq!(empty.alert_count, 0);
}

/// Fleet performance ranks the fleet's vehicles by distance, longest first, ties by vehicle id,
/// with per-vehicle averages and ALERT counts over the window only.
pub async fn fleet_performance_ranking((ts, _): Stores) {
    let leg = |vehicle: &str, secs: i64, distance_m: f64, speed: f64, battery: f64, alert: bool| {
        let mut r = reading(vehicle, FLEET, secs, 0);
        r.distance_m = distance_m;
        r.telemetry.speed_kmh = speed;
        r.telemetry.battery_pct = battery;
        if alert {
            r.telemetry.status = VehicleStatus::Alert;
        }
        r
    };
    let mut batch = vec![
        leg("VH-A", 0, 400.0, 10.0, 90.0, false),
        leg("VH-A", 10, 600.0, 20.0, 80.0, true),
        leg("VH-B", 0, 3_000.0, 40.0, 60.0, true),
        leg("VH-B", 10, 0.0, 0.0, 50.0, true),
        leg("VH-C", 5, 1_000.0, 15.0, 70.0, false),
        // Two readings with identical values: both count in the average.
        leg("VH-C", 6, 0.0, 30.0, 70.0, false),
        leg("VH-C", 7, 0.0, 30.0, 70.0, false),
        // Outside the window: would put VH-C first if counted.
        leg("VH-C", 500, 50_000.0, 15.0, 70.0, true),
    ];
    batch.push({
        let mut r = reading("VH-X", OTHER_FLEET, 5, 0);
        r.distance_m = 100_000.0;
        r
    });
    write(&*ts, &batch).await;

    let report = ts.fleet_performance(FLEET, range(0, 60)).await.unwrap();
    assert_eq!(report.fleet_id, FLEET);
    assert_eq!((report.from, report.to), (at(0), at(60)));
    let order: Vec<&str> = report
        .vehicles
        .iter()
        .map(|v| v.vehicle_id.as_str())
        .collect();
    assert_eq!(order, vec!["VH-B", "VH-A", "VH-C"]);

    let b = &report.vehicles[0];
    assert_close(b.distance_km, 3.0);
    assert_close(b.avg_speed, 20.0);
    assert_close(b.avg_battery, 55.0);
    assert_eq!(b.alerts, 2);
    let a = &report.vehicles[1];
    assert_close(a.distance_km, 1.0);
    assert_close(a.avg_speed, 15.0);
    assert_close(a.avg_battery, 85.0);
    assert_eq!(a.alerts, 1);
    let c = &report.vehicles[2];
    assert_close(c.distance_km, 1.0);
    assert_close(c.avg_speed, 25.0);
    assert_eq!(c.alerts, 0);

    let quiet = ts.fleet_performance(FLEET, range(100, 200)).await.unwrap();
    assert!(quiet.vehicles.is_empty());
}

/// `status()` names a backend and its version.
pub async fn status_names_the_backend((ts, _): Stores) {
    let status = ts.status().await.unwrap();
    assert!(!status.backend.is_empty());
    assert!(!status.version.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Repository
// ---------------------------------------------------------------------------------------------

/// Fleets, vehicles and operators read back as written, upserts replace, lists are ordered by id,
/// and the password hash survives the round trip.
pub async fn fleets_vehicles_operators_round_trip((_, repo): Stores) {
    let fleet_b = Fleet {
        id: "fleet-b".into(),
        name: "Bogotá yard".into(),
    };
    let fleet_a = Fleet {
        id: "fleet-a".into(),
        name: "Port".into(),
    };
    repo.upsert_fleet(&fleet_b).await.unwrap();
    repo.upsert_fleet(&fleet_a).await.unwrap();
    let renamed = Fleet {
        name: "Port terminal".into(),
        ..fleet_a.clone()
    };
    repo.upsert_fleet(&renamed).await.unwrap();
    assert_eq!(
        repo.get_fleet("fleet-a").await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(repo.get_fleet("fleet-404").await.unwrap(), None);
    assert_eq!(repo.list_fleets().await.unwrap(), vec![renamed, fleet_b]);

    let v2 = Vehicle {
        id: "VH-2".into(),
        fleet_id: "fleet-a".into(),
        name: None,
        home: None,
    };
    let v1 = Vehicle {
        id: "VH-1".into(),
        fleet_id: "fleet-a".into(),
        name: Some("Forklift 1".into()),
        home: Some(GeoPoint {
            latitude: 4.6,
            longitude: -74.1,
        }),
    };
    let elsewhere = Vehicle {
        id: "VH-9".into(),
        fleet_id: "fleet-b".into(),
        name: None,
        home: None,
    };
    for v in [&v2, &v1, &elsewhere] {
        repo.upsert_vehicle(v).await.unwrap();
    }
    assert_eq!(repo.get_vehicle("VH-1").await.unwrap(), Some(v1.clone()));
    assert_eq!(repo.get_vehicle("VH-404").await.unwrap(), None);
    assert_eq!(
        repo.list_vehicles("fleet-a").await.unwrap(),
        vec![v1.clone(), v2.clone()]
    );
    let moved = Vehicle {
        fleet_id: "fleet-b".into(),
        name: Some("Forklift 1 (lent)".into()),
        ..v1
    };
    repo.upsert_vehicle(&moved).await.unwrap();
    assert_eq!(repo.list_vehicles("fleet-a").await.unwrap(), vec![v2]);
    assert_eq!(
        repo.list_vehicles("fleet-b").await.unwrap(),
        vec![moved, elsewhere]
    );

    let orphan = Vehicle {
        id: "VH-7".into(),
        fleet_id: "fleet-404".into(),
        name: None,
        home: None,
    };
    let err = repo.upsert_vehicle(&orphan).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(repo.get_vehicle("VH-7").await.unwrap(), None);

    let operator = Operator {
        id: "op-1".into(),
        email: "ana@example.com".into(),
        role: Role::Manager,
        fleet_ids: vec!["fleet-a".into(), "fleet-b".into()],
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    };
    repo.upsert_operator(&operator).await.unwrap();
    assert_eq!(
        repo.operator_by_email("ana@example.com").await.unwrap(),
        Some(operator.clone())
    );
    assert_eq!(
        repo.get_operator("op-1").await.unwrap(),
        Some(operator.clone())
    );
    assert_eq!(
        repo.operator_by_email("nobody@example.com").await.unwrap(),
        None
    );
    assert_eq!(repo.get_operator("op-404").await.unwrap(), None);

    let promoted = Operator {
        role: Role::Admin,
        fleet_ids: Vec::new(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into(),
        ..operator
    };
    repo.upsert_operator(&promoted).await.unwrap();
    assert_eq!(repo.get_operator("op-1").await.unwrap(), Some(promoted));
}

/// Alerts: insert, list newest first with each filter, limit and total; clear; acknowledge
/// (returning the updated alert).
pub async fn alerts_lifecycle_and_filters((_, repo): Stores) {
    let a1 = alert("a1", "VH-1", FLEET, Severity::High, 0);
    let a2 = Alert {
        alert_type: AlertType::custom("GEOFENCE_ENTER"),
        key: Some("zone-7".into()),
        ..alert("a2", "VH-2", FLEET, Severity::Low, 10)
    };
    let a3 = alert("a3", "VH-1", FLEET, Severity::Critical, 20);
    let a4 = alert("a4", "VH-9", OTHER_FLEET, Severity::High, 30);
    // Inserted out of time order.
    for a in [&a3, &a1, &a4, &a2] {
        repo.insert_alert(a).await.unwrap();
    }
    assert_eq!(repo.get_alert("a2").await.unwrap(), Some(a2.clone()));
    assert_eq!(repo.get_alert("a404").await.unwrap(), None);

    let list = |filter: AlertFilter| {
        let repo = Arc::clone(&repo);
        async move {
            let page = repo.list_alerts(&filter).await.unwrap();
            (alert_ids(&page.data), page.total)
        }
    };
    let all = AlertFilter::default();
    assert_eq!(
        list(all.clone()).await,
        (vec!["a4".into(), "a3".into(), "a2".into(), "a1".into()], 4)
    );
    let by_fleet = AlertFilter {
        fleet_id: Some(FLEET.into()),
        ..all.clone()
    };
    assert_eq!(
        list(by_fleet.clone()).await,
        (vec!["a3".into(), "a2".into(), "a1".into()], 3)
    );
    assert_eq!(
        list(AlertFilter {
            limit: 2,
            ..by_fleet.clone()
        })
        .await,
        (vec!["a3".into(), "a2".into()], 3),
        "limit cuts the page, not the total"
    );
    assert_eq!(
        list(AlertFilter {
            vehicle_id: Some("VH-1".into()),
            ..all.clone()
        })
        .await,
        (vec!["a3".into(), "a1".into()], 2)
    );
    assert_eq!(
        list(AlertFilter {
            severity: Some(Severity::High),
            ..all.clone()
        })
        .await,
        (vec!["a4".into(), "a1".into()], 2)
    );
    assert_eq!(
        list(AlertFilter {
            severity: Some(Severity::High),
            fleet_id: Some(FLEET.into()),
            ..all.clone()
        })
        .await,
        (vec!["a1".into()], 1)
    );

    let acked = repo
        .acknowledge_alert("a3", "op-1", at(100), Some("driver called"))
        .await
        .unwrap();
    let expected = Alert {
        acknowledged: true,
        acknowledged_by: Some("op-1".into()),
        acknowledged_at: Some(at(100)),
        notes: Some("driver called".into()),
        ..a3.clone()
    };
    assert_eq!(acked, expected);
    assert_eq!(repo.get_alert("a3").await.unwrap(), Some(expected));
    assert_eq!(
        list(AlertFilter {
            acknowledged: Some(true),
            ..all.clone()
        })
        .await,
        (vec!["a3".into()], 1)
    );
    assert_eq!(
        list(AlertFilter {
            acknowledged: Some(false),
            ..by_fleet
        })
        .await,
        (vec!["a2".into(), "a1".into()], 2)
    );

    repo.clear_alert("a1", at(50)).await.unwrap();
    repo.clear_alert("a1", at(70)).await.unwrap();
    let cleared = repo.get_alert("a1").await.unwrap().unwrap();
    assert_eq!(
        cleared.cleared_at,
        Some(at(50)),
        "the first clearing time is kept"
    );
    assert!(!cleared.acknowledged, "clearing does not acknowledge");
}

/// Open alerts are a fleet's unacknowledged ones, cleared or not.
pub async fn count_open_alerts((_, repo): Stores) {
    for a in [
        alert("a1", "VH-1", FLEET, Severity::High, 0),
        alert("a2", "VH-2", FLEET, Severity::Low, 10),
        alert("a3", "VH-1", FLEET, Severity::Critical, 20),
        alert("a4", "VH-9", OTHER_FLEET, Severity::High, 30),
    ] {
        repo.insert_alert(&a).await.unwrap();
    }
    assert_eq!(repo.count_open_alerts(FLEET).await.unwrap(), 3);
    assert_eq!(repo.count_open_alerts(OTHER_FLEET).await.unwrap(), 1);
    assert_eq!(repo.count_open_alerts("fleet-404").await.unwrap(), 0);

    repo.acknowledge_alert("a2", "op-1", at(40), None)
        .await
        .unwrap();
    repo.clear_alert("a1", at(40)).await.unwrap();
    assert_eq!(repo.count_open_alerts(FLEET).await.unwrap(), 2);
}

/// Open alerts are the ones not cleared, acknowledged or not (an event is stored cleared), of
/// the given vehicles or of all when none are given, oldest first with ties by id; any number of
/// vehicle ids works in one call.
pub async fn open_alerts_are_the_uncleared_oldest_first((_, repo): Stores) {
    let event = Alert {
        alert_type: AlertType::GEOFENCE_ENTER,
        key: Some("depot".into()),
        cleared_at: Some(at(5)),
        ..alert("a-event", "VH-1", FLEET, Severity::Low, 5)
    };
    let dwell = Alert {
        alert_type: AlertType::GEOFENCE_DWELL,
        key: Some("depot".into()),
        ..alert("a-dwell", "VH-1", FLEET, Severity::Medium, 20)
    };
    for a in [
        alert("a-late", "VH-1", FLEET, Severity::High, 30),
        alert("a-cleared", "VH-1", FLEET, Severity::High, 0),
        dwell.clone(),
        event,
        alert("a-tie-b", "VH-2", FLEET, Severity::High, 10),
        alert("a-tie-a", "VH-2", FLEET, Severity::High, 10),
        alert("a-acked", "VH-9", OTHER_FLEET, Severity::Critical, 15),
    ] {
        repo.insert_alert(&a).await.unwrap();
    }
    repo.clear_alert("a-cleared", at(3)).await.unwrap();
    repo.acknowledge_alert("a-acked", "op-1", at(16), None)
        .await
        .unwrap();

    let open = |vehicles: Vec<String>| {
        let repo = Arc::clone(&repo);
        async move { alert_ids(&repo.open_alerts(&vehicles).await.unwrap()) }
    };
    assert_eq!(
        open(Vec::new()).await,
        ["a-tie-a", "a-tie-b", "a-acked", "a-dwell", "a-late"],
        "every vehicle's open alerts, oldest first, ties by id"
    );
    assert_eq!(open(vec!["VH-1".into()]).await, ["a-dwell", "a-late"]);
    assert_eq!(
        open(vec!["VH-9".into(), "VH-1".into()]).await,
        ["a-acked", "a-dwell", "a-late"],
        "acknowledged is still open"
    );
    assert!(open(vec!["VH-404".into()]).await.is_empty());
    // A pipeline's first batch can hold thousands of new vehicles.
    let many: Vec<String> = (0..5_000)
        .map(|i| format!("VH-X{i}"))
        .chain(["VH-2".to_string()])
        .collect();
    assert_eq!(open(many).await, ["a-tie-a", "a-tie-b"]);

    let stored = repo.open_alerts(&["VH-1".into()]).await.unwrap();
    assert_eq!(stored[0], dwell, "every field as stored");

    repo.clear_alert("a-late", at(40)).await.unwrap();
    assert_eq!(open(vec!["VH-1".into()]).await, ["a-dwell"]);
}

/// Commands: round trip with params, expiry and idempotency key, lifecycle updates,
/// newest-first listing with limit and total.
pub async fn commands_lifecycle((_, repo): Stores) {
    let reroute = Command {
        params: CommandParams {
            waypoints: vec![Waypoint {
                latitude: 4.7,
                longitude: -74.0,
                order: 1,
            }],
            reason: Some("road closed".into()),
        },
        expires_at: Some(at(30) + Duration::microseconds(123_456)),
        idempotency_key: Some("retry-7f3c".into()),
        ..command("c1", "VH-1", CommandKind::Reroute, 0)
    };
    let c2 = command("c2", "VH-1", CommandKind::Stop, 10);
    let c3 = command("c3", "VH-1", CommandKind::Resume, 20);
    let other = command("c4", "VH-2", CommandKind::ReturnToBase, 30);
    for c in [&c2, &reroute, &other, &c3] {
        repo.insert_command(c).await.unwrap();
    }
    assert_eq!(repo.get_command("c1").await.unwrap(), Some(reroute.clone()));
    assert_eq!(repo.get_command("c404").await.unwrap(), None);

    let mut delivered = reroute.clone();
    delivered
        .advance(CommandStatus::Delivered, at(1), None)
        .unwrap();
    repo.update_command(&delivered).await.unwrap();
    assert_eq!(
        repo.get_command("c1").await.unwrap(),
        Some(delivered.clone())
    );
    let mut executed = delivered;
    executed
        .advance(CommandStatus::Executed, at(2), None)
        .unwrap();
    repo.update_command(&executed).await.unwrap();
    assert_eq!(repo.get_command("c1").await.unwrap(), Some(executed));

    let mut failed = c2.clone();
    failed
        .advance(CommandStatus::Failed, at(11), Some("e-stop engaged".into()))
        .unwrap();
    repo.update_command(&failed).await.unwrap();
    assert_eq!(repo.get_command("c2").await.unwrap(), Some(failed));

    let page = repo.list_commands("VH-1", 2).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(ids(&page.data, |c| &c.id), vec!["c3", "c2"]);
    let page = repo.list_commands("VH-1", 0).await.unwrap();
    assert_eq!(ids(&page.data, |c| &c.id), vec!["c3", "c2", "c1"]);
    let page = repo.list_commands("VH-404", 10).await.unwrap();
    assert_eq!((page.data.len(), page.total), (0, 0));
    // Listing reads them too (the equalities above already cover `get_command`).
    let listed = repo.list_commands("VH-1", 0).await.unwrap().data;
    assert_eq!(
        (listed[2].expires_at, listed[2].idempotency_key.as_deref()),
        (reroute.expires_at, Some("retry-7f3c")),
        "expiry and key survive the updates"
    );
}

/// Idempotency keys: a command is found by its issuer and key (and only so); a second command
/// with the same issuer and key is a conflict, while another issuer may use the same key and
/// commands without a key never collide.
pub async fn command_idempotency_keys_are_unique_per_issuer((_, repo): Stores) {
    let keyed = |id: &str, by: &str, key: Option<&str>| Command {
        issued_by: by.into(),
        idempotency_key: key.map(Into::into),
        expires_at: Some(at(30)),
        ..command(id, "VH-1", CommandKind::Stop, 0)
    };
    let original = keyed("c1", "op-1", Some("k-1"));
    repo.insert_command(&original).await.unwrap();
    assert_eq!(
        repo.command_by_idempotency_key("op-1", "k-1")
            .await
            .unwrap(),
        Some(original.clone())
    );
    for (by, key) in [("op-2", "k-1"), ("op-1", "k-2"), ("op-1", "K-1")] {
        assert_eq!(
            repo.command_by_idempotency_key(by, key).await.unwrap(),
            None,
            "{by} {key}"
        );
    }

    let err = repo
        .insert_command(&keyed("c2", "op-1", Some("k-1")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(repo.get_command("c2").await.unwrap(), None);

    let other_issuer = keyed("c3", "op-2", Some("k-1"));
    repo.insert_command(&other_issuer).await.unwrap();
    assert_eq!(
        repo.command_by_idempotency_key("op-2", "k-1")
            .await
            .unwrap(),
        Some(other_issuer)
    );
    for id in ["c4", "c5"] {
        repo.insert_command(&keyed(id, "op-1", None)).await.unwrap();
    }
    assert_eq!(
        repo.command_by_idempotency_key("op-1", "k-1")
            .await
            .unwrap(),
        Some(original),
        "still the original"
    );
    assert_eq!(repo.list_commands("VH-1", 0).await.unwrap().total, 4);
}

/// Pending commands are the DISPATCHED and DELIVERED ones of every vehicle, oldest first with
/// ties by id, each as stored.
pub async fn pending_commands_are_the_unfinished_oldest_first((_, repo): Stores) {
    let mut delivered = command("c-delivered", "VH-2", CommandKind::ReturnToBase, 10);
    let mut executed = command("c-executed", "VH-1", CommandKind::Stop, 0);
    let mut expired = command("c-expired", "VH-1", CommandKind::Resume, 1);
    let mut timed_out = command("c-timeout", "VH-3", CommandKind::Stop, 2);
    let dispatched = command("c-dispatched", "VH-1", CommandKind::Stop, 20);
    let tie = command("c-tie", "VH-9", CommandKind::Stop, 20);
    for c in [
        &dispatched,
        &delivered,
        &executed,
        &expired,
        &timed_out,
        &tie,
    ] {
        repo.insert_command(c).await.unwrap();
    }
    assert_eq!(
        ids(&repo.pending_commands().await.unwrap(), |c| &c.id),
        [
            "c-executed",
            "c-expired",
            "c-timeout",
            "c-delivered",
            "c-dispatched",
            "c-tie"
        ],
        "all DISPATCHED at first"
    );

    delivered
        .advance(CommandStatus::Delivered, at(11), None)
        .unwrap();
    executed
        .advance(CommandStatus::Delivered, at(1), None)
        .unwrap();
    executed
        .advance(CommandStatus::Executed, at(2), None)
        .unwrap();
    expired
        .advance(CommandStatus::Expired, at(31), Some("no ack".into()))
        .unwrap();
    timed_out
        .advance(CommandStatus::Delivered, at(3), None)
        .unwrap();
    timed_out
        .advance(CommandStatus::Timeout, at(200), Some("too slow".into()))
        .unwrap();
    for c in [&delivered, &executed, &expired, &timed_out] {
        repo.update_command(c).await.unwrap();
    }
    let pending = repo.pending_commands().await.unwrap();
    assert_eq!(
        ids(&pending, |c| &c.id),
        ["c-delivered", "c-dispatched", "c-tie"]
    );
    assert_eq!(pending[0], delivered, "every field as stored");
}

/// Active missions are the ASSIGNED and IN_PROGRESS ones of every fleet, oldest first with ties
/// by id, each as stored.
pub async fn active_missions_are_assigned_or_in_progress_oldest_first((_, repo): Stores) {
    let created = |id: &str, vehicle_id: &str, secs: i64| Mission {
        created_at: at(secs),
        ..mission(id, vehicle_id)
    };
    let started = Mission {
        status: MissionStatus::InProgress,
        started_at: Some(at(70)),
        completed_waypoints: 1,
        ..created("m-started", "VH-1", 60)
    };
    let done = Mission {
        status: MissionStatus::Completed,
        completed_waypoints: 2,
        completed_at: Some(at(50)),
        ..created("m-done", "VH-1", 0)
    };
    let cancelled = Mission {
        status: MissionStatus::Cancelled,
        completed_at: Some(at(15)),
        ..created("m-cancelled", "VH-2", 10)
    };
    let elsewhere = Mission {
        fleet_id: OTHER_FLEET.into(),
        ..created("m-elsewhere", "VH-9", 100)
    };
    let tie = created("m-tie", "VH-3", 100);
    let assigned = created("m-assigned", "VH-2", 30);
    for m in [&elsewhere, &done, &started, &cancelled, &tie, &assigned] {
        repo.insert_mission(m).await.unwrap();
    }
    let active = repo.active_missions().await.unwrap();
    assert_eq!(
        ids(&active, |m| &m.id),
        ["m-assigned", "m-started", "m-elsewhere", "m-tie"]
    );
    assert_eq!(active[1], started, "every field as stored");

    let failed = Mission {
        status: MissionStatus::Failed,
        failure_reason: Some("blocked".into()),
        ..assigned
    };
    repo.update_mission(&failed).await.unwrap();
    assert_eq!(
        ids(&repo.active_missions().await.unwrap(), |m| &m.id),
        ["m-started", "m-elsewhere", "m-tie"]
    );
}

/// Missions: one active (ASSIGNED or IN_PROGRESS) mission per vehicle, a new one allowed after
/// completion; get, update, active mission and the fleet's active count.
pub async fn missions_lifecycle((_, repo): Stores) {
    let m1 = mission("m1", "VH-1");
    repo.insert_mission(&m1).await.unwrap();
    assert_eq!(repo.get_mission("m1").await.unwrap(), Some(m1.clone()));
    assert_eq!(repo.get_mission("m404").await.unwrap(), None);

    let second = mission("m2", "VH-1");
    let err = repo.insert_mission(&second).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(repo.get_mission("m2").await.unwrap(), None);

    let other_vehicle = mission("m3", "VH-2");
    repo.insert_mission(&other_vehicle).await.unwrap();
    let elsewhere = Mission {
        fleet_id: OTHER_FLEET.into(),
        ..mission("m4", "VH-9")
    };
    repo.insert_mission(&elsewhere).await.unwrap();
    assert_eq!(repo.count_active_missions(FLEET).await.unwrap(), 2);
    assert_eq!(repo.count_active_missions(OTHER_FLEET).await.unwrap(), 1);

    let started = Mission {
        status: MissionStatus::InProgress,
        started_at: Some(at(60)),
        completed_waypoints: 1,
        ..m1.clone()
    };
    repo.update_mission(&started).await.unwrap();
    assert_eq!(repo.get_mission("m1").await.unwrap(), Some(started.clone()));
    assert_eq!(
        repo.active_mission("VH-1").await.unwrap(),
        Some(started.clone())
    );
    let err = repo.insert_mission(&second).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "IN_PROGRESS blocks too: {err}"
    );

    let completed = Mission {
        status: MissionStatus::Completed,
        completed_at: Some(at(600)),
        completed_waypoints: 2,
        ..started
    };
    repo.update_mission(&completed).await.unwrap();
    assert_eq!(repo.active_mission("VH-1").await.unwrap(), None);
    // An ended mission never changes again: a late progress write, or a cancellation, of a
    // completed mission is refused and the stored mission stays as it ended.
    for late in [
        Mission {
            status: MissionStatus::InProgress,
            completed_at: None,
            ..completed.clone()
        },
        Mission {
            status: MissionStatus::Cancelled,
            ..completed.clone()
        },
    ] {
        let err = repo.update_mission(&late).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidTransition, "{err}");
        assert!(err.to_string().contains("COMPLETED"), "{err}");
    }
    assert_eq!(
        repo.get_mission("m1").await.unwrap(),
        Some(completed.clone())
    );
    assert_eq!(repo.count_active_missions(FLEET).await.unwrap(), 1);

    repo.insert_mission(&second).await.unwrap();
    assert_eq!(repo.active_mission("VH-1").await.unwrap(), Some(second));
    assert_eq!(repo.count_active_missions(FLEET).await.unwrap(), 2);
    assert_eq!(repo.get_mission("m1").await.unwrap(), Some(completed));

    let failed = Mission {
        status: MissionStatus::Failed,
        failure_reason: Some("blocked aisle".into()),
        ..other_vehicle
    };
    repo.update_mission(&failed).await.unwrap();
    assert_eq!(repo.active_mission("VH-2").await.unwrap(), None);
    assert_eq!(repo.get_mission("m3").await.unwrap(), Some(failed));
    assert_eq!(repo.active_mission("VH-404").await.unwrap(), None);
}

/// Listing missions: newest first (ties by id, newest id first), each filter, limit and total,
/// every field (waypoints included) as stored.
pub async fn missions_list_filters_newest_first((_, repo): Stores) {
    let created = |id: &str, vehicle_id: &str, secs: i64| Mission {
        created_at: at(secs),
        ..mission(id, vehicle_id)
    };
    let done = Mission {
        status: MissionStatus::Completed,
        completed_waypoints: 2,
        completed_at: Some(at(50)),
        ..created("m1", "VH-1", 0)
    };
    let active = created("m2", "VH-1", 100);
    let tie = created("m3", "VH-2", 100);
    let elsewhere = Mission {
        fleet_id: OTHER_FLEET.into(),
        ..created("m4", "VH-9", 200)
    };
    // Inserted out of time order.
    for m in [&tie, &elsewhere, &done, &active] {
        repo.insert_mission(m).await.unwrap();
    }

    let names = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    let list = |filter: MissionFilter| {
        let repo = Arc::clone(&repo);
        async move {
            let page = repo.list_missions(&filter).await.unwrap();
            (ids(&page.data, |m| &m.id), page.total)
        }
    };
    assert_eq!(
        list(MissionFilter::default()).await,
        (names(&["m4", "m3", "m2", "m1"]), 4)
    );
    let by_fleet = MissionFilter {
        fleet_id: Some(FLEET.into()),
        ..MissionFilter::default()
    };
    assert_eq!(
        list(by_fleet.clone()).await,
        (names(&["m3", "m2", "m1"]), 3)
    );
    assert_eq!(
        list(MissionFilter {
            limit: 2,
            ..by_fleet.clone()
        })
        .await,
        (names(&["m3", "m2"]), 3),
        "the limit cuts the page, not the total"
    );
    assert_eq!(
        list(MissionFilter {
            vehicle_id: Some("VH-1".into()),
            ..by_fleet.clone()
        })
        .await,
        (names(&["m2", "m1"]), 2)
    );
    assert_eq!(
        list(MissionFilter {
            status: Some(MissionStatus::Completed),
            ..by_fleet.clone()
        })
        .await,
        (names(&["m1"]), 1)
    );
    assert_eq!(
        list(MissionFilter {
            fleet_id: Some("fleet-404".into()),
            ..MissionFilter::default()
        })
        .await,
        (names(&[]), 0)
    );

    let page = repo.list_missions(&by_fleet).await.unwrap();
    assert_eq!(
        page.data,
        vec![tie, active, done],
        "every field round-trips"
    );
}

/// Racing inserts of missions for one idle vehicle: exactly one wins, the rest conflict.
pub async fn concurrent_missions_for_one_vehicle_admit_one((_, repo): Stores) {
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let repo = Arc::clone(&repo);
        racers.spawn(async move {
            repo.insert_mission(&mission(&format!("race-{i}"), "VH-5"))
                .await
        });
    }
    let (mut won, mut conflicted) = (0, 0);
    while let Some(result) = racers.join_next().await {
        match result.expect("insert task panicked") {
            Ok(()) => won += 1,
            Err(e) if e.kind() == ErrorKind::Conflict => conflicted += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((won, conflicted), (1, 7));
    assert_eq!(repo.count_active_missions(FLEET).await.unwrap(), 1);
}

/// Acting on an entity that does not exist fails with NotFound and changes nothing.
pub async fn unknown_entities_are_not_found((_, repo): Stores) {
    let err = repo
        .acknowledge_alert("a404", "op-1", at(0), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = repo.clear_alert("a404", at(0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = repo
        .update_command(&command("c404", "VH-1", CommandKind::Stop, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = repo
        .update_mission(&mission("m404", "VH-1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(repo.get_alert("a404").await.unwrap(), None);
    assert_eq!(repo.get_mission("m404").await.unwrap(), None);
}

/// Exports read a fleet's alerts, commands and missions of a window in keyset pages: oldest
/// first by (time, id), both ends of the window included, each page starting after the last key
/// of the one before (also between two records of one instant), other fleets left out.
pub async fn records_between_page_a_fleets_window_oldest_first((_, repo): Stores) {
    // Times 5..=40 in FLEET (two at 20, one on each edge), one outside, one in another fleet.
    let times = [
        ("r6", 40),
        ("r2", 10),
        ("r4", 20),
        ("r1", 5),
        ("r3", 20),
        ("r5", 30),
    ];
    for (id, secs) in times.into_iter().chain([("r0", 4), ("r7", 41)]) {
        repo.insert_alert(&alert(id, "VH-1", FLEET, Severity::High, secs))
            .await
            .unwrap();
        repo.insert_command(&command(id, "VH-1", CommandKind::Stop, secs))
            .await
            .unwrap();
        repo.insert_mission(&Mission {
            created_at: at(secs),
            status: MissionStatus::Completed,
            completed_at: Some(at(secs + 1)),
            ..mission(id, "VH-1")
        })
        .await
        .unwrap();
    }
    repo.insert_alert(&alert("x1", "VH-9", OTHER_FLEET, Severity::High, 20))
        .await
        .unwrap();
    repo.insert_command(&Command {
        fleet_id: OTHER_FLEET.into(),
        ..command("x1", "VH-9", CommandKind::Stop, 20)
    })
    .await
    .unwrap();
    repo.insert_mission(&Mission {
        fleet_id: OTHER_FLEET.into(),
        created_at: at(20),
        ..mission("x1", "VH-9")
    })
    .await
    .unwrap();

    let expected = ["r1", "r2", "r3", "r4", "r5", "r6"];
    // Pages of 2 end between the two records at 20 s: the keyset must carry the id.
    let mut after: Option<(DateTime<Utc>, String)> = None;
    let mut pages = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let query = RecordsQuery {
            fleet_id: FLEET.into(),
            range: range(5, 40),
            after: after.clone(),
            limit: 2,
        };
        let alerts = repo.alerts_between(&query).await.unwrap();
        let commands = repo.commands_between(&query).await.unwrap();
        let missions = repo.missions_between(&query).await.unwrap();
        assert!(alerts.len() <= 2, "a page holds at most `limit`");
        let Some(last) = alerts.last() else { break };
        after = Some((last.triggered_at, last.id.clone()));
        pages.0.extend(alert_ids(&alerts));
        pages.1.extend(ids(&commands, |c| &c.id));
        pages.2.extend(ids(&missions, |m| &m.id));
    }
    assert_eq!(pages.0, expected, "alerts");
    assert_eq!(pages.1, expected, "commands");
    assert_eq!(pages.2, expected, "missions");

    let whole = RecordsQuery {
        fleet_id: OTHER_FLEET.into(),
        range: everything(),
        after: None,
        limit: 0,
    };
    assert_eq!(
        alert_ids(&repo.alerts_between(&whole).await.unwrap()),
        ["x1"]
    );
    let unknown = RecordsQuery {
        fleet_id: "fleet-404".into(),
        ..whole
    };
    assert!(repo.commands_between(&unknown).await.unwrap().is_empty());
}

/// Missions by the time they ended: a mission created before the window that ended inside it
/// counts, one still running or ended after the window does not.
pub async fn missions_ended_between_page_by_end_time((_, repo): Stores) {
    let ended = |id: &str, created: i64, ended: Option<i64>, status: MissionStatus| Mission {
        created_at: at(created),
        status,
        completed_at: ended.map(at),
        ..mission(id, "VH-1")
    };
    for m in [
        ended("m1", -5_000, Some(20), MissionStatus::Completed),
        ended("m2", 10, Some(15), MissionStatus::Cancelled),
        ended("m3", 10, Some(20), MissionStatus::Completed),
        ended("m4", 10, None, MissionStatus::InProgress),
        ended("m5", 10, Some(100), MissionStatus::Completed),
    ] {
        repo.insert_mission(&m).await.unwrap();
    }
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = repo
            .missions_ended_between(&RecordsQuery {
                fleet_id: FLEET.into(),
                range: range(0, 60),
                after: after.clone(),
                limit: 2,
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.completed_at.unwrap(), last.id.clone()));
        seen.extend(ids(&page, |m| &m.id));
    }
    assert_eq!(seen, ["m2", "m1", "m3"], "by end time, then id");
}

/// Report days come from whole minutes: each minute with readings counts 60 s, shared between
/// the statuses of its readings; days are the site's (`utc_offset_minutes`), and a minute whose
/// readings arrived in several batches (or stores split between tables) counts once.
pub async fn report_days_share_each_minute_between_statuses_per_site_day((ts, _): Stores) {
    // T0 is 22:15 UTC on 2023-11-14: 00:15 on the 15th at UTC+2.
    let r = |vehicle: &str, secs: i64, status: VehicleStatus, speed: f64, distance_m: f64| {
        let mut r = reading(vehicle, FLEET, secs, 0);
        r.telemetry.status = status;
        r.telemetry.speed_kmh = speed;
        r.distance_m = distance_m;
        r
    };
    use VehicleStatus::*;
    let batches = [
        // VH-1, 23:45 on the 14th (UTC+2): half stopped, half low battery.
        vec![
            r("VH-1", -1_800, Stopped, 0.0, 0.0),
            r("VH-1", -1_790, LowBattery, 0.0, 0.0),
        ],
        // VH-1, one minute after midnight on the 15th, in two batches.
        vec![
            r("VH-1", 0, Moving, 10.0, 100.0),
            r("VH-1", 15, Moving, 20.0, 200.0),
        ],
        vec![
            r("VH-1", 30, Idle, 0.0, 0.0),
            r("VH-1", 45, Charging, 0.0, 0.0),
        ],
        // VH-2: one ALERT reading; another fleet's vehicle; a reading after the report.
        vec![
            r("VH-2", 60, Alert, 50.0, 1_000.0),
            reading("VH-X", OTHER_FLEET, 0, 0),
            r("VH-1", 2 * 86_400, Moving, 99.0, 9_999.0),
        ],
    ];
    for batch in &batches {
        write(&*ts, batch).await;
    }
    let query = |offset: i32, vehicle: Option<&str>| ReportQuery {
        fleet_id: FLEET.into(),
        vehicle_id: vehicle.map(str::to_string),
        from: "2023-11-14".parse().unwrap(),
        to: "2023-11-15".parse().unwrap(),
        utc_offset_minutes: offset,
    };
    let days = ts.report_days(&query(120, None)).await.unwrap();
    let keys: Vec<(String, &str, u64)> = days
        .iter()
        .map(|d| (d.day.to_string(), d.vehicle_id.as_str(), d.figures.readings))
        .collect();
    assert_eq!(
        keys,
        [
            ("2023-11-14".to_string(), "VH-1", 2),
            ("2023-11-15".to_string(), "VH-1", 4),
            ("2023-11-15".to_string(), "VH-2", 1),
        ]
    );
    let late = &days[0].figures;
    assert_close(late.stopped_s, 30.0);
    assert_close(late.other_s, 30.0);
    assert_close(late.driving_s + late.idle_s + late.charging_s, 0.0);
    let busy = &days[1].figures;
    assert_close(busy.distance_km, 0.3);
    assert_close(busy.driving_s, 30.0);
    assert_close(busy.idle_s, 15.0);
    assert_close(busy.charging_s, 15.0);
    assert_close(busy.stopped_s + busy.other_s, 0.0);
    assert_close_opt(busy.avg_speed_kmh, 7.5);
    assert_close_opt(busy.max_speed_kmh, 20.0);
    assert_eq!((busy.alerts, busy.missions_completed), (0, 0));
    let alert = &days[2].figures;
    assert_close(alert.other_s, 60.0);
    assert_close(alert.distance_km, 1.0);

    // In UTC all of it is on the 14th.
    let utc = ts.report_days(&query(0, None)).await.unwrap();
    assert_eq!(utc.len(), 2);
    assert!(utc.iter().all(|d| d.day.to_string() == "2023-11-14"));
    assert_eq!(utc[0].figures.readings, 6);
    assert_close(utc[0].figures.driving_s, 30.0);

    let one = ts.report_days(&query(120, Some("VH-2"))).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].vehicle_id, "VH-2");
    let other_fleet = ReportQuery {
        fleet_id: "fleet-404".into(),
        ..query(0, None)
    };
    assert!(ts.report_days(&other_fleet).await.unwrap().is_empty());
}

fn audit_entry(
    id: &str,
    actor: &str,
    action: AuditAction,
    fleet_id: Option<&str>,
    secs: i64,
) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        at: at(secs),
        actor: actor.into(),
        action,
        fleet_id: fleet_id.map(str::to_string),
        vehicle_id: fleet_id.map(|_| "VH-1".to_string()),
        target_id: Some(format!("target-{id}")),
        source: Some("10.0.0.7".into()),
        detail: format!("detail of {id}, with ‘quotes’"),
    }
}

/// A window past every time the checks write.
fn everything_and_more() -> TimeRange {
    range(-10 * 86_400, 10 * 86_400)
}

/// The audit trail: every field round-trips; newest first (ties by id, so pages that end
/// between two entries of one instant lose nothing); filters by fleets (entries without one
/// left out), actor, action and window.
pub async fn audit_trail_lists_newest_first_by_fleet_actor_and_action((_, repo): Stores) {
    use AuditAction::*;
    let entries = [
        audit_entry("e1", "op-1", LoginSucceeded, None, 1),
        audit_entry("e2", "op-1", CommandDispatched, Some(FLEET), 2),
        audit_entry("e3", "op-2", MissionCreated, Some(FLEET), 3),
        audit_entry("e4", "op-2", CommandDispatched, Some(OTHER_FLEET), 3),
        audit_entry("e5", "nobody@example.com", LoginFailed, None, 4),
        audit_entry("e6", "op-1", AlertAcknowledged, Some(FLEET), 100),
    ];
    for e in &entries {
        repo.insert_audit(e).await.unwrap();
    }
    let filter =
        |fleets: Option<Vec<&str>>, actor: Option<&str>, action: Option<AuditAction>| AuditFilter {
            fleet_ids: fleets.map(|f| f.into_iter().map(str::to_string).collect()),
            actor: actor.map(str::to_string),
            action,
            range: range(0, 60),
            before: None,
            limit: 0,
        };
    let all = repo.list_audit(&filter(None, None, None)).await.unwrap();
    assert_eq!(ids(&all, |e| &e.id), ["e5", "e4", "e3", "e2", "e1"]);
    assert_eq!(all[3], entries[1], "every field round-trips");

    let fleet = repo
        .list_audit(&filter(Some(vec![FLEET]), None, None))
        .await
        .unwrap();
    assert_eq!(ids(&fleet, |e| &e.id), ["e3", "e2"]);
    let both = repo
        .list_audit(&filter(Some(vec![FLEET, OTHER_FLEET]), None, None))
        .await
        .unwrap();
    assert_eq!(ids(&both, |e| &e.id), ["e4", "e3", "e2"]);
    let none = repo
        .list_audit(&filter(Some(vec![]), None, None))
        .await
        .unwrap();
    assert!(none.is_empty(), "no fleets, no entries");
    let by_actor = repo
        .list_audit(&filter(None, Some("op-1"), None))
        .await
        .unwrap();
    assert_eq!(ids(&by_actor, |e| &e.id), ["e2", "e1"]);
    let by_action = repo
        .list_audit(&filter(None, None, Some(CommandDispatched)))
        .await
        .unwrap();
    assert_eq!(ids(&by_action, |e| &e.id), ["e4", "e2"]);

    // Pages of two, the first ending between e4 and e3 (one instant).
    let mut before = None;
    let mut seen = Vec::new();
    loop {
        let page = repo
            .list_audit(&AuditFilter {
                before: before.clone(),
                limit: 2,
                ..filter(None, None, None)
            })
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        before = Some((last.at, last.id.clone()));
        seen.extend(ids(&page, |e| &e.id));
    }
    assert_eq!(seen, ["e5", "e4", "e3", "e2", "e1"]);
}

/// Retention: readings before the cutoff go (whole days where the backend drops daily
/// partitions) while their rollups stay, so a summary of that time (in whole rollup buckets)
/// still counts them; rollups go by their own cutoff (by whole chunks on TimescaleDB); alerts,
/// commands and missions go only once over (cleared, ended) — an old open alert, a pending
/// command and an active mission stay; newer records all stay.
pub async fn retention_removes_what_is_over_and_keeps_the_rest(store: Store) {
    const DAY: i64 = 86_400;
    // Two minutes of 1 Hz readings at T0 (22:15 UTC), and one reading three days later.
    let old: Vec<Reading> = (0..120).map(|s| reading("VH-1", FLEET, s, 0)).collect();
    write(&*store, &old).await;
    write(&*store, &[reading("VH-1", FLEET, 3 * DAY, 0)]).await;
    // The whole hour around them (22:00–23:00): rollups of any width (minutes, hours) cover it.
    let old_minutes = range(-900, 2700);
    let summary = |store: Store| async move {
        store
            .vehicle_summary("VH-1", old_minutes)
            .await
            .expect("summary")
            .total_readings
    };
    assert_eq!(summary(store.clone()).await, 120);

    let cleared_alert = Alert {
        cleared_at: Some(at(30)),
        ..alert("a-old-cleared", "VH-1", FLEET, Severity::High, 10)
    };
    let open_alert = alert("a-old-open", "VH-1", FLEET, Severity::High, 20);
    let new_alert = Alert {
        cleared_at: Some(at(3 * DAY + 5)),
        ..alert("a-new", "VH-1", FLEET, Severity::High, 3 * DAY)
    };
    for a in [&cleared_alert, &open_alert, &new_alert] {
        store.insert_alert(a).await.unwrap();
    }
    let executed = Command {
        status: CommandStatus::Executed,
        ..command("c-old-done", "VH-1", CommandKind::Stop, 10)
    };
    let pending = command("c-old-pending", "VH-1", CommandKind::Stop, 20);
    for c in [&executed, &pending] {
        store.insert_command(c).await.unwrap();
    }
    let completed = Mission {
        status: MissionStatus::Completed,
        completed_at: Some(at(60)),
        ..mission("m-old-done", "VH-1")
    };
    let active = mission("m-old-active", "VH-2");
    for m in [&completed, &active] {
        store.insert_mission(m).await.unwrap();
    }
    let audit_old = audit_entry("u-old", "op-1", AuditAction::LoginSucceeded, None, 10);
    let audit_new = audit_entry("u-new", "op-1", AuditAction::LoginSucceeded, None, 3 * DAY);
    for e in [&audit_old, &audit_new] {
        store.insert_audit(e).await.unwrap();
    }

    // Everything before T0 + 1 day, except rollups.
    let cutoff = at(DAY);
    let report = store
        .apply_retention(&RetentionCutoffs {
            telemetry: Some(cutoff),
            rollups: None,
            alerts: Some(cutoff),
            commands: Some(cutoff),
            missions: Some(cutoff),
            audit: Some(cutoff),
        })
        .await
        .expect("retention");
    assert_eq!(report.audit, 1, "{report:?}");
    let kept = store
        .list_audit(&AuditFilter {
            fleet_ids: None,
            actor: None,
            action: None,
            range: everything_and_more(),
            before: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(ids(&kept, |e| &e.id), ["u-new"]);
    assert!(
        report.telemetry_rows == 120 || report.telemetry_partitions >= 1,
        "{report:?}"
    );
    assert_eq!((report.alerts, report.commands, report.missions), (1, 1, 1));
    assert!(
        history_of(&*store, "VH-1").await.is_empty(),
        "old readings gone"
    );
    let later = store
        .history(&history_query("VH-1", range(2 * DAY, 4 * DAY), 10))
        .await
        .unwrap();
    assert_eq!(keys(&later), [(3 * DAY, 0)], "newer readings kept");
    assert_eq!(
        summary(store.clone()).await,
        120,
        "the rollups still summarise the readings that went"
    );
    let mut alerts = alert_ids(
        &store
            .list_alerts(&AlertFilter {
                limit: 0,
                ..AlertFilter::default()
            })
            .await
            .unwrap()
            .data,
    );
    alerts.sort();
    assert_eq!(alerts, ["a-new", "a-old-open"]);
    assert!(store.get_command("c-old-done").await.unwrap().is_none());
    assert!(store.get_command("c-old-pending").await.unwrap().is_some());
    assert!(store.get_mission("m-old-done").await.unwrap().is_none());
    assert!(store.get_mission("m-old-active").await.unwrap().is_some());

    // Again: nothing more to remove.
    let again = store
        .apply_retention(&RetentionCutoffs {
            telemetry: Some(cutoff),
            alerts: Some(cutoff),
            ..RetentionCutoffs::default()
        })
        .await
        .unwrap();
    assert_eq!((again.telemetry_rows, again.alerts), (0, 0), "{again:?}");

    // Rollups by their own cutoff — by whole chunks on TimescaleDB, whose aggregates' chunks
    // span 10 days (1-minute) and 100 days (1-hour): hence a cutoff well past them.
    let report = store
        .apply_retention(&RetentionCutoffs {
            rollups: Some(at(400 * DAY)),
            ..RetentionCutoffs::default()
        })
        .await
        .unwrap();
    assert!(report.rollups >= 1, "{report:?}");
    assert_eq!(summary(store.clone()).await, 0, "rollups gone too");
}
