//! The HTTP contract, end to end through the real server, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app, spawn_app_with, Backend};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const DECLINE: &str = "4000000000000002";

async fn happy_path_partial_then_full(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let terms = app
        .terms(
            &seller,
            json!({"name": "Std", "allow_partial": true, "minimum_amounts": {"USD": "50.00"}, "minimum_percent": "10",
                   "presets": ["10", "25", "50", "75"]}),
        )
        .await;
    let r = app.get(&format!("/v1/terms/{terms}"), &seller.key).await;
    assert_eq!(r.status(), 200);
    let invoice = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await;
    assert_eq!(
        (invoice["total"].as_str(), invoice["status"].as_str()),
        (Some("1000.00"), Some("open"))
    );
    let id = invoice["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;

    let view = app.checkout(&token).await;
    assert_eq!(view["seller"]["name"], "Northwind");
    assert_eq!(view["options"]["minimum"], "100.00");
    assert_eq!(
        view["options"]["presets"][1],
        json!({"percent": "25", "amount": "250.00", "enabled": true})
    );
    // The widget can rebuild the exact rules from the view.
    let rules: tranche_domain::wire::RulesInput = serde_json::from_value(view["rules"].clone()).unwrap();
    let (totals, terms_v, today) = rules.resolve().unwrap();
    let options = tranche_domain::payment_options(&totals, &terms_v, today).unwrap();
    assert_eq!(
        serde_json::to_value(tranche_domain::wire::OptionsView::from(&options)).unwrap(),
        view["options"]
    );

    let card = app.card_token_for(&token, VISA).await;
    let r = app.pay(&token, "k-1", "250.00", &card).await;
    assert_eq!(r.status(), 201);
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["payment"]["status"], "succeeded");
    assert_eq!(paid["payment"]["method"], "visa •••• 4242");
    assert_eq!(
        paid["invoice"],
        json!({"id": id, "amount_paid": "250.00", "balance_due": "750.00", "status": "partially_paid"})
    );

    let card = app.card_token_for(&token, VISA).await;
    let r = app.pay(&token, "k-2", "750.00", &card).await;
    assert_eq!(r.status(), 201);
    let inv = app.get_invoice(&seller, id).await;
    assert_eq!(
        (
            inv["amount_paid"].as_str(),
            inv["balance_due"].as_str(),
            inv["status"].as_str()
        ),
        (Some("1000.00"), Some("0.00"), Some("paid"))
    );

    // Seller reads: payments list and one payment, invoice list with filters, customer.
    let r = app
        .get(&format!("/v1/payments?invoice_id={id}"), &seller.key)
        .await;
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let pid = list["data"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/payments/{pid}"), &seller.key)
            .await
            .status(),
        200
    );
    let r = app.get("/v1/invoices?status=paid", &seller.key).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["data"].as_array().unwrap().len(),
        1
    );
    let r = app
        .get(
            &format!("/v1/invoices?status=open&customer_id={}", seller.customer_id),
            &seller.key,
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["data"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        app.get(&format!("/v1/customers/{}", seller.customer_id), &seller.key)
            .await
            .status(),
        200
    );
    // Two succeeded payments -> two receipts and one invoice.paid in the outbox.
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'payment.succeeded'")
            .await,
        2
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.paid'")
            .await,
        1
    );

    // A paid invoice is shown read-only and refuses more money.
    let view = app.checkout(&token).await;
    assert_eq!(view["options"], Value::Null);
    assert_eq!(view["not_payable"], "paid");
    assert_eq!(view["payments"].as_array().unwrap().len(), 2);
    // Paying a paid invoice is `invoice_not_payable` (reason paid), not "the most you can pay is 0.00".
    let card = app.card_token_for(&token, VISA).await;
    for (key, amount) in [("k-3", "1.00"), ("k-4", "0.01"), ("k-5", "1000.00")] {
        let r = app.pay(&token, key, amount, &card).await;
        let body = expect_problem(r, 409, "invoice_not_payable").await;
        assert_eq!(body["detail"], "this invoice cannot be paid (paid)", "{body}");
        assert_eq!(body.get("maximum"), None, "{body}");
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM payments").await, 2);

    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
}
both_backends!(happy_path_partial_then_full);

