//! The embedded schema and its migration runner.
//!
//! Everything lives in the `vehicleops` schema with its own `vehicleops.schema_migrations` table,
//! so a host application's own migrations (sqlx's `_sqlx_migrations` or any other) never clash
//! with ours. sqlx's `Migrator` cannot be pointed at another table, and some TimescaleDB
//! statements (continuous aggregates) refuse to run inside a transaction, so this is a small
//! runner of its own: a session advisory lock serializes concurrent starters, each migration
//! applies at most once, and every statement is idempotent (`IF NOT EXISTS`) so a migration cut
//! short by a crash is simply re-run.

use sqlx::{Connection, PgConnection};
use tracing::{info, warn};
use vehicleops_core::{Error, Result};

use super::{TelemetryLayout, map_err};

/// Key of the session advisory lock held while migrating ("vehicleops" in ASCII, truncated).
const MIGRATION_LOCK_KEY: i64 = 0x7665_6869_636c_656f;

/// Every column of a stored reading, shared by `telemetry`, `telemetry_latest` and the staging
/// table so that `SELECT *` moves rows between them.
pub(crate) const TELEMETRY_COLUMNS_DDL: &str = "vehicle_id text NOT NULL, \
    fleet_id text NOT NULL, time timestamptz NOT NULL, seq bigint NOT NULL, \
    latitude double precision NOT NULL, longitude double precision NOT NULL, \
    speed_kmh double precision NOT NULL, battery_pct double precision NOT NULL, \
    engine_temp_c double precision NOT NULL, load_pct double precision NOT NULL, \
    heading_deg double precision NOT NULL, status text NOT NULL, \
    distance_m double precision NOT NULL, pose_x double precision, pose_y double precision, \
    pose_theta double precision, pose_map_id text";

/// One SQL statement of a migration. An optional one may fail (e.g. a TimescaleDB policy on a
/// build without background workers or an older version): the failure is logged and the
/// migration goes on without that feature.
struct Statement {
    sql: String,
    optional: bool,
}

fn required(sql: impl Into<String>) -> Statement {
    Statement {
        sql: sql.into(),
        optional: false,
    }
}

fn optional(sql: impl Into<String>) -> Statement {
    Statement {
        sql: sql.into(),
        optional: true,
    }
}

/// What a migration does on one layout.
struct Plan {
    /// Whether the statements run in one transaction (with the version record). Continuous
    /// aggregates cannot be created inside a transaction, so their migration is not.
    transactional: bool,
    statements: Vec<Statement>,
}

struct Migration {
    version: i32,
    name: &'static str,
    plan: fn(TelemetryLayout) -> Plan,
}

/// All migrations, oldest first. Never edit a released one: add a new version.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "relational entities and telemetry",
        plan: v1_entities_and_telemetry,
    },
    Migration {
        version: 2,
        name: "telemetry rollups",
        plan: v2_rollups,
    },
    Migration {
        version: 3,
        name: "indexes for reloading open state after a restart",
        plan: v3_restart_state,
    },
    Migration {
        version: 4,
        name: "command expiry and idempotency keys",
        plan: v4_command_expiry_and_idempotency,
    },
    Migration {
        version: 5,
        name: "indexes for exports and retention",
        plan: v5_exports_and_retention,
    },
    Migration {
        version: 6,
        name: "rollups kept apart from readings",
        plan: v6_rollup_retention_apart,
    },
    Migration {
        version: 7,
        name: "rollups for daily reports",
        plan: v7_daily_reports,
    },
    Migration {
        version: 8,
        name: "audit trail",
        plan: v8_audit_trail,
    },
    Migration {
        version: 9,
        name: "hourly rollup for daily reports",
        plan: v9_report_hours,
    },
];

/// The newest schema version this build knows.
pub const LATEST_VERSION: i32 = 9;

