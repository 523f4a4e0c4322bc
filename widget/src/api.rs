//! The two API calls the widget makes, over the browser's `fetch`. A network failure, a success the widget
//! cannot read and an API problem are different errors: the first two may have charged the buyer, so they
//! are only ever retried with the same Idempotency-Key; the third is explained.

use tranche_domain::wire::{CheckoutView, PaymentRequest, PaymentResponse, Problem};
use wasm_bindgen::{JsCast, JsValue};

use crate::js_json;
use crate::wire::{self, FromJson};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, RequestMode, Response};

#[derive(Debug, Clone)]
pub enum ApiError {
    /// No answer (offline, DNS, CORS refusal, aborted).
    Network,
    /// A success (2xx) whose body is not the expected shape (a proxy's HTML, a newer API): the request
    /// did whatever it does, so this is never a failure.
    Unreadable,
    /// An answer that was not a success; a non-JSON body becomes a synthetic problem with its status.
    Problem(Box<Problem>),
}

pub(crate) async fn send<T: FromJson>(request: Request) -> Result<T, ApiError> {
    let window = web_sys::window().ok_or(ApiError::Network)?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| ApiError::Network)?
        .dyn_into()
        .map_err(|_| ApiError::Network)?;
    let status = response.status();
    // The browser parses the JSON; `wire` maps the resulting object onto our types.
    let body = match response.json() {
        Ok(promise) => JsFuture::from(promise).await.ok(),
        Err(_) => None,
    };
    if (200..300).contains(&status) {
        return body.and_then(|b| T::from_json(&b)).ok_or(ApiError::Unreadable);
    }
    let problem = body
        .and_then(|b| Problem::from_json(&b))
        .unwrap_or_else(|| Problem::untyped(status, "http_error", "HTTP error", format!("HTTP {status}")));
    Err(ApiError::Problem(Box::new(problem)))
}

pub(crate) fn request(
    method: &str,
    url: &str,
    token: &str,
    body: Option<(&str, JsValue)>,
) -> Result<Request, ApiError> {
    let headers = Headers::new().map_err(|_| ApiError::Network)?;
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|_| ApiError::Network);
    set("Authorization", &format!("Bearer {token}"))?;
    set("Accept", "application/json")?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_mode(RequestMode::Cors);
    if let Some((key, json)) = body {
        set("Content-Type", "application/json")?;
        set("Idempotency-Key", key)?;
        init.set_body(&json);
    }
    init.set_headers(&headers);
    Request::new_with_str_and_init(url, &init).map_err(|_| ApiError::Network)
}

pub async fn checkout(api: &str, token: &str) -> Result<CheckoutView, ApiError> {
    send(request("GET", &format!("{api}/v1/checkout"), token, None)?).await
}

/// `POST /v1/checkout/payments/{id}/confirm`: after Stripe.js ran the card issuer's check (3-D Secure).
pub async fn confirm(api: &str, token: &str, payment_id: &str) -> Result<PaymentResponse, ApiError> {
    let url = format!("{api}/v1/checkout/payments/{payment_id}/confirm");
    send(request("POST", &url, token, None)?).await
}

pub async fn pay(
    api: &str,
    token: &str,
    key: &str,
    body: &PaymentRequest,
) -> Result<PaymentResponse, ApiError> {
    let object = js_json::object(&wire::payment_request(body));
    let json: JsValue = js_sys::JSON::stringify(&object)
        .map_err(|_| ApiError::Network)?
        .into();
    send(request(
        "POST",
        &format!("{api}/v1/checkout/payments"),
        token,
        Some((key, json)),
    )?)
    .await
}
