//! Short pays (issue 17, DESIGN 12): an offline payment may say what was expected (`remittance`); a
//! shortfall within the seller's `short_pay_tolerance` is written off at once (the balance falls by it, an
//! invoice written off to zero is `paid`, `invoice.written_off` goes to webhooks and QuickBooks), one above
//! it becomes an exception (`GET /v1/exceptions`) with a suggested cause, which the seller resolves with
//! `write_off`, `dispute` or `leave_open`. Writes happen under the invoice's lock, in the transaction of
//! the payment or of the resolution.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::{
    AmountRejected, Currency, ErrorCode, InvoiceTotals, Money, Percent, ShortPayReason, Tolerance,
};

use crate::auth::Seller;
use crate::db::{new_id, rfc3339, Tx};
use crate::erp::events::{Event, InvoicePaid, InvoiceWrittenOff, ReceiptCustomer};
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::routes::page::{List, Listing, PageParams};
use crate::state::AppState;
use crate::store::invoices::{self, InvoiceRow};
use crate::store::page::Listed;
use crate::store::payments::PaymentRow;
use crate::store::short_pays::{self, ExceptionRow, SuggestedCause, WriteOffRow};

// ---------------------------------------------------------------------------------------------------
// The tolerance (`PATCH /v1/seller {short_pay_tolerance}`).

/// `short_pay_tolerance` in `PATCH /v1/seller`: both limits apply when given, one left out does not.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToleranceBody {
    /// The most a shortfall may be, per currency, in that currency's precision: `{"USD": "25.00"}`.
    pub amount: Option<BTreeMap<String, String>>,
    /// The most a shortfall may be as a percent of the expected amount, 0 to 100: `"0.5"`.
    #[schema(example = "0.5")]
    pub percent: Option<String>,
}

/// Parses the tolerance at the edge: currencies known, amounts in their precision, the percent 0-100.
pub fn parse_tolerance(body: &ToleranceBody) -> Result<Tolerance, ApiError> {
    let mut amounts = BTreeMap::new();
    for (code, text) in body.amount.iter().flatten() {
        let field = format!(
            "short_pay_tolerance.amount.{}",
            code.chars().take(8).collect::<String>()
        );
        let currency = Currency::parse(code).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidCurrency,
                field.clone(),
                "Not a supported ISO 4217 currency.",
            )
        })?;
        let amount = Money::parse(text, currency).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                format!(
                    "The tolerance must be a non-negative amount with at most {} decimals for {}.",
                    currency.exponent(),
                    currency.code()
                ),
            )
        })?;
        amounts.insert(currency, amount);
    }
    let percent = body
        .percent
        .as_deref()
        .map(|p| {
            Percent::parse(p).map_err(|_| {
                ApiError::invalid(
                    ErrorCode::InvalidField,
                    "short_pay_tolerance.percent",
                    "percent must be a decimal from 0 to 100 with at most 4 decimals, such as 0.5.",
                )
            })
        })
        .transpose()?;
    Ok(Tolerance { amounts, percent })
}

/// The tolerance as the seller reads it back.
pub fn tolerance_view(tolerance: &Tolerance) -> ToleranceBody {
    ToleranceBody {
        amount: (!tolerance.amounts.is_empty()).then(|| {
            tolerance
                .amounts
                .iter()
                .map(|(c, m)| (c.code().to_owned(), m.to_string()))
                .collect()
        }),
        percent: tolerance.percent.map(|p| p.value().to_string()),
    }
}

