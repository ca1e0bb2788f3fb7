//! `FleetRepository` for PostgreSQL: fleets, vehicles, operators, alerts, commands, missions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use vehicleops_core::{
    Alert, AlertFilter, AlertType, AuditAction, AuditEntry, AuditFilter, Command, CommandParams,
    Error, Fleet, FleetRepository, GeoPoint, Mission, MissionFilter, Operator, Page, RecordsQuery,
    Result, Vehicle, Waypoint,
};

use super::{PostgresStore, constraint, sqlstate};

/// An enum's wire name (its serde string), as stored in text columns.
fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("enums serialize to strings, got {other:?}"),
    }
}

/// Parses a stored enum name; a bad value means the row was written by something else.
fn parse_enum<T: DeserializeOwned>(text: String) -> Result<T, sqlx::Error> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A list limit as bound to `LIMIT`: 0 means no limit (`LIMIT NULL`).
fn limit_or_all(limit: u32) -> Option<i64> {
    (limit > 0).then_some(i64::from(limit))
}

const ALERT_COLUMNS: &str = "id, vehicle_id, fleet_id, alert_type, severity, value, threshold, \
    message, key, triggered_at, cleared_at, acknowledged, acknowledged_by, acknowledged_at, notes";

fn alert_from_row(row: &PgRow) -> Result<Alert, sqlx::Error> {
    Ok(Alert {
        id: row.try_get("id")?,
        vehicle_id: row.try_get("vehicle_id")?,
        fleet_id: row.try_get("fleet_id")?,
        alert_type: AlertType::custom(row.try_get::<String, _>("alert_type")?),
        severity: parse_enum(row.try_get("severity")?)?,
        value: row.try_get("value")?,
        threshold: row.try_get("threshold")?,
        message: row.try_get("message")?,
        key: row.try_get("key")?,
        triggered_at: row.try_get("triggered_at")?,
        cleared_at: row.try_get("cleared_at")?,
        acknowledged: row.try_get("acknowledged")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        notes: row.try_get("notes")?,
    })
}

const AUDIT_COLUMNS: &str =
    "id, at, actor, action, fleet_id, vehicle_id, target_id, source, detail";

fn audit_from_row(row: &PgRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: parse_enum(row.try_get("action")?)?,
        fleet_id: row.try_get("fleet_id")?,
        vehicle_id: row.try_get("vehicle_id")?,
        target_id: row.try_get("target_id")?,
        source: row.try_get("source")?,
        detail: row.try_get("detail")?,
    })
}

const COMMAND_COLUMNS: &str = "id, vehicle_id, fleet_id, command, params, status, issued_by, \
    issued_at, delivered_at, executed_at, failure_reason, expires_at, idempotency_key";

fn command_from_row(row: &PgRow) -> Result<Command, sqlx::Error> {
    Ok(Command {
        id: row.try_get("id")?,
        vehicle_id: row.try_get("vehicle_id")?,
        fleet_id: row.try_get("fleet_id")?,
        command: parse_enum(row.try_get("command")?)?,
        params: row.try_get::<Json<CommandParams>, _>("params")?.0,
        status: parse_enum(row.try_get("status")?)?,
        issued_by: row.try_get("issued_by")?,
        issued_at: row.try_get("issued_at")?,
        delivered_at: row.try_get("delivered_at")?,
        executed_at: row.try_get("executed_at")?,
        failure_reason: row.try_get("failure_reason")?,
        expires_at: row.try_get("expires_at")?,
        idempotency_key: row.try_get("idempotency_key")?,
    })
}

const MISSION_COLUMNS: &str = "id, fleet_id, vehicle_id, mission_type, priority, waypoints, \
    status, completed_waypoints, created_at, started_at, completed_at, estimated_completion, \
    failure_reason";

fn mission_from_row(row: &PgRow) -> Result<Mission, sqlx::Error> {
    Ok(Mission {
        id: row.try_get("id")?,
        fleet_id: row.try_get("fleet_id")?,
        vehicle_id: row.try_get("vehicle_id")?,
        mission_type: parse_enum(row.try_get("mission_type")?)?,
        priority: parse_enum(row.try_get("priority")?)?,
        waypoints: row.try_get::<Json<Vec<Waypoint>>, _>("waypoints")?.0,
        status: parse_enum(row.try_get("status")?)?,
        completed_waypoints: row.try_get::<i32, _>("completed_waypoints")? as u32,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        estimated_completion: row.try_get("estimated_completion")?,
        failure_reason: row.try_get("failure_reason")?,
    })
}

