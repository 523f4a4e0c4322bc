//! Disputes (issue 17, DESIGN 12). The buyer contests (part of) a line with `POST /v1/checkout/disputes`;
//! the amount is held out of what may be paid (`amount_disputed`, and the amount rules run on the balance
//! less it) until the seller resolves it with `POST /v1/disputes/{id}/resolve`: a credit makes a credit
//! note (a partial credit gives the rest back), a reject gives it all back and emails the buyer. Every
//! write locks the invoice first, the order every writer uses, so a dispute and a payment in flight on the
//! same invoice are checked one after the other against the same balance.

use actix_web::{web, HttpResponse};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::{
    disputable, AmountRejected, DisputeReason, ErrorCode, InvoiceStatus, InvoiceTotals, Money, MoneyError,
    NotPayable, TotalsError,
};

use crate::account_auth::Buyer;
use crate::auth::Seller;
use crate::db::{new_id, rfc3339, Tx};
use crate::erp::events::{DisputeOpened, DisputeResolved, Event};
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::routes::page::{List, Listing, PageParams};
use crate::state::AppState;
use crate::store::audit::{self, Actor};
use crate::store::credit_notes::{self, CreditNoteRow};
use crate::store::disputes::{self, DisputeRow, DisputeStatus};
use crate::store::invoices::{self, InvoiceRow};
use crate::store::page::Listed;

/// The longest buyer note (characters).
pub const MAX_NOTE: usize = 1000;

/// `POST /v1/checkout/disputes` body, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeBody {
    /// With an account token: which of the customer's invoices. With a checkout token: optional, and if
    /// given it must be the token's invoice.
    pub invoice_id: Option<String>,
    /// The disputed line: a 0-based index into the invoice's `lines`.
    pub line: i64,
    /// Decimal string in the invoice's currency; defaults to what is still undisputed on the line (its
    /// amount with tax, when nothing is disputed yet).
    #[schema(example = "120.00")]
    pub amount: Option<String>,
    /// `pricing`, `quantity`, `damaged`, `not_received`, `duplicate` or `other`.
    pub reason: String,
    /// The buyer's explanation (at most 1000 characters), stored as plain text.
    pub note: Option<String>,
}

/// The body checked at the edge. The amount stays text until the invoice's currency is known.
#[derive(Debug)]
struct DisputeOrder {
    invoice_id: Option<String>,
    line: i64,
    amount: Option<String>,
    reason: DisputeReason,
    note: Option<String>,
}

impl TryFrom<&DisputeBody> for DisputeOrder {
    type Error = ApiError;

    fn try_from(body: &DisputeBody) -> Result<DisputeOrder, ApiError> {
        let reason = DisputeReason::parse(&body.reason).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                "reason",
                "reason must be pricing, quantity, damaged, not_received, duplicate or other.",
            )
        })?;
        if body.line < 0 {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "line",
                "line must be the 0-based index of one of the invoice's lines.",
            ));
        }
        let note = body.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "note",
                "note must be at most 1000 characters.",
            ));
        }
        Ok(DisputeOrder {
            invoice_id: body.invoice_id.clone(),
            line: body.line,
            amount: body.amount.clone(),
            reason,
            note: note.map(str::to_owned),
        })
    }
}

/// A dispute as the buyer and the seller see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisputeView {
    pub id: String,
    /// `open`, `credited` (some or all of it credited, the rest given back) or `rejected`.
    pub status: String,
    #[schema(example = "120.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub invoice_id: String,
    /// The disputed line (0-based); null for a dispute the seller opened from a short-pay exception.
    pub line: Option<i64>,
    pub reason: String,
    /// The buyer's words, plain text (escape it before putting it in markup).
    pub note: Option<String>,
    /// What the resolution credited (`0.00` while open or when rejected).
    pub amount_credited: String,
    pub credit_note_id: Option<String>,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

impl From<&DisputeRow> for DisputeView {
    fn from(row: &DisputeRow) -> DisputeView {
        DisputeView {
            id: row.id.clone(),
            status: row.status.as_str().to_owned(),
            amount: row.amount.to_string(),
            currency: row.amount.currency().code().to_owned(),
            invoice_id: row.invoice_id.clone(),
            line: row.line,
            reason: row.reason.as_str().to_owned(),
            note: row.note.clone(),
            amount_credited: row.amount_credited.to_string(),
            credit_note_id: row.credit_note_id.clone(),
            created_at: rfc3339(row.created_at),
            resolved_at: row.resolved_at.map(rfc3339),
        }
    }
}

