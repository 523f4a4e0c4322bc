//! `PUT /v1/settings/reminder-email` (issue 16): the seller's own reminder email, subject and text as
//! minijinja templates, compiled and checked against the placeholders when saved.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tranche_domain::wire::Problem;
use tranche_domain::ErrorCode;

use crate::auth::Seller;
use crate::error::{ApiError, ApiResult};
use crate::scheduler::reminder_email;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderEmailSettings {
    /// Subject template (minijinja). Placeholders: `invoice_number`, `installment`, `amount_due`,
    /// `due_date`, `overdue` (true after the due date), `pay_url`, `seller_name`, `customer_name`. Null or
    /// absent restores the built-in text in the customer's language.
    subject: Option<String>,
    /// Plain-text body template, same placeholders.
    text: Option<String>,
}

/// `PUT /v1/settings/reminder-email`: a template that does not compile or names an unknown placeholder is a
/// 400 here (nothing saved), never a reminder that cannot be sent.
#[utoipa::path(put, path = "/v1/settings/reminder-email", tag = "invoices", request_body = ReminderEmailSettings,
    security(("seller_key" = [])), responses((status = 204), (status = 400, body = Problem)))]
pub async fn put(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<ReminderEmailSettings>>,
) -> ApiResult<HttpResponse> {
    for (field, value, limit) in [("subject", &body.subject, 500), ("text", &body.text, 20_000)] {
        let Some(source) = value else { continue };
        if source.chars().count() > limit {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                format!("{field} must be at most {limit} characters"),
            ));
        }
        reminder_email::validate(field, source)
            .map_err(|detail| ApiError::invalid(ErrorCode::InvalidTemplate, field, detail))?;
    }
    crate::store::reminders::set_templates(
        &state.db,
        &seller.seller_id,
        body.subject.as_deref(),
        body.text.as_deref(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
