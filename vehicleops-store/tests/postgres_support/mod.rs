//! Shared helpers of the PostgreSQL tests: a real server and a fresh database per test.
//!
//! The server is `VEHICLEOPS_TEST_DATABASE_URL` when set (e.g. by `eval "$(scripts/pg.sh start)"`).
//! Otherwise the tests start a private cluster themselves with `scripts/pg.sh` on a free port,
//! and a watchdog process stops it when the test process exits.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use sqlx::Connection;

/// `scripts/pg.sh` of this repository.
pub fn pg_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg.sh")
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A private cluster started with `scripts/pg.sh`, stopped by [`Cluster::stop`] or, at the
/// latest, by a watchdog when this process exits.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    pub url: String,
    pub password: Option<String>,
}

impl Cluster {
    pub fn start_new() -> Cluster {
        Self::start_with_password(None)
    }

    /// A cluster whose TCP logins need `password` for user `postgres` (trust when `None`).
    pub fn start_with_password(password: Option<&str>) -> Cluster {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("vehicleops-test-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        let credentials = password.map(|p| format!(":{p}")).unwrap_or_default();
        let cluster = Cluster {
            port,
            url: format!(
                "postgres://postgres{credentials}@127.0.0.1:{port}/postgres?sslmode=disable"
            ),
            dir,
            password: password.map(str::to_owned),
        };
        // Stops the cluster once this test process is gone, however it ends (even mid-start).
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             VEHICLEOPS_PG_PORT={port} VEHICLEOPS_PG_DIR='{dir}' bash '{script}' destroy",
            pid = std::process::id(),
            dir = cluster.dir.display(),
            script = pg_script().display(),
        );
        // Never waited for: the watchdog must outlive this process to clean up after it.
        #[allow(clippy::zombie_processes)]
        Command::new("bash")
            .args(["-c", &watchdog])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the cluster watchdog");
        cluster.run("start");
        cluster
    }

    /// Runs `scripts/pg.sh <action>` for this cluster, panicking with its output on failure.
    pub fn run(&self, action: &str) {
        let out = Command::new("bash")
            .arg(pg_script())
            .arg(action)
            .env("VEHICLEOPS_PG_PORT", self.port.to_string())
            .env("VEHICLEOPS_PG_DIR", &self.dir)
            .env(
                "VEHICLEOPS_PG_PASSWORD",
                self.password.as_deref().unwrap_or_default(),
            )
            .output()
            .expect("run scripts/pg.sh");
        assert!(
            out.status.success(),
            "scripts/pg.sh {action} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&self) {
        self.run("stop");
    }

    pub fn start(&self) {
        self.run("start");
    }
}

/// The administrative URL of the test server (one per test process).
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("VEHICLEOPS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!(
                "VEHICLEOPS_TEST_DATABASE_URL is not set: starting a private PostgreSQL cluster \
                 with scripts/pg.sh for this test run"
            );
            let cluster = Cluster::start_new();
            let url = cluster.url.clone();
            std::mem::forget(cluster); // the watchdog stops it
            url
        }
    })
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    format!("{root}/{database}{query}")
}

