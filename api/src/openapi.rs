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
        routes::ops::metrics,
    ),
    modifiers(&SecuritySchemes)
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
