//! Refunds (issue 15, DESIGN section 10): full and partial refunds through the gateway, the invoice and
//! payment moving back, idempotency, every bad input, a gateway timeout settled by the reconciler, and
//! the ERP hearing of it (webhook, QuickBooks RefundReceipt, buyer email). Every test runs on SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use common::smtp::{text_body, SmtpSink};
use common::{
    eventually, expect_problem, fast, spawn_app, spawn_app_with, stand_in, Backend, SellerCtx, TestApp,
};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
/// Sandbox: charges succeed, refunds fail (Stripe's 4000000000005126).
const REFUND_FAILS: &str = "4000000000005126";
/// Sandbox only: refunds are made, then the API's call times out.
const REFUND_TIMES_OUT: &str = "4000000000007718";

/// Pays `amount` of a fresh invoice of `total` in `currency` with `card`; returns `(invoice id, payment id)`.
async fn paid(
    app: &TestApp,
    seller: &SellerCtx,
    currency: &str,
    total: &str,
    amount: &str,
    card: &str,
) -> (String, String) {
    let invoice = app.invoice(seller, currency, total, None).await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let payment_id = pay(app, seller, &invoice_id, amount, card).await;
    (invoice_id, payment_id)
}

async fn pay(app: &TestApp, seller: &SellerCtx, invoice_id: &str, amount: &str, card: &str) -> String {
    let (_, token) = app.link(seller, invoice_id).await;
    let card = app.card_token_for(&token, card).await;
    let r = app
        .pay(&token, &uuid::Uuid::now_v7().to_string(), amount, &card)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "succeeded");
    body["payment"]["id"].as_str().unwrap().to_owned()
}

async fn refund(
    app: &TestApp,
    key: &str,
    payment_id: &str,
    idempotency_key: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/payments/{payment_id}/refunds")))
        .bearer_auth(key)
        .json(&body);
    if let Some(k) = idempotency_key {
        request = request.header("idempotency-key", k);
    }
    request.send().await.unwrap()
}

