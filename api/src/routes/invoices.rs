//! Invoices (create, read, list, void) and their checkout links (mint, revoke).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::{format_date, parse_date, LineView};
use tranche_domain::{
    compute_amounts, Currency, Date, ErrorCode, InvoiceAmounts, InvoiceStatus, LineInput, Terms, TermsSpec,
};

use crate::auth::Seller;
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::routes::page::{List, Listing, PageParams};
use crate::state::AppState;
use crate::store::invoices::{self, InvoiceRow, ListFilter};
use crate::store::page::Listed;
use crate::store::{customers, terms};
use tranche_domain::wire::Problem;

/// A new checkout link. `token` is a bearer credential for one invoice: hand it only to its buyer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkCreated {
    pub id: String,
    pub invoice_id: String,
    pub token: String,
    pub url: String,
    pub expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkRevoked {
    pub id: String,
    pub revoked_at: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequest {
    number: String,
    customer_id: String,
    /// ISO 4217, upper case.
    #[schema(pattern = r"^[A-Z]{3}$", example = "USD")]
    currency: String,
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-11-01")]
    issue_date: String,
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-01")]
    due_date: String,
    terms_id: Option<String>,
    /// The invoice's id in your ERP (QuickBooks `TxnId`), echoed in receipts and ERP postings.
    external_ref: Option<String>,
    lines: Vec<LineRequest>,
    /// A payment plan for this invoice (DESIGN 11): amounts summing to the total, due on or after the
    /// issue date. Takes precedence over a schedule in the terms; with a plan, the stored `due_date` is
    /// the last installment's.
    installments: Option<Vec<tranche_domain::InstallmentSpec>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub(crate) description: String,
    #[schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "2")]
    pub(crate) quantity: String,
    /// In the invoice currency, at most its decimal places.
    #[schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "400.00")]
    pub(crate) unit_price: String,
    /// Percent, e.g. `"8.25"`.
    #[schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "8.25")]
    pub(crate) tax_rate: Option<String>,
}

/// An invoice as the seller sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    id: String,
    number: String,
    customer_id: String,
    customer_name: String,
    currency: String,
    issue_date: String,
    due_date: String,
    terms_id: Option<String>,
    external_ref: Option<String>,
    /// A note for the seller's records (`PATCH /v1/invoices/{id}`).
    memo: Option<String>,
    lines: Vec<LineView>,
    subtotal: String,
    tax: String,
    total: String,
    amount_paid: String,
    discount_taken: String,
    amount_credited: String,
    /// Held out of the payable balance by open disputes (DESIGN 12); part of `balance_due`.
    amount_disputed: String,
    /// Short pays written off (DESIGN 12); `balance_due` is the total less paid, discounts, credits and these.
    amount_written_off: String,
    balance_due: String,
    status: String,
    created_at: String,
    voided_at: Option<String>,
    /// When the invoice was last sent by email (`POST /v1/invoices/{id}/send`); `null`: never.
    sent_at: Option<String>,
    /// With a payment plan: each installment, what it has received and its status today.
    #[serde(skip_serializing_if = "Option::is_none")]
    installments: Option<Vec<tranche_domain::InstallmentView>>,
    /// Reminders the scheduler sent for this invoice, oldest first (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reminders_sent: Vec<ReminderSentView>,
    /// Late fees added to the total, in the order they were applied (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fees: Vec<FeeView>,
    /// Short pays written off, oldest first (DESIGN 12).
    write_offs: Vec<crate::routes::exceptions::WriteOffView>,
}

/// One late fee (DESIGN 11).
#[derive(Serialize, utoipa::ToSchema)]
pub struct FeeView {
    amount: String,
    /// The day the terms put it on.
    applied_at: String,
    installment: i64,
}

/// One reminder sent (DESIGN 11).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReminderSentView {
    installment: i64,
    /// `before_due` or `after_due`.
    kind: String,
    offset_days: i64,
    /// The scheduler's date for the pass that sent it.
    sent_on: String,
    created_at: String,
}

