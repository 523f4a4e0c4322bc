#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `TRANCHE_GATEWAY=stripe` end to end against a local fake Stripe that validates every request the
//! connector sends (and every answer it gives) against Stripe's published OpenAPI spec
//! (`stripe_support`). Nothing here reaches Stripe: what only a live test-mode key can confirm is listed in
//! docs/gateways.md.

mod common;
mod stripe_support;

use std::time::Duration;

use common::{expect_problem, spawn_app_with, Backend, TestApp};
use serde_json::{json, Value};
use stripe_support::{FakeStripe, Fault};
use tranche_api::config::GatewayKind;
use tranche_api::masking::Secret;

async fn stripe_app(backend: Backend, fake: &FakeStripe) -> TestApp {
    stripe_app_timing(backend, fake, 1_000).await
}

const WEBHOOK_SECRET: &str = "whsec_test_fake";

async fn stripe_app_timing(backend: Backend, fake: &FakeStripe, timeout_ms: u64) -> TestApp {
    let base = fake.base.clone();
    spawn_app_with(backend, move |s| {
        s.gateway = GatewayKind::Stripe;
        s.stripe.secret_key = Some(Secret::new("sk_test_fakefakefake123"));
        s.stripe.webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        s.stripe.api_base = base;
        s.stripe.timeout_ms = timeout_ms;
    })
    .await
}

/// `Stripe-Signature` for `payload` at `t` (seconds) under `secret`, as Stripe computes it.
fn stripe_signature(secret: &str, t: i64, payload: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={sig}")
}

/// Posts a webhook signed `age_seconds` ago (by the app's clock) under `secret`.
async fn webhook(app: &TestApp, payload: &str, secret: &str, age_seconds: i64) -> reqwest::Response {
    let t = app.state.clock().now_ms() / 1000 - age_seconds;
    app.client
        .post(app.url("/v1/gateways/stripe/webhook"))
        .header("Stripe-Signature", stripe_signature(secret, t, payload))
        .header("Content-Type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .unwrap()
}

/// A seller, an invoice and a checkout token: `(seller, invoice id, checkout token)`.
async fn checkout(app: &TestApp, currency: &str, total: &str) -> (common::SellerCtx, String, String) {
    let seller = app.seller("Stripe seller").await;
    let inv = app.invoice(&seller, currency, total, None).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&seller, &id).await;
    (seller, id, token)
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn refund(app: &TestApp, seller: &common::SellerCtx, payment_id: &str, body: Value) -> Value {
    let r = app
        .client
        .post(app.url(&format!("/v1/payments/{payment_id}/refunds")))
        .bearer_auth(&seller.key)
        .header("idempotency-key", key())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn stripe_fake_spec_validated_pays_and_refunds(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let r = app.pay(&token, &key(), "100.00", "pm_visa_1").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "succeeded");
    assert_eq!(body["payment"]["method"], "visa •••• 4242", "{body}");
    assert_eq!(body["invoice"]["amount_paid"], "100.00");
    let payment_id = body["payment"]["id"].as_str().unwrap().to_owned();
    // What Stripe was asked: minor units, lowercase currency, our ids as metadata, the payment id as key.
    let pi = &fake.intents()[0];
    assert_eq!(
        (pi["amount"].as_i64(), pi["currency"].as_str()),
        (Some(10000), Some("usd"))
    );
    assert_eq!(pi["metadata"]["tranche_payment_id"], payment_id.as_str());
    assert_eq!(pi["metadata"]["invoice_id"], invoice_id.as_str());
    assert!(pi["metadata"]["invoice_number"].is_string());
    assert_eq!(pi["metadata"]["seller_id"], seller.id.as_str());
    let posts: Vec<_> = fake.requests().into_iter().filter(|r| r.0 == "post").collect();
    assert_eq!(posts[0].2.as_deref(), Some(payment_id.as_str()));
    // The pm_ is spent: a second payment with it is refused, and so is another checkout's use of it.
    expect_problem(
        app.pay(&token, &key(), "10.00", "pm_visa_1").await,
        400,
        "payment_token_invalid",
    )
    .await;
    let (_, _, other_token) = checkout(&app, "USD", "50.00").await;
    expect_problem(
        app.pay(&other_token, &key(), "10.00", "pm_visa_1").await,
        400,
        "payment_token_invalid",
    )
    .await;
    // Partial then full refund, each keyed by the refund id at Stripe.
    let first = refund(&app, &seller, &payment_id, json!({"amount": "30.00"})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let rest = refund(&app, &seller, &payment_id, json!({})).await;
    assert_eq!(
        (rest["status"].as_str(), rest["amount"].as_str()),
        (Some("succeeded"), Some("70.00"))
    );
    let refund_posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.0 == "post" && r.1 == "/v1/refunds")
        .collect();
    assert_eq!(refund_posts[0].2.as_deref(), first["id"].as_str());
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["amount_paid"], "0.00");
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_pays_and_refunds);

