//! A seller's secret keys (`seller_keys`): stored as SHA-256 hashes with their last four characters, each
//! with when it was made, when it stops working (`NULL` for the current key) and when it was last used.
//! Rolling gives the current key an expiry and adds a new current key in one transaction; at most one key
//! per seller is current (a partial unique index holds that whatever the code does).

use crate::db::{Db, Tx};
use crate::store::sellers;

/// How stale a key's stored `last_used_at` may get before a request writes it again: last use is shown to
/// the minute, and a busy key costs one write a minute instead of one per request.
pub const LAST_USED_PRECISION_MS: i64 = 60_000;

/// A key to store; only its hash and last four characters are kept.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub seller_id: &'a str,
    pub key_hash: &'a str,
    pub last4: &'a str,
    pub created_at: i64,
}

/// What authentication needs of a key, found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAuth {
    pub id: String,
    pub seller_id: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// `false` for a key carried over from before keys had their own table, until its first use.
    pub has_last4: bool,
}

impl KeyAuth {
    /// Whether the key still works at `now` (the current key, or one inside its overlap window).
    pub fn works_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }

    /// Whether a use at `now` should be written: never recorded, recorded too long ago, or no last four yet.
    pub fn use_worth_recording(&self, now: i64) -> bool {
        !self.has_last4
            || self
                .last_used_at
                .is_none_or(|at| now.saturating_sub(at) >= LAST_USED_PRECISION_MS)
    }
}

/// A key as the seller sees it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub last4: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// Stores a key in the transaction that creates its seller or rolls its keys.
pub async fn insert(tx: &mut Tx, key: &NewKey<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO seller_keys (id, seller_id, key_hash, last4, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key.id)
    .bind(key.seller_id)
    .bind(key.key_hash)
    .bind(key.last4)
    .bind(key.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct KeyAuthRaw {
    id: String,
    seller_id: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    last4: Option<String>,
}

/// The key whose hash is `key_hash`, expired or not (the caller decides, with its clock).
pub async fn by_hash(db: &Db, key_hash: &str) -> Result<Option<KeyAuth>, sqlx::Error> {
    let row: Option<KeyAuthRaw> = sqlx::query_as(
        "SELECT id, seller_id, expires_at, last_used_at, last4 FROM seller_keys WHERE key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|raw| KeyAuth {
        id: raw.id,
        seller_id: raw.seller_id,
        expires_at: raw.expires_at,
        last_used_at: raw.last_used_at,
        has_last4: raw.last4.is_some(),
    }))
}

/// Records a use of the key at `now`, and its last four characters if they were not known. Conditional,
/// so nodes racing to record the same minute write it once and a later time is never overwritten by an
/// earlier one.
pub async fn record_use(db: &Db, key_id: &str, now: i64, last4: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE seller_keys SET last_used_at = $1, last4 = COALESCE(last4, $2) \
         WHERE id = $3 AND (last_used_at IS NULL OR last_used_at <= $4 OR last4 IS NULL)",
    )
    .bind(now)
    .bind(last4)
    .bind(key_id)
    .bind(now.saturating_sub(LAST_USED_PRECISION_MS))
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// The seller's keys that work at `now` or stopped less than `recent_ms` ago, newest first, at most `limit`.
pub async fn recent(
    db: &Db,
    seller_id: &str,
    now: i64,
    recent_ms: i64,
    limit: i64,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, last4, created_at, expires_at, last_used_at FROM seller_keys \
         WHERE seller_id = $1 AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(seller_id)
    .bind(now.saturating_sub(recent_ms))
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// How a roll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rolled {
    /// The new key is current; the caller's key (and any older one still working) stops at the deadline.
    Rolled,
    /// The caller's key is not the current key any more (another roll came first): nothing was changed.
    AlreadyRolled,
}

/// Rolls the seller's keys: in one transaction, serialised on the seller's row, the caller's key (which
/// must be the current one) gets `old_expires_at`, any older key still working stops no later than that,
/// and `new` becomes the current key.
pub async fn roll(
    db: &Db,
    caller_key_id: &str,
    new: &NewKey<'_>,
    old_expires_at: i64,
    audit: &super::audit::Entry<'_>,
) -> Result<Rolled, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sellers::lock_seller(&mut tx, db, new.seller_id).await?;
    let current = sqlx::query(
        "UPDATE seller_keys SET expires_at = $1 WHERE id = $2 AND seller_id = $3 AND expires_at IS NULL",
    )
    .bind(old_expires_at)
    .bind(caller_key_id)
    .bind(new.seller_id)
    .execute(&mut *tx)
    .await?;
    if current.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Rolled::AlreadyRolled);
    }
    sqlx::query("UPDATE seller_keys SET expires_at = $1 WHERE seller_id = $2 AND expires_at > $1")
        .bind(old_expires_at)
        .bind(new.seller_id)
        .execute(&mut *tx)
        .await?;
    insert(&mut tx, new).await?;
    super::audit::record(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(Rolled::Rolled)
}
