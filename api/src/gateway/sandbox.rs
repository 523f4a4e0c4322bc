//! The sandbox gateway: a real gateway's test mode, in process. Test numbers follow Stripe's
//! (4242424242424242 succeeds, 4000000000000002 `card_declined`, ...). It keeps its own tables
//! (`sandbox_tokens`, `sandbox_charges`) as a real gateway keeps its records; it never stores a card
//! number, only brand, last four and the test outcome the number selects.
//!
//! Like a real gateway's tokens, a sandbox token is single-use and short-lived, and Tranche binds it to the
//! checkout (seller, invoice, checkout link) whose token authorized `POST /sandbox/v1/tokens`; the charge
//! itself only goes through for the payment that claimed the token.

use std::time::Duration;

use async_trait::async_trait;
use rand::RngCore;
use serde::Deserialize;

use super::{
    ChargeOutcome, ChargeRequest, Gateway, GatewayError, MethodSummary, RefundOutcome, RefundRequest,
    TokenBinding,
};
use crate::config::SandboxSettings;
use crate::db::{is_unique_violation, new_id, Db, Tx};
use crate::store::sandbox::{self as store, Charge, ChargeStatus, SandboxRefund};

/// How long a sandbox token stays usable: long enough to fill in and confirm, short enough that a token
/// lifted from a page or a log is worth little (DESIGN section 4: 15 minutes).
pub const TOKEN_TTL_MS: i64 = 15 * 60 * 1000;

/// Longest token looked up (ours are 44 characters); longer input is refused without a query.
const MAX_TOKEN_LEN: usize = 100;

pub struct SandboxGateway {
    db: Db,
    settings: SandboxSettings,
}

impl SandboxGateway {
    pub fn new(db: Db, settings: SandboxSettings) -> SandboxGateway {
        SandboxGateway { db, settings }
    }
}

/// `POST /sandbox/v1/tokens` body: exactly one of `card` or `bank_account`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub card: Option<CardInput>,
    pub bank_account: Option<BankInput>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a card number or CVC.
        f.write_str("CardInput(***)")
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankInput {
    pub routing_number: String,
    pub account_number: String,
}

impl std::fmt::Debug for BankInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BankInput(***)")
    }
}

/// Why the sandbox refuses to tokenize; `field` is what the fields page highlights.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TokenizeError {
    pub field: &'static str,
    pub message: &'static str,
}

fn err(field: &'static str, message: &'static str) -> TokenizeError {
    TokenizeError { field, message }
}

/// Luhn checksum over ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// ABA routing number checksum (3-7-1 weights).
pub fn routing_valid(routing: &str) -> bool {
    if routing.len() != 9 || !routing.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let d: Vec<u32> = routing.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = d.chunks(3).map(|c| 3 * c[0] + 7 * c[1] + c[2]).sum();
    sum.is_multiple_of(10)
}

fn card_brand(number: &str) -> &'static str {
    let prefix2: u32 = number.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let prefix4: u32 = number.get(..4).and_then(|p| p.parse().ok()).unwrap_or(0);
    match () {
        _ if number.starts_with('4') => "visa",
        _ if (51..=55).contains(&prefix2) || (2221..=2720).contains(&prefix4) => "mastercard",
        _ if prefix2 == 34 || prefix2 == 37 => "amex",
        _ if prefix4 == 6011 || prefix2 == 65 => "discover",
        _ => "card",
    }
}

/// What a test card number does when charged.
fn card_outcome(number: &str) -> &'static str {
    match number {
        "4000000000000002" => "card_declined",
        "4000000000009995" => "insufficient_funds",
        "4000000000000069" => "expired_card",
        "4000000000000127" => "incorrect_cvc",
        // Sandbox-only: the charge succeeds at the gateway but the API's call times out (the ambiguous case
        // the reconciler exists for).
        "4000000000000259" => "succeed_then_timeout",
        // Charges succeed; refunds fail (Stripe's card for a failing refund; the sandbox fails it at once
        // rather than later).
        "4000000000005126" => "refund_fails",
        // Sandbox-only: charges succeed; a refund is made at the gateway but the API's call times out, so
        // the reconciler has to find it.
        "4000000000007718" => "refund_then_timeout",
        _ => "succeed",
    }
}

