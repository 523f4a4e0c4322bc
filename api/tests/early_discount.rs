//! The early-payment discount end to end (issue 16, DESIGN 11): a payment that takes it records the
//! discount, the invoice closes as paid with `discount_taken`, the webhook carries it and the QuickBooks
//! Payment names it; after the window the same amount is an ordinary partial payment. A real HTTP
//! receiver plays the webhook endpoint and Intuit. Both databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fake_erp::FakeErp;
use common::{eventually, fast, spawn_app_with, Backend, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
async fn setup(backend: Backend, erp: &FakeErp) -> (TestApp, common::SellerCtx, String) {
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    erp.connect(&app, &seller).await;
    let terms = app
        .terms(
            &seller,
            json!({"name": "2/10 net 30", "allow_partial": true,
                   "early_payment_discount": {"percent": "2", "within_days": 10}}),
        )
        .await;
    (app, seller, terms)
}

async fn pay(app: &TestApp, token: &str, amount: &str) -> Value {
    let card = app.card_token_for(token, VISA).await;
    let r = app
        .pay(token, &uuid::Uuid::now_v7().to_string(), amount, &card)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn a_discounted_payment_closes_the_invoice_and_reaches_the_erp(backend: Backend) {
    let erp = FakeErp::start().await;
    let (app, seller, terms) = setup(backend, &erp).await;
    let invoice = app
        .invoice_with(
            &seller,
            "USD",
            "1000.00",
            json!({"terms_id": terms, "external_ref": "145"}),
        )
        .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    let (_, token) = app.link(&seller, &id).await;
    let view = app.checkout(&token).await;
    assert_eq!(view["options"]["discount"]["amount"], "980.00");
    assert_eq!(view["options"]["discount"]["discount"], "20.00");
    let paid = pay(&app, &token, "980.00").await;
    assert_eq!(paid["payment"]["discount"], "20.00");
    assert_eq!(paid["invoice"]["status"], "paid");
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(
        (
            seen["amount_paid"].as_str(),
            seen["discount_taken"].as_str(),
            seen["balance_due"].as_str(),
            seen["status"].as_str()
        ),
        (Some("980.00"), Some("20.00"), Some("0.00"), Some("paid"))
    );

    let erp_ref = &erp;
    let hook = eventually("the payment webhook", Duration::from_secs(10), || async move {
        erp_ref
            .bodies("/hooks")
            .into_iter()
            .find(|b| b["type"] == "payment.succeeded")
    })
    .await;
    assert_eq!(hook["data"]["discount"], "20.00");
    assert_eq!(hook["data"]["amount"], "980.00");
    assert_eq!(hook["data"]["invoice_status_after"], "paid");
    assert_eq!(hook["data"]["invoice_balance_after"], "0.00");
    eventually(
        "the invoice.paid webhook",
        Duration::from_secs(10),
        || async move {
            erp_ref
                .bodies("/hooks")
                .into_iter()
                .find(|b| b["type"] == "invoice.paid")
        },
    )
    .await;
    let qbo = eventually("the QuickBooks Payment", Duration::from_secs(10), || async move {
        erp_ref.bodies("/payment").into_iter().next()
    })
    .await;
    assert!(qbo.to_string().contains("\"TotalAmt\":980.0"), "{qbo}");
    assert_eq!(qbo["Line"][0]["LinkedTxn"][0]["TxnId"], "145");
    let note = qbo["PrivateNote"].as_str().unwrap();
    assert!(note.contains("early-payment discount 20.00 USD"), "{note}");
}
both_backends!(a_discounted_payment_closes_the_invoice_and_reaches_the_erp);

async fn after_the_window_the_same_amount_takes_no_discount(backend: Backend) {
    let erp = FakeErp::start().await;
    let (app, seller, terms) = setup(backend, &erp).await;
    let invoice = app
        .invoice_with(
            &seller,
            "USD",
            "1000.00",
            json!({"terms_id": terms, "external_ref": "146"}),
        )
        .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    // Day 11: the 10-day window (inclusive) has closed.
    app.state.clock().advance(11 * 86_400_000);
    let (_, token) = app.link(&seller, &id).await;
    let view = app.checkout(&token).await;
    assert!(view["options"].get("discount").is_none(), "{view}");
    let paid = pay(&app, &token, "980.00").await;
    assert!(paid["payment"].get("discount").is_none() || paid["payment"]["discount"].is_null());
    let seen = app.get_invoice(&seller, &id).await;
    assert_eq!(seen["status"], "partially_paid");
    assert_eq!(seen["discount_taken"], "0.00");
    assert_eq!(seen["balance_due"], "20.00");
    let erp_ref = &erp;
    let qbo = eventually("the QuickBooks Payment", Duration::from_secs(10), || async move {
        erp_ref.bodies("/payment").into_iter().next()
    })
    .await;
    assert!(
        !qbo["PrivateNote"].as_str().unwrap().contains("discount"),
        "{qbo}"
    );
}
both_backends!(after_the_window_the_same_amount_takes_no_discount);
