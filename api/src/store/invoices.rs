//! Invoices and their lines.

use anyhow::Context;
use tranche_domain::{Currency, InvoiceTotals, Money, Terms, TermsSpec};

use crate::db::{Db, Tx};

const COLUMNS: &str = "i.id, i.seller_id, i.customer_id, c.name AS customer_name, i.terms_id, i.terms_spec, i.number, \
     i.currency, i.issue_date, i.due_date, i.subtotal_minor, i.tax_minor, i.total_minor, i.amount_paid_minor, \
     i.discount_taken_minor, i.status, i.voided_at, i.created_at, i.updated_at, i.external_ref";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub seller_id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub terms_id: Option<String>,
    pub terms_spec: String,
    pub number: String,
    pub currency: String,
    pub issue_date: String,
    pub due_date: String,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub amount_paid_minor: i64,
    pub discount_taken_minor: i64,
    pub status: String,
    pub voided_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The invoice's id in the seller's ERP (QuickBooks `TxnId`).
    pub external_ref: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LineRow {
    pub position: i64,
    pub description: String,
    pub quantity: String,
    pub unit_price_minor: i64,
    pub tax_rate: String,
    pub amount_minor: i64,
    pub tax_minor: i64,
}

impl InvoiceRow {
    pub fn currency(&self) -> anyhow::Result<Currency> {
        Currency::parse(&self.currency).context("stored invoice currency")
    }

    pub fn money(&self, minor: i64) -> anyhow::Result<Money> {
        Money::from_minor_units(minor, self.currency()?).context("stored amount")
    }

    pub fn terms(&self) -> anyhow::Result<Terms> {
        let spec: TermsSpec = serde_json::from_str(&self.terms_spec).context("stored terms")?;
        Terms::try_from(&spec).context("stored terms are invalid")
    }

    /// The invoice's amounts as the domain sees them; `pending_minor` is the sum of holds.
    pub fn totals(&self, pending_minor: i64) -> anyhow::Result<InvoiceTotals> {
        let issue_date = tranche_domain::wire::parse_date(&self.issue_date).context("stored issue date")?;
        InvoiceTotals::new(
            self.money(self.total_minor)?,
            self.money(self.amount_paid_minor)?,
            self.money(self.discount_taken_minor)?,
            self.money(pending_minor)?,
            self.voided_at.is_some(),
            issue_date,
        )
        .context("stored invoice totals break an invariant")
    }

    pub fn balance_due_minor(&self) -> i64 {
        self.total_minor - self.amount_paid_minor - self.discount_taken_minor
    }
}

/// One invoice of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1 AND i.seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await
}

/// Locks the invoice row for the rest of `tx` (PostgreSQL `FOR UPDATE`; SQLite holds the write lock).
pub async fn lock(
    db: &Db,
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    // Lock only the invoice row: PostgreSQL refuses FOR UPDATE across a nullable join side, and
    // locking the customer would serialise unrelated invoices.
    let locked: Option<(String,)> = sqlx::query_as(&format!(
        "SELECT id FROM invoices WHERE id = $1 AND seller_id = $2{}",
        db.for_update()
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await?;
    if locked.is_none() {
        return Ok(None);
    }
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1 AND i.seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn lines(db: &Db, invoice_id: &str) -> Result<Vec<LineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT position, description, quantity, unit_price_minor, tax_rate, amount_minor, tax_minor \
         FROM invoice_lines WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(db.pool())
    .await
}

/// Filters for the invoice list.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    pub customer_id: Option<String>,
    pub limit: i64,
}

pub async fn list(db: &Db, seller_id: &str, filter: &ListFilter) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    // Optional filters as `($n IS NULL OR col = $n)` keep one static statement per query shape.
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN customers c ON c.id = i.customer_id \
         WHERE i.seller_id = $1 AND ($2 IS NULL OR i.status = $2) AND ($3 IS NULL OR i.customer_id = $3) \
         ORDER BY i.created_at DESC, i.id DESC LIMIT $4"
    ))
    .bind(seller_id)
    .bind(filter.status.as_deref())
    .bind(filter.customer_id.as_deref())
    .bind(filter.limit)
    .fetch_all(db.pool())
    .await
}

/// Sum of amounts (plus discounts) held by pending payments on an invoice.
pub async fn pending_minor(tx: &mut Tx, invoice_id: &str) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor + discount_minor), 0) AS BIGINT) FROM payments \
         WHERE invoice_id = $1 AND status = 'pending'",
    )
    .bind(invoice_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum)
}

/// Same, outside a transaction (for read-only views).
pub async fn pending_minor_now(db: &Db, invoice_id: &str) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor + discount_minor), 0) AS BIGINT) FROM payments \
         WHERE invoice_id = $1 AND status = 'pending'",
    )
    .bind(invoice_id)
    .fetch_one(db.pool())
    .await?;
    Ok(sum)
}
