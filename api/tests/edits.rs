//! Edits (issue 15, DESIGN section 10): `PATCH /v1/invoices/{id}`, `PATCH /v1/customers/{id}`, `GET /v1/terms`,
//! `PATCH /v1/terms/{id}`, `POST /v1/terms/{id}/archive`. Each edit: what changes, what is refused (a stable
//! code, nothing changed), another seller's id answering 404 with nothing changed, and the rule that the
//! next payment follows an invoice's new terms while a payment already in flight finishes under its own.
//! Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, expect_problem, spawn_app, spawn_app_with, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn today() -> String {
    tranche_domain::wire::format_date(tranche_api::state::today())
}

async fn patch_invoice(app: &TestApp, seller: &SellerCtx, id: &str, body: Value) -> reqwest::Response {
    app.patch(&format!("/v1/invoices/{id}"), &seller.key, body).await
}

async fn audit_rows(app: &TestApp, seller: &SellerCtx, object_id: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/audit-log?object_id={object_id}&limit=100"),
            &seller.key,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn actor_of(seller: &SellerCtx) -> String {
    format!("key:{}", &seller.key[seller.key.len() - 4..])
}

async fn invoice_fields_are_edited_with_an_audit_row_of_what_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    assert_eq!(inv["memo"], Value::Null);

    let r = patch_invoice(
        &app,
        &seller,
        id,
        json!({"due_date": "2099-06-30", "memo": "PO 4471, call Anne", "external_ref": "QB-99"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["due_date"], "2099-06-30");
    assert_eq!(edited["memo"], "PO 4471, call Anne");
    assert_eq!(edited["external_ref"], "QB-99");
    assert_eq!(edited["total"], "500.00");
    assert_eq!(app.get_invoice(&seller, id).await, edited);

    let rows = audit_rows(&app, &seller, id).await;
    assert_eq!(rows.len(), 2, "{rows:?}"); // invoice.created, invoice.updated
    let updated = &rows[0];
    assert_eq!(updated["action"], "invoice.updated");
    assert_eq!(updated["actor"], actor_of(&seller));
    assert_eq!(
        updated["changes"],
        json!({
            "due_date": {"before": "2099-01-01", "after": "2099-06-30"},
            "memo": {"before": null, "after": "PO 4471, call Anne"},
            "external_ref": {"before": null, "after": "QB-99"},
        })
    );
    assert_eq!(rows[1]["action"], "invoice.created");

    // `null` clears; `{}` changes nothing and writes no audit row.
    let r = patch_invoice(&app, &seller, id, json!({"memo": null})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["memo"], Value::Null);
    let r = patch_invoice(&app, &seller, id, json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(audit_rows(&app, &seller, id).await.len(), 3);
}
both_backends!(invoice_fields_are_edited_with_an_audit_row_of_what_changed);

async fn lines_are_recomputed_until_anything_is_paid_or_credited(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let lines = json!([
        {"description": "Widgets", "quantity": "3", "unit_price": "100.00", "tax_rate": "10"},
        {"description": "Freight", "quantity": "1", "unit_price": "45.50"},
    ]);
    let r = patch_invoice(&app, &seller, id, json!({"lines": lines})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["subtotal"], "345.50");
    assert_eq!(edited["tax"], "30.00");
    assert_eq!(edited["total"], "375.50");
    assert_eq!(edited["balance_due"], "375.50");
    assert_eq!(edited["lines"].as_array().unwrap().len(), 2);

    // Bad lines: 400 invalid_lines, nothing changed.
    let r = patch_invoice(
        &app,
        &seller,
        id,
        json!({"lines": [{"description": "x", "quantity": "1", "unit_price": "1.001"}]}),
    )
    .await;
    expect_problem(r, 400, "invalid_lines").await;
    let r = patch_invoice(&app, &seller, id, json!({"lines": []})).await;
    expect_problem(r, 400, "invalid_lines").await;
    assert_eq!(app.get_invoice(&seller, id).await, edited);

    // A payment: the lines are the ERP's now.
    let (_, token) = app.link(&seller, id).await;
    let card = app.card_token_for(&token, VISA).await;
    assert_eq!(app.pay(&token, "k1", "75.50", &card).await.status(), 201);
    let paid = app.get_invoice(&seller, id).await;
    let r = patch_invoice(&app, &seller, id, json!({"lines": lines, "memo": "with lines"})).await;
    expect_problem(r, 409, "invoice_has_payments").await;
    assert_eq!(app.get_invoice(&seller, id).await, paid);
    // Other fields still change on a paid invoice.
    let r = patch_invoice(&app, &seller, id, json!({"memo": "paid in part"})).await;
    assert_eq!(r.status(), 200);

    // A credit note blocks line edits too.
    let inv = app.invoice(&seller, "USD", "200.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/v1/invoices/{id}/credit-notes"),
            &seller.key,
            json!({"amount": "20.00", "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = patch_invoice(&app, &seller, id, json!({"lines": lines})).await;
    expect_problem(r, 409, "invoice_has_payments").await;
    assert_eq!(app.get_invoice(&seller, id).await["total"], "200.00");
}
both_backends!(lines_are_recomputed_until_anything_is_paid_or_credited);

async fn bad_invoice_edits_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let other = app.seller("Other").await;
    let other_terms = app
        .terms(&other, json!({"name": "o", "allow_partial": true}))
        .await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let before = app.get_invoice(&seller, id).await;
    let long_memo = "m".repeat(501);
    let cases = [
        (json!({"due_date": "2001-01-01"}), 400, "invalid_field"),
        (json!({"due_date": "30/11/2026"}), 400, "invalid_field"),
        (json!({"memo": long_memo}), 400, "invalid_field"),
        (json!({"external_ref": ""}), 400, "invalid_field"),
        (json!({"number": "INV-2"}), 400, "unknown_field"),
        (json!({"terms_id": other_terms}), 400, "unknown_reference"),
        (json!({"terms_id": "trm_nope"}), 400, "unknown_reference"),
        (json!([]), 400, "malformed_body"),
        (json!({"due_date": 5}), 400, "malformed_body"),
    ];
    for (body, status, code) in cases {
        let r = patch_invoice(&app, &seller, id, body.clone()).await;
        let problem = expect_problem(r, status, code).await;
        if code == "invalid_field" {
            assert!(problem["field"].is_string(), "{body} {problem}");
        }
    }
    // No body at all, or not JSON: as for every JSON endpoint.
    for (content_type, body, status, code) in [
        ("application/json", "", 400, "malformed_body"),
        ("application/json", "{", 400, "malformed_body"),
        ("text/plain", "{}", 415, "unsupported_media_type"),
    ] {
        let r = app
            .client
            .patch(app.url(&format!("/v1/invoices/{id}")))
            .bearer_auth(&seller.key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        expect_problem(r, status, code).await;
    }
    assert_eq!(app.get_invoice(&seller, id).await, before);

    // A void invoice: nothing on it changes.
    let r = app
        .post(&format!("/v1/invoices/{id}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let voided = app.get_invoice(&seller, id).await;
    for body in [json!({"memo": "late note"}), json!({"due_date": "2099-02-02"})] {
        let r = patch_invoice(&app, &seller, id, body).await;
        expect_problem(r, 409, "invoice_not_editable").await;
    }
    assert_eq!(app.get_invoice(&seller, id).await, voided);
    assert_eq!(audit_rows(&app, &seller, id).await.len(), 2); // created, voided
}
both_backends!(bad_invoice_edits_are_refused_and_change_nothing);

async fn another_sellers_objects_cannot_be_edited(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("A").await;
    let b = app.seller("B").await;
    let a_terms = app.terms(&a, json!({"name": "a", "allow_partial": true})).await;
    let b_terms = app.terms(&b, json!({"name": "b", "allow_partial": false})).await;
    let inv = app.invoice(&a, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap();
    let invoice_before = app.get_invoice(&a, id).await;
    let customer_before: Value = app
        .get(&format!("/v1/customers/{}", a.customer_id), &a.key)
        .await
        .json()
        .await
        .unwrap();
    let terms_before: Value = app
        .get(&format!("/v1/terms/{a_terms}"), &a.key)
        .await
        .json()
        .await
        .unwrap();

    // B with A's ids: 404 every time, even with B's own terms (nothing about A's objects leaks).
    for body in [json!({"memo": "pwned"}), json!({"terms_id": b_terms}), json!({})] {
        let r = patch_invoice(&app, &b, id, body).await;
        expect_problem(r, 404, "not_found").await;
    }
    for body in [json!({"name": "pwned"}), json!({"terms_id": b_terms})] {
        let r = app
            .patch(&format!("/v1/customers/{}", a.customer_id), &b.key, body)
            .await;
        expect_problem(r, 404, "not_found").await;
    }
    let r = app
        .patch(&format!("/v1/terms/{a_terms}"), &b.key, json!({"name": "pwned"}))
        .await;
    expect_problem(r, 404, "not_found").await;
    let r = app
        .post(&format!("/v1/terms/{a_terms}/archive"), &b.key, json!({}))
        .await;
    expect_problem(r, 404, "not_found").await;
    // A cannot give its objects B's terms either.
    let r = patch_invoice(&app, &a, id, json!({"terms_id": b_terms})).await;
    expect_problem(r, 400, "unknown_reference").await;

    assert_eq!(app.get_invoice(&a, id).await, invoice_before);
    let customer_after: Value = app
        .get(&format!("/v1/customers/{}", a.customer_id), &a.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(customer_after, customer_before);
    let terms_after: Value = app
        .get(&format!("/v1/terms/{a_terms}"), &a.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(terms_after, terms_before);
    // B's list of terms never shows A's; B's audit log has none of A's rows.
    let listed: Value = app
        .get("/v1/terms?include_archived=true", &b.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], b_terms.as_str());
    let log: Value = app
        .get("/v1/audit-log?limit=100", &b.key)
        .await
        .json()
        .await
        .unwrap();
    assert!(log["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row["object_id"] != id && row["object_id"] != a_terms.as_str()));
}
both_backends!(another_sellers_objects_cannot_be_edited);

async fn customers_are_edited(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let terms = app
        .terms(&seller, json!({"name": "t", "allow_partial": true}))
        .await;
    let path = format!("/v1/customers/{}", seller.customer_id);
    let r = app
        .patch(
            &path,
            &seller.key,
            json!({"name": "Acme GmbH", "email": "ar@acme.example", "locale": "de", "terms_id": terms, "external_ref": null}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["name"], "Acme GmbH");
    assert_eq!(edited["email"], "ar@acme.example");
    assert_eq!(edited["locale"], "de");
    assert_eq!(edited["terms_id"], terms.as_str());
    assert_eq!(edited["external_ref"], Value::Null);
    let read: Value = app.get(&path, &seller.key).await.json().await.unwrap();
    assert_eq!(read, edited);
    // New invoices for the customer get its new terms.
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    assert_eq!(inv["terms_id"], terms.as_str());

    let rows = audit_rows(&app, &seller, &seller.customer_id).await;
    assert_eq!(rows[0]["action"], "customer.updated");
    assert_eq!(
        rows[0]["changes"]["name"],
        json!({"before": "Acme Buyer", "after": "Acme GmbH"})
    );
    assert_eq!(
        rows[0]["changes"]["external_ref"],
        json!({"before": "C-1", "after": null})
    );

    for (body, status, code) in [
        (json!({"email": "not-an-address"}), 400, "invalid_field"),
        (json!({"name": " "}), 400, "invalid_field"),
        (json!({"locale": "it"}), 400, "invalid_field"),
        (json!({"terms_id": "trm_nope"}), 400, "unknown_reference"),
        (json!({"currency": "USD"}), 400, "unknown_field"),
    ] {
        let r = app.patch(&path, &seller.key, body).await;
        expect_problem(r, status, code).await;
    }
    let r = app
        .patch("/v1/customers/cus_nope", &seller.key, json!({"name": "x"}))
        .await;
    expect_problem(r, 404, "not_found").await;
    let read_again: Value = app.get(&path, &seller.key).await.json().await.unwrap();
    assert_eq!(read_again, edited);
}
both_backends!(customers_are_edited);

async fn terms_are_listed_edited_and_archived(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.terms(&seller, json!({"name": format!("t{i}"), "allow_partial": true}))
                .await,
        );
    }
    // Pages of 2, newest first.
    let r: Value = app
        .get("/v1/terms?limit=2", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["has_more"], true);
    assert_eq!(r["data"][0]["id"], ids[4].as_str());
    let last = r["data"][1]["id"].as_str().unwrap().to_owned();
    let r: Value = app
        .get(&format!("/v1/terms?limit=2&starting_after={last}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"][0]["id"], ids[2].as_str());
    expect_problem(
        app.get("/v1/terms?limit=0", &seller.key).await,
        400,
        "invalid_query",
    )
    .await;
    expect_problem(
        app.get("/v1/terms?include_archived=maybe", &seller.key).await,
        400,
        "invalid_query",
    )
    .await;

    // Edit: name and terms, normalised and validated as at creation.
    let path = format!("/v1/terms/{}", ids[0]);
    let r = app
        .patch(
            &path,
            &seller.key,
            json!({"name": "Net 30", "allow_partial": false}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["name"], "Net 30");
    assert_eq!(edited["allow_partial"], false);
    let r = app
        .patch(&path, &seller.key, json!({"minimum_percent": "150"}))
        .await;
    expect_problem(r, 400, "invalid_terms").await;
    let r = app.patch(&path, &seller.key, json!({"colour": "red"})).await;
    expect_problem(r, 400, "unknown_field").await;
    let read: Value = app.get(&path, &seller.key).await.json().await.unwrap();
    assert_eq!(read, edited);

    // An invoice issued under t0 keeps the terms it copied when t0 is edited again.
    let before_edit = app.invoice(&seller, "USD", "100.00", Some(&ids[0])).await;
    let r = app
        .patch(&path, &seller.key, json!({"allow_partial": true}))
        .await;
    assert_eq!(r.status(), 200);
    let (_, token) = app.link(&seller, before_edit["id"].as_str().unwrap()).await;
    assert_eq!(app.checkout(&token).await["options"]["allow_partial"], false);

    // An invoice issued under t1, then t1 archived: the invoice keeps working.
    let inv = app.invoice(&seller, "USD", "300.00", Some(&ids[1])).await;
    let inv_id = inv["id"].as_str().unwrap();
    let archive = format!("/v1/terms/{}/archive", ids[1]);
    let r = app.post(&archive, &seller.key, json!({})).await;
    assert_eq!(r.status(), 200);
    let archived: Value = r.json().await.unwrap();
    assert!(archived["archived_at"].is_string());
    // Twice: the same answer, one audit row.
    let again: Value = app
        .post(&archive, &seller.key, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, archived);
    let rows = audit_rows(&app, &seller, &ids[1]).await;
    assert_eq!(rows.iter().filter(|r| r["action"] == "terms.archived").count(), 1);

    // Archived: out of the default list, in with include_archived.
    let listed: Value = app
        .get("/v1/terms?limit=100", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 4);
    let all: Value = app
        .get("/v1/terms?limit=100&include_archived=true", &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 5);

    // Given to nothing new, edited no more.
    let mut body = json!({
        "number": "INV-ARCH", "customer_id": seller.customer_id, "currency": "USD",
        "issue_date": today(), "due_date": "2099-01-01", "terms_id": ids[1],
        "lines": [{"description": "x", "quantity": "1", "unit_price": "10.00"}],
    });
    expect_problem(
        app.post("/v1/invoices", &seller.key, body.clone()).await,
        409,
        "terms_archived",
    )
    .await;
    let r = app
        .post(
            "/v1/customers",
            &seller.key,
            json!({"name": "N", "email": "n@n.example", "terms_id": ids[1]}),
        )
        .await;
    expect_problem(r, 409, "terms_archived").await;
    let r = app
        .patch(
            &format!("/v1/customers/{}", seller.customer_id),
            &seller.key,
            json!({"terms_id": ids[1]}),
        )
        .await;
    expect_problem(r, 409, "terms_archived").await;
    let other_inv = app.invoice(&seller, "USD", "50.00", None).await;
    let r = patch_invoice(
        &app,
        &seller,
        other_inv["id"].as_str().unwrap(),
        json!({"terms_id": ids[1]}),
    )
    .await;
    expect_problem(r, 409, "terms_archived").await;
    let r = app
        .patch(
            &format!("/v1/terms/{}", ids[1]),
            &seller.key,
            json!({"name": "revived"}),
        )
        .await;
    expect_problem(r, 409, "terms_archived").await;
    body["terms_id"] = json!(ids[2]);
    assert_eq!(app.post("/v1/invoices", &seller.key, body).await.status(), 201);

    // The invoice issued under the archived profile is still paid as before.
    let (_, token) = app.link(&seller, inv_id).await;
    let card = app.card_token_for(&token, VISA).await;
    assert_eq!(app.pay(&token, "k", "100.00", &card).await.status(), 201);
}
both_backends!(terms_are_listed_edited_and_archived);

async fn the_next_payment_follows_an_invoices_new_terms(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let partial = app
        .terms(&seller, json!({"name": "p", "allow_partial": true}))
        .await;
    let full = app
        .terms(&seller, json!({"name": "f", "allow_partial": false}))
        .await;
    let inv = app.invoice(&seller, "USD", "500.00", Some(&partial)).await;
    let id = inv["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    assert_eq!(app.checkout(&token).await["options"]["allow_partial"], true);

    let r = patch_invoice(&app, &seller, id, json!({"terms_id": full})).await;
    assert_eq!(r.status(), 200);
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["terms_id"], full.as_str());
    // The open link's view and the server's check follow at once.
    let view = app.checkout(&token).await;
    assert_eq!(view["options"]["allow_partial"], false);
    assert_eq!(view["rules"]["terms"]["allow_partial"], false);
    let card = app.card_token_for(&token, VISA).await;
    expect_problem(
        app.pay(&token, "k1", "100.00", &card).await,
        422,
        "partial_not_allowed",
    )
    .await;
    assert_eq!(app.pay(&token, "k2", "500.00", &card).await.status(), 201);

    let rows = audit_rows(&app, &seller, id).await;
    let updated = rows.iter().find(|r| r["action"] == "invoice.updated").unwrap();
    assert_eq!(
        updated["changes"]["terms_id"],
        json!({"before": partial, "after": full})
    );
    assert_eq!(updated["changes"]["terms"]["after"]["allow_partial"], false);
}
both_backends!(the_next_payment_follows_an_invoices_new_terms);

async fn a_payment_in_flight_finishes_under_the_terms_it_started_with(backend: Backend) {
    // The sandbox takes 1.5 s per charge: the payment is held (checked against the terms then in force)
    // while the seller changes the invoice's terms to "full payment only".
    let app = Arc::new(spawn_app_with(backend, |s| s.sandbox.latency_ms = 1500).await);
    let seller = app.seller("S").await;
    let partial = app
        .terms(&seller, json!({"name": "p", "allow_partial": true}))
        .await;
    let full = app
        .terms(&seller, json!({"name": "f", "allow_partial": false}))
        .await;
    let inv = app.invoice(&seller, "USD", "500.00", Some(&partial)).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&seller, &id).await;
    let card = app.card_token_for(&token, VISA).await;

    let paying = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { app.pay(&token, "in-flight", "100.00", &card).await })
    };
    let count = format!("SELECT COUNT(*) FROM payments WHERE invoice_id = '{id}' AND status = 'pending'");
    eventually("the payment's hold", Duration::from_secs(10), || {
        let (app, count) = (app.clone(), count.clone());
        async move { (app.sql_count(&count).await == 1).then_some(()) }
    })
    .await;
    let r = patch_invoice(&app, &seller, &id, json!({"terms_id": full})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let answer = paying.await.unwrap();
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    let paid: Value = answer.json().await.unwrap();
    assert_eq!(paid["payment"]["status"], "succeeded");
    let invoice = app.get_invoice(&seller, &id).await;
    assert_eq!(invoice["amount_paid"], "100.00");
    assert_eq!(invoice["status"], "partially_paid");
    assert_eq!(invoice["terms_id"], full.as_str());
    // The next one follows the new terms: only the whole balance.
    let card = app.card_token_for(&token, VISA).await;
    expect_problem(
        app.pay(&token, "next", "100.00", &card).await,
        422,
        "partial_not_allowed",
    )
    .await;
    // And the buyer's payment is in the log, by the buyer.
    let rows = audit_rows(&app, &seller, paid["payment"]["id"].as_str().unwrap()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "payment.succeeded");
    assert_eq!(rows[0]["actor"], "buyer");
}
both_backends!(a_payment_in_flight_finishes_under_the_terms_it_started_with);

async fn lines_cannot_change_while_a_payment_is_held(backend: Backend) {
    let app = Arc::new(spawn_app_with(backend, |s| s.sandbox.latency_ms = 1500).await);
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "500.00", None).await;
    let id = inv["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&seller, &id).await;
    let card = app.card_token_for(&token, VISA).await;
    let paying = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { app.pay(&token, "held", "500.00", &card).await })
    };
    let count = format!("SELECT COUNT(*) FROM payments WHERE invoice_id = '{id}' AND status = 'pending'");
    eventually("the payment's hold", Duration::from_secs(10), || {
        let (app, count) = (app.clone(), count.clone());
        async move { (app.sql_count(&count).await == 1).then_some(()) }
    })
    .await;
    let r = patch_invoice(
        &app,
        &seller,
        &id,
        json!({"lines": [{"description": "x", "quantity": "1", "unit_price": "10.00"}]}),
    )
    .await;
    expect_problem(r, 409, "invoice_has_pending_payments").await;
    assert_eq!(paying.await.unwrap().status(), 201);
    assert_eq!(app.get_invoice(&seller, &id).await["status"], "paid");
}
both_backends!(lines_cannot_change_while_a_payment_is_held);
