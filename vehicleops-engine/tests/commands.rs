//! Commands end to end on the in-process transport, with the test acting as the vehicles
//! through [`Engine::take_vehicle_link`]: a command nobody picks up expires, one delivered but
//! never finished times out, one that reaches the vehicle side after its expiry is never handed
//! out and ends EXPIRED with the link's reason, and a retried idempotency key sends one command.
//!
//! No timed assertions: every wait polls with a deadline.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::eventually;
use vehicleops_core::{
    AuditAction, AuditFilter, Command, CommandAck, CommandKind, CommandParams, CommandStatus,
    CommandTimeouts, ErrorKind, SimulatorConfig, Vehicle, VehicleCommandLink,
};
use vehicleops_engine::{Engine, EngineSettings, SimulatorRun};

const FLEET: &str = "fleet-cmd";
const VEHICLE: &str = "fleet-cmd-VH-1";

/// A started in-process engine with one registered vehicle and the vehicle side of its
/// commands in the test's hands.
async fn engine(timeouts: CommandTimeouts) -> (Engine, Arc<dyn VehicleCommandLink>) {
    let engine = Engine::open(EngineSettings {
        command_timeouts: timeouts,
        ..EngineSettings::default()
    })
    .await
    .unwrap();
    engine.start().await.unwrap();
    register(&engine, &[VEHICLE]).await;
    let link = engine.take_vehicle_link().unwrap();
    (engine, link)
}

/// Registers the test fleet and `vehicles` in it.
async fn register(engine: &Engine, vehicles: &[&str]) {
    engine
        .register_fleet(FLEET, Some("Commands"))
        .await
        .unwrap();
    for id in vehicles {
        engine
            .register_vehicle(Vehicle {
                id: (*id).into(),
                fleet_id: FLEET.into(),
                name: None,
                home: None,
            })
            .await
            .unwrap();
    }
}

/// Command timeouts with the sweep every `sweep_interval`.
fn timeouts(delivery: Duration, execution: Duration, sweep_interval: Duration) -> CommandTimeouts {
    CommandTimeouts {
        delivery,
        execution,
        sweep_interval,
    }
}

/// A simulator of one vehicle that stops after two ticks.
async fn two_ticks_of_one_vehicle(engine: &Engine) -> SimulatorRun {
    engine
        .run_simulator(SimulatorConfig {
            vehicles: 1,
            max_ticks: Some(2),
            ..SimulatorConfig::default()
        })
        .await
        .unwrap()
}

async fn dispatch(engine: &Engine, kind: CommandKind, key: Option<&str>) -> Command {
    engine
        .dispatch_command(VEHICLE, kind, CommandParams::default(), "op-1", key)
        .await
        .unwrap()
}

/// Waits for the command to reach `status` and returns it.
async fn ends(engine: &Engine, id: &str, status: CommandStatus) -> Command {
    eventually(&format!("{id} {}", status.as_str()), || async {
        Some(engine.command(id).await.unwrap()).filter(|c| c.status == status)
    })
    .await
}

