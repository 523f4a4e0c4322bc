//! Payments: the hold, its outcome, and the reconciler's queue. Every loader checks the row (status,
//! currency, amounts) and fails with [`RowError`] rather than showing a guess. The idempotency records that
//! guard payments are in [`super::idempotency`].

use tranche_domain::wire::{PaymentStatus, PaymentView};
use tranche_domain::{Currency, InvoiceStatus, Money};

use super::RowError;
use crate::db::{rfc3339, Db, Tx};
use crate::store::page::{Keyset, Rows};

pub const COLUMNS: &str =
    "id, seller_id, invoice_id, checkout_link_id, amount_minor, discount_minor, currency, status, \
     method_kind, method_brand, method_last4, gateway, gateway_charge_id, decline_code, idempotency_key, \
     reconcile_after, created_at, updated_at, amount_refunded_minor";

/// A payment as stored (text and integer columns), before [`PaymentRow::try_from`] reads it. Also what the
/// checkout view's JSON aggregate holds, hence `Deserialize`.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct PaymentRaw {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    pub checkout_link_id: Option<String>,
    pub amount_minor: i64,
    pub discount_minor: i64,
    pub currency: String,
    pub status: String,
    pub method_kind: String,
    pub method_brand: String,
    pub method_last4: String,
    pub gateway: String,
    pub gateway_charge_id: Option<String>,
    pub decline_code: Option<String>,
    pub idempotency_key: Option<String>,
    pub reconcile_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub amount_refunded_minor: i64,
}

/// A payment in domain types: its amount and discount are money in its currency and its status is one
/// of the closed set, checked when the row was read, so nothing downstream falls back to a guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    pub checkout_link_id: Option<String>,
    pub amount: Money,
    pub discount: Money,
    pub status: PaymentStatus,
    pub method_kind: String,
    pub method_brand: String,
    pub method_last4: String,
    pub gateway: String,
    pub gateway_charge_id: Option<String>,
    pub decline_code: Option<String>,
    pub idempotency_key: Option<String>,
    pub reconcile_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// What refunds have given back so far (never more than `amount`: a CHECK holds it).
    pub amount_refunded: Money,
}

impl TryFrom<PaymentRaw> for PaymentRow {
    type Error = RowError;

    /// Fails loudly on a status or currency outside the closed sets, or an amount the currency cannot hold.
    fn try_from(raw: PaymentRaw) -> Result<PaymentRow, RowError> {
        let status = PaymentStatus::parse(&raw.status)
            .ok_or_else(|| RowError::UnknownStatus("payments.status", raw.status.clone()))?;
        let currency = Currency::parse(&raw.currency)
            .map_err(|_| RowError::UnknownCurrency("payments.currency", raw.currency.clone()))?;
        let money = |column: &'static str, minor: i64| {
            // Negative or past the range money can hold: both refused by `from_minor_units`.
            Money::from_minor_units(minor, currency)
                .map_err(|_| RowError::AmountOutOfRange(column, minor, raw.currency.clone()))
        };
        Ok(PaymentRow {
            amount: money("payments.amount_minor", raw.amount_minor)?,
            discount: money("payments.discount_minor", raw.discount_minor)?,
            amount_refunded: money("payments.amount_refunded_minor", raw.amount_refunded_minor)?,
            status,
            id: raw.id,
            seller_id: raw.seller_id,
            invoice_id: raw.invoice_id,
            checkout_link_id: raw.checkout_link_id,
            method_kind: raw.method_kind,
            method_brand: raw.method_brand,
            method_last4: raw.method_last4,
            gateway: raw.gateway,
            gateway_charge_id: raw.gateway_charge_id,
            decline_code: raw.decline_code,
            idempotency_key: raw.idempotency_key,
            reconcile_after: raw.reconcile_after,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }
}

impl PaymentRow {
    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }

    /// The wire view (buyer and seller see the same fields).
    pub fn view(&self) -> PaymentView {
        PaymentView {
            id: self.id.clone(),
            amount: self.amount.to_string(),
            currency: self.currency(),
            status: self.status,
            // An offline payment has no card: its method is how the money came (`check`, `wire`, ...).
            method: Some(if self.method_kind == "offline" {
                self.method_brand.clone()
            } else {
                format!("{} •••• {}", self.method_brand, self.method_last4)
            }),
            discount: (!self.discount.is_zero()).then(|| self.discount.to_string()),
            created_at: rfc3339(self.created_at),
        }
    }
}

pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await
    .and_then(check_one)
}

/// `(seller_id, invoice_id)` of a payment, whoever's it is (the reconciler's view; neither ever changes).
pub async fn owner(db: &Db, id: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT seller_id, invoice_id FROM payments WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await
}

pub async fn find_in(tx: &mut Tx, id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .and_then(check_one)
}

fn check_one(row: Option<PaymentRaw>) -> Result<Option<PaymentRow>, sqlx::Error> {
    Ok(row.map(PaymentRow::try_from).transpose()?)
}

/// A page of the seller's payments, newest first, optionally of one invoice.
pub async fn list(
    db: &Db,
    seller_id: &str,
    invoice_id: Option<&str>,
    keyset: &Keyset,
) -> Result<Rows<PaymentRow>, sqlx::Error> {
    let sql = format!(
        // An account payment is found by each invoice it paid, not only by its row's first one.
        "SELECT {COLUMNS} FROM payments WHERE seller_id = $1 AND ($2 IS NULL OR invoice_id = $2 \
         OR id IN (SELECT payment_id FROM payment_allocations WHERE invoice_id = $2 AND seller_id = $1)){}",
        Keyset::clause("", 3)
    );
    let query = sqlx::query_as(&sql).bind(seller_id).bind(invoice_id);
    let rows: Vec<PaymentRaw> = keyset.bind(query).fetch_all(db.pool()).await?;
    Ok(keyset.rows(rows).try_map(PaymentRow::try_from)?)
}

