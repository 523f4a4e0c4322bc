//! Account payments (DESIGN 12): one gateway charge for several invoices of one customer, all or nothing.
//! The same three steps as [`crate::payment_flow`] (hold, charge, finalize), with the hold and the finalize
//! covering every allocated invoice in one transaction:
//!
//! - Hold: lock the invoices in id order (every writer takes invoices in that order, then the payment, so
//!   two account payments over overlapping invoices cannot deadlock), run each invoice's own amount rules
//!   through [`payment_flow::check_amount`] (the single-invoice checkout's check, so a rule added there
//!   applies here), spend the payment-method token, and insert the `pending` payment with its allocations.
//!   A rule failing on any invoice rolls everything back and answers with that invoice's problem, named by
//!   `invoice_id`. Holds count per invoice ([`crate::store::invoices::pending_minor`] sums allocations of
//!   pending payments), so concurrent payments never overpay an invoice.
//! - Charge: once, for the sum, with the payment id as the gateway's idempotency key.
//! - Finalize: lock the invoices (id order), read the payment under those locks, and credit every invoice
//!   with its allocation, or none. The reconciler reaches this through [`payment_flow::finalize`], which
//!   hands allocated payments here, so a crash between charge and finalize is recovered as for one invoice.

use std::collections::HashSet;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tranche_domain::wire::{
    AccountPaymentRequest, AccountPaymentResponse, AccountPaymentView, AllocationView, InvoiceBalanceView,
    PaymentStatus,
};
use tranche_domain::{AcceptedAmount, Currency, ErrorCode, InvoiceStatus, Money};

use crate::account_auth::Account;
use crate::db::{is_unique_violation, new_id, rfc3339, Tx};
use crate::error::{ApiError, ApiResult};
use crate::gateway::{
    BuyerPresence, ChargeOutcome, ChargeRequest, GatewayError, MethodSummary, TokenBinding,
};
use crate::metrics::Metrics;
use crate::payment_flow::{self, Answer};
use crate::state::AppState;
use crate::store::allocations::{self, Allocation, NewAllocation};
use crate::store::audit::{self, Actor};
use crate::store::idempotency;
use crate::store::invoices::{self, InvoiceRow};
use crate::store::payments::{self, PaymentRow};

/// Most invoices one account payment may allocate to: a buyer paying a whole statement at once is well
/// under it, and one hold transaction locks at most this many invoice rows.
pub const MAX_ALLOCATIONS: usize = 100;
/// Longest invoice id accepted in an allocation (ids are far shorter).
const MAX_INVOICE_ID_LEN: usize = 100;
/// Longest payment-method token accepted (as for a single payment).
const MAX_PAYMENT_TOKEN_LEN: usize = 200;

/// One allocation as asked: the amount stays text until the invoice's own rules parse it (its currency
/// sets the precision) under the invoice's lock.
pub struct AllocationOrder<'a> {
    pub invoice_id: &'a str,
    pub amount: &'a str,
    /// Position in the request.
    pub position: usize,
}

/// An account payment request, checked at the edge: a usable token, 1 to [`MAX_ALLOCATIONS`] allocations,
/// each invoice at most once.
pub struct AccountOrder<'a> {
    pub payment_token: &'a str,
    pub allocations: Vec<AllocationOrder<'a>>,
}

impl<'a> TryFrom<&'a AccountPaymentRequest> for AccountOrder<'a> {
    type Error = ApiError;

    fn try_from(body: &'a AccountPaymentRequest) -> ApiResult<AccountOrder<'a>> {
        if body.payment_token.is_empty() || body.payment_token.len() > MAX_PAYMENT_TOKEN_LEN {
            return Err(ApiError::invalid(
                ErrorCode::PaymentTokenInvalid,
                "payment_token",
                "payment_token is missing or invalid.",
            ));
        }
        if body.allocations.is_empty() || body.allocations.len() > MAX_ALLOCATIONS {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "allocations",
                format!("allocations must name 1 to {MAX_ALLOCATIONS} invoices."),
            ));
        }
        let mut seen = HashSet::new();
        let mut allocations = Vec::with_capacity(body.allocations.len());
        for (position, a) in body.allocations.iter().enumerate() {
            if a.invoice_id.is_empty() || a.invoice_id.len() > MAX_INVOICE_ID_LEN {
                return Err(ApiError::invalid(
                    ErrorCode::InvalidField,
                    "allocations",
                    "Each allocation needs an invoice_id.",
                ));
            }
            if !seen.insert(a.invoice_id.as_str()) {
                return Err(for_invoice(
                    &a.invoice_id,
                    ApiError::invalid(
                        ErrorCode::InvalidField,
                        "allocations",
                        "An invoice appears more than once in allocations: give each invoice one amount.",
                    ),
                ));
            }
            allocations.push(AllocationOrder {
                invoice_id: &a.invoice_id,
                amount: &a.amount,
                position,
            });
        }
        Ok(AccountOrder {
            payment_token: &body.payment_token,
            allocations,
        })
    }
}

