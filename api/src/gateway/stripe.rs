//! The Stripe gateway (DESIGN section 13): a charge is a PaymentIntent created and confirmed in one call,
//! a refund a Refund, both over Stripe's HTTP API with form-encoded bodies in Stripe's bracket notation
//! (`metadata[invoice_id]=...`), `Authorization: Bearer sk_...`, a pinned `Stripe-Version`, and our
//! payment or refund id as the `Idempotency-Key`, so a retry, a replay or the reconciler never charges or
//! refunds twice.
//!
//! Stripe does not bind a PaymentMethod (`pm_...`, made by Stripe.js in the buyer's browser) to our
//! checkout: `store::stripe` does, with the sandbox tokens' rule (one pm_, one checkout, one payment).
//!
//! Amounts: Stripe takes the smallest currency unit for every currency, which is our minor unit (JPY 0
//! decimals, USD 2, KWD 3). Stripe's currency guide adds, for the three-decimal currencies (BHD, JOD, KWD,
//! OMR, TND), that the last digit must be 0; such an amount is declined here before Stripe is called
//! (`amount_too_precise`). The spec itself only says "smallest currency unit" (see docs/gateways.md).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{
    ChargeOutcome, ChargeRequest, Gateway, GatewayError, MethodSummary, RefundOutcome, RefundRequest,
    TokenBinding,
};
use crate::config::StripeSettings;
use crate::db::{Db, Tx};
use crate::masking::Secret;
use crate::store::stripe as store;

/// The API version every request pins, so Stripe's answers keep the shape this code (and the vendored
/// spec in `api/tests/stripe/`, published in October 2025) expects.
pub const STRIPE_VERSION: &str = "2025-09-30.clover";

/// Attempts per request: the first and up to three retries of a 429 or 5xx.
const MAX_ATTEMPTS: u32 = 4;
/// Longest wait honoured from `Retry-After` (a longer one is Stripe asking us to come back later: the
/// reconciler will).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How soon the reconciler asks again about a PaymentIntent still `processing` (bank debits take days;
/// the webhook usually tells us first).
const PROCESSING_RECHECK_MS: i64 = 5 * 60 * 1000;
/// Longest PaymentMethod id accepted (Stripe's are about 27 characters).
const MAX_PM_LEN: usize = 100;

/// Currencies Stripe takes in thousandths whose last digit must be 0.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

pub struct StripeGateway {
    db: Db,
    http: reqwest::Client,
    base: String,
    secret_key: Secret,
}