async fn invoice_totals_are_computed_server_side(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let r = app
        .post(
            "/v1/invoices",
            &seller.key,
            json!({"number": "A-1", "customer_id": seller.customer_id, "currency": "EUR", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [
                       {"description": "Bolts", "quantity": "3", "unit_price": "0.35", "tax_rate": "19"},
                       {"description": "Nuts", "quantity": "1", "unit_price": "10.00", "tax_rate": "7"}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["subtotal"].as_str(), v["tax"].as_str(), v["total"].as_str()),
        (Some("11.05"), Some("0.90"), Some("11.95"))
    );
    // Same number again -> conflict; JPY with decimals -> invalid line.
    let dup = app
        .post(
            "/v1/invoices",
            &seller.key,
            json!({"number": "A-1", "customer_id": seller.customer_id, "currency": "EUR", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}]}),
        )
        .await;
    expect_problem(dup, 409, "invoice_number_taken").await;
    let jpy = app
        .post(
            "/v1/invoices",
            &seller.key,
            json!({"number": "A-2", "customer_id": seller.customer_id, "currency": "JPY", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1.50"}]}),
        )
        .await;
    expect_problem(jpy, 400, "invalid_lines").await;
    let bad_currency = app
        .post(
            "/v1/invoices",
            &seller.key,
            json!({"number": "A-3", "customer_id": seller.customer_id, "currency": "XXX", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}),
        )
        .await;
    expect_problem(bad_currency, 400, "invalid_currency").await;
}
both_backends!(invoice_totals_are_computed_server_side);

async fn every_amount_rejection_code_through_http(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let strict = app
        .terms(&seller, json!({"name": "full only", "allow_partial": false}))
        .await;
    let min = app
        .terms(
            &seller,
            json!({"name": "min", "allow_partial": true, "minimum_amounts": {"USD": "50.00"}}),
        )
        .await;
    let inv = app.invoice(&seller, "USD", "500.00", Some(&min)).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    // A token is spent only by a payment that holds: every rejected amount below leaves it usable.
    let card = app.card_token_for(&token, VISA).await;
    let cases = [
        ("0", 422, "amount_not_positive"),
        ("-5.00", 422, "amount_not_positive"),
        ("abc", 422, "amount_malformed"),
        ("10.001", 422, "amount_precision"),
        ("10.00", 422, "amount_below_minimum"),
        ("500.01", 422, "amount_exceeds_balance"),
    ];
    for (i, (amount, status, code)) in cases.into_iter().enumerate() {
        let r = app.pay(&token, &format!("c-{i}"), amount, &card).await;
        let body = expect_problem(r, status, code).await;
        if code == "amount_below_minimum" {
            assert_eq!(body["minimum"], "50.00");
        }
        if code == "amount_exceeds_balance" {
            assert_eq!(body["maximum"], "500.00");
        }
    }
    // Currency named by the buyer must match.
    let r = app
        .client
        .post(app.url("/v1/checkout/payments"))
        .bearer_auth(&token)
        .header("idempotency-key", "cur")
        .json(&json!({"amount": "60.00", "payment_token": card, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 422, "currency_mismatch").await;

    let inv = app.invoice(&seller, "USD", "500.00", Some(&strict)).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token, VISA).await;
    expect_problem(
        app.pay(&token, "p-1", "100.00", &card).await,
        422,
        "partial_not_allowed",
    )
    .await;

    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    let card = app.card_token_for(&token, VISA).await;
    let r = app
        .post(&format!("/v1/invoices/{id}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    expect_problem(
        app.pay(&token, "v-1", "100.00", &card).await,
        409,
        "invoice_not_payable",
    )
    .await;
    // Nothing was written by any rejected request.
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
}
both_backends!(every_amount_rejection_code_through_http);

async fn declines_leave_the_balance_untouched(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "300.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    for (number, decline) in [
        (DECLINE, "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ] {
        let card = app.card_token_for(&token, number).await;
        let r = app.pay(&token, &format!("d-{decline}"), "100.00", &card).await;
        let body = expect_problem(r, 402, "payment_declined").await;
        assert_eq!(body["decline_code"], decline);
        assert!(!body["advice"].as_str().unwrap().is_empty());
        // A retry with the same key replays the decline without charging again.
        let again = app.pay(&token, &format!("d-{decline}"), "100.00", &card).await;
        assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
        expect_problem(again, 402, "payment_declined").await;
    }
    let inv = app.get_invoice(&seller, id).await;
    assert_eq!(
        (inv["amount_paid"].as_str(), inv["status"].as_str()),
        (Some("0.00"), Some("open"))
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM payments WHERE status = 'failed'")
            .await,
        4
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 4);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 0);
    // An unknown token is refused before anything is written.
    expect_problem(
        app.pay(&token, "bad-tok", "100.00", "tok_sandbox_nope").await,
        400,
        "payment_token_invalid",
    )
    .await;
}
both_backends!(declines_leave_the_balance_untouched);

async fn idempotency_replay_reuse_and_bad_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "1000.00", None).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token, VISA).await;
    let first = app.pay(&token, "same-key", "100.00", &card).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = app.pay(&token, "same-key", "100.00", &card).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    expect_problem(
        app.pay(&token, "same-key", "200.00", &card).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 1);

    // Missing, too long and non-printable keys.
    let r = app
        .client
        .post(app.url("/v1/checkout/payments"))
        .bearer_auth(&token)
        .json(&json!({"amount": "100.00", "payment_token": card}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "idempotency_key_missing").await;
    expect_problem(
        app.pay(&token, &"k".repeat(256), "100.00", &card).await,
        400,
        "idempotency_key_invalid",
    )
    .await;
    expect_problem(
        app.pay(&token, "has space", "100.00", &card).await,
        400,
        "idempotency_key_invalid",
    )
    .await;

    // The same key used by another seller is independent.
    let other = app.seller("Other").await;
    let inv2 = app.invoice(&other, "USD", "1000.00", None).await;
    let (_, token2) = app.link(&other, inv2["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token2, VISA).await;
    let r = app.pay(&token2, "same-key", "300.00", &card).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["payment"]["amount"], "300.00");
}
both_backends!(idempotency_replay_reuse_and_bad_keys);

async fn concurrent_same_key_charges_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sandbox.latency_ms = 300).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "1000.00", None).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token, VISA).await;
    let app = std::sync::Arc::new(app);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (app, token, card) = (app.clone(), token.clone(), card.clone());
            tokio::spawn(async move { app.pay(&token, "race", "100.00", &card).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&201));
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 1);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM payments").await, 1);
    let inv = app.get_invoice(&seller, inv["id"].as_str().unwrap()).await;
    assert_eq!(inv["amount_paid"], "100.00");
}
both_backends!(concurrent_same_key_charges_once);

