//! The outbox table: one row per event, written in the transaction of the change it describes.

use crate::db::{new_id, Tx};
use crate::erp::events::Event;

/// Writes the event; returns its id (deliveries reference it).
pub async fn insert(tx: &mut Tx, seller_id: &str, event: &Event, now: i64) -> anyhow::Result<String> {
    let event_id = new_id("evt");
    sqlx::query(
        "INSERT INTO outbox (id, seller_id, event_type, aggregate_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event_id)
    .bind(seller_id)
    .bind(event.event_type().as_str())
    .bind(event.aggregate_id())
    .bind(event.payload()?)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(event_id)
}
