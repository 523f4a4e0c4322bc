//! Storage rows and the queries that read and write them. Rows are the database's shape (minor units,
//! unix milliseconds); handlers turn them into wire types. Every query takes the seller id it is scoped to.

pub mod account_links;
pub mod alerts;
pub mod allocations;
pub mod audit;
pub mod chargebacks;
pub mod credit_notes;
pub mod customers;
pub mod deliveries;
pub mod disputes;
pub mod endpoints;
pub mod fees;
pub mod idempotency;
pub mod installments;
pub mod invoices;
pub mod links;
pub mod outbox;
pub mod page;
pub mod payments;
pub mod reconcile;
pub mod refunds;
pub mod reminders;
pub mod sandbox;
pub mod seller_keys;
pub mod sellers;
pub mod short_pays;
pub mod signing_keys;
pub mod stripe;
pub mod terms;

/// Whether the database answers (readiness probes).
pub async fn ping(db: &crate::db::Db) -> Result<(), sqlx::Error> {
    let (one,): (i64,) = sqlx::query_as("SELECT 1").fetch_one(db.pool()).await?;
    if one == 1 {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol("SELECT 1 did not answer 1".to_owned()))
    }
}

/// A stored row the code cannot read: a value outside the closed set the schema promises. Loading fails with
/// this instead of guessing (USD, "", `Pending`), so a corrupted or newer row is a loud 500, never a wrong answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// `(table.column, value)`: a currency code this build does not know.
    #[error("{0} holds an unknown currency {1:?}")]
    UnknownCurrency(&'static str, String),
    /// `(table.column, value)`: a status or kind outside the column's closed set.
    #[error("unknown {0} {1:?} in a stored row")]
    UnknownStatus(&'static str, String),
    /// `(table.column, minor units, currency)`: an amount the currency cannot represent.
    #[error("{0} holds {1} minor units, out of range for {2}")]
    AmountOutOfRange(&'static str, i64, String),
}

impl RowError {
    /// A value outside `column`'s closed set (a status, kind or event type).
    pub fn unknown(column: &'static str, value: &str) -> RowError {
        RowError::UnknownStatus(column, value.to_owned())
    }
}

impl From<RowError> for sqlx::Error {
    /// Loaders return `sqlx::Error`, so an unreadable row travels the same `?` path as a failed query (and
    /// becomes the same logged 500) without changing any loader's signature.
    fn from(error: RowError) -> sqlx::Error {
        sqlx::Error::Decode(Box::new(error))
    }
}
