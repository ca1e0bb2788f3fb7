//! [`FleetRepository`] for [`SqliteStore`]: fleets, vehicles, operators, alerts, commands and
//! missions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::ToSql;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use vehicleops_core::{
    Alert, AlertFilter, AlertType, AuditAction, AuditEntry, AuditFilter, Command, Error, Fleet,
    FleetRepository, GeoPoint, Mission, MissionFilter, Operator, Page, RecordsQuery, Result,
    Vehicle,
};

use super::convert::{
    enum_name, from_json, from_micros, micros, opt_from_micros, parse_enum, to_json,
};
use super::{SqliteStore, backend_error};

/// `limit` as SQL: 0 means no limit (SQLite reads a negative LIMIT as none).
fn sql_limit(limit: u32) -> i64 {
    if limit == 0 { -1 } else { i64::from(limit) }
}

/// Whether `err` is a UNIQUE or PRIMARY KEY violation.
fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.code == ErrorCode::ConstraintViolation
                && (e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// Maps a failed insert: a key collision is a conflict with stored state, anything else a backend
/// failure.
fn insert_error(err: rusqlite::Error, what: impl FnOnce() -> String) -> Error {
    if is_unique_violation(&err) {
        Error::Conflict(what())
    } else {
        backend_error(err)
    }
}

// --- fleets, vehicles, operators --------------------------------------------------------------

fn fleet_from_row(row: &Row<'_>) -> rusqlite::Result<Fleet> {
    Ok(Fleet {
        id: row.get(0)?,
        name: row.get(1)?,
    })
}

fn vehicle_from_row(row: &Row<'_>) -> rusqlite::Result<Vehicle> {
    let home = match (row.get::<_, Option<f64>>(3)?, row.get::<_, Option<f64>>(4)?) {
        (Some(latitude), Some(longitude)) => Some(GeoPoint {
            latitude,
            longitude,
        }),
        _ => None,
    };
    Ok(Vehicle {
        id: row.get(0)?,
        fleet_id: row.get(1)?,
        name: row.get(2)?,
        home,
    })
}

const SELECT_VEHICLE: &str =
    "SELECT id, fleet_id, name, home_latitude, home_longitude FROM vehicles";

fn upsert_vehicle(conn: &mut Connection, vehicle: &Vehicle) -> Result<()> {
    let tx = conn.transaction().map_err(backend_error)?;
    let fleet_known: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM fleets WHERE id = ?)",
            [&vehicle.fleet_id],
            |row| row.get(0),
        )
        .map_err(backend_error)?;
    if !fleet_known {
        return Err(Error::not_found("fleet", &vehicle.fleet_id));
    }
    tx.execute(
        "INSERT INTO vehicles (id, fleet_id, name, home_latitude, home_longitude) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET fleet_id = ?2, name = ?3, \
         home_latitude = ?4, home_longitude = ?5",
        params![
            vehicle.id,
            vehicle.fleet_id,
            vehicle.name,
            vehicle.home.map(|h| h.latitude),
            vehicle.home.map(|h| h.longitude),
        ],
    )
    .map_err(backend_error)?;
    tx.commit().map_err(backend_error)
}

const SELECT_OPERATOR: &str = "SELECT id, email, role, fleet_ids, password_hash FROM operators";

fn operator_from_row(row: &Row<'_>) -> rusqlite::Result<Operator> {
    Ok(Operator {
        id: row.get(0)?,
        email: row.get(1)?,
        role: parse_enum(row.get(2)?)?,
        fleet_ids: from_json(&row.get::<_, String>(3)?)?,
        password_hash: row.get(4)?,
    })
}

fn upsert_operator(conn: &Connection, operator: &Operator) -> Result<()> {
    conn.execute(
        "INSERT INTO operators (id, email, role, fleet_ids, password_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET email = ?2, role = ?3, \
         fleet_ids = ?4, password_hash = ?5",
        params![
            operator.id,
            operator.email,
            enum_name(&operator.role)?,
            to_json(&operator.fleet_ids)?,
            operator.password_hash,
        ],
    )
    .map_err(|e| {
        insert_error(e, || {
            format!("e-mail {} belongs to another operator", operator.email)
        })
    })?;
    Ok(())
}

