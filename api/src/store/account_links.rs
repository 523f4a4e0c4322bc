//! Account links: one row per minted account token (its `jti`), for one customer of one seller, so a link
//! can be revoked at once. Kept apart from checkout links: a token of one kind never finds a row of the other.

use crate::db::Db;
use crate::store::audit::{self, Actor};

/// A link to store.
pub struct NewAccountLink<'a> {
    pub id: &'a str,
    pub seller_id: &'a str,
    pub customer_id: &'a str,
    pub jti: &'a str,
    pub expires_at: i64,
    pub created_at: i64,
}

/// Stores a link with its audit row (`account_link.created`; never the token) in one transaction.
pub async fn insert(db: &Db, link: &NewAccountLink<'_>, actor: Actor<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO account_links (id, seller_id, customer_id, jti, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(link.id)
    .bind(link.seller_id)
    .bind(link.customer_id)
    .bind(link.jti)
    .bind(link.expires_at)
    .bind(link.created_at)
    .execute(&mut *tx)
    .await?;
    let entry = audit::Entry {
        seller_id: link.seller_id,
        actor,
        action: "account_link.created",
        object_id: link.id,
        changes: serde_json::json!({"customer_id": link.customer_id, "expires_at": crate::db::rfc3339(link.expires_at)}),
        at: link.created_at,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// Revokes one of the seller's account links (a second revocation keeps the first time) and returns when
/// it was revoked; `None` when the seller has no such link. The audit row commits with the revocation.
pub async fn revoke(
    db: &Db,
    seller_id: &str,
    id: &str,
    now: i64,
    actor: Actor<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    super::links::revoke_kind(db, super::links::LinkKind::Account, seller_id, id, now, actor).await
}

/// A link with what an account request needs of its seller and customer, read in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountLinkRow {
    pub id: String,
    pub seller_id: String,
    pub customer_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub seller_name: String,
    /// JSON array text, as stored on the seller.
    pub allowed_origins: String,
    pub customer_name: String,
}

/// The link a token's `jti` names (whatever seller: the caller checks it against the token's claims).
pub async fn by_jti(db: &Db, jti: &str) -> Result<Option<AccountLinkRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.seller_id, l.customer_id, l.expires_at, l.revoked_at, s.name AS seller_name, \
         s.allowed_origins, c.name AS customer_name FROM account_links l \
         JOIN sellers s ON s.id = l.seller_id \
         JOIN customers c ON c.id = l.customer_id AND c.seller_id = l.seller_id WHERE l.jti = $1",
    )
    .bind(jti)
    .fetch_optional(db.pool())
    .await
}

/// Ids of the customer's open invoices (open or partially paid), by due date then id: what an account shows.
/// At most `limit`.
pub async fn open_invoice_ids(
    db: &Db,
    seller_id: &str,
    customer_id: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM invoices WHERE seller_id = $1 AND customer_id = $2 \
         AND status IN ('open', 'partially_paid') ORDER BY due_date, id LIMIT $3",
    )
    .bind(seller_id)
    .bind(customer_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
