//! Edits (DESIGN section 10): `PATCH /v1/invoices/{id}`, `PATCH /v1/customers/{id}`, and the terms
//! profiles' list, edit and archive. Each edit locks its row, compares, writes the new values and one audit
//! row (`{field: {before, after}}` of what changed) in one transaction.
//!
//! A field absent from a body is left as it is; `null` clears a field that may be empty (`memo`,
//! `external_ref`, a customer's `terms_id`, a profile's optional terms). `{}` changes nothing and answers the
//! object as it is, as `PATCH /v1/seller` does.
//!
//! Terms are copied onto an invoice when it is issued, and again when the invoice's `terms_id` is edited:
//! the checkout reads the invoice's copy on every request, so the next payment follows at once, while a
//! payment already held finishes under the rules it was checked against (finalize never re-checks them).
//! Editing a profile changes what new invoices get, never an issued one.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer};
use tranche_domain::wire::{format_date, Problem};
use tranche_domain::{compute_amounts, Date, ErrorCode, InvoiceStatus, LineInput, Terms, TermsSpec};

use crate::auth::Seller;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::routes::invoices::{date, line_error_field, usable_terms, view, InvoiceView, LineRequest};
use crate::routes::page::{List, Listing, PageParams};
use crate::routes::parties::{locale, text, valid_email, CustomerView, TermsView};
use crate::state::AppState;
use crate::store::audit::{self, Changes};
use crate::store::customers;
use crate::store::invoices::{self, EditedInvoice, InvoiceRow};
use crate::store::page::Listed;
use crate::store::terms as terms_store;

/// The longest memo (characters); the database holds it to 500 as well.
const MAX_MEMO: usize = 500;

/// A field that may be absent (`None`: leave it), `null` (`Some(None)`: clear it) or a value.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Rolls `tx` back when `result` is an error (so the write turn is handed on at once), else passes it on.
async fn or_rollback<T>(tx: Tx, result: ApiResult<T>) -> ApiResult<(Tx, T)> {
    match result {
        Ok(value) => Ok((tx, value)),
        Err(error) => {
            tx.rollback().await?;
            Err(error)
        }
    }
}

fn not_found(what: &'static str) -> ApiError {
    ApiError::NotFound(what)
}

// ---- Invoices ----

/// `PATCH /v1/invoices/{id}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePatch {
    /// Not before the issue date.
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-15")]
    due_date: Option<String>,
    /// A note for your records, at most 500 characters; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    memo: Option<Option<String>>,
    /// The invoice's id in your ERP, 1 to 100 characters; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    external_ref: Option<Option<String>>,
    /// One of your terms profiles, not archived: its terms are copied onto the invoice and bind the next
    /// payment at once (a payment already in progress finishes under the terms it started with).
    terms_id: Option<String>,
    /// New lines, totals recomputed: only while nothing is paid, credited or in progress on the invoice
    /// (else 409 `invoice_has_payments` / `invoice_has_pending_payments`).
    lines: Option<Vec<LineRequest>>,
}

/// An invoice patch whose fields passed every check that needs no database.
struct ValidInvoicePatch<'a> {
    due_date: Option<Date>,
    memo: Option<Option<String>>,
    external_ref: Option<Option<String>>,
    terms_id: Option<&'a str>,
    lines: Option<Vec<LineInput<'a>>>,
}

