//! The embedded schema and its migrations, tracked in SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};
use vehicleops_core::{Error, Result};

use super::{BACKEND, backend_error};

/// Migration `i` (0-based) brings a database from version `i` to version `i + 1`. Append only:
/// an applied migration must never change.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/0001_init.sql"),
    include_str!("schema/0002_restart_state.sql"),
    include_str!("schema/0003_command_expiry_and_idempotency.sql"),
    include_str!("schema/0004_history_exports_and_retention.sql"),
    include_str!("schema/0005_daily_reports.sql"),
    include_str!("schema/0006_audit_trail.sql"),
    include_str!("schema/0007_report_hours.sql"),
];

/// Applies the migrations this database lacks, all in one transaction, so a crash mid-way leaves
/// the old version intact. Opening an up-to-date database changes nothing.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    // IMMEDIATE: two processes opening a new file at once must not both run the migrations.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend_error)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend_error)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::backend_msg(
            BACKEND,
            format!(
                "database schema version {current} is newer than this build supports ({known})"
            ),
        ));
    }
    for sql in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql).map_err(backend_error)?;
    }
    // PRAGMA takes no bound parameters; `known` is a constant of this build.
    tx.execute_batch(&format!("PRAGMA user_version = {known}"))
        .map_err(backend_error)?;
    tx.commit().map_err(backend_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_count(conn: &Connection) -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |row| row.get(0),
        )
        .unwrap()
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let tables = table_count(&conn);
        migrate(&mut conn).unwrap();
        assert_eq!(table_count(&conn), tables);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// A database of version 4 gets status counts for the rollups of the readings it holds.
    #[test]
    fn version_5_counts_statuses_of_existing_rollups() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 4").unwrap();
        for (ts, status) in [
            (60_000_000, "MOVING"),
            (60_000_001, "MOVING"),
            (61_000_000, "IDLE"),
        ] {
            conn.execute(
                "INSERT INTO telemetry (vehicle_id, ts, seq, fleet_id, latitude, longitude, \
                 speed_kmh, battery_pct, engine_temp_c, load_pct, status, heading_deg, distance_m) \
                 VALUES ('VH-1', ?1, 0, 'F', 0, 0, 0, 0, 0, 0, ?2, 0, 0)",
                rusqlite::params![ts, status],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO telemetry_minutes VALUES ('VH-1', 60000000, 3, 0, 0, 0, 0, 0, 0, 0, 0, \
             0, 0, 0, 0, 0, 0)",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let counts: (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT moving_readings, idle_readings, stopped_readings, charging_readings \
                 FROM telemetry_minutes",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .unwrap();
        assert_eq!(counts, (2, 1, 0, 0));
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