/// A refusal about one invoice of the request: the problem names it (`invoice_id`).
fn for_invoice(invoice_id: &str, error: ApiError) -> ApiError {
    ApiError::ForInvoice {
        invoice_id: invoice_id.chars().take(MAX_INVOICE_ID_LEN).collect(),
        error: Box::new(error),
    }
}

/// Fingerprint of what the key was first used for: the account link and the exact body, in its order.
fn request_hash(link_id: &str, order: &AccountOrder<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"account\0");
    for part in [link_id, order.payment_token] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    for a in &order.allocations {
        for part in [a.invoice_id, a.amount] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs an account payment end to end and returns the answer to send (and store for replays).
pub async fn pay(
    state: &AppState,
    account: &Account,
    key: &str,
    order: &AccountOrder<'_>,
    buyer: Option<BuyerPresence>,
) -> ApiResult<Answer> {
    let hash = request_hash(&account.link_id, order);
    let binding = account.binding();
    let method = match state.gateway.describe_token(order.payment_token, &binding).await {
        Ok(method) => method,
        Err(GatewayError::InvalidToken) => return refuse_token(state, account, key, &hash).await,
        Err(GatewayError::Unavailable(e)) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "gateway unavailable describing a token: {e}"
            )))
        }
    };
    let attempt = Attempt {
        account,
        key,
        hash: &hash,
        order,
        binding: &binding,
        method: &method,
    };
    let held = match hold(state, &attempt).await? {
        Hold::Held(held) => held,
        Hold::Answered(answer) => return Ok(answer),
        Hold::TokenRefused => return refuse_token(state, account, key, &hash).await,
    };
    let request = ChargeRequest {
        idempotency_key: held.payment.id.clone(),
        payment_token: order.payment_token.to_owned(),
        amount: held.payment.amount,
        seller_id: held.payment.seller_id.clone(),
        invoice_id: held.payment.invoice_id.clone(),
        // Metadata only (the gateway's dashboard): every invoice number, bounded.
        invoice_number: held.numbers.chars().take(400).collect(),
        method_kind: held.payment.method_kind.clone(),
        buyer,
    };
    let outcome = match state.gateway.charge(&request).await {
        // An account payment has no confirm step (the widget's account mode does not run the gateway's
        // action): a card that asks for 3-D Secure is given up at once, so the charge can never complete
        // later and the holds go now; if the gateway cannot cancel it, it stays pending for the reconciler
        // (which cancels after `payment_flow::ACTION_WAIT_MS`). The buyer pays such invoices one by one.
        Ok(ChargeOutcome::ActionRequired { .. }) => {
            match state.gateway.cancel_action(&held.payment.id).await {
                Ok(Some(ChargeOutcome::Declined { .. })) => ChargeOutcome::Declined {
                    decline_code: "authentication_required".into(),
                },
                Ok(Some(outcome @ (ChargeOutcome::Succeeded { .. } | ChargeOutcome::Pending { .. }))) => {
                    outcome
                }
                _ => return pending_answer(state, &held.payment).await,
            }
        }
        Ok(outcome) => outcome,
        Err(GatewayError::InvalidToken) => ChargeOutcome::Declined {
            decline_code: "invalid_payment_token".into(),
        },
        Err(GatewayError::Unavailable(e)) => {
            // Ambiguous: the charge may exist. Leave the hold; the reconciler asks the gateway later.
            tracing::warn!(payment_id = %held.payment.id, error = %e, "gateway unavailable; account payment left pending");
            return pending_answer(state, &held.payment).await;
        }
    };
    finalize(
        state,
        &held.payment.seller_id,
        &held.payment.id,
        &outcome,
        Actor::Buyer,
    )
    .await
}

