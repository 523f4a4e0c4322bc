//! Seller view of payments.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::{PaymentView, Problem};

use crate::auth::Seller;
use crate::error::{ApiError, ApiResult};
use crate::routes::page::{List, Listing, PageParams};
use crate::state::AppState;
use crate::store::page::Listed;
use crate::store::payments;

/// The payment list's own filter (paging is [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilter {
    invoice_id: Option<String>,
}

/// A payment as the seller sees it: the buyer's view plus reconciliation details.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SellerPaymentView {
    #[serde(flatten)]
    pub payment: PaymentView,
    pub invoice_id: String,
    /// What refunds have given back so far (`0.00` when none).
    #[schema(example = "25.00")]
    pub amount_refunded: String,
    /// Offline payments: the seller's reference (cheque number, wire reference); `null` otherwise.
    pub reference: Option<String>,
    /// Offline payments: the day the money arrived; `null` otherwise.
    pub received_on: Option<String>,
    pub decline_code: Option<String>,
    pub gateway: String,
    pub gateway_charge_id: Option<String>,
    /// Where the cash receipt stands in the seller's ERP and mail.
    pub erp_posting: ErpPosting,
    /// What the payment paid of each invoice: one entry (its `invoice_id`) for a single-invoice payment,
    /// one per invoice for an account payment, whose `invoice_id` above is only the first by id.
    pub allocations: Vec<SellerAllocation>,
}

/// One invoice's part of a payment, and what refunds gave back of it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SellerAllocation {
    pub invoice_id: String,
    #[schema(example = "250.00")]
    pub amount: String,
    pub discount: Option<String>,
    #[schema(example = "0.00")]
    pub amount_refunded: String,
}

/// `status`: `none` (nothing to post), `pending`, `delivered` (every destination), or `failed` (one was
/// dead-lettered: see `/v1/erp/deliveries?status=dead`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErpPosting {
    pub status: String,
    pub deliveries: Vec<PostingDelivery>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PostingDelivery {
    pub id: String,
    pub kind: String,
    pub status: String,
}

async fn erp_posting(state: &AppState, payment_id: &str) -> ApiResult<ErpPosting> {
    use crate::store::deliveries::{self, DeliveryStatus};
    let rows = deliveries::of_payment(&state.db, payment_id).await?;
    let any = |status: DeliveryStatus| rows.iter().any(|(_, _, s)| *s == status);
    let status = if rows.is_empty() {
        "none"
    } else if any(DeliveryStatus::Dead) {
        "failed"
    } else if any(DeliveryStatus::Pending) {
        "pending"
    } else {
        "delivered"
    };
    Ok(ErpPosting {
        status: status.to_owned(),
        deliveries: rows
            .into_iter()
            .map(|(id, kind, status)| PostingDelivery {
                id,
                kind: kind.as_str().to_owned(),
                status: status.as_str().to_owned(),
            })
            .collect(),
    })
}

async fn seller_view(state: &AppState, row: &payments::PaymentRow) -> ApiResult<SellerPaymentView> {
    let (reference, received_on) = if row.gateway == "offline" {
        payments::offline_details(&state.db, &row.seller_id, &row.id).await?
    } else {
        (None, None)
    };
    Ok(SellerPaymentView {
        payment: row.view(),
        invoice_id: row.invoice_id.clone(),
        amount_refunded: row.amount_refunded.to_string(),
        reference,
        received_on,
        decline_code: row.decline_code.clone(),
        gateway: row.gateway.clone(),
        gateway_charge_id: row.gateway_charge_id.clone(),
        erp_posting: erp_posting(state, &row.id).await?,
        allocations: allocations_of(state, row).await?,
    })
}

async fn allocations_of(state: &AppState, row: &payments::PaymentRow) -> ApiResult<Vec<SellerAllocation>> {
    let stored = crate::store::allocations::of_payment(state.db.pool(), &row.seller_id, &row.id).await?;
    if stored.is_empty() {
        return Ok(vec![SellerAllocation {
            invoice_id: row.invoice_id.clone(),
            amount: row.amount.to_string(),
            discount: (!row.discount.is_zero()).then(|| row.discount.to_string()),
            amount_refunded: row.amount_refunded.to_string(),
        }]);
    }
    let mut parts: Vec<_> = stored
        .into_iter()
        .map(|a| {
            (
                a.position,
                SellerAllocation {
                    invoice_id: a.invoice_id,
                    amount: a.amount.to_string(),
                    discount: (!a.discount.is_zero()).then(|| a.discount.to_string()),
                    amount_refunded: a.amount_refunded.to_string(),
                },
            )
        })
        .collect();
    parts.sort_by_key(|(position, _)| *position);
    Ok(parts.into_iter().map(|(_, part)| part).collect())
}

/// `GET /v1/payments?invoice_id=`: newest first, a page at a time.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(PageParams, PaymentFilter), security(("seller_key" = [])), responses((status = 200, body = List<SellerPaymentView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<PaymentFilter>,
) -> ApiResult<HttpResponse> {
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Payments)
        .await?;
    let rows = payments::list(
        &state.db,
        &seller.seller_id,
        query.filter.invoice_id.as_deref(),
        &keyset,
    )
    .await?;
    let mut data = Vec::with_capacity(rows.rows.len());
    for row in &rows.rows {
        data.push(seller_view(&state, row).await?);
    }
    Ok(HttpResponse::Ok().json(List {
        data,
        has_more: rows.has_more,
    }))
}

/// `GET /v1/payments/{id}`.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = SellerPaymentView), (status = 404, body = Problem)))]
pub async fn get(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = payments::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    Ok(HttpResponse::Ok().json(seller_view(&state, &row).await?))
}
