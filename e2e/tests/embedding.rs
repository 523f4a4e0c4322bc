//! Embedding concerns a front-end developer relies on: several widgets per page, DOM events, locale and
//! theme attributes, clean unmounting, keyboard use, and the hosted page for emailed links.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};
use tranche_e2e::{skip, Harness};

async fn events(h: &Harness) -> Vec<Value> {
    h.browser
        .execute("return window.trancheEvents || []", vec![])
        .await
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_event(h: &Harness, kind: &str, widget: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(e) = events(h)
            .await
            .into_iter()
            .rev()
            .find(|e| e["type"] == kind && e["widget"] == widget)
        {
            return e["detail"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} from widget {widget}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_widgets_events_locale_theme_unmount_and_keyboard() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (_, t1) = h.invoice("E2E-A", "1000.00").await.unwrap();
    let (id2, t2) = h.invoice("E2E-B", "400.00").await.unwrap();
    h.open_site(vec![("A".into(), t1), ("B".into(), t2)])
        .await
        .unwrap();

    // Both render independently and announce themselves.
    h.shadow_text(0, "[data-testid=balance-due]", "$1,000.00")
        .await
        .unwrap();
    h.shadow_text(1, "[data-testid=balance-due]", "$400.00")
        .await
        .unwrap();
    let ready = wait_event(&h, "tranche:ready", 1).await;
    assert_eq!(ready["number"], "E2E-B");
    assert_eq!(ready["balance_due"], "400.00");

    // Choosing in one widget changes only that one, and tells the page.
    h.click(0, "[data-testid='preset-50']").await.unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$500.00")
        .await
        .unwrap();
    let change = wait_event(&h, "tranche:amount-change", 0).await;
    assert_eq!(
        change,
        json!({"invoice_id": change["invoice_id"], "currency": "USD", "amount": "500.00", "valid": true, "code": null, "remaining_after": "500.00"})
    );
    let other = h
        .shadow(1, "[data-testid=amount]")
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(other.as_deref(), Some("400.00"), "widget B keeps its own state");

    // An invalid amount is an amount-change with the rule's code.
    let input = h.shadow(0, "[data-testid=amount]").await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("5").await.unwrap();
    h.shadow_text(0, "[data-testid=amount-error]", "minimum")
        .await
        .unwrap();
    let change = wait_event(&h, "tranche:amount-change", 0).await;
    assert_eq!(change["valid"], false);
    assert_eq!(change["code"], "amount_below_minimum");

    // Keyboard only: type an amount, Tab to Continue, Enter.
    input.clear().await.unwrap();
    input.send_keys("300").await.unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$700.00")
        .await
        .unwrap();
    input.send_keys("\u{E004}").await.unwrap(); // Tab
    let active_is_continue = h
        .browser
        .execute(
            "const r = document.querySelectorAll('tranche-checkout')[0].shadowRoot; \
             return r.activeElement && r.activeElement.dataset.testid === 'continue';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        active_is_continue,
        json!(true),
        "Tab moves from the amount to Continue"
    );
    h.browser
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap(); // Enter
    h.shadow(0, "iframe[data-testid=fields]").await.unwrap();

    // Locale: German strings and number formats; unknown locales fall back to English.
    h.browser
        .execute(
            "document.querySelectorAll('tranche-checkout')[1].setAttribute('locale', 'de-DE')",
            vec![],
        )
        .await
        .unwrap();
    h.shadow_text(
        1,
        "[data-testid=balance-due]",
        "400,00 $", /* WebDriver reports the no-break space as a space */
    )
    .await
    .unwrap();
    h.shadow_text(1, "legend", "Wie viel möchten Sie zahlen?")
        .await
        .unwrap();
    h.browser
        .execute(
            "document.querySelectorAll('tranche-checkout')[1].setAttribute('locale', 'xx-YY')",
            vec![],
        )
        .await
        .unwrap();
    h.shadow_text(1, "legend", "How much do you want to pay?")
        .await
        .unwrap();

    // Theme: dark changes the widget's own colours; the seller's hostile CSS never reaches inside.
    let bg = |i: usize| {
        let b = h.browser.clone();
        async move {
            b.execute(
                "return getComputedStyle(document.querySelectorAll('tranche-checkout')[arguments[0]].shadowRoot.querySelector('.tranche')).backgroundColor",
                vec![json!(i)],
            )
            .await
            .unwrap()
        }
    };
    let light = bg(1).await;
    h.browser
        .execute(
            "document.querySelectorAll('tranche-checkout')[1].setAttribute('theme', 'dark')",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(bg(1).await, light);
    let border = h
        .browser
        .execute(
            "return getComputedStyle(document.querySelectorAll('tranche-checkout')[1].shadowRoot.querySelector('[data-testid=full]')).borderTopStyle",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        border,
        json!("solid"),
        "the page's `button {{ border: dotted }}` must not leak in"
    );
    h.screenshot("two-widgets-dark").await;

    // Removing an element unmounts it; putting it back mounts a fresh view.
    let gone = h
        .browser
        .execute(
            "const w = document.querySelectorAll('tranche-checkout')[1]; const parent = w.parentNode; w.remove(); \
             window.__removed = w; window.__parent = parent; return w.shadowRoot.querySelector('.tranche') === null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(gone, json!(true));
    h.browser
        .execute("window.__parent.appendChild(window.__removed)", vec![])
        .await
        .unwrap();
    h.shadow_text(1, "[data-testid=balance-due]", "$400.00")
        .await
        .unwrap();
    let roots = h
        .browser
        .execute(
            "return document.querySelectorAll('tranche-checkout')[1].shadowRoot.querySelectorAll('.tranche').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(roots, json!(1), "exactly one mounted view after re-attaching");

    // Paying in widget B fires payment-succeeded with the new balance.
    h.click(1, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(1, "4242424242424242").await.unwrap();
    h.shadow_text(1, "[data-testid=new-balance]", "$0.00")
        .await
        .unwrap();
    let paid = wait_event(&h, "tranche:payment-succeeded", 1).await;
    assert_eq!(paid["amount"], "400.00");
    assert_eq!(paid["balance_due"], "0.00");
    assert_eq!(paid["invoice_status"], "paid");
    assert_eq!(h.invoice_state(&id2).await.unwrap()["status"], "paid");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_page_pays_the_rest_and_declines_fire_events() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (id, token) = h.invoice("E2E-H", "600.00").await.unwrap();

    // Part on the seller's site...
    h.open_site(vec![("H".into(), token.clone())]).await.unwrap();
    h.click(0, "[data-testid='preset-25']").await.unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$450.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.shadow_text(0, "[data-testid=new-balance]", "$450.00")
        .await
        .unwrap();

    // ...the rest from the emailed link's hosted page.
    let hosted = format!("{}/pay/{token}", h.api);
    h.open(&hosted).await.unwrap();
    h.shadow_text(0, "[data-testid=balance-due]", "$450.00")
        .await
        .unwrap();
    let title = h.browser.title().await.unwrap();
    assert!(title.contains("Northwind Supply Co."), "{title}");

    // Insufficient funds: specific advice, and a payment-failed event the page can see.
    h.browser
        .execute(
            "window.__failed = null; document.addEventListener('tranche:payment-failed', e => window.__failed = e.detail);",
            vec![],
        )
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4000000000009995").await.unwrap();
    h.shadow_text(0, "[data-testid=advice]", "insufficient funds")
        .await
        .unwrap();
    let failed = h.browser.execute("return window.__failed", vec![]).await.unwrap();
    assert_eq!(failed["code"], "payment_declined");
    assert_eq!(failed["decline_code"], "insufficient_funds");
    assert_eq!(failed["retryable"], false);
    assert_eq!(h.invoice_state(&id).await.unwrap()["balance_due"], "450.00");

    h.click(0, "[data-testid=retry]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.shadow_text(0, "[data-testid=new-balance]", "$0.00")
        .await
        .unwrap();
    let state = h.invoice_state(&id).await.unwrap();
    assert_eq!(state["status"], "paid");
    assert_eq!(state["amount_paid"], "600.00");

    // Reopening the link shows the paid invoice read-only, with its history.
    h.open(&hosted).await.unwrap();
    h.shadow_text(0, "[data-testid=read-only]", "paid in full")
        .await
        .unwrap();
    h.shadow_text(0, ".history", "$450.00").await.unwrap();
    h.screenshot("hosted-paid").await;
    h.close().await;
}
