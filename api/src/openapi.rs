//! The OpenAPI document, assembled from the `#[utoipa::path]` annotations on the handlers and the
//! `ToSchema` derives on the wire types, so it cannot drift from the code.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tranche API", description = "Partial payments for B2B invoices: seller API, buyer checkout, sandbox gateway."),
    paths(
        routes::parties::create_seller,
        routes::parties::create_customer,
        routes::parties::get_customer,
        routes::parties::list_customers,
        routes::parties::create_terms,
        routes::parties::get_terms,
        routes::invoices::create,
        routes::invoices::get,
        routes::invoices::list,
        routes::invoices::void,
        routes::invoices::create_link,
        routes::invoices::revoke_link,
        routes::payments::list,
        routes::payments::get,
        routes::checkout::view,
        routes::checkout::pay,
        routes::sandbox::create_token,
        crate::erp::routes::create_endpoint,
        crate::erp::routes::list_endpoints,
        crate::erp::routes::get_endpoint,
        crate::erp::routes::delete_endpoint,
        crate::erp::routes::list_deliveries,
        crate::erp::routes::retry_delivery,
        crate::erp::routes::put_receipt_settings,
        routes::ops::healthz,
        routes::ops::livez,
        routes::ops::readyz,
    ),
    modifiers(&SecuritySchemes, &ProblemResponses)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "operator_token",
            bearer("opaque", "TRANCHE_OPERATOR_TOKEN: may create sellers"),
        );
        components.add_security_scheme("seller_key", bearer("sk_...", "A seller's secret key"));
        components.add_security_scheme(
            "checkout_token",
            bearer("JWT", "A checkout token (EdDSA JWT) for one invoice"),
        );
    }
}

/// Makes the document say what the server does for every operation, in one place rather than in each
/// handler's annotation: problems are `application/problem+json`; every authenticated operation can answer
/// 401 (and checkout operations 403 for a foreign origin and 429 when rate limited); every operation with a
/// JSON body can answer 400 (malformed or unknown fields), 413 (too large) and 415 (not JSON).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in operations.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                for response in responses.values_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response {
                        let is_problem = r.content.get("application/json").is_some_and(|c| {
                            matches!(&c.schema, Some(utoipa::openapi::RefOr::Ref(re)) if re.ref_location.ends_with("/Problem"))
                        });
                        if is_problem {
                            if let Some(c) = r.content.shift_remove("application/json") {
                                r.content.insert("application/problem+json".to_owned(), c);
                            }
                        }
                    }
                }
                let mut add = |code: &str, description: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "Missing or invalid credentials");
                }
                if path.starts_with("/v1/checkout") {
                    add("403", "Origin not in the seller's allowed_origins");
                    add("429", "Rate limited; see Retry-After");
                }
                let has_query = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
                });
                if has_query {
                    add("400", "Invalid query parameter");
                }
                if op.request_body.is_some() {
                    add("400", "Malformed body, unknown field or invalid value");
                    add("413", "Body too large");
                    add("415", "Body is not application/json");
                }
            }
        }
    }
}
