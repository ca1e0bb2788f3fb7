//! Simulator → the engine (validation, rules, embedded store), with a live view in the terminal.
//!
//! Run with: `cargo run --release -p embedded-fleet -- --vehicles 20 --scenario fault-injection`
//!
//! `--fast` drops the wall clock: the simulator runs on simulated time as fast as the pipeline
//! takes readings, which shows the embedded system's throughput.
//!
//! `embedded-fleet export` writes what a run stored (`--db`) to a CSV or Parquet file:
//! `cargo run --release -p embedded-fleet -- export telemetry --db fleet.db --out week.parquet`.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use vehicleops_core::hub::ALL_FLEETS;
use vehicleops_core::simulator::{Area, Scenario};
use vehicleops_core::{LiveEvent, ReportQuery, Simulator, SimulatorConfig, TimeRange};
use vehicleops_engine::{
    Engine, EngineSettings, ExportFormat, ExportKind, ExportRequest, StoreSettings,
};

/// Simulate a fleet and ingest its telemetry into the embedded store, printing alerts as they
/// fire; or export what a run stored. Every option can also be set through the environment
/// variable shown.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a fleet's telemetry, alerts, commands or missions of a window from the database
    /// to a CSV or Parquet file, with a progress bar.
    Export(ExportArgs),
    /// Print a fleet's daily report (distance, time driving/idle/stopped/charging, speeds,
    /// alerts, missions) per vehicle from the database, or write it per vehicle and day to a
    /// CSV or Parquet file.
    Report(ReportArgs),
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// SQLite database file a run wrote (`--db`).
    #[arg(long, env = "VEHICLEOPS_SQLITE_PATH")]
    db: std::path::PathBuf,
    /// The fleet reported on.
    #[arg(
        long,
        env = "VEHICLEOPS_SIM_FLEET_ID",
        default_value = "fleet-demo-001"
    )]
    fleet_id: String,
    /// Only this vehicle.
    #[arg(long)]
    vehicle_id: Option<String>,
    /// First day, YYYY-MM-DD (default: `--to`).
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// Last day, YYYY-MM-DD, included (default: today in the site's time).
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
    /// The site's offset from UTC in minutes, where its days start (e.g. -300 for UTC-5).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    utc_offset_minutes: i32,
    /// Write the per-vehicle days to this CSV or Parquet file instead of printing totals.
    #[arg(long, short)]
    out: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// What to export: telemetry, alerts, commands or missions.
    kind: String,
    /// SQLite database file a run wrote (`--db`).
    #[arg(long, env = "VEHICLEOPS_SQLITE_PATH")]
    db: std::path::PathBuf,
    /// The fleet whose records are exported.
    #[arg(
        long,
        env = "VEHICLEOPS_SIM_FLEET_ID",
        default_value = "fleet-demo-001"
    )]
    fleet_id: String,
    /// Only this vehicle's records.
    #[arg(long)]
    vehicle_id: Option<String>,
    /// Start of the window, RFC 3339 (default: 24 hours before `--to`).
    #[arg(long)]
    from: Option<chrono::DateTime<Utc>>,
    /// End of the window, RFC 3339 (default: now).
    #[arg(long)]
    to: Option<chrono::DateTime<Utc>>,
    /// csv or parquet; by default told by the extension of `--out`.
    #[arg(long)]
    format: Option<String>,
    /// The file to write (replaced if it exists).
    #[arg(long, short)]
    out: std::path::PathBuf,
}

