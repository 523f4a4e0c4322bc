//! `POST /v1/gateways/stripe/webhook`: Stripe's events in (DESIGN section 13). The `Stripe-Signature`
//! header is verified (HMAC-SHA256 under `TRANCHE_STRIPE_WEBHOOK_SECRET` of `{t}.{raw body}`, any `v1`
//! matching, `t` within 5 minutes of our clock) before the body is even parsed. Events are applied through
//! the same finalize paths the API and the reconciler use, which lock the invoice and move a payment or
//! refund out of `pending` only once: so an event replayed, arriving out of order, or arriving before the
//! API's own finalize changes nothing twice.

// Outcomes reported by the gateway are applied by Tranche itself: the audit log names them `system`.
use crate::store::audit::Actor;
use crate::store::chargebacks;
use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tranche_domain::ErrorCode;

use crate::config::GatewayKind;
use crate::error::{ApiError, ApiResult};
use crate::gateway::stripe::StripeGateway;
use crate::state::AppState;
use crate::store::stripe as store;

/// Stripe's default tolerance: a signature older (or newer) than this is refused, so a captured event
/// cannot be replayed later.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Why a signature is refused (what the 400 says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Stale,
    Mismatch,
}

/// Checks `Stripe-Signature` (`t=...,v1=...[,v1=...]`) over `payload` at `now_seconds`.
pub fn verify(header: &str, payload: &[u8], secret: &str, now_seconds: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Missing)?;
    if signatures.is_empty() {
        return Err(SignatureError::Missing);
    }
    if (now_seconds - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    for sig in signatures {
        let Some(bytes) = hex(sig) else { continue };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Stripe's events, applied. Unknown events, and events about PaymentIntents Tranche did not make (another
/// integration on the same Stripe account), are acknowledged and ignored.
#[utoipa::path(post, path = "/v1/gateways/stripe/webhook", tag = "gateways", request_body(content = String, description = "A Stripe event (JSON), exactly as Stripe sent it", content_type = "application/json"), params(("Stripe-Signature" = String, Header, description = "t=...,v1=... (HMAC-SHA256 of `t.body`)")), responses((status = 200, description = "Applied or ignored"), (status = 400, body = tranche_domain::wire::Problem), (status = 404, description = "The Stripe gateway is not configured", body = tranche_domain::wire::Problem)))]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let secret = match (&state.settings.gateway, &state.settings.stripe.webhook_secret) {
        (GatewayKind::Stripe, Some(secret)) if !secret.is_empty() => secret.expose().to_owned(),
        _ => return Err(ApiError::NotFound("route")),
    };
    let header = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = state.clock().now_ms() / 1000;
    if let Err(why) = verify(header, &body, &secret, now) {
        let detail = match why {
            SignatureError::Missing => "Stripe-Signature is missing or has no t= and v1= parts.",
            SignatureError::Stale => {
                "Stripe-Signature is older than 5 minutes (or from the future): refused as a possible replay."
            }
            SignatureError::Mismatch => {
                "Stripe-Signature does not match this event under the configured webhook secret."
            }
        };
        tracing::warn!(?why, "Stripe webhook refused");
        return Err(ApiError::invalid(
            ErrorCode::WebhookSignatureInvalid,
            "Stripe-Signature",
            detail,
        ));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid(ErrorCode::MalformedBody, "body", "The event is not JSON."))?;
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let object = event
        .get("data")
        .and_then(|d| d.get("object"))
        .cloned()
        .unwrap_or(Value::Null);
    match kind {
        "payment_intent.succeeded" | "payment_intent.processing" | "payment_intent.payment_failed" => {
            if let Some(payment_id) = payment_of(&state, &object).await? {
                let outcome = StripeGateway::intent_outcome(&object, None)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("Stripe event {kind}: {e}")))?;
                crate::payment_flow::finalize(&state, &payment_id, &outcome, Actor::System).await?;
                tracing::info!(%payment_id, kind, "applied a Stripe event");
            }
        }
        "charge.refunded" => {
            let intent = object.get("payment_intent").and_then(Value::as_str).unwrap_or("");
            if let Some(payment_id) = store::payment_of_intent(&state.db, intent)
                .await
                .map_err(anyhow::Error::from)?
            {
                for refund_id in store::pending_refunds_of(&state.db, &payment_id)
                    .await
                    .map_err(anyhow::Error::from)?
                {
                    // Asked of Stripe rather than read from the event: the Charge no longer lists its
                    // refunds by default, and the refund's own record is what the reconciler trusts too.
                    if let Ok(Some(outcome)) = state.gateway.find_refund(&refund_id).await {
                        crate::refund_flow::finalize(&state, &refund_id, &outcome, Actor::System).await?;
                    }
                }
            }
        }
        // A chargeback: recorded once per Stripe dispute id and shown in the seller's alerts. The balance is
        // left as it is: the dispute may be won, and its outcome is followed in Stripe.
        "charge.dispute.created" => {
            let intent = object.get("payment_intent").and_then(Value::as_str).unwrap_or("");
            let payment_id = store::payment_of_intent(&state.db, intent)
                .await
                .map_err(anyhow::Error::from)?;
            let (Some(payment_id), Some(id), Some(amount_minor), Some(currency)) = (
                payment_id,
                object.get("id").and_then(Value::as_str),
                object.get("amount").and_then(Value::as_i64).filter(|a| *a > 0),
                object.get("currency").and_then(Value::as_str),
            ) else {
                tracing::warn!(
                    kind,
                    "a Stripe dispute for no payment of ours, or without id and amount"
                );
                return Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})));
            };
            let reason = object
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty() && r.len() <= 64)
                .unwrap_or("general");
            let new = chargebacks::NewChargeback {
                id,
                payment_id: &payment_id,
                amount_minor,
                currency: &currency.to_ascii_uppercase(),
                reason,
                created_at: state.clock().now_ms(),
            };
            if chargebacks::record(&state.db, &new)
                .await
                .map_err(anyhow::Error::from)?
            {
                tracing::warn!(%payment_id, dispute = id, amount_minor, reason, "a chargeback was opened");
            }
        }
        _ => {}
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})))
}

