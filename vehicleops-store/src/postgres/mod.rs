//! The PostgreSQL / TimescaleDB store.
//!
//! [`PostgresStore`] implements [`TimeSeriesStore`](vehicleops_core::TimeSeriesStore) and
//! [`FleetRepository`](vehicleops_core::FleetRepository) over a sqlx connection pool. On connect
//! it applies its embedded migrations (schema `vehicleops`, migrations table
//! `vehicleops.schema_migrations`) and picks a telemetry layout:
//!
//! - **TimescaleDB** when the extension is available: a hypertable with 1-day chunks, a
//!   compression policy, 90-day retention, continuous aggregates for 1-minute and 1-hour rollups
//!   (real-time, so always exact) and `time_bucket` for series.
//! - **Plain PostgreSQL** otherwise: daily range partitions created as ingest needs them, BRIN
//!   on time plus the `(vehicle_id, time, seq)` primary key, `date_bin`, a 1-minute rollup table
//!   kept current by the ingest statement, and retention by dropping partitions
//!   ([`RetentionStore`](vehicleops_core::RetentionStore)).
//!
//! The choice is logged and reported by `status()`. Ingest streams each batch with binary `COPY`
//! into a per-connection temporary staging table, then moves it with one
//! `INSERT … ON CONFLICT DO NOTHING` on the natural key, so a replayed batch never duplicates a
//! row, and updates the latest-reading table and the rollup in the same transaction.

pub mod copy;
mod ingest;
mod migrations;
mod queries;
mod repository;
mod retention;
mod timeseries;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use chrono::NaiveDate;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use tracing::info;
use vehicleops_core::{Error, Result, StoreStatus};

pub use migrations::LATEST_VERSION as LATEST_SCHEMA_VERSION;

const BACKEND: &str = "postgresql";

/// The per-connection staging table that `COPY` fills; every commit empties it.
static STAGING_DDL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS vehicleops_staging ({}) ON COMMIT DELETE ROWS",
        migrations::TELEMETRY_COLUMNS_DDL
    )
});

/// How the telemetry time series is laid out in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryLayout {
    /// A TimescaleDB hypertable with continuous aggregates.
    TimescaleDb,
    /// Native range partitioning by day with a rollup table kept at ingest.
    Partitioned,
}

impl TelemetryLayout {
    fn setting(self) -> &'static str {
        match self {
            TelemetryLayout::TimescaleDb => "timescaledb",
            TelemetryLayout::Partitioned => "partitioned",
        }
    }

    fn from_setting(value: &str) -> Result<Self> {
        match value {
            "timescaledb" => Ok(TelemetryLayout::TimescaleDb),
            "partitioned" => Ok(TelemetryLayout::Partitioned),
            other => Err(Error::Config(format!(
                "unknown telemetry layout {other:?} recorded in vehicleops.settings"
            ))),
        }
    }
}

/// How batches reach the staging table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IngestMethod {
    /// Binary `COPY FROM STDIN`: the fastest way in.
    BinaryCopy,
    /// One `INSERT … SELECT FROM unnest(arrays)`, for servers whose wire protocol lacks
    /// `COPY FROM STDIN` (PGlite: a COPY there kills the server).
    Unnest,
}

/// How to reach the database and how to use it.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (sqlx / libpq URL syntax).
    pub url: String,
    /// Pool size. Use 1 for servers that take one connection at a time (PGlite).
    pub max_connections: u32,
    /// How long an operation waits for a connection before failing with a backend error; keep
    /// it short so a pipeline notices an outage and backs off instead of hanging.
    pub acquire_timeout: StdDuration,
    /// Use TimescaleDB when the server offers it (default `true`).
    pub prefer_timescaledb: bool,
    /// Apply migrations only up to this schema version (`None`: all). For staged upgrades.
    pub schema_version: Option<i32>,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: StdDuration::from_secs(5),
            prefer_timescaledb: true,
            schema_version: None,
        }
    }
}

