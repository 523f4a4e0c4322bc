//! `GET /v1/audit-log` (DESIGN section 10): the seller's audit rows, newest first, a page at a time. Rows
//! are written by [`crate::store::audit::record`] in the transaction of each change.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::Problem;

use crate::auth::Seller;
use crate::db::rfc3339;
use crate::error::ApiResult;
use crate::routes::page::{List, Listing, PageParams};
use crate::state::AppState;
use crate::store::audit::{self, AuditRow};
use crate::store::page::Listed;

/// One change to the seller's objects.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    /// When the change committed.
    pub at: String,
    /// `key:<last 4>` (one of your secret keys), `operator`, `buyer` (a checkout) or `system` (the
    /// reconciler settling a payment or refund left in progress).
    pub actor: String,
    /// `{object}.{verb}`: `invoice.created`, `invoice.updated`, `invoice.voided`, `invoice.sent`,
    /// `customer.created`, `customer.updated`, `terms.created`, `terms.updated`, `terms.archived`,
    /// `credit_note.created`, `payment.succeeded`, `payment.failed`, `refund.succeeded`, `refund.failed`,
    /// `seller.created`, `seller.updated`, `seller.key_rolled`, ...
    pub action: String,
    pub object_id: String,
    /// For an edit, `{field: {before, after}}` of the fields that changed; otherwise a summary. Never a secret.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl TryFrom<AuditRow> for AuditEntryView {
    type Error = anyhow::Error;

    fn try_from(row: AuditRow) -> anyhow::Result<AuditEntryView> {
        Ok(AuditEntryView {
            changes: serde_json::from_str(&row.changes)?,
            id: row.id,
            at: rfc3339(row.created_at),
            actor: row.actor,
            action: row.action,
            object_id: row.object_id,
        })
    }
}

/// The audit log's own filter.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Only the rows about this object (an invoice, payment, customer, ... id).
    object_id: Option<String>,
}

/// `GET /v1/audit-log?object_id=`: newest first, a page at a time.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(PageParams, AuditFilter), security(("seller_key" = [])),
    responses((status = 200, body = List<AuditEntryView>), (status = 400, body = Problem)))]
pub async fn list(
    seller: Seller,
    state: web::Data<AppState>,
    query: Listing<AuditFilter>,
) -> ApiResult<HttpResponse> {
    let Listing { page, filter } = query;
    let keyset = page
        .keyset(&state.db, &seller.seller_id, Listed::AuditLog)
        .await?;
    let rows = audit::list(&state.db, &seller.seller_id, filter.object_id.as_deref(), &keyset).await?;
    let rows = rows.try_map(AuditEntryView::try_from)?;
    Ok(HttpResponse::Ok().json(List {
        data: rows.rows,
        has_more: rows.has_more,
    }))
}