async fn concurrent_partials_never_overpay(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    let seller = app.seller("S").await;
    // 32 payments of 40.00 against 1000.00: exactly 25 fit.
    let inv = app.invoice(&seller, "USD", "1000.00", None).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&seller, &id).await;
    // One token per payment: tokens are single-use.
    let mut cards = Vec::new();
    for _ in 0..32 {
        cards.push(app.card_token_for(&token, VISA).await);
    }
    let handles: Vec<_> = cards
        .into_iter()
        .enumerate()
        .map(|(i, card)| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move { app.pay(&token, &format!("par-{i}"), "40.00", &card).await })
        })
        .collect();
    let (mut ok, mut exceeded) = (0, 0);
    for h in handles {
        let r = h.await.unwrap();
        match r.status().as_u16() {
            201 => ok += 1,
            422 => {
                assert_eq!(r.json::<Value>().await.unwrap()["code"], "amount_exceeds_balance");
                exceeded += 1;
            }
            // Arriving after the 25th settled the invoice: a paid invoice is not payable.
            409 => {
                assert_eq!(r.json::<Value>().await.unwrap()["code"], "invoice_not_payable");
                exceeded += 1;
            }
            other => panic!("unexpected status {other}: {}", r.text().await.unwrap()),
        }
    }
    assert_eq!((ok, exceeded), (25, 7));
    let inv = app.get_invoice(&seller, &id).await;
    assert_eq!(
        (
            inv["amount_paid"].as_str(),
            inv["balance_due"].as_str(),
            inv["status"].as_str()
        ),
        (Some("1000.00"), Some("0.00"), Some("paid"))
    );
    let paid = app
        .sql_count(&format!("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM payments WHERE invoice_id = '{id}' AND status = 'succeeded'"))
        .await;
    assert_eq!(paid, 100_000);
}
both_backends!(concurrent_partials_never_overpay);

