//! What the security review found in the widget, proved in a real browser: an unreadable success never
//! leads to a second charge, altered widget files never run, and the hosted page and a seller page with a
//! strict Content-Security-Policy run the widget with no refusal and no console error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};
use tranche_e2e::{altered_widget, mangling_proxy, skip, widget_dir, Harness};

/// Whether `css` matches in widget `index`'s shadow root right now (no waiting).
async fn present(h: &Harness, index: usize, css: &str) -> bool {
    h.browser
        .execute(
            "const w = document.querySelectorAll('tranche-checkout')[arguments[0]]; \
             return !!(w && w.shadowRoot && w.shadowRoot.querySelector(arguments[1]));",
            vec![json!(index), json!(css)],
        )
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// The latest `kind` event the page recorded for widget `index`, waiting up to 15 s.
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
async fn an_unreadable_payment_answer_never_leads_to_a_second_charge() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (invoice_id, token) = h.invoice("E2E-U", "500.00").await.unwrap();
    // Every 201 to a payment arrives as an HTML page, and the first invoice re-read after it fails (502).
    let (proxy, log) = mangling_proxy::start(&h.api, 1).unwrap();
    h.open_site_via(&proxy, vec![("U".into(), token)], None)
        .await
        .unwrap();
    h.click(0, "[data-testid='preset-50']").await.unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$250.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.shadow(0, "[data-testid=failure]").await.unwrap();
    h.screenshot("unreadable-success-unconfirmed").await;

    // Do what a buyer does: press the button the widget offers and, when it asks for the card again,
    // enter it again, until the widget shows a result (bounded: a widget that keeps charging stops here).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut cards_entered = 1;
    while !present(&h, 0, "[data-testid=result]").await && tokio::time::Instant::now() < deadline {
        if present(&h, 0, "[data-testid=failure] [data-testid=retry]").await {
            h.click(0, "[data-testid=retry]").await.unwrap();
            while present(&h, 0, "[data-testid=failure]").await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else if cards_entered < 4 && present(&h, 0, "[data-testid=pay]:not([disabled])").await {
            h.pay_with_card(0, "4242424242424242").await.unwrap();
            cards_entered += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Charged exactly once, as the seller's API says, and every payment request carried one key.
    let state = h.invoice_state(&invoice_id).await.unwrap();
    assert_eq!(state["amount_paid"], "250.00", "charged once: {state}");
    assert!(present(&h, 0, "[data-testid=result]").await, "a result is shown");
    assert_eq!(state["balance_due"], "250.00");
    let keys = log.payment_keys.lock().unwrap().clone();
    assert!(keys.len() >= 2, "the payment was retried: {keys:?}");
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "one Idempotency-Key: {keys:?}"
    );
    assert_eq!(cards_entered, 1, "the buyer was never asked for the card again");

    // The buyer sees the true state: the confirmation and the summary agree with the API.
    h.expect_paid(0, "$250.00", "$250.00", "$250.00").await.unwrap();
    let paid = wait_event(&h, "tranche:payment-succeeded", 0).await;
    assert_eq!(paid["amount"], "250.00");
    assert_eq!(paid["balance_due"], "250.00");
    h.screenshot("unreadable-success-confirmed").await;
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_widget_files_fail_closed_with_tranche_error() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (_, token) = h.invoice("E2E-I", "100.00").await.unwrap();
    let base = altered_widget::start(&widget_dir(), &h.api, &token).unwrap();

    for variant in ["glue", "wasm", "css"] {
        h.open(&format!("{base}/{variant}/")).await.unwrap();
        let error = wait_event(&h, "tranche:error", 0).await;
        assert_eq!(error["code"], "integrity", "{variant}: {error}");
        assert!(error["message"].as_str().unwrap().contains("integrity check"));
        h.shadow_text(0, "[data-testid=load-error]", "was not started")
            .await
            .unwrap();
        // Nothing payable: the message is all there is, and the wasm never ran (it would have
        // mounted its root and announced the invoice).
        let nodes = h
            .browser
            .execute(
                "return document.querySelector('tranche-checkout').shadowRoot.querySelectorAll('*').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(nodes, json!(1), "{variant}: only the message");
        assert!(!present(&h, 0, ".tranche").await);
        assert!(
            h.page_events().await.iter().all(|e| e["type"] != "tranche:ready"),
            "{variant}"
        );
        h.screenshot(&format!("integrity-{variant}")).await;
    }

    // Positive control: the intact copy, served the same way, runs: the wasm starts, mounts its view and
    // asks the API, which refuses this unregistered origin at the CORS preflight; the browser cannot tell
    // that from a network failure, and neither can the widget, so it reports `network`.
    h.open(&format!("{base}/intact/")).await.unwrap();
    let error = wait_event(&h, "tranche:error", 0).await;
    assert_eq!(error["code"], "network", "{error}");
    h.shadow_text(0, "[role=alert]", "could not reach the payment service")
        .await
        .unwrap();
    assert!(present(&h, 0, ".tranche").await, "the wasm mounted its view");
    h.close().await;
}

/// Runs `script` as an inline script the page did not ship; true if the page's policy refused it.
async fn inline_script_refused(h: &Harness) -> bool {
    h.browser
        .execute(
            "window.__injected = false; const s = document.createElement('script'); \
             s.textContent = 'window.__injected = true'; document.body.append(s); return !window.__injected;",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_page_and_a_strict_seller_page_run_the_widget_with_no_refusal_or_console_error() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (invoice_id, token) = h.invoice("E2E-C", "300.00").await.unwrap();

    // The hosted page, under its own strict policy: load, pay half, read the updated summary.
    h.open(&format!("{}/pay/{token}", h.api)).await.unwrap();
    h.shadow_text(0, "[data-testid=balance-due]", "$300.00")
        .await
        .unwrap();
    h.click(0, "[data-testid='preset-50']").await.unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$150.00", "$150.00", "$150.00").await.unwrap();
    h.shadow_text(0, "[part=status]", "Partially paid").await.unwrap();
    let errors = h.console_errors().await.unwrap();
    assert!(errors.is_empty(), "hosted page console: {errors:?}");
    // Positive control: the policy is enforced, and a refusal does reach the console we just read.
    assert!(
        inline_script_refused(&h).await,
        "the hosted page's CSP refuses inline scripts"
    );
    let errors = h.console_errors().await.unwrap();
    assert!(
        errors.iter().any(|e| e.contains("Content Security Policy")),
        "{errors:?}"
    );

    // A seller page with a strict policy of its own (the one docs/widget.md tells sellers to send), with
    // the widget for this invoice and one with a broken link.
    let policy = tranche_api::seller_site::strict_policy(&h.api);
    h.open_site_via(
        &h.api,
        vec![("C".into(), token), ("Broken".into(), "not-a-token".into())],
        Some(policy),
    )
    .await
    .unwrap();
    h.shadow_text(0, "[data-testid=balance-due]", "$150.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=full]").await.unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.shadow_text(0, "[data-testid=new-balance]", "$0.00")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=amount-paid]", "$300.00")
        .await
        .unwrap();
    h.shadow_text(0, "[part=status]", "Paid").await.unwrap();
    let broken = wait_event(&h, "tranche:error", 1).await;
    assert_eq!(broken["code"], "invalid_checkout_token", "{broken}");
    h.shadow_text(1, "[role=alert]", "invalid or has expired")
        .await
        .unwrap();
    h.screenshot("strict-csp-seller-site").await;

    let violations = h
        .browser
        .execute("return window.cspViolations", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "CSP refusals on the seller page");
    // The broken link's 401 is the one expected console line.
    let errors: Vec<String> = h
        .console_errors()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| !(e.contains("/v1/checkout") && e.contains("401")))
        .collect();
    assert!(errors.is_empty(), "seller page console: {errors:?}");
    assert!(
        inline_script_refused(&h).await,
        "the seller page's CSP is enforced"
    );
    let violations = h
        .browser
        .execute("return window.cspViolations.length", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!(1), "and its refusals are counted");

    let state = h.invoice_state(&invoice_id).await.unwrap();
    assert_eq!(state["amount_paid"], "300.00");
    assert_eq!(state["status"], "paid");
    h.close().await;
}
