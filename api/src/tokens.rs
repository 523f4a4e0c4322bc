//! Checkout tokens: short JWTs signed with Ed25519 (EdDSA) that let a buyer's browser read and pay one
//! invoice. Validation pins the algorithm, requires `exp`, `nbf`, `iss`, `aud` and `sub`, refuses header
//! tricks (`jku`, `x5u`, `jwk`, `x5c`, odd `kid`s), and only then is the link looked up in the database
//! (revocation, expiry, invoice and seller match) by the caller.

use std::collections::HashMap;

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::db::{new_id, now_ms, Db};
use crate::secret_box::SecretBox;
use crate::state::AppState;
use crate::store::{links, signing_keys};

/// Audience of every checkout token.
pub const AUDIENCE: &str = "tranche-checkout";
/// Audience of every account token (one customer's open invoices): a different kind of token, so a
/// checkout token is refused where an account token is needed and the reverse, by the signature check
/// itself and again by the link table each kind is looked up in.
pub const ACCOUNT_AUDIENCE: &str = "tranche-account";
/// Longest token accepted before any parsing.
const MAX_TOKEN_LEN: usize = 2048;

/// Claims of a checkout token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckoutClaims {
    pub iss: String,
    pub aud: String,
    /// The invoice id.
    pub sub: String,
    /// The seller id.
    pub sid: String,
    /// The checkout link's token id (revocation key).
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a token is refused. All of them answer 401 with the same body: the reason is only logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not a compact JWS")]
    Malformed,
    #[error("token header carries a key reference (jku/x5u/jwk/x5c)")]
    KeyReference,
    #[error("token kid is missing or unknown")]
    UnknownKey,
    #[error("token validation failed: {0}")]
    Invalid(String),
}

struct Signer {
    kid: String,
    key: EncodingKey,
}

/// The keys that sign and verify checkout tokens.
pub struct KeyRing {
    issuer: String,
    signer: Signer,
    verifiers: HashMap<String, DecodingKey>,
    verified: VerifiedTokens,
}

/// Tokens whose signature and claims already checked out, keyed by the SHA-256 of the token, kept until
/// their `exp`. A buyer's browser sends the same token on every request, and Ed25519 verification was ~10 %
/// of the read path's CPU (docs/benchmarks.md). Only the signature check is cached: revocation and expiry of
/// the link are read from the database on every request, so revoking a link still takes effect at once.
/// Bounded (LRU): a flood of distinct valid tokens evicts old entries, which then just verify again.
struct VerifiedTokens {
    entries: std::sync::Mutex<hashlink::LruCache<[u8; 32], CheckoutClaims>>,
}

/// How many verified tokens are remembered (a few MB at most).
const VERIFIED_CAPACITY: usize = 16_384;
/// Seconds of clock skew allowed on `exp` and `nbf`, as in [`KeyRing::verify_uncached`].
const LEEWAY_SECONDS: i64 = 5;

impl VerifiedTokens {
    fn new() -> VerifiedTokens {
        VerifiedTokens {
            entries: std::sync::Mutex::new(hashlink::LruCache::new(VERIFIED_CAPACITY)),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    /// The cached claims if the token is known and not yet past `exp` (with the same leeway as a full check).
    fn get(&self, key: &[u8; 32], now_s: i64) -> Option<CheckoutClaims> {
        // A poisoned lock only means another request panicked mid-insert: the map is still a valid cache.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match entries.get(key) {
            Some(claims) if now_s <= claims.exp.saturating_add(LEEWAY_SECONDS) => Some(claims.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: [u8; 32], claims: CheckoutClaims) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.insert(key, claims);
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.verifiers.keys().collect();
        kids.sort();
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.signer.kid)
            .field("verify_kids", &kids)
            .finish()
    }
}

fn valid_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn keypair_from_pkcs8(pkcs8: &[u8]) -> anyhow::Result<(EncodingKey, DecodingKey)> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| anyhow::anyhow!("invalid Ed25519 PKCS#8 key: {e}"))?;
    Ok((
        EncodingKey::from_ed_der(pkcs8),
        DecodingKey::from_ed_der(pair.public_key().as_ref()),
    ))
}