// --- alerts -----------------------------------------------------------------------------------

const SELECT_ALERT: &str = "SELECT id, vehicle_id, fleet_id, alert_type, severity, value, \
     threshold, message, alert_key, triggered_at, cleared_at, acknowledged, acknowledged_by, \
     acknowledged_at, notes FROM alerts";

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: row.get(0)?,
        vehicle_id: row.get(1)?,
        fleet_id: row.get(2)?,
        alert_type: AlertType::custom(row.get::<_, String>(3)?),
        severity: parse_enum(row.get(4)?)?,
        value: row.get(5)?,
        threshold: row.get(6)?,
        message: row.get(7)?,
        key: row.get(8)?,
        triggered_at: from_micros(row.get(9)?)?,
        cleared_at: opt_from_micros(row.get(10)?)?,
        acknowledged: row.get(11)?,
        acknowledged_by: row.get(12)?,
        acknowledged_at: opt_from_micros(row.get(13)?)?,
        notes: row.get(14)?,
    })
}

const SELECT_AUDIT: &str = "SELECT id, at, actor, action, fleet_id, vehicle_id, target_id, \
     source, detail FROM audit_log";

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        at: from_micros(row.get(1)?)?,
        actor: row.get(2)?,
        action: parse_enum(row.get(3)?)?,
        fleet_id: row.get(4)?,
        vehicle_id: row.get(5)?,
        target_id: row.get(6)?,
        source: row.get(7)?,
        detail: row.get(8)?,
    })
}

fn insert_audit(conn: &Connection, entry: &AuditEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (id, at, actor, action, fleet_id, vehicle_id, target_id, source, \
         detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.id,
            micros(entry.at),
            entry.actor,
            entry.action.as_str(),
            entry.fleet_id,
            entry.vehicle_id,
            entry.target_id,
            entry.source,
            entry.detail,
        ])
    })
    .map_err(backend_error)?;
    Ok(())
}

/// A page of the audit trail, newest first. The fleets come as a JSON array (`json_each`), so
/// one statement serves any number of them.
fn list_audit(conn: &Connection, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let fleets = filter
        .fleet_ids
        .as_ref()
        .map(|ids| serde_json::to_string(ids).expect("a list of strings is JSON"));
    let (before_at, before_id) = match &filter.before {
        Some((at, id)) => (Some(micros(*at)), id.as_str()),
        None => (None, ""),
    };
    query_all(
        conn,
        &format!(
            "{SELECT_AUDIT} WHERE at BETWEEN ?1 AND ?2 \
             AND (?3 IS NULL OR fleet_id IN (SELECT value FROM json_each(?3))) \
             AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR action = ?5) \
             AND (?6 IS NULL OR at < ?6 OR (at = ?6 AND id < ?7)) \
             ORDER BY at DESC, id DESC LIMIT ?8"
        ),
        params![
            micros(filter.range.from),
            micros(filter.range.to),
            fleets,
            filter.actor,
            filter.action.map(AuditAction::as_str),
            before_at,
            before_id,
            i64::from(filter.page_size()),
        ],
        audit_from_row,
    )
}

fn insert_alert(conn: &Connection, alert: &Alert) -> Result<()> {
    conn.execute(
        "INSERT INTO alerts (id, vehicle_id, fleet_id, alert_type, severity, value, threshold, \
         message, alert_key, triggered_at, cleared_at, acknowledged, acknowledged_by, \
         acknowledged_at, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            alert.id,
            alert.vehicle_id,
            alert.fleet_id,
            alert.alert_type.as_str(),
            enum_name(&alert.severity)?,
            alert.value,
            alert.threshold,
            alert.message,
            alert.key,
            micros(alert.triggered_at),
            alert.cleared_at.map(micros),
            alert.acknowledged,
            alert.acknowledged_by,
            alert.acknowledged_at.map(micros),
            alert.notes,
        ],
    )
    .map_err(|e| insert_error(e, || format!("alert `{}` already exists", alert.id)))?;
    Ok(())
}

