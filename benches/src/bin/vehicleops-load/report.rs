//! What a run measured: the JSON report's shape and the human summary.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::limits::KafkaLimits;
use crate::verify::Verdict;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram in microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// One process's share of the machine.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessUsage {
    /// Percent of one core (200 % = both cores of this machine).
    pub cpu_pct: f64,
    pub rss_mb: f64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub produced: u64,
    pub received: u64,
    pub stored: u64,
    /// Records acknowledged by Kafka but not yet read by the pipeline.
    pub consumer_lag: i64,
    /// Records acknowledged by Kafka (or the bus) but not yet stored.
    pub store_lag: i64,
    /// Average store batch write in this second, when a batch was written.
    pub write_avg_ms: Option<f64>,
    pub ws_updates: u64,
    pub processes: BTreeMap<String, ProcessUsage>,
}

/// Store batch writes over the measured window (from the server's `/metrics`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreWrites {
    pub batches: u64,
    pub avg_ms: f64,
    /// Upper bounds of the duration buckets holding the median and the 99th percentile write
    /// (from the server's `vehicleops_store_write_duration_seconds` histogram).
    pub p50_ms_at_most: Option<f64>,
    pub p99_ms_at_most: Option<f64>,
    /// The slowest batch since the server started.
    pub max_ms: f64,
    pub avg_rows_per_batch: f64,
}

/// One run at one offered rate.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub mode: String,
    pub run_id: String,
    pub offered_per_s: u64,
    pub vehicles: usize,
    pub ws_clients: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub produced: u64,
    pub delivery_failures: u64,
    /// The producer could not keep the schedule for a whole second at some point.
    pub producer_fell_behind: bool,
    /// Rates over the measured window (after warm-up).
    pub produced_per_s: f64,
    pub received_per_s: f64,
    pub stored_per_s: f64,
    /// Seconds from the end of publishing until the last record was stored.
    pub drain_s: f64,
    pub latency: Latency,
    /// Publish → consume by a plain Kafka consumer beside the server (Kafka mode): Kafka's
    /// share of `latency`.
    pub kafka_latency: Option<Latency>,
    /// Publish → the server's processed-telemetry topic, read by a plain consumer (Kafka
    /// mode): Kafka in, the pipeline's processing, Kafka out — everything but the WebSocket.
    pub processed_latency: Option<Latency>,
    pub ws_updates: u64,
    /// Updates the clients would get with no coalescing: run readings × clients.
    pub ws_updates_uncoalesced: u64,
    pub store_writes: StoreWrites,
    /// Averages over the measured window.
    pub processes: BTreeMap<String, ProcessUsage>,
    pub verdict: Verdict,
    /// Stored rate kept up with the offered one (≥ 95 %) and the backlog drained in 5 s.
    pub sustained: bool,
    pub timeline: Vec<Sample>,
    /// `--soak`: the server's resources over the run.
    pub soak: Option<crate::soak::SoakReport>,
}

fn bound(ms: Option<f64>) -> String {
    ms.map_or_else(|| "?".into(), |v| format!("{v}"))
}

/// The machine's limits measured in the same invocation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Limits {
    pub kafka: Option<KafkaLimits>,
    pub raw_copy_rows_per_s: Option<f64>,
}

/// The whole JSON report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub command: String,
    pub started_at: String,
    pub machine: Machine,
    pub runs: Vec<RunReport>,
    pub limits: Limits,
    /// Our peak rates as fractions of the limits.
    pub ratios: BTreeMap<String, f64>,
    /// The highest offered rate that was sustained with p99 under the bound (sweeps).
    pub max_sustained_per_s: Option<u64>,
    pub latency_bound_ms: f64,
}

