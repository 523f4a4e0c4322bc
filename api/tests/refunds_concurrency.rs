//! 32 concurrent refunds of one payment, on SQLite and PostgreSQL: what succeeds never adds up to more
//! than the payment, and the payment row, the invoice and the gateway's records agree with each other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, Backend};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

async fn thirty_two_concurrent_refunds_never_exceed_the_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "100.00", None).await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&seller, &invoice_id).await;
    let card = app.card_token_for(&token, VISA).await;
    let r = app.pay(&token, "pay-1", "100.00", &card).await;
    assert_eq!(r.status(), 201);
    let payment_id = r.json::<Value>().await.unwrap()["payment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // 32 refunds of 7.00 (224.00 asked of a 100.00 payment), a few without an amount (all that is left),
    // all at once, each with its own key.
    let mut tasks = Vec::new();
    for i in 0..32 {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/payments/{payment_id}/refunds"));
        let key = seller.key.clone();
        tasks.push(tokio::spawn(async move {
            let body = if i % 8 == 7 {
                json!({})
            } else {
                json!({"amount": "7.00"})
            };
            let r = client
                .post(url)
                .bearer_auth(key)
                .header("idempotency-key", format!("concurrent-{i}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut succeeded_minor = 0i64;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => {
                assert_eq!(body["status"], "succeeded", "{body}");
                let minor: i64 = body["amount"].as_str().unwrap().replace('.', "").parse().unwrap();
                succeeded_minor += minor;
            }
            409 => assert_eq!(body["code"], "payment_not_refundable", "{body}"),
            422 => assert_eq!(body["code"], "refund_exceeds_payment", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(succeeded_minor <= 10_000, "refunded {succeeded_minor} of 10000");
    let row_refunded = app
        .sql_count(&format!(
            "SELECT amount_refunded_minor FROM payments WHERE id = '{payment_id}'"
        ))
        .await;
    assert_eq!(
        row_refunded, succeeded_minor,
        "the payment row agrees with the answers"
    );
    let stored = app
        .sql_count(&format!(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds WHERE payment_id = '{payment_id}' AND status = 'succeeded'"
        ))
        .await;
    assert_eq!(stored, succeeded_minor);
    let gateway = app
        .sql_count("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_refunds WHERE status = 'succeeded'")
        .await;
    assert_eq!(
        gateway, succeeded_minor,
        "the gateway refunded exactly what we recorded"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM refunds WHERE status = 'pending'")
            .await,
        0
    );
    let inv = app.get_invoice(&seller, &invoice_id).await;
    let paid_minor: i64 = inv["amount_paid"]
        .as_str()
        .unwrap()
        .replace('.', "")
        .parse()
        .unwrap();
    assert_eq!(paid_minor, 10_000 - succeeded_minor);
    let payment: Value = app
        .get(&format!("/v1/payments/{payment_id}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    let expected = match succeeded_minor {
        10_000 => "refunded",
        0 => "succeeded",
        _ => "partially_refunded",
    };
    assert_eq!(payment["status"], expected);
    // The requests without an amount take what is left, so the whole payment ends up refunded.
    assert_eq!(succeeded_minor, 10_000);
}
both_backends!(thirty_two_concurrent_refunds_never_exceed_the_payment);
