//! Seller routes for ERP posting: endpoints, deliveries (list, replay) and receipt wording.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::ErrorCode;

use crate::auth::Seller;
use crate::db::{new_id, now_ms, rfc3339};
use crate::erp::{quickbooks_oauth, signature};
use crate::error::{ApiError, ApiResult};
use crate::masking::Secret;
use crate::outbound::DestinationError;
use crate::routes::page::{List, Listing, NoFilter, PageParams};
use crate::state::AppState;
use crate::store::deliveries::{self, DeliveryRow, DeliveryStatus, ReplayState};
use crate::store::endpoints::{self, EndpointKind, EndpointRow, NewEndpoint};
use crate::store::page::Listed;
use crate::store::sellers;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// `webhook` or `quickbooks`.
    kind: String,
    /// Where to POST: your webhook receiver, or the QuickBooks Online payment URL
    /// (`https://quickbooks.api.intuit.com/v3/company/{realm_id}/payment`, or the sandbox host).
    url: String,
    /// QuickBooks only (required): the company id.
    realm_id: Option<String>,
    /// QuickBooks only (required): your Intuit app's client id.
    client_id: Option<String>,
    /// QuickBooks only (required): your Intuit app's client secret. Never shown again.
    #[schema(value_type = Option<String>)]
    client_secret: Option<Secret>,
    /// QuickBooks only (required): the company's OAuth refresh token. Never shown again; Tranche keeps
    /// the rotated one.
    #[schema(value_type = Option<String>)]
    refresh_token: Option<Secret>,
    /// QuickBooks only: Intuit's OAuth token endpoint (the default:
    /// `https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer`).
    token_url: Option<String>,
    /// QuickBooks only: the id of the account refunds are paid from (a Bank or Other Current Asset
    /// account; RefundReceipt's `DepositToAccountRef`). Without it, refunds are not posted to QuickBooks.
    refund_account_id: Option<String>,
    /// QuickBooks only: the id of the item a refund's line names (RefundReceipt's `ItemRef`), e.g. a
    /// "Refunds" service item. Without it, refunds are not posted to QuickBooks.
    refund_item_id: Option<String>,
    /// QuickBooks only: the id of the item a late fee's invoice line names (e.g. a "Late fee" service item).
    /// Without it, late fees are not posted to QuickBooks.
    late_fee_item_id: Option<String>,
    /// QuickBooks only: the id of the item a short pay's write-off is booked with (a CreditMemo line's
    /// `ItemRef`: a service item on the fee-variance expense account). Without it, write-offs are not
    /// posted to QuickBooks.
    writeoff_item_id: Option<String>,
}

/// A QuickBooks endpoint's credentials, validated.
struct QuickBooksCredentials<'a> {
    realm_id: &'a str,
    client_id: &'a str,
    client_secret: &'a Secret,
    refresh_token: &'a Secret,
    token_url: String,
    refund_account_id: Option<&'a str>,
    refund_item_id: Option<&'a str>,
    late_fee_item_id: Option<&'a str>,
}

fn required<'a, T>(value: &'a Option<T>, field: &str) -> ApiResult<&'a T> {
    value.as_ref().ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::MissingField,
            field,
            format!("{field} is required for quickbooks endpoints"),
        )
    })
}

fn one_token(value: &str, field: &str, max: usize) -> ApiResult<()> {
    if value.is_empty() || value.len() > max || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} must be 1 to {max} characters without spaces"),
        ));
    }
    Ok(())
}

