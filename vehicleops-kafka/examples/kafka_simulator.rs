//! The fleet simulator on Kafka: publishes telemetry to `fleet.telemetry.raw` and obeys
//! commands from `fleet.commands`, acknowledging them on `fleet.commands.acks`.
//!
//! Run with:
//!
//! ```text
//! scripts/kafka.sh start
//! cargo run -p vehicleops-kafka --example kafka_simulator -- [VEHICLES] [INTERVAL_MS] [SCENARIO]
//! ```
//!
//! Defaults: 20 vehicles every 500 ms in the `normal` scenario. Creates the topics when missing.
//! Settings come from `VEHICLEOPS_KAFKA_*` (see `KafkaConfig::from_env`); the simulator's
//! consumer group is `<group id>.simulator`. Stops on Ctrl-C and prints what it did.

use std::sync::Arc;
use std::time::Duration;

use vehicleops_core::{Simulator, SimulatorConfig, VehicleCommandLink};
use vehicleops_kafka::{
    KafkaConfig, KafkaTelemetryPublisher, KafkaVehicleLink, ProducerSettings, ensure_topics,
    standard_topics,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let defaults = SimulatorConfig::default();
    let sim = SimulatorConfig {
        vehicles: args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(defaults.vehicles),
        interval_ms: args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(defaults.interval_ms),
        scenario: args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(defaults.scenario),
        ..defaults
    };
    let config = KafkaConfig::from_env()?;
    let report = ensure_topics(
        &config,
        &standard_topics(&config.topics),
        None,
        Duration::from_secs(30),
    )
    .await?;
    for difference in &report.differences {
        eprintln!("warning: {difference}");
    }
    let settings = ProducerSettings::default();
    let publisher = Arc::new(KafkaTelemetryPublisher::new(&config, &settings)?);
    let link: Arc<dyn VehicleCommandLink> = Arc::new(KafkaVehicleLink::new(
        &config,
        &format!("{}.simulator", config.group_id),
        None,
        &settings,
    )?);
    let running = Simulator::new(sim)?.spawn(publisher, Some(link))?;
    tokio::signal::ctrl_c().await?;
    let report = running.stop().await?;
    println!(
        "ticks={} readings={} commands={}",
        report.ticks, report.readings, report.commands
    );
    Ok(())
}