/// The PostgreSQL / TimescaleDB store. Cheap to share behind an `Arc`.
pub struct PostgresStore {
    pool: PgPool,
    layout: TelemetryLayout,
    schema_version: i32,
    /// `host:port/database`, for error messages (never the password).
    endpoint: String,
    /// The days of the TimescaleDB retention policies last set (raw, rollups), `None` for not
    /// yet set by this process.
    #[allow(clippy::type_complexity)]
    retention_policies: Mutex<Option<(Option<i64>, Option<i64>)>>,
    /// Which rollups exist, finest first: `(relation, width)`.
    rollups: Vec<(&'static str, chrono::Duration)>,
    /// Days whose partition is known to exist (plain layout), to skip the check at ingest.
    partitions: Mutex<HashSet<NaiveDate>>,
    /// The ingest statement for this layout and schema version.
    ingest_sql: String,
    ingest: IngestMethod,
    /// Whether the 1-minute rollup is a table the ingest keeps (plain PostgreSQL, schema ≥ 2).
    /// The rollup tables ingest keeps current (plain PostgreSQL).
    upkeep: queries::RollupUpkeep,
    /// Whether daily reports can be read (schema version 7 on).
    rollup_statuses: bool,
    /// Whether `telemetry_report_1h` exists (a table kept at ingest from version 9 on plain
    /// PostgreSQL; a hierarchical continuous aggregate on TimescaleDB ≥ 2.9).
    report_hours: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("endpoint", &self.endpoint)
            .field("layout", &self.layout)
            .field("schema_version", &self.schema_version)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with default settings and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PostgresConfig::new(url)).await
    }

    /// Connects, applies pending migrations and detects the telemetry layout.
    pub async fn connect_with(config: PostgresConfig) -> Result<Self> {
        // Boxed as `Send` here, where the compiler can prove it: left to callers, the sqlx
        // executor bounds inside trip rustc's higher-ranked `Send` inference and the future
        // could not be spawned.
        let connecting: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self>> + Send>> =
            Box::pin(Self::connect_inner(config));
        connecting.await
    }

    async fn connect_inner(config: PostgresConfig) -> Result<Self> {
        let options = PgConnectOptions::from_str(&config.url).map_err(|e| {
            Error::Config(format!(
                "invalid PostgreSQL connection string: {e}; expected \
                 postgres://user:password@host:port/database"
            ))
        })?;
        let endpoint = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // PGlite serves every client from one shared session, so statements a
                    // previous client prepared are still there under the names this new
                    // connection will pick; on PostgreSQL a new session has none to drop.
                    sqlx::Executor::execute(&mut *conn, "DEALLOCATE ALL").await?;
                    // Per-connection staging table for COPY; emptied by every commit.
                    sqlx::Executor::execute(&mut *conn, STAGING_DDL.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            // The pool retries until its timeout and then forgets why; one direct attempt
            // recovers the cause (refused, unknown host, bad login, no such database).
            Err(sqlx::Error::PoolTimedOut) => {
                return Err(match PgConnection::connect_with(&options).await {
                    Err(cause) => connect_error(cause, &endpoint),
                    Ok(_) => connect_error(sqlx::Error::PoolTimedOut, &endpoint),
                });
            }
            Err(e) => return Err(connect_error(e, &endpoint)),
        };

        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| connect_error(e, &endpoint))?;
        let (layout, schema_version) =
            migrations::migrate(&mut conn, config.prefer_timescaledb, config.schema_version)
                .await?;
        let mut rollups = Vec::new();
        for (relation, width) in [
            ("vehicleops.telemetry_1m", chrono::Duration::minutes(1)),
            ("vehicleops.telemetry_1h", chrono::Duration::hours(1)),
        ] {
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(relation)
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
            if exists {
                rollups.push((relation, width));
            }
        }
        // PGlite (PostgreSQL compiled with Emscripten) cannot take COPY FROM STDIN.
        let server: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        let ingest = if server.contains("emcc") || server.contains("Emscripten") {
            info!("PGlite server detected: ingest uses INSERT from arrays instead of COPY");
            IngestMethod::Unnest
        } else {
            IngestMethod::BinaryCopy
        };
        drop(conn);
        info!(
            %endpoint,
            layout = layout.setting(),
            schema_version,
            rollups = ?rollups.iter().map(|r| r.0).collect::<Vec<_>>(),
            "PostgreSQL store ready"
        );
        let has_1m_table = layout == TelemetryLayout::Partitioned
            && rollups.iter().any(|r| r.0 == "vehicleops.telemetry_1m");
        let report_hours: bool =
            sqlx::query_scalar("SELECT to_regclass('vehicleops.telemetry_report_1h') IS NOT NULL")
                .fetch_one(&pool)
                .await
                .map_err(map_err)?;
        let upkeep = queries::RollupUpkeep {
            minutes: has_1m_table,
            statuses: has_1m_table && schema_version >= 7,
            hours: has_1m_table && report_hours,
        };
        let store = PostgresStore {
            pool,
            layout,
            schema_version,
            endpoint,
            rollups,
            retention_policies: Mutex::new(None),
            partitions: Mutex::new(HashSet::new()),
            ingest_sql: queries::ingest_sql(upkeep),
            ingest,
            upkeep,
            rollup_statuses: schema_version >= 7,
            report_hours,
        };
        if layout == TelemetryLayout::Partitioned {
            // Create today's and tomorrow's partitions ahead of the first writes.
            let today = chrono::Utc::now().date_naive();
            store
                .ensure_partitions([today, today + chrono::Days::new(1)].into_iter())
                .await?;
        }
        Ok(store)
    }

    /// The connection pool, e.g. to share it with the host application.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn layout(&self) -> TelemetryLayout {
        self.layout
    }

    /// The schema version in place (see [`LATEST_SCHEMA_VERSION`]).
    pub fn schema_version(&self) -> i32 {
        self.schema_version
    }

    /// Materializes the continuous aggregates up to now (TimescaleDB). Their refresh policies
    /// do this where background workers run; queries are exact either way (real-time
    /// aggregates), this only makes them faster. A no-op on plain PostgreSQL, whose rollup is
    /// kept current at ingest.
    /// Every rollup relation kept in step with the readings (refreshed, retained): the
    /// analytics' rollups and, from schema version 7 on TimescaleDB, the daily reports' one.
    fn aggregate_relations(&self) -> impl Iterator<Item = &'static str> + '_ {
        let timescale = self.layout == TelemetryLayout::TimescaleDb;
        let report =
            (timescale && self.rollup_statuses).then_some("vehicleops.telemetry_report_1m");
        let hours = (timescale && self.report_hours).then_some("vehicleops.telemetry_report_1h");
        self.rollups
            .iter()
            .map(|(r, _)| *r)
            .chain(report)
            .chain(hours)
    }

    pub async fn refresh_rollups(&self) -> Result<()> {
        if self.layout != TelemetryLayout::TimescaleDb {
            return Ok(());
        }
        for relation in self.aggregate_relations() {
            let call = format!("CALL refresh_continuous_aggregate('{relation}', NULL, NULL)");
            sqlx::Executor::execute(&self.pool, call.as_str())
                .await
                .map_err(|e| self.db(e))?;
        }
        Ok(())
    }

    /// Creates the daily partitions of `days` that are not known to exist.
    async fn ensure_partitions(&self, days: impl Iterator<Item = NaiveDate>) -> Result<()> {
        let missing: Vec<NaiveDate> = {
            let known = self.partitions.lock().expect("partition cache");
            let mut missing: Vec<NaiveDate> = days.filter(|d| !known.contains(d)).collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        for day in missing {
            sqlx::query("SELECT vehicleops.ensure_telemetry_partition($1)")
                .bind(day)
                .execute(&self.pool)
                .await
                .map_err(|e| self.db(e))?;
            self.partitions.lock().expect("partition cache").insert(day);
        }
        Ok(())
    }

    /// Maps a sqlx error, naming the server for connection problems.
    fn db(&self, e: sqlx::Error) -> Error {
        map_err_at(e, Some(&self.endpoint))
    }

    async fn status_inner(&self) -> Result<StoreStatus> {
        let server: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        let mut features = vec![
            match self.ingest {
                IngestMethod::BinaryCopy => "binary_copy",
                IngestMethod::Unnest => "unnest_insert",
            }
            .to_string(),
            format!("schema_v{}", self.schema_version),
        ];
        match self.layout {
            TelemetryLayout::Partitioned => {
                features.extend(
                    ["range_partitioning", "date_bin", "brin", "latest_table"].map(String::from),
                );
                if !self.rollups.is_empty() {
                    features.push("rollup_1m".into());
                }
                Ok(StoreStatus {
                    backend: "postgresql".into(),
                    version: server,
                    features,
                })
            }
            TelemetryLayout::TimescaleDb => {
                let ts_version: String = sqlx::query_scalar(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.db(e))?;
                features.extend(["hypertable", "time_bucket", "latest_table"].map(String::from));
                let compressed: bool = sqlx::query_scalar(
                    "SELECT coalesce(bool_or(compression_enabled), false)
                     FROM timescaledb_information.hypertables
                     WHERE hypertable_schema = 'vehicleops' AND hypertable_name = 'telemetry'",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.db(e))?;
                if compressed {
                    features.push("compression".into());
                }
                for (relation, _) in &self.rollups {
                    features.push(format!(
                        "continuous_aggregate:{}",
                        relation.trim_start_matches("vehicleops.")
                    ));
                }
                let jobs: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT proc_name::text FROM timescaledb_information.jobs
                     WHERE hypertable_schema = 'vehicleops' ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.db(e))?;
                features.extend(jobs);
                Ok(StoreStatus {
                    backend: "timescaledb".into(),
                    version: format!("PostgreSQL {server}, TimescaleDB {ts_version}"),
                    features,
                })
            }
        }
    }
}