impl KeyRing {
    /// Keys from the settings, or else the ones kept in the database (generating the first on first run).
    pub async fn load(
        settings: &Settings,
        db: &Db,
        secrets: &SecretBox,
        issuer: String,
    ) -> anyhow::Result<KeyRing> {
        let mut verifiers = HashMap::new();
        for vk in &settings.verification_keys {
            anyhow::ensure!(
                valid_kid(&vk.kid),
                "verification key kid {:?} is not [A-Za-z0-9_-]{{1,64}}",
                vk.kid
            );
            let raw = URL_SAFE_NO_PAD
                .decode(&vk.public_key)
                .context("verification key is not base64url")?;
            verifiers.insert(vk.kid.clone(), DecodingKey::from_ed_der(&raw));
        }
        let mut configured = Vec::new();
        for sk in &settings.signing_keys {
            anyhow::ensure!(
                valid_kid(&sk.kid),
                "signing key kid {:?} is not [A-Za-z0-9_-]{{1,64}}",
                sk.kid
            );
            let der = STANDARD
                .decode(sk.private_key.expose().trim())
                .context("signing key is not base64")?;
            configured.push((sk.kid.clone(), der));
        }
        // Configured keys add to the stored ones instead of replacing them: every link minted with a stored
        // key stays valid after an operator starts configuring keys (no outstanding link breaks). The first
        // configured key signs; without configured keys the oldest stored key signs.
        let mut stored = stored_keys(db, secrets).await?;
        if stored.is_empty() && configured.is_empty() {
            generate_and_store(db, secrets).await?;
            stored = stored_keys(db, secrets).await?;
        }
        let mut signer = None;
        for (kid, der) in configured.into_iter().chain(stored) {
            let (encoding, decoding) = keypair_from_pkcs8(&der)?;
            // A configured kid that is also stored: the configured key wins (it is listed first).
            verifiers.entry(kid.clone()).or_insert(decoding);
            // The first key signs; the rest only verify (rotation: add the new key first).
            if signer.is_none() {
                signer = Some(Signer { kid, key: encoding });
            }
        }
        let signer = signer.context("no checkout signing key")?;
        Ok(KeyRing {
            issuer,
            signer,
            verifiers,
            verified: VerifiedTokens::new(),
        })
    }

