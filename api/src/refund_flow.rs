//! The refund flow, the payment flow's mirror (DESIGN section 10): hold, refund, finalize. No refund past
//! the payment because the amount is checked against `amount - refunded - pending refunds` while the
//! invoice and payment rows are locked (and `payments.amount_refunded_minor <= amount_minor` is a CHECK);
//! no double refund because the gateway's idempotency key is the refund id; nothing lost because a crash
//! or timeout between the steps leaves a `pending` refund that [`crate::reconciler`] settles by asking
//! the gateway ([`finalize`] if it made the refund, [`abandon`] if it never saw it).
//!
//! Locks are always taken invoice first, then payment (as the payment flow's finalize takes the invoice),
//! so refunds and payments of one invoice queue behind each other and never deadlock.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tranche_domain::wire::PaymentStatus;
use tranche_domain::{check_refund, refundable, status_after_refunds, ErrorCode, Money, RefundRejected};

use crate::db::{is_unique_violation, new_id, rfc3339, Db, Tx};
use crate::error::{ApiError, ApiResult};
use crate::gateway::{RefundOutcome, RefundRequest};
use crate::payment_flow::Answer;
use crate::state::AppState;
use crate::store::allocations::{self, Allocation};
use crate::store::audit::{self, Actor};
use crate::store::refunds::{self, RefundReason, RefundRow, RefundStatus};
use crate::store::{invoices, payments};

/// `POST /v1/payments/{id}/refunds` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Decimal string in the payment's currency; defaults to everything still refundable.
    #[schema(example = "25.00")]
    pub amount: Option<String>,
    pub reason: Option<RefundReason>,
    /// For an account payment (paid several invoices): the invoice whose allocation is refunded. Required
    /// when the payment has more than one allocation; the refund is at most that allocation's unrefunded
    /// part. For a single-invoice payment it may only name that invoice.
    pub invoice_id: Option<String>,
}

/// A refund as the seller sees it (the 201 answer, `GET /v1/refunds/{id}` and list entries).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundView {
    pub id: String,
    pub payment_id: String,
    pub invoice_id: String,
    #[schema(example = "25.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub status: RefundStatus,
    pub reason: Option<RefundReason>,
    /// Why no money moved, when `status` is `failed` (the gateway's code, or `not_sent`).
    pub failure_code: Option<String>,
    pub gateway_refund_id: Option<String>,
    pub created_at: String,
}

impl From<&RefundRow> for RefundView {
    fn from(row: &RefundRow) -> RefundView {
        RefundView {
            id: row.id.clone(),
            payment_id: row.payment_id.clone(),
            invoice_id: row.invoice_id.clone(),
            amount: row.amount.to_string(),
            currency: row.currency().code().to_owned(),
            status: row.status,
            reason: row.reason,
            failure_code: row.failure_code.clone(),
            gateway_refund_id: row.gateway_refund_id.clone(),
            created_at: rfc3339(row.created_at),
        }
    }
}

