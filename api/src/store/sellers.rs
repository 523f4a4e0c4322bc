//! Sellers and the origins they registered (what the checkout CORS check looks up). Their secret keys are
//! in [`super::seller_keys`].

use crate::db::{Db, Tx};
use crate::store::audit::{self, Actor, Changes};
use crate::store::seller_keys::{self, NewKey};
use crate::store::RowError;

/// The origin lookup: equality on the indexed `seller_origins.origin` column, so it costs one index probe
/// however many sellers there are, and no character in `origin` is a wildcard. Public so a test can
/// `EXPLAIN` exactly the statement the API runs.
pub const KNOWN_ORIGIN_SQL: &str = "SELECT 1 FROM seller_origins WHERE origin = $1 LIMIT 1";

/// A seller to create, with its first secret key (only the key's hash and last four are stored).
pub struct NewSeller<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub key: NewKey<'a>,
    pub allowed_origins: &'a [String],
    pub created_at: i64,
}

/// Inserts the seller, its first key and its rows in `seller_origins` in one transaction, so the CORS check
/// never sees a seller without its origins, nor authentication one without its key.
pub async fn insert(db: &Db, seller: &NewSeller<'_>) -> Result<(), sqlx::Error> {
    debug_assert_eq!(seller.key.seller_id, seller.id);
    let origins_json = origins_json(seller.allowed_origins)?;
    let mut tx = db.begin_write().await?;
    // `secret_key_hash` is no longer read (keys are in `seller_keys`); it keeps the first key's hash, which
    // its NOT NULL UNIQUE constraint asks for.
    sqlx::query(
        "INSERT INTO sellers (id, name, secret_key_hash, allowed_origins, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(seller.id)
    .bind(seller.name)
    .bind(seller.key.key_hash)
    .bind(origins_json)
    .bind(seller.created_at)
    .execute(&mut *tx)
    .await?;
    seller_keys::insert(&mut tx, &seller.key).await?;
    insert_origins(&mut tx, seller.id, seller.allowed_origins).await?;
    // Sellers are made by the operator (the API's operator token, the CLI, the demo's setup).
    let entry = audit::Entry {
        seller_id: seller.id,
        actor: Actor::Operator,
        action: "seller.created",
        object_id: seller.id,
        changes: serde_json::json!({"name": seller.name, "allowed_origins": seller.allowed_origins}),
        at: seller.created_at,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

fn origins_json(origins: &[String]) -> Result<String, sqlx::Error> {
    serde_json::to_string(origins).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

async fn insert_origins(tx: &mut Tx, seller_id: &str, origins: &[String]) -> Result<(), sqlx::Error> {
    for origin in origins {
        sqlx::query("INSERT INTO seller_origins (seller_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(seller_id)
            .bind(origin)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A seller as it sees itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerRow {
    pub id: String,
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub created_at: i64,
}

/// The seller `id`.
pub async fn find(db: &Db, id: &str) -> Result<Option<SellerRow>, sqlx::Error> {
    let row: Option<(String, String, String, i64)> =
        sqlx::query_as("SELECT id, name, allowed_origins, created_at FROM sellers WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    let Some((id, name, origins, created_at)) = row else {
        return Ok(None);
    };
    // A stored list that is not a JSON array of strings is a loud error, not an empty list.
    let allowed_origins = serde_json::from_str(&origins)
        .map_err(|_| sqlx::Error::from(RowError::unknown("sellers.allowed_origins", &origins)))?;
    Ok(Some(SellerRow {
        id,
        name,
        allowed_origins,
        created_at,
    }))
}

/// A change to a seller: each `Some` field replaces the stored value.
#[derive(Debug, Default)]
pub struct SellerChange<'a> {
    pub name: Option<&'a str>,
    pub allowed_origins: Option<&'a [String]>,
}

/// Applies `change` in one transaction, serialised on the seller's row; new `allowed_origins` replace the
/// seller's rows in `seller_origins` in the same transaction, so the CORS check follows the change at once.
/// The audit row (`seller.updated`, by `actor`, with before and after of what changed) is written in it too.
pub async fn update(
    db: &Db,
    seller_id: &str,
    change: &SellerChange<'_>,
    actor: Actor<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    lock_seller(&mut tx, db, seller_id).await?;
    let (name_before, origins_before): (String, String) =
        sqlx::query_as("SELECT name, allowed_origins FROM sellers WHERE id = $1")
            .bind(seller_id)
            .fetch_one(&mut *tx)
            .await?;
    let origins_before: Vec<String> = serde_json::from_str(&origins_before)
        .map_err(|_| sqlx::Error::from(RowError::unknown("sellers.allowed_origins", &origins_before)))?;
    let mut changes = Changes::new();
    if let Some(name) = change.name {
        changes.field("name", &name_before.as_str(), &name);
    }
    if let Some(origins) = change.allowed_origins {
        changes.field("allowed_origins", &origins_before.as_slice(), &origins);
    }
    if let Some(name) = change.name {
        sqlx::query("UPDATE sellers SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(seller_id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(origins) = change.allowed_origins {
        sqlx::query("UPDATE sellers SET allowed_origins = $1 WHERE id = $2")
            .bind(origins_json(origins)?)
            .bind(seller_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM seller_origins WHERE seller_id = $1")
            .bind(seller_id)
            .execute(&mut *tx)
            .await?;
        insert_origins(&mut tx, seller_id, origins).await?;
    }
    let entry = audit::Entry {
        seller_id,
        actor,
        action: "seller.updated",
        object_id: seller_id,
        changes: changes.into_value(),
        at: now,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// Whether any seller registered `origin`.
pub async fn origin_registered(db: &Db, origin: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(KNOWN_ORIGIN_SQL)
        .bind(origin)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Locks the seller's row (PostgreSQL; SQLite's write lock already serialises), so the endpoint cap
/// holds under parallel creations.
pub async fn lock_seller(tx: &mut Tx, db: &Db, seller_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "SELECT id FROM sellers WHERE id = $1{}",
        db.for_update()
    ))
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(())
}

/// The seller's name and receipt wording: `(name, subject, intro)`.
pub async fn receipt_settings(
    db: &Db,
    seller_id: &str,
) -> Result<(String, Option<String>, Option<String>), sqlx::Error> {
    sqlx::query_as("SELECT name, receipt_subject, receipt_intro FROM sellers WHERE id = $1")
        .bind(seller_id)
        .fetch_one(db.pool())
        .await
}

pub async fn set_receipt_settings(
    db: &Db,
    seller_id: &str,
    subject: Option<&str>,
    intro: Option<&str>,
    audit: &audit::Entry<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE sellers SET receipt_subject = $1, receipt_intro = $2 WHERE id = $3")
        .bind(subject)
        .bind(intro)
        .bind(seller_id)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, audit).await?;
    tx.commit().await
}

/// The seller's invoice-email overrides (each null: the built-in text).
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct InvoiceEmailTemplates {
    pub name: String,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

pub async fn invoice_email_templates(db: &Db, seller_id: &str) -> Result<InvoiceEmailTemplates, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, invoice_email_subject AS subject, invoice_email_text AS text, invoice_email_html AS html \
         FROM sellers WHERE id = $1",
    )
    .bind(seller_id)
    .fetch_one(db.pool())
    .await
}

pub async fn set_invoice_email_templates(
    db: &Db,
    seller_id: &str,
    subject: Option<&str>,
    text: Option<&str>,
    html: Option<&str>,
    audit: &audit::Entry<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE sellers SET invoice_email_subject = $1, invoice_email_text = $2, invoice_email_html = $3 WHERE id = $4",
    )
    .bind(subject)
    .bind(text)
    .bind(html)
    .bind(seller_id)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, audit).await?;
    tx.commit().await
}
