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
}

impl Cluster {
    pub fn start_new() -> Cluster {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("vehicleops-test-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = Cluster {
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
            dir,
        };
        cluster.run("start");
        // Stops the cluster once this test process is gone, however it ends.
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             VEHICLEOPS_PG_PORT={port} VEHICLEOPS_PG_DIR='{dir}' bash '{script}' destroy",
            pid = std::process::id(),
            dir = cluster.dir.display(),
            script = pg_script().display(),
        );
        Command::new("bash")
            .args(["-c", &watchdog])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the cluster watchdog");
        cluster
    }

    /// Runs `scripts/pg.sh <action>` for this cluster, panicking with its output on failure.
    pub fn run(&self, action: &str) {
        let out = Command::new("bash")
            .arg(pg_script())
            .arg(action)
            .env("VEHICLEOPS_PG_PORT", self.port.to_string())
            .env("VEHICLEOPS_PG_DIR", &self.dir)
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
