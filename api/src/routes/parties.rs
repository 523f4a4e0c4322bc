//! Sellers (operator only), customers and terms profiles (seller scoped).

use actix_web::{web, HttpResponse};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tranche_domain::{ErrorCode, Terms, TermsSpec};

use crate::auth::{hash_secret, Operator, Seller};
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::routes::page::{List, Listing, NoFilter, PageParams};
use crate::state::AppState;
use crate::store::customers::{self, CustomerRow};
use crate::store::page::Listed;
use crate::store::{seller_keys, sellers, terms as terms_store};
use tranche_domain::wire::Problem;

pub(crate) fn text(field: &'static str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
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
    let (key_id, key_hash) = (new_id("key"), hash_secret(&key));
    let now = state.clock().now_ms();
    let seller = sellers::NewSeller {
        id: &id,
        name,
        key: seller_keys::NewKey {
            id: &key_id,
            seller_id: &id,
            key_hash: &key_hash,
            last4: crate::auth::last4(&key),
            created_at: now,
        },
        allowed_origins,
        created_at: now,
    };
    sellers::insert(&state.db, &seller).await?;
    Ok((id, key))
}

/// A seller request that passed validation: a name, and origins without a trailing slash.
struct ValidSeller {
    name: String,
    origins: Vec<String>,
}

impl TryFrom<&SellerRequest> for ValidSeller {
    type Error = ApiError;

    fn try_from(body: &SellerRequest) -> ApiResult<ValidSeller> {
        Ok(ValidSeller {
            name: seller_name(&body.name)?,
            origins: allowed_origins(&body.allowed_origins)?,
        })
    }
}

/// A seller's name, as creation and `PATCH /v1/seller` take it: 1 to 200 characters, trimmed.
pub fn seller_name(name: &str) -> ApiResult<String> {
    text("name", name, 200)
}

/// A seller's `allowed_origins`, as creation and `PATCH /v1/seller` take them: at most 20 origins (scheme
/// and host), without a trailing slash.
pub fn allowed_origins(origins: &[String]) -> ApiResult<Vec<String>> {
    if origins.len() > 20 || !origins.iter().all(|o| valid_origin(o)) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "allowed_origins",
            "allowed_origins must be at most 20 origins such as https://shop.example (scheme and host, no path)",
        ));
    }
    Ok(origins
        .iter()
        .map(|o| o.trim_end_matches('/').to_owned())
        .collect())
}

/// `POST /v1/sellers` (operator token).
#[utoipa::path(post, path = "/v1/sellers", tag = "sellers", request_body = SellerRequest, security(("operator_token" = [])), responses((status = 201, body = SellerCreated), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn create_seller(
    _operator: Operator,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<SellerRequest>>,
) -> ApiResult<HttpResponse> {
    let ValidSeller { name, origins } = ValidSeller::try_from(&**body)?;
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    id: String,
    name: String,
    email: String,
    external_ref: Option<String>,
    terms_id: Option<String>,
    locale: String,
}

impl From<CustomerRow> for CustomerView {
    fn from(row: CustomerRow) -> CustomerView {
        CustomerView {
            id: row.id,
            name: row.name,
            email: row.email,
            external_ref: row.external_ref,
            terms_id: row.terms_id,
            locale: row.locale,
        }
    }
}

pub(crate) fn valid_email(email: &str) -> bool {
    let parts: Vec<&str> = email.split('@').collect();
    email.len() <= 254
        && parts.len() == 2
        && !parts[0].is_empty()
        && parts[1].contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A customer request whose fields passed validation. The terms profile (checked against the store) and
/// then the locale are checked after it, the order in which errors have always been reported.
struct ValidCustomer {
    name: String,
    email: String,
    external_ref: Option<String>,
    terms_id: Option<String>,
}

impl TryFrom<&CustomerRequest> for ValidCustomer {
    type Error = ApiError;

    fn try_from(body: &CustomerRequest) -> ApiResult<ValidCustomer> {
        let name = text("name", &body.name, 200)?;
        let email = body.email.trim().to_owned();
        if !valid_email(&email) {
            return Err(ApiError::invalid(
                ErrorCode::InvalidField,
                "email",
                "email must be an address such as ap@buyer.example",
            ));
        }
        let external_ref = body
            .external_ref
            .as_deref()
            .map(|r| text("external_ref", r, 100))
            .transpose()?;
        Ok(ValidCustomer {
            name,
            email,
            external_ref,
            terms_id: body.terms_id.clone(),
        })
    }
}

/// The receipt language, `en` when absent.
pub(crate) fn locale(value: Option<&str>) -> ApiResult<String> {
    let locale = value.unwrap_or("en");
    if !["en", "de", "fr", "es"].contains(&locale) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "locale",
            "locale must be one of en, de, fr, es",
        ));
    }
    Ok(locale.to_owned())
}

/// `POST /v1/customers`.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = CustomerRequest, security(("seller_key" = [])), responses((status = 201, body = CustomerView), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn create_customer(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<CustomerRequest>>,
) -> ApiResult<HttpResponse> {
    let valid = ValidCustomer::try_from(&**body)?;
    if let Some(terms_id) = &valid.terms_id {
        crate::routes::invoices::usable_terms(&state, &seller.seller_id, terms_id).await?;
    }
    let locale = locale(body.locale.as_deref())?;
    let customer = CustomerRow {
        id: new_id("cus"),
        name: valid.name,
        email: valid.email,
        external_ref: valid.external_ref,
        terms_id: valid.terms_id,
        locale,
        created_at: now_ms(),
    };
    let audit = seller.audit(
        "customer.created",
        &customer.id,
        serde_json::json!({"name": customer.name}),
        customer.created_at,
    );
    customers::insert(&state.db, &seller.seller_id, &customer, &audit).await?;
    Ok(HttpResponse::Created().json(CustomerView::from(customer)))
}

