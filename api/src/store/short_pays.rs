//! Short pays (issue 17, DESIGN 12): the seller's tolerance, write-offs (a shortfall accepted, lowering the
//! balance) and exceptions (a shortfall above tolerance, waiting for a person). Every query is scoped to the
//! seller; writers hold the invoice's lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tranche_domain::{Currency, Money, Percent, ShortPayReason, Tolerance};

use super::page::{Keyset, Rows};
use super::RowError;
use crate::db::{Db, Tx};

/// The stored tolerance: minor units per currency, the percent as an exact decimal string.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredTolerance {
    amounts_minor: BTreeMap<String, i64>,
    percent: Option<String>,
}

/// The seller's tolerance, `None` when none is set.
pub async fn tolerance(db: &Db, seller_id: &str) -> Result<Option<Tolerance>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT short_pay_tolerance FROM sellers WHERE id = $1")
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    let Some(text) = row.and_then(|(t,)| t) else {
        return Ok(None);
    };
    let decode =
        |what: &'static str, value: String| sqlx::Error::Decode(Box::new(RowError::unknown(what, &value)));
    let stored: StoredTolerance =
        serde_json::from_str(&text).map_err(|e| decode("sellers.short_pay_tolerance", e.to_string()))?;
    let mut amounts = BTreeMap::new();
    for (code, minor) in stored.amounts_minor {
        let currency = Currency::parse(&code)
            .map_err(|_| decode("sellers.short_pay_tolerance currency", code.clone()))?;
        let amount = Money::from_minor_units(minor, currency)
            .map_err(|_| decode("sellers.short_pay_tolerance amount", minor.to_string()))?;
        amounts.insert(currency, amount);
    }
    let percent = stored
        .percent
        .map(|p| Percent::parse(&p).map_err(|_| decode("sellers.short_pay_tolerance percent", p.clone())))
        .transpose()?;
    Ok(Some(Tolerance { amounts, percent }))
}

/// Sets (or, `None`, clears) the seller's tolerance, in the transaction of its audit row.
pub async fn set_tolerance(
    tx: &mut Tx,
    seller_id: &str,
    tolerance: Option<&Tolerance>,
) -> Result<(), sqlx::Error> {
    let text = tolerance
        .map(|t| {
            serde_json::to_string(&StoredTolerance {
                amounts_minor: t
                    .amounts
                    .iter()
                    .map(|(c, m)| (c.code().to_owned(), m.minor_units()))
                    .collect(),
                percent: t.percent.map(|p| p.value().to_string()),
            })
        })
        .transpose()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("UPDATE sellers SET short_pay_tolerance = $1 WHERE id = $2")
        .bind(text)
        .bind(seller_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A write-off as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WriteOffRow {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    pub payment_id: Option<String>,
    pub exception_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub created_at: i64,
}

const WRITE_OFF_COLUMNS: &str =
    "id, seller_id, invoice_id, payment_id, exception_id, amount_minor, currency, reason, created_at";

/// Inserts a write-off, in the transaction that locked its invoice.
pub async fn insert_write_off(tx: &mut Tx, row: &WriteOffRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO write_offs ({WRITE_OFF_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.invoice_id)
    .bind(&row.payment_id)
    .bind(&row.exception_id)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(&row.reason)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An invoice's write-offs, oldest first.
pub async fn write_offs(db: &Db, seller_id: &str, invoice_id: &str) -> Result<Vec<WriteOffRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {WRITE_OFF_COLUMNS} FROM write_offs WHERE seller_id = $1 AND invoice_id = $2 ORDER BY created_at, id"
    ))
    .bind(seller_id)
    .bind(invoice_id)
    .fetch_all(db.pool())
    .await
}

/// Why an exception's shortfall is probably what it is (DESIGN 12), computed when it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuggestedCause {
    /// The invoice has an open dispute: the buyer paid the uncontested part.
    OpenDispute,
    /// The buyer paid a plan installment, not the balance.
    PlanInstallment,
    /// The buyer took the early-payment discount after its window closed.
    LateDiscount,
}

