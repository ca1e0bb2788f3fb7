//! One run at one offered rate: set up the system, connect the WebSocket clients, wait until
//! the pipeline consumes, publish for the warm-up and the measured window while sampling every
//! second, drain, stop, and check the store for every reading exactly once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{Connection, Executor, PgPool};
use tokio_tungstenite::tungstenite::Message;

use crate::load::{DeliveryCounts, Fleet, ProducerProgress, Transport, publish_at_rate};
use crate::procstat;
use crate::report::{Latency, ProcessUsage, RunReport, Sample, StoreWrites};
use crate::server::{Api, DEMO_ADMIN, PipelineCounters, ServerLaunch, write_quantile_ms};
use crate::tap::KafkaTap;
use crate::verify;
use crate::ws::WsClients;

/// Longest the backlog may take to drain after publishing stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// A run is sustained when its backlog drained within this after publishing stopped.
const SUSTAINED_DRAIN: f64 = 5.0;

/// What every run shares.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub vehicles: usize,
    pub ws_clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub fleet: String,
    pub linger_ms: u64,
    pub keep_database: bool,
    pub scratch: PathBuf,
    pub progress: bool,
    /// Soak mode: sample the server's resources this often.
    pub soak_every: Option<Duration>,
}

/// Where the Kafka-mode system comes from.
#[derive(Debug, Clone)]
pub struct KafkaSystem {
    pub bootstrap: String,
    /// PostgreSQL URL with rights to create databases (one per run).
    pub admin_database_url: String,
    /// Started per run, or `None` to use `existing`.
    pub launch: Option<LaunchTemplate>,
    pub existing: Option<ExistingServer>,
}

/// How to start a server per run.
#[derive(Debug, Clone)]
pub struct LaunchTemplate {
    pub binary: PathBuf,
    pub port: u16,
    pub extra_env: Vec<(String, String)>,
}

/// A server started by someone else.
#[derive(Debug, Clone)]
pub struct ExistingServer {
    pub url: String,
    pub topic: String,
    pub pid: Option<u32>,
}

/// The database of one run, dropped at the end unless kept.
struct RunDatabase {
    admin_url: String,
    name: Option<String>,
    url: String,
}

impl RunDatabase {
    async fn create(admin_url: &str, run_id: &str, own: bool) -> Result<Self> {
        if !own {
            return Ok(RunDatabase {
                admin_url: admin_url.to_owned(),
                name: None,
                url: admin_url.to_owned(),
            });
        }
        let name = format!("vo_load_{run_id}");
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL (--database-url)")?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .context("creating the run's database")?;
        Ok(RunDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name: Some(name),
        })
    }

    async fn drop_unless(self, keep: bool) -> Result<()> {
        if let Some(name) = &self.name {
            if keep {
                eprintln!("kept database {name}");
                return Ok(());
            }
            let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
            admin
                .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
                .await?;
        }
        Ok(())
    }
}

/// `url` with another database name (query kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let root = base[authority..]
        .find('/')
        .map_or(base, |i| &base[..authority + i]);
    if query.is_empty() {
        format!("{root}/{database}")
    } else {
        format!("{root}/{database}?{query}")
    }
}

