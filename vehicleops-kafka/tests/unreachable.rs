//! The broker unreachable at startup and again mid-stream: clear errors in the logs, the
//! clients reconnect by themselves, nothing crashes, nothing is lost or stored twice.
//!
//! Runs its own private broker (`scripts/kafka.sh --port-base <free port>` with a temporary
//! state folder) so it can stop it without disturbing other tests. Opt in with
//! `VEHICLEOPS_TEST_KAFKA` like the other Kafka tests (it proves the jars are fetched).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use vehicleops_core::PipelineBuilder;
use vehicleops_core::inproc::TelemetryPublisher;
use vehicleops_kafka::{
    KafkaConfig, KafkaTelemetryPublisher, KafkaTelemetrySource, ProducerSettings, SourceSettings,
    ensure_topics, standard_topics,
};
use vehicleops_store::SqliteStore;

const FLEET: &str = "fleet-outage";

/// A client port whose controller port (+100) is free too: other brokers on this machine
/// must not answer for ours.
fn free_port_base() -> u16 {
    loop {
        let client = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = client.local_addr().unwrap().port();
        if port < 65_000 && std::net::TcpListener::bind(("127.0.0.1", port + 100)).is_ok() {
            return port;
        }
    }
}

/// Collects everything logged, to check what an operator would see.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The private broker; stopped (by PID, through the script) when dropped.
struct PrivateBroker {
    state: std::path::PathBuf,
    port_base: String,
}

impl PrivateBroker {
    fn env(&self) -> Vec<(&str, &str)> {
        vec![("VEHICLEOPS_KAFKA_STATE", self.state.to_str().unwrap())]
    }
    fn run(&self, command: &str) -> String {
        run_script(&["--port-base", &self.port_base, command], &self.env())
    }
    fn kill(&self) {
        let pid = run_script(&["--port-base", &self.port_base, "pid", "1"], &self.env());
        let ok = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(kafka_script())
            .args(["--port-base", &self.port_base, "stop"])
            .envs(self.env())
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_startup_and_mid_stream_loses_nothing() {
    if single_broker().is_none() {
        return;
    }
    let logs = LogBuffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let broker = Arc::new(PrivateBroker {
        state: std::env::temp_dir().join(format!("vehicleops-outage-{}", uuid::Uuid::new_v4())),
        port_base: free_port_base().to_string(),
    });
    let start = {
        let broker = broker.clone();
        move || broker.run("start")
    };
    let bootstrap = tokio::task::spawn_blocking(start.clone())
        .await
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let config: KafkaConfig = unique_config(&bootstrap, "outage");
    create_topics(&config).await;
    {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || broker.run("stop"))
            .await
            .unwrap();
    }

    // Startup with the broker away: admin calls fail with a clear error…
    let err = ensure_topics(
        &config,
        &standard_topics(&config.topics),
        None,
        Duration::from_secs(3),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("reading cluster metadata"),
        "{err}"
    );

    // …while the source, the pipeline and the publisher start anyway and wait for it.
    let (vehicles, ticks) = (10, 200);
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let source = Arc::new(KafkaTelemetrySource::new(&config, SourceSettings::default()).unwrap());
    let pipeline = PipelineBuilder::new(source.clone(), store.clone()).spawn();
    let stats = pipeline.stats();
    let publisher =
        Arc::new(KafkaTelemetryPublisher::new(&config, &ProducerSettings::default()).unwrap());
    let producer = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for seq in 1..=ticks {
                publisher
                    .publish(fleet_tick_range(FLEET, vehicles, seq, seq))
                    .await
                    .expect("publish");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    wait_until(
        "a connection error is logged",
        Duration::from_secs(60),
        || {
            let text = logs.text();
            let port = format!("{bootstrap} failed: Connection refused");
            async move { text.contains(&port) }
        },
    )
    .await;

    // The broker comes up: everything connects by itself.
    tokio::task::spawn_blocking(start.clone()).await.unwrap();
    wait_until("readings flow", Duration::from_secs(90), || {
        let n = stats.snapshot().stored;
        async move { n >= 200 }
    })
    .await;

    // It dies mid-stream and comes back.
    broker.kill();
    assert!(!producer.is_finished(), "the outage should land mid-stream");
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::spawn_blocking(start).await.unwrap();
    producer.await.unwrap();

    let expected = vehicles as u64 * ticks;
    wait_until("every reading stored", Duration::from_secs(120), || {
        let n = stats.snapshot().stored;
        async move { n >= expected }
    })
    .await;
    pipeline.shutdown().await.unwrap();
    tokio::task::spawn_blocking(move || source.close())
        .await
        .unwrap();
    let (stored, rows) = stored_keys(store.as_ref(), vehicles).await;
    assert_eq!(rows as u64, expected, "rows stored twice or lost");
    assert_eq!(stored, keys(&fleet_tick_range(FLEET, vehicles, 1, ticks)));
}
