//! Resolves `pending` payments by asking the gateway with the same idempotency key: bank debits that
//! settled, and card charges whose request died between charge and finalize (crash, timeout). Pending
//! refunds likewise: the refund the gateway made is finalized, one it never saw is released.

use std::time::Duration;

use crate::gateway::ChargeOutcome;
use crate::metrics::Metrics;
use crate::payment_flow::finalize;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::{payments, refunds};

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

/// One pass: every due pending payment and refund is looked up; returns how many were resolved.
pub async fn pass(state: &AppState) -> anyhow::Result<usize> {
    let payments = payments_pass(state).await?;
    Ok(payments + refunds_pass(state).await?)
}

/// Due pending refunds: asked of the gateway by their id (the refund's idempotency key there).
async fn refunds_pass(state: &AppState) -> anyhow::Result<usize> {
    let due = refunds::due_for_reconcile(&state.db, state.clock().now_ms(), BATCH).await?;
    let mut resolved = 0;
    for refund_id in due {
        let settled = match state.gateway.find_refund(&refund_id).await {
            Ok(Some(outcome)) => crate::refund_flow::finalize(state, &refund_id, &outcome, Actor::System)
                .await
                .map(|answer| !answer.replayed),
            // The gateway never saw it: no money moved, so the hold is released.
            Ok(None) => crate::refund_flow::abandon(state, &refund_id).await,
            Err(error) => {
                tracing::warn!(%refund_id, %error, "gateway refund lookup failed; will retry");
                let at = state.clock().now_ms() + 60_000;
                refunds::reconcile_later(&state.db, &refund_id, at).await?;
                continue;
            }
        };
        match settled {
            Ok(true) => {
                resolved += 1;
                Metrics::inc(&state.metrics.reconciled);
                tracing::info!(%refund_id, "reconciled pending refund");
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%refund_id, error = %error, "settling a pending refund failed"),
        }
    }
    Ok(resolved)
}

/// Due pending payments.
async fn payments_pass(state: &AppState) -> anyhow::Result<usize> {
    let due = payments::due_for_reconcile(&state.db, state.clock().now_ms(), BATCH).await?;
    let mut resolved = 0;
    for payment_id in due {
        let outcome = match state.gateway.lookup(&payment_id).await {
            Ok(Some(ChargeOutcome::Pending { retry_after_ms, .. })) => {
                let at = state.clock().now_ms() + retry_after_ms.max(1000);
                payments::reconcile_later(&state.db, &payment_id, at).await?;
                continue;
            }
            // A 3-D Secure challenge never completed within `payment_flow::ACTION_WAIT_MS`: cancel the charge
            // at the gateway (so it cannot complete later) and finalize as it ended, releasing the hold.
            Ok(Some(ChargeOutcome::ActionRequired { .. })) => {
                match state.gateway.cancel_action(&payment_id).await {
                    Ok(
                        Some(ChargeOutcome::ActionRequired { .. })
                        | Some(ChargeOutcome::Pending { .. })
                        | None,
                    )
                    | Err(_) => {
                        tracing::warn!(%payment_id, "an abandoned 3-D Secure charge could not be canceled; will retry");
                        let at = state.clock().now_ms() + 60_000;
                        payments::reconcile_later(&state.db, &payment_id, at).await?;
                        continue;
                    }
                    Ok(Some(outcome)) => outcome,
                }
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
        match finalize(state, &payment_id, &outcome, Actor::System).await {
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
