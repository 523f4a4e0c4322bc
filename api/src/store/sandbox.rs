//! The sandbox gateway's own records (`sandbox_tokens`, `sandbox_charges`), kept as a real gateway keeps
//! its: brand, last four and test outcome of a token, never a card number. Times are passed in by the caller
//! (from [`crate::state::Clock`]), so tests can move them.

use super::RowError;
use crate::db::{Db, Tx};
use crate::gateway::TokenBinding;

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub token: &'a str,
    pub method_kind: &'a str,
    pub brand: &'a str,
    pub last4: &'a str,
    /// The test outcome the number selects (`succeed`, `card_declined`, ...).
    pub outcome: &'a str,
    pub binding: &'a TokenBinding,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_token(db: &Db, token: &NewToken<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sandbox_tokens (token, method_kind, brand, last4, outcome, created_at, seller_id, invoice_id, checkout_link_id, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(token.token)
    .bind(token.method_kind)
    .bind(token.brand)
    .bind(token.last4)
    .bind(token.outcome)
    .bind(token.created_at)
    .bind(&token.binding.seller_id)
    .bind(&token.binding.invoice_id)
    .bind(&token.binding.checkout_link_id)
    .bind(token.expires_at)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// `(method_kind, brand, last4)` of the token if it is usable for `binding` at `now`: made for this
/// checkout, unspent, unexpired.
pub async fn usable_token(
    db: &Db,
    token: &str,
    binding: &TokenBinding,
    now: i64,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT method_kind, brand, last4 FROM sandbox_tokens \
         WHERE token = $1 AND seller_id = $2 AND invoice_id = $3 AND checkout_link_id = $4 \
         AND consumed_by IS NULL AND expires_at > $5",
    )
    .bind(token)
    .bind(&binding.seller_id)
    .bind(&binding.invoice_id)
    .bind(&binding.checkout_link_id)
    .bind(now)
    .fetch_optional(db.pool())
    .await
}

/// `(method_kind, outcome)` of the token `payment_id` claimed; `None` for a token it did not claim.
pub async fn claimed_token(
    db: &Db,
    token: &str,
    payment_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT method_kind, outcome FROM sandbox_tokens WHERE token = $1 AND consumed_by = $2")
        .bind(token)
        .bind(payment_id)
        .fetch_optional(db.pool())
        .await
}

/// Spends the token for `payment_id` in the caller's hold transaction. Every condition is in the WHERE
/// clause, so of concurrent claims only one finds `consumed_by` NULL: `true` for that one.
pub async fn claim_token(
    tx: &mut Tx,
    token: &str,
    binding: &TokenBinding,
    payment_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE sandbox_tokens SET consumed_by = $1, consumed_at = $2 \
         WHERE token = $3 AND seller_id = $4 AND invoice_id = $5 AND checkout_link_id = $6 \
         AND consumed_by IS NULL AND expires_at > $7",
    )
    .bind(payment_id)
    .bind(now)
    .bind(token)
    .bind(&binding.seller_id)
    .bind(&binding.invoice_id)
    .bind(&binding.checkout_link_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Gives back the token `payment_id` claimed.
pub async fn release_token(tx: &mut Tx, payment_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sandbox_tokens SET consumed_by = NULL, consumed_at = NULL WHERE consumed_by = $1")
        .bind(payment_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Where a sandbox charge stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeStatus {
    Succeeded,
    /// A bank debit accepted now that settles (or bounces) at `settle_at`.
    Pending,
    Declined,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Succeeded => "succeeded",
            ChargeStatus::Pending => "pending",
            ChargeStatus::Declined => "declined",
        }
    }

    fn parse(s: &str) -> Result<ChargeStatus, RowError> {
        match s {
            "succeeded" => Ok(ChargeStatus::Succeeded),
            "pending" => Ok(ChargeStatus::Pending),
            "declined" => Ok(ChargeStatus::Declined),
            other => Err(RowError::UnknownStatus(
                "sandbox_charges.status",
                other.to_owned(),
            )),
        }
    }
}

/// A charge, as stored and as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub idempotency_key: String,
    pub charge_id: String,
    pub token: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: ChargeStatus,
    pub decline_code: Option<String>,
    pub settle_at: i64,
    pub created_at: i64,
}

