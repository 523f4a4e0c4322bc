//! What the scheduler decided per invoice (issue 16): reminders sent or superseded, installments announced
//! as missed. The UNIQUE key (invoice, installment, kind, offset) is the idempotency of a pass: a second
//! scheduler (another node, a re-run backfill) inserts nothing and so queues nothing.

use crate::db::{new_id, Db, Tx};

/// What kind of mark a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    BeforeDue,
    AfterDue,
    Missed,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::BeforeDue => "before_due",
            Mark::AfterDue => "after_due",
            Mark::Missed => "missed",
        }
    }
}

/// What became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The reminder email was queued.
    Sent,
    /// An older offset whose day also came: recorded so it is never sent late.
    Superseded,
    /// A missed installment, announced.
    Recorded,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Superseded => "superseded",
            Outcome::Recorded => "recorded",
        }
    }
}

/// One decision to record.
pub struct NewMark<'a> {
    pub seller_id: &'a str,
    pub invoice_id: &'a str,
    pub installment: u32,
    pub mark: Mark,
    pub offset_days: u32,
    pub outcome: Outcome,
    pub as_of: &'a str,
    pub now: i64,
}

/// Records the decision unless it was already made; `Some(id)` when this call recorded it (and so owns
/// the email or event), `None` when another pass got there first.
pub async fn record(tx: &mut Tx, mark: &NewMark<'_>) -> Result<Option<String>, sqlx::Error> {
    let id = new_id("rem");
    let done = sqlx::query(
        "INSERT INTO invoice_reminders (id, invoice_id, seller_id, installment, kind, offset_days, outcome, as_of, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (invoice_id, installment, kind, offset_days) DO NOTHING",
    )
    .bind(&id)
    .bind(mark.invoice_id)
    .bind(mark.seller_id)
    .bind(i64::from(mark.installment))
    .bind(mark.mark.as_str())
    .bind(i64::from(mark.offset_days))
    .bind(mark.outcome.as_str())
    .bind(mark.as_of)
    .bind(mark.now)
    .execute(&mut **tx)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

/// A reminder as the seller sees it on the invoice (`reminders_sent`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SentRow {
    pub installment: i64,
    pub kind: String,
    pub offset_days: i64,
    pub as_of: String,
    pub created_at: i64,
}

/// The reminders actually sent for one invoice of one seller, oldest first.
pub async fn sent(db: &Db, seller_id: &str, invoice_id: &str) -> Result<Vec<SentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT installment, kind, offset_days, as_of, created_at FROM invoice_reminders \
         WHERE invoice_id = $1 AND seller_id = $2 AND outcome = 'sent' ORDER BY created_at, id",
    )
    .bind(invoice_id)
    .bind(seller_id)
    .fetch_all(db.pool())
    .await
}

/// Invoices the scheduler must look at, after `after` by id, at most `limit`: unpaid, not void, with a
/// plan or with reminders or late fees in their terms. The one query that spans sellers: the scheduler
/// serves them all, and every read and write it then makes is scoped to the invoice's seller.
pub async fn candidates(db: &Db, after: &str, limit: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.seller_id, i.id FROM invoices i \
         WHERE i.id > $1 AND i.status IN ('open', 'partially_paid') AND i.voided_at IS NULL \
         AND (i.terms_spec LIKE '%\"reminders\"%' OR i.terms_spec LIKE '%\"late_fee\"%' \
              OR EXISTS (SELECT 1 FROM invoice_installments s WHERE s.invoice_id = i.id)) \
         ORDER BY i.id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// The seller's name and reminder email overrides (`None`: the built-in text).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReminderTemplates {
    pub name: String,
    pub subject: Option<String>,
    pub text: Option<String>,
}

pub async fn templates(db: &Db, seller_id: &str) -> Result<ReminderTemplates, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, reminder_email_subject AS subject, reminder_email_text AS text FROM sellers WHERE id = $1",
    )
    .bind(seller_id)
    .fetch_one(db.pool())
    .await
}

/// Replaces the seller's reminder templates (`None` restores the built-in text).
pub async fn set_templates(
    db: &Db,
    seller_id: &str,
    subject: Option<&str>,
    text: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sellers SET reminder_email_subject = $1, reminder_email_text = $2 WHERE id = $3")
        .bind(subject)
        .bind(text)
        .bind(seller_id)
        .execute(&mut *db.writer().await?)
        .await?;
    Ok(())
}