fn vehicle_from_row(row: &PgRow) -> Result<Vehicle, sqlx::Error> {
    let lat: Option<f64> = row.try_get("home_latitude")?;
    let lon: Option<f64> = row.try_get("home_longitude")?;
    Ok(Vehicle {
        id: row.try_get("id")?,
        fleet_id: row.try_get("fleet_id")?,
        name: row.try_get("name")?,
        home: lat.zip(lon).map(|(latitude, longitude)| GeoPoint {
            latitude,
            longitude,
        }),
    })
}

fn operator_from_row(row: &PgRow) -> Result<Operator, sqlx::Error> {
    Ok(Operator {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: parse_enum(row.try_get("role")?)?,
        fleet_ids: row.try_get("fleet_ids")?,
        password_hash: row.try_get("password_hash")?,
    })
}

impl PostgresStore {
    /// Maps a mission write error: the partial unique index means "already has an active one".
    fn mission_error(&self, e: sqlx::Error, mission: &Mission) -> Error {
        if sqlstate(&e).as_deref() == Some("23505") {
            return match constraint(&e).as_deref() {
                Some("missions_one_active_per_vehicle") => Error::Conflict(format!(
                    "vehicle `{}` already has an active mission",
                    mission.vehicle_id
                )),
                _ => Error::Conflict(format!("mission `{}` already exists", mission.id)),
            };
        }
        self.db(e)
    }

