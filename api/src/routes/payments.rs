//! Seller view of payments.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Seller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::payments;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    invoice_id: Option<String>,
    limit: Option<i64>,
}

fn seller_view(row: &payments::PaymentRow) -> serde_json::Value {
    let mut value = serde_json::to_value(row.view()).unwrap_or_else(|_| json!({}));
    if let Some(object) = value.as_object_mut() {
        object.insert("invoice_id".into(), json!(row.invoice_id));
        object.insert("decline_code".into(), json!(row.decline_code));
        object.insert("gateway".into(), json!(row.gateway));
        object.insert("gateway_charge_id".into(), json!(row.gateway_charge_id));
    }
    value
}

/// `GET /v1/payments?invoice_id=`.
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
    Ok(HttpResponse::Ok().json(json!({ "data": rows.iter().map(seller_view).collect::<Vec<_>>() })))
}

/// `GET /v1/payments/{id}`.
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