/// Daily reports over long ranges read hours: each vehicle-hour's figures with its minutes'
/// 60 s already shared between their statuses. On plain PostgreSQL a table ingest keeps exact
/// (filled here from the minutes already rolled up); on TimescaleDB a hierarchical continuous
/// aggregate over `telemetry_report_1m` (TimescaleDB ≥ 2.9, else reports read minutes).
fn v9_report_hours(layout: TelemetryLayout) -> Plan {
    let shares = "sum(60.0::float8 * moving_readings / readings) AS driving_s,
        sum(60.0::float8 * idle_readings / readings) AS idle_s,
        sum(60.0::float8 * stopped_readings / readings) AS stopped_s,
        sum(60.0::float8 * charging_readings / readings) AS charging_s,
        60.0::float8 * count(*) AS observed_s";
    match layout {
        TelemetryLayout::Partitioned => Plan {
            transactional: true,
            statements: vec![
                required(
                    "CREATE TABLE IF NOT EXISTS vehicleops.telemetry_report_1h (
                        vehicle_id text NOT NULL,
                        fleet_id text NOT NULL,
                        bucket timestamptz NOT NULL,
                        readings bigint NOT NULL,
                        distance_sum double precision NOT NULL,
                        speed_sum double precision NOT NULL,
                        speed_max double precision NOT NULL,
                        driving_s double precision NOT NULL,
                        idle_s double precision NOT NULL,
                        stopped_s double precision NOT NULL,
                        charging_s double precision NOT NULL,
                        observed_s double precision NOT NULL,
                        PRIMARY KEY (vehicle_id, bucket, fleet_id)
                    )",
                ),
                required(
                    "CREATE INDEX IF NOT EXISTS telemetry_report_1h_by_fleet
                        ON vehicleops.telemetry_report_1h (fleet_id, bucket)",
                ),
                required(format!(
                    "INSERT INTO vehicleops.telemetry_report_1h
                     SELECT vehicle_id, fleet_id,
                            date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ 'epoch'),
                            sum(readings), sum(distance_sum), sum(speed_sum), max(speed_max),
                            {shares}
                     FROM vehicleops.telemetry_1m GROUP BY 1, 2, 3
                     ON CONFLICT DO NOTHING"
                )),
            ],
        },
        TelemetryLayout::TimescaleDb => Plan {
            transactional: false,
            statements: vec![
                optional(format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS vehicleops.telemetry_report_1h
                     WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                     SELECT vehicle_id, fleet_id, time_bucket(INTERVAL '1 hour', bucket) AS bucket,
                            sum(readings) AS readings, sum(distance_sum) AS distance_sum,
                            sum(speed_sum) AS speed_sum, max(speed_max) AS speed_max,
                            {shares}
                     FROM vehicleops.telemetry_report_1m
                     GROUP BY vehicle_id, fleet_id, time_bucket(INTERVAL '1 hour', bucket)
                     WITH NO DATA"
                )),
                optional(
                    "SELECT add_continuous_aggregate_policy('vehicleops.telemetry_report_1h',
                        start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour',
                        schedule_interval => INTERVAL '30 minutes', if_not_exists => true)",
                ),
            ],
        },
    }
}

/// Who did what and when, listed newest first over a window (by time, or a fleet's by time);
/// retention deletes by time.
fn v8_audit_trail(_layout: TelemetryLayout) -> Plan {
    Plan {
        transactional: true,
        statements: vec![
            required(
                "CREATE TABLE IF NOT EXISTS vehicleops.audit_log (
                    id text PRIMARY KEY,
                    at timestamptz NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    fleet_id text,
                    vehicle_id text,
                    target_id text,
                    source text,
                    detail text NOT NULL
                )",
            ),
            required("CREATE INDEX IF NOT EXISTS audit_by_time ON vehicleops.audit_log (at, id)"),
            required(
                "CREATE INDEX IF NOT EXISTS audit_by_fleet ON vehicleops.audit_log
                    (fleet_id, at, id) WHERE fleet_id IS NOT NULL",
            ),
        ],
    }
}

/// The rollup daily reports read: minutes with readings per status besides distance and speed.
pub(crate) fn report_rollup(layout: TelemetryLayout) -> &'static str {
    match layout {
        TelemetryLayout::Partitioned => "vehicleops.telemetry_1m",
        TelemetryLayout::TimescaleDb => "vehicleops.telemetry_report_1m",
    }
}