/// Which invoice of which seller a buyer's dispute is about, and for an account token whose customer's
/// invoice it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeTarget {
    pub seller_id: String,
    pub invoice_id: String,
    pub customer_id: Option<String>,
}

/// A checkout token names its invoice: `invoice_id`, if given, must be that one (another id is "not
/// found", as ids never leak). An account token names a customer: `invoice_id` is required and must be one
/// of that customer's invoices (checked once the invoice is locked).
pub fn target(buyer: &Buyer, invoice_id: Option<&str>) -> Result<DisputeTarget, ApiError> {
    match buyer {
        Buyer::Checkout(checkout) => match invoice_id {
            Some(id) if id != checkout.invoice_id => Err(ApiError::NotFound("invoice")),
            _ => Ok(DisputeTarget {
                seller_id: checkout.seller_id.clone(),
                invoice_id: checkout.invoice_id.clone(),
                customer_id: None,
            }),
        },
        Buyer::Account(account) => {
            let id = invoice_id.ok_or_else(|| {
                ApiError::invalid(
                    ErrorCode::MissingField,
                    "invoice_id",
                    "invoice_id is required with an account token",
                )
            })?;
            Ok(DisputeTarget {
                seller_id: account.seller_id.clone(),
                invoice_id: id.to_owned(),
                customer_id: Some(account.customer_id.clone()),
            })
        }
    }
}

/// An amount typed in the invoice's currency: exact precision, positive. More digits than any amount can
/// have is over `maximum`.
fn parse_amount(text: &str, maximum: Money, over: impl Fn(Money) -> ApiError) -> Result<Money, ApiError> {
    let amount = match Money::parse(text, maximum.currency()) {
        Ok(amount) => amount,
        Err(MoneyError::OutOfRange) => return Err(over(maximum)),
        Err(error) => return Err(ApiError::Amount(AmountRejected::from_money_error(error))),
    };
    if amount.is_zero() {
        return Err(ApiError::Amount(AmountRejected::AmountNotPositive));
    }
    if amount.compare(&maximum) == Some(std::cmp::Ordering::Greater) {
        return Err(over(maximum));
    }
    Ok(amount)
}

fn exceeds_line(maximum: Money) -> ApiError {
    ApiError::OverLimit {
        code: ErrorCode::DisputeExceedsLine,
        maximum,
        detail: format!(
            "At most {maximum} {} of this line can still be disputed (its amount less open and credited disputes).",
            maximum.currency().code()
        ),
    }
}

/// Rolls back and returns `error`: every refusal changes nothing.
async fn refuse<T>(tx: Tx, error: ApiError) -> ApiResult<T> {
    tx.rollback().await?;
    Err(error)
}

/// The invoice's status as a refusal, when it is void or paid.
fn settled(totals: &InvoiceTotals) -> Option<ApiError> {
    let reason = match totals.status() {
        InvoiceStatus::Void => NotPayable::Void,
        InvoiceStatus::Paid => NotPayable::Paid,
        _ => return None,
    };
    Some(ApiError::Amount(AmountRejected::InvoiceNotPayable { reason }))
}

/// Opens a dispute on a locked invoice: checks the line and the amount, holds it, writes the row, the
/// event and the audit row. The caller commits.
async fn open(
    state: &AppState,
    tx: &mut Tx,
    invoice: &mut InvoiceRow,
    order: &DisputeOrder,
    actor: Actor<'_>,
) -> ApiResult<Result<DisputeRow, ApiError>> {
    let pending = invoices::pending_minor(tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    if let Some(error) = settled(&totals) {
        return Ok(Err(error));
    }
    let Some(line_minor) = disputes::line_amount(tx, &invoice.id, order.line).await? else {
        return Ok(Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "line",
            "line must be the 0-based index of one of the invoice's lines.",
        )));
    };
    let already = disputes::disputed_on_line(tx, &invoice.id, order.line).await?;
    let rest = disputable(
        invoice.money(line_minor)?,
        invoice.money(already.min(line_minor))?,
    );
    let amount = match &order.amount {
        Some(text) => match parse_amount(text, rest, exceeds_line) {
            Ok(amount) => amount,
            Err(error) => return Ok(Err(error)),
        },
        None if rest.is_zero() => return Ok(Err(exceeds_line(rest))),
        None => rest,
    };
    let after = match totals.after_dispute_opened(amount) {
        Ok(after) => after,
        // The line is undisputed but the balance is smaller (paid, credited or held by a payment in
        // flight): the most that can be held is what is available.
        Err(TotalsError::HoldExceedsBalance) => {
            return Ok(Err(ApiError::Amount(AmountRejected::AmountExceedsBalance {
                maximum: totals.available(),
            })))
        }
        Err(other) => return Err(ApiError::Internal(anyhow::Error::new(other))),
    };
    let now = state.clock().now_ms();
    let row = DisputeRow {
        id: new_id("dsp"),
        seller_id: invoice.seller_id.clone(),
        invoice_id: invoice.id.clone(),
        line: Some(order.line),
        amount,
        reason: order.reason,
        note: order.note.clone(),
        status: DisputeStatus::Open,
        amount_credited: Money::zero(amount.currency()),
        credit_note_id: None,
        created_at: now,
        resolved_at: None,
    };
    disputes::insert(tx, &row).await?;
    invoices::write_holds(tx, &invoice.id, &after, now).await?;
    invoice.amount_disputed_minor = after.amount_disputed().minor_units();
    record_opened(tx, &row, invoice).await?;
    let changes = serde_json::json!({
        "invoice_id": invoice.id,
        "line": order.line,
        "amount": amount.to_string(),
        "currency": amount.currency().code(),
        "reason": order.reason.as_str(),
    });
    audit::record(
        tx,
        &audit::Entry {
            seller_id: &invoice.seller_id,
            actor,
            action: "dispute.opened",
            object_id: &row.id,
            changes,
            at: now,
        },
    )
    .await?;
    Ok(Ok(row))
}

