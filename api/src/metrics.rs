//! Prometheus metrics, by `prometheus-client`, rendered in the OpenMetrics text format at `GET /metrics` on
//! the private metrics listener: payment outcomes and other counters, a latency histogram per route, and
//! gauges read at scrape time (database pool, outbox backlog).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    /// The matched pattern (`/v1/invoices/{id}`), or `unmatched`: bounded by the route table, so a client
    /// cannot mint series by requesting random paths.
    route: String,
    /// `2xx`, `4xx`, `5xx`: the class, so the number of series stays small.
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BacklogLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// One set per process. Counters are handles into the registry: cloning one shares it.
pub struct Metrics {
    registry: Registry,
    pub payments_succeeded: Counter,
    pub payments_declined: Counter,
    pub payments_pending: Counter,
    pub payments_rejected: Counter,
    pub idempotent_replays: Counter,
    pub token_failures: Counter,
    pub reconciled: Counter,
    requests: Family<RouteLabels, Histogram>,
    backlog: Family<BacklogLabels, Gauge>,
    oldest_pending: Gauge,
    pool: Family<PoolLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let payments = Family::<Outcome, Counter>::default();
        registry.register("tranche_payments", "Payments by outcome", payments.clone());
        let outcome = |outcome| payments.get_or_create(&Outcome { outcome }).clone();
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let idempotent_replays = counter(
            &mut registry,
            "tranche_idempotent_replays",
            "Requests answered from the idempotency store",
        );
        let token_failures = counter(
            &mut registry,
            "tranche_checkout_token_failures",
            "Refused checkout tokens",
        );
        let reconciled = counter(
            &mut registry,
            "tranche_reconciled_payments",
            "Pending payments resolved by the reconciler",
        );
        // 1 ms to ~16 s, doubling: the payment path's gateway call sits in the upper buckets.
        let requests = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register(
            "tranche_http_request_duration_seconds",
            "Time to answer a request, by method, route pattern and status class",
            requests.clone(),
        );
        let backlog = Family::<BacklogLabels, Gauge>::default();
        registry.register(
            "tranche_outbox_deliveries",
            "Deliveries not yet delivered, by channel (webhook, quickbooks, email) and status (pending, dead)",
            backlog.clone(),
        );
        let oldest_pending = Gauge::default();
        registry.register(
            "tranche_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending delivery (0 when none): a stuck relay shows as a rising line",
            oldest_pending.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "tranche_db_pool_connections",
            "Database pool connections on this node, by state (open, idle)",
            pool.clone(),
        );
        Metrics {
            payments_succeeded: outcome("succeeded"),
            payments_declined: outcome("declined"),
            payments_pending: outcome("pending"),
            payments_rejected: outcome("rejected"),
            idempotent_replays,
            token_failures,
            reconciled,
            requests,
            backlog,
            oldest_pending,
            pool,
            registry,
        }
    }
}

impl Metrics {
    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    /// One finished request (called by the request-id middleware for every request).
    pub fn observe_request(&self, method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = RouteLabels {
            method: method.to_owned(),
            route: route.unwrap_or("unmatched").to_owned(),
            status,
        };
        self.requests
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the gauges read at scrape time.
    pub fn set_gauges(&self, pool_open: u32, pool_idle: usize, backlog: &crate::store::deliveries::Backlog) {
        self.pool
            .get_or_create(&PoolLabels { state: "open" })
            .set(i64::from(pool_open));
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::try_from(pool_idle).unwrap_or(i64::MAX));
        // Channels that emptied since the last scrape read 0, not their last value.
        self.backlog.clear();
        for (kind, status, count) in &backlog.counts {
            self.backlog
                .get_or_create(&BacklogLabels {
                    kind: kind.clone(),
                    status: status.clone(),
                })
                .set(*count);
        }
        self.oldest_pending.set(backlog.oldest_pending_age_seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(%error, "encoding metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        Metrics::inc(&m.payments_succeeded);
        m.observe_request("GET", Some("/v1/invoices/{id}"), 200, Duration::from_millis(3));
        m.observe_request("GET", None, 404, Duration::from_millis(1));
        m.set_gauges(
            4,
            3,
            &crate::store::deliveries::Backlog {
                counts: vec![("webhook".into(), "pending".into(), 7)],
                oldest_pending_age_seconds: 42,
            },
        );
        let text = m.render();
        for expected in [
            "tranche_payments_total{outcome=\"succeeded\"} 1",
            "tranche_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/invoices/{id}\",status=\"2xx\"} 1",
            "route=\"unmatched\",status=\"4xx\"",
            "tranche_outbox_deliveries{kind=\"webhook\",status=\"pending\"} 7",
            "tranche_outbox_oldest_pending_age_seconds 42",
            "tranche_db_pool_connections{state=\"open\"} 4",
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
