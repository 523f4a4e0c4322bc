//! Invoices and their lines.

use anyhow::Context;
use tranche_domain::{Currency, InvoiceAmounts, InvoiceStatus, InvoiceTotals, Money, Terms, TermsSpec};

use super::RowError;
use crate::db::{is_unique_violation, Db, Tx};
use crate::store::page::{Keyset, Rows};

const COLUMNS: &str = "i.id, i.seller_id, i.customer_id, c.name AS customer_name, c.email AS customer_email, \
     c.external_ref AS customer_external_ref, i.terms_id, i.terms_spec, i.number, \
     i.currency, i.issue_date, i.due_date, i.subtotal_minor, i.tax_minor, i.total_minor, i.amount_paid_minor, \
     i.discount_taken_minor, i.amount_credited_minor, i.status, i.voided_at, i.created_at, i.updated_at, \
     i.external_ref, i.memo, i.sent_at, i.amount_disputed_minor, i.amount_written_off_minor";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub seller_id: String,
    pub customer_id: String,
    pub customer_name: String,
    /// Where the buyer's receipt goes, and the customer's id in the ERP: read with the invoice so the
    /// finalize transaction does not ask for them separately.
    pub customer_email: String,
    pub customer_external_ref: Option<String>,
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
    /// Credit notes: lower the balance without money moving.
    pub amount_credited_minor: i64,
    pub status: String,
    pub voided_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The invoice's id in the seller's ERP (QuickBooks `TxnId`).
    pub external_ref: Option<String>,
    /// A note for the seller's records (set by `PATCH /v1/invoices/{id}`).
    pub memo: Option<String>,
    /// When the invoice was last sent by email.
    pub sent_at: Option<i64>,
    /// Held out of the payable balance by open disputes (issue 17).
    pub amount_disputed_minor: i64,
    /// Short pays written off (issue 17): lower the balance like credits.
    pub amount_written_off_minor: i64,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
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
        .context("stored invoice totals break an invariant")?
        .with_credited(self.money(self.amount_credited_minor)?)
        .context("stored invoice credits break an invariant")?
        .with_written_off(self.money(self.amount_written_off_minor)?)
        .context("stored invoice write-offs break an invariant")?
        .with_disputed(self.money(self.amount_disputed_minor)?)
        .context("stored invoice disputes break an invariant")
    }

    pub fn balance_due_minor(&self) -> i64 {
        self.total_minor
            - self.amount_paid_minor
            - self.discount_taken_minor
            - self.amount_credited_minor
            - self.amount_written_off_minor
    }
}

impl InvoiceRow {
    /// The stored status as the domain's enum.
    pub fn invoice_status(&self) -> Result<InvoiceStatus, RowError> {
        InvoiceStatus::parse(&self.status)
            .ok_or_else(|| RowError::UnknownStatus("invoices.status", self.status.clone()))
    }

    /// Checks what every reader relies on: a known currency and status, and amounts that are money in it.
    /// A row that fails is an error (a 500 `internal` at the HTTP edge), never a guess: a wrong currency or
    /// status shown to a buyer is worse than no answer.
    fn check(&self) -> Result<(), RowError> {
        let currency = Currency::parse(&self.currency)
            .map_err(|_| RowError::UnknownCurrency("invoices.currency", self.currency.clone()))?;
        self.invoice_status()?;
        let amounts = [
            ("invoices.subtotal_minor", self.subtotal_minor),
            ("invoices.tax_minor", self.tax_minor),
            ("invoices.total_minor", self.total_minor),
            ("invoices.amount_paid_minor", self.amount_paid_minor),
            ("invoices.discount_taken_minor", self.discount_taken_minor),
            ("invoices.amount_credited_minor", self.amount_credited_minor),
            ("invoices.amount_disputed_minor", self.amount_disputed_minor),
            ("invoices.amount_written_off_minor", self.amount_written_off_minor),
            ("invoices balance due", self.balance_due_minor()),
        ];
        for (column, value) in amounts {
            if Money::from_minor_units(value, currency).is_err() {
                return Err(RowError::AmountOutOfRange(column, value, self.currency.clone()));
            }
        }
        Ok(())
    }
}

/// Passes a row on only if it checks out; the error travels as a decode error, so every caller's
/// `sqlx::Error` handling (a 500 at the HTTP edge) applies unchanged.
fn checked(row: InvoiceRow) -> Result<InvoiceRow, sqlx::Error> {
    row.check().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(row)
}

/// One invoice of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<InvoiceRow>, sqlx::Error> {
    let row: Option<InvoiceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1 AND i.seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(checked).transpose()
}

