//! CORS for the checkout routes. Browsers may call `/v1/checkout*` only from an origin a seller
//! registered (`allowed_origins`) or from the API's own origin (the hosted page). Preflights and error
//! responses are allowed for any registered origin; a successful checkout call additionally requires the
//! origin to belong to the token's seller (checked in [`crate::auth::Checkout`]).

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use futures_util::future::LocalBoxFuture;

use crate::state::AppState;

/// The `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

/// The lookup behind [`known_origin`] (kept here too for callers that `EXPLAIN` it).
pub use crate::store::sellers::KNOWN_ORIGIN_SQL;

/// Longest origin looked up; a registered origin is a scheme and a host of at most 253 characters.
const MAX_ORIGIN_LEN: usize = 270;

/// Whether any seller registered `origin`, or it is the API's own.
pub async fn known_origin(state: &AppState, origin: &str) -> bool {
    if origin == origin_of(&state.public_base) {
        return true;
    }
    if origin.len() > MAX_ORIGIN_LEN {
        return false;
    }
    // A database error answers "unknown": the browser gets no CORS headers, and the request itself
    // reports the outage.
    matches!(
        crate::store::sellers::origin_registered(&state.db, origin).await,
        Ok(true)
    )
}

pub struct CheckoutCors;

impl<S, B> Transform<S, ServiceRequest> for CheckoutCors
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = CheckoutCorsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CheckoutCorsService {
            service: Rc::new(service),
        }))
    }
}

pub struct CheckoutCorsService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for CheckoutCorsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        Box::pin(async move {
            let origin = req
                .headers()
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let state = req.app_data::<web::Data<AppState>>().cloned();
            let allowed = match (&origin, &state) {
                (Some(origin), Some(state)) => known_origin(state, origin).await,
                _ => false,
            };
            let preflight = req.method() == Method::OPTIONS
                && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
            if preflight {
                let response = if allowed {
                    HttpResponse::NoContent()
                        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                        .insert_header((
                            header::ACCESS_CONTROL_ALLOW_HEADERS,
                            "authorization, content-type, idempotency-key",
                        ))
                        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                        .finish()
                } else {
                    HttpResponse::Forbidden().finish()
                };
                let mut response = req.into_response(response).map_into_right_body();
                decorate(&mut response, origin.as_deref().filter(|_| allowed));
                return Ok(response);
            }
            let mut response = service.call(req).await?.map_into_left_body();
            decorate(&mut response, origin.as_deref().filter(|_| allowed));
            Ok(response)
        })
    }
}

fn decorate<B>(response: &mut ServiceResponse<B>, origin: Option<&str>) {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, idempotent-replayed"),
        );
    }
}
