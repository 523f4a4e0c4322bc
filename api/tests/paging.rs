//! Paging on every list (issue 15, DESIGN section 10): `limit` (1-100, default 20), `starting_after`, newest
//! first, `{data, has_more}`. Each list is walked page by page to its end and compared with one big page; a
//! walk while rows are being added sees every older row exactly once; a bad `limit` answers 400
//! `invalid_query`, and a `starting_after` that is not the caller's object in that list 400
//! `starting_after_not_found`, the same answer whether the id is another seller's, another kind's or unknown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{eventually, expect_problem, spawn_app, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// Every list, with a filter the walk keeps (the filters page too).
const LISTS: [&str; 5] = [
    "/v1/customers",
    "/v1/invoices",
    "/v1/payments",
    "/v1/erp/endpoints",
    "/v1/erp/deliveries",
];

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {page}"))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn with_query(path: &str, query: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}{query}")
}

async fn page(client: &reqwest::Client, url: &str, key: &str) -> Value {
    let r = client.get(url).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Walks `path` `limit` objects at a time to its end; returns the ids in the order seen. Every page but
/// the last is full and says `has_more`; the last one says it is the last.
async fn walk_with(client: &reqwest::Client, base: &str, path: &str, key: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = format!("limit={limit}");
        if let Some(id) = &after {
            query.push_str(&format!("&starting_after={id}"));
        }
        let body = page(client, &format!("{base}{}", with_query(path, &query)), key).await;
        let data = ids(&body);
        let has_more = body["has_more"].as_bool().unwrap_or_else(|| panic!("{body}"));
        assert!(data.len() <= limit, "{path}: {} > {limit}", data.len());
        if has_more {
            assert_eq!(data.len(), limit, "{path}: a page before the last is full");
        }
        after = data.last().cloned();
        seen.extend(data);
        if !has_more {
            return seen;
        }
        assert!(seen.len() < 10_000, "{path}: the walk does not end");
    }
}

async fn walk(app: &TestApp, path: &str, key: &str, limit: usize) -> Vec<String> {
    walk_with(&app.client, &app.base, path, key, limit).await
}

/// One big page of `path` (everything, when fewer than 100).
async fn all(app: &TestApp, path: &str, key: &str) -> Vec<String> {
    let body = page(&app.client, &app.url(&with_query(path, "limit=100")), key).await;
    assert_eq!(body["has_more"], false, "{path}: {body}");
    ids(&body)
}

