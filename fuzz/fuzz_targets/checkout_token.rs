//! Checkout-token verification: arbitrary input never panics and is never accepted.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tranche_api::tokens::KeyRing;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        KeyRing::from_pkcs8("https://pay.example".to_owned(), "key_fuzz", pkcs8.as_ref()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    assert!(ring().verify(token).is_err(), "a token nobody signed was accepted");
});
