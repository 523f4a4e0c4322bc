//! Posting payments to sellers' ERPs: endpoints (`/v1/erp/endpoints`), deliveries written with each
//! outbox event, the relay that delivers them (signed webhooks, QuickBooks Online, receipt emails), and
//! the seller's view of deliveries.

pub mod quickbooks;
pub mod quickbooks_oauth;
pub mod relay;
pub mod routes;
pub mod signature;

use crate::db::{new_id, Tx};

/// Writes one delivery per active endpoint of the seller (and a receipt email for payments), in the
/// transaction that writes the event: an event can never exist without its deliveries.
pub async fn fan_out(
    tx: &mut Tx,
    seller_id: &str,
    event_id: &str,
    event_type: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let endpoints: Vec<(String, String)> =
        sqlx::query_as("SELECT id, kind FROM erp_endpoints WHERE seller_id = $1 AND disabled_at IS NULL")
            .bind(seller_id)
            .fetch_all(&mut **tx)
            .await?;
    for (endpoint_id, kind) in endpoints {
        // QuickBooks takes cash receipts only; webhooks get every event.
        if kind == "quickbooks" && event_type != "payment.succeeded" {
            continue;
        }
        insert(tx, seller_id, event_id, Some(&endpoint_id), &kind, now).await?;
    }
    if event_type == "payment.succeeded" {
        insert(tx, seller_id, event_id, None, "email", now).await?;
    }
    Ok(())
}

async fn insert(
    tx: &mut Tx,
    seller_id: &str,
    event_id: &str,
    endpoint_id: Option<&str>,
    kind: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deliveries (id, seller_id, event_id, endpoint_id, kind, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(new_id("dlv"))
    .bind(seller_id)
    .bind(event_id)
    .bind(endpoint_id)
    .bind(kind)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
