//! The Stripe gateway's own records: which checkout a PaymentMethod (`pm_...`) belongs to and which payment
//! spent it, and the PaymentIntent made for each payment. Stripe keeps the money; these rows keep Tranche's
//! rules (a pm_ pays one checkout, once) and let the reconciler ask Stripe by id after a crash.

use crate::db::{Db, Tx};
use crate::gateway::TokenBinding;

/// Whether `payment_method_id` may pay `binding`: never seen (the first checkout to use it will own it),
/// or owned by this checkout and unspent.
pub async fn usable(db: &Db, payment_method_id: &str, binding: &TokenBinding) -> Result<bool, sqlx::Error> {
    let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT seller_id, invoice_id, checkout_link_id, consumed_by FROM stripe_payment_methods \
         WHERE payment_method_id = $1",
    )
    .bind(payment_method_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        None => true,
        Some((seller, invoice, link, consumed_by)) => {
            seller == binding.seller_id
                && invoice == binding.invoice_id
                && link == binding.checkout_link_id
                && consumed_by.is_none()
        }
    })
}

/// Binds `payment_method_id` to `binding` if nobody owns it yet, then spends it for `payment_id`: the
/// UPDATE carries every condition, so of concurrent claims exactly one sees `consumed_by` NULL. On
/// PostgreSQL a second inserter waits for the first's commit and then does nothing (`ON CONFLICT`).
pub async fn claim(
    tx: &mut Tx,
    payment_method_id: &str,
    binding: &TokenBinding,
    payment_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_payment_methods (payment_method_id, seller_id, invoice_id, checkout_link_id, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_method_id) DO NOTHING",
    )
    .bind(payment_method_id)
    .bind(&binding.seller_id)
    .bind(&binding.invoice_id)
    .bind(&binding.checkout_link_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let claimed = sqlx::query(
        "UPDATE stripe_payment_methods SET consumed_by = $1, consumed_at = $2 \
         WHERE payment_method_id = $3 AND seller_id = $4 AND invoice_id = $5 AND checkout_link_id = $6 \
         AND consumed_by IS NULL",
    )
    .bind(payment_id)
    .bind(now)
    .bind(payment_method_id)
    .bind(&binding.seller_id)
    .bind(&binding.invoice_id)
    .bind(&binding.checkout_link_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Gives back the pm_ `payment_id` spent (it never reached Stripe); it stays bound to its checkout.
pub async fn release(tx: &mut Tx, payment_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_payment_methods SET consumed_by = NULL, consumed_at = NULL WHERE consumed_by = $1",
    )
    .bind(payment_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the PaymentIntent Stripe made for `payment_id` (again is a no-op: the idempotency key makes it
/// the same PaymentIntent).
pub async fn record_intent(
    db: &Db,
    payment_id: &str,
    payment_intent_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stripe_payment_intents (payment_id, payment_intent_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (payment_id) DO NOTHING",
    )
    .bind(payment_id)
    .bind(payment_intent_id)
    .bind(now)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// The PaymentIntent recorded for `payment_id`.
pub async fn intent_of(db: &Db, payment_id: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT payment_intent_id FROM stripe_payment_intents WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(id,)| id))
}

/// The payment a PaymentIntent was made for (webhooks name the PaymentIntent).
pub async fn payment_of_intent(db: &Db, payment_intent_id: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT payment_id FROM stripe_payment_intents WHERE payment_intent_id = $1")
            .bind(payment_intent_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(id,)| id))
}

/// The PaymentIntent a refund (by Tranche's refund id) was made against: its payment's charge id.
pub async fn intent_of_refund(db: &Db, refund_id: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT p.gateway_charge_id FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.id = $1",
    )
    .bind(refund_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|(id,)| id))
}

/// The pending refunds of a payment (a `charge.refunded` webhook settles them).
pub async fn pending_refunds_of(db: &Db, payment_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM refunds WHERE payment_id = $1 AND status = 'pending' ORDER BY id")
            .bind(payment_id)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Whether `payment_id` is a payment made through Stripe.
pub async fn is_stripe_payment(db: &Db, payment_id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT gateway FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some_and(|(gateway,)| gateway == "stripe"))
}
