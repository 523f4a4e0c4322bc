//! A payment plan in the buyer's browser (issue 16, DESIGN 11): the widget lists the installments, offers
//! the installment due first, and takes it although it is below the terms' minimum, as the API does; on the
//! seller's site (embed) and on the hosted page of the emailed link; a plan paid on three dates with
//! reminders and a late fee. Every view is scanned with axe-core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tranche_e2e::{post, skip, Harness};

/// `YYYY-MM-DD`, `days` from today (UTC), without a date crate: the civil-from-days algorithm
/// (H. Hinnant). The API's clock is the real one here, so "today" is the machine's.
fn date(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let z = now.div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_forty_thirty_plan_is_listed_and_its_installment_paid_below_the_minimum() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    // A $500.00 minimum: the $300.00 first installment is below it, so only the installment rule lets
    // it through (client and server alike).
    let id = plan_invoice(&h, "E2E-PLAN", json!({"minimum_amounts": {"USD": "500.00"}})).await;
    let link = post(
        &h.http,
        &format!("{}/v1/invoices/{id}/checkout-links", h.api),
        &h.key,
        json!({}),
    )
    .await
    .unwrap();
    let token = link["token"].as_str().unwrap().to_owned();
    h.open_site(vec![("Invoice E2E-PLAN".into(), token.clone())])
        .await
        .unwrap();

    // The plan: a table with a caption and column headers; each status is a word, not a colour.
    let row = |n: usize| format!("table[part=plan] tbody tr:nth-child({n})");
    h.shadow_text(0, &row(1), "$300.00").await.unwrap();
    h.shadow_text(0, &row(1), "Due now").await.unwrap();
    h.shadow_text(0, &row(2), "$400.00").await.unwrap();
    h.shadow_text(0, &row(2), "Upcoming").await.unwrap();
    h.shadow_text(0, &row(3), "$300.00").await.unwrap();
    h.shadow_text(0, "table[part=plan] caption", "Payment plan")
        .await
        .unwrap();
    let headers = h
        .browser
        .execute(
            "return [...document.querySelector('tranche-checkout').shadowRoot
                .querySelectorAll('table[part=plan] thead th[scope=col]')].map(th => th.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(headers, json!(["Installment", "Due", "Amount", "Status"]));

    // The first choice is the installment due, selected, and the amount field holds it.
    let first = h.shadow(0, "[part~=presets] button:first-child").await.unwrap();
    assert_eq!(
        first.attr("data-testid").await.unwrap().as_deref(),
        Some("installment")
    );
    assert!(first.text().await.unwrap().contains("Pay installment 1"));
    assert_eq!(first.attr("aria-pressed").await.unwrap().as_deref(), Some("true"));
    h.shadow_text(0, "[data-testid=continue]", "$300.00")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$700.00")
        .await
        .unwrap();
    h.screenshot("plan-installment-first").await;
    // On the seller's site, the widget (not the test site's own markup) is axe-clean.
    let violations = h.axe_violations(Some("tranche-checkout")).await.unwrap();
    assert!(violations.is_empty(), "axe on the embed: {violations:#?}");

    // Paid although below the $500.00 minimum; the summary shows installment 1 paid, the next one due.
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$300.00", "$300.00", "$700.00").await.unwrap();
    h.shadow_text(0, &row(1), "Paid").await.unwrap();
    h.shadow_text(0, &row(2), "Due now").await.unwrap();
    let state = h.invoice_state(&id).await.unwrap();
    assert_eq!(state["installments"][0]["status"], "paid", "{state}");
    assert_eq!(state["installments"][1]["status"], "due", "{state}");

    // Paying another part starts on installment 2.
    h.click(0, "[data-testid=pay-again]").await.unwrap();
    h.shadow_text(0, "[data-testid=installment]", "Pay installment 2")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=continue]", "$400.00")
        .await
        .unwrap();
    assert!(h.console_errors().await.unwrap().is_empty(), "no console errors");

    // The emailed link's hosted page, fresh from the API: installment 1 paid, installment 2 ($400.00, also
    // below the minimum) offered first and paid.
    h.open(&format!("{}/pay/{token}", h.api)).await.unwrap();
    h.shadow_text(0, &row(1), "Paid").await.unwrap();
    h.shadow_text(0, &row(2), "Due now").await.unwrap();
    h.shadow_text(0, "[data-testid=installment]", "Pay installment 2 · $400.00")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=continue]", "$400.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$400.00", "$700.00", "$300.00").await.unwrap();
    h.shadow_text(0, &row(2), "Paid").await.unwrap();
    h.shadow_text(0, &row(3), "Due now").await.unwrap();
    let state = h.invoice_state(&id).await.unwrap();
    assert_eq!(state["installments"][1]["status"], "paid", "{state}");
    h.close().await;
}