/// Per kind: a webhook takes only its URL; a QuickBooks endpoint needs its owner's OAuth credentials.
fn credentials(kind: EndpointKind, body: &EndpointRequest) -> ApiResult<Option<QuickBooksCredentials<'_>>> {
    if kind == EndpointKind::Webhook {
        let extra = [
            ("realm_id", body.realm_id.is_some()),
            ("client_id", body.client_id.is_some()),
            ("client_secret", body.client_secret.is_some()),
            ("refresh_token", body.refresh_token.is_some()),
            ("token_url", body.token_url.is_some()),
            ("refund_account_id", body.refund_account_id.is_some()),
            ("refund_item_id", body.refund_item_id.is_some()),
            ("late_fee_item_id", body.late_fee_item_id.is_some()),
            ("writeoff_item_id", body.writeoff_item_id.is_some()),
        ];
        if let Some((field, _)) = extra.iter().find(|(_, present)| *present) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                *field,
                format!("{field} is only for quickbooks endpoints"),
            ));
        }
        return Ok(None);
    }
    let realm_id = required(&body.realm_id, "realm_id")?;
    if realm_id.is_empty() || realm_id.len() > 32 || !realm_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "realm_id",
            "realm_id must be the company id (digits)",
        ));
    }
    let client_id = required(&body.client_id, "client_id")?;
    one_token(client_id, "client_id", 200)?;
    let client_secret = required(&body.client_secret, "client_secret")?;
    one_token(client_secret.expose(), "client_secret", 200)?;
    let refresh_token = required(&body.refresh_token, "refresh_token")?;
    one_token(refresh_token.expose(), "refresh_token", 2000)?;
    let token_url = body
        .token_url
        .clone()
        .unwrap_or_else(|| quickbooks_oauth::DEFAULT_TOKEN_URL.to_owned());
    if !valid_url(&token_url) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "token_url",
            "token_url must be an http(s) URL",
        ));
    }
    // The payment URL names the company: it must be this realm's.
    let path = body.url.split(['?', '#']).next().unwrap_or("");
    if !path.contains(&format!("/company/{realm_id}/")) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "url",
            "url must be the payment URL of realm_id's company (/v3/company/{realm_id}/payment)",
        ));
    }
    // QuickBooks entity ids are digits; anything else would be refused by Intuit on every refund.
    for (field, value) in [
        ("refund_account_id", &body.refund_account_id),
        ("refund_item_id", &body.refund_item_id),
        ("late_fee_item_id", &body.late_fee_item_id),
        ("writeoff_item_id", &body.writeoff_item_id),
    ] {
        if let Some(id) = value {
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::invalid(
                    ErrorCode::InvalidField,
                    field,
                    format!("{field} must be a QuickBooks id (digits)"),
                ));
            }
        }
    }
    Ok(Some(QuickBooksCredentials {
        realm_id,
        client_id,
        client_secret,
        refresh_token,
        token_url,
        refund_account_id: body.refund_account_id.as_deref(),
        refund_item_id: body.refund_item_id.as_deref(),
        late_fee_item_id: body.late_fee_item_id.as_deref(),
    }))
}

/// Checks a seller-chosen URL against the destination policy (and, for QuickBooks, Intuit's hosts):
/// 400 when it is not a usable URL, 422 `destination_not_allowed` when it reaches a refused place.
async fn allowed_destination(
    state: &AppState,
    field: &str,
    url: &str,
    intuit_hosts: Option<&[&str]>,
) -> ApiResult<()> {
    let policy = state.settings.destination_policy();
    if let Some(hosts) = intuit_hosts {
        let parsed = reqwest::Url::parse(url).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                format!("{field} must be an http(s) URL"),
            )
        })?;
        if !policy.allow_private {
            if !quickbooks_oauth::is_intuit(&parsed, hosts) {
                return Err(ApiError::destination_not_allowed(format!(
                    "{field} must be on {} (https)",
                    hosts.join(" or ")
                )));
            }
            // Intuit's own hosts: nothing to resolve now (the relay checks again before sending).
            return Ok(());
        }
    }
    match policy.check_url(url).await {
        Ok(_) => Ok(()),
        Err(DestinationError::InvalidUrl) => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} must be an http(s) URL"),
        )),
        Err(DestinationError::Credentials) => Err(ApiError::invalid(
            ErrorCode::InvalidField,
            field,
            format!("{field} must not carry a user name or password"),
        )),
        Err(error @ (DestinationError::Private | DestinationError::Unresolvable)) => {
            Err(ApiError::destination_not_allowed(format!("{field}: {error}")))
        }
    }
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

fn endpoint_view(row: EndpointRow, secret: Option<String>) -> EndpointView {
    EndpointView {
        id: row.id,
        url: row.url,
        kind: row.kind.as_str().to_owned(),
        disabled_at: row.disabled_at.map(rfc3339),
        disabled_reason: row.disabled_reason,
        created_at: rfc3339(row.created_at),
        signing_secret: secret,
    }
}

fn valid_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An endpoint request checked for shape at the edge: a known kind, an http(s) URL, and exactly the
/// credentials its kind needs. The destination policy (which may resolve names) runs after, in the handler.
struct ValidEndpoint<'a> {
    kind: EndpointKind,
    url: &'a str,
    quickbooks: Option<QuickBooksCredentials<'a>>,
}

impl<'a> TryFrom<&'a EndpointRequest> for ValidEndpoint<'a> {
    type Error = ApiError;

    fn try_from(body: &'a EndpointRequest) -> ApiResult<ValidEndpoint<'a>> {
        let kind = EndpointKind::parse(&body.kind).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidField,
                "kind",
                "kind must be webhook or quickbooks",
            )
        })?;
        if !valid_url(&body.url) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "url",
                "url must be an http(s) URL",
            ));
        }
        Ok(ValidEndpoint {
            kind,
            url: &body.url,
            quickbooks: credentials(kind, body)?,
        })
    }
}