/// Fingerprint of what the key was first used for: the payment and the exact body.
fn request_hash(payment_id: &str, body: &RefundBody) -> String {
    let mut hasher = Sha256::new();
    for part in [
        payment_id,
        body.amount.as_deref().unwrap_or("\u{1}"),
        body.reason.map_or("", RefundReason::as_str),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    // Only when given, so the fingerprints of refunds made before accounts stay as stored.
    if let Some(invoice_id) = &body.invoice_id {
        hasher.update(b"invoice_id\0");
        hasher.update(invoice_id.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The invoice a refund of `payment` is for: the payment's own for a single-invoice payment; for an account
/// payment the allocation `asked` names (required when it has several).
fn refunded_invoice(
    payment: &payments::PaymentRow,
    allocations: &[Allocation],
    asked: Option<&str>,
) -> ApiResult<String> {
    let not_allocated = |id: &str| {
        ApiError::invalid(
            ErrorCode::InvalidField,
            "invoice_id",
            format!(
                "This payment paid no invoice {}.",
                id.chars().take(100).collect::<String>()
            ),
        )
    };
    if allocations.is_empty() {
        return match asked {
            Some(id) if id != payment.invoice_id => Err(not_allocated(id)),
            _ => Ok(payment.invoice_id.clone()),
        };
    }
    match (asked, allocations) {
        (Some(id), _) => allocations
            .iter()
            .find(|a| a.invoice_id == id)
            .map(|a| a.invoice_id.clone())
            .ok_or_else(|| not_allocated(id)),
        (None, [only]) => Ok(only.invoice_id.clone()),
        (None, _) => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "invoice_id",
            "This payment paid several invoices: name the invoice_id whose allocation is refunded.",
        )),
    }
}

/// The answer for a key already used: its stored answer, or why it cannot be given.
fn replay(existing: &RefundRow, hash: &str) -> ApiResult<Answer> {
    if existing.request_hash != hash {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::IdempotencyKeyReused,
            detail: "This Idempotency-Key was already used with a different request.".to_owned(),
        });
    }
    match &existing.answer {
        Some((status, body)) => Ok(Answer {
            status: *status,
            body: body.clone(),
            replayed: true,
        }),
        None => Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyInUse,
            detail: "A request with this Idempotency-Key is still being processed; retry shortly.".to_owned(),
        }),
    }
}

/// Runs a seller's refund end to end and returns the answer to send (and store for replays). `actor` (the
/// seller's key) is named in the audit row of the refund's outcome.
pub async fn refund(
    state: &AppState,
    seller_id: &str,
    payment_id: &str,
    key: &str,
    body: &RefundBody,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    let hash = request_hash(payment_id, body);
    if let Some(existing) = refunds::by_key(state.db.pool(), seller_id, key).await? {
        return replay(&existing, &hash);
    }
    let (held, charge_id) = match hold(state, seller_id, payment_id, key, &hash, body).await? {
        Hold::Held { refund, charge_id } => (refund, charge_id),
        Hold::Answered(answer) => return Ok(answer),
    };
    let Some(charge_id) = charge_id else {
        // An offline payment (a cheque, a wire): its money goes back outside Tranche too (the cheque returned,
        // a wire sent back), so no gateway is called and the refund is final now. A crash before this
        // leaves the hold pending; the reconciler finds no gateway refund and releases it, as for any other.
        let outcome = RefundOutcome::Succeeded {
            refund_id: String::new(),
            amount_minor: held.amount.minor_units(),
            currency: held.currency().code().to_owned(),
        };
        return finalize_in(state, &held.id, &outcome, Via::Offline, actor).await;
    };
    let request = RefundRequest {
        idempotency_key: held.id.clone(),
        charge_id,
        amount: held.amount,
    };
    match state.gateway.refund(&request).await {
        Ok(outcome) => finalize(state, &held.id, &outcome, actor).await,
        Err(error) => {
            // Ambiguous: the refund may exist. Leave the hold; the reconciler asks the gateway later.
            tracing::warn!(refund_id = %held.id, %error, "gateway unavailable; refund left pending");
            pending_answer(&state.db, &held).await
        }
    }
}

enum Hold {
    /// A `pending` refund now holds its amount of the payment. `charge_id` is the gateway charge to refund,
    /// `None` for an offline payment (nothing to ask a gateway).
    Held {
        refund: Box<RefundRow>,
        charge_id: Option<String>,
    },
    /// The same key raced in first: its stored answer.
    Answered(Answer),
}