async fn stripe_fake_spec_validated_declines(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    for (pm, code) in [
        ("pm_insufficientfunds_1", "insufficient_funds"),
        ("pm_expiredcard_1", "expired_card"),
        ("pm_incorrectcvc_1", "incorrect_cvc"),
        ("pm_declined_1", "generic_decline"),
    ] {
        let body = expect_problem(
            app.pay(&token, &key(), "100.00", pm).await,
            402,
            "payment_declined",
        )
        .await;
        assert_eq!(body["decline_code"], code, "{body}");
    }
    // Nothing held: the whole balance is still available.
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["amount_paid"], "0.00");
    assert_eq!(app.checkout(&token).await["options"]["maximum"], "500.00");
    // An unknown pm_ is a bad token, refused before any charge.
    expect_problem(
        app.pay(&token, &key(), "1.00", "pm_nosuchthing").await,
        400,
        "payment_token_invalid",
    )
    .await;
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_declines);

async fn stripe_fake_spec_validated_retries_429_and_5xx(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (_, _, token) = checkout(&app, "USD", "500.00").await;
    fake.fail_next("post", "/v1/payment_intents", Fault::Status(429, Some(0)));
    fake.fail_next("post", "/v1/payment_intents", Fault::Status(503, None));
    let r = app.pay(&token, &key(), "100.00", "pm_visa_2").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let posts: Vec<_> = fake.requests().into_iter().filter(|r| r.0 == "post").collect();
    assert_eq!(posts.len(), 3, "429, 503, then the charge: {posts:?}");
    assert!(
        posts.iter().all(|p| p.2 == posts[0].2),
        "one idempotency key throughout"
    );
    assert_eq!(fake.intents().len(), 1, "charged once");
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_retries_429_and_5xx);

async fn stripe_fake_spec_validated_timeout_then_reconciler_finds_the_charge(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    // Stripe charges, but its answer never arrives in time: the PaymentIntent id is never recorded.
    fake.fail_next(
        "post",
        "/v1/payment_intents",
        Fault::ApplyThenStall(Duration::from_secs(3)),
    );
    let r = app.pay(&token, &key(), "100.00", "pm_visa_3").await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "pending");
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["amount_paid"], "0.00");
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    // The reconciler finds it by metadata search and settles it once.
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.1 == "/v1/payment_intents/search"));
    assert_eq!(fake.intents().len(), 1);
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_timeout_then_reconciler_finds_the_charge);

async fn stripe_fake_spec_validated_crash_between_charge_and_finalize(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let r = app.pay(&token, &key(), "100.00", "pm_visa_4").await;
    assert_eq!(r.status(), 201);
    // A crash after Stripe charged but before finalize: the payment is pending again, nothing credited.
    for sql in [
        "UPDATE payments SET status = 'pending', reconcile_after = 0",
        "UPDATE invoices SET amount_paid_minor = 0, status = 'open'",
        "DELETE FROM deliveries",
        "DELETE FROM outbox",
    ] {
        sqlx::query(sql).execute(app.state.db.pool()).await.unwrap();
    }
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 1);
    // Asked by the stored PaymentIntent id, not by search.
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.0 == "get" && r.1.starts_with("/v1/payment_intents/pi_")));
    assert!(!fake.requests().iter().any(|r| r.1.ends_with("/search")));
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_crash_between_charge_and_finalize);

async fn stripe_fake_spec_validated_bank_debit_processing_then_settled(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let r = app.pay(&token, &key(), "200.00", "pm_bank_1").await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "pending", "{body}");
    assert_eq!(body["payment"]["method"], "stripe test bank •••• 6789", "{body}");
    assert_eq!(
        app.checkout(&token).await["options"]["maximum"],
        "300.00",
        "the hold counts"
    );
    // Still processing at Stripe: the reconciler looks and waits.
    app.state.clock().advance(10 * 60 * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    // The bank clears it.
    fake.settle(fake.intents()[0]["id"].as_str().unwrap());
    app.state.clock().advance(10 * 60 * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    let inv = app.get_invoice(&seller, &invoice_id).await;
    assert_eq!(
        (inv["amount_paid"].as_str(), inv["status"].as_str()),
        (Some("200.00"), Some("partially_paid"))
    );
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_bank_debit_processing_then_settled);

async fn stripe_fake_spec_validated_refund_after_a_timeout(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let body: Value = app
        .pay(&token, &key(), "100.00", "pm_visa_5")
        .await
        .json()
        .await
        .unwrap();
    let payment_id = body["payment"]["id"].as_str().unwrap().to_owned();
    fake.fail_next(
        "post",
        "/v1/refunds",
        Fault::ApplyThenStall(Duration::from_secs(3)),
    );
    let pending = refund(&app, &seller, &payment_id, json!({"amount": "40.00"})).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "60.00"
    );
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.0 == "get" && r.1 == "/v1/refunds"));
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_refund_after_a_timeout);

