//! Disputes (issue 17, DESIGN 12) through the HTTP API: a buyer contests part of a line and the amount is
//! held out of what may be paid (views, options and the payment check agree); the seller credits part of it
//! (a credit note, the rest payable again) or rejects it (payable again, the buyer emailed in their
//! language); webhooks hear `dispute.opened` and `dispute.resolved`; a payment in flight and a dispute meet
//! under the invoice's lock; a plan's installment offer shrinks to what is undisputed; every bad input is a
//! problem with nothing changed; the database refuses a hold beyond the balance; another seller sees
//! nothing. Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::smtp::{text_body, SmtpSink};
use common::stand_in::Recorder;
use common::{eventually, expect_problem, fast, spawn_app, spawn_app_with, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

/// An invoice of two lines: 6 chairs at 100.00 (600.00) and a desk at 400.00; total 1000.00 USD.
async fn two_lines(app: &TestApp, seller: &SellerCtx) -> String {
    let invoice = app
        .invoice_with(
            seller,
            "USD",
            "0",
            json!({"lines": [
                {"description": "Chair", "quantity": "6", "unit_price": "100.00"},
                {"description": "Desk", "quantity": "1", "unit_price": "400.00"}
            ], "external_ref": "145"}),
        )
        .await;
    assert_eq!(invoice["total"], "1000.00");
    invoice["id"].as_str().unwrap().to_owned()
}

async fn dispute(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post("/v1/checkout/disputes", token, body).await
}

async fn dispute_ok(app: &TestApp, token: &str, body: Value) -> Value {
    let r = dispute(app, token, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn resolve(app: &TestApp, seller: &SellerCtx, id: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/v1/disputes/{id}/resolve"), &seller.key, body)
        .await
}

// ---------------------------------------------------------------------------------------------------
// The hold, the rules on the rest, a partial credit.

async fn a_dispute_holds_its_amount_and_a_partial_credit_gives_the_rest_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let id = two_lines(&app, &seller).await;
    let (_, token) = app.link(&seller, &id).await;

    let opened = dispute_ok(
        &app,
        &token,
        json!({"line": 0, "amount": "200.00", "reason": "damaged", "note": "<b>2 chairs</b> broken"}),
    )
    .await;
    assert!(opened["id"].as_str().unwrap().starts_with("dsp_"));
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["amount"], "200.00");
    assert_eq!(opened["line"], 0);
    // Stored and answered as the text it is: JSON carries it, nothing renders it.
    assert_eq!(opened["note"], "<b>2 chairs</b> broken");

    // Both views show the hold; the balance still owes it; the rules run on the rest.
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_disputed"], "200.00");
    assert_eq!(invoice["balance_due"], "1000.00");
    let view = app.checkout(&token).await;
    assert_eq!(view["invoice"]["amount_disputed"], "200.00");
    assert_eq!(view["options"]["maximum"], "800.00");
    assert_eq!(view["options"]["full_balance"], "800.00");
    assert_eq!(view["rules"]["amount_disputed"], "200.00");
    // The widget rebuilds the same rules from `rules`: it must reach the same maximum.
    let rules: tranche_domain::wire::RulesInput = serde_json::from_value(view["rules"].clone()).unwrap();
    let (totals, _, _) = rules.resolve().unwrap();
    assert_eq!(totals.available().to_string(), "800.00");

    let over = app.pay_fresh(&seller, &id, "800.01").await;
    let problem = expect_problem(over, 422, "amount_exceeds_balance").await;
    assert_eq!(problem["maximum"], "800.00");
    let paid = app.pay_fresh(&seller, &id, "800.00").await;
    assert_eq!(paid.status(), 201, "{}", paid.text().await.unwrap());
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["balance_due"], "200.00");
    assert_eq!(invoice["status"], "partially_paid");

    // Nothing left to hold: a second dispute (the rest of the chairs) is refused, though the line has room.
    let full = dispute(&app, &token, json!({"line": 0, "reason": "pricing"})).await;
    let problem = expect_problem(full, 422, "amount_exceeds_balance").await;
    assert_eq!(problem["maximum"], "0.00");

    // Credit 150 of the 200: a credit note for 150, 50 payable again.
    let r = resolve(
        &app,
        &seller,
        opened["id"].as_str().unwrap(),
        json!({"outcome": "credit", "amount": "150.00"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let resolved: Value = r.json().await.unwrap();
    assert_eq!(resolved["status"], "credited");
    assert_eq!(resolved["amount_credited"], "150.00");
    let note_id = resolved["credit_note_id"].as_str().unwrap();
    let notes: Value = app
        .get(&format!("/v1/invoices/{id}/credit-notes"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes["data"][0]["id"], note_id);
    assert_eq!(notes["data"][0]["amount"], "150.00");
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_disputed"], "0.00");
    assert_eq!(invoice["amount_credited"], "150.00");
    assert_eq!(invoice["balance_due"], "50.00");
    assert_eq!(app.checkout(&token).await["options"]["maximum"], "50.00");

    // Resolving twice: 409, nothing changes.
    let again = resolve(
        &app,
        &seller,
        opened["id"].as_str().unwrap(),
        json!({"outcome": "reject"}),
    )
    .await;
    expect_problem(again, 409, "dispute_already_resolved").await;
    assert_eq!(app.get_invoice(&seller, &id).await["balance_due"], "50.00");

    // The seller's list, filtered and paged; the audit log has both writes.
    let open: Value = app
        .get("/v1/disputes?status=open", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open["data"].as_array().unwrap().len(), 0);
    let credited: Value = app
        .get("/v1/disputes?status=credited&limit=1", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(credited["data"][0]["id"], opened["id"]);
    assert_eq!(credited["has_more"], false);
    let bad = app.get("/v1/disputes?status=won", &seller.key).await;
    expect_problem(bad, 400, "invalid_query").await;
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('dispute.opened', 'dispute.resolved')"
        )
        .await,
        2
    );
}
both_backends!(a_dispute_holds_its_amount_and_a_partial_credit_gives_the_rest_back);

// ---------------------------------------------------------------------------------------------------
// Reject: payable again, the buyer emailed; the webhooks.

async fn a_rejected_dispute_is_payable_again_and_the_buyer_is_told(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (hooks, port) = Recorder::start().await;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.smtp = Some(common::smtp::settings(sink.port));
    })
    .await;
    let seller = app.seller("Northwind").await;
    app.webhook_endpoint(&seller, port).await;
    let r = app
        .patch(
            &format!("/v1/customers/{}", seller.customer_id),
            &seller.key,
            json!({"locale": "de"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let id = two_lines(&app, &seller).await;
    let (_, token) = app.link(&seller, &id).await;
    let opened = dispute_ok(
        &app,
        &token,
        json!({"line": 1, "reason": "not_received", "note": "<script>alert(1)</script>"}),
    )
    .await;
    // The default amount: the whole line.
    assert_eq!(opened["amount"], "400.00");
    let dispute_id = opened["id"].as_str().unwrap();

    let r = resolve(&app, &seller, dispute_id, json!({"outcome": "reject"})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let resolved: Value = r.json().await.unwrap();
    assert_eq!(resolved["status"], "rejected");
    assert_eq!(resolved["amount_credited"], "0.00");
    assert_eq!(resolved["credit_note_id"], Value::Null);
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_disputed"], "0.00");
    assert_eq!(invoice["amount_credited"], "0.00");
    assert_eq!(app.checkout(&token).await["options"]["maximum"], "1000.00");

    // The buyer's email, in German, with the amount back to pay and a link; never the note.
    let sink_ref = &sink;
    let mail = eventually("the dispute email", Duration::from_secs(10), || async move {
        sink_ref.messages().into_iter().next()
    })
    .await;
    assert_eq!(mail.to, ["ap@acme.example".to_owned()]);
    let text = text_body(&mail.data);
    assert!(text.contains("Reklamation"), "{text}");
    assert!(
        text.contains("400,00 USD") && text.contains("wieder zahlbar"),
        "{text}"
    );
    assert!(text.contains("/pay/"), "{text}");
    assert!(
        !text.contains("script") && !mail.data.contains("alert(1)"),
        "{text}"
    );

    // The webhooks.
    let hooks_ref = &hooks;
    let (opened_hook, resolved_hook) =
        eventually("the dispute webhooks", Duration::from_secs(10), || async move {
            Some((
                hooks_ref.event("dispute.opened")?,
                hooks_ref.event("dispute.resolved")?,
            ))
        })
        .await;
    assert_eq!(opened_hook["dispute_id"], dispute_id);
    assert_eq!(opened_hook["amount"], "400.00");
    assert_eq!(opened_hook["line"], 1);
    assert_eq!(opened_hook["reason"], "not_received");
    assert_eq!(opened_hook["note"], "<script>alert(1)</script>");
    assert_eq!(opened_hook["invoice_external_ref"], "145");
    assert_eq!(resolved_hook["outcome"], "reject");
    assert_eq!(resolved_hook["amount_rejected"], "400.00");
    assert_eq!(resolved_hook["amount_credited"], "0.00");
    assert_eq!(resolved_hook["invoice_balance_after"], "1000.00");
}
both_backends!(a_rejected_dispute_is_payable_again_and_the_buyer_is_told);

// ---------------------------------------------------------------------------------------------------
// A payment in flight and a dispute meet under the invoice's lock.

async fn a_dispute_fits_beside_a_payment_in_flight(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sandbox.latency_ms = 1500).await;
    let seller = app.seller("Northwind").await;
    let id = two_lines(&app, &seller).await;
    let (_, token) = app.link(&seller, &id).await;
    let card = app.card_token_for(&token, "4242424242424242").await;
    let paying = {
        let client = app.client.clone();
        let url = app.url("/v1/checkout/payments");
        let token = token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "in-flight-1")
                .json(&json!({"amount": "700.00", "payment_token": card}))
                .send()
                .await
                .unwrap()
        })
    };
    let app_ref = &app;
    eventually("the payment's hold", Duration::from_secs(5), || async move {
        (app_ref
            .sql_count("SELECT COUNT(*) FROM payments WHERE status = 'pending'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    // 700 is held: a dispute of 400 (room on the line) does not fit in the 300 left.
    let over = dispute(
        &app,
        &token,
        json!({"line": 0, "amount": "400.00", "reason": "quantity"}),
    )
    .await;
    let problem = expect_problem(over, 422, "amount_exceeds_balance").await;
    assert_eq!(problem["maximum"], "300.00");
    dispute_ok(
        &app,
        &token,
        json!({"line": 0, "amount": "300.00", "reason": "quantity"}),
    )
    .await;
    let paid = paying.await.unwrap();
    assert_eq!(paid.status(), 201, "{}", paid.text().await.unwrap());
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_paid"], "700.00");
    assert_eq!(invoice["amount_disputed"], "300.00");
    assert_eq!(invoice["balance_due"], "300.00");
    // Everything payable is held by the dispute.
    let view = app.checkout(&token).await;
    assert_eq!(view["options"], Value::Null);
}
both_backends!(a_dispute_fits_beside_a_payment_in_flight);

// ---------------------------------------------------------------------------------------------------
// A plan: the installment offered is at most what is undisputed.

async fn a_plan_offers_at_most_the_undisputed_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let terms = app
        .terms(
            &seller,
            json!({"name": "50/50", "allow_partial": true,
                   "schedule": [{"percent": "50", "due": "on_issue"}, {"percent": "50", "due_in_days": 30}]}),
        )
        .await;
    let invoice = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await;
    let id = invoice["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    assert_eq!(
        app.checkout(&token).await["options"]["installment"]["amount_due"],
        "500.00"
    );
    dispute_ok(
        &app,
        &token,
        json!({"line": 0, "amount": "600.00", "reason": "pricing"}),
    )
    .await;
    let view = app.checkout(&token).await;
    assert_eq!(view["options"]["maximum"], "400.00");
    assert_eq!(view["options"]["installment"]["amount_due"], "400.00");
    let paid = app.pay_fresh(&seller, id, "400.00").await;
    assert_eq!(paid.status(), 201, "{}", paid.text().await.unwrap());
}
both_backends!(a_plan_offers_at_most_the_undisputed_rest);

// ---------------------------------------------------------------------------------------------------
// Bad input: each a problem, nothing changed.

async fn bad_disputes_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let id = two_lines(&app, &seller).await;
    let other = two_lines(&app, &seller).await;
    let (_, token) = app.link(&seller, &id).await;
    dispute_ok(
        &app,
        &token,
        json!({"line": 0, "amount": "500.00", "reason": "pricing"}),
    )
    .await;

    let cases = [
        (
            json!({"line": 2, "reason": "pricing"}),
            400,
            "invalid_field",
            Some("line"),
        ),
        (
            json!({"line": -1, "reason": "pricing"}),
            400,
            "invalid_field",
            Some("line"),
        ),
        (
            json!({"line": 1, "amount": "400.01", "reason": "pricing"}),
            422,
            "dispute_exceeds_line",
            None,
        ),
        // 600 on the line, 500 already disputed: at most 100 more.
        (
            json!({"line": 0, "amount": "100.01", "reason": "pricing"}),
            422,
            "dispute_exceeds_line",
            None,
        ),
        (
            json!({"line": 0, "amount": "99999999999999999999", "reason": "pricing"}),
            422,
            "dispute_exceeds_line",
            None,
        ),
        (
            json!({"line": 0, "amount": "1.001", "reason": "pricing"}),
            422,
            "amount_precision",
            None,
        ),
        (
            json!({"line": 0, "amount": "0", "reason": "pricing"}),
            422,
            "amount_not_positive",
            None,
        ),
        (
            json!({"line": 0, "amount": "-5", "reason": "pricing"}),
            422,
            "amount_not_positive",
            None,
        ),
        (
            json!({"line": 0, "reason": "too_expensive"}),
            400,
            "invalid_field",
            Some("reason"),
        ),
        (
            json!({"line": 0, "reason": "other", "note": "x".repeat(1001)}),
            400,
            "invalid_field",
            Some("note"),
        ),
        (
            json!({"line": 0, "reason": "other", "extra": 1}),
            400,
            "unknown_field",
            None,
        ),
        (json!({"reason": "other"}), 400, "malformed_body", None),
        (
            json!({"invoice_id": other, "line": 0, "reason": "other"}),
            404,
            "not_found",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let problem = expect_problem(dispute(&app, &token, body.clone()).await, status, code).await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}");
        }
    }
    let problem = expect_problem(
        dispute(
            &app,
            &token,
            json!({"line": 0, "amount": "100.01", "reason": "pricing"}),
        )
        .await,
        422,
        "dispute_exceeds_line",
    )
    .await;
    assert_eq!(problem["maximum"], "100.00");
    // No token, or a forged one.
    let r = app
        .post(
            "/v1/checkout/disputes",
            "nope",
            json!({"line": 0, "reason": "other"}),
        )
        .await;
    expect_problem(r, 401, "invalid_checkout_token").await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM disputes").await, 1);
    assert_eq!(app.get_invoice(&seller, &id).await["amount_disputed"], "500.00");

    // Paid and void invoices take no dispute.
    let paid = app.invoice(&seller, "USD", "10.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, paid_token) = app.link(&seller, &paid).await;
    assert_eq!(app.pay_fresh(&seller, &paid, "10.00").await.status(), 201);
    let r = dispute(&app, &paid_token, json!({"line": 0, "reason": "other"})).await;
    expect_problem(r, 409, "invoice_not_payable").await;
    let void = app.invoice(&seller, "USD", "10.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, void_token) = app.link(&seller, &void).await;
    let r = app
        .post(&format!("/v1/invoices/{void}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let r = dispute(&app, &void_token, json!({"line": 0, "reason": "other"})).await;
    assert!([401, 409].contains(&r.status().as_u16()), "{}", r.status());
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM disputes").await, 1);

    // Bad resolutions.
    let dispute_id = app.sql_text("SELECT id FROM disputes").await;
    let cases = [
        (json!({"outcome": "maybe"}), 400, "invalid_field"),
        (
            json!({"outcome": "reject", "amount": "1.00"}),
            400,
            "invalid_field",
        ),
        (
            json!({"outcome": "credit", "amount": "500.01"}),
            422,
            "amount_exceeds_dispute",
        ),
        (
            json!({"outcome": "credit", "amount": "0.00"}),
            422,
            "amount_not_positive",
        ),
        (
            json!({"outcome": "credit", "amount": "1.005"}),
            422,
            "amount_precision",
        ),
        (json!({}), 400, "malformed_body"),
    ];
    for (body, status, code) in cases {
        let problem = expect_problem(
            resolve(&app, &seller, &dispute_id, body.clone()).await,
            status,
            code,
        )
        .await;
        if code == "amount_exceeds_dispute" {
            assert_eq!(problem["maximum"], "500.00");
        }
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM disputes WHERE status = 'open'")
            .await,
        1
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM credit_notes").await, 0);
}
both_backends!(bad_disputes_change_nothing);

// ---------------------------------------------------------------------------------------------------
// Another seller sees and resolves nothing; the database refuses a hold beyond the balance.

async fn another_seller_sees_no_dispute(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let intruder = app.seller("Intruder").await;
    let id = two_lines(&app, &seller).await;
    let (_, token) = app.link(&seller, &id).await;
    let opened = dispute_ok(&app, &token, json!({"line": 0, "reason": "damaged"})).await;
    let dispute_id = opened["id"].as_str().unwrap();

    let r = app
        .get(&format!("/v1/disputes/{dispute_id}"), &intruder.key)
        .await;
    expect_problem(r, 404, "not_found").await;
    let r = resolve(&app, &intruder, dispute_id, json!({"outcome": "credit"})).await;
    expect_problem(r, 404, "not_found").await;
    let list: Value = app.get("/v1/disputes", &intruder.key).await.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let r = app
        .get(
            &format!("/v1/disputes?starting_after={dispute_id}"),
            &intruder.key,
        )
        .await;
    expect_problem(r, 400, "starting_after_not_found").await;
    let r = app.get(&format!("/v1/disputes/{dispute_id}"), "sk_forged").await;
    expect_problem(r, 401, "invalid_api_key").await;
    // The owner sees it, still open.
    let mine: Value = app
        .get(&format!("/v1/disputes/{dispute_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "open");
    assert_eq!(mine["amount"], "600.00");

    // The database itself: a hold above the balance breaks the CHECK.
    let sql = format!("UPDATE invoices SET amount_disputed_minor = 100001 WHERE id = '{id}'");
    assert!(sqlx::query(&sql).execute(app.state.db.pool()).await.is_err());
}
both_backends!(another_seller_sees_no_dispute);

// ---------------------------------------------------------------------------------------------------
// Two resolutions racing: one wins, the other is told, one credit note.

async fn racing_resolutions_resolve_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let id = two_lines(&app, &seller).await;
    let (_, token) = app.link(&seller, &id).await;
    let opened = dispute_ok(&app, &token, json!({"line": 1, "reason": "duplicate"})).await;
    let dispute_id = opened["id"].as_str().unwrap();
    let (a, b) = tokio::join!(
        resolve(&app, &seller, dispute_id, json!({"outcome": "credit"})),
        resolve(&app, &seller, dispute_id, json!({"outcome": "reject"})),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let resolved: Value = app
        .get(&format!("/v1/disputes/{dispute_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    let credits = app.sql_count("SELECT COUNT(*) FROM credit_notes").await;
    match resolved["status"].as_str().unwrap() {
        "credited" => assert_eq!(credits, 1),
        "rejected" => assert_eq!(credits, 0),
        other => panic!("status {other}"),
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'dispute.resolved'")
            .await,
        1
    );
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_disputed"], "0.00");
}
both_backends!(racing_resolutions_resolve_once);

// ---------------------------------------------------------------------------------------------------
// Through an account link: the buyer names the invoice, which must be one of the account's customer's.

async fn an_account_disputes_its_own_invoices_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let id = two_lines(&app, &seller).await;
    let (_, account) = app.account_link(&seller, &seller.customer_id).await;
    // Another customer's invoice of the same seller, and another seller's invoice.
    let stranger = app.customer(&seller, "Globex", "C-9").await;
    let theirs = app
        .invoice_with(&seller, "USD", "500.00", json!({"customer_id": stranger}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.seller("Southwind").await;
    let foreign = two_lines(&app, &other).await;

    let r = dispute(&app, &account, json!({"line": 1, "reason": "damaged"})).await;
    expect_problem(r, 400, "missing_field").await;
    for invoice_id in [&theirs, &foreign] {
        let r = dispute(
            &app,
            &account,
            json!({"invoice_id": invoice_id, "line": 0, "reason": "damaged"}),
        )
        .await;
        expect_problem(r, 404, "not_found").await;
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM disputes").await, 0);

    let opened = dispute_ok(
        &app,
        &account,
        json!({"invoice_id": id, "line": 1, "amount": "150.00", "reason": "damaged", "note": "dented"}),
    )
    .await;
    assert_eq!(opened["amount"], "150.00");
    // The account view holds it out, and an account payment of the whole balance is refused naming the
    // invoice; the undisputed rest is paid.
    let view: Value = app.get("/v1/account", &account).await.json().await.unwrap();
    let listed = view["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["invoice"]["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["invoice"]["amount_disputed"], "150.00", "{listed}");
    assert_eq!(listed["options"]["full_balance"], "850.00", "{listed}");
    let card = app.card_token_for(&account, "4242424242424242").await;
    let r = app
        .pay_account(
            &account,
            "acct-dispute-1",
            &card,
            json!([{"invoice_id": id, "amount": "1000.00"}]),
        )
        .await;
    let problem = expect_problem(r, 422, "amount_exceeds_balance").await;
    assert_eq!(problem["invoice_id"], id.as_str());
    let r = app
        .pay_account(
            &account,
            "acct-dispute-2",
            &card,
            json!([{"invoice_id": id, "amount": "850.00"}]),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(
        (seen["balance_due"].as_str(), seen["amount_disputed"].as_str()),
        (Some("150.00"), Some("150.00"))
    );
}
both_backends!(an_account_disputes_its_own_invoices_only);