/// Where it ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub load_average_at_start: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map_or_else(String::new, |(_, m)| m.trim().to_owned()),
            memory_gib: mem_kb / 1024.0 / 1024.0,
            load_average_at_start: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl Report {
    /// Fills `ratios`: the peak of each of our rates over the runs (a run offered more than
    /// the system takes shows its capacity) against the tool measuring the same thing.
    pub fn compute_ratios(&mut self) {
        let peak = |rate: fn(&RunReport) -> f64| self.runs.iter().map(rate).fold(0.0, f64::max);
        let (produced, received, stored) = (
            peak(|r| r.produced_per_s),
            peak(|r| r.received_per_s),
            peak(|r| r.stored_per_s),
        );
        if let Some(k) = &self.limits.kafka {
            self.ratios.insert(
                "peak_produced_vs_kafka_producer_perf".into(),
                produced / k.producer_records_per_s,
            );
            self.ratios.insert(
                "peak_received_vs_kafka_consumer_perf".into(),
                received / k.consumer_records_per_s,
            );
        }
        if let Some(copy) = self.limits.raw_copy_rows_per_s {
            self.ratios
                .insert("peak_stored_vs_raw_copy".into(), stored / copy);
        }
    }

    /// The human summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        s.push_str(&format!(
            "machine: {} CPUs ({}), {:.0} GiB, load at start {}\n",
            m.cpus, m.cpu_model, m.memory_gib, m.load_average_at_start
        ));
        s.push_str(
            "offered/s  produced/s  stored/s  p50 ms   p99 ms  p99.9 ms   max ms  drain s  lost dup  sustained\n",
        );
        for r in &self.runs {
            s.push_str(&format!(
                "{:>9} {:>11.0} {:>9.0} {:>7.1} {:>8.1} {:>9.1} {:>8.1} {:>8.1} {:>5} {:>3}  {}\n",
                r.offered_per_s,
                r.produced_per_s,
                r.stored_per_s,
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.latency.p999_ms,
                r.latency.max_ms,
                r.drain_s,
                r.verdict.lost,
                r.verdict.duplicated + r.verdict.unexpected,
                if r.sustained { "yes" } else { "NO" },
            ));
        }
        for r in &self.runs {
            if let Some(k) = &r.kafka_latency {
                s.push_str(&format!(
                    "  {}/s: publish → plain Kafka consumer p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms\n",
                    r.offered_per_s, k.p50_ms, k.p99_ms, k.p999_ms, k.max_ms
                ));
            }
            if let Some(k) = &r.processed_latency {
                s.push_str(&format!(
                    "  {}/s: publish → server's processed topic p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms\n",
                    r.offered_per_s, k.p50_ms, k.p99_ms, k.p999_ms, k.max_ms
                ));
            }
            let procs: Vec<String> = r
                .processes
                .iter()
                .map(|(n, u)| format!("{n} {:.0}% {:.0} MB", u.cpu_pct, u.rss_mb))
                .collect();
            s.push_str(&format!(
                "  {}/s [{}]: store batches {} avg {:.1} ms (p50 <= {} ms, p99 <= {} ms, {:.0} rows) max {:.1} ms; ws updates {} of {} uncoalesced; cpu/rss: {}\n",
                r.offered_per_s,
                r.mode,
                r.store_writes.batches,
                r.store_writes.avg_ms,
                bound(r.store_writes.p50_ms_at_most),
                bound(r.store_writes.p99_ms_at_most),
                r.store_writes.avg_rows_per_batch,
                r.store_writes.max_ms,
                r.ws_updates,
                r.ws_updates_uncoalesced,
                procs.join(", ")
            ));
        }
        if let Some(k) = &self.limits.kafka {
            s.push_str(&format!(
                "Kafka tools ({} records of ~{} B): ProducerPerformance {:.0}/s, ConsumerPerformance {:.0}/s ({:.0}/s without the group join)\n",
                k.records,
                k.record_bytes_avg,
                k.producer_records_per_s,
                k.consumer_records_per_s,
                k.consumer_fetch_records_per_s
            ));
        }
        if let Some(c) = self.limits.raw_copy_rows_per_s {
            s.push_str(&format!(
                "raw binary COPY into the same PostgreSQL: {c:.0} rows/s\n"
            ));
        }
        for (k, v) in &self.ratios {
            s.push_str(&format!("ratio {k}: {v:.2}\n"));
        }
        if let Some(max) = self.max_sustained_per_s {
            s.push_str(&format!(
                "highest sustained rate with p99 <= {} ms: {max}/s\n",
                self.latency_bound_ms
            ));
        }
        s
    }
}
