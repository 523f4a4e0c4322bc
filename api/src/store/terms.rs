//! Terms profiles of one seller. The spec is stored as JSON in its normalised form; reading one that no
//! longer parses is an error, never the default terms. An archived profile (`archived_at`) is given to no
//! new invoice or customer; invoices copied its terms when issued, so archiving changes none of them.

use tranche_domain::TermsSpec;

use crate::db::{Db, Tx};
use crate::store::audit;
use crate::store::page::{Keyset, Rows};

/// A terms profile as stored.
#[derive(Debug, Clone)]
pub struct TermsRow {
    pub id: String,
    pub name: String,
    pub spec: TermsSpec,
    pub created_at: i64,
    /// When the profile was archived; `None` while it may be given to invoices and customers.
    pub archived_at: Option<i64>,
}

type RawTerms = (String, String, String, i64, Option<i64>);

const COLUMNS: &str = "id, name, spec, created_at, archived_at";

fn decode_spec(text: &str) -> Result<TermsSpec, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn encode_spec(spec: &TermsSpec) -> Result<String, sqlx::Error> {
    serde_json::to_string(spec).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

fn decode((id, name, spec, created_at, archived_at): RawTerms) -> Result<TermsRow, sqlx::Error> {
    Ok(TermsRow {
        id,
        name,
        spec: decode_spec(&spec)?,
        created_at,
        archived_at,
    })
}

/// Inserts a profile, with its audit row, in one transaction.
pub async fn insert(
    db: &Db,
    seller_id: &str,
    terms: &TermsRow,
    audit: &audit::Entry<'_>,
) -> Result<(), sqlx::Error> {
    let spec = encode_spec(&terms.spec)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO terms_profiles (id, seller_id, name, spec, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&terms.id)
    .bind(seller_id)
    .bind(&terms.name)
    .bind(spec)
    .bind(terms.created_at)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, audit).await?;
    tx.commit().await
}

/// One profile of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<TermsRow>, sqlx::Error> {
    let row: Option<RawTerms> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM terms_profiles WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(decode).transpose()
}

/// One profile of one seller, locked for the rest of `tx` (an edit reads, compares and writes it).
pub async fn lock(db: &Db, tx: &mut Tx, seller_id: &str, id: &str) -> Result<Option<TermsRow>, sqlx::Error> {
    let row: Option<RawTerms> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM terms_profiles WHERE id = $1 AND seller_id = $2{}",
        db.for_update()
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(decode).transpose()
}

/// A profile as something new may be given it: usable, archived, or not the seller's.
#[derive(Debug, Clone, PartialEq)]
pub enum Usable {
    /// Boxed: the spec (with a payment plan, reminders and late fee) dwarfs the other variants.
    Usable(Box<TermsSpec>),
    Archived,
    Unknown,
}

/// Whether the seller's profile `id` may be given to a new invoice or customer, and its spec if so.
pub async fn usable(db: &Db, seller_id: &str, id: &str) -> Result<Usable, sqlx::Error> {
    Ok(match find(db, seller_id, id).await? {
        None => Usable::Unknown,
        Some(row) if row.archived_at.is_some() => Usable::Archived,
        Some(row) => Usable::Usable(Box::new(row.spec)),
    })
}

/// A page of the seller's profiles, newest first; archived ones only when asked for.
pub async fn list(
    db: &Db,
    seller_id: &str,
    include_archived: bool,
    keyset: &Keyset,
) -> Result<Rows<TermsRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM terms_profiles WHERE seller_id = $1 AND ($2 = 1 OR archived_at IS NULL){}",
        Keyset::clause("", 3)
    );
    let rows: Vec<RawTerms> = keyset
        .bind(
            sqlx::query_as(&sql)
                .bind(seller_id)
                .bind(i64::from(include_archived)),
        )
        .fetch_all(db.pool())
        .await?;
    keyset.rows(rows).try_map(decode)
}

/// Replaces a locked profile's name and spec.
pub async fn update(
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
    name: &str,
    spec: &TermsSpec,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE terms_profiles SET name = $1, spec = $2 WHERE id = $3 AND seller_id = $4")
        .bind(name)
        .bind(encode_spec(spec)?)
        .bind(id)
        .bind(seller_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Archives a locked profile.
pub async fn archive(tx: &mut Tx, seller_id: &str, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE terms_profiles SET archived_at = $1 WHERE id = $2 AND seller_id = $3")
        .bind(now)
        .bind(id)
        .bind(seller_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
