//! `GET /v1/alerts` (issue 16): partially paid invoices past due, missed installments and dead deliveries,
//! newest first and paged; another seller sees none of them and cannot page through them. Both databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{eventually, expect_problem, fast, spawn_app_with, Backend, TestApp};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

/// A port nothing listens on, for a webhook endpoint whose deliveries die.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn alerts(app: &TestApp, key: &str, query: &str) -> Value {
    let r = app.get(&format!("/v1/alerts{query}"), key).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn alerts_list_what_needs_attention(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        fast(s, &[50, 50]);
        s.scheduler_interval_ms = 0;
    })
    .await;
    let seller = app.seller("Northwind").await;
    let other = app.seller("Other").await;
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "webhook", "url": format!("http://127.0.0.1:{}/hooks", closed_port())}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let terms = app
        .terms(
            &seller,
            json!({"name": "plan", "allow_partial": true, "schedule": [
                {"percent": "50", "due": "on_issue"}, {"percent": "50", "due_in_days": 10}]}),
        )
        .await;
    let planned = app.invoice(&seller, "USD", "100.00", Some(&terms)).await;
    let planned_id = planned["id"].as_str().unwrap().to_owned();
    assert!(alerts(&app, &seller.key, "").await["data"]
        .as_array()
        .unwrap()
        .is_empty());

    // A deposit paid (its webhook dies: nothing listens), then the second half missed.
    app.pay_invoice(&seller, &planned_id, "50.00").await;
    let app_ref = &app;
    eventually("a dead delivery", Duration::from_secs(10), || async move {
        let n = app_ref
            .sql_count("SELECT COUNT(*) FROM deliveries WHERE status = 'dead'")
            .await;
        (n > 0).then_some(())
    })
    .await;
    app.state.clock().advance(11 * DAY_MS);
    tranche_api::scheduler::pass(&app.state, app.state.clock().today())
        .await
        .unwrap();
    let all = alerts(&app, &seller.key, "").await;
    let mut kinds: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["delivery_dead", "installment_missed", "invoice_past_due"],
        "{all}"
    );
    let missed = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "installment_missed")
        .unwrap();
    assert_eq!(missed["invoice_id"], planned_id.as_str());
    assert_eq!(missed["installment"], 2);

    // Paged one at a time, newest first, the same three.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = alerts(&app, &seller.key, &query).await;
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        let id = data[0]["id"].as_str().unwrap().to_owned();
        seen.push(id.clone());
        if page["has_more"] == false {
            break;
        }
        query = format!("?limit=1&starting_after={id}");
    }
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ids);

    // Another seller: nothing, and the first seller's ids are no cursor.
    assert!(alerts(&app, &other.key, "").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = app
        .get(&format!("/v1/alerts?starting_after={}", ids[0]), &other.key)
        .await;
    expect_problem(r, 400, "starting_after_not_found").await;
    expect_problem(
        app.get("/v1/alerts?limit=0", &seller.key).await,
        400,
        "invalid_query",
    )
    .await;
    expect_problem(
        app.get("/v1/alerts?kind=x", &seller.key).await,
        400,
        "invalid_query",
    )
    .await;

    // Paid up: the invoice alerts go; the dead delivery stays until it is retried.
    app.pay_invoice(&seller, &planned_id, "50.00").await;
    let left = alerts(&app, &seller.key, "").await;
    let kinds: Vec<&str> = left["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.iter().all(|k| *k == "delivery_dead"), "{left}");
}
both_backends!(alerts_list_what_needs_attention);
