//! Seller operations that settle an invoice without the gateway (DESIGN section 10): credit notes, which
//! lower the balance without money moving. Each write locks the invoice first (the order every writer
//! uses), checks against the available balance (pending card holds count, as at checkout) and writes the
//! invoice, the row and the outbox event in one transaction.

use actix_web::{web, HttpResponse};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::{AmountRejected, ErrorCode, InvoiceStatus, Money, MoneyError, NotPayable, TotalsError};

use crate::auth::Seller;
use crate::db::{new_id, rfc3339};
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::state::AppState;
use crate::store::credit_notes::{self, CreditNoteRow};
use crate::store::invoices;

/// The longest `reason` and `memo` (characters): the database holds `reason` to 1-500 as well.
const MAX_TEXT: usize = 500;

/// `POST /v1/invoices/{id}/credit-notes` body, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteBody {
    /// Decimal string in the invoice's currency, at most the available balance.
    #[schema(example = "100.00")]
    pub amount: String,
    /// Why the seller credits the invoice (1-500 characters), e.g. `damaged goods`.
    pub reason: String,
    /// A note for the seller's records (at most 500 characters).
    pub memo: Option<String>,
}

/// The body checked at the edge: text fields within bounds. The amount stays text until the invoice's
/// currency is known (its precision decides what is valid).
#[derive(Debug)]
struct CreditNoteOrder {
    amount: String,
    reason: String,
    memo: Option<String>,
}

impl TryFrom<&CreditNoteBody> for CreditNoteOrder {
    type Error = ApiError;

    fn try_from(body: &CreditNoteBody) -> Result<CreditNoteOrder, ApiError> {
        let reason = body.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_TEXT {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "reason",
                "reason must be 1 to 500 characters.",
            ));
        }
        let memo = body.memo.as_deref().map(str::trim).filter(|m| !m.is_empty());
        if memo.is_some_and(|m| m.chars().count() > MAX_TEXT) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "memo",
                "memo must be at most 500 characters.",
            ));
        }
        Ok(CreditNoteOrder {
            amount: body.amount.clone(),
            reason: reason.to_owned(),
            memo: memo.map(str::to_owned),
        })
    }
}

/// A credit note as the seller sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditNoteView {
    pub id: String,
    pub invoice_id: String,
    #[schema(example = "100.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub reason: String,
    pub memo: Option<String>,
    pub created_at: String,
}

impl From<&CreditNoteRow> for CreditNoteView {
    fn from(row: &CreditNoteRow) -> CreditNoteView {
        CreditNoteView {
            id: row.id.clone(),
            invoice_id: row.invoice_id.clone(),
            amount: row.amount.to_string(),
            currency: row.amount.currency().code().to_owned(),
            reason: row.reason.clone(),
            memo: row.memo.clone(),
            created_at: rfc3339(row.created_at),
        }
    }
}

/// An amount the seller typed, in the invoice's currency: exact precision, positive. More digits than any
/// amount can have is more than any balance.
fn parse_amount(text: &str, maximum: Money) -> Result<Money, ApiError> {
    let amount = match Money::parse(text, maximum.currency()) {
        Ok(amount) => amount,
        Err(MoneyError::OutOfRange) => {
            return Err(ApiError::Amount(AmountRejected::AmountExceedsBalance { maximum }))
        }
        Err(error) => return Err(ApiError::Amount(AmountRejected::from_money_error(error))),
    };
    if amount.is_zero() {
        return Err(ApiError::Amount(AmountRejected::AmountNotPositive));
    }
    Ok(amount)
}

/// `POST /v1/invoices/{id}/credit-notes`: takes `amount` off the balance without money moving.
#[utoipa::path(post, path = "/v1/invoices/{id}/credit-notes", tag = "credit_notes", request_body = CreditNoteBody,
    params(("id" = String, Path, description = "The invoice to credit")),
    security(("seller_key" = [])),
    responses(
        (status = 201, body = CreditNoteView),
        (status = 400, description = "invalid_field (reason, memo), malformed_body, unknown_field", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "invoice_not_payable: the invoice is void or paid", body = Problem),
        (status = 422, description = "amount_exceeds_balance (with maximum: the balance less payments in progress), amount_not_positive, amount_malformed, amount_precision", body = Problem)))]