/// Locks the invoice row for the rest of `tx` (PostgreSQL `FOR UPDATE`; SQLite holds the write lock).
pub async fn lock(
    db: &Db,
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    // One statement: `FOR UPDATE OF i` locks only the invoice row (locking the customer would serialise
    // unrelated invoices), and PostgreSQL re-reads the locked row's latest version after waiting for it.
    let row: Option<InvoiceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1 AND i.seller_id = $2{}",
        db.for_update_of("i")
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(checked).transpose()
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

/// Everything the buyer's view of one invoice shows, read in one statement (see [`checkout_view`]).
#[derive(Debug)]
pub struct CheckoutRows {
    pub invoice: InvoiceRow,
    /// Sum of amounts (plus discounts) held by pending payments.
    pub pending_minor: i64,
    /// By position.
    pub lines: Vec<LineRow>,
    /// Every payment but failed attempts, oldest first.
    pub payments: Vec<super::payments::PaymentRow>,
}

#[derive(sqlx::FromRow)]
struct CheckoutRaw {
    #[sqlx(flatten)]
    invoice: InvoiceRow,
    pending_minor: i64,
    lines_json: String,
    payments_json: String,
}

/// The line columns, as JSON object members (one list for both dialects' JSON functions).
const LINE_FIELDS: [&str; 7] = [
    "position",
    "description",
    "quantity",
    "unit_price_minor",
    "tax_rate",
    "amount_minor",
    "tax_minor",
];

/// `json_object('a', a, 'b', b, ...)` in the pool's dialect.
fn json_object(db: &Db, fields: &[&str]) -> String {
    let members: Vec<String> = fields.iter().map(|f| format!("'{f}', {f}")).collect();
    let function = match db.dialect() {
        crate::db::Dialect::Sqlite => "json_object",
        crate::db::Dialect::Postgres => "json_build_object",
    };
    format!("{function}({})", members.join(", "))
}

/// `[...]` of the objects as text, `[]` for none, in the pool's dialect.
fn json_array(db: &Db, object: &str) -> String {
    match db.dialect() {
        crate::db::Dialect::Sqlite => format!("COALESCE(json_group_array({object}), '[]')"),
        crate::db::Dialect::Postgres => format!("COALESCE(json_agg({object}), '[]'::json)::text"),
    }
}

/// The payment columns of an account payment as this invoice sees it: its allocation's invoice, amount,
/// discount and refunds in place of the whole charge's (the buyer's history lists what this invoice got).
fn allocated_columns(fields: &[&str]) -> String {
    let column = |field: &str| match field {
        "invoice_id" | "amount_minor" | "discount_minor" | "amount_refunded_minor" => format!("a.{field}"),
        other => format!("p.{other}"),
    };
    fields
        .iter()
        .map(|f| format!("{} AS {f}", column(f)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The buyer's view in one statement: the invoice with its customer, the pending holds, the lines and the
/// payment history, the last two as JSON arrays. A checkout view was 4 round trips (each a thread hand-off
/// on SQLite, the read path's largest cost in the profile in docs/benchmarks.md); now it is one.
pub async fn checkout_view(db: &Db, seller_id: &str, id: &str) -> Result<Option<CheckoutRows>, sqlx::Error> {
    let payment_fields: Vec<&str> = super::payments::COLUMNS.split(',').map(str::trim).collect();
    let sql = format!(
        "SELECT {COLUMNS}, \
         CAST((SELECT COALESCE(SUM(p.amount_minor + p.discount_minor), 0) FROM payments p \
          WHERE p.invoice_id = i.id AND p.status = 'pending' AND p.account_link_id IS NULL) + \
          (SELECT COALESCE(SUM(a.amount_minor + a.discount_minor), 0) FROM payment_allocations a \
          JOIN payments p ON p.id = a.payment_id WHERE a.invoice_id = i.id AND p.status = 'pending') \
          AS BIGINT) AS pending_minor, \
         (SELECT {lines} FROM invoice_lines WHERE invoice_id = i.id) AS lines_json, \
         (SELECT {payments} FROM (SELECT {columns} FROM payments WHERE invoice_id = i.id AND status <> 'failed' \
          AND account_link_id IS NULL \
          UNION ALL SELECT {allocated} FROM payment_allocations a JOIN payments p ON p.id = a.payment_id \
          WHERE a.invoice_id = i.id AND p.status <> 'failed') history) AS payments_json \
         FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1 AND i.seller_id = $2",
        lines = json_array(db, &json_object(db, &LINE_FIELDS)),
        payments = json_array(db, &json_object(db, &payment_fields)),
        columns = super::payments::COLUMNS,
        allocated = allocated_columns(&payment_fields),
    );
    let raw: Option<CheckoutRaw> = sqlx::query_as(&sql)
        .bind(id)
        .bind(seller_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(raw) = raw else { return Ok(None) };
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    let mut lines: Vec<LineRow> = serde_json::from_str(&raw.lines_json).map_err(decode)?;
    let mut payments: Vec<super::payments::PaymentRaw> =
        serde_json::from_str(&raw.payments_json).map_err(decode)?;
    // Aggregates promise no order: sort here, as the separate queries' ORDER BY did.
    lines.sort_by_key(|l| l.position);
    payments.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let payments = payments
        .into_iter()
        .map(super::payments::PaymentRow::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Some(CheckoutRows {
        invoice: checked(raw.invoice)?,
        pending_minor: raw.pending_minor,
        lines,
        payments,
    }))
}

/// Filters for the invoice list.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub status: Option<InvoiceStatus>,
    pub customer_id: Option<String>,
}

/// A page of the seller's invoices, newest first.
pub async fn list(
    db: &Db,
    seller_id: &str,
    filter: &ListFilter,
    keyset: &Keyset,
) -> Result<Rows<InvoiceRow>, sqlx::Error> {
    // Optional filters as `($n IS NULL OR col = $n)` keep one static statement per query shape.
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices i JOIN customers c ON c.id = i.customer_id \
         WHERE i.seller_id = $1 AND ($2 IS NULL OR i.status = $2) AND ($3 IS NULL OR i.customer_id = $3){}",
        Keyset::clause("i.", 4)
    );
    let query = sqlx::query_as(&sql)
        .bind(seller_id)
        .bind(filter.status.map(InvoiceStatus::as_str))
        .bind(filter.customer_id.as_deref());
    let rows: Vec<InvoiceRow> = keyset.bind(query).fetch_all(db.pool()).await?;
    keyset.rows(rows).try_map(checked)
}

/// Writes a locked invoice's dispute hold, credits, write-offs and the status they give, in the transaction
/// of the dispute, resolution or write-off (the CHECKs hold the parts within the total whatever this is
/// handed).
pub async fn write_holds(
    tx: &mut Tx,
    invoice_id: &str,
    totals: &InvoiceTotals,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE invoices SET amount_disputed_minor = $1, amount_credited_minor = $2, amount_written_off_minor = $3, \
         status = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(totals.amount_disputed().minor_units())
    .bind(totals.amount_credited().minor_units())
    .bind(totals.written_off().minor_units())
    .bind(totals.status().as_str())
    .bind(now)
    .bind(invoice_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sum of amounts (plus discounts) held by pending payments on an invoice: single-invoice payments by
/// their row, account payments by their allocation to this invoice (their row's `invoice_id` is only the
/// first allocation's, so it is not counted as such).
pub async fn pending_minor(tx: &mut Tx, invoice_id: &str) -> Result<i64, sqlx::Error> {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST((SELECT COALESCE(SUM(amount_minor + discount_minor), 0) FROM payments \
         WHERE invoice_id = $1 AND status = 'pending' AND account_link_id IS NULL) + \
         (SELECT COALESCE(SUM(a.amount_minor + a.discount_minor), 0) FROM payment_allocations a \
         JOIN payments p ON p.id = a.payment_id WHERE a.invoice_id = $2 AND p.status = 'pending') AS BIGINT)",
    )
    .bind(invoice_id)
    .bind(invoice_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum)
}

/// A new invoice: validated values only (the handler parsed the request), amounts computed from the lines.
pub struct NewInvoice<'a> {
    pub id: &'a str,
    pub seller_id: &'a str,
    pub customer_id: &'a str,
    pub terms_id: Option<&'a str>,
    pub terms_spec: &'a TermsSpec,
    pub number: &'a str,
    pub currency: Currency,
    pub issue_date: String,
    pub due_date: String,
    pub amounts: &'a InvoiceAmounts,
    pub external_ref: Option<&'a str>,
    pub created_at: i64,
    /// The payment plan, if the invoice has one (issue 16); stored in the same transaction.
    pub plan: Option<&'a tranche_domain::Plan>,
}

/// What became of an insert.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    Created,
    /// The seller already has an invoice with this number (nothing was written).
    NumberTaken,
}

/// Inserts an open invoice, its lines and its audit row in one transaction.
pub async fn insert(
    db: &Db,
    invoice: &NewInvoice<'_>,
    audit: &super::audit::Entry<'_>,
) -> Result<Inserted, sqlx::Error> {
    let terms_spec =
        serde_json::to_string(invoice.terms_spec).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let amounts = invoice.amounts;
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO invoices (id, seller_id, customer_id, terms_id, terms_spec, number, currency, issue_date, due_date, \
         subtotal_minor, tax_minor, total_minor, amount_paid_minor, discount_taken_minor, status, created_at, updated_at, external_ref) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 0, 'open', $13, $13, $14)",
    )
    .bind(invoice.id)
    .bind(invoice.seller_id)
    .bind(invoice.customer_id)
    .bind(invoice.terms_id)
    .bind(terms_spec)
    .bind(invoice.number)
    .bind(invoice.currency.code())
    .bind(&invoice.issue_date)
    .bind(&invoice.due_date)
    .bind(amounts.subtotal.minor_units())
    .bind(amounts.tax.minor_units())
    .bind(amounts.total.minor_units())
    .bind(invoice.created_at)
    .bind(invoice.external_ref)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        tx.rollback().await?;
        return if is_unique_violation(&e) {
            Ok(Inserted::NumberTaken)
        } else {
            Err(e)
        };
    }
    insert_lines(&mut tx, invoice.id, amounts).await?;
    if let Some(plan) = invoice.plan {
        super::installments::insert(&mut tx, invoice.seller_id, invoice.id, plan).await?;
    }
    super::audit::record(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Inserted::Created)
}