/// `POST /v1/erp/endpoints` -> the endpoint with its signing secret (shown once).
#[utoipa::path(post, path = "/v1/erp/endpoints", tag = "erp", request_body = EndpointRequest, security(("seller_key" = [])),
    responses((status = 201, body = EndpointView), (status = 400, body = Problem),
        (status = 409, body = Problem, description = "`endpoint_limit_reached`: the seller has `TRANCHE_ERP_MAX_ENDPOINTS_PER_SELLER` active endpoints"),
        (status = 422, body = Problem, description = "`destination_not_allowed`")))]
pub async fn create_endpoint(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<EndpointRequest>>,
) -> ApiResult<HttpResponse> {
    let ValidEndpoint {
        kind,
        url,
        quickbooks,
    } = ValidEndpoint::try_from(&**body)?;
    let (api_hosts, token_hosts) = (
        Some(quickbooks_oauth::API_HOSTS),
        Some(quickbooks_oauth::TOKEN_HOSTS),
    );
    allowed_destination(&state, "url", url, quickbooks.as_ref().and(api_hosts)).await?;
    if let Some(qb) = &quickbooks {
        allowed_destination(&state, "token_url", &qb.token_url, token_hosts).await?;
    }
    let id = new_id("erp");
    let secret = signature::new_secret();
    let seal = |column: &str, value: &str| {
        state
            .secrets
            .seal(&format!("erp_endpoints.{column}:{id}"), value)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("sealing an endpoint secret")))
    };
    let sealed_secret = seal("signing_secret", &secret)?;
    let (client_secret, refresh_token) = match &quickbooks {
        Some(qb) => (
            Some(seal("client_secret", qb.client_secret.expose())?),
            Some(seal("refresh_token", qb.refresh_token.expose())?),
        ),
        None => (None, None),
    };
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    // The seller's row serialises concurrent creations, so the cap holds under parallel requests.
    sellers::lock_seller(&mut tx, &state.db, &seller.seller_id).await?;
    let active = endpoints::count_active(&mut tx, &seller.seller_id).await?;
    let cap = i64::from(state.settings.erp.max_endpoints_per_seller);
    if active >= cap {
        tx.rollback().await?;
        return Err(ApiError::Conflict {
            code: ErrorCode::EndpointLimitReached,
            detail: format!("A seller can have at most {cap} active endpoints; delete one first."),
        });
    }
    let new = NewEndpoint {
        id: &id,
        seller_id: &seller.seller_id,
        kind,
        url,
        signing_secret: &sealed_secret,
        realm_id: quickbooks.as_ref().map(|q| q.realm_id),
        client_id: quickbooks.as_ref().map(|q| q.client_id),
        client_secret: client_secret.as_deref(),
        refresh_token: refresh_token.as_deref(),
        token_url: quickbooks.as_ref().map(|q| q.token_url.as_str()),
        refund_account_id: quickbooks.as_ref().and_then(|q| q.refund_account_id),
        refund_item_id: quickbooks.as_ref().and_then(|q| q.refund_item_id),
        late_fee_item_id: quickbooks.as_ref().and_then(|q| q.late_fee_item_id),
        created_at: now,
    };
    endpoints::insert(&mut tx, &new).await?;
    if let Some(item) = body.writeoff_item_id.as_deref().filter(|_| quickbooks.is_some()) {
        crate::store::short_pays::set_writeoff_item(&mut tx, &seller.seller_id, &id, item).await?;
    }
    // The URL without its query (which may carry a token); never the signing secret or credentials.
    let changes =
        serde_json::json!({"kind": kind.as_str(), "url": url.split('?').next().unwrap_or_default()});
    crate::store::audit::record(&mut tx, &seller.audit("erp_endpoint.created", &id, changes, now)).await?;
    tx.commit().await?;
    let row = EndpointRow {
        id,
        url: url.to_owned(),
        kind,
        disabled_at: None,
        disabled_reason: None,
        created_at: now,
    };
    Ok(HttpResponse::Created().json(endpoint_view(row, Some(secret))))
}

/// `GET /v1/erp/endpoints`: newest first (deleted ones too, disabled), a page at a time.
#[utoipa::path(get, path = "/v1/erp/endpoints", tag = "erp", params(PageParams), security(("seller_key" = [])),
    responses((status = 200, body = List<EndpointView>), (status = 400, body = Problem)))]
pub async fn list_endpoints(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<NoFilter>,
) -> ApiResult<HttpResponse> {
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Endpoints)
        .await?;
    let rows = endpoints::list(&state.db, &seller.seller_id, &keyset).await?;
    Ok(HttpResponse::Ok().json(List::of(rows, |r| endpoint_view(r, None))))
}