impl<'a> TryFrom<&'a InvoicePatch> for ValidInvoicePatch<'a> {
    type Error = ApiError;

    fn try_from(body: &'a InvoicePatch) -> ApiResult<ValidInvoicePatch<'a>> {
        let due_date = body
            .due_date
            .as_deref()
            .map(|d| date("due_date", d, "2026-12-01"))
            .transpose()?;
        let memo = body
            .memo
            .as_ref()
            .map(|memo| match memo.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(m) if m.chars().count() > MAX_MEMO || m.chars().any(|c| c.is_control() && c != '\n') => {
                    Err(ApiError::invalid(
                        ErrorCode::InvalidField,
                        "memo",
                        "memo must be at most 500 characters",
                    ))
                }
                Some(m) => Ok(Some(m.to_owned())),
            })
            .transpose()?;
        let external_ref = body
            .external_ref
            .as_ref()
            .map(|r| r.as_deref().map(|r| text("external_ref", r, 100)).transpose())
            .transpose()?;
        let lines = body.lines.as_ref().map(|lines| {
            lines
                .iter()
                .map(|l| LineInput {
                    description: &l.description,
                    quantity: &l.quantity,
                    unit_price: &l.unit_price,
                    tax_rate: l.tax_rate.as_deref(),
                })
                .collect()
        });
        Ok(ValidInvoicePatch {
            due_date,
            memo,
            external_ref,
            terms_id: body.terms_id.as_deref(),
            lines,
        })
    }
}

fn conflict(code: ErrorCode, detail: &str) -> ApiError {
    ApiError::Conflict {
        code,
        detail: detail.to_owned(),
    }
}

/// Whether the invoice's lines may still change: nothing held, paid, discounted or credited, and no
/// payment ever made (one refunded in full still stands in the ERP against these lines).
async fn check_lines_editable(tx: &mut Tx, row: &InvoiceRow) -> ApiResult<()> {
    if invoices::pending_minor(tx, &row.id).await? > 0 {
        return Err(conflict(
            ErrorCode::InvoiceHasPendingPayments,
            "A payment on this invoice is in progress; its lines cannot change.",
        ));
    }
    // A dispute names a line by position and a write-off settled part: either keeps the lines as they are.
    let settled = row.amount_paid_minor > 0
        || row.discount_taken_minor > 0
        || row.amount_credited_minor > 0
        || row.amount_written_off_minor > 0
        || row.amount_disputed_minor > 0;
    if settled || invoices::payments_made(tx, &row.id).await? > 0 {
        return Err(conflict(
            ErrorCode::InvoiceHasPayments,
            "The invoice has payments or credits; its lines cannot change (credit or void it and issue a new one).",
        ));
    }
    Ok(())
}

/// Applies a patch to the locked invoice `row`: checks, writes, audit row.
async fn edit_invoice(
    state: &AppState,
    tx: &mut Tx,
    seller: &Seller,
    row: &InvoiceRow,
    patch: &ValidInvoicePatch<'_>,
    terms: Option<&TermsSpec>,
) -> ApiResult<()> {
    if row.invoice_status().map_err(anyhow::Error::from)? == InvoiceStatus::Void {
        return Err(conflict(
            ErrorCode::InvoiceNotEditable,
            "The invoice is void; nothing on it can change.",
        ));
    }
    let issue_date = date("issue_date", &row.issue_date, "2026-11-01")
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("stored issue date {:?}", row.issue_date)))?;
    let due_date = patch
        .due_date
        .map(format_date)
        .unwrap_or_else(|| row.due_date.clone());
    if patch.due_date.is_some_and(|d| d < issue_date) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "due_date",
            format!("due_date must not be before the issue date {}", row.issue_date),
        ));
    }
    let amounts = match &patch.lines {
        Some(lines) => {
            let amounts = compute_amounts(row.currency()?, lines).map_err(|e| {
                ApiError::invalid(ErrorCode::InvalidLines, line_error_field(&e), e.to_string())
            })?;
            check_lines_editable(tx, row).await?;
            Some(amounts)
        }
        None => None,
    };
    let stored_spec: TermsSpec = serde_json::from_str(&row.terms_spec)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored terms: {e}")))?;
    let memo = patch.memo.clone().unwrap_or_else(|| row.memo.clone());
    let external_ref = patch
        .external_ref
        .clone()
        .unwrap_or_else(|| row.external_ref.clone());
    let terms_id = patch.terms_id.map(str::to_owned).or_else(|| row.terms_id.clone());
    let terms_spec = terms.unwrap_or(&stored_spec);
    let mut changes = Changes::new();
    changes
        .field("due_date", &row.due_date, &due_date)
        .field("memo", &row.memo, &memo)
        .field("external_ref", &row.external_ref, &external_ref)
        .field("terms_id", &row.terms_id, &terms_id)
        .field("terms", &stored_spec, terms_spec);
    let now = state.clock().now_ms();
    if let Some(amounts) = &amounts {
        changes.field(
            "total",
            &row.money(row.total_minor)?.to_string(),
            &amounts.total.to_string(),
        );
        changes.set(
            "lines",
            serde_json::json!({"replaced": true, "count": amounts.lines.len()}),
        );
        invoices::replace_lines(tx, &seller.seller_id, &row.id, amounts, now).await?;
    }
    if changes.is_empty() {
        return Ok(());
    }
    let edited = EditedInvoice {
        due_date: &due_date,
        memo: memo.as_deref(),
        external_ref: external_ref.as_deref(),
        terms_id: terms_id.as_deref(),
        terms_spec,
    };
    invoices::update_fields(tx, &seller.seller_id, &row.id, &edited, now).await?;
    audit::record(
        tx,
        &seller.audit("invoice.updated", &row.id, changes.into_value(), now),
    )
    .await?;
    Ok(())
}

