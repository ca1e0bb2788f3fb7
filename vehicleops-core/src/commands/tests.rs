//! The command center against an in-memory repository and a sink that records what it was
//! asked to send.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::model::{Alert, Fleet, Mission, Operator, Vehicle, Waypoint};
use crate::traits::{AlertFilter, DispatchReceipt, MissionFilter};

/// Commands in a map with the repository's two uniqueness rules (id; issuer + key), one vehicle
/// `VH-1` and `VH-2`; everything else is not needed here.
#[derive(Default)]
struct MemoryRepository {
    commands: Mutex<HashMap<String, Command>>,
    /// Answer the next key lookup with "none", as if a concurrent dispatch inserted its command
    /// just after this one looked.
    miss_next_key_lookup: AtomicBool,
}

fn not_here<T>() -> Result<T> {
    Err(Error::backend_msg("memory", "not part of this test"))
}

#[async_trait]
impl FleetRepository for MemoryRepository {
    async fn upsert_fleet(&self, _: &Fleet) -> Result<()> {
        not_here()
    }
    async fn get_fleet(&self, _: &str) -> Result<Option<Fleet>> {
        not_here()
    }
    async fn list_fleets(&self) -> Result<Vec<Fleet>> {
        not_here()
    }
    async fn upsert_vehicle(&self, _: &Vehicle) -> Result<()> {
        not_here()
    }
    async fn get_vehicle(&self, vehicle_id: &str) -> Result<Option<Vehicle>> {
        Ok(["VH-1", "VH-2"].contains(&vehicle_id).then(|| Vehicle {
            id: vehicle_id.into(),
            fleet_id: "fleet-001".into(),
            name: None,
            home: None,
        }))
    }
    async fn list_vehicles(&self, _: &str) -> Result<Vec<Vehicle>> {
        not_here()
    }
    async fn upsert_operator(&self, _: &Operator) -> Result<()> {
        not_here()
    }
    async fn operator_by_email(&self, _: &str) -> Result<Option<Operator>> {
        not_here()
    }
    async fn get_operator(&self, _: &str) -> Result<Option<Operator>> {
        not_here()
    }
    async fn insert_alert(&self, _: &Alert) -> Result<()> {
        not_here()
    }
    async fn clear_alert(&self, _: &str, _: DateTime<Utc>) -> Result<()> {
        not_here()
    }
    async fn acknowledge_alert(
        &self,
        _: &str,
        _: &str,
        _: DateTime<Utc>,
        _: Option<&str>,
    ) -> Result<Alert> {
        not_here()
    }
    async fn get_alert(&self, _: &str) -> Result<Option<Alert>> {
        not_here()
    }
    async fn list_alerts(&self, _: &AlertFilter) -> Result<Page<Alert>> {
        not_here()
    }
    async fn count_open_alerts(&self, _: &str) -> Result<u64> {
        not_here()
    }
    async fn open_alerts(&self, _: &[String]) -> Result<Vec<Alert>> {
        not_here()
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
    async fn list_commands(&self, _: &str, _: u32) -> Result<Page<Command>> {
        not_here()
    }
    async fn pending_commands(&self) -> Result<Vec<Command>> {
        not_here()
    }
    async fn insert_mission(&self, _: &Mission) -> Result<()> {
        not_here()
    }
    async fn update_mission(&self, _: &Mission) -> Result<()> {
        not_here()
    }
    async fn get_mission(&self, _: &str) -> Result<Option<Mission>> {
        not_here()
    }
    async fn active_mission(&self, _: &str) -> Result<Option<Mission>> {
        not_here()
    }
    async fn count_active_missions(&self, _: &str) -> Result<u64> {
        not_here()
    }
    async fn active_missions(&self) -> Result<Vec<Mission>> {
        not_here()
    }
    async fn list_missions(&self, _: &MissionFilter) -> Result<Page<Mission>> {
        not_here()
    }
}

/// Records every command it is asked to send; refuses them all (after a short pause, as a
/// transport that takes a while to answer) when `refuse` is set.
#[derive(Default)]
struct RecordingSink {
    sent: Mutex<Vec<Command>>,
    refuse: bool,
}

impl RecordingSink {
    fn sent_ids(&self) -> Vec<String> {
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

struct Fixture {
    center: Arc<CommandCenter>,
    repo: Arc<MemoryRepository>,
    sink: Arc<RecordingSink>,
    _task: CommandCenterTask,
}

fn fixture_with(sink: RecordingSink, delivery: Duration) -> Fixture {
    let repo = Arc::new(MemoryRepository::default());
    let sink = Arc::new(sink);
    let (center, task) = CommandCenter::start(
        sink.clone(),
        repo.clone(),
        None,
        CommandTimeouts {
            delivery,
            execution: Duration::from_secs(60),
            // The tests sweep by hand.
            sweep_interval: Duration::from_secs(3600),
        },
    );
    Fixture {
        center,
        repo,
        sink,
        _task: task,
    }
}

fn fixture() -> Fixture {
    fixture_with(RecordingSink::default(), Duration::from_secs(30))
}

fn route(reason: &str) -> CommandParams {
    CommandParams {
        waypoints: vec![Waypoint {
            latitude: 4.7110,
            longitude: -74.0721,
            order: 1,
        }],
        reason: Some(reason.into()),
    }
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_original_and_sends_it_once() {
    let f = fixture();
    let first = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Reroute,
            route("detour"),
            "op-1",
            Some("retry-1"),
        )
        .await
        .unwrap();
    assert_eq!(first.idempotency_key.as_deref(), Some("retry-1"));
    let again = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Reroute,
            route("detour"),
            "op-1",
            Some("retry-1"),
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        f.sink.sent_ids(),
        std::slice::from_ref(&first.id),
        "sent once"
    );
    assert_eq!(f.repo.commands.lock().unwrap().len(), 1);
    assert_eq!(f.center.pending_count(), 1);

    // Another issuer's key is its own; no key at all is a new command every time.
    let other = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Reroute,
            route("detour"),
            "op-2",
            Some("retry-1"),
        )
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    for _ in 0..2 {
        f.center
            .dispatch(
                "VH-1",
                CommandKind::Stop,
                CommandParams::default(),
                "op-1",
                None,
            )
            .await
            .unwrap();
    }
    assert_eq!(f.sink.sent_ids().len(), 4);
}

#[tokio::test]
async fn a_key_reused_for_a_different_command_is_a_conflict() {
    let f = fixture();
    let first = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Reroute,
            route("detour"),
            "op-1",
            Some("k"),
        )
        .await
        .unwrap();
    let mut elsewhere = route("detour");
    elsewhere.waypoints[0].latitude += 0.001;
    for (vehicle, kind, params) in [
        ("VH-2", CommandKind::Reroute, route("detour")),
        ("VH-1", CommandKind::ReturnToBase, CommandParams::default()),
        ("VH-1", CommandKind::Reroute, route("another reason")),
        ("VH-1", CommandKind::Reroute, elsewhere),
    ] {
        let err = f
            .center
            .dispatch(vehicle, kind, params, "op-1", Some("k"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{vehicle} {kind:?}: {err}");
        assert!(
            err.to_string().contains("was used for a different command"),
            "{err}"
        );
    }
    assert_eq!(f.sink.sent_ids(), [first.id]);
}

#[tokio::test]
async fn bad_keys_are_refused_naming_the_key_and_nothing_is_sent() {
    let f = fixture();
    let long = "k".repeat(201);
    for key in ["", long.as_str(), "line\nbreak", "caf\u{e9}"] {
        let err = f
            .center
            .dispatch(
                "VH-1",
                CommandKind::Stop,
                CommandParams::default(),
                "op-1",
                Some(key),
            )
            .await
            .unwrap_err();
        match err {
            Error::Validation(v) => assert_eq!(v.field, "idempotency_key", "{key:?}"),
            other => panic!("{key:?}: expected a validation error, got {other}"),
        }
    }
    assert!(f.sink.sent_ids().is_empty());
    assert!(f.repo.commands.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_dispatch_that_loses_the_race_for_its_key_returns_the_winner_unsent() {
    let f = fixture();
    // The winner was stored by a concurrent dispatch (here: another instance) just after this
    // one looked the key up and found nothing.
    let mut winner = Command::new(
        "VH-1",
        "fleet-001",
        CommandKind::Stop,
        CommandParams::default(),
        "op-1",
    )
    .unwrap();
    winner.idempotency_key = Some("k".into());
    f.repo.insert_command(&winner).await.unwrap();
    f.repo.miss_next_key_lookup.store(true, Ordering::SeqCst);
    let answer = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            Some("k"),
        )
        .await
        .unwrap();
    assert_eq!(answer.id, winner.id);
    assert!(f.sink.sent_ids().is_empty(), "the loser sends nothing");
    assert_eq!(f.repo.commands.lock().unwrap().len(), 1);
    assert_eq!(f.center.pending_count(), 0);
}

#[tokio::test]
async fn commands_expire_at_issue_time_plus_the_delivery_timeout() {
    let f = fixture();
    let c = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let expiry = c.expires_at.unwrap();
    assert_eq!(expiry - c.issued_at, chrono::Duration::seconds(30));
    assert_eq!(f.sink.sent.lock().unwrap()[0].expires_at, Some(expiry));
    assert_eq!(
        f.repo.get_command(&c.id).await.unwrap().unwrap().expires_at,
        Some(expiry)
    );

    // The sweep expires it once past that instant, and not before.
    assert!(f.center.sweep(expiry).await.unwrap().is_empty());
    let swept = f
        .center
        .sweep(expiry + chrono::Duration::milliseconds(1))
        .await
        .unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].status, CommandStatus::Expired);
}

#[tokio::test]
async fn a_vehicles_expired_ack_ends_the_command_expired_with_its_reason() {
    let f = fixture();
    let c = f
        .center
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap();
    let late = c.expires_at.unwrap() + chrono::Duration::seconds(1);
    let done = f
        .center
        .apply_ack(&c.expired_ack(late))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, CommandStatus::Expired);
    assert!(
        done.failure_reason.unwrap().contains("after its expiry"),
        "the vehicle's reason is kept"
    );
    assert_eq!(f.center.pending_count(), 0);
}

#[tokio::test]
async fn a_transport_refusing_a_command_past_its_expiry_leaves_it_expired_not_failed() {
    // Expires the instant it is issued; the sink answers a few ms later.
    let f = fixture_with(
        RecordingSink {
            refuse: true,
            ..RecordingSink::default()
        },
        Duration::ZERO,
    );
    f.center
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap_err();
    let stored: Vec<Command> = f.repo.commands.lock().unwrap().values().cloned().collect();
    assert_eq!(stored[0].status, CommandStatus::Expired);
    assert!(
        stored[0]
            .failure_reason
            .as_deref()
            .unwrap()
            .starts_with("not sent: "),
        "{stored:?}"
    );

    // Refused within its expiry it is a plain failure.
    let f = fixture_with(
        RecordingSink {
            refuse: true,
            ..RecordingSink::default()
        },
        Duration::from_secs(30),
    );
    f.center
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            CommandParams::default(),
            "op-1",
            None,
        )
        .await
        .unwrap_err();
    let stored: Vec<Command> = f.repo.commands.lock().unwrap().values().cloned().collect();
    assert_eq!(stored[0].status, CommandStatus::Failed);
}
