//! Sending invoices by email (`POST /v1/invoices/{id}/send`) and the seller's templates for that email
//! (`PUT /v1/settings/invoice-email`). The email itself is an outbox delivery (`erp::invoice_email`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::{ErrorCode, InvoiceStatus};

use crate::auth::Seller;
use crate::db::rfc3339;
use crate::erp::events::{Event, InvoiceSent};
use crate::erp::invoice_email::{self, Part};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{invoices, sellers};

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Where to send the invoice; defaults to the customer's email.
    to: Option<String>,
}

/// The fresh checkout link the email carries. Its token is only in the email (and `url`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SentLink {
    pub id: String,
    pub url: String,
    pub expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvoiceSentResponse {
    pub sent_to: String,
    pub link: SentLink,
}

/// `POST /v1/invoices/{id}/send`: emails the invoice with a fresh pay link, through the outbox (202: the
/// email is queued; an SMTP outage delays it and loses nothing).
#[utoipa::path(post, path = "/v1/invoices/{id}/send", tag = "invoices", params(("id" = String, Path)),
    request_body(content = Option<SendRequest>), security(("seller_key" = [])),
    responses((status = 202, body = InvoiceSentResponse), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn send(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    // The body is optional, but when present it must be valid (as for checkout links).
    let body: SendRequest = crate::error::optional_json(&body)?;
    let to = match &body.to {
        Some(to) => Some(parse_address(to)?),
        None => None,
    };
    let row = invoices::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    refuse_unsendable(&row)?;
    let sent_to = match to {
        Some(to) => to,
        // The customer's stored email was checked when saved; parsed again so a bad one is a 400, not a
        // delivery that can never succeed.
        None => parse_address(&row.customer_email)?,
    };
    // Minted before the transaction: `mint_link` writes through its own connection, and SQLite has one
    // writer. A failure below leaves an unsent link that nobody has, which is harmless.
    let ttl = state.settings.checkout_link_ttl_seconds;
    let link =
        crate::tokens::mint_link(&state, &seller.seller_id, &row.id, ttl, Some(seller.actor())).await?;
    let now = state.clock().now_ms();
    let mut tx = state.db.begin_write().await?;
    // Read again under the lock: a payment or a void may have committed since the check above.
    let row = invoices::lock(&state.db, &mut tx, &seller.seller_id, &row.id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    if let Err(refused) = refuse_unsendable(&row) {
        tx.rollback().await?;
        return Err(refused);
    }
    invoices::mark_sent(&mut tx, &seller.seller_id, &row.id, now).await?;
    let event = InvoiceSent {
        balance_due: row.money(row.balance_due_minor())?.to_string(),
        currency: row.currency.clone(),
        customer_id: row.customer_id.clone(),
        due_date: row.due_date.clone(),
        invoice_id: row.id.clone(),
        invoice_number: row.number.clone(),
        link_expires_at: rfc3339(link.expires_at),
        link_id: link.id.clone(),
        sent_at: rfc3339(now),
        sent_to: sent_to.clone(),
    };
    // The event and its email delivery commit with `sent_at`, or none of them does.
    crate::outbox::record(&mut tx, &seller.seller_id, &Event::InvoiceSent(event), now).await?;
    let changes = serde_json::json!({"sent_to": sent_to, "link_id": link.id, "sent_at": rfc3339(now)});
    crate::store::audit::record(&mut tx, &seller.audit("invoice.sent", &row.id, changes, now)).await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(InvoiceSentResponse {
        sent_to,
        link: SentLink {
            id: link.id,
            url: link.url,
            expires_at: rfc3339(link.expires_at),
        },
    }))
}

fn parse_address(to: &str) -> ApiResult<String> {
    to.trim()
        .parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|_| ApiError::invalid(ErrorCode::InvalidField, "to", "to must be an email address"))
}

/// A void invoice cannot be paid and a paid one needs no link: sending either would only confuse the buyer.
fn refuse_unsendable(row: &invoices::InvoiceRow) -> ApiResult<()> {
    match row.invoice_status().map_err(anyhow::Error::from)? {
        InvoiceStatus::Void => Err(ApiError::Conflict {
            code: ErrorCode::InvoiceVoid,
            detail: "The invoice is void.".to_owned(),
        }),
        InvoiceStatus::Paid => Err(ApiError::Conflict {
            code: ErrorCode::InvoiceAlreadyPaid,
            detail: "The invoice is paid in full.".to_owned(),
        }),
        _ if row.balance_due_minor() <= 0 => Err(ApiError::Conflict {
            code: ErrorCode::InvoiceAlreadyPaid,
            detail: "The invoice has no balance due.".to_owned(),
        }),
        _ => Ok(()),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceEmailSettings {
    /// Subject template (minijinja). Placeholders: `invoice_number`, `due_date`, `balance_due`, `currency`,
    /// `pay_url`, `seller_name`, `customer_name`, `minimum_payment`, `partial_allowed`. Null or absent
    /// restores the built-in text in the customer's language.
    subject: Option<String>,
    /// Plain-text part template, same placeholders.
    text: Option<String>,
    /// HTML part template, same placeholders; every value is HTML-escaped.
    html: Option<String>,
}

/// `PUT /v1/settings/invoice-email`: the seller's own invoice email. Each template is compiled and its
/// placeholders checked now, so a mistake is a 400 here rather than an email that cannot be sent.
#[utoipa::path(put, path = "/v1/settings/invoice-email", tag = "invoices", request_body = InvoiceEmailSettings,
    security(("seller_key" = [])), responses((status = 204), (status = 400, body = Problem)))]
pub async fn put_invoice_email_settings(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<InvoiceEmailSettings>>,
) -> ApiResult<HttpResponse> {
    for (part, value) in [
        (Part::Subject, &body.subject),
        (Part::Text, &body.text),
        (Part::Html, &body.html),
    ] {
        let Some(source) = value else { continue };
        let limit = if part == Part::Subject { 500 } else { 20_000 };
        if source.chars().count() > limit {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                part.field(),
                format!("{} must be at most {limit} characters", part.field()),
            ));
        }
        invoice_email::validate(part, source)
            .map_err(|detail| ApiError::invalid(ErrorCode::InvalidTemplate, part.field(), detail))?;
    }
    // Which parts are the seller's own now (the templates themselves can be long: the row says which).
    let changes = serde_json::json!({
        "subject": body.subject.is_some(),
        "text": body.text.is_some(),
        "html": body.html.is_some(),
    });
    let now = state.clock().now_ms();
    let audit = seller.audit("settings.invoice_email_updated", &seller.seller_id, changes, now);
    sellers::set_invoice_email_templates(
        &state.db,
        &seller.seller_id,
        body.subject.as_deref(),
        body.text.as_deref(),
        body.html.as_deref(),
        &audit,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
