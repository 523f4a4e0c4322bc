//! Payments and the idempotency records that guard them.

use tranche_domain::wire::{PaymentStatus, PaymentView};
use tranche_domain::{Currency, Money};

use crate::db::{rfc3339, Db, Tx};

pub const COLUMNS: &str =
    "id, seller_id, invoice_id, checkout_link_id, amount_minor, discount_minor, currency, status, \
     method_kind, method_brand, method_last4, gateway, gateway_charge_id, decline_code, idempotency_key, \
     reconcile_after, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
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
}

impl PaymentRow {
    fn money(&self, minor: i64) -> String {
        Currency::parse(&self.currency)
            .ok()
            .and_then(|c| Money::from_minor_units(minor, c).ok())
            .map(|m| m.to_string())
            .unwrap_or_default()
    }

    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Pending)
    }

    /// The wire view (buyer and seller see the same fields).
    pub fn view(&self) -> PaymentView {
        PaymentView {
            id: self.id.clone(),
            amount: self.money(self.amount_minor),
            currency: Currency::parse(&self.currency).unwrap_or(Currency::USD),
            status: self.status(),
            method: Some(format!("{} •••• {}", self.method_brand, self.method_last4)),
            discount: (self.discount_minor > 0).then(|| self.money(self.discount_minor)),
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
}

pub async fn find_in(tx: &mut Tx, id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn list(
    db: &Db,
    seller_id: &str,
    invoice_id: Option<&str>,
    limit: i64,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE seller_id = $1 AND ($2 IS NULL OR invoice_id = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(seller_id)
    .bind(invoice_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// The payments a buyer sees on an invoice: everything but failed attempts, oldest first.
pub async fn history(db: &Db, invoice_id: &str) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE invoice_id = $1 AND status <> 'failed' ORDER BY created_at, id"
    ))
    .bind(invoice_id)
    .fetch_all(db.pool())
    .await
}

pub async fn insert(tx: &mut Tx, row: &PaymentRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO payments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.invoice_id)
    .bind(&row.checkout_link_id)
    .bind(row.amount_minor)
    .bind(row.discount_minor)
    .bind(&row.currency)
    .bind(&row.status)
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A stored idempotency record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub state: String,
    pub payment_id: Option<String>,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
}

pub async fn idempotency_find(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    seller_id: &str,
    key: &str,
) -> Result<Option<IdempotencyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, state, payment_id, response_status, response_body FROM idempotency_keys \
         WHERE seller_id = $1 AND idempotency_key = $2",
    )
    .bind(seller_id)
    .bind(key)
    .fetch_optional(executor)
    .await
}

pub async fn idempotency_start(
    tx: &mut Tx,
    seller_id: &str,
    key: &str,
    request_hash: &str,
    payment_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (seller_id, idempotency_key, request_hash, state, payment_id, created_at) \
         VALUES ($1, $2, $3, 'in_flight', $4, $5)",
    )
    .bind(seller_id)
    .bind(key)
    .bind(request_hash)
    .bind(payment_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Saves the response for the key that created `payment_id`, so retries replay it.
pub async fn idempotency_finish(
    tx: &mut Tx,
    payment_id: &str,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', response_status = $1, response_body = $2 WHERE payment_id = $3",
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(payment_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