/// Writes the seller's tolerance (none when neither limit is given) with its audit row.
pub async fn set_tolerance(state: &AppState, seller: &Seller, tolerance: &Tolerance) -> ApiResult<()> {
    let now = state.clock().now_ms();
    let stored = (!tolerance.amounts.is_empty() || tolerance.percent.is_some()).then_some(tolerance);
    let mut tx = state.db.begin_write().await?;
    short_pays::set_tolerance(&mut tx, &seller.seller_id, stored).await?;
    let changes = serde_json::json!({"short_pay_tolerance": tolerance_view(tolerance)});
    crate::store::audit::record(
        &mut tx,
        &seller.audit("seller.updated", &seller.seller_id, changes, now),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Remittance on an offline payment.

/// `remittance` on `POST /v1/invoices/{id}/payments`: what the buyer was expected to pay.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemittanceBody {
    /// Decimal string in the invoice's currency, at least the amount received and at most the balance
    /// (less payments in progress).
    #[schema(example = "1000.00")]
    pub expected_amount: String,
    /// Why it arrived short: `bank_fee`, `fx` or `small_balance`.
    pub reason: Option<String>,
}

/// A remittance checked against the payment and the invoice before anything is written.
#[derive(Debug, Clone, Copy)]
pub struct Remittance {
    expected: Money,
    shortfall: Money,
    reason: Option<ShortPayReason>,
}

impl Remittance {
    /// `received` is the payment's amount; `totals` the invoice before it. `None`: nothing short.
    pub fn check(
        body: Option<&RemittanceBody>,
        received: Money,
        totals: &InvoiceTotals,
    ) -> Result<Option<Remittance>, ApiError> {
        let Some(body) = body else { return Ok(None) };
        let field = "remittance.expected_amount";
        let reason = body
            .reason
            .as_deref()
            .map(|r| {
                ShortPayReason::parse(r).ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::InvalidField,
                        "remittance.reason",
                        "reason must be bank_fee, fx or small_balance.",
                    )
                })
            })
            .transpose()?;
        let expected = Money::parse(&body.expected_amount, received.currency()).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                "expected_amount must be a positive amount in the invoice's currency and precision.",
            )
        })?;
        let shortfall = expected.checked_sub(&received).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                "expected_amount is below the amount received: a remittance describes money that arrived short.",
            )
        })?;
        // The most a buyer can be expected to pay: the balance less payments in progress (open disputes
        // included: a shortfall matching one is what the exception's suggested cause points at).
        let payable = totals
            .balance_due()
            .checked_sub(&totals.pending())
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
        if expected.compare(&payable) == Some(std::cmp::Ordering::Greater) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                format!("expected_amount is more than the balance ({payable})."),
            ));
        }
        Ok((!shortfall.is_zero()).then_some(Remittance {
            expected,
            shortfall,
            reason,
        }))
    }
}

/// What a short offline payment led to, for the payment's answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShortPayView {
    #[schema(example = "1000.00")]
    pub expected_amount: String,
    #[schema(example = "12.50")]
    pub shortfall: String,
    /// Within tolerance: the write-off that closed the gap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_off: Option<WriteOffView>,
    /// Above tolerance: the exception waiting in `GET /v1/exceptions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_id: Option<String>,
}

/// After the payment was written (`after`, the invoice locked): writes off the shortfall when the seller's
/// tolerance covers it and the balance still holds it, else records an exception with a suggested cause.
/// Returns the view and the invoice's totals afterwards.
pub async fn settle_short_pay(
    state: &AppState,
    tx: &mut Tx,
    invoice: &mut InvoiceRow,
    before: &InvoiceTotals,
    after: InvoiceTotals,
    payment: &PaymentRow,
    remittance: Remittance,
) -> ApiResult<(ShortPayView, InvoiceTotals)> {
    let tolerance = short_pays::tolerance(&state.db, &invoice.seller_id)
        .await?
        .unwrap_or_default();
    let fits = remittance.shortfall.compare(&after.available()) != Some(std::cmp::Ordering::Greater);
    let mut view = ShortPayView {
        expected_amount: remittance.expected.to_string(),
        shortfall: remittance.shortfall.to_string(),
        ..ShortPayView::default()
    };
    let now = state.clock().now_ms();
    if fits && tolerance.covers(remittance.expected, remittance.shortfall) {
        let reason = remittance.reason.unwrap_or(ShortPayReason::SmallBalance);
        let (write_off, totals) = write_off(
            tx,
            invoice,
            &after,
            remittance.shortfall,
            reason,
            Some(&payment.id),
            None,
            now,
        )
        .await?;
        view.write_off = Some(write_off);
        return Ok((view, totals));
    }
    let cause = suggested_cause(state, tx, invoice, before, &remittance, payment.amount).await?;
    let row = ExceptionRow {
        id: new_id("exc"),
        seller_id: invoice.seller_id.clone(),
        invoice_id: invoice.id.clone(),
        payment_id: payment.id.clone(),
        expected_minor: remittance.expected.minor_units(),
        received_minor: payment.amount.minor_units(),
        currency: invoice.currency.clone(),
        reason: remittance.reason.map(|r| r.as_str().to_owned()),
        suggested_cause: cause.map(|c| c.as_str().to_owned()),
        status: "open".to_owned(),
        action: None,
        created_at: now,
        resolved_at: None,
    };
    short_pays::insert_exception(tx, &row).await?;
    view.exception_id = Some(row.id);
    Ok((view, after))
}