    async fn fetch_one_opt<T>(
        &self,
        sql: &str,
        id: &str,
        decode: fn(&PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>> {
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        row.as_ref().map(decode).transpose().map_err(|e| self.db(e))
    }

    /// One page: `rows` decoded, with the `total` number of matches.
    fn page<T>(
        &self,
        rows: &[PgRow],
        total: u64,
        decode: fn(&PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<Page<T>> {
        let data = rows
            .iter()
            .map(decode)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))?;
        Ok(Page { data, total })
    }

    /// Every row decoded.
    fn all<T>(
        &self,
        rows: &[PgRow],
        decode: fn(&PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>> {
        rows.iter()
            .map(decode)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    /// One [`RecordsQuery`] page of `table`, whose time column is `time_column`: keyset on
    /// `(time, id)` through the `(fleet_id, time[, id])` indexes.
    async fn records_between<T>(
        &self,
        table: &str,
        columns: &str,
        time_column: &str,
        query: &RecordsQuery,
        decode: fn(&PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>> {
        let (after_time, after_id) = match &query.after {
            Some((time, id)) => (Some(*time), id.as_str()),
            None => (None, ""),
        };
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM vehicleops.{table}
             WHERE fleet_id = $1 AND {time_column} BETWEEN $2 AND $3
               AND ($4::timestamptz IS NULL OR ({time_column}, id) > ($4, $5))
             ORDER BY {time_column}, id LIMIT $6"
        ))
        .bind(&query.fleet_id)
        .bind(query.range.from)
        .bind(query.range.to)
        .bind(after_time)
        .bind(after_id)
        .bind(i64::from(query.page_size()))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.all(&rows, decode)
    }

    async fn count(&self, sql: &str, key: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        Ok(n as u64)
    }
}

#[async_trait]
impl FleetRepository for PostgresStore {
    async fn upsert_fleet(&self, fleet: &Fleet) -> Result<()> {
        sqlx::query(
            "INSERT INTO vehicleops.fleets (id, name) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(&fleet.id)
        .bind(&fleet.name)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn get_fleet(&self, fleet_id: &str) -> Result<Option<Fleet>> {
        self.fetch_one_opt(
            "SELECT id, name FROM vehicleops.fleets WHERE id = $1",
            fleet_id,
            |row| {
                Ok(Fleet {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                })
            },
        )
        .await
    }

    async fn list_fleets(&self) -> Result<Vec<Fleet>> {
        let rows = sqlx::query("SELECT id, name FROM vehicleops.fleets ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                Ok(Fleet {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    async fn upsert_vehicle(&self, vehicle: &Vehicle) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO vehicleops.vehicles (id, fleet_id, name, home_latitude, home_longitude)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET fleet_id = excluded.fleet_id, name = excluded.name,
                 home_latitude = excluded.home_latitude, home_longitude = excluded.home_longitude",
        )
        .bind(&vehicle.id)
        .bind(&vehicle.fleet_id)
        .bind(&vehicle.name)
        .bind(vehicle.home.map(|h| h.latitude))
        .bind(vehicle.home.map(|h| h.longitude))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if sqlstate(&e).as_deref() == Some("23503") => {
                Err(Error::not_found("fleet", &vehicle.fleet_id))
            }
            Err(e) => Err(self.db(e)),
        }
    }

    async fn get_vehicle(&self, vehicle_id: &str) -> Result<Option<Vehicle>> {
        self.fetch_one_opt(
            "SELECT id, fleet_id, name, home_latitude, home_longitude
             FROM vehicleops.vehicles WHERE id = $1",
            vehicle_id,
            vehicle_from_row,
        )
        .await
    }

    async fn list_vehicles(&self, fleet_id: &str) -> Result<Vec<Vehicle>> {
        let rows = sqlx::query(
            "SELECT id, fleet_id, name, home_latitude, home_longitude
             FROM vehicleops.vehicles WHERE fleet_id = $1 ORDER BY id",
        )
        .bind(fleet_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        rows.iter()
            .map(vehicle_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    async fn upsert_operator(&self, operator: &Operator) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO vehicleops.operators (id, email, role, fleet_ids, password_hash)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET email = excluded.email, role = excluded.role,
                 fleet_ids = excluded.fleet_ids, password_hash = excluded.password_hash",
        )
        .bind(&operator.id)
        .bind(&operator.email)
        .bind(operator.role.as_str())
        .bind(&operator.fleet_ids)
        .bind(&operator.password_hash)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if sqlstate(&e).as_deref() == Some("23505") => Err(Error::Conflict(format!(
                "another operator already uses the e-mail `{}`",
                operator.email
            ))),
            Err(e) => Err(self.db(e)),
        }
    }

    async fn operator_by_email(&self, email: &str) -> Result<Option<Operator>> {
        self.fetch_one_opt(
            "SELECT id, email, role, fleet_ids, password_hash FROM vehicleops.operators
             WHERE lower(email) = lower($1)",
            email,
            operator_from_row,
        )
        .await
    }

    async fn get_operator(&self, operator_id: &str) -> Result<Option<Operator>> {
        self.fetch_one_opt(
            "SELECT id, email, role, fleet_ids, password_hash FROM vehicleops.operators
             WHERE id = $1",
            operator_id,
            operator_from_row,
        )
        .await
    }

    async fn insert_alert(&self, alert: &Alert) -> Result<()> {
        let result = sqlx::query(&format!(
            "INSERT INTO vehicleops.alerts ({ALERT_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&alert.id)
        .bind(&alert.vehicle_id)
        .bind(&alert.fleet_id)
        .bind(alert.alert_type.as_str())
        .bind(alert.severity.as_str())
        .bind(alert.value)
        .bind(alert.threshold)
        .bind(&alert.message)
        .bind(&alert.key)
        .bind(alert.triggered_at)
        .bind(alert.cleared_at)
        .bind(alert.acknowledged)
        .bind(&alert.acknowledged_by)
        .bind(alert.acknowledged_at)
        .bind(&alert.notes)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if sqlstate(&e).as_deref() == Some("23505") => Err(Error::Conflict(format!(
                "alert `{}` already exists",
                alert.id
            ))),
            Err(e) => Err(self.db(e)),
        }
    }

    async fn clear_alert(&self, alert_id: &str, at: DateTime<Utc>) -> Result<()> {
        let done = sqlx::query(
            "UPDATE vehicleops.alerts SET cleared_at = coalesce(cleared_at, $2) WHERE id = $1",
        )
        .bind(alert_id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("alert", alert_id));
        }
        Ok(())
    }

    async fn acknowledge_alert(
        &self,
        alert_id: &str,
        by: &str,
        at: DateTime<Utc>,
        notes: Option<&str>,
    ) -> Result<Alert> {
        let row = sqlx::query(&format!(
            "UPDATE vehicleops.alerts
             SET acknowledged = true, acknowledged_by = $2, acknowledged_at = $3,
                 notes = coalesce($4, notes)
             WHERE id = $1 RETURNING {ALERT_COLUMNS}"
        ))
        .bind(alert_id)
        .bind(by)
        .bind(at)
        .bind(notes)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db(e))?
        .ok_or_else(|| Error::not_found("alert", alert_id))?;
        alert_from_row(&row).map_err(|e| self.db(e))
    }

    async fn get_alert(&self, alert_id: &str) -> Result<Option<Alert>> {
        self.fetch_one_opt(
            &format!("SELECT {ALERT_COLUMNS} FROM vehicleops.alerts WHERE id = $1"),
            alert_id,
            alert_from_row,
        )
        .await
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>> {
        let conditions = "($1::text IS NULL OR fleet_id = $1)
            AND ($2::text IS NULL OR vehicle_id = $2)
            AND ($3::text IS NULL OR severity = $3)
            AND ($4::boolean IS NULL OR acknowledged = $4)";
        let severity = filter.severity.map(|s| s.as_str());
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM vehicleops.alerts WHERE {conditions}"
        ))
        .bind(&filter.fleet_id)
        .bind(&filter.vehicle_id)
        .bind(severity)
        .bind(filter.acknowledged)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM vehicleops.alerts WHERE {conditions}
             ORDER BY triggered_at DESC, id DESC LIMIT $5"
        ))
        .bind(&filter.fleet_id)
        .bind(&filter.vehicle_id)
        .bind(severity)
        .bind(filter.acknowledged)
        .bind(limit_or_all(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.page(&rows, total as u64, alert_from_row)
    }

    async fn count_open_alerts(&self, fleet_id: &str) -> Result<u64> {
        self.count(
            "SELECT count(*) FROM vehicleops.alerts WHERE fleet_id = $1 AND NOT acknowledged",
            fleet_id,
        )
        .await
    }

    async fn alerts_open_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Alert>> {
        // Through `alerts_by_fleet` (fleet_id, triggered_at).
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM vehicleops.alerts
             WHERE fleet_id = $1 AND triggered_at <= $2 AND (cleared_at IS NULL OR cleared_at > $2)
             ORDER BY triggered_at, id"
        ))
        .bind(fleet_id)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.all(&rows, alert_from_row)
    }

    async fn open_alerts(&self, vehicle_ids: &[String]) -> Result<Vec<Alert>> {
        // Both forms match the partial index `alerts_open_by_vehicle` (open alerts only).
        let all = vehicle_ids.is_empty();
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM vehicleops.alerts WHERE cleared_at IS NULL{}
             ORDER BY triggered_at, id",
            if all { "" } else { " AND vehicle_id = ANY($1)" }
        );
        let mut query = sqlx::query(&sql);
        if !all {
            query = query.bind(vehicle_ids);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(|e| self.db(e))?;
        self.all(&rows, alert_from_row)
    }

    async fn insert_command(&self, command: &Command) -> Result<()> {
        let result = sqlx::query(&format!(
            "INSERT INTO vehicleops.commands ({COMMAND_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&command.id)
        .bind(&command.vehicle_id)
        .bind(&command.fleet_id)
        .bind(command.command.as_str())
        .bind(Json(&command.params))
        .bind(command.status.as_str())
        .bind(&command.issued_by)
        .bind(command.issued_at)
        .bind(command.delivered_at)
        .bind(command.executed_at)
        .bind(&command.failure_reason)
        .bind(command.expires_at)
        .bind(&command.idempotency_key)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if sqlstate(&e).as_deref() == Some("23505") => {
                Err(match constraint(&e).as_deref() {
                    Some("commands_by_idempotency_key") => Error::Conflict(format!(
                        "`{}` already used idempotency key {:?} for another command",
                        command.issued_by,
                        command.idempotency_key.as_deref().unwrap_or_default()
                    )),
                    _ => Error::Conflict(format!("command `{}` already exists", command.id)),
                })
            }
            Err(e) => Err(self.db(e)),
        }
    }

    async fn update_command(&self, command: &Command) -> Result<()> {
        let done = sqlx::query(
            "UPDATE vehicleops.commands
             SET status = $2, delivered_at = $3, executed_at = $4, failure_reason = $5,
                 expires_at = $6
             WHERE id = $1",
        )
        .bind(&command.id)
        .bind(command.status.as_str())
        .bind(command.delivered_at)
        .bind(command.executed_at)
        .bind(&command.failure_reason)
        .bind(command.expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("command", &command.id));
        }
        Ok(())
    }

    async fn get_command(&self, command_id: &str) -> Result<Option<Command>> {
        self.fetch_one_opt(
            &format!("SELECT {COMMAND_COLUMNS} FROM vehicleops.commands WHERE id = $1"),
            command_id,
            command_from_row,
        )
        .await
    }

    async fn command_by_idempotency_key(
        &self,
        issued_by: &str,
        idempotency_key: &str,
    ) -> Result<Option<Command>> {
        // Spelled so that the partial index `commands_by_idempotency_key` answers it.
        let row = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM vehicleops.commands
             WHERE issued_by = $1 AND idempotency_key = $2 AND idempotency_key IS NOT NULL"
        ))
        .bind(issued_by)
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        row.as_ref()
            .map(command_from_row)
            .transpose()
            .map_err(|e| self.db(e))
    }