impl StripeGateway {
    /// Checks the key's shape and builds the client. The base URL is the operator's (never a seller's), so
    /// this is a plain rustls client rather than `outbound`'s private-address-refusing one (which exists for
    /// seller-chosen URLs); no redirects are followed (Stripe's API never redirects, and a redirect would
    /// carry the secret key elsewhere).
    pub fn new(db: Db, settings: &StripeSettings) -> anyhow::Result<StripeGateway> {
        settings.secret_key_mode()?;
        let secret_key = settings
            .secret_key
            .clone()
            .ok_or_else(|| anyhow::anyhow!("TRANCHE_STRIPE_SECRET_KEY is required"))?;
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("tranche/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(StripeGateway {
            db,
            http,
            base: settings.api_base.trim_end_matches('/').to_owned(),
            secret_key,
        })
    }

    /// One call to Stripe, with retries of 429 and 5xx (same idempotency key, so a retried POST is the
    /// same request to Stripe) honouring `Stripe-Should-Retry` and `Retry-After`. A transport error or
    /// timeout is `Unavailable` at once: the request may have been applied, and the reconciler decides.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(String, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, Value), GatewayError> {
        let url = format!("{}{path}", self.base);
        let body = form.map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish()
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.secret_key.expose())
                .header("Stripe-Version", STRIPE_VERSION);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = &body {
                request = request
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| GatewayError::Unavailable(format!("{method} {path}: {}", transport(&e))))?;
            let status = response.status();
            let should_retry = response
                .headers()
                .get("Stripe-Should-Retry")
                .and_then(|v| v.to_str().ok())
                .map(|v| v == "true");
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let retryable =
                should_retry.unwrap_or(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error());
            if retryable && attempt < MAX_ATTEMPTS {
                let backoff = Duration::from_millis(100 * 2u64.pow(attempt));
                let wait = retry_after.unwrap_or(backoff).min(MAX_RETRY_AFTER);
                tracing::info!(%method, path, status = status.as_u16(), attempt, ?wait, "retrying Stripe");
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = response
                .text()
                .await
                .map_err(|e| GatewayError::Unavailable(format!("{method} {path}: {}", transport(&e))))?;
            if retryable || status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                return Err(GatewayError::Unavailable(format!(
                    "{method} {path}: Stripe answered {status} after {attempt} attempts"
                )));
            }
            let json: Value = serde_json::from_str(&text).map_err(|_| {
                GatewayError::Unavailable(format!("{method} {path}: Stripe answered {status} without JSON"))
            })?;
            return Ok((status, json));
        }
    }

    /// Stripe's PaymentIntent, as an outcome; `asked` is `(minor, currency)` when known, to refuse a
    /// PaymentIntent for something else.
    pub fn intent_outcome(intent: &Value, asked: Option<(i64, &str)>) -> Result<ChargeOutcome, GatewayError> {
        let id = text(intent, "id").unwrap_or_default();
        let amount = intent.get("amount").and_then(Value::as_i64).unwrap_or(-1);
        let currency = text(intent, "currency").unwrap_or_default().to_ascii_uppercase();
        if let Some((minor, code)) = asked {
            if amount != minor || currency != code {
                // Never settle a charge for something other than what was asked: left pending, and the
                // reconciler's finalize refuses it too (the sandbox path's integrity check), loudly.
                tracing::error!(payment_intent = %id, amount, %currency, minor, code, "Stripe PaymentIntent differs from the charge asked for; refused");
                return Err(GatewayError::Unavailable(format!(
                    "PaymentIntent {id} is for {amount} {currency}, not {minor} {code}"
                )));
            }
        }
        let status = text(intent, "status").unwrap_or_default();
        match status.as_str() {
            "succeeded" => Ok(ChargeOutcome::Succeeded {
                charge_id: id,
                amount_minor: intent
                    .get("amount_received")
                    .and_then(Value::as_i64)
                    .unwrap_or(amount),
                currency,
            }),
            "processing" => Ok(ChargeOutcome::Pending {
                charge_id: id,
                retry_after_ms: PROCESSING_RECHECK_MS,
            }),
            "requires_payment_method" | "canceled" => {
                let error = intent.get("last_payment_error");
                let code = error
                    .and_then(|e| text(e, "decline_code").or_else(|| text(e, "code")))
                    .unwrap_or_else(|| {
                        if status == "canceled" {
                            "canceled"
                        } else {
                            "card_declined"
                        }
                        .to_owned()
                    });
                Ok(ChargeOutcome::Declined { decline_code: code })
            }
            // 3-D Secure: the buyer's browser runs Stripe.js's `handleNextAction` with the client secret,
            // then the confirm call (or the webhook) looks the PaymentIntent up again.
            "requires_action" => match text(intent, "client_secret") {
                Some(client_secret) => Ok(ChargeOutcome::ActionRequired {
                    charge_id: id,
                    client_secret,
                }),
                None => Err(GatewayError::Unavailable(format!(
                    "PaymentIntent {id} requires an action but carries no client_secret"
                ))),
            },
            other => Err(GatewayError::Unavailable(format!(
                "PaymentIntent {id} is {other:?}, which a confirmed automatic-capture charge never is"
            ))),
        }
    }

    fn refund_outcome(refund: &Value) -> Result<RefundOutcome, GatewayError> {
        let id = text(refund, "id").unwrap_or_default();
        match text(refund, "status").unwrap_or_default().as_str() {
            "succeeded" => Ok(RefundOutcome::Succeeded {
                refund_id: id,
                amount_minor: refund.get("amount").and_then(Value::as_i64).unwrap_or(-1),
                currency: text(refund, "currency").unwrap_or_default().to_ascii_uppercase(),
            }),
            "failed" | "canceled" => Ok(RefundOutcome::Failed {
                refund_id: Some(id),
                failure_code: text(refund, "failure_reason").unwrap_or_else(|| "failed".to_owned()),
            }),
            // `pending` / `requires_action`: not final. Left pending; the reconciler asks again.
            other => Err(GatewayError::Unavailable(format!("refund {id} is still {other}"))),
        }
    }

    async fn search_intent(&self, payment_id: &str) -> Result<Option<Value>, GatewayError> {
        // Ids are ours (`pay_` and a UUID), so quoting cannot be broken out of; refuse anything else.
        if !payment_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Ok(None);
        }
        let query = format!("metadata['tranche_payment_id']:'{payment_id}'");
        let (status, json) = self
            .call(
                Method::GET,
                "/v1/payment_intents/search",
                &[("query", &query)],
                None,
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(stripe_error("searching PaymentIntents", status, &json));
        }
        Ok(json
            .get("data")
            .and_then(Value::as_array)
            .and_then(|data| data.first())
            .cloned())
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn transport(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        error.to_string()
    }
}