pub async fn insert(tx: &mut Tx, row: &PaymentRow) -> Result<(), sqlx::Error> {
    // A gateway payment has no seller reference or arrival date: both columns stay NULL.
    insert_offline(tx, row, None, None).await
}

/// Inserts a payment; an offline one (already `succeeded`) with the seller's reference and the date the money
/// arrived, in the transaction that locked its invoice.
pub async fn insert_offline(
    tx: &mut Tx,
    row: &PaymentRow,
    reference: Option<&str>,
    received_on: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO payments ({COLUMNS}, reference, received_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.invoice_id)
    .bind(&row.checkout_link_id)
    .bind(row.amount.minor_units())
    .bind(row.discount.minor_units())
    .bind(row.currency().code())
    .bind(row.status.as_str())
    .bind(&row.method_kind)
    .bind(&row.method_brand)
    .bind(&row.method_last4)
    .bind(&row.gateway)
    .bind(&row.gateway_charge_id)
    .bind(&row.decline_code)
    .bind(&row.idempotency_key)
    .bind(row.reconcile_after)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.amount_refunded.minor_units())
    .bind(reference)
    .bind(received_on)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ids of pending payments whose reconcile time has come, most overdue first.
pub async fn due_for_reconcile(db: &Db, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    super::reconcile::due(db, super::reconcile::Queue::Payments, now, limit).await
}

/// Asks the reconciler to look at a still-pending payment again at `at`.
pub async fn reconcile_later(db: &Db, id: &str, at: i64) -> Result<(), sqlx::Error> {
    super::reconcile::later(db, super::reconcile::Queue::Payments, id, at).await
}

/// Releases the hold of a payment the gateway never saw (`failed`, `not_charged`). `true` only for the
/// caller that moved it out of `pending`.
pub async fn release_hold(tx: &mut Tx, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE payments SET status = 'failed', decline_code = 'not_charged', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a pending payment succeeded with the gateway's charge id.
pub async fn mark_succeeded(tx: &mut Tx, id: &str, charge_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = 'succeeded', gateway_charge_id = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(charge_id)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a pending payment failed with the gateway's decline code.
pub async fn mark_declined(tx: &mut Tx, id: &str, decline_code: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = 'failed', decline_code = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(decline_code)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the gateway's charge id on a payment that stays pending, and when to ask about it again.
pub async fn mark_charge_pending(
    tx: &mut Tx,
    id: &str,
    charge_id: &str,
    reconcile_after: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET gateway_charge_id = $1, reconcile_after = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(charge_id)
    .bind(reconcile_after)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a succeeded payment's effect on its invoice: new paid and discount totals and the status they
/// give. Part of the payment's finalize transaction (the invoice row is locked by the caller); it could
/// join `store::invoices` once that module takes writes.
pub async fn credit_invoice(
    tx: &mut Tx,
    invoice_id: &str,
    amount_paid: Money,
    discount_taken: Money,
    status: InvoiceStatus,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE invoices SET amount_paid_minor = $1, discount_taken_minor = $2, status = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(amount_paid.minor_units())
    .bind(discount_taken.minor_units())
    .bind(status.as_str())
    .bind(now)
    .bind(invoice_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An offline payment's seller reference and the date the money arrived, `(reference, received_on)`
/// (both `None` for a gateway payment, or no such payment of the seller).
pub async fn offline_details(
    db: &Db,
    seller_id: &str,
    id: &str,
) -> Result<(Option<String>, Option<String>), sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT reference, received_on FROM payments WHERE id = $1 AND seller_id = $2")
            .bind(id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.unwrap_or((None, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> PaymentRaw {
        PaymentRaw {
            id: "pay_1".into(),
            seller_id: "sel_1".into(),
            invoice_id: "inv_1".into(),
            checkout_link_id: None,
            amount_minor: 1_000,
            discount_minor: 0,
            currency: "USD".into(),
            status: "succeeded".into(),
            method_kind: "card".into(),
            method_brand: "visa".into(),
            method_last4: "4242".into(),
            gateway: "sandbox".into(),
            gateway_charge_id: None,
            decline_code: None,
            idempotency_key: None,
            reconcile_after: 0,
            created_at: 0,
            updated_at: 0,
            amount_refunded_minor: 0,
        }
    }

    #[test]
    fn a_readable_row_passes() {
        let row = PaymentRow::try_from(raw()).map_err(|e| e.to_string());
        assert_eq!(row.map(|r| r.view().amount), Ok("10.00".to_owned()));
    }

    #[test]
    fn unknown_status_currency_or_amount_fail_loudly() {
        let mut bad = raw();
        bad.status = "settled".into();
        assert_eq!(
            PaymentRow::try_from(bad).err(),
            Some(RowError::UnknownStatus("payments.status", "settled".into()))
        );
        let mut bad = raw();
        bad.currency = "XYZ".into();
        assert_eq!(
            PaymentRow::try_from(bad).err(),
            Some(RowError::UnknownCurrency("payments.currency", "XYZ".into()))
        );
        let mut bad = raw();
        bad.amount_minor = -5;
        assert!(matches!(
            PaymentRow::try_from(bad),
            Err(RowError::AmountOutOfRange(..))
        ));
        // JPY has no minor unit below the yen: any i64 fits, but a KWD amount past Money's range does not.
        let mut bad = raw();
        bad.currency = "KWD".into();
        bad.discount_minor = i64::MAX;
        assert!(matches!(
            PaymentRow::try_from(bad),
            Err(RowError::AmountOutOfRange(..))
        ));
    }
}