async fn record_opened(tx: &mut Tx, row: &DisputeRow, invoice: &InvoiceRow) -> anyhow::Result<()> {
    let event = DisputeOpened {
        amount: row.amount.to_string(),
        created_at: rfc3339(row.created_at),
        currency: row.amount.currency().code().to_owned(),
        dispute_id: row.id.clone(),
        invoice_disputed_after: invoice.money(invoice.amount_disputed_minor)?.to_string(),
        invoice_external_ref: invoice.external_ref.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        line: row.line,
        note: row.note.clone(),
        reason: row.reason.as_str().to_owned(),
    };
    crate::outbox::record(tx, &row.seller_id, &Event::DisputeOpened(event), row.created_at)
        .await
        .context("recording dispute.opened")
}

/// `POST /v1/checkout/disputes`: the buyer contests (part of) a line; the amount is held out of what may be
/// paid until the seller resolves it.
#[utoipa::path(post, path = "/v1/checkout/disputes", tag = "checkout", request_body = DisputeBody,
    security(("checkout_token" = []), ("account_token" = [])),
    responses(
        (status = 201, body = DisputeView),
        (status = 400, description = "invalid_field (line out of range, reason, note over 1000 characters), malformed_body, unknown_field", body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "invoice_not_payable: the invoice is void or paid", body = Problem),
        (status = 422, description = "dispute_exceeds_line (with maximum: the line less open and credited disputes), amount_exceeds_balance (with maximum: the balance less payments in progress and open disputes), amount_not_positive, amount_malformed, amount_precision", body = Problem)))]
pub async fn create(
    buyer: Buyer,
    state: web::Data<AppState>,
    body: web::Json<JsonObject<DisputeBody>>,
) -> ApiResult<HttpResponse> {
    let order = DisputeOrder::try_from(&body.0 .0)?;
    let target = target(&buyer, order.invoice_id.as_deref())?;
    let mut tx = state.db.begin_write().await?;
    let Some(mut invoice) = invoices::lock(&state.db, &mut tx, &target.seller_id, &target.invoice_id).await?
    else {
        return refuse(tx, ApiError::NotFound("invoice")).await;
    };
    // Another customer's invoice of the same seller is as unknown to an account as another seller's.
    if target
        .customer_id
        .as_ref()
        .is_some_and(|c| *c != invoice.customer_id)
    {
        return refuse(tx, ApiError::NotFound("invoice")).await;
    }
    match open(&state, &mut tx, &mut invoice, &order, Actor::Buyer).await? {
        Ok(row) => {
            tx.commit().await?;
            state.relay_wakeup.notify_one();
            Ok(HttpResponse::Created()
                .insert_header(("cache-control", "no-store"))
                .json(DisputeView::from(&row)))
        }
        Err(error) => refuse(tx, error).await,
    }
}