/// Validates card or bank details and decides brand, last four and test outcome. Pure, so it is tested
/// without a database; `today` is `(year, month)`.
pub fn classify(
    request: &TokenRequest,
    today: (u32, u32),
) -> Result<MethodSummaryWithOutcome, TokenizeError> {
    match (&request.card, &request.bank_account) {
        (Some(card), None) => {
            let number: String = card.number.chars().filter(|c| *c != ' ' && *c != '-').collect();
            if !(13..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("number", "The card number must be 13 to 19 digits."));
            }
            if !luhn_valid(&number) {
                return Err(err("number", "The card number is invalid."));
            }
            if !(1..=12).contains(&card.exp_month) {
                return Err(err("exp_month", "The expiry month must be 1 to 12."));
            }
            let year = if card.exp_year < 100 {
                2000 + card.exp_year
            } else {
                card.exp_year
            };
            if (year, card.exp_month) < today || year > today.0 + 20 {
                return Err(err("exp_year", "The card has expired."));
            }
            if !(3..=4).contains(&card.cvc.len()) || !card.cvc.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("cvc", "The security code must be 3 or 4 digits."));
            }
            Ok(MethodSummaryWithOutcome {
                summary: MethodSummary {
                    kind: "card".to_owned(),
                    brand: card_brand(&number).to_owned(),
                    last4: number[number.len() - 4..].to_owned(),
                },
                outcome: card_outcome(&number),
            })
        }
        (None, Some(bank)) => {
            if !routing_valid(&bank.routing_number) {
                return Err(err("routing_number", "The routing number is invalid."));
            }
            let account = &bank.account_number;
            if !(4..=17).contains(&account.len()) || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(
                    "account_number",
                    "The account number must be 4 to 17 digits.",
                ));
            }
            let outcome = match account.as_str() {
                "000111111116" => "insufficient_funds",
                "000111111113" => "account_closed",
                _ => "succeed",
            };
            Ok(MethodSummaryWithOutcome {
                summary: MethodSummary {
                    kind: "bank_account".to_owned(),
                    brand: "ach".to_owned(),
                    last4: account[account.len() - 4..].to_owned(),
                },
                outcome,
            })
        }
        _ => Err(err("card", "Send exactly one of card or bank_account.")),
    }
}

pub struct MethodSummaryWithOutcome {
    pub summary: MethodSummary,
    pub outcome: &'static str,
}

impl SandboxGateway {
    /// Creates a token for validated details, bound to `binding` and expiring after [`TOKEN_TTL_MS`]. Only
    /// brand, last four and the outcome are stored.
    pub async fn tokenize(
        &self,
        request: &TokenRequest,
        binding: &TokenBinding,
    ) -> Result<Result<(String, MethodSummary), TokenizeError>, sqlx::Error> {
        let created_at = self.now_ms();
        // The card-expiry month comes from the same clock as the token's expiry.
        let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_at) * 1_000_000)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let classified = match classify(
            request,
            (
                u32::try_from(now.year()).unwrap_or(0),
                u32::from(u8::from(now.month())),
            ),
        ) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = format!(
            "tok_sandbox_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        store::insert_token(
            &self.db,
            &store::NewToken {
                token: &token,
                method_kind: &classified.summary.kind,
                brand: &classified.summary.brand,
                last4: &classified.summary.last4,
                outcome: classified.outcome,
                binding,
                created_at,
                expires_at: created_at + TOKEN_TTL_MS,
            },
        )
        .await?;
        Ok(Ok((token, classified.summary)))
    }

    fn now_ms(&self) -> i64 {
        self.db.clock().now_ms()
    }

    /// What a stored charge means at `now`: a pending bank debit whose time has come settles (or fails if
    /// the account said so).
    fn outcome_of(charge: Charge, now: i64) -> ChargeOutcome {
        match charge.status {
            ChargeStatus::Declined => ChargeOutcome::Declined {
                decline_code: charge.decline_code.unwrap_or_else(|| "card_declined".into()),
            },
            ChargeStatus::Pending if charge.settle_at > now => ChargeOutcome::Pending {
                charge_id: charge.charge_id,
                retry_after_ms: charge.settle_at - now,
            },
            ChargeStatus::Pending => match charge.decline_code {
                Some(code) => ChargeOutcome::Declined { decline_code: code },
                None => ChargeOutcome::Succeeded {
                    charge_id: charge.charge_id,
                    amount_minor: charge.amount_minor,
                    currency: charge.currency,
                },
            },
            ChargeStatus::Succeeded => ChargeOutcome::Succeeded {
                charge_id: charge.charge_id,
                amount_minor: charge.amount_minor,
                currency: charge.currency,
            },
        }
    }

    async fn charge_row(&self, key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        let now = self.now_ms();
        store::find_charge(&self.db, key)
            .await
            .map(|charge| charge.map(|c| Self::outcome_of(c, now)))
            .map_err(unavailable)
    }

    /// Status, decline code and settle time of a new charge for a token of `kind` with test `outcome`.
    fn new_charge_status(&self, kind: &str, outcome: &str, now: i64) -> (ChargeStatus, Option<String>, i64) {
        let settle_at = now + self.settings.ach_settle_seconds * 1000;
        match (kind == "bank_account", outcome) {
            // Bank debits are accepted now and settle (or bounce) later, like ACH.
            (true, "succeed") => (ChargeStatus::Pending, None, settle_at),
            (true, code) => (ChargeStatus::Pending, Some(code.to_owned()), settle_at),
            (false, "succeed" | "succeed_then_timeout" | "refund_fails" | "refund_then_timeout") => {
                (ChargeStatus::Succeeded, None, now)
            }
            (false, code) => (ChargeStatus::Declined, Some(code.to_owned()), now),
        }
    }
}

