//! Credit notes (issue 15, DESIGN section 10): part of the balance taken off without money moving. The
//! invoice views and the checkout show `amount_credited`; credits up to the balance mark the invoice paid;
//! `credit_note.created` reaches a webhook; every bad input is a problem with nothing changed; the
//! database itself refuses paid + credited above the total; a credit note and a card payment racing for
//! the last of the balance never both win. Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    eventually, expect_problem, fast, spawn_app, spawn_app_with, stand_in, Backend, SellerCtx, TestApp,
};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

async fn credit(app: &TestApp, seller: &SellerCtx, invoice_id: &str, body: Value) -> reqwest::Response {
    app.post(
        &format!("/v1/invoices/{invoice_id}/credit-notes"),
        &seller.key,
        body,
    )
    .await
}

async fn credit_ok(app: &TestApp, seller: &SellerCtx, invoice_id: &str, body: Value) -> Value {
    let r = credit(app, seller, invoice_id, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn invoice_id(app: &TestApp, seller: &SellerCtx, currency: &str, total: &str) -> String {
    app.invoice(seller, currency, total, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pay(app: &TestApp, seller: &SellerCtx, invoice_id: &str, amount: &str) -> reqwest::Response {
    let (_, token) = app.link(seller, invoice_id).await;
    let card = app.card_token_for(&token, VISA).await;
    app.pay(&token, &uuid::Uuid::now_v7().to_string(), amount, &card)
        .await
}

// ---------------------------------------------------------------------------------------------------
// The happy path: balance, status, views, list, and void afterwards.

async fn credits_lower_the_balance_and_can_settle_the_invoice(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let id = invoice_id(&app, &seller, "USD", "1000.00").await;

    let note = credit_ok(
        &app,
        &seller,
        &id,
        json!({"amount": "100.00", "reason": "damaged goods", "memo": "3 crates"}),
    )
    .await;
    assert!(note["id"].as_str().unwrap().starts_with("cn_"));
    assert_eq!(note["invoice_id"], id.as_str());
    assert_eq!(note["amount"], "100.00");
    assert_eq!(note["currency"], "USD");
    assert_eq!(note["reason"], "damaged goods");
    assert_eq!(note["memo"], "3 crates");
    assert!(note["created_at"].as_str().unwrap().ends_with('Z'));
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_credited"], "100.00");
    assert_eq!(invoice["amount_paid"], "0.00");
    assert_eq!(invoice["balance_due"], "900.00");
    assert_eq!(invoice["status"], "partially_paid");

    // The buyer's view counts it: the balance and the most they may pay.
    let (_, token) = app.link(&seller, &id).await;
    let view = app.checkout(&token).await;
    assert_eq!(view["invoice"]["amount_credited"], "100.00");
    assert_eq!(view["invoice"]["balance_due"], "900.00");
    assert_eq!(view["options"]["maximum"], "900.00");
    assert_eq!(view["rules"]["amount_credited"], "100.00");
    // Paying more than the new balance is refused, the rest is accepted.
    let card = app.card_token_for(&token, VISA).await;
    expect_problem(
        app.pay(&token, "k-over", "900.01", &card).await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    let r = pay(&app, &seller, &id, "400.00").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // Credits up to the balance settle the invoice.
    credit_ok(
        &app,
        &seller,
        &id,
        json!({"amount": "500.00", "reason": "goodwill"}),
    )
    .await;
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_credited"], "600.00");
    assert_eq!(invoice["amount_paid"], "400.00");
    assert_eq!(invoice["balance_due"], "0.00");
    assert_eq!(invoice["status"], "paid");
    // A paid invoice takes no more credit.
    expect_problem(
        credit(&app, &seller, &id, json!({"amount": "0.01", "reason": "x"})).await,
        409,
        "invoice_not_payable",
    )
    .await;

    // Listed newest first, paged.
    let list: Value = app
        .get(&format!("/v1/invoices/{id}/credit-notes"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["amount"], "500.00");
    assert_eq!(data[1]["id"], note["id"]);
    assert_eq!(list["has_more"], false);
    let page: Value = app
        .get(&format!("/v1/invoices/{id}/credit-notes?limit=1"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["has_more"], true);
    let next: Value = app
        .get(
            &format!(
                "/v1/invoices/{id}/credit-notes?limit=1&starting_after={}",
                page["data"][0]["id"].as_str().unwrap()
            ),
            &seller.key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["data"][0]["id"], note["id"]);
    assert_eq!(next["has_more"], false);
    for bad in ["limit=0", "limit=101", "starting_after=cn_nope"] {
        expect_problem(
            app.get(&format!("/v1/invoices/{id}/credit-notes?{bad}"), &seller.key)
                .await,
            400,
            "invalid_query",
        )
        .await;
    }

    // An invoice only credited (nothing paid) can still be voided.
    let other = invoice_id(&app, &seller, "USD", "50.00").await;
    credit_ok(
        &app,
        &seller,
        &other,
        json!({"amount": "50.00", "reason": "cancelled order"}),
    )
    .await;
    assert_eq!(app.get_invoice(&seller, &other).await["status"], "paid");
    let r = app
        .post(&format!("/v1/invoices/{other}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let voided: Value = r.json().await.unwrap();
    assert_eq!(voided["status"], "void");
    assert_eq!(voided["amount_credited"], "50.00");
}
both_backends!(credits_lower_the_balance_and_can_settle_the_invoice);

// ---------------------------------------------------------------------------------------------------
// Bad input: each a problem with a stable code, nothing changed.

async fn bad_credit_notes_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let usd = invoice_id(&app, &seller, "USD", "100.00").await;
    let jpy = invoice_id(&app, &seller, "JPY", "10000").await;
    let kwd = invoice_id(&app, &seller, "KWD", "10.000").await;

    let over = expect_problem(
        credit(&app, &seller, &usd, json!({"amount": "100.01", "reason": "x"})).await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    assert_eq!(over["maximum"], "100.00");
    // More digits than any amount: more than any balance.
    expect_problem(
        credit(
            &app,
            &seller,
            &usd,
            json!({"amount": "99999999999999999999999", "reason": "x"}),
        )
        .await,
        422,
        "amount_exceeds_balance",
    )
    .await;
    for (amount, code) in [
        ("0", "amount_not_positive"),
        ("0.00", "amount_not_positive"),
        ("-5.00", "amount_not_positive"),
        ("ten", "amount_malformed"),
        ("1.001", "amount_precision"),
        ("1e2", "amount_malformed"),
    ] {
        expect_problem(
            credit(&app, &seller, &usd, json!({"amount": amount, "reason": "x"})).await,
            422,
            code,
        )
        .await;
    }
    expect_problem(
        credit(&app, &seller, &jpy, json!({"amount": "1.5", "reason": "x"})).await,
        422,
        "amount_precision",
    )
    .await;
    expect_problem(
        credit(&app, &seller, &kwd, json!({"amount": "1.0001", "reason": "x"})).await,
        422,
        "amount_precision",
    )
    .await;
    // The currencies' own precision is accepted.
    credit_ok(&app, &seller, &jpy, json!({"amount": "15", "reason": "x"})).await;
    credit_ok(&app, &seller, &kwd, json!({"amount": "1.005", "reason": "x"})).await;

    for (body, status, code) in [
        (json!({"amount": "1.00", "reason": ""}), 400, "invalid_field"),
        (json!({"amount": "1.00", "reason": "  "}), 400, "invalid_field"),
        (
            json!({"amount": "1.00", "reason": "r".repeat(501)}),
            400,
            "invalid_field",
        ),
        (
            json!({"amount": "1.00", "reason": "x", "memo": "m".repeat(501)}),
            400,
            "invalid_field",
        ),
        (json!({"amount": "1.00"}), 400, "malformed_body"),
        (json!({"reason": "x"}), 400, "malformed_body"),
        (
            json!({"amount": "1.00", "reason": "x", "currency": "USD"}),
            400,
            "unknown_field",
        ),
        (json!({"amount": 1, "reason": "x"}), 400, "malformed_body"),
    ] {
        let r = credit(&app, &seller, &usd, body.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["code"], code, "{body}: {problem}");
    }

    // Another seller's invoice is not found; an unknown one too.
    let other = app.seller("Other").await;
    expect_problem(
        credit(&app, &other, &usd, json!({"amount": "1.00", "reason": "x"})).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.get(&format!("/v1/invoices/{usd}/credit-notes"), &other.key)
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        credit(
            &app,
            &seller,
            "inv_nope",
            json!({"amount": "1.00", "reason": "x"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // A void invoice takes no credit.
    let void = invoice_id(&app, &seller, "USD", "20.00").await;
    let r = app
        .post(&format!("/v1/invoices/{void}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    expect_problem(
        credit(&app, &seller, &void, json!({"amount": "1.00", "reason": "x"})).await,
        409,
        "invoice_not_payable",
    )
    .await;

    // Nothing changed: only the two accepted credit notes exist, and the USD invoice is untouched.
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM credit_notes").await, 2);
    let invoice = app.get_invoice(&seller, &usd).await;
    assert_eq!(invoice["amount_credited"], "0.00");
    assert_eq!(invoice["balance_due"], "100.00");
    assert_eq!(invoice["status"], "open");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'credit_note.created'")
            .await,
        2
    );
}
both_backends!(bad_credit_notes_change_nothing);

// ---------------------------------------------------------------------------------------------------
// The invariant is the database's too: a direct UPDATE that breaks it is refused.

async fn the_database_refuses_credits_beyond_the_total(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let id = invoice_id(&app, &seller, "USD", "100.00").await;
    let r = pay(&app, &seller, &id, "60.00").await;
    assert_eq!(r.status(), 201);
    let pool = app.state.db.pool();
    for sql in [
        // paid 60 + credited 41 > total 100
        "UPDATE invoices SET amount_credited_minor = 4100 WHERE id = $1",
        "UPDATE invoices SET amount_credited_minor = -1 WHERE id = $1",
        // paid + credited = total while the status says partially paid
        "UPDATE invoices SET amount_credited_minor = 4000 WHERE id = $1",
        // a paid status the amounts do not give
        "UPDATE invoices SET amount_credited_minor = 100, status = 'paid' WHERE id = $1",
    ] {
        let result = sqlx::query(sql).bind(&id).execute(pool).await;
        assert!(result.is_err(), "{sql} was accepted");
    }
    // The consistent update is accepted: the CHECKs are not simply refusing everything.
    sqlx::query("UPDATE invoices SET amount_credited_minor = 4000, status = 'paid' WHERE id = $1")
        .bind(&id)
        .execute(pool)
        .await
        .unwrap();
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["balance_due"], "0.00");
    assert_eq!(invoice["status"], "paid");
}
both_backends!(the_database_refuses_credits_beyond_the_total);

// ---------------------------------------------------------------------------------------------------
// A credit note and a card payment racing for the whole balance: one wins, never both.

async fn a_credit_and_a_payment_race_for_the_last_balance(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    for round in 0..5 {
        let id = invoice_id(&app, &seller, "USD", "100.00").await;
        let (_, token) = app.link(&seller, &id).await;
        let card = app.card_token_for(&token, VISA).await;
        let key = format!("race-{round}");
        let (paid, credited) = tokio::join!(
            app.pay(&token, &key, "100.00", &card),
            credit(&app, &seller, &id, json!({"amount": "100.00", "reason": "race"})),
        );
        let paid_ok = paid.status() == 201;
        let credited_ok = credited.status() == 201;
        assert!(
            paid_ok ^ credited_ok,
            "round {round}: paid {} credited {}",
            paid.status(),
            credited.status()
        );
        let loser = if paid_ok { credited } else { paid };
        let code = loser.json::<Value>().await.unwrap()["code"].clone();
        assert!(
            code == "amount_exceeds_balance" || code == "invoice_not_payable",
            "round {round}: {code}"
        );
        let invoice = app.get_invoice(&seller, &id).await;
        assert_eq!(invoice["status"], "paid");
        assert_eq!(invoice["balance_due"], "0.00");
        let settled = app
            .sql_count(&format!(
                "SELECT amount_paid_minor + amount_credited_minor FROM invoices WHERE id = '{id}'"
            ))
            .await;
        assert_eq!(settled, 10_000);
    }
}
both_backends!(a_credit_and_a_payment_race_for_the_last_balance);

// ---------------------------------------------------------------------------------------------------
// The ERP hears of it: `credit_note.created` at a webhook receiver, nothing for QuickBooks or email.

async fn the_erp_hears_of_a_credit_note(backend: Backend) {
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
    let invoice = app
        .invoice_with(&seller, "USD", "1000.00", json!({"external_ref": "145"}))
        .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    let note = credit_ok(
        &app,
        &seller,
        &id,
        json!({"amount": "1000.00", "reason": "cancelled"}),
    )
    .await;

    let state_ref = &state;
    let hooks = eventually(
        "the credit note webhooks",
        Duration::from_secs(10),
        || async move {
            Some((
                state_ref.event("credit_note.created")?,
                state_ref.event("invoice.paid")?,
            ))
        },
    )
    .await;
    let data = &hooks.0;
    assert_eq!(data["credit_note_id"], note["id"]);
    assert_eq!(data["amount"], "1000.00");
    assert_eq!(data["currency"], "USD");
    assert_eq!(data["invoice_id"], id.as_str());
    assert_eq!(data["invoice_external_ref"], "145");
    assert_eq!(data["invoice_balance_after"], "0.00");
    assert_eq!(data["invoice_credited_after"], "1000.00");
    assert_eq!(data["invoice_status_after"], "paid");
    assert_eq!(data["reason"], "cancelled");
    assert_eq!(data["memo"], Value::Null);
    assert_eq!(hooks.1["invoice_id"], id.as_str());
    // No money moved: no receipt email was queued.
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM deliveries WHERE kind = 'email'")
            .await,
        0
    );
}
both_backends!(the_erp_hears_of_a_credit_note);
