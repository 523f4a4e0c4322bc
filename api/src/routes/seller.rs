//! The calling seller itself: its settings (`GET`/`PATCH /v1/seller`) and its secret keys, rolled with an
//! overlap window (`POST /v1/seller/keys/roll`, DESIGN section 10).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;
use tranche_domain::ErrorCode;

use crate::auth::{hash_secret, last4, Seller};
use crate::db::{new_id, rfc3339};
use crate::error::{ApiError, ApiResult, JsonObject};
use crate::routes::parties::{allowed_origins, new_secret_key, seller_name};
use crate::state::AppState;
use crate::store::seller_keys::{self, KeyRow, NewKey, Rolled};
use crate::store::sellers::{self, SellerChange};

/// How long a rolled key keeps working when the request does not say: a day to deploy the new key.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 86_400;
/// The longest overlap a roll may ask for: a week.
pub const MAX_OVERLAP_SECONDS: i64 = 7 * 86_400;
/// Keys that stopped less than this long ago are still listed, so their last use stays visible.
const LIST_STOPPED_KEYS_FOR_MS: i64 = 30 * 86_400 * 1000;
/// At most this many keys are listed (the newest).
const MAX_KEYS_LISTED: i64 = 20;

/// One of the seller's secret keys. Never the key itself: it is shown once, when made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    /// The key's last four characters. `null` for a key made before keys were listed, until its next use.
    pub last4: Option<String>,
    pub created_at: String,
    /// When the key stops (or stopped) working; `null` for the current key.
    pub expires_at: Option<String>,
    /// The key's last use, to the minute; `null` if it was never used.
    pub last_used_at: Option<String>,
}

impl From<KeyRow> for KeyView {
    fn from(row: KeyRow) -> KeyView {
        KeyView {
            id: row.id,
            last4: row.last4,
            created_at: rfc3339(row.created_at),
            expires_at: row.expires_at.map(rfc3339),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// The seller as it sees itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SellerView {
    pub id: String,
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub created_at: String,
    /// Keys that work, and those that stopped in the last 30 days, newest first (at most 20).
    pub keys: Vec<KeyView>,
    /// Short pays within this are written off (DESIGN 12); `null`: none, every shortfall is an exception.
    pub short_pay_tolerance: Option<crate::routes::exceptions::ToleranceBody>,
}

async fn seller_view(state: &AppState, seller_id: &str) -> ApiResult<SellerView> {
    let row = sellers::find(&state.db, seller_id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the authenticated seller {seller_id} is gone")))?;
    let keys = seller_keys::recent(
        &state.db,
        seller_id,
        state.clock().now_ms(),
        LIST_STOPPED_KEYS_FOR_MS,
        MAX_KEYS_LISTED,
    )
    .await?;
    Ok(SellerView {
        id: row.id,
        name: row.name,
        allowed_origins: row.allowed_origins,
        created_at: rfc3339(row.created_at),
        keys: keys.into_iter().map(KeyView::from).collect(),
        short_pay_tolerance: crate::store::short_pays::tolerance(&state.db, seller_id)
            .await?
            .as_ref()
            .map(crate::routes::exceptions::tolerance_view),
    })
}

/// `GET /v1/seller`: name, allowed origins and keys (last four, made, expires, last used).
#[utoipa::path(get, path = "/v1/seller", tag = "seller", security(("seller_key" = [])),
    responses((status = 200, body = SellerView)))]
pub async fn get(seller: Seller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(seller_view(&state, &seller.seller_id).await?))
}

/// `PATCH /v1/seller` body: each field present replaces the stored value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerPatch {
    /// 1 to 200 characters.
    name: Option<String>,
    /// The whole new list (at most 20 origins such as `https://shop.example`); `[]` allows none.
    allowed_origins: Option<Vec<String>>,
    /// Short pays within this are written off: `{amount: {"USD": "25.00"}, percent: "0.5"}`; both limits
    /// apply when given, one left out does not; `{}` removes the tolerance.
    /// (An object only: serde would also take the struct as an array of its fields.)
    #[schema(value_type = Option<crate::routes::exceptions::ToleranceBody>)]
    short_pay_tolerance: Option<crate::error::JsonObject<crate::routes::exceptions::ToleranceBody>>,
}

/// A seller patch that passed the same validation as seller creation.
struct ValidPatch {
    name: Option<String>,
    origins: Option<Vec<String>>,
    tolerance: Option<tranche_domain::Tolerance>,
}

impl TryFrom<&SellerPatch> for ValidPatch {
    type Error = ApiError;

