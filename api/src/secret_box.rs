//! Secrets at rest: webhook signing secrets, connector credentials and token signing keys are sealed with
//! `TRANCHE_MASTER_KEY` (AES-256-GCM, 32 bytes, base64) before they reach the database, so a copied
//! database file or backup holds no usable credential. Nodes sharing a database share the key.
//!
//! A sealed value is `enc:v1:` + base64(nonce || ciphertext || tag). The associated data is a context
//! string naming the column and row (`erp_endpoints.signing_secret:erp_...`), so a ciphertext copied into
//! another row or column does not open. Without a master key (development, the demo) values are stored as
//! they are; production mode refuses to start without one. Values without the prefix are read as plain
//! text, which is how rows written before a key was configured stay readable.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::masking::Secret;

const PREFIX: &str = "enc:v1:";

/// Why a stored secret cannot be read, or a master key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    #[error("TRANCHE_MASTER_KEY must be 32 bytes in base64")]
    BadMasterKey,
    #[error("a stored secret is encrypted but no TRANCHE_MASTER_KEY is configured")]
    NoMasterKey,
    #[error(
        "a stored secret does not open with this TRANCHE_MASTER_KEY (wrong key, or the value was moved)"
    )]
    Corrupt,
    #[error("the system random source failed")]
    Random,
}

/// Seals and opens secrets at rest. Cheap to share (`Arc`) and never printed.
pub struct SecretBox {
    key: Option<LessSafeKey>,
    random: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("master_key", &self.key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SecretBox {
    /// From the configured master key (base64 of 32 bytes), or none.
    pub fn new(master_key: Option<&Secret>) -> Result<SecretBox, SecretBoxError> {
        let key = match master_key {
            None => None,
            Some(encoded) => {
                let bytes = STANDARD
                    .decode(encoded.expose().trim())
                    .map_err(|_| SecretBoxError::BadMasterKey)?;
                if bytes.len() != 32 {
                    return Err(SecretBoxError::BadMasterKey);
                }
                let unbound =
                    UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SecretBoxError::BadMasterKey)?;
                Some(LessSafeKey::new(unbound))
            }
        };
        Ok(SecretBox {
            key,
            random: SystemRandom::new(),
        })
    }

    /// A box without a master key: values are stored as they are.
    pub fn plaintext() -> SecretBox {
        SecretBox {
            key: None,
            random: SystemRandom::new(),
        }
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The value to store for `plaintext` in the place `context` names (`table.column:row_id`).
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, SecretBoxError> {
        let Some(key) = &self.key else {
            return Ok(plaintext.to_owned());
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| SecretBoxError::Random)?;
        let mut in_out = plaintext.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| SecretBoxError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", STANDARD.encode(sealed)))
    }

    /// The plaintext of a stored value written by [`SecretBox::seal`] with the same `context`.
    pub fn open(&self, context: &str, stored: &str) -> Result<Secret, SecretBoxError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(Secret::new(stored));
        };
        let key = self.key.as_ref().ok_or(SecretBoxError::NoMasterKey)?;
        let mut bytes = STANDARD.decode(encoded).map_err(|_| SecretBoxError::Corrupt)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretBoxError::Corrupt);
        }
        let mut ciphertext = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SecretBoxError::Corrupt)?;
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut ciphertext)
            .map_err(|_| SecretBoxError::Corrupt)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| SecretBoxError::Corrupt)
    }

    /// Whether a stored value is sealed (used to re-seal plaintext rows once a key is configured).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Secret {
        Secret::new(STANDARD.encode([7u8; 32]))
    }

    #[test]
    fn sealed_values_open_only_in_their_own_place() {
        let sb = SecretBox::new(Some(&key())).unwrap();
        let sealed = sb
            .seal("erp_endpoints.signing_secret:erp_1", "whsec_abc")
            .unwrap();
        assert!(
            SecretBox::is_sealed(&sealed) && !sealed.contains("whsec_abc"),
            "{sealed}"
        );
        assert_eq!(
            sb.open("erp_endpoints.signing_secret:erp_1", &sealed)
                .unwrap()
                .expose(),
            "whsec_abc"
        );
        // Moved to another row or column: refused, not decrypted.
        assert_eq!(
            sb.open("erp_endpoints.signing_secret:erp_2", &sealed)
                .unwrap_err(),
            SecretBoxError::Corrupt
        );
        // Two seals of one value differ (fresh nonce each time).
        assert_ne!(
            sealed,
            sb.seal("erp_endpoints.signing_secret:erp_1", "whsec_abc")
                .unwrap()
        );
    }

    #[test]
    fn wrong_or_missing_key_and_tampering_are_errors() {
        let sb = SecretBox::new(Some(&key())).unwrap();
        let sealed = sb.seal("c", "secret").unwrap();
        let other = SecretBox::new(Some(&Secret::new(STANDARD.encode([8u8; 32])))).unwrap();
        assert_eq!(other.open("c", &sealed).unwrap_err(), SecretBoxError::Corrupt);
        assert_eq!(
            SecretBox::plaintext().open("c", &sealed).unwrap_err(),
            SecretBoxError::NoMasterKey
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(sb.open("c", &tampered).is_err());
        assert_eq!(sb.open("c", "enc:v1:AAAA").unwrap_err(), SecretBoxError::Corrupt);
    }

    #[test]
    fn plaintext_rows_stay_readable_and_bad_keys_are_refused() {
        let sb = SecretBox::new(Some(&key())).unwrap();
        assert_eq!(sb.open("c", "whsec_legacy").unwrap().expose(), "whsec_legacy");
        assert_eq!(SecretBox::plaintext().seal("c", "x").unwrap(), "x");
        assert_eq!(
            SecretBox::new(Some(&Secret::new("short"))).unwrap_err(),
            SecretBoxError::BadMasterKey
        );
        assert_eq!(
            SecretBox::new(Some(&Secret::new(STANDARD.encode([1u8; 31])))).unwrap_err(),
            SecretBoxError::BadMasterKey
        );
        assert!(!format!("{sb:?}").contains("AAAA"));
    }
}