async fn customer(app: &TestApp, seller: &SellerCtx, n: usize) -> String {
    let r = app
        .post(
            "/v1/customers",
            &seller.key,
            json!({"name": format!("Buyer {n}"), "email": format!("ap{n}@buyer.example")}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn endpoint(app: &TestApp, seller: &SellerCtx, n: usize) -> String {
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"url": format!("http://127.0.0.1:9/hook-{n}"), "kind": "webhook"}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A partial card payment of `amount` on the invoice; returns the payment id.
async fn payment(app: &TestApp, seller: &SellerCtx, invoice_id: &str, amount: &str) -> String {
    let (_, token) = app.link(seller, invoice_id).await;
    let card = app.card_token_for(&token, VISA).await;
    let key = format!("k-{}", uuid::Uuid::now_v7().simple());
    let r = app.pay(&token, &key, amount, &card).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["payment"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A seller with some of everything: customers, endpoints, invoices (open and partly paid), payments and
/// their deliveries. Returns the ids of one of each, by list path.
async fn populate(app: &TestApp, seller: &SellerCtx) -> HashMap<&'static str, String> {
    let terms = app
        .terms(seller, json!({"name": "partial", "allow_partial": true}))
        .await;
    for n in 0..4 {
        customer(app, seller, n).await;
    }
    let mut endpoint_id = String::new();
    for n in 0..3 {
        endpoint_id = endpoint(app, seller, n).await;
    }
    let mut invoices = Vec::new();
    for _ in 0..5 {
        invoices.push(app.invoice(seller, "USD", "100.00", Some(&terms)).await);
    }
    let invoice_id = invoices[0]["id"].as_str().unwrap().to_owned();
    let mut payment_id = String::new();
    for amount in ["10.00", "11.00", "12.00"] {
        payment_id = payment(app, seller, &invoice_id, amount).await;
    }
    payment(app, seller, invoices[1]["id"].as_str().unwrap(), "5.00").await;
    // Receipt emails (written to a folder in tests) settle at once; webhooks to port 9 stay pending. Wait
    // for the emails, so the filtered delivery lists hold still while they are walked.
    eventually("receipt emails sent", Duration::from_secs(10), || async {
        let body = page(&app.client, &app.url("/v1/erp/deliveries?limit=100"), &seller.key).await;
        let data = body["data"].as_array().unwrap().clone();
        data.iter()
            .all(|d| d["kind"] != "email" || d["status"] == "delivered")
            .then_some(())
    })
    .await;
    let deliveries = all(app, "/v1/erp/deliveries", &seller.key).await;
    assert!(deliveries.len() >= 4, "{deliveries:?}");
    HashMap::from([
        ("/v1/customers", seller.customer_id.clone()),
        ("/v1/invoices", invoice_id),
        ("/v1/payments", payment_id),
        ("/v1/erp/endpoints", endpoint_id),
        ("/v1/erp/deliveries", deliveries[0].clone()),
    ])
}

async fn every_list_pages_to_its_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Pager").await;
    let own = populate(&app, &seller).await;
    let invoice_id = &own["/v1/invoices"];
    let filtered = [
        "/v1/invoices?status=open".to_owned(),
        format!("/v1/invoices?customer_id={}", seller.customer_id),
        format!("/v1/payments?invoice_id={invoice_id}"),
        "/v1/erp/deliveries?status=pending".to_owned(),
    ];
    let paths = LISTS.iter().map(|p| (*p).to_owned()).chain(filtered);
    for path in paths {
        let everything = all(&app, &path, &seller.key).await;
        assert!(everything.len() >= 2, "{path}: {everything:?}");
        for limit in [1, 2, 3] {
            assert_eq!(
                walk(&app, &path, &seller.key, limit).await,
                everything,
                "{path} in pages of {limit}"
            );
        }
        // Past the last object there is an empty last page.
        let last = everything.last().unwrap();
        let body = page(
            &app.client,
            &app.url(&with_query(&path, &format!("starting_after={last}"))),
            &seller.key,
        )
        .await;
        assert_eq!(body, json!({"data": [], "has_more": false}), "{path}");
    }
    // Newest first: the customers and endpoints were made in order, the seller's first customer first.
    let customers = all(&app, "/v1/customers", &seller.key).await;
    assert_eq!(customers.last(), Some(&seller.customer_id));
    let endpoints = all(&app, "/v1/erp/endpoints", &seller.key).await;
    assert_eq!(endpoints.first(), Some(&own["/v1/erp/endpoints"]));
    let payments = all(
        &app,
        &format!("/v1/payments?invoice_id={invoice_id}"),
        &seller.key,
    )
    .await;
    assert_eq!(payments.first(), Some(&own["/v1/payments"]));
}
both_backends!(every_list_pages_to_its_end);

/// Customers and invoices are added while a client walks the lists in small pages: every object that
/// existed before the walk began is seen exactly once, and no object twice.
async fn walks_see_every_older_row_once_while_rows_are_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Busy").await;
    for n in 0..24 {
        customer(&app, &seller, n).await;
    }
    for _ in 0..12 {
        app.invoice(&seller, "USD", "10.00", None).await;
    }
    // 25 customers: without `limit` a list answers 20 and says more follow.
    let first = page(&app.client, &app.url("/v1/customers"), &seller.key).await;
    assert_eq!(ids(&first).len(), 20);
    assert_eq!(first["has_more"], true);

    for path in ["/v1/customers", "/v1/invoices"] {
        let before: HashSet<String> = all(&app, path, &seller.key).await.into_iter().collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (client, base, key, customer_id) = (
                app.client.clone(),
                app.base.clone(),
                seller.key.clone(),
                seller.customer_id.clone(),
            );
            let stop = stop.clone();
            let path = path.to_owned();
            tokio::spawn(async move {
                let mut added = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && added < 60 {
                    let body = if path == "/v1/customers" {
                        json!({"name": format!("Late {added}"), "email": "late@buyer.example"})
                    } else {
                        json!({
                            "number": format!("LATE-{}", uuid::Uuid::now_v7().simple()),
                            "customer_id": customer_id, "currency": "USD",
                            "issue_date": tranche_domain::wire::format_date(tranche_api::state::today()),
                            "due_date": "2099-01-01",
                            "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}],
                        })
                    };
                    let r = client
                        .post(format!("{base}{path}"))
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    added += 1;
                }
                added
            })
        };
        // Give the writer a head start, then walk while it writes.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let seen = walk(&app, path, &seller.key, 3).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let added = writer.await.unwrap();
        assert!(added > 0, "{path}: nothing was added during the walk");
        let distinct: HashSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len(), "{path}: an object was seen twice");
        for id in &before {
            assert_eq!(
                seen.iter().filter(|s| *s == id).count(),
                1,
                "{path}: {id} existed before the walk"
            );
        }
        let after = all(&app, path, &seller.key).await;
        assert_eq!(after.len(), before.len() + added, "{path}");
    }
}
both_backends!(walks_see_every_older_row_once_while_rows_are_added);