async fn refund_ok(app: &TestApp, seller: &SellerCtx, payment_id: &str, body: Value) -> Value {
    let r = refund(
        app,
        &seller.key,
        payment_id,
        Some(&uuid::Uuid::now_v7().to_string()),
        body,
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn payment(app: &TestApp, seller: &SellerCtx, id: &str) -> Value {
    let r = app.get(&format!("/v1/payments/{id}"), &seller.key).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn sandbox_refunds(app: &TestApp) -> i64 {
    app.sql_count("SELECT COUNT(*) FROM sandbox_refunds WHERE status = 'succeeded'")
        .await
}

// ---------------------------------------------------------------------------------------------------
// Full and partial refunds; the invoice reopens and can be paid again.

async fn partial_then_full_refund_moves_everything_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (invoice_id, payment_id) = paid(&app, &seller, "USD", "100.00", "100.00", VISA).await;
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["status"], "paid");

    let first = refund_ok(
        &app,
        &seller,
        &payment_id,
        json!({"amount": "30.00", "reason": "requested_by_customer"}),
    )
    .await;
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["amount"], "30.00");
    assert_eq!(first["currency"], "USD");
    assert_eq!(first["payment_id"], payment_id.as_str());
    assert!(first["id"].as_str().unwrap().starts_with("re_"));
    assert!(first["created_at"].as_str().unwrap().ends_with('Z'));
    let invoice = app.get_invoice(&seller, &invoice_id).await;
    assert_eq!(invoice["amount_paid"], "70.00");
    assert_eq!(invoice["balance_due"], "30.00");
    assert_eq!(invoice["status"], "partially_paid");
    assert_eq!(
        payment(&app, &seller, &payment_id).await["status"],
        "partially_refunded"
    );

    // No amount: everything still refundable.
    let rest = refund_ok(&app, &seller, &payment_id, json!({})).await;
    assert_eq!(rest["amount"], "70.00");
    let invoice = app.get_invoice(&seller, &invoice_id).await;
    assert_eq!(invoice["amount_paid"], "0.00");
    assert_eq!(invoice["balance_due"], "100.00");
    assert_eq!(invoice["status"], "open");
    assert_eq!(payment(&app, &seller, &payment_id).await["status"], "refunded");
    assert_eq!(sandbox_refunds(&app).await, 2);

    // Nothing left: a refunded payment is not refundable.
    expect_problem(
        refund(&app, &seller.key, &payment_id, Some("k-more"), json!({})).await,
        409,
        "payment_not_refundable",
    )
    .await;

    // The reopened invoice can be paid again.
    let again = pay(&app, &seller, &invoice_id, "100.00", VISA).await;
    assert_ne!(again, payment_id);
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["status"], "paid");

    // Listed newest first, per payment, paged.
    let list: Value = app
        .get(&format!("/v1/refunds?payment_id={payment_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [rest["id"].as_str().unwrap(), first["id"].as_str().unwrap()]);
    assert_eq!(list["has_more"], false);
    let page: Value = app
        .get("/v1/refunds?limit=1", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["has_more"], true);
    let next: Value = app
        .get(
            &format!(
                "/v1/refunds?limit=1&starting_after={}",
                page["data"][0]["id"].as_str().unwrap()
            ),
            &seller.key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["data"][0]["id"], first["id"]);
    assert_eq!(next["has_more"], false);
    // The refund list pages like every other list: the same codes.
    for (bad, code) in [
        ("limit=0", "invalid_query"),
        ("limit=101", "invalid_query"),
        ("starting_after=re_nope", "starting_after_not_found"),
    ] {
        expect_problem(
            app.get(&format!("/v1/refunds?{bad}"), &seller.key).await,
            400,
            code,
        )
        .await;
    }
    let one: Value = app
        .get(
            &format!("/v1/refunds/{}", first["id"].as_str().unwrap()),
            &seller.key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["amount"], "30.00");
    assert_eq!(one["reason"], "requested_by_customer");
}
both_backends!(partial_then_full_refund_moves_everything_back);

/// A payment that took the early-payment discount and is refunded in full gives the discount back too;
/// the database row stays consistent (the CHECKs would refuse otherwise).
async fn full_refund_of_a_discounted_payment_reopens_the_whole_total(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let terms = app
        .terms(&seller, json!({"name": "2/10", "allow_partial": true, "early_payment_discount": {"percent": "2", "within_days": 10}}))
        .await;
    let invoice = app.invoice(&seller, "USD", "100.00", Some(&terms)).await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let payment_id = pay(&app, &seller, &invoice_id, "98.00", VISA).await;
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["status"], "paid");
    expect_problem(
        refund(
            &app,
            &seller.key,
            &payment_id,
            Some("too-much"),
            json!({"amount": "98.01"}),
        )
        .await,
        422,
        "refund_exceeds_payment",
    )
    .await;
    refund_ok(&app, &seller, &payment_id, json!({"amount": "98.00"})).await;
    let invoice = app.get_invoice(&seller, &invoice_id).await;
    assert_eq!(invoice["amount_paid"], "0.00");
    assert_eq!(invoice["balance_due"], "100.00");
    assert_eq!(invoice["status"], "open");
}
both_backends!(full_refund_of_a_discounted_payment_reopens_the_whole_total);

// ---------------------------------------------------------------------------------------------------
// Idempotency.

async fn refunds_are_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (invoice_id, payment_id) = paid(&app, &seller, "USD", "100.00", "100.00", VISA).await;
    let first = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("refund-1"),
        json!({"amount": "10.00"}),
    )
    .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("refund-1"),
        json!({"amount": "10.00"}),
    )
    .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(sandbox_refunds(&app).await, 1, "refunded once");
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "90.00"
    );
    // Same key, different body (amount, reason, or payment): refused, nothing changed.
    expect_problem(
        refund(
            &app,
            &seller.key,
            &payment_id,
            Some("refund-1"),
            json!({"amount": "11.00"}),
        )
        .await,
        422,
        "idempotency_key_reused",
    )
    .await;
    expect_problem(
        refund(
            &app,
            &seller.key,
            &payment_id,
            Some("refund-1"),
            json!({"amount": "10.00", "reason": "duplicate"}),
        )
        .await,
        422,
        "idempotency_key_reused",
    )
    .await;
    let (_, other_payment) = paid(&app, &seller, "USD", "50.00", "50.00", VISA).await;
    expect_problem(
        refund(
            &app,
            &seller.key,
            &other_payment,
            Some("refund-1"),
            json!({"amount": "10.00"}),
        )
        .await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(sandbox_refunds(&app).await, 1);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "90.00"
    );
    // Another seller's identical key is theirs: no clash.
    let other = app.seller("T").await;
    let (_, theirs) = paid(&app, &other, "USD", "20.00", "20.00", VISA).await;
    let r = refund(
        &app,
        &other.key,
        &theirs,
        Some("refund-1"),
        json!({"amount": "10.00"}),
    )
    .await;
    assert_eq!(r.status(), 201);
}
both_backends!(refunds_are_idempotent);

