//! Soak mode (`--soak`): while a long run drives the server, sample what a leak would grow —
//! the server's resident memory, open descriptors, threads and live tokio tasks, and the
//! store's size — and fail when a resource keeps growing instead of levelling off.
//!
//! The verdict compares the two halves of the run after a warm-up (the first fifth, when
//! caches, pools and per-vehicle state fill): a resource levels off when the second half's
//! peak (for tokio tasks, which come and go with each batch: median) stays within a small
//! margin of the first half's. The store grows with the data it
//! holds (no retention yet), so its size is reported per stored reading, not judged.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::procstat;

/// One moment of the server's resources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakSample {
    pub t_s: f64,
    pub rss_bytes: u64,
    pub fds: u64,
    pub threads: u64,
    /// `vehicleops_runtime_alive_tasks` from the server's /metrics.
    pub tasks: Option<u64>,
    /// `pg_database_size` of the run's database.
    pub store_bytes: Option<u64>,
    /// `vehicleops_telemetry_stored_total`.
    pub stored: Option<u64>,
}

/// Everything sampled and what was concluded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakReport {
    pub samples: Vec<SoakSample>,
    /// Resources that kept growing, with the figures; empty when everything levelled off.
    pub problems: Vec<String>,
    /// One line per resource: first-half peak → second-half peak.
    pub summary: Vec<String>,
}

/// Samples until [`Sampler::finish`].
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<SoakSample>>,
}

impl Sampler {
    pub fn start(pid: u32, api_base: String, pool: Option<PgPool>, every: Duration) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let started = Instant::now();
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
                let metrics = match http.get(format!("{api_base}/metrics")).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                let store_bytes = match &pool {
                    Some(pool) => {
                        sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
                            .fetch_one(pool)
                            .await
                            .ok()
                            .map(|b| b as u64)
                    }
                    None => None,
                };
                let Some(Some(usage)) = procstat::sample(&[pid]).into_iter().next() else {
                    break; // the server is gone: the run reports why
                };
                samples.push(SoakSample {
                    t_s: started.elapsed().as_secs_f64(),
                    rss_bytes: usage.rss_bytes,
                    fds: count_dir(&format!("/proc/{pid}/fd")),
                    threads: count_dir(&format!("/proc/{pid}/task")),
                    tasks: metric(&metrics, "vehicleops_runtime_alive_tasks"),
                    store_bytes,
                    stored: metric(&metrics, "vehicleops_telemetry_stored_total"),
                });
            }
            samples
        });
        Sampler { stop, task }
    }

    pub async fn finish(self) -> SoakReport {
        let _ = self.stop.send(());
        let samples = self.task.await.unwrap_or_default();
        judge(samples)
    }
}

fn count_dir(path: &str) -> u64 {
    std::fs::read_dir(path).map_or(0, |d| d.count() as u64)
}

/// The value of an unlabelled metric in Prometheus text format.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// How each resource is compared between the halves.
#[derive(Clone, Copy)]
enum Statistic {
    /// The highest sample: memory and threads only grow to their peak and stay.
    Peak,
    /// The median: live tasks come and go with each batch, so a leak shows in the level they
    /// return to, not in one busy moment.
    Median,
}

/// How much the second half's statistic may exceed the first half's and still count as
/// level: `(name, statistic, relative, absolute)`.
const MARGINS: [(&str, Statistic, f64, f64); 4] = [
    ("resident memory (MiB)", Statistic::Peak, 0.10, 16.0),
    ("open descriptors", Statistic::Peak, 0.05, 8.0),
    ("threads", Statistic::Peak, 0.0, 2.0),
    ("tokio tasks", Statistic::Median, 0.10, 16.0),
];