/// Simulator options (the default command).
#[derive(clap::Args, Debug)]
struct Args {
    /// Fleet identifier; vehicles are named `{fleet}-VH-001`, `-002`, …
    #[arg(
        long,
        env = "VEHICLEOPS_SIM_FLEET_ID",
        default_value = "fleet-demo-001"
    )]
    fleet_id: String,
    /// Number of vehicles to simulate.
    #[arg(long, env = "VEHICLEOPS_SIM_VEHICLES", default_value_t = 20)]
    vehicles: u32,
    /// Telemetry interval per vehicle, milliseconds.
    #[arg(long, env = "VEHICLEOPS_SIM_INTERVAL_MS", default_value_t = 500)]
    interval_ms: u64,
    /// Area the vehicles drive in: bogota, medellin or cali.
    #[arg(long, env = "VEHICLEOPS_SIM_AREA", default_value = "bogota")]
    area: Area,
    /// normal, high-load or fault-injection (speed, temperature and battery faults).
    #[arg(long, env = "VEHICLEOPS_SIM_SCENARIO", default_value = "normal")]
    scenario: Scenario,
    /// Random seed; the same seed gives the same fleet behaviour.
    #[arg(long, env = "VEHICLEOPS_SIM_SEED", default_value_t = 42)]
    seed: u64,
    /// Stop after this many seconds (0 = run until Ctrl-C). In `--fast` mode, simulated seconds.
    #[arg(long, default_value_t = 0)]
    duration_secs: u64,
    /// SQLite database file; in memory when omitted.
    #[arg(long, env = "VEHICLEOPS_SQLITE_PATH")]
    db: Option<std::path::PathBuf>,
    /// Run on simulated time as fast as the pipeline allows (throughput mode).
    #[arg(long)]
    fast: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Export(args)) => export(args).await,
        Some(Command::Report(args)) => report(args).await,
        None => simulate(cli.run).await,
    }
}

/// `embedded-fleet export`: the file, with a progress bar of records and bytes written.
async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let to = args.to.unwrap_or_else(Utc::now);
    let request = ExportRequest {
        kind: ExportKind::parse(&args.kind)?,
        format: match &args.format {
            Some(f) => ExportFormat::parse(f)?,
            None => ExportFormat::for_path(&args.out)?,
        },
        fleet_id: args.fleet_id,
        vehicle_id: args.vehicle_id,
        range: TimeRange::new(args.from.unwrap_or(to - chrono::Duration::hours(24)), to)?,
    };
    let engine = open_database(&args.db).await?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let stream = engine.export(request.clone()).await?;
    let rows = stream
        .write_to_with_progress(&args.out, |rows, bytes| {
            bar.set_message(format!(
                "{} {rows} records, {}",
                request.kind.as_str(),
                indicatif::HumanBytes(bytes)
            ));
        })
        .await
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    bar.finish_and_clear();
    println!(
        "{rows} {} records of {} written to {} ({}) in {:.1} s",
        request.kind.as_str(),
        request.fleet_id,
        args.out.display(),
        request.format.as_str(),
        started.elapsed().as_secs_f64()
    );
    engine.close().await?;
    Ok(())
}

/// An engine over the database a run wrote (`--db`), for the commands that read it.
async fn open_database(db: &std::path::Path) -> anyhow::Result<Engine> {
    if !db.exists() {
        anyhow::bail!(
            "no database at {}; run the simulation with --db first",
            db.display()
        );
    }
    Engine::open(EngineSettings {
        store: StoreSettings::Sqlite {
            path: Some(db.to_path_buf()),
        },
        ..EngineSettings::default()
    })
    .await
    .with_context(|| format!("could not open the database {}", db.display()))
}

/// `embedded-fleet report`: per-vehicle totals on stdout, or the per-vehicle days to a file.
async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let to = args.to.unwrap_or_else(|| {
        (Utc::now() + chrono::Duration::minutes(i64::from(args.utc_offset_minutes))).date_naive()
    });
    let query = ReportQuery {
        fleet_id: args.fleet_id,
        vehicle_id: args.vehicle_id,
        from: args.from.unwrap_or(to),
        to,
        utc_offset_minutes: args.utc_offset_minutes,
    };
    let engine = open_database(&args.db).await?;
    if let Some(out) = &args.out {
        let format = ExportFormat::for_path(out)?;
        let rows = engine
            .export_report(query.clone(), format)
            .await?
            .write_to(out)
            .await
            .with_context(|| format!("writing {}", out.display()))?;
        println!(
            "{rows} vehicle-days of {} ({} to {}) written to {}",
            query.fleet_id,
            query.from,
            query.to,
            out.display()
        );
    } else {
        let report = engine.fleet_report(query).await?;
        let hours = |s: f64| s / 3600.0;
        println!(
            "{:<24} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>8}",
            "vehicle",
            "readings",
            "km",
            "drive h",
            "idle h",
            "stop h",
            "charge h",
            "avg km/h",
            "alerts",
            "missions"
        );
        let rows = report
            .vehicles
            .iter()
            .map(|v| (v.vehicle_id.as_str(), &v.figures))
            .chain([("fleet", &report.fleet)]);
        for (name, f) in rows {
            println!(
                "{:<24} {:>9} {:>10.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1} {:>7} {:>8}",
                name,
                f.readings,
                f.distance_km,
                hours(f.driving_s),
                hours(f.idle_s),
                hours(f.stopped_s),
                hours(f.charging_s),
                f.avg_speed_kmh.unwrap_or(0.0),
                f.alerts,
                f.missions_completed
            );
        }
    }
    engine.close().await?;
    Ok(())
}