// ---------------------------------------------------------------------------------------------------
// Bad input: a clear problem, a stable code, nothing changed.

async fn bad_refunds_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (invoice_id, payment_id) = paid(&app, &seller, "USD", "100.00", "40.00", VISA).await;
    let k = || Some(uuid::Uuid::now_v7().to_string());
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"amount": "-1.00"}), 422, "amount_not_positive"),
        (json!({"amount": "0.00"}), 422, "amount_not_positive"),
        (json!({"amount": "1.001"}), 422, "amount_precision"),
        (json!({"amount": "abc"}), 422, "amount_malformed"),
        (json!({"amount": "40.01"}), 422, "refund_exceeds_payment"),
        (
            json!({"amount": "99999999999999999999999"}),
            422,
            "refund_exceeds_payment",
        ),
        (json!({"amount": 5}), 400, "malformed_body"),
        (json!({"reason": "changed_mind"}), 400, "malformed_body"),
        (json!({"amount": "1.00", "note": "x"}), 400, "unknown_field"),
    ];
    for (body, status, code) in cases {
        let problem = expect_problem(
            refund(&app, &seller.key, &payment_id, k().as_deref(), body.clone()).await,
            status,
            code,
        )
        .await;
        if code == "refund_exceeds_payment" {
            assert_eq!(problem["maximum"], "40.00", "{body}");
        }
    }
    // Missing and invalid Idempotency-Key.
    expect_problem(
        refund(&app, &seller.key, &payment_id, None, json!({})).await,
        400,
        "idempotency_key_missing",
    )
    .await;
    expect_problem(
        refund(&app, &seller.key, &payment_id, Some("has space"), json!({})).await,
        400,
        "idempotency_key_invalid",
    )
    .await;
    let long = "k".repeat(256);
    expect_problem(
        refund(&app, &seller.key, &payment_id, Some(&long), json!({})).await,
        400,
        "idempotency_key_invalid",
    )
    .await;
    // Another seller's payment, and one that does not exist: 404, never a hint.
    let other = app.seller("T").await;
    expect_problem(
        refund(&app, &other.key, &payment_id, k().as_deref(), json!({})).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        refund(&app, &seller.key, "pay_nope", k().as_deref(), json!({})).await,
        404,
        "not_found",
    )
    .await;
    let theirs: Value = app
        .get(&format!("/v1/refunds?payment_id={payment_id}"), &other.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);
    // A declined (failed) payment, and a pending one (a bank debit not settled yet), are not refundable.
    let invoice = app.invoice(&seller, "USD", "10.00", None).await;
    let (_, token) = app.link(&seller, invoice["id"].as_str().unwrap()).await;
    let declined = app.card_token_for(&token, "4000000000000002").await;
    let r = app.pay(&token, "declined", "10.00", &declined).await;
    assert_eq!(r.status(), 402);
    let failed_id = app
        .sql_text("SELECT id FROM payments WHERE status = 'failed'")
        .await;
    expect_problem(
        refund(&app, &seller.key, &failed_id, k().as_deref(), json!({})).await,
        409,
        "payment_not_refundable",
    )
    .await;
    let bank = app.bank_token_for(&token, "110000000", "000123456789").await;
    let r = app.pay(&token, "bank", "10.00", &bank).await;
    assert_eq!(r.status(), 201);
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["payment"]["status"], "pending");
    let pending_id = pending["payment"]["id"].as_str().unwrap();
    expect_problem(
        refund(&app, &seller.key, pending_id, k().as_deref(), json!({})).await,
        409,
        "payment_not_refundable",
    )
    .await;
    // Nothing changed anywhere.
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM refunds").await, 0);
    assert_eq!(sandbox_refunds(&app).await, 0);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "40.00"
    );
    assert_eq!(payment(&app, &seller, &payment_id).await["status"], "succeeded");
}
both_backends!(bad_refunds_are_refused_and_change_nothing);

