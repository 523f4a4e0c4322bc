//! The payment flow (DESIGN section 5): hold, charge, finalize. No overpayment because the amount is
//! checked against the balance minus pending holds while the invoice row is locked; no double charge
//! because the gateway's idempotency key is the payment id; nothing lost because a crash between the
//! steps leaves a `pending` payment that [`crate::reconciler`] resolves by asking the gateway.
//!
//! A payment-method token is spent in the hold transaction (one conditional UPDATE, see
//! [`crate::gateway::Gateway::claim_token`]), before the gateway is called: a hold and its token go
//! together or not at all, so of concurrent payments with one token exactly one holds it and reaches the
//! gateway, and a crash after the hold leaves a `pending` payment the reconciler resolves. When the
//! reconciler finds the gateway never saw the payment, [`abandon`] gives the token back with the hold.

use anyhow::Context;
use sha2::{Digest, Sha256};
use tranche_domain::wire::{InvoiceBalanceView, PaymentRequest, PaymentResponse, PaymentStatus, Problem};
use tranche_domain::{AcceptedAmount, ErrorCode, Money, Rules};

use crate::auth::Checkout;
use crate::db::{is_unique_violation, new_id, Db, Tx};
use crate::error::{ApiError, ApiResult};
use crate::gateway::{
    decline_advice, BuyerPresence, ChargeOutcome, ChargeRequest, GatewayError, MethodSummary, TokenBinding,
};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::audit::{self, Actor};
use crate::store::idempotency::{self, Saved};
use crate::store::invoices;
use crate::store::payments::{self, PaymentRow};

/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How long a payment waiting for the buyer's 3-D Secure challenge keeps its hold: past this (counted from
/// the payment's creation) the reconciler cancels the charge at the gateway and releases the hold. Issuers'
/// challenges time out after a few minutes; a quarter of an hour leaves room for a slow bank app.
pub const ACTION_WAIT_MS: i64 = 15 * 60 * 1000;

/// A stored or fresh HTTP answer: status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

/// Validates the raw `Idempotency-Key` header: 1 to 255 printable ASCII characters. Bytes, not `&str`, so a
/// present-but-non-ASCII header is reported as invalid rather than missing.
pub fn parse_key(raw: Option<&[u8]>) -> ApiResult<String> {
    let key = raw.ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::IdempotencyKeyMissing,
            "Idempotency-Key",
            "Send an Idempotency-Key header (e.g. a UUID).",
        )
    })?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(ApiError::invalid(
            ErrorCode::IdempotencyKeyInvalid,
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters without spaces."),
        ));
    }
    Ok(String::from_utf8_lossy(key).into_owned())
}

/// A buyer's payment request, checked at the edge: the payment-method token has a usable shape. The amount
/// and currency stay as sent: the domain's rules parse them against the invoice (its currency sets the
/// precision) while the invoice is locked, and answer with the amount codes.
pub struct PaymentOrder<'a> {
    pub amount: &'a str,
    pub currency: Option<&'a str>,
    pub payment_token: &'a str,
}

/// Longest payment-method token accepted (gateways' tokens are far shorter).
const MAX_PAYMENT_TOKEN_LEN: usize = 200;

impl<'a> TryFrom<&'a PaymentRequest> for PaymentOrder<'a> {
    type Error = ApiError;

    fn try_from(body: &'a PaymentRequest) -> ApiResult<PaymentOrder<'a>> {
        if body.payment_token.is_empty() || body.payment_token.len() > MAX_PAYMENT_TOKEN_LEN {
            return Err(ApiError::invalid(
                ErrorCode::PaymentTokenInvalid,
                "payment_token",
                "payment_token is missing or invalid.",
            ));
        }
        Ok(PaymentOrder {
            amount: &body.amount,
            currency: body.currency.as_deref(),
            payment_token: &body.payment_token,
        })
    }
}