impl SuggestedCause {
    pub const ALL: [SuggestedCause; 3] = [
        SuggestedCause::OpenDispute,
        SuggestedCause::PlanInstallment,
        SuggestedCause::LateDiscount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SuggestedCause::OpenDispute => "open_dispute",
            SuggestedCause::PlanInstallment => "plan_installment",
            SuggestedCause::LateDiscount => "late_discount",
        }
    }

    pub fn parse(text: &str) -> Option<SuggestedCause> {
        SuggestedCause::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A short-pay exception as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExceptionRow {
    pub id: String,
    pub seller_id: String,
    pub invoice_id: String,
    pub payment_id: String,
    pub expected_minor: i64,
    pub received_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub suggested_cause: Option<String>,
    pub status: String,
    pub action: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

impl ExceptionRow {
    /// Checks the closed sets and amounts every reader relies on.
    fn checked(self) -> Result<ExceptionRow, RowError> {
        let currency = Currency::parse(&self.currency)
            .map_err(|_| RowError::UnknownCurrency("short_pay_exceptions.currency", self.currency.clone()))?;
        for (column, minor) in [
            ("short_pay_exceptions.expected_minor", self.expected_minor),
            ("short_pay_exceptions.received_minor", self.received_minor),
        ] {
            Money::from_minor_units(minor, currency)
                .map_err(|_| RowError::AmountOutOfRange(column, minor, self.currency.clone()))?;
        }
        if let Some(reason) = self
            .reason
            .as_deref()
            .filter(|r| ShortPayReason::parse(r).is_none())
        {
            return Err(RowError::unknown("short_pay_exceptions.reason", reason));
        }
        if let Some(cause) = self
            .suggested_cause
            .as_deref()
            .filter(|c| SuggestedCause::parse(c).is_none())
        {
            return Err(RowError::unknown("short_pay_exceptions.suggested_cause", cause));
        }
        Ok(self)
    }

    pub fn money(&self, minor: i64) -> anyhow::Result<Money> {
        use anyhow::Context;
        Money::from_minor_units(minor, Currency::parse(&self.currency).context("stored currency")?)
            .context("stored amount")
    }
}

const EXCEPTION_COLUMNS: &str =
    "id, seller_id, invoice_id, payment_id, expected_minor, received_minor, currency, \
     reason, suggested_cause, status, action, created_at, resolved_at";

/// Inserts an open exception, in the transaction of its payment.
pub async fn insert_exception(tx: &mut Tx, row: &ExceptionRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO short_pay_exceptions ({EXCEPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&row.id)
    .bind(&row.seller_id)
    .bind(&row.invoice_id)
    .bind(&row.payment_id)
    .bind(row.expected_minor)
    .bind(row.received_minor)
    .bind(&row.currency)
    .bind(&row.reason)
    .bind(&row.suggested_cause)
    .bind(&row.status)
    .bind(&row.action)
    .bind(row.created_at)
    .bind(row.resolved_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One exception of one seller.
pub async fn find_exception(db: &Db, seller_id: &str, id: &str) -> Result<Option<ExceptionRow>, sqlx::Error> {
    let row: Option<ExceptionRow> = sqlx::query_as(&format!(
        "SELECT {EXCEPTION_COLUMNS} FROM short_pay_exceptions WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| r.checked().map_err(sqlx::Error::from)).transpose()
}

/// A page of the seller's exceptions, newest first, optionally of one status.
pub async fn list_exceptions(
    db: &Db,
    seller_id: &str,
    status: Option<&str>,
    keyset: &Keyset,
) -> Result<Rows<ExceptionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {EXCEPTION_COLUMNS} FROM short_pay_exceptions WHERE seller_id = $1 AND ($2 IS NULL OR status = $2){}",
        Keyset::clause("", 3)
    );
    let query = sqlx::query_as(&sql).bind(seller_id).bind(status);
    let rows: Vec<ExceptionRow> = keyset.bind(query).fetch_all(db.pool()).await?;
    keyset
        .rows(rows)
        .try_map(|r| r.checked().map_err(sqlx::Error::from))
}

/// Marks an open exception resolved with `action`; `false` when it was not open (already resolved).
pub async fn resolve_exception(
    tx: &mut Tx,
    seller_id: &str,
    id: &str,
    action: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE short_pay_exceptions SET status = 'resolved', action = $1, resolved_at = $2 \
         WHERE id = $3 AND seller_id = $4 AND status = 'open'",
    )
    .bind(action)
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The item a QuickBooks endpoint books write-offs with (`None`: none configured, or no such endpoint).
pub async fn writeoff_item(
    db: &Db,
    seller_id: &str,
    endpoint_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT writeoff_item_id FROM erp_endpoints WHERE id = $1 AND seller_id = $2")
            .bind(endpoint_id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|(item,)| item))
}

/// Records the item a new QuickBooks endpoint books write-offs with, in the transaction that inserts it.
pub async fn set_writeoff_item(
    tx: &mut Tx,
    seller_id: &str,
    endpoint_id: &str,
    item: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE erp_endpoints SET writeoff_item_id = $1 WHERE id = $2 AND seller_id = $3")
        .bind(item)
        .bind(endpoint_id)
        .bind(seller_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
