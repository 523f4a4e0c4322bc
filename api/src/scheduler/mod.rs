//! The scheduler (issue 16, DESIGN 11): reminders and missed installments of invoices with payment plans
//! or reminder terms. One clock (`AppState::clock`), a pass every `TRANCHE_SCHEDULER_INTERVAL_MS` in each
//! server, and `tranche scheduler run --as-of DATE` for backfills and tests.
//!
//! A pass is idempotent: each decision is a row of `invoice_reminders` under a UNIQUE key, inserted in
//! the transaction that queues its email or event, with the invoice locked first (the lock order every
//! writer uses). Two nodes running the same pass at once serialise on the invoice; the second finds the
//! rows and queues nothing. What is due is the domain's (`Reminders::due`, `Plan::states`).

pub mod reminder_email;

use anyhow::Context;
use time::{Date, Duration};
use tranche_domain::wire::format_date;
use tranche_domain::{InstallmentStatus, Money, Plan, ReminderKind};

use crate::erp::events::{Event, InstallmentMissed, InvoiceLateFeeApplied, InvoiceReminder};
use crate::state::AppState;
use crate::store::fees::{self, NewFee};
use crate::store::reminders::{self, Mark, NewMark, Outcome};
use crate::store::{installments, invoices};

/// Furthest `--as-of` may be from today, either way: a typo'd year is refused, not run.
pub const MAX_AS_OF_DAYS: i64 = 400;
/// Invoices read per page of a pass.
const PAGE: i64 = 200;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub invoices: usize,
    pub reminders_sent: usize,
    pub reminders_superseded: usize,
    pub installments_missed: usize,
    pub fees_applied: usize,
}

/// Why an `--as-of` date is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsOfError {
    #[error("--as-of must be a date such as 2027-01-15, not {0:?}")]
    Malformed(String),
    #[error("--as-of {as_of} is more than {MAX_AS_OF_DAYS} days from today ({today}); nothing was run")]
    OutOfRange { as_of: String, today: String },
}

/// Parses and bounds an `--as-of` date against `today`.
pub fn as_of(text: &str, today: Date) -> Result<Date, AsOfError> {
    let date = tranche_domain::wire::parse_date(text)
        .ok_or_else(|| AsOfError::Malformed(text.chars().take(32).collect()))?;
    if (date - today).abs() > Duration::days(MAX_AS_OF_DAYS) {
        return Err(AsOfError::OutOfRange {
            as_of: format_date(date),
            today: format_date(today),
        });
    }
    Ok(date)
}

/// Runs forever in the server (until the task is dropped at shutdown): a pass as of the clock's today.
pub async fn run(state: AppState) {
    let interval = state.settings.scheduler_interval_ms;
    if interval == 0 {
        return;
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(interval.max(1_000))).await;
        if let Err(error) = pass(&state, state.clock().today()).await {
            tracing::warn!(error = ?error, "scheduler pass failed");
        }
    }
}

/// `tranche scheduler run --as-of DATE`: one pass as of `DATE` (bounded), for backfills and tests.
pub async fn run_as_of(state: &AppState, text: &str) -> anyhow::Result<PassReport> {
    let date = as_of(text, state.clock().today())?;
    pass(state, date).await
}