/// Why the payment is probably short, checked in this order: an open dispute the shortfall fits in; a
/// plan whose installment due is what arrived; the early-payment discount taken after its window closed.
async fn suggested_cause(
    state: &AppState,
    tx: &mut Tx,
    invoice: &InvoiceRow,
    before: &InvoiceTotals,
    remittance: &Remittance,
    received: Money,
) -> ApiResult<Option<SuggestedCause>> {
    let disputed = before.amount_disputed();
    if !disputed.is_zero() && remittance.shortfall.compare(&disputed) != Some(std::cmp::Ordering::Greater) {
        return Ok(Some(SuggestedCause::OpenDispute));
    }
    let today = state.clock().today();
    if let Some(plan) = crate::store::installments::plan_in(tx, invoice).await? {
        let settled = crate::store::installments::settled(invoice)?;
        if plan
            .amount_due(settled, today)
            .is_some_and(|due| due.amount_due == received)
        {
            return Ok(Some(SuggestedCause::PlanInstallment));
        }
    }
    if let Some(discount) = invoice.terms()?.discount() {
        let closed = before
            .issue_date()
            .checked_add(time::Duration::days(i64::from(discount.within_days())))
            .is_some_and(|last_day| today > last_day);
        let off = remittance.expected.percent(discount.percent()).ok();
        if closed && off.is_some_and(|off| off == remittance.shortfall) {
            return Ok(Some(SuggestedCause::LateDiscount));
        }
    }
    Ok(None)
}

/// Writes off `amount` of a locked invoice (`totals` as it stands): the row, the invoice, the event (and
/// `invoice.paid` when that settles it).
#[allow(clippy::too_many_arguments)]
async fn write_off(
    tx: &mut Tx,
    invoice: &mut InvoiceRow,
    totals: &InvoiceTotals,
    amount: Money,
    reason: ShortPayReason,
    payment_id: Option<&str>,
    exception_id: Option<&str>,
    now: i64,
) -> ApiResult<(WriteOffView, InvoiceTotals)> {
    let after = totals
        .after_write_off(amount)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let row = WriteOffRow {
        id: new_id("wo"),
        seller_id: invoice.seller_id.clone(),
        invoice_id: invoice.id.clone(),
        payment_id: payment_id.map(str::to_owned),
        exception_id: exception_id.map(str::to_owned),
        amount_minor: amount.minor_units(),
        currency: invoice.currency.clone(),
        reason: reason.as_str().to_owned(),
        created_at: now,
    };
    short_pays::insert_write_off(tx, &row).await?;
    invoices::write_holds(tx, &invoice.id, &after, now).await?;
    invoice.amount_written_off_minor = after.written_off().minor_units();
    invoice.status = after.status().as_str().to_owned();
    let event = InvoiceWrittenOff {
        amount: amount.to_string(),
        currency: invoice.currency.clone(),
        customer: ReceiptCustomer {
            email: invoice.customer_email.clone(),
            external_ref: invoice.customer_external_ref.clone(),
            id: invoice.customer_id.clone(),
            name: invoice.customer_name.clone(),
        },
        exception_id: row.exception_id.clone(),
        invoice_balance_after: after.balance_due().to_string(),
        invoice_external_ref: invoice.external_ref.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        invoice_status_after: after.status().as_str().to_owned(),
        payment_id: row.payment_id.clone(),
        reason: row.reason.clone(),
        write_off_id: row.id.clone(),
        written_off_at: rfc3339(now),
    };
    crate::outbox::record(
        tx,
        &invoice.seller_id,
        &Event::InvoiceWrittenOff(Box::new(event)),
        now,
    )
    .await
    .context("recording invoice.written_off")?;
    if after.balance_due().is_zero() {
        let paid = InvoicePaid {
            currency: invoice.currency.clone(),
            invoice_id: invoice.id.clone(),
            invoice_number: invoice.number.clone(),
            paid_at: rfc3339(now),
            total: after.total().to_string(),
        };
        crate::outbox::record(tx, &invoice.seller_id, &Event::InvoicePaid(paid), now)
            .await
            .context("recording invoice.paid")?;
    }
    let view = WriteOffView {
        id: row.id,
        amount: amount.to_string(),
        reason: row.reason,
        payment_id: row.payment_id,
        exception_id: row.exception_id,
        created_at: rfc3339(now),
    };
    Ok((view, after))
}