async fn cross_seller_ids_answer_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("A").await;
    let b = app.seller("B").await;
    let terms_b = app.terms(&b, json!({"name": "t", "allow_partial": true})).await;
    let inv_b = app.invoice(&b, "USD", "100.00", None).await;
    let inv_b_id = inv_b["id"].as_str().unwrap();
    let (link_b, token_b) = app.link(&b, inv_b_id).await;
    let card = app.card_token_for(&token_b, VISA).await;
    assert_eq!(app.pay(&token_b, "x", "100.00", &card).await.status(), 201);
    let pay_b: Value = app
        .get(&format!("/v1/payments?invoice_id={inv_b_id}"), &b.key)
        .await
        .json()
        .await
        .unwrap();
    let pay_b_id = pay_b["data"][0]["id"].as_str().unwrap().to_owned();

    for path in [
        format!("/v1/invoices/{inv_b_id}"),
        format!("/v1/customers/{}", b.customer_id),
        format!("/v1/terms/{terms_b}"),
        format!("/v1/payments/{pay_b_id}"),
    ] {
        let body = expect_problem(app.get(&path, &a.key).await, 404, "not_found").await;
        assert!(!body.to_string().contains(inv_b_id), "{path} leaks");
    }
    expect_problem(
        app.post(&format!("/v1/invoices/{inv_b_id}/void"), &a.key, json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.post(
            &format!("/v1/invoices/{inv_b_id}/checkout-links"),
            &a.key,
            json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/checkout-links/{link_b}")))
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "not_found").await;
    // Lists never include the other seller's rows.
    let list: Value = app
        .get(&format!("/v1/payments?invoice_id={inv_b_id}"), &a.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let list: Value = app.get("/v1/invoices", &a.key).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    // A's customer with B's terms, A's invoice for B's customer: refused.
    let r = app
        .post(
            "/v1/customers",
            &a.key,
            json!({"name": "n", "email": "a@b.co", "terms_id": terms_b}),
        )
        .await;
    expect_problem(r, 400, "unknown_reference").await;
    let r = app
        .post(
            "/v1/invoices",
            &a.key,
            json!({"number": "Z", "customer_id": b.customer_id, "currency": "USD", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}]}),
        )
        .await;
    expect_problem(r, 400, "unknown_reference").await;
    // Keys: none, wrong, and a checkout token used as a seller key.
    expect_problem(
        app.client.get(app.url("/v1/invoices")).send().await.unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
    expect_problem(app.get("/v1/invoices", "sk_wrong").await, 401, "invalid_api_key").await;
    expect_problem(app.get("/v1/invoices", &token_b).await, 401, "invalid_api_key").await;
    expect_problem(
        app.post("/v1/sellers", &a.key, json!({"name": "x"})).await,
        401,
        "invalid_operator_token",
    )
    .await;
}
both_backends!(cross_seller_ids_answer_404);

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn forged_expired_and_revoked_tokens_are_401(backend: Backend) {
    use tranche_api::tokens::CheckoutClaims;
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv_a = app.invoice(&seller, "USD", "100.00", None).await;
    let inv_b = app.invoice(&seller, "USD", "100.00", None).await;
    let (link_a, token_a) = app.link(&seller, inv_a["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token_a, VISA).await;
    let c = claims_of(&token_a);
    let claims = |f: &dyn Fn(&mut CheckoutClaims)| {
        let mut claims: CheckoutClaims = serde_json::from_value(c.clone()).unwrap();
        f(&mut claims);
        app.state.keys.mint(&claims).unwrap()
    };
    let now = tranche_api::db::now_ms() / 1000;
    let header_kid = {
        use base64::Engine;
        let h: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token_a.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let forged_key = {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref())
    };
    let mut forged_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    forged_header.kid = Some(header_kid);
    let forged = jsonwebtoken::encode(&forged_header, &c, &forged_key).unwrap();
    let alg_none = {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            e.encode(r#"{"alg":"none","typ":"JWT"}"#),
            e.encode(c.to_string())
        )
    };
    let bad_tokens = vec![
        ("forged signature", forged),
        ("alg none", alg_none),
        (
            "expired",
            claims(&|k| {
                k.exp = now - 60;
                k.nbf = now - 120;
            }),
        ),
        ("not yet valid", claims(&|k| k.nbf = now + 600)),
        (
            "other invoice",
            claims(&|k| k.sub = inv_b["id"].as_str().unwrap().to_owned()),
        ),
        ("wrong audience", claims(&|k| k.aud = "something-else".to_owned())),
        (
            "wrong issuer",
            claims(&|k| k.iss = "https://evil.example".to_owned()),
        ),
        ("unknown jti", claims(&|k| k.jti = "jti_nope".to_owned())),
        ("seller key", seller.key.clone()),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, bad) in &bad_tokens {
        expect_problem(app.get("/v1/checkout", bad).await, 401, "invalid_checkout_token").await;
        let r = app.pay(bad, &format!("t-{what}"), "10.00", &card).await;
        assert_eq!(r.status(), 401, "{what}");
    }
    // Positive control, then revoke: the same token stops working at once.
    assert_eq!(app.get("/v1/checkout", &token_a).await.status(), 200);
    let r = app
        .client
        .delete(app.url(&format!("/v1/checkout-links/{link_a}")))
        .bearer_auth(&seller.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_problem(
        app.get("/v1/checkout", &token_a).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 0);
}
both_backends!(forged_expired_and_revoked_tokens_are_401);

async fn unknown_fields_and_malformed_bodies_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    let card = app.card_token_for(&token, VISA).await;
    let cases = [
        (
            "/v1/customers",
            &seller.key,
            json!({"name": "n", "email": "a@b.co", "seller_id": "sel_x"}),
        ),
        (
            "/v1/terms",
            &seller.key,
            json!({"name": "t", "allow_partial": true, "status": "x"}),
        ),
        (
            "/v1/invoices",
            &seller.key,
            json!({"number": "N", "customer_id": seller.customer_id, "currency": "USD", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "total": "1.00", "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}]}),
        ),
        (
            &format!("/v1/invoices/{id}/checkout-links") as &str,
            &seller.key,
            json!({"seller_id": "x"}),
        ),
        (
            "/v1/sellers",
            &app.operator,
            json!({"name": "x", "secret_key_hash": "x"}),
        ),
    ];
    for (path, key, body) in cases {
        expect_problem(app.post(path, key, body).await, 400, "unknown_field").await;
    }
    let r = app
        .client
        .post(app.url("/v1/checkout/payments"))
        .bearer_auth(&token)
        .header("idempotency-key", "u1")
        .json(&json!({"amount": "10.00", "payment_token": card, "amount_paid": "100.00"}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "unknown_field").await;
    let r = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(&seller.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "malformed_body").await;
    let r = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(&seller.key)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"name\":\"{}\",\"email\":\"a@b.co\"}}",
            "x".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    expect_problem(r, 413, "body_too_large").await;
    let inv = app.get_invoice(&seller, id).await;
    assert_eq!(inv["amount_paid"], "0.00");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM customers").await, 1);
}
both_backends!(unknown_fields_and_malformed_bodies_are_400);

async fn broken_database_is_a_500_without_detail(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    sqlx::query("DROP TABLE deliveries")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query("DROP TABLE outbox")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query("DROP TABLE invoice_lines")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app
        .post(
            "/v1/invoices",
            &seller.key,
            json!({"number": "N", "customer_id": seller.customer_id, "currency": "USD", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}]}),
        )
        .await;
    let body = expect_problem(r, 500, "internal_error").await;
    let text = body.to_string().to_lowercase();
    for leak in ["invoice_lines", "sql", "table", "relation", "sqlite", "postgres"] {
        assert!(!text.contains(leak), "problem leaks {leak}: {text}");
    }
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    // The failed write left nothing half-done.
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoices").await, 0);
}
both_backends!(broken_database_is_a_500_without_detail);

async fn bank_payments_stay_pending_then_settle(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sandbox.ach_settle_seconds = 1;
    })
    .await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    let bank = app.bank_token_for(&token, "110000000", "000123456789").await;
    let r = app.pay(&token, "ach-1", "200.00", &bank).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["payment"]["status"], "pending");
    assert_eq!(v["invoice"]["amount_paid"], "0.00");
    // The hold counts: only 300.00 is available now.
    let view = app.checkout(&token).await;
    assert_eq!(view["options"]["maximum"], "300.00");
    let bank = app.bank_token_for(&token, "110000000", "000123456789").await;
    expect_problem(
        app.pay(&token, "ach-2", "300.01", &bank).await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    // The reconciler settles it once the bank's settlement time (1 s here) has passed.
    let mut resolved = 0;
    for _ in 0..50 {
        resolved += tranche_api::reconciler::pass(&app.state).await.unwrap();
        if resolved > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(resolved, 1);
    let inv = app.get_invoice(&seller, id).await;
    assert_eq!(
        (inv["amount_paid"].as_str(), inv["status"].as_str()),
        (Some("200.00"), Some("partially_paid"))
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 1);
    // Invalid bank details are refused with the field named.
    let r = app
        .tokenize(
            &token,
            json!({"bank_account": {"routing_number": "123456789", "account_number": "000123456789"}}),
        )
        .await;
    let body = expect_problem(r, 400, "invalid_bank_account").await;
    assert_eq!(body["field"], "routing_number");
}
both_backends!(bank_payments_stay_pending_then_settle);

async fn reconciler_resolves_a_payment_left_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    let card = app.card_token_for(&token, VISA).await;
    let r = app.pay(&token, "k", "100.00", &card).await;
    assert_eq!(r.status(), 201);
    // Simulate a crash after the gateway charged but before finalize: put the payment back to pending.
    sqlx::query("UPDATE payments SET status = 'pending', reconcile_after = 0")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE invoices SET amount_paid_minor = 0, status = 'open'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM deliveries")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM outbox")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    let inv = app.get_invoice(&seller, id).await;
    assert_eq!(inv["amount_paid"], "100.00");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 1);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 1);
    // A pending payment the gateway never saw is failed, releasing its hold.
    sqlx::query(
        "INSERT INTO payments (id, seller_id, invoice_id, amount_minor, discount_minor, currency, status, method_kind, \
         method_brand, method_last4, gateway, reconcile_after, created_at, updated_at) \
         SELECT 'pay_orphan', seller_id, invoice_id, 5000, 0, currency, 'pending', 'card', 'visa', '4242', 'sandbox', 0, 0, 0 \
         FROM payments LIMIT 1",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    // Its request died holding the buyer's Idempotency-Key (and the token it claimed).
    let card = app.card_token_for(&token, VISA).await;
    sqlx::query("UPDATE sandbox_tokens SET consumed_by = 'pay_orphan' WHERE token = $1")
        .bind(&card)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (seller_id, idempotency_key, request_hash, state, payment_id, created_at) \
         SELECT seller_id, 'orphan-key', 'hash-of-the-dead-request', 'in_flight', 'pay_orphan', 0 FROM payments WHERE id = 'pay_orphan'",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    expect_problem(
        app.pay(&token, "orphan-key", "50.00", &card).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM payments WHERE id = 'pay_orphan' AND status = 'failed'")
            .await,
        1
    );
    assert_eq!(app.get_invoice(&seller, id).await["amount_paid"], "100.00");
    // Nothing was charged, so the key is free again: the buyer's retry runs afresh (not a stored "decline").
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM idempotency_keys WHERE idempotency_key = 'orphan-key'")
            .await,
        0
    );
    assert_eq!(app.pay(&token, "orphan-key", "50.00", &card).await.status(), 201);
    assert_eq!(app.get_invoice(&seller, id).await["amount_paid"], "150.00");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 2);
}
both_backends!(reconciler_resolves_a_payment_left_pending);