/// The default command: simulate, ingest and watch.
async fn simulate(args: Args) -> anyhow::Result<()> {
    let config = SimulatorConfig {
        fleet_id: args.fleet_id.clone(),
        vehicles: args.vehicles,
        interval_ms: args.interval_ms,
        area: args.area,
        scenario: args.scenario,
        seed: args.seed,
        ..SimulatorConfig::default()
    };
    let mut simulator = Simulator::new(config).context("invalid simulator options")?;

    let engine = Engine::open(EngineSettings {
        store: StoreSettings::Sqlite {
            path: args.db.clone(),
        },
        ..EngineSettings::default()
    })
    .await
    .with_context(|| match &args.db {
        Some(path) => format!("could not open the database {}", path.display()),
        None => "could not open the in-memory database".to_owned(),
    })?;
    engine.start().await?;
    engine.register_fleet(&args.fleet_id, None).await?;
    let mut alerts = engine.subscribe(ALL_FLEETS);

    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(200));

    let started = Instant::now();
    // The simulator is stepped here rather than through `Engine::run_simulator`, so that
    // `--fast` can run it on simulated time.
    let publisher = engine.clone();
    let interval = Duration::from_millis(args.interval_ms);
    let ticks = (args.duration_secs > 0)
        .then(|| (args.duration_secs * 1000).div_ceil(args.interval_ms.max(1)));
    let produce = tokio::spawn(async move {
        let mut now = Utc::now();
        let mut clock = tokio::time::interval(interval);
        let mut tick = 0u64;
        while ticks.is_none_or(|n| tick < n) {
            if args.fast {
                now += interval;
            } else {
                clock.tick().await;
                now = Utc::now();
            }
            let batch = simulator.step(now);
            if publisher.publish(batch).await.is_err() {
                break;
            }
            tick += 1;
        }
    });

    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut refresh = tokio::time::interval(Duration::from_millis(250));
    let mut produce = std::pin::pin!(produce);
    let mut producing = true;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            r = &mut produce, if producing => {
                r.context("simulator task failed")?;
                producing = false;
            }
            Some(event) = alerts.recv() => {
                if let LiveEvent::Alert(a) = event {
                    bar.println(format!(
                        "ALERT {:<16} {:<9} {:<22} {}",
                        a.alert_type, a.severity.as_str(), a.vehicle_id, a.message
                    ));
                }
            }
            _ = refresh.tick() => {
                let s = engine.stats();
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "stored {} ({:.0}/s) · alerts {} raised / {} cleared · dead letters {} · write {:.2} ms avg",
                    s.stored, s.stored as f64 / secs, s.alerts_raised, s.alerts_cleared,
                    s.dead_lettered, s.avg_write_ms
                ));
                if !producing && s.in_flight == 0 && s.stored + s.duplicates >= s.valid {
                    break;
                }
            }
        }
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let s = engine.close().await?.unwrap_or_default();
    println!(
        "{} readings stored in {secs:.1} s ({:.0}/s), {} alerts raised, {} dead letters",
        s.stored,
        s.stored as f64 / secs,
        s.alerts_raised,
        s.dead_lettered
    );
    let range = TimeRange::new(
        Utc::now() - chrono::Duration::days(3650),
        Utc::now() + chrono::Duration::days(3650),
    )?;
    let report = engine.fleet_performance(&args.fleet_id, range).await?;
    println!(
        "\n{:<22} {:>11} {:>9} {:>11} {:>7}",
        "vehicle", "distance_km", "avg_speed", "avg_battery", "alerts"
    );
    for v in report.vehicles.iter().take(10) {
        println!(
            "{:<22} {:>11.2} {:>9.1} {:>11.1} {:>7}",
            v.vehicle_id, v.distance_km, v.avg_speed, v.avg_battery, v.alerts
        );
    }
    Ok(())
}
