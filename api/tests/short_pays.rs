//! Short pays (issue 17, DESIGN 12) through the HTTP API: the seller's tolerance (both limits, one left
//! out, bad precision refused); an offline payment with `remittance` short within it writes the shortfall
//! off and closes the invoice as paid (`write_offs`, `invoice.written_off` and `invoice.paid` at a webhook);
//! above it, an exception with a suggested cause (an open dispute, a plan installment, a late discount),
//! resolved once by `write_off`, `dispute` or `leave_open`; every bad input refused with nothing written;
//! another seller sees nothing. Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::stand_in::Recorder;
use common::{eventually, expect_problem, fast, spawn_app, spawn_app_with, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

fn today() -> String {
    tranche_domain::wire::format_date(tranche_api::state::today())
}

async fn tolerate(app: &TestApp, seller: &SellerCtx, tolerance: Value) -> reqwest::Response {
    app.patch(
        "/v1/seller",
        &seller.key,
        json!({"short_pay_tolerance": tolerance}),
    )
    .await
}

async fn invoice_id(app: &TestApp, seller: &SellerCtx, total: &str) -> String {
    app.invoice(seller, "USD", total, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn wire(amount: &str, expected: &str, reason: Option<&str>) -> Value {
    let mut remittance = json!({"expected_amount": expected});
    if let Some(reason) = reason {
        remittance["reason"] = json!(reason);
    }
    json!({"amount": amount, "method": "wire", "received_on": today(), "remittance": remittance})
}

async fn record_ok(app: &TestApp, seller: &SellerCtx, id: &str, body: Value) -> Value {
    let r = app.offline_payment(seller, id, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn resolve(app: &TestApp, seller: &SellerCtx, id: &str, action: &str) -> reqwest::Response {
    app.post(
        &format!("/v1/exceptions/{id}/resolve"),
        &seller.key,
        json!({"action": action}),
    )
    .await
}

// ---------------------------------------------------------------------------------------------------
// The tolerance.

async fn the_tolerance_is_set_read_and_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let r = tolerate(
        &app,
        &seller,
        json!({"amount": {"USD": "25.00", "JPY": "3000"}, "percent": "0.5"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        me["short_pay_tolerance"],
        json!({"amount": {"JPY": "3000", "USD": "25.00"}, "percent": "0.5"})
    );

    let cases = [
        (json!({"amount": {"USD": "25.001"}}), "invalid_field"),
        (json!({"amount": {"JPY": "1.5"}}), "invalid_field"),
        (json!({"amount": {"USD": "-1.00"}}), "invalid_field"),
        (json!({"amount": {"XXX": "1.00"}}), "invalid_currency"),
        (json!({"percent": "-0.5"}), "invalid_field"),
        (json!({"percent": "100.5"}), "invalid_field"),
        (json!({"percent": "abc"}), "invalid_field"),
        (json!({"percent": "1", "other": 1}), "unknown_field"),
    ];
    for (body, code) in cases {
        expect_problem(tolerate(&app, &seller, body).await, 400, code).await;
    }
    let me: Value = app.get("/v1/seller", &seller.key).await.json().await.unwrap();
    assert_eq!(me["short_pay_tolerance"]["percent"], "0.5");
    // `{}` removes it.
    let r = tolerate(&app, &seller, json!({})).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["short_pay_tolerance"],
        Value::Null
    );
}
both_backends!(the_tolerance_is_set_read_and_checked);

// ---------------------------------------------------------------------------------------------------
// Within tolerance: written off, paid, the webhooks.

async fn a_short_pay_within_tolerance_is_written_off(backend: Backend) {
    let (hooks, port) = Recorder::start().await;
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    app.webhook_endpoint(&seller, port).await;
    tolerate(
        &app,
        &seller,
        json!({"amount": {"USD": "25.00"}, "percent": "0.5"}),
    )
    .await;
    let id = invoice_id(&app, &seller, "1000.00").await;

    // 0.5 % of 1000.00 is 5.00: exactly at the limit.
    let paid = record_ok(&app, &seller, &id, wire("995.00", "1000.00", Some("bank_fee"))).await;
    assert_eq!(paid["short_pay"]["shortfall"], "5.00");
    assert_eq!(paid["short_pay"]["write_off"]["amount"], "5.00");
    assert_eq!(paid["short_pay"]["write_off"]["reason"], "bank_fee");
    assert_eq!(paid["invoice"]["balance_due"], "0.00");
    assert_eq!(paid["invoice"]["status"], "paid");
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_paid"], "995.00");
    assert_eq!(invoice["amount_written_off"], "5.00");
    assert_eq!(invoice["balance_due"], "0.00");
    assert_eq!(invoice["write_offs"][0]["amount"], "5.00");
    assert_eq!(invoice["write_offs"][0]["payment_id"], paid["id"]);

    let hooks_ref = &hooks;
    let (written, invoice_paid) =
        eventually("the write-off webhooks", Duration::from_secs(10), || async move {
            Some((
                hooks_ref.event("invoice.written_off")?,
                hooks_ref.event("invoice.paid")?,
            ))
        })
        .await;
    assert_eq!(written["amount"], "5.00");
    assert_eq!(written["reason"], "bank_fee");
    assert_eq!(written["payment_id"], paid["id"]);
    assert_eq!(written["invoice_status_after"], "paid");
    assert_eq!(written["customer"]["external_ref"], "C-1");
    assert_eq!(invoice_paid["invoice_id"], id.as_str());
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM short_pay_exceptions").await,
        0
    );

    // The database holds paid <= total and the paid status to the write-off.
    let sql = format!("UPDATE invoices SET amount_written_off_minor = 0 WHERE id = '{id}'");
    assert!(sqlx::query(&sql).execute(app.state.db.pool()).await.is_err());
}
both_backends!(a_short_pay_within_tolerance_is_written_off);

// ---------------------------------------------------------------------------------------------------
// Above tolerance: an exception, resolved once.

async fn a_short_pay_above_tolerance_waits_as_an_exception(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    tolerate(
        &app,
        &seller,
        json!({"amount": {"USD": "25.00"}, "percent": "0.5"}),
    )
    .await;
    let id = invoice_id(&app, &seller, "1000.00").await;
    let paid = record_ok(&app, &seller, &id, wire("994.99", "1000.00", Some("fx"))).await;
    let exception_id = paid["short_pay"]["exception_id"].as_str().unwrap().to_owned();
    assert_eq!(paid["short_pay"].get("write_off"), None);
    assert_eq!(paid["invoice"]["balance_due"], "5.01");
    assert_eq!(paid["invoice"]["status"], "partially_paid");

    let list: Value = app
        .get("/v1/exceptions?status=open", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    let exception = &list["data"][0];
    assert_eq!(exception["id"], exception_id.as_str());
    assert_eq!(exception["expected_amount"], "1000.00");
    assert_eq!(exception["received_amount"], "994.99");
    assert_eq!(exception["shortfall"], "5.01");
    assert_eq!(exception["reason"], "fx");
    assert_eq!(exception["suggested_cause"], Value::Null);
    assert_eq!(exception["status"], "open");

    let r = resolve(&app, &seller, &exception_id, "write_off").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let resolved: Value = r.json().await.unwrap();
    assert_eq!(resolved["exception"]["status"], "resolved");
    assert_eq!(resolved["write_off"]["amount"], "5.01");
    assert_eq!(resolved["write_off"]["exception_id"], exception_id.as_str());
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_written_off"], "5.01");

    let again = resolve(&app, &seller, &exception_id, "leave_open").await;
    expect_problem(again, 409, "exception_already_resolved").await;
    let bad = resolve(&app, &seller, &exception_id, "forgive").await;
    expect_problem(bad, 400, "invalid_field").await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM write_offs").await, 1);
    let resolved: Value = app
        .get("/v1/exceptions?status=resolved", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["data"][0]["action"], "write_off");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM audit_log WHERE action = 'exception.resolved'")
            .await,
        1
    );

    // Without any tolerance, even a cent short is an exception; `leave_open` keeps the balance to collect.
    tolerate(&app, &seller, json!({})).await;
    let id = invoice_id(&app, &seller, "100.00").await;
    let paid = record_ok(&app, &seller, &id, wire("99.99", "100.00", None)).await;
    let exception_id = paid["short_pay"]["exception_id"].as_str().unwrap().to_owned();
    let r = resolve(&app, &seller, &exception_id, "leave_open").await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_invoice(&seller, &id).await["balance_due"], "0.01");
}
both_backends!(a_short_pay_above_tolerance_waits_as_an_exception);

// ---------------------------------------------------------------------------------------------------
// Suggested causes.

/// The suggested cause of the exception a payment's answer names.
async fn cause(app: &TestApp, seller: &SellerCtx, paid: &Value) -> Value {
    let id = paid["short_pay"]["exception_id"].as_str().unwrap();
    let e: Value = app
        .get(&format!("/v1/exceptions/{id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    e["suggested_cause"].clone()
}

async fn exceptions_suggest_a_cause(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;

    // An open dispute: the buyer paid the uncontested part by wire.
    let id = invoice_id(&app, &seller, "1000.00").await;
    let (_, token) = app.link(&seller, &id).await;
    let r = app
        .post(
            "/v1/checkout/disputes",
            &token,
            json!({"line": 0, "amount": "120.00", "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let paid = record_ok(&app, &seller, &id, wire("880.00", "1000.00", None)).await;
    assert_eq!(cause(&app, &seller, &paid).await, "open_dispute");

    // A plan: the buyer paid the first installment, not the whole.
    let terms = app
        .terms(
            &seller,
            json!({"name": "50/50", "allow_partial": true,
                   "schedule": [{"percent": "50", "due": "on_issue"}, {"percent": "50", "due_in_days": 30}]}),
        )
        .await;
    let id = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = record_ok(&app, &seller, &id, wire("500.00", "1000.00", None)).await;
    assert_eq!(cause(&app, &seller, &paid).await, "plan_installment");

    // A late discount: 2 % taken 11 days after issue, when the window was 10.
    let terms = app
        .terms(
            &seller,
            json!({"name": "2/10", "allow_partial": true, "early_payment_discount": {"percent": "2", "within_days": 10}}),
        )
        .await;
    let late = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_time = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Within the window it is no late discount.
    let paid = record_ok(&app, &seller, &on_time, wire("980.00", "1000.00", None)).await;
    assert_eq!(cause(&app, &seller, &paid).await, Value::Null);
    app.state.clock().advance(11 * DAY_MS);
    let paid = record_ok(&app, &seller, &late, wire("980.00", "1000.00", None)).await;
    assert_eq!(cause(&app, &seller, &paid).await, "late_discount");

    // `dispute` holds the shortfall as a dispute the seller opened (no line).
    let exception_id = paid["short_pay"]["exception_id"].as_str().unwrap().to_owned();
    let r = resolve(&app, &seller, &exception_id, "dispute").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let resolved: Value = r.json().await.unwrap();
    let dispute_id = resolved["dispute_id"].as_str().unwrap();
    let dispute: Value = app
        .get(&format!("/v1/disputes/{dispute_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dispute["amount"], "20.00");
    assert_eq!(dispute["line"], Value::Null);
    assert_eq!(dispute["status"], "open");
    assert_eq!(app.get_invoice(&seller, &late).await["amount_disputed"], "20.00");
}
both_backends!(exceptions_suggest_a_cause);

// ---------------------------------------------------------------------------------------------------
// Bad remittances change nothing; another seller sees nothing.

async fn bad_remittances_change_nothing_and_other_sellers_see_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let intruder = app.seller("Intruder").await;
    let id = invoice_id(&app, &seller, "1000.00").await;
    let cases = [
        (wire("500.00", "499.99", None), "remittance.expected_amount"),
        (wire("500.00", "1000.01", None), "remittance.expected_amount"),
        (wire("500.00", "600.001", None), "remittance.expected_amount"),
        (wire("500.00", "600.00", Some("rounding")), "remittance.reason"),
    ];
    for (body, field) in cases {
        let problem = expect_problem(
            app.offline_payment(&seller, &id, body).await,
            400,
            "invalid_field",
        )
        .await;
        assert_eq!(problem["field"], field);
    }
    let r = app
        .offline_payment(&seller, &id, json!({"amount": "1.00", "method": "wire", "received_on": today(), "remittance": {"expected_amount": "2.00", "x": 1}}))
        .await;
    expect_problem(r, 400, "unknown_field").await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(app.get_invoice(&seller, &id).await["balance_due"], "1000.00");

    let paid = record_ok(&app, &seller, &id, wire("900.00", "1000.00", None)).await;
    let exception_id = paid["short_pay"]["exception_id"].as_str().unwrap();
    let r = app
        .get(&format!("/v1/exceptions/{exception_id}"), &intruder.key)
        .await;
    expect_problem(r, 404, "not_found").await;
    let r = resolve(&app, &intruder, exception_id, "write_off").await;
    expect_problem(r, 404, "not_found").await;
    let list: Value = app
        .get("/v1/exceptions", &intruder.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let r = app
        .get(
            &format!("/v1/exceptions?starting_after={exception_id}"),
            &intruder.key,
        )
        .await;
    expect_problem(r, 400, "starting_after_not_found").await;
    let r = app.get("/v1/exceptions?status=closed", &seller.key).await;
    expect_problem(r, 400, "invalid_query").await;
    // The intruder's invoices are out of reach too.
    let r = app
        .offline_payment(&intruder, &id, wire("1.00", "2.00", None))
        .await;
    expect_problem(r, 404, "not_found").await;
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM short_pay_exceptions WHERE status = 'open'")
            .await,
        1
    );
}
both_backends!(bad_remittances_change_nothing_and_other_sellers_see_nothing);

// ---------------------------------------------------------------------------------------------------
// QuickBooks books the write-off as a CreditMemo on the fee-variance item.

async fn quickbooks_gets_a_credit_memo_for_a_write_off(backend: Backend) {
    const REALM: &str = "4620816365";
    let (intuit, port) = Recorder::start().await;
    let base = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    let endpoint = |item: Option<&str>| {
        let mut body = json!({"kind": "quickbooks", "url": format!("{base}/v3/company/{REALM}/payment?minorversion=70"),
               "token_url": format!("{base}/oauth2/v1/tokens/bearer"), "realm_id": REALM,
               "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"});
        if let Some(item) = item {
            body["writeoff_item_id"] = json!(item);
        }
        body
    };
    // The item must be a QuickBooks id, and is for QuickBooks endpoints only.
    let r = app
        .post("/v1/erp/endpoints", &seller.key, endpoint(Some("fee variance")))
        .await;
    expect_problem(r, 400, "invalid_field").await;
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "webhook", "url": format!("{base}/h"), "writeoff_item_id": "77"}),
        )
        .await;
    expect_problem(r, 400, "invalid_field").await;
    let r = app
        .post("/v1/erp/endpoints", &seller.key, endpoint(Some("77")))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    tolerate(&app, &seller, json!({"amount": {"USD": "25.00"}})).await;
    let invoice = app
        .invoice_with(&seller, "USD", "1000.00", json!({"external_ref": "145"}))
        .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    let paid = record_ok(&app, &seller, &id, wire("987.50", "1000.00", Some("fx"))).await;
    let write_off_id = paid["short_pay"]["write_off"]["id"].as_str().unwrap().to_owned();

    let intuit_ref = &intuit;
    let memo = eventually(
        "the QuickBooks CreditMemo",
        Duration::from_secs(10),
        || async move { intuit_ref.requests("/creditmemo").into_iter().next() },
    )
    .await;
    assert_eq!(memo.path, format!("/v3/company/{REALM}/creditmemo"));
    assert!(
        memo.query.contains("minorversion=70") && memo.query.contains("requestid=dlv_"),
        "{}",
        memo.query
    );
    assert_eq!(memo.authorization.as_deref(), Some("Bearer at-1"));
    let body = &memo.body;
    assert_eq!(body["CustomerRef"]["value"], "C-1");
    assert_eq!(body["CurrencyRef"]["value"], "USD");
    assert_eq!(body["Line"].as_array().unwrap().len(), 1);
    let line = &body["Line"][0];
    assert_eq!(line["DetailType"], "SalesItemLineDetail");
    assert_eq!(line["SalesItemLineDetail"]["ItemRef"]["value"], "77");
    // Exact decimals as JSON numbers, Qty x UnitPrice = Amount.
    assert!(memo.raw.contains("\"Amount\":12.50"), "{}", memo.raw);
    assert!(memo.raw.contains("\"UnitPrice\":12.50"), "{}", memo.raw);
    assert_eq!(line["SalesItemLineDetail"]["Qty"], 1);
    assert_eq!(body["TxnDate"].as_str().unwrap().len(), 10);
    assert!(body["PrivateNote"].as_str().unwrap().contains(&write_off_id));
    // The payment itself went as a Payment, as before.
    assert_eq!(intuit.requests("/payment").len(), 1);
    assert_eq!(intuit.requests("/creditmemo").len(), 1);
}
both_backends!(quickbooks_gets_a_credit_memo_for_a_write_off);

// ---------------------------------------------------------------------------------------------------
// Two resolutions of one exception racing: one acts, the other is told.

async fn racing_exception_resolutions_act_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let id = invoice_id(&app, &seller, "1000.00").await;
    let paid = record_ok(&app, &seller, &id, wire("900.00", "1000.00", None)).await;
    let exception_id = paid["short_pay"]["exception_id"].as_str().unwrap();
    let (a, b) = tokio::join!(
        resolve(&app, &seller, exception_id, "write_off"),
        resolve(&app, &seller, exception_id, "write_off"),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM write_offs").await, 1);
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_written_off"], "100.00");
    assert_eq!(invoice["status"], "paid");
}
both_backends!(racing_exception_resolutions_act_once);

/// A nested object given as an array of its fields (which serde's derive would take in field order) is
/// refused, in the tolerance and in the remittance alike, and changes nothing (found by schemathesis).
async fn nested_objects_given_as_arrays_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Northwind").await;
    let r = app
        .patch(
            "/v1/seller",
            &seller.key,
            json!({"short_pay_tolerance": [null, "0.5"]}),
        )
        .await;
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    let me: Value = app.get("/v1/seller", &seller.key).await.json().await.unwrap();
    assert_eq!(me["short_pay_tolerance"], Value::Null);
    let id = app.invoice(&seller, "USD", "100.00", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .offline_payment(
            &seller,
            &id,
            json!({"amount": "90.00", "method": "wire", "received_on": "2026-11-02",
                   "remittance": ["100.00", "bank_fee"]}),
        )
        .await;
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    assert_eq!(app.get_invoice(&seller, &id).await["amount_paid"], "0.00");
}
both_backends!(nested_objects_given_as_arrays_are_refused);