/// Maps a sqlx error to the core error, with advice a user can act on.
pub(crate) fn map_err(e: sqlx::Error) -> Error {
    map_err_at(e, None)
}

fn map_err_at(e: sqlx::Error, endpoint: Option<&str>) -> Error {
    let at = endpoint.map(|e| format!(" at {e}")).unwrap_or_default();
    let message = match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                "42501" => format!(
                    "permission denied: {}; grant the role in the connection string the needed \
                     privileges (CREATE on the database, USAGE and CREATE on schema vehicleops) \
                     or connect as the owner of schema vehicleops",
                    db.message()
                ),
                "28P01" | "28000" => {
                    return Error::Config(format!(
                        "PostgreSQL{at} rejected the login: {}; check the user and password in \
                         the connection string",
                        db.message()
                    ));
                }
                "3D000" => {
                    return Error::Config(format!(
                        "{}; create the database (createdb) or fix its name in the connection \
                         string",
                        db.message()
                    ));
                }
                c if c.starts_with("08") || c.starts_with("57P") => format!(
                    "the connection to PostgreSQL{at} was lost ({}): the server is shutting down \
                     or restarting; nothing of this operation was stored, retry it",
                    db.message()
                ),
                _ => format!("{} (SQLSTATE {code})", db.message()),
            }
        }
        sqlx::Error::Io(io) => format!(
            "cannot talk to PostgreSQL{at}: {io}; is the server running and reachable? Nothing of \
             this operation was stored, retry it"
        ),
        sqlx::Error::PoolTimedOut => format!(
            "no PostgreSQL connection{at} could be had in time: is the server running and \
             reachable? (it may also be overloaded); nothing of this operation was stored, retry \
             with backoff"
        ),
        sqlx::Error::PoolClosed => return Error::Closed("PostgreSQL store"),
        sqlx::Error::Configuration(c) => {
            return Error::Config(format!(
                "invalid PostgreSQL configuration: {c}; expected \
                 postgres://user:password@host:port/database"
            ));
        }
        other => other.to_string(),
    };
    Error::Backend {
        backend: BACKEND,
        message,
        source: Some(Box::new(e)),
    }
}

