//! Customers of one seller.

use crate::db::{Db, Tx};
use crate::store::audit;
use crate::store::page::{Keyset, Rows};

const COLUMNS: &str = "id, name, email, external_ref, terms_id, locale, created_at";

/// A customer as stored (and as created: the handler fills every field).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub external_ref: Option<String>,
    pub terms_id: Option<String>,
    pub locale: String,
    pub created_at: i64,
}

/// Inserts a customer, with its audit row, in one transaction.
pub async fn insert(
    db: &Db,
    seller_id: &str,
    customer: &CustomerRow,
    audit: &audit::Entry<'_>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO customers (id, seller_id, name, email, external_ref, terms_id, locale, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&customer.id)
    .bind(seller_id)
    .bind(&customer.name)
    .bind(&customer.email)
    .bind(&customer.external_ref)
    .bind(&customer.terms_id)
    .bind(&customer.locale)
    .bind(customer.created_at)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, audit).await?;
    tx.commit().await
}

/// One customer of one seller, locked for the rest of `tx` (an edit reads, compares and writes it).
pub async fn lock(
    db: &Db,
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
) -> Result<Option<CustomerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1 AND seller_id = $2{}",
        db.for_update()
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Replaces a locked customer's editable fields (`id` and `created_at` of `customer` are not written).
pub async fn update(tx: &mut Tx, seller_id: &str, customer: &CustomerRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET name = $1, email = $2, external_ref = $3, terms_id = $4, locale = $5 \
         WHERE id = $6 AND seller_id = $7",
    )
    .bind(&customer.name)
    .bind(&customer.email)
    .bind(&customer.external_ref)
    .bind(&customer.terms_id)
    .bind(&customer.locale)
    .bind(&customer.id)
    .bind(seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One customer of one seller.
pub async fn find(db: &Db, seller_id: &str, id: &str) -> Result<Option<CustomerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await
}

/// A page of a seller's customers, newest first.
pub async fn list(db: &Db, seller_id: &str, keyset: &Keyset) -> Result<Rows<CustomerRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE seller_id = $1{}",
        Keyset::clause("", 2)
    );
    let rows = keyset
        .bind(sqlx::query_as(&sql).bind(seller_id))
        .fetch_all(db.pool())
        .await?;
    Ok(keyset.rows(rows))
}

/// The customer's terms profile, if the customer is the seller's: `None` when there is no such customer,
/// `Some(None)` when it has no profile of its own.
pub async fn terms_id(db: &Db, seller_id: &str, id: &str) -> Result<Option<Option<String>>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT terms_id FROM customers WHERE id = $1 AND seller_id = $2")
            .bind(id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(terms_id,)| terms_id))
}

/// The customer's locale, for the receipt's language.
pub async fn customer_locale(db: &Db, customer_id: &str) -> Result<String, sqlx::Error> {
    let (locale,): (String,) = sqlx::query_as("SELECT locale FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_one(db.pool())
        .await?;
    Ok(locale)
}