fn v1_entities_and_telemetry(layout: TelemetryLayout) -> Plan {
    let mut s = vec![
        required(
            "CREATE TABLE IF NOT EXISTS vehicleops.fleets (
                id text PRIMARY KEY,
                name text NOT NULL)",
        ),
        required(
            "CREATE TABLE IF NOT EXISTS vehicleops.vehicles (
                id text PRIMARY KEY,
                fleet_id text NOT NULL REFERENCES vehicleops.fleets (id),
                name text,
                home_latitude double precision,
                home_longitude double precision,
                CHECK ((home_latitude IS NULL) = (home_longitude IS NULL)))",
        ),
        required(
            "CREATE INDEX IF NOT EXISTS vehicles_by_fleet ON vehicleops.vehicles (fleet_id, id)",
        ),
        required(
            "CREATE TABLE IF NOT EXISTS vehicleops.operators (
                id text PRIMARY KEY,
                email text NOT NULL,
                role text NOT NULL CHECK (role IN ('ADMIN', 'MANAGER', 'OPERATOR')),
                fleet_ids text[] NOT NULL DEFAULT '{}',
                -- argon2 PHC string; hashing happens in the application
                password_hash text NOT NULL)",
        ),
        required(
            "CREATE UNIQUE INDEX IF NOT EXISTS operators_by_email
                ON vehicleops.operators (lower(email))",
        ),
        required(
            "CREATE TABLE IF NOT EXISTS vehicleops.alerts (
                id text PRIMARY KEY,
                vehicle_id text NOT NULL,
                fleet_id text NOT NULL,
                alert_type text NOT NULL,
                severity text NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
                value double precision NOT NULL,
                threshold double precision NOT NULL,
                message text NOT NULL,
                key text,
                triggered_at timestamptz NOT NULL,
                cleared_at timestamptz,
                acknowledged boolean NOT NULL DEFAULT false,
                acknowledged_by text,
                acknowledged_at timestamptz,
                notes text)",
        ),
        required(
            "CREATE INDEX IF NOT EXISTS alerts_by_fleet
                ON vehicleops.alerts (fleet_id, triggered_at DESC, id DESC)",
        ),
        required(
            "CREATE INDEX IF NOT EXISTS alerts_by_vehicle
                ON vehicleops.alerts (vehicle_id, triggered_at DESC, id DESC)",
        ),
        required(
            "CREATE INDEX IF NOT EXISTS alerts_open_by_fleet
                ON vehicleops.alerts (fleet_id) WHERE NOT acknowledged",
        ),
        required(
            "CREATE TABLE IF NOT EXISTS vehicleops.commands (
                id text PRIMARY KEY,
                vehicle_id text NOT NULL,
                fleet_id text NOT NULL,
                command text NOT NULL
                    CHECK (command IN ('STOP', 'RESUME', 'REROUTE', 'RETURN_TO_BASE')),
                params jsonb NOT NULL DEFAULT '{}',
                status text NOT NULL CHECK (status IN
                    ('DISPATCHED', 'DELIVERED', 'EXECUTED', 'FAILED', 'TIMEOUT', 'EXPIRED')),
                issued_by text NOT NULL,
                issued_at timestamptz NOT NULL,
                delivered_at timestamptz,
                executed_at timestamptz,
                failure_reason text)",
        ),
        required(
            "CREATE INDEX IF NOT EXISTS commands_by_vehicle
                ON vehicleops.commands (vehicle_id, issued_at DESC, id DESC)",
        ),
        required(
            "CREATE TABLE IF NOT EXISTS vehicleops.missions (
                id text PRIMARY KEY,
                fleet_id text NOT NULL,
                vehicle_id text NOT NULL,
                mission_type text NOT NULL,
                priority text NOT NULL,
                waypoints jsonb NOT NULL,
                status text NOT NULL CHECK (status IN
                    ('ASSIGNED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')),
                completed_waypoints integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL,
                started_at timestamptz,
                completed_at timestamptz,
                estimated_completion timestamptz,
                failure_reason text)",
        ),
        // At most one active mission per vehicle, enforced by the database itself so that two
        // concurrent inserts cannot both succeed.
        required(
            "CREATE UNIQUE INDEX IF NOT EXISTS missions_one_active_per_vehicle
                ON vehicleops.missions (vehicle_id) WHERE status IN ('ASSIGNED', 'IN_PROGRESS')",
        ),
        required(
            "CREATE INDEX IF NOT EXISTS missions_active_by_fleet
                ON vehicleops.missions (fleet_id) WHERE status IN ('ASSIGNED', 'IN_PROGRESS')",
        ),
        // The newest reading per vehicle, kept at ingest: `latest` and `latest_for_fleet` never
        // scan the time series. Rewritten by every batch, so pages keep room for HOT updates.
        required(format!(
            "CREATE TABLE IF NOT EXISTS vehicleops.telemetry_latest ({TELEMETRY_COLUMNS_DDL},
                PRIMARY KEY (vehicle_id)) WITH (fillfactor = 50)"
        )),
        required(
            "CREATE INDEX IF NOT EXISTS telemetry_latest_by_fleet
                ON vehicleops.telemetry_latest (fleet_id, vehicle_id)",
        ),
    ];
    match layout {
        TelemetryLayout::Partitioned => {
            s.push(required(format!(
                "CREATE TABLE IF NOT EXISTS vehicleops.telemetry ({TELEMETRY_COLUMNS_DDL},
                    PRIMARY KEY (vehicle_id, time, seq)) PARTITION BY RANGE (time)"
            )));
            // The primary key serves per-vehicle windows; BRIN keeps whole-table time scans
            // (retention, fleet edges) cheap at almost no ingest cost.
            s.push(required(
                "CREATE INDEX IF NOT EXISTS telemetry_time_brin
                    ON vehicleops.telemetry USING brin (time)",
            ));
            s.push(required(
                "CREATE INDEX IF NOT EXISTS telemetry_by_fleet ON vehicleops.telemetry (fleet_id, time)",
            ));
            s.push(required(PARTITION_FUNCTION));
            s.push(required(retention_function(false)));
        }
        TelemetryLayout::TimescaleDb => {
            s.push(required(format!(
                "CREATE TABLE IF NOT EXISTS vehicleops.telemetry ({TELEMETRY_COLUMNS_DDL},
                    PRIMARY KEY (vehicle_id, time, seq))"
            )));
            s.push(required(
                "SELECT create_hypertable('vehicleops.telemetry', 'time',
                    chunk_time_interval => INTERVAL '1 day', if_not_exists => true)",
            ));
            s.push(required(
                "CREATE INDEX IF NOT EXISTS telemetry_by_fleet ON vehicleops.telemetry (fleet_id, time)",
            ));
            s.push(optional(
                "ALTER TABLE vehicleops.telemetry SET (timescaledb.compress,
                    timescaledb.compress_segmentby = 'vehicle_id',
                    timescaledb.compress_orderby = 'time DESC, seq DESC')",
            ));
            s.push(optional(
                "SELECT add_compression_policy('vehicleops.telemetry', INTERVAL '7 days',
                    if_not_exists => true)",
            ));
            s.push(optional(
                "SELECT add_retention_policy('vehicleops.telemetry', INTERVAL '90 days',
                    if_not_exists => true)",
            ));
        }
    }
    Plan {
        transactional: true,
        statements: s,
    }
}

