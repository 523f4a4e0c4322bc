//! HTTP routes. `configure` mounts them all; handlers are thin: parse, call the store or flow, render.

pub mod checkout;
pub mod invoices;
pub mod ops;
pub mod pages;
pub mod parties;
pub mod payments;
pub mod sandbox;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{guard, web, FromRequest, Handler, HttpResponse, Resource, Responder, Route};

use crate::erp::routes as erp;
use crate::error::ApiError;

/// One path and the methods it takes. Any other method answers `405` with an `Allow` header built from the
/// routes actually added (so it cannot drift from them) and a problem document: a client learns it used the
/// wrong verb, not a wrong path.
struct Endpoint {
    resource: Resource,
    methods: Vec<&'static str>,
}

impl Endpoint {
    fn new(path: &str) -> Endpoint {
        Endpoint {
            resource: web::resource(path),
            methods: Vec::new(),
        }
    }

    fn with(mut self, methods: &[&'static str], route: Route) -> Endpoint {
        self.resource = self.resource.route(route);
        self.methods.extend_from_slice(methods);
        self
    }

    /// GET, and HEAD with the same handler: link checkers, e-mail scanners and uptime probes use HEAD, and
    /// actix-http sends HEAD answers without their body (headers and Content-Length as for GET).
    fn get<F, Args>(self, handler: F) -> Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
        self.with(&["GET", "HEAD"], route.to(handler))
    }

    fn post<F, Args>(self, handler: F) -> Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&["POST"], web::post().to(handler))
    }

    fn put<F, Args>(self, handler: F) -> Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&["PUT"], web::put().to(handler))
    }

    fn delete<F, Args>(self, handler: F) -> Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&["DELETE"], web::delete().to(handler))
    }

    /// CORS preflights are answered by the middleware; this route only makes them reach it.
    fn preflight(self) -> Endpoint {
        self.with(
            &["OPTIONS"],
            web::method(Method::OPTIONS).to(HttpResponse::NoContent),
        )
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        // In RFC 9110's order of the methods, whatever order the routes were added in.
        const ORDER: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"];
        let mut methods = self.methods;
        methods.sort_by_key(|m| ORDER.iter().position(|o| o == m));
        let allow = methods.join(", ");
        self.resource
            .default_service(web::to(move || {
                let allow = allow.clone();
                async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
            }))
            .register(config);
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/checkout")
            .wrap(crate::cors::CheckoutCors)
            .service(Endpoint::new("").get(checkout::view).preflight())
            .service(Endpoint::new("/payments").post(checkout::pay).preflight()),
    )
    .service(
        web::scope("/v1")
            .service(Endpoint::new("/sellers").post(parties::create_seller))
            .service(
                Endpoint::new("/customers")
                    .post(parties::create_customer)
                    .get(parties::list_customers),
            )
            .service(Endpoint::new("/customers/{id}").get(parties::get_customer))
            .service(Endpoint::new("/terms").post(parties::create_terms))
            .service(Endpoint::new("/terms/{id}").get(parties::get_terms))
            .service(
                Endpoint::new("/invoices")
                    .post(invoices::create)
                    .get(invoices::list),
            )
            .service(Endpoint::new("/invoices/{id}").get(invoices::get))
            .service(Endpoint::new("/invoices/{id}/void").post(invoices::void))
            .service(Endpoint::new("/invoices/{id}/checkout-links").post(invoices::create_link))
            .service(Endpoint::new("/checkout-links/{id}").delete(invoices::revoke_link))
            .service(Endpoint::new("/payments").get(payments::list))
            .service(Endpoint::new("/payments/{id}").get(payments::get))
            .service(
                Endpoint::new("/erp/endpoints")
                    .post(erp::create_endpoint)
                    .get(erp::list_endpoints),
            )
            .service(
                Endpoint::new("/erp/endpoints/{id}")
                    .get(erp::get_endpoint)
                    .delete(erp::delete_endpoint),
            )
            .service(Endpoint::new("/erp/deliveries").get(erp::list_deliveries))
            .service(Endpoint::new("/erp/deliveries/{id}/retry").post(erp::retry_delivery))
            .service(Endpoint::new("/settings/receipts").put(erp::put_receipt_settings)),
    )
    .service(Endpoint::new("/sandbox/v1/tokens").post(sandbox::create_token))
    .service(Endpoint::new("/sandbox/fields").get(pages::sandbox_fields))
    .service(Endpoint::new("/widget/v1/{file}").get(pages::widget_file))
    .service(Endpoint::new("/pay/{token}").get(pages::pay_page))
    .service(Endpoint::new("/healthz").get(ops::healthz))
    .service(Endpoint::new("/livez").get(ops::livez))
    .service(Endpoint::new("/readyz").get(ops::readyz))
    .service(Endpoint::new("/openapi.json").get(ops::openapi));
}

/// Limits for list endpoints.
pub fn page_limit(requested: Option<i64>) -> i64 {
    requested.unwrap_or(50).clamp(1, 200)
}
