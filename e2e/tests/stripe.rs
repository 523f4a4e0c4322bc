//! The widget's Stripe path in a real browser, against a stand-in Stripe.js served locally (Stripe's own
//! cannot be loaded without the internet, nor drive a real card): `api/tests/stripe_support/stand_in_stripe.js`
//! implements exactly the calls the widget's loader makes, and the API behind it runs `TRANCHE_GATEWAY=stripe`
//! against the spec-validating fake Stripe of the API's tests. What this shows: the Payment Element is mounted
//! in the light DOM inside `<tranche-checkout>` and shown through the shadow root's slot; the theme reaches
//! Stripe as Appearance variables; the PaymentMethod id is what the API charges; 3-D Secure runs
//! `handleNextAction` then the confirm call; a decline shows the advice. What it cannot show (real Stripe.js,
//! real issuers) is listed in docs/gateways.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../api/tests/stripe_support/mod.rs"]
mod stripe_support;

use fantoccini::Locator;
use serde_json::{json, Value};
use stripe_support::FakeStripe;
use tranche_api::config::GatewayKind;
use tranche_api::masking::Secret;
use tranche_e2e::{skip, Harness};

/// Types a scenario into the stand-in Payment Element (light DOM) and clicks the widget's Pay.
async fn pay_with(h: &Harness, scenario: &str) {
    let input = h
        .browser
        .wait()
        .at_most(std::time::Duration::from_secs(15))
        .for_element(Locator::Css("tranche-checkout > [slot=stripe] input"))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(scenario).await.unwrap();
    h.click(0, "[data-testid=pay]").await.unwrap();
}

