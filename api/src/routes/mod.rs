//! HTTP routes. `configure` mounts them all; handlers are thin: parse, call the store or flow, render.

pub mod checkout;
pub mod invoices;
pub mod ops;
pub mod pages;
pub mod parties;
pub mod payments;
pub mod sandbox;

use actix_web::http::Method;
use actix_web::{guard, web, HttpResponse, Resource};

use crate::erp::routes as erp;
use crate::error::ApiError;

/// A path's resource: its routes are added by the caller; any other method answers `405` with
/// `Allow: {allow}` (a problem document), so a client learns it used the wrong verb, not a wrong path.
fn endpoint(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

/// GET, and HEAD with the same handler: link checkers, e-mail scanners and uptime probes use HEAD, and
/// actix-http sends HEAD answers without their body (headers and Content-Length as for GET).
fn read() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
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
                endpoint("", "GET, HEAD, OPTIONS")
                    .route(read().to(checkout::view))
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
                endpoint("/customers", "GET, HEAD, POST")
                    .post(parties::create_customer)
                    .route(read().to(parties::list_customers)),
            )
            .service(endpoint("/customers/{id}", "GET, HEAD").route(read().to(parties::get_customer)))
            .service(endpoint("/terms", "POST").post(parties::create_terms))
            .service(endpoint("/terms/{id}", "GET, HEAD").route(read().to(parties::get_terms)))
            .service(
                endpoint("/invoices", "GET, HEAD, POST")
                    .post(invoices::create)
                    .route(read().to(invoices::list)),
            )
            .service(endpoint("/invoices/{id}", "GET, HEAD").route(read().to(invoices::get)))
            .service(endpoint("/invoices/{id}/void", "POST").post(invoices::void))
            .service(endpoint("/invoices/{id}/checkout-links", "POST").post(invoices::create_link))
            .service(endpoint("/checkout-links/{id}", "DELETE").delete(invoices::revoke_link))
            .service(endpoint("/payments", "GET, HEAD").route(read().to(payments::list)))
            .service(endpoint("/payments/{id}", "GET, HEAD").route(read().to(payments::get)))
            .service(
                endpoint("/erp/endpoints", "GET, HEAD, POST")
                    .post(erp::create_endpoint)
                    .route(read().to(erp::list_endpoints)),
            )
            .service(
                endpoint("/erp/endpoints/{id}", "DELETE, GET, HEAD")
                    .route(read().to(erp::get_endpoint))
                    .delete(erp::delete_endpoint),
            )
            .service(endpoint("/erp/deliveries", "GET, HEAD").route(read().to(erp::list_deliveries)))
            .service(endpoint("/erp/deliveries/{id}/retry", "POST").post(erp::retry_delivery))
            .service(endpoint("/settings/receipts", "PUT").put(erp::put_receipt_settings)),
    )
    .service(endpoint("/sandbox/v1/tokens", "POST").post(sandbox::create_token))
    .service(endpoint("/sandbox/fields", "GET, HEAD").route(read().to(pages::sandbox_fields)))
    .service(endpoint("/widget/v1/{file}", "GET, HEAD").route(read().to(pages::widget_file)))
    .service(endpoint("/pay/{token}", "GET, HEAD").route(read().to(pages::pay_page)))
    .service(endpoint("/healthz", "GET, HEAD").route(read().to(ops::healthz)))
    .service(endpoint("/livez", "GET, HEAD").route(read().to(ops::livez)))
    .service(endpoint("/metrics", "GET, HEAD").route(read().to(ops::metrics)))
    .service(endpoint("/openapi.json", "GET, HEAD").route(read().to(ops::openapi)));
}

/// Limits for list endpoints.
pub fn page_limit(requested: Option<i64>) -> i64 {
    requested.unwrap_or(50).clamp(1, 200)
}