/// The charge made with `key`, if any; an unknown stored status is an error, not a guess.
pub async fn find_charge(db: &Db, key: &str) -> Result<Option<Charge>, sqlx::Error> {
    type Row = (
        String,
        String,
        String,
        i64,
        String,
        String,
        Option<String>,
        i64,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT idempotency_key, charge_id, token, amount_minor, currency, status, decline_code, settle_at, created_at \
         FROM sandbox_charges WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    let Some((
        idempotency_key,
        charge_id,
        token,
        amount_minor,
        currency,
        status,
        decline_code,
        settle_at,
        created_at,
    )) = row
    else {
        return Ok(None);
    };
    Ok(Some(Charge {
        idempotency_key,
        charge_id,
        token,
        amount_minor,
        currency,
        status: ChargeStatus::parse(&status)?,
        decline_code,
        settle_at,
        created_at,
    }))
}

/// Stores a charge. A unique violation means a concurrent charge with the same key won.
pub async fn insert_charge(db: &Db, charge: &Charge) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sandbox_charges (idempotency_key, charge_id, token, amount_minor, currency, status, decline_code, settle_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&charge.idempotency_key)
    .bind(&charge.charge_id)
    .bind(&charge.token)
    .bind(charge.amount_minor)
    .bind(&charge.currency)
    .bind(charge.status.as_str())
    .bind(&charge.decline_code)
    .bind(charge.settle_at)
    .bind(charge.created_at)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// A sandbox refund, as stored and read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SandboxRefund {
    pub idempotency_key: String,
    pub refund_id: String,
    pub charge_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `succeeded` or `failed` (a CHECK holds it to those).
    pub status: String,
    pub failure_code: Option<String>,
    pub created_at: i64,
}

/// The refund made with `key`, if any.
pub async fn find_refund(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    key: &str,
) -> Result<Option<SandboxRefund>, sqlx::Error> {
    sqlx::query_as(
        "SELECT idempotency_key, refund_id, charge_id, amount_minor, currency, status, failure_code, created_at \
         FROM sandbox_refunds WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(executor)
    .await
}

/// The charge with gateway id `charge_id` and the test outcome of the token that paid it, locked for the
/// rest of `tx` (so concurrent refunds of one charge are checked one after the other):
/// `(amount_minor, currency, status, outcome)`.
pub async fn lock_charge(
    db: &Db,
    tx: &mut Tx,
    charge_id: &str,
) -> Result<Option<(i64, String, String, String)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT c.amount_minor, c.currency, c.status, t.outcome FROM sandbox_charges c \
         JOIN sandbox_tokens t ON t.token = c.token WHERE c.charge_id = $1{}",
        db.for_update_of("c")
    ))
    .bind(charge_id)
    .fetch_optional(&mut **tx)
    .await
}

/// What succeeded refunds of a charge add up to.
pub async fn refunded_minor(tx: &mut Tx, charge_id: &str) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_refunds \
         WHERE charge_id = $1 AND status = 'succeeded'",
    )
    .bind(charge_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum)
}

/// Stores a refund in the caller's transaction. A unique violation means the same key raced in first.
pub async fn insert_refund(tx: &mut Tx, refund: &SandboxRefund) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sandbox_refunds (idempotency_key, refund_id, charge_id, amount_minor, currency, status, failure_code, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&refund.idempotency_key)
    .bind(&refund.refund_id)
    .bind(&refund.charge_id)
    .bind(refund.amount_minor)
    .bind(&refund.currency)
    .bind(&refund.status)
    .bind(&refund.failure_code)
    .bind(refund.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
