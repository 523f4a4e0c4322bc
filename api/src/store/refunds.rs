//! Refunds: the hold (a `pending` refund), its outcome, the stored answer its idempotency key replays,
//! and the reconciler's queue; plus the payment-side writes a refund makes. Rows load into domain types
//! ([`RefundRow`]) or fail with [`RowError`]. Every read a seller can reach is scoped to the seller.

use serde::{Deserialize, Serialize};
use tranche_domain::wire::PaymentStatus;
use tranche_domain::{Currency, Money};

use super::page::{Keyset, Rows};
use super::payments::{PaymentRaw, PaymentRow};
use super::RowError;
use crate::db::{Db, Tx};

const COLUMNS: &str = "id, seller_id, payment_id, invoice_id, amount_minor, currency, status, reason, \
     failure_code, gateway_refund_id, idempotency_key, request_hash, response_status, response_body, \
     reconcile_after, created_at, updated_at";

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Held: asked of the gateway, answer not yet recorded (the reconciler settles it).
    Pending,
    Succeeded,
    /// No money moved (`failure_code` says why).
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<RefundStatus, RowError> {
        match s {
            "pending" => Ok(RefundStatus::Pending),
            "succeeded" => Ok(RefundStatus::Succeeded),
            "failed" => Ok(RefundStatus::Failed),
            other => Err(RowError::unknown("refunds.status", other)),
        }
    }
}

/// Why the seller refunds (Stripe's reasons, plus `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    RequestedByCustomer,
    Duplicate,
    Fraudulent,
    Other,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::RequestedByCustomer => "requested_by_customer",
            RefundReason::Duplicate => "duplicate",
            RefundReason::Fraudulent => "fraudulent",
            RefundReason::Other => "other",
        }
    }

    fn parse(s: &str) -> Result<RefundReason, RowError> {
        [
            RefundReason::RequestedByCustomer,
            RefundReason::Duplicate,
            RefundReason::Fraudulent,
            RefundReason::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| RowError::unknown("refunds.reason", s))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct RefundRaw {
    id: String,
    seller_id: String,
    payment_id: String,
    invoice_id: String,
    amount_minor: i64,
    currency: String,
    status: String,
    reason: Option<String>,
    failure_code: Option<String>,
    gateway_refund_id: Option<String>,
    idempotency_key: Option<String>,
    request_hash: String,
    response_status: Option<i64>,
    response_body: Option<String>,
    reconcile_after: i64,
    created_at: i64,
    updated_at: i64,
}

/// A refund in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow {
    pub id: String,
    pub seller_id: String,
    pub payment_id: String,
    pub invoice_id: String,
    pub amount: Money,
    pub status: RefundStatus,
    pub reason: Option<RefundReason>,
    pub failure_code: Option<String>,
    pub gateway_refund_id: Option<String>,
    /// `None` once released (the gateway never saw it), so a retry with the key runs afresh.
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    /// The answer replays get: `(status, JSON body)`, `None` while the first request is in flight.
    pub answer: Option<(u16, String)>,
    pub reconcile_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RefundRow {
    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }
}

impl TryFrom<RefundRaw> for RefundRow {
    type Error = RowError;

    fn try_from(raw: RefundRaw) -> Result<RefundRow, RowError> {
        let currency = Currency::parse(&raw.currency)
            .map_err(|_| RowError::UnknownCurrency("refunds.currency", raw.currency.clone()))?;
        let amount = Money::from_minor_units(raw.amount_minor, currency)
            .ok()
            .filter(|m| !m.is_zero())
            .ok_or_else(|| {
                RowError::AmountOutOfRange("refunds.amount_minor", raw.amount_minor, raw.currency.clone())
            })?;
        let answer = match (raw.response_status, raw.response_body) {
            (None, _) => None,
            (Some(status), Some(body)) => Some((
                u16::try_from(status)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| RowError::unknown("refunds.response_status", &status.to_string()))?,
                body,
            )),
            (Some(status), None) => {
                return Err(RowError::unknown("refunds.response_status", &status.to_string()))
            }
        };
        Ok(RefundRow {
            status: RefundStatus::parse(&raw.status)?,
            reason: raw.reason.as_deref().map(RefundReason::parse).transpose()?,
            amount,
            answer,
            id: raw.id,
            seller_id: raw.seller_id,
            payment_id: raw.payment_id,
            invoice_id: raw.invoice_id,
            failure_code: raw.failure_code,
            gateway_refund_id: raw.gateway_refund_id,
            idempotency_key: raw.idempotency_key,
            request_hash: raw.request_hash,
            reconcile_after: raw.reconcile_after,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }
}

fn check_one(row: Option<RefundRaw>) -> Result<Option<RefundRow>, sqlx::Error> {
    Ok(row.map(RefundRow::try_from).transpose()?)
}

/// One refund of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await
    .and_then(check_one)
}

/// A refund by id inside a transaction (its payment and invoice already locked by the caller).
pub async fn find_in(tx: &mut Tx, id: &str) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM refunds WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .and_then(check_one)
}

