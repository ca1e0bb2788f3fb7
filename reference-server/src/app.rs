//! Assembles and runs the whole system from a [`Config`]: store, bus, ingest pipeline with the
//! alert rules, live hub, command center, mission tracking, optional simulator, and the HTTP
//! server; and shuts it all down in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vehicleops_core::commands::CommandCenterTask;
use vehicleops_core::inproc::{
    InProcessBus, InProcessPublisher, InProcessTelemetrySource, command_channel,
};
use vehicleops_core::missions::MissionServiceTask;
use vehicleops_core::pipeline::ReadingObserver;
use vehicleops_core::simulator::{Area, Scenario};
use vehicleops_core::{
    AlertRule, CommandCenter, CommandSink, DeadLetterSink, Fleet, FleetRepository, LiveHub,
    MissionService, PipelineBuilder, PipelineHandle, Role, Simulator, SimulatorConfig,
    SimulatorHandle, TelemetryPublisher, TelemetrySource, TimeSeriesStore, Vehicle,
    VehicleCommandLink, default_rules,
};
use vehicleops_store::SqliteStore;

use crate::api::{AppState, router};
use crate::auth::{LoginLimiter, TokenService, hash_password};
use crate::config::{AppEnv, BusKind, Config, StoreKind};
use crate::demo;
use crate::error::StartupError;
use crate::metrics::Metrics;
use crate::secret_key;

/// Capacity of the in-process telemetry queue (readings).
const BUS_CAPACITY: usize = 10_000;
/// Capacity of the in-process command queue.
const COMMAND_CAPACITY: usize = 1_024;
/// Longest a shutdown waits for the in-process queue to be stored.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the start waits for the MQTT broker to acknowledge subscriptions.
#[cfg(feature = "vda5050")]
const MQTT_SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Stop it with [`RunningServer::shutdown`].
pub struct RunningServer {
    local_addr: SocketAddr,
    publisher: Option<InProcessPublisher>,
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

