//! The views of account mode (DESIGN 12), mounted instead of the checkout when the element's token is an
//! account token: a table of the customer's open invoices with an amount for each, "Pay all", the total,
//! one card entry (the gateway's fields page, opened with the account token), one
//! `POST /v1/account/payments`, and what each invoice received. Each row has a "Dispute" form
//! (`POST /v1/checkout/disputes` with the invoice's id); the view reloads after it, so the disputed amount
//! shows and the amount rules run on the undisputed rest. Amount decisions come from [`Account`].

use leptos::prelude::*;
use leptos::task::spawn_local;
use tranche_domain::wire::{AccountPaymentResponse, AccountView, GatewayView};
use web_sys::MessageEvent;

use crate::account::Account;
use crate::api::{self, ApiError};
use crate::app::{fields_src, grid, load_failure, Config};
use crate::dispute::{json_body, problem_text, set, DisputeForm};
use crate::dom;
use crate::i18n::Key;
use crate::js_json;
use crate::model::status_label;
use crate::wire::{FieldsMessage, FromJson};

#[derive(Clone, PartialEq)]
enum Step {
    Choose,
    Method,
    Paying,
    Done(Vec<[String; 4]>),
    Failed(String),
}

async fn load(api: &str, token: &str) -> Result<AccountView, ApiError> {
    api::send(api::request("GET", &format!("{api}/v1/account"), token, None)?).await
}

#[component]
pub fn AccountApp(config: Config) -> impl IntoView {
    let l = config.locale;
    let config = StoredValue::new_local(config);
    let account: RwSignal<Option<Account>, LocalStorage> = RwSignal::new_local(None);
    let failed: RwSignal<Option<String>> = RwSignal::new(None);
    // `inputs[i]`: the amount typed for invoice i, `None` when it is not selected.
    let inputs: RwSignal<Vec<Option<String>>> = RwSignal::new(Vec::new());
    // A refusal the API gave for one invoice (a 422 naming its `invoice_id`).
    let refused: RwSignal<Option<(usize, String)>> = RwSignal::new(None);
    let step = RwSignal::new(Step::Choose);

    let reload = move |first: bool| {
        let (api, token) = config.with_value(|c| (c.api.clone(), c.token.clone()));
        spawn_local(async move {
            match load(&api, &token).await {
                Ok(view) => {
                    let a = Account::new(view, l);
                    inputs.set(vec![None; a.invoices.len()]);
                    account.set(Some(a));
                    if first {
                        dom::mark("tranche:ready");
                        config.with_value(|c| {
                            dom::emit(&c.host, "tranche:ready", &vec![("mode", "account".into())])
                        });
                    }
                }
                Err(e) => {
                    let (code, key) = load_failure(&e);
                    config.with_value(|c| {
                        dom::emit(
                            &c.host,
                            "tranche:error",
                            &vec![("code", code.into()), ("message", l.t(key).into())],
                        )
                    });
                    failed.set(Some(l.t(key).to_owned()));
                }
            }
        });
    };
    reload(true);

    let selection = Memo::new(move |_| {
        account.with(|a| {
            a.as_ref()
                .map(|a| inputs.with(|i| a.evaluate(i)))
                .unwrap_or_default()
        })
    });

    let submit = move |payment_token: String| {
        let Some(a) = account.get_untracked() else { return };
        let sel = selection.get_untracked();
        step.set(Step::Paying);
        let (api, token) = config.with_value(|c| (c.api.clone(), c.token.clone()));
        spawn_local(async move {
            let allocations = js_sys::Array::new();
            for fields in a.allocations(&sel) {
                allocations.push(&js_json::object(&fields));
            }
            let body = js_sys::Object::new();
            set(&body, "payment_token", payment_token.into());
            set(&body, "allocations", allocations.into());
            let key = dom::new_key();
            let result: Result<AccountPaymentResponse, ApiError> = async {
                let json = json_body(&body)?;
                api::send(api::request(
                    "POST",
                    &format!("{api}/v1/account/payments"),
                    &token,
                    Some((&key, json)),
                )?)
                .await
            }
            .await;
            match result {
                Ok(r) => {
                    let rows = r
                        .payment
                        .allocations
                        .iter()
                        .map(|al| {
                            let after = r.invoices.iter().find(|i| i.id == al.invoice_id);
                            let status = after.map(|i| status_label(l, i.status)).unwrap_or_default();
                            [
                                al.invoice_number.clone(),
                                l.money(&al.amount, r.payment.currency),
                                after
                                    .map(|i| l.money(&i.balance_due, r.payment.currency))
                                    .unwrap_or_default(),
                                status.to_owned(),
                            ]
                        })
                        .collect();
                    config.with_value(|c| {
                        dom::emit(
                            &c.host,
                            "tranche:payment-succeeded",
                            &vec![
                                ("payment_id", (&r.payment.id).into()),
                                ("amount", (&r.payment.amount).into()),
                                ("currency", r.payment.currency.code().into()),
                                ("status", r.payment.status.as_str().into()),
                            ],
                        )
                    });
                    step.set(Step::Done(rows));
                }
                Err(ApiError::Problem(p)) if a.problem_at(&p).is_some() => {
                    refused.set(a.problem_at(&p));
                    step.set(Step::Choose);
                }
                Err(e) => {
                    let code = match &e {
                        ApiError::Problem(p) => p.code.clone(),
                        ApiError::Network => "network".into(),
                        ApiError::Unreadable => "server_error".into(),
                    };
                    config.with_value(|c| {
                        dom::emit(&c.host, "tranche:payment-failed", &vec![("code", (&code).into())])
                    });
                    step.set(Step::Failed(problem_text(l, &e)));
                }
            }
        });
    };

    move || {
        if let Some(message) = failed.get() {
            return view! { <p class="result failed" role="alert" part="message" data-testid="load-error">{message}</p> }.into_any();
        }
        let Some(a) = account.get() else {
            return view! { <p class="loading" role="status" aria-busy="true">{l.t(Key::Loading)}</p> }
                .into_any();
        };
        let header = view! {
            <header part="header">
                <p class="seller">{a.view.seller.name.clone()}</p>
                <h2 class="title">{a.view.customer.name.clone()}</h2>
            </header>
        };
        let body = match step.get() {
            Step::Choose => view! { <Invoices account=a config=config inputs=inputs refused=refused step=step selection=selection reload=reload/> }.into_any(),
            Step::Method | Step::Paying => view! { <Card config=config gateway=a.view.gateway.clone() step=step selection=selection submit=submit/> }.into_any(),
            Step::Done(rows) => view! {
                <section class="result ok" part="result" role="status" data-testid="result">
                    <p class="big">{l.t(Key::ThankYou)}</p>
                    {grid("allocations", None, [Key::Invoice, Key::PaidAmount, Key::NewBalance, Key::Status].map(|k| l.t(k)), rows)}
                </section>
            }.into_any(),
            Step::Failed(message) => view! {
                <section class="result failed" part="result message" role="alert" data-testid="failure">
                    <p class="big">{message}</p>
                    <button type="button" class="primary" part="button retry-button" data-testid="retry"
                        on:click=move |_| step.set(Step::Method)>{l.t(Key::TryAgain)}</button>
                </section>
            }.into_any(),
        };
        view! { {header}{body} }.into_any()
    }
}

