//! Behind a proxy: the client address comes from `X-Forwarded-For` only when the TCP peer is a trusted
//! proxy, and IPv6 clients are rate-limited per /64. Exercised through the failed-token limiter of the real
//! server (three bad checkout tokens per client per minute here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app_with, Backend, TestApp};

async fn bad_token_from(app: &TestApp, forwarded_for: &str) -> u16 {
    app.client
        .get(app.url("/v1/checkout"))
        .bearer_auth("not-a-token")
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn app(trusted: &str) -> TestApp {
    let trusted = tranche_api::client_ip::parse_cidrs(trusted).unwrap();
    spawn_app_with(Backend::Sqlite, move |s| {
        s.rate_limits.token_failures_per_ip_per_minute = 3;
        s.trusted_proxies = trusted;
    })
    .await
}

#[tokio::test]
async fn a_trusted_proxy_reports_each_client_separately() {
    let app = app("127.0.0.1/32").await;
    for _ in 0..3 {
        assert_eq!(bad_token_from(&app, "203.0.113.5").await, 401);
    }
    assert_eq!(
        bad_token_from(&app, "203.0.113.5").await,
        429,
        "client A is over its quota"
    );
    assert_eq!(bad_token_from(&app, "203.0.113.6").await, 401, "client B is not");
    // A client cannot escape by writing its own header: the proxy appends the real address on the right.
    assert_eq!(
        bad_token_from(&app, "198.51.100.99, 203.0.113.5").await,
        429,
        "a spoofed leftmost hop is ignored"
    );
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_peers_are_ignored() {
    // No trusted proxies: every request is the loopback peer, whatever it claims.
    let app = app("").await;
    for (i, claimed) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"].iter().enumerate() {
        assert_eq!(bad_token_from(&app, claimed).await, 401, "request {i}");
    }
    assert_eq!(bad_token_from(&app, "203.0.113.4").await, 429);
    // A proxy list that does not include the peer is the same.
    let app = app_with_other_proxy().await;
    for _ in 0..3 {
        bad_token_from(&app, "203.0.113.1").await;
    }
    assert_eq!(bad_token_from(&app, "203.0.113.9").await, 429);
}

async fn app_with_other_proxy() -> TestApp {
    app("10.0.0.0/8").await
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64() {
    let app = app("127.0.0.1/32").await;
    assert_eq!(bad_token_from(&app, "2001:db8:1:2::1").await, 401);
    assert_eq!(bad_token_from(&app, "2001:db8:1:2::2").await, 401);
    assert_eq!(bad_token_from(&app, "2001:db8:1:2:ffff:1:2:3").await, 401);
    assert_eq!(
        bad_token_from(&app, "2001:db8:1:2:9999::9").await,
        429,
        "the fourth address of one /64 shares the quota"
    );
    assert_eq!(
        bad_token_from(&app, "2001:db8:1:3::1").await,
        401,
        "the next /64 does not"
    );
}
