//! What a front-end team relies on (DESIGN 15), in Chromium: the versioned, SRI-pinned loader URL; money and
//! dates from the browser's `Intl`, fed decimal strings (never floats), in eight locales; `tranche:error` on
//! load failures; properties that mirror attributes; `refresh()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};
use tranche_e2e::{site, skip, widget_dir, Harness};

/// The loader's SRI hash from the built manifest.
fn loader_integrity() -> String {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(widget_dir().join("manifest.json")).unwrap()).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "tranche.js")
        .unwrap()["integrity"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Records the type of every value the page hands to `Intl.NumberFormat`'s `format` (in
/// `window.intlArguments`): the widget must pass decimal strings, never numbers.
const INTL_SPY: &str = r#"<script>
window.intlArguments = [];
const described = Object.getOwnPropertyDescriptor(Intl.NumberFormat.prototype, "format");
Object.defineProperty(Intl.NumberFormat.prototype, "format", {
  configurable: true,
  get() {
    const format = described.get.call(this);
    return (value) => {
      window.intlArguments.push(typeof value);
      return format(value);
    };
  },
});
</script>"#;

/// A page that loads the widget from `/widget/{version}/tranche.js` with its SRI hash and shows `elements`.
fn page(api: &str, elements: &str, head: &str) -> String {
    let version = tranche_api::routes::pages::WIDGET_VERSION;
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shop</title>{}{head}\
         <script type=\"module\" src=\"{api}/widget/{version}/tranche.js\" integrity=\"{}\" crossorigin=\"anonymous\"></script>\
         </head><body>{elements}</body></html>",
        site::EVENT_LOG,
        loader_integrity()
    )
}

async fn run(h: &Harness, script: &str, args: Vec<Value>) -> Value {
    h.browser.execute(script, args).await.unwrap()
}

