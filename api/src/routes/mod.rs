//! HTTP routes. `configure` mounts them all; handlers are thin: parse, call the store or flow, render.

pub mod checkout;
pub mod invoices;
pub mod ops;
pub mod pages;
pub mod parties;
pub mod payments;
pub mod sandbox;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/checkout")
            .wrap(crate::cors::CheckoutCors)
            .route("", web::get().to(checkout::view))
            .route("/payments", web::post().to(checkout::pay))
            // Preflights are answered by the middleware; this route only makes them reach it.
            .route(
                "",
                web::method(actix_web::http::Method::OPTIONS).to(actix_web::HttpResponse::NoContent),
            )
            .route(
                "/payments",
                web::method(actix_web::http::Method::OPTIONS).to(actix_web::HttpResponse::NoContent),
            ),
    )
    .service(
        web::scope("/v1")
            .route("/sellers", web::post().to(parties::create_seller))
            .route("/customers", web::post().to(parties::create_customer))
            .route("/customers", web::get().to(parties::list_customers))
            .route("/customers/{id}", web::get().to(parties::get_customer))
            .route("/terms", web::post().to(parties::create_terms))
            .route("/terms/{id}", web::get().to(parties::get_terms))
            .route("/invoices", web::post().to(invoices::create))
            .route("/invoices", web::get().to(invoices::list))
            .route("/invoices/{id}", web::get().to(invoices::get))
            .route("/invoices/{id}/void", web::post().to(invoices::void))
            .route(
                "/invoices/{id}/checkout-links",
                web::post().to(invoices::create_link),
            )
            .route("/checkout-links/{id}", web::delete().to(invoices::revoke_link))
            .route("/payments", web::get().to(payments::list))
            .route("/payments/{id}", web::get().to(payments::get))
            .route(
                "/erp/endpoints",
                web::post().to(crate::erp::routes::create_endpoint),
            )
            .route(
                "/erp/endpoints",
                web::get().to(crate::erp::routes::list_endpoints),
            )
            .route(
                "/erp/endpoints/{id}",
                web::get().to(crate::erp::routes::get_endpoint),
            )
            .route(
                "/erp/endpoints/{id}",
                web::delete().to(crate::erp::routes::delete_endpoint),
            )
            .route(
                "/erp/deliveries",
                web::get().to(crate::erp::routes::list_deliveries),
            )
            .route(
                "/erp/deliveries/{id}/retry",
                web::post().to(crate::erp::routes::retry_delivery),
            )
            .route(
                "/settings/receipts",
                web::put().to(crate::erp::routes::put_receipt_settings),
            ),
    )
    .route("/sandbox/v1/tokens", web::post().to(sandbox::create_token))
    .route("/sandbox/fields", web::get().to(pages::sandbox_fields))
    .route("/widget/v1/{file}", web::get().to(pages::widget_file))
    .route("/pay/{token}", web::get().to(pages::pay_page))
    .route("/healthz", web::get().to(ops::healthz))
    .route("/livez", web::get().to(ops::livez))
    .route("/metrics", web::get().to(ops::metrics))
    .route("/openapi.json", web::get().to(ops::openapi));
}

/// Limits for list endpoints.
pub fn page_limit(requested: Option<i64>) -> i64 {
    requested.unwrap_or(50).clamp(1, 200)
}
