//! HTTP routes. `configure` mounts them all; handlers are thin: parse, call the store or flow, render.

pub mod account;
pub mod alerts;
pub mod audit;
pub mod checkout;
pub mod disputes;
pub mod edits;
pub mod exceptions;
pub mod invoices;
pub mod offline;
pub mod ops;
pub mod page;
pub mod pages;
pub mod parties;
pub mod payments;
pub mod refunds;
pub mod reminder_settings;
pub mod sandbox;
pub mod seller;
pub mod sending;
pub mod stripe_webhook;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{guard, web, FromRequest, Handler, HttpResponse, Resource, Responder, Route};

use crate::erp::routes as erp;
use crate::error::ApiError;

/// One path and the methods it takes. Any other method answers `405` with an `Allow` header built from the
/// routes actually added (so it cannot drift from them) and a problem document: a client learns it used the
/// wrong verb, not a wrong path.
struct Endpoint {
    path: &'static str,
    resource: Resource,
    methods: Vec<&'static str>,
    /// Pages and files (HTML, JS, wasm) rather than JSON API operations: not in the OpenAPI document.
    documented: bool,
}

impl Endpoint {
    fn new(path: &'static str) -> Endpoint {
        Endpoint {
            path,
            resource: web::resource(path),
            methods: Vec::new(),
            documented: true,
        }
    }