/// Writes an invoice's lines from its computed amounts, positions from 0.
async fn insert_lines(tx: &mut Tx, invoice_id: &str, amounts: &InvoiceAmounts) -> Result<(), sqlx::Error> {
    for (position, line) in amounts.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO invoice_lines (invoice_id, position, description, quantity, unit_price_minor, tax_rate, amount_minor, tax_minor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(invoice_id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(&line.description)
        .bind(line.quantity.to_string())
        .bind(line.unit_price.minor_units())
        .bind(line.tax_rate.to_string())
        .bind(line.amount.minor_units())
        .bind(line.tax.minor_units())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Marks a locked invoice void (the caller checked it may be).
pub async fn void(tx: &mut Tx, seller_id: &str, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE invoices SET status = 'void', voided_at = $1, updated_at = $1 WHERE id = $2 AND seller_id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that the seller sent the invoice (the last time wins), in the transaction writing `invoice.sent`.
pub async fn mark_sent(tx: &mut Tx, seller_id: &str, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invoices SET sent_at = $1 WHERE id = $2 AND seller_id = $3")
        .bind(now)
        .bind(id)
        .bind(seller_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// When the invoice was last sent by email (`None`: never, or no such invoice of the seller).
pub async fn sent_at(db: &Db, seller_id: &str, id: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT sent_at FROM invoices WHERE id = $1 AND seller_id = $2")
            .bind(id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|(at,)| at))
}

// Edits (`PATCH /v1/invoices/{id}`), kept apart from issuing: the handler locks the invoice, decides the new
// values and calls these in the same transaction as the audit row.

/// An invoice's editable fields, as they will be stored.
pub struct EditedInvoice<'a> {
    pub due_date: &'a str,
    pub memo: Option<&'a str>,
    pub external_ref: Option<&'a str>,
    pub terms_id: Option<&'a str>,
    /// The profile's spec copied at the edit, as at issue.
    pub terms_spec: &'a TermsSpec,
}

/// Writes a locked invoice's editable fields.
pub async fn update_fields(
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
    edited: &EditedInvoice<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let terms_spec =
        serde_json::to_string(edited.terms_spec).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "UPDATE invoices SET due_date = $1, memo = $2, external_ref = $3, terms_id = $4, terms_spec = $5, \
         updated_at = $6 WHERE id = $7 AND seller_id = $8",
    )
    .bind(edited.due_date)
    .bind(edited.memo)
    .bind(edited.external_ref)
    .bind(edited.terms_id)
    .bind(terms_spec)
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces a locked invoice's lines and totals (the caller checked nothing is paid, credited or held).
pub async fn replace_lines(
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
    amounts: &InvoiceAmounts,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM invoice_lines WHERE invoice_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    insert_lines(tx, id, amounts).await?;
    sqlx::query(
        "UPDATE invoices SET subtotal_minor = $1, tax_minor = $2, total_minor = $3, updated_at = $4 \
         WHERE id = $5 AND seller_id = $6",
    )
    .bind(amounts.subtotal.minor_units())
    .bind(amounts.tax.minor_units())
    .bind(amounts.total.minor_units())
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many payments on the invoice are not failed attempts (pending, succeeded or refunded): an invoice
/// with any keeps its lines, as the ERP recorded payments against them. Account payments count on every
/// invoice they were allocated to.
pub async fn payments_made(tx: &mut Tx, invoice_id: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT CAST((SELECT COUNT(*) FROM payments WHERE invoice_id = $1 AND status <> 'failed' \
         AND account_link_id IS NULL) + (SELECT COUNT(*) FROM payment_allocations a JOIN payments p \
         ON p.id = a.payment_id WHERE a.invoice_id = $2 AND p.status <> 'failed') AS BIGINT)",
    )
    .bind(invoice_id)
    .bind(invoice_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n)
}