/// One write-off on an invoice.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WriteOffView {
    pub id: String,
    #[schema(example = "12.50")]
    pub amount: String,
    /// `bank_fee`, `fx` or `small_balance`.
    pub reason: String,
    pub payment_id: Option<String>,
    pub exception_id: Option<String>,
    pub created_at: String,
}

/// The invoice's write-offs, oldest first.
pub async fn write_off_views(state: &AppState, row: &InvoiceRow) -> ApiResult<Vec<WriteOffView>> {
    short_pays::write_offs(&state.db, &row.seller_id, &row.id)
        .await?
        .into_iter()
        .map(|w| {
            Ok(WriteOffView {
                amount: row.money(w.amount_minor)?.to_string(),
                id: w.id,
                reason: w.reason,
                payment_id: w.payment_id,
                exception_id: w.exception_id,
                created_at: rfc3339(w.created_at),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// The exception queue.

/// A short-pay exception as the seller sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExceptionView {
    pub id: String,
    pub invoice_id: String,
    pub payment_id: String,
    #[schema(example = "1000.00")]
    pub expected_amount: String,
    #[schema(example = "880.00")]
    pub received_amount: String,
    #[schema(example = "120.00")]
    pub shortfall: String,
    pub currency: String,
    /// What the remittance said (`bank_fee`, `fx`, `small_balance`), or null.
    pub reason: Option<String>,
    /// `open_dispute`, `plan_installment`, `late_discount`, or null when none fits.
    pub suggested_cause: Option<String>,
    /// `open` or `resolved`.
    pub status: String,
    /// How it was resolved: `write_off`, `dispute` or `leave_open`.
    pub action: Option<String>,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

fn exception_view(row: &ExceptionRow) -> ApiResult<ExceptionView> {
    Ok(ExceptionView {
        id: row.id.clone(),
        invoice_id: row.invoice_id.clone(),
        payment_id: row.payment_id.clone(),
        expected_amount: row.money(row.expected_minor)?.to_string(),
        received_amount: row.money(row.received_minor)?.to_string(),
        shortfall: row.money(row.expected_minor - row.received_minor)?.to_string(),
        currency: row.currency.clone(),
        reason: row.reason.clone(),
        suggested_cause: row.suggested_cause.clone(),
        status: row.status.clone(),
        action: row.action.clone(),
        created_at: rfc3339(row.created_at),
        resolved_at: row.resolved_at.map(rfc3339),
    })
}

/// The exception list's own filter (paging is [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExceptionFilter {
    /// `open` or `resolved`.
    status: Option<String>,
}

/// `GET /v1/exceptions?status=&limit=&starting_after=`: newest first.
#[utoipa::path(get, path = "/v1/exceptions", tag = "exceptions", params(ExceptionFilter, PageParams), security(("seller_key" = [])),
    responses((status = 200, body = List<ExceptionView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<ExceptionFilter>,
) -> ApiResult<HttpResponse> {
    let status = query.filter.status.as_deref();
    if status.is_some_and(|s| s != "open" && s != "resolved") {
        return Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            "status",
            "status must be open or resolved.",
        ));
    }
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Exceptions)
        .await?;
    let rows = short_pays::list_exceptions(&state.db, &seller.seller_id, status, &keyset).await?;
    Ok(HttpResponse::Ok().json(List {
        data: rows
            .rows
            .iter()
            .map(exception_view)
            .collect::<ApiResult<Vec<_>>>()?,
        has_more: rows.has_more,
    }))
}

/// `GET /v1/exceptions/{id}`.
#[utoipa::path(get, path = "/v1/exceptions/{id}", tag = "exceptions", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = ExceptionView), (status = 404, body = Problem)))]
pub async fn get(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = short_pays::find_exception(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("exception"))?;
    Ok(HttpResponse::Ok().json(exception_view(&row)?))
}

/// `POST /v1/exceptions/{id}/resolve` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveExceptionBody {
    /// `write_off` (the shortfall, at most what is still payable), `dispute` (hold the shortfall as a
    /// dispute to settle with the buyer) or `leave_open` (the balance stays to collect).
    pub action: String,
}

/// What a resolution did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResolvedExceptionView {
    pub exception: ExceptionView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_off: Option<WriteOffView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispute_id: Option<String>,
}