async fn void_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    let card = app.card_token_for(&token, VISA).await;
    assert_eq!(app.pay(&token, "k", "100.00", &card).await.status(), 201);
    expect_problem(
        app.post(&format!("/v1/invoices/{id}/void"), &seller.key, json!({}))
            .await,
        409,
        "invoice_has_payments",
    )
    .await;
    let inv2 = app.invoice(&seller, "USD", "500.00", None).await;
    let id2 = inv2["id"].as_str().unwrap();
    let r = app
        .post(&format!("/v1/invoices/{id2}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "void");
    expect_problem(
        app.post(&format!("/v1/invoices/{id2}/void"), &seller.key, json!({}))
            .await,
        409,
        "invoice_already_void",
    )
    .await;
    expect_problem(
        app.post(
            &format!("/v1/invoices/{id2}/checkout-links"),
            &seller.key,
            json!({}),
        )
        .await,
        409,
        "invoice_void",
    )
    .await;
}
both_backends!(void_rules);

/// Writes `sql` behind the API's back, past the CHECK constraints that would refuse it: the point is a row
/// the database should never hold (a bad migration, a manual fix gone wrong).
async fn corrupt(app: &common::TestApp, sql: &str) {
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    match app.backend {
        Backend::Sqlite => {
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut *conn).await.unwrap();
            sqlx::query("PRAGMA ignore_check_constraints = OFF")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            for constraint in ["invoices_status_check", "invoices_paid_status"] {
                sqlx::query(&format!(
                    "ALTER TABLE invoices DROP CONSTRAINT IF EXISTS {constraint}"
                ))
                .execute(&mut *conn)
                .await
                .unwrap();
            }
            sqlx::query(sql).execute(&mut *conn).await.unwrap();
        }
    }
}

