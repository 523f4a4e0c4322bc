//! HTTP routes. `configure` mounts them all; handlers are thin: parse, call the store or flow, render.

pub mod checkout;
pub mod invoices;
pub mod ops;
pub mod pages;
pub mod parties;
pub mod payments;
pub mod sandbox;

use actix_web::http::Method;
use actix_web::{web, HttpResponse, Resource};

use crate::erp::routes as erp;
use crate::error::ApiError;

/// A path's resource: its routes are added by the caller; any other method answers `405` with
/// `Allow: {allow}` (a problem document), so a client learns it used the wrong verb, not a wrong path.
fn endpoint(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

/// CORS preflights are answered by the middleware; this route only makes them reach it.
fn preflight() -> actix_web::Route {
    web::method(Method::OPTIONS).to(HttpResponse::NoContent)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/checkout")
            .wrap(crate::cors::CheckoutCors)
            .service(
                endpoint("", "GET, OPTIONS")
                    .get(checkout::view)
                    .route(preflight()),
            )
            .service(
                endpoint("/payments", "POST, OPTIONS")
                    .post(checkout::pay)
                    .route(preflight()),
            ),
    )
    .service(
        web::scope("/v1")
            .service(endpoint("/sellers", "POST").post(parties::create_seller))
            .service(
                endpoint("/customers", "GET, POST")
                    .post(parties::create_customer)
                    .get(parties::list_customers),
            )
            .service(endpoint("/customers/{id}", "GET").get(parties::get_customer))
            .service(endpoint("/terms", "POST").post(parties::create_terms))
            .service(endpoint("/terms/{id}", "GET").get(parties::get_terms))
            .service(
                endpoint("/invoices", "GET, POST")
                    .post(invoices::create)
                    .get(invoices::list),
            )
            .service(endpoint("/invoices/{id}", "GET").get(invoices::get))
            .service(endpoint("/invoices/{id}/void", "POST").post(invoices::void))
            .service(endpoint("/invoices/{id}/checkout-links", "POST").post(invoices::create_link))
            .service(endpoint("/checkout-links/{id}", "DELETE").delete(invoices::revoke_link))
            .service(endpoint("/payments", "GET").get(payments::list))
            .service(endpoint("/payments/{id}", "GET").get(payments::get))
            .service(
                endpoint("/erp/endpoints", "GET, POST")
                    .post(erp::create_endpoint)
                    .get(erp::list_endpoints),
            )
            .service(
                endpoint("/erp/endpoints/{id}", "DELETE, GET")
                    .get(erp::get_endpoint)
                    .delete(erp::delete_endpoint),
            )
            .service(endpoint("/erp/deliveries", "GET").get(erp::list_deliveries))
            .service(endpoint("/erp/deliveries/{id}/retry", "POST").post(erp::retry_delivery))
            .service(endpoint("/settings/receipts", "PUT").put(erp::put_receipt_settings)),
    )
    .service(endpoint("/sandbox/v1/tokens", "POST").post(sandbox::create_token))
    .service(endpoint("/sandbox/fields", "GET").get(pages::sandbox_fields))
    .service(endpoint("/widget/v1/{file}", "GET").get(pages::widget_file))
    .service(endpoint("/pay/{token}", "GET").get(pages::pay_page))
    .service(endpoint("/healthz", "GET").get(ops::healthz))
    .service(endpoint("/livez", "GET").get(ops::livez))
    .service(endpoint("/metrics", "GET").get(ops::metrics))
    .service(endpoint("/openapi.json", "GET").get(ops::openapi));
}

/// Limits for list endpoints.
pub fn page_limit(requested: Option<i64>) -> i64 {
    requested.unwrap_or(50).clamp(1, 200)
}