fn ack(command: &Command, status: CommandStatus) -> CommandAck {
    CommandAck {
        command_id: command.id.clone(),
        vehicle_id: command.vehicle_id.clone(),
        status,
        at: Utc::now(),
        reason: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_no_vehicle_picks_up_ends_expired() {
    let (engine, link) = engine(timeouts(
        Duration::from_millis(300),
        Duration::from_secs(60),
        Duration::from_millis(50),
    ))
    .await;
    let stop = dispatch(&engine, CommandKind::Stop, None).await;
    assert_eq!(
        stop.expires_at,
        Some(stop.issued_at + chrono::Duration::milliseconds(300))
    );
    // The vehicle never polls: the sweep expires it.
    let expired = ends(&engine, &stop.id, CommandStatus::Expired).await;
    assert_eq!(
        expired.failure_reason.as_deref(),
        Some("no vehicle acknowledged the command in time")
    );
    assert_eq!(expired.delivered_at, None);
    // Polled now, it is never handed out.
    assert!(link.poll_commands(10).await.unwrap().is_empty());
    assert_eq!(
        engine.command(&stop.id).await.unwrap().status,
        CommandStatus::Expired
    );
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_command_never_finished_times_out() {
    let (engine, link) = engine(timeouts(
        Duration::from_secs(60),
        Duration::from_millis(300),
        Duration::from_millis(50),
    ))
    .await;
    let resume = dispatch(&engine, CommandKind::Resume, None).await;
    let received = eventually("the vehicle receives the command", || async {
        Some(link.poll_commands(10).await.unwrap()).filter(|c| !c.is_empty())
    })
    .await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, resume.id);
    assert_eq!(received[0].expires_at, resume.expires_at);
    link.send_acks(vec![ack(&resume, CommandStatus::Delivered)])
        .await
        .unwrap();
    let timed_out = ends(&engine, &resume.id, CommandStatus::Timeout).await;
    assert!(timed_out.delivered_at.is_some(), "{timed_out:?}");
    assert_eq!(
        timed_out.failure_reason.as_deref(),
        Some("the vehicle did not finish the command in time")
    );
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_polled_after_its_expiry_is_never_handed_out_and_ends_expired() {
    let (engine, link) = engine(timeouts(
        Duration::from_millis(300),
        Duration::from_secs(60),
        // Only the link can expire it within this test.
        Duration::from_secs(3600),
    ))
    .await;
    let stop = dispatch(&engine, CommandKind::Stop, None).await;
    let expiry = stop.expires_at.unwrap();
    eventually("the command's expiry to pass", || async {
        (Utc::now() > expiry).then_some(())
    })
    .await;
    assert!(
        link.poll_commands(10).await.unwrap().is_empty(),
        "a late command is never handed to the vehicle"
    );
    let expired = ends(&engine, &stop.id, CommandStatus::Expired).await;
    let reason = expired.failure_reason.unwrap();
    assert!(
        reason.contains("arrived after its expiry"),
        "the link's reason: {reason}"
    );
    // Nothing is left to take.
    assert!(link.poll_commands(10).await.unwrap().is_empty());
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_twice_sends_one_command() {
    let (engine, link) = engine(CommandTimeouts::default()).await;
    let first = dispatch(&engine, CommandKind::Stop, Some("stop-vh1-0001")).await;
    let retry = dispatch(&engine, CommandKind::Stop, Some("stop-vh1-0001")).await;
    assert_eq!(retry.id, first.id);
    assert_eq!(retry.idempotency_key.as_deref(), Some("stop-vh1-0001"));
    // The in-process sink queues a command before `dispatch_command` returns: whatever was
    // sent is there to poll now.
    let received = link.poll_commands(10).await.unwrap();
    let ids: Vec<&str> = received.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str()], "the link sees it once");
    let history = engine.command_history(VEHICLE, 10).await.unwrap();
    assert_eq!(history.total, 1);

    // The vehicle carries it out; a late retry still answers with the original, as it is now.
    link.send_acks(vec![ack(&first, CommandStatus::Executed)])
        .await
        .unwrap();
    ends(&engine, &first.id, CommandStatus::Executed).await;
    let late_retry = dispatch(&engine, CommandKind::Stop, Some("stop-vh1-0001")).await;
    assert_eq!(
        (late_retry.id.as_str(), late_retry.status),
        (first.id.as_str(), CommandStatus::Executed)
    );
    let err = engine
        .dispatch_command(
            VEHICLE,
            CommandKind::Resume,
            CommandParams::default(),
            "op-1",
            Some("stop-vh1-0001"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(link.poll_commands(10).await.unwrap().is_empty());
    assert_eq!(engine.command_history(VEHICLE, 10).await.unwrap().total, 1);

    // The audit trail has the command once: the retries sent nothing, and the conflict failed.
    let trail = engine
        .audit_log(&AuditFilter {
            fleet_ids: None,
            actor: None,
            action: Some(AuditAction::CommandDispatched),
            range: AuditFilter::window(None, None).unwrap(),
            before: None,
            limit: 0,
        })
        .await
        .unwrap();
    let recorded: Vec<(&str, Option<&str>)> = trail
        .iter()
        .map(|e| (e.actor.as_str(), e.target_id.as_deref()))
        .collect();
    assert_eq!(recorded, [("op-1", Some(first.id.as_str()))]);
    assert_eq!(trail[0].vehicle_id.as_deref(), Some(VEHICLE));
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vehicle_link_can_be_taken_once_and_not_after_a_simulator_took_it() {
    let engine = Engine::open(EngineSettings::default()).await.unwrap();
    let before = engine.take_vehicle_link().err().unwrap();
    assert_eq!(before.kind(), ErrorKind::Closed, "{before}");
    engine.start().await.unwrap();
    let _link = engine.take_vehicle_link().unwrap();
    let again = engine.take_vehicle_link().err().unwrap();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    // A simulator still runs, without commands.
    let run = two_ticks_of_one_vehicle(&engine).await;
    run.stop().await.unwrap();
    engine.close().await.unwrap();

    let engine = Engine::open(EngineSettings::default()).await.unwrap();
    engine.start().await.unwrap();
    let run = two_ticks_of_one_vehicle(&engine).await;
    let taken = engine.take_vehicle_link().err().unwrap();
    assert_eq!(
        taken.kind(),
        ErrorKind::Conflict,
        "the first simulator has it: {taken}"
    );
    run.stop().await.unwrap();
    engine.close().await.unwrap();
}

/// Two instances on one Kafka cluster; the first serves the vehicles (its vehicle link), the
/// second runs no simulator. Every command dispatched on the second reaches the vehicles and
/// ends EXECUTED, whichever partition its vehicle maps to: an instance without a simulator
/// must not join the vehicle side's consumer group, where it would be assigned part of the
/// commands and never execute them.
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_commands_from_any_instance_reach_the_instance_serving_the_vehicles() {
    use vehicleops_engine::{KafkaTransport, TransportSettings};

    let Some(kafka) = std::env::var("VEHICLEOPS_TEST_KAFKA")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        eprintln!("SKIPPED: set VEHICLEOPS_TEST_KAFKA (scripts/kafka.sh start) to run this test");
        return;
    };
    let run = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut config = vehicleops_kafka::KafkaConfig::new(kafka);
    config.group_id = format!("vehicleops-instances-{run}");
    config.topics = config.topics.with_suffix(&format!(".instances-{run}"));
    // Twelve vehicles: their keys spread over the commands topic's twelve partitions.
    let vehicles: Vec<String> = (0..12)
        .map(|i| format!("{FLEET}-{run}-VH-{i:02}"))
        .collect();
    let instance = || async {
        let engine = Engine::open(EngineSettings {
            transport: TransportSettings::Kafka(KafkaTransport {
                config: config.clone(),
                create_topics: true,
                share_events: false,
            }),
            // Generous: on a busy broker a new consumer group can take a while to form, and
            // a command that expired first would hide what this test looks for.
            command_timeouts: timeouts(
                Duration::from_secs(120),
                Duration::from_secs(120),
                Duration::from_millis(200),
            ),
            ..EngineSettings::default()
        })
        .await
        .unwrap();
        engine.start().await.unwrap();
        let ids: Vec<&str> = vehicles.iter().map(String::as_str).collect();
        register(&engine, &ids).await;
        engine
    };
    // The dispatching instance starts first: had it joined the vehicle side's consumer group,
    // it would hold partitions of the commands topic by the time the commands go out.
    let dispatching = instance().await;
    let serving = instance().await;
    let link = serving.take_vehicle_link().unwrap();
    let vehicles_side = tokio::spawn(async move {
        loop {
            let received = link.poll_commands(32).await.unwrap();
            let acks: Vec<CommandAck> = received
                .iter()
                .map(|c| ack(c, CommandStatus::Executed))
                .collect();
            if !acks.is_empty() {
                link.send_acks(acks).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let mut sent = Vec::new();
    for id in &vehicles {
        sent.push(
            dispatching
                .dispatch_command(
                    id,
                    CommandKind::Stop,
                    CommandParams::default(),
                    "op-1",
                    None,
                )
                .await
                .unwrap(),
        );
    }
    // Polls until every command is final, for longer than the delivery timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let finals = loop {
        let mut now = Vec::new();
        for c in &sent {
            now.push(dispatching.command(&c.id).await.unwrap());
        }
        if now.iter().all(|c| c.status.is_terminal()) || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let not_executed: Vec<_> = finals
        .iter()
        .filter(|c| c.status != CommandStatus::Executed)
        .map(|c| (&c.vehicle_id, c.status, &c.failure_reason))
        .collect();
    assert!(
        not_executed.is_empty(),
        "commands that did not reach the vehicles: {not_executed:?}"
    );
    vehicles_side.abort();
    dispatching.close().await.unwrap();
    serving.close().await.unwrap();
}
