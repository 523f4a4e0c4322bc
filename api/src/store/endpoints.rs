//! ERP endpoints (`erp_endpoints`): where a seller's events go, with their sealed credentials and the
//! failure counters that disable them.

use crate::db::{Db, Tx};
use crate::store::page::{Keyset, Rows};
use crate::store::RowError;

/// What an endpoint is: a signed webhook receiver or a QuickBooks Online company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    Webhook,
    Quickbooks,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Webhook => "webhook",
            EndpointKind::Quickbooks => "quickbooks",
        }
    }

    /// Parses a stored (or requested) kind; anything else is an error, never a default.
    pub fn parse(text: &str) -> Result<EndpointKind, RowError> {
        match text {
            "webhook" => Ok(EndpointKind::Webhook),
            "quickbooks" => Ok(EndpointKind::Quickbooks),
            other => Err(RowError::unknown("erp_endpoints.kind", other)),
        }
    }
}

/// The seller-visible columns of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub kind: EndpointKind,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
}

type RawRow = (String, String, String, Option<i64>, Option<String>, i64);

impl TryFrom<RawRow> for EndpointRow {
    type Error = RowError;

    fn try_from(row: RawRow) -> Result<EndpointRow, RowError> {
        let (id, url, kind, disabled_at, disabled_reason, created_at) = row;
        Ok(EndpointRow {
            id,
            url,
            kind: EndpointKind::parse(&kind)?,
            disabled_at,
            disabled_reason,
            created_at,
        })
    }
}

const COLUMNS: &str = "id, url, kind, disabled_at, disabled_reason, created_at";

/// A new endpoint; secrets arrive sealed.
pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub seller_id: &'a str,
    pub kind: EndpointKind,
    pub url: &'a str,
    pub signing_secret: &'a str,
    pub realm_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
    pub token_url: Option<&'a str>,
    pub refund_account_id: Option<&'a str>,
    pub refund_item_id: Option<&'a str>,
    pub late_fee_item_id: Option<&'a str>,
    pub created_at: i64,
}

/// How many endpoints of the seller are active (not disabled).
pub async fn count_active(tx: &mut Tx, seller_id: &str) -> Result<i64, sqlx::Error> {
    let (active,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM erp_endpoints WHERE seller_id = $1 AND disabled_at IS NULL")
            .bind(seller_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(active)
}

pub async fn insert(tx: &mut Tx, new: &NewEndpoint<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO erp_endpoints (id, seller_id, kind, url, signing_secret, realm_id, client_id, client_secret, \
         refresh_token, token_url, created_at, refund_account_id, refund_item_id, late_fee_item_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(new.id)
    .bind(new.seller_id)
    .bind(new.kind.as_str())
    .bind(new.url)
    .bind(new.signing_secret)
    .bind(new.realm_id)
    .bind(new.client_id)
    .bind(new.client_secret)
    .bind(new.refresh_token)
    .bind(new.token_url)
    .bind(new.created_at)
    .bind(new.refund_account_id)
    .bind(new.refund_item_id)
    .bind(new.late_fee_item_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `(refund_account_id, refund_item_id)` of a QuickBooks endpoint: what its RefundReceipts need.
pub async fn refund_refs(
    db: &Db,
    seller_id: &str,
    endpoint_id: &str,
) -> Result<Option<(Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT refund_account_id, refund_item_id FROM erp_endpoints WHERE id = $1 AND seller_id = $2",
    )
    .bind(endpoint_id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await
}

/// The `late_fee_item_id` of a QuickBooks endpoint (the item a late fee's invoice line names): `None` when
/// the endpoint is gone, `Some(None)` when it has no item.
pub async fn late_fee_item(
    db: &Db,
    seller_id: &str,
    endpoint_id: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT late_fee_item_id FROM erp_endpoints WHERE id = $1 AND seller_id = $2")
            .bind(endpoint_id)
            .bind(seller_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(item,)| item))
}

/// A page of the seller's endpoints (deleted ones too, disabled), newest first.
pub async fn list(db: &Db, seller_id: &str, keyset: &Keyset) -> anyhow::Result<Rows<EndpointRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM erp_endpoints WHERE seller_id = $1{}",
        Keyset::clause("", 2)
    );
    let rows: Vec<RawRow> = keyset
        .bind(sqlx::query_as(&sql).bind(seller_id))
        .fetch_all(db.pool())
        .await?;
    Ok(keyset.rows(rows).try_map(EndpointRow::try_from)?)
}

pub async fn find(db: &Db, seller_id: &str, id: &str) -> anyhow::Result<Option<EndpointRow>> {
    let row: Option<RawRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM erp_endpoints WHERE id = $1 AND seller_id = $2"
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(EndpointRow::try_from).transpose()?)
}

/// Active endpoints of the seller as `(id, kind)`, in the transaction that writes an event.
pub async fn active(tx: &mut Tx, seller_id: &str) -> anyhow::Result<Vec<(String, EndpointKind)>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, kind FROM erp_endpoints WHERE seller_id = $1 AND disabled_at IS NULL")
            .bind(seller_id)
            .fetch_all(&mut **tx)
            .await?;
    rows.into_iter()
        .map(|(id, kind)| Ok((id, EndpointKind::parse(&kind)?)))
        .collect()
}

