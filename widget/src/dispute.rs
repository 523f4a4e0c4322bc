//! The dispute form (DESIGN 12), in both modes: pick a line of the invoice, a reason (the six of the API),
//! optionally an amount (default: the line's undisputed rest) and a note; `POST /v1/checkout/disputes` with
//! the invoice's id (required with an account token, checked against the invoice with a checkout token). After
//! it the view reloads, so the disputed amount shows and the amount rules run on the undisputed rest.

use leptos::prelude::*;
use leptos::task::spawn_local;
use tranche_domain::DisputeReason;
use wasm_bindgen::JsValue;

use crate::api::{self, ApiError};
use crate::app::Config;
use crate::dom;
use crate::i18n::{Key, Locale};
use crate::model::Checkout;
use crate::wire::FromJson;

/// Any success body: after a dispute the view reloads, which shows what it changed.
struct Created;

impl FromJson for Created {
    fn from_json<J: crate::wire::Json>(_: &J) -> Option<Self> {
        Some(Created)
    }
}

pub(crate) fn json_body(object: &JsValue) -> Result<JsValue, ApiError> {
    Ok(js_sys::JSON::stringify(object)
        .map_err(|_| ApiError::Network)?
        .into())
}

pub(crate) fn set(object: &js_sys::Object, key: &str, value: JsValue) {
    let _ = js_sys::Reflect::set(object, &key.into(), &value);
}

/// What a refusal says to the buyer: the API's own detail (already specific), or the generic sentence.
pub(crate) fn problem_text(l: Locale, e: &ApiError) -> String {
    match e {
        ApiError::Problem(p) if !p.detail.is_empty() => p.detail.clone(),
        ApiError::Network => l.t(Key::NetworkError).to_owned(),
        _ => l.t(Key::ServerError).to_owned(),
    }
}

/// The one-invoice checkout's hook: the amount disputed (when any) and a "Dispute" button opening the form.
#[component]
pub(crate) fn CheckoutDispute(
    config: StoredValue<Config, LocalStorage>,
    checkout: RwSignal<Option<Checkout>, LocalStorage>,
    done: Callback<()>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    move || {
        let c = checkout.get()?;
        let l = c.locale;
        let inv = &c.view.invoice;
        let disputed = inv
            .amount_disputed
            .as_deref()
            .filter(|a| !a.trim_start_matches(['0', '.']).is_empty())
            .map(|a| view! { <p class="muted" data-testid="disputed">{format!("{}: {}", l.t(Key::Disputed), c.money(a))}</p> });
        let (id, lines) = (
            inv.id.clone(),
            inv.lines
                .iter()
                .map(|x| x.description.clone())
                .collect::<Vec<_>>(),
        );
        Some(view! {
            <section class="dispute" part="dispute">
                {disputed}
                <button type="button" class="secondary" data-testid="dispute"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)>{l.t(Key::Dispute)}</button>
                {move || open.get().then(|| view! {
                    <DisputeForm config=config locale=l invoice_id=id.clone() lines=lines.clone()
                        done=Callback::new(move |()| { open.set(false); done.run(()); })/>
                })}
            </section>
        })
    }
}

#[component]
pub(crate) fn DisputeForm(
    config: StoredValue<Config, LocalStorage>,
    locale: Locale,
    invoice_id: String,
    lines: Vec<String>,
    // A callback, not a generic closure: the form is compiled once for both modes.
    done: Callback<()>,
) -> impl IntoView {
    let l = locale;
    let line = RwSignal::new(0usize);
    let reason = RwSignal::new(DisputeReason::Other);
    let amount = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let invoice_id = StoredValue::new(invoice_id);
    let send = move |_| {
        let (api, token) = config.with_value(|c| (c.api.clone(), c.token.clone()));
        let body = js_sys::Object::new();
        set(&body, "invoice_id", invoice_id.get_value().into());
        // A line index, never an amount: `u32` (the API takes 0..lines).
        set(
            &body,
            "line",
            JsValue::from(u32::try_from(line.get_untracked()).unwrap_or(u32::MAX)),
        );
        set(&body, "reason", reason.get_untracked().as_str().into());
        let text = amount.get_untracked();
        if !text.trim().is_empty() {
            set(&body, "amount", text.trim().into());
        }
        let text = note.get_untracked();
        if !text.trim().is_empty() {
            set(&body, "note", text.into());
        }
        spawn_local(async move {
            let result: Result<Created, ApiError> = async {
                let json = json_body(&body)?;
                api::send(api::request(
                    "POST",
                    &format!("{api}/v1/checkout/disputes"),
                    &token,
                    Some((&dom::new_key(), json)),
                )?)
                .await
            }
            .await;
            match result {
                Ok(_) => done.run(()),
                Err(e) => error.set(Some(problem_text(l, &e))),
            }
        });
    };
    let reasons = DisputeReason::ALL
        .map(|r| {
            let key = match r {
                DisputeReason::Pricing => Key::ReasonPricing,
                DisputeReason::Quantity => Key::ReasonQuantity,
                DisputeReason::Damaged => Key::ReasonDamaged,
                DisputeReason::NotReceived => Key::ReasonNotReceived,
                DisputeReason::Duplicate => Key::ReasonDuplicate,
                DisputeReason::Other => Key::ReasonOther,
            };
            view! { <option value=r.as_str() selected=r == DisputeReason::Other>{l.t(key)}</option> }
        })
        .into_iter()
        .collect_view();
    let options = lines
        .into_iter()
        .enumerate()
        .map(|(i, d)| view! { <option value=i.to_string()>{d}</option> })
        .collect_view();
    view! {
        <fieldset class="dispute" part="dispute" data-testid="dispute-form">
            <legend>{l.t(Key::Dispute)}</legend>
            <label class="field">{l.t(Key::Description)}
                <select data-testid="dispute-line" on:change=move |ev| line.set(event_target_value(&ev).parse().unwrap_or(0))>{options}</select>
            </label>
            <label class="field">{l.t(Key::Reason)}
                <select data-testid="dispute-reason"
                    on:change=move |ev| if let Some(r) = DisputeReason::parse(&event_target_value(&ev)) { reason.set(r) }>{reasons}</select>
            </label>
            <label class="field">{l.t(Key::Amount)}
                <input type="text" inputmode="decimal" autocomplete="off" data-testid="dispute-amount"
                    on:input=move |ev| amount.set(event_target_value(&ev))/>
            </label>
            <label class="field">{l.t(Key::Note)}
                <textarea data-testid="dispute-note" maxlength="1000" on:input=move |ev| note.set(event_target_value(&ev))></textarea>
            </label>
            <p class="message" aria-live="assertive">{move || error.get().map(|e| view! { <span class="error" role="alert" data-testid="dispute-error">{e}</span> })}</p>
            <button type="button" class="primary" data-testid="dispute-send" on:click=send>{l.t(Key::SendDispute)}</button>
        </fieldset>
    }
}
