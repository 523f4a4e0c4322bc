//! `tranche-widget`: the `<tranche-checkout>` element. The view model ([`model`]) and strings ([`i18n`])
//! are plain Rust, tested natively; the Leptos views and the browser glue exist only on wasm32.
//!
//! The loader (`loader/tranche.js`) defines the custom element, creates an open shadow root and calls
//! [`mount`] with it; the returned handle's `unmount()` tears the view down when the element is removed.

pub mod account;
pub mod i18n;
pub mod model;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod account_view;
#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod dispute;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod js_json;

#[cfg(target_arch = "wasm32")]
pub use app::{mount, Mounted};
