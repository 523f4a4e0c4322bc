//! Idempotency records of `POST /v1/checkout/payments`, keyed by (seller, key): the request's fingerprint,
//! and once the payment has an answer, that answer, saved in the same transaction so retries replay it.

use super::RowError;
use crate::db::Tx;

/// What a stored key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Fingerprint of the request that first used the key.
    pub request_hash: String,
    pub saved: Saved,
}

/// Whether the first request under a key has answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Still being processed (or died mid-way: the reconciler resolves its payment).
    InFlight,
    /// Answered: the status and JSON body every retry gets back.
    Done { status: u16, body: String },
}

#[derive(sqlx::FromRow)]
struct Row {
    request_hash: String,
    state: String,
    response_status: Option<i64>,
    response_body: Option<String>,
}

impl TryFrom<Row> for Record {
    type Error = RowError;

    fn try_from(row: Row) -> Result<Record, RowError> {
        let saved = match (row.state.as_str(), row.response_status, row.response_body) {
            ("in_flight", _, _) => Saved::InFlight,
            ("done", Some(status), Some(body)) => Saved::Done {
                status: u16::try_from(status)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| {
                        RowError::UnknownStatus("idempotency_keys.response_status", status.to_string())
                    })?,
                body,
            },
            // A `done` record without its answer cannot be replayed; guessing one would be worse.
            (state, _, _) => {
                return Err(RowError::UnknownStatus(
                    "idempotency_keys.state",
                    state.to_owned(),
                ))
            }
        };
        Ok(Record {
            request_hash: row.request_hash,
            saved,
        })
    }
}

/// The record for `key` of `seller_id`, on the pool or inside a transaction.
pub async fn find(
    executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
    seller_id: &str,
    key: &str,
) -> Result<Option<Record>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT request_hash, state, response_status, response_body FROM idempotency_keys \
         WHERE seller_id = $1 AND idempotency_key = $2",
    )
    .bind(seller_id)
    .bind(key)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(Record::try_from).transpose()?)
}

/// Claims `key` for the payment `payment_id` (in its hold transaction). A unique violation means the same
/// key raced in first.
pub async fn start(
    tx: &mut Tx,
    seller_id: &str,
    key: &str,
    request_hash: &str,
    payment_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (seller_id, idempotency_key, request_hash, state, payment_id, created_at) \
         VALUES ($1, $2, $3, 'in_flight', $4, $5)",
    )
    .bind(seller_id)
    .bind(key)
    .bind(request_hash)
    .bind(payment_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Saves the response for the key that created `payment_id`, so retries replay it.
pub async fn finish(tx: &mut Tx, payment_id: &str, status: u16, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', response_status = $1, response_body = $2 WHERE payment_id = $3",
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(payment_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets the in-flight key of an abandoned payment, so the buyer's retry with it runs afresh.
pub async fn forget_in_flight(tx: &mut Tx, payment_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE payment_id = $1 AND state = 'in_flight'")
        .bind(payment_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, status: Option<i64>, body: Option<&str>) -> Row {
        Row {
            request_hash: "h".into(),
            state: state.into(),
            response_status: status,
            response_body: body.map(str::to_owned),
        }
    }

    #[test]
    fn records_parse_or_fail_loudly() {
        assert_eq!(
            Record::try_from(row("in_flight", None, None)).map(|r| r.saved),
            Ok(Saved::InFlight)
        );
        assert_eq!(
            Record::try_from(row("done", Some(201), Some("{}"))).map(|r| r.saved),
            Ok(Saved::Done {
                status: 201,
                body: "{}".into()
            })
        );
        assert!(Record::try_from(row("finished", Some(201), Some("{}"))).is_err());
        assert!(Record::try_from(row("done", None, None)).is_err());
        assert!(Record::try_from(row("done", Some(70_000), Some("{}"))).is_err());
    }
}
