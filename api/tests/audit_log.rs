//! The audit log (issue 15, DESIGN section 10): every seller write, payment and refund leaves exactly one row
//! (action, actor, object) written in the transaction of the change; `GET /v1/audit-log` pages like every
//! list and is scoped to the seller; no row holds a secret. Every test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn actor_of(key: &str) -> String {
    format!("key:{}", &key[key.len() - 4..])
}

async fn log(app: &TestApp, key: &str, query: &str) -> Value {
    let r = app.get(&format!("/v1/audit-log?{query}"), key).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Every row of the seller's log, newest first (walking the pages).
async fn all_rows(app: &TestApp, key: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut query = "limit=7".to_owned();
    loop {
        let page = log(app, key, &query).await;
        let data = page["data"].as_array().unwrap().clone();
        let last = data.last().map(|r| r["id"].as_str().unwrap().to_owned());
        rows.extend(data);
        match (page["has_more"].as_bool().unwrap(), last) {
            (true, Some(last)) => query = format!("limit=7&starting_after={last}"),
            _ => return rows,
        }
    }
}

/// Tracks the log: `expect` asserts the rows written since the last call, oldest first.
struct Tail {
    seen: usize,
}

impl Tail {
    async fn expect(&mut self, app: &TestApp, key: &str, wanted: &[(&str, &str, &str)]) -> Vec<Value> {
        let mut rows = all_rows(app, key).await;
        rows.reverse();
        let new: Vec<Value> = rows[self.seen..].to_vec();
        self.seen = rows.len();
        let got: Vec<(String, String, String)> = new
            .iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap().to_owned(),
                    r["actor"].as_str().unwrap().to_owned(),
                    r["object_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let wanted: Vec<(String, String, String)> = wanted
            .iter()
            .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(got, wanted);
        new
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn created(r: reqwest::Response) -> Value {
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert!((200..300).contains(&status), "{status} {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn every_write_leaves_one_row_with_its_actor(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.post("/v1/sellers", &app.operator, json!({"name": "S"})).await;
    let seller_json = created(r).await;
    let key = seller_json["secret_key"].as_str().unwrap().to_owned();
    let seller_id = id(&seller_json);
    let me = actor_of(&key);
    let me = me.as_str();
    let mut tail = Tail { seen: 0 };
    tail.expect(&app, &key, &[("seller.created", "operator", &seller_id)])
        .await;

    let customer = created(
        app.post(
            "/v1/customers",
            &key,
            json!({"name": "Acme", "email": "ap@acme.example"}),
        )
        .await,
    )
    .await;
    let customer_id = id(&customer);
    tail.expect(&app, &key, &[("customer.created", me, &customer_id)])
        .await;
    created(
        app.patch(
            &format!("/v1/customers/{customer_id}"),
            &key,
            json!({"locale": "fr"}),
        )
        .await,
    )
    .await;
    tail.expect(&app, &key, &[("customer.updated", me, &customer_id)])
        .await;

    let terms = created(
        app.post("/v1/terms", &key, json!({"name": "t", "allow_partial": true}))
            .await,
    )
    .await;
    let terms_id = id(&terms);
    tail.expect(&app, &key, &[("terms.created", me, &terms_id)]).await;
    created(
        app.patch(&format!("/v1/terms/{terms_id}"), &key, json!({"name": "t2"}))
            .await,
    )
    .await;
    tail.expect(&app, &key, &[("terms.updated", me, &terms_id)]).await;

    let seller = SellerCtx {
        id: seller_id.clone(),
        key: key.clone(),
        customer_id: customer_id.clone(),
    };
    let inv = app.invoice(&seller, "USD", "500.00", Some(&terms_id)).await;
    let inv_id = id(&inv);
    tail.expect(&app, &key, &[("invoice.created", me, &inv_id)]).await;
    created(
        app.patch(&format!("/v1/invoices/{inv_id}"), &key, json!({"memo": "m"}))
            .await,
    )
    .await;
    tail.expect(&app, &key, &[("invoice.updated", me, &inv_id)]).await;
    created(
        app.post(&format!("/v1/terms/{terms_id}/archive"), &key, json!({}))
            .await,
    )
    .await;
    tail.expect(&app, &key, &[("terms.archived", me, &terms_id)])
        .await;

    let (link_id, token) = app.link(&seller, &inv_id).await;
    tail.expect(&app, &key, &[("checkout_link.created", me, &link_id)])
        .await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/checkout-links/{link_id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    created(r).await;
    tail.expect(&app, &key, &[("checkout_link.revoked", me, &link_id)])
        .await;

    let sent = created(
        app.post(&format!("/v1/invoices/{inv_id}/send"), &key, json!({}))
            .await,
    )
    .await;
    let sent_link = sent["link"]["id"].as_str().unwrap().to_owned();
    tail.expect(
        &app,
        &key,
        &[
            ("checkout_link.created", me, &sent_link),
            ("invoice.sent", me, &inv_id),
        ],
    )
    .await;

    let note = created(
        app.post(
            &format!("/v1/invoices/{inv_id}/credit-notes"),
            &key,
            json!({"amount": "10.00", "reason": "damaged"}),
        )
        .await,
    )
    .await;
    tail.expect(&app, &key, &[("credit_note.created", me, &id(&note))])
        .await;

    let r = app
        .client
        .post(app.url(&format!("/v1/invoices/{inv_id}/payments")))
        .bearer_auth(&key)
        .header("idempotency-key", "cheque-1")
        .json(
            &json!({"amount": "40.00", "method": "check", "reference": "CHK 1001",
            "received_on": tranche_domain::wire::format_date(tranche_api::state::today())}),
        )
        .send()
        .await
        .unwrap();
    let offline = created(r).await;
    tail.expect(&app, &key, &[("payment.recorded_offline", me, &id(&offline))])
        .await;

    // A buyer's payment, then the seller's refund of part of it.
    let (link_id, token2) = app.link(&seller, &inv_id).await;
    tail.expect(&app, &key, &[("checkout_link.created", me, &link_id)])
        .await;
    let card = app.card_token_for(&token2, VISA).await;
    let paid = created(app.pay(&token2, "buyer-1", "100.00", &card).await).await;
    let payment_id = paid["payment"]["id"].as_str().unwrap().to_owned();
    tail.expect(&app, &key, &[("payment.succeeded", "buyer", &payment_id)])
        .await;
    let declined_card = app.card_token_for(&token2, "4000000000000002").await;
    let declined = app.pay(&token2, "buyer-2", "100.00", &declined_card).await;
    assert_eq!(declined.status(), 402);
    let rows = all_rows(&app, &key).await;
    let failed_payment = rows[0]["object_id"].as_str().unwrap().to_owned();
    tail.expect(&app, &key, &[("payment.failed", "buyer", &failed_payment)])
        .await;
    let r = app
        .client
        .post(app.url(&format!("/v1/payments/{payment_id}/refunds")))
        .bearer_auth(&key)
        .header("idempotency-key", "refund-1")
        .json(&json!({"amount": "25.00"}))
        .send()
        .await
        .unwrap();
    let refund = created(r).await;
    let rows = tail
        .expect(&app, &key, &[("refund.succeeded", me, &id(&refund))])
        .await;
    assert_eq!(rows[0]["changes"]["amount"], "25.00");

    let other = app.invoice(&seller, "USD", "20.00", None).await;
    tail.expect(&app, &key, &[("invoice.created", me, &id(&other))])
        .await;
    created(
        app.post(&format!("/v1/invoices/{}/void", id(&other)), &key, json!({}))
            .await,
    )
    .await;
    tail.expect(&app, &key, &[("invoice.voided", me, &id(&other))])
        .await;

    created(app.patch("/v1/seller", &key, json!({"name": "S GmbH"})).await).await;
    let rows = tail
        .expect(&app, &key, &[("seller.updated", me, &seller_id)])
        .await;
    assert_eq!(
        rows[0]["changes"],
        json!({"name": {"before": "S", "after": "S GmbH"}})
    );

    let endpoint = created(
        app.post(
            "/v1/erp/endpoints",
            &key,
            json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook?token=abc"}),
        )
        .await,
    )
    .await;
    let endpoint_id = id(&endpoint);
    let rows = tail
        .expect(&app, &key, &[("erp_endpoint.created", me, &endpoint_id)])
        .await;
    assert_eq!(rows[0]["changes"]["url"], "http://127.0.0.1:9/hook");
    let r = app
        .client
        .delete(app.url(&format!("/v1/erp/endpoints/{endpoint_id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    tail.expect(&app, &key, &[("erp_endpoint.deleted", me, &endpoint_id)])
        .await;

    let r = app
        .client
        .put(app.url("/v1/settings/receipts"))
        .bearer_auth(&key)
        .json(&json!({"subject": "Thanks from {seller}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    tail.expect(&app, &key, &[("settings.receipts_updated", me, &seller_id)])
        .await;
    let r = app
        .client
        .put(app.url("/v1/settings/invoice-email"))
        .bearer_auth(&key)
        .json(&json!({"subject": "Invoice {{ invoice_number }}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let rows = tail
        .expect(&app, &key, &[("settings.invoice_email_updated", me, &seller_id)])
        .await;
    assert_eq!(
        rows[0]["changes"],
        json!({"subject": true, "text": false, "html": false})
    );

    // Bad requests write nothing.
    expect_problem(
        app.patch(
            &format!("/v1/invoices/{inv_id}"),
            &key,
            json!({"due_date": "1999-01-01"}),
        )
        .await,
        400,
        "invalid_field",
    )
    .await;
    expect_problem(
        app.patch("/v1/invoices/inv_nope", &key, json!({"memo": "x"}))
            .await,
        404,
        "not_found",
    )
    .await;
    // Archiving again changes nothing, so writes nothing.
    let again = app
        .post(&format!("/v1/terms/{terms_id}/archive"), &key, json!({}))
        .await;
    assert_eq!(again.status(), 200);
    tail.expect(&app, &key, &[]).await;

    // A payment the reconciler settles: by the system. (Last but the roll: the test clock moves ahead here,
    // and some writes are timed by the wall clock.)
    let card = app.card_token_for(&token2, "4000000000000259").await;
    let pending = created(app.pay(&token2, "buyer-3", "50.00", &card).await).await;
    let pending_id = pending["payment"]["id"].as_str().unwrap().to_owned();
    app.state
        .clock()
        .advance(app.state.settings.reconciler.grace_seconds * 1000);
    assert_eq!(tranche_api::reconciler::pass(&app.state).await.unwrap(), 1);
    tail.expect(&app, &key, &[("payment.succeeded", "system", &pending_id)])
        .await;

    // The key roll: by the old key; the log names the new key by its last four only.
    let rolled = created(app.post("/v1/seller/keys/roll", &key, json!({})).await).await;
    let new_key = rolled["secret_key"].as_str().unwrap().to_owned();
    let rows = all_rows(&app, &new_key).await;
    assert_eq!(rows[0]["action"], "seller.key_rolled");
    assert_eq!(rows[0]["actor"], me);
    assert_eq!(rows[0]["changes"]["new_key_last4"], &new_key[new_key.len() - 4..]);

    // No row holds a secret: neither key, nor a checkout token, nor the webhook's query.
    let text = serde_json::to_string(&rows).unwrap();
    for secret in [
        key.as_str(),
        new_key.as_str(),
        token.as_str(),
        token2.as_str(),
        "token=abc",
    ] {
        assert!(!text.contains(secret), "the audit log holds a secret");
    }
    assert!(!text.contains(endpoint["signing_secret"].as_str().unwrap()));
}
both_backends!(every_write_leaves_one_row_with_its_actor);

async fn the_log_is_the_sellers_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("A").await;
    let b = app.seller("B").await;
    let inv = app.invoice(&a, "USD", "100.00", None).await;
    let inv_id = id(&inv);
    let a_rows = all_rows(&app, &a.key).await;
    assert!(a_rows.iter().any(|r| r["object_id"] == inv_id.as_str()));
    let b_rows = all_rows(&app, &b.key).await;
    assert!(b_rows.iter().all(|r| r["object_id"] != inv_id.as_str()
        && r["object_id"] != a.customer_id.as_str()
        && r["object_id"] != a.id.as_str()));
    // B filtering by A's object sees nothing; paging after A's row is refused as for an unknown id.
    let filtered = log(&app, &b.key, &format!("object_id={inv_id}")).await;
    assert_eq!(filtered["data"], json!([]));
    let a_row = a_rows[0]["id"].as_str().unwrap();
    let r = app
        .get(&format!("/v1/audit-log?starting_after={a_row}"), &b.key)
        .await;
    expect_problem(r, 400, "starting_after_not_found").await;
    for bad in ["limit=0", "limit=101", "actor=buyer"] {
        expect_problem(
            app.get(&format!("/v1/audit-log?{bad}"), &a.key).await,
            400,
            "invalid_query",
        )
        .await;
    }
    expect_problem(app.get("/v1/audit-log", "sk_nope").await, 401, "invalid_api_key").await;
}
both_backends!(the_log_is_the_sellers_own);

/// The row and the change share one transaction: when the audit row cannot be written, the change does
/// not happen either (the write answers 500 and everything stays as it was).
async fn a_change_whose_audit_row_fails_is_rolled_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    let inv_id = id(&inv);
    let before = app.get_invoice(&seller, &inv_id).await;
    let rows_before = all_rows(&app, &seller.key).await.len();
    sqlx::query("ALTER TABLE audit_log RENAME TO audit_log_away")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app
        .patch(
            &format!("/v1/invoices/{inv_id}"),
            &seller.key,
            json!({"memo": "lost"}),
        )
        .await;
    expect_problem(r, 500, "internal_error").await;
    let r = app
        .post(
            &format!("/v1/invoices/{inv_id}/credit-notes"),
            &seller.key,
            json!({"amount": "10.00", "reason": "x"}),
        )
        .await;
    expect_problem(r, 500, "internal_error").await;
    let r = app
        .post(
            "/v1/customers",
            &seller.key,
            json!({"name": "N", "email": "n@n.example"}),
        )
        .await;
    expect_problem(r, 500, "internal_error").await;
    sqlx::query("ALTER TABLE audit_log_away RENAME TO audit_log")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(app.get_invoice(&seller, &inv_id).await, before);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM credit_notes").await, 0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(all_rows(&app, &seller.key).await.len(), rows_before);
}
both_backends!(a_change_whose_audit_row_fails_is_rolled_back);

/// The other way round, on PostgreSQL where a check can wait for the commit: the audit row is written, then
/// the transaction fails at commit; neither the change nor its row remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_rolled_back_at_commit_leaves_no_audit_row() {
    if common::postgres_url().is_none() {
        eprintln!("TRANCHE_TEST_POSTGRES_URL not set: skipped");
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    let inv_id = id(&inv);
    let before = app.get_invoice(&seller, &inv_id).await;
    let rows_before = all_rows(&app, &seller.key).await.len();
    for statement in [
        "CREATE FUNCTION refuse_at_commit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$ LANGUAGE plpgsql",
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON audit_log DEFERRABLE INITIALLY DEFERRED \
         FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()",
    ] {
        sqlx::query(statement).execute(app.state.db.pool()).await.unwrap();
    }
    let r = app
        .patch(
            &format!("/v1/invoices/{inv_id}"),
            &seller.key,
            json!({"memo": "lost"}),
        )
        .await;
    expect_problem(r, 500, "internal_error").await;
    sqlx::query("DROP TRIGGER refuse_at_commit ON audit_log")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(app.get_invoice(&seller, &inv_id).await, before);
    assert_eq!(all_rows(&app, &seller.key).await.len(), rows_before);
}

/// Concurrent edits of one invoice queue on its lock: each leaves one row, and the rows chain (each one's
/// `before` is exactly one other's `after`), ending at the stored value.
async fn concurrent_edits_chain_their_audit_rows(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "100.00", None).await;
    let inv_id = id(&inv);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (app, key, path) = (app.clone(), seller.key.clone(), format!("/v1/invoices/{inv_id}"));
        tasks.push(tokio::spawn(async move {
            app.patch(&path, &key, json!({"memo": format!("note {i}")}))
                .await
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let rows: Vec<Value> = all_rows(&app, &seller.key)
        .await
        .into_iter()
        .filter(|r| r["object_id"] == inv_id.as_str() && r["action"] == "invoice.updated")
        .collect();
    assert_eq!(rows.len(), 16);
    let mut next: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for row in &rows {
        let memo = &row["changes"]["memo"];
        let before = memo["before"].as_str().unwrap_or("").to_owned();
        let after = memo["after"].as_str().unwrap().to_owned();
        assert!(
            next.insert(before, after).is_none(),
            "two edits saw the same memo: {rows:?}"
        );
    }
    let mut at = String::new();
    for _ in 0..16 {
        at = next.remove(&at).expect("the chain continues");
    }
    assert_eq!(app.get_invoice(&seller, &inv_id).await["memo"], at.as_str());
}
both_backends!(concurrent_edits_chain_their_audit_rows);