    fn try_from(body: &SellerPatch) -> ApiResult<ValidPatch> {
        Ok(ValidPatch {
            name: body.name.as_deref().map(seller_name).transpose()?,
            origins: body.allowed_origins.as_deref().map(allowed_origins).transpose()?,
            tolerance: body
                .short_pay_tolerance
                .as_ref()
                .map(|t| crate::routes::exceptions::parse_tolerance(t))
                .transpose()?,
        })
    }
}

/// `PATCH /v1/seller`: renames the seller or replaces its allowed origins (the checkout's CORS check follows
/// at once).
#[utoipa::path(patch, path = "/v1/seller", tag = "seller", request_body = SellerPatch, security(("seller_key" = [])),
    responses((status = 200, body = SellerView), (status = 400, body = Problem)))]
pub async fn update(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<JsonObject<SellerPatch>>,
) -> ApiResult<HttpResponse> {
    let patch = ValidPatch::try_from(&**body)?;
    let change = SellerChange {
        name: patch.name.as_deref(),
        allowed_origins: patch.origins.as_deref(),
    };
    if change.name.is_some() || change.allowed_origins.is_some() {
        let now = state.clock().now_ms();
        sellers::update(&state.db, &seller.seller_id, &change, seller.actor(), now).await?;
    }
    if let Some(tolerance) = &patch.tolerance {
        crate::routes::exceptions::set_tolerance(&state, &seller, tolerance).await?;
    }
    Ok(HttpResponse::Ok().json(seller_view(&state, &seller.seller_id).await?))
}

/// `POST /v1/seller/keys/roll` body.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollRequest {
    /// How long the key making this request keeps working: 0 (it stops at once) to 604800 (7 days);
    /// default 86400.
    #[schema(minimum = 0, maximum = 604800, default = 86400)]
    expire_old_in_seconds: Option<i64>,
}

/// The overlap a roll asked for, within bounds.
struct OverlapSeconds(i64);

impl TryFrom<&RollRequest> for OverlapSeconds {
    type Error = ApiError;

    fn try_from(body: &RollRequest) -> ApiResult<OverlapSeconds> {
        let seconds = body.expire_old_in_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
        if !(0..=MAX_OVERLAP_SECONDS).contains(&seconds) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "expire_old_in_seconds",
                format!("expire_old_in_seconds must be from 0 (at once) to {MAX_OVERLAP_SECONDS} (7 days)"),
            ));
        }
        Ok(OverlapSeconds(seconds))
    }
}

/// A new secret key, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyRolled {
    /// The new key: only its hash is stored.
    pub secret_key: String,
    /// When the key that made this request stops working (now, for `expire_old_in_seconds: 0`).
    pub old_key_expires_at: String,
}

/// `POST /v1/seller/keys/roll`: makes a new key; the key making the request keeps working for the overlap,
/// then stops (an older key still in its own overlap stops no later). Only the current key can roll: a
/// second roll with the same key answers 409 `key_already_rolled` and changes nothing, so two rolls at
/// once leave exactly one new key.
#[utoipa::path(post, path = "/v1/seller/keys/roll", tag = "seller", request_body(content = Option<RollRequest>), security(("seller_key" = [])),
    responses((status = 201, body = KeyRolled), (status = 400, body = Problem),
        (status = 409, body = Problem, description = "`key_already_rolled`: the key making the request was already rolled; use the newest key")))]
pub async fn roll_key(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    // The body is optional, but when present it must be valid.
    let body: RollRequest = crate::error::optional_json(&body)?;
    let OverlapSeconds(overlap) = OverlapSeconds::try_from(&body)?;
    let secret_key = new_secret_key();
    let (key_id, key_hash) = (new_id("key"), hash_secret(&secret_key));
    let now = state.clock().now_ms();
    let old_key_expires_at = now.saturating_add(overlap.saturating_mul(1000));
    let new = NewKey {
        id: &key_id,
        seller_id: &seller.seller_id,
        key_hash: &key_hash,
        last4: last4(&secret_key),
        created_at: now,
    };
    // The new key's last four only: the log never holds a secret.
    let changes = serde_json::json!({
        "new_key_last4": last4(&secret_key),
        "old_key_expires_at": rfc3339(old_key_expires_at),
    });
    let audit = seller.audit("seller.key_rolled", &key_id, changes, now);
    match seller_keys::roll(&state.db, &seller.key_id, &new, old_key_expires_at, &audit).await? {
        Rolled::Rolled => Ok(HttpResponse::Created().json(KeyRolled {
            old_key_expires_at: rfc3339(old_key_expires_at),
            secret_key,
        })),
        Rolled::AlreadyRolled => Err(ApiError::Conflict {
            code: ErrorCode::KeyAlreadyRolled,
            detail: "This key was already rolled: roll with the newest key.".to_owned(),
        }),
    }
}
