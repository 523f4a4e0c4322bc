//! The transactional outbox: events written in the same transaction as the payment they describe, so an
//! event exists if and only if its payment succeeded. Delivery to ERPs reads this table.

use anyhow::Context;

use crate::db::{rfc3339, Tx};
use crate::erp::events::{
    CreditNoteCreated, Event, InvoicePaid, PaymentMethod, PaymentSucceeded, ReceiptAllocation,
    ReceiptCustomer, RefundSucceeded,
};
use crate::store;
use crate::store::allocations::Allocation;
use crate::store::credit_notes::CreditNoteRow;
use crate::store::invoices::InvoiceRow;
use crate::store::payments::PaymentRow;
use crate::store::refunds::{RefundReason, RefundRow};

/// Records `payment.succeeded` (a cash receipt) and, when the balance reached zero, `invoice.paid`.
pub async fn record_payment_succeeded(
    tx: &mut Tx,
    payment: &PaymentRow,
    invoice: &InvoiceRow,
    now: i64,
) -> anyhow::Result<()> {
    let view = payment.view();
    let receipt = PaymentSucceeded {
        amount: view.amount,
        currency: payment.currency().code().to_owned(),
        customer: ReceiptCustomer {
            email: invoice.customer_email.clone(),
            external_ref: invoice.customer_external_ref.clone(),
            id: invoice.customer_id.clone(),
            name: invoice.customer_name.clone(),
        },
        discount: view.discount,
        gateway_charge_id: payment.gateway_charge_id.clone(),
        invoice_balance_after: invoice.money(invoice.balance_due_minor())?.to_string(),
        invoice_external_ref: invoice.external_ref.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        invoice_status_after: invoice.status.clone(),
        method: PaymentMethod {
            brand: payment.method_brand.clone(),
            kind: payment.method_kind.clone(),
            last4: payment.method_last4.clone(),
        },
        paid_at: rfc3339(now),
        payment_id: payment.id.clone(),
        allocations: vec![ReceiptAllocation {
            invoice_id: invoice.id.clone(),
            invoice_number: invoice.number.clone(),
            invoice_external_ref: invoice.external_ref.clone(),
            amount: payment.amount.to_string(),
            discount: (!payment.discount.is_zero()).then(|| payment.discount.to_string()),
            invoice_balance_after: invoice.money(invoice.balance_due_minor())?.to_string(),
        }],
    };
    record(
        tx,
        &payment.seller_id,
        &Event::PaymentSucceeded(Box::new(receipt)),
        now,
    )
    .await?;
    record_invoice_paid(tx, &payment.seller_id, invoice, now).await
}

/// `invoice.paid` when the invoice's balance is zero.
async fn record_invoice_paid(
    tx: &mut Tx,
    seller_id: &str,
    invoice: &InvoiceRow,
    now: i64,
) -> anyhow::Result<()> {
    if invoice.balance_due_minor() == 0 {
        let paid = InvoicePaid {
            currency: invoice.currency.clone(),
            invoice_id: invoice.id.clone(),
            invoice_number: invoice.number.clone(),
            paid_at: rfc3339(now),
            total: invoice.money(invoice.total_minor)?.to_string(),
        };
        record(tx, seller_id, &Event::InvoicePaid(paid), now).await?;
    }
    Ok(())
}

/// Records one `payment.succeeded` for an account payment (one cash receipt, one allocation per invoice in
/// the request's order; the `invoice_*` fields are the first allocated invoice's by id, the payment row's)
/// and `invoice.paid` for each invoice it brought to zero. `allocations` and `invoices` pair up in order.
pub async fn record_account_payment_succeeded(
    tx: &mut Tx,
    payment: &PaymentRow,
    allocations: &[Allocation],
    invoices: &[InvoiceRow],
    now: i64,
) -> anyhow::Result<()> {
    let first = invoices.first().context("an account payment with no invoice")?;
    let mut parts: Vec<(i64, ReceiptAllocation)> = Vec::with_capacity(allocations.len());
    for (a, invoice) in allocations.iter().zip(invoices) {
        parts.push((
            a.position,
            ReceiptAllocation {
                invoice_id: invoice.id.clone(),
                invoice_number: invoice.number.clone(),
                invoice_external_ref: invoice.external_ref.clone(),
                amount: a.amount.to_string(),
                discount: (!a.discount.is_zero()).then(|| a.discount.to_string()),
                invoice_balance_after: invoice.money(invoice.balance_due_minor())?.to_string(),
            },
        ));
    }
    parts.sort_by_key(|(position, _)| *position);
    let view = payment.view();
    let receipt = PaymentSucceeded {
        amount: view.amount,
        currency: payment.currency().code().to_owned(),
        customer: ReceiptCustomer {
            email: first.customer_email.clone(),
            external_ref: first.customer_external_ref.clone(),
            id: first.customer_id.clone(),
            name: first.customer_name.clone(),
        },
        discount: view.discount,
        gateway_charge_id: payment.gateway_charge_id.clone(),
        invoice_balance_after: first.money(first.balance_due_minor())?.to_string(),
        invoice_external_ref: first.external_ref.clone(),
        invoice_id: first.id.clone(),
        invoice_number: first.number.clone(),
        invoice_status_after: first.status.clone(),
        method: PaymentMethod {
            brand: payment.method_brand.clone(),
            kind: payment.method_kind.clone(),
            last4: payment.method_last4.clone(),
        },
        paid_at: rfc3339(now),
        payment_id: payment.id.clone(),
        allocations: parts.into_iter().map(|(_, part)| part).collect(),
    };
    record(
        tx,
        &payment.seller_id,
        &Event::PaymentSucceeded(Box::new(receipt)),
        now,
    )
    .await?;
    for invoice in invoices {
        record_invoice_paid(tx, &payment.seller_id, invoice, now).await?;
    }
    Ok(())
}

