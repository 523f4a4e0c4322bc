//! The outbound client against real receivers on loopback: names that resolve to private addresses are
//! refused when connecting (DNS rebinding), IP literals by `outbound::guard`, redirects are answers rather
//! than instructions, and a destination that drops SYNs is given up after the 5 s connect timeout.
//! (Certificate roots from SSL_CERT_FILE/SSL_CERT_DIR change process-wide env vars: tests/outbound_roots.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod outbound_support;

use std::time::{Duration, Instant};

use outbound_support::{chain, http_receiver, settings, OK};
use tranche_api::outbound::{client, guard, DestinationError, DestinationPolicy};

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_at_connect_time() {
    // `localhost` stands for a seller's host name that resolved to a public address at registration and
    // now resolves to loopback: nothing checks it before the send, only the client's resolver.
    let receiver = http_receiver(OK.to_owned()).await;
    let url = format!("http://localhost:{}/hook", receiver.port());

    let strict = client(&settings(false)).unwrap();
    let error = strict.post(&url).body("{}").send().await.unwrap_err();
    assert!(error.is_connect(), "a connect error, not {error:?}");
    let why = chain(&error);
    assert!(why.contains(&DestinationError::Private.to_string()), "{why}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        receiver.connections(),
        0,
        "no connection may reach the private address"
    );

    let open = client(&settings(true)).unwrap();
    let response = open.post(&url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(receiver.requests(), 1);
}

#[tokio::test]
async fn ip_literal_destinations_are_refused_by_guard_before_sending() {
    // Literal hosts never reach a resolver, so callers guard every URL before sending: as they do here.
    async fn send_guarded(policy: DestinationPolicy, url: &str) -> Result<u16, DestinationError> {
        let url = reqwest::Url::parse(url).unwrap();
        guard(policy, &url)?;
        let settings = settings(policy.allow_private);
        let response = client(&settings).unwrap().post(url).send().await.unwrap();
        Ok(response.status().as_u16())
    }
    let receiver = http_receiver(OK.to_owned()).await;
    let port = receiver.port();
    let strict = DestinationPolicy::default();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"), // 127.0.0.1 spelled as one number
        format!("http://0x7f.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        assert_eq!(
            send_guarded(strict, &url).await,
            Err(DestinationError::Private),
            "{url}"
        );
    }
    assert_eq!(receiver.connections(), 0);
    let open = DestinationPolicy { allow_private: true };
    assert_eq!(
        send_guarded(open, &format!("http://127.0.0.1:{port}/hook")).await,
        Ok(200)
    );
    assert_eq!(receiver.requests(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = http_receiver(OK.to_owned()).await;
    let redirecting = http_receiver(format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/stolen\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        elsewhere.port()
    ))
    .await;
    let open = client(&settings(true)).unwrap();
    let response = open
        .post(format!("http://127.0.0.1:{}/hook", redirecting.port()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "the 3xx is the answer");
    assert_eq!(redirecting.requests(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        elsewhere.connections(),
        0,
        "the redirect target is never contacted"
    );
}

#[tokio::test]
async fn a_black_holed_destination_is_given_up_after_the_connect_timeout() {
    // A listener whose accept queue is full: Linux drops further SYNs, exactly like a firewall that
    // black-holes a port, so the connect hangs until the client gives up.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut filling = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => filling.push(stream),
            _ => break,
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr))
            .await
            .is_err(),
        "the accept queue is full: connects hang"
    );

    let mut long_attempts = settings(true);
    long_attempts.erp.attempt_timeout_ms = 30_000;
    let started = Instant::now();
    let error = client(&long_attempts)
        .unwrap()
        .post(format!("http://{addr}/hook"))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(error.is_connect() || error.is_timeout(), "{error:?}");
    // Not a speed goal: the bound only tells the 5 s connect timeout from the 30 s attempt timeout, with
    // room for a loaded CI machine.
    assert!(
        waited >= Duration::from_millis(4_500) && waited < Duration::from_secs(20),
        "gave up after {waited:?}: the connect timeout is 5 s, the attempt timeout 30 s"
    );
    drop((listener, filling));
}