/// `PATCH /v1/invoices/{id}`: due date, memo, ERP reference, terms, and lines while nothing is paid.
#[utoipa::path(patch, path = "/v1/invoices/{id}", tag = "invoices", params(("id" = String, Path)), request_body = InvoicePatch,
    security(("seller_key" = [])),
    responses((status = 200, body = InvoiceView),
        (status = 400, description = "invalid_field (due_date, memo, external_ref), invalid_lines, unknown_reference (terms_id), malformed_body, unknown_field", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "invoice_not_editable (void), invoice_has_payments / invoice_has_pending_payments (lines), terms_archived", body = Problem)))]
pub async fn update_invoice(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<JsonObject<InvoicePatch>>,
) -> ApiResult<HttpResponse> {
    let patch = ValidInvoicePatch::try_from(&body.0 .0)?;
    // The profile is read before the lock: a profile archived in between still served an edit begun before.
    let terms = match patch.terms_id {
        Some(terms_id) => {
            // Another seller's invoice id must answer 404 before anything about a profile is told.
            invoices::find(&state.db, &seller.seller_id, &id)
                .await?
                .ok_or_else(|| not_found("invoice"))?;
            Some(usable_terms(&state, &seller.seller_id, terms_id).await?)
        }
        None => None,
    };
    let mut tx = state.db.begin_write().await?;
    let locked = invoices::lock(&state.db, &mut tx, &seller.seller_id, &id).await;
    let row = match locked {
        Ok(Some(row)) => row,
        Ok(None) => {
            tx.rollback().await?;
            return Err(not_found("invoice"));
        }
        Err(e) => return Err(e.into()),
    };
    let result = edit_invoice(&state, &mut tx, &seller, &row, &patch, terms.as_ref()).await;
    let (tx, ()) = or_rollback(tx, result).await?;
    tx.commit().await?;
    let row = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or_else(|| not_found("invoice"))?;
    Ok(HttpResponse::Ok().json(view(&state, &row).await?))
}

// ---- Customers ----

/// `PATCH /v1/customers/{id}` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    name: Option<String>,
    email: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    external_ref: Option<Option<String>>,
    /// One of your profiles, not archived, for the customer's future invoices; `null`: the default terms.
    /// Invoices already issued keep their terms.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    terms_id: Option<Option<String>>,
    /// en, de, fr or es.
    locale: Option<String>,
}

/// `PATCH /v1/customers/{id}`: name, email, ERP reference, terms for future invoices, language.
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path)), request_body = CustomerPatch,
    security(("seller_key" = [])),
    responses((status = 200, body = CustomerView),
        (status = 400, description = "invalid_field, unknown_reference (terms_id), malformed_body, unknown_field", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "terms_archived", body = Problem)))]