/// What a restarted process reloads: open alert episodes by vehicle and commands still under
/// way (active missions already have `missions_one_active_per_vehicle`). Partial indexes hold
/// only the open rows, so reloading never reads the history.
fn v3_restart_state(_layout: TelemetryLayout) -> Plan {
    Plan {
        transactional: true,
        statements: vec![
            required(
                "CREATE INDEX IF NOT EXISTS alerts_open_by_vehicle
                    ON vehicleops.alerts (vehicle_id, triggered_at, id) WHERE cleared_at IS NULL",
            ),
            required(
                "CREATE INDEX IF NOT EXISTS commands_pending
                    ON vehicleops.commands (issued_at, id)
                    WHERE status IN ('DISPATCHED', 'DELIVERED')",
            ),
        ],
    }
}

/// Commands that cannot act late and are safe to retry: when a command expires (a vehicle that
/// receives it later refuses it), and the issuer's idempotency key. The partial unique index
/// finds the original of a retry and makes one of two concurrent inserts with one key fail.
fn v4_command_expiry_and_idempotency(_layout: TelemetryLayout) -> Plan {
    Plan {
        transactional: true,
        statements: vec![
            required(
                "ALTER TABLE vehicleops.commands ADD COLUMN IF NOT EXISTS expires_at timestamptz",
            ),
            required(
                "ALTER TABLE vehicleops.commands ADD COLUMN IF NOT EXISTS idempotency_key text",
            ),
            required(
                "CREATE UNIQUE INDEX IF NOT EXISTS commands_by_idempotency_key
                    ON vehicleops.commands (issued_by, idempotency_key)
                    WHERE idempotency_key IS NOT NULL",
            ),
        ],
    }
}