/// The Stripe payment a PaymentIntent event is about: by the recorded PaymentIntent id, else by our id in
/// its metadata (an event that beat the charge call's answer), only if that payment went through Stripe.
async fn payment_of(state: &AppState, intent: &Value) -> ApiResult<Option<String>> {
    let id = intent.get("id").and_then(Value::as_str).unwrap_or("");
    if let Some(payment_id) = store::payment_of_intent(&state.db, id)
        .await
        .map_err(anyhow::Error::from)?
    {
        return Ok(Some(payment_id));
    }
    let from_metadata = intent
        .get("metadata")
        .and_then(|m| m.get("tranche_payment_id"))
        .and_then(Value::as_str);
    match from_metadata {
        Some(payment_id)
            if store::is_stripe_payment(&state.db, payment_id)
                .await
                .map_err(anyhow::Error::from)? =>
        {
            Ok(Some(payment_id.to_owned()))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let sig: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={sig}")
    }

    #[test]
    fn signatures_are_checked_for_key_payload_and_age() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign("whsec_a", 1_000, body);
        assert_eq!(verify(&header, body, "whsec_a", 1_000), Ok(()));
        assert_eq!(
            verify(&header, body, "whsec_a", 1_000 + TOLERANCE_SECONDS),
            Ok(())
        );
        assert_eq!(
            verify(&header, body, "whsec_a", 1_001 + TOLERANCE_SECONDS),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&header, body, "whsec_b", 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, br#"{"id":"evt_2"}"#, "whsec_a", 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify("", body, "whsec_a", 1_000), Err(SignatureError::Missing));
        assert_eq!(
            verify("t=1000", body, "whsec_a", 1_000),
            Err(SignatureError::Missing)
        );
        // A second v1 (secret being rolled) is accepted if either matches.
        let rolled = format!("{},v1=00ff", sign("whsec_a", 1_000, body));
        assert_eq!(verify(&rolled, body, "whsec_a", 1_000), Ok(()));
    }
}
