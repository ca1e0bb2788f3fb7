//! `vehicleops-load`: the end-to-end load harness. It drives the whole system on one machine —
//! readings of N simulated vehicles published to Kafka at a fixed rate → the reference
//! server's pipeline (rules) → PostgreSQL, and → its WebSocket clients — and reports sustained
//! events/s, publish → WebSocket latency percentiles, consumer lag over time, store write
//! latency, CPU and memory of every process, and checks that every reading was stored exactly
//! once. In the same invocation it measures the machine's limits (Kafka's own performance
//! tools, a raw `COPY` into the same PostgreSQL) and reports our figures as ratios of those.
//!
//! See `benches/README.md` for the commands and `docs/benchmarks.md` for the figures.

mod limits;
mod load;
mod plot;
mod procstat;
mod report;
mod run;
mod server;
mod soak;
mod tap;
mod verify;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use crate::report::{Machine, Report};
use crate::run::{ExistingServer, KafkaSystem, LaunchTemplate, RunSettings};

/// Which system the load goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Kafka → reference server (pipeline, rules) → PostgreSQL, and → WebSocket clients.
    Kafka,
    /// The reference server in this process: in-process bus → pipeline → SQLite file, and →
    /// WebSocket clients. No external servers.
    Embedded,
}

#[derive(Debug, Parser)]
#[command(
    name = "vehicleops-load",
    version,
    about = "End-to-end load harness: publish → pipeline → store → WebSocket, with latency \
             percentiles, lag, CPU/RSS, a loss/duplicate check and the machine's limits.",
    after_help = "Examples:\n  \
      eval \"$(VEHICLEOPS_PG_PORT=54340 scripts/pg.sh start)\"; bash scripts/kafka.sh --port-base 29092 start\n  \
      vehicleops-load --kafka-bootstrap 127.0.0.1:29092 --rate 10000 --report load.json\n  \
      vehicleops-load --kafka-bootstrap 127.0.0.1:29092 --sweep 1000,10000,50000,100000 --plot docs/load-sweep.svg\n  \
      vehicleops-load --mode embedded --rate 50000\n  \
      vehicleops-load --smoke   # CI: a few seconds at low rate, fails only on lost or duplicated readings\n\n\
    Exit status: 0 when every run stored every reading exactly once, 1 otherwise, 2 on errors."
)]
struct Cli {
    /// System under test.
    #[arg(long, value_enum, default_value = "kafka")]
    mode: Mode,

    /// Offered load, readings per second (one run).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,

    /// Comma-separated offered loads, one run each (overrides --rate); plots the result.
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<u64>,