pub async fn update_customer(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<JsonObject<CustomerPatch>>,
) -> ApiResult<HttpResponse> {
    let body = &body.0 .0;
    let name = body.name.as_deref().map(|n| text("name", n, 200)).transpose()?;
    let email = body.email.as_deref().map(str::trim).map(str::to_owned);
    if email.as_deref().is_some_and(|e| !valid_email(e)) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "email",
            "email must be an address such as ap@buyer.example",
        ));
    }
    let external_ref = body
        .external_ref
        .as_ref()
        .map(|r| r.as_deref().map(|r| text("external_ref", r, 100)).transpose())
        .transpose()?;
    let locale = body.locale.as_deref().map(|l| locale(Some(l))).transpose()?;
    // Another seller's customer answers 404 before anything about a profile is told.
    customers::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or_else(|| not_found("customer"))?;
    if let Some(Some(terms_id)) = &body.terms_id {
        usable_terms(&state, &seller.seller_id, terms_id).await?;
    }
    let mut tx = state.db.begin_write().await?;
    let Some(before) = customers::lock(&state.db, &mut tx, &seller.seller_id, &id).await? else {
        tx.rollback().await?;
        return Err(not_found("customer"));
    };
    let mut after = before.clone();
    after.name = name.unwrap_or(after.name);
    after.email = email.unwrap_or(after.email);
    after.external_ref = external_ref.unwrap_or(after.external_ref);
    after.terms_id = body.terms_id.clone().unwrap_or(after.terms_id);
    after.locale = locale.unwrap_or(after.locale);
    let mut changes = Changes::new();
    changes
        .field("name", &before.name, &after.name)
        .field("email", &before.email, &after.email)
        .field("external_ref", &before.external_ref, &after.external_ref)
        .field("terms_id", &before.terms_id, &after.terms_id)
        .field("locale", &before.locale, &after.locale);
    if changes.is_empty() {
        tx.rollback().await?;
    } else {
        let now = state.clock().now_ms();
        customers::update(&mut tx, &seller.seller_id, &after).await?;
        audit::record(
            &mut tx,
            &seller.audit("customer.updated", &id, changes.into_value(), now),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(HttpResponse::Ok().json(CustomerView::from(after)))
}

// ---- Terms profiles ----

/// The terms list's own filter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TermsFilter {
    /// `true` lists archived profiles too (default `false`).
    include_archived: Option<bool>,
}

/// `GET /v1/terms`: newest first, a page at a time; archived profiles only with `include_archived=true`.
#[utoipa::path(get, path = "/v1/terms", tag = "terms", params(PageParams, TermsFilter), security(("seller_key" = [])),
    responses((status = 200, body = List<TermsView>), (status = 400, body = Problem)))]
pub async fn list_terms(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<TermsFilter>,
) -> ApiResult<HttpResponse> {
    let Listing { page, filter } = query;
    let keyset = page.keyset(&state.db, &seller.seller_id, Listed::Terms).await?;
    let include_archived = filter.include_archived.unwrap_or(false);
    let rows = terms_store::list(&state.db, &seller.seller_id, include_archived, &keyset).await?;
    Ok(HttpResponse::Ok().json(List::of(rows, TermsView::from)))
}

/// `PATCH /v1/terms/{id}` body: each field present replaces the profile's; `null` clears an optional term.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsPatch {
    name: Option<String>,
    allow_partial: Option<bool>,
    minimum_amounts: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    minimum_percent: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    presets: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<tranche_domain::PresetBasis>)]
    preset_basis: Option<Option<tranche_domain::PresetBasis>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<tranche_domain::DiscountSpec>)]
    early_payment_discount: Option<Option<tranche_domain::DiscountSpec>>,
}