/// Step 1: lock the invoice and the payment, check the amount against what is still refundable, and
/// insert the `pending` refund with its key, in one transaction.
async fn hold(
    state: &AppState,
    seller_id: &str,
    payment_id: &str,
    key: &str,
    hash: &str,
    body: &RefundBody,
) -> ApiResult<Hold> {
    // The invoice id never changes (nor do allocations): read it unlocked, then lock in the one order
    // every writer uses.
    let found = payments::find(&state.db, seller_id, payment_id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    let allocated = allocations::of_payment(state.db.pool(), seller_id, payment_id).await?;
    let invoice_id = refunded_invoice(&found, &allocated, body.invoice_id.as_deref())?;
    let mut tx = state.db.begin_write().await?;
    invoices::lock(&state.db, &mut tx, seller_id, &invoice_id)
        .await?
        .context("invoice vanished")?;
    let payment = refunds::lock_payment(&state.db, &mut tx, seller_id, payment_id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    let charge_id = match (payment.status, &payment.gateway_charge_id) {
        (PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded, Some(charge_id)) => {
            Some(charge_id.clone())
        }
        (PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded, None)
            if payment.gateway == "offline" =>
        {
            None
        }
        (status, _) => {
            tx.rollback().await?;
            return Err(ApiError::Conflict {
                code: ErrorCode::PaymentNotRefundable,
                detail: format!(
                    "Only a succeeded payment can be refunded; this one is {}.",
                    status.as_str()
                ),
            });
        }
    };
    let currency = payment.currency();
    let pending = Money::from_minor_units(refunds::pending_minor(&mut tx, payment_id).await?, currency)
        .context("pending refunds out of range")?;
    let mut left = refundable(payment.amount, payment.amount_refunded, pending)
        .context("refunds exceed their payment")?;
    // An allocation gives back at most what it paid of its invoice, less its refunds made and pending
    // (read under the payment's lock, which every refund of it takes).
    if !allocated.is_empty() {
        let allocation = allocations::of_payment(&mut *tx, seller_id, payment_id)
            .await?
            .into_iter()
            .find(|a| a.invoice_id == invoice_id)
            .context("allocation vanished")?;
        let pending_here = Money::from_minor_units(
            allocations::pending_refunds_minor(&mut tx, payment_id, &invoice_id).await?,
            currency,
        )
        .context("pending refunds out of range")?;
        let allocation_left = refundable(allocation.amount, allocation.amount_refunded, pending_here)
            .context("refunds exceed their allocation")?;
        if allocation_left.minor_units() < left.minor_units() {
            left = allocation_left;
        }
    }
    let amount = match check_refund(body.amount.as_deref(), left) {
        Ok(amount) => amount,
        Err(rejected) => {
            tx.rollback().await?;
            return Err(match rejected {
                RefundRejected::Amount(a) => ApiError::Amount(a),
                RefundRejected::ExceedsPayment { maximum } => ApiError::RefundExceedsPayment { maximum },
            });
        }
    };
    let now = state.clock().now_ms();
    let refund = RefundRow {
        id: new_id("re"),
        seller_id: seller_id.to_owned(),
        payment_id: payment_id.to_owned(),
        invoice_id,
        amount,
        status: RefundStatus::Pending,
        reason: body.reason,
        failure_code: None,
        gateway_refund_id: None,
        idempotency_key: Some(key.to_owned()),
        request_hash: hash.to_owned(),
        answer: None,
        reconcile_after: now + state.settings.reconciler.grace_seconds * 1000,
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = refunds::insert(&mut tx, &refund).await {
        tx.rollback().await?;
        if !is_unique_violation(&e) {
            return Err(e.into());
        }
        // The key raced in on another request: the first use owns it.
        return match refunds::by_key(state.db.pool(), seller_id, key).await? {
            Some(existing) => replay(&existing, hash).map(Hold::Answered),
            None => Err(ApiError::Conflict {
                code: ErrorCode::IdempotencyKeyInUse,
                detail: "A request with this Idempotency-Key is still being processed; retry shortly."
                    .to_owned(),
            }),
        };
    }
    tx.commit().await?;
    Ok(Hold::Held {
        refund: Box::new(refund),
        charge_id,
    })
}

fn answer_body(refund: &RefundRow) -> anyhow::Result<String> {
    serde_json::to_string(&RefundView::from(refund)).context("serialising refund")
}

/// The 201 answer for a refund still pending (ambiguous gateway result), saved for replays unless the
/// reconciler already settled it (its answer stands then).
async fn pending_answer(db: &Db, held: &RefundRow) -> ApiResult<Answer> {
    let mut tx = db.begin_write().await?;
    let current = refunds::find_in(&mut tx, &held.id)
        .await?
        .context("refund vanished")?;
    if let (false, Some((status, body))) = (current.status == RefundStatus::Pending, &current.answer) {
        tx.rollback().await?;
        return Ok(Answer {
            status: *status,
            body: body.clone(),
            replayed: false,
        });
    }
    let body = answer_body(&current)?;
    refunds::save_answer(&mut tx, &held.id, 201, &body).await?;
    tx.commit().await?;
    Ok(Answer {
        status: 201,
        body,
        replayed: false,
    })
}

/// The gateway never saw this refund (its request died between the hold and the call): release the hold
/// and forget the key, so the seller's retry with it runs afresh and refunds once.
pub async fn abandon(state: &AppState, refund_id: &str) -> ApiResult<bool> {
    let mut tx = state.db.begin_write().await?;
    let released = refunds::release(&mut tx, refund_id, state.clock().now_ms()).await?;
    tx.commit().await?;
    Ok(released)
}

/// Applies a gateway outcome to a pending refund, exactly once: only the caller that moves the refund
/// out of `pending` touches the payment and invoice and writes the outbox. The request path and the
/// reconciler both end here (`actor`: the seller's key, or `system` for the reconciler).
pub async fn finalize(
    state: &AppState,
    refund_id: &str,
    outcome: &RefundOutcome,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    finalize_in(state, refund_id, outcome, Via::Gateway, actor).await
}

/// How a refund's money went back: through the payment's gateway, or outside Tranche (offline payments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Gateway,
    Offline,
}

async fn finalize_in(
    state: &AppState,
    refund_id: &str,
    outcome: &RefundOutcome,
    via: Via,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    let (seller_id, invoice_id, payment_id) = refunds::owner(&state.db, refund_id)
        .await?
        .context("refund vanished")?;
    let db = &state.db;
    let mut tx = db.begin_write().await?;
    let invoice = invoices::lock(db, &mut tx, &seller_id, &invoice_id)
        .await?
        .context("invoice vanished")?;
    let payment = refunds::lock_payment(db, &mut tx, &seller_id, &payment_id)
        .await?
        .context("payment vanished")?;
    // Read under the locks every finalizer of this refund takes: another may have won.
    let refund = refunds::find_in(&mut tx, refund_id)
        .await?
        .context("refund vanished")?;
    if refund.status != RefundStatus::Pending {
        tx.rollback().await?;
        let body = match &refund.answer {
            Some((_, body)) => body.clone(),
            None => answer_body(&refund)?,
        };
        return Ok(Answer {
            status: 201,
            body,
            replayed: true,
        });
    }
    let now = db.clock().now_ms();
    let settled = match outcome {
        RefundOutcome::Succeeded {
            refund_id: gateway_refund_id,
            amount_minor,
            currency,
        } => {
            // Never trust a refund whose amount or currency differs from what was asked.
            if *amount_minor != refund.amount.minor_units() || currency != refund.currency().code() {
                tx.rollback().await?;
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "gateway reported {amount_minor} {currency} for refund {refund_id} of {} {}",
                    refund.amount.minor_units(),
                    refund.currency().code()
                )));
            }
            let gateway_refund_id = (via == Via::Gateway).then_some(gateway_refund_id.as_str());
            apply_success(&mut tx, refund, payment, invoice, gateway_refund_id, now).await?
        }
        RefundOutcome::Failed {
            refund_id: gateway_refund_id,
            failure_code,
        } => {
            refunds::settle(
                &mut tx,
                refund_id,
                RefundStatus::Failed,
                gateway_refund_id.as_deref(),
                Some(failure_code),
                now,
            )
            .await?;
            let mut failed = refund;
            failed.status = RefundStatus::Failed;
            failed.failure_code = Some(failure_code.clone());
            failed.gateway_refund_id = gateway_refund_id.clone();
            failed
        }
    };
    let body = answer_body(&settled)?;
    refunds::save_answer(&mut tx, refund_id, 201, &body).await?;
    let action = match settled.status {
        RefundStatus::Succeeded => "refund.succeeded",
        _ => "refund.failed",
    };
    let entry = audit::Entry {
        seller_id: &seller_id,
        actor,
        action,
        object_id: refund_id,
        changes: serde_json::json!({
            "payment_id": payment_id,
            "amount": settled.amount.to_string(),
            "currency": settled.currency().code(),
            "failure_code": settled.failure_code,
        }),
        at: now,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    // Deliveries were written with the event: wake the relay so the ERP hears of it at once.
    state.relay_wakeup.notify_one();
    Ok(Answer {
        status: 201,
        body,
        replayed: false,
    })
}

