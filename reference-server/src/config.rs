//! Server configuration: command-line flags, environment variables and an optional TOML file.
//!
//! Precedence, highest first: command-line flag, environment variable, TOML file
//! (`--config` / `VEHICLEOPS_CONFIG`, keys are the flag names in snake_case), built-in default.
//! Variables keep the original system's names where it had them (`APP_PORT`, `SECRET_KEY`,
//! `KAFKA_BOOTSTRAP_SERVERS`, …); new ones start with `VEHICLEOPS_`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::error::StartupError;

/// Which mode the server runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    /// One-command demo: demo fleets, vehicles and the three demo accounts, simulator on.
    Demo,
    /// Like production, but a missing secret key is generated and kept in the key file.
    Development,
    /// `SECRET_KEY` must be set (at least 32 bytes); nothing is seeded.
    Production,
}

impl AppEnv {
    /// The mode's name, as in `APP_ENV` (and in tokens and key file names).
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Demo => "demo",
            AppEnv::Development => "development",
            AppEnv::Production => "production",
        }
    }
}

/// Where telemetry and commands travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BusKind {
    /// In this process (single instance).
    Inproc,
    /// Apache Kafka (several instances side by side).
    Kafka,
    /// VDA 5050 AGVs over an MQTT broker (feature `vda5050`).
    Vda5050,
}

/// What STOP sends to a VDA 5050 vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Vda5050StopMode {
    /// `startPause`: the vehicle halts and keeps its order; RESUME continues it.
    Pause,
    /// `cancelOrder`: the vehicle halts and drops its order.
    CancelOrder,
}

/// Where readings and entities are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Embedded SQLite: a file (`VEHICLEOPS_SQLITE_PATH`) or, without one, memory.
    Sqlite,
    /// PostgreSQL / TimescaleDB (`POSTGRES_*`).
    Postgres,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of the server. `vehicleops-server --help` lists them with their variables.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "vehicleops-server",
    version,
    args_override_self = true,
    about = "VehicleOps reference server: REST + WebSocket fleet API over the VehicleOps SDK.\n\
             With no configuration it starts a self-contained demo on http://localhost:8000."
)]
pub struct Config {
    /// TOML file with defaults for any setting below (keys in snake_case, e.g. `app_port = 8080`).
    #[arg(long, env = "VEHICLEOPS_CONFIG")]
    pub config: Option<PathBuf>,

    /// Mode: demo seeds demo data and accounts; production requires SECRET_KEY.
    #[arg(long, env = "APP_ENV", value_enum, default_value = "demo")]
    pub app_env: AppEnv,

