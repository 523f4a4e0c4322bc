//! Offline payments (issue 15, DESIGN section 10): money the seller received outside Tranche (cheque, wire,
//! cash) recorded as a payment with `gateway: "offline"`: balance and status, the buyer's minimum not
//! binding the seller, pending card holds counting, idempotency, `payment.succeeded` at a webhook, and
//! every bad input a problem with nothing changed. Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    eventually, expect_problem, fast, spawn_app, spawn_app_with, stand_in, Backend, SellerCtx, TestApp,
};
use serde_json::{json, Value};

fn today() -> String {
    tranche_domain::wire::format_date(tranche_api::state::today())
}

async fn record(
    app: &TestApp,
    seller: &SellerCtx,
    invoice_id: &str,
    key: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/invoices/{invoice_id}/payments")))
        .bearer_auth(&seller.key)
        .json(&body);
    if let Some(k) = key {
        request = request.header("idempotency-key", k);
    }
    request.send().await.unwrap()
}

async fn record_ok(app: &TestApp, seller: &SellerCtx, invoice_id: &str, body: Value) -> Value {
    let r = record(
        app,
        seller,
        invoice_id,
        Some(&uuid::Uuid::now_v7().to_string()),
        body,
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn offline_count(app: &TestApp) -> i64 {
    app.sql_count("SELECT COUNT(*) FROM payments WHERE gateway = 'offline'")
        .await
}

async fn offline_payments_settle_the_balance(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    // The buyer must pay at least 500.00 at a time; the seller records what actually arrived.
    let terms = app
        .terms(
            &seller,
            json!({"name": "Big minimum", "allow_partial": true, "minimum_amounts": {"USD": "500.00"}}),
        )
        .await;
    let invoice = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await;
    let id = invoice["id"].as_str().unwrap().to_owned();

    let body =
        json!({"amount": "100.00", "method": "check", "reference": "CHK-1234", "received_on": today()});
    let r = record(&app, &seller, &id, Some("off-1"), body.clone()).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    assert!(first["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(first["gateway"], "offline");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["method"], "check");
    assert_eq!(first["reference"], "CHK-1234");
    assert_eq!(first["received_on"], today().as_str());
    assert_eq!(first["amount"], "100.00");
    assert_eq!(first["invoice"]["balance_due"], "900.00");
    assert_eq!(first["invoice"]["status"], "partially_paid");
    let inv = app.get_invoice(&seller, &id).await;
    assert_eq!(inv["amount_paid"], "100.00");
    assert_eq!(inv["balance_due"], "900.00");

    // Replays: same key and body, the first answer; another body, refused; no key, refused.
    let r = record(&app, &seller, &id, Some("off-1"), body.clone()).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.json::<Value>().await.unwrap(), first);
    let other =
        json!({"amount": "101.00", "method": "check", "reference": "CHK-1234", "received_on": today()});
    expect_problem(
        record(&app, &seller, &id, Some("off-1"), other.clone()).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    expect_problem(
        record(&app, &seller, &id, None, other).await,
        400,
        "idempotency_key_missing",
    )
    .await;
    assert_eq!(offline_count(&app).await, 1);

    // The seller's payments and the buyer's both show; the rest by wire settles it.
    let rest = record_ok(
        &app,
        &seller,
        &id,
        json!({"amount": "900.00", "method": "wire", "received_on": "2026-01-02"}),
    )
    .await;
    assert_eq!(rest["invoice"]["status"], "paid");
    assert_eq!(rest["reference"], Value::Null);
    let inv = app.get_invoice(&seller, &id).await;
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["balance_due"], "0.00");
    let one: Value = app
        .get(
            &format!("/v1/payments/{}", first["id"].as_str().unwrap()),
            &seller.key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["gateway"], "offline");
    assert_eq!(one["status"], "succeeded");
    expect_problem(
        record(
            &app,
            &seller,
            &id,
            Some("late"),
            json!({"amount": "1.00", "method": "cash", "received_on": today()}),
        )
        .await,
        409,
        "invoice_not_payable",
    )
    .await;
}
both_backends!(offline_payments_settle_the_balance);

async fn bad_offline_payments_change_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sandbox.ach_settle_seconds = 3600).await;
    let seller = app.seller("S").await;
    let usd = app.invoice(&seller, "USD", "100.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let jpy = app.invoice(&seller, "JPY", "10000", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kwd = app.invoice(&seller, "KWD", "10.000", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = |amount: &str| json!({"amount": amount, "method": "cash", "received_on": today()});

    let over = expect_problem(
        record(&app, &seller, &usd, Some("k1"), ok("100.01")).await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    assert_eq!(over["maximum"], "100.00");
    for (amount, code) in [
        ("0", "amount_not_positive"),
        ("-1.00", "amount_not_positive"),
        ("1.001", "amount_precision"),
        ("abc", "amount_malformed"),
    ] {
        expect_problem(
            record(&app, &seller, &usd, Some(&format!("k-{amount}")), ok(amount)).await,
            422,
            code,
        )
        .await;
    }
    expect_problem(
        record(&app, &seller, &jpy, Some("k-jpy"), ok("1.5")).await,
        422,
        "amount_precision",
    )
    .await;
    expect_problem(
        record(&app, &seller, &kwd, Some("k-kwd"), ok("1.0001")).await,
        422,
        "amount_precision",
    )
    .await;
    let tomorrow = tranche_domain::wire::format_date(tranche_api::state::today().next_day().unwrap());
    for (body, field) in [
        (
            json!({"amount": "1.00", "method": "bitcoin", "received_on": today()}),
            "method",
        ),
        (
            json!({"amount": "1.00", "method": "cash", "received_on": "2026-13-01"}),
            "received_on",
        ),
        (
            json!({"amount": "1.00", "method": "cash", "received_on": "yesterday"}),
            "received_on",
        ),
        (
            json!({"amount": "1.00", "method": "cash", "received_on": tomorrow}),
            "received_on",
        ),
        (
            json!({"amount": "1.00", "method": "cash", "received_on": today(), "reference": "r".repeat(201)}),
            "reference",
        ),
    ] {
        let problem = expect_problem(
            record(&app, &seller, &usd, Some("k-bad"), body).await,
            400,
            "invalid_field",
        )
        .await;
        assert_eq!(problem["field"], field);
    }
    expect_problem(
        record(
            &app,
            &seller,
            &usd,
            Some("k-unknown"),
            json!({"amount": "1.00", "method": "cash", "received_on": today(), "fee": "1"}),
        )
        .await,
        400,
        "unknown_field",
    )
    .await;
    // Another seller's invoice: not found.
    let other = app.seller("Other").await;
    expect_problem(
        record(&app, &other, &usd, Some("k-other"), ok("1.00")).await,
        404,
        "not_found",
    )
    .await;
    // A void invoice: not payable.
    let void = app.invoice(&seller, "USD", "20.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post(&format!("/v1/invoices/{void}/void"), &seller.key, json!({}))
            .await
            .status(),
        200
    );
    expect_problem(
        record(&app, &seller, &void, Some("k-void"), ok("1.00")).await,
        409,
        "invoice_not_payable",
    )
    .await;

    // A pending bank payment holds part of the balance: the seller cannot record over it either.
    let (_, token) = app.link(&seller, &usd).await;
    let bank = app.bank_token_for(&token, "110000000", "000123456789").await;
    let r = app.pay(&token, "ach-1", "60.00", &bank).await;
    assert_eq!(r.status(), 201);
    let held = expect_problem(
        record(&app, &seller, &usd, Some("k-held"), ok("40.01")).await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    assert_eq!(held["maximum"], "40.00");

    assert_eq!(offline_count(&app).await, 0);
    let inv = app.get_invoice(&seller, &usd).await;
    assert_eq!(inv["amount_paid"], "0.00");
    assert_eq!(inv["status"], "open");
    // The largest allowed still goes through.
    record_ok(&app, &seller, &usd, ok("40.00")).await;
}
both_backends!(bad_offline_payments_change_nothing);

async fn the_erp_hears_of_an_offline_payment(backend: Backend) {
    let (state, port) = stand_in::Recorder::start().await;
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "webhook", "url": format!("http://127.0.0.1:{port}/hooks")}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id = app.invoice(&seller, "USD", "500.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = record_ok(
        &app,
        &seller,
        &id,
        json!({"amount": "500.00", "method": "wire", "reference": "W-77", "received_on": "2026-11-02"}),
    )
    .await;
    let state_ref = &state;
    let hook = eventually("the payment webhook", Duration::from_secs(10), || async move {
        state_ref
            .bodies("/hooks")
            .into_iter()
            .find(|b| b["type"] == "payment.succeeded")
    })
    .await;
    let data = &hook["data"];
    assert_eq!(data["payment_id"], paid["id"]);
    assert_eq!(data["amount"], "500.00");
    assert_eq!(data["method"]["kind"], "offline");
    assert_eq!(data["method"]["brand"], "wire");
    assert_eq!(data["invoice_status_after"], "paid");
    // Money moved: the buyer gets a receipt as for a card payment.
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM deliveries WHERE kind = 'email'")
            .await,
        1
    );
}
both_backends!(the_erp_hears_of_an_offline_payment);
