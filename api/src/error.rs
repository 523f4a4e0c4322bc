//! The HTTP boundary's error type. Every failure a client can see is an [`ApiError`] variant with a stable
//! [`ErrorCode`] (which also fixes the HTTP status), rendered as `application/problem+json`; unexpected
//! failures are logged once, here, with their cause chain, and the client sees only `internal_error` and
//! the request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tranche_domain::wire::Problem;
use tranche_domain::{AmountRejected, ErrorCode};

use crate::request_id;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or invalid credentials; `code` says which kind.
    #[error("{detail}")]
    Unauthorized { code: ErrorCode, detail: &'static str },
    /// Authenticated, but not allowed from here.
    #[error("{detail}")]
    Forbidden { code: ErrorCode, detail: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well-formed JSON but a field is invalid.
    #[error("{detail}")]
    Invalid {
        code: ErrorCode,
        field: Option<String>,
        detail: String,
    },
    #[error("{0}")]
    Amount(AmountRejected),
    /// 422 `refund_exceeds_payment`: `maximum` is what is still refundable.
    #[error("at most {maximum} can be refunded")]
    RefundExceedsPayment { maximum: tranche_domain::Money },
    /// 422 with `maximum`: an amount above a limit other than the balance (a dispute's line, a
    /// resolution's dispute).
    #[error("{detail}")]
    OverLimit {
        code: ErrorCode,
        maximum: tranche_domain::Money,
        detail: String,
    },
    #[error("{detail}")]
    Conflict { code: ErrorCode, detail: String },
    /// Well-formed but cannot be processed as sent (422).
    #[error("{detail}")]
    Unprocessable { code: ErrorCode, detail: String },
    #[error("payment declined: {decline_code}")]
    Declined {
        decline_code: String,
        message: String,
        advice: String,
    },
    #[error("too many requests")]
    RateLimited { retry_after_seconds: u64 },
    /// The path exists but not with this method; `allow` lists the methods it takes.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    /// A refusal about one invoice of several a request names (an account payment's allocations): the
    /// inner problem, with `invoice_id` set.
    #[error("invoice {invoice_id}: {error}")]
    ForInvoice {
        invoice_id: String,
        error: Box<ApiError>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(code: ErrorCode, field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    /// 400 `invalid_query` for a query string that does not parse: the answer `query_error_handler` gives
    /// `web::Query`, for extractors that parse the query themselves.
    pub fn invalid_query(error: &impl std::fmt::Display) -> ApiError {
        ApiError::Invalid {
            code: ErrorCode::InvalidQuery,
            field: None,
            detail: first_sentence(&error.to_string()),
        }
    }

    /// 422 `destination_not_allowed`: a seller-chosen URL that is, or resolves to, an address the
    /// destination policy refuses (loopback, private, link-local, metadata services...; DESIGN section 14).
    pub fn destination_not_allowed(detail: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code: ErrorCode::DestinationNotAllowed,
            detail: detail.into(),
        }
    }

    /// The problem document for this error (also what the idempotency store saves).
    pub fn problem(&self) -> Problem {
        let mut problem = match self {
            ApiError::Unauthorized { code, detail } => refused(*code, 401, "Unauthorized", *detail),
            ApiError::Forbidden { code, detail } => refused(*code, 403, "Forbidden", detail.clone()),
            ApiError::NotFound(what) => {
                Problem::new(ErrorCode::NotFound, "Not found", format!("{what} not found"))
            }
            ApiError::Invalid { code, field, detail } => {
                let mut p = refused(*code, 400, "Invalid request", detail.clone());
                p.field = field.clone();
                p
            }
            ApiError::Amount(rejected) => Problem::from(rejected),
            ApiError::RefundExceedsPayment { maximum } => {
                let mut p = Problem::new(
                    ErrorCode::RefundExceedsPayment,
                    "Refund not accepted",
                    format!(
                        "At most {maximum} {} can be refunded (the payment less refunds made and in progress).",
                        maximum.currency().code()
                    ),
                );
                p.field = Some("amount".to_owned());
                p.maximum = Some(maximum.to_string());
                p.currency = Some(maximum.currency().code().to_owned());
                p
            }
            ApiError::OverLimit {
                code,
                maximum,
                detail,
            } => {
                let mut p = refused(*code, 422, "Unprocessable request", detail.clone());
                p.field = Some("amount".to_owned());
                p.maximum = Some(maximum.to_string());
                p.currency = Some(maximum.currency().code().to_owned());
                p
            }
            ApiError::Conflict { code, detail } => refused(*code, 409, "Conflict", detail.clone()),
            ApiError::Unprocessable { code, detail } => {
                refused(*code, 422, "Unprocessable request", detail.clone())
            }
            ApiError::Declined {
                decline_code,
                message,
                advice,
            } => {
                let mut p = Problem::new(ErrorCode::PaymentDeclined, "Payment declined", message.clone());
                p.decline_code = Some(decline_code.clone());
                p.advice = Some(advice.clone());
                p
            }
            ApiError::RateLimited { .. } => Problem::new(
                ErrorCode::RateLimited,
                "Too many requests",
                "Too many attempts; wait and try again.",
            ),
            ApiError::MethodNotAllowed { allow } => Problem::new(
                ErrorCode::MethodNotAllowed,
                "Method not allowed",
                format!("This path takes {allow}."),
            ),
            ApiError::ForInvoice { invoice_id, error } => {
                let mut p = error.problem();
                p.invoice_id = Some(invoice_id.clone());
                p
            }
            ApiError::Internal(_) => Problem::new(
                ErrorCode::InternalError,
                "Internal server error",
                "Something went wrong on our side. Quote the request id when you contact support.",
            ),
        };
        problem.request_id = request_id::current();
        problem
    }
}

/// A problem for a variant that takes its code from the call site. The status on the wire is the code's
/// (the documented contract); the variant's own status is what the call site meant, and a debug build
/// refuses a code filed under the wrong variant, so a test that reaches the call site catches the slip.
fn refused(code: ErrorCode, variant_status: u16, title: &str, detail: impl Into<String>) -> Problem {
    debug_assert_eq!(
        code.status(),
        variant_status,
        "{code} is a {} error, not a {variant_status}",
        code.status()
    );
    Problem::new(code, title, detail)
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        ApiError::Internal(anyhow::Error::new(error).context("database"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(request_id = request_id::current().unwrap_or_default(), error = ?cause, "internal error");
        }
        let mut response = problem_response(&self.problem());
        if let ApiError::MethodNotAllowed { allow } = self {
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::ALLOW, value);
            }
        }
        if let ApiError::RateLimited { retry_after_seconds } = self {
            if let Ok(value) =
                actix_web::http::header::HeaderValue::from_str(&retry_after_seconds.to_string())
            {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Renders a problem document with its status and media type.
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(problem)
}

/// Turns actix's JSON extractor errors into our codes: unknown fields, malformed bodies, size, media type.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let (code, detail) = match &err {
        E::Deserialize(e) if e.to_string().starts_with("unknown field") => {
            (ErrorCode::UnknownField, first_sentence(&e.to_string()))
        }
        E::Deserialize(e) if e.is_data() => (ErrorCode::MalformedBody, first_sentence(&e.to_string())),
        E::Deserialize(_) | E::Serialize(_) => {
            (ErrorCode::MalformedBody, "The body is not valid JSON.".to_owned())
        }
        E::OverflowKnownLength { .. } | E::Overflow { .. } => (
            ErrorCode::BodyTooLarge,
            "The request body is too large.".to_owned(),
        ),
        E::ContentType => (
            ErrorCode::UnsupportedMediaType,
            "Send the body as application/json.".to_owned(),
        ),
        _ => (
            ErrorCode::MalformedBody,
            "The request body could not be read.".to_owned(),
        ),
    };
    let mut problem = Problem::new(code, "Invalid request", detail);
    problem.request_id = request_id::current();
    actix_web::error::InternalError::from_response(err, problem_response(&problem)).into()
}

/// Query-string errors get the same treatment.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let mut problem = Problem::new(
        ErrorCode::InvalidQuery,
        "Invalid request",
        first_sentence(&err.to_string()),
    );
    problem.request_id = request_id::current();
    actix_web::error::InternalError::from_response(err, problem_response(&problem)).into()
}