/// Fingerprint of what the key was first used for: the invoice and the exact body.
fn request_hash(invoice_id: &str, body: &PaymentOrder<'_>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        invoice_id,
        body.amount,
        body.payment_token,
        body.currency.unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn replay_or_conflict(record: &idempotency::Record, hash: &str) -> ApiResult<Answer> {
    if record.request_hash != hash {
        // 422, not 400: the request is well-formed but conflicts with the key's first use.
        return Err(ApiError::Unprocessable {
            code: ErrorCode::IdempotencyKeyReused,
            detail: "This Idempotency-Key was already used with a different request.".to_owned(),
        });
    }
    match &record.saved {
        Saved::Done { status, body } => Ok(Answer {
            status: *status,
            body: body.clone(),
            replayed: true,
        }),
        Saved::InFlight => Err(key_in_use()),
    }
}

pub(crate) fn key_in_use() -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::IdempotencyKeyInUse,
        detail: "A request with this Idempotency-Key is still being processed; retry shortly.".to_owned(),
    }
}

/// Runs a buyer's payment end to end and returns the answer to send (and store for replays).
pub async fn pay(
    state: &AppState,
    checkout: &Checkout,
    key: &str,
    body: &PaymentOrder<'_>,
    buyer: Option<BuyerPresence>,
) -> ApiResult<Answer> {
    let hash = request_hash(&checkout.invoice_id, body);
    // No idempotency lookup here: a replay's token is already spent, so it is answered from the stored
    // record by `refuse_token`, or inside the hold when the same key meets a fresh token.
    let binding = TokenBinding::from(checkout);
    // Twice at most: a token found spent with no idempotency record under this key may have been given back
    // in between by the reconciler (`abandon` releases the token and forgets the record in one
    // transaction), so the second look sees it usable, or sees the record and answers from it.
    for last_try in [false, true] {
        let method = match state.gateway.describe_token(body.payment_token, &binding).await {
            Ok(method) => method,
            Err(GatewayError::InvalidToken) => {
                match refuse_token(state, checkout, key, &hash, last_try).await? {
                    Some(answer) => return Ok(answer),
                    None => continue,
                }
            }
            Err(GatewayError::Unavailable(e)) => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "gateway unavailable describing a token: {e}"
                )))
            }
        };
        let attempt = Attempt {
            checkout,
            key,
            hash: &hash,
            body,
            binding: &binding,
            method: &method,
        };
        let (payment, amount, invoice_number) = match hold(state, &attempt).await? {
            Hold::Held {
                payment,
                amount,
                invoice_number,
            } => (payment, amount, invoice_number),
            Hold::Answered(answer) => return Ok(answer),
            Hold::TokenRefused => match refuse_token(state, checkout, key, &hash, last_try).await? {
                Some(answer) => return Ok(answer),
                None => continue,
            },
        };
        let charge = Charge {
            payment: &payment,
            payment_token: body.payment_token,
            amount,
            invoice_number,
            buyer,
        };
        return charge_and_finalize(state, charge).await;
    }
    Err(token_invalid())
}

/// One payment request, parsed and with its token described: what the hold needs.
struct Attempt<'a> {
    checkout: &'a Checkout,
    key: &'a str,
    hash: &'a str,
    body: &'a PaymentOrder<'a>,
    binding: &'a TokenBinding,
    method: &'a MethodSummary,
}

/// How step 1 ended.
enum Hold {
    /// A `pending` payment now holds `amount` of the balance, and the token is spent on it.
    /// (Boxed: the row is large beside the other variants.)
    Held {
        payment: Box<PaymentRow>,
        amount: Money,
        invoice_number: String,
    },
    /// The same key raced in first: its stored answer.
    Answered(Answer),
    /// The token was spent, expired or bound elsewhere by the time it was claimed.
    TokenRefused,
}

