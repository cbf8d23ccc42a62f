//! Operational metrics, served at `/metrics` in the Prometheus (OpenMetrics) text format.
//!
//! One [`Metrics`] value is shared by every part of the server; each part updates its own
//! counters with plain atomic operations, so recording costs nanoseconds and never blocks.
//! The database file size is read when the metrics are scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Latency buckets from 50 µs to about 3 s, doubling: request and flush times both fit.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

/// Batch-size buckets from 1 to about 260,000 ticks, quadrupling.
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 10))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern (`/api/v1/market/quote/{symbol}`), never the raw path, so the label
    /// set stays small whatever clients ask for.
    pub route: String,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub ticks_generated: Counter,
    pub news_generated: Counter,
    pub ticks_persisted: Counter,
    pub flush_failures: Counter,
    pub ticks_dropped: Counter,
    pub writer_batch_ticks: Histogram,
    pub writer_flush_seconds: Histogram,
    pub ws_clients: Gauge,
    pub ws_frames_lagged: Counter,
    pub ws_clients_dropped: Family<ReasonLabels, Counter>,
    pub http_requests: Family<RouteLabels, Counter>,
    pub http_latency: LatencyFamily,
    pub orders_accepted: Counter,
    pub orders_refused: Family<ReasonLabels, Counter>,
    pub ledger_commit_seconds: Histogram,
    database_bytes: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("finlearn"),
            ticks_generated: Counter::default(),
            news_generated: Counter::default(),
            ticks_persisted: Counter::default(),
            flush_failures: Counter::default(),
            ticks_dropped: Counter::default(),
            writer_batch_ticks: batch_histogram(),
            writer_flush_seconds: latency_histogram(),
            ws_clients: Gauge::default(),
            ws_frames_lagged: Counter::default(),
            ws_clients_dropped: Family::default(),
            http_requests: Family::default(),
            http_latency: Family::new_with_constructor(latency_histogram),
            orders_accepted: Counter::default(),
            orders_refused: Family::default(),
            ledger_commit_seconds: latency_histogram(),
            database_bytes: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register("ticks_generated", "Ticks produced by the price engine", m.ticks_generated.clone());
        r.register("news_generated", "News events produced by the engine", m.news_generated.clone());
        r.register("ticks_persisted", "Ticks committed to the database", m.ticks_persisted.clone());
        r.register(
            "writer_flush_failures",
            "Tick batches whose write failed (kept and retried)",
            m.flush_failures.clone(),
        );
        r.register(
            "ticks_dropped",
            "Ticks never written: the write buffer was full while the database refused writes",
            m.ticks_dropped.clone(),
        );
        r.register("writer_batch_ticks", "Ticks per batch written", m.writer_batch_ticks.clone());
        r.register_with_unit(
            "writer_flush",
            "Time to write one batch of ticks",
            Unit::Seconds,
            m.writer_flush_seconds.clone(),
        );
        r.register("ws_clients", "Live-stream clients connected", m.ws_clients.clone());
        r.register("ws_frames_lagged", "Frames skipped by clients that fell behind", m.ws_frames_lagged.clone());
        r.register(
            "ws_clients_dropped",
            "Live-stream clients disconnected by the server, by reason",
            m.ws_clients_dropped.clone(),
        );
        r.register("http_requests", "HTTP requests answered", m.http_requests.clone());
        r.register_with_unit("http_request_duration", "HTTP request latency", Unit::Seconds, m.http_latency.clone());
        r.register("orders_accepted", "Orders filled and committed", m.orders_accepted.clone());
        r.register("orders_refused", "Orders refused, by reason", m.orders_refused.clone());
        r.register_with_unit(
            "ledger_commit",
            "Time to commit one group of ledger changes",
            Unit::Seconds,
            m.ledger_commit_seconds.clone(),
        );
        r.register_with_unit("database_size", "Size of the database file", Unit::Bytes, m.database_bytes.clone());
        m
    }

    /// Counts one answered request.
    pub fn observe_request(&self, route: String, method: &'static str, status: u16, seconds: f64) {
        let labels = RouteLabels { route, method, status };
        self.http_requests.get_or_create(&labels).inc();
        self.http_latency.get_or_create(&labels).observe(seconds);
    }

    pub fn refused(&self, reason: &'static str) {
        self.orders_refused.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub fn dropped_client(&self, reason: &'static str) {
        self.ws_clients_dropped.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The text exposition, with the database size read now.
    pub fn render(&self, database_bytes: u64) -> String {
        self.database_bytes.set(database_bytes);
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_labels_appear_in_the_text_format() {
        let m = Metrics::new();
        m.ticks_generated.inc_by(3);
        m.observe_request("/api/v1/market/quote/{symbol}".into(), "GET", 200, 0.0002);
        m.refused("insufficient_funds");
        let text = m.render(4096);
        assert!(text.contains("finlearn_ticks_generated_total 3"), "{text}");
        assert!(
            text.contains(
                r#"finlearn_http_requests_total{route="/api/v1/market/quote/{symbol}",method="GET",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"finlearn_orders_refused_total{reason="insufficient_funds"} 1"#), "{text}");
        assert!(text.contains("finlearn_database_size_bytes 4096"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
