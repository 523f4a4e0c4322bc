//! Accounts (issue 17, DESIGN 12): account links, the account view, and one payment allocated across several
//! invoices, all or nothing, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{eventually, expect_problem, spawn_app, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The seller's customer as another context (same key), so `app.invoice` invoices that customer.
fn for_customer(seller: &SellerCtx, customer_id: &str) -> SellerCtx {
    SellerCtx {
        id: seller.id.clone(),
        key: seller.key.clone(),
        customer_id: customer_id.to_owned(),
    }
}

async fn card(app: &TestApp, account_token: &str) -> String {
    app.card_token_for(account_token, VISA).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.sql_count(sql).await
}

async fn an_account_shows_every_open_invoice_of_its_customer(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let a = app.invoice(&seller, "USD", "100.00", None).await;
    let b = app.invoice(&seller, "USD", "250.50", None).await;
    let c = app.invoice(&seller, "EUR", "40.00", None).await;
    let void = app.invoice(&seller, "USD", "999.00", None).await;
    let r = app
        .post(
            &format!("/v1/invoices/{}/void", id(&void)),
            &seller.key,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Another customer's invoice, and another seller's: never in this account.
    let other = app.customer(&seller, "Other Co", "C-2").await;
    app.invoice(&for_customer(&seller, &other), "USD", "77.00", None)
        .await;
    let seller_b = app.seller("B").await;
    app.invoice(&seller_b, "USD", "55.00", None).await;

    let r = app
        .post(
            &format!("/v1/customers/{}/account-links", seller.customer_id),
            &seller.key,
            json!({"expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let link: Value = r.json().await.unwrap();
    let token = link["token"].as_str().unwrap();
    assert!(link["id"].as_str().unwrap().starts_with("alk_"));
    assert!(link["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/account/{token}")));

    let r = app.get("/v1/account", token).await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["customer"]["id"], seller.customer_id);
    assert_eq!(view["customer"]["name"], "Acme Buyer");
    let ids: Vec<&str> = view["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoice"]["id"].as_str().unwrap())
        .collect();
    let mut expected = vec![id(&a), id(&b), id(&c)];
    expected.sort();
    let mut got: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    got.sort();
    assert_eq!(got, expected, "open invoices of this customer only");
    // Each invoice carries the checkout's options and rule inputs.
    for invoice in view["invoices"].as_array().unwrap() {
        assert!(invoice["options"].is_object(), "{invoice}");
        assert!(invoice["rules"].is_object());
        assert!(invoice["invoice"]["balance_due"].is_string());
        assert!(invoice["invoice"]["due_date"].is_string());
    }
    // Two currencies: two totals, never one sum.
    assert_eq!(
        view["total_open"],
        json!([{"currency": "EUR", "amount": "40.00"}, {"currency": "USD", "amount": "350.50"}])
    );
    // The hosted page loads for the account token (200, or 503 when the widget is not built here).
    let page = app
        .client
        .get(app.url(&format!("/account/{token}")))
        .send()
        .await
        .unwrap();
    let status = page.status().as_u16();
    assert!(status == 200 || status == 503, "{status}");
    if status == 200 {
        assert!(page.text().await.unwrap().contains(&format!("token=\"{token}\"")));
    }
}
both_backends!(an_account_shows_every_open_invoice_of_its_customer);

async fn a_token_of_one_kind_never_works_as_the_other(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    let (_, checkout_token) = app.link(&seller, &id(&inv)).await;
    let (link_id, account_token) = app.account_link(&seller, &seller.customer_id).await;
    // A checkout token on the account's routes and page.
    expect_problem(
        app.get("/v1/account", &checkout_token).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    let card_for_checkout = app.card_token_for(&checkout_token, VISA).await;
    expect_problem(
        app.pay_account(
            &checkout_token,
            "k1",
            &card_for_checkout,
            json!([{"invoice_id": id(&inv), "amount": "10.00"}]),
        )
        .await,
        401,
        "invalid_checkout_token",
    )
    .await;
    let page = app
        .client
        .get(app.url(&format!("/account/{checkout_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    // An account token on the checkout's routes and page.
    expect_problem(
        app.get("/v1/checkout", &account_token).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    let account_card = card(&app, &account_token).await;
    expect_problem(
        app.pay(&account_token, "k2", "10.00", &account_card).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    let page = app
        .client
        .get(app.url(&format!("/pay/{account_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    // A method token made for the checkout does not pay the account, nor the reverse.
    expect_problem(
        app.pay_account(
            &account_token,
            "k3",
            &card_for_checkout,
            json!([{"invoice_id": id(&inv), "amount": "10.00"}]),
        )
        .await,
        400,
        "payment_token_invalid",
    )
    .await;
    expect_problem(
        app.pay(&checkout_token, "k4", "10.00", &account_card).await,
        400,
        "payment_token_invalid",
    )
    .await;
    // Revoked: the account token stops working at once.
    let r = app
        .client
        .delete(app.url(&format!("/v1/account-links/{link_id}")))
        .bearer_auth(&seller.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_problem(
        app.get("/v1/account", &account_token).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    // Expired: the stored expiry decides.
    let (expiring_id, expiring) = app.account_link(&seller, &seller.customer_id).await;
    assert_eq!(app.get("/v1/account", &expiring).await.status(), 200);
    sqlx::query("UPDATE account_links SET expires_at = 1 WHERE id = $1")
        .bind(&expiring_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    expect_problem(
        app.get("/v1/account", &expiring).await,
        401,
        "invalid_checkout_token",
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM payments").await, 0);
}
both_backends!(a_token_of_one_kind_never_works_as_the_other);

async fn account_links_are_scoped_to_their_seller(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("A").await;
    let b = app.seller("B").await;
    // B cannot mint a link for A's customer, nor revoke A's link.
    expect_problem(
        app.post(
            &format!("/v1/customers/{}/account-links", a.customer_id),
            &b.key,
            json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let (link_id, token) = app.account_link(&a, &a.customer_id).await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/account-links/{link_id}")))
        .bearer_auth(&b.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.get("/v1/account", &token).await.status(), 200, "still works");
    // A bad lifetime changes nothing.
    expect_problem(
        app.post(
            &format!("/v1/customers/{}/account-links", a.customer_id),
            &a.key,
            json!({"expires_in_seconds": 5}),
        )
        .await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM account_links").await, 1);
}
both_backends!(account_links_are_scoped_to_their_seller);

async fn one_charge_pays_several_invoices(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let a = app.invoice(&seller, "USD", "100.00", None).await;
    let b = app.invoice(&seller, "USD", "250.50", None).await;
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    let method = card(&app, &token).await;
    let allocations = json!([
        {"invoice_id": id(&b), "amount": "250.50"},
        {"invoice_id": id(&a), "amount": "40.00"},
    ]);
    let r = app
        .pay_account(&token, "acct-1", &method, allocations.clone())
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["amount"], "290.50");
    assert_eq!(body["payment"]["status"], "succeeded");
    assert_eq!(
        body["payment"]["allocations"][0]["invoice_id"],
        id(&b),
        "in the request's order"
    );
    assert_eq!(body["payment"]["allocations"][0]["amount"], "250.50");
    assert_eq!(body["payment"]["allocations"][1]["amount"], "40.00");
    assert_eq!(body["invoices"][0]["status"], "paid");
    assert_eq!(body["invoices"][1]["balance_due"], "60.00");
    assert_eq!(body["invoices"][1]["status"], "partially_paid");
    // One gateway charge for the sum.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sandbox_charges").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT CAST(SUM(amount_minor) AS BIGINT) FROM sandbox_charges"
        )
        .await,
        29_050
    );
    assert_eq!(app.get_invoice(&seller, &id(&a)).await["amount_paid"], "40.00");
    assert_eq!(app.get_invoice(&seller, &id(&b)).await["status"], "paid");
    // The allocations are stored per invoice.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM payment_allocations").await, 2);
    // Each invoice's history shows what it got, and the seller finds the payment by either invoice (the
    // row names only the first by id).
    for (invoice, amount) in [(id(&a), "40.00"), (id(&b), "250.50")] {
        let (_, checkout) = app.link(&seller, &invoice).await;
        let history = app.checkout(&checkout).await["payments"].clone();
        assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
        assert_eq!(history[0]["id"], body["payment"]["id"]);
        assert_eq!(history[0]["amount"], amount, "{history}");
        let listed: Value = app
            .get(&format!("/v1/payments?invoice_id={invoice}"), &seller.key)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["data"][0]["id"], body["payment"]["id"], "{listed}");
    }
    // The account now shows only the open rest.
    let view: Value = app.get("/v1/account", &token).await.json().await.unwrap();
    assert_eq!(view["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(
        view["total_open"],
        json!([{"currency": "USD", "amount": "60.00"}])
    );
    // A retry with the key replays; the same key with another body is refused; nothing more is charged.
    let again = app.pay_account(&token, "acct-1", &method, allocations).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["payment"]["id"], body["payment"]["id"]);
    expect_problem(
        app.pay_account(
            &token,
            "acct-1",
            &method,
            json!([{"invoice_id": id(&a), "amount": "1.00"}]),
        )
        .await,
        422,
        "idempotency_key_reused",
    )
    .await;
    // The method token was spent by the first payment.
    expect_problem(
        app.pay_account(
            &token,
            "acct-2",
            &method,
            json!([{"invoice_id": id(&a), "amount": "1.00"}]),
        )
        .await,
        400,
        "payment_token_invalid",
    )
    .await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sandbox_charges").await, 1);
    // The audit log names each allocation.
    let audit = app
        .sql_text("SELECT changes FROM audit_log WHERE action = 'payment.succeeded'")
        .await;
    assert!(audit.contains(&id(&a)) && audit.contains(&id(&b)), "{audit}");
}
both_backends!(one_charge_pays_several_invoices);

/// Every refusal rejects the whole payment, names the invoice and changes nothing: no payment, no hold,
/// no charge, and the method token still unspent (the last request pays with it).
async fn a_rule_failing_on_one_invoice_rejects_the_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let a = app.invoice(&seller, "USD", "100.00", None).await;
    let b = app.invoice(&seller, "USD", "50.00", None).await;
    let eur = app.invoice(&seller, "EUR", "50.00", None).await;
    let void = app.invoice(&seller, "USD", "20.00", None).await;
    app.post(
        &format!("/v1/invoices/{}/void", id(&void)),
        &seller.key,
        json!({}),
    )
    .await;
    let other_customer = app.customer(&seller, "Other Co", "C-2").await;
    let theirs = app
        .invoice(&for_customer(&seller, &other_customer), "USD", "10.00", None)
        .await;
    let seller_b = app.seller("B").await;
    let other_sellers = app.invoice(&seller_b, "USD", "10.00", None).await;
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    let method = card(&app, &token).await;
    let ok = json!({"invoice_id": id(&a), "amount": "10.00"});
    let cases: Vec<(Value, u16, &str, Option<String>)> = vec![
        (
            json!([ok, {"invoice_id": id(&b), "amount": "50.01"}]),
            422,
            "amount_exceeds_balance",
            Some(id(&b)),
        ),
        (
            json!([ok, {"invoice_id": id(&b), "amount": "1.001"}]),
            422,
            "amount_precision",
            Some(id(&b)),
        ),
        (
            json!([ok, {"invoice_id": id(&eur), "amount": "5.00"}]),
            422,
            "currency_mismatch",
            None,
        ),
        (
            json!([ok, {"invoice_id": id(&void), "amount": "5.00"}]),
            409,
            "invoice_not_payable",
            Some(id(&void)),
        ),
        (
            json!([ok, {"invoice_id": id(&theirs), "amount": "5.00"}]),
            404,
            "not_found",
            Some(id(&theirs)),
        ),
        (
            json!([ok, {"invoice_id": id(&other_sellers), "amount": "5.00"}]),
            404,
            "not_found",
            Some(id(&other_sellers)),
        ),
        (
            json!([ok, {"invoice_id": "inv_nope", "amount": "5.00"}]),
            404,
            "not_found",
            Some("inv_nope".to_owned()),
        ),
        (json!([ok, ok]), 400, "invalid_field", Some(id(&a))),
        (json!([]), 400, "invalid_field", None),
        (
            Value::Array(
                (0..101)
                    .map(|i| json!({"invoice_id": format!("inv_{i}"), "amount": "1.00"}))
                    .collect(),
            ),
            400,
            "invalid_field",
            None,
        ),
    ];
    for (i, (allocations, status, code, invoice_id)) in cases.into_iter().enumerate() {
        let body = expect_problem(
            app.pay_account(&token, &format!("bad-{i}"), &method, allocations)
                .await,
            status,
            code,
        )
        .await;
        if let Some(invoice_id) = invoice_id {
            assert_eq!(body["invoice_id"], invoice_id, "case {i}: {body}");
        }
        if code == "currency_mismatch" {
            assert!(body["invoice_id"].is_string(), "{body}");
        }
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM payment_allocations").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sandbox_charges").await, 0);
    assert_eq!(app.get_invoice(&seller, &id(&a)).await["amount_paid"], "0.00");
    // A paid invoice: pay b in full, then allocate to it again.
    let r = app
        .pay_account(
            &token,
            "pay-b",
            &method,
            json!([{"invoice_id": id(&b), "amount": "50.00"}]),
        )
        .await;
    assert_eq!(r.status(), 201, "the token was never spent by the refusals");
    let method = card(&app, &token).await;
    let body = expect_problem(
        app.pay_account(
            &token,
            "paid-again",
            &method,
            json!([ok, {"invoice_id": id(&b), "amount": "1.00"}]),
        )
        .await,
        409,
        "invoice_not_payable",
    )
    .await;
    assert_eq!(body["invoice_id"], id(&b));
    assert_eq!(app.get_invoice(&seller, &id(&a)).await["amount_paid"], "0.00");
}
both_backends!(a_rule_failing_on_one_invoice_rejects_the_whole);

/// 32 account payments at once over overlapping invoices of one account: no invoice is ever overpaid, and
/// each invoice's amount paid is exactly what the succeeded payments allocated to it.
async fn thirty_two_concurrent_account_payments_never_overpay(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    let seller = app.seller("S").await;
    let mut invoice_ids = Vec::new();
    for _ in 0..4 {
        invoice_ids.push(id(&app.invoice(&seller, "USD", "100.00", None).await));
    }
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    // Each payment allocates 30.00 to two neighbouring invoices (0+1, 1+2, 2+3, 3+0), listed in both
    // orders: 32 x 60.00 asked of 400.00.
    let mut methods = Vec::new();
    for _ in 0..32 {
        methods.push(card(&app, &token).await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let handles: Vec<_> = methods
        .into_iter()
        .enumerate()
        .map(|(i, method)| {
            let (app, token, barrier) = (app.clone(), token.clone(), barrier.clone());
            let (x, y) = (invoice_ids[i % 4].clone(), invoice_ids[(i + 1) % 4].clone());
            let pair = if i % 2 == 0 { [x, y] } else { [y, x] };
            tokio::spawn(async move {
                barrier.wait().await;
                let allocations = json!([
                    {"invoice_id": pair[0], "amount": "30.00"},
                    {"invoice_id": pair[1], "amount": "30.00"},
                ]);
                let r = app
                    .pay_account(&token, &format!("c-{i}"), &method, allocations)
                    .await;
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut succeeded = 0;
    for h in handles {
        match h.await.unwrap() {
            (201, body) => {
                assert_eq!(body["payment"]["status"], "succeeded", "{body}");
                succeeded += 1;
            }
            (422, body) => assert_eq!(body["code"], "amount_exceeds_balance", "{body}"),
            (409, body) => assert_eq!(body["code"], "invoice_not_payable", "{body}"),
            (status, body) => panic!("never a {status}: {body}"),
        }
    }
    assert!(succeeded >= 1);
    let mut paid_total = 0;
    for invoice_id in &invoice_ids {
        let inv = app.get_invoice(&seller, invoice_id).await;
        let paid: i64 = inv["amount_paid"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse()
            .unwrap();
        let balance: i64 = inv["balance_due"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse()
            .unwrap();
        assert!(paid <= 10_000, "{invoice_id} overpaid: {paid}");
        assert_eq!(balance, 10_000 - paid);
        let allocated = app
            .sql_count(&format!(
                "SELECT CAST(COALESCE(SUM(a.amount_minor), 0) AS BIGINT) FROM payment_allocations a \
                 JOIN payments p ON p.id = a.payment_id WHERE a.invoice_id = '{invoice_id}' AND p.status = 'succeeded'"
            ))
            .await;
        assert_eq!(
            paid, allocated,
            "{invoice_id}: amount_paid = its succeeded allocations"
        );
        paid_total += paid;
    }
    assert_eq!(paid_total, succeeded * 6_000);
    let charged = app
        .sql_count("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_charges WHERE status = 'succeeded'")
        .await;
    assert_eq!(charged, paid_total, "charged exactly what was credited");
    assert_eq!(
        count(
            &app.clone(),
            "SELECT COUNT(*) FROM payments WHERE status = 'pending'"
        )
        .await,
        0
    );
}
both_backends!(thirty_two_concurrent_account_payments_never_overpay);

/// The gateway charges, then the API's call times out (the sandbox's 4000000000000259): the account payment
/// stays pending holding every allocation, and the reconciler finds the charge and credits every invoice.
async fn a_charge_lost_between_charge_and_finalize_is_reconciled(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let a = app.invoice(&seller, "USD", "100.00", None).await;
    let b = app.invoice(&seller, "USD", "200.00", None).await;
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    let method = app.card_token_for(&token, "4000000000000259").await;
    let r = app
        .pay_account(
            &token,
            "lost",
            &method,
            json!([{"invoice_id": id(&a), "amount": "100.00"}, {"invoice_id": id(&b), "amount": "50.00"}]),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payment"]["status"], "pending");
    // The holds stand on each invoice: b's open balance is 150.00 now, a's none.
    let other = card(&app, &token).await;
    expect_problem(
        app.pay_account(
            &token,
            "meanwhile",
            &other,
            json!([{"invoice_id": id(&b), "amount": "150.01"}]),
        )
        .await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 0);
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(app.get_invoice(&seller, &id(&a)).await["status"], "paid");
    assert_eq!(app.get_invoice(&seller, &id(&b)).await["amount_paid"], "50.00");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sandbox_charges").await, 1);
    // The retry with the key replays the stored answer.
    let again: Value = app
        .pay_account(
            &token,
            "lost",
            &method,
            json!([{"invoice_id": id(&a), "amount": "100.00"}, {"invoice_id": id(&b), "amount": "50.00"}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["payment"]["id"], body["payment"]["id"]);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'payment.succeeded'"
        )
        .await,
        1
    );
}
both_backends!(a_charge_lost_between_charge_and_finalize_is_reconciled);

/// The ERP hears of an account payment once: one signed `payment.succeeded` with an allocation per invoice,
/// `invoice.paid` for the invoice it closed, and one QuickBooks Payment with a Line linked to each invoice
/// (each Line's Amount its allocation, TotalAmt the sum, all exact decimals).
async fn the_erp_gets_one_payment_linked_to_each_invoice(backend: Backend) {
    use common::fake_erp::FakeErp;
    use std::time::Duration;
    let erp = FakeErp::start().await;
    let app = common::spawn_app_with(backend, |s| common::fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    erp.connect(&app, &seller).await;
    let a = app
        .invoice_with(&seller, "USD", "1000.00", json!({"external_ref": "145"}))
        .await;
    let b = app
        .invoice_with(&seller, "USD", "20.10", json!({"external_ref": "146"}))
        .await;
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    let method = card(&app, &token).await;
    let r = app
        .pay_account(
            &token,
            "erp-1",
            &method,
            json!([{"invoice_id": id(&a), "amount": "250.00"}, {"invoice_id": id(&b), "amount": "20.10"}]),
        )
        .await;
    assert_eq!(r.status(), 201);
    let paid: Value = r.json().await.unwrap();
    let erp_ref = &erp;
    let hook = eventually("the payment webhook", Duration::from_secs(10), || async move {
        erp_ref
            .bodies("/hooks")
            .into_iter()
            .find(|b| b["type"] == "payment.succeeded")
    })
    .await;
    let data = &hook["data"];
    assert_eq!(data["payment_id"], paid["payment"]["id"]);
    assert_eq!(data["amount"], "270.10");
    assert_eq!(
        data["allocations"],
        json!([
            {"invoice_id": id(&a), "invoice_number": a["number"], "invoice_external_ref": "145",
             "amount": "250.00", "discount": null, "invoice_balance_after": "750.00"},
            {"invoice_id": id(&b), "invoice_number": b["number"], "invoice_external_ref": "146",
             "amount": "20.10", "discount": null, "invoice_balance_after": "0.00"},
        ])
    );
    let closed = eventually("invoice.paid for b", Duration::from_secs(10), || async move {
        erp_ref
            .bodies("/hooks")
            .into_iter()
            .find(|h| h["type"] == "invoice.paid")
    })
    .await;
    assert_eq!(closed["data"]["invoice_id"], id(&b));
    let qbo = eventually("the QuickBooks Payment", Duration::from_secs(10), || async move {
        erp_ref.bodies("/payment").into_iter().next()
    })
    .await;
    let text = qbo.to_string();
    assert!(text.contains("\"TotalAmt\":270.1"), "{qbo}");
    let lines = qbo["Line"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{qbo}");
    assert_eq!(
        lines[0]["LinkedTxn"][0],
        json!({"TxnId": "145", "TxnType": "Invoice"})
    );
    assert_eq!(
        lines[1]["LinkedTxn"][0],
        json!({"TxnId": "146", "TxnType": "Invoice"})
    );
    assert_eq!(lines[0]["Amount"].to_string(), "250.0");
    assert_eq!(lines[1]["Amount"].to_string(), "20.1");
    // Once: one payment event and one QuickBooks Payment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(erp.bodies("/payment").len(), 1);
    assert_eq!(
        erp.bodies("/hooks")
            .iter()
            .filter(|h| h["type"] == "payment.succeeded")
            .count(),
        1
    );
}
both_backends!(the_erp_gets_one_payment_linked_to_each_invoice);

/// A refund of an account payment names the allocation it comes out of (required with several), gives back
/// at most that allocation's unrefunded part, and reopens only that invoice.
async fn refunds_come_out_of_one_allocation(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let a = app.invoice(&seller, "USD", "100.00", None).await;
    let b = app.invoice(&seller, "USD", "60.00", None).await;
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    let method = card(&app, &token).await;
    let paid: Value = app
        .pay_account(
            &token,
            "refund-me",
            &method,
            json!([{"invoice_id": id(&a), "amount": "100.00"}, {"invoice_id": id(&b), "amount": "30.00"}]),
        )
        .await
        .json()
        .await
        .unwrap();
    let payment_id = paid["payment"]["id"].as_str().unwrap().to_owned();
    let refund = |key: &'static str, body: Value| {
        let (app, seller, payment_id) = (&app, &seller, payment_id.clone());
        async move {
            app.client
                .post(app.url(&format!("/v1/payments/{payment_id}/refunds")))
                .bearer_auth(&seller.key)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Which allocation must be said, and must be one of the payment's.
    expect_problem(
        refund("r0", json!({"amount": "5.00"})).await,
        400,
        "invalid_field",
    )
    .await;
    let stranger = app.invoice(&seller, "USD", "10.00", None).await;
    expect_problem(
        refund("r1", json!({"amount": "5.00", "invoice_id": id(&stranger)})).await,
        400,
        "invalid_field",
    )
    .await;
    // At most the allocation, though the payment (130.00) has more.
    let body = expect_problem(
        refund("r2", json!({"amount": "30.01", "invoice_id": id(&b)})).await,
        422,
        "refund_exceeds_payment",
    )
    .await;
    assert_eq!(body["maximum"], "30.00");
    // Another seller cannot refund it at all.
    let other = app.seller("B").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/payments/{payment_id}/refunds")))
        .bearer_auth(&other.key)
        .header("idempotency-key", "r3")
        .json(&json!({"amount": "1.00", "invoice_id": id(&b)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM refunds").await,
        0,
        "refusals change nothing"
    );
    // 10.00 of b's allocation: b reopens by 10.00, a is untouched.
    let r = refund("r4", json!({"amount": "10.00", "invoice_id": id(&b)})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(app.get_invoice(&seller, &id(&b)).await["amount_paid"], "20.00");
    assert_eq!(app.get_invoice(&seller, &id(&a)).await["amount_paid"], "100.00");
    // Without an amount: the rest of b's allocation (20.00), not the rest of the payment.
    let r = refund("r5", json!({"invoice_id": id(&b)})).await;
    assert_eq!(r.status(), 201);
    let rest: Value = r.json().await.unwrap();
    assert_eq!(rest["amount"], "20.00");
    assert_eq!(rest["invoice_id"], id(&b));
    assert_eq!(app.get_invoice(&seller, &id(&b)).await["amount_paid"], "0.00");
    // Refunded in full, b still had a payment against its lines (the ERP recorded it): they stay.
    let r = app
        .patch(
            &format!("/v1/invoices/{}", id(&b)),
            &seller.key,
            json!({"lines": [{"description": "Other", "quantity": "1", "unit_price": "5.00"}]}),
        )
        .await;
    expect_problem(r, 409, "invoice_has_payments").await;
    expect_problem(
        refund("r6", json!({"amount": "0.01", "invoice_id": id(&b)})).await,
        422,
        "refund_exceeds_payment",
    )
    .await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT amount_refunded_minor FROM payment_allocations WHERE invoice_id = '{}'",
                id(&b)
            )
        )
        .await,
        3_000
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT amount_refunded_minor FROM payments WHERE id = '{payment_id}'")
        )
        .await,
        3_000
    );
    let payment: Value = app
        .get(&format!("/v1/payments/{payment_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payment["status"], "partially_refunded");
    // The seller sees the split and what each allocation gave back.
    assert_eq!(payment["allocations"][0]["invoice_id"], id(&a));
    assert_eq!(payment["allocations"][0]["amount_refunded"], "0.00");
    assert_eq!(payment["allocations"][1]["invoice_id"], id(&b));
    assert_eq!(payment["allocations"][1]["amount"], "30.00");
    assert_eq!(payment["allocations"][1]["amount_refunded"], "30.00");
    // A single-invoice payment's refund may name only its own invoice.
    let (_, checkout) = app.link(&seller, &id(&stranger)).await;
    let single_card = app.card_token_for(&checkout, VISA).await;
    let single: Value = app
        .pay(&checkout, "single", "10.00", &single_card)
        .await
        .json()
        .await
        .unwrap();
    let single_id = single["payment"]["id"].as_str().unwrap();
    let r = app
        .client
        .post(app.url(&format!("/v1/payments/{single_id}/refunds")))
        .bearer_auth(&seller.key)
        .header("idempotency-key", "s1")
        .json(&json!({"amount": "1.00", "invoice_id": id(&a)}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "invalid_field").await;
}
both_backends!(refunds_come_out_of_one_allocation);

/// A declined charge credits no invoice and releases every hold; a payment the gateway never saw (its request
/// died between hold and charge) is released by the reconciler with its holds, and its key runs afresh.
async fn declined_and_never_charged_account_payments_release_every_hold(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let a = app.invoice(&seller, "USD", "100.00", None).await;
    let b = app.invoice(&seller, "USD", "200.00", None).await;
    let (_, token) = app.account_link(&seller, &seller.customer_id).await;
    let both =
        json!([{"invoice_id": id(&a), "amount": "100.00"}, {"invoice_id": id(&b), "amount": "200.00"}]);
    let declined = app.card_token_for(&token, "4000000000000002").await;
    let body = expect_problem(
        app.pay_account(&token, "declined", &declined, both.clone()).await,
        402,
        "payment_declined",
    )
    .await;
    assert_eq!(body["decline_code"], "card_declined");
    assert_eq!(app.get_invoice(&seller, &id(&a)).await["amount_paid"], "0.00");
    let failed = app
        .sql_text("SELECT changes FROM audit_log WHERE action = 'payment.failed'")
        .await;
    assert!(failed.contains(&id(&b)), "{failed}");

    // Charged, then lost: make the gateway forget the charge, as if the request died before it.
    let lost = app.card_token_for(&token, "4000000000000259").await;
    let r = app.pay_account(&token, "died", &lost, both.clone()).await;
    assert_eq!(r.status(), 201);
    sqlx::query("DELETE FROM sandbox_charges")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM payments WHERE status = 'pending'").await,
        0
    );
    // Every hold is released: the whole balance of both is payable again, with the same key and token.
    let r = app.pay_account(&token, "died", &lost, both).await;
    assert_eq!(r.status(), 201);
    let retried: Value = r.json().await.unwrap();
    let status = retried["payment"]["status"].as_str().unwrap().to_owned();
    assert!(status == "succeeded" || status == "pending", "{retried}");
    if status == "succeeded" {
        assert_eq!(app.get_invoice(&seller, &id(&a)).await["status"], "paid");
        assert_eq!(app.get_invoice(&seller, &id(&b)).await["status"], "paid");
    }
}
both_backends!(declined_and_never_charged_account_payments_release_every_hold);
