//! Deliveries: one row per (event, channel), written with the event, claimed and leased by the relay,
//! listed and replayed by the seller. Also the few reads and writes the receipt-email channel needs.

use crate::db::{new_id, Db, Tx};
use crate::erp::events::EventType;
use crate::store::page::{Keyset, Rows};
use crate::store::RowError;

/// The channel a delivery goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    Webhook,
    Quickbooks,
    Email,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Webhook => "webhook",
            DeliveryKind::Quickbooks => "quickbooks",
            DeliveryKind::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Result<DeliveryKind, RowError> {
        match text {
            "webhook" => Ok(DeliveryKind::Webhook),
            "quickbooks" => Ok(DeliveryKind::Quickbooks),
            "email" => Ok(DeliveryKind::Email),
            other => Err(RowError::unknown("deliveries.kind", other)),
        }
    }
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Result<DeliveryStatus, RowError> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| RowError::unknown("deliveries.status", text))
    }
}

/// Writes a pending delivery of an event (in the event's transaction).
pub async fn insert(
    tx: &mut Tx,
    seller_id: &str,
    event_id: &str,
    endpoint_id: Option<&str>,
    kind: DeliveryKind,
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
    .bind(kind.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many deliveries a claim may take, counting leases other nodes hold.
#[derive(Debug, Clone, Copy)]
pub struct ClaimLimits {
    pub per_lane: i64,
    pub per_seller: i64,
    pub total: i64,
}

/// The lane a delivery queues in: its endpoint, or its seller's receipt emails.
const LANE: &str = "COALESCE(endpoint_id, 'email:' || seller_id)";

/// Chooses up to `limits.total` due deliveries fairly (see `erp::relay`), leases them until
/// `lease_until` and counts the attempt; returns their ids.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_until: i64,
    limits: ClaimLimits,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // Window functions cannot sit under FOR UPDATE, so they choose the ids in a subquery and the outer
    // query locks those rows, skipping any another node is claiming right now.
    let ids: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT id FROM deliveries WHERE status = 'pending' AND (locked_until IS NULL OR locked_until < $1) AND id IN ( \
           WITH busy_lane AS (SELECT {LANE} AS lane, COUNT(*) AS n FROM deliveries \
                              WHERE status = 'pending' AND locked_until >= $1 GROUP BY {LANE}), \
                busy_seller AS (SELECT seller_id, COUNT(*) AS n FROM deliveries \
                                WHERE status = 'pending' AND locked_until >= $1 GROUP BY seller_id), \
                due AS (SELECT id, seller_id, next_attempt_at, {LANE} AS lane, \
                               ROW_NUMBER() OVER (PARTITION BY {LANE} ORDER BY next_attempt_at, id) AS lane_rn \
                        FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
                        AND (locked_until IS NULL OR locked_until < $1)), \
                fit AS (SELECT due.id, due.seller_id, due.next_attempt_at, due.lane_rn, \
                               ROW_NUMBER() OVER (PARTITION BY due.seller_id ORDER BY due.lane_rn, due.next_attempt_at, due.id) AS seller_rn \
                        FROM due LEFT JOIN busy_lane ON busy_lane.lane = due.lane \
                        WHERE due.lane_rn + COALESCE(busy_lane.n, 0) <= $2) \
           SELECT fit.id FROM fit LEFT JOIN busy_seller ON busy_seller.seller_id = fit.seller_id \
           WHERE fit.seller_rn + COALESCE(busy_seller.n, 0) <= $3 \
           ORDER BY fit.seller_rn, fit.next_attempt_at, fit.id LIMIT $4){}",
        db.skip_locked()
    ))
    .bind(now)
    .bind(limits.per_lane)
    .bind(limits.per_seller)
    .bind(limits.total)
    .fetch_all(&mut *tx)
    .await?;
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    // One statement for the whole batch: the write turn (SQLite) or the row locks (PostgreSQL) are held
    // for one round trip, not one per delivery, while payments wait for the same turn.
    let lease = format!(
        "UPDATE deliveries SET locked_until = $1, attempts = attempts + 1 WHERE id IN ({})",
        placeholders(2, ids.len())
    );
    let mut update = sqlx::query(&lease).bind(lease_until);
    for (id,) in &ids {
        update = update.bind(id);
    }
    update.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// `$first, $first+1, ...`: `count` numbered parameters for an `IN (...)` list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A claimed delivery with what is needed to attempt it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub seller_id: String,
    pub event_id: String,
    pub endpoint_id: Option<String>,
    pub kind: DeliveryKind,
    pub attempts: i64,
    pub event_type: EventType,
    /// As stored; the channel reads it into its typed event (`erp::events::Event::parse`).
    pub payload: String,
    pub event_created_at: i64,
    pub url: Option<String>,
    /// As stored: sealed with the master key (opened just before signing).
    pub signing_secret: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRaw {
    id: String,
    seller_id: String,
    event_id: String,
    endpoint_id: Option<String>,
    kind: String,
    attempts: i64,
    event_type: String,
    payload: String,
    event_created_at: i64,
    url: Option<String>,
    signing_secret: Option<String>,
}