/// Exports read a fleet's alerts, commands and missions of a window in pages, oldest first by
/// (time, id) (`alerts_by_fleet` already serves alerts); retention deletes ended records older
/// than a cutoff, fleet-wide.
fn v5_exports_and_retention(_layout: TelemetryLayout) -> Plan {
    Plan {
        transactional: true,
        statements: vec![
            required(
                "CREATE INDEX IF NOT EXISTS commands_by_fleet
                    ON vehicleops.commands (fleet_id, issued_at, id)",
            ),
            required(
                "CREATE INDEX IF NOT EXISTS missions_by_fleet_created
                    ON vehicleops.missions (fleet_id, created_at, id)",
            ),
            required(
                "CREATE INDEX IF NOT EXISTS alerts_by_time ON vehicleops.alerts (triggered_at)",
            ),
            required(
                "CREATE INDEX IF NOT EXISTS commands_by_time ON vehicleops.commands (issued_at)",
            ),
            required(
                "CREATE INDEX IF NOT EXISTS missions_by_time ON vehicleops.missions (created_at)",
            ),
        ],
    }
}

/// Rollups have their own retention (usually longer than the readings'), so dropping a day of
/// readings no longer deletes its rollup rows (the v2 function did).
fn v6_rollup_retention_apart(layout: TelemetryLayout) -> Plan {
    Plan {
        transactional: true,
        statements: match layout {
            TelemetryLayout::Partitioned => vec![required(retention_function(false))],
            TelemetryLayout::TimescaleDb => Vec::new(),
        },
    }
}

/// Daily reports share each minute between the statuses of its readings, so the 1-minute rollup
/// counts readings per status: new columns of the table on plain PostgreSQL (filled from the
/// readings still held), and on TimescaleDB a new continuous aggregate beside `telemetry_1m` —
/// recreating that one would lose the minutes whose readings retention already dropped.
fn v7_daily_reports(layout: TelemetryLayout) -> Plan {
    let ended_index = required(
        "CREATE INDEX IF NOT EXISTS missions_by_fleet_ended
            ON vehicleops.missions (fleet_id, completed_at, id) WHERE completed_at IS NOT NULL",
    );
    match layout {
        TelemetryLayout::Partitioned => Plan {
            transactional: true,
            statements: vec![
                ended_index,
                required(
                    "ALTER TABLE vehicleops.telemetry_1m
                        ADD COLUMN IF NOT EXISTS moving_readings bigint NOT NULL DEFAULT 0,
                        ADD COLUMN IF NOT EXISTS idle_readings bigint NOT NULL DEFAULT 0,
                        ADD COLUMN IF NOT EXISTS stopped_readings bigint NOT NULL DEFAULT 0,
                        ADD COLUMN IF NOT EXISTS charging_readings bigint NOT NULL DEFAULT 0",
                ),
                required(format!(
                    "UPDATE vehicleops.telemetry_1m r
                     SET moving_readings = c.moving_readings, idle_readings = c.idle_readings,
                         stopped_readings = c.stopped_readings,
                         charging_readings = c.charging_readings
                     FROM (SELECT vehicle_id, fleet_id,
                                  date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ 'epoch') AS bucket,
                                  {STATUS_AGGREGATES}
                           FROM vehicleops.telemetry GROUP BY 1, 2, 3) c
                     WHERE (r.vehicle_id, r.bucket, r.fleet_id) = (c.vehicle_id, c.bucket, c.fleet_id)"
                )),
            ],
        },
        TelemetryLayout::TimescaleDb => Plan {
            transactional: false,
            statements: vec![
                ended_index,
                required(format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS vehicleops.telemetry_report_1m
                     WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                     SELECT vehicle_id, fleet_id, time_bucket(INTERVAL '1 minute', time) AS bucket,
                            count(*) AS readings, sum(distance_m) AS distance_sum,
                            sum(speed_kmh) AS speed_sum, max(speed_kmh) AS speed_max,
                            {STATUS_AGGREGATES}
                     FROM vehicleops.telemetry
                     GROUP BY vehicle_id, fleet_id, time_bucket(INTERVAL '1 minute', time)
                     WITH NO DATA"
                )),
                optional(
                    "SELECT add_continuous_aggregate_policy('vehicleops.telemetry_report_1m',
                        start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
                        schedule_interval => INTERVAL '1 minute', if_not_exists => true)",
                ),
            ],
        },
    }
}

