//! Fixtures the core's test modules share: repositories that implement only what a test needs
//! ([`PartialRepository`]), an in-memory repository of vehicles, commands and missions
//! ([`MemoryRepository`]), a command sink that records what it was asked to send
//! ([`RecordingSink`]) and a reading builder ([`telemetry`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::{
    Alert, AuditEntry, AuditFilter, Command, CommandAck, Fleet, Mission, Operator, Telemetry,
    Vehicle, VehicleStatus,
};
use crate::traits::{
    AlertFilter, CommandSink, DispatchReceipt, FleetRepository, MissionFilter, Page, RecordsQuery,
};

/// What a test repository answers for what the test does not use.
pub(crate) fn not_here<T>() -> Result<T> {
    Err(Error::backend_msg("memory", "not part of this test"))
}

/// Declares [`PartialRepository`] with these methods, each answering [`not_here`] unless a
/// fixture implements it, and makes every [`PartialRepository`] a [`FleetRepository`].
macro_rules! partial_repository {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        /// A [`FleetRepository`] for a test: implement the methods the test needs; every other
        /// one fails with "not part of this test".
        #[async_trait]
        #[allow(unused_variables)]
        pub(crate) trait PartialRepository: Send + Sync {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                not_here()
            })*
        }

        #[async_trait]
        impl<T: PartialRepository> FleetRepository for T {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                PartialRepository::$name(self $(, $arg)*).await
            })*
        }
    };
}

