//! Runs the whole system from a [`Config`]: the one [`Engine`] (store, transport, rules,
//! pipeline, live hub, commands, missions, simulator) built from the server's settings, and the
//! HTTP server over it; shuts both down in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vehicleops_core::simulator::{Area, Scenario};
use vehicleops_core::{PipelineConfig, RetentionPolicy, Role, SimulatorConfig};
use vehicleops_engine::{Engine, EngineSettings, StoreSettings, TransportSettings};

use crate::api::{AppState, router};
use crate::auth::{LoginLimiter, TokenService, hash_password};
use crate::config::{AppEnv, BusKind, Config, StoreKind};
use crate::demo;
use crate::error::StartupError;
use crate::metrics::Metrics;
use crate::secret_key;

/// Capacity of the in-process telemetry queue (readings).
const BUS_CAPACITY: usize = 10_000;
/// Longest a shutdown waits for what was published to be stored.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Stop it with [`RunningServer::shutdown`].
pub struct RunningServer {
    local_addr: SocketAddr,
    engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), StartupError>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The bound address (useful with `APP_PORT=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The engine the server runs: publish telemetry into it as a co-located gateway would
    /// (in-process and Kafka transports), query it, or command vehicles.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Drains the pipeline, closes live connections and stops serving.
    pub async fn shutdown(mut self) -> Result<(), StartupError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await
    }

    /// Waits until the server stops (after [`RunningServer::shutdown`] or a failure).
    pub async fn join(self) -> Result<(), StartupError> {
        self.task
            .await
            .map_err(|e| StartupError::Config(format!("server task failed: {e}")))?
    }

    /// Shuts down on SIGINT (Ctrl-C) or SIGTERM.
    pub async fn run_until_signal(self) -> Result<(), StartupError> {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        self.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The engine's settings from the server's.
fn engine_settings(config: &Config) -> Result<EngineSettings, StartupError> {
    let store = match config.store {
        StoreKind::Sqlite => StoreSettings::Sqlite {
            path: config.sqlite_path.clone(),
        },
        StoreKind::Postgres => StoreSettings::Postgres {
            url: config.postgres_url(),
        },
    };
    let transport = match config.bus {
        BusKind::Inproc => TransportSettings::InProcess {
            capacity: BUS_CAPACITY,
        },
        #[cfg(feature = "kafka")]
        BusKind::Kafka => TransportSettings::Kafka(vehicleops_engine::KafkaTransport {
            config: crate::kafka_mode::kafka_config(config)?,
            create_topics: config.kafka_create_topics,
            share_events: true,
        }),
        #[cfg(not(feature = "kafka"))]
        BusKind::Kafka => {
            return Err(StartupError::Config(
                "VEHICLEOPS_BUS=kafka needs a server built with `--features kafka`".into(),
            ));
        }
        #[cfg(feature = "vda5050")]
        BusKind::Vda5050 => TransportSettings::Vda5050(crate::vda5050_mode::transport(config)?),
        #[cfg(not(feature = "vda5050"))]
        BusKind::Vda5050 => {
            return Err(StartupError::Config(
                "VEHICLEOPS_BUS=vda5050 needs a server built with `--features vda5050`".into(),
            ));
        }
    };
    let defaults = EngineSettings::default();
    let pipeline = PipelineConfig {
        // 0 switches a bound off.
        accept_past: Some(config.telemetry_max_age_seconds)
            .filter(|&s| s > 0)
            .map(Duration::from_secs),
        accept_future: Some(config.telemetry_max_ahead_seconds)
            .filter(|&s| s > 0)
            .map(Duration::from_secs),
        max_vehicles: config.max_vehicles.max(1),
        ..defaults.pipeline.clone()
    };
    Ok(EngineSettings {
        store,
        transport,
        pipeline,
        command_timeouts: config.command_timeouts(),
        arrival_radius_m: config.arrival_radius_m,
        drain_timeout: DRAIN_TIMEOUT,
        retention: RetentionPolicy {
            telemetry_days: config.retention_telemetry_days,
            rollup_days: config.retention_rollup_days,
            alerts_days: config.retention_alerts_days,
            commands_days: config.retention_commands_days,
            missions_days: config.retention_missions_days,
            audit_days: config.retention_audit_days,
        },
        retention_interval: Duration::from_secs(config.retention_interval_minutes.max(1) * 60),
        ..defaults
    })
}

/// Everything the server stops in order at shutdown.
struct Background {
    ready: Arc<AtomicBool>,
    engine: Engine,
}

impl Background {
    async fn stop(self) {
        self.ready.store(false, Ordering::Relaxed);
        // Drains the pipeline and ends every WebSocket session with a close frame.
        if let Err(e) = self.engine.close().await {
            tracing::error!(error = %e, "engine did not close cleanly");
        }
    }
}

/// Starts the whole system and begins serving. Returns once the port is bound.
pub async fn start(config: Config) -> Result<RunningServer, StartupError> {
    config.validate()?;
    check_demo_exposure(&config)?;
    let engine = Engine::open(engine_settings(&config)?).await?;
    engine.start().await?;
    if config.app_env == AppEnv::Demo {
        demo::seed(&engine).await?;
    }
    if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
        demo::upsert_account(
            engine.store().as_ref(),
            "op-bootstrap-admin",
            email,
            password,
            Role::Admin,
            Vec::new(),
        )
        .await?;
    }
    if config.simulator_enabled() {
        engine.run_simulator(simulator_config(&config)?).await?;
    }

    let secret = match &config.secret_key {
        Some(key) => key.as_bytes().to_vec(),
        None => generated_secret(&config),
    };
    let tokens = TokenService::new(
        &secret,
        Duration::from_secs(u64::from(config.access_token_expire_minutes) * 60),
        config.app_env,
    );
    let dummy_hash = tokio::task::spawn_blocking(|| hash_password("not-a-real-password"))
        .await
        .map_err(|e| StartupError::Config(e.to_string()))?
        .map_err(|e| StartupError::Config(e.to_string()))?;
    let ready = Arc::new(AtomicBool::new(true));
    let metrics = Metrics::new(engine.clone());
    let state = AppState {
        engine: engine.clone(),
        tokens: Arc::new(tokens),
        limiter: Arc::new(
            LoginLimiter::new(
                config.login_max_failures,
                Duration::from_secs(config.login_window_seconds),
            )
            .with_trusted_proxies(config.trusted_proxies.clone()),
        ),
        metrics: Arc::new(metrics),
        dummy_hash: dummy_hash.into(),
        ready: ready.clone(),
        ws_sessions: Arc::new(crate::ws::SessionLimits::new(
            config.ws_max_sessions_per_operator as usize,
        )),
        request_timeout: Duration::from_secs(config.request_timeout_seconds.max(1)),
    };
    let app = router(state, &config.dashboard_dir, config.frontend_url.as_deref());

    let listener = TcpListener::bind(config.listen_addr()?).await?;
    let local_addr = listener.local_addr()?;
    let background = Background {
        ready,
        engine: engine.clone(),
    };
    let limits = crate::serve::ConnectionLimits {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds.max(1)),
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let graceful = async move {
            let _ = stop_rx.await;
            background.stop().await;
        };
        crate::serve::serve(listener, app, limits, graceful).await;
        tracing::info!("server stopped");
        Ok(())
    });
    tracing::info!(%local_addr, mode = ?config.app_env, store = ?config.store, bus = ?config.bus, "listening");
    Ok(RunningServer {
        local_addr,
        engine,
        stop: Some(stop_tx),
        task,
    })
}

/// Demo mode seeds accounts whose passwords are public: it listens only on a loopback address
/// unless `VEHICLEOPS_DEMO_ALLOW_PUBLIC=true`.
fn check_demo_exposure(config: &Config) -> Result<(), StartupError> {
    if config.app_env != AppEnv::Demo || config.demo_allow_public {
        return Ok(());
    }
    let loopback = config.app_host.eq_ignore_ascii_case("localhost")
        || config.listen_addr().is_ok_and(|a| a.ip().is_loopback());
    if loopback {
        return Ok(());
    }
    Err(StartupError::Config(format!(
        "APP_ENV=demo has public demo passwords and must not listen on APP_HOST={}: use a \
         loopback address (127.0.0.1, ::1), run APP_ENV=production, or set \
         VEHICLEOPS_DEMO_ALLOW_PUBLIC=true to expose the demo anyway",
        config.app_host
    )))
}

/// The built-in simulator's settings (in VDA 5050 mode: how many AGVs and how often they
/// report).
fn simulator_config(config: &Config) -> Result<SimulatorConfig, StartupError> {
    let area: Area = config
        .simulator_area
        .parse()
        .map_err(|e: vehicleops_core::ValidationError| StartupError::Config(e.to_string()))?;
    let scenario: Scenario = config
        .simulator_scenario
        .parse()
        .map_err(|e: vehicleops_core::ValidationError| StartupError::Config(e.to_string()))?;
    // Logged (by the engine) so that any run (a demo, a failed test) can be replayed.
    let seed = config.simulator_seed.unwrap_or_else(rand_seed);
    Ok(SimulatorConfig {
        fleet_id: config.simulator_fleet.clone(),
        vehicles: config.simulator_vehicles,
        interval_ms: config.simulator_interval_ms,
        area,
        scenario,
        seed,
        max_ticks: None,
    })
}

/// The token key when SECRET_KEY is unset (never in production, which requires it): the one
/// kept in the key file, created on first start, so tokens outlive a restart. Without a usable
/// file, a random key for this process only.
fn generated_secret(config: &Config) -> Vec<u8> {
    let path = config
        .secret_key_file
        .clone()
        .or_else(|| secret_key::default_key_file(config.app_env, config.sqlite_path.as_deref()));
    let Some(path) = path else {
        tracing::warn!(
            "SECRET_KEY is not set and there is no place for a key file (no HOME): using a \
             random key; tokens end with this process"
        );
        return secret_key::random_key().to_vec();
    };
    match secret_key::load_or_create(&path) {
        Ok(key) => {
            tracing::info!(path = %path.display(), "SECRET_KEY is not set: using the key kept in this file");
            key
        }
        Err(e) => {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "SECRET_KEY is not set and the key file is unusable: using a random key; tokens \
                 end with this process"
            );
            secret_key::random_key().to_vec()
        }
    }
}

fn rand_seed() -> u64 {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    OsRng.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A site that sets nothing gets the timestamp window (a reading dated 9999 would freeze
    /// its vehicle); 0 switches each bound off, e.g. to replay a recorded history.
    #[test]
    fn the_telemetry_timestamp_window_is_on_by_default_and_zero_switches_it_off() {
        let config = Config::try_parse_from(["vehicleops-server"]).unwrap();
        let pipeline = engine_settings(&config).unwrap().pipeline;
        assert_eq!(pipeline.accept_past, Some(Duration::from_secs(604_800)));
        assert_eq!(pipeline.accept_future, Some(Duration::from_secs(300)));

        let config = Config::try_parse_from([
            "vehicleops-server",
            "--telemetry-max-age-seconds",
            "0",
            "--telemetry-max-ahead-seconds",
            "60",
        ])
        .unwrap();
        let pipeline = engine_settings(&config).unwrap().pipeline;
        assert_eq!(pipeline.accept_past, None);
        assert_eq!(pipeline.accept_future, Some(Duration::from_secs(60)));
    }
}