impl TryFrom<ClaimedRaw> for Claimed {
    type Error = RowError;

    fn try_from(raw: ClaimedRaw) -> Result<Claimed, RowError> {
        Ok(Claimed {
            kind: DeliveryKind::parse(&raw.kind)?,
            event_type: raw.event_type.parse()?,
            id: raw.id,
            seller_id: raw.seller_id,
            event_id: raw.event_id,
            endpoint_id: raw.endpoint_id,
            attempts: raw.attempts,
            payload: raw.payload,
            event_created_at: raw.event_created_at,
            url: raw.url,
            signing_secret: raw.signing_secret,
        })
    }
}

/// Loads claimed deliveries in one query, each as `(id, row)`. The outer error is the database's; a row's
/// error is a row this code cannot read (an unknown kind or event type), which the relay dead-letters
/// rather than guessing.
pub async fn claimed(
    db: &Db,
    ids: &[String],
) -> Result<Vec<(String, Result<Claimed, RowError>)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT d.id, d.seller_id, d.event_id, d.endpoint_id, d.kind, d.attempts, o.event_type, o.payload, \
         o.created_at AS event_created_at, e.url, e.signing_secret \
         FROM deliveries d JOIN outbox o ON o.id = d.event_id LEFT JOIN erp_endpoints e ON e.id = d.endpoint_id \
         WHERE d.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as::<_, ClaimedRaw>(&sql);
    for id in ids {
        query = query.bind(id);
    }
    let mut rows: Vec<(String, Result<Claimed, RowError>)> = query
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|raw| (raw.id.clone(), Claimed::try_from(raw)))
        .collect();
    // In claim order (fairness decided it), not the database's.
    rows.sort_by_key(|(id, _)| ids.iter().position(|claimed| claimed == id));
    Ok(rows)
}

/// What the relay has not delivered yet, across every seller: an operator's gauge on the private metrics
/// listener (`metrics.rs`), never shown to a seller.
#[derive(Debug, Default)]
pub struct Backlog {
    /// `(kind, status, count)` for `pending` and `dead` deliveries.
    pub counts: Vec<(String, String, i64)>,
    pub oldest_pending_age_seconds: i64,
}

pub async fn backlog(db: &Db, now_ms: i64) -> Result<Backlog, sqlx::Error> {
    let counts: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, status, COUNT(*) FROM deliveries WHERE status IN ('pending', 'dead') GROUP BY kind, status",
    )
    .fetch_all(db.pool())
    .await?;
    let (oldest,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'")
            .fetch_one(db.pool())
            .await?;
    Ok(Backlog {
        counts,
        oldest_pending_age_seconds: oldest.map_or(0, |at| now_ms.saturating_sub(at).max(0) / 1000),
    })
}

/// Receipt emails of the seller delivered since `since` (the cluster-wide hourly budget).
pub async fn emails_sent_since(db: &Db, seller_id: &str, since: i64) -> Result<i64, sqlx::Error> {
    let (sent,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM deliveries WHERE seller_id = $1 AND kind = 'email' AND status = 'delivered' AND delivered_at > $2",
    )
    .bind(seller_id)
    .bind(since)
    .fetch_one(db.pool())
    .await?;
    Ok(sent)
}

/// Records a successful attempt and releases the lease.
pub async fn mark_delivered(
    db: &Db,
    id: &str,
    status_code: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET status = 'delivered', delivered_at = $1, locked_until = NULL, last_status_code = $2, last_error = NULL WHERE id = $3",
    )
    .bind(now)
    .bind(status_code)
    .bind(id)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// Records a failed attempt to be retried at `next_attempt_at`, and releases the lease.
