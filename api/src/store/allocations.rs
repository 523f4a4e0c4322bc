//! Payment allocations: how an account payment (one gateway charge) splits across the invoices it pays.
//! The payment row holds the charge, the sum and the status; each allocation holds one invoice's part, its
//! own discount and what refunds gave back of it. CHECKs hold every amount; `(payment_id, invoice_id)` is
//! the key, so an invoice is allocated at most once per payment.

use tranche_domain::{Currency, Money};

use super::RowError;
use crate::db::Tx;

/// One allocation to store.
pub struct NewAllocation<'a> {
    pub invoice_id: &'a str,
    /// Position in the buyer's request.
    pub position: i64,
    pub amount: Money,
    pub discount: Money,
}

/// Stores the allocations of a just-inserted payment and marks the payment as an account payment made
/// through `account_link_id` (in its hold transaction).
pub async fn insert(
    tx: &mut Tx,
    seller_id: &str,
    payment_id: &str,
    account_link_id: &str,
    allocations: &[NewAllocation<'_>],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET account_link_id = $1 WHERE id = $2 AND seller_id = $3")
        .bind(account_link_id)
        .bind(payment_id)
        .bind(seller_id)
        .execute(&mut **tx)
        .await?;
    for a in allocations {
        sqlx::query(
            "INSERT INTO payment_allocations (payment_id, seller_id, invoice_id, position, amount_minor, \
             discount_minor, currency) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(payment_id)
        .bind(seller_id)
        .bind(a.invoice_id)
        .bind(a.position)
        .bind(a.amount.minor_units())
        .bind(a.discount.minor_units())
        .bind(a.amount.currency().code())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One stored allocation, in money of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub invoice_id: String,
    pub position: i64,
    pub amount: Money,
    pub discount: Money,
    pub amount_refunded: Money,
}

#[derive(sqlx::FromRow)]
struct Raw {
    invoice_id: String,
    position: i64,
    amount_minor: i64,
    discount_minor: i64,
    currency: String,
    amount_refunded_minor: i64,
}

impl TryFrom<Raw> for Allocation {
    type Error = RowError;

    fn try_from(raw: Raw) -> Result<Allocation, RowError> {
        let currency = Currency::parse(&raw.currency)
            .map_err(|_| RowError::UnknownCurrency("payment_allocations.currency", raw.currency.clone()))?;
        let money = |column: &'static str, minor: i64| {
            Money::from_minor_units(minor, currency)
                .map_err(|_| RowError::AmountOutOfRange(column, minor, raw.currency.clone()))
        };
        Ok(Allocation {
            amount: money("payment_allocations.amount_minor", raw.amount_minor)?,
            discount: money("payment_allocations.discount_minor", raw.discount_minor)?,
            amount_refunded: money(
                "payment_allocations.amount_refunded_minor",
                raw.amount_refunded_minor,
            )?,
            invoice_id: raw.invoice_id,
            position: raw.position,
        })
    }
}

/// The allocations of one of the seller's payments, by invoice id: the order every writer locks the
/// invoices in. Empty for a single-invoice payment.
pub async fn of_payment(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    seller_id: &str,
    payment_id: &str,
) -> Result<Vec<Allocation>, sqlx::Error> {
    let rows: Vec<Raw> = sqlx::query_as(
        "SELECT invoice_id, position, amount_minor, discount_minor, currency, amount_refunded_minor \
         FROM payment_allocations WHERE payment_id = $1 AND seller_id = $2 ORDER BY invoice_id",
    )
    .bind(payment_id)
    .bind(seller_id)
    .fetch_all(executor)
    .await?;
    rows.into_iter()
        .map(|r| Allocation::try_from(r).map_err(sqlx::Error::from))
        .collect()
}

/// Whether a payment is an account payment (its allocations, not its row's `invoice_id`, say what it paid).
pub async fn is_allocated(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    payment_id: &str,
) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE id = $1 AND account_link_id IS NOT NULL",
    )
    .bind(payment_id)
    .fetch_one(executor)
    .await?;
    Ok(n > 0)
}

/// What pending refunds hold of one allocation (its payment's refunds for that invoice).
pub async fn pending_refunds_minor(
    tx: &mut Tx,
    payment_id: &str,
    invoice_id: &str,
) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds \
         WHERE payment_id = $1 AND invoice_id = $2 AND status = 'pending'",
    )
    .bind(payment_id)
    .bind(invoice_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum)
}

/// Sets what refunds gave back of one allocation (in the refund's finalize transaction; a CHECK holds it
/// to the allocation's amount).
pub async fn record_refund(
    tx: &mut Tx,
    payment_id: &str,
    invoice_id: &str,
    refunded: Money,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payment_allocations SET amount_refunded_minor = $1 WHERE payment_id = $2 AND invoice_id = $3",
    )
    .bind(refunded.minor_units())
    .bind(payment_id)
    .bind(invoice_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
