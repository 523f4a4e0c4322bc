//! Request ids: every request gets one (or keeps a sane `x-request-id` from the caller); it is echoed in
//! the response header, carried by the request's log span, and put into problem bodies.

use std::future::{ready, Ready};
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use futures_util::future::LocalBoxFuture;

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
        let method = req.method().to_string();
        let path = crate::masking::mask_path(req.path());
        let service = self.service.clone();
        let started = Instant::now();
        Box::pin(REQUEST_ID.scope(id.clone(), async move {
            let result = service.call(req).await;
            let elapsed_ms = started.elapsed().as_millis();
            match result {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    tracing::info!(request_id = %id, %method, %path, status, elapsed_ms, "request");
                    if let Ok(value) = HeaderValue::from_str(&id) {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static(HEADER), value);
                    }
                    Ok(response)
                }
                Err(error) => {
                    tracing::warn!(request_id = %id, %method, %path, elapsed_ms, %error, "request failed");
                    Err(error)
                }
            }
        }))
    }
}