fn list_alerts(conn: &Connection, filter: &AlertFilter) -> Result<Page<Alert>> {
    // Only the filters in use become conditions, so SQLite can pick the matching index.
    let severity = filter.severity.as_ref().map(enum_name).transpose()?;
    let (mut conditions, mut values) = scope_conditions(&filter.fleet_id, &filter.vehicle_id);
    if let Some(severity) = &severity {
        conditions.push("severity = ?");
        values.push(severity);
    }
    if let Some(acknowledged) = &filter.acknowledged {
        conditions.push("acknowledged = ?");
        values.push(acknowledged);
    }
    filtered_page(
        conn,
        SELECT_ALERT,
        "alerts",
        &conditions,
        &values,
        "triggered_at DESC, id DESC",
        filter.limit,
        alert_from_row,
    )
}

/// The fleet and vehicle conditions shared by the list filters, only for the ones in use.
fn scope_conditions<'a>(
    fleet_id: &'a Option<String>,
    vehicle_id: &'a Option<String>,
) -> (Vec<&'static str>, Vec<&'a dyn ToSql>) {
    let mut conditions = Vec::new();
    let mut values: Vec<&dyn ToSql> = Vec::new();
    if let Some(fleet_id) = fleet_id {
        conditions.push("fleet_id = ?");
        values.push(fleet_id);
    }
    if let Some(vehicle_id) = vehicle_id {
        conditions.push("vehicle_id = ?");
        values.push(vehicle_id);
    }
    (conditions, values)
}