/// Creates the daily partition holding `day` (UTC) if it is missing. Concurrent callers
/// serialize on a transaction advisory lock, so `CREATE` never races.
const PARTITION_FUNCTION: &str = "
CREATE OR REPLACE FUNCTION vehicleops.ensure_telemetry_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'telemetry_p' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass('vehicleops.' || part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('vehicleops.telemetry partitions'));
    IF to_regclass('vehicleops.' || part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE vehicleops.%I PARTITION OF vehicleops.telemetry FOR VALUES FROM (%L) TO (%L)',
        part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    RETURN true;
END $$";

/// Drops the daily partitions that end at or before the UTC day of `older_than` (and, when
/// `with_rollup` — schema versions 2 to 5 — the rollup's rows before that day). Returns how many
/// partitions were dropped.
fn retention_function(with_rollup: bool) -> String {
    let rollup = if with_rollup {
        "DELETE FROM vehicleops.telemetry_1m WHERE bucket < cutoff;"
    } else {
        ""
    };
    format!(
        "
CREATE OR REPLACE FUNCTION vehicleops.drop_telemetry_partitions(older_than timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz := date_trunc('day', older_than AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'vehicleops.telemetry'::regclass
          AND c.relname ~ '^telemetry_p[0-9]{{8}}$'
    LOOP
        IF (to_date(substr(part.relname, 12), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
            <= cutoff THEN
            EXECUTE format('DROP TABLE vehicleops.%I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    {rollup}
    RETURN dropped;
END $$"
    )
}

/// The aggregate columns of a rollup row, over the raw `telemetry` columns.
pub(crate) const ROLLUP_AGGREGATES: &str = "count(*) AS readings,
    sum(speed_kmh) AS speed_sum, min(speed_kmh) AS speed_min, max(speed_kmh) AS speed_max,
    sum(battery_pct) AS battery_sum, min(battery_pct) AS battery_min, max(battery_pct) AS battery_max,
    sum(engine_temp_c) AS temp_sum, min(engine_temp_c) AS temp_min, max(engine_temp_c) AS temp_max,
    sum(load_pct) AS load_sum, min(load_pct) AS load_min, max(load_pct) AS load_max,
    sum(distance_m) AS distance_sum,
    sum(CASE WHEN status = 'ALERT' THEN 1 ELSE 0 END) AS alert_readings";

/// Readings per status the report needs (ALERT is `alert_readings`), from schema version 7.
pub(crate) const STATUS_AGGREGATES: &str =
    "sum(CASE WHEN status = 'MOVING' THEN 1 ELSE 0 END) AS moving_readings,
    sum(CASE WHEN status = 'IDLE' THEN 1 ELSE 0 END) AS idle_readings,
    sum(CASE WHEN status = 'STOPPED' THEN 1 ELSE 0 END) AS stopped_readings,
    sum(CASE WHEN status = 'CHARGING' THEN 1 ELSE 0 END) AS charging_readings";

/// The same aggregates over rows of a finer rollup (hierarchical rollups).
pub(crate) const ROLLUP_OF_ROLLUP: &str = "sum(readings) AS readings,
    sum(speed_sum) AS speed_sum, min(speed_min) AS speed_min, max(speed_max) AS speed_max,
    sum(battery_sum) AS battery_sum, min(battery_min) AS battery_min, max(battery_max) AS battery_max,
    sum(temp_sum) AS temp_sum, min(temp_min) AS temp_min, max(temp_max) AS temp_max,
    sum(load_sum) AS load_sum, min(load_min) AS load_min, max(load_max) AS load_max,
    sum(distance_sum) AS distance_sum, sum(alert_readings) AS alert_readings";

fn v2_rollups(layout: TelemetryLayout) -> Plan {
    match layout {
        TelemetryLayout::Partitioned => Plan {
            transactional: true,
            statements: vec![
                required(
                    "CREATE TABLE IF NOT EXISTS vehicleops.telemetry_1m (
                        vehicle_id text NOT NULL,
                        fleet_id text NOT NULL,
                        bucket timestamptz NOT NULL,
                        readings bigint NOT NULL,
                        speed_sum double precision NOT NULL,
                        speed_min double precision NOT NULL,
                        speed_max double precision NOT NULL,
                        battery_sum double precision NOT NULL,
                        battery_min double precision NOT NULL,
                        battery_max double precision NOT NULL,
                        temp_sum double precision NOT NULL,
                        temp_min double precision NOT NULL,
                        temp_max double precision NOT NULL,
                        load_sum double precision NOT NULL,
                        load_min double precision NOT NULL,
                        load_max double precision NOT NULL,
                        distance_sum double precision NOT NULL,
                        alert_readings bigint NOT NULL,
                        PRIMARY KEY (vehicle_id, bucket, fleet_id)) WITH (fillfactor = 70)",
                ),
                required(
                    "CREATE INDEX IF NOT EXISTS telemetry_1m_by_fleet
                        ON vehicleops.telemetry_1m (fleet_id, bucket)",
                ),
                // Backfill what an upgraded database already holds.
                required(format!(
                    "INSERT INTO vehicleops.telemetry_1m
                     SELECT vehicle_id, fleet_id,
                            date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ 'epoch') AS bucket,
                            {ROLLUP_AGGREGATES}
                     FROM vehicleops.telemetry GROUP BY 1, 2, 3
                     ON CONFLICT DO NOTHING"
                )),
                required(retention_function(true)),
            ],
        },
        TelemetryLayout::TimescaleDb => Plan {
            transactional: false,
            statements: vec![
                // Real-time aggregates (materialized_only = false): rows not yet materialized
                // are aggregated on the fly, so answers are exact even before a refresh.
                required(format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS vehicleops.telemetry_1m
                     WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                     SELECT vehicle_id, fleet_id, time_bucket(INTERVAL '1 minute', time) AS bucket,
                            {ROLLUP_AGGREGATES}
                     FROM vehicleops.telemetry
                     GROUP BY vehicle_id, fleet_id, time_bucket(INTERVAL '1 minute', time)
                     WITH NO DATA"
                )),
                optional(
                    "SELECT add_continuous_aggregate_policy('vehicleops.telemetry_1m',
                        start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
                        schedule_interval => INTERVAL '1 minute', if_not_exists => true)",
                ),
                // Hierarchical (an aggregate over the 1-minute one) needs TimescaleDB ≥ 2.9.
                optional(format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS vehicleops.telemetry_1h
                     WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
                     SELECT vehicle_id, fleet_id, time_bucket(INTERVAL '1 hour', bucket) AS bucket,
                            {ROLLUP_OF_ROLLUP}
                     FROM vehicleops.telemetry_1m
                     GROUP BY vehicle_id, fleet_id, time_bucket(INTERVAL '1 hour', bucket)
                     WITH NO DATA"
                )),
                optional(
                    "SELECT add_continuous_aggregate_policy('vehicleops.telemetry_1h',
                        start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour',
                        schedule_interval => INTERVAL '30 minutes', if_not_exists => true)",
                ),
                optional(
                    "SELECT add_retention_policy('vehicleops.telemetry_1m', INTERVAL '90 days',
                        if_not_exists => true)",
                ),
                optional(
                    "SELECT add_retention_policy('vehicleops.telemetry_1h', INTERVAL '90 days',
                        if_not_exists => true)",
                ),
            ],
        },
    }
}

