//! The system under test: the reference server as a child process (Kafka + PostgreSQL), an
//! already running one, or one inside this process (embedded mode), and its HTTP side: login,
//! readiness and the Prometheus counters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::process::{Child, Command};

/// The demo administrator the server seeds in demo mode.
pub const DEMO_ADMIN: (&str, &str) = ("admin@vehicleops.io", "Admin123!");

/// How to start the server as a child process.
#[derive(Debug, Clone)]
pub struct ServerLaunch {
    pub binary: PathBuf,
    pub port: u16,
    pub database_url: String,
    pub kafka_bootstrap: String,
    pub topic_suffix: String,
    pub consumer_group: String,
    pub log_path: PathBuf,
    /// Extra `KEY=VALUE` environment for the server (pipeline knobs, log filter, …).
    pub extra_env: Vec<(String, String)>,
}

/// A server child process; stopped with SIGTERM (drains the pipeline) by [`ServerChild::stop`].
pub struct ServerChild {
    child: Child,
    pub pid: u32,
}

impl ServerLaunch {
    /// Starts the server in demo mode (seeds fleet-001 and the demo accounts) with the
    /// simulator off, Kafka as bus and PostgreSQL as store.
    pub fn spawn(&self) -> Result<ServerChild> {
        if !self.binary.is_file() {
            bail!(
                "server binary {} not found: build it with `cargo build --release -p vehicleops-server --features postgres,kafka` or pass --server-bin",
                self.binary.display()
            );
        }
        let log = std::fs::File::create(&self.log_path)
            .with_context(|| format!("creating {}", self.log_path.display()))?;
        let mut cmd = Command::new(&self.binary);
        cmd.env("APP_ENV", "demo")
            .env("APP_HOST", "127.0.0.1")
            .env("APP_PORT", self.port.to_string())
            .env("VEHICLEOPS_SIMULATOR", "false")
            .env("VEHICLEOPS_STORE", "postgres")
            .env("VEHICLEOPS_DATABASE_URL", &self.database_url)
            .env("VEHICLEOPS_BUS", "kafka")
            .env("KAFKA_BOOTSTRAP_SERVERS", &self.kafka_bootstrap)
            .env("VEHICLEOPS_KAFKA_TOPIC_SUFFIX", &self.topic_suffix)
            .env("KAFKA_CONSUMER_GROUP", &self.consumer_group)
            .env("VEHICLEOPS_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let pid = child.id().context("server exited at once")?;
        Ok(ServerChild { child, pid })
    }
}

impl ServerChild {
    /// SIGTERM, then waits up to `timeout` for the drain and exit; kills it after that.
    pub async fn stop(mut self, timeout: Duration) -> Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                tracing::warn!(pid = self.pid, "server did not stop in time; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }

    /// Fails when the process already exited (e.g. a bad configuration).
    pub fn check_running(&mut self, log: &Path) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "server exited with {status}; last log lines:\n{}",
                tail.join("\n")
            );
        }
        Ok(())
    }
}

/// The HTTP side of a running server.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct LoginOut {
    access_token: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Waits until `/readyz` answers 200, checking `alive` between attempts.
    pub async fn wait_ready(
        &self,
        timeout: Duration,
        mut alive: impl FnMut() -> Result<()>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            alive()?;
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} not ready after {timeout:?}", self.base);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// An access token of the demo administrator.
    pub async fn login(&self, email: &str, password: &str) -> Result<String> {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await?
            .error_for_status()
            .context("login")?;
        Ok(r.json::<LoginOut>().await?.access_token)
    }

    /// The WebSocket URL of a fleet's live feed.
    pub fn ws_url(&self, fleet: &str, token: &str) -> String {
        let ws_base = self.base.replacen("http", "ws", 1);
        format!("{ws_base}/ws/fleet/{fleet}?token={token}")
    }

    /// Every sample of `/metrics` by name (labels kept in the name).
    pub async fn metrics(&self) -> Result<HashMap<String, f64>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(parse_metrics(&text))
    }
}