    /// Address to listen on.
    #[arg(long, env = "APP_HOST", default_value = "127.0.0.1")]
    pub app_host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "APP_PORT", default_value_t = 8000)]
    pub app_port: u16,

    /// HMAC key signing access tokens; at least 32 bytes, required in production.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Without SECRET_KEY (demo and development modes): file keeping the generated token key,
    /// so tokens survive a restart. Created with mode 0600 on first start. Default, one per
    /// mode: `<VEHICLEOPS_SQLITE_PATH>.<mode>.secret-key`, else
    /// `$XDG_STATE_HOME/vehicleops/<mode>.secret-key` (`~/.local/state/vehicleops/…`). Tokens
    /// carry the mode, so a demo token is refused in development even with one shared file.
    #[arg(long, env = "VEHICLEOPS_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Lifetime of access tokens, in minutes.
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_MINUTES", default_value_t = 60)]
    pub access_token_expire_minutes: u32,

    /// Failed logins allowed per client address and per e-mail within the login window.
    #[arg(long, env = "VEHICLEOPS_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// Length of the login rate-limit window, in seconds.
    #[arg(long, env = "VEHICLEOPS_LOGIN_WINDOW_SECONDS", default_value_t = 300)]
    pub login_window_seconds: u64,

    /// Addresses of reverse proxies in front of the server, comma-separated (e.g.
    /// `10.0.0.5,10.0.0.6`). Only for a connection from one of them is the client address (for
    /// the login rate limit) taken from `X-Forwarded-For`: its right-most entry that is not a
    /// trusted proxy. Any other peer's `X-Forwarded-For` is ignored. Default: none.
    #[arg(long, env = "VEHICLEOPS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// E-mail of an ADMIN account created (or updated) at start, for non-demo modes.
    #[arg(long, env = "VEHICLEOPS_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of that ADMIN account.
    #[arg(long, env = "VEHICLEOPS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Storage backend.
    #[arg(long, env = "VEHICLEOPS_STORE", value_enum, default_value = "sqlite")]
    pub store: StoreKind,

    /// SQLite database file; in memory when unset.
    #[arg(long, env = "VEHICLEOPS_SQLITE_PATH")]
    pub sqlite_path: Option<PathBuf>,

    /// Full PostgreSQL URL (postgres://user:password@host:port/db?sslmode=…); overrides POSTGRES_*.
    #[arg(long, env = "VEHICLEOPS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL host.
    #[arg(long, env = "POSTGRES_HOST", default_value = "localhost")]
    pub postgres_host: String,

    /// PostgreSQL port.
    #[arg(long, env = "POSTGRES_PORT", default_value_t = 5432)]
    pub postgres_port: u16,

    /// PostgreSQL user.
    #[arg(long, env = "POSTGRES_USER", default_value = "vehicleops_user")]
    pub postgres_user: String,

    /// PostgreSQL password.
    #[arg(long, env = "POSTGRES_PASSWORD", hide_env_values = true)]
    pub postgres_password: Option<String>,

    /// PostgreSQL database.
    #[arg(long, env = "POSTGRES_DB", default_value = "vehicleops_db")]
    pub postgres_db: String,

    /// Telemetry and command transport.
    #[arg(long, env = "VEHICLEOPS_BUS", value_enum, default_value = "inproc")]
    pub bus: BusKind,

    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "localhost:9092"
    )]
    pub kafka_bootstrap_servers: String,

    /// Topic of raw telemetry.
    #[arg(
        long,
        env = "KAFKA_TELEMETRY_TOPIC",
        default_value = "fleet.telemetry.raw"
    )]
    pub kafka_telemetry_topic: String,

    /// Topic of vehicle commands.
    #[arg(long, env = "KAFKA_COMMANDS_TOPIC", default_value = "fleet.commands")]
    pub kafka_commands_topic: String,

    /// Consumer group of the ingest consumers (shared by all instances).
    #[arg(
        long,
        env = "KAFKA_CONSUMER_GROUP",
        default_value = "vehicleops-backend"
    )]
    pub kafka_consumer_group: String,

    /// Appended to every Kafka topic name (e.g. `.staging`), to share a cluster between
    /// environments.
    #[arg(long, env = "VEHICLEOPS_KAFKA_TOPIC_SUFFIX", default_value = "")]
    pub kafka_topic_suffix: String,

    /// Create missing Kafka topics at start (off where topics are managed elsewhere, e.g. MSK).
    #[arg(long, env = "VEHICLEOPS_KAFKA_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub kafka_create_topics: bool,

    /// MQTT broker host (VEHICLEOPS_BUS=vda5050).
    #[arg(long, env = "VEHICLEOPS_MQTT_HOST", default_value = "localhost")]
    pub mqtt_host: String,

    /// MQTT broker port.
    #[arg(long, env = "VEHICLEOPS_MQTT_PORT", default_value_t = 1883)]
    pub mqtt_port: u16,

    /// Prefix of this instance's MQTT client ids (`…-ingest`, `…-commands`, `…-sim-<serial>`);
    /// unique per instance on the broker.
    #[arg(
        long,
        env = "VEHICLEOPS_MQTT_CLIENT_ID",
        default_value = "vehicleops-server"
    )]
    pub mqtt_client_id: String,

    /// VDA 5050 interface name, the first topic level (`uagv` in the specification).
    #[arg(long, env = "VEHICLEOPS_VDA5050_INTERFACE", default_value = "uagv")]
    pub vda5050_interface: String,

    /// VDA 5050 major version, the second topic level.
    #[arg(long, env = "VEHICLEOPS_VDA5050_MAJOR_VERSION", default_value = "v2")]
    pub vda5050_major_version: String,

    /// Manufacturer used for commands to vehicles not seen yet, and by the simulated AGVs.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_MANUFACTURER",
        default_value = "vehicleops"
    )]
    pub vda5050_manufacturer: String,

    /// Fleet every VDA 5050 vehicle belongs to (registered at start).
    #[arg(long, env = "VEHICLEOPS_VDA5050_FLEET", default_value = "fleet-vda")]
    pub vda5050_fleet: String,

    /// Serial numbers of the real VDA 5050 vehicles to register in that fleet, comma-separated
    /// (simulated AGVs are registered by themselves).
    #[arg(long, env = "VEHICLEOPS_VDA5050_VEHICLES", value_delimiter = ',')]
    pub vda5050_vehicles: Vec<String>,

    /// Manufacturer per vehicle, `SERIAL=MANUFACTURER` comma-separated, for vehicles not of
    /// VEHICLEOPS_VDA5050_MANUFACTURER: each is addressed under, and trusted from, only its own
    /// manufacturer's topics.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_VEHICLE_MANUFACTURERS",
        value_delimiter = ',',
        value_parser = parse_assignment
    )]
    pub vda5050_vehicle_manufacturers: Vec<(String, String)>,

    /// VDA 5050 version per vehicle, `SERIAL=VERSION` comma-separated (2.0.0 or 2.1.0):
    /// what the vehicle is spoken to in, whatever its headers announce. Vehicles not listed are
    /// spoken to in the version they announce (2.1.0 before they announce one).
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_VEHICLE_VERSIONS",
        value_delimiter = ',',
        value_parser = parse_assignment
    )]
    pub vda5050_vehicle_versions: Vec<(String, String)>,

    /// Latitude of the map origin (x = y = 0); with the longitude, gives readings GPS
    /// positions and lets REROUTE and missions use GPS waypoints.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_ORIGIN_LAT",
        allow_hyphen_values = true
    )]
    pub vda5050_origin_lat: Option<f64>,

    /// Longitude of the map origin.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_ORIGIN_LON",
        allow_hyphen_values = true
    )]
    pub vda5050_origin_lon: Option<f64>,

    /// Angle of the map's x axis from east, counter-clockwise, in degrees.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_ROTATION_DEG",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub vda5050_rotation_deg: f64,

    /// What STOP sends: pause (RESUME continues) or cancel-order.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_STOP_MODE",
        value_enum,
        default_value = "pause"
    )]
    pub vda5050_stop_mode: Vda5050StopMode,

    /// Map the vehicles drive on (the simulated AGVs' map and that of the charging node).
    #[arg(long, env = "VEHICLEOPS_VDA5050_MAP_ID", default_value = "site")]
    pub vda5050_map_id: String,

    /// Node id of the charging station RETURN_TO_BASE drives to.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_CHARGING_NODE",
        default_value = "charger"
    )]
    pub vda5050_charging_node: String,

    /// Map x of the charging station, metres.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_CHARGING_X",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub vda5050_charging_x: f64,

    /// Map y of the charging station, metres.
    #[arg(
        long,
        env = "VEHICLEOPS_VDA5050_CHARGING_Y",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub vda5050_charging_y: f64,

    /// Run the built-in simulator (default: on in demo mode, off otherwise).
    #[arg(long, env = "VEHICLEOPS_SIMULATOR")]
    pub simulator: Option<bool>,

    /// Vehicles the simulator drives in its fleet (with VEHICLEOPS_BUS=vda5050: simulated
    /// AGVs on the broker, in VEHICLEOPS_VDA5050_FLEET).
    #[arg(long, env = "VEHICLEOPS_SIMULATOR_VEHICLES", default_value_t = 20)]
    pub simulator_vehicles: u32,

    /// Fleet the simulator drives.
    #[arg(long, env = "VEHICLEOPS_SIMULATOR_FLEET", default_value = "fleet-001")]
    pub simulator_fleet: String,

    /// Milliseconds between readings of each simulated vehicle.
    #[arg(long, env = "VEHICLEOPS_SIMULATOR_INTERVAL_MS", default_value_t = 1000)]
    pub simulator_interval_ms: u64,

    /// Operating area of the simulator: bogota, medellin or cali.
    #[arg(long, env = "VEHICLEOPS_SIMULATOR_AREA", default_value = "bogota")]
    pub simulator_area: String,

    /// Simulator scenario: normal, high-load or fault-injection.
    #[arg(
        long,
        env = "VEHICLEOPS_SIMULATOR_SCENARIO",
        default_value = "fault-injection"
    )]
    pub simulator_scenario: String,

    /// Seed of the simulator's random numbers: the same seed drives the same fleet (routes,
    /// faults and so alerts), e.g. to reproduce a demo or a test run. Random when unset; the
    /// seed in use is logged at start.
    #[arg(long, env = "VEHICLEOPS_SIMULATOR_SEED")]
    pub simulator_seed: Option<u64>,

    /// Directory of the web dashboard's static files, served at `/` when it exists. Defaults to
    /// the built copy shipped in `reference-server/dashboard/` (rebuilt by
    /// `examples/dashboard/scripts/ship.sh`).
    #[arg(
        long,
        env = "VEHICLEOPS_DASHBOARD_DIR",
        default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard")
    )]
    pub dashboard_dir: PathBuf,

    /// Origin allowed to call the API from a browser (CORS), e.g. http://localhost:3000.
    #[arg(long, env = "FRONTEND_URL")]
    pub frontend_url: Option<String>,

    /// Log format.
    #[arg(
        long,
        env = "VEHICLEOPS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax), e.g. `info,vehicleops_server=debug`.
    #[arg(long, env = "VEHICLEOPS_LOG", default_value = "info")]
    pub log: String,

    /// Seconds a command may wait for a vehicle's acknowledgement before it EXPIRES.
    #[arg(
        long,
        env = "VEHICLEOPS_COMMAND_DELIVERY_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub command_delivery_timeout_seconds: u64,

    /// Seconds a delivered command may take before it TIMES OUT.
    #[arg(
        long,
        env = "VEHICLEOPS_COMMAND_EXECUTION_TIMEOUT_SECONDS",
        default_value_t = 120
    )]
    pub command_execution_timeout_seconds: u64,

    /// Distance in metres at which a mission waypoint counts as reached.
    #[arg(long, env = "VEHICLEOPS_ARRIVAL_RADIUS_M", default_value_t = 25.0)]
    pub arrival_radius_m: f64,

    /// Days raw readings are kept (unset: for ever). Applied at start and every
    /// `VEHICLEOPS_RETENTION_INTERVAL_MINUTES`; on PostgreSQL by whole days.
    #[arg(long, env = "VEHICLEOPS_RETENTION_TELEMETRY_DAYS")]
    pub retention_telemetry_days: Option<u32>,

    /// Days the per-minute and hourly rollups are kept (unset: for ever); at least the
    /// readings' days. Summaries and series of older windows read them.
    #[arg(long, env = "VEHICLEOPS_RETENTION_ROLLUP_DAYS")]
    pub retention_rollup_days: Option<u32>,

    /// Days cleared alerts are kept (unset: for ever); open ones stay.
    #[arg(long, env = "VEHICLEOPS_RETENTION_ALERTS_DAYS")]
    pub retention_alerts_days: Option<u32>,

    /// Days finished commands are kept (unset: for ever); pending ones stay.
    #[arg(long, env = "VEHICLEOPS_RETENTION_COMMANDS_DAYS")]
    pub retention_commands_days: Option<u32>,

    /// Days finished missions are kept (unset: for ever); active ones stay.
    #[arg(long, env = "VEHICLEOPS_RETENTION_MISSIONS_DAYS")]
    pub retention_missions_days: Option<u32>,

    /// Days audit-trail entries (logins, commands, missions, acknowledgements) are kept
    /// (unset: for ever).
    #[arg(long, env = "VEHICLEOPS_RETENTION_AUDIT_DAYS")]
    pub retention_audit_days: Option<u32>,

    /// How often retention runs, in minutes.
    #[arg(
        long,
        env = "VEHICLEOPS_RETENTION_INTERVAL_MINUTES",
        default_value_t = 60
    )]
    pub retention_interval_minutes: u64,

    /// Longest an HTTP request may take, in seconds (reading its body included); past it the
    /// client gets 408. WebSocket sessions are not limited by it.
    #[arg(long, env = "VEHICLEOPS_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,

    /// Longest an HTTP/1 client may take to send a request's headers, and longest an idle
    /// kept-alive connection stays open, in seconds; then the connection is closed (against
    /// clients that hold sockets by sending slowly or nothing). HTTP/2 connections are pinged
    /// at this interval and closed when the peer stops answering.
    #[arg(
        long,
        env = "VEHICLEOPS_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub header_read_timeout_seconds: u64,

    /// Most WebSocket sessions one operator may have open at once; one more is refused with 429.
    #[arg(
        long,
        env = "VEHICLEOPS_WS_MAX_SESSIONS_PER_OPERATOR",
        default_value_t = 8
    )]
    pub ws_max_sessions_per_operator: u32,

    /// Let demo mode (public demo passwords) listen on a non-loopback APP_HOST.
    #[arg(long, env = "VEHICLEOPS_DEMO_ALLOW_PUBLIC", default_value_t = false, action = clap::ArgAction::Set)]
    pub demo_allow_public: bool,

    /// Oldest telemetry accepted, in seconds before now (default 7 days); older readings are
    /// dead-lettered (field `timestamp`), so one vehicle with a wrong clock can neither freeze
    /// its own state nor scatter partitions over the years. 0: no bound (e.g. to replay a
    /// recorded history through the server).
    #[arg(
        long,
        env = "VEHICLEOPS_TELEMETRY_MAX_AGE_SECONDS",
        default_value_t = 7 * 24 * 3600
    )]
    pub telemetry_max_age_seconds: u64,

    /// Furthest telemetry may be dated ahead of now, in seconds (default 5 minutes, room for
    /// vehicle clocks that drift); later readings are dead-lettered (field `timestamp`).
    /// 0: no bound.
    #[arg(
        long,
        env = "VEHICLEOPS_TELEMETRY_MAX_AHEAD_SECONDS",
        default_value_t = 300
    )]
    pub telemetry_max_ahead_seconds: u64,

    /// Most vehicles whose live state the pipeline and the live hub keep; beyond it the least
    /// recently seen vehicle's state is dropped (reloaded on its next reading).
    #[arg(long, env = "VEHICLEOPS_MAX_VEHICLES", default_value_t = 100_000)]
    pub max_vehicles: usize,

    /// MQTT user name (VEHICLEOPS_BUS=vda5050), for brokers with a password file; every
    /// connection of this instance logs in with it. Unset: anonymous.
    #[arg(long, env = "VEHICLEOPS_MQTT_USERNAME")]
    pub mqtt_username: Option<String>,

    /// MQTT password, sent with `mqtt_username` (ignored without it).
    #[arg(long, env = "VEHICLEOPS_MQTT_PASSWORD", hide_env_values = true)]
    pub mqtt_password: Option<String>,

    /// PEM file of the CA(s) the MQTT broker's certificate must chain to; set, every MQTT
    /// connection uses TLS and verifies the broker against `mqtt_host`. Unset: plain TCP.
    #[arg(long, env = "VEHICLEOPS_MQTT_CA_FILE")]
    pub mqtt_ca_file: Option<std::path::PathBuf>,
}