/// Creates the schema and bookkeeping tables, settles the telemetry layout (kept from an
/// earlier run, else detected) and applies pending migrations up to `target` (all when `None`).
/// Returns the layout and the schema version now in place.
pub(crate) async fn migrate(
    conn: &mut PgConnection,
    prefer_timescaledb: bool,
    target: Option<i32>,
) -> Result<(TelemetryLayout, i32)> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    let outcome = migrate_locked(conn, prefer_timescaledb, target).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await
        .map_err(map_err);
    let outcome = outcome?;
    unlocked?;
    Ok(outcome)
}

async fn migrate_locked(
    conn: &mut PgConnection,
    prefer_timescaledb: bool,
    target: Option<i32>,
) -> Result<(TelemetryLayout, i32)> {
    sqlx::Executor::execute(
        &mut *conn,
        "CREATE SCHEMA IF NOT EXISTS vehicleops;
         CREATE TABLE IF NOT EXISTS vehicleops.schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS vehicleops.settings (
             key text PRIMARY KEY,
             value text NOT NULL);",
    )
    .await
    .map_err(|e| with_hint(map_err(e), "creating the `vehicleops` schema"))?;

    let layout = settle_layout(conn, prefer_timescaledb).await?;
    let applied: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM vehicleops.schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    if let Some(&newest) = applied.last()
        && newest > LATEST_VERSION
    {
        warn!(
            schema_version = newest,
            known = LATEST_VERSION,
            "the database schema is newer than this build of vehicleops-store"
        );
    }
    let target = target.unwrap_or(LATEST_VERSION);
    for migration in MIGRATIONS {
        if migration.version > target || applied.contains(&migration.version) {
            continue;
        }
        apply(conn, migration, layout).await?;
        info!(
            version = migration.version,
            name = migration.name,
            "applied vehicleops migration"
        );
    }
    let version: Option<i32> =
        sqlx::query_scalar("SELECT max(version) FROM vehicleops.schema_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
    Ok((layout, version.unwrap_or(0)))
}

/// The layout recorded by an earlier run, or the one detected now (and recorded).
async fn settle_layout(
    conn: &mut PgConnection,
    prefer_timescaledb: bool,
) -> Result<TelemetryLayout> {
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT value FROM vehicleops.settings WHERE key = 'telemetry_layout'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
    if let Some(recorded) = recorded {
        let layout = TelemetryLayout::from_setting(&recorded)?;
        if layout == TelemetryLayout::TimescaleDb && !timescaledb_installed(conn).await? {
            return Err(Error::Config(
                "this database was set up with TimescaleDB, but the `timescaledb` extension is \
                 not installed in it: install TimescaleDB on the server (shared_preload_libraries) \
                 and run `CREATE EXTENSION timescaledb`"
                    .into(),
            ));
        }
        return Ok(layout);
    }
    let layout = if prefer_timescaledb && enable_timescaledb(conn).await? {
        TelemetryLayout::TimescaleDb
    } else {
        TelemetryLayout::Partitioned
    };
    sqlx::query("INSERT INTO vehicleops.settings (key, value) VALUES ('telemetry_layout', $1)")
        .bind(layout.setting())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(layout)
}

async fn timescaledb_installed(conn: &mut PgConnection) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)
}

