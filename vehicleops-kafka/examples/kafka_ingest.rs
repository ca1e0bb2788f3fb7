//! Kafka → pipeline (default rules: none) → embedded SQLite store, as one process.
//!
//! Run with:
//!
//! ```text
//! VEHICLEOPS_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 \
//!   cargo run -p vehicleops-kafka --example kafka_ingest -- fleet.db
//! ```
//!
//! Settings come from `VEHICLEOPS_KAFKA_*` (see `KafkaConfig::from_env`). Prints the pipeline's
//! counters as `stored=N duplicates=N dead_lettered=N` lines every 200 ms; stops cleanly on
//! Ctrl-C. The crash tests SIGKILL it mid-stream and start it again: it resumes from the
//! committed offsets, and the store's natural key absorbs what is replayed.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use vehicleops_core::PipelineBuilder;
use vehicleops_kafka::{KafkaConfig, KafkaTelemetrySource, SourceSettings};
use vehicleops_store::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: kafka_ingest <sqlite file>")?;
    let config = KafkaConfig::from_env()?;
    let store = Arc::new(SqliteStore::open(&path)?);
    let source = Arc::new(KafkaTelemetrySource::new(
        &config,
        SourceSettings::default(),
    )?);
    let pipeline = PipelineBuilder::new(source.clone(), store).spawn();
    let stats = pipeline.stats();
    let report = tokio::spawn(async move {
        loop {
            let s = stats.snapshot();
            {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "stored={} duplicates={} dead_lettered={}",
                    s.stored, s.duplicates, s.dead_lettered
                );
                let _ = out.flush();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio::signal::ctrl_c().await?;
    report.abort();
    let last = pipeline.shutdown().await?;
    tokio::task::spawn_blocking(move || source.close()).await?;
    println!(
        "final stored={} duplicates={} dead_lettered={}",
        last.stored, last.duplicates, last.dead_lettered
    );
    Ok(())
}
