//! A few Prometheus counters, rendered in the text exposition format at `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub payments_succeeded: AtomicU64,
    pub payments_declined: AtomicU64,
    pub payments_pending: AtomicU64,
    pub payments_rejected: AtomicU64,
    pub idempotent_replays: AtomicU64,
    pub token_failures: AtomicU64,
    pub reconciled: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 7] = [
            (
                "tranche_payments_total{outcome=\"succeeded\"}",
                "Payments by outcome",
                &self.payments_succeeded,
            ),
            (
                "tranche_payments_total{outcome=\"declined\"}",
                "",
                &self.payments_declined,
            ),
            (
                "tranche_payments_total{outcome=\"pending\"}",
                "",
                &self.payments_pending,
            ),
            (
                "tranche_payments_total{outcome=\"rejected\"}",
                "",
                &self.payments_rejected,
            ),
            (
                "tranche_idempotent_replays_total",
                "Requests answered from the idempotency store",
                &self.idempotent_replays,
            ),
            (
                "tranche_checkout_token_failures_total",
                "Refused checkout tokens",
                &self.token_failures,
            ),
            (
                "tranche_reconciled_payments_total",
                "Pending payments resolved by the reconciler",
                &self.reconciled,
            ),
        ];
        for (name, help, value) in counters {
            let family = name.split('{').next().unwrap_or(name);
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            }
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}
