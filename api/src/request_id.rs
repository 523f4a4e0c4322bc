//! Request ids: every request gets one (or keeps a sane `x-request-id` from the caller); it is echoed in
//! the response header, carried by the request's log span, and put into problem bodies.

use std::future::{ready, Ready};
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use futures_util::future::LocalBoxFuture;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

pub struct RequestIdMiddleware;

impl<S, B> Transform<S, ServiceRequest> for RequestIdMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestIdService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestIdService {
            service: std::rc::Rc::new(service),
        }))
    }
}

pub struct RequestIdService<S> {
    service: std::rc::Rc<S>,
}

const HEADER: &str = "x-request-id";

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<S, B> Service<ServiceRequest> for RequestIdService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let id = req
            .headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable(v))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
        let traceparent = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::logging::TraceParent::parse);
        // Every line logged while handling the request carries these (see `logging.rs`).
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            path = %crate::masking::mask_path(req.path()),
            trace_id = tracing::field::Empty,
            parent_id = tracing::field::Empty,
        );
        if let Some(parent) = &traceparent {
            span.record("trace_id", parent.trace_id.as_str());
            span.record("parent_id", parent.parent_id.as_str());
        }
        let service = self.service.clone();
        let started = Instant::now();
        let metrics = req
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .map(|state| state.metrics.clone());
        let method = req.method().clone();
        let scoped = id.clone();
        let handled = async move {
            let result = service.call(req).await;
            let elapsed = started.elapsed();
            let elapsed_ms = elapsed.as_millis();
            match result {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    // The route's pattern (`/v1/invoices/{id}`), never the path: ids and tokens would
                    // make one series per object.
                    let route = response.request().match_pattern();
                    if let Some(metrics) = &metrics {
                        metrics.observe_request(method.as_str(), route.as_deref(), status, elapsed);
                    }
                    tracing::info!(
                        status,
                        elapsed_ms,
                        route = route.as_deref().unwrap_or("-"),
                        "request"
                    );
                    if let Ok(value) = HeaderValue::from_str(&id) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static(HEADER), value);
                    }
                    Ok(response)
                }
                Err(error) => {
                    tracing::warn!(elapsed_ms, %error, "request failed");
                    Err(error)
                }
            }
        };
        Box::pin(REQUEST_ID.scope(scoped, handled.instrument(span)))
    }
}
