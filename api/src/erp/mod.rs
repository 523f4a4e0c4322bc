//! Posting payments to sellers' ERPs: endpoints (`/v1/erp/endpoints`), deliveries written with each
//! outbox event, the relay that delivers them through three channels (signed webhooks, QuickBooks
//! Online, receipt emails), and the seller's view of deliveries. Events are typed (`events`); the
//! storage lives in `store::{outbox, endpoints, deliveries}`.

pub mod dispute_email;
pub mod events;
pub mod invoice_email;
pub mod quickbooks;
pub mod quickbooks_fee;
pub mod quickbooks_oauth;
pub mod quickbooks_writeoff;
pub mod receipts;
pub mod relay;
pub mod routes;
pub mod signature;

use crate::db::Tx;
use crate::erp::events::EventType;
use crate::store::deliveries::{self, DeliveryKind};
use crate::store::endpoints::{self, EndpointKind};

/// Writes one delivery per active endpoint of the seller (and a receipt email for payments and refunds), in the
/// transaction that writes the event: an event can never exist without its deliveries.
pub async fn fan_out(
    tx: &mut Tx,
    seller_id: &str,
    event_id: &str,
    event_type: EventType,
    now: i64,
) -> anyhow::Result<()> {
    for (endpoint_id, kind) in endpoints::active(tx, seller_id).await? {
        let kind = match kind {
            EndpointKind::Webhook => DeliveryKind::Webhook,
            // QuickBooks takes money movements (a Payment, a RefundReceipt), late fees (a line on the invoice)
            // and write-offs (a CreditMemo); webhooks get every event.
            EndpointKind::Quickbooks if !event_type.posts_to_quickbooks() => continue,
            EndpointKind::Quickbooks => DeliveryKind::Quickbooks,
        };
        deliveries::insert(tx, seller_id, event_id, Some(&endpoint_id), kind, now).await?;
    }
    // The buyer gets a receipt for money taken and for money given back, and the invoice when it is sent.
    if event_type.emails_buyer() {
        deliveries::insert(tx, seller_id, event_id, None, DeliveryKind::Email, now).await?;
    }
    Ok(())
}