async fn stripe_fake_spec_validated_minor_units_per_currency(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (_, _, jpy) = checkout(&app, "JPY", "50000").await;
    assert_eq!(app.pay(&jpy, &key(), "1200", "pm_visa_jpy").await.status(), 201);
    let (_, _, kwd) = checkout(&app, "KWD", "100.000").await;
    assert_eq!(app.pay(&kwd, &key(), "10.250", "pm_visa_kwd").await.status(), 201);
    let sent: Vec<(i64, String)> = fake
        .intents()
        .iter()
        .map(|i| {
            (
                i["amount"].as_i64().unwrap(),
                i["currency"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(sent, [(1200, "jpy".to_owned()), (10250, "kwd".to_owned())]);
    // Stripe takes three-decimal amounts only with a last digit of 0: declined here, never sent.
    let body = expect_problem(
        app.pay(&kwd, &key(), "1.255", "pm_visa_kwd2").await,
        402,
        "payment_declined",
    )
    .await;
    assert_eq!(body["decline_code"], "amount_too_precise");
    assert_eq!(fake.intents().len(), 2);
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_minor_units_per_currency);

/// The fake is only worth its name if it catches a request that breaks the spec.
#[tokio::test]
async fn stripe_fake_rejects_requests_that_break_the_spec() {
    let fake = FakeStripe::start().await;
    let client = reqwest::Client::new();
    let send = |form: &'static str, idem: bool| {
        let mut r = client
            .post(format!("{}/v1/payment_intents", fake.base))
            .bearer_auth("sk_test_abc")
            .header("Stripe-Version", "2025-09-30.clover")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form);
        if idem {
            r = r.header("Idempotency-Key", uuid::Uuid::now_v7().to_string());
        }
        r.send()
    };
    // Unknown parameter, wrong type, missing key, unknown path: each a 400 and a recorded violation.
    assert_eq!(
        send("amount=100&currency=usd&colour=red", true)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(send("amount=ten&currency=usd", true).await.unwrap().status(), 400);
    assert_eq!(
        send("amount=100&currency=usd", false).await.unwrap().status(),
        400
    );
    let r = client
        .get(format!(
            "{}/v1/payment_intents/search?query=x&colour=red",
            fake.base
        ))
        .bearer_auth("sk_test_abc")
        .header("Stripe-Version", "2025-09-30.clover")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(fake.violations().len(), 4, "{:#?}", fake.violations());
    // And a valid one passes: metadata in brackets, integers coerced.
    let ok = send(
        "amount=100&currency=usd&payment_method=pm_visa_x&confirm=true&metadata%5Btranche_payment_id%5D=pay_1",
        true,
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(fake.violations().len(), 4);
}

#[tokio::test]
async fn stripe_settings_refuse_a_malformed_key() {
    for bad in ["pk_test_abcdefgh", "sk_test_", "sk_test_abc def gh"] {
        let settings = tranche_api::config::Settings {
            gateway: GatewayKind::Stripe,
            addr: "127.0.0.1:0".to_owned(),
            database_url: Secret::new(common::fresh_database(Backend::Sqlite).await),
            metrics_addr: Some("127.0.0.1:0".to_owned()),
            stripe: tranche_api::config::StripeSettings {
                secret_key: Some(Secret::new(bad)),
                ..Default::default()
            },
            ..Default::default()
        };
        let error = tranche_api::startup::Application::build(settings)
            .await
            .err()
            .expect("refused");
        assert!(
            format!("{error:#}").contains("TRANCHE_STRIPE_SECRET_KEY"),
            "{error:#}"
        );
    }
}

async fn stripe_fake_spec_validated_webhooks_settle_a_bank_debit_once(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    assert_eq!(
        app.pay(&token, &key(), "200.00", "pm_bank_w1").await.status(),
        201
    );
    let pi_id = fake.intents()[0]["id"].as_str().unwrap().to_owned();
    fake.settle(&pi_id);
    let event = fake.event("payment_intent.succeeded", fake.intents()[0].clone());
    // Forged (another secret) and stale (older than 5 minutes) are refused, and change nothing.
    expect_problem(
        webhook(&app, &event, "whsec_forged", 0).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    expect_problem(
        webhook(&app, &event, WEBHOOK_SECRET, 301).await,
        400,
        "webhook_signature_invalid",
    )
    .await;
    let tampered = event.replace("\"amount\":20000", "\"amount\":1");
    let r = app
        .client
        .post(app.url("/v1/gateways/stripe/webhook"))
        .header(
            "Stripe-Signature",
            stripe_signature(WEBHOOK_SECRET, app.state.clock().now_ms() / 1000, &event),
        )
        .body(tampered)
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "webhook_signature_invalid").await;
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["amount_paid"], "0.00");
    // Valid: the debit settles. Replayed: nothing more.
    for _ in 0..2 {
        let r = webhook(&app, &event, WEBHOOK_SECRET, 10).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "200.00"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 1);
    // A failure arriving after the success (out of order) changes nothing either.
    let mut failed = fake.intents()[0].clone();
    failed["status"] = json!("requires_payment_method");
    let late = fake.event("payment_intent.payment_failed", failed);
    assert_eq!(webhook(&app, &late, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "200.00"
    );
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_webhooks_settle_a_bank_debit_once);

async fn stripe_fake_spec_validated_webhook_fails_a_bank_debit(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    assert_eq!(
        app.pay(&token, &key(), "200.00", "pm_bank_w2").await.status(),
        201
    );
    let mut intent = fake.intents()[0].clone();
    intent["status"] = json!("requires_payment_method");
    intent["last_payment_error"] = json!({"type": "card_error", "code": "payment_method_not_available", "decline_code": "insufficient_funds"});
    let event = fake.event("payment_intent.payment_failed", intent);
    assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(app.sql_text("SELECT status FROM payments").await, "failed");
    assert_eq!(
        app.checkout(&token).await["options"]["maximum"],
        "500.00",
        "hold released"
    );
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["amount_paid"], "0.00");
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_webhook_fails_a_bank_debit);

async fn stripe_fake_spec_validated_webhook_before_the_api_finalizes(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app_timing(backend, &fake, 5_000).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    // Stripe charges and holds its answer; the webhook arrives first.
    fake.fail_next(
        "post",
        "/v1/payment_intents",
        Fault::ApplyThenStall(Duration::from_millis(1500)),
    );
    let pay = {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/v1/checkout/payments"),
            token.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "early-webhook")
                .json(&json!({"amount": "100.00", "payment_token": "pm_visa_early"}))
                .send()
                .await
                .unwrap()
        })
    };
    let intent = common::eventually("the charge at Stripe", Duration::from_secs(5), || {
        let fake = fake.clone();
        async move { fake.intents().first().cloned() }
    })
    .await;
    let event = fake.event("payment_intent.succeeded", intent);
    assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    let r = pay.await.unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "succeeded");
    // Counted once.
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 1);
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_webhook_before_the_api_finalizes);

