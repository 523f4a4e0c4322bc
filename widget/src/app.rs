//! The Leptos views of `<tranche-checkout>` and [`mount`], which the loader calls per element.
//!
//! Screens: loading -> invoice summary with amount chooser -> payment method (gateway iframe) -> paying ->
//! result (or a specific failure). Paid and void invoices stay read-only. Every amount decision comes from
//! [`crate::model::Checkout`], i.e. from `tranche-domain`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use tranche_domain::wire::PaymentRequest;
use tranche_domain::ErrorCode;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, MessageEvent, ShadowRoot};

use crate::api::{self, ApiError};
use crate::dom;
use crate::i18n::{Key, Locale};
use crate::model::{Checkout, Choice, FailedDetail, Failure, Next, Outcome, ReadOnly, SucceededDetail};
use crate::wire::{FieldsMessage, FromJson};

/// A mounted widget; `unmount()` removes its view and listeners.
#[wasm_bindgen]
pub struct Mounted {
    handle: Option<Box<dyn std::any::Any>>,
}

#[wasm_bindgen]
impl Mounted {
    pub fn unmount(&mut self) {
        self.handle.take();
    }
}

/// Mounts the checkout for `token` into `shadow`, dispatching events on `host`. `strings` is the locale's
/// strings file as the loader fetched and checked it (an object of key -> text), or `undefined` (English,
/// or a language without a file: English strings, the locale's `Intl` formatting).
#[wasm_bindgen]
pub fn mount(
    host: HtmlElement,
    shadow: ShadowRoot,
    token: String,
    api: String,
    locale: String,
    strings: JsValue,
) -> Result<Mounted, JsValue> {
    let locale = Locale::parse(&locale);
    if strings.is_object() {
        let table = js_sys::Object::entries(strings.unchecked_ref())
            .iter()
            .filter_map(|entry| {
                let pair: js_sys::Array = entry.dyn_into().ok()?;
                Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
            })
            .collect();
        crate::i18n::strings::install(locale, table);
    }
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let root: HtmlElement = document.create_element("div")?.unchecked_into();
    root.set_attribute("part", "root")?;
    root.set_class_name("tranche");
    shadow.append_child(&root)?;
    let config = Config {
        host,
        token,
        api: api.trim_end_matches('/').to_owned(),
        locale,
    };
    // An account token (DESIGN 12) mounts account mode instead of the one-invoice checkout. Two mounts, not
    // one view erased to `AnyView`: erasing the whole tree kept its (unused) HTML rendering in the wasm.
    let handle: Box<dyn std::any::Any> = if crate::account::is_account_token(&config.token) {
        Box::new(leptos::mount::mount_to(root.clone(), move || {
            view! { <crate::account_view::AccountApp config=config/> }
        }))
    } else {
        Box::new(leptos::mount::mount_to(
            root.clone(),
            move || view! { <App config=config/> },
        ))
    };
    Ok(Mounted {
        handle: Some(Box::new(Unmount {
            _handle: handle,
            root,
        })),
    })
}

/// Drops the Leptos handle (which unmounts and disposes the reactive owner) and removes the root node.
struct Unmount<H> {
    _handle: H,
    root: HtmlElement,
}

impl<H> Drop for Unmount<H> {
    fn drop(&mut self) {
        self.root.remove();
    }
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) host: HtmlElement,
    pub(crate) token: String,
    pub(crate) api: String,
    pub(crate) locale: Locale,
}

/// Where the buyer is in the flow.
#[derive(Clone, PartialEq)]
enum Step {
    Choose,
    Method,
    Paying,
    Done(Outcome),
    Failed(Failure),
}

/// One attempt at paying: its key is reused for retries of the same body.
#[derive(Clone)]
struct Attempt {
    key: String,
    amount: String,
    payment_token: Option<String>,
}

/// `tranche:error`'s `code` for a checkout that could not be loaded, and what the buyer reads. Three of
/// the event's codes are the API's own; `network` and `server_error` are the widget's (docs/widget.md).
pub(crate) fn load_failure(error: &ApiError) -> (&'static str, Key) {
    match error {
        ApiError::Network => ("network", Key::NetworkError),
        ApiError::Unreadable => ("server_error", Key::ServerError),
        ApiError::Problem(p) => match p.error_code() {
            Some(code @ ErrorCode::OriginNotAllowed) => (code.as_str(), Key::OriginBlocked),
            Some(code @ ErrorCode::RateLimited) => (code.as_str(), Key::ServerError),
            code if p.status == 401 || p.status == 404 || code == Some(ErrorCode::InvalidCheckoutToken) => {
                (ErrorCode::InvalidCheckoutToken.as_str(), Key::LinkInvalid)
            }
            _ => ("server_error", Key::ServerError),
        },
    }
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(String),
    Ready,
}

