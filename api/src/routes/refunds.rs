//! Seller refunds (DESIGN section 10): `POST /v1/payments/{id}/refunds` runs [`crate::refund_flow`];
//! `GET /v1/refunds` and `GET /v1/refunds/{id}` read them back.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tranche_domain::wire::Problem;

use crate::auth::Seller;
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::metrics::Metrics;
use crate::payment_flow;
use crate::refund_flow::{self, RefundBody, RefundView};
use crate::routes::page::{List, Listing, PageParams};
use crate::state::AppState;
use crate::store::page::Listed;
use crate::store::refunds;

/// `POST /v1/payments/{id}/refunds` with `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "refunds", request_body = RefundBody,
    params(("id" = String, Path, description = "The payment to refund"),
        ("Idempotency-Key" = String, Header, description = "1-255 printable ASCII characters; retries with the same key replay the first answer")),
    security(("seller_key" = [])),
    responses(
        (status = 201, description = "The refund: `succeeded`, `failed` (no money moved; `failure_code` says why) or `pending` (the gateway's answer is awaited; the reconciler settles it)", body = RefundView),
        (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "payment_not_refundable, or idempotency_key_in_use", body = Problem),
        (status = 422, description = "refund_exceeds_payment (with maximum), an amount error, or idempotency_key_reused", body = Problem)))]
pub async fn create(
    seller: Seller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<JsonObject<RefundBody>>,
) -> ApiResult<HttpResponse> {
    let key = payment_flow::parse_key(req.headers().get("idempotency-key").map(|v| v.as_bytes()))?;
    let answer = refund_flow::refund(&state, &seller.seller_id, &id, &key, &body, seller.actor()).await?;
    if answer.replayed {
        Metrics::inc(&state.metrics.idempotent_replays);
    }
    let status = actix_web::http::StatusCode::from_u16(answer.status)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored status: {e}")))?;
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if answer.replayed {
        response.insert_header(("idempotent-replayed", "true"));
    }
    Ok(response.body(answer.body))
}

/// The refund list's own filter (paging is [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefundFilter {
    /// Only this payment's refunds.
    payment_id: Option<String>,
}

/// `GET /v1/refunds?payment_id=&limit=&starting_after=`: newest first.
#[utoipa::path(get, path = "/v1/refunds", tag = "refunds", params(RefundFilter, PageParams), security(("seller_key" = [])),
    responses((status = 200, body = List<RefundView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<RefundFilter>,
) -> ApiResult<HttpResponse> {
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Refunds)
        .await?;
    let rows = refunds::list(
        &state.db,
        &seller.seller_id,
        query.filter.payment_id.as_deref(),
        &keyset,
    )
    .await?;
    Ok(HttpResponse::Ok().json(List {
        data: rows.rows.iter().map(RefundView::from).collect::<Vec<_>>(),
        has_more: rows.has_more,
    }))
}

/// `GET /v1/refunds/{id}`.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "refunds", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = RefundView), (status = 404, body = Problem)))]
pub async fn get(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = refunds::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("refund"))?;
    Ok(HttpResponse::Ok().json(RefundView::from(&row)))
}
