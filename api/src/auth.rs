//! The three kinds of caller: the operator (creates sellers), a seller (secret key), and a buyer's
//! browser (checkout token). Each is an extractor, so a handler cannot forget to authenticate.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};
use tranche_domain::ErrorCode;

use crate::db::now_ms;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

const INVALID_KEY: ApiError = ApiError::Unauthorized {
    code: ErrorCode::InvalidApiKey,
    detail: "Missing or invalid secret key.",
};
const INVALID_TOKEN: ApiError = ApiError::Unauthorized {
    code: ErrorCode::InvalidCheckoutToken,
    detail: "This checkout link is invalid, expired or revoked. Ask the seller for a new link.",
};

pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

pub(crate) fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))
}

/// SHA-256 hex of a secret key: keys are 256-bit random, so a fast hash is enough and allows lookup.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison for secrets held in memory.
fn equal_secrets(a: &str, b: &str) -> bool {
    let (ha, hb) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    ha.iter().zip(hb.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The operator, authenticated by `TRANCHE_OPERATOR_TOKEN`.
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Operator, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = state(req).and_then(|state| {
            let expected = state
                .settings
                .operator_token
                .as_ref()
                .ok_or(ApiError::Unauthorized {
                    code: ErrorCode::OperatorDisabled,
                    detail: "Seller creation is disabled: set TRANCHE_OPERATOR_TOKEN.",
                })?;
            match bearer(req) {
                Some(given) if equal_secrets(given, expected.expose()) => Ok(Operator),
                _ => Err(ApiError::Unauthorized {
                    code: ErrorCode::InvalidOperatorToken,
                    detail: "Missing or invalid operator token.",
                }),
            }
        });
        std::future::ready(result)
    }
}

/// The last four characters of a secret key: what the seller is shown to tell its keys apart.
pub fn last4(secret: &str) -> &str {
    secret
        .char_indices()
        .rev()
        .nth(3)
        .map_or(secret, |(at, _)| &secret[at..])
}

/// A seller, authenticated by one of its secret keys that still works. Every seller query is scoped by
/// `seller_id`; `key_id` is the key used (a roll must be made with the current key).
#[derive(Debug, Clone)]
pub struct Seller {
    pub seller_id: String,
    pub key_id: String,
    /// The key's last four characters: the audit log's actor (`key:<last 4>`), never the key itself.
    pub key_last4: String,
}

impl Seller {
    /// The audit log's actor for this caller: its key, by the last four characters.
    pub fn actor(&self) -> crate::store::audit::Actor<'_> {
        crate::store::audit::Actor::Key {
            last4: &self.key_last4,
        }
    }

    /// An audit row of a change this seller made now.
    pub fn audit<'a>(
        &'a self,
        action: &'static str,
        object_id: &'a str,
        changes: serde_json::Value,
        at: i64,
    ) -> crate::store::audit::Entry<'a> {
        crate::store::audit::Entry {
            seller_id: &self.seller_id,
            actor: self.actor(),
            action,
            object_id,
            changes,
            at,
        }
    }

    /// Authenticates `key`. An expired key is refused exactly as an unknown one. A use is recorded on the
    /// key when its stored last use is a minute old (see `seller_keys::LAST_USED_PRECISION_MS`), so a busy
    /// key costs one write a minute, not one per request.
    async fn authenticate(state: &AppState, key: &str) -> Result<Seller, ApiError> {
        use crate::store::seller_keys;
        let found = seller_keys::by_hash(&state.db, &hash_secret(key)).await?;
        let now = state.clock().now_ms();
        let key_auth = found.filter(|k| k.works_at(now)).ok_or(INVALID_KEY)?;
        if key_auth.use_worth_recording(now) {
            // Last use is for the seller's information: failing to record it must not refuse the request.
            if let Err(error) = seller_keys::record_use(&state.db, &key_auth.id, now, last4(key)).await {
                tracing::warn!(%error, key_id = %key_auth.id, "recording a secret key's last use");
            }
        }
        Ok(Seller {
            seller_id: key_auth.seller_id,
            key_id: key_auth.id,
            key_last4: last4(key).to_owned(),
        })
    }
}

impl FromRequest for Seller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Seller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = bearer(req).map(str::to_owned);
        let state = state(req);
        Box::pin(async move {
            let state = state?;
            let key = key
                .filter(|k| k.starts_with("sk_") && k.len() <= 128)
                .ok_or(INVALID_KEY)?;
            Seller::authenticate(&state, &key).await
        })
    }
}