/// Renders lines stored as minor units back to wire strings.
pub fn line_views(row: &InvoiceRow, lines: &[invoices::LineRow]) -> anyhow::Result<Vec<LineView>> {
    lines
        .iter()
        .map(|l| {
            Ok(LineView {
                description: l.description.clone(),
                quantity: l.quantity.clone(),
                unit_price: row.money(l.unit_price_minor)?.to_string(),
                tax_rate: l.tax_rate.clone(),
                amount: row.money(l.amount_minor)?.to_string(),
                tax: row.money(l.tax_minor)?.to_string(),
            })
        })
        .collect()
}

pub(crate) async fn view(state: &AppState, row: &InvoiceRow) -> ApiResult<InvoiceView> {
    let lines = invoices::lines(&state.db, &row.id).await?;
    Ok(InvoiceView {
        id: row.id.clone(),
        number: row.number.clone(),
        customer_id: row.customer_id.clone(),
        customer_name: row.customer_name.clone(),
        currency: row.currency.clone(),
        issue_date: row.issue_date.clone(),
        due_date: row.due_date.clone(),
        terms_id: row.terms_id.clone(),
        external_ref: row.external_ref.clone(),
        memo: row.memo.clone(),
        lines: line_views(row, &lines)?,
        subtotal: row.money(row.subtotal_minor)?.to_string(),
        tax: row.money(row.tax_minor)?.to_string(),
        total: row.money(row.total_minor)?.to_string(),
        amount_paid: row.money(row.amount_paid_minor)?.to_string(),
        discount_taken: row.money(row.discount_taken_minor)?.to_string(),
        amount_credited: row.money(row.amount_credited_minor)?.to_string(),
        amount_disputed: row.money(row.amount_disputed_minor)?.to_string(),
        amount_written_off: row.money(row.amount_written_off_minor)?.to_string(),
        balance_due: row.money(row.balance_due_minor())?.to_string(),
        status: row
            .invoice_status()
            .map_err(anyhow::Error::from)?
            .as_str()
            .to_owned(),
        created_at: rfc3339(row.created_at),
        voided_at: row.voided_at.map(rfc3339),
        sent_at: row.sent_at.map(rfc3339),
        installments: installment_views(state, row).await?,
        reminders_sent: crate::store::reminders::sent(&state.db, &row.seller_id, &row.id)
            .await?
            .into_iter()
            .map(|r| ReminderSentView {
                installment: r.installment,
                kind: r.kind,
                offset_days: r.offset_days,
                sent_on: r.as_of,
                created_at: rfc3339(r.created_at),
            })
            .collect(),
        fees: crate::store::fees::of_invoice(&state.db, &row.seller_id, &row.id)
            .await?
            .into_iter()
            .map(|f| {
                Ok(FeeView {
                    amount: row.money(f.amount_minor)?.to_string(),
                    applied_at: f.applied_on,
                    installment: f.installment,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        write_offs: crate::routes::exceptions::write_off_views(state, row).await?,
    })
}

/// The invoice's installments as the seller sees them, `None` without a plan.
async fn installment_views(
    state: &AppState,
    row: &InvoiceRow,
) -> ApiResult<Option<Vec<tranche_domain::InstallmentView>>> {
    let Some(plan) = crate::store::installments::plan(&state.db, row).await? else {
        return Ok(None);
    };
    let settled = crate::store::installments::settled(row)?;
    Ok(Some(
        plan.states(settled, state.clock().today())
            .iter()
            .map(tranche_domain::InstallmentView::from)
            .collect(),
    ))
}

/// The plan of a new invoice: its own `installments`, else its terms' schedule, else none. A problem
/// with the plan's own code when it does not fit the total, the issue date or the currency.
fn new_plan(
    body: &InvoiceRequest,
    draft: &InvoiceDraft,
    terms_spec: &TermsSpec,
) -> ApiResult<Option<tranche_domain::Plan>> {
    let refuse = |e: tranche_domain::ScheduleError| ApiError::invalid(e.code(), e.field(), e.to_string());
    if let Some(spec) = &body.installments {
        let plan =
            tranche_domain::Plan::from_spec(draft.amounts.total, draft.issue_date, spec).map_err(refuse)?;
        return Ok(Some(plan));
    }
    let terms =
        Terms::try_from(terms_spec).map_err(|e| ApiError::Internal(anyhow::anyhow!("stored terms: {e}")))?;
    terms
        .schedule()
        .map(|s| s.plan(draft.amounts.total, draft.issue_date).map_err(refuse))
        .transpose()
}

/// Terms for a new invoice: its own `terms_id`, else the customer's, else the defaults. Copied onto the
/// invoice so later edits of a profile never change what an issued invoice allows.
async fn resolve_terms(
    state: &AppState,
    seller_id: &str,
    terms_id: Option<&str>,
    customer_terms: Option<&str>,
) -> ApiResult<TermsSpec> {
    let Some(id) = terms_id.or(customer_terms) else {
        return Ok(Terms::default().to_spec());
    };
    usable_terms(state, seller_id, id).await
}

/// The spec of the seller's profile `id`, if it may be given to an invoice or customer: 400
/// `unknown_reference` when it is not the seller's, 409 `terms_archived` when it is archived.
pub(crate) async fn usable_terms(state: &AppState, seller_id: &str, id: &str) -> ApiResult<TermsSpec> {
    match terms::usable(&state.db, seller_id, id).await? {
        terms::Usable::Usable(spec) => Ok(*spec),
        terms::Usable::Archived => Err(ApiError::Conflict {
            code: ErrorCode::TermsArchived,
            detail: format!(
                "The terms profile {} is archived: give another profile (a customer's own profile can be changed with PATCH /v1/customers/{{id}}).",
                id.chars().take(100).collect::<String>()
            ),
        }),
        terms::Usable::Unknown => Err(ApiError::invalid(
            ErrorCode::UnknownReference,
            "terms_id",
            "terms_id does not name one of your terms profiles",
        )),
    }
}

/// An invoice request that passed every check that needs no database: its number, reference, currency,
/// dates, and the amounts computed from its lines.
struct InvoiceDraft {
    number: String,
    external_ref: Option<String>,
    currency: Currency,
    issue_date: Date,
    due_date: Date,
    amounts: InvoiceAmounts,
}

pub(crate) fn date(field: &'static str, value: &str, example: &str) -> ApiResult<Date> {
    parse_date(value).ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} must be a date such as {example}"),
        )
    })
}