/// The PostgreSQL postmaster's pid (the parent of our backend), for CPU accounting.
async fn postgres_pid(pool: &PgPool) -> Option<u32> {
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A fresh short id naming the run's database, topic, group and vehicles.
pub fn run_id() -> String {
    format!("ld{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// One Kafka → pipeline → PostgreSQL → WebSocket run at `rate`.
pub async fn kafka_run(
    system: &KafkaSystem,
    settings: &RunSettings,
    rate: u64,
    raw_copy_rows: Option<u64>,
) -> Result<(RunReport, Option<f64>)> {
    let id = run_id();
    let db =
        RunDatabase::create(&system.admin_database_url, &id, system.existing.is_none()).await?;
    let mut monitored: Vec<(String, u32)> = vec![("harness".into(), std::process::id())];
    if let Some(pid) = system
        .bootstrap
        .split(',')
        .next()
        .and_then(|b| b.rsplit(':').next()?.parse().ok())
        .and_then(procstat::find_kafka_broker)
    {
        monitored.push(("kafka".into(), pid));
    }

    let (api, topic, mut child, log_path) = match (&system.launch, &system.existing) {
        (Some(l), _) => {
            let log_path = settings.scratch.join(format!("server-{id}.log"));
            let launch = ServerLaunch {
                binary: l.binary.clone(),
                port: l.port,
                database_url: db.url.clone(),
                kafka_bootstrap: system.bootstrap.clone(),
                topic_suffix: format!(".{id}"),
                consumer_group: format!("vehicleops-load-{id}"),
                log_path: log_path.clone(),
                extra_env: l.extra_env.clone(),
            };
            let child = launch.spawn()?;
            monitored.push(("server".into(), child.pid));
            let api = Api::new(&format!("http://127.0.0.1:{}", l.port));
            (
                api,
                format!("fleet.telemetry.raw.{id}"),
                Some(child),
                Some(log_path),
            )
        }
        (None, Some(e)) => {
            if let Some(pid) = e.pid {
                monitored.push(("server".into(), pid));
            }
            (Api::new(&e.url), e.topic.clone(), None, None)
        }
        (None, None) => bail!("neither a server to start nor one to connect to"),
    };
    let ready = api
        .wait_ready(Duration::from_secs(90), || match (&mut child, &log_path) {
            (Some(c), Some(log)) => c.check_running(log),
            _ => Ok(()),
        })
        .await;
    let outcome = async {
        ready?;
        let pool = PgPool::connect(&db.url)
            .await
            .context("connecting to the run's database")?;
        if let Some(pid) = postgres_pid(&pool).await {
            monitored.push(("postgres".into(), pid));
        }
        let (transport, counts) = Transport::kafka(&system.bootstrap, &topic, settings.linger_ms)?;
        let tap = (&system.bootstrap, topic.as_str());
        let server_pid = monitored
            .iter()
            .find(|(name, _)| name == "server")
            .map(|&(_, pid)| pid);
        let sampler = settings.soak_every.zip(server_pid).map(|(every, pid)| {
            crate::soak::Sampler::start(pid, api.base.clone(), Some(pool.clone()), every)
        });
        let mut run = drive(
            &api,
            transport,
            counts,
            &id,
            settings,
            rate,
            &monitored,
            Some(tap),
        )
        .await?;
        if let Some(sampler) = sampler {
            run.0.soak = Some(sampler.finish().await);
        }
        Ok::<_, anyhow::Error>((run, pool))
    }
    .await;
    if let Some(child) = child {
        child.stop(Duration::from_secs(60)).await?;
    }
    let ((mut report, fleet), pool) = match outcome {
        Ok(v) => v,
        Err(e) => {
            if let Some(log) = &log_path {
                eprintln!("server log: {}", log.display());
            }
            return Err(e);
        }
    };
    let stored = verify::postgres_counts(&pool, &format!("{id}-v")).await?;
    report.verdict = verify::compare(fleet.ids(), &fleet.sent, &stored);
    let copy = match raw_copy_rows {
        Some(rows) => Some(crate::limits::raw_copy(&pool, rows, 5000).await?),
        None => None,
    };
    pool.close().await;
    db.drop_unless(settings.keep_database).await?;
    Ok((report, copy))
}

/// One embedded run: the reference server in this process (in-process bus, SQLite file).
pub async fn embedded_run(settings: &RunSettings, rate: u64) -> Result<RunReport> {
    let id = run_id();
    let db_path = settings.scratch.join(format!("embedded-{id}.sqlite"));
    let config = vehicleops_server::config::Config::load_from([
        "vehicleops-server",
        "--app-env",
        "demo",
        "--app-host",
        "127.0.0.1",
        "--app-port",
        "0",
        "--simulator",
        "false",
        "--store",
        "sqlite",
        "--bus",
        "inproc",
        "--sqlite-path",
        &db_path.to_string_lossy(),
    ])?;
    let server = vehicleops_server::app::start(config).await?;
    let api = Api::new(&format!("http://{}", server.local_addr()));
    let publisher = server.engine().clone();
    let monitored = vec![("harness+server".to_owned(), std::process::id())];
    let counts = Arc::new(DeliveryCounts::default());
    let outcome = drive(
        &api,
        Transport::InProcess(publisher),
        counts,
        &id,
        settings,
        rate,
        &monitored,
        None,
    )
    .await;
    server.shutdown().await?;
    let (mut report, fleet) = outcome?;
    let stored = verify::sqlite_counts(&db_path, &format!("{id}-v"))?;
    report.verdict = verify::compare(fleet.ids(), &fleet.sent, &stored);
    if !settings.keep_database {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
        }
    }
    Ok(report)
}

/// Publishes a probe vehicle's readings until one comes back on the WebSocket: from then on
/// the pipeline consumes (the consumer group has its partitions) and the measurement is fair.
async fn wait_for_pipeline(
    ws_url: &str,
    transport: &Transport,
    counts: &DeliveryCounts,
    id: &str,
    fleet: &str,
) -> Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .context("probe WebSocket")?;
    let mut probe = Fleet::new(&format!("{id}-probe"), fleet, 1);
    let probe_id = probe.ids()[0].clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        transport
            .send_batch(vec![probe.next_reading()], counts)
            .await?;
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(Some(msg)) = tokio::time::timeout_at(until.into(), ws.next()).await {
            if let Message::Text(t) = msg?
                && t.contains(&probe_id)
            {
                return Ok(());
            }
        }
    }
    bail!("no probe reading came back on the WebSocket within 90 s")
}