async fn stripe_fake_spec_validated_charge_refunded_webhook_settles_a_refund(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let body: Value = app
        .pay(&token, &key(), "100.00", "pm_visa_r")
        .await
        .json()
        .await
        .unwrap();
    let payment_id = body["payment"]["id"].as_str().unwrap().to_owned();
    fake.fail_next(
        "post",
        "/v1/refunds",
        Fault::ApplyThenStall(Duration::from_secs(3)),
    );
    let pending = refund(&app, &seller, &payment_id, json!({"amount": "25.00"})).await;
    assert_eq!(pending["status"], "pending");
    let event = fake.event("charge.refunded", fake.charge_of(&fake.intents()[0]));
    for _ in 0..2 {
        assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    }
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "75.00"
    );
    assert_eq!(app.sql_text("SELECT status FROM refunds").await, "succeeded");
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_charge_refunded_webhook_settles_a_refund);

async fn stripe_fake_spec_validated_amount_mismatch_moves_no_money(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    // A PaymentIntent for another amount than asked is refused: pending, never credited, not even by the
    // reconciler.
    let r = app.pay(&token, &key(), "100.00", "pm_mismatch_1").await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "pending");
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    let inv = app.get_invoice(&seller, &invoice_id).await;
    assert_eq!(inv["amount_paid"], "0.00");
    assert_eq!(
        app.sql_text(
            "SELECT status FROM payments WHERE method_last4 = '4242' ORDER BY created_at DESC LIMIT 1"
        )
        .await,
        "pending"
    );
    fake.assert_no_violations();
}
both_backends!(stripe_fake_spec_validated_amount_mismatch_moves_no_money);

