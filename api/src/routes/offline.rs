//! Seller operations that settle an invoice without the gateway (DESIGN section 10): credit notes, which
//! lower the balance without money moving, and offline payments (cheque, wire, cash) received outside. Each write locks the invoice first (the order every writer
//! uses), checks against the available balance (pending card holds count, as at checkout) and writes the
//! invoice, the row and the outbox event in one transaction.

use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tranche_domain::wire::{format_date, parse_date, PaymentStatus, Problem};
use tranche_domain::{
    AcceptedAmount, AmountRejected, Date, ErrorCode, InvoiceStatus, Money, MoneyError, NotPayable,
    TotalsError,
};

use crate::auth::Seller;
use crate::db::{is_unique_violation, new_id, rfc3339};
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::payment_flow;
use crate::state::{today, AppState};
use crate::store::credit_notes::{self, CreditNoteRow};
use crate::store::idempotency::{self, Record, Saved};
use crate::store::invoices;
use crate::store::payments::{self, PaymentRow};

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
    let changes = serde_json::json!({
        "invoice_id": invoice.id,
        "amount": note.amount.to_string(),
        "currency": note.amount.currency().code(),
        "reason": note.reason,
    });
    crate::store::audit::record(
        &mut tx,
        &seller.audit("credit_note.created", &note.id, changes, now),
    )
    .await?;
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

// ---------------------------------------------------------------------------------------------------
// Offline payments: money the seller received outside Tranche (cheque, wire, cash).

/// How an offline payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfflineMethod {
    Check,
    Wire,
    Cash,
    Other,
}

impl OfflineMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            OfflineMethod::Check => "check",
            OfflineMethod::Wire => "wire",
            OfflineMethod::Cash => "cash",
            OfflineMethod::Other => "other",
        }
    }

    fn parse(s: &str) -> Option<OfflineMethod> {
        [
            OfflineMethod::Check,
            OfflineMethod::Wire,
            OfflineMethod::Cash,
            OfflineMethod::Other,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// `POST /v1/invoices/{id}/payments` body, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflinePaymentBody {
    /// Decimal string in the invoice's currency, at most the available balance.
    #[schema(example = "250.00")]
    pub amount: String,
    /// `check`, `wire`, `cash` or `other`.
    #[schema(example = "check")]
    pub method: String,
    /// The cheque number or wire reference (at most 200 characters).
    pub reference: Option<String>,
    /// When the money arrived: a calendar date (UTC), not in the future.
    #[schema(example = "2026-11-20")]
    pub received_on: String,
    /// What the buyer was expected to pay, when the money arrived short (DESIGN 12): a shortfall within
    /// the seller's tolerance is written off, one above it becomes an exception.
    /// (An object only: serde would also take the struct as an array of its fields.)
    #[schema(value_type = Option<crate::routes::exceptions::RemittanceBody>)]
    pub remittance: Option<crate::error::JsonObject<crate::routes::exceptions::RemittanceBody>>,
}

/// The body checked at the edge. The amount stays text until the invoice's currency is known.
#[derive(Debug)]
struct OfflinePaymentOrder {
    amount: String,
    method: OfflineMethod,
    reference: Option<String>,
    received_on: Date,
}

impl OfflinePaymentOrder {
    fn parse(body: &OfflinePaymentBody, today: Date) -> Result<OfflinePaymentOrder, ApiError> {
        let method = OfflineMethod::parse(&body.method).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                "method",
                "method must be check, wire, cash or other.",
            )
        })?;
        let received_on = parse_date(&body.received_on).ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                "received_on",
                "received_on must be a date such as 2026-11-20.",
            )
        })?;
        if received_on > today {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "received_on",
                "received_on cannot be in the future.",
            ));
        }
        let reference = body.reference.as_deref().map(str::trim).filter(|r| !r.is_empty());
        if reference.is_some_and(|r| r.chars().count() > MAX_REFERENCE) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "reference",
                "reference must be at most 200 characters.",
            ));
        }
        Ok(OfflinePaymentOrder {
            amount: body.amount.clone(),
            method,
            reference: reference.map(str::to_owned),
            received_on,
        })
    }
}

const MAX_REFERENCE: usize = 200;

