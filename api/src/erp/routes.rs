//! Seller routes for ERP posting: endpoints, deliveries (list, replay) and receipt wording.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;

use crate::auth::Seller;
use crate::db::{new_id, now_ms, rfc3339};
use crate::erp::signature;
use crate::error::{ApiError, ApiResult};
use crate::masking::Secret;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// Where to POST: your webhook receiver, or the QuickBooks Online payment URL
    /// (`https://quickbooks.api.intuit.com/v3/company/{realm}/payment`).
    url: String,
    /// `webhook` or `quickbooks`.
    kind: String,
    /// QuickBooks only: OAuth access token for this endpoint (else the server's configured token).
    #[schema(value_type = Option<String>)]
    access_token: Option<Secret>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: String,
    url: String,
    kind: String,
    disabled_at: Option<String>,
    disabled_reason: Option<String>,
    created_at: String,
    /// Returned once, at creation: verify `webhook-signature` with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    data: Vec<EndpointView>,
}

type EndpointRow = (String, String, String, Option<i64>, Option<String>, i64);

fn endpoint_view(row: EndpointRow, secret: Option<String>) -> EndpointView {
    let (id, url, kind, disabled_at, disabled_reason, created_at) = row;
    EndpointView {
        id,
        url,
        kind,
        disabled_at: disabled_at.map(rfc3339),
        disabled_reason,
        created_at: rfc3339(created_at),
        signing_secret: secret,
    }
}

fn valid_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `POST /v1/erp/endpoints` -> the endpoint with its signing secret (shown once).
#[utoipa::path(post, path = "/v1/erp/endpoints", tag = "erp", request_body = EndpointRequest, security(("seller_key" = [])),
    responses((status = 201, body = EndpointView), (status = 400, body = Problem)))]
pub async fn create_endpoint(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<EndpointRequest>>,
) -> ApiResult<HttpResponse> {
    if !valid_url(&body.url) {
        return Err(ApiError::invalid(
            "invalid_field",
            "url",
            "url must be an http(s) URL",
        ));
    }
    if body.kind != "webhook" && body.kind != "quickbooks" {
        return Err(ApiError::invalid(
            "invalid_field",
            "kind",
            "kind must be webhook or quickbooks",
        ));
    }
    let id = new_id("erp");
    let secret = signature::new_secret();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO erp_endpoints (id, seller_id, kind, url, signing_secret, access_token, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&seller.seller_id)
    .bind(&body.kind)
    .bind(&body.url)
    .bind(&secret)
    .bind(body.access_token.as_ref().map(|t| t.expose().to_owned()))
    .bind(now)
    .execute(state.db.pool())
    .await?;
    let view = endpoint_view(
        (id, body.url.clone(), body.kind.clone(), None, None, now),
        Some(secret),
    );
    Ok(HttpResponse::Created().json(view))
}

const ENDPOINT_COLUMNS: &str = "id, url, kind, disabled_at, disabled_reason, created_at";

/// `GET /v1/erp/endpoints`.
#[utoipa::path(get, path = "/v1/erp/endpoints", tag = "erp", security(("seller_key" = [])), responses((status = 200, body = EndpointList)))]
pub async fn list_endpoints(seller: Seller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM erp_endpoints WHERE seller_id = $1 ORDER BY created_at, id"
    ))
    .bind(&seller.seller_id)
    .fetch_all(state.db.pool())
    .await?;
    Ok(HttpResponse::Ok().json(EndpointList {
        data: rows.into_iter().map(|r| endpoint_view(r, None)).collect(),
    }))
}

/// `GET /v1/erp/endpoints/{id}`.
#[utoipa::path(get, path = "/v1/erp/endpoints/{id}", tag = "erp", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = EndpointView), (status = 404, body = Problem)))]
pub async fn get_endpoint(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row: Option<EndpointRow> = sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM erp_endpoints WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id.as_str())
    .bind(&seller.seller_id)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(HttpResponse::Ok().json(endpoint_view(row.ok_or(ApiError::NotFound("endpoint"))?, None)))
}