/// `POST /v1/checkout/payments/{id}/confirm` with the checkout token, as the widget calls it after
/// Stripe.js's `handleNextAction`.
async fn confirm(app: &TestApp, token: &str, payment_id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/checkout/payments/{payment_id}/confirm")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Pays with a 3-D Secure card: the 402 `action_required` body, whose payment is pending.
async fn pay_3ds(app: &TestApp, token: &str, key: &str, amount: &str, pm: &str) -> Value {
    let body = expect_problem(app.pay(token, key, amount, pm).await, 402, "action_required").await;
    assert!(body["payment_id"].as_str().unwrap().starts_with("pay_"), "{body}");
    body
}

/// The PaymentIntent made for a payment.
fn intent_of(fake: &FakeStripe, payment_id: &str) -> Value {
    fake.intents()
        .into_iter()
        .find(|i| i["metadata"]["tranche_payment_id"] == payment_id)
        .unwrap()
}

async fn stripe_3ds_answers_action_required_then_confirm_settles_once(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let first_key = key();
    let action = pay_3ds(&app, &token, &first_key, "100.00", "pm_threeds_1").await;
    let payment_id = action["payment_id"].as_str().unwrap().to_owned();
    let intent = intent_of(&fake, &payment_id);
    assert_eq!(action["client_secret"], intent["client_secret"]);
    // Pending with its hold: the balance offered is what is left after the hold, nothing credited.
    assert_eq!(
        app.sql_text(&format!("SELECT status FROM payments WHERE id = '{payment_id}'"))
            .await,
        "pending"
    );
    let view = app.checkout(&token).await;
    assert_eq!(view["invoice"]["amount_paid"], "0.00");
    assert_eq!(view["rules"]["pending"], "100.00", "{}", view["rules"]);
    // A replay of the key answers the same 402; a confirm before the challenge is done, 402 again.
    let replay = app.pay(&token, &first_key, "100.00", "pm_threeds_1").await;
    assert_eq!(replay.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replay.status(), 402);
    assert_eq!(replay.json::<Value>().await.unwrap(), action);
    let again = expect_problem(confirm(&app, &token, &payment_id).await, 402, "action_required").await;
    assert_eq!(again["client_secret"], action["client_secret"]);
    // The buyer completes the challenge; the confirm settles it.
    fake.complete_action(intent["id"].as_str().unwrap(), true);
    let r = confirm(&app, &token, &payment_id).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "succeeded", "{body}");
    assert_eq!(body["invoice"]["amount_paid"], "100.00");
    // Confirming twice, the webhook after it, and a replay of the key credit nothing more.
    let twice: Value = confirm(&app, &token, &payment_id).await.json().await.unwrap();
    assert_eq!(twice["payment"]["status"], "succeeded");
    let event = fake.event("payment_intent.succeeded", intent_of(&fake, &payment_id));
    assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    let replay = app.pay(&token, &first_key, "100.00", "pm_threeds_1").await;
    assert_eq!(replay.status(), 201);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'payment.succeeded'")
            .await,
        1
    );
    fake.assert_no_violations();
}
both_backends!(stripe_3ds_answers_action_required_then_confirm_settles_once);

/// The `payment_intent.succeeded` webhook may arrive before the widget's confirm, or at the same moment:
/// one credit either way.
async fn stripe_3ds_webhook_before_or_with_the_confirm_credits_once(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    // Webhook first.
    let action = pay_3ds(&app, &token, &key(), "100.00", "pm_threeds_1").await;
    let first = action["payment_id"].as_str().unwrap().to_owned();
    let intent = fake.complete_action(intent_of(&fake, &first)["id"].as_str().unwrap(), true);
    let event = fake.event("payment_intent.succeeded", intent);
    assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    let r = confirm(&app, &token, &first).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["invoice"]["amount_paid"],
        "100.00"
    );
    // Both at once, several times over.
    for (n, pm) in ["pm_threeds_2", "pm_threeds_3", "pm_threeds_4"]
        .iter()
        .enumerate()
    {
        let action = pay_3ds(&app, &token, &key(), "50.00", pm).await;
        let id = action["payment_id"].as_str().unwrap().to_owned();
        let intent = fake.complete_action(intent_of(&fake, &id)["id"].as_str().unwrap(), true);
        let event = fake.event("payment_intent.succeeded", intent);
        let (c, w) = tokio::join!(
            confirm(&app, &token, &id),
            webhook(&app, &event, WEBHOOK_SECRET, 0)
        );
        assert_eq!(
            (c.status(), w.status()),
            (reqwest::StatusCode::OK, reqwest::StatusCode::OK)
        );
        let paid = format!("{}.00", 100 + 50 * (n + 1));
        assert_eq!(
            app.get_invoice(&seller, &invoice_id).await["amount_paid"],
            paid.as_str()
        );
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'payment.succeeded'")
            .await,
        4
    );
    fake.assert_no_violations();
}
both_backends!(stripe_3ds_webhook_before_or_with_the_confirm_credits_once);