    /// Publishes telemetry into the in-process bus, as a co-located gateway would; `None` when
    /// telemetry comes from an external broker.
    pub fn publisher(&self) -> Option<&InProcessPublisher> {
        self.publisher.as_ref()
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

/// The stores behind one backend.
type Stores = (Arc<dyn TimeSeriesStore>, Arc<dyn FleetRepository>);

async fn open_store(config: &Config) -> Result<Stores, StartupError> {
    match config.store {
        StoreKind::Sqlite => {
            let path = config.sqlite_path.clone();
            let store = tokio::task::spawn_blocking(move || match path {
                Some(p) => SqliteStore::open(p),
                None => SqliteStore::in_memory(),
            })
            .await
            .map_err(|e| StartupError::Config(format!("opening the store failed: {e}")))??;
            let store = Arc::new(store);
            Ok((store.clone(), store))
        }
        #[cfg(feature = "postgres")]
        StoreKind::Postgres => {
            let store =
                Arc::new(vehicleops_store::PostgresStore::connect(&config.postgres_url()).await?);
            Ok((store.clone(), store))
        }
        #[cfg(not(feature = "postgres"))]
        StoreKind::Postgres => Err(StartupError::Config(
            "VEHICLEOPS_STORE=postgres needs a server built with `--features postgres`".into(),
        )),
    }
}

/// How telemetry and commands travel, and where live events go.
struct Transport {
    source: Arc<dyn TelemetrySource>,
    sink: Arc<dyn CommandSink>,
    /// The in-process bus's publishing side (in-process mode only).
    local: Option<InProcessPublisher>,
    /// The in-process bus's reading side: closed at shutdown so the pipeline drains what is
    /// queued (it lives nowhere else).
    local_source: Option<Arc<InProcessTelemetrySource>>,
    /// What the built-in simulator drives.
    simulator: SimulatorTarget,
    /// Messages the source rejects before the pipeline, exported when set.
    source_rejections: Option<prometheus_client::metrics::counter::Counter>,
    /// Alert rules the pipeline runs besides the default ones.
    extra_rules: Vec<Arc<dyn AlertRule>>,
    /// The live hub: the pipeline, commands and missions publish to it, WebSocket clients
    /// subscribe to it.
    hub: LiveHub,
    observers: Vec<Arc<dyn ReadingObserver>>,
    /// Where invalid readings go (counted either way).
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    /// Runs after the pipeline drained (leaves consumer groups, stops the live feed).
    on_stop: Vec<Box<dyn FnOnce() + Send>>,
}

/// What the built-in simulator drives in a transport.
enum SimulatorTarget {
    /// The SDK's simulator publishes readings here and takes its commands from here.
    Core {
        publisher: Arc<dyn TelemetryPublisher>,
        link: Arc<dyn VehicleCommandLink>,
    },
    /// Simulated VDA 5050 AGVs on the transport's MQTT broker.
    #[cfg(feature = "vda5050")]
    Vda5050,
}

/// The built-in simulator while it runs.
enum RunningSimulator {
    Core(SimulatorHandle),
    #[cfg(feature = "vda5050")]
    Vda5050(Vec<vehicleops_vda5050::SimulatedAgv>),
}

impl RunningSimulator {
    async fn stop(self) {
        match self {
            RunningSimulator::Core(sim) => {
                if let Err(e) = sim.stop().await {
                    tracing::warn!(error = %e, "simulator stopped with an error");
                }
            }
            #[cfg(feature = "vda5050")]
            RunningSimulator::Vda5050(agvs) => {
                for agv in agvs {
                    agv.shutdown().await;
                }
            }
        }
    }
}

fn inproc_transport() -> Transport {
    let InProcessBus { publisher, source } = InProcessBus::new(BUS_CAPACITY);
    let (sink, link) = command_channel(COMMAND_CAPACITY);
    let hub = LiveHub::new();
    let source = Arc::new(source);
    Transport {
        source: source.clone(),
        sink: Arc::new(sink),
        local: Some(publisher.clone()),
        local_source: Some(source),
        simulator: SimulatorTarget::Core {
            publisher: Arc::new(publisher),
            link: Arc::new(link),
        },
        extra_rules: Vec::new(),
        source_rejections: None,
        hub,
        observers: Vec::new(),
        dead_letters: None,
        on_stop: Vec::new(),
    }
}

/// Kafka mode. Each instance's pipeline reads its share of the raw topic (one consumer group
/// for all instances) and publishes what it processed, its alerts and mission progress to the
/// event topics; a live feed brings every *other* instance's events into this instance's hub,
/// so a WebSocket client sees every vehicle whichever instance it is connected to.
#[cfg(feature = "kafka")]
async fn kafka_transport(config: &Config) -> Result<Transport, StartupError> {
    use vehicleops_kafka::{
        KafkaCommandSink, KafkaDeadLetterSink, KafkaEventPublisher, KafkaLiveFeed,
        KafkaTelemetryPublisher, KafkaTelemetrySource, KafkaVehicleLink, ProducerSettings,
        SourceSettings,
    };
    let kafka = crate::kafka_mode::kafka_config(config)?;
    if config.kafka_create_topics {
        crate::kafka_mode::ensure_topics(&kafka).await?;
    }
    let producer = ProducerSettings::default();
    let source = Arc::new(KafkaTelemetrySource::new(
        &kafka,
        SourceSettings::default(),
    )?);
    // Acknowledgements are read by every instance (a group of its own per sink); each applies
    // those of the commands it dispatched.
    let sink = Arc::new(KafkaCommandSink::new(&kafka, &producer)?);
    let sim_link = Arc::new(KafkaVehicleLink::new(
        &kafka,
        &format!("{}.simulator", kafka.group_id),
        None,
        &producer,
    )?);
    let events = Arc::new(KafkaEventPublisher::new(&kafka, &producer)?);
    let hub = LiveHub::new();
    let bridge = events.clone().bridge_hub(&hub);
    let feed = KafkaLiveFeed::start(&kafka, hub.clone(), Some(&events), false)?;
    let (closing_source, closing_sink, closing_link) =
        (source.clone(), sink.clone(), sim_link.clone());
    Ok(Transport {
        source,
        sink,
        local: None,
        local_source: None,
        simulator: SimulatorTarget::Core {
            publisher: Arc::new(KafkaTelemetryPublisher::new(&kafka, &producer)?),
            link: sim_link,
        },
        extra_rules: Vec::new(),
        source_rejections: None,
        hub,
        observers: vec![events],
        dead_letters: Some(Arc::new(KafkaDeadLetterSink::new(&kafka, &producer)?)),
        on_stop: vec![Box::new(move || {
            closing_source.close();
            closing_sink.close();
            closing_link.close();
            bridge.abort();
            feed.close();
        })],
    })
}

/// VDA 5050 mode: telemetry from every vehicle's `state`, `visualization` and `connection`
/// on the MQTT broker, commands as instant actions and orders. FATAL vehicle errors raise
/// alerts through [`vehicleops_vda5050::FatalErrorRule`]; rejected messages are logged and
/// counted in `vehicleops_source_rejections`. The built-in simulator runs simulated AGVs on
/// the same broker.
#[cfg(feature = "vda5050")]
async fn vda5050_transport(config: &Config) -> Result<Transport, StartupError> {
    use vehicleops_vda5050::{FatalErrorRule, Vda5050CommandSink, Vda5050TelemetrySource};
    let rejected = prometheus_client::metrics::counter::Counter::default();
    let source = Arc::new(
        Vda5050TelemetrySource::connect(crate::vda5050_mode::source_config(config))
            .with_dead_letters(Arc::new(crate::vda5050_mode::CountingDeadLetters(
                rejected.clone(),
            ))),
    );
    let sink = Arc::new(Vda5050CommandSink::connect(
        crate::vda5050_mode::sink_config(config),
    ));
    let subscribed = async {
        source.wait_subscribed().await;
        sink.wait_subscribed().await;
    };
    tokio::time::timeout(MQTT_SUBSCRIBE_TIMEOUT, subscribed)
        .await
        .map_err(|_| {
            StartupError::Config(format!(
                "no answer from the MQTT broker at {}:{} (VEHICLEOPS_MQTT_HOST/PORT)",
                config.mqtt_host, config.mqtt_port
            ))
        })?;
    Ok(Transport {
        extra_rules: vec![Arc::new(FatalErrorRule::new(source.fatal_errors()))],
        source,
        sink,
        local: None,
        local_source: None,
        simulator: SimulatorTarget::Vda5050,
        source_rejections: Some(rejected),
        hub: LiveHub::new(),
        observers: Vec::new(),
        dead_letters: None,
        on_stop: Vec::new(),
    })
}

async fn transport(config: &Config) -> Result<Transport, StartupError> {
    match config.bus {
        BusKind::Inproc => Ok(inproc_transport()),
        #[cfg(feature = "kafka")]
        BusKind::Kafka => kafka_transport(config).await,
        #[cfg(not(feature = "kafka"))]
        BusKind::Kafka => Err(StartupError::Config(
            "VEHICLEOPS_BUS=kafka needs a server built with `--features kafka`".into(),
        )),
        #[cfg(feature = "vda5050")]
        BusKind::Vda5050 => vda5050_transport(config).await,
        #[cfg(not(feature = "vda5050"))]
        BusKind::Vda5050 => Err(StartupError::Config(
            "VEHICLEOPS_BUS=vda5050 needs a server built with `--features vda5050`".into(),
        )),
    }
}

/// Everything the server stops in order at shutdown.
struct Background {
    ready: Arc<AtomicBool>,
    simulator: Option<RunningSimulator>,
    local_source: Option<Arc<InProcessTelemetrySource>>,
    pipeline: PipelineHandle,
    hub: LiveHub,
    on_stop: Vec<Box<dyn FnOnce() + Send>>,
    _commands: CommandCenterTask,
    _missions: MissionServiceTask,
}

impl Background {
    async fn stop(self) {
        self.ready.store(false, Ordering::Relaxed);
        if let Some(sim) = self.simulator {
            sim.stop().await;
        }
        let drained = match self.local_source {
            // In-process readings exist only in the queue: refuse new ones and let the pipeline
            // run until it has stored every queued reading and the source ends.
            Some(source) => {
                source.close().await;
                tokio::time::timeout(DRAIN_TIMEOUT, self.pipeline.join())
                    .await
                    .unwrap_or_else(|_| {
                        Err(vehicleops_core::Error::backend_msg(
                            "pipeline",
                            "still draining after the shutdown timeout",
                        ))
                    })
            }
            // A broker keeps what was not read: stop reading, store and acknowledge the rest.
            None => self.pipeline.shutdown().await,
        };
        match drained {
            Ok(stats) => tracing::info!(
                received = stats.received,
                stored = stats.stored,
                dead_letters = stats.dead_lettered,
                "pipeline drained"
            ),
            Err(e) => tracing::error!(error = %e, "pipeline did not drain cleanly"),
        }
        for stop in self.on_stop {
            stop();
        }
        // Ends every WebSocket session with a close frame.
        self.hub.close();
    }
}

/// Starts the whole system and begins serving. Returns once the port is bound.
pub async fn start(config: Config) -> Result<RunningServer, StartupError> {
    config.validate()?;
    let (store, repo) = open_store(&config).await?;
    let transport = transport(&config).await?;

    let (missions, missions_task) = MissionService::start(
        repo.clone(),
        Some(transport.hub.clone()),
        config.arrival_radius_m,
    );
    let mut pipeline = PipelineBuilder::new(transport.source.clone(), store.clone())
        .repository(repo.clone())
        .hub(transport.hub.clone())
        .rules(
            default_rules()
                .into_iter()
                .chain(transport.extra_rules.iter().cloned()),
        )
        .observer(missions.clone());
    for observer in &transport.observers {
        pipeline = pipeline.observer(observer.clone());
    }
    if let Some(sink) = &transport.dead_letters {
        pipeline = pipeline.dead_letters(sink.clone());
    }
    let pipeline = pipeline.spawn();
    let (commands, commands_task) = CommandCenter::start(
        transport.sink.clone(),
        repo.clone(),
        Some(transport.hub.clone()),
        config.command_timeouts(),
    );

    if config.app_env == AppEnv::Demo {
        demo::seed(repo.as_ref()).await?;
    }
    if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
        demo::upsert_account(
            repo.as_ref(),
            "op-bootstrap-admin",
            email,
            password,
            Role::Admin,
            Vec::new(),
        )
        .await?;
    }

    #[cfg(feature = "vda5050")]
    if config.bus == BusKind::Vda5050 {
        let mut serials = config.vda5050_vehicles.clone();
        if config.simulator_enabled() {
            serials.extend(crate::vda5050_mode::simulated_serials(&config));
        }
        crate::vda5050_mode::register(repo.as_ref(), &config, &serials).await?;
    }
    let simulator = if config.simulator_enabled() {
        Some(match &transport.simulator {
            SimulatorTarget::Core { publisher, link } => RunningSimulator::Core(
                start_simulator(&config, repo.as_ref(), publisher.clone(), link.clone()).await?,
            ),
            #[cfg(feature = "vda5050")]
            SimulatorTarget::Vda5050 => {
                RunningSimulator::Vda5050(crate::vda5050_mode::start_agvs(&config))
            }
        })
    } else {
        None
    };

    let secret = match &config.secret_key {
        Some(key) => key.as_bytes().to_vec(),
        None => generated_secret(&config),
    };
    let tokens = TokenService::new(
        &secret,
        Duration::from_secs(u64::from(config.access_token_expire_minutes) * 60),
    );
    let dummy_hash = tokio::task::spawn_blocking(|| hash_password("not-a-real-password"))
        .await
        .map_err(|e| StartupError::Config(e.to_string()))?
        .map_err(|e| StartupError::Config(e.to_string()))?;
    let ready = Arc::new(AtomicBool::new(true));
    let mut metrics = Metrics::new(pipeline.stats(), transport.hub.clone());
    if let Some(rejected) = transport.source_rejections.clone() {
        metrics.count_source_rejections(rejected);
    }
    let state = AppState {
        store,
        repo,
        hub: transport.hub.clone(),
        commands,
        missions,
        tokens: Arc::new(tokens),
        limiter: Arc::new(LoginLimiter::new(
            config.login_max_failures,
            Duration::from_secs(config.login_window_seconds),
        )),
        metrics: Arc::new(metrics),
        dummy_hash: dummy_hash.into(),
        ready: ready.clone(),
    };
    let app = router(state, &config.dashboard_dir, config.frontend_url.as_deref());

    let listener = TcpListener::bind(config.listen_addr()?).await?;
    let local_addr = listener.local_addr()?;
    let background = Background {
        ready,
        simulator,
        local_source: transport.local_source,
        pipeline,
        hub: transport.hub.clone(),
        on_stop: transport.on_stop,
        _commands: commands_task,
        _missions: missions_task,
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let graceful = async move {
            let _ = stop_rx.await;
            background.stop().await;
        };
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(graceful)
        .await?;
        tracing::info!("server stopped");
        Ok(())
    });
    tracing::info!(%local_addr, mode = ?config.app_env, store = ?config.store, bus = ?config.bus, "listening");
    Ok(RunningServer {
        local_addr,
        publisher: transport.local,
        stop: Some(stop_tx),
        task,
    })
}