/// The measured part, common to both modes.
#[allow(clippy::too_many_arguments)]
async fn drive(
    api: &Api,
    transport: Transport,
    counts: Arc<DeliveryCounts>,
    id: &str,
    settings: &RunSettings,
    rate: u64,
    monitored: &[(String, u32)],
    kafka_tap: Option<(&String, &str)>,
) -> Result<(RunReport, Fleet)> {
    let mode = if kafka_tap.is_some() {
        "kafka"
    } else {
        "embedded"
    };
    let token = api.login(DEMO_ADMIN.0, DEMO_ADMIN.1).await?;
    let ws_url = api.ws_url(&settings.fleet, &token);
    wait_for_pipeline(&ws_url, &transport, &counts, id, &settings.fleet).await?;
    let prefix = format!("{id}-v");
    let clients = WsClients::connect(&ws_url, settings.ws_clients, &prefix).await?;
    // Plain consumers on the raw topic and on the server's processed topic (same suffix).
    let mut taps = Vec::new();
    if let Some((bootstrap, topic)) = kafka_tap {
        let processed = topic.replacen("fleet.telemetry.raw", "fleet.telemetry.processed", 1);
        for (i, t) in [topic, processed.as_str()].into_iter().enumerate() {
            let group = format!("{id}-tap{i}");
            taps.push(KafkaTap::start(
                bootstrap,
                t,
                &group,
                clients.counters.clone(),
            )?);
        }
    }
    let transport = Arc::new(transport);
    let progress = Arc::new(ProducerProgress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let baseline_acked = counts.acked.load(Ordering::Relaxed);
    let producer = {
        let fleet = Fleet::new(&prefix, &settings.fleet, settings.vehicles);
        let (transport, counts, progress, stop) = (
            transport.clone(),
            counts.clone(),
            progress.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            publish_at_rate(fleet, &transport, &counts, rate, &progress, &stop).await
        })
    };

    let total = settings.warmup + settings.duration;
    let bar = if settings.progress {
        ProgressBar::new(total.as_secs())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len}s {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{mode} {rate}/s"));
    let began = Instant::now();
    let mut timeline = Vec::new();
    let mut last_cpu: Vec<Option<procstat::Usage>> = procstat::sample(&roots(monitored));
    let mut last_t = Instant::now();
    let mut last_counters = PipelineCounters::default();
    let mut window_start: Option<(Instant, u64, PipelineCounters, Vec<Option<procstat::Usage>>)> =
        None;
    let mut rss_max: BTreeMap<String, f64> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while began.elapsed() < total {
        tick.tick().await;
        let now = Instant::now();
        let counters = PipelineCounters::from_metrics(&api.metrics().await?);
        let acked = counts.acked.load(Ordering::Relaxed) - baseline_acked;
        let usage = procstat::sample(&roots(monitored));
        let dt = now.duration_since(last_t).as_secs_f64();
        let mut processes = BTreeMap::new();
        for ((name, _), (now_u, before)) in monitored.iter().zip(usage.iter().zip(&last_cpu)) {
            if let (Some(u), Some(b)) = (now_u, before) {
                let p = ProcessUsage {
                    cpu_pct: (u.cpu_seconds - b.cpu_seconds) / dt * 100.0,
                    rss_mb: u.rss_bytes as f64 / 1e6,
                };
                let m = rss_max.entry(name.clone()).or_default();
                *m = m.max(p.rss_mb);
                processes.insert(name.clone(), p);
            }
        }
        let batches = counters.batches - last_counters.batches;
        let sample = Sample {
            t_s: began.elapsed().as_secs_f64(),
            produced: acked,
            received: counters.received as u64,
            stored: counters.stored as u64,
            consumer_lag: (counts.acked.load(Ordering::Relaxed) as i64) - counters.received as i64,
            store_lag: (counts.acked.load(Ordering::Relaxed) as i64) - counters.stored as i64,
            write_avg_ms: (batches > 0.0)
                .then(|| (counters.write_seconds - last_counters.write_seconds) / batches * 1000.0),
            ws_updates: clients.counters.updates.load(Ordering::Relaxed),
            processes,
        };
        bar.set_position(began.elapsed().as_secs());
        bar.set_message(format!(
            "produced {} stored {} lag {} ws {}",
            sample.produced, sample.stored, sample.store_lag, sample.ws_updates
        ));
        timeline.push(sample);
        if window_start.is_none() && began.elapsed() >= settings.warmup {
            clients.counters.measuring.store(true, Ordering::Relaxed);
            window_start = Some((now, acked, counters.clone(), usage.clone()));
        }
        last_cpu = usage;
        last_t = now;
        last_counters = counters;
        if producer.is_finished() {
            break;
        }
    }
    let window_end = (
        Instant::now(),
        counts.acked.load(Ordering::Relaxed) - baseline_acked,
        last_counters,
        last_cpu,
    );
    stop.store(true, Ordering::Relaxed);
    let fleet = producer.await.context("producer task")??;
    transport.flush(Duration::from_secs(60))?;
    bar.finish_and_clear();

    // Drain: everything acknowledged must be stored.
    let stop_at = Instant::now();
    let all_acked = counts.acked.load(Ordering::Relaxed) as f64;
    let mut drained = false;
    while stop_at.elapsed() < DRAIN_TIMEOUT {
        let c = PipelineCounters::from_metrics(&api.metrics().await?);
        if c.stored >= all_acked && c.in_flight == 0.0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_s = stop_at.elapsed().as_secs_f64();
    // Updates still in flight to the clients arrive within a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ws_updates = clients.counters.updates.load(Ordering::Relaxed);
    let hist = clients.finish().await?;
    let mut tap_latencies = taps
        .into_iter()
        .map(|t| Latency::from_histogram(&t.finish()));
    let kafka_latency = tap_latencies.next();
    let processed_latency = tap_latencies.next();
    let last = PipelineCounters::from_metrics(&api.metrics().await?);

    let (w_from, acked_from, c_from, cpu_from) =
        window_start.context("the run ended before its warm-up")?;
    let (w_to, acked_to, c_to, cpu_to) = window_end;
    let secs = w_to.duration_since(w_from).as_secs_f64().max(1e-9);
    let mut processes = BTreeMap::new();
    for ((name, _), (a, b)) in monitored.iter().zip(cpu_to.iter().zip(&cpu_from)) {
        if let (Some(a), Some(b)) = (a, b) {
            processes.insert(
                name.clone(),
                ProcessUsage {
                    cpu_pct: (a.cpu_seconds - b.cpu_seconds) / secs * 100.0,
                    rss_mb: rss_max.get(name).copied().unwrap_or(0.0),
                },
            );
        }
    }
    let batches = (c_to.batches - c_from.batches).max(0.0);
    let stored_per_s = (c_to.stored - c_from.stored) / secs;
    let produced_per_s = (acked_to - acked_from) as f64 / secs;
    let mut report = RunReport {
        mode: mode.into(),
        run_id: id.into(),
        offered_per_s: rate,
        vehicles: settings.vehicles,
        ws_clients: settings.ws_clients,
        duration_s: secs,
        warmup_s: settings.warmup.as_secs_f64(),
        produced: fleet.total(),
        delivery_failures: counts.failed.load(Ordering::Relaxed),
        producer_fell_behind: progress.fell_behind.load(Ordering::Relaxed),
        produced_per_s,
        received_per_s: (c_to.received - c_from.received) / secs,
        stored_per_s,
        drain_s,
        latency: Latency::from_histogram(&hist),
        kafka_latency,
        processed_latency,
        ws_updates,
        ws_updates_uncoalesced: fleet.total() * settings.ws_clients as u64,
        store_writes: StoreWrites {
            batches: batches as u64,
            avg_ms: if batches > 0.0 {
                (c_to.write_seconds - c_from.write_seconds) / batches * 1000.0
            } else {
                0.0
            },
            p50_ms_at_most: write_quantile_ms(&c_from.write_buckets, &c_to.write_buckets, 0.5),
            p99_ms_at_most: write_quantile_ms(&c_from.write_buckets, &c_to.write_buckets, 0.99),
            max_ms: last.write_max_seconds * 1000.0,
            avg_rows_per_batch: if batches > 0.0 {
                (c_to.stored - c_from.stored) / batches
            } else {
                0.0
            },
        },
        processes,
        verdict: Default::default(),
        sustained: false,
        timeline,
        soak: None,
    };
    report.sustained = drained
        && !report.producer_fell_behind
        && report.stored_per_s >= 0.95 * rate as f64
        && drain_s <= SUSTAINED_DRAIN;
    Ok((report, fleet))
}

fn roots(monitored: &[(String, u32)]) -> Vec<u32> {
    monitored.iter().map(|(_, pid)| *pid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_and_query_kept() {
        assert_eq!(
            with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }
}