/// A token that is unknown, spent, expired or made for another link: nothing is held or charged, unless
/// the same request raced in under this key (then this is its replay).
async fn refuse_token(state: &AppState, account: &Account, key: &str, hash: &str) -> ApiResult<Answer> {
    match idempotency::find(state.db.pool(), &account.seller_id, key).await? {
        Some(existing) => payment_flow::replay_or_conflict(&existing, hash),
        None => Err(payment_flow::token_invalid()),
    }
}

struct Attempt<'a> {
    account: &'a Account,
    key: &'a str,
    hash: &'a str,
    order: &'a AccountOrder<'a>,
    binding: &'a TokenBinding,
    method: &'a MethodSummary,
}

struct Held {
    payment: PaymentRow,
    /// The invoices' numbers, for the charge's metadata.
    numbers: String,
}

enum Hold {
    Held(Box<Held>),
    Answered(Answer),
    TokenRefused,
}

/// Step 1: lock every invoice (id order), run each one's rules, spend the token and insert the pending
/// payment with its allocations and idempotency record, in one transaction; any refusal rolls all back.
async fn hold(state: &AppState, attempt: &Attempt<'_>) -> ApiResult<Hold> {
    let account = attempt.account;
    let mut order: Vec<&AllocationOrder<'_>> = attempt.order.allocations.iter().collect();
    order.sort_by(|a, b| a.invoice_id.cmp(b.invoice_id));
    let today = state.clock().today();
    let mut tx = state.db.begin_write().await?;
    let mut currency: Option<Currency> = None;
    let mut accepted: Vec<(&AllocationOrder<'_>, InvoiceRow, AcceptedAmount)> =
        Vec::with_capacity(order.len());
    for a in order {
        let refusal = match lock_allocated(state, &mut tx, account, a, today, &mut currency).await {
            Ok(Ok((invoice, amount))) => {
                accepted.push((a, invoice, amount));
                continue;
            }
            Ok(Err(refusal)) => refusal,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        tx.rollback().await?;
        Metrics::inc(&state.metrics.payments_rejected);
        return Err(for_invoice(a.invoice_id, refusal));
    }
    let Some(currency) = currency else {
        tx.rollback().await?;
        return Err(ApiError::Internal(anyhow::anyhow!(
            "an account payment with no allocation"
        )));
    };
    let mut amount = Money::zero(currency);
    let mut discount = Money::zero(currency);
    for (_, _, a) in &accepted {
        amount = amount
            .checked_add(&a.amount)
            .context("account payment sum overflows")?;
        discount = discount
            .checked_add(&a.discount)
            .context("account payment discount overflows")?;
    }
    let payment_id = new_id("pay");
    match state
        .gateway
        .claim_token(&mut tx, attempt.order.payment_token, attempt.binding, &payment_id)
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
    let now = state.clock().now_ms();
    // The row's invoice is the first allocation's (by id): a payment row always names an invoice, and
    // its allocations say what it paid.
    let first = accepted
        .first()
        .map(|(_, invoice, _)| invoice.id.clone())
        .context("an account payment with no allocation")?;
    let payment = PaymentRow {
        id: payment_id,
        seller_id: account.seller_id.clone(),
        invoice_id: first,
        checkout_link_id: None,
        amount,
        discount,
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
        amount_refunded: Money::zero(currency),
    };
    payments::insert(&mut tx, &payment).await?;
    let rows: Vec<NewAllocation<'_>> = accepted
        .iter()
        .map(|(a, invoice, accepted)| NewAllocation {
            invoice_id: &invoice.id,
            position: i64::try_from(a.position).unwrap_or(i64::MAX),
            amount: accepted.amount,
            discount: accepted.discount,
        })
        .collect();
    allocations::insert(&mut tx, &account.seller_id, &payment.id, &account.link_id, &rows).await?;
    let started = idempotency::start(
        &mut tx,
        &account.seller_id,
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
        return match idempotency::find(state.db.pool(), &account.seller_id, attempt.key).await? {
            Some(existing) => payment_flow::replay_or_conflict(&existing, attempt.hash).map(Hold::Answered),
            None => Err(payment_flow::key_in_use()),
        };
    }
    tx.commit().await?;
    let mut by_position: Vec<_> = accepted
        .iter()
        .map(|(a, invoice, _)| (a.position, &invoice.number))
        .collect();
    by_position.sort();
    let numbers = by_position
        .iter()
        .map(|(_, n)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Hold::Held(Box::new(Held { payment, numbers })))
}

/// Locks one allocated invoice and runs its rules. `Ok(Err(_))` is a refusal about this invoice.
async fn lock_allocated(
    state: &AppState,
    tx: &mut Tx,
    account: &Account,
    a: &AllocationOrder<'_>,
    today: tranche_domain::Date,
    currency: &mut Option<Currency>,
) -> ApiResult<Result<(InvoiceRow, AcceptedAmount), ApiError>> {
    // Another customer's invoice answers exactly as one that does not exist: the link shows one customer.
    let invoice = invoices::lock(&state.db, tx, &account.seller_id, a.invoice_id)
        .await?
        .filter(|invoice| invoice.customer_id == account.customer_id);
    let Some(invoice) = invoice else {
        return Ok(Err(ApiError::NotFound("invoice")));
    };
    let this = invoice.currency()?;
    match currency {
        None => *currency = Some(this),
        Some(first) if *first != this => {
            return Ok(Err(ApiError::Unprocessable {
                code: ErrorCode::CurrencyMismatch,
                detail: format!(
                    "One payment pays invoices of one currency: this invoice is in {}, another allocation's in {}.",
                    this.code(),
                    first.code()
                ),
            }))
        }
        Some(_) => {}
    }
    Ok(payment_flow::check_amount(tx, &invoice, today, a.amount, None)
        .await?
        .map(|accepted| (invoice, accepted))
        .map_err(ApiError::Amount))
}

/// The answer for an account payment left pending (ambiguous gateway result), also saved for replays.
async fn pending_answer(state: &AppState, payment: &PaymentRow) -> ApiResult<Answer> {
    let mut tx = state.db.begin_write().await?;
    let (allocations, invoices) = lock_all(state, &mut tx, &payment.seller_id, &payment.id).await?;
    let payment = payments::find_in(&mut tx, &payment.id)
        .await?
        .context("payment vanished")?;
    let body = success_body(&payment, &allocations, &invoices)?;
    idempotency::finish(&mut tx, &payment.id, 201, &body).await?;
    tx.commit().await?;
    Ok(Answer {
        status: 201,
        body,
        replayed: false,
    })
}

/// The payment's allocations and their invoices, locked in id order (the lock order of every writer).
async fn lock_all(
    state: &AppState,
    tx: &mut Tx,
    seller_id: &str,
    payment_id: &str,
) -> ApiResult<(Vec<Allocation>, Vec<InvoiceRow>)> {
    let allocations = allocations::of_payment(&mut **tx, seller_id, payment_id).await?;
    let mut invoices = Vec::with_capacity(allocations.len());
    for a in &allocations {
        let invoice = invoices::lock(&state.db, tx, seller_id, &a.invoice_id)
            .await?
            .context("allocated invoice vanished")?;
        invoices.push(invoice);
    }
    Ok((allocations, invoices))
}

/// Applies a gateway outcome to a pending account payment, exactly once: only the caller that moves it out
/// of `pending` credits the invoices and writes the outbox. The request path and the reconciler (through
/// [`payment_flow::finalize`]) both come here.
pub async fn finalize(
    state: &AppState,
    seller_id: &str,
    payment_id: &str,
    outcome: &ChargeOutcome,
    actor: Actor<'_>,
) -> ApiResult<Answer> {
    let mut tx = state.db.begin_write().await?;
    let (allocations, mut invoices) = lock_all(state, &mut tx, seller_id, payment_id).await?;
    let payment = payments::find_in(&mut tx, payment_id)
        .await?
        .context("payment vanished")?;
    if payment.status != PaymentStatus::Pending {
        tx.rollback().await?;
        return stored_answer(&payment, &allocations, &invoices);
    }
    let now = state.clock().now_ms();
    let answer = match outcome {
        ChargeOutcome::Succeeded {
            charge_id,
            amount_minor,
            currency,
        } => {
            if *amount_minor != payment.amount.minor_units() || currency != payment.currency().code() {
                tx.rollback().await?;
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "gateway reported {amount_minor} {currency} for account payment {payment_id} of {} {}",
                    payment.amount.minor_units(),
                    payment.currency().code()
                )));
            }
            let answer = apply_success(&mut tx, payment, &allocations, &mut invoices, charge_id, now).await?;
            Metrics::inc(&state.metrics.payments_succeeded);
            answer
        }
        ChargeOutcome::Declined { decline_code } => {
            payments::mark_declined(&mut tx, payment_id, decline_code, now).await?;
            let body = serde_json::to_string(&payment_flow::declined_problem(decline_code))
                .context("serialising decline")?;
            idempotency::finish(&mut tx, payment_id, 402, &body).await?;
            Metrics::inc(&state.metrics.payments_declined);
            Answer {
                status: 402,
                body,
                replayed: false,
            }
        }
        ChargeOutcome::Pending {
            charge_id,
            retry_after_ms,
        } => {
            let reconcile_after = now + (*retry_after_ms).max(0);
            payments::mark_charge_pending(&mut tx, payment_id, charge_id, reconcile_after, now).await?;
            let mut pending = payment;
            pending.gateway_charge_id = Some(charge_id.clone());
            let body = success_body(&pending, &allocations, &invoices)?;
            idempotency::finish(&mut tx, payment_id, 201, &body).await?;
            Metrics::inc(&state.metrics.payments_pending);
            Answer {
                status: 201,
                body,
                replayed: false,
            }
        }
        // `pay` gives up a charge that asks for an action before finalizing, and the reconciler cancels
        // one before handing it here; should one arrive anyway it waits, as pending, for the reconciler.
        ChargeOutcome::ActionRequired { charge_id, .. } => {
            let reconcile_after = payment.created_at + payment_flow::ACTION_WAIT_MS;
            payments::mark_charge_pending(&mut tx, payment_id, charge_id, reconcile_after, now).await?;
            let mut pending = payment;
            pending.gateway_charge_id = Some(charge_id.clone());
            let body = success_body(&pending, &allocations, &invoices)?;
            idempotency::finish(&mut tx, payment_id, 201, &body).await?;
            Answer {
                status: 201,
                body,
                replayed: false,
            }
        }
    };
    record_outcome(&mut tx, seller_id, payment_id, &allocations, outcome, actor, now).await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(answer)
}

