//! Seller refunds (DESIGN section 10): `POST /v1/payments/{id}/refunds` runs [`crate::refund_flow`];
//! `GET /v1/refunds` and `GET /v1/refunds/{id}` read them back.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::ErrorCode;

use crate::auth::Seller;
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::metrics::Metrics;
use crate::payment_flow;
use crate::refund_flow::{self, RefundBody, RefundView};
use crate::state::AppState;
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
    let answer = refund_flow::refund(&state, &seller.seller_id, &id, &key, &body).await?;
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this payment's refunds.
    payment_id: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
    /// The id of the last refund of the previous page.
    starting_after: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RefundList {
    pub data: Vec<RefundView>,
    pub has_more: bool,
}

/// `GET /v1/refunds?payment_id=&limit=&starting_after=`: newest first.
#[utoipa::path(get, path = "/v1/refunds", tag = "refunds", params(ListQuery), security(("seller_key" = [])),
    responses((status = 200, body = RefundList), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    // DESIGN section 10: 1-100, default 20, and a limit outside that is refused, never clamped.
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            "limit",
            "limit must be 1 to 100.",
        ));
    }
    let after = match &query.starting_after {
        Some(id) => Some(
            refunds::find(&state.db, &seller.seller_id, id)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::InvalidQuery,
                        "starting_after",
                        "starting_after is not one of your refunds.",
                    )
                })?,
        ),
        None => None,
    };
    let mut rows = refunds::list(
        &state.db,
        &seller.seller_id,
        query.payment_id.as_deref(),
        after.as_ref(),
        limit + 1,
    )
    .await?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(HttpResponse::Ok().json(RefundList {
        data: rows.iter().map(RefundView::from).collect(),
        has_more,
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