    /// Measured seconds per run (after the warm-up).
    #[arg(long, default_value_t = 20)]
    duration: u64,

    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 5)]
    warmup: u64,

    /// Simulated vehicles (readings go round-robin over them).
    #[arg(long, default_value_t = 1_000)]
    vehicles: usize,

    /// WebSocket clients subscribed to the fleet.
    #[arg(long, default_value_t = 4)]
    ws_clients: usize,

    /// Fleet of the vehicles (must exist: the demo seeds fleet-001).
    #[arg(long, default_value = "fleet-001")]
    fleet: String,

    /// Kafka bootstrap servers.
    #[arg(long, env = "VEHICLEOPS_TEST_KAFKA", default_value = "127.0.0.1:9092")]
    kafka_bootstrap: String,

    /// PostgreSQL URL allowed to create databases (each run gets its own, dropped after).
    #[arg(
        long,
        env = "VEHICLEOPS_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable"
    )]
    database_url: String,

    /// The reference server binary, built with `--features postgres,kafka` (default: next to
    /// this binary).
    #[arg(long, env = "VEHICLEOPS_SERVER_BIN")]
    server_bin: Option<PathBuf>,

    /// Port of the started server.
    #[arg(long, default_value_t = 28_000)]
    port: u16,

    /// Extra environment for the started server, KEY=VALUE (repeatable), e.g. pipeline knobs.
    #[arg(long = "server-env", value_parser = parse_key_value)]
    server_env: Vec<(String, String)>,

    /// Use a running server at this URL instead of starting one; --database-url must then be
    /// its database and --topic its raw telemetry topic.
    #[arg(long)]
    server_url: Option<String>,

    /// Raw telemetry topic of --server-url's server.
    #[arg(long, default_value = "fleet.telemetry.raw")]
    topic: String,

    /// PID of --server-url's server, for its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Skip the limits (Kafka's perf tools, raw COPY).
    #[arg(long)]
    no_limits: bool,

    /// Records for Kafka's perf tools and rows for the raw COPY.
    #[arg(long, default_value_t = 300_000)]
    limit_records: u64,

    /// Kafka installation whose `libs/` holds kafka-tools (as fetched by scripts/kafka.sh).
    #[arg(long, env = "VEHICLEOPS_KAFKA_HOME")]
    kafka_home: Option<PathBuf>,

    /// linger.ms of the producers (harness and Kafka's tool).
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,

    /// p99 latency bound (ms) under which a sustained run counts in a sweep.
    #[arg(long, default_value_t = 100.0)]
    latency_bound_ms: f64,

    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,

    /// Write the sweep plot (SVG) here.
    #[arg(long, default_value = "docs/load-sweep.svg")]
    plot: PathBuf,

    /// Keep each run's database (or SQLite file) for inspection.
    #[arg(long)]
    keep_database: bool,

    /// CI smoke test: 3 s at 300 readings/s, 20 vehicles, 1 client, no limits; fails only on
    /// lost or duplicated readings, never on a timing.
    #[arg(long)]
    smoke: bool,

    /// No progress bars.
    #[arg(long)]
    quiet: bool,

    /// Soak test (Kafka mode): the started server also runs its simulator in the high-load
    /// scenario, and its resident memory, descriptors, threads, tokio tasks and the store's
    /// size are sampled through the run; fails when one keeps growing instead of levelling
    /// off. E.g. `--soak --duration 1800 --rate 2000` by hand, 180 s in CI.
    #[arg(long)]
    soak: bool,

    /// Seconds between soak samples.
    #[arg(long, default_value_t = 5)]
    soak_sample_secs: u64,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // sqlx warns about the loss check's one slow query; that is expected.
                .unwrap_or_else(|_| "warn,sqlx::query=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut cli = Cli::parse();
    if cli.smoke {
        cli.sweep = vec![300];
        cli.duration = 3;
        cli.warmup = 1;
        cli.vehicles = 20;
        cli.ws_clients = 1;
        cli.no_limits = true;
    }
    if cli.soak {
        // Before the user's --server-env, which wins.
        let demo_load = [
            ("VEHICLEOPS_SIMULATOR", "true"),
            ("VEHICLEOPS_SIMULATOR_SCENARIO", "high-load"),
        ];
        let user = std::mem::take(&mut cli.server_env);
        cli.server_env = demo_load
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(user)
            .collect();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "FAILED: readings were lost or duplicated, or a resource kept growing in a soak (see above)"
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs everything the flags ask for; `Ok(false)` when a reading was lost or duplicated, or a
/// soak found a resource that kept growing.
async fn run(cli: Cli) -> Result<bool> {
    let scratch = std::env::temp_dir().join(format!("vehicleops-load-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let rates = if cli.sweep.is_empty() {
        vec![cli.rate]
    } else {
        cli.sweep.clone()
    };
    let settings = RunSettings {
        vehicles: cli.vehicles,
        ws_clients: cli.ws_clients,
        duration: Duration::from_secs(cli.duration),
        warmup: Duration::from_secs(cli.warmup),
        fleet: cli.fleet.clone(),
        linger_ms: cli.linger_ms,
        keep_database: cli.keep_database,
        scratch: scratch.clone(),
        progress: !cli.quiet,
        soak_every: cli
            .soak
            .then(|| Duration::from_secs(cli.soak_sample_secs.max(1))),
    };
    let mut report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at: chrono::Utc::now().to_rfc3339(),
        machine: Machine::probe(),
        latency_bound_ms: cli.latency_bound_ms,
        ..Report::default()
    };
    match cli.mode {
        Mode::Kafka => {
            let system = KafkaSystem {
                bootstrap: cli.kafka_bootstrap.clone(),
                admin_database_url: cli.database_url.clone(),
                launch: cli.server_url.is_none().then(|| LaunchTemplate {
                    binary: cli.server_bin.clone().unwrap_or_else(default_server_bin),
                    port: cli.port,
                    extra_env: cli.server_env.clone(),
                }),
                existing: cli.server_url.as_ref().map(|url| ExistingServer {
                    url: url.clone(),
                    topic: cli.topic.clone(),
                    pid: cli.server_pid,
                }),
            };
            for (i, &rate) in rates.iter().enumerate() {
                let last = i + 1 == rates.len();
                let copy_rows = (last && !cli.no_limits).then_some(cli.limit_records);
                let (r, copy) = run::kafka_run(&system, &settings, rate, copy_rows).await?;
                eprintln!("{}", one_line(&r));
                report.runs.push(r);
                if copy.is_some() {
                    report.limits.raw_copy_rows_per_s = copy;
                }
            }
            if !cli.no_limits {
                let home = cli.kafka_home.clone().unwrap_or_else(default_kafka_home);
                let topic = format!("vehicleops-load-limits-{}", run::run_id());
                eprintln!("measuring Kafka's own producer/consumer tools on {topic} …");
                report.limits.kafka = Some(
                    limits::kafka_tools(
                        &home,
                        &cli.kafka_bootstrap,
                        &topic,
                        12,
                        cli.limit_records,
                        cli.linger_ms,
                        &scratch,
                    )
                    .await
                    .context("Kafka's performance tools")?,
                );
            }
        }
        Mode::Embedded => {
            for &rate in &rates {
                let r = run::embedded_run(&settings, rate).await?;
                eprintln!("{}", one_line(&r));
                report.runs.push(r);
            }
        }
    }
    report.compute_ratios();
    report.max_sustained_per_s = report
        .runs
        .iter()
        .filter(|r| r.sustained && r.latency.p99_ms <= cli.latency_bound_ms)
        .map(|r| r.offered_per_s)
        .max();
    println!("{}", report.summary());
    if let Some(path) = &cli.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report: {}", path.display());
    }
    if rates.len() > 1 {
        let title = format!(
            "VehicleOps {} load sweep ({} CPUs, every server local)",
            match cli.mode {
                Mode::Kafka => "Kafka → PostgreSQL → WebSocket",
                Mode::Embedded => "embedded (in-process bus → SQLite → WebSocket)",
            },
            report.machine.cpus
        );
        plot::sweep_svg(&report.runs, &cli.plot, &title)?;
        println!("plot: {}", cli.plot.display());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut soak_ok = true;
    for soak in report.runs.iter().filter_map(|r| r.soak.as_ref()) {
        println!("soak:");
        for line in &soak.summary {
            println!("  {line}");
        }
        for problem in &soak.problems {
            eprintln!("FAILED (soak): {problem}");
            soak_ok = false;
        }
    }
    Ok(soak_ok && report.runs.iter().all(|r| r.verdict.ok()))
}

fn one_line(r: &report::RunReport) -> String {
    format!(
        "{} {}/s: stored {:.0}/s, p99 {:.1} ms, lost {}, duplicated {}",
        r.mode,
        r.offered_per_s,
        r.stored_per_s,
        r.latency.p99_ms,
        r.verdict.lost,
        r.verdict.duplicated
    )
}

/// `vehicleops-server` next to this binary (same target directory and profile).
fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.join("vehicleops-server")))
        .unwrap_or_else(|| PathBuf::from("vehicleops-server"))
}

/// Where scripts/kafka.sh keeps Kafka.
fn default_kafka_home() -> PathBuf {
    let cache = std::env::var_os("VEHICLEOPS_KAFKA_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/vehicleops"),
        PathBuf::from,
    );
    let version = std::env::var("KAFKA_VERSION").unwrap_or_else(|_| "4.1.1".into());
    cache.join(format!("kafka-{version}"))
}
