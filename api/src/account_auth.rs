//! The fourth kind of caller: a buyer's browser holding an account token, for every open invoice of one
//! customer of one seller (DESIGN 12). An extractor, as the other kinds are, so an account handler cannot
//! forget to authenticate. A checkout token is refused here (its audience differs, and its `jti` is in
//! another table), and an account token is refused by [`crate::auth::Checkout`] the same way.

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tranche_domain::ErrorCode;

use crate::auth::{bearer, check_origin_among, link_usable, state, token_refused, Checkout};
use crate::error::ApiError;
use crate::gateway::TokenBinding;
use crate::state::AppState;

const INVALID_TOKEN: ApiError = ApiError::Unauthorized {
    code: ErrorCode::InvalidCheckoutToken,
    detail: "This account link is invalid, expired or revoked. Ask the seller for a new link.",
};

/// A buyer holding a valid account token.
#[derive(Debug, Clone)]
pub struct Account {
    pub seller_id: String,
    pub customer_id: String,
    pub link_id: String,
    pub seller_name: String,
    pub customer_name: String,
    allowed_origins: String,
}

impl Account {
    /// Verifies a raw account token and its link (not revoked, not expired, same customer and seller).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Account, ApiError> {
        let claims = state
            .keys
            .verify_account(token)
            .map_err(|e| token_refused(state, "account", &e))?;
        let link = crate::store::account_links::by_jti(&state.db, &claims.jti)
            .await?
            .ok_or_else(|| token_refused(state, "account", &"unknown jti"))?;
        let names_it = link.customer_id == claims.sub && link.seller_id == claims.sid;
        link_usable(state, "account", link.revoked_at, link.expires_at, names_it)?;
        Ok(Account {
            seller_id: link.seller_id,
            customer_id: link.customer_id,
            link_id: link.id,
            seller_name: link.seller_name,
            customer_name: link.customer_name,
            allowed_origins: link.allowed_origins,
        })
    }

    /// What a payment-method token made through this link is bound to: the seller, the customer (in the
    /// binding's invoice slot: an account pays several invoices) and the account link. Link ids differ in
    /// kind (`alk_` and `lnk_`), so a method token made for an account never pays a checkout, nor the reverse.
    pub fn binding(&self) -> TokenBinding {
        TokenBinding {
            seller_id: self.seller_id.clone(),
            invoice_id: self.customer_id.clone(),
            checkout_link_id: self.link_id.clone(),
        }
    }
}

/// Runs a token-refusing future through the failed-token limiter, as [`Checkout`] does.
async fn limited<T>(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    verified: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match verified {
        Ok(v) => Ok(v),
        Err(ApiError::Unauthorized { code, detail }) => Err(state
            .rate_limits
            .token_failure(ip)
            .unwrap_or(ApiError::Unauthorized { code, detail })),
        Err(other) => Err(other),
    }
}

fn origin_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl FromRequest for Account {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Account, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req).map(str::to_owned);
        let origin = origin_of(req);
        let state = state(req);
        let ip = crate::client_ip::of(req);
        Box::pin(async move {
            let state = state?;
            let verified = match token {
                Some(token) => Account::from_token(&state, &token).await,
                None => Err(INVALID_TOKEN),
            };
            let account = limited(&state, ip, verified).await?;
            if let Some(origin) = origin {
                check_origin_among(&state, &account.allowed_origins, &origin)?;
            }
            Ok(account)
        })
    }
}

/// A buyer holding either kind of token, told apart by the token's signature (cached) before any database
/// read: what tokenizing a payment method and opening a dispute take.
pub enum Buyer {
    Checkout(Checkout),
    Account(Account),
}

impl FromRequest for Buyer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Buyer, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req).map(str::to_owned);
        let origin = origin_of(req);
        let state = state(req);
        let ip = crate::client_ip::of(req);
        Box::pin(async move {
            let state = state?;
            let Some(token) = token else {
                return limited(&state, ip, Err(INVALID_TOKEN)).await;
            };
            let buyer = if state.keys.verify_account(&token).is_ok() {
                Buyer::Account(limited(&state, ip, Account::from_token(&state, &token).await).await?)
            } else {
                Buyer::Checkout(limited(&state, ip, Checkout::from_token(&state, &token).await).await?)
            };
            if let Some(origin) = origin {
                let allowed = match &buyer {
                    Buyer::Account(account) => &account.allowed_origins,
                    Buyer::Checkout(checkout) => &checkout.allowed_origins,
                };
                check_origin_among(&state, allowed, &origin)?;
            }
            Ok(buyer)
        })
    }
}

/// What a payment-method token made by either kind of buyer is bound to (the sandbox fields page is opened
/// by a checkout and, for accounts, by an account link).
pub struct BuyerBinding(pub TokenBinding);

impl FromRequest for BuyerBinding {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<BuyerBinding, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let buyer = Buyer::from_request(req, payload);
        Box::pin(async move {
            Ok(BuyerBinding(match buyer.await? {
                Buyer::Account(account) => account.binding(),
                Buyer::Checkout(checkout) => TokenBinding::from(&checkout),
            }))
        })
    }
}
