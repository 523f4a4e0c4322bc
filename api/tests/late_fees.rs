//! Late fees (issue 16, DESIGN 11): applied by the scheduler the day after `due_date + grace_days`, every
//! `repeat_every_days`, at most `max_count`, on the open installment amount only (never compounding),
//! raising the invoice's total and balance; each exactly once across re-run passes and two schedulers at
//! once on PostgreSQL; the buyer can then pay the new balance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app_on, spawn_app_with, Backend, TestApp};
use serde_json::{json, Value};
use time::{Date, Duration};
use tranche_api::scheduler;

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.scheduler_interval_ms = 0).await
}

async fn fees_applied(app: &TestApp, day: Date) -> usize {
    scheduler::pass(&app.state, day).await.unwrap().fees_applied
}

fn fees(invoice: &Value) -> Vec<(i64, String, String)> {
    invoice["fees"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|f| {
                    (
                        f["installment"].as_i64().unwrap(),
                        f["amount"].as_str().unwrap().to_owned(),
                        f["applied_at"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn fees_fire_on_their_days_and_never_twice(backend: Backend) {
    let app = app(backend).await;
    let seller = app.seller("Northwind").await;
    let terms = app
        .terms(
            &seller,
            json!({"name": "plan with fees", "allow_partial": true,
                   "schedule": [{"percent": "30", "due": "on_issue"}, {"percent": "40", "due_in_days": 30},
                                {"percent": "30", "due_in_days": 60}],
                   "late_fee": {"grace_days": 5, "percent": "1.5", "repeat_every_days": 30, "max_count": 2}}),
        )
        .await;
    let invoice = app.invoice(&seller, "USD", "1000.00", Some(&terms)).await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    let issue = tranche_domain::wire::parse_date(invoice["issue_date"].as_str().unwrap()).unwrap();
    let day = |n: i64| issue + Duration::days(n);
    let date = |n: i64| tranche_domain::wire::format_date(issue + Duration::days(n));
    app.pay_invoice(&seller, &id, "300.00").await;
    // Installment 2 (400.00) is due on day 30; grace 5 days: the first fee is on day 36.
    assert_eq!(fees_applied(&app, day(35)).await, 0);
    assert_eq!(fees_applied(&app, day(36)).await, 1);
    assert_eq!(fees_applied(&app, day(36)).await, 0, "re-run: nothing twice");
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(fees(&seen), [(2, "6.00".to_owned(), date(36))]);
    assert_eq!(
        (seen["total"].as_str(), seen["balance_due"].as_str()),
        (Some("1006.00"), Some("706.00"))
    );
    // Day 66: installment 2's second fee (1.5 % of its 400.00 again, not of 406.00) and installment 3's first.
    assert_eq!(fees_applied(&app, day(65)).await, 0);
    assert_eq!(fees_applied(&app, day(66)).await, 2);
    // Day 200: installment 2 has reached max_count; installment 3's second fee (day 96) catches up, once.
    assert_eq!(fees_applied(&app, day(200)).await, 1);
    assert_eq!(fees_applied(&app, day(200)).await, 0);
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(
        fees(&seen),
        [
            (2, "6.00".to_owned(), date(36)),
            (2, "6.00".to_owned(), date(66)),
            (3, "4.50".to_owned(), date(66)),
            (3, "4.50".to_owned(), date(96)),
        ]
    );
    assert_eq!(seen["total"], "1021.00");
    assert_eq!(seen["balance_due"], "721.00");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.late_fee_applied'")
            .await,
        4
    );
    // The buyer sees the fees on the invoice: the checkout view's total is lines, tax and fees.
    let (_, token) = app.link(&seller, &id).await;
    let view = app.checkout(&token).await;
    assert_eq!(
        (
            view["invoice"]["late_fees"].as_str(),
            view["invoice"]["total"].as_str()
        ),
        (Some("21.00"), Some("1021.00")),
        "{view}"
    );
    // The buyer pays everything, fees included: the invoice closes.
    app.pay_invoice(&seller, &id, "721.00").await;
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(seen["status"], "paid");
    assert_eq!(fees_applied(&app, day(300)).await, 0);
}
both_backends!(fees_fire_on_their_days_and_never_twice);

async fn fees_without_a_plan_never_compound(backend: Backend) {
    let app = app(backend).await;
    let seller = app.seller("Northwind").await;
    let terms = app
        .terms(
            &seller,
            json!({"name": "10 % daily", "allow_partial": true,
                   "late_fee": {"grace_days": 0, "percent": "10", "repeat_every_days": 1, "max_count": 3}}),
        )
        .await;
    let today = app.state.clock().today();
    let invoice = app
        .invoice_with(
            &seller,
            "USD",
            "100.00",
            json!({"terms_id": terms, "due_date": tranche_domain::wire::format_date(today + Duration::days(10))}),
        )
        .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    assert_eq!(
        fees_applied(&app, today + Duration::days(10)).await,
        0,
        "due today is not late"
    );
    // One pass a day, so each fee sees the balance the previous one raised.
    for n in 11..=13 {
        assert_eq!(fees_applied(&app, today + Duration::days(n)).await, 1, "day {n}");
    }
    assert_eq!(
        fees_applied(&app, today + Duration::days(20)).await,
        0,
        "max_count reached"
    );
    let seen = app.get_invoice(&seller, &id).await;
    // 10.00 three times, never 10 % of a balance that already holds fees.
    assert_eq!(seen["total"], "130.00");
    // A fixed fee in another currency than the invoice's applies nothing.
    let fixed = app
        .terms(
            &seller,
            json!({"name": "fixed EUR", "allow_partial": true, "late_fee": {"fixed": {"EUR": "25.00"}}}),
        )
        .await;
    let usd = app
        .invoice_with(
            &seller,
            "USD",
            "100.00",
            json!({"terms_id": fixed, "due_date": tranche_domain::wire::format_date(today)}),
        )
        .await;
    assert_eq!(fees_applied(&app, today + Duration::days(5)).await, 0);
    assert_eq!(
        app.get_invoice(&seller, usd["id"].as_str().unwrap()).await["total"],
        "100.00"
    );
}
both_backends!(fees_without_a_plan_never_compound);

/// Two API nodes on one PostgreSQL database run the same passes at once: each fee is applied once and the
/// invoice's total rises once per fee.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_at_once_apply_each_fee_once() {
    if common::postgres_url().is_none() {
        assert!(std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none());
        eprintln!("TRANCHE_TEST_POSTGRES_URL not set: not run");
        return;
    }
    let a = app(Backend::Postgres).await;
    let b = spawn_app_on(Backend::Postgres, a.database_url.clone(), |s| {
        s.scheduler_interval_ms = 0
    })
    .await;
    let seller = a.seller("Northwind").await;
    let terms = a
        .terms(
            &seller,
            json!({"name": "fixed", "allow_partial": true,
                   "late_fee": {"grace_days": 2, "fixed": {"USD": "25.00"}, "repeat_every_days": 7, "max_count": 3}}),
        )
        .await;
    let today = a.state.clock().today();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let invoice = a
            .invoice_with(
                &seller,
                "USD",
                "100.00",
                json!({"terms_id": terms, "due_date": tranche_domain::wire::format_date(today)}),
            )
            .await;
        ids.push(invoice["id"].as_str().unwrap().to_owned());
    }
    let mut total = 0;
    for n in [3, 10, 17, 30] {
        let date = today + Duration::days(n);
        let (ra, rb) = tokio::join!(scheduler::pass(&a.state, date), scheduler::pass(&b.state, date));
        total += ra.unwrap().fees_applied + rb.unwrap().fees_applied;
    }
    assert_eq!(total, 18, "three fees on each of six invoices");
    assert_eq!(a.sql_count("SELECT COUNT(*) FROM invoice_fees").await, 18);
    for id in &ids {
        assert_eq!(a.get_invoice(&seller, id).await["total"], "175.00");
    }
}

/// The database holds total = lines + tax + fees on both backends (on SQLite the CHECK was rewritten in
/// place): a total raised without its fee column is refused.
async fn total_is_lines_tax_and_fees(backend: Backend) {
    let app = app(backend).await;
    let seller = app.seller("Northwind").await;
    let invoice = app.invoice(&seller, "USD", "100.00", None).await;
    let id = invoice["id"].as_str().unwrap();
    let bare = sqlx::query("UPDATE invoices SET total_minor = total_minor + 1 WHERE id = $1")
        .bind(id)
        .execute(app.state.db.pool())
        .await;
    assert!(bare.is_err(), "a total without its fee must be refused");
    sqlx::query(
        "UPDATE invoices SET total_minor = total_minor + 1, fees_minor = fees_minor + 1 WHERE id = $1",
    )
    .bind(id)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(app.get_invoice(&seller, id).await["total"], "100.01");
}
both_backends!(total_is_lines_tax_and_fees);