/// Step 1: hold. Lock the invoice, check the amount against the available balance, spend the token and
/// insert the `pending` payment with its idempotency record, in one transaction.
async fn hold(state: &AppState, attempt: &Attempt<'_>) -> ApiResult<Hold> {
    let checkout = attempt.checkout;
    let mut tx = state.db.begin_write().await?;
    let invoice = invoices::lock(&state.db, &mut tx, &checkout.seller_id, &checkout.invoice_id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let body = attempt.body;
    let today = state.clock().today();
    let accepted = match check_amount(&mut tx, &invoice, today, body.amount, body.currency).await? {
        Ok(accepted) => accepted,
        Err(rejected) => {
            tx.rollback().await?;
            Metrics::inc(&state.metrics.payments_rejected);
            return Err(ApiError::Amount(rejected));
        }
    };
    let payment_id = new_id("pay");
    // Spend the token with the hold: exactly one payment per token, decided by the affected-row count.
    match state
        .gateway
        .claim_token(&mut tx, body.payment_token, attempt.binding, &payment_id)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tx.rollback().await?;
            return Ok(Hold::TokenRefused);
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(ApiError::Internal(anyhow::anyhow!(
                "claiming a payment token: {e}"
            )));
        }
    }
    let payment = pending_row(state, attempt, payment_id, &accepted);
    payments::insert(&mut tx, &payment).await?;
    let started = idempotency::start(
        &mut tx,
        &checkout.seller_id,
        attempt.key,
        attempt.hash,
        &payment.id,
        payment.created_at,
    )
    .await;
    if let Err(e) = started {
        tx.rollback().await?;
        if !is_unique_violation(&e) {
            return Err(e.into());
        }
        // The key was used before (its token differed, or it raced in on another invoice row): the first
        // use owns it, and this request gets its answer, or learns it differs or is still in flight.
        return match idempotency::find(state.db.pool(), &checkout.seller_id, attempt.key).await? {
            Some(existing) => replay_or_conflict(&existing, attempt.hash).map(Hold::Answered),
            None => Err(key_in_use()),
        };
    }
    tx.commit().await?;
    Ok(Hold::Held {
        payment: Box::new(payment),
        amount: accepted.amount,
        invoice_number: invoice.number,
    })
}

/// Runs one invoice's amount rules on a requested amount, under the invoice's lock in `tx`: the holds of
/// pending payments, the terms, the installment due. The one check of an amount against one invoice: the
/// single-invoice checkout and each allocation of an account payment run it, so a rule added here applies
/// to both.
pub async fn check_amount(
    tx: &mut Tx,
    invoice: &invoices::InvoiceRow,
    today: tranche_domain::Date,
    amount: &str,
    currency: Option<&str>,
) -> ApiResult<Result<AcceptedAmount, tranche_domain::AmountRejected>> {
    let pending = invoices::pending_minor(tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    let terms = invoice.terms()?;
    // With a payment plan, exactly the installment due is payable even below the minimum (issue 16).
    let plan = crate::store::installments::plan_in(tx, invoice).await?;
    let settled = crate::store::installments::settled(invoice)?;
    let due = plan.and_then(|plan| plan.amount_due(settled, today));
    let rules = Rules::new(&totals, &terms, today).with_installment(due);
    Ok(rules.check_str(amount, currency))
}

/// The `pending` payment row a hold inserts, timed by the app's clock.
fn pending_row(state: &AppState, attempt: &Attempt<'_>, id: String, accepted: &AcceptedAmount) -> PaymentRow {
    let now = state.clock().now_ms();
    PaymentRow {
        id,
        seller_id: attempt.checkout.seller_id.clone(),
        invoice_id: attempt.checkout.invoice_id.clone(),
        checkout_link_id: Some(attempt.checkout.link_id.clone()),
        amount: accepted.amount,
        discount: accepted.discount,
        status: PaymentStatus::Pending,
        method_kind: attempt.method.kind.clone(),
        method_brand: attempt.method.brand.clone(),
        method_last4: attempt.method.last4.clone(),
        gateway: state.gateway.name().to_owned(),
        gateway_charge_id: None,
        decline_code: None,
        idempotency_key: Some(attempt.key.to_owned()),
        reconcile_after: now + state.settings.reconciler.grace_seconds * 1000,
        created_at: now,
        updated_at: now,
        amount_refunded: Money::zero(accepted.amount.currency()),
    }
}

/// A held payment about to be charged.
struct Charge<'a> {
    payment: &'a PaymentRow,
    payment_token: &'a str,
    amount: Money,
    invoice_number: String,
    buyer: Option<BuyerPresence>,
}