    /// A page or file, served but not an API operation (see [`route_table`]).
    fn page(mut self) -> Endpoint {
        self.documented = false;
        self
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

    fn patch<F, Args>(self, handler: F) -> Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(&["PATCH"], web::patch().to(handler))
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
        const ORDER: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
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

/// The checkout routes (CORS for sellers' origins), the seller API under `/v1`, and the rest at the root: every
/// path the server serves, in one list that both [`configure`] and [`route_table`] read.
fn endpoints() -> [(&'static str, Vec<Endpoint>); 4] {
    [
        (
            "/v1/checkout",
            vec![
                Endpoint::new("").get(checkout::view).preflight(),
                Endpoint::new("/payments").post(checkout::pay).preflight(),
                Endpoint::new("/payments/{id}/confirm")
                    .post(checkout::confirm)
                    .preflight(),
                Endpoint::new("/disputes").post(disputes::create).preflight(),
            ],
        ),
        (
            "/v1/account",
            vec![
                Endpoint::new("").get(account::view).preflight(),
                Endpoint::new("/payments").post(account::pay).preflight(),
            ],
        ),
        (
            "/v1",
            vec![
                Endpoint::new("/sellers").post(parties::create_seller),
                Endpoint::new("/gateways/stripe/webhook").post(stripe_webhook::receive),
                Endpoint::new("/seller").get(seller::get).patch(seller::update),
                Endpoint::new("/seller/keys/roll").post(seller::roll_key),
                Endpoint::new("/customers")
                    .post(parties::create_customer)
                    .get(parties::list_customers),
                Endpoint::new("/customers/{id}")
                    .get(parties::get_customer)
                    .patch(edits::update_customer),
                Endpoint::new("/customers/{id}/account-links").post(account::create_link),
                Endpoint::new("/account-links/{id}").delete(account::revoke_link),
                Endpoint::new("/terms")
                    .post(parties::create_terms)
                    .get(edits::list_terms),
                Endpoint::new("/terms/{id}")
                    .get(parties::get_terms)
                    .patch(edits::update_terms),
                Endpoint::new("/terms/{id}/archive").post(edits::archive_terms),
                Endpoint::new("/invoices")
                    .post(invoices::create)
                    .get(invoices::list),
                Endpoint::new("/invoices/{id}")
                    .get(invoices::get)
                    .patch(edits::update_invoice),
                Endpoint::new("/invoices/{id}/void").post(invoices::void),
                Endpoint::new("/invoices/{id}/send").post(sending::send),
                Endpoint::new("/invoices/{id}/checkout-links").post(invoices::create_link),
                Endpoint::new("/invoices/{id}/credit-notes")
                    .post(offline::create_credit_note)
                    .get(offline::list_credit_notes),
                Endpoint::new("/invoices/{id}/payments").post(offline::create_offline_payment),
                Endpoint::new("/checkout-links/{id}").delete(invoices::revoke_link),
                Endpoint::new("/payments").get(payments::list),
                Endpoint::new("/payments/{id}").get(payments::get),
                Endpoint::new("/payments/{id}/refunds").post(refunds::create),
                Endpoint::new("/refunds").get(refunds::list),
                Endpoint::new("/refunds/{id}").get(refunds::get),
                Endpoint::new("/erp/endpoints")
                    .post(erp::create_endpoint)
                    .get(erp::list_endpoints),
                Endpoint::new("/erp/endpoints/{id}")
                    .get(erp::get_endpoint)
                    .delete(erp::delete_endpoint),
                Endpoint::new("/erp/deliveries").get(erp::list_deliveries),
                Endpoint::new("/erp/deliveries/{id}/retry").post(erp::retry_delivery),
                Endpoint::new("/settings/receipts").put(erp::put_receipt_settings),
                Endpoint::new("/settings/invoice-email").put(sending::put_invoice_email_settings),
                Endpoint::new("/settings/reminder-email").put(reminder_settings::put),
                Endpoint::new("/alerts").get(alerts::list),
                Endpoint::new("/disputes").get(disputes::list),
                Endpoint::new("/disputes/{id}").get(disputes::get),
                Endpoint::new("/disputes/{id}/resolve").post(disputes::resolve),
                Endpoint::new("/exceptions").get(exceptions::list),
                Endpoint::new("/exceptions/{id}").get(exceptions::get),
                Endpoint::new("/exceptions/{id}/resolve").post(exceptions::resolve),
                Endpoint::new("/audit-log").get(audit::list),
            ],
        ),
        (
            "",
            vec![
                Endpoint::new("/sandbox/v1/tokens").post(sandbox::create_token),
                Endpoint::new("/sandbox/fields").get(pages::sandbox_fields).page(),
                Endpoint::new("/widget/v1/{file}").get(pages::widget_file).page(),
                // After /widget/v1/: the moving URL keeps its short cache.
                Endpoint::new("/widget/{version}/{file}")
                    .get(pages::widget_versioned_file)
                    .page(),
                Endpoint::new("/pay/{token}").get(pages::pay_page).page(),
                Endpoint::new("/account/{token}")
                    .get(account::account_page)
                    .page(),
                Endpoint::new("/healthz").get(ops::healthz),
                Endpoint::new("/livez").get(ops::livez),
                Endpoint::new("/readyz").get(ops::readyz),
                Endpoint::new("/openapi.json").get(ops::openapi).page(),
            ],
        ),
    ]
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The API reference page (Swagger UI, its files built into the binary): it reads `/openapi.json`, so
    // the page can never describe another document than the one served.
    cfg.service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::new(["/openapi.json"]).try_it_out_enabled(false)),
    );
    for (prefix, group) in endpoints() {
        match prefix {
            "" => {
                for endpoint in group {
                    cfg.service(endpoint);
                }
            }
            // Browsers call the buyer routes from sellers' sites: CORS for registered origins.
            "/v1/checkout" | "/v1/account" => {
                let scope = group.into_iter().fold(
                    web::scope(prefix).wrap(crate::cors::CheckoutCors),
                    |scope, endpoint| scope.service(endpoint),
                );
                cfg.service(scope);
            }
            _ => {
                let scope = group
                    .into_iter()
                    .fold(web::scope(prefix), |scope, endpoint| scope.service(endpoint));
                cfg.service(scope);
            }
        }
    }
}

/// One served path: its full path, the methods it answers (OPTIONS for CORS preflights included), and
/// whether it is an API operation the OpenAPI document must describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRoute {
    pub path: String,
    pub methods: Vec<&'static str>,
    pub documented: bool,
}

/// Every route [`configure`] registers, from the same list: tests hold the OpenAPI document against it.
pub fn route_table() -> Vec<ServedRoute> {
    endpoints()
        .into_iter()
        .flat_map(|(prefix, group)| {
            group.into_iter().map(move |e| ServedRoute {
                path: format!("{prefix}{}", e.path),
                methods: e.methods,
                documented: e.documented,
            })
        })
        .collect()
}
