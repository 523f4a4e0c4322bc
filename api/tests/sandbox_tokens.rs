//! Sandbox card tokens are single-use, bound to the checkout they were made for, and short-lived (issue 13,
//! item 4; DESIGN section 4). Each attack is refused with 400 `payment_token_invalid` before anything reaches
//! the gateway (no new `sandbox_charges` row, no payment row); positive controls show the same token or
//! request pays where it should. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{expect_problem, spawn_app, spawn_app_with, Backend, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const DECLINE: &str = "4000000000000002";
/// Charged at the gateway, then the API's call times out (the reconciler's case).
const CHARGE_THEN_TIMEOUT: &str = "4000000000000259";

async fn charges(app: &TestApp) -> i64 {
    app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await
}

async fn payments(app: &TestApp) -> i64 {
    app.sql_count("SELECT COUNT(*) FROM payments").await
}

/// Sends `request` and asserts a refused token: 400 `payment_token_invalid`, and neither a gateway call
/// nor a payment row (counted before the request is sent and after its answer).
async fn refused(app: &TestApp, what: &str, request: impl std::future::Future<Output = reqwest::Response>) {
    let (charges_before, payments_before) = (charges(app).await, payments(app).await);
    let response = request.await;
    assert_eq!(response.status(), 400, "{what}");
    let body = expect_problem(response, 400, "payment_token_invalid").await;
    assert_eq!(body["field"], "payment_token", "{what}");
    assert_eq!(charges(app).await, charges_before, "{what}: no gateway call");
    assert_eq!(payments(app).await, payments_before, "{what}: no payment");
}

async fn attack_table(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let other_seller = app.seller("Southwind").await;
    let invoice = app.invoice(&seller, "USD", "1000.00", None).await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let (_, link_1) = app.link(&seller, invoice_id).await;
    let (_, link_2) = app.link(&seller, invoice_id).await;
    let other_invoice = app.invoice(&seller, "USD", "1000.00", None).await;
    let (_, other_invoice_link) = app.link(&seller, other_invoice["id"].as_str().unwrap()).await;
    let foreign_invoice = app.invoice(&other_seller, "USD", "1000.00", None).await;
    let (_, foreign_link) = app
        .link(&other_seller, foreign_invoice["id"].as_str().unwrap())
        .await;
    let mut cases = 0;

    // 1. Reuse after success. Positive control: the first use pays.
    let card = app.card_token_for(&link_1, VISA).await;
    let first = app.pay(&link_1, "success-1", "10.00", &card).await;
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    refused(
        &app,
        "reuse after success",
        app.pay(&link_1, "success-2", "10.00", &card),
    )
    .await;
    cases += 1;
    // The same request again (same key, same body) is a replay, not a reuse: the stored answer.
    let replay = app.pay(&link_1, "success-1", "10.00", &card).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first_body);

    // 2. Reuse after a decline: a declined token is spent too (a card tester gets one try per token).
    let declined = app.card_token_for(&link_1, DECLINE).await;
    let r = app.pay(&link_1, "decline-1", "10.00", &declined).await;
    let decline_body = expect_problem(r, 402, "payment_declined").await;
    refused(
        &app,
        "reuse after decline",
        app.pay(&link_1, "decline-2", "10.00", &declined),
    )
    .await;
    cases += 1;
    let replay = app.pay(&link_1, "decline-1", "10.00", &declined).await;
    assert_eq!(replay.status(), 402);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        replay.json::<Value>().await.unwrap()["decline_code"],
        decline_body["decline_code"]
    );

    // 3. Across links of the same invoice, 4. across invoices, 5. across sellers (both ways). Each token is
    // unused; the positive control at the end spends it on the checkout it was made for.
    let for_link_1 = app.card_token_for(&link_1, VISA).await;
    let for_foreign = app.card_token_for(&foreign_link, VISA).await;
    for (what, checkout, token) in [
        ("another link of the same invoice", &link_2, &for_link_1),
        ("another invoice of the seller", &other_invoice_link, &for_link_1),
        ("another seller's invoice", &foreign_link, &for_link_1),
        ("a foreign seller's token here", &link_1, &for_foreign),
    ] {
        refused(
            &app,
            what,
            app.pay(checkout, &format!("bound-{cases}"), "10.00", token),
        )
        .await;
        cases += 1;
    }
    assert_eq!(
        app.pay(&link_1, "bound-ok", "10.00", &for_link_1).await.status(),
        201
    );
    assert_eq!(
        app.pay(&foreign_link, "bound-ok", "10.00", &for_foreign)
            .await
            .status(),
        201
    );

    // 6. Unknown and malformed tokens.
    for (what, token) in [
        (
            "unknown token",
            "tok_sandbox_00000000000000000000000000000000".to_owned(),
        ),
        ("overlong token", format!("tok_sandbox_{}", "0".repeat(150))),
        ("SQL in the token", "x' OR '1'='1".to_owned()),
    ] {
        refused(
            &app,
            what,
            app.pay(&link_1, &format!("odd-{cases}"), "10.00", &token),
        )
        .await;
        cases += 1;
    }

    // 7. After 15 minutes. Tokens expire 15 minutes after they are made. The app's clock moves instead of
    // rows being backdated: at expiry a token is refused; a minute before expiry a fresh one pays.
    let stale = app.card_token_for(&link_1, VISA).await;
    let ttl = app
        .sql_count(&format!(
            "SELECT expires_at - created_at FROM sandbox_tokens WHERE token = '{stale}'"
        ))
        .await;
    assert_eq!(ttl, 15 * 60 * 1000, "tokens live 15 minutes");
    app.state.clock().advance(15 * 60 * 1000);
    refused(&app, "expired token", app.pay(&link_1, "stale", "10.00", &stale)).await;
    cases += 1;
    let fresh = app.card_token_for(&link_1, VISA).await;
    app.state.clock().advance(15 * 60 * 1000 - 60_000);
    assert_eq!(app.pay(&link_1, "fresh", "10.00", &fresh).await.status(), 201);

    assert_eq!(cases, 10, "attack cases");
    // Four payments went through, each with its own token: 10.00 x 3 on this invoice, one on the foreign one.
    assert_eq!(app.get_invoice(&seller, invoice_id).await["amount_paid"], "30.00");
    assert_eq!(
        charges(&app).await,
        5,
        "4 successes and 1 decline reached the gateway"
    );
}
both_backends!(attack_table);

