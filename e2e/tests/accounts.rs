//! Issue 17's "done when", in a real browser: from an account link's hosted page (`/account/{token}`) a
//! buyer pays three of four open invoices in one payment (one of them in part) and disputes a line of the
//! fourth; the seller credits the dispute through the API; a webhook receiver on loopback hears
//! `payment.succeeded` with `allocations` naming the three invoices. Every view is scanned with axe-core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use tranche_e2e::{post, postgres_url, skip, Backend, Harness};

/// A webhook endpoint on loopback that keeps every body it receives.
async fn receiver() -> (Arc<Mutex<Vec<Value>>>, u16) {
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = bodies.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().route(
            "/hooks",
            web::post().to(move |body: web::Bytes| {
                let kept = kept.clone();
                async move {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        kept.lock().unwrap().push(v);
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (bodies, port)
}

async fn axe_clean(h: &Harness, view: &str) {
    let violations = h.axe_violations(None).await.unwrap();
    assert!(violations.is_empty(), "axe on {view}: {violations:#?}");
}

fn row(number: &str, css: &str) -> String {
    format!("tr[data-number='{number}'] {css}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_three_of_four_invoices_at_once_and_disputes_a_line_of_the_fourth() {
    if skip() {
        return;
    }
    done_when(Backend::Sqlite).await;
}

/// The same on PostgreSQL, when the test cluster is given (`cargo xtask test` gives it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_three_of_four_invoices_at_once_and_disputes_a_line_of_the_fourth_on_postgres() {
    if skip() {
        return;
    }
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none(),
            "TRANCHE_REQUIRE_POSTGRES is set but TRANCHE_TEST_POSTGRES_URL is not"
        );
        eprintln!("TRANCHE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    }
    done_when(Backend::Postgres).await;
}

async fn done_when(backend: Backend) {
    let h = Harness::start_on(backend).await.unwrap();
    let (hooks, port) = receiver().await;
    post(
        &h.http,
        &format!("{}/v1/erp/endpoints", h.api),
        &h.key,
        json!({"kind": "webhook", "url": format!("http://127.0.0.1:{port}/hooks")}),
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for (number, total) in [
        ("ACC-1", "120.00"),
        ("ACC-2", "300.00"),
        ("ACC-3", "80.00"),
        ("ACC-4", "500.00"),
    ] {
        ids.push(h.invoice(number, total).await.unwrap().0);
    }
    let link = post(
        &h.http,
        &format!("{}/v1/customers/{}/account-links", h.api, h.customer_id),
        &h.key,
        json!({}),
    )
    .await
    .unwrap();
    let token = link["token"].as_str().unwrap();
    h.open(&format!("{}/account/{token}", h.api)).await.unwrap();

    // Every open invoice, in a table with headers.
    h.shadow_text(0, "table[part=account] caption", "Open invoices")
        .await
        .unwrap();
    for (number, balance) in [("ACC-1", "$120.00"), ("ACC-4", "$500.00")] {
        h.shadow_text(0, &row(number, "[data-testid=balance]"), balance)
            .await
            .unwrap();
    }
    axe_clean(&h, "the account").await;

    // A dispute on the fourth: $40.00 of its line, for pricing; then the view shows it held.
    h.click(0, &row("ACC-4", "[data-testid=dispute]")).await.unwrap();
    h.shadow(0, "[data-testid=dispute-reason]")
        .await
        .unwrap()
        .select_by_value("pricing")
        .await
        .unwrap();
    h.shadow(0, "[data-testid=dispute-amount]")
        .await
        .unwrap()
        .send_keys("40.00")
        .await
        .unwrap();
    axe_clean(&h, "the dispute form").await;
    h.click(0, "[data-testid=dispute-send]").await.unwrap();
    h.shadow_text(0, &row("ACC-4", "[data-testid=disputed]"), "$40.00")
        .await
        .unwrap();

    // "Pay all" fills every payable balance (the fourth's undisputed rest); the buyer then keeps three,
    // paying the second in part.
    h.click(0, "[data-testid=pay-all]").await.unwrap();
    h.shadow_text(0, "[data-testid=total]", "$960.00").await.unwrap();
    h.click(0, &row("ACC-4", "[data-testid=select]")).await.unwrap();
    let amount = h.shadow(0, &row("ACC-2", "[data-testid=amount]")).await.unwrap();
    amount.clear().await.unwrap();
    amount.send_keys("10").await.unwrap();
    // Below the terms' $50.00 minimum: refused at that invoice, as the API would.
    h.shadow_text(0, &row("ACC-2", "[data-testid=amount-error]"), "$50.00")
        .await
        .unwrap();
    let disabled = h
        .shadow(0, "[data-testid=continue]")
        .await
        .unwrap()
        .attr("disabled")
        .await
        .unwrap();
    assert!(disabled.is_some(), "no payment while an amount is refused");
    amount.clear().await.unwrap();
    amount.send_keys("100.00").await.unwrap();
    h.shadow_text(0, "[data-testid=total]", "$300.00").await.unwrap();
    axe_clean(&h, "the selection").await;

    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    let result = h
        .shadow_text(0, "table[part=allocations]", "ACC-3")
        .await
        .unwrap();
    assert!(result.contains("ACC-1") && result.contains("ACC-2"), "{result}");
    assert!(!result.contains("ACC-4"), "{result}");
    // Each invoice's new balance and status, in words.
    assert!(
        result.contains("$200.00") && result.contains("Partially paid"),
        "{result}"
    );
    axe_clean(&h, "the result").await;
    assert!(h.console_errors().await.unwrap().is_empty(), "no console errors");

    let state = |i: usize| h.invoice_state(&ids[i]);
    assert_eq!(state(0).await.unwrap()["status"], "paid");
    assert_eq!(state(1).await.unwrap()["balance_due"], "200.00");
    assert_eq!(state(2).await.unwrap()["status"], "paid");
    assert_eq!(state(3).await.unwrap()["amount_paid"], "0.00");

    // The seller credits the dispute.
    let disputes: Value = h
        .http
        .get(format!("{}/v1/disputes", h.api))
        .bearer_auth(&h.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dispute = &disputes["data"][0];
    assert_eq!(dispute["invoice_id"], ids[3].as_str(), "{disputes}");
    assert_eq!(dispute["reason"], "pricing");
    let resolved = post(
        &h.http,
        &format!(
            "{}/v1/disputes/{}/resolve",
            h.api,
            dispute["id"].as_str().unwrap()
        ),
        &h.key,
        json!({"outcome": "credit", "amount": "40.00"}),
    )
    .await
    .unwrap();
    assert_eq!(resolved["status"], "credited");
    assert_eq!(state(3).await.unwrap()["balance_due"], "460.00");

    // The webhook names the three invoices paid.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let allocations = loop {
        let found = hooks
            .lock()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "payment.succeeded")
            .map(|b| b["data"]["allocations"].clone());
        if let Some(a) = found {
            break a;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no payment.succeeded webhook"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let named: Vec<&str> = allocations
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["invoice_id"].as_str().unwrap())
        .collect();
    assert_eq!(named, vec![ids[0].as_str(), ids[1].as_str(), ids[2].as_str()]);
    h.close().await;
}

/// The one-invoice checkout has the dispute form too: after it, the amount disputed shows and the full
/// balance offered is the undisputed rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_disputes_a_line_from_the_one_invoice_checkout() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (id, token) = h.invoice("DSP-1", "1000.00").await.unwrap();
    h.open_site(vec![("Invoice DSP-1".into(), token)]).await.unwrap();
    h.shadow_text(0, "[data-testid=continue]", "$1,000.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=dispute]").await.unwrap();
    h.shadow(0, "[data-testid=dispute-reason]")
        .await
        .unwrap()
        .select_by_value("damaged")
        .await
        .unwrap();
    h.shadow(0, "[data-testid=dispute-amount]")
        .await
        .unwrap()
        .send_keys("100.00")
        .await
        .unwrap();
    h.shadow(0, "[data-testid=dispute-note]")
        .await
        .unwrap()
        .send_keys("Two shelves arrived bent.")
        .await
        .unwrap();
    let violations = h.axe_violations(Some("tranche-checkout")).await.unwrap();
    assert!(violations.is_empty(), "axe on the dispute form: {violations:#?}");
    h.click(0, "[data-testid=dispute-send]").await.unwrap();
    h.shadow_text(0, "[data-testid=disputed]", "$100.00")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=continue]", "$900.00")
        .await
        .unwrap();
    let state = h.invoice_state(&id).await.unwrap();
    assert_eq!(state["amount_disputed"], "100.00", "{state}");
    assert!(h.console_errors().await.unwrap().is_empty(), "no console errors");
    h.close().await;
}

/// The balance moves while the buyer pays (the seller records a cheque): the API refuses the allocation, naming
/// its invoice, nothing is charged, and the widget shows the refusal at that invoice's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_naming_an_invoice_is_shown_at_that_invoice() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (first, _) = h.invoice("REF-1", "200.00").await.unwrap();
    let (second, _) = h.invoice("REF-2", "100.00").await.unwrap();
    let link = post(
        &h.http,
        &format!("{}/v1/customers/{}/account-links", h.api, h.customer_id),
        &h.key,
        json!({}),
    )
    .await
    .unwrap();
    h.open(&format!("{}/account/{}", h.api, link["token"].as_str().unwrap()))
        .await
        .unwrap();
    h.click(0, "[data-testid=pay-all]").await.unwrap();
    h.shadow_text(0, "[data-testid=total]", "$300.00").await.unwrap();

    let r = h
        .http
        .post(format!("{}/v1/invoices/{first}/payments", h.api))
        .bearer_auth(&h.key)
        .header("idempotency-key", "cheque-1")
        .json(&json!({"amount": "150.00", "method": "check", "received_on": "2026-01-02"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.shadow_text(0, &row("REF-1", "[data-testid=amount-error]"), "$50.00")
        .await
        .unwrap();
    let input = h.shadow(0, &row("REF-1", "[data-testid=amount]")).await.unwrap();
    assert_eq!(input.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    assert_eq!(h.invoice_state(&second).await.unwrap()["amount_paid"], "0.00");
    axe_clean(&h, "a refusal at its invoice").await;
    h.close().await;
}
