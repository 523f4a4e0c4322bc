//! The scheduler (issue 16, DESIGN 11): reminders and missed installments fire exactly on the days the
//! terms say and never twice (re-run passes, a backfill), on SQLite and PostgreSQL; two schedulers running
//! the same pass at once on PostgreSQL send each reminder exactly once through a real SMTP sink; an
//! `--as-of` far from today is refused and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::smtp::SmtpSink;
use common::{fast, spawn_app_on, spawn_app_with, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};
use time::{Date, Duration};
use tranche_api::scheduler::{self, PassReport};

fn terms() -> Value {
    json!({
        "name": "30/40/30 with reminders",
        "allow_partial": true,
        "schedule": [
            {"percent": "30", "due": "on_issue"},
            {"percent": "40", "due_in_days": 30},
            {"percent": "30", "due_in_days": 60}
        ],
        "reminders": {"before_due_days": [3], "after_due_days": [1, 7]}
    })
}

async fn app(backend: Backend, smtp_port: Option<u16>) -> TestApp {
    spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400, 800]);
        // The test runs every pass itself.
        s.scheduler_interval_ms = 0;
        s.smtp = smtp_port.map(common::smtp::settings);
    })
    .await
}

/// A 1000.00 USD invoice on the plan, issued today; returns its id and issue date.
async fn planned_invoice(app: &TestApp, seller: &SellerCtx) -> (String, Date) {
    let terms = app.terms(seller, terms()).await;
    let invoice = app.invoice(seller, "USD", "1000.00", Some(&terms)).await;
    let issue = tranche_domain::wire::parse_date(invoice["issue_date"].as_str().unwrap()).unwrap();
    (invoice["id"].as_str().unwrap().to_owned(), issue)
}

async fn pass(app: &TestApp, day: Date) -> PassReport {
    scheduler::pass(&app.state, day).await.unwrap()
}

fn report(sent: usize, superseded: usize, missed: usize) -> (usize, usize, usize) {
    (sent, superseded, missed)
}

fn counts(r: PassReport) -> (usize, usize, usize) {
    (r.reminders_sent, r.reminders_superseded, r.installments_missed)
}

async fn reminders_fire_on_their_days_and_never_twice(backend: Backend) {
    let app = app(backend, None).await;
    let seller = app.seller("Northwind").await;
    let (id, issue) = planned_invoice(&app, &seller).await;
    let day = |n: i64| issue + Duration::days(n);
    // Day 0: the deposit is due today; no before-due offset of 3 days fits before issue... except day 0
    // itself is within 3 days of its due date: one before-due reminder for installment 1.
    assert_eq!(counts(pass(&app, day(0)).await), report(1, 0, 0));
    assert_eq!(
        counts(pass(&app, day(0)).await),
        report(0, 0, 0),
        "re-run: nothing twice"
    );
    app.pay_invoice(&seller, &id, "300.00").await;
    // Installment 2 is due on day 30: nothing until day 27.
    assert_eq!(counts(pass(&app, day(26)).await), report(0, 0, 0));
    assert_eq!(counts(pass(&app, day(27)).await), report(1, 0, 0));
    assert_eq!(counts(pass(&app, day(27)).await), report(0, 0, 0));
    assert_eq!(
        counts(pass(&app, day(30)).await),
        report(0, 0, 0),
        "offset 3 already sent"
    );
    // Day 31: one day late: the after-due reminder of 1 day and the missed installment.
    assert_eq!(counts(pass(&app, day(31)).await), report(1, 0, 1));
    assert_eq!(counts(pass(&app, day(31)).await), report(0, 0, 0));
    // Seven days after day 30.
    assert_eq!(counts(pass(&app, day(36)).await), report(0, 0, 0));
    assert_eq!(counts(pass(&app, day(37)).await), report(1, 0, 0));
    assert_eq!(counts(pass(&app, day(38)).await), report(0, 0, 0));
    // Paid up: on schedule again, so no overdue reminder; the next is 3 days before day 60.
    app.pay_invoice(&seller, &id, "400.00").await;
    assert_eq!(counts(pass(&app, day(45)).await), report(0, 0, 0));
    assert_eq!(counts(pass(&app, day(57)).await), report(1, 0, 0));
    let seen = app.get_invoice(&seller, &id).await;
    let sent: Vec<(i64, String, i64)> = seen["reminders_sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["installment"].as_i64().unwrap(),
                r["kind"].as_str().unwrap().to_owned(),
                r["offset_days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            (1, "before_due".to_owned(), 3),
            (2, "before_due".to_owned(), 3),
            (2, "after_due".to_owned(), 1),
            (2, "after_due".to_owned(), 7),
            (3, "before_due".to_owned(), 3),
        ]
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.reminder'")
            .await,
        5
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'installment.missed'")
            .await,
        1
    );
    // Every reminder queued exactly one email delivery.
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.id = d.event_id \
             WHERE o.event_type = 'invoice.reminder' AND d.kind = 'email'"
        )
        .await,
        5
    );
}
both_backends!(reminders_fire_on_their_days_and_never_twice);