/// One pass over every invoice that may owe a reminder, as of `as_of`.
pub async fn pass(state: &AppState, as_of: Date) -> anyhow::Result<PassReport> {
    let mut report = PassReport::default();
    let mut after = String::new();
    loop {
        let page = reminders::candidates(&state.db, &after, PAGE).await?;
        let Some((_, last)) = page.last() else { break };
        after = last.clone();
        for (seller_id, invoice_id) in &page {
            report.invoices += 1;
            if let Err(error) = invoice_pass(state, seller_id, invoice_id, as_of, &mut report).await {
                // One bad invoice must not stop the others; the next pass tries it again.
                tracing::warn!(%invoice_id, error = ?error, "scheduler: invoice skipped");
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(report)
}

/// One invoice: lock it, decide, record and queue, commit.
async fn invoice_pass(
    state: &AppState,
    seller_id: &str,
    invoice_id: &str,
    as_of: Date,
    report: &mut PassReport,
) -> anyhow::Result<()> {
    let mut tx = state.db.begin_write().await?;
    let Some(mut invoice) = invoices::lock(&state.db, &mut tx, seller_id, invoice_id).await? else {
        return Ok(());
    };
    if !matches!(invoice.status.as_str(), "open" | "partially_paid") {
        tx.rollback().await?;
        return Ok(());
    }
    let terms = invoice.terms()?;
    let stored = installments::plan_in(&mut tx, &invoice).await?;
    let has_plan = stored.is_some();
    // Without a plan the invoice is one installment due on its due date.
    let plan = match stored {
        Some(plan) => plan,
        None => single(&invoice)?,
    };
    let settled = installments::settled(&invoice)?;
    let states = plan.states(settled, as_of);
    let now = state.clock().now_ms();
    let as_of_text = format_date(as_of);
    if has_plan {
        for s in states.iter().filter(|s| s.status == InstallmentStatus::Overdue) {
            let mark = NewMark {
                seller_id,
                invoice_id,
                installment: s.number,
                mark: Mark::Missed,
                offset_days: 0,
                outcome: Outcome::Recorded,
                as_of: &as_of_text,
                now,
            };
            if reminders::record(&mut tx, &mark).await?.is_some() {
                let event = Event::InstallmentMissed(InstallmentMissed {
                    amount_open: s.open().to_string(),
                    currency: invoice.currency.clone(),
                    due_date: format_date(s.due_date),
                    installment: s.number,
                    invoice_external_ref: invoice.external_ref.clone(),
                    invoice_id: invoice.id.clone(),
                    invoice_number: invoice.number.clone(),
                    missed_on: as_of_text.clone(),
                });
                crate::outbox::record(&mut tx, seller_id, &event, now).await?;
                report.installments_missed += 1;
            }
        }
    }
    if let Some(late_fee) = terms.late_fee() {
        for s in states.iter().filter(|s| s.status == InstallmentStatus::Overdue) {
            for (seq, on) in (1u32..).zip(late_fee.fee_dates(s.due_date, as_of)) {
                // Of what is open on the installment only: fees never compound on fees.
                let Some(fee) = late_fee.fee(s.open()) else { break };
                let total_after = invoice
                    .money(invoice.total_minor)?
                    .checked_add(&fee)
                    .context("a late fee beyond the largest amount")?;
                let applied_on = format_date(on);
                let new = NewFee {
                    seller_id,
                    invoice_id,
                    installment: s.number,
                    seq,
                    amount_minor: fee.minor_units(),
                    applied_on: &applied_on,
                    now,
                };
                let Some(fee_id) = fees::apply(&mut tx, &new).await? else {
                    continue;
                };
                invoice.total_minor = total_after.minor_units();
                let event = Event::InvoiceLateFeeApplied(InvoiceLateFeeApplied {
                    amount: fee.to_string(),
                    applied_on,
                    currency: invoice.currency.clone(),
                    fee_id,
                    installment: s.number,
                    invoice_balance_after: invoice.money(invoice.balance_due_minor())?.to_string(),
                    invoice_external_ref: invoice.external_ref.clone(),
                    invoice_id: invoice.id.clone(),
                    invoice_number: invoice.number.clone(),
                    invoice_total_after: total_after.to_string(),
                });
                crate::outbox::record(&mut tx, seller_id, &event, now).await?;
                report.fees_applied += 1;
            }
        }
    }
    if let Some(config) = terms.reminders() {
        for due in config.due(&states, as_of) {
            let kind = match due.kind {
                ReminderKind::BeforeDue => Mark::BeforeDue,
                ReminderKind::AfterDue => Mark::AfterDue,
            };
            for &offset_days in &due.superseded {
                let mark = NewMark {
                    seller_id,
                    invoice_id,
                    installment: due.installment,
                    mark: kind,
                    offset_days,
                    outcome: Outcome::Superseded,
                    as_of: &as_of_text,
                    now,
                };
                if reminders::record(&mut tx, &mark).await?.is_some() {
                    report.reminders_superseded += 1;
                }
            }
            let mark = NewMark {
                seller_id,
                invoice_id,
                installment: due.installment,
                mark: kind,
                offset_days: due.offset_days,
                outcome: Outcome::Sent,
                as_of: &as_of_text,
                now,
            };
            let Some(reminder_id) = reminders::record(&mut tx, &mark).await? else {
                continue;
            };
            let state_of = states
                .iter()
                .find(|s| s.number == due.installment)
                .context("the reminded installment")?;
            let event = Event::InvoiceReminder(InvoiceReminder {
                amount_due: state_of.open().to_string(),
                currency: invoice.currency.clone(),
                customer_id: invoice.customer_id.clone(),
                due_date: format_date(state_of.due_date),
                installment: due.installment,
                invoice_id: invoice.id.clone(),
                invoice_number: invoice.number.clone(),
                kind: kind.as_str().to_owned(),
                offset_days: due.offset_days,
                reminder_id,
                sent_on: as_of_text.clone(),
                sent_to: invoice.customer_email.clone(),
            });
            crate::outbox::record(&mut tx, seller_id, &event, now).await?;
            report.reminders_sent += 1;
        }
    }
    tx.commit().await?;
    // Wake the relay so the emails go out now rather than at its next poll.
    state.relay_wakeup.notify_one();
    Ok(())
}

/// An invoice without a plan as a one-installment plan: its lines and tax (not its fees: a fee is never
/// charged on a fee), due on its due date.
fn single(invoice: &invoices::InvoiceRow) -> anyhow::Result<Plan> {
    let issue = tranche_domain::wire::parse_date(&invoice.issue_date).context("stored issue date")?;
    let due = tranche_domain::wire::parse_date(&invoice.due_date).context("stored due date")?;
    let total: Money = invoice.money(invoice.subtotal_minor + invoice.tax_minor)?;
    Plan::new(total, issue, vec![(total, due.max(issue))]).context("an invoice as one installment")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_is_bounded_both_ways() {
        let today = tranche_domain::wire::parse_date("2026-11-30").unwrap_or(Date::MIN);
        assert_eq!(
            as_of("2027-01-15", today).map(format_date),
            Ok("2027-01-15".to_owned())
        );
        assert!(as_of("2028-01-04", today).is_ok());
        assert!(matches!(
            as_of("2028-01-05", today),
            Err(AsOfError::OutOfRange { .. })
        ));
        assert!(matches!(
            as_of("2025-10-25", today),
            Err(AsOfError::OutOfRange { .. })
        ));
        assert!(matches!(as_of("15/01/2027", today), Err(AsOfError::Malformed(_))));
    }
}