/// The latest `kind` event from widget `index`, waiting up to 15 s.
async fn wait_event(h: &Harness, kind: &str, widget: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(e) = h
            .page_events()
            .await
            .into_iter()
            .rev()
            .find(|e| e["type"] == kind && e["widget"] == widget)
        {
            return e["detail"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} from widget {widget}: {:?}",
            h.page_events().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_url_intl_money_and_dates_in_eight_locales() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    // The largest amount the domain allows (999,999,999,999,999 minor units) in a three-decimal currency.
    let (_, kwd) = h.invoice_in("INTL-KWD", "KWD", "999999999999.999").await.unwrap();
    let (_, jpy) = h.invoice_in("INTL-JPY", "JPY", "120000").await.unwrap();
    let (_, usd) = h.invoice_in("INTL-USD", "USD", "1234.50").await.unwrap();
    let elements = format!(
        "<tranche-checkout token=\"{kwd}\" locale=\"en\"></tranche-checkout>\
         <tranche-checkout token=\"{jpy}\" locale=\"ja-JP\"></tranche-checkout>\
         <tranche-checkout token=\"{usd}\" locale=\"fr-FR\"></tranche-checkout>"
    );
    h.open_page(page(&h.api, &elements, INTL_SPY), None)
        .await
        .unwrap();

    // What the widget relies on: Chromium formats a decimal string exactly, where a float would round.
    let exact = run(
        &h,
        "const seen = window.intlArguments.length; \
         const f = new Intl.NumberFormat('en', {style: 'currency', currency: 'KWD'}); \
         const both = [f.format('12345678901234567.891'), f.format(12345678901234567.891)]; \
         window.intlArguments.length = seen; /* the spy is for the widget's calls only */ \
         return both;",
        vec![],
    )
    .await;
    assert_eq!(exact[0], "KWD\u{a0}12,345,678,901,234,567.891", "{exact}");
    assert_ne!(exact[0], exact[1], "a float rounds: {exact}");

    // WebDriver reports no-break spaces as spaces.
    h.shadow_text(0, "[data-testid=balance-due]", "KWD 999,999,999,999.999")
        .await
        .unwrap();
    h.shadow_text(0, ".dates", "Jan 1, 2026").await.unwrap();
    h.shadow_text(1, "[data-testid=balance-due]", "￥120,000")
        .await
        .unwrap();
    h.shadow_text(1, "legend", "お支払い金額を選んでください")
        .await
        .unwrap();
    h.shadow_text(1, ".dates", "2026年1月1日").await.unwrap();
    // The card fields speak the widget's language too.
    h.click(1, "[data-testid=continue]").await.unwrap();
    let label = in_fields(
        &h,
        1,
        "return document.querySelector('[data-t=number]').textContent",
    )
    .await;
    assert_eq!(label, "カード番号");
    h.shadow_text(2, "[data-testid=balance-due]", "234,50 $US")
        .await
        .unwrap();
    h.shadow_text(2, "legend", "Quel montant souhaitez-vous payer ?")
        .await
        .unwrap();

    // Every locale: its own strings (fetched, integrity-checked, only for that language) and Intl's formats.
    for (tag, legend, balance, date) in [
        (
            "de-DE",
            "Wie viel möchten Sie zahlen?",
            "1.234,50 $",
            "1. Jan. 2026",
        ),
        ("es", "¿Cuánto quiere pagar?", "1234,50 US$", "1 ene 2026"),
        ("it-IT", "Quanto vuole pagare?", "1234,50 USD", "1 gen 2026"),
        ("nl", "Hoeveel wilt u betalen?", "US$ 1.234,50", "1 jan 2026"),
        (
            "pt-BR",
            "Quanto deseja pagar?",
            "US$ 1.234,50",
            "1 de jan. de 2026",
        ),
        (
            "en-US",
            "How much do you want to pay?",
            "$1,234.50",
            "Jan 1, 2026",
        ),
    ] {
        run(
            &h,
            "document.querySelectorAll('tranche-checkout')[2].locale = arguments[0]",
            vec![json!(tag)],
        )
        .await;
        h.shadow_text(2, "legend", legend).await.unwrap();
        h.shadow_text(2, "[data-testid=balance-due]", balance)
            .await
            .unwrap();
        h.shadow_text(2, ".dates", date).await.unwrap();
    }

    // Only decimal strings ever reached Intl.NumberFormat.
    let kinds = run(&h, "return window.intlArguments", vec![]).await;
    let kinds = kinds.as_array().unwrap();
    assert!(kinds.len() > 20, "{kinds:?}");
    assert!(kinds.iter().all(|k| k == "string"), "{kinds:?}");

    // Every widget file came from the versioned URL, and the strings files only for the languages shown.
    let version = tranche_api::routes::pages::WIDGET_VERSION;
    let loaded = run(
        &h,
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/widget/'))",
        vec![],
    )
    .await;
    let loaded: Vec<&str> = loaded
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        loaded.iter().all(|u| u.contains(&format!("/widget/{version}/"))),
        "{loaded:?}"
    );
    for lang in ["ja", "fr", "de", "es", "it", "nl", "pt"] {
        assert_eq!(
            loaded
                .iter()
                .filter(|u| u.contains(&format!("/i18n-{lang}-")))
                .count(),
            1,
            "{lang} fetched once: {loaded:?}"
        );
    }
    assert!(!loaded.iter().any(|u| u.contains("/i18n-en")), "{loaded:?}");
    let errors = h.console_errors().await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_failures_raise_tranche_error_and_properties_and_refresh_work() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (invoice_id, token) = h.invoice("PROPS-1", "800.00").await.unwrap();
    // A closed port: the API cannot be reached.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let elements = format!(
        "<tranche-checkout token=\"not-a-token\"></tranche-checkout>\
         <tranche-checkout token=\"{token}\" api=\"{unreachable}\"></tranche-checkout>"
    );
    h.open_page(page(&h.api, &elements, ""), None).await.unwrap();

    // An invalid token: the event (bubbling and composed, heard on document) and the message on screen.
    let error = wait_event(&h, "tranche:error", 0).await;
    assert_eq!(error["code"], "invalid_checkout_token", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("invalid or has expired"),
        "{error}"
    );
    h.shadow_text(0, "[role=alert]", "invalid or has expired")
        .await
        .unwrap();
    let network = wait_event(&h, "tranche:error", 1).await;
    assert_eq!(network["code"], "network", "{network}");
    h.shadow_text(1, "[role=alert]", "could not reach").await.unwrap();
    let bubbles = run(
        &h,
        "return new Promise((done) => { \
           const el = document.querySelectorAll('tranche-checkout')[0]; \
           document.addEventListener('tranche:error', (e) => done([e.bubbles, e.composed, e.target === el]), {once: true}); \
           el.refresh(); })",
        vec![],
    )
    .await;
    assert_eq!(bubbles, json!([true, true, true]));

    // Properties mirror attributes: setting `token` renders the invoice; reading it back gives the attribute.
    let read = run(
        &h,
        "const el = document.querySelectorAll('tranche-checkout')[0]; el.token = arguments[0]; \
         return [el.getAttribute('token') === arguments[0], el.token === arguments[0], el.locale, typeof el.refresh];",
        vec![json!(token)],
    )
    .await;
    assert_eq!(read, json!([true, true, null, "function"]));
    h.shadow_text(0, "[data-testid=balance-due]", "$800.00")
        .await
        .unwrap();
    let ready = wait_event(&h, "tranche:ready", 0).await;
    assert_eq!(ready["invoice_id"], invoice_id.as_str());
    // `api` as a property too: pointing the second element at the real API recovers it.
    run(
        &h,
        "document.querySelectorAll('tranche-checkout')[1].api = arguments[0]",
        vec![json!(h.api)],
    )
    .await;
    h.shadow_text(1, "[data-testid=balance-due]", "$800.00")
        .await
        .unwrap();

    // A payment recorded elsewhere (a cheque, by the AR team): refresh() re-reads the invoice.
    let r = h
        .http
        .post(format!("{}/v1/invoices/{invoice_id}/payments", h.api))
        .bearer_auth(&h.key)
        .header("Idempotency-Key", "cheque-props-1")
        .json(
            &json!({"amount": "300.00", "method": "check", "reference": "1042", "received_on": "2026-01-10"}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    h.shadow_text(0, "[data-testid=balance-due]", "$800.00")
        .await
        .unwrap();
    run(
        &h,
        "document.querySelectorAll('tranche-checkout')[0].refresh()",
        vec![],
    )
    .await;
    h.shadow_text(0, "[data-testid=balance-due]", "$500.00")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=amount-paid]", "$300.00")
        .await
        .unwrap();

    // Removing `token` is a load failure again, reported the same way.
    run(
        &h,
        "window.trancheEvents = []; document.querySelectorAll('tranche-checkout')[0].token = null",
        vec![],
    )
    .await;
    let error = wait_event(&h, "tranche:error", 0).await;
    assert_eq!(error["code"], "invalid_checkout_token", "{error}");

    // The seller stops allowing this site, which another seller registered: the next load says so (an origin
    // no seller registered gets no CORS answer at all, which the browser reports as a network failure).
    tranche_e2e::post(
        &h.http,
        &format!("{}/v1/sellers", h.api),
        &h.operator,
        json!({"name": "Other seller", "allowed_origins": [h.site]}),
    )
    .await
    .unwrap();
    let r = h
        .http
        .patch(format!("{}/v1/seller", h.api))
        .bearer_auth(&h.key)
        .json(&json!({"allowed_origins": ["https://elsewhere.example"]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    run(
        &h,
        "window.trancheEvents = []; document.querySelectorAll('tranche-checkout')[1].refresh()",
        vec![],
    )
    .await;
    let error = wait_event(&h, "tranche:error", 1).await;
    assert_eq!(error["code"], "origin_not_allowed", "{error}");
    h.shadow_text(1, "[role=alert]", "not allowed").await.unwrap();
    h.close().await;
}

/// Runs `script` inside the fields frame of widget `index` (entered and left again).
async fn in_fields(h: &Harness, index: usize, script: &str) -> Value {
    let frame = h.shadow(index, "iframe[data-testid=fields]").await.unwrap();
    frame.enter_frame().await.unwrap();
    let wait = h.browser.wait().at_most(Duration::from_secs(15));
    wait.for_element(fantoccini::Locator::Css("#number"))
        .await
        .unwrap();
    let value = h.browser.execute(script, vec![]).await.unwrap();
    h.browser.enter_parent_frame().await.unwrap();
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_theme_reaches_the_card_fields_and_auto_follows_the_color_scheme() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (_, token) = h.invoice("THEME-1", "400.00").await.unwrap();
    // The buyer's system is dark; the seller brands the font, radius and primary colour.
    h.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    )
    .await
    .unwrap();
    let elements = format!(
        "<tranche-checkout token=\"{token}\" theme=\"auto\" \
           style=\"--tranche-radius: 14px; --tranche-font-family: Georgia, serif; --tranche-color-primary: #aa00aa\">\
         </tranche-checkout>"
    );
    h.open_page(page(&h.api, &elements, ""), None).await.unwrap();
    let background = || async {
        run(
            &h,
            "return getComputedStyle(document.querySelector('tranche-checkout').shadowRoot.querySelector('.tranche')).backgroundColor",
            vec![],
        )
        .await
    };
    h.shadow(0, "[data-testid=continue]").await.unwrap();
    assert_eq!(
        background().await,
        "rgb(18, 22, 32)",
        "auto + dark system = dark palette"
    );

    h.click(0, "[data-testid=continue]").await.unwrap();
    let src = h
        .shadow(0, "iframe[data-testid=fields]")
        .await
        .unwrap()
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(
        src.contains("scheme=dark") && src.contains("bg=%23121620"),
        "{src}"
    );
    let inside = in_fields(
        &h,
        0,
        "const input = document.getElementById('number'); const s = getComputedStyle(input); \
         return [getComputedStyle(document.body).backgroundColor, s.borderTopLeftRadius, s.fontFamily, s.color, \
                 getComputedStyle(document.documentElement).colorScheme];",
    )
    .await;
    assert_eq!(
        inside,
        json!([
            "rgb(18, 22, 32)",
            "14px",
            "Georgia, serif",
            "rgb(231, 234, 240)",
            "dark"
        ]),
        "the fields wear the widget's theme"
    );

    // Back to a light system: `auto` follows at once.
    h.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "light"}]}),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while background().await != "rgb(255, 255, 255)" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "auto did not follow the light scheme"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The fields already on screen follow too (the loader posts the new theme to the frame), and so does a
    // change of the attribute.
    let fields_background = "return [getComputedStyle(document.body).backgroundColor, \
                             getComputedStyle(document.documentElement).colorScheme]";
    for (expected, change) in [
        (json!(["rgb(255, 255, 255)", "light"]), None),
        (json!(["rgb(18, 22, 32)", "dark"]), Some("dark")),
    ] {
        if let Some(theme) = change {
            run(
                &h,
                "document.querySelector('tranche-checkout').theme = arguments[0]",
                vec![json!(theme)],
            )
            .await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = in_fields(&h, 0, fields_background).await;
            if now == expected {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "fields read {now}, never {expected}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The fields page applies only allow-listed values: hostile parameters change nothing and inject nothing.
    let hostile = format!(
        "{}/sandbox/fields?parent={}&bg={}&font={}&radius={}&text=inherit&danger={}",
        h.api,
        urlencode(&h.site),
        urlencode("red;}body{display:none"),
        urlencode("x);background:url(http://127.0.0.1:9/leak"),
        urlencode("calc(1px + 99px)"),
        urlencode("url(http://127.0.0.1:9/x)"),
    );
    h.open(&hostile).await.unwrap();
    let state = run(
        &h,
        "const root = document.documentElement.style; const input = getComputedStyle(document.getElementById('number')); \
         return [root.length, getComputedStyle(document.body).display, getComputedStyle(document.body).backgroundColor, input.borderTopLeftRadius];",
        vec![],
    )
    .await;
    assert_eq!(
        state,
        json!([0, "block", "rgb(255, 255, 255)", "6px"]),
        "{hostile}"
    );
    h.close().await;
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