/// The field a line error names (`lines[2].quantity ...` -> `lines[2].quantity`).
pub(crate) fn line_error_field(error: &tranche_domain::LineError) -> String {
    match error {
        tranche_domain::LineError::Total | tranche_domain::LineError::Count => "lines".to_owned(),
        other => other
            .to_string()
            .split(':')
            .next()
            .unwrap_or("lines")
            .split(' ')
            .next()
            .unwrap_or("lines")
            .to_owned(),
    }
}

impl TryFrom<&InvoiceRequest> for InvoiceDraft {
    type Error = ApiError;

    fn try_from(body: &InvoiceRequest) -> ApiResult<InvoiceDraft> {
        let number = body.number.trim();
        if number.is_empty() || number.len() > 64 || number.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "number",
                "number must be 1 to 64 characters",
            ));
        }
        let external_ref = body.external_ref.as_deref().map(str::trim);
        if external_ref.is_some_and(|r| r.is_empty() || r.len() > 100 || r.chars().any(char::is_control)) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "external_ref",
                "external_ref must be 1 to 100 characters",
            ));
        }
        let currency = Currency::parse(&body.currency)
            .map_err(|e| ApiError::invalid(ErrorCode::InvalidCurrency, "currency", e.to_string()))?;
        let issue_date = date("issue_date", &body.issue_date, "2026-11-01")?;
        let due_date = date("due_date", &body.due_date, "2026-12-01")?;
        if due_date < issue_date {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "due_date",
                "due_date must not be before issue_date",
            ));
        }
        let inputs: Vec<LineInput<'_>> = body
            .lines
            .iter()
            .map(|l| LineInput {
                description: &l.description,
                quantity: &l.quantity,
                unit_price: &l.unit_price,
                tax_rate: l.tax_rate.as_deref(),
            })
            .collect();
        let amounts = compute_amounts(currency, &inputs)
            .map_err(|e| ApiError::invalid(ErrorCode::InvalidLines, line_error_field(&e), e.to_string()))?;
        Ok(InvoiceDraft {
            number: number.to_owned(),
            external_ref: external_ref.map(str::to_owned),
            currency,
            issue_date,
            due_date,
            amounts,
        })
    }
}

