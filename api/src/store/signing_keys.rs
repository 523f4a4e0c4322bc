//! Checkout signing keys kept in the database (when none are configured). Private keys are stored sealed
//! by the caller; this module only moves the text.

use crate::db::Db;

/// A stored key: its id and its private PKCS#8 key as stored (sealed, or base64 from before sealing).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub private_pkcs8: String,
}

/// Every stored key, oldest first (the oldest signs when none is configured).
pub async fn all(db: &Db) -> Result<Vec<StoredKey>, sqlx::Error> {
    sqlx::query_as("SELECT kid, private_pkcs8 FROM signing_keys ORDER BY created_at, kid")
        .fetch_all(db.pool())
        .await
}

/// Replaces a key's stored text, only if it is still `old` (two nodes sealing at once write once).
pub async fn replace_private(db: &Db, kid: &str, old: &str, new: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE signing_keys SET private_pkcs8 = $1 WHERE kid = $2 AND private_pkcs8 = $3")
        .bind(new)
        .bind(kid)
        .bind(old)
        .execute(&mut *db.writer().await?)
        .await?;
    Ok(())
}

/// A new key.
pub struct NewKey<'a> {
    pub kid: &'a str,
    pub private_pkcs8: &'a str,
    pub public_key: &'a str,
    pub created_at: i64,
}

pub async fn insert(db: &Db, key: &NewKey<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_pkcs8, public_key, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(key.kid)
    .bind(key.private_pkcs8)
    .bind(key.public_key)
    .bind(key.created_at)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}