/// Precision follows the currency's exponent: JPY 0 decimals, KWD 3.
async fn refund_precision_follows_the_currency(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (_, jpy) = paid(&app, &seller, "JPY", "5000", "5000", VISA).await;
    expect_problem(
        refund(&app, &seller.key, &jpy, Some("j1"), json!({"amount": "1.5"})).await,
        422,
        "amount_precision",
    )
    .await;
    expect_problem(
        refund(&app, &seller.key, &jpy, Some("j2"), json!({"amount": "100.0"})).await,
        422,
        "amount_precision",
    )
    .await;
    assert_eq!(
        refund_ok(&app, &seller, &jpy, json!({"amount": "1500"})).await["amount"],
        "1500"
    );
    let (_, kwd) = paid(&app, &seller, "KWD", "10.000", "10.000", VISA).await;
    expect_problem(
        refund(&app, &seller.key, &kwd, Some("k1"), json!({"amount": "1.0005"})).await,
        422,
        "amount_precision",
    )
    .await;
    assert_eq!(
        refund_ok(&app, &seller, &kwd, json!({"amount": "1.125"})).await["amount"],
        "1.125"
    );
    let (_, usd) = paid(&app, &seller, "USD", "10.00", "10.00", VISA).await;
    expect_problem(
        refund(&app, &seller.key, &usd, Some("u1"), json!({"amount": "1.001"})).await,
        422,
        "amount_precision",
    )
    .await;
}
both_backends!(refund_precision_follows_the_currency);

// ---------------------------------------------------------------------------------------------------
// The gateway: a refund it refuses, and one it makes before the API's call times out.

async fn a_failed_refund_moves_no_money(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (invoice_id, payment_id) = paid(&app, &seller, "USD", "100.00", "100.00", REFUND_FAILS).await;
    let failed = refund_ok(&app, &seller, &payment_id, json!({"amount": "25.00"})).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure_code"], "expired_or_canceled_card");
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["status"], "paid");
    assert_eq!(payment(&app, &seller, &payment_id).await["status"], "succeeded");
    // The failed refund holds nothing: the whole payment is still refundable.
    let r = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("all"),
        json!({"amount": "100.01"}),
    )
    .await;
    assert_eq!(
        expect_problem(r, 422, "refund_exceeds_payment").await["maximum"],
        "100.00"
    );
}
both_backends!(a_failed_refund_moves_no_money);

async fn gateway_timeout_mid_refund_ends_in_exactly_one_refund(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (invoice_id, payment_id) = paid(&app, &seller, "USD", "100.00", "100.00", REFUND_TIMES_OUT).await;
    let r = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("ambiguous"),
        json!({"amount": "60.00"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["status"], "pending", "made at the gateway, answer lost");
    // The hold stands: no more than the rest can be refunded meanwhile.
    let r = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("meanwhile"),
        json!({"amount": "40.01"}),
    )
    .await;
    assert_eq!(
        expect_problem(r, 422, "refund_exceeds_payment").await["maximum"],
        "40.00"
    );
    // A retry with the same key replays the pending answer and refunds nothing more.
    let again: Value = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("ambiguous"),
        json!({"amount": "60.00"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(again["id"], pending["id"]);
    // Nothing moved on our side yet.
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["status"], "paid");
    // Within the grace period the reconciler leaves it to its request; past it, it asks the gateway by the
    // refund id, finds the refund and finalizes it once.
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(
        tranche_api::reconciler::pass(&app.state).await.unwrap(),
        0,
        "settled once"
    );
    let settled: Value = app
        .get(
            &format!("/v1/refunds/{}", pending["id"].as_str().unwrap()),
            &seller.key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settled["status"], "succeeded");
    assert_eq!(sandbox_refunds(&app).await, 1);
    let invoice = app.get_invoice(&seller, &invoice_id).await;
    assert_eq!(invoice["amount_paid"], "40.00");
    assert_eq!(invoice["status"], "partially_paid");
    assert_eq!(
        payment(&app, &seller, &payment_id).await["status"],
        "partially_refunded"
    );
    // The key now replays the final answer.
    let replay: Value = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("ambiguous"),
        json!({"amount": "60.00"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(replay["status"], "succeeded");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'refund.succeeded'")
            .await,
        1
    );
}
both_backends!(gateway_timeout_mid_refund_ends_in_exactly_one_refund);

/// A crash between the hold and the gateway call: the gateway never saw the refund, so the reconciler
/// releases it (no money moved) and the seller's retry with the same key refunds once.
async fn a_refund_the_gateway_never_saw_is_released(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let (invoice_id, payment_id) = paid(&app, &seller, "USD", "100.00", "100.00", VISA).await;
    // The hold as the request wrote it before dying (the refund flow's own row shape).
    let now = app.state.clock().now_ms();
    sqlx::query(
        "INSERT INTO refunds (id, seller_id, payment_id, invoice_id, amount_minor, currency, status, idempotency_key,          request_hash, reconcile_after, created_at, updated_at) VALUES ('re_crashed', $1, $2, $3, 5000, 'USD', 'pending', 'crash', 'h', $4, $4, $4)",
    )
    .bind(&seller.id)
    .bind(&payment_id)
    .bind(&invoice_id)
    .bind(now)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let r = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("other"),
        json!({"amount": "50.01"}),
    )
    .await;
    expect_problem(r, 422, "refund_exceeds_payment").await;
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    let released: Value = app
        .get("/v1/refunds/re_crashed", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(released["status"], "failed");
    assert_eq!(released["failure_code"], "not_sent");
    assert_eq!(sandbox_refunds(&app).await, 0);
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["status"], "paid");
    // The key was forgotten with the hold: a retry runs afresh.
    let retry = refund(
        &app,
        &seller.key,
        &payment_id,
        Some("crash"),
        json!({"amount": "50.00"}),
    )
    .await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.json::<Value>().await.unwrap()["status"], "succeeded");
    assert_eq!(sandbox_refunds(&app).await, 1);
}
both_backends!(a_refund_the_gateway_never_saw_is_released);

