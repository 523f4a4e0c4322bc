//! Payment gateways. Tranche talks to a gateway only through [`Gateway`]: verify a payment-method token,
//! charge it with an idempotency key, and look a charge up by that key (what the reconciler does after a
//! crash or timeout), and likewise refund a charge and look the refund up by its key. The built-in
//! [`sandbox`] behaves like a real gateway's test mode.
//!
//! Payment-method tokens are single-use and bound to the checkout they were made for (DESIGN section 4):
//! [`Gateway::describe_token`] refuses a token made for another checkout, spent or expired, and
//! [`Gateway::claim_token`] spends it inside the payment's hold transaction, so of any number of concurrent
//! payments with one token exactly one holds it and reaches [`Gateway::charge`].

pub mod sandbox;
pub mod stripe;

use async_trait::async_trait;
use tranche_domain::Money;

use crate::db::Tx;

/// The checkout a payment-method token was made for: the link (whose JWT authorized the tokenization),
/// its invoice and seller. A token pays only this checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBinding {
    pub seller_id: String,
    pub invoice_id: String,
    pub checkout_link_id: String,
}

impl From<&crate::auth::Checkout> for TokenBinding {
    fn from(checkout: &crate::auth::Checkout) -> TokenBinding {
        TokenBinding {
            seller_id: checkout.seller_id.clone(),
            invoice_id: checkout.invoice_id.clone(),
            checkout_link_id: checkout.link_id.clone(),
        }
    }
}

/// What the widget may show about a payment method: kind, brand and last four. Nothing else exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSummary {
    /// `card` or `bank_account`.
    pub kind: String,
    pub brand: String,
    pub last4: String,
}

impl MethodSummary {
    /// `"visa •••• 4242"`.
    pub fn display(&self) -> String {
        format!("{} •••• {}", self.brand, self.last4)
    }
}

/// A charge request. `idempotency_key` is the payment id: the same key never charges twice.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub idempotency_key: String,
    pub payment_token: String,
    pub amount: Money,
    /// What the charge is for, sent as the gateway's metadata (Stripe's dashboard shows it, and its
    /// search finds the charge by `tranche_payment_id` after a crash).
    pub seller_id: String,
    pub invoice_id: String,
    pub invoice_number: String,
    /// What [`Gateway::describe_token`] said the method is (`card`, `bank_account`).
    pub method_kind: String,
    /// The buyer's browser as the API saw it: the online acceptance a bank debit's mandate records
    /// (Stripe's `mandate_data`). `None` when the payment was not made from a browser request.
    pub buyer: Option<BuyerPresence>,
}

/// Who accepted a bank-debit mandate online: the client IP and `User-Agent` of the payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerPresence {
    pub ip_address: String,
    pub user_agent: String,
}

/// What the gateway says about a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        charge_id: String,
        amount_minor: i64,
        currency: String,
    },
    /// Accepted but not final (bank debits); ask again after `retry_after_ms`.
    Pending {
        charge_id: String,
        retry_after_ms: i64,
    },
    Declined {
        decline_code: String,
    },
    /// The card issuer asks the buyer to authenticate (3-D Secure): nothing is charged until they do, in
    /// their browser, with `client_secret`; then the charge is looked up again (the confirm call or the
    /// gateway's webhook). `charge_id` is the gateway's id of the charge waiting.
    ActionRequired {
        charge_id: String,
        client_secret: String,
    },
}

/// A refund request: `idempotency_key` is Tranche's refund id, so a retried or reconciled refund is never
/// made twice; `charge_id` is the gateway's id of the charge being refunded.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub idempotency_key: String,
    pub charge_id: String,
    pub amount: Money,
}

/// What the gateway says about a refund (Stripe's refund statuses, less the asynchronous ones the
/// sandbox does not simulate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded {
        refund_id: String,
        amount_minor: i64,
        currency: String,
    },
    /// Refused or failed: no money moved. `failure_code` is the gateway's (`charge_not_refundable`,
    /// `amount_too_large`, `expired_or_canceled_card`, ...).
    Failed {
        refund_id: Option<String>,
        failure_code: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The token is unknown or expired: nothing was charged.
    #[error("payment token is unknown or expired")]
    InvalidToken,
    /// The gateway could not be reached or did not answer: the charge may or may not exist.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Gateway: Send + Sync + 'static {
    /// Short name stored with each payment (`sandbox`, `stripe`).
    fn name(&self) -> &'static str;
    /// Checks a payment-method token (made for `binding`, unspent, unexpired) and says what it is, without
    /// charging or spending it. A fast refusal only: [`Gateway::claim_token`] is what decides.
    async fn describe_token(
        &self,
        token: &str,
        binding: &TokenBinding,
    ) -> Result<MethodSummary, GatewayError>;
    /// Spends the token for `payment_id`, inside the caller's hold transaction: one conditional UPDATE
    /// whose affected-row count decides. `false` (nothing changed) when the token is unknown, spent, expired
    /// or made for another checkout.
    async fn claim_token(
        &self,
        tx: &mut Tx,
        token: &str,
        binding: &TokenBinding,
        payment_id: &str,
    ) -> Result<bool, GatewayError>;
    /// Gives back the token `payment_id` claimed, when that payment is abandoned without ever reaching the
    /// gateway (nothing was charged, so the buyer's retry may use it).
    async fn release_token(&self, tx: &mut Tx, payment_id: &str) -> Result<(), GatewayError>;
    /// Charges; calling again with the same key returns the first outcome.
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError>;
    /// The outcome of the charge made with this key, `None` if no charge was ever made.
    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, GatewayError>;
    /// Gives up a charge still waiting for the buyer's action (an abandoned 3-D Secure challenge), so it
    /// can never complete later, and says how it ended: declined, or whatever it became meanwhile (the
    /// buyer may have finished just now). Gateways that never ask for an action only look it up.
    async fn cancel_action(&self, idempotency_key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        self.lookup(idempotency_key).await
    }
    /// Refunds part or all of a succeeded charge; calling again with the same key returns the first
    /// outcome and moves no more money. `Unavailable` is ambiguous: the refund may or may not exist.
    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, GatewayError>;
    /// The outcome of the refund made with this key, `None` if none was ever made (what the reconciler
    /// asks after a crash or a timeout mid-refund).
    async fn find_refund(&self, idempotency_key: &str) -> Result<Option<RefundOutcome>, GatewayError>;
}

/// Buyer-facing advice for a decline code (Stripe's vocabulary).
pub fn decline_advice(decline_code: &str) -> (&'static str, &'static str) {
    match decline_code {
        "insufficient_funds" => (
            "The card has insufficient funds.",
            "Try a smaller amount, another card, or pay by bank account.",
        ),
        "expired_card" => (
            "The card has expired.",
            "Check the expiry date or use another card.",
        ),
        "incorrect_cvc" => (
            "The security code is incorrect.",
            "Check the 3 or 4 digit code on the card and try again.",
        ),
        "authentication_required" => (
            "The card issuer asked for authentication (3-D Secure), which was not completed.",
            "Try again and complete your bank's check, or use another card.",
        ),
        "payment_intent_authentication_failure" => (
            "The card issuer's authentication (3-D Secure) failed.",
            "Try again and complete your bank's check, or use another card.",
        ),
        "amount_too_precise" => (
            "The card processor accepts this currency only in amounts whose last decimal is 0.",
            "Round the amount to two decimal places and try again.",
        ),
        "account_closed" => (
            "The bank account is closed.",
            "Use another bank account or a card.",
        ),
        _ => (
            "The card was declined.",
            "Use another card, or contact your card issuer.",
        ),
    }
}
