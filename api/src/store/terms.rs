//! Terms profiles of one seller. The spec is stored as JSON in its normalised form; reading one that no
//! longer parses is an error, never the default terms.

use tranche_domain::TermsSpec;

use crate::db::Db;

/// A terms profile as stored.
#[derive(Debug, Clone)]
pub struct TermsRow {
    pub id: String,
    pub name: String,
    pub spec: TermsSpec,
    pub created_at: i64,
}

fn decode_spec(text: &str) -> Result<TermsSpec, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub async fn insert(db: &Db, seller_id: &str, terms: &TermsRow) -> Result<(), sqlx::Error> {
    let spec = serde_json::to_string(&terms.spec).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO terms_profiles (id, seller_id, name, spec, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&terms.id)
    .bind(seller_id)
    .bind(&terms.name)
    .bind(spec)
    .bind(terms.created_at)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// One profile of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<TermsRow>, sqlx::Error> {
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, name, spec, created_at FROM terms_profiles WHERE id = $1 AND seller_id = $2",
    )
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|(id, name, spec, created_at)| {
        Ok(TermsRow {
            id,
            name,
            spec: decode_spec(&spec)?,
            created_at,
        })
    })
    .transpose()
}

/// Only the spec of one profile of one seller (what a new invoice copies).
pub async fn spec(db: &Db, seller_id: &str, id: &str) -> Result<Option<TermsSpec>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT spec FROM terms_profiles WHERE id = $1 AND seller_id = $2")
            .bind(id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    row.map(|(spec,)| decode_spec(&spec)).transpose()
}

/// Whether the seller has a profile with this id.
pub async fn exists(db: &Db, seller_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM terms_profiles WHERE id = $1 AND seller_id = $2")
            .bind(id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.is_some())
}