/// Steps 2 and 3: charge with the payment id as the gateway's idempotency key, then finalize.
async fn charge_and_finalize(state: &AppState, charge: Charge<'_>) -> ApiResult<Answer> {
    let payment = charge.payment;
    let request = ChargeRequest {
        idempotency_key: payment.id.clone(),
        payment_token: charge.payment_token.to_owned(),
        amount: charge.amount,
        seller_id: payment.seller_id.clone(),
        invoice_id: payment.invoice_id.clone(),
        invoice_number: charge.invoice_number,
        method_kind: payment.method_kind.clone(),
        buyer: charge.buyer,
    };
    let outcome = match state.gateway.charge(&request).await {
        Ok(outcome) => outcome,
        Err(GatewayError::InvalidToken) => ChargeOutcome::Declined {
            decline_code: "invalid_payment_token".into(),
        },
        Err(GatewayError::Unavailable(e)) => {
            // Ambiguous: the charge may exist. Leave the hold; the reconciler asks the gateway later.
            tracing::warn!(payment_id = %payment.id, error = %e, "gateway unavailable; payment left pending");
            return pending_answer(&state.db, &payment.id).await;
        }
    };
    finalize_held(state, &HeldPayment::of(payment), &outcome, Actor::Buyer).await
}

/// Answers a token that is unknown, spent, expired or made for another checkout: nothing is held or charged.
/// Unless the same request raced in under this key and spent the token itself: then this is a replay (or
/// the key is still in use), answered as such rather than as a bad token. `None` (only before the last
/// try): no record under this key, so look at the token once more.
async fn refuse_token(
    state: &AppState,
    checkout: &Checkout,
    key: &str,
    hash: &str,
    last_try: bool,
) -> ApiResult<Option<Answer>> {
    if let Some(existing) = idempotency::find(state.db.pool(), &checkout.seller_id, key).await? {
        return replay_or_conflict(&existing, hash).map(Some);
    }
    if last_try {
        return Err(token_invalid());
    }
    Ok(None)
}

pub(crate) fn token_invalid() -> ApiError {
    ApiError::invalid(
        ErrorCode::PaymentTokenInvalid,
        "payment_token",
        "The payment method token is unknown, expired, already used or made for another checkout; enter the payment details again.",
    )
}

/// The answer for a payment still pending (ambiguous gateway result), also saved for replays.
async fn pending_answer(db: &Db, payment_id: &str) -> ApiResult<Answer> {
    let mut tx = db.begin_write().await?;
    let payment = payments::find_in(&mut tx, payment_id)
        .await?
        .context("payment vanished")?;
    let invoice = invoices::lock(db, &mut tx, &payment.seller_id, &payment.invoice_id)
        .await?
        .context("invoice vanished")?;
    let body = success_body(&payment, &invoice)?;
    idempotency::finish(&mut tx, payment_id, 201, &body).await?;
    tx.commit().await?;
    Ok(fresh(201, body))
}

pub(crate) fn fresh(status: u16, body: String) -> Answer {
    Answer {
        status,
        body,
        replayed: false,
    }
}

pub(crate) fn success_body(payment: &PaymentRow, invoice: &invoices::InvoiceRow) -> anyhow::Result<String> {
    let response = PaymentResponse {
        payment: payment.view(),
        invoice: InvoiceBalanceView {
            id: invoice.id.clone(),
            amount_paid: invoice.money(invoice.amount_paid_minor)?.to_string(),
            balance_due: invoice.money(invoice.balance_due_minor())?.to_string(),
            status: tranche_domain::InvoiceStatus::parse(&invoice.status).context("stored invoice status")?,
        },
    };
    serde_json::to_string(&response).context("serialising payment response")
}

/// `POST /v1/checkout/payments/{id}/confirm`: after the buyer's action (3-D Secure) in their browser, asks
/// the gateway how the charge stands and finalizes it through the same locking path as the charge, the
/// webhook and the reconciler, so whichever comes first credits the invoice and the others answer from it.
/// Only this checkout link's payments, made by the running gateway, can be confirmed; a payment already
/// final answers its outcome again. Never releases a hold: a charge the gateway has not seen is the
/// reconciler's to resolve.
pub async fn confirm(state: &AppState, checkout: &Checkout, payment_id: &str) -> ApiResult<Answer> {
    let payment = payments::find(&state.db, &checkout.seller_id, payment_id)
        .await?
        .filter(|p| {
            p.invoice_id == checkout.invoice_id
                && p.checkout_link_id.as_deref() == Some(checkout.link_id.as_str())
        })
        .ok_or(ApiError::NotFound("payment"))?;
    if payment.gateway != state.gateway.name() {
        return Err(ApiError::Conflict {
            code: ErrorCode::PaymentNotConfirmable,
            detail: format!(
                "This payment was made through the {} gateway, which this server no longer runs.",
                payment.gateway
            ),
        });
    }
    let outcome = if payment.status == PaymentStatus::Pending {
        match state.gateway.lookup(&payment.id).await {
            Ok(outcome) => outcome,
            Err(GatewayError::InvalidToken) => None,
            Err(GatewayError::Unavailable(e)) => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "gateway unavailable confirming {}: {e}",
                    payment.id
                )))
            }
        }
    } else {
        None
    };
    match outcome {
        Some(outcome) => finalize_held(state, &HeldPayment::of(&payment), &outcome, Actor::Buyer).await,
        // Final already, or not yet seen by the gateway: its answer as it stands.
        None => {
            let invoice = invoices::find(&state.db, &payment.seller_id, &payment.invoice_id)
                .await?
                .ok_or(ApiError::NotFound("invoice"))?;
            stored_answer(&payment, &invoice).await
        }
    }
}

