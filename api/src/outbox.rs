//! The transactional outbox: events written in the same transaction as the payment they describe, so an
//! event exists if and only if its payment succeeded. Delivery to ERPs reads this table.

use anyhow::Context;
use serde_json::json;

use crate::db::{new_id, rfc3339, Tx};
use crate::store::invoices::InvoiceRow;
use crate::store::payments::PaymentRow;

/// Records `payment.succeeded` (a cash receipt) and, when the balance reached zero, `invoice.paid`.
pub async fn record_payment_succeeded(
    tx: &mut Tx,
    payment: &PaymentRow,
    invoice: &InvoiceRow,
    now: i64,
) -> anyhow::Result<()> {
    let (customer_email, customer_ref): (String, Option<String>) =
        sqlx::query_as("SELECT email, external_ref FROM customers WHERE id = $1")
            .bind(&invoice.customer_id)
            .fetch_one(&mut **tx)
            .await
            .context("loading the customer for the receipt")?;
    let view = payment.view();
    let receipt = json!({
        "payment_id": payment.id,
        "amount": view.amount,
        "discount": view.discount,
        "currency": payment.currency,
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "invoice_external_ref": invoice.external_ref,
        "customer": {
            "id": invoice.customer_id,
            "name": invoice.customer_name,
            "email": customer_email,
            "external_ref": customer_ref,
        },
        "method": {"kind": payment.method_kind, "brand": payment.method_brand, "last4": payment.method_last4},
        "gateway_charge_id": payment.gateway_charge_id,
        "paid_at": rfc3339(now),
        "invoice_balance_after": invoice.money(invoice.balance_due_minor())?.to_string(),
        "invoice_status_after": invoice.status,
    });
    insert(
        tx,
        &payment.seller_id,
        "payment.succeeded",
        &payment.id,
        &receipt,
        now,
    )
    .await?;
    if invoice.balance_due_minor() == 0 {
        let paid = json!({
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "total": invoice.money(invoice.total_minor)?.to_string(),
            "currency": invoice.currency,
            "paid_at": rfc3339(now),
        });
        insert(tx, &payment.seller_id, "invoice.paid", &invoice.id, &paid, now).await?;
    }
    Ok(())
}

async fn insert(
    tx: &mut Tx,
    seller_id: &str,
    event_type: &str,
    aggregate_id: &str,
    payload: &serde_json::Value,
    now: i64,
) -> anyhow::Result<()> {
    let event_id = new_id("evt");
    sqlx::query(
        "INSERT INTO outbox (id, seller_id, event_type, aggregate_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event_id)
    .bind(seller_id)
    .bind(event_type)
    .bind(aggregate_id)
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await
    .context("writing the outbox event")?;
    crate::erp::fan_out(tx, seller_id, &event_id, event_type, now)
        .await
        .context("writing the event's deliveries")?;
    Ok(())
}