/// The smallest accepted secret key, in bytes (HS256 wants at least the hash size).
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// `KEY=VALUE`, both non-empty.
fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        }
        _ => Err(format!("expected SERIAL=VALUE, got {s:?}")),
    }
}

impl Config {
    /// Parses the process's arguments and environment, then the TOML file they name.
    pub fn load() -> Result<Self, StartupError> {
        Self::load_from(std::env::args_os())
    }

    /// Like [`Config::load`] with explicit arguments (the first is the program name).
    pub fn load_from<I, T>(args: I) -> Result<Self, StartupError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        // First pass only to find the file: its values become defaults for the second pass,
        // so flags and variables still win over it.
        let first = Config::try_parse_from(&args).map_err(StartupError::Cli)?;
        let Some(path) = first.config else {
            return Ok(first);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| StartupError::Config(format!("cannot read {}: {e}", path.display())))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| StartupError::Config(format!("{}: {e}", path.display())))?;
        let mut command = Config::command();
        let known: Vec<String> = command
            .get_arguments()
            .map(|a| a.get_id().as_str().to_owned())
            .collect();
        for (key, value) in table {
            if !known.contains(&key) || key == "config" {
                return Err(StartupError::Config(format!(
                    "{}: unknown setting `{key}`",
                    path.display()
                )));
            }
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(StartupError::Config(format!(
                        "{}: `{key}` must be a string, number or boolean, not {}",
                        path.display(),
                        other.type_str()
                    )));
                }
            };
            command = command.mut_arg(key, |a| a.default_value(value));
        }
        let matches = command
            .try_get_matches_from(&args)
            .map_err(StartupError::Cli)?;
        Config::from_arg_matches(&matches).map_err(StartupError::Cli)
    }

    /// Checks settings that depend on each other.
    pub fn validate(&self) -> Result<(), StartupError> {
        if self
            .secret_key
            .as_ref()
            .is_some_and(|k| k.len() < MIN_SECRET_KEY_BYTES)
        {
            return Err(StartupError::Config(format!(
                "SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes long"
            )));
        }
        if self.app_env == AppEnv::Production && self.secret_key.is_none() {
            return Err(StartupError::Config(
                "SECRET_KEY is required when APP_ENV=production".into(),
            ));
        }
        if self.admin_email.is_some() != self.admin_password.is_some() {
            return Err(StartupError::Config(
                "VEHICLEOPS_ADMIN_EMAIL and VEHICLEOPS_ADMIN_PASSWORD go together".into(),
            ));
        }
        if self.vda5050_origin_lat.is_some() != self.vda5050_origin_lon.is_some() {
            return Err(StartupError::Config(
                "VEHICLEOPS_VDA5050_ORIGIN_LAT and VEHICLEOPS_VDA5050_ORIGIN_LON go together"
                    .into(),
            ));
        }
        if self.access_token_expire_minutes == 0 {
            return Err(StartupError::Config(
                "ACCESS_TOKEN_EXPIRE_MINUTES must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether the built-in simulator runs.
    pub fn simulator_enabled(&self) -> bool {
        self.simulator.unwrap_or(self.app_env == AppEnv::Demo)
    }

    /// The address to bind.
    pub fn listen_addr(&self) -> Result<SocketAddr, StartupError> {
        let host = if self.app_host.contains(':') && !self.app_host.starts_with('[') {
            format!("[{}]", self.app_host)
        } else {
            self.app_host.clone()
        };
        format!("{host}:{}", self.app_port)
            .parse()
            .map_err(|e| StartupError::Config(format!("APP_HOST/APP_PORT: {e}")))
    }

    /// Command lifetimes for the command center.
    pub fn command_timeouts(&self) -> vehicleops_core::CommandTimeouts {
        vehicleops_core::CommandTimeouts {
            delivery: Duration::from_secs(self.command_delivery_timeout_seconds),
            execution: Duration::from_secs(self.command_execution_timeout_seconds),
            ..Default::default()
        }
    }

    /// The PostgreSQL connection URL: `VEHICLEOPS_DATABASE_URL`, or one built from `POSTGRES_*`.
    pub fn postgres_url(&self) -> String {
        if let Some(url) = &self.database_url {
            return url.clone();
        }
        // User, password and database are percent-encoded: `@`, `:`, `/`, `?`, `#` or `%` in
        // them would otherwise change the URL's meaning.
        let password = self
            .postgres_password
            .as_deref()
            .map(|p| format!(":{}", percent_encode(p)))
            .unwrap_or_default();
        let host = if self.postgres_host.contains(':') && !self.postgres_host.starts_with('[') {
            format!("[{}]", self.postgres_host)
        } else {
            self.postgres_host.clone()
        };
        format!(
            "postgres://{}{password}@{host}:{}/{}",
            percent_encode(&self.postgres_user),
            self.postgres_port,
            percent_encode(&self.postgres_db)
        )
    }

    /// Every environment variable the server reads.
    pub fn environment_variables() -> Vec<String> {
        Config::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (a URL userinfo or path part).
fn percent_encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_url_percent_encodes_the_parts() {
        let c = Config::try_parse_from([
            "s",
            "--postgres-user",
            "fleet@ops",
            "--postgres-password",
            "p@ss:w/rd?#%é",
            "--postgres-host",
            "db.internal",
            "--postgres-port",
            "5433",
            "--postgres-db",
            "vehicle ops",
        ])
        .unwrap();
        let url = c.postgres_url();
        assert_eq!(
            url,
            "postgres://fleet%40ops:p%40ss%3Aw%2Frd%3F%23%25%C3%A9@db.internal:5433/vehicle%20ops"
        );
        // One `@` separates the credentials from the host; one `:` the user from the password.
        let (userinfo, rest) = url["postgres://".len()..].split_once('@').unwrap();
        assert!(!rest.contains('@'), "{url}");
        assert_eq!(userinfo.matches(':').count(), 1, "{url}");
        assert!(rest.starts_with("db.internal:5433/"), "{url}");
        // A full URL is used as given.
        let c = Config::try_parse_from(["s", "--database-url", "postgres://a:b@h/d"]).unwrap();
        assert_eq!(c.postgres_url(), "postgres://a:b@h/d");
    }

    #[test]
    fn defaults_are_the_demo_on_port_8000() {
        let c = Config::try_parse_from(["vehicleops-server"]).unwrap();
        assert_eq!(c.app_env, AppEnv::Demo);
        assert_eq!(c.app_port, 8000);
        assert!(c.simulator_enabled());
        assert!(
            c.trusted_proxies.is_empty(),
            "no proxy is trusted by default"
        );
        c.validate().unwrap();
    }

    #[test]
    fn production_requires_a_long_secret() {
        let c = Config::try_parse_from(["s", "--app-env", "production"]).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("SECRET_KEY"));
        let c = Config::try_parse_from(["s", "--app-env", "production", "--secret-key", "short"])
            .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("32 bytes"));
        let c = Config::try_parse_from([
            "s",
            "--app-env",
            "production",
            "--secret-key",
            &"k".repeat(32),
        ])
        .unwrap();
        c.validate().unwrap();
        assert!(!c.simulator_enabled());
    }

    #[test]
    fn toml_file_fills_in_what_flags_leave_unset() {
        let dir = std::env::temp_dir().join(format!("vo-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            "app_port = 9100\nsimulator_vehicles = 3\nsimulator = false\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let c = Config::load_from(["s", "--config", f, "--simulator-vehicles", "7"]).unwrap();
        assert_eq!(c.app_port, 9100);
        assert_eq!(c.simulator_vehicles, 7, "the flag wins over the file");
        assert!(!c.simulator_enabled());
        std::fs::write(&file, "no_such_setting = 1\n").unwrap();
        let e = Config::load_from(["s", "--config", f]).unwrap_err();
        assert!(e.to_string().contains("no_such_setting"), "{e}");
    }

    #[test]
    fn vda5050_settings_parse_and_the_origin_needs_both_coordinates() {
        let c = Config::try_parse_from([
            "s",
            "--bus",
            "vda5050",
            "--vda5050-vehicles",
            "AGV-1,AGV-2",
            "--vda5050-origin-lat",
            "-4.6",
            "--vda5050-stop-mode",
            "cancel-order",
        ])
        .unwrap();
        assert_eq!(c.bus, BusKind::Vda5050);
        assert_eq!(c.vda5050_vehicles, ["AGV-1", "AGV-2"]);
        assert_eq!(c.vda5050_stop_mode, Vda5050StopMode::CancelOrder);
        assert_eq!(c.vda5050_origin_lat, Some(-4.6));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("VEHICLEOPS_VDA5050_ORIGIN_LON"), "{e}");
    }

    #[test]
    fn trusted_proxies_are_a_list_of_addresses() {
        let c = Config::try_parse_from(["s", "--trusted-proxies", "10.0.0.5,::1"]).unwrap();
        assert_eq!(
            c.trusted_proxies,
            [
                "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(Config::try_parse_from(["s", "--trusted-proxies", "proxy.local"]).is_err());
        assert_eq!(AppEnv::Development.as_str(), "development");
    }

    #[test]
    fn variables_keep_the_original_names() {
        let vars = Config::environment_variables();
        for v in [
            "APP_ENV",
            "APP_PORT",
            "SECRET_KEY",
            "ACCESS_TOKEN_EXPIRE_MINUTES",
            "KAFKA_BOOTSTRAP_SERVERS",
            "POSTGRES_HOST",
            "VEHICLEOPS_MQTT_HOST",
            "VEHICLEOPS_VDA5050_INTERFACE",
            "VEHICLEOPS_TRUSTED_PROXIES",
        ] {
            assert!(vars.iter().any(|x| x == v), "{v} missing");
        }
    }
}
