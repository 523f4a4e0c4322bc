//! Seller view of payments.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::{PaymentView, Problem};

use crate::auth::Seller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::payments;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    invoice_id: Option<String>,
    limit: Option<i64>,
}

/// A payment as the seller sees it: the buyer's view plus reconciliation details.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SellerPaymentView {
    #[serde(flatten)]
    pub payment: PaymentView,
    pub invoice_id: String,
    pub decline_code: Option<String>,
    pub gateway: String,
    pub gateway_charge_id: Option<String>,
    /// Where the cash receipt stands in the seller's ERP and mail.
    pub erp_posting: ErpPosting,
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentList {
    pub data: Vec<SellerPaymentView>,
}

async fn seller_view(state: &AppState, row: &payments::PaymentRow) -> ApiResult<SellerPaymentView> {
    Ok(SellerPaymentView {
        payment: row.view(),
        invoice_id: row.invoice_id.clone(),
        decline_code: row.decline_code.clone(),
        gateway: row.gateway.clone(),
        gateway_charge_id: row.gateway_charge_id.clone(),
        erp_posting: erp_posting(state, &row.id).await?,
    })
}

/// `GET /v1/payments?invoice_id=`.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(ListQuery), security(("seller_key" = [])), responses((status = 200, body = PaymentList)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let rows = payments::list(
        &state.db,
        &seller.seller_id,
        query.invoice_id.as_deref(),
        super::page_limit(query.limit),
    )
    .await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        data.push(seller_view(&state, row).await?);
    }
    Ok(HttpResponse::Ok().json(PaymentList { data }))
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