/// An offline payment as the seller sees it (the 201 answer, replayed for its key).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfflinePaymentView {
    pub id: String,
    pub invoice_id: String,
    #[schema(example = "250.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    /// Always `succeeded`: the money is already in.
    pub status: String,
    /// Always `offline`.
    pub gateway: String,
    pub method: OfflineMethod,
    pub reference: Option<String>,
    pub received_on: String,
    pub created_at: String,
    pub invoice: OfflineInvoiceView,
    /// With a `remittance` that arrived short: the write-off or the exception it led to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_pay: Option<crate::routes::exceptions::ShortPayView>,
}

/// The invoice as the payment left it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfflineInvoiceView {
    pub amount_paid: String,
    pub amount_credited: String,
    pub balance_due: String,
    pub status: String,
}

/// The request's fingerprint: a key reused with another invoice or body is refused.
fn request_hash(invoice_id: &str, body: &OfflinePaymentBody) -> String {
    let mut hasher = Sha256::new();
    for part in [
        invoice_id,
        body.amount.as_str(),
        body.method.as_str(),
        body.reference.as_deref().unwrap_or("\u{1}"),
        body.received_on.as_str(),
        body.remittance
            .as_ref()
            .map_or("\u{1}", |r| r.expected_amount.as_str()),
        body.remittance
            .as_ref()
            .and_then(|r| r.reason.as_deref())
            .unwrap_or("\u{1}"),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Keys live in `idempotency_keys` beside the buyers' checkout keys, which are scoped to the same seller:
/// a prefix keeps a seller's key from ever meeting a buyer's.
fn stored_key(key: &str) -> String {
    format!("offline:{key}")
}

fn replayed(record: Record, hash: &str) -> ApiResult<HttpResponse> {
    if record.request_hash != hash {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::IdempotencyKeyReused,
            detail: "This Idempotency-Key was already used with a different request.".to_owned(),
        });
    }
    match record.saved {
        Saved::Done { status, body } => {
            let status = actix_web::http::StatusCode::from_u16(status)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored status: {e}")))?;
            Ok(HttpResponse::build(status)
                .content_type("application/json")
                .insert_header(("idempotent-replayed", "true"))
                .body(body))
        }
        Saved::InFlight => Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyInUse,
            detail: "A request with this Idempotency-Key is still being processed; retry shortly.".to_owned(),
        }),
    }
}

/// `POST /v1/invoices/{id}/payments` with `Idempotency-Key`: records money received outside Tranche.
#[utoipa::path(post, path = "/v1/invoices/{id}/payments", tag = "offline_payments", request_body = OfflinePaymentBody,
    params(("id" = String, Path, description = "The invoice paid"),
        ("Idempotency-Key" = String, Header, description = "1-255 printable ASCII characters; retries with the same key replay the first answer")),
    security(("seller_key" = [])),
    responses(
        (status = 201, body = OfflinePaymentView),
        (status = 400, description = "idempotency_key_missing, idempotency_key_invalid, invalid_field (method, received_on, reference)", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "invoice_not_payable (void or paid), idempotency_key_in_use", body = Problem),
        (status = 422, description = "amount_exceeds_balance (with maximum), amount_not_positive, amount_malformed, amount_precision, idempotency_key_reused", body = Problem)))]
