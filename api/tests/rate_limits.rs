//! Rate limits: past the quota a client gets 429 with Retry-After, and the gateway never sees more payment
//! attempts than the quota allows (no card-testing amplification through one link or one client).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app_with, Backend};
use tranche_api::rate_limit::RateLimitSettings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_attempts_per_link_are_capped_before_the_gateway() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = RateLimitSettings {
            payments_per_link_per_minute: 3,
            ..RateLimitSettings::unlimited()
        }
    })
    .await;
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "1000.00", None).await;
    let id = invoice["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, id).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        // Declined cards too: a card tester's attempts count whether or not they succeed.
        let card = if i % 2 == 0 {
            "4242424242424242"
        } else {
            "4000000000000002"
        };
        let pm = app.card_token_for(&token, card).await;
        let r = app.pay(&token, &format!("key-{i}"), "10.00", &pm).await;
        let status = r.status().as_u16();
        if status == 429 {
            let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
            expect_problem(r, 429, "rate_limited").await;
        }
        statuses.push(status);
    }
    assert_eq!(statuses, vec![201, 402, 201, 429, 429, 429]);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await,
        3,
        "gateway saw only the quota"
    );
    assert_eq!(app.get_invoice(&seller, id).await["amount_paid"], "20.00");

    // Another link (another invoice) has its own quota.
    let other = app.invoice(&seller, "USD", "50.00", None).await;
    let (_, token2) = app.link(&seller, other["id"].as_str().unwrap()).await;
    let pm = app.card_token_for(&token2, "4242424242424242").await;
    assert_eq!(app.pay(&token2, "other-1", "50.00", &pm).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_attempts_per_ip_span_links() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = RateLimitSettings {
            payments_per_ip_per_minute: 2,
            ..RateLimitSettings::unlimited()
        }
    })
    .await;
    let seller = app.seller("S").await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let inv = app.invoice(&seller, "USD", "10.00", None).await;
        let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
        let pm = app.card_token_for(&token, "4242424242424242").await;
        statuses.push(
            app.pay(&token, &format!("k{i}"), "10.00", &pm)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![201, 201, 429]);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_failures_then_429_while_valid_tokens_still_work() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = RateLimitSettings {
            token_failures_per_ip_per_minute: 3,
            ..RateLimitSettings::unlimited()
        }
    })
    .await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "10.00", None).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    for _ in 0..3 {
        expect_problem(
            app.get("/v1/checkout", "not-a-token").await,
            401,
            "invalid_checkout_token",
        )
        .await;
    }
    let r = app.get("/v1/checkout", "still-not-a-token").await;
    assert!(r.headers().contains_key("retry-after"));
    expect_problem(r, 429, "rate_limited").await;
    // A genuine buyer behind the same address is not locked out.
    assert_eq!(app.checkout(&token).await["invoice"]["balance_due"], "10.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_tokenization_per_ip() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = RateLimitSettings {
            tokenize_per_ip_per_minute: 2,
            ..RateLimitSettings::unlimited()
        }
    })
    .await;
    let seller = app.seller("S").await;
    let invoice = app.invoice(&seller, "USD", "10.00", None).await;
    let (_, token) = app.link(&seller, invoice["id"].as_str().unwrap()).await;
    app.card_token_for(&token, "4242424242424242").await;
    app.card_token_for(&token, "4242424242424242").await;
    let r = app
        .tokenize(
            &token,
            serde_json::json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}),
        )
        .await;
    expect_problem(r, 429, "rate_limited").await;
}