/// `DELETE /v1/erp/endpoints/{id}`: stops deliveries to it (pending ones are dead-lettered).
#[utoipa::path(delete, path = "/v1/erp/endpoints/{id}", tag = "erp", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_endpoint(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let mut tx = state.db.begin_write().await?;
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE erp_endpoints SET disabled_at = COALESCE(disabled_at, $1), disabled_reason = COALESCE(disabled_reason, 'deleted') \
         WHERE id = $2 AND seller_id = $3",
    )
    .bind(now)
    .bind(id.as_str())
    .bind(&seller.seller_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(ApiError::NotFound("endpoint"));
    }
    sqlx::query("UPDATE deliveries SET status = 'dead', last_error = 'endpoint deleted' WHERE endpoint_id = $1 AND status = 'pending'")
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
    // Deliveries reference the endpoint, so the row stays (disabled) for their history.
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `pending`, `delivered` or `dead`.
    status: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DeliveryView {
    id: String,
    event_id: String,
    event_type: String,
    endpoint_id: Option<String>,
    kind: String,
    status: String,
    attempts: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    next_attempt_at_ms: i64,
    #[serde(skip)]
    #[schema(ignore)]
    delivered_at_ms: Option<i64>,
    #[sqlx(default)]
    next_attempt_at: Option<String>,
    #[sqlx(default)]
    delivered_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    data: Vec<DeliveryView>,
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.event_id, o.event_type, d.endpoint_id, d.kind, d.status, d.attempts, \
     d.last_status_code, d.last_error, d.next_attempt_at AS next_attempt_at_ms, d.delivered_at AS delivered_at_ms \
     FROM deliveries d JOIN outbox o ON o.id = d.event_id";

fn finish(mut view: DeliveryView) -> DeliveryView {
    view.next_attempt_at = (view.status == "pending").then(|| rfc3339(view.next_attempt_at_ms));
    view.delivered_at = view.delivered_at_ms.map(rfc3339);
    view
}

/// `GET /v1/erp/deliveries?status=`.
#[utoipa::path(get, path = "/v1/erp/deliveries", tag = "erp", params(DeliveryQuery), security(("seller_key" = [])),
    responses((status = 200, body = DeliveryList), (status = 400, body = Problem)))]
pub async fn list_deliveries(
    seller: Seller,
    state: web::Data<AppState>,
    query: web::Query<DeliveryQuery>,
) -> ApiResult<HttpResponse> {
    if let Some(status) = &query.status {
        if !["pending", "delivered", "dead"].contains(&status.as_str()) {
            return Err(ApiError::invalid(
                "invalid_query",
                "status",
                "status must be pending, delivered or dead",
            ));
        }
    }
    let rows: Vec<DeliveryView> = sqlx::query_as(&format!(
        "{DELIVERY_SELECT} WHERE d.seller_id = $1 AND ($2 IS NULL OR d.status = $2) ORDER BY d.created_at DESC, d.id DESC LIMIT $3"
    ))
    .bind(&seller.seller_id)
    .bind(query.status.as_deref())
    .bind(crate::routes::page_limit(query.limit))
    .fetch_all(state.db.pool())
    .await?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        data: rows.into_iter().map(finish).collect(),
    }))
}

/// `POST /v1/erp/deliveries/{id}/retry`: replays a delivery now (dead ones too).
#[utoipa::path(post, path = "/v1/erp/deliveries/{id}/retry", tag = "erp", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_delivery(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let disabled: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT e.disabled_at FROM deliveries d LEFT JOIN erp_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1 AND d.seller_id = $2",
    )
    .bind(id.as_str())
    .bind(&seller.seller_id)
    .fetch_optional(state.db.pool())
    .await?;
    match disabled {
        None => return Err(ApiError::NotFound("delivery")),
        Some((Some(_),)) => {
            return Err(ApiError::Conflict {
                code: "endpoint_disabled",
                detail: "The endpoint is disabled; create a new endpoint to receive events again.".to_owned(),
            })
        }
        Some((None,)) => {}
    }
    // Never while a relay holds the delivery (an attempt in flight): clearing its lease would let a second
    // relay send it concurrently.
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, locked_until = NULL \
         WHERE id = $2 AND seller_id = $3 AND (locked_until IS NULL OR locked_until < $1)",
    )
    .bind(now)
    .bind(id.as_str())
    .bind(&seller.seller_id)
    .execute(state.db.pool())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::Conflict {
            code: "delivery_in_progress",
            detail: "An attempt of this delivery is in flight; retry after it finishes.".to_owned(),
        });
    }
    state.relay_wakeup.notify_one();
    let row: DeliveryView = sqlx::query_as(&format!("{DELIVERY_SELECT} WHERE d.id = $1"))
        .bind(id.as_str())
        .fetch_one(state.db.pool())
        .await?;
    Ok(HttpResponse::Ok().json(finish(row)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSettings {
    /// Subject template; placeholders `{seller}`, `{invoice}`, `{amount}`, `{balance}`. Null restores the default.
    subject: Option<String>,
    /// First sentence of the email, same placeholders.
    intro: Option<String>,
}

/// `PUT /v1/settings/receipts`: the seller's own receipt wording.
#[utoipa::path(put, path = "/v1/settings/receipts", tag = "erp", request_body = ReceiptSettings, security(("seller_key" = [])),
    responses((status = 204), (status = 400, body = Problem)))]
pub async fn put_receipt_settings(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<ReceiptSettings>>,
) -> ApiResult<HttpResponse> {
    for (field, value) in [("subject", &body.subject), ("intro", &body.intro)] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > 500 || v.chars().any(|c| c == '\r' || c == '\n'))
        {
            return Err(ApiError::invalid(
                "invalid_field",
                field,
                format!("{field} must be one line of at most 500 characters"),
            ));
        }
    }
    sqlx::query("UPDATE sellers SET receipt_subject = $1, receipt_intro = $2 WHERE id = $3")
        .bind(&body.subject)
        .bind(&body.intro)
        .bind(&seller.seller_id)
        .execute(state.db.pool())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