/// The gateway never saw this payment (its request died between the hold and the charge): release the hold
/// and forget the in-flight idempotency record, so the buyer's retry with the same key runs afresh and is
/// charged once. Storing a decline instead would tell the buyer their card was refused when it was never tried.
pub async fn abandon(state: &AppState, payment_id: &str) -> ApiResult<bool> {
    let mut tx = state.db.begin_write().await?;
    let released = payments::release_hold(&mut tx, payment_id, state.clock().now_ms()).await?;
    if released {
        idempotency::forget_in_flight(&mut tx, payment_id).await?;
        // The gateway never charged it: the buyer's retry (same key, same token) may spend it again.
        state
            .gateway
            .release_token(&mut tx, payment_id)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("releasing a payment token: {e}")))?;
    }
    tx.commit().await?;
    Ok(released)
}

/// Applies a gateway outcome to a pending payment, exactly once: only the caller that moves the payment
/// out of `pending` updates the invoice and writes the outbox. Used by the request path and the reconciler;
/// `actor` is who the audit log names (`buyer` on the request path, `system` for the reconciler).
pub async fn finalize(
    state: &AppState,
    payment_id: &str,
    outcome: &ChargeOutcome,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    let (seller_id, invoice_id) = payments::owner(&state.db, payment_id)
        .await?
        .context("payment vanished")?;
    // An account payment credits every invoice it was allocated to, not its row's first invoice.
    if crate::store::allocations::is_allocated(state.db.pool(), payment_id).await? {
        return crate::account_flow::finalize(state, &seller_id, payment_id, outcome, actor).await;
    }
    let held = HeldPayment {
        id: payment_id,
        seller_id: &seller_id,
        invoice_id: &invoice_id,
    };
    finalize_held(state, &held, outcome, actor).await
}

/// A pending payment and the invoice it holds (both fixed when the hold was written): what finalize
/// needs to lock the invoice first and read the payment once under that lock.
struct HeldPayment<'a> {
    id: &'a str,
    seller_id: &'a str,
    invoice_id: &'a str,
}

