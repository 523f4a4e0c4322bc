//! Late fees applied to invoices (issue 16). A fee is a row of `invoice_fees` (UNIQUE per invoice,
//! installment and sequence number: the idempotency of the scheduler) and raises the invoice's total and
//! `fees_minor` in the same transaction; the CHECK `subtotal + tax + fees = total` holds them together.

use crate::db::{new_id, Db, Tx};

/// One fee to apply.
pub struct NewFee<'a> {
    pub seller_id: &'a str,
    pub invoice_id: &'a str,
    pub installment: u32,
    pub seq: u32,
    pub amount_minor: i64,
    pub applied_on: &'a str,
    pub now: i64,
}

/// Applies the fee unless it already was; `Some(id)` when this call applied it (and raised the invoice).
/// The caller holds the invoice's lock.
pub async fn apply(tx: &mut Tx, fee: &NewFee<'_>) -> Result<Option<String>, sqlx::Error> {
    let id = new_id("fee");
    let done = sqlx::query(
        "INSERT INTO invoice_fees (id, invoice_id, seller_id, installment, seq, amount_minor, applied_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (invoice_id, installment, seq) DO NOTHING",
    )
    .bind(&id)
    .bind(fee.invoice_id)
    .bind(fee.seller_id)
    .bind(i64::from(fee.installment))
    .bind(i64::from(fee.seq))
    .bind(fee.amount_minor)
    .bind(fee.applied_on)
    .bind(fee.now)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE invoices SET total_minor = total_minor + $1, fees_minor = fees_minor + $1, updated_at = $2 \
         WHERE id = $3 AND seller_id = $4",
    )
    .bind(fee.amount_minor)
    .bind(fee.now)
    .bind(fee.invoice_id)
    .bind(fee.seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(Some(id))
}

/// A fee as the seller sees it on the invoice.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeeRow {
    pub installment: i64,
    pub amount_minor: i64,
    pub applied_on: String,
}

/// The fees of one invoice of one seller, in the order they were applied.
pub async fn of_invoice(db: &Db, seller_id: &str, invoice_id: &str) -> Result<Vec<FeeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT installment, amount_minor, applied_on FROM invoice_fees \
         WHERE invoice_id = $1 AND seller_id = $2 ORDER BY applied_on, installment, seq",
    )
    .bind(invoice_id)
    .bind(seller_id)
    .fetch_all(db.pool())
    .await
}
