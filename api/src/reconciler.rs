//! Resolves `pending` payments by asking the gateway with the same idempotency key: bank debits that
//! settled, and card charges whose request died between charge and finalize (crash, timeout).

use std::time::Duration;

use crate::gateway::ChargeOutcome;
use crate::metrics::Metrics;
use crate::payment_flow::finalize;
use crate::state::AppState;
use crate::store::payments;

/// Most payments looked at per pass.
const BATCH: i64 = 100;

/// Runs forever (until the task is dropped at shutdown).
pub async fn run(state: AppState) {
    let interval = Duration::from_millis(state.settings.reconciler.interval_ms.max(50));
    loop {
        if let Err(error) = pass(&state).await {
            tracing::warn!(error = ?error, "reconciler pass failed");
        }
        tokio::time::sleep(interval).await;
    }
}

/// One pass: every due pending payment is looked up; returns how many were resolved.
pub async fn pass(state: &AppState) -> anyhow::Result<usize> {
    let due = payments::due_for_reconcile(&state.db, state.clock().now_ms(), BATCH).await?;
    let mut resolved = 0;
    for payment_id in due {
        let outcome = match state.gateway.lookup(&payment_id).await {
            Ok(Some(ChargeOutcome::Pending { retry_after_ms, .. })) => {
                let at = state.clock().now_ms() + retry_after_ms.max(1000);
                payments::reconcile_later(&state.db, &payment_id, at).await?;
                continue;
            }
            Ok(Some(outcome)) => outcome,
            // The gateway never saw this key: the request died before charging, so nothing was taken.
            Ok(None) => {
                match crate::payment_flow::abandon(state, &payment_id).await {
                    Ok(true) => {
                        resolved += 1;
                        Metrics::inc(&state.metrics.reconciled);
                        tracing::info!(%payment_id, "released a payment the gateway never saw");
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%payment_id, error = %error, "releasing a pending payment failed")
                    }
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(%payment_id, %error, "gateway lookup failed; will retry");
                continue;
            }
        };
        match finalize(state, &payment_id, &outcome).await {
            Ok(_) => {
                resolved += 1;
                Metrics::inc(&state.metrics.reconciled);
                tracing::info!(%payment_id, ?outcome, "reconciled pending payment");
            }
            Err(error) => tracing::warn!(%payment_id, error = %error, "finalizing a pending payment failed"),
        }
    }
    Ok(resolved)
}
