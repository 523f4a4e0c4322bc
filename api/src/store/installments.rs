//! The installments of invoices with a payment plan (issue 16). Only amounts and due dates are stored;
//! what each installment has received comes from the invoice's settled amount through the domain
//! ([`tranche_domain::Plan::states`]), so no payment or refund path has to keep a second balance in step.

use anyhow::Context;
use tranche_domain::{Money, Plan};

use super::invoices::InvoiceRow;
use crate::db::{Db, Tx};

/// Stores `plan` for a new invoice, inside the transaction that inserts it.
pub async fn insert(tx: &mut Tx, seller_id: &str, invoice_id: &str, plan: &Plan) -> Result<(), sqlx::Error> {
    for i in plan.installments() {
        sqlx::query(
            "INSERT INTO invoice_installments (invoice_id, seller_id, number, amount_minor, due_date) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(invoice_id)
        .bind(seller_id)
        .bind(i64::from(i.number))
        .bind(i.amount.minor_units())
        .bind(tranche_domain::wire::format_date(i.due_date))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The plan of one invoice of one seller, or `None` when it has none. Stored rows are validated again
/// (the plan's total is what its rows sum to: late fees raise the invoice total, not an installment).
pub async fn plan(db: &Db, invoice: &InvoiceRow) -> anyhow::Result<Option<Plan>> {
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT number, amount_minor, due_date FROM invoice_installments \
         WHERE invoice_id = $1 AND seller_id = $2 ORDER BY number",
    )
    .bind(&invoice.id)
    .bind(&invoice.seller_id)
    .fetch_all(db.pool())
    .await?;
    from_rows(invoice, rows)
}

/// The same, read inside a write transaction (the payment and scheduler paths, after locking the invoice).
pub async fn plan_in(tx: &mut Tx, invoice: &InvoiceRow) -> anyhow::Result<Option<Plan>> {
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT number, amount_minor, due_date FROM invoice_installments \
         WHERE invoice_id = $1 AND seller_id = $2 ORDER BY number",
    )
    .bind(&invoice.id)
    .bind(&invoice.seller_id)
    .fetch_all(&mut **tx)
    .await?;
    from_rows(invoice, rows)
}

fn from_rows(invoice: &InvoiceRow, rows: Vec<(i64, i64, String)>) -> anyhow::Result<Option<Plan>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let issue_date = tranche_domain::wire::parse_date(&invoice.issue_date).context("stored issue date")?;
    let mut parts = Vec::with_capacity(rows.len());
    let mut total = Money::zero(invoice.currency()?);
    for (_, amount_minor, due_date) in rows {
        let amount = invoice.money(amount_minor)?;
        total = total.checked_add(&amount).context("stored installments")?;
        let due = tranche_domain::wire::parse_date(&due_date).context("stored installment due date")?;
        parts.push((amount, due));
    }
    Plan::new(total, issue_date, parts)
        .map(Some)
        .context("stored installments break a plan invariant")
}

/// What the invoice has settled (paid + discounts + credit notes + write-offs): what fills its installments.
pub fn settled(invoice: &InvoiceRow) -> anyhow::Result<Money> {
    invoice.money(
        invoice.amount_paid_minor
            + invoice.discount_taken_minor
            + invoice.amount_credited_minor
            + invoice.amount_written_off_minor,
    )
}