/// `POST /v1/exceptions/{id}/resolve`.
#[utoipa::path(post, path = "/v1/exceptions/{id}/resolve", tag = "exceptions", request_body = ResolveExceptionBody,
    params(("id" = String, Path)), security(("seller_key" = [])),
    responses(
        (status = 200, body = ResolvedExceptionView),
        (status = 400, description = "invalid_field (action), malformed_body, unknown_field", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "exception_already_resolved; invoice_not_payable (write_off or dispute on a void or paid invoice)", body = Problem),
        (status = 422, description = "amount_exceeds_balance (with maximum 0): nothing of the balance is left to write off or dispute", body = Problem)))]
pub async fn resolve(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<JsonObject<ResolveExceptionBody>>,
) -> ApiResult<HttpResponse> {
    let action = body.action.as_str();
    if !["write_off", "dispute", "leave_open"].contains(&action) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "action",
            "action must be write_off, dispute or leave_open.",
        ));
    }
    let found = short_pays::find_exception(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("exception"))?;
    let already = || ApiError::Conflict {
        code: ErrorCode::ExceptionAlreadyResolved,
        detail: "This exception is already resolved.".to_owned(),
    };
    if found.status != "open" {
        return Err(already());
    }
    let mut tx = state.db.begin_write().await?;
    let Some(mut invoice) = invoices::lock(&state.db, &mut tx, &seller.seller_id, &found.invoice_id).await?
    else {
        tx.rollback().await?;
        return Err(ApiError::NotFound("exception"));
    };
    let now = state.clock().now_ms();
    // The guard first: of two resolutions racing, the second writes nothing and is told so.
    if !short_pays::resolve_exception(&mut tx, &seller.seller_id, &id, action, now).await? {
        tx.rollback().await?;
        return Err(already());
    }
    let shortfall = found.money(found.expected_minor - found.received_minor)?;
    let pending = invoices::pending_minor(&mut tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    let mut view = ResolvedExceptionView {
        exception: exception_view(&found)?,
        write_off: None,
        dispute_id: None,
    };
    match action {
        "write_off" => {
            let amount = shortfall.min(totals.available());
            if let Some(error) = not_open(&totals, amount) {
                tx.rollback().await?;
                return Err(error);
            }
            let reason = found
                .reason
                .as_deref()
                .and_then(ShortPayReason::parse)
                .unwrap_or(ShortPayReason::SmallBalance);
            let (write_off, _) = write_off(
                &mut tx,
                &mut invoice,
                &totals,
                amount,
                reason,
                Some(&found.payment_id),
                Some(&found.id),
                now,
            )
            .await?;
            view.write_off = Some(write_off);
        }
        "dispute" => {
            let note = format!(
                "Short pay: {shortfall} {} short of the expected amount.",
                found.currency
            );
            match crate::routes::disputes::open_for_seller(
                &state,
                &mut tx,
                &mut invoice,
                shortfall,
                note,
                &seller,
            )
            .await?
            {
                Ok(dispute) => view.dispute_id = Some(dispute.id),
                Err(error) => {
                    tx.rollback().await?;
                    return Err(error);
                }
            }
        }
        _ => {}
    }
    let changes = serde_json::json!({"action": action, "invoice_id": invoice.id});
    crate::store::audit::record(
        &mut tx,
        &seller.audit("exception.resolved", &found.id, changes, now),
    )
    .await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    view.exception.status = "resolved".to_owned();
    view.exception.action = Some(action.to_owned());
    view.exception.resolved_at = Some(rfc3339(now));
    Ok(HttpResponse::Ok().json(view))
}

/// A write-off needs an invoice still open with something available.
fn not_open(totals: &InvoiceTotals, amount: Money) -> Option<ApiError> {
    use tranche_domain::{InvoiceStatus, NotPayable};
    let reason = match totals.status() {
        InvoiceStatus::Void => NotPayable::Void,
        InvoiceStatus::Paid => NotPayable::Paid,
        _ if amount.is_zero() => {
            return Some(ApiError::Amount(AmountRejected::AmountExceedsBalance {
                maximum: totals.available(),
            }))
        }
        _ => return None,
    };
    Some(ApiError::Amount(AmountRejected::InvoiceNotPayable { reason }))
}