async fn corrupt_invoice_rows_are_500_not_guesses(backend: Backend) {
    let app = spawn_app(backend).await;
    let bystander = app.seller("Bystander").await;
    app.invoice(&bystander, "USD", "10.00", None).await;
    let sabotage = [
        ("currency", "UPDATE invoices SET currency = 'XYZ' WHERE id = '{id}'"),
        ("status", "UPDATE invoices SET status = 'refunded' WHERE id = '{id}'"),
        (
            "amount",
            "UPDATE invoices SET subtotal_minor = 10000000000000000 - tax_minor, total_minor = 10000000000000000 \
             WHERE id = '{id}'",
        ),
    ];
    for (what, sql) in sabotage {
        let seller = app.seller(what).await;
        let invoice = app.invoice(&seller, "USD", "100.00", None).await;
        let id = invoice["id"].as_str().unwrap();
        corrupt(&app, &sql.replace("{id}", id)).await;

        // Every reader refuses the row: no USD, no "" status, no wrapped amount reaches a client.
        let r = app.get(&format!("/v1/invoices/{id}"), &seller.key).await;
        expect_problem(r, 500, "internal_error").await;
        let r = app.get("/v1/invoices", &seller.key).await;
        expect_problem(r, 500, "internal_error").await;
        let r = app
            .post(
                &format!("/v1/invoices/{id}/checkout-links"),
                &seller.key,
                json!({}),
            )
            .await;
        expect_problem(r, 500, "internal_error").await;
        let r = app
            .post(&format!("/v1/invoices/{id}/void"), &seller.key, json!({}))
            .await;
        expect_problem(r, 500, "internal_error").await;
        assert_eq!(
            app.sql_count(&format!(
                "SELECT COUNT(*) FROM invoices WHERE id = '{id}' AND voided_at IS NOT NULL"
            ))
            .await,
            0,
            "{what}: the void must not have been written"
        );

        // Positive control: other sellers' invoices still read.
        let r = app.get("/v1/invoices", &bystander.key).await;
        assert_eq!(r.status(), 200, "{what}");
    }
}
both_backends!(corrupt_invoice_rows_are_500_not_guesses);

