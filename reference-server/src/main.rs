//! `vehicleops-server`: starts the system described by flags, environment and an optional TOML
//! file (see `--help`), prints where it listens, and shuts down gracefully on Ctrl-C / SIGTERM.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use vehicleops_server::app;
use vehicleops_server::config::{AppEnv, Config, LogFormat};
use vehicleops_server::demo::DEMO_ACCOUNTS;
use vehicleops_server::error::StartupError;

fn main() -> ExitCode {
    return_large_allocations_to_the_system();
    let config = match Config::load() {
        Ok(c) => c,
        Err(StartupError::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("vehicleops-server: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vehicleops-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "vehicleops-server failed");
            eprintln!("vehicleops-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), StartupError> {
    let demo = config.app_env == AppEnv::Demo;
    let server = app::start(config).await?;
    let addr = server.local_addr();
    let host = if addr.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        addr.ip().to_string()
    };
    println!("VehicleOps is running on http://{host}:{}", addr.port());
    println!("  API docs:  http://{host}:{}/docs", addr.port());
    println!(
        "  Live feed: ws://{host}:{}/ws/fleet/fleet-001?token=<access_token>",
        addr.port()
    );
    if demo {
        println!("Demo logins (demo mode only):");
        for a in DEMO_ACCOUNTS {
            println!("  {:<24} {:<13} {}", a.email, a.password, a.role.as_str());
        }
    }
    server.run_until_signal().await
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Each password check (argon2id) allocates ~19 MiB and frees it. glibc's malloc raises its
/// mmap threshold to the size of a freed mapping, so from the first login on these buffers come
/// from the per-thread heaps and stay resident: the demo grew from 87 MB to 245 MB RSS over 14
/// logins (debug build) and kept it. A fixed threshold keeps allocations ≥ 1 MiB in their own
/// mappings, returned to the system when freed; smaller ones are unaffected.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