impl<'a> HeldPayment<'a> {
    fn of(payment: &'a PaymentRow) -> HeldPayment<'a> {
        HeldPayment {
            id: &payment.id,
            seller_id: &payment.seller_id,
            invoice_id: &payment.invoice_id,
        }
    }
}

async fn finalize_held(
    state: &AppState,
    held: &HeldPayment<'_>,
    outcome: &ChargeOutcome,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    let answer = finalize_in_db(&state.db, &state.metrics, held, outcome, actor).await?;
    // Deliveries were written with the event: wake the relay so the ERP hears of it at once.
    state.relay_wakeup.notify_one();
    Ok(answer)
}

async fn finalize_in_db(
    db: &Db,
    metrics: &Metrics,
    held: &HeldPayment<'_>,
    outcome: &ChargeOutcome,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    let payment_id = held.id;
    let mut tx = db.begin_write().await?;
    let invoice = invoices::lock(db, &mut tx, held.seller_id, held.invoice_id)
        .await?
        .context("invoice vanished")?;
    // Read under the invoice's lock, which every finalizer of this payment takes: another may have won.
    let payment = payments::find_in(&mut tx, payment_id)
        .await?
        .context("payment vanished")?;
    if payment.status != PaymentStatus::Pending {
        tx.rollback().await?;
        return stored_answer(&payment, &invoice).await;
    }
    let now = db.clock().now_ms();
    let answer = match outcome {
        ChargeOutcome::Succeeded {
            charge_id,
            amount_minor,
            currency,
        } => {
            // Integrity check: never trust a charge whose amount or currency differs from what was asked.
            if *amount_minor != payment.amount.minor_units() || currency != payment.currency().code() {
                tx.rollback().await?;
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "gateway reported {amount_minor} {currency} for payment {payment_id} of {} {}",
                    payment.amount.minor_units(),
                    payment.currency().code()
                )));
            }
            let answer = apply_success(&mut tx, payment, invoice, charge_id, now).await?;
            Metrics::inc(&metrics.payments_succeeded);
            answer
        }
        ChargeOutcome::Declined { decline_code } => {
            let answer = apply_decline(&mut tx, payment_id, decline_code, now).await?;
            Metrics::inc(&metrics.payments_declined);
            answer
        }
        ChargeOutcome::Pending {
            charge_id,
            retry_after_ms,
        } => {
            let reconcile_after = now + (*retry_after_ms).max(0);
            let answer = apply_pending(&mut tx, payment, &invoice, charge_id, reconcile_after, now).await?;
            Metrics::inc(&metrics.payments_pending);
            answer
        }
        ChargeOutcome::ActionRequired {
            charge_id,
            client_secret,
        } => apply_action(&mut tx, &payment, charge_id, client_secret, now).await?,
    };
    record_outcome(&mut tx, held, outcome, actor, now).await?;
    tx.commit().await?;
    Ok(answer)
}

/// The audit row of a payment's outcome, in its finalize transaction (a pending charge, not yet final,
/// writes none: its final outcome will).
async fn record_outcome(
    tx: &mut Tx,
    held: &HeldPayment<'_>,
    outcome: &ChargeOutcome,
    actor: Actor<'_>,
    now: i64,
) -> ApiResult<()> {
    let (action, changes) = match outcome {
        ChargeOutcome::Succeeded {
            amount_minor,
            currency,
            ..
        } => (
            "payment.succeeded",
            serde_json::json!({"invoice_id": held.invoice_id, "amount_minor": amount_minor, "currency": currency}),
        ),
        ChargeOutcome::Declined { decline_code } => (
            "payment.failed",
            serde_json::json!({"invoice_id": held.invoice_id, "decline_code": decline_code}),
        ),
        ChargeOutcome::Pending { .. } | ChargeOutcome::ActionRequired { .. } => return Ok(()),
    };
    let entry = audit::Entry {
        seller_id: held.seller_id,
        actor,
        action,
        object_id: held.id,
        changes,
        at: now,
    };
    audit::record(tx, &entry).await?;
    Ok(())
}

/// A decline: the payment fails with the gateway's code, and the 402 is saved for replays.
async fn apply_decline(tx: &mut Tx, payment_id: &str, decline_code: &str, now: i64) -> ApiResult<Answer> {
    payments::mark_declined(tx, payment_id, decline_code, now).await?;
    let body = serde_json::to_string(&declined_problem(decline_code)).context("serialising decline")?;
    idempotency::finish(tx, payment_id, 402, &body).await?;
    Ok(fresh(402, body))
}

/// The buyer must authenticate (3-D Secure): the payment stays pending with its hold and the gateway's
/// charge id until [`ACTION_WAIT_MS`] after it was made (then the reconciler gives it up), and the 402
/// `action_required` is saved for replays of its key. Asked again while still waiting (the confirm call),
/// it answers the same and writes the same.
async fn apply_action(
    tx: &mut Tx,
    payment: &PaymentRow,
    charge_id: &str,
    client_secret: &str,
    now: i64,
) -> ApiResult<Answer> {
    let reconcile_after = payment.created_at + ACTION_WAIT_MS;
    payments::mark_charge_pending(tx, &payment.id, charge_id, reconcile_after, now).await?;
    let body = serde_json::to_string(&action_problem(&payment.id, client_secret))
        .context("serialising action_required")?;
    idempotency::finish(tx, &payment.id, 402, &body).await?;
    Ok(fresh(402, body))
}