pub async fn create_offline_payment(
    seller: Seller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<JsonObject<OfflinePaymentBody>>,
) -> ApiResult<HttpResponse> {
    let key = payment_flow::parse_key(req.headers().get("idempotency-key").map(|v| v.as_bytes()))?;
    let body = &body.0 .0;
    let hash = request_hash(&id, body);
    let stored = stored_key(&key);
    if let Some(record) = idempotency::find(state.db.pool(), &seller.seller_id, &stored).await? {
        return replayed(record, &hash);
    }
    let order = OfflinePaymentOrder::parse(body, today())?;
    let mut tx = state.db.begin_write().await?;
    let Some(mut invoice) = invoices::lock(&state.db, &mut tx, &seller.seller_id, &id).await? else {
        tx.rollback().await?;
        return Err(ApiError::NotFound("invoice"));
    };
    let pending = invoices::pending_minor(&mut tx, &invoice.id).await?;
    let totals = invoice.totals(pending)?;
    let zero = Money::zero(totals.currency());
    // The buyer's minimum and partial rules do not bind the seller: only the available balance does.
    let checked = match totals.status() {
        InvoiceStatus::Void => Err(ApiError::Amount(AmountRejected::InvoiceNotPayable {
            reason: NotPayable::Void,
        })),
        InvoiceStatus::Paid => Err(ApiError::Amount(AmountRejected::InvoiceNotPayable {
            reason: NotPayable::Paid,
        })),
        _ => parse_amount(&order.amount, totals.available()).and_then(|amount| {
            if amount
                .checked_sub(&totals.available())
                .is_ok_and(|over| !over.is_zero())
            {
                return Err(ApiError::Amount(AmountRejected::AmountExceedsBalance {
                    maximum: totals.available(),
                }));
            }
            let accepted = AcceptedAmount {
                amount,
                discount: zero,
                remaining_after: zero,
            };
            totals
                .after_payment(&accepted, false)
                .map(|after| (amount, after))
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))
        }),
    };
    let checked = checked.and_then(|(amount, after)| {
        crate::routes::exceptions::Remittance::check(body.remittance.as_deref(), amount, &totals)
            .map(|remittance| (amount, after, remittance))
    });
    let (amount, after, remittance) = match checked {
        Ok(ok) => ok,
        Err(error) => {
            tx.rollback().await?;
            return Err(error);
        }
    };
    let now = state.clock().now_ms();
    let payment = PaymentRow {
        id: new_id("pay"),
        seller_id: seller.seller_id.clone(),
        invoice_id: invoice.id.clone(),
        checkout_link_id: None,
        amount,
        discount: zero,
        status: PaymentStatus::Succeeded,
        method_kind: "offline".to_owned(),
        method_brand: order.method.as_str().to_owned(),
        method_last4: String::new(),
        gateway: "offline".to_owned(),
        gateway_charge_id: None,
        decline_code: None,
        idempotency_key: Some(stored.clone()),
        reconcile_after: now,
        created_at: now,
        updated_at: now,
        amount_refunded: zero,
    };
    let received_on = format_date(order.received_on);
    if let Err(e) = idempotency::start(&mut tx, &seller.seller_id, &stored, &hash, &payment.id, now).await {
        tx.rollback().await?;
        if !is_unique_violation(&e) {
            return Err(e.into());
        }
        // The same key raced in on another request: the first use owns it.
        return match idempotency::find(state.db.pool(), &seller.seller_id, &stored).await? {
            Some(record) => replayed(record, &hash),
            None => Err(ApiError::Conflict {
                code: ErrorCode::IdempotencyKeyInUse,
                detail: "A request with this Idempotency-Key is still being processed; retry shortly."
                    .to_owned(),
            }),
        };
    }
    payments::insert_offline(&mut tx, &payment, order.reference.as_deref(), Some(&received_on)).await?;
    payments::credit_invoice(
        &mut tx,
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
    // The same events as a card payment, so the ERP books it as Tranche does.
    crate::outbox::record_payment_succeeded(&mut tx, &payment, &invoice, now)
        .await
        .context("recording payment.succeeded")?;
    let (short_pay, after) = match remittance {
        Some(remittance) => {
            let (view, after) = crate::routes::exceptions::settle_short_pay(
                &state,
                &mut tx,
                &mut invoice,
                &totals,
                after,
                &payment,
                remittance,
            )
            .await?;
            (Some(view), after)
        }
        None => (None, after),
    };
    let view = OfflinePaymentView {
        id: payment.id.clone(),
        invoice_id: invoice.id.clone(),
        amount: amount.to_string(),
        currency: amount.currency().code().to_owned(),
        status: PaymentStatus::Succeeded.as_str().to_owned(),
        gateway: "offline".to_owned(),
        method: order.method,
        reference: order.reference.clone(),
        received_on,
        created_at: rfc3339(now),
        invoice: OfflineInvoiceView {
            amount_paid: after.amount_paid().to_string(),
            amount_credited: after.amount_credited().to_string(),
            balance_due: after.balance_due().to_string(),
            status: after.status().as_str().to_owned(),
        },
        short_pay,
    };
    let answer = serde_json::to_string(&view).context("serialising the answer")?;
    idempotency::finish(&mut tx, &payment.id, 201, &answer).await?;
    let changes = serde_json::json!({
        "invoice_id": invoice.id,
        "amount": amount.to_string(),
        "currency": amount.currency().code(),
        "method": order.method.as_str(),
        "reference": order.reference,
        "received_on": view.received_on,
    });
    crate::store::audit::record(
        &mut tx,
        &seller.audit("payment.recorded_offline", &payment.id, changes, now),
    )
    .await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(HttpResponse::Created()
        .content_type("application/json")
        .body(answer))
}