async fn run(h: &Harness, script: &str) -> Value {
    h.browser.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_path_against_a_stand_in_stripe_js() {
    if skip() {
        return;
    }
    let fake = FakeStripe::start().await;
    let base = fake.base.clone();
    let h = Harness::start_with(move |s| {
        s.gateway = GatewayKind::Stripe;
        s.stripe.secret_key = Some(Secret::new("sk_test_fakefakefake123"));
        s.stripe.publishable_key = Some("pk_test_standin123".into());
        s.stripe.api_base = base.clone();
        s.stripe.js_url = format!("{base}/_test/stripe.js");
    })
    .await
    .unwrap();
    let (invoice_id, token) = h.invoice("E2E-STRIPE", "1000.00").await.unwrap();
    h.open_site(vec![("Invoice E2E-STRIPE".into(), token.clone())])
        .await
        .unwrap();

    // 25%: the Payment Element appears, in the light DOM, shown through the shadow root's slot.
    h.click(0, "[data-testid='preset-25']").await.unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.shadow(0, "slot[name=stripe]").await.unwrap();
    h.browser
        .wait()
        .for_element(Locator::Css("tranche-checkout > [slot=stripe] input"))
        .await
        .unwrap();
    let placement = run(
        &h,
        "const host = document.querySelector('tranche-checkout');
         const slot = host.shadowRoot.querySelector('slot[name=stripe]');
         const mounted = host.querySelector(':scope > [slot=stripe]');
         return {
           light: mounted.parentNode === host,
           inShadow: host.shadowRoot.querySelector('input[name=stand-in-card]') !== null,
           assigned: slot.assignedElements().length === 1 && slot.assignedElements()[0] === mounted,
           shown: mounted.getBoundingClientRect().height > 0,
           noSandboxFrame: host.shadowRoot.querySelector('iframe') === null,
         };",
    )
    .await;
    assert_eq!(
        placement,
        json!({"light": true, "inShadow": false, "assigned": true, "shown": true, "noSandboxFrame": true})
    );
    // Stripe.js was started with the publishable key, for this amount in minor units, and the theme.
    let calls = run(&h, "return window.standInStripe.calls").await;
    assert_eq!(calls[0], json!(["Stripe", "pk_test_standin123"]), "{calls}");
    let options = &calls[1][1];
    assert_eq!(
        (
            &options["mode"],
            &options["amount"],
            &options["currency"],
            &options["paymentMethodCreation"]
        ),
        (&json!("payment"), &json!(25000), &json!("usd"), &json!("manual")),
        "{options}"
    );
    let variables = &options["appearance"]["variables"];
    for name in [
        "colorPrimary",
        "colorText",
        "colorBackground",
        "borderRadius",
        "fontFamily",
    ] {
        assert!(variables[name].is_string(), "{name} missing from {variables}");
    }
    assert_eq!(calls[2], json!(["create", "payment"]));
    assert_eq!(calls[3], json!(["mount", "stripe"]));

    // A declined card: the advice, the balance unchanged.
    pay_with(&h, "insufficientfunds").await;
    h.shadow_text(0, "[data-testid=failure]", "Payment declined")
        .await
        .unwrap();
    assert_eq!(
        h.invoice_state(&invoice_id).await.unwrap()["balance_due"],
        "1000.00"
    );

    // A card: paid, the PaymentMethod from createPaymentMethod is what Stripe was asked to charge.
    h.click(0, "[data-testid=retry]").await.unwrap();
    pay_with(&h, "visa").await;
    h.expect_paid(0, "$250.00", "$250.00", "$750.00").await.unwrap();
    let created = fake.intent_forms();
    assert!(
        created[1]["payment_method"]
            .as_str()
            .unwrap()
            .starts_with("pm_visa_"),
        "{}",
        created[1]
    );

    // A 3-D Secure card: 402 action_required, handleNextAction with the PaymentIntent's client secret, then
    // the confirm call settles it.
    h.click(0, "[data-testid=pay-again]").await.unwrap();
    h.shadow_text(0, "[data-testid=balance-due]", "$750.00")
        .await
        .unwrap();
    // The chooser is drawn again when the reloaded invoice arrives, back on its default: click until 25% holds.
    for attempt in 0.. {
        h.click(0, "[data-testid='preset-25']").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let text = h
            .shadow(0, "[data-testid=remaining]")
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("$562.50") {
            break;
        }
        assert!(attempt < 30, "25% never chosen: {text}");
    }
    h.click(0, "[data-testid=continue]").await.unwrap();
    pay_with(&h, "threeds").await;
    h.expect_paid(0, "$187.50", "$437.50", "$562.50").await.unwrap();
    let calls = run(&h, "return window.standInStripe.calls").await;
    let action: Vec<&Value> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c[0] == "handleNextAction")
        .collect();
    let intent = &fake.intents()[2];
    assert_eq!(action.len(), 1, "{calls}");
    assert_eq!(action[0][1], intent["client_secret"]);
    assert_eq!(intent["status"], "succeeded");
    // One confirm (its CORS preflight aside), with the checkout token.
    let confirms: Vec<Value> = h
        .sent_headers("/confirm")
        .await
        .unwrap()
        .into_iter()
        .filter(|headers| headers.get("authorization").is_some())
        .collect();
    assert_eq!(confirms.len(), 1, "{confirms:?}");
    assert_eq!(confirms[0]["authorization"], format!("Bearer {token}"));
    assert_eq!(
        h.invoice_state(&invoice_id).await.unwrap()["balance_due"],
        "562.50"
    );
    // The emailed link's hosted page: its CSP lets Stripe.js in from the configured origin (and nothing
    // else), the Element mounts through the slot, and a card pays the rest.
    let link = tranche_e2e::post(
        &h.http,
        &format!("{}/v1/invoices/{invoice_id}/checkout-links", h.api),
        &h.key,
        json!({}),
    )
    .await
    .unwrap();
    h.open(&format!("{}/pay/{}", h.api, link["token"].as_str().unwrap()))
        .await
        .unwrap();
    h.click(0, "[data-testid=full]").await.unwrap();
    h.shadow_text(0, "[data-testid=continue]", "$562.50")
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.shadow(0, "slot[name=stripe]").await.unwrap();
    pay_with(&h, "visa").await;
    h.expect_paid(0, "$562.50", "$1,000.00", "$0.00").await.unwrap();
    let blocked: Vec<String> = h
        .console_errors()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.contains("Content Security Policy"))
        .collect();
    assert!(blocked.is_empty(), "{blocked:?}");
    fake.assert_no_violations();
    h.close().await;
}
