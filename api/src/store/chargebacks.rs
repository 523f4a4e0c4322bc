//! Chargebacks: a gateway's dispute of a payment (Stripe's `charge.dispute.created`), recorded once per
//! gateway dispute id and listed among the seller's alerts. Not to be confused with `disputes`, which a
//! buyer opens before paying.

use crate::db::Db;

/// A chargeback as the gateway reported it.
pub struct NewChargeback<'a> {
    /// The gateway's dispute id (`dp_...`).
    pub id: &'a str,
    pub payment_id: &'a str,
    pub amount_minor: i64,
    /// ISO 4217, upper case.
    pub currency: &'a str,
    pub reason: &'a str,
    pub created_at: i64,
}

/// Records it for the payment's seller and invoice; `false` when it was recorded before (a replayed event)
/// or does not match the payment (another currency): nothing is written then.
pub async fn record(db: &Db, new: &NewChargeback<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO chargebacks (id, seller_id, payment_id, invoice_id, amount_minor, currency, reason, created_at) \
         SELECT $1, p.seller_id, p.id, p.invoice_id, $3, $4, $5, $6 FROM payments p \
         WHERE p.id = $2 AND p.currency = $4 \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id)
    .bind(new.payment_id)
    .bind(new.amount_minor)
    .bind(new.currency)
    .bind(new.reason)
    .bind(new.created_at)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(done.rows_affected() == 1)
}