/// The charge succeeded: every allocated invoice is credited with its allocation (the domain's checked
/// arithmetic picks each status), the payment succeeds, the event is written and the answer saved.
async fn apply_success(
    tx: &mut Tx,
    payment: PaymentRow,
    allocations: &[Allocation],
    invoices: &mut [InvoiceRow],
    charge_id: &str,
    now: i64,
) -> ApiResult<Answer> {
    for (a, invoice) in allocations.iter().zip(invoices.iter_mut()) {
        let totals = invoice.totals(0)?;
        if a.amount.currency() != totals.currency() {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "allocation of payment {} is in {} but invoice {} in {}",
                payment.id,
                a.amount.currency().code(),
                invoice.id,
                totals.currency().code()
            )));
        }
        let remaining_after = totals
            .balance_due()
            .checked_sub(&a.amount)
            .and_then(|b| b.checked_sub(&a.discount))
            .context("an allocation would overpay its invoice")?;
        let accepted = AcceptedAmount {
            amount: a.amount,
            discount: a.discount,
            remaining_after,
        };
        let after = totals
            .after_payment(&accepted, false)
            .context("an allocation would overpay its invoice")?;
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
    }
    payments::mark_succeeded(tx, &payment.id, charge_id, now).await?;
    let mut succeeded = payment;
    succeeded.status = PaymentStatus::Succeeded;
    succeeded.gateway_charge_id = Some(charge_id.to_owned());
    crate::outbox::record_account_payment_succeeded(tx, &succeeded, allocations, invoices, now).await?;
    let body = success_body(&succeeded, allocations, invoices)?;
    idempotency::finish(tx, &succeeded.id, 201, &body).await?;
    Ok(Answer {
        status: 201,
        body,
        replayed: false,
    })
}