/// Creates a new, empty database on the test server and returns its URL.
pub async fn fresh_database() -> String {
    let name = format!("vo_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url())
        .await
        .expect("connect to the test server");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    admin.close().await.ok();
    with_database(admin_url(), &name)
}

/// 1 Hz test data and a naive reference implementation of the analytics to check against.
pub mod analytics {
    use chrono::{DateTime, Duration, Utc};
    use vehicleops_core::{Metric, Reading, Telemetry, TimeRange, TimeSeriesStore, VehicleStatus};
    use vehicleops_store::PostgresStore;

    /// A base time on a whole hour.
    pub const T0: i64 = 1_700_002_800;

    pub fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(T0 + secs, 0).unwrap()
    }

    /// `n` seconds of 1 Hz readings of `vehicle_id` from `T0 + start`, with values from a fixed
    /// pseudo-random sequence (so windows and buckets see varied numbers).
    pub fn one_hertz(vehicle_id: &str, start: i64, n: i64, seed: u64) -> Vec<Reading> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|i| {
                let speed = (next() * 100.0 * 8.0).round() / 8.0;
                Reading {
                    telemetry: Telemetry {
                        vehicle_id: vehicle_id.into(),
                        fleet_id: "fleet-001".into(),
                        latitude: 4.71,
                        longitude: -74.07,
                        speed_kmh: speed,
                        battery_pct: (next() * 100.0 * 8.0).round() / 8.0,
                        engine_temp_c: 60.0 + (next() * 50.0 * 8.0).round() / 8.0,
                        load_pct: (next() * 100.0 * 8.0).round() / 8.0,
                        status: if speed > 80.0 {
                            VehicleStatus::Alert
                        } else {
                            VehicleStatus::Moving
                        },
                        timestamp: at(start + i),
                        heading_deg: 0.0,
                        seq: (start + i + 1_000_000) as u64,
                        pose: None,
                    },
                    distance_m: (next() * 10.0 * 8.0).round() / 8.0,
                }
            })
            .collect()
    }

    #[track_caller]
    pub fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{what}: expected {expected}, got {actual}"
        );
    }

    /// The series computed naively from the readings: `(bucket start, avg, max, min)`.
    pub fn naive_series(
        readings: &[Reading],
        metric: Metric,
        range: TimeRange,
        bucket_secs: i64,
    ) -> Vec<(DateTime<Utc>, f64, f64, f64)> {
        let mut buckets: std::collections::BTreeMap<i64, (f64, f64, f64, f64)> = Default::default();
        for r in readings
            .iter()
            .filter(|r| range.contains(r.telemetry.timestamp))
        {
            let v = metric.value(&r.telemetry);
            let b = r.telemetry.timestamp.timestamp().div_euclid(bucket_secs) * bucket_secs;
            let e = buckets.entry(b).or_insert((0.0, 0.0, f64::MIN, f64::MAX));
            *e = (e.0 + v, e.1 + 1.0, e.2.max(v), e.3.min(v));
        }
        buckets
            .into_iter()
            .map(|(b, (sum, n, max, min))| {
                (DateTime::from_timestamp(b, 0).unwrap(), sum / n, max, min)
            })
            .collect()
    }

    pub async fn assert_analytics_match_raw(store: &PostgresStore, readings: &[Reading]) {
        let windows = [
            (37, 2 * 3600 + 23 * 60 + 11),
            (0, 3 * 3600),
            (60, 120),
            (61, 119),
            (3599, 7201),
            (-100, 50),
        ];
        for (from, to) in windows {
            let range = TimeRange::new(at(from), at(to)).unwrap();
            for bucket_secs in [60, 90, 300, 420, 3600] {
                for metric in Metric::ALL {
                    let got = store
                        .series("VH-1", metric, range, Duration::seconds(bucket_secs))
                        .await
                        .unwrap();
                    let want = naive_series(readings, metric, range, bucket_secs);
                    let what = format!("{metric:?} window {from}..={to} bucket {bucket_secs}s");
                    assert_eq!(got.len(), want.len(), "{what}: bucket count");
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.bucket, w.0, "{what}");
                        assert_close(g.avg_value, w.1, &what);
                        assert_close(g.max_value, w.2, &what);
                        assert_close(g.min_value, w.3, &what);
                    }
                }
            }
            let inside: Vec<&Reading> = readings
                .iter()
                .filter(|r| range.contains(r.telemetry.timestamp))
                .collect();
            let summary = store.vehicle_summary("VH-1", range).await.unwrap();
            let what = format!("summary {from}..={to}");
            assert_eq!(summary.total_readings, inside.len() as u64, "{what}");
            let distance: f64 = inside.iter().map(|r| r.distance_m).sum();
            assert_close(summary.total_distance_km, distance / 1000.0, &what);
            let alerts = inside
                .iter()
                .filter(|r| r.telemetry.status == VehicleStatus::Alert)
                .count() as u64;
            assert_eq!(summary.alert_count, alerts, "{what}");
            if !inside.is_empty() {
                let max_speed = inside
                    .iter()
                    .map(|r| r.telemetry.speed_kmh)
                    .fold(f64::MIN, f64::max);
                assert_close(summary.max_speed_kmh.unwrap(), max_speed, &what);
                let min_battery = inside
                    .iter()
                    .map(|r| r.telemetry.battery_pct)
                    .fold(f64::MAX, f64::min);
                assert_close(summary.min_battery_pct.unwrap(), min_battery, &what);
                let avg_temp = inside
                    .iter()
                    .map(|r| r.telemetry.engine_temp_c)
                    .sum::<f64>()
                    / inside.len() as f64;
                assert_close(summary.avg_engine_temp_c.unwrap(), avg_temp, &what);
            }
            let report = store.fleet_performance("fleet-001", range).await.unwrap();
            if inside.is_empty() {
                assert!(report.vehicles.is_empty());
            } else {
                assert_eq!(report.vehicles.len(), 1);
                assert_close(report.vehicles[0].distance_km, distance / 1000.0, &what);
                assert_eq!(report.vehicles[0].alerts, alerts, "{what}");
            }
        }
    }
}
