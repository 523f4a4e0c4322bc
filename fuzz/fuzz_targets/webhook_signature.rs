//! Standard Webhooks verification on arbitrary headers and bodies never panics, and a valid signature
//! stops verifying when any byte of the body changes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tranche_api::erp::signature::{sign, verify};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (id, ts, sigs, body) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let now = 1_700_000_000;
    let _ = verify(SECRET, id, ts, sigs, body.as_bytes(), now);
    let _ = verify(sigs, id, ts, sigs, body.as_bytes(), now);
    // Round trip, then tamper.
    if let Ok(sig) = sign(SECRET, id, now, body.as_bytes()) {
        assert!(verify(SECRET, id, &now.to_string(), &sig, body.as_bytes(), now).is_ok());
        let mut tampered = body.as_bytes().to_vec();
        tampered.push(b'x');
        assert!(verify(SECRET, id, &now.to_string(), &sig, &tampered, now).is_err());
    }
});