/// A buyer holding a valid checkout token for one invoice.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub seller_id: String,
    pub invoice_id: String,
    pub link_id: String,
    /// Read with the link (one query instead of three per request): the view shows it, and
    /// `allowed_origins` (JSON text) decides cross-origin calls.
    pub seller_name: String,
    pub(crate) allowed_origins: String,
}

impl Checkout {
    /// Verifies a raw token and its link (not revoked, not expired, same invoice and seller).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Checkout, ApiError> {
        let claims = state
            .keys
            .verify(token)
            .map_err(|e| token_refused(state, "checkout", &e))?;
        let link = crate::store::links::by_jti(&state.db, &claims.jti)
            .await?
            .ok_or_else(|| token_refused(state, "checkout", &"unknown jti"))?;
        let names_it = link.invoice_id == claims.sub && link.seller_id == claims.sid;
        link_usable(state, "checkout", link.revoked_at, link.expires_at, names_it)?;
        Ok(Checkout {
            seller_id: link.seller_id,
            invoice_id: link.invoice_id,
            link_id: link.id,
            seller_name: link.seller_name,
            allowed_origins: link.allowed_origins,
        })
    }
}

/// Counts and logs a refused buyer token (`kind`: checkout or account) and answers the one refusal every
/// bad token gets, whatever was wrong with it.
pub(crate) fn token_refused(state: &AppState, kind: &str, reason: &dyn std::fmt::Display) -> ApiError {
    Metrics::inc(&state.metrics.token_failures);
    tracing::info!(%reason, "{kind} token refused");
    INVALID_TOKEN
}

/// What a buyer link must be once its token's signature holds: not revoked, not expired, and naming what
/// its token names (`names_it`).
pub(crate) fn link_usable(
    state: &AppState,
    kind: &str,
    revoked_at: Option<i64>,
    expires_at: i64,
    names_it: bool,
) -> Result<(), ApiError> {
    if revoked_at.is_some() {
        return Err(token_refused(state, kind, &"link revoked"));
    }
    if expires_at <= now_ms() {
        return Err(token_refused(state, kind, &"link expired"));
    }
    if !names_it {
        return Err(token_refused(state, kind, &"token does not match its link"));
    }
    Ok(())
}

/// A browser call must come from the API's own origin (hosted page) or one the seller registered.
fn check_origin(state: &AppState, checkout: &Checkout, origin: &str) -> Result<(), ApiError> {
    check_origin_among(state, &checkout.allowed_origins, origin)
}

/// [`check_origin`] against a seller's `allowed_origins` (JSON text): also what account calls check.
pub(crate) fn check_origin_among(
    state: &AppState,
    allowed_origins: &str,
    origin: &str,
) -> Result<(), ApiError> {
    if origin == crate::cors::origin_of(&state.public_base) {
        return Ok(());
    }
    let origins: Vec<String> = serde_json::from_str(allowed_origins).unwrap_or_default();
    if origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: ErrorCode::OriginNotAllowed,
            detail: format!(
                "Origin {} is not in this seller's allowed_origins.",
                origin.chars().take(100).collect::<String>()
            ),
        })
    }
}

impl FromRequest for Checkout {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Checkout, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req).map(str::to_owned);
        let origin = req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let state = state(req);
        let ip = crate::client_ip::of(req);
        Box::pin(async move {
            let state = state?;
            let verified = match token {
                Some(token) => Checkout::from_token(&state, &token).await,
                None => Err(INVALID_TOKEN),
            };
            let checkout = match verified {
                Ok(checkout) => checkout,
                // A client guessing or replaying tokens gets 429 once past its quota of failures.
                Err(ApiError::Unauthorized { .. }) => {
                    return Err(state.rate_limits.token_failure(ip).unwrap_or(INVALID_TOKEN))
                }
                Err(other) => return Err(other),
            };
            if let Some(origin) = origin {
                check_origin(&state, &checkout, &origin)?;
            }
            Ok(checkout)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::last4;

    #[test]
    fn last4_is_the_last_four_characters() {
        assert_eq!(last4("sk_0123456789abcdef"), "cdef");
        assert_eq!(last4("abcd"), "abcd");
        assert_eq!(last4("abc"), "abc");
        assert_eq!(last4(""), "");
    }
}