/// A failed challenge declines with Stripe's code and frees the hold; one never completed is canceled at
/// Stripe by the reconciler after `ACTION_WAIT_MS`, unless the buyer finished it meanwhile (then it settles).
async fn stripe_3ds_failed_or_abandoned_challenges_release_the_hold(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "300.00").await;
    let failed = pay_3ds(&app, &token, &key(), "100.00", "pm_threeds_1").await;
    let failed = failed["payment_id"].as_str().unwrap().to_owned();
    fake.complete_action(intent_of(&fake, &failed)["id"].as_str().unwrap(), false);
    let body = expect_problem(confirm(&app, &token, &failed).await, 402, "payment_declined").await;
    assert_eq!(body["decline_code"], "payment_intent_authentication_failure");
    assert_eq!(app.checkout(&token).await["rules"]["pending"], "0.00");
    // Two challenges left open: one never finished, one finished at Stripe but never confirmed.
    let abandoned = pay_3ds(&app, &token, &key(), "100.00", "pm_threeds_2").await;
    let abandoned = abandoned["payment_id"].as_str().unwrap().to_owned();
    let finished = pay_3ds(&app, &token, &key(), "100.00", "pm_threeds_3").await;
    let finished = finished["payment_id"].as_str().unwrap().to_owned();
    fake.complete_action(intent_of(&fake, &finished)["id"].as_str().unwrap(), true);
    // Past the usual grace the challenge is still given time; past the action wait it is given up.
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    app.state
        .clock()
        .advance(tranche_api::payment_flow::ACTION_WAIT_MS);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 2);
    assert_eq!(intent_of(&fake, &abandoned)["status"], "canceled");
    assert_eq!(intent_of(&fake, &abandoned)["cancellation_reason"], "abandoned");
    let cancels: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.1.ends_with("/cancel"))
        .collect();
    // Only the abandoned one is canceled: the finished one is settled as Stripe says it is.
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(
        cancels[0].2.as_deref(),
        Some(format!("{abandoned}-cancel").as_str())
    );
    let status = |id: &str| {
        format!("SELECT status || ':' || COALESCE(decline_code, '') FROM payments WHERE id = '{id}'")
    };
    assert_eq!(
        app.sql_text(&status(&abandoned)).await,
        "failed:authentication_required"
    );
    assert_eq!(app.sql_text(&status(&finished)).await, "succeeded:");
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    assert_eq!(app.checkout(&token).await["rules"]["pending"], "0.00");
    // The buyer's late confirm answers the decline.
    expect_problem(confirm(&app, &token, &abandoned).await, 402, "payment_declined").await;
    fake.assert_no_violations();
}
both_backends!(stripe_3ds_failed_or_abandoned_challenges_release_the_hold);