/// Errors while connecting: same mapping, always naming the server.
fn connect_error(e: sqlx::Error, endpoint: &str) -> Error {
    match map_err_at(e, Some(endpoint)) {
        Error::Backend {
            backend,
            message,
            source,
        } => Error::Backend {
            backend,
            message: format!("connecting to PostgreSQL at {endpoint}: {message}"),
            source,
        },
        other => other,
    }
}

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// The constraint a database error names, if any.
pub(crate) fn constraint(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.constraint().map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vehicleops_core::ErrorKind;

    #[test]
    fn an_unreachable_server_is_a_retryable_backend_error_naming_it() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = map_err_at(sqlx::Error::Io(refused), Some("db.local:5432/fleet"));
        assert_eq!(err.kind(), ErrorKind::Backend);
        let text = err.to_string();
        assert!(
            text.contains("db.local:5432/fleet") && text.contains("running"),
            "{text}"
        );
        assert!(text.contains("retry"), "{text}");

        let err = map_err_at(sqlx::Error::PoolTimedOut, Some("db.local:5432/fleet"));
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert!(err.to_string().contains("db.local:5432/fleet"));
    }

    #[test]
    fn configuration_problems_and_a_closed_pool_have_their_own_kinds() {
        let err = map_err(sqlx::Error::Configuration("bad port".into()));
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("postgres://user:password@host:port/database")
        );
        assert_eq!(map_err(sqlx::Error::PoolClosed).kind(), ErrorKind::Closed);
    }

    #[test]
    fn the_layout_setting_round_trips_and_rejects_unknown_values() {
        for layout in [TelemetryLayout::TimescaleDb, TelemetryLayout::Partitioned] {
            assert_eq!(
                TelemetryLayout::from_setting(layout.setting()).unwrap(),
                layout
            );
        }
        let err = TelemetryLayout::from_setting("cassandra").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn a_malformed_url_fails_before_any_connection() {
        let err = PostgresStore::connect("postgres://host:notaport/db")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("invalid PostgreSQL connection string"),
            "{err}"
        );
    }
}
