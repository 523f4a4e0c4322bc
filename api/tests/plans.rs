//! Payment plans (issue 16, DESIGN 11) through the HTTP API: a 30/40/30 plan paid across three dates with
//! the clock moved, the installment due accepted below the minimum, installments following payments and
//! refunds, explicit installments, every bad input refused with its code and nothing written, and another
//! seller seeing nothing. Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const DAY_MS: i64 = 86_400_000;

fn plan_terms() -> Value {
    json!({
        "name": "30/40/30",
        "allow_partial": true,
        // 50 % minimum: every installment is below it, so only the installment rule lets them through.
        "minimum_percent": "50",
        "schedule": [
            {"percent": "30", "due": "on_issue"},
            {"percent": "40", "due_in_days": 30},
            {"percent": "30", "due_in_days": 60}
        ]
    })
}

fn statuses(installments: &Value) -> Vec<(String, String, String)> {
    installments
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["amount"].as_str().unwrap().to_owned(),
                i["amount_paid"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn row(amount: &str, paid: &str, status: &str) -> (String, String, String) {
    (amount.to_owned(), paid.to_owned(), status.to_owned())
}

/// Pays `amount` through a fresh link (links and card tokens expire while the clock moves).
async fn pay(app: &TestApp, seller: &SellerCtx, invoice_id: &str, amount: &str) -> reqwest::Response {
    let (_, token) = app.link(seller, invoice_id).await;
    let card = app.card_token_for(&token, VISA).await;
    app.pay(&token, &uuid::Uuid::now_v7().to_string(), amount, &card)
        .await
}

async fn checkout_of(app: &TestApp, seller: &SellerCtx, invoice_id: &str) -> Value {
    let (_, token) = app.link(seller, invoice_id).await;
    app.checkout(&token).await
}

async fn thirty_forty_thirty_paid_across_three_dates(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Plans").await;
    let terms = app.terms(&seller, plan_terms()).await;
    let invoice = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    let issue = tranche_domain::wire::parse_date(invoice["issue_date"].as_str().unwrap()).unwrap();
    let plus = |days: i64| tranche_domain::wire::format_date(issue + time::Duration::days(days));
    // The invoice's due date is the last installment's, whatever the request said.
    assert_eq!(invoice["due_date"], plus(60));
    assert_eq!(
        statuses(&invoice["installments"]),
        [
            row("300.00", "0.00", "due"),
            row("400.00", "0.00", "upcoming"),
            row("300.00", "0.00", "upcoming")
        ]
    );
    assert_eq!(invoice["installments"][1]["due_date"], plus(30));

    // Day 0: the deposit is the installment due; 299.99 is just a partial below the 500.00 minimum.
    let view = checkout_of(&app, &seller, &id).await;
    assert_eq!(
        view["options"]["installment"],
        json!({"number": 1, "due_date": plus(0), "amount_due": "300.00"})
    );
    assert_eq!(view["rules"]["installment"]["amount_due"], "300.00");
    assert!(
        view["rules"]["terms"].get("schedule").is_none(),
        "the widget's terms stay rule-only"
    );
    expect_problem(
        pay(&app, &seller, &id, "299.99").await,
        422,
        "amount_below_minimum",
    )
    .await;
    let r = pay(&app, &seller, &id, "300.00").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // Day 30: the second installment is due today.
    app.state.clock().advance(30 * DAY_MS);
    let view = checkout_of(&app, &seller, &id).await;
    assert_eq!(view["options"]["installment"]["number"], 2);
    assert_eq!(view["options"]["installment"]["amount_due"], "400.00");
    assert_eq!(
        statuses(&view["invoice"]["installments"]),
        [
            row("300.00", "300.00", "paid"),
            row("400.00", "0.00", "due"),
            row("300.00", "0.00", "upcoming")
        ]
    );
    let r = pay(&app, &seller, &id, "400.00").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // Day 61: the last is a day late (overdue) and still payable as the installment due.
    app.state.clock().advance(31 * DAY_MS);
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(
        statuses(&seen["installments"]),
        [
            row("300.00", "300.00", "paid"),
            row("400.00", "400.00", "paid"),
            row("300.00", "0.00", "overdue")
        ]
    );
    assert_eq!(seen["status"], "partially_paid");
    let r = pay(&app, &seller, &id, "300.00").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(seen["status"], "paid");
    assert_eq!(
        statuses(&seen["installments"]),
        [
            row("300.00", "300.00", "paid"),
            row("400.00", "400.00", "paid"),
            row("300.00", "300.00", "paid")
        ]
    );
}
both_backends!(thirty_forty_thirty_paid_across_three_dates);

async fn payments_and_refunds_keep_installments_consistent(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Plans").await;
    let issue = tranche_domain::wire::format_date(app.state.clock().today());
    let due2 = tranche_domain::wire::format_date(app.state.clock().today() + time::Duration::days(14));
    let invoice = app
        .invoice_with(
            &seller,
            "JPY",
            "10000",
            json!({"installments": [{"amount": "2500", "due_date": issue}, {"amount": "7500", "due_date": due2}]}),
        )
        .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    assert_eq!(invoice["due_date"], due2);
    // 4000 fills the first (2500) and spills 1500 into the second.
    let r = pay(&app, &seller, &id, "4000").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let payment: Value = r.json().await.unwrap();
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(
        statuses(&seen["installments"]),
        [row("2500", "2500", "paid"), row("7500", "1500", "due")]
    );
    let view = checkout_of(&app, &seller, &id).await;
    assert_eq!(view["options"]["installment"]["amount_due"], "6000");
    // A partial refund takes from the latest money first: the second installment falls back.
    let r = app
        .client
        .post(app.url(&format!(
            "/v1/payments/{}/refunds",
            payment["payment"]["id"].as_str().unwrap()
        )))
        .bearer_auth(&seller.key)
        .header("idempotency-key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"amount": "2000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(
        statuses(&seen["installments"]),
        [row("2500", "2000", "due"), row("7500", "0", "upcoming")]
    );
    // An offline payment of the rest closes every installment.
    let r = app
        .client
        .post(app.url(&format!("/v1/invoices/{id}/payments")))
        .bearer_auth(&seller.key)
        .header("idempotency-key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"amount": "8000", "method": "wire", "reference": "W-1", "received_on": issue}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(seen["status"], "paid");
    assert_eq!(
        statuses(&seen["installments"]),
        [row("2500", "2500", "paid"), row("7500", "7500", "paid")]
    );
}
both_backends!(payments_and_refunds_keep_installments_consistent);

async fn bad_plans_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Plans").await;
    let mut terms = plan_terms();
    terms["schedule"][2]["percent"] = json!("20");
    let body = expect_problem(
        app.post("/v1/terms", &seller.key, terms).await,
        400,
        "schedule_percent_sum",
    )
    .await;
    assert_eq!(body["field"], "schedule");
    let mut terms = plan_terms();
    terms["late_fee"] = json!({"grace_days": 5, "percent": "1.5", "fixed": {"USD": "25.00"}});
    let body = expect_problem(
        app.post("/v1/terms", &seller.key, terms).await,
        400,
        "late_fee_both_ways",
    )
    .await;
    assert_eq!(body["field"], "late_fee");
    let mut terms = plan_terms();
    terms["reminders"] = json!({"before_due_days": [3, 3]});
    expect_problem(
        app.post("/v1/terms", &seller.key, terms).await,
        400,
        "invalid_terms",
    )
    .await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM terms_profiles").await, 0);

    let today = app.state.clock().today();
    let date = |days: i64| tranche_domain::wire::format_date(today + time::Duration::days(days));
    let invoice = |currency: &str, amount: &str, extra: Value| {
        let mut body = json!({
            "number": format!("INV-{}", uuid::Uuid::now_v7().simple()),
            "customer_id": seller.customer_id,
            "currency": currency,
            "issue_date": date(0),
            "due_date": date(30),
            "lines": [{"description": "Goods", "quantity": "1", "unit_price": amount}],
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            invoice(
                "USD",
                "100.00",
                json!({"installments": [{"amount": "40.00", "due_date": date(0)}, {"amount": "50.00", "due_date": date(30)}]}),
            ),
            "installments_sum_mismatch",
        ),
        (
            invoice(
                "USD",
                "100.00",
                json!({"installments": [{"amount": "40.00", "due_date": date(-1)}, {"amount": "60.00", "due_date": date(30)}]}),
            ),
            "installment_due_before_issue",
        ),
        (
            invoice(
                "USD",
                "100.00",
                json!({"installments": [{"amount": "40.00", "due_date": date(30)}, {"amount": "60.00", "due_date": date(10)}]}),
            ),
            "invalid_schedule",
        ),
        (
            invoice("USD", "100.00", json!({"installments": []})),
            "invalid_schedule",
        ),
        (
            invoice(
                "USD",
                "100.00",
                json!({"installments": [{"amount": "100.001", "due_date": date(0)}]}),
            ),
            "invalid_schedule",
        ),
    ];
    for (body, code) in cases {
        let problem = expect_problem(app.post("/v1/invoices", &seller.key, body).await, 400, code).await;
        assert_eq!(problem["field"], "installments");
    }
    // JPY 1 cannot be split 30/40/30 in whole yen.
    let terms = app.terms(&seller, plan_terms()).await;
    let body = invoice("JPY", "1", json!({"terms_id": terms}));
    expect_problem(
        app.post("/v1/invoices", &seller.key, body).await,
        400,
        "schedule_unsplittable",
    )
    .await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoices").await, 0);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM invoice_installments").await,
        0
    );
}
both_backends!(bad_plans_are_refused_and_change_nothing);

async fn another_seller_sees_no_plan(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Plans").await;
    let other = app.seller("Other").await;
    let terms = app.terms(&seller, plan_terms()).await;
    let invoice = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await;
    let id = invoice["id"].as_str().unwrap();
    expect_problem(
        app.get(&format!("/v1/invoices/{id}"), &other.key).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.get(&format!("/v1/terms/{terms}"), &other.key).await,
        404,
        "not_found",
    )
    .await;
    // The other seller cannot put the first seller's schedule on its own invoice either.
    let r = app
        .post(
            "/v1/invoices",
            &other.key,
            json!({
                "number": "X-1", "customer_id": other.customer_id, "currency": "USD",
                "issue_date": invoice["issue_date"], "due_date": "2099-01-01", "terms_id": terms,
                "lines": [{"description": "Goods", "quantity": "1", "unit_price": "10.00"}],
            }),
        )
        .await;
    expect_problem(r, 400, "unknown_reference").await;
}
both_backends!(another_seller_sees_no_plan);