async fn bad_limits_and_foreign_cursors_answer_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("A").await;
    let b = app.seller("B").await;
    let own = populate(&app, &a).await;
    let theirs = populate(&app, &b).await;
    let b_before: Vec<Vec<String>> = {
        let mut lists = Vec::new();
        for path in LISTS {
            lists.push(all(&app, path, &b.key).await);
        }
        lists
    };
    for path in LISTS {
        for limit in ["0", "101", "-1", "abc", "", "1.5", "20&limit=20"] {
            let r = app
                .get(&with_query(path, &format!("limit={limit}")), &a.key)
                .await;
            let problem = expect_problem(r, 400, "invalid_query").await;
            assert_eq!(problem["field"], "limit", "{path}?limit={limit}: {problem}");
        }
        let r = app.get(&with_query(path, "colour=red"), &a.key).await;
        expect_problem(r, 400, "invalid_query").await;

        // Another seller's object of this list, an own object of another list, and nothing at all: one
        // answer, word for word, so the first tells A nothing about B.
        let other_kind = LISTS
            .iter()
            .find(|p| **p != path)
            .map(|p| own[p].clone())
            .unwrap();
        let mut details = HashSet::new();
        for id in [
            theirs[path].clone(),
            other_kind,
            "cus_0000".to_owned(),
            String::new(),
            "x".repeat(500),
        ] {
            let r = app
                .get(&with_query(path, &format!("starting_after={id}")), &a.key)
                .await;
            let problem = expect_problem(r, 400, "starting_after_not_found").await;
            assert_eq!(problem["field"], "starting_after", "{problem}");
            assert!(!problem.to_string().contains(&theirs[path]), "{problem}");
            details.insert(problem["detail"].as_str().unwrap().to_owned());
        }
        assert_eq!(details.len(), 1, "{path}: {details:?}");
        // B's own id works for B.
        let r = app
            .get(
                &with_query(path, &format!("starting_after={}", theirs[path])),
                &b.key,
            )
            .await;
        assert_eq!(r.status(), 200, "{path}");
    }
    // Nothing changed for B.
    for (path, before) in LISTS.iter().zip(b_before) {
        assert_eq!(all(&app, path, &b.key).await, before, "{path}");
    }
}
both_backends!(bad_limits_and_foreign_cursors_answer_400);