/// The profile `current` with the patch applied, validated and normalised as at creation. Fields this patch
/// does not know (terms added later) are kept as they are.
fn patched_spec(current: &TermsSpec, patch: &TermsPatch) -> ApiResult<TermsSpec> {
    let mut spec = current.clone();
    if let Some(allow_partial) = patch.allow_partial {
        spec.allow_partial = allow_partial;
    }
    if let Some(minimums) = &patch.minimum_amounts {
        spec.minimum_amounts = minimums.clone();
    }
    if let Some(percent) = &patch.minimum_percent {
        spec.minimum_percent = percent.clone();
    }
    if let Some(presets) = &patch.presets {
        spec.presets = presets.clone();
    }
    if let Some(basis) = patch.preset_basis {
        spec.preset_basis = basis;
    }
    if let Some(discount) = &patch.early_payment_discount {
        spec.early_payment_discount = discount.clone();
    }
    let terms = Terms::try_from(&spec)
        .map_err(|e| ApiError::invalid(ErrorCode::InvalidTerms, e.field(), e.to_string()))?;
    Ok(terms.to_spec())
}

fn archived_conflict() -> ApiError {
    conflict(
        ErrorCode::TermsArchived,
        "The terms profile is archived; create a new one instead.",
    )
}

/// `PATCH /v1/terms/{id}`: the profile's name and terms. Invoices already issued keep the terms they
/// copied; new invoices and customers get these.
#[utoipa::path(patch, path = "/v1/terms/{id}", tag = "terms", params(("id" = String, Path)), request_body = TermsPatch,
    security(("seller_key" = [])),
    responses((status = 200, body = TermsView),
        (status = 400, description = "invalid_terms, invalid_field (name), malformed_body, unknown_field", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "terms_archived", body = Problem)))]
pub async fn update_terms(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<JsonObject<TermsPatch>>,
) -> ApiResult<HttpResponse> {
    let patch = &body.0 .0;
    let name = patch.name.as_deref().map(|n| text("name", n, 200)).transpose()?;
    let mut tx = state.db.begin_write().await?;
    let Some(before) = terms_store::lock(&state.db, &mut tx, &seller.seller_id, &id).await? else {
        tx.rollback().await?;
        return Err(not_found("terms"));
    };
    let checked = if before.archived_at.is_some() {
        Err(archived_conflict())
    } else {
        patched_spec(&before.spec, patch)
    };
    let (mut tx, spec) = or_rollback(tx, checked).await?;
    let mut after = before.clone();
    after.name = name.unwrap_or(after.name);
    after.spec = spec;
    let mut changes = Changes::new();
    changes
        .field("name", &before.name, &after.name)
        .field("terms", &before.spec, &after.spec);
    if changes.is_empty() {
        tx.rollback().await?;
    } else {
        let now = state.clock().now_ms();
        terms_store::update(&mut tx, &seller.seller_id, &id, &after.name, &after.spec).await?;
        audit::record(
            &mut tx,
            &seller.audit("terms.updated", &id, changes.into_value(), now),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(HttpResponse::Ok().json(TermsView::from(after)))
}

/// `POST /v1/terms/{id}/archive`: the profile is given to no new invoice or customer (409 `terms_archived`);
/// invoices that copied it, and customers that have it, keep working. Archiving twice answers the same.
#[utoipa::path(post, path = "/v1/terms/{id}/archive", tag = "terms", params(("id" = String, Path)),
    security(("seller_key" = [])),
    responses((status = 200, body = TermsView), (status = 404, body = Problem)))]
pub async fn archive_terms(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let mut tx = state.db.begin_write().await?;
    let Some(mut row) = terms_store::lock(&state.db, &mut tx, &seller.seller_id, &id).await? else {
        tx.rollback().await?;
        return Err(not_found("terms"));
    };
    if row.archived_at.is_some() {
        tx.rollback().await?;
    } else {
        let now = state.clock().now_ms();
        terms_store::archive(&mut tx, &seller.seller_id, &id, now).await?;
        let changes = serde_json::json!({"archived_at": {"before": null, "after": crate::db::rfc3339(now)}});
        audit::record(&mut tx, &seller.audit("terms.archived", &id, changes, now)).await?;
        tx.commit().await?;
        row.archived_at = Some(now);
    }
    Ok(HttpResponse::Ok().json(TermsView::from(row)))
}
