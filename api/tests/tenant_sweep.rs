//! Tenant isolation (OWASP API1, BOLA): every seller route called with seller A's key on seller B's ids
//! answers 404 and changes nothing; list filters with B's ids return nothing of B's; and no request body can
//! smuggle server-owned fields (mass assignment, OWASP API3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app, Backend};
use reqwest::Method;
use serde_json::{json, Value};

async fn call(
    app: &common::TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn seller_a_cannot_touch_seller_b(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("A").await;
    let b = app.seller("B").await;
    // Everything B owns: customer, terms, invoice, link, payment, ERP endpoint and delivery.
    let terms_b = app.terms(&b, json!({"name": "t", "allow_partial": true})).await;
    let inv_b = app.invoice(&b, "USD", "100.00", Some(&terms_b)).await;
    let inv_b_id = inv_b["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/v1/erp/endpoints",
            &b.key,
            json!({"url": "http://127.0.0.1:9/hook", "kind": "webhook"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let endpoint_b = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (link_b, token_b) = app.link(&b, &inv_b_id).await;
    let card = app.card_token_for(&token_b, "4242424242424242").await;
    let r = app.pay(&token_b, "b-1", "40.00", &card).await;
    assert_eq!(r.status(), 201);
    let payment_b = r.json::<Value>().await.unwrap()["payment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deliveries: Value = app.get("/v1/erp/deliveries", &b.key).await.json().await.unwrap();
    let delivery_b = deliveries["data"][0]["id"]
        .as_str()
        .expect("B has a delivery")
        .to_owned();

    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/customers/{}", b.customer_id), None),
        (Method::GET, format!("/v1/terms/{terms_b}"), None),
        (Method::GET, format!("/v1/invoices/{inv_b_id}"), None),
        (Method::POST, format!("/v1/invoices/{inv_b_id}/void"), None),
        (
            Method::POST,
            format!("/v1/invoices/{inv_b_id}/checkout-links"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/v1/checkout-links/{link_b}"), None),
        (Method::GET, format!("/v1/payments/{payment_b}"), None),
        (Method::GET, format!("/v1/erp/endpoints/{endpoint_b}"), None),
        (Method::DELETE, format!("/v1/erp/endpoints/{endpoint_b}"), None),
        (
            Method::POST,
            format!("/v1/erp/deliveries/{delivery_b}/retry"),
            None,
        ),
    ];
    for (method, path, body) in probes {
        let r = call(&app, method.clone(), &path, &a.key, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, 404, "{method} {path} with A's key: {text}");
        assert!(
            !text.contains(&inv_b_id) && !text.contains("100.00"),
            "{path} leaks: {text}"
        );
    }
    // B's ids as references in A's writes are refused without creating anything.
    let r = app
        .post(
            "/v1/invoices",
            &a.key,
            json!({"number": "X", "customer_id": b.customer_id, "currency": "USD", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}]}),
        )
        .await;
    assert!(matches!(r.status().as_u16(), 400 | 404 | 422), "{}", r.status());
    let r = app
        .post(
            "/v1/invoices",
            &a.key,
            json!({"number": "Y", "customer_id": a.customer_id, "currency": "USD", "issue_date": "2026-11-01",
                   "due_date": "2026-12-01", "terms_id": terms_b,
                   "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}]}),
        )
        .await;
    assert!(matches!(r.status().as_u16(), 400 | 404 | 422), "{}", r.status());
    // List filters with B's ids return nothing.
    for path in [
        format!("/v1/payments?invoice_id={inv_b_id}"),
        format!("/v1/invoices?customer_id={}", b.customer_id),
        "/v1/invoices".to_owned(),
        "/v1/payments".to_owned(),
        "/v1/customers".to_owned(),
        "/v1/erp/endpoints".to_owned(),
        "/v1/erp/deliveries".to_owned(),
    ] {
        let r = app.get(&path, &a.key).await;
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        for secret in [&inv_b_id, &payment_b, &b.customer_id, &endpoint_b, &delivery_b] {
            assert!(!text.contains(secret.as_str()), "{path} leaks {secret}: {text}");
        }
    }
    // Nothing of B's changed: invoice still partially paid, link still works, endpoint still there.
    let inv = app.get_invoice(&b, &inv_b_id).await;
    assert_eq!(inv["status"], "partially_paid");
    assert_eq!(inv["balance_due"], "60.00");
    assert_eq!(app.get("/v1/checkout", &token_b).await.status(), 200);
    assert_eq!(
        app.get(&format!("/v1/erp/endpoints/{endpoint_b}"), &b.key)
            .await
            .status(),
        200
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM invoices").await, 1);
}
both_backends!(seller_a_cannot_touch_seller_b);

async fn server_owned_fields_cannot_be_assigned(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.seller("S").await;
    let inv = app.invoice(&s, "USD", "100.00", None).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&s, &id).await;
    let card = app.card_token_for(&token, "4242424242424242").await;
    let line = json!([{"description": "x", "quantity": "1", "unit_price": "1.00"}]);
    let smuggled = [
        ("amount_paid", json!("100.00")),
        ("status", json!("paid")),
        ("seller_id", json!("sel_other")),
        ("total", json!("0.01")),
        ("balance_due", json!("0.00")),
        ("id", json!("inv_chosen")),
    ];
    for (field, value) in &smuggled {
        let mut bodies: Vec<(&str, &str, Value)> = vec![
            ("/v1/customers", &s.key, json!({"name": "n", "email": "a@b.co"})),
            ("/v1/terms", &s.key, json!({"name": "t", "allow_partial": true})),
            (
                "/v1/invoices",
                &s.key,
                json!({"number": "N", "customer_id": s.customer_id, "currency": "USD", "issue_date": "2026-11-01",
                       "due_date": "2026-12-01", "lines": line}),
            ),
            (
                "/v1/erp/endpoints",
                &s.key,
                json!({"url": "http://127.0.0.1:9/h", "kind": "webhook"}),
            ),
            ("/v1/sellers", &app.operator, json!({"name": "x"})),
        ];
        let link_path = format!("/v1/invoices/{id}/checkout-links");
        bodies.push((&link_path, &s.key, json!({})));
        for (path, key, mut body) in bodies {
            body[*field] = value.clone();
            expect_problem(app.post(path, key, body).await, 400, "unknown_field").await;
        }
        let r = app
            .client
            .post(app.url("/v1/checkout/payments"))
            .bearer_auth(&token)
            .header("idempotency-key", format!("smuggle-{field}"))
            .json(&json!({"amount": "10.00", "payment_token": card, *field: value}))
            .send()
            .await
            .unwrap();
        expect_problem(r, 400, "unknown_field").await;
    }
    let after = app.get_invoice(&s, &id).await;
    assert_eq!(after["amount_paid"], "0.00");
    assert_eq!(after["status"], "open");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sellers").await, 1);
}
both_backends!(server_owned_fields_cannot_be_assigned);