pub async fn reschedule(
    tx: &mut Tx,
    id: &str,
    next_attempt_at: i64,
    status_code: Option<i64>,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $1, locked_until = NULL, last_status_code = $2, last_error = $3 WHERE id = $4",
    )
    .bind(next_attempt_at)
    .bind(status_code)
    .bind(error)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Puts a delivery back without counting the attempt (the claim's increment is undone).
pub async fn defer(db: &Db, id: &str, next_attempt_at: i64, note: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $1, locked_until = NULL, attempts = attempts - 1, last_error = $2 WHERE id = $3",
    )
    .bind(next_attempt_at)
    .bind(note)
    .bind(id)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// Dead-letters one delivery and releases its lease.
pub async fn mark_dead<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
    status_code: Option<i64>,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deliveries SET status = 'dead', locked_until = NULL, last_status_code = $1, last_error = $2 WHERE id = $3")
        .bind(status_code)
        .bind(error)
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Dead-letters every pending delivery of a disabled endpoint, releasing their leases.
pub async fn dead_letter_pending(tx: &mut Tx, endpoint_id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET status = 'dead', locked_until = NULL, last_error = $1 WHERE endpoint_id = $2 AND status = 'pending'",
    )
    .bind(error)
    .bind(endpoint_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Dead-letters every pending delivery of a deleted endpoint. Leases are kept: an attempt in flight
/// records its own outcome.
pub async fn dead_letter_deleted(tx: &mut Tx, endpoint_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deliveries SET status = 'dead', last_error = 'endpoint deleted' WHERE endpoint_id = $1 AND status = 'pending'")
        .bind(endpoint_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A delivery as the seller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub endpoint_id: Option<String>,
    pub kind: DeliveryKind,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRaw {
    id: String,
    event_id: String,
    event_type: String,
    endpoint_id: Option<String>,
    kind: String,
    status: String,
    attempts: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
}

impl TryFrom<DeliveryRaw> for DeliveryRow {
    type Error = RowError;

    fn try_from(raw: DeliveryRaw) -> Result<DeliveryRow, RowError> {
        Ok(DeliveryRow {
            event_type: raw.event_type.parse()?,
            kind: DeliveryKind::parse(&raw.kind)?,
            status: DeliveryStatus::parse(&raw.status)?,
            id: raw.id,
            event_id: raw.event_id,
            endpoint_id: raw.endpoint_id,
            attempts: raw.attempts,
            last_status_code: raw.last_status_code,
            last_error: raw.last_error,
            next_attempt_at: raw.next_attempt_at,
            delivered_at: raw.delivered_at,
        })
    }
}

const SELECT: &str = "SELECT d.id, d.event_id, o.event_type, d.endpoint_id, d.kind, d.status, d.attempts, \
     d.last_status_code, d.last_error, d.next_attempt_at, d.delivered_at \
     FROM deliveries d JOIN outbox o ON o.id = d.event_id";

/// A page of the seller's deliveries, newest first, optionally of one status.
pub async fn list(
    db: &Db,
    seller_id: &str,
    status: Option<DeliveryStatus>,
    keyset: &Keyset,
) -> anyhow::Result<Rows<DeliveryRow>> {
    let sql = format!(
        "{SELECT} WHERE d.seller_id = $1 AND ($2 IS NULL OR d.status = $2){}",
        Keyset::clause("d.", 3)
    );
    let query = sqlx::query_as(&sql)
        .bind(seller_id)
        .bind(status.map(DeliveryStatus::as_str));
    let rows: Vec<DeliveryRaw> = keyset.bind(query).fetch_all(db.pool()).await?;
    Ok(keyset.rows(rows).try_map(DeliveryRow::try_from)?)
}

/// One delivery by id (the caller has checked its seller).
pub async fn get(db: &Db, id: &str) -> anyhow::Result<DeliveryRow> {
    let raw: DeliveryRaw = sqlx::query_as(&format!("{SELECT} WHERE d.id = $1"))
        .bind(id)
        .fetch_one(db.pool())
        .await?;
    Ok(DeliveryRow::try_from(raw)?)
}

/// What decides whether the seller may replay a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayState {
    pub status: DeliveryStatus,
    pub last_error: Option<String>,
    pub endpoint_disabled_at: Option<i64>,
}

pub async fn replay_state(db: &Db, seller_id: &str, id: &str) -> anyhow::Result<Option<ReplayState>> {
    let row: Option<(String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT d.status, d.last_error, e.disabled_at FROM deliveries d LEFT JOIN erp_endpoints e ON e.id = d.endpoint_id \
         WHERE d.id = $1 AND d.seller_id = $2",
    )
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    let Some((status, last_error, endpoint_disabled_at)) = row else {
        return Ok(None);
    };
    Ok(Some(ReplayState {
        status: DeliveryStatus::parse(&status)?,
        last_error,
        endpoint_disabled_at,
    }))
}

/// Makes a dead or failing delivery due now, unless a relay holds it (an attempt in flight) or it was
/// delivered meanwhile; false when it was not requeued.
/// A retry's audit row (`delivery.retried` by `actor`) commits with it.
pub async fn requeue(
    db: &Db,
    seller_id: &str,
    id: &str,
    now: i64,
    actor: super::audit::Actor<'_>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, locked_until = NULL \
         WHERE id = $2 AND seller_id = $3 AND (locked_until IS NULL OR locked_until < $1) \
         AND (status = 'dead' OR (status = 'pending' AND last_error IS NOT NULL))",
    )
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    let entry = super::audit::Entry {
        seller_id,
        actor,
        action: "delivery.retried",
        object_id: id,
        changes: serde_json::json!({}),
        at: now,
    };
    super::audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn status(db: &Db, id: &str) -> anyhow::Result<DeliveryStatus> {
    let (status,): (String,) = sqlx::query_as("SELECT status FROM deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await?;
    Ok(DeliveryStatus::parse(&status)?)
}

/// The deliveries of a payment's `payment.succeeded` event (the seller's view of its ERP posting).
pub async fn of_payment(
    db: &Db,
    payment_id: &str,
) -> Result<Vec<(String, DeliveryKind, DeliveryStatus)>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT d.id, d.kind, d.status FROM deliveries d JOIN outbox o ON o.id = d.event_id \
         WHERE o.aggregate_id = $1 AND o.event_type = 'payment.succeeded' ORDER BY d.id",
    )
    .bind(payment_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(id, kind, status)| Ok((id, DeliveryKind::parse(&kind)?, DeliveryStatus::parse(&status)?)))
        .collect()
}
