//! Sellers (operator only), customers and terms profiles (seller scoped).

use actix_web::{web, HttpResponse};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tranche_domain::{Terms, TermsSpec};

use crate::auth::{hash_secret, Operator, Seller};
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use tranche_domain::wire::Problem;

/// `{data: [...]}` list of customers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerList {
    pub data: Vec<CustomerView>,
}

fn text(field: &'static str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid_field",
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':' || b == b'[' || b == b']'
            })
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerRequest {
    name: String,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SellerCreated {
    pub id: String,
    pub name: String,
    pub allowed_origins: Vec<String>,
    /// Shown once; only its hash is stored.
    pub secret_key: String,
}

/// A new secret key: `sk_` and 256 random bits in hex.
pub fn new_secret_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "sk_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Creates a seller and returns it with its secret key (also used by the CLI and the demo).
pub async fn insert_seller(
    state: &AppState,
    name: &str,
    allowed_origins: &[String],
) -> ApiResult<(String, String)> {
    let id = new_id("sel");
    let key = new_secret_key();
    // The seller and its rows in `seller_origins` (what the CORS check looks up) commit together.
    let mut tx = state.db.begin_write().await?;
    sqlx::query("INSERT INTO sellers (id, name, secret_key_hash, allowed_origins, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(name)
        .bind(hash_secret(&key))
        .bind(serde_json::to_string(allowed_origins).map_err(anyhow::Error::from)?)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    for origin in allowed_origins {
        sqlx::query("INSERT INTO seller_origins (seller_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&id)
            .bind(origin)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((id, key))
}

/// `POST /v1/sellers` (operator token).
#[utoipa::path(post, path = "/v1/sellers", tag = "sellers", request_body = SellerRequest, security(("operator_token" = [])), responses((status = 201, body = SellerCreated), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn create_seller(
    _operator: Operator,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<SellerRequest>>,
) -> ApiResult<HttpResponse> {
    let name = text("name", &body.name, 200)?;
    if body.allowed_origins.len() > 20 || !body.allowed_origins.iter().all(|o| valid_origin(o)) {
        return Err(ApiError::invalid(
            "invalid_field",
            "allowed_origins",
            "allowed_origins must be at most 20 origins such as https://shop.example (scheme and host, no path)",
        ));
    }
    let origins: Vec<String> = body
        .allowed_origins
        .iter()
        .map(|o| o.trim_end_matches('/').to_owned())
        .collect();
    let (id, secret_key) = insert_seller(&state, &name, &origins).await?;
    Ok(HttpResponse::Created().json(SellerCreated {
        id,
        name,
        allowed_origins: origins,
        secret_key,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    name: String,
    email: String,
    external_ref: Option<String>,
    terms_id: Option<String>,
    /// Language of receipts: en, de, fr or es (default en).
    locale: Option<String>,
}

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CustomerView {
    id: String,
    name: String,
    email: String,
    external_ref: Option<String>,
    terms_id: Option<String>,
    locale: String,
    #[serde(skip)]
    #[schema(ignore)]
    created_at: i64,
}

fn valid_email(email: &str) -> bool {
    let parts: Vec<&str> = email.split('@').collect();
    email.len() <= 254
        && parts.len() == 2
        && !parts[0].is_empty()
        && parts[1].contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

async fn terms_exists(state: &AppState, seller_id: &str, terms_id: &str) -> ApiResult<bool> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM terms_profiles WHERE id = $1 AND seller_id = $2")
            .bind(terms_id)
            .bind(seller_id)
            .fetch_optional(state.db.pool())
            .await?;
    Ok(row.is_some())
}

/// `POST /v1/customers`.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerRequest, security(("seller_key" = [])), responses((status = 201, body = CustomerView), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn create_customer(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<CustomerRequest>>,
) -> ApiResult<HttpResponse> {
    let name = text("name", &body.name, 200)?;
    let email = body.email.trim().to_owned();
    if !valid_email(&email) {
        return Err(ApiError::invalid(
            "invalid_field",
            "email",
            "email must be an address such as ap@buyer.example",
        ));
    }
    let external_ref = body
        .external_ref
        .as_deref()
        .map(|r| text("external_ref", r, 100))
        .transpose()?;
    if let Some(terms_id) = &body.terms_id {
        if !terms_exists(&state, &seller.seller_id, terms_id).await? {
            return Err(ApiError::invalid(
                "unknown_reference",
                "terms_id",
                "terms_id does not name one of your terms profiles",
            ));
        }
    }
    let locale = body.locale.as_deref().unwrap_or("en");
    if !["en", "de", "fr", "es"].contains(&locale) {
        return Err(ApiError::invalid(
            "invalid_field",
            "locale",
            "locale must be one of en, de, fr, es",
        ));
    }
    let customer = CustomerView {
        id: new_id("cus"),
        name,
        email,
        external_ref,
        terms_id: body.terms_id.clone(),
        locale: locale.to_owned(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO customers (id, seller_id, name, email, external_ref, terms_id, locale, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&customer.id)
    .bind(&seller.seller_id)
    .bind(&customer.name)
    .bind(&customer.email)
    .bind(&customer.external_ref)
    .bind(&customer.terms_id)
    .bind(&customer.locale)
    .bind(customer.created_at)
    .execute(state.db.pool())
    .await?;
    Ok(HttpResponse::Created().json(customer))
}

const CUSTOMER_COLUMNS: &str = "id, name, email, external_ref, terms_id, locale, created_at";

/// `GET /v1/customers/{id}`.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
pub async fn get_customer(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row: Option<CustomerView> = sqlx::query_as(&format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id.as_str())
    .bind(&seller.seller_id)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(HttpResponse::Ok().json(row.ok_or(ApiError::NotFound("customer"))?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// `GET /v1/customers`.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(ListQuery), security(("seller_key" = [])), responses((status = 200, body = CustomerList)))]
pub async fn list_customers(
    seller: Seller,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let rows: Vec<CustomerView> = sqlx::query_as(&format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE seller_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(&seller.seller_id)
    .bind(super::page_limit(query.limit))
    .fetch_all(state.db.pool())
    .await?;
    Ok(HttpResponse::Ok().json(CustomerList { data: rows }))
}

/// `POST /v1/terms` body: a name and the terms (DESIGN section 3).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsRequest {
    name: String,
    allow_partial: bool,
    #[serde(default)]
    minimum_amounts: std::collections::BTreeMap<String, String>,
    minimum_percent: Option<String>,
    presets: Option<Vec<String>>,
    preset_basis: Option<tranche_domain::PresetBasis>,
    early_payment_discount: Option<tranche_domain::DiscountSpec>,
}

/// A terms profile as stored. The fields of `TermsSpec` are spelled out (not flattened) so the published
/// schema stays exact: `TermsSpec` forbids extra fields, which a flattened `allOf` would inherit.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TermsView {
    id: String,
    name: String,
    allow_partial: bool,
    minimum_amounts: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_percent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presets: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset_basis: Option<tranche_domain::PresetBasis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    early_payment_discount: Option<tranche_domain::DiscountSpec>,
    created_at: String,
}

impl TermsView {
    fn new(id: String, name: String, terms: TermsSpec, created_at: String) -> TermsView {
        TermsView {
            id,
            name,
            allow_partial: terms.allow_partial,
            minimum_amounts: terms.minimum_amounts,
            minimum_percent: terms.minimum_percent,
            presets: terms.presets,
            preset_basis: terms.preset_basis,
            early_payment_discount: terms.early_payment_discount,
            created_at,
        }
    }
}

/// `POST /v1/terms`.
#[utoipa::path(post, path = "/v1/terms", tag = "terms", request_body = TermsRequest, security(("seller_key" = [])), responses((status = 201, body = TermsView), (status = 400, body = Problem)))]
pub async fn create_terms(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<TermsRequest>>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner().0;
    let name = text("name", &body.name, 200)?;
    let spec = TermsSpec {
        allow_partial: body.allow_partial,
        minimum_amounts: body.minimum_amounts,
        minimum_percent: body.minimum_percent,
        presets: body.presets,
        preset_basis: body.preset_basis,
        early_payment_discount: body.early_payment_discount,
    };
    let terms =
        Terms::try_from(&spec).map_err(|e| ApiError::invalid("invalid_terms", e.field(), e.to_string()))?;
    // Store the normalised form, so what is read back is what the rules use.
    let normalized = terms.to_spec();
    let id = new_id("trm");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO terms_profiles (id, seller_id, name, spec, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&seller.seller_id)
    .bind(&name)
    .bind(serde_json::to_string(&normalized).map_err(anyhow::Error::from)?)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok(HttpResponse::Created().json(TermsView::new(id, name, normalized, rfc3339(now))))
}

/// `GET /v1/terms/{id}`.
#[utoipa::path(get, path = "/v1/terms/{id}", tag = "terms", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = TermsView), (status = 404, body = Problem)))]
pub async fn get_terms(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, name, spec, created_at FROM terms_profiles WHERE id = $1 AND seller_id = $2",
    )
    .bind(id.as_str())
    .bind(&seller.seller_id)
    .fetch_optional(state.db.pool())
    .await?;
    let (id, name, spec, created_at) = row.ok_or(ApiError::NotFound("terms"))?;
    let terms: TermsSpec = serde_json::from_str(&spec).map_err(anyhow::Error::from)?;
    Ok(HttpResponse::Ok().json(TermsView::new(id, name, terms, rfc3339(created_at))))
}
