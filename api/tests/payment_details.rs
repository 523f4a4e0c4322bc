//! Smaller gaps of issue 15, each on SQLite and PostgreSQL: a payment's seller view shows what refunds gave
//! back and, for an offline payment, its method, reference and arrival date; an offline payment is refunded
//! without a gateway (money returned outside Tranche) with the same balance, event and audit as any refund;
//! the invoice view shows when it was sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn today() -> String {
    tranche_domain::wire::format_date(tranche_api::state::today())
}

async fn refund(
    app: &TestApp,
    seller: &SellerCtx,
    payment_id: &str,
    key: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/payments/{payment_id}/refunds")))
        .bearer_auth(&seller.key)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn payment(app: &TestApp, seller: &SellerCtx, id: &str) -> Value {
    let r = app.get(&format!("/v1/payments/{id}"), &seller.key).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn offline_payments_show_their_details_and_are_refunded_without_a_gateway(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let inv_id = inv["id"].as_str().unwrap();
    let r = app
        .client
        .post(app.url(&format!("/v1/invoices/{inv_id}/payments")))
        .bearer_auth(&seller.key)
        .header("idempotency-key", "cheque")
        .json(
            &json!({"amount": "300.00", "method": "check", "reference": "CHK 1001", "received_on": today()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let pay_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let shown = payment(&app, &seller, &pay_id).await;
    assert_eq!(shown["gateway"], "offline");
    assert_eq!(shown["method"], "check");
    assert_eq!(shown["reference"], "CHK 1001");
    assert_eq!(shown["received_on"], today());
    assert_eq!(shown["amount_refunded"], "0.00");
    let listed: Value = app
        .get(&format!("/v1/payments?invoice_id={inv_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    // (The ERP posting moves on meanwhile: compare what the list shares with the single view.)
    for field in [
        "id",
        "method",
        "reference",
        "received_on",
        "amount_refunded",
        "gateway",
    ] {
        assert_eq!(listed["data"][0][field], shown[field], "{field}");
    }

    // Part of the cheque goes back (a wire to the buyer): no gateway, final at once.
    let r = refund(
        &app,
        &seller,
        &pay_id,
        "back-1",
        json!({"amount": "100.00", "reason": "duplicate"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let refunded: Value = r.json().await.unwrap();
    assert_eq!(refunded["status"], "succeeded");
    assert_eq!(refunded["gateway_refund_id"], Value::Null);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_refunds").await, 0);
    // A retry with the key replays, refunding nothing more.
    let again: Value = refund(
        &app,
        &seller,
        &pay_id,
        "back-1",
        json!({"amount": "100.00", "reason": "duplicate"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(again["id"], refunded["id"]);

    let shown = payment(&app, &seller, &pay_id).await;
    assert_eq!(shown["amount_refunded"], "100.00");
    assert_eq!(shown["status"], "partially_refunded");
    let invoice = app.get_invoice(&seller, inv_id).await;
    assert_eq!(invoice["amount_paid"], "200.00");
    assert_eq!(invoice["balance_due"], "300.00");
    assert_eq!(invoice["status"], "partially_paid");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'refund.succeeded'")
            .await,
        1
    );
    let log: Value = app
        .get(
            &format!("/v1/audit-log?object_id={}", refunded["id"].as_str().unwrap()),
            &seller.key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"][0]["action"], "refund.succeeded");

    // Never past the payment; the rest goes back in full and reopens the invoice.
    let r = refund(&app, &seller, &pay_id, "back-2", json!({"amount": "200.01"})).await;
    expect_problem(r, 422, "refund_exceeds_payment").await;
    let r = refund(&app, &seller, &pay_id, "back-3", json!({})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["amount"], "200.00");
    let shown = payment(&app, &seller, &pay_id).await;
    assert_eq!(shown["status"], "refunded");
    assert_eq!(shown["amount_refunded"], "300.00");
    let invoice = app.get_invoice(&seller, inv_id).await;
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["balance_due"], "500.00");
    let r = refund(&app, &seller, &pay_id, "back-4", json!({})).await;
    expect_problem(r, 409, "payment_not_refundable").await;

    // Another seller cannot refund it.
    let other = app.seller("Other").await;
    let r = refund(&app, &other, &pay_id, "steal", json!({})).await;
    expect_problem(r, 404, "not_found").await;
}
both_backends!(offline_payments_show_their_details_and_are_refunded_without_a_gateway);

async fn card_payments_show_what_was_refunded(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let inv_id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, inv_id).await;
    let card = app.card_token_for(&token, VISA).await;
    let paid: Value = app.pay(&token, "k", "200.00", &card).await.json().await.unwrap();
    let pay_id = paid["payment"]["id"].as_str().unwrap();
    let shown = payment(&app, &seller, pay_id).await;
    assert_eq!(shown["amount_refunded"], "0.00");
    assert_eq!(shown["reference"], Value::Null);
    assert_eq!(shown["received_on"], Value::Null);
    let r = refund(&app, &seller, pay_id, "r1", json!({"amount": "25.50"})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(payment(&app, &seller, pay_id).await["amount_refunded"], "25.50");
    let listed: Value = app.get("/v1/payments", &seller.key).await.json().await.unwrap();
    assert_eq!(listed["data"][0]["amount_refunded"], "25.50");
}
both_backends!(card_payments_show_what_was_refunded);

async fn the_invoice_shows_when_it_was_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let inv_id = inv["id"].as_str().unwrap();
    assert_eq!(inv["sent_at"], Value::Null);
    let r = app
        .post(&format!("/v1/invoices/{inv_id}/send"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let sent = app.get_invoice(&seller, inv_id).await;
    let at = sent["sent_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    let listed: Value = app.get("/v1/invoices", &seller.key).await.json().await.unwrap();
    assert_eq!(listed["data"][0]["sent_at"], at);
}
both_backends!(the_invoice_shows_when_it_was_sent);