/// A known path with a method it does not take answers 405 with `Allow`, not 404, and touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_405_with_allow() {
    let app = spawn_app(Backend::Sqlite).await;
    let seller = app.seller("M").await;
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/v1/invoices", "GET, HEAD, POST"),
        (reqwest::Method::PUT, "/v1/customers", "GET, HEAD, POST"),
        (reqwest::Method::POST, "/v1/payments", "GET, HEAD"),
        (reqwest::Method::GET, "/v1/invoices/inv_x/void", "POST"),
        (reqwest::Method::PATCH, "/v1/checkout-links/cl_x", "DELETE"),
        (reqwest::Method::GET, "/v1/settings/receipts", "PUT"),
        (reqwest::Method::DELETE, "/v1/checkout", "GET, HEAD, OPTIONS"),
        (reqwest::Method::GET, "/v1/checkout/payments", "POST, OPTIONS"),
        (reqwest::Method::POST, "/healthz", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&seller.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some(allow.to_owned()),
            "{method} {path}"
        );
        let body = expect_problem(response, 405, "method_not_allowed").await;
        assert!(body["detail"].as_str().unwrap().contains(allow), "{body}");
    }
    // Unknown paths stay 404.
    expect_problem(app.get("/v1/nothing-here", &seller.key).await, 404, "not_found").await;

    // HEAD answers like GET, without the body.
    let get = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    let head = app.client.head(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], get.headers()["content-type"]);
    assert_eq!(head.headers()["content-length"], get.headers()["content-length"]);
    assert!(head.bytes().await.unwrap().is_empty());
    let list = app
        .client
        .head(app.url("/v1/invoices"))
        .bearer_auth(&seller.key)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let anonymous = app.client.head(app.url("/v1/invoices")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "HEAD is authenticated like GET");
}

/// Every path in the OpenAPI document answers a method it does not list with 405 and an `Allow` naming
/// exactly the methods it does list (plus OPTIONS for the CORS-enabled checkout routes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_headers_match_the_openapi_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() > 15);
    for (path, item) in paths {
        let mut methods: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
            .map(|k| k.to_uppercase())
            .collect();
        if methods.iter().any(|m| m == "GET") {
            methods.push("HEAD".into());
        }
        if path == "/v1/checkout"
            || path.starts_with("/v1/checkout/")
            || path == "/v1/account"
            || path.starts_with("/v1/account/")
        {
            methods.push("OPTIONS".into());
        }
        methods.sort();
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x_1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        // A method the path does not take (PATCH for most; `/v1/seller` takes PATCH).
        let probe = ["PATCH", "PUT", "DELETE"]
            .into_iter()
            .find(|m| !methods.iter().any(|listed| listed == m))
            .unwrap();
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(probe.as_bytes()).unwrap(),
                app.url(&concrete),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{probe} {path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        let mut listed: Vec<String> = allow.split(", ").map(str::to_owned).collect();
        listed.sort();
        assert_eq!(listed, methods, "{path}");
    }
}

/// `/metrics` is served only on the metrics listener (`TRANCHE_METRICS_ADDR`), not on the public port, and
/// is not in the public OpenAPI document; `/livez` and `/readyz` answer on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_only_on_the_metrics_listener() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_ne!(app.metrics_base, app.base);
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    expect_problem(public, 404, "not_found").await;
    for path in ["/livez", "/readyz"] {
        for base in [&app.base, &app.metrics_base] {
            let r = app.client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{base}{path}");
        }
    }
    // Counters move with traffic, and the metrics listener serves nothing of the API.
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token, VISA).await;
    assert_eq!(app.pay(&token, "m-1", "10.00", &card).await.status(), 201);
    let text = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tranche_payments_total{outcome=\"succeeded\"} 1"),
        "{text}"
    );
    // Latency per route pattern (never per path: ids would make a series each), and scrape-time gauges.
    assert!(
        text.contains(
            "tranche_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/checkout/payments\",status=\"2xx\"} 1"
        ),
        "{text}"
    );
    assert!(
        !text.contains(inv["id"].as_str().unwrap()),
        "no object id in a label: {text}"
    );
    assert!(
        text.contains("tranche_db_pool_connections{state=\"open\"}"),
        "{text}"
    );
    assert!(
        text.contains("tranche_outbox_oldest_pending_age_seconds"),
        "{text}"
    );
    for path in ["/v1/checkout", "/openapi.json", "/healthz", "/pay/x"] {
        let r = app
            .client
            .get(format!("{}{path}", app.metrics_base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "metrics listener {path}");
    }
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"].get("/metrics").is_none());
    assert!(spec["paths"].get("/readyz").is_some());
}

/// An explicit `TRANCHE_METRICS_ADDR` must bind: a taken address stops start-up with a message naming it,
/// rather than running without the metrics an operator asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_address_fails_start_up() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let settings = tranche_api::config::Settings {
        addr: "127.0.0.1:0".to_owned(),
        database_url: tranche_api::masking::Secret::new(common::fresh_database(Backend::Sqlite).await),
        metrics_addr: Some(addr.clone()),
        ..tranche_api::config::Settings::default()
    };
    let error = match tranche_api::startup::Application::build(settings).await {
        Ok(_) => panic!("started with the metrics address taken"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("TRANCHE_METRICS_ADDR") && error.contains(&addr),
        "{error}"
    );
}