/// 64 parallel payments with one token and 64 different Idempotency-Keys: exactly one holds the token and
/// reaches the gateway; the other 63 are refused and charge nothing.
async fn concurrent_double_use_charges_once(backend: Backend) {
    let app = Arc::new(spawn_app_with(backend, |s| s.sandbox.latency_ms = 50).await);
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "1000.00", None).await;
    let (_, link) = app.link(&seller, invoice["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&link, VISA).await;
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let (app, link, card) = (app.clone(), link.clone(), card.clone());
            tokio::spawn(async move {
                let r = app.pay(&link, &format!("par-{i}"), "10.00", &card).await;
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body["code"].as_str().unwrap_or_default().to_owned())
            })
        })
        .collect();
    let (mut paid, mut refused) = (0, 0);
    for handle in handles {
        match handle.await.unwrap() {
            (201, _) => paid += 1,
            (400, code) if code == "payment_token_invalid" => refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((paid, refused), (1, 63));
    assert_eq!(charges(&app).await, 1, "exactly one charge reached the gateway");
    assert_eq!(payments(&app).await, 1);
    assert_eq!(
        app.get_invoice(&seller, invoice["id"].as_str().unwrap()).await["amount_paid"],
        "10.00"
    );
}
both_backends!(concurrent_double_use_charges_once);

/// `POST /sandbox/v1/tokens` takes the checkout token exactly like `/v1/checkout`: missing, forged, revoked
/// and expired tokens answer 401 `invalid_checkout_token` and store nothing.
async fn tokenizing_requires_a_live_checkout_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "100.00", None).await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let (_, live) = app.link(&seller, invoice_id).await;
    let (revoked_id, revoked) = app.link(&seller, invoice_id).await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/checkout-links/{revoked_id}")))
        .bearer_auth(&seller.key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (expired_id, expired) = app.link(&seller, invoice_id).await;
    sqlx::query("UPDATE checkout_links SET expires_at = 1 WHERE id = $1")
        .bind(&expired_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let card = json!({"card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}});

    let anonymous = app
        .client
        .post(app.url("/sandbox/v1/tokens"))
        .json(&card)
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, 401, "invalid_checkout_token").await;
    for (what, bearer) in [
        ("garbage", "not-a-token".to_owned()),
        ("seller key", seller.key.clone()),
        ("revoked link", revoked),
        ("expired link", expired),
        ("truncated", live[..live.len() - 3].to_owned()),
    ] {
        let r = app.tokenize(&bearer, card.clone()).await;
        assert_eq!(r.status(), 401, "{what}");
        expect_problem(r, 401, "invalid_checkout_token").await;
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_tokens").await, 0);
    // Positive control: the live link's token gets a card token bound to its link and invoice.
    let token = app.card_token_for(&live, VISA).await;
    let bound = app
        .sql_count(&format!(
            "SELECT COUNT(*) FROM sandbox_tokens t JOIN checkout_links l ON l.id = t.checkout_link_id \
             WHERE t.token = '{token}' AND t.invoice_id = '{invoice_id}' AND t.seller_id = '{}' AND t.consumed_by IS NULL",
            seller.id
        ))
        .await;
    assert_eq!(bound, 1);
}
both_backends!(tokenizing_requires_a_live_checkout_token);

/// Refused checkout tokens on the tokenize endpoint count toward the failed-token limiter (3 a minute here):
/// the fourth bad attempt answers 429, and then so does a good one from the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_failures_feed_the_failed_token_limiter() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = tranche_api::rate_limit::RateLimitSettings {
            token_failures_per_ip_per_minute: 3,
            ..tranche_api::rate_limit::RateLimitSettings::unlimited()
        }
    })
    .await;
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "100.00", None).await;
    let (_, live) = app.link(&seller, invoice["id"].as_str().unwrap()).await;
    let card = json!({"card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}});
    let mut statuses = Vec::new();
    for i in 0..5 {
        let r = app.tokenize(&format!("forged-{i}"), card.clone()).await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_tokens").await, 0);
    // A valid token is not a failure: it still works (only failures are counted).
    assert_eq!(app.tokenize(&live, card).await.status(), 201);
}

/// Crash paths keep the token right. A payment whose request died before the gateway call holds its token;
/// the reconciler releases hold and token together, so the buyer's retry (same key, same token) pays once.
/// A payment charged at the gateway whose answer was lost keeps its token spent after the reconciler
/// settles it.
async fn crash_paths_keep_the_token_right(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "500.00", None).await;
    let invoice_id = invoice["id"].as_str().unwrap();
    let (link_id, link) = app.link(&seller, invoice_id).await;

    // Died between the hold and the charge: a pending payment holding the token and the buyer's key.
    let card = app.card_token_for(&link, VISA).await;
    for sql in [
        format!(
            "INSERT INTO payments (id, seller_id, invoice_id, checkout_link_id, amount_minor, discount_minor, currency, status, \
             method_kind, method_brand, method_last4, gateway, idempotency_key, reconcile_after, created_at, updated_at) \
             VALUES ('pay_dead', '{}', '{invoice_id}', '{link_id}', 5000, 0, 'USD', 'pending', 'card', 'visa', '4242', 'sandbox', 'dead-key', 0, 0, 0)",
            seller.id
        ),
        format!(
            "INSERT INTO idempotency_keys (seller_id, idempotency_key, request_hash, state, payment_id, created_at) \
             VALUES ('{}', 'dead-key', 'hash-of-the-dead-request', 'in_flight', 'pay_dead', 0)",
            seller.id
        ),
        format!("UPDATE sandbox_tokens SET consumed_by = 'pay_dead', consumed_at = 0 WHERE token = '{card}'"),
    ] {
        sqlx::query(&sql).execute(app.state.db.pool()).await.unwrap();
    }
    // While it is pending the token is held: another payment with it is refused.
    refused(
        &app,
        "token held by a pending payment",
        app.pay(&link, "other-key", "50.00", &card),
    )
    .await;
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) FROM sandbox_tokens WHERE token = '{card}' AND consumed_by IS NULL"
        ))
        .await,
        1,
        "released with the hold"
    );
    assert_eq!(app.pay(&link, "dead-key", "50.00", &card).await.status(), 201);
    assert_eq!(app.get_invoice(&seller, invoice_id).await["amount_paid"], "50.00");
    refused(
        &app,
        "reuse after the retry",
        app.pay(&link, "again", "50.00", &card),
    )
    .await;

    // Charged, then the answer was lost: pending until the reconciler settles it; the token stays spent.
    let lost = app.card_token_for(&link, CHARGE_THEN_TIMEOUT).await;
    let r = app.pay(&link, "lost-1", "25.00", &lost).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["payment"]["status"], "pending");
    // Inside the grace period the reconciler leaves it to its own request; once the clock passes it, it settles.
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    let grace_ms = app.state.settings.reconciler.grace_seconds * 1000;
    app.state.clock().advance(grace_ms);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(app.get_invoice(&seller, invoice_id).await["amount_paid"], "75.00");
    refused(
        &app,
        "reuse after a reconciled charge",
        app.pay(&link, "lost-2", "25.00", &lost),
    )
    .await;
    assert_eq!(charges(&app).await, 2);
}
both_backends!(crash_paths_keep_the_token_right);