async fn a_backfill_sends_only_the_latest_reminder(backend: Backend) {
    let app = app(backend, None).await;
    let seller = app.seller("Northwind").await;
    let (id, issue) = planned_invoice(&app, &seller).await;
    app.pay_invoice(&seller, &id, "300.00").await;
    // The scheduler was down from day 0 to day 45: one after-due reminder (7 days), the older offsets
    // recorded as superseded, never sent late; the missed installment announced once.
    let r = pass(&app, issue + Duration::days(45)).await;
    assert_eq!(counts(r), report(1, 1, 1));
    assert_eq!(
        counts(pass(&app, issue + Duration::days(45)).await),
        report(0, 0, 0)
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.reminder'")
            .await,
        1
    );
}
both_backends!(a_backfill_sends_only_the_latest_reminder);

async fn as_of_far_from_today_is_refused_and_changes_nothing(backend: Backend) {
    let app = app(backend, None).await;
    let seller = app.seller("Northwind").await;
    let (_id, _issue) = planned_invoice(&app, &seller).await;
    for text in ["1990-01-01", "2999-12-31", "2027-13-01", "yesterday"] {
        let error = scheduler::run_as_of(&app.state, text)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("--as-of"), "{error}");
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoice_reminders").await, 0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM outbox").await, 0);
    // Within range it runs.
    let today = tranche_domain::wire::format_date(app.state.clock().today());
    scheduler::run_as_of(&app.state, &today).await.unwrap();
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoice_reminders").await, 1);
}
both_backends!(as_of_far_from_today_is_refused_and_changes_nothing);