fn stripe_error(what: &str, status: StatusCode, json: &Value) -> GatewayError {
    let error = json.get("error");
    let code = error.and_then(|e| text(e, "code")).unwrap_or_default();
    let kind = error.and_then(|e| text(e, "type")).unwrap_or_default();
    GatewayError::Unavailable(format!("{what}: Stripe answered {status} ({kind} {code})"))
}

fn unavailable(error: sqlx::Error) -> GatewayError {
    GatewayError::Unavailable(format!("Stripe gateway records: {error}"))
}

/// A `pm_...` id of a sane length and alphabet: anything else is refused without a call.
fn payment_method_id(token: &str) -> Option<&str> {
    let shaped = token.len() <= MAX_PM_LEN
        && token.strip_prefix("pm_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    shaped.then_some(token)
}

/// The PaymentIntent create form: amount in minor units, lowercase currency, confirm now, our ids as
/// metadata, redirect-based methods off (the charge is confirmed server-side, with no return URL). A bank
/// debit (ACH, SEPA) also needs a mandate, which Stripe takes with the confirmation as `mandate_data`: the
/// buyer accepted it online, from the IP address and browser the payment request came from (the Payment
/// Element shows the mandate text before the buyer pays).
pub fn charge_form(request: &ChargeRequest) -> Vec<(String, String)> {
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let mut form = vec![
        pair("amount", &request.amount.minor_units().to_string()),
        pair("currency", &request.amount.currency().code().to_ascii_lowercase()),
        pair("payment_method", &request.payment_token),
        pair("confirm", "true"),
        pair("automatic_payment_methods[enabled]", "true"),
        pair("automatic_payment_methods[allow_redirects]", "never"),
        pair("metadata[tranche_payment_id]", &request.idempotency_key),
        pair("metadata[invoice_id]", &request.invoice_id),
        pair("metadata[invoice_number]", &request.invoice_number),
        pair("metadata[seller_id]", &request.seller_id),
    ];
    if let (BANK_DEBIT, Some(buyer)) = (request.method_kind.as_str(), &request.buyer) {
        form.extend([
            pair("mandate_data[customer_acceptance][type]", "online"),
            pair(
                "mandate_data[customer_acceptance][online][ip_address]",
                &buyer.ip_address,
            ),
            pair(
                "mandate_data[customer_acceptance][online][user_agent]",
                &buyer.user_agent,
            ),
        ]);
    }
    form
}

/// The method kind of bank debits (`us_bank_account`, `sepa_debit`), which need a mandate.
const BANK_DEBIT: &str = "bank_account";

#[async_trait]
impl Gateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn describe_token(
        &self,
        token: &str,
        binding: &TokenBinding,
    ) -> Result<MethodSummary, GatewayError> {
        let pm = payment_method_id(token).ok_or(GatewayError::InvalidToken)?;
        if !store::usable(&self.db, pm, binding).await.map_err(unavailable)? {
            return Err(GatewayError::InvalidToken);
        }
        let path = format!("/v1/payment_methods/{pm}");
        let (status, json) = self.call(Method::GET, &path, &[], None, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(GatewayError::InvalidToken);
        }
        if !status.is_success() {
            return Err(stripe_error("reading a PaymentMethod", status, &json));
        }
        let kind = text(&json, "type").unwrap_or_default();
        let details = json.get(&kind);
        let last4 = details.and_then(|d| text(d, "last4"));
        let (kind, brand) = match kind.as_str() {
            "card" => ("card", details.and_then(|d| text(d, "brand"))),
            "us_bank_account" => (BANK_DEBIT, details.and_then(|d| text(d, "bank_name"))),
            "sepa_debit" => (BANK_DEBIT, Some("sepa".to_owned())),
            // Other methods (wallets, ...) are not offered by this checkout yet.
            _ => return Err(GatewayError::InvalidToken),
        };
        Ok(MethodSummary {
            kind: kind.to_owned(),
            brand: brand.unwrap_or_else(|| "bank".to_owned()).to_ascii_lowercase(),
            last4: last4.unwrap_or_default(),
        })
    }

    async fn claim_token(
        &self,
        tx: &mut Tx,
        token: &str,
        binding: &TokenBinding,
        payment_id: &str,
    ) -> Result<bool, GatewayError> {
        let Some(pm) = payment_method_id(token) else {
            return Ok(false);
        };
        let now = self.db.clock().now_ms();
        store::claim(tx, pm, binding, payment_id, now)
            .await
            .map_err(unavailable)
    }

    async fn release_token(&self, tx: &mut Tx, payment_id: &str) -> Result<(), GatewayError> {
        store::release(tx, payment_id).await.map_err(unavailable)
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let currency = request.amount.currency().code();
        let minor = request.amount.minor_units();
        if THREE_DECIMAL.contains(&currency) && minor % 10 != 0 {
            return Ok(ChargeOutcome::Declined {
                decline_code: "amount_too_precise".to_owned(),
            });
        }
        let form = charge_form(request);
        let key = &request.idempotency_key;
        let (status, json) = self
            .call(Method::POST, "/v1/payment_intents", &[], Some(&form), Some(key))
            .await?;
        // A decline is a 402 card_error carrying the PaymentIntent; anything else 4xx is a refusal too.
        let intent = if status.is_success() {
            Some(&json)
        } else {
            json.get("error").and_then(|e| e.get("payment_intent"))
        };
        if let Some(id) = intent.and_then(|i| i.get("id")).and_then(Value::as_str) {
            let now = self.db.clock().now_ms();
            store::record_intent(&self.db, key, id, now)
                .await
                .map_err(unavailable)?;
        }
        if status.is_success() {
            return Self::intent_outcome(&json, Some((minor, currency)));
        }
        let error = json.get("error").cloned().unwrap_or(Value::Null);
        let code = text(&error, "decline_code").or_else(|| text(&error, "code"));
        match (text(&error, "type").as_deref(), code) {
            (Some("card_error"), code) => Ok(ChargeOutcome::Declined {
                decline_code: code.unwrap_or_else(|| "card_declined".to_owned()),
            }),
            (Some("invalid_request_error"), Some(code)) if code == "resource_missing" => {
                Err(GatewayError::InvalidToken)
            }
            _ => Err(stripe_error("creating a PaymentIntent", status, &json)),
        }
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        let stored = store::intent_of(&self.db, idempotency_key)
            .await
            .map_err(unavailable)?;
        let intent = match stored {
            Some(id) => {
                let path = format!("/v1/payment_intents/{id}");
                let (status, json) = self.call(Method::GET, &path, &[], None, None).await?;
                if !status.is_success() {
                    return Err(stripe_error("reading a PaymentIntent", status, &json));
                }
                json
            }
            // Crashed before Stripe's answer was recorded: find it by our id in its metadata.
            None => match self.search_intent(idempotency_key).await? {
                Some(intent) => {
                    if let Some(id) = intent.get("id").and_then(Value::as_str) {
                        let now = self.db.clock().now_ms();
                        store::record_intent(&self.db, idempotency_key, id, now)
                            .await
                            .map_err(unavailable)?;
                    }
                    intent
                }
                None => return Ok(None),
            },
        };
        Self::intent_outcome(&intent, None).map(Some)
    }

    /// Cancels a PaymentIntent still `requires_action` (`cancellation_reason=abandoned`), so a challenge
    /// finished after the hold was released can never charge the buyer. Stripe refuses to cancel one that
    /// succeeded or is processing meanwhile: then it is looked up and finalized as it is.
    async fn cancel_action(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        let Some(id) = store::intent_of(&self.db, idempotency_key)
            .await
            .map_err(unavailable)?
        else {
            return self.lookup(idempotency_key).await;
        };
        let path = format!("/v1/payment_intents/{id}/cancel");
        let form = [("cancellation_reason".to_owned(), "abandoned".to_owned())];
        let key = format!("{idempotency_key}-cancel");
        let (status, json) = self
            .call(Method::POST, &path, &[], Some(&form), Some(&key))
            .await?;
        if status.is_success() && text(&json, "status").as_deref() == Some("canceled") {
            // Stripe's code for a payment whose authentication was never completed.
            return Ok(Some(ChargeOutcome::Declined {
                decline_code: "authentication_required".to_owned(),
            }));
        }
        if status.is_success() || status.is_client_error() {
            return self.lookup(idempotency_key).await;
        }
        Err(stripe_error("canceling a PaymentIntent", status, &json))
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        let form = vec![
            ("payment_intent".to_owned(), request.charge_id.clone()),
            ("amount".to_owned(), request.amount.minor_units().to_string()),
            (
                "metadata[tranche_refund_id]".to_owned(),
                request.idempotency_key.clone(),
            ),
        ];
        let (status, json) = self
            .call(
                Method::POST,
                "/v1/refunds",
                &[],
                Some(&form),
                Some(&request.idempotency_key),
            )
            .await?;
        if status.is_success() {
            return Self::refund_outcome(&json);
        }
        // Stripe refused the refund (already refunded, amount too large, ...): no money moved.
        match json.get("error").and_then(|e| text(e, "code")) {
            Some(code) if status.is_client_error() && status != StatusCode::UNAUTHORIZED => {
                Ok(RefundOutcome::Failed {
                    refund_id: None,
                    failure_code: code,
                })
            }
            _ => Err(stripe_error("creating a refund", status, &json)),
        }
    }

    async fn find_refund(&self, idempotency_key: &str) -> Result<Option<RefundOutcome>, GatewayError> {
        let Some(intent) = store::intent_of_refund(&self.db, idempotency_key)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let (status, json) = self
            .call(
                Method::GET,
                "/v1/refunds",
                &[("payment_intent", &intent), ("limit", "100")],
                None,
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(stripe_error("listing refunds", status, &json));
        }
        let found = json.get("data").and_then(Value::as_array).and_then(|data| {
            data.iter().find(|r| {
                r.get("metadata")
                    .and_then(|m| m.get("tranche_refund_id"))
                    .and_then(Value::as_str)
                    == Some(idempotency_key)
            })
        });
        found.map(Self::refund_outcome).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_method_ids_are_shaped() {
        assert!(payment_method_id("pm_1Pgafy2eZvKYlo2C").is_some());
        for bad in [
            "",
            "pm_",
            "tok_visa",
            "pm_abc def",
            "pm_a'b",
            &format!("pm_{}", "a".repeat(100)),
        ] {
            assert!(payment_method_id(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn outcomes_follow_the_payment_intent_status() {
        let pi = |status: &str, extra: Value| {
            let mut v = serde_json::json!({"id": "pi_1", "amount": 1000, "amount_received": 1000, "currency": "usd", "status": status});
            if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            v
        };
        let ok = StripeGateway::intent_outcome(&pi("succeeded", Value::Null), Some((1000, "USD")));
        assert!(matches!(ok, Ok(ChargeOutcome::Succeeded { ref currency, .. }) if currency == "USD"));
        assert!(matches!(
            StripeGateway::intent_outcome(&pi("processing", Value::Null), None),
            Ok(ChargeOutcome::Pending { .. })
        ));
        let declined = pi(
            "requires_payment_method",
            serde_json::json!({"last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}}),
        );
        assert_eq!(
            StripeGateway::intent_outcome(&declined, None).unwrap(),
            ChargeOutcome::Declined {
                decline_code: "insufficient_funds".into()
            }
        );
        // Amount or currency other than asked: refused, never settled.
        assert!(StripeGateway::intent_outcome(&pi("succeeded", Value::Null), Some((999, "USD"))).is_err());
        assert!(StripeGateway::intent_outcome(&pi("succeeded", Value::Null), Some((1000, "EUR"))).is_err());
    }
}