#[component]
fn App(config: Config) -> impl IntoView {
    let l = config.locale;
    let load = RwSignal::new(Load::Loading);
    let checkout: RwSignal<Option<Checkout>, LocalStorage> = RwSignal::new_local(None);
    let choice = RwSignal::new(Choice::Full);
    let input = RwSignal::new(String::new());
    let step = RwSignal::new(Step::Choose);
    let notice: RwSignal<Option<String>> = RwSignal::new(None);
    let attempt: RwSignal<Option<Attempt>, LocalStorage> = RwSignal::new_local(None);
    let config = StoredValue::new_local(config);

    let reload = move |first: bool| {
        let (api, token) = config.with_value(|c| (c.api.clone(), c.token.clone()));
        spawn_local(async move {
            match api::checkout(&api, &token).await {
                Ok(view) => {
                    let c = Checkout::new(view, l);
                    let ready = c.ready_detail();
                    checkout.set(Some(c));
                    load.set(Load::Ready);
                    if first {
                        dom::mark("tranche:ready");
                        config.with_value(|c| dom::emit(&c.host, "tranche:ready", &ready.to_fields()));
                    }
                }
                Err(e) => {
                    let (code, key) = load_failure(&e);
                    let message = l.t(key);
                    config.with_value(|c| {
                        dom::emit(
                            &c.host,
                            "tranche:error",
                            &vec![("code", code.into()), ("message", message.into())],
                        )
                    });
                    load.set(Load::Failed(message.to_owned()));
                }
            }
        });
    };
    reload(true);

    let eval = Memo::new(move |_| {
        checkout.with(|c| {
            c.as_ref()
                .map(|c| choice.with(|ch| input.with(|i| c.evaluate(ch, i))))
                .unwrap_or_default()
        })
    });
    // Tell the seller's page whenever the chosen amount changes.
    Effect::new(move |_| {
        let e = eval.get();
        checkout.with_untracked(|c| {
            if let Some(c) = c {
                config.with_value(|cfg| {
                    dom::emit(
                        &cfg.host,
                        "tranche:amount-change",
                        &c.amount_change_detail(&e).to_fields(),
                    )
                });
            }
        });
    });

    // Sends the payment for the current attempt (a retry reuses its key and body).
    let submit = move || {
        let Some(a) = attempt.get_untracked() else { return };
        step.set(Step::Paying);
        let (api, token, host) = config.with_value(|c| (c.api.clone(), c.token.clone(), c.host.clone()));
        spawn_local(async move {
            // Stripe: the PaymentMethod is made now by Stripe.js from its Payment Element (the loader's
            // `_trancheStripePay`, which gives a retry with the same key the same one).
            let payment_token = match a.payment_token.clone() {
                Some(t) => t,
                None => match dom::host_await(&host, "_trancheStripePay", &a.key.as_str().into()).await {
                    Ok(pm) => pm.as_string().unwrap_or_default(),
                    // Refused (an incomplete card): the Payment Element shows why, beside the fields.
                    Err(_) => return step.set(Step::Method),
                },
            };
            let body = PaymentRequest {
                amount: a.amount.clone(),
                payment_token,
                currency: checkout.with_untracked(|c| c.as_ref().map(|c| c.currency().code().to_owned())),
            };
            let mut result = api::pay(&api, &token, &a.key, &body).await;
            // 3-D Secure: Stripe.js runs the card issuer's check, then the API is asked how it ended (a
            // challenge failed or closed comes back as a decline, or as this same answer once more).
            if let Err(ApiError::Problem(p)) = &result {
                if let (Some(secret), Some(id)) = (&p.client_secret, &p.payment_id) {
                    let _ = dom::host_await(&host, "_trancheStripeAction", &secret.into()).await;
                    result = api::confirm(&api, &token, id).await;
                }
            }
            let Some(c) = checkout.get_untracked() else { return };
            let settled = match result {
                Ok(response) => Ok(response),
                // A success we cannot read may have charged the buyer: ask the invoice, never "try again"
                // with a new key. If the invoice cannot tell either, the only retry is the same key.
                Err(ApiError::Unreadable) => {
                    let after = api::checkout(&api, &token).await.ok();
                    c.confirm(after.as_ref(), &a.amount).map_err(|f| (f, None))
                }
                Err(ApiError::Network) => Err((c.failure(None), None)),
                Err(ApiError::Problem(p)) => Err((c.failure(Some(&p)), Some(p))),
            };
            match settled {
                Ok(response) => {
                    let outcome = c.apply(&response);
                    let detail = SucceededDetail::new(&response);
                    attempt.set(None);
                    step.set(Step::Done(outcome));
                    // Every figure on screen agrees: the summary shows the new amount paid and balance too.
                    checkout.set(Some(c.after_payment(&response)));
                    config.with_value(|cfg| {
                        dom::emit(&cfg.host, "tranche:payment-succeeded", &detail.to_fields())
                    });
                }
                Err((failure, problem)) => {
                    let detail = FailedDetail::new(&failure, problem.as_deref());
                    config.with_value(|cfg| {
                        dom::emit(&cfg.host, "tranche:payment-failed", &detail.to_fields())
                    });
                    // Network errors and unconfirmed payments keep the attempt (and its key) for the retry.
                    if failure.next != Next::RetrySameKey {
                        attempt.set(None);
                    }
                    step.set(Step::Failed(failure));
                }
            }
        });
    };

    view! {
        <div class="tranche-card" part="card" lang=l.tag()>
            {move || match load.get() {
                Load::Loading => view! { <p class="muted" role="status">{l.t(Key::Loading)}</p> }.into_any(),
                Load::Failed(message) => view! { <p class="error" role="alert" part="message">{message}</p> }.into_any(),
                Load::Ready => view! {
                    <Summary checkout=checkout/>
                    <crate::dispute::CheckoutDispute config=config checkout=checkout
                        done=Callback::new(move |()| { input.set(String::new()); reload(false); })/>
                    <Payer config=config checkout=checkout choice=choice input=input step=step notice=notice attempt=attempt eval=eval
                        reload=reload submit=submit/>
                    <History checkout=checkout/>
                }.into_any(),
            }}
        </div>
    }
}