    async fn list_commands(&self, vehicle_id: &str, limit: u32) -> Result<Page<Command>> {
        let total = self
            .count(
                "SELECT count(*) FROM vehicleops.commands WHERE vehicle_id = $1",
                vehicle_id,
            )
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM vehicleops.commands WHERE vehicle_id = $1
             ORDER BY issued_at DESC, id DESC LIMIT $2"
        ))
        .bind(vehicle_id)
        .bind(limit_or_all(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.page(&rows, total, command_from_row)
    }

    async fn pending_commands(&self) -> Result<Vec<Command>> {
        // Spelled like the partial index `commands_pending`, so the planner can use it.
        let rows = sqlx::query(&format!(
            "SELECT {COMMAND_COLUMNS} FROM vehicleops.commands
             WHERE status IN ('DISPATCHED', 'DELIVERED') ORDER BY issued_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.all(&rows, command_from_row)
    }

    async fn insert_mission(&self, mission: &Mission) -> Result<()> {
        // The partial unique index makes check-and-insert one atomic statement.
        sqlx::query(&format!(
            "INSERT INTO vehicleops.missions ({MISSION_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&mission.id)
        .bind(&mission.fleet_id)
        .bind(&mission.vehicle_id)
        .bind(enum_text(&mission.mission_type))
        .bind(enum_text(&mission.priority))
        .bind(Json(&mission.waypoints))
        .bind(mission.status.as_str())
        .bind(mission.completed_waypoints as i32)
        .bind(mission.created_at)
        .bind(mission.started_at)
        .bind(mission.completed_at)
        .bind(mission.estimated_completion)
        .bind(&mission.failure_reason)
        .execute(&self.pool)
        .await
        .map_err(|e| self.mission_error(e, mission))?;
        Ok(())
    }

    async fn update_mission(&self, mission: &Mission) -> Result<()> {
        let done = sqlx::query(
            "UPDATE vehicleops.missions
             SET fleet_id = $2, vehicle_id = $3, mission_type = $4, priority = $5,
                 waypoints = $6, status = $7, completed_waypoints = $8, created_at = $9,
                 started_at = $10, completed_at = $11, estimated_completion = $12,
                 failure_reason = $13
             WHERE id = $1 AND status IN ('ASSIGNED', 'IN_PROGRESS')",
        )
        .bind(&mission.id)
        .bind(&mission.fleet_id)
        .bind(&mission.vehicle_id)
        .bind(enum_text(&mission.mission_type))
        .bind(enum_text(&mission.priority))
        .bind(Json(&mission.waypoints))
        .bind(mission.status.as_str())
        .bind(mission.completed_waypoints as i32)
        .bind(mission.created_at)
        .bind(mission.started_at)
        .bind(mission.completed_at)
        .bind(mission.estimated_completion)
        .bind(&mission.failure_reason)
        .execute(&self.pool)
        .await
        .map_err(|e| self.mission_error(e, mission))?;
        if done.rows_affected() == 0 {
            // Ended already (a terminal status never changes), or unknown.
            let stored: Option<String> =
                sqlx::query_scalar("SELECT status FROM vehicleops.missions WHERE id = $1")
                    .bind(&mission.id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| self.db(e))?;
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

    async fn get_mission(&self, mission_id: &str) -> Result<Option<Mission>> {
        self.fetch_one_opt(
            &format!("SELECT {MISSION_COLUMNS} FROM vehicleops.missions WHERE id = $1"),
            mission_id,
            mission_from_row,
        )
        .await
    }

    async fn active_mission(&self, vehicle_id: &str) -> Result<Option<Mission>> {
        self.fetch_one_opt(
            &format!(
                "SELECT {MISSION_COLUMNS} FROM vehicleops.missions
                 WHERE vehicle_id = $1 AND status IN ('ASSIGNED', 'IN_PROGRESS')"
            ),
            vehicle_id,
            mission_from_row,
        )
        .await
    }

    async fn count_active_missions(&self, fleet_id: &str) -> Result<u64> {
        self.count(
            "SELECT count(*) FROM vehicleops.missions
             WHERE fleet_id = $1 AND status IN ('ASSIGNED', 'IN_PROGRESS')",
            fleet_id,
        )
        .await
    }

    async fn active_missions(&self) -> Result<Vec<Mission>> {
        // The partial unique index `missions_one_active_per_vehicle` holds exactly these rows.
        let rows = sqlx::query(&format!(
            "SELECT {MISSION_COLUMNS} FROM vehicleops.missions
             WHERE status IN ('ASSIGNED', 'IN_PROGRESS') ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.all(&rows, mission_from_row)
    }

    async fn list_missions(&self, filter: &MissionFilter) -> Result<Page<Mission>> {
        let conditions = "($1::text IS NULL OR fleet_id = $1)
            AND ($2::text IS NULL OR vehicle_id = $2)
            AND ($3::text IS NULL OR status = $3)";
        let status = filter.status.map(|s| s.as_str());
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM vehicleops.missions WHERE {conditions}"
        ))
        .bind(&filter.fleet_id)
        .bind(&filter.vehicle_id)
        .bind(status)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        let rows = sqlx::query(&format!(
            "SELECT {MISSION_COLUMNS} FROM vehicleops.missions WHERE {conditions}
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(&filter.fleet_id)
        .bind(&filter.vehicle_id)
        .bind(status)
        .bind(limit_or_all(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.page(&rows, total as u64, mission_from_row)
    }

    async fn alerts_between(&self, query: &RecordsQuery) -> Result<Vec<Alert>> {
        self.records_between(
            "alerts",
            ALERT_COLUMNS,
            "triggered_at",
            query,
            alert_from_row,
        )
        .await
    }

    async fn commands_between(&self, query: &RecordsQuery) -> Result<Vec<Command>> {
        self.records_between(
            "commands",
            COMMAND_COLUMNS,
            "issued_at",
            query,
            command_from_row,
        )
        .await
    }

    async fn missions_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>> {
        self.records_between(
            "missions",
            MISSION_COLUMNS,
            "created_at",
            query,
            mission_from_row,
        )
        .await
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO vehicleops.audit_log ({AUDIT_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&entry.id)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(entry.action.as_str())
        .bind(&entry.fleet_id)
        .bind(&entry.vehicle_id)
        .bind(&entry.target_id)
        .bind(&entry.source)
        .bind(&entry.detail)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let (before_at, before_id) = match &filter.before {
            Some((at, id)) => (Some(*at), id.as_str()),
            None => (None, ""),
        };
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM vehicleops.audit_log
             WHERE at BETWEEN $1 AND $2
               AND ($3::text[] IS NULL OR fleet_id = ANY($3))
               AND ($4::text IS NULL OR actor = $4) AND ($5::text IS NULL OR action = $5)
               AND ($6::timestamptz IS NULL OR (at, id) < ($6, $7))
             ORDER BY at DESC, id DESC LIMIT $8"
        ))
        .bind(filter.range.from)
        .bind(filter.range.to)
        .bind(filter.fleet_ids.as_deref())
        .bind(filter.actor.as_deref())
        .bind(filter.action.map(AuditAction::as_str))
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(filter.page_size()))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        self.all(&rows, audit_from_row)
    }

    async fn missions_ended_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>> {
        self.records_between(
            "missions",
            MISSION_COLUMNS,
            "completed_at",
            query,
            mission_from_row,
        )
        .await
    }
}