/// The audit row of the outcome, naming every allocation (a pending charge writes none yet).
async fn record_outcome(
    tx: &mut Tx,
    seller_id: &str,
    payment_id: &str,
    allocations: &[Allocation],
    outcome: &ChargeOutcome,
    actor: Actor<'_>,
    now: i64,
) -> ApiResult<()> {
    let parts: Vec<serde_json::Value> = allocations
        .iter()
        .map(|a| serde_json::json!({"invoice_id": a.invoice_id, "amount_minor": a.amount.minor_units()}))
        .collect();
    let (action, changes) = match outcome {
        ChargeOutcome::Succeeded {
            amount_minor,
            currency,
            ..
        } => (
            "payment.succeeded",
            serde_json::json!({"allocations": parts, "amount_minor": amount_minor, "currency": currency}),
        ),
        ChargeOutcome::Declined { decline_code } => (
            "payment.failed",
            serde_json::json!({"allocations": parts, "decline_code": decline_code}),
        ),
        ChargeOutcome::Pending { .. } | ChargeOutcome::ActionRequired { .. } => return Ok(()),
    };
    let entry = audit::Entry {
        seller_id,
        actor,
        action,
        object_id: payment_id,
        changes,
        at: now,
    };
    audit::record(tx, &entry).await?;
    Ok(())
}