/// Parses the OpenMetrics text format: `name{labels} value` per line, `#` lines skipped.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The pipeline counters the harness follows, from one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineCounters {
    pub received: f64,
    pub stored: f64,
    pub batches: f64,
    pub write_seconds: f64,
    pub write_max_seconds: f64,
    pub in_flight: f64,
    /// `vehicleops_store_write_duration_seconds` buckets: (upper bound in seconds, cumulative
    /// count), ascending; empty when the server does not export the histogram.
    pub write_buckets: Vec<(f64, f64)>,
}

impl PipelineCounters {
    pub fn from_metrics(m: &HashMap<String, f64>) -> Self {
        let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
        PipelineCounters {
            received: get("vehicleops_telemetry_received_total"),
            stored: get("vehicleops_telemetry_stored_total"),
            batches: get("vehicleops_store_write_batches_total"),
            write_seconds: get("vehicleops_store_write_seconds_total"),
            write_max_seconds: get("vehicleops_store_write_max_seconds"),
            in_flight: get("vehicleops_pipeline_in_flight"),
            write_buckets: write_buckets(m),
        }
    }
}

fn write_buckets(m: &HashMap<String, f64>) -> Vec<(f64, f64)> {
    const PREFIX: &str = "vehicleops_store_write_duration_seconds_bucket{le=\"";
    let mut buckets: Vec<(f64, f64)> = m
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix(PREFIX)?.strip_suffix("\"}")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The upper bound (ms) of the bucket holding quantile `q` of the writes between two scrapes
/// of the cumulative buckets; `None` without writes.
pub fn write_quantile_ms(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let diff: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| {
            let old = before.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
            (le, n - old)
        })
        .collect();
    let total = diff.last()?.1;
    if total <= 0.0 {
        return None;
    }
    diff.iter()
        .find(|(_, n)| *n >= q * total)
        .map(|(le, _)| le * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_is_parsed_into_counters() {
        let text = "# HELP x\n# TYPE vehicleops_telemetry_received counter\n\
                    vehicleops_telemetry_received_total 1200\n\
                    vehicleops_telemetry_stored_total 1000\n\
                    vehicleops_alerts_raised_total{alert_type=\"OVERSPEED\"} 2\n\
                    vehicleops_store_write_max_seconds 0.25\n# EOF\n";
        let m = parse_metrics(text);
        assert_eq!(
            m["vehicleops_alerts_raised_total{alert_type=\"OVERSPEED\"}"],
            2.0
        );
        let c = PipelineCounters::from_metrics(&m);
        assert_eq!(c.received, 1200.0);
        assert_eq!(c.stored, 1000.0);
        assert_eq!(c.write_max_seconds, 0.25);
        assert_eq!(c.batches, 0.0);
    }

    #[test]
    fn write_quantiles_come_from_the_bucket_differences() {
        let text = "vehicleops_store_write_duration_seconds_bucket{le=\"0.001\"} 10\n\
                    vehicleops_store_write_duration_seconds_bucket{le=\"0.002\"} 15\n\
                    vehicleops_store_write_duration_seconds_bucket{le=\"+Inf\"} 20\n";
        let before = PipelineCounters::from_metrics(&parse_metrics(text)).write_buckets;
        assert_eq!(before.len(), 3);
        // 100 more writes: 50 under 1 ms, 49 under 2 ms, 1 slower.
        let after = vec![(0.001, 60.0), (0.002, 114.0), (f64::INFINITY, 120.0)];
        assert_eq!(write_quantile_ms(&before, &after, 0.5), Some(1.0));
        assert_eq!(write_quantile_ms(&before, &after, 0.99), Some(2.0));
        assert_eq!(write_quantile_ms(&before, &after, 1.0), Some(f64::INFINITY));
        assert_eq!(write_quantile_ms(&after, &after, 0.5), None);
    }

    #[test]
    fn ws_url_follows_the_http_scheme() {
        let api = Api::new("http://127.0.0.1:28000/");
        assert_eq!(
            api.ws_url("fleet-001", "t"),
            "ws://127.0.0.1:28000/ws/fleet/fleet-001?token=t"
        );
    }
}