/// Opens a dispute the seller raised (from a short-pay exception): no line, reason `other`, `amount` at
/// most what is available. In the caller's transaction, the invoice locked.
pub(crate) async fn open_for_seller(
    state: &AppState,
    tx: &mut Tx,
    invoice: &mut InvoiceRow,
    amount: Money,
    note: String,
    seller: &Seller,
) -> ApiResult<Result<DisputeRow, ApiError>> {
    let pending = invoices::pending_minor(tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    if let Some(error) = settled(&totals) {
        return Ok(Err(error));
    }
    let amount = amount.min(totals.available());
    if amount.is_zero() {
        return Ok(Err(ApiError::Amount(AmountRejected::AmountExceedsBalance {
            maximum: totals.available(),
        })));
    }
    let after = totals
        .after_dispute_opened(amount)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let now = state.clock().now_ms();
    let row = DisputeRow {
        id: new_id("dsp"),
        seller_id: invoice.seller_id.clone(),
        invoice_id: invoice.id.clone(),
        line: None,
        amount,
        reason: DisputeReason::Other,
        note: Some(note),
        status: DisputeStatus::Open,
        amount_credited: Money::zero(amount.currency()),
        credit_note_id: None,
        created_at: now,
        resolved_at: None,
    };
    disputes::insert(tx, &row).await?;
    invoices::write_holds(tx, &invoice.id, &after, now).await?;
    invoice.amount_disputed_minor = after.amount_disputed().minor_units();
    record_opened(tx, &row, invoice).await?;
    let changes = serde_json::json!({"invoice_id": invoice.id, "amount": amount.to_string(), "currency": amount.currency().code()});
    audit::record(tx, &seller.audit("dispute.opened", &row.id, changes, now)).await?;
    Ok(Ok(row))
}

/// The dispute list's own filter (paging is [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DisputeFilter {
    /// `open`, `credited` or `rejected`.
    status: Option<String>,
}

/// `GET /v1/disputes?status=&limit=&starting_after=`: newest first.
#[utoipa::path(get, path = "/v1/disputes", tag = "disputes", params(DisputeFilter, PageParams), security(("seller_key" = [])),
    responses((status = 200, body = List<DisputeView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<DisputeFilter>,
) -> ApiResult<HttpResponse> {
    let status = match query.filter.status.as_deref() {
        None => None,
        Some(text) => Some(DisputeStatus::parse(text).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidQuery,
                "status",
                "status must be open, credited or rejected.",
            )
        })?),
    };
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Disputes)
        .await?;
    let rows = disputes::list(&state.db, &seller.seller_id, status, &keyset).await?;
    Ok(HttpResponse::Ok().json(List::of(rows, |r| DisputeView::from(&r))))
}

/// `GET /v1/disputes/{id}`.
#[utoipa::path(get, path = "/v1/disputes/{id}", tag = "disputes", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = DisputeView), (status = 404, body = Problem)))]
pub async fn get(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = disputes::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("dispute"))?;
    Ok(HttpResponse::Ok().json(DisputeView::from(&row)))
}

/// `POST /v1/disputes/{id}/resolve` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `credit` (a credit note for `amount`; the rest of the dispute goes back to payable) or `reject`
    /// (all of it goes back to payable; the buyer is emailed).
    pub outcome: String,
    /// With `credit`: decimal string, at most the disputed amount (the default).
    #[schema(example = "120.00")]
    pub amount: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Credit,
    Reject,
}

/// `POST /v1/disputes/{id}/resolve`.
#[utoipa::path(post, path = "/v1/disputes/{id}/resolve", tag = "disputes", request_body = ResolveBody,
    params(("id" = String, Path)), security(("seller_key" = [])),
    responses(
        (status = 200, body = DisputeView),
        (status = 400, description = "invalid_field (outcome; amount with reject), malformed_body, unknown_field", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "dispute_already_resolved; invoice_not_payable (crediting on a void invoice)", body = Problem),
        (status = 422, description = "amount_exceeds_dispute (with maximum), amount_not_positive, amount_malformed, amount_precision", body = Problem)))]
