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
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentList {
    pub data: Vec<SellerPaymentView>,
}

fn seller_view(row: &payments::PaymentRow) -> SellerPaymentView {
    SellerPaymentView {
        payment: row.view(),
        invoice_id: row.invoice_id.clone(),
        decline_code: row.decline_code.clone(),
        gateway: row.gateway.clone(),
        gateway_charge_id: row.gateway_charge_id.clone(),
    }
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
    Ok(HttpResponse::Ok().json(PaymentList {
        data: rows.iter().map(seller_view).collect(),
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
    Ok(HttpResponse::Ok().json(seller_view(&row)))
}
