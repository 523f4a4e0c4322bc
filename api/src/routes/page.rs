//! Paging, the same for every list (DESIGN section 10): `limit` (1 to 100, default 20) and
//! `starting_after=<id>` are parsed at the edge into a [`Page`], the store walks `(created_at, id)` newest
//! first from there (keyset paging: rows added meanwhile never shift a page, so a walk sees every older row
//! exactly once), and the answer is a [`List`], `{data, has_more}`.
//!
//! A handler takes a [`Listing<F>`]: the page plus the list's own filters `F`, parsed from the same query
//! string. Out-of-range or malformed values answer 400, never a silent clamp.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tranche_domain::ErrorCode;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::page::{self as store_page, Keyset, Listed, Rows};

/// What a list answers when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest `limit` a list takes.
pub const MAX_LIMIT: i64 = 100;
/// Longer than any id: such a `starting_after` names nothing, and is refused without a query.
const MAX_ID_LENGTH: usize = 100;

/// The paging parameters every list takes, documented once (the OpenAPI `params` of each list).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many objects to answer: 1 to 100, default 20. Outside that range: 400 `invalid_query`.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// The `id` of the last object of the previous page; the answer continues after it. It must name one of
    /// your objects in this list, else 400 `starting_after_not_found`.
    pub starting_after: Option<String>,
}

/// `limit` and `starting_after`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    starting_after: Option<String>,
}

impl Page {
    /// Parses the raw query values (`None` when absent).
    pub fn parse(limit: Option<&str>, starting_after: Option<&str>) -> ApiResult<Page> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        ErrorCode::InvalidQuery,
                        "limit",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        Ok(Page {
            limit,
            starting_after: starting_after.map(str::to_owned),
        })
    }

    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// The raw `starting_after`, for a list whose cursor is not one table's row (`/v1/alerts`).
    pub fn starting_after(&self) -> Option<&str> {
        self.starting_after.as_deref()
    }

    /// Where the page starts in `list`: the top, or after the seller's object `starting_after`. An id that is
    /// unknown, another seller's or of another kind answers the same 400, so it tells nothing about others.
    pub async fn keyset(&self, db: &Db, seller_id: &str, list: Listed) -> ApiResult<Keyset> {
        let Some(id) = &self.starting_after else {
            return Ok(Keyset::first(self.limit));
        };
        let found = if id.is_empty() || id.len() > MAX_ID_LENGTH {
            None
        } else {
            store_page::cursor(db, list, seller_id, id).await?
        };
        match found {
            Some(created_at) => Ok(Keyset::after(self.limit, created_at, id.clone())),
            None => Err(ApiError::invalid(
                ErrorCode::StartingAfterNotFound,
                "starting_after",
                format!(
                    "starting_after must be the id of one of your {} (the last one of the previous page)",
                    list.noun()
                ),
            )),
        }
    }
}

/// A list without filters of its own: only `limit` and `starting_after`, anything else is refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

/// A list request: the [`Page`] and the list's filters `F` (a `deny_unknown_fields` struct), from one query
/// string. Errors are 400 `invalid_query` problems, as for `web::Query`.
pub struct Listing<F> {
    pub page: Page,
    pub filter: F,
}

impl<F: DeserializeOwned> Listing<F> {
    /// Splits `limit` and `starting_after` off the query string and parses the rest as `F`.
    pub fn parse(query: &str) -> ApiResult<Listing<F>> {
        let mut limit = None;
        let mut starting_after = None;
        let mut rest = Vec::new();
        for segment in query.split('&').filter(|s| !s.is_empty()) {
            let pairs = web::Query::<Vec<(String, String)>>::from_query(segment)
                .map_err(|e| ApiError::invalid_query(&e))?
                .into_inner();
            let slot = match pairs.first().map(|(key, _)| key.as_str()) {
                Some("limit") => &mut limit,
                Some("starting_after") => &mut starting_after,
                _ => {
                    rest.push(segment);
                    continue;
                }
            };
            if slot.is_some() {
                return Err(ApiError::invalid(
                    ErrorCode::InvalidQuery,
                    pairs.first().map_or("", |(key, _)| key.as_str()),
                    "a paging parameter is given twice",
                ));
            }
            *slot = pairs.into_iter().next().map(|(_, value)| value);
        }
        let page = Page::parse(limit.as_deref(), starting_after.as_deref())?;
        let filter = web::Query::<F>::from_query(&rest.join("&"))
            .map_err(|e| ApiError::invalid_query(&e))?
            .into_inner();
        Ok(Listing { page, filter })
    }
}

impl<F: DeserializeOwned> FromRequest for Listing<F> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Listing<F>, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Listing::parse(req.query_string()))
    }
}

/// A page of a list: `{data: [...], has_more}`. `has_more` is true when objects older than the last one
/// of `data` exist: ask again with `starting_after` set to its id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> List<T> {
    /// A page of `rows`, each made into its wire view.
    pub fn of<R>(rows: Rows<R>, view: impl FnMut(R) -> T) -> List<T> {
        List {
            data: rows.rows.into_iter().map(view).collect(),
            has_more: rows.has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        status: Option<String>,
    }

    fn code(result: ApiResult<Listing<Filter>>) -> (String, Option<String>) {
        match result {
            Err(ApiError::Invalid { code, field, .. }) => (code.as_str().to_owned(), field),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn limits_from_1_to_100_default_20() {
        let listing = Listing::<Filter>::parse("").unwrap();
        assert_eq!(listing.page.limit(), 20);
        assert_eq!(listing.page.starting_after, None);
        for n in [1, 7, 100] {
            let listing = Listing::<Filter>::parse(&format!("limit={n}")).unwrap();
            assert_eq!(listing.page.limit(), n);
        }
        for bad in ["0", "101", "-1", "abc", "", "1.5", "1e2", "99999999999999999999"] {
            assert_eq!(
                code(Listing::parse(&format!("limit={bad}"))),
                ("invalid_query".to_owned(), Some("limit".to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn filters_and_paging_share_the_query_string() {
        let listing = Listing::<Filter>::parse("status=open&starting_after=inv_1&limit=5").unwrap();
        assert_eq!(listing.filter.status.as_deref(), Some("open"));
        assert_eq!(listing.page.starting_after.as_deref(), Some("inv_1"));
        assert_eq!(listing.page.limit(), 5);
        // Percent-encoded names are the same parameters.
        let listing = Listing::<Filter>::parse("%6Cimit=3").unwrap();
        assert_eq!(listing.page.limit(), 3);
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        assert_eq!(code(Listing::parse("colour=red")).0, "invalid_query");
        assert_eq!(code(Listing::parse("limit=1&limit=2")).0, "invalid_query");
        assert_eq!(
            code(Listing::parse("starting_after=a&starting_after=b")).0,
            "invalid_query"
        );
        assert_eq!(code(Listing::parse("status=a&status=b")).0, "invalid_query");
        assert!(Listing::<NoFilter>::parse("status=open").is_err());
        assert!(Listing::<NoFilter>::parse("limit=2").is_ok());
    }
}
