//! `GET /v1/alerts` (issue 16, DESIGN 11): what needs the seller's attention, newest first, paged like
//! every list. Computed when asked (no alert table to keep in step): partially paid invoices past their
//! due date, missed installments on invoices still unpaid, dead ERP deliveries, chargebacks.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tranche_domain::wire::{format_date, Problem};
use tranche_domain::{Currency, ErrorCode, Money};

use crate::auth::Seller;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::routes::page::{List, Listing, NoFilter, PageParams};
use crate::state::AppState;
use crate::store::alerts;
use crate::store::page::Keyset;

/// One alert.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The id of what the alert is about (an invoice, a missed-installment record or a delivery); use it as
    /// `starting_after`.
    id: String,
    /// `invoice_past_due` (partially paid after its due date), `installment_missed`, `delivery_dead` or
    /// `payment_chargeback` (the buyer's bank disputes a payment at the gateway: answer it there).
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    installment: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_id: Option<String>,
    /// `payment_chargeback`: the payment disputed, the amount the bank holds back (decimal) and the
    /// gateway's reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    created_at: String,
}

/// `GET /v1/alerts`.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(PageParams), security(("seller_key" = [])), responses((status = 200, body = List<AlertView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<NoFilter>,
) -> ApiResult<HttpResponse> {
    let today = format_date(state.clock().today());
    let page = &query.page;
    let keyset = match page.starting_after() {
        None => Keyset::first(page.limit()),
        Some(id) => {
            let found = if id.is_empty() || id.len() > 64 {
                None
            } else {
                alerts::cursor(&state.db, &seller.seller_id, &today, id).await?
            };
            let created_at = found.ok_or_else(|| {
                ApiError::invalid(
                    ErrorCode::StartingAfterNotFound,
                    "starting_after",
                    "starting_after must be the id of one of your alerts (the last one of the previous page)",
                )
            })?;
            Keyset::after(page.limit(), created_at, id.to_owned())
        }
    };
    let rows = alerts::list(&state.db, &seller.seller_id, &today, &keyset).await?;
    let data = rows
        .rows
        .into_iter()
        .map(|r| {
            let amount = match (r.amount_minor, r.currency.as_deref()) {
                (Some(minor), Some(code)) => {
                    let currency = Currency::parse(code).map_err(anyhow::Error::from)?;
                    Some(
                        Money::from_minor_units(minor, currency)
                            .map_err(anyhow::Error::from)?
                            .to_string(),
                    )
                }
                _ => None,
            };
            Ok(AlertView {
                id: r.id,
                kind: r.kind,
                invoice_id: r.invoice_id,
                installment: r.installment,
                delivery_id: r.delivery_id,
                payment_id: r.payment_id,
                amount,
                currency: r.currency,
                reason: r.reason,
                created_at: rfc3339(r.created_at),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(List {
        data,
        has_more: rows.has_more,
    }))
}