/// One page of `select` (which reads `FROM table`) under the AND of `conditions` (each with one
/// `?`, bound from `values` in order), sorted by `order_by`, at most `limit` rows (0: all), with
/// the total that matched.
#[allow(clippy::too_many_arguments)]
fn filtered_page<T>(
    conn: &Connection,
    select: &str,
    table: &str,
    conditions: &[&str],
    values: &[&dyn ToSql],
    order_by: &str,
    limit: u32,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Page<T>> {
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM {table}{where_clause}"))
        .and_then(|mut stmt| stmt.query_row(values, |row| row.get(0)))
        .map_err(backend_error)?;
    let limit = sql_limit(limit);
    let mut page_values = values.to_vec();
    page_values.push(&limit);
    let data = conn
        .prepare_cached(&format!(
            "{select}{where_clause} ORDER BY {order_by} LIMIT ?"
        ))
        .and_then(|mut stmt| {
            stmt.query_map(page_values.as_slice(), map)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend_error)?;
    Ok(Page {
        data,
        total: total as u64,
    })
}

fn acknowledge_alert(
    conn: &Connection,
    alert_id: &str,
    by: &str,
    at: DateTime<Utc>,
    notes: Option<&str>,
) -> Result<Alert> {
    let returning = SELECT_ALERT
        .trim_start_matches("SELECT ")
        .trim_end_matches(" FROM alerts");
    conn.query_row(
        &format!(
            "UPDATE alerts SET acknowledged = 1, acknowledged_by = ?2, acknowledged_at = ?3, \
             notes = ?4 WHERE id = ?1 RETURNING {returning}"
        ),
        params![alert_id, by, micros(at), notes],
        alert_from_row,
    )
    .optional()
    .map_err(backend_error)?
    .ok_or_else(|| Error::not_found("alert", alert_id))
}

/// Open (not cleared) alerts of `vehicle_ids`, or of every vehicle when empty, oldest first.
/// Both forms read the partial index `alerts_open_by_vehicle`, which holds open alerts only.
fn open_alerts(conn: &Connection, vehicle_ids: &[String]) -> Result<Vec<Alert>> {
    if vehicle_ids.is_empty() {
        return query_all(
            conn,
            &format!("{SELECT_ALERT} WHERE cleared_at IS NULL ORDER BY triggered_at, id"),
            [],
            alert_from_row,
        );
    }
    // One statement whatever the number of vehicles: the ids travel as one JSON array.
    query_all(
        conn,
        &format!(
            "{SELECT_ALERT} WHERE cleared_at IS NULL \
             AND vehicle_id IN (SELECT value FROM json_each(?1)) ORDER BY triggered_at, id"
        ),
        [to_json(&vehicle_ids)?],
        alert_from_row,
    )
}

/// Alerts triggered by `at` and not cleared by then, through `alerts_by_fleet`.
fn alerts_open_at(conn: &Connection, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Alert>> {
    query_all(
        conn,
        &format!(
            "{SELECT_ALERT} WHERE fleet_id = ?1 AND triggered_at <= ?2 \
             AND (cleared_at IS NULL OR cleared_at > ?2) ORDER BY triggered_at, id"
        ),
        params![fleet_id, micros(at)],
        alert_from_row,
    )
}

// --- commands ---------------------------------------------------------------------------------

/// The statuses of commands still under way; the condition of the partial index
/// `commands_pending`, so queries must spell it the same way.
const PENDING_STATUSES: &str = "('DISPATCHED', 'DELIVERED')";

const SELECT_COMMAND: &str = "SELECT id, vehicle_id, fleet_id, command, params, status, \
     issued_by, issued_at, delivered_at, executed_at, failure_reason, expires_at, \
     idempotency_key FROM commands";

fn command_from_row(row: &Row<'_>) -> rusqlite::Result<Command> {
    Ok(Command {
        id: row.get(0)?,
        vehicle_id: row.get(1)?,
        fleet_id: row.get(2)?,
        command: parse_enum(row.get(3)?)?,
        params: from_json(&row.get::<_, String>(4)?)?,
        status: parse_enum(row.get(5)?)?,
        issued_by: row.get(6)?,
        issued_at: from_micros(row.get(7)?)?,
        delivered_at: opt_from_micros(row.get(8)?)?,
        executed_at: opt_from_micros(row.get(9)?)?,
        failure_reason: row.get(10)?,
        expires_at: opt_from_micros(row.get(11)?)?,
        idempotency_key: row.get(12)?,
    })
}

fn insert_command(conn: &Connection, command: &Command) -> Result<()> {
    conn.execute(
        "INSERT INTO commands (id, vehicle_id, fleet_id, command, params, status, issued_by, \
         issued_at, delivered_at, executed_at, failure_reason, expires_at, idempotency_key) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            command.id,
            command.vehicle_id,
            command.fleet_id,
            enum_name(&command.command)?,
            to_json(&command.params)?,
            enum_name(&command.status)?,
            command.issued_by,
            micros(command.issued_at),
            command.delivered_at.map(micros),
            command.executed_at.map(micros),
            command.failure_reason,
            command.expires_at.map(micros),
            command.idempotency_key,
        ],
    )
    .map_err(|e| {
        // The message names the columns of the index that was violated.
        let key_taken = e.to_string().contains("idempotency_key");
        insert_error(e, || {
            if key_taken {
                format!(
                    "`{}` already used idempotency key {:?} for another command",
                    command.issued_by,
                    command.idempotency_key.as_deref().unwrap_or_default()
                )
            } else {
                format!("command `{}` already exists", command.id)
            }
        })
    })?;
    Ok(())
}

fn update_command(conn: &Connection, command: &Command) -> Result<()> {
    let changed = conn
        .execute(
            "UPDATE commands SET status = ?2, delivered_at = ?3, executed_at = ?4, \
             failure_reason = ?5, expires_at = ?6 WHERE id = ?1",
            params![
                command.id,
                enum_name(&command.status)?,
                command.delivered_at.map(micros),
                command.executed_at.map(micros),
                command.failure_reason,
                command.expires_at.map(micros),
            ],
        )
        .map_err(backend_error)?;
    if changed == 0 {
        return Err(Error::not_found("command", &command.id));
    }
    Ok(())
}

fn list_commands(conn: &Connection, vehicle_id: &str, limit: u32) -> Result<Page<Command>> {
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM commands WHERE vehicle_id = ?")
        .and_then(|mut stmt| stmt.query_row([vehicle_id], |row| row.get(0)))
        .map_err(backend_error)?;
    let data = conn
        .prepare_cached(&format!(
            "{SELECT_COMMAND} WHERE vehicle_id = ? ORDER BY issued_at DESC, id DESC LIMIT ?"
        ))
        .and_then(|mut stmt| {
            stmt.query_map(params![vehicle_id, sql_limit(limit)], command_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend_error)?;
    Ok(Page {
        data,
        total: total as u64,
    })
}

// --- missions ---------------------------------------------------------------------------------

const SELECT_MISSION: &str = "SELECT id, fleet_id, vehicle_id, mission_type, priority, \
     waypoints, status, completed_waypoints, created_at, started_at, completed_at, \
     estimated_completion, failure_reason FROM missions";

const ACTIVE_STATUSES: &str = "('ASSIGNED', 'IN_PROGRESS')";

fn mission_from_row(row: &Row<'_>) -> rusqlite::Result<Mission> {
    Ok(Mission {
        id: row.get(0)?,
        fleet_id: row.get(1)?,
        vehicle_id: row.get(2)?,
        mission_type: parse_enum(row.get(3)?)?,
        priority: parse_enum(row.get(4)?)?,
        waypoints: from_json(&row.get::<_, String>(5)?)?,
        status: parse_enum(row.get(6)?)?,
        completed_waypoints: row.get(7)?,
        created_at: from_micros(row.get(8)?)?,
        started_at: opt_from_micros(row.get(9)?)?,
        completed_at: opt_from_micros(row.get(10)?)?,
        estimated_completion: opt_from_micros(row.get(11)?)?,
        failure_reason: row.get(12)?,
    })
}

/// Maps a mission write failure: the partial unique index on active missions reports a UNIQUE
/// violation, a reused mission id a PRIMARY KEY one.
fn mission_write_error(err: rusqlite::Error, mission: &Mission) -> Error {
    match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Error::Conflict(format!(
                "vehicle {} already has an active mission",
                mission.vehicle_id
            ))
        }
        _ => insert_error(err, || format!("mission `{}` already exists", mission.id)),
    }
}

fn insert_mission(conn: &Connection, mission: &Mission) -> Result<()> {
    // One statement: the partial unique index makes the "no other active mission" check and the
    // insert a single atomic step.
    conn.execute(
        "INSERT INTO missions (id, fleet_id, vehicle_id, mission_type, priority, waypoints, \
         status, completed_waypoints, created_at, started_at, completed_at, \
         estimated_completion, failure_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            mission.id,
            mission.fleet_id,
            mission.vehicle_id,
            enum_name(&mission.mission_type)?,
            enum_name(&mission.priority)?,
            to_json(&mission.waypoints)?,
            enum_name(&mission.status)?,
            mission.completed_waypoints,
            micros(mission.created_at),
            mission.started_at.map(micros),
            mission.completed_at.map(micros),
            mission.estimated_completion.map(micros),
            mission.failure_reason,
        ],
    )
    .map_err(|e| mission_write_error(e, mission))?;
    Ok(())
}

fn update_mission(conn: &Connection, mission: &Mission) -> Result<()> {
    let changed = conn
        .execute(
            "UPDATE missions SET fleet_id = ?2, vehicle_id = ?3, mission_type = ?4, \
             priority = ?5, waypoints = ?6, status = ?7, completed_waypoints = ?8, \
             created_at = ?9, started_at = ?10, completed_at = ?11, \
             estimated_completion = ?12, failure_reason = ?13 \
             WHERE id = ?1 AND status IN ('ASSIGNED', 'IN_PROGRESS')",
            params![
                mission.id,
                mission.fleet_id,
                mission.vehicle_id,
                enum_name(&mission.mission_type)?,
                enum_name(&mission.priority)?,
                to_json(&mission.waypoints)?,
                enum_name(&mission.status)?,
                mission.completed_waypoints,
                micros(mission.created_at),
                mission.started_at.map(micros),
                mission.completed_at.map(micros),
                mission.estimated_completion.map(micros),
                mission.failure_reason,
            ],
        )
        .map_err(|e| mission_write_error(e, mission))?;
    if changed == 0 {
        // Ended already (a terminal status never changes), or unknown.
        let stored: Option<String> = query_opt(
            conn,
            "SELECT status FROM missions WHERE id = ?1",
            params![mission.id],
            |row| row.get(0),
        )?;
        return Err(match stored {
            Some(from) => Error::InvalidTransition {
                entity: "mission",
                from,
                to: mission.status.as_str().to_owned(),
            },
            None => Error::not_found("mission", &mission.id),
        });
    }
    Ok(())
}

fn list_missions(conn: &Connection, filter: &MissionFilter) -> Result<Page<Mission>> {
    let status = filter.status.map(|s| s.as_str());
    let (mut conditions, mut values) = scope_conditions(&filter.fleet_id, &filter.vehicle_id);
    if let Some(status) = &status {
        conditions.push("status = ?");
        values.push(status);
    }
    filtered_page(
        conn,
        SELECT_MISSION,
        "missions",
        &conditions,
        &values,
        "created_at DESC, id DESC",
        filter.limit,
        mission_from_row,
    )
}

// --- ranges for exports -----------------------------------------------------------------------

/// One [`RecordsQuery`] page of `table`, whose time column is `time_column`: keyset on
/// `(time, id)`, through the `(fleet_id, time, id)` indexes.
fn records_between<T>(
    conn: &Connection,
    select: &str,
    time_column: &str,
    query: &RecordsQuery,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let (after_time, after_id) = match &query.after {
        Some((time, id)) => (micros(*time), id.as_str()),
        // Before the window: every record of it comes after.
        None => (i64::MIN, ""),
    };
    query_all(
        conn,
        &format!(
            "{select} WHERE fleet_id = ?1 AND {time_column} >= ?2 AND {time_column} <= ?3 \
             AND ({time_column} > ?4 OR ({time_column} = ?4 AND id > ?5)) \
             ORDER BY {time_column}, id LIMIT ?6"
        ),
        params![
            query.fleet_id,
            micros(query.range.from),
            micros(query.range.to),
            after_time,
            after_id,
            i64::from(query.page_size()),
        ],
        map,
    )
}

// --- helpers ----------------------------------------------------------------------------------

/// At most one row of `sql` with `params`, mapped by `map`.
fn query_opt<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, map).optional())
        .map_err(backend_error)
}

