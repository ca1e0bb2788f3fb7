//! Prometheus metrics at `/metrics`: HTTP traffic, WebSocket clients, and the ingest pipeline's
//! counters (read from its live stats at scrape time).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use vehicleops_engine::Engine;

/// Labels of an HTTP request metric. `route` is the matched route template, never the raw
/// path, so ids do not explode the label space.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<HttpLabels, Histogram>,
    ws_clients: Arc<AtomicI64>,
    ws_frames: Counter,
    login_failures: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn http_histogram() -> Histogram {
    // 0.5 ms … ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// Metrics over the engine's pipeline counters and live hub, read at scrape time.
    pub fn new(engine: Engine) -> Self {
        let mut registry = Registry::with_prefix("vehicleops");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds =
            Family::<HttpLabels, Histogram>::new_with_constructor(http_histogram as fn() -> _);
        let ws_clients = Arc::new(AtomicI64::new(0));
        let ws_frames = Counter::default();
        let login_failures = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route and status",
            http_seconds.clone(),
        );
        registry.register(
            "websocket_frames_sent",
            "WebSocket frames sent to clients",
            ws_frames.clone(),
        );
        registry.register(
            "login_failures",
            "Failed or rate-limited login attempts",
            login_failures.clone(),
        );
        registry.register_collector(Box::new(LiveCollector {
            engine,
            ws_clients: ws_clients.clone(),
        }));
        Metrics {
            registry,
            http_requests,
            http_seconds,
            ws_clients,
            ws_frames,
            login_failures,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts a WebSocket client for as long as the returned guard lives.
    pub fn ws_client(&self) -> WsClientGuard {
        self.ws_clients.fetch_add(1, Ordering::Relaxed);
        WsClientGuard(self.ws_clients.clone())
    }

    pub fn ws_frames_sent(&self, n: u64) {
        self.ws_frames.inc_by(n);
    }

    pub fn login_failed(&self) {
        self.login_failures.inc();
    }

    fn observe_http(&self, labels: HttpLabels, seconds: f64) {
        self.http_requests.get_or_create(&labels).inc();
        self.http_seconds.get_or_create(&labels).observe(seconds);
    }
}

/// Keeps a WebSocket client counted in `vehicleops_websocket_clients`.
#[derive(Debug)]
pub struct WsClientGuard(Arc<AtomicI64>);

impl Drop for WsClientGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads the pipeline's and hub's counters at scrape time.
#[derive(Debug)]
struct LiveCollector {
    engine: Engine,
    ws_clients: Arc<AtomicI64>,
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for LiveCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.engine.stats();
        counter(
            &mut e,
            "source_rejections",
            "Messages the telemetry source rejected and dead-lettered before the pipeline",
            self.engine.source_rejections(),
        )?;
        counter(
            &mut e,
            "telemetry_received",
            "Telemetry records read from the source (rate() = ingest rate)",
            s.received,
        )?;
        counter(
            &mut e,
            "telemetry_valid",
            "Telemetry records that passed validation",
            s.valid,
        )?;
        counter(
            &mut e,
            "telemetry_stored",
            "Readings written to the store",
            s.stored,
        )?;
        counter(
            &mut e,
            "telemetry_duplicates",
            "Readings the store already had (replays)",
            s.duplicates,
        )?;
        counter(
            &mut e,
            "telemetry_stale",
            "Out-of-order readings stored without changing state",
            s.stale,
        )?;
        counter(
            &mut e,
            "dead_letters",
            "Invalid records sent to the dead-letter sink",
            s.dead_lettered,
        )?;
        counter(
            &mut e,
            "store_write_errors",
            "Failed store writes (retried)",
            s.write_errors,
        )?;
        counter(
            &mut e,
            "store_write_batches",
            "Batches written to the store",
            s.batches_written,
        )?;
        let write_seconds = ConstCounter::new(s.avg_write_ms * s.batches_written as f64 / 1000.0);
        write_seconds.encode(e.encode_descriptor(
            "store_write_seconds",
            "Time spent writing batches, seconds (with store_write_batches: average latency)",
            None,
            write_seconds.metric_type(),
        )?)?;
        // The batch write durations as a Prometheus histogram (cumulative buckets in seconds).
        let buckets: Vec<(f64, u64)> = s
            .write_histogram
            .iter()
            // prometheus-client writes `le="+Inf"` for f64::MAX.
            .map(|&(ms, n)| {
                (
                    if ms.is_finite() {
                        ms / 1000.0
                    } else {
                        f64::MAX
                    },
                    n,
                )
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        e.encode_descriptor(
            "store_write_duration_seconds",
            "Duration of store batch writes, seconds",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(s.write_seconds_total, count, &buckets, None)?;
        gauge(
            &mut e,
            "store_write_avg_seconds",
            "Average batch write latency, seconds",
            s.avg_write_ms / 1000.0,
        )?;
        gauge(
            &mut e,
            "store_write_max_seconds",
            "Slowest batch write, seconds",
            s.max_write_ms / 1000.0,
        )?;
        gauge(
            &mut e,
            "pipeline_lag_seconds",
            "Age of the newest stored reading when it was stored",
            s.last_lag_ms as f64 / 1000.0,
        )?;
        gauge(
            &mut e,
            "pipeline_in_flight",
            "Readings processed but not yet stored",
            s.in_flight as f64,
        )?;
        counter(
            &mut e,
            "alerts_cleared",
            "Alert episodes that ended",
            s.alerts_cleared,
        )?;
        counter(
            &mut e,
            "alerts_restored",
            "Open alert episodes taken up from the store (after a restart or a partition move)",
            s.alerts_restored,
        )?;
        counter(
            &mut e,
            "vehicles_reassigned",
            "Vehicles whose state was reloaded because their Kafka partition came to this instance",
            s.vehicles_reassigned,
        )?;
        counter(
            &mut e,
            "vehicles_released",
            "Vehicles whose state was dropped because their Kafka partition went to another instance",
            s.vehicles_released,
        )?;
        counter(
            &mut e,
            "vehicles_evicted",
            "Vehicles whose state was dropped because more than the configured maximum were tracked",
            s.vehicles_evicted,
        )?;
        // Scraped on the server's runtime: its live tasks, which a leak of sessions,
        // connections or per-vehicle work would grow (the soak test watches it).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            gauge(
                &mut e,
                "runtime_alive_tasks",
                "Tokio tasks alive in the server's runtime",
                runtime.metrics().num_alive_tasks() as f64,
            )?;
        }
        counter(
            &mut e,
            "command_acks_foreign",
            "Command acknowledgements ignored because another vehicle than the command's sent them",
            self.engine.foreign_acks(),
        )?;
        let retention = self.engine.retention_stats();
        counter(
            &mut e,
            "retention_runs",
            "Retention runs completed (the policy applied to the store)",
            retention.runs,
        )?;
        counter(
            &mut e,
            "retention_failures",
            "Retention runs that failed (the next run tries again)",
            retention.failures,
        )?;
        gauge(
            &mut e,
            "retention_last_run_timestamp_seconds",
            "When the last retention run completed (Unix seconds; 0 for never)",
            retention.last_run_at.map_or(0.0, |t| t.timestamp() as f64),
        )?;
        {
            let removed = retention.removed;
            let family = ConstCounter::new(0u64);
            let mut by_kind = e.encode_descriptor(
                "retention_removed",
                "Removed by retention, by kind: readings (rows, embedded store), telemetry \
                 partitions or chunks (PostgreSQL), rollup rows or chunks, alerts, commands, \
                 missions",
                None,
                family.metric_type(),
            )?;
            for (kind, n) in [
                ("telemetry_rows", removed.telemetry_rows),
                ("telemetry_partitions", removed.telemetry_partitions),
                ("rollups", removed.rollups),
                ("alerts", removed.alerts),
                ("commands", removed.commands),
                ("missions", removed.missions),
                ("audit", removed.audit),
            ] {
                ConstCounter::new(n).encode(by_kind.encode_family(&[("kind", kind)])?)?;
            }
        }
        let family = ConstCounter::new(0u64);
        let mut by_type = e.encode_descriptor(
            "alerts_raised",
            "Alerts raised, by alert type",
            None,
            family.metric_type(),
        )?;
        let mut types: Vec<_> = s.alerts_by_type.into_iter().collect();
        types.sort();
        for (alert_type, n) in types {
            let labels = [("alert_type", alert_type)];
            ConstCounter::new(n).encode(by_type.encode_family(&labels)?)?;
        }
        gauge(
            &mut e,
            "websocket_clients",
            "Connected WebSocket clients",
            self.ws_clients.load(Ordering::Relaxed) as f64,
        )?;
        counter(
            &mut e,
            "websocket_updates_coalesced",
            "Vehicle updates replaced by a newer one before a slow client read them",
            self.engine.hub().coalesced_updates(),
        )?;
        Ok(())
    }
}

/// The `method` label: the standard methods by name, any other (clients may send arbitrary
/// tokens) as `OTHER`, so the label space stays bounded.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Middleware recording every request's count and latency.
pub async fn track_http(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    metrics.observe_http(
        HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        },
        start.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes(b"XYZZY").unwrap();
        assert_eq!(method_label(&odd), "OTHER");
    }
}