/// Issue 16's "done when", in the buyer's browser: a 30/40/30 plan paid on three dates through the hosted
/// page, the API's clock moved between them and the scheduler run for each date as `tranche scheduler run
/// --as-of` runs it (`scheduler::run_as_of`). Reminders fire on the days the terms name and never twice; the
/// late fee on installment 3 is applied once, shown on the page, and paid with the rest. Each page is
/// scanned with axe-core (WCAG 2.x A and AA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_forty_thirty_plan_is_paid_across_three_dates_in_the_hosted_page() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let extra = json!({"reminders": {"before_due_days": [3], "after_due_days": [1]},
                       "late_fee": {"grace_days": 5, "fixed": {"USD": "25.00"}}});
    let id = plan_invoice(&h, "E2E-3DATES", extra).await;
    let row = |n: usize| format!("table[part=plan] tbody tr:nth-child({n})");
    // Day 0: installment 1.
    open_fresh_link(&h, &id).await;
    h.shadow_text(0, "[data-testid=installment]", "Pay installment 1 · $300.00")
        .await
        .unwrap();
    axe_clean(&h, "day 0").await;
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$300.00", "$300.00", "$700.00").await.unwrap();
    axe_clean(&h, "day 0, paid").await;
    // The scan reaches into the widget's shadow root: a button without a name put there is reported.
    h.browser
        .execute(
            "document.querySelector('tranche-checkout').shadowRoot
                .appendChild(document.createElement('button')).id = 'unnamed'",
            vec![],
        )
        .await
        .unwrap();
    let found = h.axe_violations(None).await.unwrap();
    assert!(
        found.iter().any(|v| v["id"] == "button-name"),
        "axe must see inside the shadow root: {found:#?}"
    );

    // Day 27: three days before installment 2 is due, its reminder (once, whatever the number of passes).
    h.advance_days(27);
    passes(&h, 27).await;
    assert_eq!(count(&h, "invoice.reminder").await, 1);

    // Day 31: one day overdue: the after-due reminder; the buyer pays installment 2 (no fee within grace).
    h.advance_days(4);
    passes(&h, 31).await;
    assert_eq!(count(&h, "invoice.reminder").await, 2);
    open_fresh_link(&h, &id).await;
    h.shadow_text(0, &row(2), "Overdue").await.unwrap();
    h.shadow_text(0, "[data-testid=installment]", "Pay installment 2 · $400.00")
        .await
        .unwrap();
    axe_clean(&h, "day 31").await;
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$400.00", "$700.00", "$300.00").await.unwrap();
    h.shadow_text(0, &row(2), "Paid").await.unwrap();

    // Day 66: installment 3 (due day 60) is past its 5 days' grace: the before-due reminder (day 57) and
    // the after-due one (day 61) were missed by no pass and go out once each, the fee is applied once.
    h.advance_days(35);
    passes(&h, 66).await;
    assert_eq!(count(&h, "invoice.late_fee_applied").await, 1);
    let reminders = count(&h, "invoice.reminder").await;
    passes(&h, 66).await;
    assert_eq!(count(&h, "invoice.reminder").await, reminders, "never twice");
    assert_eq!(count(&h, "invoice.late_fee_applied").await, 1, "never twice");
    open_fresh_link(&h, &id).await;
    h.shadow_text(0, "[data-testid=late-fees]", "$25.00")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=balance-due]", "$325.00")
        .await
        .unwrap();
    h.shadow_text(0, &row(3), "Overdue").await.unwrap();
    axe_clean(&h, "day 66, with a fee").await;
    // The buyer settles everything: the last installment and the fee.
    h.click(0, "[data-testid=full]").await.unwrap();
    h.shadow_text(0, "[data-testid=continue]", "$325.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$325.00", "$1,025.00", "$0.00").await.unwrap();
    let state = h.invoice_state(&id).await.unwrap();
    assert_eq!(state["status"], "paid", "{state}");
    assert_eq!(state["total"], "1025.00", "{state}");
    let statuses: Vec<&str> = state["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["paid", "paid", "paid"], "{state}");
    // Nothing more once paid.
    h.advance_days(30);
    passes(&h, 96).await;
    assert_eq!(count(&h, "invoice.late_fee_applied").await, 1);
    assert_eq!(count(&h, "invoice.reminder").await, reminders);
    assert!(h.console_errors().await.unwrap().is_empty(), "no console errors");
    h.close().await;
}

/// The link the buyer follows on that day (as a reminder email mints one), on the API's moved clock.
async fn open_fresh_link(h: &Harness, id: &str) {
    let link = post(
        &h.http,
        &format!("{}/v1/invoices/{id}/checkout-links", h.api),
        &h.key,
        json!({}),
    )
    .await
    .unwrap();
    h.open(&format!("{}/pay/{}", h.api, link["token"].as_str().unwrap()))
        .await
        .unwrap();
}

async fn count(h: &Harness, event: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE event_type = $1")
        .bind(event)
        .fetch_one(h.state.db.pool())
        .await
        .unwrap();
    n
}

/// The scheduler's pass for `day` (as `tranche scheduler run --as-of` runs it), twice: passes are idempotent.
async fn passes(h: &Harness, day: i64) {
    for _ in 0..2 {
        tranche_api::scheduler::run_as_of(&h.state, &date(day))
            .await
            .unwrap();
    }
}

async fn axe_clean(h: &Harness, when: &str) {
    let violations = h.axe_violations(None).await.unwrap();
    assert!(
        violations.is_empty(),
        "axe on the hosted page ({when}): {violations:#?}"
    );
}

/// A $1,000.00 invoice issued today on 30/40/30 terms (due on issue, in 30 and in 60 days) with `extra`
/// terms fields; returns its id.
async fn plan_invoice(h: &Harness, number: &str, extra: serde_json::Value) -> String {
    let mut terms = json!({"name": format!("30/40/30 for {number}"), "allow_partial": true,
        "schedule": [{"percent": "30", "due": "on_issue"}, {"percent": "40", "due_in_days": 30},
                     {"percent": "30", "due_in_days": 60}]});
    terms
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let terms = post(&h.http, &format!("{}/v1/terms", h.api), &h.key, terms)
        .await
        .unwrap();
    let invoice = post(
        &h.http,
        &format!("{}/v1/invoices", h.api),
        &h.key,
        json!({"number": number, "customer_id": h.customer_id, "currency": "USD", "issue_date": date(0),
               "due_date": date(60), "terms_id": terms["id"],
               "lines": [{"description": "Shelving", "quantity": "1", "unit_price": "1000.00"}]}),
    )
    .await
    .unwrap();
    invoice["id"].as_str().unwrap().to_owned()
}
