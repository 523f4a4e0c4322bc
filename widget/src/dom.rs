//! Small browser helpers: DOM events for the seller's page and random idempotency keys.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CustomEvent, CustomEventInit, HtmlElement};

use crate::js_json;
use crate::wire::Fields;

/// Dispatches `name` on the host element; bubbles and crosses the shadow boundary (composed), so the
/// seller can listen on the element or on `document`.
pub fn emit(host: &HtmlElement, name: &str, detail: &Fields) {
    let init = CustomEventInit::new();
    init.set_bubbles(true);
    init.set_composed(true);
    init.set_detail(&js_json::object(detail));
    if let Ok(event) = CustomEvent::new_with_event_init_dict(name, &init) {
        let _ = host.dispatch_event(&event);
    }
}

/// Calls the loader's method `name` on the host element with `arg` (the Stripe.js glue and the theme live
/// there, in plain JS: see `loader/tranche.js`).
pub fn host_call(host: &HtmlElement, name: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    let method: js_sys::Function = js_sys::Reflect::get(host, &name.into())?.unchecked_into();
    method.call1(host, arg)
}

/// [`host_call`] of an `async` method, awaited.
pub async fn host_await(host: &HtmlElement, name: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    let promise: js_sys::Promise = host_call(host, name, arg)?.unchecked_into();
    wasm_bindgen_futures::JsFuture::from(promise).await
}

/// A fresh Idempotency-Key: 128 random bits from the browser's CSPRNG, as 32 hex digits. Uses
/// `getRandomValues`, which (unlike `randomUUID`) also works on pages not served over HTTPS.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // No CSPRNG (very old browser): time and Math.random still make collisions implausible per buyer.
        let seed = js_sys::Date::now().to_bits() ^ js_sys::Math::random().to_bits();
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `performance.mark` (shows in the browser's performance tools and RUM; `cargo xtask bench` reads them).
pub fn mark(name: &str) {
    if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
        let _ = perf.mark(name);
    }
}