pub async fn create_credit_note(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<JsonObject<CreditNoteBody>>,
) -> ApiResult<HttpResponse> {
    let order = CreditNoteOrder::try_from(&body.0 .0)?;
    let mut tx = state.db.begin_write().await?;
    let Some(mut invoice) = invoices::lock(&state.db, &mut tx, &seller.seller_id, &id).await? else {
        tx.rollback().await?;
        return Err(ApiError::NotFound("invoice"));
    };
    let pending = invoices::pending_minor(&mut tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    let checked = match totals.status() {
        InvoiceStatus::Void => Err(ApiError::Amount(AmountRejected::InvoiceNotPayable {
            reason: NotPayable::Void,
        })),
        InvoiceStatus::Paid => Err(ApiError::Amount(AmountRejected::InvoiceNotPayable {
            reason: NotPayable::Paid,
        })),
        _ => parse_amount(&order.amount, totals.available()).and_then(|amount| {
            match totals.after_credit(amount) {
                Ok(after) => Ok((amount, after)),
                Err(TotalsError::CreditExceedsBalance) => {
                    Err(ApiError::Amount(AmountRejected::AmountExceedsBalance {
                        maximum: totals.available(),
                    }))
                }
                Err(other) => Err(ApiError::Internal(anyhow::Error::new(other))),
            }
        }),
    };
    let (amount, after) = match checked {
        Ok(ok) => ok,
        Err(error) => {
            tx.rollback().await?;
            return Err(error);
        }
    };
    let now = state.clock().now_ms();
    let note = CreditNoteRow {
        id: new_id("cn"),
        seller_id: seller.seller_id.clone(),
        invoice_id: invoice.id.clone(),
        amount,
        reason: order.reason,
        memo: order.memo,
        created_at: now,
    };
    credit_notes::insert(&mut tx, &note).await?;
    credit_notes::credit_invoice(&mut tx, &invoice.id, after.amount_credited(), after.status(), now).await?;
    invoice.amount_credited_minor = after.amount_credited().minor_units();
    invoice.status = after.status().as_str().to_owned();
    crate::outbox::record_credit_note_created(&mut tx, &note, &invoice, now)
        .await
        .context("recording credit_note.created")?;
    tx.commit().await?;
    // Deliveries were written with the event: wake the relay so the ERP hears of it at once.
    state.relay_wakeup.notify_one();
    Ok(HttpResponse::Created().json(CreditNoteView::from(&note)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 100 (default 20).
    limit: Option<i64>,
    /// The id of the last credit note of the previous page.
    starting_after: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreditNoteList {
    pub data: Vec<CreditNoteView>,
    pub has_more: bool,
}

/// `GET /v1/invoices/{id}/credit-notes?limit=&starting_after=`: newest first.
#[utoipa::path(get, path = "/v1/invoices/{id}/credit-notes", tag = "credit_notes",
    params(("id" = String, Path), ListQuery), security(("seller_key" = [])),
    responses((status = 200, body = CreditNoteList), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn list_credit_notes(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    // DESIGN section 10: 1-100, default 20, and a limit outside that is refused, never clamped.
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            "limit",
            "limit must be 1 to 100.",
        ));
    }
    let invoice = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let after = match &query.starting_after {
        Some(after_id) => Some(
            credit_notes::find(&state.db, &seller.seller_id, after_id)
                .await?
                .filter(|n| n.invoice_id == invoice.id)
                .ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::InvalidQuery,
                        "starting_after",
                        "starting_after is not one of this invoice's credit notes.",
                    )
                })?,
        ),
        None => None,
    };
    let mut rows = credit_notes::list(
        &state.db,
        &seller.seller_id,
        &invoice.id,
        after.as_ref(),
        limit + 1,
    )
    .await?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(HttpResponse::Ok().json(CreditNoteList {
        data: rows.iter().map(CreditNoteView::from).collect(),
        has_more,
    }))
}