/// Path errors likewise.
pub fn path_error_handler(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let mut problem = Problem::new(ErrorCode::NotFound, "Not found", "No such resource.");
    problem.request_id = request_id::current();
    actix_web::error::InternalError::from_response(err, problem_response(&problem)).into()
}

/// A request body that must be a JSON *object*. Serde's derived `Deserialize` also accepts a struct as an
/// array of its fields in order (`["Acme", "ap@acme.example"]`); a public API should not, so every body
/// extractor wraps its type in this, which only ever asks the parser for a map.
#[derive(Debug, Clone)]
pub struct JsonObject<T>(pub T);

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(ObjectOnly(std::marker::PhantomData))
            .map(JsonObject)
    }
}

/// Parses an optional JSON body: empty means `T::default()`, anything else must deserialize strictly.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<JsonObject<T>>(bytes)
        .map(|o| o.0)
        .map_err(|e| {
            let message = e.to_string();
            let code = if message.starts_with("unknown field") {
                ErrorCode::UnknownField
            } else {
                ErrorCode::MalformedBody
            };
            ApiError::Invalid {
                code,
                field: None,
                detail: first_sentence(&message),
            }
        })
}

/// serde messages carry line/column and the expected-field list; keep them short and safe to echo.
fn first_sentence(message: &str) -> String {
    let cut = message.find(" at line ").unwrap_or(message.len());
    message[..cut].chars().take(200).collect()
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod json_object_tests {
    use super::JsonObject;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Customer {
        name: String,
        email: String,
    }

    #[test]
    fn objects_only() {
        let ok: JsonObject<Customer> =
            serde_json::from_str(r#"{"name": "Acme", "email": "a@b.co"}"#).unwrap();
        assert_eq!((ok.name.as_str(), ok.email.as_str()), ("Acme", "a@b.co"));
        // Plain serde would accept this array as the struct's fields in order.
        assert!(serde_json::from_str::<Customer>(r#"["Acme", "a@b.co"]"#).is_ok());
        assert!(serde_json::from_str::<JsonObject<Customer>>(r#"["Acme", "a@b.co"]"#).is_err());
        assert!(
            serde_json::from_str::<JsonObject<Customer>>(r#"{"name": "A", "email": "e", "x": 1}"#)
                .unwrap_err()
                .to_string()
                .starts_with("unknown field")
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tranche_domain::ErrorCode;

    use super::ApiError;

    /// `(code, status)` from the rows of ARCHITECTURE.md's "Error codes" table.
    fn documented() -> Vec<(String, u16)> {
        let doc = include_str!("../../ARCHITECTURE.md");
        let section = doc
            .split("\n## Error codes")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("ARCHITECTURE.md has an Error codes section");
        section
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let code = cells[1].trim_matches('`').to_owned();
                let status = cells[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("{code}: status {:?} is not a number", cells[2]));
                (code, status)
            })
            .collect()
    }

    #[test]
    fn architecture_lists_every_error_code() {
        let rows = documented();
        let listed: BTreeSet<(String, u16)> = rows.iter().cloned().collect();
        assert_eq!(listed.len(), rows.len(), "a code is listed twice");
        let codes: BTreeSet<(String, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), c.status()))
            .collect();
        assert_eq!(
            listed, codes,
            "ARCHITECTURE.md's error-code table vs ErrorCode (code, status)"
        );
    }

    #[test]
    fn codes_are_distinct_and_parse_back() {
        let distinct: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(distinct.len(), ErrorCode::ALL.len());
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    /// Each variant that takes a code renders with that code's status: the statuses the API sent before
    /// codes were typed (api/tests pin them per endpoint).
    #[test]
    fn variants_send_their_codes_status() {
        let cases = [
            (
                ApiError::Unauthorized {
                    code: ErrorCode::InvalidApiKey,
                    detail: "d",
                },
                401,
            ),
            (
                ApiError::Forbidden {
                    code: ErrorCode::OriginNotAllowed,
                    detail: "d".into(),
                },
                403,
            ),
            (ApiError::invalid(ErrorCode::InvalidField, "f", "d"), 400),
            (
                ApiError::Conflict {
                    code: ErrorCode::InvoiceVoid,
                    detail: "d".into(),
                },
                409,
            ),
            (ApiError::destination_not_allowed("d"), 422),
            (ApiError::NotFound("invoice"), 404),
            (
                ApiError::RateLimited {
                    retry_after_seconds: 1,
                },
                429,
            ),
            (ApiError::MethodNotAllowed { allow: "GET".into() }, 405),
            (ApiError::Internal(anyhow::anyhow!("boom")), 500),
        ];
        for (error, status) in cases {
            let problem = error.problem();
            assert_eq!(problem.status, status, "{}", problem.code);
            assert_eq!(problem.error_code().map(ErrorCode::status), Some(status));
        }
    }
}
