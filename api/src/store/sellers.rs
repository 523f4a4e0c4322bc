//! Sellers, the origins they registered (what the checkout CORS check looks up) and their secret keys.

use crate::db::{Db, Tx};

/// The origin lookup: equality on the indexed `seller_origins.origin` column, so it costs one index probe
/// however many sellers there are, and no character in `origin` is a wildcard. Public so a test can
/// `EXPLAIN` exactly the statement the API runs.
pub const KNOWN_ORIGIN_SQL: &str = "SELECT 1 FROM seller_origins WHERE origin = $1 LIMIT 1";

/// A seller to create; only the hash of its secret key is stored.
pub struct NewSeller<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub secret_key_hash: &'a str,
    pub allowed_origins: &'a [String],
    pub created_at: i64,
}

/// Inserts the seller and its rows in `seller_origins` in one transaction, so the CORS check never sees
/// a seller without its origins.
pub async fn insert(db: &Db, seller: &NewSeller<'_>) -> Result<(), sqlx::Error> {
    let origins_json =
        serde_json::to_string(seller.allowed_origins).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO sellers (id, name, secret_key_hash, allowed_origins, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(seller.id)
    .bind(seller.name)
    .bind(seller.secret_key_hash)
    .bind(origins_json)
    .bind(seller.created_at)
    .execute(&mut *tx)
    .await?;
    for origin in seller.allowed_origins {
        sqlx::query("INSERT INTO seller_origins (seller_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(seller.id)
            .bind(origin)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// The seller whose secret key hashes to `secret_key_hash`.
pub async fn id_by_key_hash(db: &Db, secret_key_hash: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM sellers WHERE secret_key_hash = $1")
        .bind(secret_key_hash)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(id,)| id))
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
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sellers SET receipt_subject = $1, receipt_intro = $2 WHERE id = $3")
        .bind(subject)
        .bind(intro)
        .bind(seller_id)
        .execute(&mut *db.writer().await?)
        .await?;
    Ok(())
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
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sellers SET invoice_email_subject = $1, invoice_email_text = $2, invoice_email_html = $3 WHERE id = $4",
    )
    .bind(subject)
    .bind(text)
    .bind(html)
    .bind(seller_id)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}