#[component]
fn Summary(checkout: RwSignal<Option<Checkout>, LocalStorage>) -> impl IntoView {
    move || {
        checkout.with(|c| {
            let c = c.as_ref()?;
            let l = c.locale;
            let inv = &c.view.invoice;
            let lines = inv
                .lines
                .iter()
                .map(|line| {
                    [
                        line.description.clone(),
                        c.input_text(&line.quantity),
                        c.money(&line.unit_price),
                        c.money(&line.amount),
                    ]
                })
                .collect();
            let plan = c.plan_rows();
            let plan = (!plan.is_empty()).then(|| {
                grid(
                    "plan",
                    Some(l.t(Key::Plan)),
                    [Key::InstallmentCol, Key::Due, Key::Amount, Key::Status].map(|k| l.t(k)),
                    plan,
                )
            });
            // Only when the terms added a fee: most invoices never carry one.
            let fees_row = (!inv.late_fees.trim_start_matches(['0', '.']).is_empty()).then(|| {
                view! { <div class="row"><dt>{l.t(Key::LateFees)}</dt><dd data-testid="late-fees">{c.money(&inv.late_fees)}</dd></div> }
            });
            let discount_row = (!inv.discount_taken.trim_start_matches(['0', '.']).is_empty()).then(|| {
                view! { <div class="row"><dt>{l.t(Key::Discounts)}</dt><dd>{c.money(&inv.discount_taken)}</dd></div> }
            });
            Some(view! {
                <header part="header">
                    <p class="seller">{c.view.seller.name.clone()}</p>
                    <h2 class="title">{format!("{} {}", l.t(Key::Invoice), inv.number)}</h2>
                    <p class="dates muted">
                        {format!("{} {} · {} {}", l.t(Key::Issued), l.date(&inv.issue_date), l.t(Key::Due), l.date(&inv.due_date))}
                    </p>
                    <span class=format!("status status-{}", inv.status.as_str()) part="status">{c.status_label()}</span>
                </header>
                {grid(
                    "lines",
                    None,
                    [Key::Description, Key::Quantity, Key::UnitPrice, Key::Amount].map(|k| l.t(k)),
                    lines,
                )}
                <dl class="totals" part="totals">
                    <div class="row"><dt>{l.t(Key::Subtotal)}</dt><dd>{c.money(&inv.subtotal)}</dd></div>
                    <div class="row"><dt>{l.t(Key::Tax)}</dt><dd>{c.money(&inv.tax)}</dd></div>
                    {fees_row}
                    <div class="row"><dt>{l.t(Key::Total)}</dt><dd>{c.money(&inv.total)}</dd></div>
                    <div class="row"><dt>{l.t(Key::AmountPaid)}</dt><dd data-testid="amount-paid">{c.money(&inv.amount_paid)}</dd></div>
                    {discount_row}
                    <div class="row strong"><dt>{l.t(Key::BalanceDue)}</dt><dd data-testid="balance-due">{c.money(&inv.balance_due)}</dd></div>
                </dl>
                {plan}
            })
        })
    }
}