partial_repository! {
    fn upsert_fleet(&self, fleet: &Fleet) -> Result<()>;
    fn get_fleet(&self, fleet_id: &str) -> Result<Option<Fleet>>;
    fn list_fleets(&self) -> Result<Vec<Fleet>>;
    fn upsert_vehicle(&self, vehicle: &Vehicle) -> Result<()>;
    fn get_vehicle(&self, vehicle_id: &str) -> Result<Option<Vehicle>>;
    fn list_vehicles(&self, fleet_id: &str) -> Result<Vec<Vehicle>>;
    fn upsert_operator(&self, operator: &Operator) -> Result<()>;
    fn operator_by_email(&self, email: &str) -> Result<Option<Operator>>;
    fn get_operator(&self, operator_id: &str) -> Result<Option<Operator>>;
    fn insert_alert(&self, alert: &Alert) -> Result<()>;
    fn clear_alert(&self, alert_id: &str, at: DateTime<Utc>) -> Result<()>;
    fn acknowledge_alert(
        &self,
        alert_id: &str,
        by: &str,
        at: DateTime<Utc>,
        notes: Option<&str>
    ) -> Result<Alert>;
    fn get_alert(&self, alert_id: &str) -> Result<Option<Alert>>;
    fn list_alerts(&self, filter: &AlertFilter) -> Result<Page<Alert>>;
    fn count_open_alerts(&self, fleet_id: &str) -> Result<u64>;
    fn alerts_open_at(&self, fleet_id: &str, at: DateTime<Utc>) -> Result<Vec<Alert>>;
    fn open_alerts(&self, vehicle_ids: &[String]) -> Result<Vec<Alert>>;
    fn insert_command(&self, command: &Command) -> Result<()>;
    fn update_command(&self, command: &Command) -> Result<()>;
    fn get_command(&self, command_id: &str) -> Result<Option<Command>>;
    fn command_by_idempotency_key(
        &self,
        issued_by: &str,
        idempotency_key: &str
    ) -> Result<Option<Command>>;
    fn list_commands(&self, vehicle_id: &str, limit: u32) -> Result<Page<Command>>;
    fn pending_commands(&self) -> Result<Vec<Command>>;
    fn insert_mission(&self, mission: &Mission) -> Result<()>;
    fn update_mission(&self, mission: &Mission) -> Result<()>;
    fn get_mission(&self, mission_id: &str) -> Result<Option<Mission>>;
    fn active_mission(&self, vehicle_id: &str) -> Result<Option<Mission>>;
    fn count_active_missions(&self, fleet_id: &str) -> Result<u64>;
    fn active_missions(&self) -> Result<Vec<Mission>>;
    fn list_missions(&self, filter: &MissionFilter) -> Result<Page<Mission>>;
    fn alerts_between(&self, query: &RecordsQuery) -> Result<Vec<Alert>>;
    fn commands_between(&self, query: &RecordsQuery) -> Result<Vec<Command>>;
    fn missions_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>>;
    fn missions_ended_between(&self, query: &RecordsQuery) -> Result<Vec<Mission>>;
    fn insert_audit(&self, entry: &AuditEntry) -> Result<()>;
    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

/// Vehicles `VH-1` and `VH-2` of `fleet-001`; commands in a map with the repository's two
/// uniqueness rules (id; issuer + key); missions in a map with the one-active-mission-per-vehicle
/// rule; everything else is not needed here.
#[derive(Default)]
pub(crate) struct MemoryRepository {
    pub(crate) commands: Mutex<HashMap<String, Command>>,
    pub(crate) missions: Mutex<HashMap<String, Mission>>,
    /// Answer the next key lookup with "none", as if a concurrent dispatch inserted its command
    /// just after this one looked.
    pub(crate) miss_next_key_lookup: AtomicBool,
    /// While set, the next `update_mission` takes it, marks it held and waits for it to be
    /// notified before it looks at the stored mission: a write caught in flight.
    pub(crate) hold_next_mission_update: Mutex<Option<Arc<HeldWrite>>>,
}

/// A write held by [`MemoryRepository::hold_next_mission_update`].
#[derive(Default)]
pub(crate) struct HeldWrite {
    pub(crate) held: AtomicBool,
    pub(crate) release: tokio::sync::Notify,
}

impl MemoryRepository {
    pub(crate) fn mission(&self, id: &str) -> Option<Mission> {
        self.missions.lock().unwrap().get(id).cloned()
    }
}

#[async_trait]
impl PartialRepository for MemoryRepository {
    async fn get_vehicle(&self, vehicle_id: &str) -> Result<Option<Vehicle>> {
        Ok(["VH-1", "VH-2"].contains(&vehicle_id).then(|| Vehicle {
            id: vehicle_id.into(),
            fleet_id: "fleet-001".into(),
            name: None,
            home: None,
        }))
    }
    async fn insert_command(&self, command: &Command) -> Result<()> {
        let mut commands = self.commands.lock().unwrap();
        if commands.contains_key(&command.id) {
            return Err(Error::Conflict(format!("command `{}` exists", command.id)));
        }
        if command.idempotency_key.is_some()
            && commands.values().any(|c| {
                c.issued_by == command.issued_by && c.idempotency_key == command.idempotency_key
            })
        {
            return Err(Error::Conflict("idempotency key taken".into()));
        }
        commands.insert(command.id.clone(), command.clone());
        Ok(())
    }
    async fn update_command(&self, command: &Command) -> Result<()> {
        match self.commands.lock().unwrap().get_mut(&command.id) {
            Some(stored) => {
                *stored = command.clone();
                Ok(())
            }
            None => Err(Error::not_found("command", &command.id)),
        }
    }
    async fn get_command(&self, command_id: &str) -> Result<Option<Command>> {
        Ok(self.commands.lock().unwrap().get(command_id).cloned())
    }
    async fn command_by_idempotency_key(
        &self,
        issued_by: &str,
        idempotency_key: &str,
    ) -> Result<Option<Command>> {
        if self.miss_next_key_lookup.swap(false, Ordering::SeqCst) {
            return Ok(None);
        }
        Ok(self
            .commands
            .lock()
            .unwrap()
            .values()
            .find(|c| {
                c.issued_by == issued_by && c.idempotency_key.as_deref() == Some(idempotency_key)
            })
            .cloned())
    }
    async fn insert_mission(&self, mission: &Mission) -> Result<()> {
        let mut missions = self.missions.lock().unwrap();
        if missions
            .values()
            .any(|m| m.vehicle_id == mission.vehicle_id && m.status.is_active())
        {
            return Err(Error::Conflict(format!(
                "vehicle {} already has an active mission",
                mission.vehicle_id
            )));
        }
        missions.insert(mission.id.clone(), mission.clone());
        Ok(())
    }
    async fn update_mission(&self, mission: &Mission) -> Result<()> {
        let hold = self.hold_next_mission_update.lock().unwrap().take();
        if let Some(hold) = hold {
            hold.held.store(true, Ordering::SeqCst);
            hold.release.notified().await;
        }
        let mut missions = self.missions.lock().unwrap();
        let stored = missions
            .get_mut(&mission.id)
            .ok_or_else(|| Error::not_found("mission", &mission.id))?;
        if !stored.status.is_active() {
            return Err(Error::InvalidTransition {
                entity: "mission",
                from: stored.status.as_str().to_owned(),
                to: mission.status.as_str().to_owned(),
            });
        }
        *stored = mission.clone();
        Ok(())
    }
    async fn get_mission(&self, mission_id: &str) -> Result<Option<Mission>> {
        Ok(self.mission(mission_id))
    }
    async fn active_missions(&self) -> Result<Vec<Mission>> {
        Ok(self
            .missions
            .lock()
            .unwrap()
            .values()
            .filter(|m| m.status.is_active())
            .cloned()
            .collect())
    }
}

/// Records every command it is asked to send; refuses them all (after a short pause, as a
/// transport that takes a while to answer) when `refuse` is set.
#[derive(Default)]
pub(crate) struct RecordingSink {
    pub(crate) sent: Mutex<Vec<Command>>,
    pub(crate) refuse: bool,
}

impl RecordingSink {
    pub(crate) fn sent_ids(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.id.clone())
            .collect()
    }
}

#[async_trait]
impl CommandSink for RecordingSink {
    async fn dispatch(&self, command: &Command) -> Result<DispatchReceipt> {
        if self.refuse {
            tokio::time::sleep(Duration::from_millis(5)).await;
            return Err(Error::Conflict("the transport refused it".into()));
        }
        self.sent.lock().unwrap().push(command.clone());
        Ok(DispatchReceipt {
            command_id: command.id.clone(),
            accepted_at: Utc::now(),
            transport_ref: None,
        })
    }

    async fn next_ack(&self) -> Option<CommandAck> {
        std::future::pending().await
    }
}

/// A reading of `vehicle_id` in `fleet-001`, moving, taken `second` seconds after
/// 2023-11-14T22:13:20Z with sequence number `second`, at rest in Bogotá, heading north with
/// nothing loaded; set position, speed and the rest with struct update.
pub(crate) fn telemetry(vehicle_id: &str, second: i64) -> Telemetry {
    Telemetry {
        vehicle_id: vehicle_id.into(),
        fleet_id: "fleet-001".into(),
        latitude: 4.7110,
        longitude: -74.0721,
        speed_kmh: 0.0,
        battery_pct: 80.0,
        engine_temp_c: 70.0,
        load_pct: 0.0,
        status: VehicleStatus::Moving,
        timestamp: DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap(),
        heading_deg: 0.0,
        seq: second as u64,
        pose: None,
    }
}