    /// A ring with one Ed25519 key (PKCS#8 DER) that signs and verifies: for tools, tests and fuzzing,
    /// which have no database.
    pub fn from_pkcs8(issuer: String, kid: &str, pkcs8: &[u8]) -> anyhow::Result<KeyRing> {
        anyhow::ensure!(valid_kid(kid), "kid {kid:?} is not [A-Za-z0-9_-]{{1,64}}");
        let (encoding, decoding) = keypair_from_pkcs8(pkcs8)?;
        Ok(KeyRing {
            issuer,
            signer: Signer {
                kid: kid.to_owned(),
                key: encoding,
            },
            verifiers: HashMap::from([(kid.to_owned(), decoding)]),
            verified: VerifiedTokens::new(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs a token for one checkout link.
    pub fn mint(&self, claims: &CheckoutClaims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signer.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.signer.key).context("signing checkout token")
    }

    /// Verifies signature, algorithm and claims of a checkout token, answering from the cache of verified
    /// tokens when it can. Database checks (revocation) are the caller's, on every request.
    pub fn verify(&self, token: &str) -> Result<CheckoutClaims, TokenError> {
        self.verify_for(token, AUDIENCE)
    }

    /// As [`KeyRing::verify`], for an account token (`aud` [`ACCOUNT_AUDIENCE`]; `sub` is the customer).
    pub fn verify_account(&self, token: &str) -> Result<CheckoutClaims, TokenError> {
        self.verify_for(token, ACCOUNT_AUDIENCE)
    }

    fn verify_for(&self, token: &str, audience: &str) -> Result<CheckoutClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let key = VerifiedTokens::key(token);
        if let Some(claims) = self.verified.get(&key, now_ms() / 1000) {
            // The cache holds both kinds: a token verified as one kind is never accepted as the other.
            if claims.aud != audience {
                return Err(TokenError::Invalid("wrong audience".to_owned()));
            }
            return Ok(claims);
        }
        let claims = self.verify_uncached(token, audience)?;
        self.verified.put(key, claims.clone());
        Ok(claims)
    }

    /// The full check: structure, header, signature with a pinned algorithm, required claims and times.
    fn verify_uncached(&self, token: &str, audience: &str) -> Result<CheckoutClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some() {
            return Err(TokenError::KeyReference);
        }
        let key = header
            .kid
            .as_deref()
            .filter(|kid| valid_kid(kid))
            .and_then(|kid| self.verifiers.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.leeway = LEEWAY_SECONDS.unsigned_abs();
        jsonwebtoken::decode::<CheckoutClaims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

/// The context a stored private key is sealed under (it names the row, so keys cannot be swapped).
fn key_context(kid: &str) -> String {
    format!("signing_keys.private_pkcs8:{kid}")
}

async fn stored_keys(db: &Db, secrets: &SecretBox) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let rows = signing_keys::all(db).await.context("loading signing keys")?;
    let mut keys = Vec::with_capacity(rows.len());
    for signing_keys::StoredKey {
        kid,
        private_pkcs8: stored,
    } in rows
    {
        let b64 = secrets
            .open(&key_context(&kid), &stored)
            .with_context(|| format!("opening stored signing key {kid}"))?;
        let der = STANDARD
            .decode(b64.expose())
            .context("stored signing key is not base64")?;
        // Written before a master key was configured: seal it now, so the file holds no usable key.
        if secrets.has_key() && !SecretBox::is_sealed(&stored) {
            let sealed = secrets.seal(&key_context(&kid), b64.expose())?;
            signing_keys::replace_private(db, &kid, &stored, &sealed)
                .await
                .context("sealing a stored signing key")?;
        }
        keys.push((kid, der));
    }
    Ok(keys)
}

async fn generate_and_store(db: &Db, secrets: &SecretBox) -> anyhow::Result<()> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    let pair =
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| anyhow::anyhow!("reading generated key"))?;
    let kid = new_id("key");
    let sealed = secrets.seal(&key_context(&kid), &STANDARD.encode(pkcs8.as_ref()))?;
    let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let key = signing_keys::NewKey {
        kid: &kid,
        private_pkcs8: &sealed,
        public_key: &public_key,
        created_at: now_ms(),
    };
    signing_keys::insert(db, &key)
        .await
        .context("storing the generated signing key")?;
    tracing::info!(%kid, "generated a checkout signing key and stored it in the database");
    Ok(())
}

/// A checkout link just minted: its row is stored, and `token` is the only copy of the bearer credential.
#[derive(Debug, Clone)]
pub struct MintedLink {
    pub id: String,
    pub token: String,
    /// The hosted payment page for the token.
    pub url: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// Mints a checkout token for one invoice and stores its link (the one place links are made: the seller's
/// `POST .../checkout-links` and the receipt's "pay the rest" link). The caller checked the invoice is the
/// seller's and `ttl_seconds` is allowed.
pub async fn mint_link(
    state: &AppState,
    seller_id: &str,
    invoice_id: &str,
    ttl_seconds: i64,
    actor: Option<crate::store::audit::Actor<'_>>,
) -> anyhow::Result<MintedLink> {
    let now = now_ms();
    let id = new_id("lnk");
    let jti = new_id("jti");
    let expires_at = now + ttl_seconds * 1000;
    let token = state.keys.mint(&CheckoutClaims {
        iss: state.keys.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: invoice_id.to_owned(),
        sid: seller_id.to_owned(),
        jti: jti.clone(),
        iat: now / 1000,
        nbf: now / 1000,
        exp: expires_at / 1000,
    })?;
    let link = links::NewLink {
        id: &id,
        seller_id,
        invoice_id,
        jti: &jti,
        expires_at,
        created_at: now,
    };
    links::insert(&state.db, &link, actor)
        .await
        .context("storing a checkout link")?;
    Ok(MintedLink {
        id,
        url: format!("{}/pay/{token}", state.public_base),
        token,
        expires_at,
    })
}

/// The URL of a link [`mint_link`] made, for a channel that sends it later (the invoice email): the token
/// is signed again from the stored claims (Ed25519 signatures are deterministic, so with the same key it is
/// the very token `mint_link` returned), so no token is ever stored or written into an outbox payload.
/// `None` when the seller has no such link, or it is revoked or expired.
pub async fn link_url(state: &AppState, seller_id: &str, link_id: &str) -> anyhow::Result<Option<String>> {
    let Some((invoice_id, jti, expires_at, revoked_at, created_at)) =
        links::for_resign(&state.db, seller_id, link_id).await?
    else {
        return Ok(None);
    };
    if revoked_at.is_some() || expires_at <= now_ms() {
        return Ok(None);
    }
    let token = state.keys.mint(&CheckoutClaims {
        iss: state.keys.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: invoice_id,
        sid: seller_id.to_owned(),
        jti,
        iat: created_at / 1000,
        nbf: created_at / 1000,
        exp: expires_at / 1000,
    })?;
    Ok(Some(format!("{}/pay/{token}", state.public_base)))
}

/// Mints an account token for one customer of one seller and stores its link (`POST
/// /v1/customers/{id}/account-links`). The caller checked the customer is the seller's and the TTL.
pub async fn mint_account_link(
    state: &AppState,
    seller_id: &str,
    customer_id: &str,
    ttl_seconds: i64,
    actor: crate::store::audit::Actor<'_>,
) -> anyhow::Result<MintedLink> {
    let now = now_ms();
    let id = new_id("alk");
    let jti = new_id("jti");
    let expires_at = now + ttl_seconds * 1000;
    let token = state.keys.mint(&CheckoutClaims {
        iss: state.keys.issuer().to_owned(),
        aud: ACCOUNT_AUDIENCE.to_owned(),
        sub: customer_id.to_owned(),
        sid: seller_id.to_owned(),
        jti: jti.clone(),
        iat: now / 1000,
        nbf: now / 1000,
        exp: expires_at / 1000,
    })?;
    let link = crate::store::account_links::NewAccountLink {
        id: &id,
        seller_id,
        customer_id,
        jti: &jti,
        expires_at,
        created_at: now,
    };
    crate::store::account_links::insert(&state.db, &link, actor)
        .await
        .context("storing an account link")?;
    Ok(MintedLink {
        id,
        url: format!("{}/account/{token}", state.public_base),
        token,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ring() -> KeyRing {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        KeyRing::from_pkcs8("https://pay.example".into(), "k1", pkcs8.as_ref()).unwrap()
    }

    fn claims(exp_offset_s: i64) -> CheckoutClaims {
        let now = now_ms() / 1000;
        CheckoutClaims {
            iss: "https://pay.example".into(),
            aud: AUDIENCE.into(),
            sub: "inv_1".into(),
            sid: "sel_1".into(),
            jti: "jti_1".into(),
            iat: now,
            nbf: now - 1,
            exp: now + exp_offset_s,
        }
    }

    #[test]
    fn a_token_of_one_kind_is_refused_as_the_other_cached_or_not() {
        let keys = ring();
        let checkout = keys.mint(&claims(600)).unwrap();
        let mut account_claims = claims(600);
        account_claims.aud = ACCOUNT_AUDIENCE.into();
        let account = keys.mint(&account_claims).unwrap();
        // First uncached, then again once each is cached under its own kind.
        for _ in 0..2 {
            assert!(keys.verify_account(&checkout).is_err());
            assert!(keys.verify(&account).is_err());
            assert!(keys.verify(&checkout).is_ok());
            assert!(keys.verify_account(&account).is_ok());
        }
    }

    #[test]
    fn a_cached_token_answers_with_its_claims() {
        let keys = ring();
        let token = keys.mint(&claims(600)).unwrap();
        let first = keys.verify(&token).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), first);
    }

    #[test]
    fn the_cache_never_vouches_for_an_altered_token() {
        let keys = ring();
        let token = keys.mint(&claims(600)).unwrap();
        keys.verify(&token).unwrap();
        // Flip one character of the signature: a different token, so a different cache key and a full check.
        let mut altered = token.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(keys.verify(&altered).is_err());
    }

    #[test]
    fn a_cached_token_past_its_exp_is_checked_again_and_refused() {
        let keys = ring();
        let token = keys.mint(&claims(600)).unwrap();
        keys.verify(&token).unwrap();
        // Age the cached entry past exp + leeway: the cache drops it and the full check decides.
        let key = VerifiedTokens::key(&token);
        let mut stale = claims(600);
        stale.exp = now_ms() / 1000 - LEEWAY_SECONDS - 1;
        keys.verified.put(key, stale);
        // Served from the cache it would carry the stale exp; the full check returns the token's own.
        assert!(keys.verify(&token).unwrap().exp > now_ms() / 1000);
        let expired = keys.mint(&claims(-LEEWAY_SECONDS - 60)).unwrap();
        assert!(matches!(keys.verify(&expired), Err(TokenError::Invalid(_))));
        assert!(keys
            .verified
            .get(&VerifiedTokens::key(&expired), now_ms() / 1000)
            .is_none());
    }
}
