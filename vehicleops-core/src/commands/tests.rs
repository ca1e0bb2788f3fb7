//! The command center against an in-memory repository and a sink that records what it was
//! asked to send.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::model::Waypoint;
use crate::test_support::{MemoryRepository, RecordingSink};

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

impl Fixture {
    /// A STOP of `VH-1` by `op-1`, without a key.
    async fn stop(&self) -> Result<Command> {
        self.center
            .dispatch(
                "VH-1",
                CommandKind::Stop,
                CommandParams::default(),
                "op-1",
                None,
            )
            .await
    }

    /// A REROUTE of `VH-1` (reason "detour") by `issued_by` with idempotency key `key`.
    async fn detour(&self, issued_by: &str, key: &str) -> Result<Command> {
        self.center
            .dispatch(
                "VH-1",
                CommandKind::Reroute,
                route("detour"),
                issued_by,
                Some(key),
            )
            .await
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
    let first = f.detour("op-1", "retry-1").await.unwrap();
    assert_eq!(first.idempotency_key.as_deref(), Some("retry-1"));
    let again = f.detour("op-1", "retry-1").await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        f.sink.sent_ids(),
        std::slice::from_ref(&first.id),
        "sent once"
    );
    assert_eq!(f.repo.commands.lock().unwrap().len(), 1);
    assert_eq!(f.center.pending_count(), 1);

    // Another issuer's key is its own; no key at all is a new command every time.
    let other = f.detour("op-2", "retry-1").await.unwrap();
    assert_ne!(other.id, first.id);
    for _ in 0..2 {
        f.stop().await.unwrap();
    }
    assert_eq!(f.sink.sent_ids().len(), 4);
}

#[tokio::test]
async fn a_key_reused_for_a_different_command_is_a_conflict() {
    let f = fixture();
    let first = f.detour("op-1", "k").await.unwrap();
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
    let c = f.stop().await.unwrap();
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
    let c = f.stop().await.unwrap();
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
    f.stop().await.unwrap_err();
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
    f.stop().await.unwrap_err();
    let stored: Vec<Command> = f.repo.commands.lock().unwrap().values().cloned().collect();
    assert_eq!(stored[0].status, CommandStatus::Failed);
}

#[tokio::test]
async fn an_ack_naming_another_vehicle_is_ignored() {
    let f = fixture();
    let c = f.stop().await.unwrap();
    let ack = |vehicle: &str, status| CommandAck {
        command_id: c.id.clone(),
        vehicle_id: vehicle.into(),
        status,
        at: Utc::now(),
        reason: None,
    };
    // Tracked here: VH-2 cannot answer VH-1's command.
    assert!(
        f.center
            .apply_ack(&ack("VH-2", CommandStatus::Executed))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.repo.get_command(&c.id).await.unwrap().unwrap().status,
        CommandStatus::Dispatched
    );
    assert_eq!(f.center.pending_count(), 1);
    assert_eq!(f.center.foreign_acks(), 1, "counted for the metric");

    // Known only from the repository (another instance, or before a restart): the same.
    let other = fixture();
    other.repo.insert_command(&c).await.unwrap();
    assert!(
        other
            .center
            .apply_ack(&ack("VH-2", CommandStatus::Delivered))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        other.repo.get_command(&c.id).await.unwrap().unwrap().status,
        CommandStatus::Dispatched
    );
    assert_eq!(other.center.foreign_acks(), 1);

    // Its own vehicle still moves it on.
    let done = f
        .center
        .apply_ack(&ack("VH-1", CommandStatus::Executed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, CommandStatus::Executed);
    assert_eq!(
        f.center.foreign_acks(),
        1,
        "an ack from its own vehicle is not counted"
    );
}