/// Marks the seller's endpoint deleted (disabled, reason `deleted`); false when the seller has none by this id.
pub async fn mark_deleted(tx: &mut Tx, seller_id: &str, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE erp_endpoints SET disabled_at = COALESCE(disabled_at, $1), disabled_reason = COALESCE(disabled_reason, 'deleted') \
         WHERE id = $2 AND seller_id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(seller_id)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Disables an endpoint (once: the first reason stays).
pub async fn disable(tx: &mut Tx, id: &str, reason: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE erp_endpoints SET disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND disabled_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Clears the failure streak after a delivery succeeded (no write when there was none).
pub async fn reset_failures(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE erp_endpoints SET consecutive_failures = 0, failing_since = NULL WHERE id = $1 AND consecutive_failures <> 0",
    )
    .bind(id)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// Counts one more failure in a row; returns `(failures, failing_since)` of an endpoint still active.
pub async fn count_failure(
    tx: &mut Tx,
    id: &str,
    now: i64,
) -> Result<Option<(i64, Option<i64>)>, sqlx::Error> {
    sqlx::query(
        "UPDATE erp_endpoints SET consecutive_failures = consecutive_failures + 1, failing_since = COALESCE(failing_since, $1) \
         WHERE id = $2 AND disabled_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query_as(
        "SELECT consecutive_failures, failing_since FROM erp_endpoints WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// The columns holding secrets, each sealed under `erp_endpoints.<column>:<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    SigningSecret,
    ClientSecret,
    RefreshToken,
    AccessToken,
}

impl SecretColumn {
    pub const ALL: [SecretColumn; 4] = [
        SecretColumn::SigningSecret,
        SecretColumn::ClientSecret,
        SecretColumn::RefreshToken,
        SecretColumn::AccessToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretColumn::SigningSecret => "signing_secret",
            SecretColumn::ClientSecret => "client_secret",
            SecretColumn::RefreshToken => "refresh_token",
            SecretColumn::AccessToken => "access_token",
        }
    }
}

/// `(id, value)` of secrets in `column` still stored as they came (written before a master key existed).
pub async fn unsealed(db: &Db, column: SecretColumn) -> Result<Vec<(String, String)>, sqlx::Error> {
    let column = column.as_str();
    sqlx::query_as(&format!(
        "SELECT id, {column} FROM erp_endpoints WHERE {column} IS NOT NULL AND {column} NOT LIKE 'enc:v1:%'"
    ))
    .fetch_all(db.pool())
    .await
}

/// Replaces a plaintext secret with its sealed form, only if it is still the plaintext read before:
/// another node may have sealed it meanwhile.
pub async fn replace_secret(
    db: &Db,
    column: SecretColumn,
    id: &str,
    plain: &str,
    sealed: &str,
) -> Result<(), sqlx::Error> {
    let column = column.as_str();
    sqlx::query(&format!(
        "UPDATE erp_endpoints SET {column} = $1 WHERE id = $2 AND {column} = $3"
    ))
    .bind(sealed)
    .bind(id)
    .bind(plain)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}

/// A QuickBooks endpoint's OAuth state, as stored (secrets sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuickBooksCredentials {
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub access_token_expires_at: Option<i64>,
}

pub async fn quickbooks_credentials(db: &Db, id: &str) -> Result<Option<QuickBooksCredentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT token_url, client_id, client_secret, refresh_token, access_token, access_token_expires_at \
         FROM erp_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await
}

/// Stores a refreshed access token, and the rotated refresh token when Intuit sent one (sealed).
pub async fn store_tokens(
    db: &Db,
    id: &str,
    access_token: &str,
    expires_at: i64,
    rotated_refresh_token: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE erp_endpoints SET access_token = $1, access_token_expires_at = $2, \
         refresh_token = COALESCE($3, refresh_token) WHERE id = $4",
    )
    .bind(access_token)
    .bind(expires_at)
    .bind(rotated_refresh_token)
    .bind(id)
    .execute(&mut *db.writer().await?)
    .await?;
    Ok(())
}