/// Records `refund.succeeded` with the payment and invoice as the refund left them.
pub async fn record_refund_succeeded(
    tx: &mut Tx,
    refund: &RefundRow,
    payment: &PaymentRow,
    invoice: &InvoiceRow,
    now: i64,
) -> anyhow::Result<()> {
    let event = RefundSucceeded {
        amount: refund.amount.to_string(),
        currency: refund.currency().code().to_owned(),
        customer: ReceiptCustomer {
            email: invoice.customer_email.clone(),
            external_ref: invoice.customer_external_ref.clone(),
            id: invoice.customer_id.clone(),
            name: invoice.customer_name.clone(),
        },
        gateway_refund_id: refund.gateway_refund_id.clone(),
        invoice_balance_after: invoice.money(invoice.balance_due_minor())?.to_string(),
        invoice_external_ref: invoice.external_ref.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        invoice_status_after: invoice.status.clone(),
        method: PaymentMethod {
            brand: payment.method_brand.clone(),
            kind: payment.method_kind.clone(),
            last4: payment.method_last4.clone(),
        },
        payment_amount_refunded: payment.amount_refunded.to_string(),
        payment_id: payment.id.clone(),
        payment_status_after: payment.status.as_str().to_owned(),
        reason: refund.reason.map(|r| RefundReason::as_str(r).to_owned()),
        refund_id: refund.id.clone(),
        refunded_at: rfc3339(now),
    };
    record(
        tx,
        &refund.seller_id,
        &Event::RefundSucceeded(Box::new(event)),
        now,
    )
    .await
}

/// Records `credit_note.created` with the invoice as the credit note left it and, when that brought the
/// balance to zero, `invoice.paid` (ERPs close the invoice on it whichever way it got there).
pub async fn record_credit_note_created(
    tx: &mut Tx,
    note: &CreditNoteRow,
    invoice: &InvoiceRow,
    now: i64,
) -> anyhow::Result<()> {
    let event = CreditNoteCreated {
        amount: note.amount.to_string(),
        created_at: rfc3339(note.created_at),
        credit_note_id: note.id.clone(),
        currency: note.amount.currency().code().to_owned(),
        invoice_balance_after: invoice.money(invoice.balance_due_minor())?.to_string(),
        invoice_credited_after: invoice.money(invoice.amount_credited_minor)?.to_string(),
        invoice_external_ref: invoice.external_ref.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        invoice_status_after: invoice.status.clone(),
        memo: note.memo.clone(),
        reason: note.reason.clone(),
    };
    record(tx, &note.seller_id, &Event::CreditNoteCreated(event), now).await?;
    if invoice.balance_due_minor() == 0 {
        let paid = InvoicePaid {
            currency: invoice.currency.clone(),
            invoice_id: invoice.id.clone(),
            invoice_number: invoice.number.clone(),
            paid_at: rfc3339(now),
            total: invoice.money(invoice.total_minor)?.to_string(),
        };
        record(tx, &note.seller_id, &Event::InvoicePaid(paid), now).await?;
    }
    Ok(())
}

/// Writes one typed event and its deliveries, in the caller's transaction.
pub async fn record(tx: &mut Tx, seller_id: &str, event: &Event, now: i64) -> anyhow::Result<()> {
    let event_id = store::outbox::insert(tx, seller_id, event, now)
        .await
        .context("writing the outbox event")?;
    crate::erp::fan_out(tx, seller_id, &event_id, event.event_type(), now)
        .await
        .context("writing the event's deliveries")?;
    Ok(())
}