/// `POST /v1/invoices`: totals are computed here from the lines, never taken from the client.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices", request_body = InvoiceRequest, security(("seller_key" = [])), responses((status = 201, body = InvoiceView), (status = 400, body = Problem), (status = 409, body = Problem)))]
pub async fn create(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<InvoiceRequest>>,
) -> ApiResult<HttpResponse> {
    let draft = InvoiceDraft::try_from(&**body)?;
    let customer_terms = customers::terms_id(&state.db, &seller.seller_id, &body.customer_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::UnknownReference,
                "customer_id",
                "customer_id does not name one of your customers",
            )
        })?;
    let terms_id = body.terms_id.as_deref().or(customer_terms.as_deref());
    let terms_spec = resolve_terms(
        &state,
        &seller.seller_id,
        body.terms_id.as_deref(),
        customer_terms.as_deref(),
    )
    .await?;
    let plan = new_plan(&body, &draft, &terms_spec)?;
    let due_date = plan
        .as_ref()
        .and_then(tranche_domain::Plan::last_due_date)
        .unwrap_or(draft.due_date);
    let id = new_id("inv");
    let new = invoices::NewInvoice {
        id: &id,
        seller_id: &seller.seller_id,
        customer_id: &body.customer_id,
        terms_id,
        terms_spec: &terms_spec,
        number: &draft.number,
        currency: draft.currency,
        issue_date: format_date(draft.issue_date),
        due_date: format_date(due_date),
        amounts: &draft.amounts,
        external_ref: draft.external_ref.as_deref(),
        created_at: now_ms(),
        plan: plan.as_ref(),
    };
    let audit = seller.audit(
        "invoice.created",
        &id,
        serde_json::json!({"number": draft.number, "total": draft.amounts.total.to_string(), "currency": draft.currency.code()}),
        new.created_at,
    );
    if invoices::insert(&state.db, &new, &audit).await? == invoices::Inserted::NumberTaken {
        return Err(ApiError::Conflict {
            code: ErrorCode::InvoiceNumberTaken,
            detail: format!("You already have an invoice numbered {}.", draft.number),
        });
    }
    let row = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    Ok(HttpResponse::Created().json(view(&state, &row).await?))
}

/// `GET /v1/invoices/{id}`.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = InvoiceView), (status = 404, body = Problem)))]
pub async fn get(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    Ok(HttpResponse::Ok().json(view(&state, &row).await?))
}

/// The invoice list's own filters (paging is [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFilter {
    /// `open`, `partially_paid`, `paid` or `void`.
    status: Option<String>,
    customer_id: Option<String>,
}

impl TryFrom<InvoiceFilter> for ListFilter {
    type Error = ApiError;

    fn try_from(query: InvoiceFilter) -> ApiResult<ListFilter> {
        let status = query
            .status
            .map(|status| {
                InvoiceStatus::parse(&status).ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::InvalidQuery,
                        "status",
                        "status must be one of open, partially_paid, paid, void",
                    )
                })
            })
            .transpose()?;
        Ok(ListFilter {
            status,
            customer_id: query.customer_id,
        })
    }
}

/// `GET /v1/invoices?status=&customer_id=`: newest first, a page at a time.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(PageParams, InvoiceFilter), security(("seller_key" = [])), responses((status = 200, body = List<InvoiceView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<InvoiceFilter>,
) -> ApiResult<HttpResponse> {
    let Listing { page, filter } = query;
    let filter = ListFilter::try_from(filter)?;
    let keyset = page
        .keyset(&state.db, &seller.seller_id, Listed::Invoices)
        .await?;
    let rows = invoices::list(&state.db, &seller.seller_id, &filter, &keyset).await?;
    let mut data = Vec::with_capacity(rows.rows.len());
    for row in &rows.rows {
        data.push(view(&state, row).await?);
    }
    Ok(HttpResponse::Ok().json(List {
        data,
        has_more: rows.has_more,
    }))
}