async fn start_simulator(
    config: &Config,
    repo: &dyn FleetRepository,
    publisher: Arc<dyn TelemetryPublisher>,
    link: Arc<dyn VehicleCommandLink>,
) -> Result<SimulatorHandle, StartupError> {
    let area: Area = config
        .simulator_area
        .parse()
        .map_err(|e: vehicleops_core::ValidationError| StartupError::Config(e.to_string()))?;
    let scenario: Scenario = config
        .simulator_scenario
        .parse()
        .map_err(|e: vehicleops_core::ValidationError| StartupError::Config(e.to_string()))?;
    let seed = config.simulator_seed.unwrap_or_else(rand_seed);
    // Logged so that any run (a demo, a failed test) can be replayed with this seed.
    tracing::info!(seed, scenario = %scenario, "simulator seeded");
    let sim_config = SimulatorConfig {
        fleet_id: config.simulator_fleet.clone(),
        vehicles: config.simulator_vehicles,
        interval_ms: config.simulator_interval_ms,
        area,
        scenario,
        seed,
        max_ticks: None,
    };
    let simulator =
        Simulator::new(sim_config).map_err(|e| StartupError::Config(format!("simulator: {e}")))?;
    // The simulated fleet and vehicles must be registered for commands and missions.
    if repo.get_fleet(&config.simulator_fleet).await?.is_none() {
        repo.upsert_fleet(&Fleet {
            id: config.simulator_fleet.clone(),
            name: format!("Simulated fleet ({area})"),
        })
        .await?;
    }
    for id in simulator.vehicle_ids() {
        repo.upsert_vehicle(&Vehicle {
            id: id.to_owned(),
            fleet_id: config.simulator_fleet.clone(),
            name: None,
            home: simulator.home_of(id),
        })
        .await?;
    }
    Ok(simulator.spawn(publisher, Some(link))?)
}

/// The token key when SECRET_KEY is unset (never in production, which requires it): the one
/// kept in the key file, created on first start, so tokens outlive a restart. Without a usable
/// file, a random key for this process only.
fn generated_secret(config: &Config) -> Vec<u8> {
    let path = config
        .secret_key_file
        .clone()
        .or_else(|| secret_key::default_key_file(config.sqlite_path.as_deref()));
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