// ---------------------------------------------------------------------------------------------------
// The ERP and the buyer hear of it: a signed webhook `refund.succeeded`, a QuickBooks RefundReceipt
// checked against Intuit's published requirements, and a receipt email at a real SMTP sink.

const REALM: &str = "4620816365";

#[derive(Default)]
struct Erp {
    /// `(path, query, body)` of every request.
    requests: Mutex<Vec<(String, String, Value)>>,
    violations: Mutex<Vec<String>>,
}

impl Erp {
    fn bodies(&self, path_end: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p.ends_with(path_end))
            .map(|(_, _, b)| b.clone())
            .collect()
    }
}

/// One server playing the seller's webhook receiver and Intuit (OAuth token endpoint, Payment and
/// RefundReceipt APIs). Refund receipts are checked against Intuit's RefundReceipt create requirements:
/// `DepositToAccountRef` and at least one `SalesItemLineDetail` line with an `ItemRef`, numeric amounts
/// that add up to `TotalAmt`, `CustomerRef`, a `YYYY-MM-DD` `TxnDate`, `PaymentRefNum` of at most 21
/// characters, and the `requestid` that makes a retried post idempotent.
async fn erp_server(erp: Arc<Erp>) -> u16 {
    let data = web::Data::new(erp);
    let (port, _) = stand_in::serve_any(move |app| {
        app.app_data(data.clone()).default_service(web::to(
            |request: HttpRequest, body: web::Bytes, erp: web::Data<Arc<Erp>>| async move {
                let path = request.path().to_owned();
                if path == "/oauth2/v1/tokens/bearer" {
                    return HttpResponse::Ok().json(json!({
                        "access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-2",
                        "x_refresh_token_expires_in": 8_726_400, "token_type": "bearer"}));
                }
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                erp.requests.lock().unwrap().push((
                    path.clone(),
                    request.query_string().to_owned(),
                    value.clone(),
                ));
                if path == format!("/v3/company/{REALM}/refundreceipt") {
                    let mut problems = Vec::new();
                    let auth = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    if auth != Some("Bearer at-1") {
                        problems.push(format!("authorization {auth:?}"));
                    }
                    if !request.query_string().contains("requestid=dlv_") {
                        problems.push("no requestid".to_owned());
                    }
                    if !value["DepositToAccountRef"]["value"].is_string() {
                        problems.push("DepositToAccountRef missing".to_owned());
                    }
                    if !value["CustomerRef"]["value"].is_string() {
                        problems.push("CustomerRef missing".to_owned());
                    }
                    let lines = value["Line"].as_array().cloned().unwrap_or_default();
                    if lines.is_empty() {
                        problems.push("no Line".to_owned());
                    }
                    // Exact decimals, never floats: the amounts as JSON wrote them.
                    let dec = |v: &Value| {
                        v.as_number()
                            .and_then(|n| n.to_string().parse::<rust_decimal::Decimal>().ok())
                    };
                    let mut sum = rust_decimal::Decimal::ZERO;
                    for line in &lines {
                        let detail = &line["SalesItemLineDetail"];
                        if line["DetailType"] != "SalesItemLineDetail"
                            || !detail["ItemRef"]["value"].is_string()
                        {
                            problems.push(format!("line shape {line}"));
                        }
                        let (Some(amount), Some(qty), Some(price)) = (
                            dec(&line["Amount"]),
                            dec(&detail["Qty"]),
                            dec(&detail["UnitPrice"]),
                        ) else {
                            problems.push(format!("line numbers {line}"));
                            continue;
                        };
                        if qty.checked_mul(price) != Some(amount) {
                            problems.push(format!("Qty x UnitPrice != Amount in {line}"));
                        }
                        sum = sum.checked_add(amount).unwrap_or_default();
                    }
                    if dec(&value["TotalAmt"]) != Some(sum) {
                        problems.push("TotalAmt is not the sum of the lines".to_owned());
                    }
                    let date = value["TxnDate"].as_str().unwrap_or("");
                    if date.len() != 10
                        || time::Date::parse(date, &time::format_description::well_known::Iso8601::DATE)
                            .is_err()
                    {
                        problems.push(format!("TxnDate {date:?}"));
                    }
                    if value["PaymentRefNum"]
                        .as_str()
                        .is_none_or(|r| r.is_empty() || r.chars().count() > 21)
                    {
                        problems.push("PaymentRefNum".to_owned());
                    }
                    if !problems.is_empty() {
                        erp.violations.lock().unwrap().extend(problems.clone());
                        return HttpResponse::BadRequest().json(json!({"Fault": {"Error": problems}}));
                    }
                }
                HttpResponse::Ok().json(json!({"ok": true}))
            },
        ));
    });
    port
}