/// `GET /v1/erp/endpoints/{id}`.
#[utoipa::path(get, path = "/v1/erp/endpoints/{id}", tag = "erp", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = EndpointView), (status = 404, body = Problem)))]
pub async fn get_endpoint(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = endpoints::find(&state.db, &seller.seller_id, &id).await?;
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
    if !endpoints::mark_deleted(&mut tx, &seller.seller_id, &id, now).await? {
        tx.rollback().await?;
        return Err(ApiError::NotFound("endpoint"));
    }
    deliveries::dead_letter_deleted(&mut tx, &id).await?;
    let changes = serde_json::json!({"deleted_at": crate::db::rfc3339(now)});
    crate::store::audit::record(&mut tx, &seller.audit("erp_endpoint.deleted", &id, changes, now)).await?;
    // Deliveries reference the endpoint, so the row stays (disabled) for their history.
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The delivery list's own filter (paging is [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFilter {
    /// `pending`, `delivered` or `dead`.
    status: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
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
    next_attempt_at: Option<String>,
    delivered_at: Option<String>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> DeliveryView {
        DeliveryView {
            next_attempt_at: (row.status == DeliveryStatus::Pending).then(|| rfc3339(row.next_attempt_at)),
            delivered_at: row.delivered_at.map(rfc3339),
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type.as_str().to_owned(),
            endpoint_id: row.endpoint_id,
            kind: row.kind.as_str().to_owned(),
            status: row.status.as_str().to_owned(),
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
        }
    }
}

/// `GET /v1/erp/deliveries?status=`: newest first, a page at a time.
#[utoipa::path(get, path = "/v1/erp/deliveries", tag = "erp", params(PageParams, DeliveryFilter), security(("seller_key" = [])),
    responses((status = 200, body = List<DeliveryView>), (status = 400, body = Problem)))]
pub async fn list_deliveries(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<DeliveryFilter>,
) -> ApiResult<HttpResponse> {
    let status = query
        .filter
        .status
        .as_deref()
        .map(DeliveryStatus::parse)
        .transpose()
        .map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidQuery,
                "status",
                "status must be pending, delivered or dead",
            )
        })?;
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Deliveries)
        .await?;
    let rows = deliveries::list(&state.db, &seller.seller_id, status, &keyset).await?;
    Ok(HttpResponse::Ok().json(List::of(rows, DeliveryView::from)))
}

/// `POST /v1/erp/deliveries/{id}/retry`: replays a dead delivery, or a failing one now instead of at its
/// next scheduled attempt. A delivered one, or one that has not failed yet, is not retried (409
/// `delivery_not_retryable`): a replay would send the buyer another receipt and mint another link.
#[utoipa::path(post, path = "/v1/erp/deliveries/{id}/retry", tag = "erp", params(("id" = String, Path)), security(("seller_key" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`delivery_not_retryable`, `delivery_in_progress` or `endpoint_disabled`")))]
pub async fn retry_delivery(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let found = deliveries::replay_state(&state.db, &seller.seller_id, &id).await?;
    let not_retryable = || ApiError::Conflict {
        code: ErrorCode::DeliveryNotRetryable,
        detail: "Only a dead delivery, or one whose last attempt failed, can be retried.".to_owned(),
    };
    match found {
        None => return Err(ApiError::NotFound("delivery")),
        Some(ReplayState {
            endpoint_disabled_at: Some(_),
            ..
        }) => {
            return Err(ApiError::Conflict {
                code: ErrorCode::EndpointDisabled,
                detail: "The endpoint is disabled; create a new endpoint to receive events again.".to_owned(),
            })
        }
        Some(ReplayState {
            status,
            last_error,
            endpoint_disabled_at: None,
        }) => {
            let failed = status == DeliveryStatus::Pending && last_error.is_some();
            if !(status == DeliveryStatus::Dead || failed) {
                return Err(not_retryable());
            }
        }
    }
    // Never while a relay holds the delivery (an attempt in flight): clearing its lease would let a second
    // relay send it concurrently. The status condition is repeated so a delivery that was delivered
    // since the check above is not sent again.
    let now = now_ms();
    if !deliveries::requeue(&state.db, &seller.seller_id, &id, now, seller.actor()).await? {
        if deliveries::status(&state.db, &id).await? == DeliveryStatus::Delivered {
            return Err(not_retryable());
        }
        return Err(ApiError::Conflict {
            code: ErrorCode::DeliveryInProgress,
            detail: "An attempt of this delivery is in flight; retry after it finishes.".to_owned(),
        });
    }
    state.relay_wakeup.notify_one();
    let row = deliveries::get(&state.db, &id).await?;
    Ok(HttpResponse::Ok().json(DeliveryView::from(row)))
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
                ErrorCode::InvalidField,
                field,
                format!("{field} must be one line of at most 500 characters"),
            ));
        }
    }
    let changes = serde_json::json!({"subject": body.subject, "intro": body.intro});
    let audit = seller.audit("settings.receipts_updated", &seller.seller_id, changes, now_ms());
    sellers::set_receipt_settings(
        &state.db,
        &seller.seller_id,
        body.subject.as_deref(),
        body.intro.as_deref(),
        &audit,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