/// `GET /v1/customers/{id}`.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
pub async fn get_customer(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = customers::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    Ok(HttpResponse::Ok().json(CustomerView::from(row)))
}

/// `GET /v1/customers`: newest first, a page at a time.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(PageParams), security(("seller_key" = [])), responses((status = 200, body = List<CustomerView>), (status = 400, body = Problem)))]
pub async fn list_customers(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<NoFilter>,
) -> ApiResult<HttpResponse> {
    let keyset = query
        .page
        .keyset(&state.db, &seller.seller_id, Listed::Customers)
        .await?;
    let rows = customers::list(&state.db, &seller.seller_id, &keyset).await?;
    Ok(HttpResponse::Ok().json(List::of(rows, CustomerView::from)))
}

/// `POST /v1/terms` body: a name and the terms (DESIGN section 3).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsRequest {
    pub(crate) name: String,
    pub(crate) allow_partial: bool,
    #[serde(default)]
    pub(crate) minimum_amounts: std::collections::BTreeMap<String, String>,
    pub(crate) minimum_percent: Option<String>,
    pub(crate) presets: Option<Vec<String>>,
    pub(crate) preset_basis: Option<tranche_domain::PresetBasis>,
    pub(crate) early_payment_discount: Option<tranche_domain::DiscountSpec>,
    /// Payment plan (DESIGN 11): percents summing to 100, each due `on_issue` or `due_in_days`.
    pub(crate) schedule: Option<Vec<tranche_domain::SchedulePartSpec>>,
    pub(crate) reminders: Option<tranche_domain::RemindersSpec>,
    pub(crate) late_fee: Option<tranche_domain::LateFeeSpec>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<Vec<tranche_domain::SchedulePartSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reminders: Option<tranche_domain::RemindersSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    late_fee: Option<tranche_domain::LateFeeSpec>,
    created_at: String,
    /// When the profile was archived (`POST /v1/terms/{id}/archive`); `null` while it can be given out.
    archived_at: Option<String>,
}

impl From<terms_store::TermsRow> for TermsView {
    fn from(row: terms_store::TermsRow) -> TermsView {
        let terms = row.spec;
        TermsView {
            id: row.id,
            name: row.name,
            allow_partial: terms.allow_partial,
            minimum_amounts: terms.minimum_amounts,
            minimum_percent: terms.minimum_percent,
            presets: terms.presets,
            preset_basis: terms.preset_basis,
            early_payment_discount: terms.early_payment_discount,
            schedule: terms.schedule,
            reminders: terms.reminders,
            late_fee: terms.late_fee,
            created_at: rfc3339(row.created_at),
            archived_at: row.archived_at.map(rfc3339),
        }
    }
}

/// A terms request that passed validation: a name and the terms in their normalised form (what is stored is
/// what the rules use).
pub(crate) struct ValidTerms {
    pub(crate) name: String,
    pub(crate) spec: TermsSpec,
}

impl TryFrom<TermsRequest> for ValidTerms {
    type Error = ApiError;

    fn try_from(body: TermsRequest) -> ApiResult<ValidTerms> {
        let name = text("name", &body.name, 200)?;
        let spec = TermsSpec {
            allow_partial: body.allow_partial,
            minimum_amounts: body.minimum_amounts,
            minimum_percent: body.minimum_percent,
            presets: body.presets,
            preset_basis: body.preset_basis,
            early_payment_discount: body.early_payment_discount,
            schedule: body.schedule,
            reminders: body.reminders,
            late_fee: body.late_fee,
        };
        let terms =
            Terms::try_from(&spec).map_err(|e| ApiError::invalid(e.code(), e.field(), e.to_string()))?;
        Ok(ValidTerms {
            name,
            spec: terms.to_spec(),
        })
    }
}

/// `POST /v1/terms`.
#[utoipa::path(post, path = "/v1/terms", tag = "terms", request_body = TermsRequest, security(("seller_key" = [])), responses((status = 201, body = TermsView), (status = 400, body = Problem)))]
pub async fn create_terms(
    seller: Seller,
    state: web::Data<AppState>,
    body: web::Json<crate::error::JsonObject<TermsRequest>>,
) -> ApiResult<HttpResponse> {
    let ValidTerms { name, spec } = ValidTerms::try_from(body.into_inner().0)?;
    let row = terms_store::TermsRow {
        id: new_id("trm"),
        name,
        spec,
        created_at: now_ms(),
        archived_at: None,
    };
    let audit = seller.audit(
        "terms.created",
        &row.id,
        serde_json::json!({"name": row.name}),
        row.created_at,
    );
    terms_store::insert(&state.db, &seller.seller_id, &row, &audit).await?;
    Ok(HttpResponse::Created().json(TermsView::from(row)))
}

/// `GET /v1/terms/{id}`.
#[utoipa::path(get, path = "/v1/terms/{id}", tag = "terms", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = TermsView), (status = 404, body = Problem)))]
pub async fn get_terms(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = terms_store::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("terms"))?;
    Ok(HttpResponse::Ok().json(TermsView::from(row)))
}