pub fn judge(samples: Vec<SoakSample>) -> SoakReport {
    let mut report = SoakReport {
        samples,
        ..SoakReport::default()
    };
    let s = &report.samples;
    if s.len() < 10 {
        report.problems.push(format!(
            "only {} samples: run longer or sample more often",
            s.len()
        ));
        return report;
    }
    let warm = s.len() / 5;
    let mid = warm + (s.len() - warm) / 2;
    let (first, second) = (&s[warm..mid], &s[mid..]);
    type Get = fn(&SoakSample) -> Option<f64>;
    let series: [Get; 4] = [
        |x| Some(x.rss_bytes as f64 / 1_048_576.0),
        |x| Some(x.fds as f64),
        |x| Some(x.threads as f64),
        |x| x.tasks.map(|t| t as f64),
    ];
    for ((name, statistic, relative, absolute), get) in MARGINS.into_iter().zip(series) {
        let of = |half: &[SoakSample]| {
            let mut values: Vec<f64> = half.iter().filter_map(get).collect();
            values.sort_by(f64::total_cmp);
            match statistic {
                Statistic::Peak => values.last().copied(),
                Statistic::Median => values.get(values.len() / 2).copied(),
            }
        };
        let label = match statistic {
            Statistic::Peak => "peak",
            Statistic::Median => "median",
        };
        let (Some(a), Some(b)) = (of(first), of(second)) else {
            report.summary.push(format!("{name}: not measured"));
            continue;
        };
        let allowed = a * (1.0 + relative) + absolute;
        report.summary.push(format!(
            "{name}: {label} {a:.1} in the first half, {b:.1} in the second (level up to {allowed:.1})"
        ));
        if b > allowed {
            report.problems.push(format!(
                "{name} kept growing: {label} {a:.1} in the first half, {b:.1} in the second"
            ));
        }
    }
    // The store grows with what it holds: bytes per stored reading over each half.
    let per_reading = |half: &[SoakSample]| {
        let (x, y) = (half.first()?, half.last()?);
        let bytes = y.store_bytes? as f64 - x.store_bytes? as f64;
        let readings = y.stored? as f64 - x.stored? as f64;
        (readings > 0.0).then(|| bytes / readings)
    };
    if let (Some(a), Some(b)) = (per_reading(first), per_reading(second)) {
        let last = s.last().expect("samples");
        report.summary.push(format!(
            "store: {:.0} MiB at the end, {a:.0} bytes per stored reading in the first half, {b:.0} in the second",
            last.store_bytes.unwrap_or(0) as f64 / 1_048_576.0
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rss_mib: impl Fn(usize) -> u64) -> SoakReport {
        judge(
            (0..60)
                .map(|i| SoakSample {
                    t_s: i as f64,
                    rss_bytes: rss_mib(i) * 1_048_576,
                    fds: 40,
                    threads: 12,
                    tasks: Some(100),
                    store_bytes: Some(i as u64 * 1000),
                    stored: Some(i as u64 * 10),
                })
                .collect(),
        )
    }

    #[test]
    fn memory_that_fills_then_levels_off_passes() {
        let r = run(|i| 100 + (i.min(20) as u64) * 5);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(
            r.summary
                .iter()
                .any(|l| l.contains("100 bytes per stored reading"))
        );
    }

    #[test]
    fn memory_that_keeps_growing_fails() {
        let r = run(|i| 100 + i as u64 * 3);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(
            r.problems[0].starts_with("resident memory"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn a_burst_of_tasks_is_not_growth_but_a_rising_level_is() {
        let tasks = |level: &dyn Fn(usize) -> u64| {
            judge(
                (0..60)
                    .map(|i| SoakSample {
                        t_s: i as f64,
                        rss_bytes: 100 << 20,
                        fds: 40,
                        threads: 12,
                        tasks: Some(level(i)),
                        ..SoakSample::default()
                    })
                    .collect(),
            )
        };
        let burst = tasks(&|i| if i == 50 { 400 } else { 30 });
        assert!(burst.problems.is_empty(), "{:?}", burst.problems);
        let leak = tasks(&|i| 30 + i as u64 * 5);
        assert_eq!(leak.problems.len(), 1, "{:?}", leak.problems);
        assert!(leak.problems[0].starts_with("tokio tasks"));
    }

    #[test]
    fn metrics_are_read_from_prometheus_text() {
        let text =
            "# HELP x\nvehicleops_runtime_alive_tasks 42\nvehicleops_runtime_alive_tasks_x 1\n";
        assert_eq!(metric(text, "vehicleops_runtime_alive_tasks"), Some(42));
        assert_eq!(metric(text, "vehicleops_missing"), None);
    }
}
