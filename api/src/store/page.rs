//! Keyset paging, shared by every list: rows newest first by `(created_at, id)` (ids are time-ordered
//! UUIDv7, and `id` breaks ties within a millisecond), a page starting strictly after a cursor row. Unlike
//! `OFFSET`, rows inserted while a client walks the pages land before its cursor, so the walk sees every
//! older row exactly once, and each page is an index range scan however deep it is.

use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::Any;

use crate::db::Db;

/// The lists that page, each with its table (a closed set: the table name is never input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Customers,
    Invoices,
    Payments,
    Endpoints,
    Deliveries,
    Refunds,
    Terms,
    AuditLog,
    Disputes,
    Exceptions,
}

impl Listed {
    fn table(self) -> &'static str {
        match self {
            Listed::Customers => "customers",
            Listed::Invoices => "invoices",
            Listed::Payments => "payments",
            Listed::Endpoints => "erp_endpoints",
            Listed::Deliveries => "deliveries",
            Listed::Refunds => "refunds",
            Listed::Terms => "terms_profiles",
            Listed::AuditLog => "audit_log",
            Listed::Disputes => "disputes",
            Listed::Exceptions => "short_pay_exceptions",
        }
    }

    /// What the list holds, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Listed::Customers => "customers",
            Listed::Invoices => "invoices",
            Listed::Payments => "payments",
            Listed::Endpoints => "ERP endpoints",
            Listed::Deliveries => "deliveries",
            Listed::Refunds => "refunds",
            Listed::Terms => "terms profiles",
            Listed::AuditLog => "audit log entries",
            Listed::Disputes => "disputes",
            Listed::Exceptions => "exceptions",
        }
    }
}

/// Where a page starts (strictly before `(created_at, id)` in the newest-first order) and how many rows it
/// holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    limit: i64,
    before_created_at: i64,
    before_id: String,
}

impl Keyset {
    /// The first page. Every stored time is below `i64::MAX`, so the condition holds for every row.
    pub fn first(limit: i64) -> Keyset {
        Keyset {
            limit,
            before_created_at: i64::MAX,
            before_id: String::new(),
        }
    }

    /// The page after the row `(created_at, id)`.
    pub fn after(limit: i64, created_at: i64, id: String) -> Keyset {
        Keyset {
            limit,
            before_created_at: created_at,
            before_id: id,
        }
    }

    /// The end of a list statement: the keyset condition (` AND ...`, so it follows the seller and filter
    /// conditions), the order and the limit, on the columns of `alias` (`"i."`, or `""` for none), with the
    /// parameters `$first`, `$first + 1` and `$first + 2` that [`Keyset::bind`] fills.
    pub fn clause(alias: &str, first: usize) -> String {
        let (created, id, limit) = (first, first + 1, first + 2);
        format!(
            " AND ({alias}created_at < ${created} OR ({alias}created_at = ${created} AND {alias}id < ${id})) \
             ORDER BY {alias}created_at DESC, {alias}id DESC LIMIT ${limit}"
        )
    }

    /// Binds the [`Keyset::clause`] parameters, after the statement's own. One row more than the page is
    /// fetched, so [`Keyset::rows`] knows whether more follow.
    pub fn bind<'q, O>(
        &'q self,
        query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
        query
            .bind(self.before_created_at)
            .bind(self.before_id.as_str())
            .bind(self.limit.saturating_add(1))
    }

    /// The page from what the statement fetched (at most one row more than the page).
    pub fn rows<T>(&self, mut fetched: Vec<T>) -> Rows<T> {
        let limit = usize::try_from(self.limit).unwrap_or(0);
        let has_more = fetched.len() > limit;
        fetched.truncate(limit);
        Rows {
            rows: fetched,
            has_more,
        }
    }
}

/// One page of rows, and whether older rows follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows<T> {
    pub rows: Vec<T>,
    pub has_more: bool,
}

impl<T> Rows<T> {
    /// The same page with each row converted (rows that fail to convert fail the page).
    pub fn try_map<U, E>(self, convert: impl FnMut(T) -> Result<U, E>) -> Result<Rows<U>, E> {
        Ok(Rows {
            rows: self.rows.into_iter().map(convert).collect::<Result<_, _>>()?,
            has_more: self.has_more,
        })
    }
}

/// The `created_at` of the seller's row `id` in `list`, or `None` when `id` is not one of the seller's
/// rows there (unknown, another seller's, or another kind of object).
pub async fn cursor(db: &Db, list: Listed, seller_id: &str, id: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "SELECT created_at FROM {} WHERE id = $1 AND seller_id = $2",
        list.table()
    ))
    .bind(id)
    .bind(seller_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(created_at,)| created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_trimmed_to_its_limit_and_knows_whether_more_follow() {
        let keyset = Keyset::first(2);
        assert_eq!(
            keyset.rows(vec![1, 2, 3]),
            Rows {
                rows: vec![1, 2],
                has_more: true
            }
        );
        assert_eq!(
            keyset.rows(vec![1, 2]),
            Rows {
                rows: vec![1, 2],
                has_more: false
            }
        );
        assert_eq!(
            keyset.rows(Vec::<i32>::new()),
            Rows {
                rows: vec![],
                has_more: false
            }
        );
    }

    #[test]
    fn the_clause_numbers_its_parameters_after_the_statements_own() {
        assert_eq!(
            Keyset::clause("d.", 3),
            " AND (d.created_at < $3 OR (d.created_at = $3 AND d.id < $4)) ORDER BY d.created_at DESC, d.id DESC LIMIT $5"
        );
    }
}