/// The refund a seller's idempotency key made, on the pool or inside a transaction.
pub async fn by_key(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    seller_id: &str,
    key: &str,
) -> Result<Option<RefundRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE seller_id = $1 AND idempotency_key = $2"
    ))
    .bind(seller_id)
    .bind(key)
    .fetch_optional(executor)
    .await
    .and_then(check_one)
}

/// `(seller_id, invoice_id, payment_id)` of a refund, whoever's it is (the reconciler's view; none changes).
pub async fn owner(db: &Db, id: &str) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT seller_id, invoice_id, payment_id FROM refunds WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await
}

/// A page of a seller's refunds, newest first, after the refund `starting_after` (keyset on
/// `(created_at, id)`), optionally of one payment. Fetches `limit` rows; the caller asks one more to learn
/// `has_more`.
pub async fn list(
    db: &Db,
    seller_id: &str,
    payment_id: Option<&str>,
    keyset: &Keyset,
) -> Result<Rows<RefundRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE seller_id = $1 AND ($2 IS NULL OR payment_id = $2){}",
        Keyset::clause("", 3)
    );
    let query = sqlx::query_as(&sql).bind(seller_id).bind(payment_id);
    let rows: Vec<RefundRaw> = keyset.bind(query).fetch_all(db.pool()).await?;
    Ok(keyset.rows(rows).try_map(RefundRow::try_from)?)
}

/// Sum of what pending refunds of a payment hold (in the hold's transaction, the payment row locked).
pub async fn pending_minor(tx: &mut Tx, payment_id: &str) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds \
         WHERE payment_id = $1 AND status = 'pending'",
    )
    .bind(payment_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum)
}

/// Inserts a pending refund (the hold). A unique violation means the seller's key was used first.
pub async fn insert(tx: &mut Tx, row: &RefundRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO refunds ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.payment_id)
    .bind(&row.invoice_id)
    .bind(row.amount.minor_units())
    .bind(row.currency().code())
    .bind(row.status.as_str())
    .bind(row.reason.map(RefundReason::as_str))
    .bind(&row.failure_code)
    .bind(&row.gateway_refund_id)
    .bind(&row.idempotency_key)
    .bind(&row.request_hash)
    .bind(row.answer.as_ref().map(|(s, _)| i64::from(*s)))
    .bind(row.answer.as_ref().map(|(_, b)| b.as_str()))
    .bind(row.reconcile_after)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves a pending refund to `succeeded` or `failed` with the gateway's ids; `true` only for the caller
/// that moved it.
pub async fn settle(
    tx: &mut Tx,
    id: &str,
    status: RefundStatus,
    gateway_refund_id: Option<&str>,
    failure_code: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE refunds SET status = $1, gateway_refund_id = $2, failure_code = $3, updated_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(gateway_refund_id)
    .bind(failure_code)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Releases a pending refund the gateway never saw: `failed` with `not_sent`, and its key forgotten so the
/// seller's retry with it runs afresh. `true` only for the caller that moved it out of `pending`.
pub async fn release(tx: &mut Tx, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE refunds SET status = 'failed', failure_code = 'not_sent', idempotency_key = NULL, \
         response_status = NULL, response_body = NULL, updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Saves the answer the refund's key replays.
pub async fn save_answer(tx: &mut Tx, id: &str, status: u16, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refunds SET response_status = $1, response_body = $2 WHERE id = $3")
        .bind(i64::from(status))
        .bind(body)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ids of pending refunds whose reconcile time has come, most overdue first.
pub async fn due_for_reconcile(db: &Db, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    super::reconcile::due(db, super::reconcile::Queue::Refunds, now, limit).await
}

/// Asks the reconciler to look at a still-pending refund again at `at`.
pub async fn reconcile_later(db: &Db, id: &str, at: i64) -> Result<(), sqlx::Error> {
    super::reconcile::later(db, super::reconcile::Queue::Refunds, id, at).await
}

/// Locks a seller's payment row for the rest of `tx` (PostgreSQL `FOR UPDATE`; SQLite holds the write lock).
pub async fn lock_payment(
    db: &Db,
    tx: &mut Tx,
    seller_id: &str,
    payment_id: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    let raw: Option<PaymentRaw> = sqlx::query_as(&format!(
        "SELECT {} FROM payments WHERE id = $1 AND seller_id = $2{}",
        super::payments::COLUMNS,
        db.for_update()
    ))
    .bind(payment_id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(raw.map(PaymentRow::try_from).transpose()?)
}

/// Writes a succeeded refund's effect on its payment: the new refunded total and the status it gives
/// (the CHECKs refuse a total past the payment or a status that disagrees with it).
pub async fn record_on_payment(
    tx: &mut Tx,
    payment_id: &str,
    amount_refunded: Money,
    status: PaymentStatus,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET amount_refunded_minor = $1, status = $2, updated_at = $3 WHERE id = $4")
        .bind(amount_refunded.minor_units())
        .bind(status.as_str())
        .bind(now)
        .bind(payment_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