#[component]
fn Invoices(
    account: Account,
    config: StoredValue<Config, LocalStorage>,
    inputs: RwSignal<Vec<Option<String>>>,
    refused: RwSignal<Option<(usize, String)>>,
    step: RwSignal<Step>,
    selection: Memo<crate::account::Selection>,
    reload: impl Fn(bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let l = account.locale;
    let disputing: RwSignal<Option<usize>> = RwSignal::new(None);
    let fills: Vec<String> = (0..account.invoices.len())
        .map(|i| account.full_text(i))
        .collect();
    let fills_all = fills.clone();
    let rows = account
        .invoices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let inv = &c.view.invoice;
            let number = inv.number.clone();
            let payable = c.read_only().is_none();
            let fill = fills[i].clone();
            let installment = c
                .options()
                .and_then(|o| o.installment)
                .map(|d| format!("{} · {}", d.number, c.money(&d.amount_due.to_string())))
                .unwrap_or_default();
            let msg_id = format!("tranche-acct-msg-{i}");
            let error = move || {
                let server = refused.with(|r| r.as_ref().filter(|(at, _)| *at == i).map(|(_, m)| m.clone()));
                server.or_else(|| selection.with(|s| s.rows.get(i).and_then(|e| e.error.as_ref().map(|(_, m)| m.clone()))))
            };
            let checked = move || inputs.with(|v| v.get(i).is_some_and(Option::is_some));
            let lines: Vec<String> = inv.lines.iter().map(|line| line.description.clone()).collect();
            let invoice_id = inv.id.clone();
            view! {
                <tr data-testid="account-invoice" data-number=number.clone()>
                    <td><input type="checkbox" data-testid="select" disabled=!payable
                        aria-label=format!("{} {}", l.t(Key::Select), number)
                        prop:checked=checked
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            refused.set(None);
                            inputs.update(|v| if let Some(slot) = v.get_mut(i) {
                                *slot = on.then(|| fill.clone());
                            });
                        }/></td>
                    <th scope="row">{number.clone()}</th>
                    <td class="num">{l.date(&inv.due_date)}</td>
                    <td class="num" data-testid="balance">{c.money(&inv.balance_due)}</td>
                    <td class="num" data-testid="disputed">{c.money(inv.amount_disputed.as_deref().unwrap_or("0"))}</td>
                    <td class="num">{installment}</td>
                    <td class="num">
                        <input type="text" inputmode="decimal" autocomplete="off" part="input" data-testid="amount"
                            aria-label=format!("{} {}", l.t(Key::Amount), number)
                            aria-describedby=msg_id.clone()
                            aria-invalid=move || error().is_some().to_string()
                            disabled=move || !checked()
                            prop:value=move || inputs.with(|v| v.get(i).cloned().flatten().unwrap_or_default())
                            on:input=move |ev| {
                                let text = event_target_value(&ev);
                                refused.set(None);
                                inputs.update(|v| if let Some(slot) = v.get_mut(i) { *slot = Some(text.clone()) });
                            }/>
                        <span id=msg_id class="message error" aria-live="polite" data-testid="amount-error">{error}</span>
                    </td>
                    <td>
                        <button type="button" class="secondary" data-testid="dispute"
                            aria-expanded=move || (disputing.get() == Some(i)).to_string()
                            on:click=move |_| disputing.update(|d| *d = if *d == Some(i) { None } else { Some(i) })>
                            {l.t(Key::Dispute)}<span class="sr-only">{format!(" {number}")}</span>
                        </button>
                    </td>
                </tr>
                {move || (disputing.get() == Some(i)).then(|| view! {
                    <tr><td colspan="8">
                        <DisputeForm config=config locale=l invoice_id=invoice_id.clone() lines=lines.clone()
                            done=Callback::new(move |()| { disputing.set(None); reload(false); })/>
                    </td></tr>
                })}
            }
        })
        .collect_view();
    let heads = [
        Key::Select,
        Key::Invoice,
        Key::Due,
        Key::BalanceDue,
        Key::Disputed,
        Key::InstallmentCol,
        Key::Amount,
        Key::Dispute,
    ]
    .map(|k| view! { <th scope="col">{l.t(k)}</th> });
    Effect::new(move |_| dom::mark("tranche:interactive"));
    view! {
        <section class="amounts" part="amounts">
            <table class="lines" part="account">
                <caption>{l.t(Key::OpenInvoices)}</caption>
                <thead><tr>{heads.into_iter().collect_view()}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <button type="button" class="choice" part="preset full" data-testid="pay-all"
                on:click=move |_| {
                    refused.set(None);
                    inputs.set(fills_all.iter().map(|f| (!f.is_empty()).then(|| f.clone())).collect());
                }>{l.t(Key::PayAll)}</button>
            <p class="message" aria-live="polite" data-testid="total">
                {move || selection.with(|s| match (&s.total, &s.problem) {
                    (Some((_, shown)), _) => format!("{}: {shown}", l.t(Key::Total)),
                    (None, Some(p)) => p.clone(),
                    _ => String::new(),
                })}
            </p>
            <button type="button" class="primary" part="button continue-button" data-testid="continue"
                disabled=move || selection.with(|s| s.total.is_none())
                on:click=move |_| if selection.with_untracked(|s| s.total.is_some()) { step.set(Step::Method) }>
                {l.t(Key::Continue)}
            </button>
        </section>
    }
}

