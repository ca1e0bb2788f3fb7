//! The machine's limits, measured in the same run for comparison: Kafka's own producer and
//! consumer performance tools with the same records and partitions, and a raw binary `COPY`
//! of the same rows into the same PostgreSQL.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde::Serialize;
use sqlx::{Connection, PgPool};
use vehicleops_core::Reading;
use vehicleops_store::postgres::copy::{STAGING_COLUMNS, encode_readings};

use crate::load::Fleet;

/// What Kafka's tools measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KafkaLimits {
    pub records: u64,
    pub record_bytes_avg: u64,
    pub producer_records_per_s: f64,
    pub consumer_records_per_s: f64,
    /// The consumer tool's rate without its group join ("fetch.nMsg.sec").
    pub consumer_fetch_records_per_s: f64,
}

/// Runs `ProducerPerformance` then `ConsumerPerformance` from `kafka_home/libs` on a fresh topic
/// with `partitions`, producing `records` of the harness's own JSON payloads with the harness's
/// producer settings (`acks=all`, LZ4, `linger.ms`).
pub async fn kafka_tools(
    kafka_home: &Path,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    linger_ms: u64,
    scratch: &Path,
) -> Result<KafkaLimits> {
    let libs = kafka_home.join("libs");
    if !libs.join(".complete").exists() && !libs.is_dir() {
        bail!(
            "no Kafka jars in {} (run scripts/kafka.sh fetch)",
            libs.display()
        );
    }
    create_topic(bootstrap, topic, partitions).await?;
    // The same payloads the load sends: 1,000 distinct readings, one per line.
    let payloads = scratch.join("kafka-payloads.ndjson");
    let mut fleet = Fleet::new("perf-v", "fleet-001", 100);
    let mut text = String::new();
    for _ in 0..1000 {
        text.push_str(&serde_json::to_string(&fleet.next_reading())?);
        text.push('\n');
    }
    let record_bytes_avg = (text.len() / 1000) as u64;
    std::fs::write(&payloads, &text)?;
    let classpath = format!("{}/*", libs.display());
    let produced = java(
        &classpath,
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            topic,
            "--num-records",
            &records.to_string(),
            "--throughput",
            "-1",
            "--payload-file",
            &payloads.to_string_lossy(),
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
            "acks=all",
            "enable.idempotence=true",
            "compression.type=lz4",
            &format!("linger.ms={linger_ms}"),
        ],
    )
    .await?;
    let producer_records_per_s = parse_producer_rate(&produced)
        .with_context(|| format!("unexpected ProducerPerformance output:\n{produced}"))?;
    let consumed = java(
        &classpath,
        "org.apache.kafka.tools.ConsumerPerformance",
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--messages",
            &records.to_string(),
            "--group",
            &format!("{topic}-perf"),
            "--timeout",
            "60000",
        ],
    )
    .await?;
    let (consumer_records_per_s, consumer_fetch_records_per_s) = parse_consumer_rates(&consumed)
        .with_context(|| format!("unexpected ConsumerPerformance output:\n{consumed}"))?;
    Ok(KafkaLimits {
        records,
        record_bytes_avg,
        producer_records_per_s,
        consumer_records_per_s,
        consumer_fetch_records_per_s,
    })
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("Kafka admin client")?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await?;
    for r in results {
        r.map_err(|(t, e)| anyhow::anyhow!("creating topic {t}: {e}"))?;
    }
    Ok(())
}

async fn java(classpath: &str, class: &str, args: &[&str]) -> Result<String> {
    let out = tokio::process::Command::new("java")
        .args(["-Xmx512m", "-cp", classpath, class])
        .args(args)
        .output()
        .await
        .context("running java (17+ is needed for Kafka's tools)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{class} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// From the final summary `N records sent, R records/sec (…)`.
fn parse_producer_rate(out: &str) -> Option<f64> {
    let last = out.lines().rev().find(|l| l.contains("records sent"))?;
    let (before, _) = last.split_once(" records/sec")?;
    before.rsplit(", ").next()?.trim().parse().ok()
}

/// `nMsg.sec` and `fetch.nMsg.sec` from the CSV line under the header.
fn parse_consumer_rates(out: &str) -> Option<(f64, f64)> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("start.time"));
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let values: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let get = |name: &str| -> Option<f64> {
        let i = header.iter().position(|h| *h == name)?;
        values.get(i)?.parse().ok()
    };
    Some((get("nMsg.sec")?, get("fetch.nMsg.sec")?))
}

/// A raw binary `COPY` of `rows` readings like the load's into a scratch table with the
/// layout, key and indexes of `vehicleops.telemetry`, in `batch`-row transactions, as the
/// pipeline writes. Returns rows/s.
pub async fn raw_copy(pool: &PgPool, rows: u64, batch: usize) -> Result<f64> {
    sqlx::raw_sql(
        "DROP SCHEMA IF EXISTS load_raw CASCADE;
         CREATE SCHEMA load_raw;
         CREATE TABLE load_raw.telemetry (LIKE vehicleops.telemetry INCLUDING ALL)
             PARTITION BY RANGE (time);",
    )
    .execute(pool)
    .await
    .context("creating the raw COPY table")?;
    let today = chrono::Utc::now().date_naive();
    for day in [
        today.pred_opt().unwrap_or(today),
        today,
        today.succ_opt().unwrap_or(today),
    ] {
        let next = day.succ_opt().unwrap_or(day);
        sqlx::raw_sql(&format!(
            "CREATE TABLE load_raw.telemetry_{} PARTITION OF load_raw.telemetry
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')",
            day.format("%Y%m%d")
        ))
        .execute(pool)
        .await?;
    }
    let mut fleet = Fleet::new("raw-v", "fleet-001", 1000);
    let readings: Vec<Reading> = (0..rows)
        .map(|_| Reading {
            telemetry: fleet.next_reading(),
            distance_m: 1.0,
        })
        .collect();
    let began = Instant::now();
    for chunk in readings.chunks(batch.max(1)) {
        let data = encode_readings(chunk)?;
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY load_raw.telemetry ({STAGING_COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await?;
        copy.send(data).await?;
        copy.finish().await?;
        tx.commit().await?;
    }
    let rate = rows as f64 / began.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP SCHEMA load_raw CASCADE")
        .execute(pool)
        .await?;
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_summary_rate_is_parsed() {
        let out = "149985 records sent, 29997.0 records/sec (7.15 MB/sec), 3.1 ms avg latency, 250.0 ms max latency.\n\
                   300000 records sent, 152345.6 records/sec (35.00 MB/sec), 120.5 ms avg latency, 800.0 ms max latency, 100 ms 50th, 300 ms 95th, 500 ms 99th, 700 ms 99.9th.\n";
        assert_eq!(parse_producer_rate(out), Some(152345.6));
    }

    #[test]
    fn consumer_csv_rates_are_parsed() {
        let out = "WARNING: something\nstart.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n\
                   2026-11-27 16:00:00:000, 2026-11-27 16:00:03:000, 70.0, 23.3, 300000, 100000.0, 1000, 2000, 35.0, 150000.0\n";
        assert_eq!(parse_consumer_rates(out), Some((100000.0, 150000.0)));
    }
}