impl SandboxGateway {
    fn refund_outcome(refund: SandboxRefund) -> RefundOutcome {
        match refund.failure_code {
            None if refund.status == "succeeded" => RefundOutcome::Succeeded {
                refund_id: refund.refund_id,
                amount_minor: refund.amount_minor,
                currency: refund.currency,
            },
            code => RefundOutcome::Failed {
                refund_id: Some(refund.refund_id),
                failure_code: code.unwrap_or_else(|| "unknown".to_owned()),
            },
        }
    }

    /// Stripe's refund rules on the sandbox's charges, in one write transaction that locks the charge:
    /// only a succeeded charge is refundable, never for more than it minus what was refunded already, and
    /// the refund is recorded under its key (a concurrent one with the same key answers with the first).
    /// `Ok(Err(code))` refuses without recording anything, as Stripe answers such a request with an error.
    async fn make_refund(
        &self,
        request: &RefundRequest,
    ) -> Result<Result<(SandboxRefund, String), String>, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        if let Some(existing) = store::find_refund(&mut *tx, &request.idempotency_key).await? {
            tx.rollback().await?;
            return Ok(Ok((existing, String::new())));
        }
        let Some((amount_minor, currency, status, outcome)) =
            store::lock_charge(&self.db, &mut tx, &request.charge_id).await?
        else {
            tx.rollback().await?;
            return Ok(Err("resource_missing".to_owned()));
        };
        if status != ChargeStatus::Succeeded.as_str() {
            tx.rollback().await?;
            return Ok(Err("charge_not_refundable".to_owned()));
        }
        if currency != request.amount.currency().code() {
            tx.rollback().await?;
            return Ok(Err("currency_mismatch".to_owned()));
        }
        let refunded = store::refunded_minor(&mut tx, &request.charge_id).await?;
        let asked = request.amount.minor_units();
        if asked <= 0 || asked > amount_minor - refunded {
            tx.rollback().await?;
            return Ok(Err("amount_too_large".to_owned()));
        }
        let failed = outcome == "refund_fails";
        let refund = SandboxRefund {
            idempotency_key: request.idempotency_key.clone(),
            refund_id: new_id("re_sandbox"),
            charge_id: request.charge_id.clone(),
            amount_minor: asked,
            currency,
            status: if failed { "failed" } else { "succeeded" }.to_owned(),
            failure_code: failed.then(|| "expired_or_canceled_card".to_owned()),
            created_at: self.now_ms(),
        };
        match store::insert_refund(&mut tx, &refund).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return match store::find_refund(self.db.pool(), &request.idempotency_key).await? {
                    Some(existing) => Ok(Ok((existing, String::new()))),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(Ok((refund, outcome)))
    }
}

/// A storage failure as the payment flow sees it: the gateway could not answer.
fn unavailable(error: sqlx::Error) -> GatewayError {
    GatewayError::Unavailable(error.to_string())
}