/// A table of four columns with headers (the invoice lines, the payment plan): one view for both, so the
/// plan costs the download almost nothing. The first column is text, the others right-aligned.
pub(crate) fn grid(
    part: &'static str,
    caption: Option<&'static str>,
    head: [&'static str; 4],
    rows: Vec<[String; 4]>,
) -> impl IntoView {
    let rows = rows
        .into_iter()
        .map(|[a, b, c, d]| {
            view! {
                <tr>
                    <td>{a}</td>
                    <td class="num">{b}</td>
                    <td class="num">{c}</td>
                    <td class="num">{d}</td>
                </tr>
            }
        })
        .collect_view();
    let [a, b, c, d] = head;
    view! {
        <table class="lines" part=part>
            {caption.map(|t| view! { <caption>{t}</caption> })}
            <thead><tr>
                <th scope="col">{a}</th>
                <th scope="col" class="num">{b}</th>
                <th scope="col" class="num">{c}</th>
                <th scope="col" class="num">{d}</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn History(checkout: RwSignal<Option<Checkout>, LocalStorage>) -> impl IntoView {
    move || {
        checkout.with(|c| {
            let c = c.as_ref()?;
            if c.view.payments.is_empty() {
                return None;
            }
            let l = c.locale;
            let rows = c
                .view
                .payments
                .iter()
                .map(|p| {
                    let date = l.date(p.created_at.get(..10).unwrap_or(&p.created_at));
                    view! {
                        <li>
                            <span>{date}</span>
                            <span>{p.method.clone().unwrap_or_default()}</span>
                            <span class=format!("pstatus pstatus-{}", p.status.as_str())>{p.status.as_str()}</span>
                            <span class="num">{c.money(&p.amount)}</span>
                        </li>
                    }
                })
                .collect_view();
            Some(view! {
                <section class="history" part="history">
                    <h3>{l.t(Key::History)}</h3>
                    <ul>{rows}</ul>
                </section>
            })
        })
    }
}

#[component]
#[allow(clippy::too_many_arguments)]
fn Payer(
    config: StoredValue<Config, LocalStorage>,
    checkout: RwSignal<Option<Checkout>, LocalStorage>,
    choice: RwSignal<Choice>,
    input: RwSignal<String>,
    step: RwSignal<Step>,
    notice: RwSignal<Option<String>>,
    attempt: RwSignal<Option<Attempt>, LocalStorage>,
    eval: Memo<crate::model::Evaluation>,
    reload: impl Fn(bool) + Copy + Send + Sync + 'static,
    submit: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let l = move || checkout.with(|c| c.as_ref().map(|c| c.locale).unwrap_or(Locale::En));
    move || {
        let read_only = checkout.with(|c| c.as_ref().and_then(Checkout::read_only));
        if let Some(reason) = read_only {
            let key = match reason {
                ReadOnly::Paid => Key::InvoicePaid,
                ReadOnly::Void => Key::InvoiceVoid,
                ReadOnly::InProgress => Key::InProgress,
            };
            return view! { <p class="readonly" role="status" part="message" data-testid="read-only">{l().t(key)}</p> }.into_any();
        }
        match step.get() {
            Step::Choose => view! { <Chooser checkout=checkout choice=choice input=input step=step notice=notice eval=eval/> }.into_any(),
            Step::Method | Step::Paying => view! { <Method config=config checkout=checkout step=step attempt=attempt eval=eval submit=submit/> }.into_any(),
            Step::Done(outcome) => {
                let again = outcome.can_pay_again;
                view! {
                    <section class="result ok" part="result" role="status" aria-live="polite" data-testid="result">
                        <p class="big">{l().t(Key::ThankYou)}</p>
                        <dl class="totals">
                            <div class="row"><dt>{l().t(Key::PaidAmount)}</dt><dd data-testid="paid-now">{outcome.amount.clone()}</dd></div>
                            <div class="row strong"><dt>{l().t(Key::NewBalance)}</dt><dd data-testid="new-balance">{outcome.new_balance.clone()}</dd></div>
                        </dl>
                        {outcome.pending.then(|| view! { <p class="muted">{l().t(Key::PendingNote)}</p> })}
                        {again.then(|| view! {
                            <button type="button" class="primary" part="button pay-again-button" data-testid="pay-again"
                                on:click=move |_| {
                                    input.set(String::new());
                                    choice.set(Choice::Full);
                                    notice.set(None);
                                    step.set(Step::Choose);
                                    reload(false);
                                }>{l().t(Key::PayAgain)}</button>
                        })}
                    </section>
                }
                .into_any()
            }
            Step::Failed(failure) => {
                let next = failure.next;
                let button = match next {
                    Next::RetrySameKey => Some(l().t(Key::Retry)),
                    Next::NewAttempt => Some(l().t(Key::TryAgain)),
                    Next::Reload => Some(l().t(Key::Back)),
                    Next::Stop => None,
                };
                view! {
                    <section class="result failed" part="result message" role="alert" data-testid="failure" data-code=failure.code.clone()>
                        <p class="big">{failure.title.clone()}</p>
                        {failure.advice.clone().map(|a| view! { <p data-testid="advice">{a}</p> })}
                        {button.map(|label| view! {
                            <button type="button" class="primary" part="button retry-button" data-testid="retry"
                                on:click=move |_| match next {
                                    Next::RetrySameKey => submit(),
                                    Next::NewAttempt => step.set(Step::Method),
                                    _ => {
                                        step.set(Step::Choose);
                                        reload(false);
                                    }
                                }>{label}</button>
                        })}
                    </section>
                }
                .into_any()
            }
        }
    }
}

#[component]
fn Chooser(
    checkout: RwSignal<Option<Checkout>, LocalStorage>,
    choice: RwSignal<Choice>,
    input: RwSignal<String>,
    step: RwSignal<Step>,
    notice: RwSignal<Option<String>>,
    eval: Memo<crate::model::Evaluation>,
) -> impl IntoView {
    let Some(c) = checkout.get_untracked() else {
        return ().into_any();
    };
    let l = c.locale;
    // The installment due (with a plan), the presets and the full balance: one view for all of them.
    let choices = c
        .choices()
        .into_iter()
        .map(|(which, testid, p)| {
            let text = c.input_text(&p.amount);
            let pressed = which.clone();
            let part = match which {
                Choice::Preset(_) => "preset",
                Choice::Full => "preset full",
                _ => "preset installment",
            };
            view! {
                <button type="button" class="choice" part=part
                    data-testid=testid
                    disabled=!p.enabled
                    title=p.reason.unwrap_or_default()
                    aria-pressed=move || (choice.get() == pressed).to_string()
                    on:click=move |_| { choice.set(which.clone()); input.set(text.clone()); }>
                    {p.label}
                </button>
            }
        })
        .collect_view();
    let discount = c.discount_offer().map(|(amount, text)| {
        let value = c.input_text(&amount);
        view! {
            <button type="button" class="choice discount" part="preset discount" data-testid="discount"
                aria-pressed=move || (choice.get() == Choice::Discount).to_string()
                on:click=move |_| { choice.set(Choice::Discount); input.set(value.clone()); }>
                <strong>{l.t(Key::DiscountOffer)}</strong>" "{text}
            </button>
        }
    });
    let hint = c.minimum_hint();
    // Effects run after mount: the amount input exists and takes input from here on.
    Effect::new(move |_| dom::mark("tranche:interactive"));
    let allow_partial = c.options().is_some_and(|o| o.allow_partial);
    // A fresh chooser (first load, "pay another part") starts on the installment due, else the full balance;
    // a choice this checkout no longer offers (the installment was paid) falls back the same way.
    let current = choice.get_untracked();
    if input.get_untracked().is_empty()
        || (current != Choice::Custom && c.evaluate(&current, "").amount.is_none())
    {
        let first = c.default_choice();
        if let Some(amount) = c.evaluate(&first, "").amount {
            input.set(c.input_text(&amount));
        }
        choice.set(first);
    }
    view! {
        <section class="amounts" part="amounts">
            {move || notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <fieldset>
                <legend>{l.t(Key::ChooseAmount)}</legend>
                <div class="presets" part="presets">
                    {choices}
                    {discount}
                </div>
                <label class="field" for="tranche-amount">{l.t(Key::OtherAmount)}
                    {hint.map(|h| view! { <span class="muted">" · "{h}</span> })}
                </label>
                <div class="input-wrap">
                    <span class="currency" aria-hidden="true">{c.currency().code()}</span>
                    <input id="tranche-amount" part="input" data-testid="amount" type="text" inputmode="decimal"
                        autocomplete="off" readonly=!allow_partial
                        aria-describedby="tranche-amount-msg"
                        aria-invalid=move || eval.with(|e| e.error.is_some()).to_string()
                        prop:value=move || input.get()
                        on:input=move |ev| { choice.set(Choice::Custom); input.set(event_target_value(&ev)); }/>
                </div>
                <p id="tranche-amount-msg" class="message" part="message" aria-live="polite" data-testid="amount-message">
                    {move || eval.with(|e| match (&e.error, &e.remaining_after) {
                        (Some((_, msg)), _) => view! { <span class="error" data-testid="amount-error">{msg.clone()}</span> }.into_any(),
                        (None, Some(rest)) => view! {
                            <span data-testid="remaining">{format!("{}: {}", l.t(Key::RemainingAfter), rest)}</span>
                            {e.discount.clone().map(|d| view! { <span class="discount-note">{format!(" (−{d})")}</span> })}
                        }.into_any(),
                        _ => ().into_any(),
                    })}
                </p>
            </fieldset>
            <button type="button" class="primary" part="button continue-button" data-testid="continue"
                disabled=move || eval.with(|e| e.amount.is_none())
                on:click=move |_| if eval.with_untracked(|e| e.amount.is_some()) { step.set(Step::Method) }>
                {move || eval.with(|e| match &e.display {
                    Some(d) => format!("{} · {d}", l.t(Key::Continue)),
                    None => l.t(Key::Continue).to_owned(),
                })}
            </button>
        </section>
    }
    .into_any()
}

/// The fields page's address: `url` (a line with the fields page, a line with the locale) with the page's
/// origin (the only parent the page accepts), the locale and the theme as
/// it resolved on the element (`theme`, `--tranche-*`, `prefers-color-scheme` for `auto`) as query parameters,
/// which the fields page applies only where they match its allow-list. The loader adds them
/// (`_trancheFieldsSrc`), as it does for theme changes and Stripe's Appearance.
pub(crate) fn fields_src(host: HtmlElement, url: &str) -> String {
    dom::host_call(&host, "_trancheFieldsSrc", &url.into())
        .ok()
        .and_then(|q| q.as_string())
        .unwrap_or_default()
}

#[component]
fn Method(
    config: StoredValue<Config, LocalStorage>,
    checkout: RwSignal<Option<Checkout>, LocalStorage>,
    step: RwSignal<Step>,
    attempt: RwSignal<Option<Attempt>, LocalStorage>,
    eval: Memo<crate::model::Evaluation>,
    submit: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let Some(c) = checkout.get_untracked() else {
        return ().into_any();
    };
    let l = c.locale;
    let gateway = c.view.gateway.clone();
    let stripe = gateway.kind == "stripe";
    let src = if stripe {
        "about:blank".to_owned()
    } else {
        fields_src(
            config.with_value(|c| c.host.clone()),
            &format!("{}\n{}", gateway.fields_url, l.tag()),
        )
    };
    let frame: NodeRef<leptos::html::Iframe> = NodeRef::new();
    let fields_error: RwSignal<Option<String>> = RwSignal::new(None);
    let height = RwSignal::new(180u32);

    // A fresh attempt (new key) for the chosen amount; with Stripe the token is made when it is sent.
    let start = move |payment_token: Option<String>| {
        let amount = eval.with_untracked(|e| e.amount.clone()).unwrap_or_default();
        attempt.set(Some(Attempt {
            key: dom::new_key(),
            amount,
            payment_token,
        }));
        submit();
    };

    // Messages from *our* iframe only: checked by origin and by source window, so two widgets on one
    // page (or any other frame) cannot feed each other tokens.
    let expected_origin = gateway.fields_origin.clone();
    let listener = window_event_listener(leptos::ev::message, move |ev: MessageEvent| {
        if ev.origin() != expected_origin {
            return;
        }
        let Some(frame) = frame.get_untracked() else {
            return;
        };
        let ours = match (ev.source(), frame.content_window()) {
            (Some(source), Some(window)) => js_sys::Object::is(&source, &window),
            _ => false,
        };
        if !ours {
            return;
        }
        let Some(msg) = FieldsMessage::from_json(&ev.data()) else {
            return;
        };
        match msg.kind.as_str() {
            "tranche:fields-resize" => {
                if let Some(h) = msg.height {
                    height.set(h.clamp(120, 900));
                }
            }
            "tranche:token" => {
                let Some(token) = msg.token else { return };
                fields_error.set(None);
                start(Some(token));
            }
            "tranche:fields-error" => {
                fields_error.set(msg.message);
                step.set(Step::Method);
            }
            _ => {}
        }
    });
    on_cleanup(move || listener.remove());

    // Stripe: its Payment Element, which the loader mounts (on this event, which it keeps to itself) into a
    // light-DOM child of the element, shown through a `stripe` slot where the (hidden, blank) frame is:
    // Stripe's iframes refuse a shadow root. The amount travels as the decimal string the API is sent.
    if stripe {
        let amount = eval.with_untracked(|e| e.amount.clone());
        config.with_value(|cfg| {
            dom::emit(
                &cfg.host,
                "tranche:stripe-mount",
                &vec![
                    ("key", (&gateway.publishable_key).into()),
                    ("src", (&gateway.js_url).into()),
                    ("amount", (&amount).into()),
                    ("currency", c.currency().code().into()),
                ],
            )
        });
    }

    let fields_origin = gateway.fields_origin.clone();
    // The fields page needs the checkout token to create card tokens for this checkout only.
    let checkout_token = config.with_value(|c| c.token.clone());
    let pay = move |_| {
        if stripe {
            return start(None);
        }
        let Some(frame) = frame.get_untracked() else {
            return;
        };
        let Some(window) = frame.content_window() else {
            return;
        };
        fields_error.set(None);
        step.set(Step::Paying);
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"type".into(), &"tranche:tokenize".into());
        // Posted to the fields frame's exact origin only, so no other window can read it.
        let _ = js_sys::Reflect::set(
            &message,
            &"checkout_token".into(),
            &checkout_token.as_str().into(),
        );
        if window.post_message(&message, &fields_origin).is_err() {
            step.set(Step::Method);
        }
    };
    let paying = move || step.get() == Step::Paying;
    view! {
        <section class="method" part="method">
            <h3>{l.t(Key::PaymentMethod)}</h3>
            // The height goes through the CSSOM (`style` forwards to `cssText`), which a strict
            // style-src allows; a `style` attribute it would refuse.
            <iframe node_ref=frame class="fields" part="fields" src=src title=l.t(Key::FieldsTitle)
                prop:style=move || format!("height:{}px", height.get())
                allow="payment" data-testid="fields"></iframe>
            <p class="message" aria-live="assertive" part="message">
                {move || fields_error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
            </p>
            <div class="actions">
                <button type="button" class="secondary" part="button back-button" disabled=paying
                    on:click=move |_| step.set(Step::Choose)>{l.t(Key::Back)}</button>
                <button type="button" class="primary" part="button pay-button" data-testid="pay"
                    disabled=paying aria-busy=move || paying().to_string() on:click=pay>
                    {move || if paying() {
                        l.t(Key::Paying).to_owned()
                    } else {
                        format!("{} {}", l.t(Key::Pay), eval.with(|e| e.display.clone().unwrap_or_default()))
                    }}
                </button>
            </div>
        </section>
    }
    .into_any()
}