/// One card entry for the whole selection: the gateway's fields page, given the account token to make a
/// method token for this account only. Messages are taken from our own frame only (origin and source).
#[component]
fn Card(
    config: StoredValue<Config, LocalStorage>,
    gateway: GatewayView,
    step: RwSignal<Step>,
    selection: Memo<crate::account::Selection>,
    submit: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let l = config.with_value(|c| c.locale);
    let (gateway_url, origin) = (gateway.fields_url, gateway.fields_origin);
    let src = fields_src(
        config.with_value(|c| c.host.clone()),
        &format!("{}\n{}", gateway_url, l.tag()),
    );
    let frame: NodeRef<leptos::html::Iframe> = NodeRef::new();
    let fields_error: RwSignal<Option<String>> = RwSignal::new(None);
    let height = RwSignal::new(180u32);
    let expected = origin.clone();
    let listener = window_event_listener(leptos::ev::message, move |ev: MessageEvent| {
        let ours = ev.origin() == expected
            && frame
                .get_untracked()
                .is_some_and(|f| match (ev.source(), f.content_window()) {
                    (Some(s), Some(w)) => js_sys::Object::is(&s, &w),
                    _ => false,
                });
        let Some(msg) = ours.then(|| FieldsMessage::from_json(&ev.data())).flatten() else {
            return;
        };
        match msg.kind.as_str() {
            "tranche:fields-resize" => {
                if let Some(h) = msg.height {
                    height.set(h.clamp(120, 900));
                }
            }
            "tranche:token" => {
                if let Some(token) = msg.token {
                    submit(token);
                }
            }
            "tranche:fields-error" => {
                fields_error.set(msg.message);
                step.set(Step::Method);
            }
            _ => {}
        }
    });
    on_cleanup(move || listener.remove());
    let token = config.with_value(|c| c.token.clone());
    let pay = move |_| {
        let Some(window) = frame.get_untracked().and_then(|f| f.content_window()) else {
            return;
        };
        fields_error.set(None);
        step.set(Step::Paying);
        let message = js_sys::Object::new();
        set(&message, "type", "tranche:tokenize".into());
        set(&message, "checkout_token", token.as_str().into());
        if window.post_message(&message, &origin).is_err() {
            step.set(Step::Method);
        }
    };
    let paying = move || step.get() == Step::Paying;
    view! {
        <section class="method" part="method">
            <h3>{l.t(Key::PaymentMethod)}</h3>
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
                        format!("{} {}", l.t(Key::Pay), selection.with(|s| s.total.clone().map(|t| t.1).unwrap_or_default()))
                    }}
                </button>
            </div>
        </section>
    }
}