/// Whether TimescaleDB is usable: installed already, or available and created now.
async fn enable_timescaledb(conn: &mut PgConnection) -> Result<bool> {
    if timescaledb_installed(conn).await? {
        return Ok(true);
    }
    let available: Option<String> = sqlx::query_scalar(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    let Some(version) = available else {
        info!("TimescaleDB is not available on this server; using native partitioning");
        return Ok(false);
    };
    match sqlx::Executor::execute(&mut *conn, "CREATE EXTENSION IF NOT EXISTS timescaledb").await {
        Ok(_) => Ok(true),
        Err(e) => {
            warn!(
                %version, error = %e,
                "TimescaleDB is available but could not be enabled (it must be in \
                 shared_preload_libraries and the role needs CREATE on the database); \
                 using native partitioning"
            );
            Ok(false)
        }
    }
}

async fn apply(
    conn: &mut PgConnection,
    migration: &Migration,
    layout: TelemetryLayout,
) -> Result<()> {
    let plan = (migration.plan)(layout);
    let context = format!(
        "applying migration {} ({})",
        migration.version, migration.name
    );
    if plan.transactional {
        let mut tx = conn.begin().await.map_err(map_err)?;
        for statement in &plan.statements {
            if statement.optional {
                sqlx::Executor::execute(&mut *tx, "SAVEPOINT vehicleops_optional")
                    .await
                    .map_err(map_err)?;
            }
            match sqlx::Executor::execute(&mut *tx, statement.sql.as_str()).await {
                Ok(_) => {}
                Err(e) if statement.optional => {
                    skipped(&statement.sql, &e);
                    sqlx::Executor::execute(&mut *tx, "ROLLBACK TO SAVEPOINT vehicleops_optional")
                        .await
                        .map_err(map_err)?;
                }
                Err(e) => return Err(with_hint(map_err(e), &context)),
            }
        }
        record(&mut tx, migration).await?;
        tx.commit().await.map_err(map_err)
    } else {
        for statement in &plan.statements {
            match sqlx::Executor::execute(&mut *conn, statement.sql.as_str()).await {
                Ok(_) => {}
                Err(e) if statement.optional => skipped(&statement.sql, &e),
                Err(e) => return Err(with_hint(map_err(e), &context)),
            }
        }
        record(conn, migration).await
    }
}

fn skipped(sql: &str, error: &sqlx::Error) {
    let first_line = sql.trim().lines().next().unwrap_or_default();
    warn!(statement = first_line, %error, "optional schema feature not available; continuing without it");
}

async fn record(conn: &mut PgConnection, migration: &Migration) -> Result<()> {
    sqlx::query(
        "INSERT INTO vehicleops.schema_migrations (version, name) VALUES ($1, $2)
         ON CONFLICT (version) DO NOTHING",
    )
    .bind(migration.version)
    .bind(migration.name)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Prefixes a backend error's message with what we were doing.
fn with_hint(err: Error, context: &str) -> Error {
    match err {
        Error::Backend {
            backend,
            message,
            source,
        } => Error::Backend {
            backend,
            message: format!("{context}: {message}"),
            source,
        },
        other => other,
    }
}