async fn the_erp_and_the_buyer_hear_of_a_refund(backend: Backend) {
    let erp = Arc::new(Erp::default());
    let port = erp_server(erp.clone()).await;
    let sink = SmtpSink::start().await;
    let smtp_port = sink.port;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.smtp = Some(common::smtp::settings(smtp_port));
    })
    .await;
    let seller = app.seller("Northwind").await;
    let base = format!("http://127.0.0.1:{port}");
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "webhook", "url": format!("{base}/hooks")}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "quickbooks", "url": format!("{base}/v3/company/{REALM}/payment"),
                   "token_url": format!("{base}/oauth2/v1/tokens/bearer"), "realm_id": REALM,
                   "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1",
                   "refund_account_id": "35", "refund_item_id": "21"}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A refund account id must be a QuickBooks id, and is only for QuickBooks endpoints.
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "webhook", "url": format!("{base}/h2"), "refund_account_id": "35"}),
        )
        .await;
    expect_problem(r, 400, "invalid_field").await;

    let invoice = app
        .invoice_with(&seller, "USD", "1000.00", json!({"external_ref": "145"}))
        .await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let number = invoice["number"].as_str().unwrap().to_owned();
    let payment_id = pay(&app, &seller, &invoice_id, "1000.00", VISA).await;
    let refunded = refund_ok(
        &app,
        &seller,
        &payment_id,
        json!({"amount": "250.00", "reason": "duplicate"}),
    )
    .await;
    let refund_id = refunded["id"].as_str().unwrap().to_owned();

    let erp_ref = &erp;
    let hook = eventually("the refund webhook", Duration::from_secs(10), || async move {
        erp_ref
            .bodies("/hooks")
            .into_iter()
            .find(|b| b["type"] == "refund.succeeded")
    })
    .await;
    let data = &hook["data"];
    assert_eq!(data["refund_id"], refund_id.as_str());
    assert_eq!(data["payment_id"], payment_id.as_str());
    assert_eq!(data["amount"], "250.00");
    assert_eq!(data["invoice_balance_after"], "250.00");
    assert_eq!(data["invoice_status_after"], "partially_paid");
    assert_eq!(data["payment_status_after"], "partially_refunded");
    assert_eq!(data["payment_amount_refunded"], "250.00");
    assert_eq!(data["reason"], "duplicate");

    let receipt = eventually(
        "the QuickBooks RefundReceipt",
        Duration::from_secs(10),
        || async move { erp_ref.bodies("/refundreceipt").into_iter().next() },
    )
    .await;
    assert_eq!(erp.violations.lock().unwrap().clone(), Vec::<String>::new());
    assert_eq!(receipt["DepositToAccountRef"]["value"], "35");
    assert_eq!(
        receipt["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"],
        "21"
    );
    assert_eq!(receipt["CustomerRef"]["value"], "C-1");
    assert_eq!(receipt["CurrencyRef"]["value"], "USD");
    assert!(receipt.to_string().contains("\"TotalAmt\":250.0"), "{receipt}");
    assert!(receipt["PrivateNote"].as_str().unwrap().contains(&refund_id));
    // The payment itself went to the Payment API, once; the refund to RefundReceipt, once.
    assert_eq!(erp.bodies("/payment").len(), 1);
    let refund_deliveries = eventually(
        "the refund's deliveries delivered",
        Duration::from_secs(10),
        || {
            let app = &app;
            async move {
                let n = app
                    .sql_count(
                        "SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.id = d.event_id \
                     WHERE o.event_type = 'refund.succeeded' AND d.status = 'delivered'",
                    )
                    .await;
                (n == 3).then_some(n)
            }
        },
    )
    .await;
    assert_eq!(refund_deliveries, 3, "webhook, QuickBooks and email");

    let sink_ref = &sink;
    let refund_ref = refund_id.clone();
    let mail = eventually("the refund receipt email", Duration::from_secs(10), || {
        let refund_ref = refund_ref.clone();
        async move {
            sink_ref
                .messages()
                .into_iter()
                .find(|m| m.data.contains(&format!("<{refund_ref}@tranche.receipts>")))
        }
    })
    .await;
    assert_eq!(mail.to, ["ap@acme.example"]);
    let headers = mail.data.replace("\r\n ", " ");
    assert!(
        headers.contains(&format!("Subject: Refund on invoice {number}")),
        "{}",
        mail.data
    );
    let text = text_body(&mail.data);
    for expected in [
        "Acme Buyer,",
        "Northwind has refunded you.",
        "250.00 USD",
        "visa •••• 4242",
        "Balance due",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}