/// Only the checkout link that made a payment confirms it: not another link of the same invoice, not
/// another seller's checkout, not an unknown id; a payment another gateway made is refused. None of these
/// reaches Stripe or changes anything.
async fn stripe_confirm_refuses_other_checkouts_sellers_and_gateways(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let action = pay_3ds(&app, &token, &key(), "100.00", "pm_threeds_1").await;
    let payment_id = action["payment_id"].as_str().unwrap().to_owned();
    fake.complete_action(intent_of(&fake, &payment_id)["id"].as_str().unwrap(), true);
    let (_, same_invoice_other_link) = app.link(&seller, &invoice_id).await;
    let (_, _, other_seller) = checkout(&app, "USD", "500.00").await;
    let asked = fake.requests().len();
    for bearer in [&same_invoice_other_link, &other_seller] {
        expect_problem(confirm(&app, bearer, &payment_id).await, 404, "not_found").await;
    }
    expect_problem(confirm(&app, &token, "pay_nonexistent").await, 404, "not_found").await;
    expect_problem(
        confirm(&app, "not-a-token", &payment_id).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    // A payment made through the sandbox (before the server moved to Stripe) is not Stripe's to confirm.
    app.sql_exec(&format!(
        "UPDATE payments SET gateway = 'sandbox' WHERE id = '{payment_id}'"
    ))
    .await;
    expect_problem(
        confirm(&app, &token, &payment_id).await,
        409,
        "payment_not_confirmable",
    )
    .await;
    assert_eq!(fake.requests().len(), asked, "nothing reached Stripe");
    assert_eq!(
        app.sql_text(&format!("SELECT status FROM payments WHERE id = '{payment_id}'"))
            .await,
        "pending"
    );
    assert_eq!(app.get_invoice(&seller, &invoice_id).await["amount_paid"], "0.00");
    fake.assert_no_violations();
}
both_backends!(stripe_confirm_refuses_other_checkouts_sellers_and_gateways);

/// A bank debit (ACH, SEPA) carries its mandate: accepted online from the IP and browser the payment
/// request came from. A card payment carries none.
async fn stripe_bank_debits_send_the_buyers_mandate(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (_, _, token) = checkout(&app, "USD", "500.00").await;
    let pay = |pm: &'static str| {
        app.client
            .post(app.url("/v1/checkout/payments"))
            .bearer_auth(&token)
            .header("idempotency-key", key())
            .header("user-agent", "Mozilla/5.0 (buyer's browser)")
            .json(&json!({"amount": "100.00", "payment_token": pm}))
            .send()
    };
    for pm in ["pm_bank_1", "pm_sepa_1", "pm_visa_1"] {
        let r = pay(pm).await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let forms = fake.intent_forms();
    let sepa: Value = app.checkout(&token).await["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["method"].as_str().unwrap().starts_with("sepa"))
        .cloned()
        .unwrap();
    assert_eq!(sepa["method"], "sepa •••• 3000");
    let expected = json!({"customer_acceptance": {"type": "online", "online": {"ip_address": "127.0.0.1", "user_agent": "Mozilla/5.0 (buyer's browser)"}}});
    assert_eq!(forms[0]["mandate_data"], expected);
    assert_eq!(forms[1]["mandate_data"], expected);
    assert!(forms[2].get("mandate_data").is_none(), "{}", forms[2]);
    fake.assert_no_violations();
}
both_backends!(stripe_bank_debits_send_the_buyers_mandate);

/// The checkout view tells the widget which fields to show: Stripe's, with the publishable key and where
/// Stripe.js comes from.
async fn stripe_checkout_view_names_the_gateway_and_its_keys(backend: Backend) {
    let fake = FakeStripe::start().await;
    let base = fake.base.clone();
    let app = spawn_app_with(backend, move |s| {
        s.gateway = GatewayKind::Stripe;
        s.stripe.secret_key = Some(Secret::new("sk_test_fakefakefake123"));
        s.stripe.publishable_key = Some("pk_test_fake123".into());
        s.stripe.api_base = base;
    })
    .await;
    let (_, _, token) = checkout(&app, "USD", "500.00").await;
    let view = app.checkout(&token).await;
    assert_eq!(view["gateway"]["kind"], "stripe");
    assert_eq!(view["gateway"]["publishable_key"], "pk_test_fake123");
    assert_eq!(view["gateway"]["js_url"], "https://js.stripe.com/v3/");
}
both_backends!(stripe_checkout_view_names_the_gateway_and_its_keys);

/// The webhook has no seller key: what it touches is decided by Stripe's signed PaymentIntent id, mapped to the
/// payment that made it. An event for seller A's PaymentIntent whose metadata names seller B's payment settles
/// A's payment only; one naming no payment of ours, or a payment not made through Stripe, changes nothing.
async fn stripe_webhook_cannot_reach_another_sellers_payment(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller_a, invoice_a, token_a) = checkout(&app, "USD", "500.00").await;
    let (seller_b, invoice_b, token_b) = checkout(&app, "USD", "500.00").await;
    assert_eq!(
        app.pay(&token_a, &key(), "200.00", "pm_bank_a").await.status(),
        201
    );
    let body: Value = app
        .pay(&token_b, &key(), "200.00", "pm_bank_b")
        .await
        .json()
        .await
        .unwrap();
    let payment_b = body["payment"]["id"].as_str().unwrap().to_owned();
    let pi_a = fake.intents()[0]["id"].as_str().unwrap().to_owned();
    fake.settle(&pi_a);
    let mut intent = fake.intents()[0].clone();
    intent["metadata"]["tranche_payment_id"] = json!(payment_b);
    let event = fake.event("payment_intent.succeeded", intent);
    assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(
        app.get_invoice(&seller_a, &invoice_a).await["amount_paid"],
        "200.00"
    );
    assert_eq!(
        app.get_invoice(&seller_b, &invoice_b).await["amount_paid"],
        "0.00"
    );
    // A PaymentIntent Tranche never made, naming a payment that does not exist: acknowledged, ignored.
    let mut stranger = fake.intents()[1].clone();
    stranger["id"] = json!("pi_someone_else");
    stranger["status"] = json!("succeeded");
    stranger["amount_received"] = stranger["amount"].clone();
    stranger["metadata"]["tranche_payment_id"] = json!("pay_nonexistent");
    let event = fake.event("payment_intent.succeeded", stranger);
    assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(
        app.get_invoice(&seller_b, &invoice_b).await["amount_paid"],
        "0.00"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM payments WHERE status = 'succeeded'")
            .await,
        1
    );
    fake.assert_no_violations();
}
both_backends!(stripe_webhook_cannot_reach_another_sellers_payment);

/// An account payment through Stripe: a card pays two invoices with one PaymentIntent; a card that asks for
/// 3-D Secure is given up at once (the PaymentIntent canceled, so it can never complete) and both invoices'
/// holds go, the buyer told `authentication_required` (account payments have no confirm step).
async fn stripe_account_payment_charges_once_and_gives_up_a_3ds_card(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let seller = app.seller("Stripe seller").await;
    let a = app.invoice(&seller, "USD", "300.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.invoice(&seller, "USD", "200.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, account) = app.account_link(&seller, &seller.customer_id).await;
    let both = json!([{"invoice_id": a, "amount": "100.00"}, {"invoice_id": b, "amount": "50.00"}]);
    let declined = app
        .pay_account(&account, &key(), "pm_threeds_1", both.clone())
        .await;
    let body = expect_problem(declined, 402, "payment_declined").await;
    assert_eq!(body["decline_code"], "authentication_required", "{body}");
    let intents = fake.intents();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "canceled", "{}", intents[0]);
    for id in [&a, &b] {
        assert_eq!(app.get_invoice(&seller, id).await["amount_paid"], "0.00");
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM payments WHERE status = 'pending'")
            .await,
        0,
        "no hold left"
    );
    let paid = app.pay_account(&account, &key(), "pm_visa_1", both).await;
    assert_eq!(paid.status(), 201, "{}", paid.text().await.unwrap());
    let intents = fake.intents();
    assert_eq!(intents.len(), 2);
    assert_eq!(intents[1]["amount"], 15_000, "one PaymentIntent for the sum");
    assert_eq!(app.get_invoice(&seller, &a).await["amount_paid"], "100.00");
    assert_eq!(app.get_invoice(&seller, &b).await["amount_paid"], "50.00");
    fake.assert_no_violations();
}
both_backends!(stripe_account_payment_charges_once_and_gives_up_a_3ds_card);

