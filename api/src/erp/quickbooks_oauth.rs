//! Intuit OAuth 2.0 for QuickBooks endpoints. Each endpoint carries its owner's credentials (client id and
//! secret, refresh token, realm id): no server-wide token exists, so a credential only ever goes to the
//! endpoint whose owner sent it. Access tokens last an hour; they are refreshed with the refresh-token
//! grant (RFC 6749 section 6, as Intuit publishes it: HTTP Basic client authentication, a form body,
//! `Accept: application/json`), cached until shortly before they expire, and the refresh token Intuit
//! may rotate is stored at once. Every token is sealed at rest (`erp_endpoints.<column>:<id>`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Url;
use serde::Deserialize;

use crate::db::now_ms;
use crate::masking::Secret;
use crate::state::AppState;
use crate::store::endpoints::{self, QuickBooksCredentials};

/// Intuit's OAuth 2.0 token endpoint (the `token_url` default).
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer";
/// Hosts of the QuickBooks Online Accounting API (production and sandbox companies).
pub const API_HOSTS: &[&str] = &["quickbooks.api.intuit.com", "sandbox-quickbooks.api.intuit.com"];
/// Hosts of Intuit's OAuth token endpoint.
pub const TOKEN_HOSTS: &[&str] = &["oauth.platform.intuit.com"];

/// A cached access token is refreshed this long before Intuit says it expires, so a token never
/// expires between being read and being used.
const EXPIRY_MARGIN_MS: i64 = 5 * 60 * 1000;

/// Whether `url` is `https://` on one of `hosts`, default port: where QuickBooks credentials may go
/// when private destinations are not allowed.
pub fn is_intuit(url: &Url, hosts: &[&str]) -> bool {
    url.scheme() == "https"
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.host_str().is_some_and(|h| hosts.contains(&h))
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Intuit refused the grant or the client (`invalid_grant`, `invalid_client`): the refresh token
    /// expired (100 days unused) or was revoked, or the client secret changed. Retrying cannot help;
    /// the seller must connect the endpoint again.
    #[error(
        "reauthorization_required: Intuit refused this endpoint's credentials ({0}); create the endpoint again with a new refresh token"
    )]
    Reauthorize(String),
    /// Anything that may pass: the token endpoint unreachable, 5xx, a garbled answer. The text is coarse
    /// (the detail is logged), like every error a seller sees.
    #[error("{0}")]
    Transient(String),
}

/// Intuit's answer to the refresh-token grant.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds; 3600 today.
    expires_in: i64,
    /// The refresh token to use next time: the same one, or a new one (then the old one stops working).
    refresh_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorAnswer {
    error: String,
}

