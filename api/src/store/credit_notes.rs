//! Credit notes (DESIGN section 10): part of an invoice's balance taken off without money moving. Rows load
//! into domain types ([`CreditNoteRow`]) or fail with [`RowError`]; every read is scoped to the seller.

use tranche_domain::{Currency, InvoiceStatus, Money};

use super::RowError;
use crate::db::{Db, Tx};

const COLUMNS: &str = "id, seller_id, invoice_id, amount_minor, currency, reason, memo, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
struct CreditNoteRaw {
    id: String,
    seller_id: String,
    invoice_id: String,
    amount_minor: i64,
    currency: String,
    reason: String,
    memo: Option<String>,
    created_at: i64,
}

/// A credit note in domain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteRow {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    pub amount: Money,
    pub reason: String,
    pub memo: Option<String>,
    pub created_at: i64,
}

impl TryFrom<CreditNoteRaw> for CreditNoteRow {
    type Error = RowError;

    fn try_from(raw: CreditNoteRaw) -> Result<CreditNoteRow, RowError> {
        let currency = Currency::parse(&raw.currency)
            .map_err(|_| RowError::UnknownCurrency("credit_notes.currency", raw.currency.clone()))?;
        let amount = Money::from_minor_units(raw.amount_minor, currency).map_err(|_| {
            RowError::AmountOutOfRange(
                "credit_notes.amount_minor",
                raw.amount_minor,
                raw.currency.clone(),
            )
        })?;
        Ok(CreditNoteRow {
            id: raw.id,
            seller_id: raw.seller_id,
            invoice_id: raw.invoice_id,
            amount,
            reason: raw.reason,
            memo: raw.memo,
            created_at: raw.created_at,
        })
    }
}

/// One credit note of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<CreditNoteRow>, sqlx::Error> {
    let raw: Option<CreditNoteRaw> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credit_notes WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(raw.map(CreditNoteRow::try_from).transpose()?)
}

/// An invoice's credit notes, newest first, after `starting_after` (keyset paging).
pub async fn list(
    db: &Db,
    seller_id: &str,
    invoice_id: &str,
    starting_after: Option<&CreditNoteRow>,
    limit: i64,
) -> Result<Vec<CreditNoteRow>, sqlx::Error> {
    let rows: Vec<CreditNoteRaw> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credit_notes WHERE seller_id = $1 AND invoice_id = $2 \
         AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    ))
    .bind(seller_id)
    .bind(invoice_id)
    .bind(starting_after.map(|r| r.created_at))
    .bind(starting_after.map(|r| r.id.as_str()))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(CreditNoteRow::try_from)
        .collect::<Result<_, _>>()?)
}

/// Inserts the credit note, in the transaction that locked its invoice.
pub async fn insert(tx: &mut Tx, row: &CreditNoteRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO credit_notes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.invoice_id)
    .bind(row.amount.minor_units())
    .bind(row.amount.currency().code())
    .bind(&row.reason)
    .bind(&row.memo)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a credit note's effect on its invoice: the new credited total and the status it gives. The
/// database CHECKs hold `paid + credited + discount <= total` whatever this is handed.
pub async fn credit_invoice(
    tx: &mut Tx,
    invoice_id: &str,
    amount_credited: Money,
    status: InvoiceStatus,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invoices SET amount_credited_minor = $1, status = $2, updated_at = $3 WHERE id = $4")
        .bind(amount_credited.minor_units())
        .bind(status.as_str())
        .bind(now)
        .bind(invoice_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