/// A CORS preflight on `/v1/checkout/payments` from `origin`: `Some(allowed origin)` when allowed.
async fn preflight(app: &common::TestApp, origin: &str) -> Option<String> {
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/checkout/payments"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    let allowed = r
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(r.status().is_success(), allowed.is_some(), "{origin}");
    allowed
}

/// The CORS check is one equality probe on the indexed `seller_origins.origin`, not a `LIKE` over every
/// seller: exact origins are allowed, and no prefix, suffix, substring, case, port, path or wildcard
/// (`%`, `_`) variant is; removing a row from `seller_origins` removes the origin, so the lookup uses the
/// table; and the query plan uses the index on both databases.
async fn cors_origin_lookup_is_exact_and_indexed(backend: Backend) {
    let app = spawn_app(backend).await;
    for (name, origins) in [
        ("A", json!(["https://shop.example", "http://localhost:3000"])),
        ("B", json!(["https://b.example", "https://b.example"])),
    ] {
        let r = app
            .post(
                "/v1/sellers",
                &app.operator,
                json!({"name": name, "allowed_origins": origins}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM seller_origins").await, 3);
    for origin in [
        "https://shop.example",
        "http://localhost:3000",
        "https://b.example",
    ] {
        assert_eq!(preflight(&app, origin).await.as_deref(), Some(origin));
    }
    let tricks = [
        "https://shop.exampl",
        "https://shop.example.evil",
        "https://evil.shop.example",
        "https://shop.example/",
        "https://shop.example:443",
        "http://shop.example",
        "HTTPS://SHOP.EXAMPLE",
        "https://hop.example",
        "https://shop%example",
        "https://shop_example",
        "https://%",
        "%",
        "_",
        "%shop.example%",
        "https://shop.example\"",
        "\"https://shop.example\"",
        "https://shop.example\", \"x",
        "http://localhost:300",
        "http://localhost:30000",
        "null",
    ];
    for origin in tricks {
        assert_eq!(preflight(&app, origin).await, None, "{origin}");
    }
    // The lookup reads seller_origins: without the row, the origin is unknown although the seller's JSON
    // still lists it.
    sqlx::query("DELETE FROM seller_origins WHERE origin = 'https://b.example'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(preflight(&app, "https://b.example").await, None);

    // The plan probes the index (PostgreSQL is told to avoid sequential scans, so a missing index shows).
    let sql = tranche_api::store::sellers::KNOWN_ORIGIN_SQL.replace("$1", "'https://shop.example'");
    let mut conn = app.state.db.pool().acquire().await.unwrap();
    let plan: Vec<String> = match backend {
        Backend::Sqlite => {
            let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.3).collect()
        }
        Backend::Postgres => {
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {sql}"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            sqlx::query("RESET enable_seqscan")
                .execute(&mut *conn)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.0).collect()
        }
    };
    let plan = plan.join("\n");
    assert!(plan.contains("seller_origins_origin"), "{plan}");
    assert!(
        !plan.contains("Seq Scan") && !plan.contains("SCAN seller"),
        "{plan}"
    );
}
both_backends!(cors_origin_lookup_is_exact_and_indexed);

/// The migration fills `seller_origins` from the origins sellers registered before it existed.
async fn seller_origins_migration_backfills(backend: Backend) {
    const FIRST_OWN: i64 = 20261129000200;
    let url = common::fresh_database(backend).await;
    sqlx::any::install_default_drivers();
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../migrations/{dir}"));
    let mut before = sqlx::migrate::Migrator::new(path).await.unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < FIRST_OWN)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool_url = match backend {
        Backend::Sqlite => format!("{url}?mode=rwc"),
        Backend::Postgres => url.clone(),
    };
    {
        let pool = sqlx::AnyPool::connect(&pool_url).await.unwrap();
        before.run(&pool).await.unwrap();
        for (id, origins) in [
            ("sel_old_a", r#"["https://old.example","http://127.0.0.1:8000"]"#),
            ("sel_old_b", "[]"),
            ("sel_old_c", r#"["https://old.example"]"#),
        ] {
            sqlx::query("INSERT INTO sellers (id, name, secret_key_hash, allowed_origins, created_at) VALUES ($1, $2, $3, $4, 0)")
                .bind(id)
                .bind(id)
                .bind(format!("hash-{id}"))
                .bind(origins)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
    let app = common::spawn_app_on(backend, url, |_| {}).await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM seller_origins").await, 3);
    assert_eq!(
        preflight(&app, "https://old.example").await.as_deref(),
        Some("https://old.example")
    );
    assert_eq!(
        preflight(&app, "http://127.0.0.1:8000").await.as_deref(),
        Some("http://127.0.0.1:8000")
    );
    assert_eq!(preflight(&app, "https://old.exampl").await, None);
}
both_backends!(seller_origins_migration_backfills);