fn query_all<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map(params, map)?.collect())
        .map_err(backend_error)
}

fn count(conn: &Connection, sql: &str, param: &str) -> Result<u64> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row([param], |row| row.get::<_, i64>(0)))
        .map(|n| n as u64)
        .map_err(backend_error)
}

#[async_trait]
impl FleetRepository for SqliteStore {
    async fn upsert_fleet(&self, fleet: &Fleet) -> Result<()> {
        let fleet = fleet.clone();
        self.with_writer(move |conn| {
            conn.execute(
                "INSERT INTO fleets (id, name) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET name = ?2",
                params![fleet.id, fleet.name],
            )
            .map(drop)
            .map_err(backend_error)
        })
        .await
    }

    async fn get_fleet(&self, fleet_id: &str) -> Result<Option<Fleet>> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                "SELECT id, name FROM fleets WHERE id = ?",
                [fleet_id],
                fleet_from_row,
            )
        })
        .await
    }

    async fn list_fleets(&self) -> Result<Vec<Fleet>> {
        self.with_reader(|conn| {
            query_all(
                conn,
                "SELECT id, name FROM fleets ORDER BY id",
                [],
                fleet_from_row,
            )
        })
        .await
    }

    async fn upsert_vehicle(&self, vehicle: &Vehicle) -> Result<()> {
        let vehicle = vehicle.clone();
        self.with_writer(move |conn| upsert_vehicle(conn, &vehicle))
            .await
    }

    async fn get_vehicle(&self, vehicle_id: &str) -> Result<Option<Vehicle>> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_VEHICLE} WHERE id = ?"),
                [vehicle_id],
                vehicle_from_row,
            )
        })
        .await
    }

    async fn list_vehicles(&self, fleet_id: &str) -> Result<Vec<Vehicle>> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| {
            query_all(
                conn,
                &format!("{SELECT_VEHICLE} WHERE fleet_id = ? ORDER BY id"),
                [fleet_id],
                vehicle_from_row,
            )
        })
        .await
    }

    async fn upsert_operator(&self, operator: &Operator) -> Result<()> {
        let operator = operator.clone();
        self.with_writer(move |conn| upsert_operator(conn, &operator))
            .await
    }

    async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>> {
        let email = email.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_OPERATOR} WHERE email = ?"),
                [email],
                operator_from_row,
            )
        })
        .await
    }

    async fn get_operator(&self, operator_id: &str) -> Result<Option<Operator>> {
        let operator_id = operator_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_OPERATOR} WHERE id = ?"),
                [operator_id],
                operator_from_row,
            )
        })
        .await
    }

    async fn insert_alert(&self, alert: &Alert) -> Result<()> {
        let alert = alert.clone();
        self.with_writer(move |conn| insert_alert(conn, &alert))
            .await
    }

    async fn clear_alert(&self, alert_id: &str, at: DateTime<Utc>) -> Result<()> {
        let alert_id = alert_id.to_string();
        self.with_writer(move |conn| {
            // The first clearing time wins: a replayed clear does not move it.
            let changed = conn
                .execute(
                    "UPDATE alerts SET cleared_at = COALESCE(cleared_at, ?2) WHERE id = ?1",
                    params![alert_id, micros(at)],
                )
                .map_err(backend_error)?;
            if changed == 0 {
                return Err(Error::not_found("alert", &alert_id));
            }
            Ok(())
        })
        .await
    }

    async fn acknowledge_alert(
        &self,
        alert_id: &str,
        by: &str,
        at: DateTime<Utc>,
        notes: Option<&str>,
    ) -> Result<Alert> {
        let (alert_id, by) = (alert_id.to_string(), by.to_string());
        let notes = notes.map(str::to_string);
        self.with_writer(move |conn| acknowledge_alert(conn, &alert_id, &by, at, notes.as_deref()))
            .await
    }

    async fn get_alert(&self, alert_id: &str) -> Result<Option<Alert>> {
        let alert_id = alert_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_ALERT} WHERE id = ?"),
                [alert_id],
                alert_from_row,
            )
        })
        .await
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>> {
        let filter = filter.clone();
        self.with_reader(move |conn| list_alerts(conn, &filter))
            .await
    }

    async fn count_open_alerts(&self, fleet_id: &str) -> Result<u64> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| {
            count(
                conn,
                "SELECT COUNT(*) FROM alerts WHERE fleet_id = ? AND acknowledged = 0",
                &fleet_id,
            )
        })
        .await
    }

    async fn alerts_open_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Alert>> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| alerts_open_at(conn, &fleet_id, at))
            .await
    }

    async fn alerts_between(&self, query: &RecordsQuery) -> Result<Vec<Alert>> {
        let query = query.clone();
        self.with_reader(move |conn| {
            records_between(conn, SELECT_ALERT, "triggered_at", &query, alert_from_row)
        })
        .await
    }

    async fn commands_between(&self, query: &RecordsQuery) -> Result<Vec<Command>> {
        let query = query.clone();
        self.with_reader(move |conn| {
            records_between(conn, SELECT_COMMAND, "issued_at", &query, command_from_row)
        })
        .await
    }

    async fn missions_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>> {
        let query = query.clone();
        self.with_reader(move |conn| {
            records_between(conn, SELECT_MISSION, "created_at", &query, mission_from_row)
        })
        .await
    }

    async fn missions_ended_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>> {
        let query = query.clone();
        self.with_reader(move |conn| {
            records_between(
                conn,
                SELECT_MISSION,
                "completed_at",
                &query,
                mission_from_row,
            )
        })
        .await
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()> {
        let entry = entry.clone();
        self.with_writer(move |conn| insert_audit(conn, &entry))
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.with_reader(move |conn| list_audit(conn, &filter))
            .await
    }

    async fn open_alerts(&self, vehicle_ids: &[String]) -> Result<Vec<Alert>> {
        let vehicle_ids = vehicle_ids.to_vec();
        self.with_reader(move |conn| open_alerts(conn, &vehicle_ids))
            .await
    }

    async fn insert_command(&self, command: &Command) -> Result<()> {
        let command = command.clone();
        self.with_writer(move |conn| insert_command(conn, &command))
            .await
    }

    async fn update_command(&self, command: &Command) -> Result<()> {
        let command = command.clone();
        self.with_writer(move |conn| update_command(conn, &command))
            .await
    }

    async fn get_command(&self, command_id: &str) -> Result<Option<Command>> {
        let command_id = command_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_COMMAND} WHERE id = ?"),
                [command_id],
                command_from_row,
            )
        })
        .await
    }

    async fn command_by_idempotency_key(
        &self,
        issued_by: &str,
        idempotency_key: &str,
    ) -> Result<Option<Command>> {
        let (issued_by, key) = (issued_by.to_string(), idempotency_key.to_string());
        self.with_reader(move |conn| {
            // Spelled so that the partial index `commands_by_idempotency_key` answers it.
            query_opt(
                conn,
                &format!(
                    "{SELECT_COMMAND} WHERE issued_by = ? AND idempotency_key = ? \
                     AND idempotency_key IS NOT NULL"
                ),
                [issued_by, key],
                command_from_row,
            )
        })
        .await
    }

    async fn list_commands(&self, vehicle_id: &str, limit: u32) -> Result<Page<Command>> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| list_commands(conn, &vehicle_id, limit))
            .await
    }

    async fn pending_commands(&self) -> Result<Vec<Command>> {
        self.with_reader(|conn| {
            query_all(
                conn,
                &format!(
                    "{SELECT_COMMAND} WHERE status IN {PENDING_STATUSES} ORDER BY issued_at, id"
                ),
                [],
                command_from_row,
            )
        })
        .await
    }

    async fn insert_mission(&self, mission: &Mission) -> Result<()> {
        let mission = mission.clone();
        self.with_writer(move |conn| insert_mission(conn, &mission))
            .await
    }

    async fn update_mission(&self, mission: &Mission) -> Result<()> {
        let mission = mission.clone();
        self.with_writer(move |conn| update_mission(conn, &mission))
            .await
    }

    async fn get_mission(&self, mission_id: &str) -> Result<Option<Mission>> {
        let mission_id = mission_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_MISSION} WHERE id = ?"),
                [mission_id],
                mission_from_row,
            )
        })
        .await
    }

    async fn active_mission(&self, vehicle_id: &str) -> Result<Option<Mission>> {
        let vehicle_id = vehicle_id.to_string();
        self.with_reader(move |conn| {
            query_opt(
                conn,
                &format!("{SELECT_MISSION} WHERE vehicle_id = ? AND status IN {ACTIVE_STATUSES}"),
                [vehicle_id],
                mission_from_row,
            )
        })
        .await
    }

    async fn count_active_missions(&self, fleet_id: &str) -> Result<u64> {
        let fleet_id = fleet_id.to_string();
        self.with_reader(move |conn| {
            count(
                conn,
                &format!(
                    "SELECT COUNT(*) FROM missions WHERE fleet_id = ? AND status IN {ACTIVE_STATUSES}"
                ),
                &fleet_id,
            )
        })
        .await
    }

    async fn active_missions(&self) -> Result<Vec<Mission>> {
        self.with_reader(|conn| {
            query_all(
                conn,
                &format!(
                    "{SELECT_MISSION} WHERE status IN {ACTIVE_STATUSES} ORDER BY created_at, id"
                ),
                [],
                mission_from_row,
            )
        })
        .await
    }

    async fn list_missions(&self, filter: &MissionFilter) -> Result<Page<Mission>> {
        let filter = filter.clone();
        self.with_reader(move |conn| list_missions(conn, &filter))
            .await
    }
}
