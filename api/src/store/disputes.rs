//! Disputes (issue 17, DESIGN 12): a buyer contests a line and the amount is held out of what may be paid
//! until the seller resolves it. Rows load into domain types ([`DisputeRow`]) or fail with [`RowError`];
//! every query is scoped to the seller. Writers hold the invoice's lock (the order every writer uses).

use tranche_domain::{Currency, DisputeReason, Money};

use super::page::{Keyset, Rows};
use super::RowError;
use crate::db::{Db, Tx};

const COLUMNS: &str =
    "id, seller_id, invoice_id, line_position, amount_minor, currency, reason, note, status, \
     amount_credited_minor, credit_note_id, created_at, resolved_at";

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStatus {
    /// Holding its amount out of the payable balance.
    Open,
    /// Resolved with a credit note for `amount_credited` (the rest, if any, went back to payable).
    Credited,
    /// Resolved without a credit: the amount went back to payable.
    Rejected,
}

impl DisputeStatus {
    pub const ALL: [DisputeStatus; 3] = [
        DisputeStatus::Open,
        DisputeStatus::Credited,
        DisputeStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Credited => "credited",
            DisputeStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<DisputeStatus> {
        DisputeStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct DisputeRaw {
    id: String,
    seller_id: String,
    invoice_id: String,
    line_position: Option<i64>,
    amount_minor: i64,
    currency: String,
    reason: String,
    note: Option<String>,
    status: String,
    amount_credited_minor: i64,
    credit_note_id: Option<String>,
    created_at: i64,
    resolved_at: Option<i64>,
}

/// A dispute in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeRow {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    /// The disputed line (0-based); `None` for a dispute the seller opened from a short-pay exception.
    pub line: Option<i64>,
    pub amount: Money,
    pub reason: DisputeReason,
    /// The buyer's words, stored as text and never rendered as markup.
    pub note: Option<String>,
    pub status: DisputeStatus,
    pub amount_credited: Money,
    pub credit_note_id: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

impl TryFrom<DisputeRaw> for DisputeRow {
    type Error = RowError;

    fn try_from(raw: DisputeRaw) -> Result<DisputeRow, RowError> {
        let currency = Currency::parse(&raw.currency)
            .map_err(|_| RowError::UnknownCurrency("disputes.currency", raw.currency.clone()))?;
        let money = |column: &'static str, minor: i64| {
            Money::from_minor_units(minor, currency)
                .map_err(|_| RowError::AmountOutOfRange(column, minor, raw.currency.clone()))
        };
        Ok(DisputeRow {
            amount: money("disputes.amount_minor", raw.amount_minor)?,
            amount_credited: money("disputes.amount_credited_minor", raw.amount_credited_minor)?,
            reason: DisputeReason::parse(&raw.reason)
                .ok_or_else(|| RowError::unknown("disputes.reason", &raw.reason))?,
            status: DisputeStatus::parse(&raw.status)
                .ok_or_else(|| RowError::unknown("disputes.status", &raw.status))?,
            id: raw.id,
            seller_id: raw.seller_id,
            invoice_id: raw.invoice_id,
            line: raw.line_position,
            note: raw.note,
            credit_note_id: raw.credit_note_id,
            created_at: raw.created_at,
            resolved_at: raw.resolved_at,
        })
    }
}

/// One dispute of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<DisputeRow>, sqlx::Error> {
    let raw: Option<DisputeRaw> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM disputes WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(raw.map(DisputeRow::try_from).transpose()?)
}

/// A dispute re-read inside the transaction that locked its invoice (so its status cannot change under us).
pub async fn find_locked(tx: &mut Tx, seller_id: &str, id: &str) -> Result<Option<DisputeRow>, sqlx::Error> {
    let raw: Option<DisputeRaw> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM disputes WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(raw.map(DisputeRow::try_from).transpose()?)
}

/// A page of the seller's disputes, newest first, optionally of one status.
pub async fn list(
    db: &Db,
    seller_id: &str,
    status: Option<DisputeStatus>,
    keyset: &Keyset,
) -> Result<Rows<DisputeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM disputes WHERE seller_id = $1 AND ($2 IS NULL OR status = $2){}",
        Keyset::clause("", 3)
    );
    let query = sqlx::query_as(&sql)
        .bind(seller_id)
        .bind(status.map(DisputeStatus::as_str));
    let rows: Vec<DisputeRaw> = keyset.bind(query).fetch_all(db.pool()).await?;
    Ok(keyset.rows(rows).try_map(DisputeRow::try_from)?)
}

/// What is already disputed on one line of a locked invoice: open disputes plus the credited part of
/// resolved ones (a rejected dispute, and the rejected rest of a partial credit, count for nothing).
pub async fn disputed_on_line(tx: &mut Tx, invoice_id: &str, line: i64) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'open' THEN amount_minor ELSE amount_credited_minor END), 0) AS BIGINT) \
         FROM disputes WHERE invoice_id = $1 AND line_position = $2",
    )
    .bind(invoice_id)
    .bind(line)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum)
}

/// Open disputes on an invoice (for the short-pay exception's suggested cause).
pub async fn open_on_invoice(tx: &mut Tx, invoice_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, amount_minor FROM disputes WHERE invoice_id = $1 AND status = 'open' ORDER BY created_at, id",
    )
    .bind(invoice_id)
    .fetch_all(&mut **tx)
    .await
}

/// Inserts an open dispute, in the transaction that locked its invoice.
pub async fn insert(tx: &mut Tx, row: &DisputeRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO disputes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.invoice_id)
    .bind(row.line)
    .bind(row.amount.minor_units())
    .bind(row.amount.currency().code())
    .bind(row.reason.as_str())
    .bind(&row.note)
    .bind(row.status.as_str())
    .bind(row.amount_credited.minor_units())
    .bind(&row.credit_note_id)
    .bind(row.created_at)
    .bind(row.resolved_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Resolves an open dispute (only an open one: the `status = 'open'` guard makes a second resolution
/// write nothing, which the caller reads as "already resolved").
pub async fn resolve(tx: &mut Tx, row: &DisputeRow) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE disputes SET status = $1, amount_credited_minor = $2, credit_note_id = $3, resolved_at = $4 \
         WHERE id = $5 AND seller_id = $6 AND status = 'open'",
    )
    .bind(row.status.as_str())
    .bind(row.amount_credited.minor_units())
    .bind(&row.credit_note_id)
    .bind(row.resolved_at)
    .bind(&row.id)
    .bind(&row.seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The amount of one line of an invoice, tax included (what the buyer pays for it): `None` when the
/// invoice has no line at `position`. Read in the transaction that locked the invoice.
pub async fn line_amount(tx: &mut Tx, invoice_id: &str, position: i64) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT CAST(amount_minor + tax_minor AS BIGINT) FROM invoice_lines WHERE invoice_id = $1 AND position = $2",
    )
    .bind(invoice_id)
    .bind(position)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(amount,)| amount))
}