fn stored_answer(
    payment: &PaymentRow,
    allocations: &[Allocation],
    invoices: &[InvoiceRow],
) -> ApiResult<Answer> {
    let answer = match payment.status {
        PaymentStatus::Failed => Answer {
            status: 402,
            body: serde_json::to_string(&payment_flow::declined_problem(
                payment.decline_code.as_deref().unwrap_or("card_declined"),
            ))
            .context("serialising decline")?,
            replayed: true,
        },
        _ => Answer {
            status: 201,
            body: success_body(payment, allocations, invoices)?,
            replayed: true,
        },
    };
    Ok(answer)
}

/// The allocations as the wire shows them, in the request's order, with their invoices' numbers.
pub fn allocation_views(allocations: &[Allocation], invoices: &[InvoiceRow]) -> Vec<AllocationView> {
    let mut views: Vec<(i64, AllocationView)> = allocations
        .iter()
        .zip(invoices)
        .map(|(a, invoice)| {
            (
                a.position,
                AllocationView {
                    invoice_id: a.invoice_id.clone(),
                    invoice_number: invoice.number.clone(),
                    amount: a.amount.to_string(),
                    discount: (!a.discount.is_zero()).then(|| a.discount.to_string()),
                },
            )
        })
        .collect();
    views.sort_by_key(|(position, _)| *position);
    views.into_iter().map(|(_, view)| view).collect()
}

fn success_body(
    payment: &PaymentRow,
    allocations: &[Allocation],
    invoices: &[InvoiceRow],
) -> anyhow::Result<String> {
    let mut balances: Vec<(i64, InvoiceBalanceView)> = Vec::with_capacity(invoices.len());
    for (a, invoice) in allocations.iter().zip(invoices) {
        balances.push((
            a.position,
            InvoiceBalanceView {
                id: invoice.id.clone(),
                amount_paid: invoice.money(invoice.amount_paid_minor)?.to_string(),
                balance_due: invoice.money(invoice.balance_due_minor())?.to_string(),
                status: InvoiceStatus::parse(&invoice.status).context("stored invoice status")?,
            },
        ));
    }
    balances.sort_by_key(|(position, _)| *position);
    let view = payment.view();
    let response = AccountPaymentResponse {
        payment: AccountPaymentView {
            id: payment.id.clone(),
            amount: view.amount,
            currency: payment.currency(),
            status: payment.status,
            method: view.method,
            allocations: allocation_views(allocations, invoices),
            created_at: rfc3339(payment.created_at),
        },
        invoices: balances.into_iter().map(|(_, b)| b).collect(),
    };
    serde_json::to_string(&response).context("serialising account payment response")
}
