//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the body is signed as
//! `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256 under the endpoint's secret (`whsec_` +
//! base64), and sent as `webhook-signature: v1,<base64>`. Receivers verify with [`verify`]; this module
//! is dependency-light on purpose so it can be copied into a receiver.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a timestamp may be from the receiver's clock.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Why a webhook is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not whsec_ followed by base64")]
    BadSecret,
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than five minutes away from now")]
    StaleTimestamp,
    #[error("no v1 signature matches the body")]
    NoMatch,
}

fn key(secret: &str) -> Result<Vec<u8>, VerifyError> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or(VerifyError::BadSecret)?)
        .map_err(|_| VerifyError::BadSecret)
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Result<Hmac<Sha256>, VerifyError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| VerifyError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// A new endpoint secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, VerifyError> {
    let mac = mac(&key(secret)?, id, &timestamp.to_string(), body)?;
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// Verifies a received webhook: the timestamp is within [`TOLERANCE_SECONDS`] of `now` and one of the
/// space-separated `v1,` signatures matches (compared in constant time). Other versions are ignored.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let sent: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    if (now - sent).abs() > TOLERANCE_SECONDS {
        return Err(VerifyError::StaleTimestamp);
    }
    let key = key(secret)?;
    for candidate in signatures.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(expected) = STANDARD.decode(encoded) else {
            continue;
        };
        if mac(&key, id, timestamp, body)?.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification's reference implementations.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_reference_vector() {
        assert_eq!(sign(SECRET, ID, 1_614_265_330, BODY).unwrap(), SIGNATURE);
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, SIGNATURE, BODY, 1_614_265_330),
            Ok(())
        );
    }

    #[test]
    fn tampering_and_staleness_fail() {
        let now = 1_614_265_330;
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, SIGNATURE, br#"{"test": 2432232315}"#, now),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, "msg_other", TIMESTAMP, SIGNATURE, BODY, now),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, SIGNATURE, BODY, now + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            verify(SECRET, ID, "yesterday", SIGNATURE, BODY, now),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify("nope", ID, TIMESTAMP, SIGNATURE, BODY, now),
            Err(VerifyError::BadSecret)
        );
        // Several signatures (key rotation): any v1 match is enough; unknown versions are skipped.
        let many = format!("v2,abc v1,AAAA {SIGNATURE}");
        assert_eq!(verify(SECRET, ID, TIMESTAMP, &many, BODY, now), Ok(()));
    }
}