both_backends!(the_erp_and_the_buyer_hear_of_a_refund);

/// A QuickBooks endpoint registered without refund account and item: the refund's QuickBooks delivery is
/// dead-lettered with a reason the seller can act on; the other channels still deliver.
async fn quickbooks_without_refund_refs_dead_letters_with_a_reason(backend: Backend) {
    let erp = Arc::new(Erp::default());
    let port = erp_server(erp.clone()).await;
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("S").await;
    let base = format!("http://127.0.0.1:{port}");
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "quickbooks", "url": format!("{base}/v3/company/{REALM}/payment"),
                   "token_url": format!("{base}/oauth2/v1/tokens/bearer"), "realm_id": REALM,
                   "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let invoice = app
        .invoice_with(&seller, "USD", "100.00", json!({"external_ref": "145"}))
        .await;
    let payment_id = pay(&app, &seller, invoice["id"].as_str().unwrap(), "100.00", VISA).await;
    refund_ok(&app, &seller, &payment_id, json!({})).await;
    let app_ref = &app;
    let reason = eventually(
        "the dead QuickBooks refund delivery",
        Duration::from_secs(10),
        || async move {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT COALESCE(d.last_error, '') FROM deliveries d JOIN outbox o ON o.id = d.event_id \
             WHERE o.event_type = 'refund.succeeded' AND d.kind = 'quickbooks' AND d.status = 'dead'",
            )
            .fetch_all(app_ref.state.db.pool())
            .await
            .unwrap();
            rows.into_iter().next().map(|(e,)| e)
        },
    )
    .await;
    assert!(reason.contains("refund_account_id"), "{reason}");
    assert!(erp.bodies("/refundreceipt").is_empty());
}
both_backends!(quickbooks_without_refund_refs_dead_letters_with_a_reason);
