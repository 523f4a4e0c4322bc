//! What needs a seller's attention (`GET /v1/alerts`, issue 16): partially paid invoices past their due
//! date, installments the scheduler found missed on invoices still unpaid, dead ERP deliveries and
//! chargebacks. One statement over the four, paged by the same keyset as every list (the ids never
//! collide: `inv_`, `rem_`, `dlv_`, the gateway's `dp_`).

use crate::db::Db;
use crate::store::page::{Keyset, Rows};

/// One alert as stored facts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub created_at: i64,
    pub invoice_id: Option<String>,
    pub installment: Option<i64>,
    pub delivery_id: Option<String>,
    pub payment_id: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
}

/// The union, as a derived table with `seller_id`; `$2` is today (`YYYY-MM-DD`).
const ALERTS: &str = "(\
    SELECT i.id AS id, i.seller_id AS seller_id, 'invoice_past_due' AS kind, i.created_at AS created_at, \
           i.id AS invoice_id, CAST(NULL AS BIGINT) AS installment, CAST(NULL AS TEXT) AS delivery_id, \
           CAST(NULL AS TEXT) AS payment_id, CAST(NULL AS BIGINT) AS amount_minor, \
           CAST(NULL AS TEXT) AS currency, CAST(NULL AS TEXT) AS reason \
      FROM invoices i WHERE i.status = 'partially_paid' AND i.due_date < $2 \
    UNION ALL \
    SELECT r.id, r.seller_id, 'installment_missed', r.created_at, r.invoice_id, r.installment, CAST(NULL AS TEXT), \
           CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT) \
      FROM invoice_reminders r JOIN invoices i ON i.id = r.invoice_id \
     WHERE r.kind = 'missed' AND i.status IN ('open', 'partially_paid') \
    UNION ALL \
    SELECT d.id, d.seller_id, 'delivery_dead', d.created_at, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), d.id, \
           CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT) \
      FROM deliveries d WHERE d.status = 'dead' \
    UNION ALL \
    SELECT c.id, c.seller_id, 'payment_chargeback', c.created_at, c.invoice_id, CAST(NULL AS BIGINT), \
           CAST(NULL AS TEXT), c.payment_id, c.amount_minor, c.currency, c.reason \
      FROM chargebacks c\
    ) a";

/// A page of the seller's alerts as of `today`, newest first.
pub async fn list(
    db: &Db,
    seller_id: &str,
    today: &str,
    keyset: &Keyset,
) -> Result<Rows<AlertRow>, sqlx::Error> {
    let sql = format!(
        "SELECT a.id, a.kind, a.created_at, a.invoice_id, a.installment, a.delivery_id, a.payment_id, \
         a.amount_minor, a.currency, a.reason FROM {ALERTS} \
         WHERE a.seller_id = $1{}",
        Keyset::clause("a.", 3)
    );
    let query = sqlx::query_as(&sql).bind(seller_id).bind(today);
    let rows: Vec<AlertRow> = keyset.bind(query).fetch_all(db.pool()).await?;
    Ok(keyset.rows(rows))
}

/// The `created_at` of one of the seller's alerts, for `starting_after`.
pub async fn cursor(db: &Db, seller_id: &str, today: &str, id: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT a.created_at FROM {ALERTS} WHERE a.seller_id = $1 AND a.id = $3"
    ))
    .bind(seller_id)
    .bind(today)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(created_at,)| created_at))
}