/// A refund succeeded: the refund, its payment and its invoice move together and the event is written for
/// the outbox, in the caller's transaction. A payment refunded in full gives back the early-payment
/// discount it took too (it no longer settled anything); a partial refund leaves it.
async fn apply_success(
    tx: &mut Tx,
    refund: RefundRow,
    mut payment: payments::PaymentRow,
    mut invoice: invoices::InvoiceRow,
    gateway_refund_id: Option<&str>,
    now: i64,
) -> ApiResult<RefundRow> {
    let refunded = payment
        .amount_refunded
        .checked_add(&refund.amount)
        .context("refund total out of range")?;
    let status = status_after_refunds(payment.amount, refunded);
    // An account payment's refund comes out of one allocation: that allocation's discount goes back when
    // the allocation is refunded in full, and its refunded total moves with the payment's.
    let allocation = allocations::of_payment(&mut **tx, &payment.seller_id, &payment.id)
        .await?
        .into_iter()
        .find(|a| a.invoice_id == invoice.id);
    let discount_released = match &allocation {
        Some(a) => {
            let allocation_refunded = a
                .amount_refunded
                .checked_add(&refund.amount)
                .context("allocation refund total out of range")?;
            allocations::record_refund(tx, &payment.id, &a.invoice_id, allocation_refunded).await?;
            if allocation_refunded == a.amount {
                a.discount
            } else {
                Money::zero(payment.currency())
            }
        }
        None if status == PaymentStatus::Refunded => payment.discount,
        None => Money::zero(payment.currency()),
    };
    let after = invoice
        .totals(0)?
        .after_refund(refund.amount, discount_released)
        .context("refund would take the invoice below zero paid")?;
    refunds::settle(
        tx,
        &refund.id,
        RefundStatus::Succeeded,
        gateway_refund_id,
        None,
        now,
    )
    .await?;
    refunds::record_on_payment(tx, &payment.id, refunded, status, now).await?;
    payments::credit_invoice(
        tx,
        &invoice.id,
        after.amount_paid(),
        after.discount_taken(),
        after.status(),
        now,
    )
    .await?;
    payment.amount_refunded = refunded;
    payment.status = status;
    invoice.amount_paid_minor = after.amount_paid().minor_units();
    invoice.discount_taken_minor = after.discount_taken().minor_units();
    invoice.status = after.status().as_str().to_owned();
    let mut succeeded = refund;
    succeeded.status = RefundStatus::Succeeded;
    succeeded.gateway_refund_id = gateway_refund_id.map(str::to_owned);
    crate::outbox::record_refund_succeeded(tx, &succeeded, &payment, &invoice, now).await?;
    Ok(succeeded)
}