pub async fn resolve(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<JsonObject<ResolveBody>>,
) -> ApiResult<HttpResponse> {
    let body = &body.0 .0;
    let outcome = match body.outcome.as_str() {
        "credit" => Outcome::Credit,
        "reject" => Outcome::Reject,
        _ => {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "outcome",
                "outcome must be credit or reject.",
            ))
        }
    };
    if outcome == Outcome::Reject && body.amount.is_some() {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "amount",
            "amount is for a credit: a reject gives the whole disputed amount back.",
        ));
    }
    let found = disputes::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("dispute"))?;
    let mut tx = state.db.begin_write().await?;
    let Some(mut invoice) = invoices::lock(&state.db, &mut tx, &seller.seller_id, &found.invoice_id).await?
    else {
        return refuse(tx, ApiError::NotFound("dispute")).await;
    };
    // Re-read under the invoice's lock: a resolution racing this one has committed or waits for us.
    let Some(dispute) = disputes::find_locked(&mut tx, &seller.seller_id, &id).await? else {
        return refuse(tx, ApiError::NotFound("dispute")).await;
    };
    if dispute.status != DisputeStatus::Open {
        return refuse(
            tx,
            ApiError::Conflict {
                code: ErrorCode::DisputeAlreadyResolved,
                detail: format!("This dispute is already {}.", dispute.status.as_str()),
            },
        )
        .await;
    }
    let pending = invoices::pending_minor(&mut tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    let zero = Money::zero(totals.currency());
    let credited = match outcome {
        Outcome::Reject => zero,
        Outcome::Credit if totals.voided() => {
            return refuse(
                tx,
                ApiError::Amount(AmountRejected::InvoiceNotPayable {
                    reason: NotPayable::Void,
                }),
            )
            .await
        }
        Outcome::Credit => {
            let over = |maximum: Money| ApiError::OverLimit {
                code: ErrorCode::AmountExceedsDispute,
                maximum,
                detail: format!(
                    "At most the disputed {maximum} {} can be credited.",
                    maximum.currency().code()
                ),
            };
            match body.amount.as_deref() {
                None => dispute.amount,
                Some(text) => match parse_amount(text, dispute.amount, over) {
                    Ok(amount) => amount,
                    Err(error) => return refuse(tx, error).await,
                },
            }
        }
    };
    let after = totals
        .after_dispute_resolved(dispute.amount, credited)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let now = state.clock().now_ms();
    let mut resolved = DisputeRow {
        status: DisputeStatus::Rejected,
        resolved_at: Some(now),
        ..dispute.clone()
    };
    invoices::write_holds(&mut tx, &invoice.id, &after, now).await?;
    invoice.amount_disputed_minor = after.amount_disputed().minor_units();
    invoice.amount_credited_minor = after.amount_credited().minor_units();
    invoice.status = after.status().as_str().to_owned();
    if !credited.is_zero() {
        let note = CreditNoteRow {
            id: new_id("cn"),
            seller_id: seller.seller_id.clone(),
            invoice_id: invoice.id.clone(),
            amount: credited,
            reason: format!("Dispute {} ({})", dispute.id, dispute.reason.as_str()),
            memo: None,
            created_at: now,
        };
        credit_notes::insert(&mut tx, &note).await?;
        crate::outbox::record_credit_note_created(&mut tx, &note, &invoice, now)
            .await
            .context("recording credit_note.created")?;
        resolved.status = DisputeStatus::Credited;
        resolved.amount_credited = credited;
        resolved.credit_note_id = Some(note.id);
    }
    if !disputes::resolve(&mut tx, &resolved).await? {
        return refuse(
            tx,
            ApiError::Conflict {
                code: ErrorCode::DisputeAlreadyResolved,
                detail: "This dispute is already resolved.".to_owned(),
            },
        )
        .await;
    }
    let rejected = dispute
        .amount
        .checked_sub(&credited)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let event = DisputeResolved {
        amount: dispute.amount.to_string(),
        amount_credited: credited.to_string(),
        amount_rejected: rejected.to_string(),
        credit_note_id: resolved.credit_note_id.clone(),
        currency: totals.currency().code().to_owned(),
        customer_id: invoice.customer_id.clone(),
        dispute_id: dispute.id.clone(),
        invoice_balance_after: after.balance_due().to_string(),
        invoice_external_ref: invoice.external_ref.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        invoice_status_after: after.status().as_str().to_owned(),
        outcome: match outcome {
            Outcome::Credit => "credit",
            Outcome::Reject => "reject",
        }
        .to_owned(),
        resolved_at: rfc3339(now),
        sent_to: invoice.customer_email.clone(),
    };
    crate::outbox::record(
        &mut tx,
        &seller.seller_id,
        &Event::DisputeResolved(event.clone()),
        now,
    )
    .await
    .context("recording dispute.resolved")?;
    let changes = serde_json::json!({
        "invoice_id": invoice.id,
        "outcome": event.outcome,
        "amount_credited": event.amount_credited,
        "amount_rejected": event.amount_rejected,
        "currency": event.currency,
    });
    audit::record(
        &mut tx,
        &seller.audit("dispute.resolved", &dispute.id, changes, now),
    )
    .await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(HttpResponse::Ok().json(DisputeView::from(&resolved)))
}