#[async_trait]
impl Gateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn describe_token(
        &self,
        token: &str,
        binding: &TokenBinding,
    ) -> Result<MethodSummary, GatewayError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(GatewayError::InvalidToken);
        }
        let (kind, brand, last4) = store::usable_token(&self.db, token, binding, self.now_ms())
            .await
            .map_err(unavailable)?
            .ok_or(GatewayError::InvalidToken)?;
        Ok(MethodSummary { kind, brand, last4 })
    }

    async fn claim_token(
        &self,
        tx: &mut Tx,
        token: &str,
        binding: &TokenBinding,
        payment_id: &str,
    ) -> Result<bool, GatewayError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(false);
        }
        store::claim_token(tx, token, binding, payment_id, self.now_ms())
            .await
            .map_err(unavailable)
    }

    async fn release_token(&self, tx: &mut Tx, payment_id: &str) -> Result<(), GatewayError> {
        store::release_token(tx, payment_id).await.map_err(unavailable)
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        if self.settings.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.settings.latency_ms)).await;
        }
        if let Some(existing) = self.charge_row(&request.idempotency_key).await? {
            return Ok(existing);
        }
        if request.payment_token.len() > MAX_TOKEN_LEN {
            return Err(GatewayError::InvalidToken);
        }
        // Only the payment that claimed the token may charge it (its id is the idempotency key).
        let (kind, outcome) =
            store::claimed_token(&self.db, &request.payment_token, &request.idempotency_key)
                .await
                .map_err(unavailable)?
                .ok_or(GatewayError::InvalidToken)?;
        let now = self.now_ms();
        let (status, decline_code, settle_at) = self.new_charge_status(&kind, &outcome, now);
        let charge = Charge {
            idempotency_key: request.idempotency_key.clone(),
            charge_id: new_id("ch_sandbox"),
            token: request.payment_token.clone(),
            amount_minor: request.amount.minor_units(),
            currency: request.amount.currency().code().to_owned(),
            status,
            decline_code,
            settle_at,
            created_at: now,
        };
        match store::insert_charge(&self.db, &charge).await {
            Ok(()) => {}
            // A concurrent charge with the same key won: answer with its outcome, like a real gateway.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        if outcome == "succeed_then_timeout" {
            return Err(GatewayError::Unavailable(
                "sandbox: charged, then the response timed out".to_owned(),
            ));
        }
        self.charge_row(&request.idempotency_key)
            .await?
            .ok_or_else(|| GatewayError::Unavailable("charge vanished".to_owned()))
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        self.charge_row(idempotency_key).await
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError> {
        if self.settings.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.settings.latency_ms)).await;
        }
        let (refund, outcome) = match self.make_refund(request).await.map_err(unavailable)? {
            Ok(made) => made,
            Err(failure_code) => {
                return Ok(RefundOutcome::Failed {
                    refund_id: None,
                    failure_code,
                })
            }
        };
        // Only the call that made the refund times out; a retry with the key gets the answer.
        if outcome == "refund_then_timeout" {
            return Err(GatewayError::Unavailable(
                "sandbox: refunded, then the response timed out".to_owned(),
            ));
        }
        Ok(Self::refund_outcome(refund))
    }

    async fn find_refund(&self, idempotency_key: &str) -> Result<Option<RefundOutcome>, GatewayError> {
        store::find_refund(self.db.pool(), idempotency_key)
            .await
            .map(|refund| refund.map(Self::refund_outcome))
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(number: &str, exp_month: u32, exp_year: u32, cvc: &str) -> TokenRequest {
        TokenRequest {
            card: Some(CardInput {
                number: number.into(),
                exp_month,
                exp_year,
                cvc: cvc.into(),
            }),
            bank_account: None,
        }
    }

    #[test]
    fn test_cards_select_outcomes() {
        for (number, brand, outcome) in [
            ("4242424242424242", "visa", "succeed"),
            ("4242 4242 4242 4242", "visa", "succeed"),
            ("4000000000000002", "visa", "card_declined"),
            ("4000000000009995", "visa", "insufficient_funds"),
            ("4000000000000069", "visa", "expired_card"),
            ("4000000000000127", "visa", "incorrect_cvc"),
            ("5555555555554444", "mastercard", "succeed"),
            ("378282246310005", "amex", "succeed"),
        ] {
            let c = classify(&card(number, 12, 2034, "123"), (2026, 11)).unwrap();
            assert_eq!(
                (c.summary.brand.as_str(), c.outcome),
                (brand, outcome),
                "{number}"
            );
            assert_eq!(c.summary.last4.len(), 4);
        }
    }

    #[test]
    fn invalid_cards_name_the_field() {
        for (req, field) in [
            (card("4242424242424241", 12, 2034, "123"), "number"),
            (card("42", 12, 2034, "123"), "number"),
            (card("4242424242424242", 13, 2034, "123"), "exp_month"),
            (card("4242424242424242", 10, 2026, "123"), "exp_year"),
            (card("4242424242424242", 12, 2034, "12"), "cvc"),
        ] {
            assert_eq!(classify(&req, (2026, 11)).err().map(|e| e.field), Some(field));
        }
    }

    #[test]
    fn bank_accounts_check_the_routing_number() {
        let bank = |r: &str, a: &str| TokenRequest {
            card: None,
            bank_account: Some(BankInput {
                routing_number: r.into(),
                account_number: a.into(),
            }),
        };
        assert_eq!(
            classify(&bank("110000000", "000123456789"), (2026, 11))
                .unwrap()
                .outcome,
            "succeed"
        );
        assert_eq!(
            classify(&bank("110000001", "000123456789"), (2026, 11))
                .err()
                .map(|e| e.field),
            Some("routing_number")
        );
        assert_eq!(
            classify(&bank("110000000", "000111111116"), (2026, 11))
                .unwrap()
                .outcome,
            "insufficient_funds"
        );
    }

    #[test]
    fn card_input_debug_is_masked() {
        let c = CardInput {
            number: "4242424242424242".into(),
            exp_month: 1,
            exp_year: 2030,
            cvc: "123".into(),
        };
        assert!(!format!("{c:?}").contains("4242"));
    }
}