/// Two API nodes on one PostgreSQL database run the same passes at once: each reminder reaches the real
/// SMTP sink exactly once, in the customer's language.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_at_once_send_each_reminder_once() {
    if common::postgres_url().is_none() {
        assert!(std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none());
        eprintln!("TRANCHE_TEST_POSTGRES_URL not set: not run");
        return;
    }
    let sink = SmtpSink::start().await;
    let a = app(Backend::Postgres, Some(sink.port)).await;
    let b = spawn_app_on(Backend::Postgres, a.database_url.clone(), |s| {
        fast(s, &[100, 200, 400, 800]);
        s.scheduler_interval_ms = 0;
        s.smtp = Some(common::smtp::settings(sink.port));
    })
    .await;
    let seller = a.seller("Northwind").await;
    let mut invoices = Vec::new();
    for _ in 0..5 {
        invoices.push(planned_invoice(&a, &seller).await);
    }
    let issue = invoices[0].1;
    // Day 0: installment 1 before-due. Day 31: installment 1 after-due 7 (1 superseded), installment 2
    // after-due 1. Day 38: installment 2 after-due 7. Four reminders per invoice.
    for day in [0, 31, 38] {
        let date = issue + Duration::days(day);
        let (ra, rb) = tokio::join!(scheduler::pass(&a.state, date), scheduler::pass(&b.state, date));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        // Installments 1 and 2 are both overdue on day 31 and 38, each gets its reminder.
        let expected = match day {
            31 => 10,
            _ => 5,
        };
        assert_eq!(ra.reminders_sent + rb.reminders_sent, expected, "day {day}");
    }
    common::eventually(
        "20 reminder emails",
        std::time::Duration::from_secs(20),
        || async { (sink.messages().len() >= 20).then_some(()) },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mails = sink.messages();
    assert_eq!(mails.len(), 20, "each reminder exactly once");
    let mut ids: Vec<String> = mails
        .iter()
        .filter_map(|m| {
            m.data
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "20 distinct reminders");
    assert!(mails
        .iter()
        .all(|m| m.to == ["ap@acme.example"] || m.to == ["<ap@acme.example>"]));
    assert!(
        mails.iter().any(|m| m.data.contains("Installment 2 of invoice")),
        "{:?}",
        mails[0].data
    );
    let _ = invoices;
    drop(b);
}

async fn put_template(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url("/v1/settings/reminder-email"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A seller's own reminder template is used for its buyers only; a broken one is refused and saves nothing.
async fn a_sellers_own_reminder_template_is_used(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app(backend, Some(sink.port)).await;
    let seller = app.seller("Northwind").await;
    let other = app.seller("Other").await;
    let r = put_template(
        &app,
        &seller.key,
        json!({"subject": "Zahlung {{ invoice_number }}", "text": "Bitte {{ amount_due }} bis {{ due_date }}: {{ pay_url }}"}),
    )
    .await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = put_template(&app, &seller.key, json!({"text": "{{ amount_dew }}"})).await;
    let problem = common::expect_problem(r, 400, "invalid_template").await;
    assert_eq!(problem["field"], "text");
    let r = put_template(&app, &seller.key, json!({"text": "x", "html": "y"})).await;
    common::expect_problem(r, 400, "unknown_field").await;
    let (_, issue) = planned_invoice(&app, &seller).await;
    planned_invoice(&app, &other).await;
    assert_eq!(counts(pass(&app, issue).await), report(2, 0, 0));
    let mails = common::eventually(
        "two reminder emails",
        std::time::Duration::from_secs(20),
        || async {
            let mails = sink.messages();
            (mails.len() >= 2).then_some(mails)
        },
    )
    .await;
    let custom = mails
        .iter()
        .filter(|m| m.data.contains("Bitte 300.00 USD bis"))
        .count();
    let builtin = mails
        .iter()
        .filter(|m| m.data.contains("Installment 1 of invoice"))
        .count();
    assert_eq!((custom, builtin), (1, 1), "{mails:?}");
    assert!(mails.iter().any(|m| m.data.contains("Subject: Zahlung INV-")));
}
both_backends!(a_sellers_own_reminder_template_is_used);

/// `tranche scheduler run --as-of DATE` through the real binary: a date beyond 400 days fails with a clear
/// message and writes nothing; a date in range runs one pass on the same database and says what it did.
async fn the_cli_runs_one_pass_and_refuses_far_dates(backend: Backend) {
    let app = app(backend, None).await;
    let seller = app.seller("Northwind").await;
    let (_, issue) = planned_invoice(&app, &seller).await;
    let dir = std::env::temp_dir().join(format!("tranche-cli-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |date: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tranche"))
            .args(["scheduler", "run", "--as-of", &date])
            .current_dir(&dir)
            .env("TRANCHE_CONFIG", dir.join("tranche.toml"))
            .env("TRANCHE_DATABASE_URL", &app.database_url)
            .env("TRANCHE_METRICS_ADDR", "127.0.0.1:0")
            .env("TRANCHE_LOG", "warn")
            .output()
            .unwrap()
    };
    let far = run(tranche_domain::wire::format_date(issue + Duration::days(401)));
    assert!(!far.status.success());
    let stderr = String::from_utf8_lossy(&far.stderr);
    assert!(
        stderr.contains("--as-of") && stderr.contains("400 days"),
        "{stderr}"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoice_reminders").await, 0);
    // Blocking here is fine: the test's server runs on the other worker thread.
    let ok = run(tranche_domain::wire::format_date(issue));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("1 reminders queued"), "{stdout}");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoice_reminders").await, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
both_backends!(the_cli_runs_one_pass_and_refuses_far_dates);
