//! Checkout links: one row per minted token (its `jti`), so a link can be revoked at once.

use crate::db::Db;
use crate::store::audit::{self, Actor};

/// A link to store.
pub struct NewLink<'a> {
    pub id: &'a str,
    pub seller_id: &'a str,
    pub invoice_id: &'a str,
    pub jti: &'a str,
    pub expires_at: i64,
    pub created_at: i64,
}

/// Stores a link with its audit row (`checkout_link.created` by `actor`; never the token) in one transaction.
/// `actor` is `None` for the relay's links in receipt emails: Tranche's own, not a change the seller made.
pub async fn insert(db: &Db, link: &NewLink<'_>, actor: Option<Actor<'_>>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO checkout_links (id, seller_id, invoice_id, jti, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(link.id)
    .bind(link.seller_id)
    .bind(link.invoice_id)
    .bind(link.jti)
    .bind(link.expires_at)
    .bind(link.created_at)
    .execute(&mut *tx)
    .await?;
    let Some(actor) = actor else {
        return tx.commit().await;
    };
    let entry = audit::Entry {
        seller_id: link.seller_id,
        actor,
        action: "checkout_link.created",
        object_id: link.id,
        changes: serde_json::json!({"invoice_id": link.invoice_id, "expires_at": crate::db::rfc3339(link.expires_at)}),
        at: link.created_at,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// The two kinds of buyer link, each in its own table: revoked the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Checkout,
    Account,
}

impl LinkKind {
    fn table(self) -> &'static str {
        match self {
            LinkKind::Checkout => "checkout_links",
            LinkKind::Account => "account_links",
        }
    }

    fn revoked_action(self) -> &'static str {
        match self {
            LinkKind::Checkout => "checkout_link.revoked",
            LinkKind::Account => "account_link.revoked",
        }
    }
}

/// Revokes one of the seller's checkout links; see [`revoke_kind`].
pub async fn revoke(
    db: &Db,
    seller_id: &str,
    id: &str,
    now: i64,
    actor: Actor<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    revoke_kind(db, LinkKind::Checkout, seller_id, id, now, actor).await
}

/// Revokes one of the seller's links of `kind` (a second revocation keeps the first time) and returns when
/// it was revoked; `None` when the seller has no such link. The audit row (`checkout_link.revoked` or
/// `account_link.revoked` by `actor`) commits with the revocation.
pub async fn revoke_kind(
    db: &Db,
    kind: LinkKind,
    seller_id: &str,
    id: &str,
    now: i64,
    actor: Actor<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let table = kind.table();
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(&format!(
        "UPDATE {table} SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND seller_id = $3"
    ))
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let (revoked_at,): (Option<i64>,) = sqlx::query_as(&format!(
        "SELECT revoked_at FROM {table} WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_one(&mut *tx)
    .await?;
    // The UPDATE above just set it: a NULL here means the row changed under us, which is a storage fault.
    let revoked_at =
        revoked_at.ok_or_else(|| sqlx::Error::Protocol(format!("revoked {table} row has no revoked_at")))?;
    let entry = audit::Entry {
        seller_id,
        actor,
        action: kind.revoked_action(),
        object_id: id,
        changes: serde_json::json!({"revoked_at": crate::db::rfc3339(revoked_at)}),
        at: now,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Some(revoked_at))
}

/// A link with what a checkout request needs of its seller, read in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkWithSeller {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub seller_name: String,
    /// JSON array text, as stored on the seller.
    pub allowed_origins: String,
}

/// The link a token's `jti` names (whatever seller: the caller checks it against the token's claims).
pub async fn by_jti(db: &Db, jti: &str) -> Result<Option<LinkWithSeller>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.seller_id, l.invoice_id, l.expires_at, l.revoked_at, s.name AS seller_name, \
         s.allowed_origins FROM checkout_links l JOIN sellers s ON s.id = l.seller_id WHERE l.jti = $1",
    )
    .bind(jti)
    .fetch_optional(db.pool())
    .await
}

/// What re-signing a stored link's token needs: `(invoice_id, jti, expires_at, revoked_at, created_at)`.
pub async fn for_resign(
    db: &Db,
    seller_id: &str,
    id: &str,
) -> Result<Option<(String, String, i64, Option<i64>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT invoice_id, jti, expires_at, revoked_at, created_at FROM checkout_links WHERE id = $1 AND seller_id = $2",
    )
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await
}