/// A chargeback (`charge.dispute.created`) is recorded once per Stripe dispute, replays and all, and shown in
/// the paying seller's alerts with its amount and reason; the balance is left alone (the dispute may be
/// won); a dispute of a PaymentIntent that is not ours changes nothing; another seller sees nothing.
async fn stripe_chargeback_is_recorded_once_and_alerted(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = stripe_app(backend, &fake).await;
    let (seller, invoice_id, token) = checkout(&app, "USD", "500.00").await;
    let r = app.pay(&token, &key(), "100.00", "pm_visa_1").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let payment_id = r.json::<Value>().await.unwrap()["payment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = intent_of(&fake, &payment_id);
    let event = fake.event(
        "charge.dispute.created",
        fake.dispute_of(&intent, "dp_fake1", "fraudulent"),
    );
    for _ in 0..2 {
        assert_eq!(webhook(&app, &event, WEBHOOK_SECRET, 0).await.status(), 200);
    }
    let mut stranger = intent.clone();
    stranger["id"] = json!("pi_not_ours");
    let other = fake.event(
        "charge.dispute.created",
        fake.dispute_of(&stranger, "dp_fake2", "general"),
    );
    assert_eq!(webhook(&app, &other, WEBHOOK_SECRET, 0).await.status(), 200);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM chargebacks").await, 1);
    let alerts: Value = app.get("/v1/alerts", &seller.key).await.json().await.unwrap();
    let chargeback = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "payment_chargeback")
        .unwrap()
        .clone();
    assert_eq!(chargeback["id"], "dp_fake1");
    assert_eq!(chargeback["payment_id"], payment_id.as_str());
    assert_eq!(chargeback["invoice_id"], invoice_id.as_str());
    assert_eq!(
        (
            chargeback["amount"].as_str(),
            chargeback["currency"].as_str(),
            chargeback["reason"].as_str()
        ),
        (Some("100.00"), Some("USD"), Some("fraudulent"))
    );
    assert_eq!(
        app.get_invoice(&seller, &invoice_id).await["amount_paid"],
        "100.00"
    );
    let other_seller = app.seller("Another").await;
    let theirs: Value = app
        .get("/v1/alerts", &other_seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]), "{theirs}");
    fake.assert_no_violations();
}
both_backends!(stripe_chargeback_is_recorded_once_and_alerted);