/// One refresh at a time per endpoint on this node: a rotated refresh token must be stored before
/// anyone uses the old one again.
fn endpoint_lock(endpoint_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = match locks.lock() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    // Drop locks nobody holds, so the map stays as small as the endpoints in use.
    if map.len() > 1024 {
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
    map.entry(endpoint_id.to_owned()).or_default().clone()
}

fn context(column: &str, endpoint_id: &str) -> String {
    format!("erp_endpoints.{column}:{endpoint_id}")
}

fn open(
    state: &AppState,
    column: &str,
    endpoint_id: &str,
    stored: Option<String>,
) -> Result<Secret, TokenError> {
    let stored = stored.ok_or_else(|| TokenError::Reauthorize(format!("no {column} stored")))?;
    state
        .secrets
        .open(&context(column, endpoint_id), &stored)
        .map_err(|error| {
            tracing::error!(endpoint_id, column, %error, "cannot open a stored QuickBooks credential");
            TokenError::Transient("stored credentials cannot be read (master key)".to_owned())
        })
}

/// An access token for the endpoint: the cached one while it is valid, else a fresh one. `rejected` is
/// a token the Payment API just answered 401 to: it is never returned again (a refresh is forced unless
/// another attempt has already replaced it).
pub async fn access_token(
    state: &AppState,
    endpoint_id: &str,
    rejected: Option<&Secret>,
) -> Result<Secret, TokenError> {
    let lock = endpoint_lock(endpoint_id);
    let _guard = lock.lock().await;
    let row = endpoints::quickbooks_credentials(&state.db, endpoint_id)
        .await
        .map_err(|error| {
            tracing::warn!(endpoint_id, %error, "loading QuickBooks credentials");
            TokenError::Transient("database unavailable".to_owned())
        })?;
    let Some(QuickBooksCredentials {
        token_url,
        client_id,
        client_secret,
        refresh_token,
        access_token,
        access_token_expires_at: expires_at,
    }) = row
    else {
        return Err(TokenError::Reauthorize("endpoint deleted".to_owned()));
    };
    let now = now_ms();
    if let (Some(stored), Some(expires_at)) = (access_token, expires_at) {
        if expires_at - EXPIRY_MARGIN_MS > now {
            let cached = open(state, "access_token", endpoint_id, Some(stored))?;
            if rejected.is_none_or(|r| r.expose() != cached.expose()) {
                return Ok(cached);
            }
        }
    }
    let client_id = client_id.ok_or_else(|| TokenError::Reauthorize("no client_id stored".to_owned()))?;
    let client_secret = open(state, "client_secret", endpoint_id, client_secret)?;
    let refresh_token = open(state, "refresh_token", endpoint_id, refresh_token)?;
    let token_url = token_url.unwrap_or_else(|| DEFAULT_TOKEN_URL.to_owned());
    let answer = refresh(
        state,
        endpoint_id,
        &token_url,
        &client_id,
        &client_secret,
        &refresh_token,
    )
    .await?;
    let sealed_access = seal(state, "access_token", endpoint_id, &answer.access_token)?;
    // A rotated refresh token replaces the old one now: the old one may already be dead at Intuit.
    let sealed_refresh = match &answer.refresh_token {
        Some(rotated) if rotated != refresh_token.expose() => {
            Some(seal(state, "refresh_token", endpoint_id, rotated)?)
        }
        _ => None,
    };
    let expires_at = now + answer.expires_in.clamp(0, 24 * 3600) * 1000;
    endpoints::store_tokens(
        &state.db,
        endpoint_id,
        &sealed_access,
        expires_at,
        sealed_refresh.as_deref(),
    )
    .await
    .map_err(|error| {
        // The new refresh token may be the only valid one: make this loud.
        tracing::error!(endpoint_id, %error, "storing refreshed QuickBooks tokens failed");
        TokenError::Transient("database unavailable".to_owned())
    })?;
    tracing::info!(
        endpoint_id,
        rotated = answer.refresh_token.is_some(),
        "QuickBooks access token refreshed"
    );
    Ok(Secret::new(answer.access_token))
}

fn seal(state: &AppState, column: &str, endpoint_id: &str, value: &str) -> Result<String, TokenError> {
    state
        .secrets
        .seal(&context(column, endpoint_id), value)
        .map_err(|error| {
            tracing::error!(endpoint_id, column, %error, "sealing a QuickBooks token failed");
            TokenError::Transient("credentials cannot be stored".to_owned())
        })
}

async fn refresh(
    state: &AppState,
    endpoint_id: &str,
    token_url: &str,
    client_id: &str,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> Result<TokenAnswer, TokenError> {
    // IP literals here; names are judged at connect time by the client's resolver (DNS rebinding).
    let url =
        crate::outbound::parse_guarded(state.settings.destination_policy(), token_url).map_err(|error| {
            tracing::warn!(endpoint_id, %error, "QuickBooks token URL refused by the destination policy");
            TokenError::Transient("destination not allowed".to_owned())
        })?;
    let response = state
        .http
        .post(url)
        .basic_auth(client_id, Some(client_secret.expose()))
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .send()
        .await
        .map_err(|error| {
            tracing::info!(endpoint_id, error = %error.without_url(), "QuickBooks token endpoint unreachable");
            TokenError::Transient("could not connect to the token endpoint".to_owned())
        })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|error| {
        tracing::info!(endpoint_id, error = %error.without_url(), "reading the QuickBooks token answer");
        TokenError::Transient("could not connect to the token endpoint".to_owned())
    })?;
    match status {
        200 => {
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|error| {
                tracing::warn!(endpoint_id, %error, "QuickBooks token answer is not the documented JSON");
                TokenError::Transient("token endpoint answered an unreadable token".to_owned())
            })?;
            if answer.access_token.is_empty()
                || answer
                    .token_type
                    .as_deref()
                    .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            {
                return Err(TokenError::Transient(
                    "token endpoint answered an unreadable token".to_owned(),
                ));
            }
            Ok(answer)
        }
        400 | 401 => {
            let error = serde_json::from_slice::<TokenErrorAnswer>(&body)
                .map(|e| e.error)
                .unwrap_or_default();
            if error == "invalid_grant" || error == "invalid_client" {
                Err(TokenError::Reauthorize(error))
            } else {
                tracing::warn!(
                    endpoint_id,
                    status,
                    error,
                    "QuickBooks token endpoint refused the refresh"
                );
                Err(TokenError::Transient(format!("token endpoint answered {status}")))
            }
        }
        _ => Err(TokenError::Transient(format!("token endpoint answered {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_intuit_https_hosts_count_as_intuit() {
        let intuit = |u: &str| is_intuit(&Url::parse(u).unwrap(), API_HOSTS);
        assert!(intuit("https://quickbooks.api.intuit.com/v3/company/1/payment"));
        assert!(intuit(
            "https://sandbox-quickbooks.api.intuit.com/v3/company/1/payment"
        ));
        for refused in [
            "http://quickbooks.api.intuit.com/v3/company/1/payment",
            "https://quickbooks.api.intuit.com:8443/v3/company/1/payment",
            "https://quickbooks.api.intuit.com.evil.example/v3",
            "https://evil.example/quickbooks.api.intuit.com",
            "https://user@quickbooks.api.intuit.com/v3",
            "https://127.0.0.1/v3/company/1/payment",
        ] {
            assert!(!intuit(refused), "{refused}");
        }
        assert!(is_intuit(&Url::parse(DEFAULT_TOKEN_URL).unwrap(), TOKEN_HOSTS));
    }
}
