//! Commands through Kafka: the command center dispatches over `fleet.commands`, a vehicle-side
//! link receives them (STOP first) and acknowledges over `fleet.commands.acks`, and the
//! lifecycle reaches EXECUTED. Needs `VEHICLEOPS_TEST_KAFKA`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use vehicleops_core::inproc::VehicleCommandLink;
use vehicleops_core::{
    CommandAck, CommandCenter, CommandKind, CommandParams, CommandStatus, CommandTimeouts, Fleet,
    FleetRepository, Vehicle,
};
use vehicleops_kafka::{KafkaCommandSink, KafkaVehicleLink, ProducerSettings};
use vehicleops_store::SqliteStore;

async fn repository_with_vh1() -> Arc<SqliteStore> {
    let repo = Arc::new(SqliteStore::in_memory().unwrap());
    repo.upsert_fleet(&Fleet {
        id: "fleet-001".into(),
        name: "Yard".into(),
    })
    .await
    .unwrap();
    repo.upsert_vehicle(&Vehicle {
        id: "VH-1".into(),
        fleet_id: "fleet-001".into(),
        name: None,
        home: None,
    })
    .await
    .unwrap();
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_round_trip_through_kafka_to_executed_with_stop_first() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "commands");
    create_topics(&config).await;

    let repo = repository_with_vh1().await;
    let sink = Arc::new(KafkaCommandSink::new(&config, &ProducerSettings::default()).unwrap());
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        repo.clone(),
        None,
        CommandTimeouts {
            delivery: Duration::from_secs(120),
            execution: Duration::from_secs(120),
            ..CommandTimeouts::default()
        },
    );

    // Dispatched before the vehicle looks: RESUME and RETURN_TO_BASE, then STOP.
    let mut sent = Vec::new();
    for kind in [
        CommandKind::Resume,
        CommandKind::ReturnToBase,
        CommandKind::Stop,
    ] {
        sent.push(
            center
                .dispatch("VH-1", kind, CommandParams::default(), "op-7", None)
                .await
                .unwrap(),
        );
    }

    let link = KafkaVehicleLink::new(
        &config,
        &format!("{}.vehicles", config.group_id),
        None,
        &ProducerSettings::default(),
    )
    .unwrap();
    wait_until(
        "the vehicle receives all commands",
        Duration::from_secs(60),
        || {
            let buffered = link.buffered();
            async move { buffered >= 3 }
        },
    )
    .await;
    let received = link.poll_commands(10).await.unwrap();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[0].command,
        CommandKind::Stop,
        "STOP must come first"
    );
    let ids: Vec<&str> = received.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [&sent[2].id, &sent[0].id, &sent[1].id]);

    // The vehicle acknowledges delivery, then execution.
    for status in [CommandStatus::Delivered, CommandStatus::Executed] {
        let acks = received
            .iter()
            .map(|c| CommandAck {
                command_id: c.id.clone(),
                vehicle_id: c.vehicle_id.clone(),
                status,
                at: Utc::now(),
                reason: None,
            })
            .collect();
        link.send_acks(acks).await.unwrap();
    }
    for command in &sent {
        let repo = repo.clone();
        wait_until("the command is EXECUTED", Duration::from_secs(60), || {
            let repo = repo.clone();
            let id = command.id.clone();
            async move {
                repo.get_command(&id).await.unwrap().unwrap().status == CommandStatus::Executed
            }
        })
        .await;
        let stored = repo.get_command(&command.id).await.unwrap().unwrap();
        assert!(stored.delivered_at.is_some() && stored.executed_at.is_some());
        assert_eq!(stored.issued_by, "op-7");
    }
    sink.close();
    link.close();
    drop_topics(&config).await;
}

/// A vehicle that comes online after a command's expiry never receives it: its link drops the
/// command and acknowledges it EXPIRED, which the command center records with the link's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_reaching_the_vehicle_link_after_its_expiry_is_refused_expired() {
    let Some(bootstrap) = single_broker() else {
        return;
    };
    init_tracing();
    let config = unique_config(&bootstrap, "commands-expiry");
    create_topics(&config).await;
    let repo = repository_with_vh1().await;
    let sink = Arc::new(KafkaCommandSink::new(&config, &ProducerSettings::default()).unwrap());
    let (center, _task) = CommandCenter::start(
        sink.clone(),
        repo.clone(),
        None,
        CommandTimeouts {
            delivery: Duration::from_secs(1),
            execution: Duration::from_secs(120),
            // Only the link's answer can expire it within this test.
            sweep_interval: Duration::from_secs(3600),
        },
    );
    let late = center
        .dispatch(
            "VH-1",
            CommandKind::Stop,
            CommandParams::default(),
            "op-7",
            None,
        )
        .await
        .unwrap();
    let expiry = late.expires_at.expect("dispatch sets the expiry");
    wait_until(
        "the command's expiry passes",
        Duration::from_secs(60),
        || async move { Utc::now() > expiry },
    )
    .await;

    let link = KafkaVehicleLink::new(
        &config,
        &format!("{}.vehicles", config.group_id),
        None,
        &ProducerSettings::default(),
    )
    .unwrap();
    wait_until(
        "the link receives the command",
        Duration::from_secs(60),
        || {
            let buffered = link.buffered();
            async move { buffered >= 1 }
        },
    )
    .await;
    assert!(
        link.poll_commands(10).await.unwrap().is_empty(),
        "an expired command is never handed to the vehicle"
    );
    assert_eq!(link.buffered(), 0);
    wait_until("the command is EXPIRED", Duration::from_secs(60), || {
        let repo = repo.clone();
        let id = late.id.clone();
        async move {
            repo.get_command(&id).await.unwrap().unwrap().status == CommandStatus::Expired
        }
    })
    .await;
    let stored = repo.get_command(&late.id).await.unwrap().unwrap();
    assert!(
        stored
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("after its expiry")),
        "the link's reason, not the sweep's: {stored:?}"
    );
    sink.close();
    link.close();
    drop_topics(&config).await;
}