/// 402 `action_required`: what the widget needs to run the gateway's next action and confirm.
pub fn action_problem(payment_id: &str, client_secret: &str) -> Problem {
    let mut problem = Problem::new(
        ErrorCode::ActionRequired,
        "Authentication required",
        "The card issuer asks you to confirm this payment (3-D Secure). Complete the check, then confirm the payment.",
    );
    problem.client_secret = Some(client_secret.to_owned());
    problem.payment_id = Some(payment_id.to_owned());
    problem
}

/// Accepted but not final (bank debits): the payment stays pending with the gateway's charge id until
/// `reconcile_after`, and the pending answer is saved for replays.
async fn apply_pending(
    tx: &mut Tx,
    payment: PaymentRow,
    invoice: &invoices::InvoiceRow,
    charge_id: &str,
    reconcile_after: i64,
    now: i64,
) -> ApiResult<Answer> {
    payments::mark_charge_pending(tx, &payment.id, charge_id, reconcile_after, now).await?;
    let mut pending = payment;
    pending.gateway_charge_id = Some(charge_id.to_owned());
    let body = success_body(&pending, invoice)?;
    idempotency::finish(tx, &pending.id, 201, &body).await?;
    Ok(fresh(201, body))
}

/// A charge succeeded: the payment and its invoice move on together, the event is written for the outbox
/// and the answer saved for replays, all in the caller's transaction.
async fn apply_success(
    tx: &mut Tx,
    payment: PaymentRow,
    mut invoice: invoices::InvoiceRow,
    charge_id: &str,
    now: i64,
) -> ApiResult<Answer> {
    // The hold is not in these totals (`totals(0)`, and `was_pending` false): only paid and discount move,
    // and the domain does the checked arithmetic and picks the status.
    let totals = invoice.totals(0)?;
    if payment.currency() != totals.currency() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "payment {} is in {} but its invoice in {}",
            payment.id,
            payment.currency().code(),
            totals.currency().code()
        )));
    }
    let (amount, discount) = (payment.amount, payment.discount);
    let remaining_after = totals
        .balance_due()
        .checked_sub(&amount)
        .and_then(|b| b.checked_sub(&discount))
        .context("payment would overpay the invoice")?;
    let accepted = AcceptedAmount {
        amount,
        discount,
        remaining_after,
    };
    let after = totals
        .after_payment(&accepted, false)
        .context("payment would overpay the invoice")?;
    payments::mark_succeeded(tx, &payment.id, charge_id, now).await?;
    payments::credit_invoice(
        tx,
        &invoice.id,
        after.amount_paid(),
        after.discount_taken(),
        after.status(),
        now,
    )
    .await?;
    invoice.amount_paid_minor = after.amount_paid().minor_units();
    invoice.discount_taken_minor = after.discount_taken().minor_units();
    invoice.status = after.status().as_str().to_owned();
    let mut succeeded = payment;
    succeeded.status = PaymentStatus::Succeeded;
    succeeded.gateway_charge_id = Some(charge_id.to_owned());
    crate::outbox::record_payment_succeeded(tx, &succeeded, &invoice, now).await?;
    let body = success_body(&succeeded, &invoice)?;
    idempotency::finish(tx, &succeeded.id, 201, &body).await?;
    Ok(fresh(201, body))
}

/// The decline as the buyer sees it: 402 `payment_declined` with the gateway's code and advice.
pub fn declined_problem(decline_code: &str) -> Problem {
    let (message, advice) = decline_advice(decline_code);
    let mut problem = ApiError::Declined {
        decline_code: decline_code.to_owned(),
        message: message.to_owned(),
        advice: advice.to_owned(),
    }
    .problem();
    problem.request_id = None;
    problem
}

async fn stored_answer(payment: &PaymentRow, invoice: &invoices::InvoiceRow) -> ApiResult<Answer> {
    let answer = match payment.status {
        PaymentStatus::Failed => Answer {
            status: 402,
            body: serde_json::to_string(&declined_problem(
                payment.decline_code.as_deref().unwrap_or("card_declined"),
            ))
            .context("serialising decline")?,
            replayed: true,
        },
        _ => Answer {
            status: 201,
            body: success_body(payment, invoice)?,
            replayed: true,
        },
    };
    Ok(answer)
}