/// `POST /v1/invoices/{id}/void`: only an invoice nothing has been paid on (or held for) can be voided;
/// money already received must be refunded first, as an ERP would insist.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "invoices", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = InvoiceView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn void(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let mut tx = state.db.begin_write().await?;
    let row = invoices::lock(&state.db, &mut tx, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let pending = invoices::pending_minor(&mut tx, &row.id).await?;
    let conflict = match row.invoice_status().map_err(anyhow::Error::from)? {
        InvoiceStatus::Void => Some((ErrorCode::InvoiceAlreadyVoid, "The invoice is already void.")),
        _ if row.amount_paid_minor > 0 || row.discount_taken_minor > 0 => Some((
            ErrorCode::InvoiceHasPayments,
            "The invoice has payments; refund them before voiding.",
        )),
        _ if pending > 0 => Some((
            ErrorCode::InvoiceHasPendingPayments,
            "A payment on this invoice is in progress.",
        )),
        _ => None,
    };
    if let Some((code, detail)) = conflict {
        tx.rollback().await?;
        return Err(ApiError::Conflict {
            code,
            detail: detail.to_owned(),
        });
    }
    let now = now_ms();
    invoices::void(&mut tx, &seller.seller_id, &row.id, now).await?;
    let changes = serde_json::json!({"status": {"before": row.status, "after": "void"}});
    crate::store::audit::record(&mut tx, &seller.audit("invoice.voided", &row.id, changes, now)).await?;
    tx.commit().await?;
    let row = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    Ok(HttpResponse::Ok().json(view(&state, &row).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    expires_in_seconds: Option<i64>,
}

/// `POST /v1/invoices/{id}/checkout-links` -> `{id, token, url, expires_at}`.
#[utoipa::path(post, path = "/v1/invoices/{id}/checkout-links", tag = "checkout links", params(("id" = String, Path)), request_body(content = Option<LinkRequest>), security(("seller_key" = [])), responses((status = 201, body = LinkCreated), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_link(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    // The body is optional, but when present it must be valid: an `Option<Json>` would hide errors.
    let body: LinkRequest = crate::error::optional_json(&body)?;
    let row = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    if row.invoice_status().map_err(anyhow::Error::from)? == InvoiceStatus::Void {
        return Err(ApiError::Conflict {
            code: ErrorCode::InvoiceVoid,
            detail: "The invoice is void.".to_owned(),
        });
    }
    let ttl = body
        .expires_in_seconds
        .unwrap_or(state.settings.checkout_link_ttl_seconds);
    let max = state.settings.checkout_link_max_ttl_seconds;
    if !(60..=max).contains(&ttl) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "expires_in_seconds",
            format!("expires_in_seconds must be between 60 and {max}"),
        ));
    }
    let link =
        crate::tokens::mint_link(&state, &seller.seller_id, &row.id, ttl, Some(seller.actor())).await?;
    Ok(HttpResponse::Created().json(LinkCreated {
        id: link.id,
        invoice_id: row.id.clone(),
        url: link.url,
        token: link.token,
        expires_at: rfc3339(link.expires_at),
    }))
}

/// `DELETE /v1/checkout-links/{id}`: the token stops working at once.
#[utoipa::path(delete, path = "/v1/checkout-links/{id}", tag = "checkout links", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = LinkRevoked), (status = 404, body = Problem)))]
pub async fn revoke_link(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let revoked_at = crate::store::links::revoke(&state.db, &seller.seller_id, &id, now_ms(), seller.actor())
        .await?
        .ok_or(ApiError::NotFound("checkout link"))?;
    Ok(HttpResponse::Ok().json(LinkRevoked {
        id: id.into_inner(),
        revoked_at: rfc3339(revoked_at),
    }))
}
