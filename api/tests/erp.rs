//! ERP posting end to end (issue 6): signed webhooks to a real HTTP receiver, retries, 410/429, dead
//! letters and replay, the QuickBooks connector, receipt emails over SMTP, two API nodes sharing one
//! PostgreSQL database, and a crash of the real binary between commit and delivery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use common::smtp::{text_body, SmtpSink};
use common::{
    eventually, expect_problem, fast, postgres_url, spawn_app_on, spawn_app_with, stand_in, Backend,
    SellerCtx, TestApp,
};
use serde_json::{json, Value};
use tranche_api::config::Settings;
use tranche_api::erp::signature::{self, VerifyError};

const VISA: &str = "4242424242424242";

// ---------------------------------------------------------------------------------------------------
// A webhook receiver: a real HTTP server that records every request and answers from a script.

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    answered: u16,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or_else(
            || panic!("no {name} header in {:?}", self.headers),
            String::as_str,
        )
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn webhook_id(&self) -> String {
        self.header("webhook-id").to_owned()
    }

    /// Verifies the Standard Webhooks signature of this request as a receiver would, now.
    fn verify(&self, secret: &str, body: &[u8]) -> Result<(), VerifyError> {
        signature::verify(
            secret,
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.header("webhook-signature"),
            body,
            unix_now(),
        )
    }
}

/// A scripted answer: status and optional `Retry-After`.
type Reply = (u16, Option<&'static str>);

struct Inbox {
    hits: Mutex<Vec<Hit>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
}

struct Receiver {
    port: u16,
    inbox: Arc<Inbox>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    /// A receiver on `port` (0: a free one), e.g. one that was closed while the relay tried it.
    async fn start_on(port: u16) -> Receiver {
        let inbox = Arc::new(Inbox {
            hits: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new((200, None)),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let data = web::Data::new(inbox.clone());
        let (port, handle) = stand_in::serve(listener, move |app| {
            app.app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(record));
        });
        Receiver { port, inbox, handle }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self) -> Vec<Hit> {
        self.inbox.hits.lock().unwrap().clone()
    }

    /// The next answers, in order; afterwards the default answer.
    fn script(&self, replies: &[Reply]) {
        self.inbox.script.lock().unwrap().extend(replies.iter().copied());
    }

    fn answer_by_default(&self, reply: Reply) {
        *self.inbox.default.lock().unwrap() = reply;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Sends the stop command; nothing needs to wait for it.
        drop(self.handle.stop(false));
    }
}

async fn record(request: HttpRequest, body: web::Bytes, inbox: web::Data<Arc<Inbox>>) -> HttpResponse {
    let default = *inbox.default.lock().unwrap();
    let (status, retry_after) = inbox.script.lock().unwrap().pop_front().unwrap_or(default);
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    inbox.hits.lock().unwrap().push(Hit {
        at: Instant::now(),
        path: request.path().to_owned(),
        headers,
        body: body.to_vec(),
        answered: status,
    });
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(seconds) = retry_after {
        response.insert_header(("retry-after", seconds));
    }
    response.finish()
}

// ---------------------------------------------------------------------------------------------------
// Helpers.

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A port nothing listens on (bound, then released), for "the receiver is down".
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn create_endpoint(app: &TestApp, seller: &SellerCtx, kind: &str, url: &str) -> Value {
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"url": url, "kind": kind}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// The seller's deliveries (newest first), optionally of one status.
async fn deliveries(app: &TestApp, seller: &SellerCtx, status: Option<&str>) -> Vec<Value> {
    let path = match status {
        Some(s) => format!("/v1/erp/deliveries?status={s}&limit=100"),
        None => "/v1/erp/deliveries?limit=100".to_owned(),
    };
    let r = app.get(&path, &seller.key).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let list: Value = r.json().await.unwrap();
    list["data"].as_array().unwrap().clone()
}

/// The seller's deliveries of one kind.
async fn deliveries_of(app: &TestApp, seller: &SellerCtx, kind: &str) -> Vec<Value> {
    deliveries(app, seller, None)
        .await
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect()
}

/// An invoice of `amount` USD with a checkout link and a card: `(invoice, checkout token, card token)`.
async fn payable(app: &TestApp, seller: &SellerCtx, amount: &str) -> (Value, String, String) {
    let invoice = app.invoice(seller, "USD", amount, None).await;
    let (_, token) = app.link(seller, invoice["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token, VISA).await;
    (invoice, token, card)
}

/// Pays and asserts success; returns the response body.
/// Pays with a fresh card token for this checkout (tokens are single-use and bound to their checkout, so
/// `_card` only says a card is meant).
async fn pay_ok(app: &TestApp, token: &str, amount: &str, _card: &str) -> Value {
    let key = uuid::Uuid::now_v7().to_string();
    let card = app.card_token_for(token, VISA).await;
    let r = app.pay(token, &key, amount, &card).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["payment"]["status"], "succeeded");
    paid
}

// ---------------------------------------------------------------------------------------------------
// 1, 2. Signed webhooks with the receipt, fast; tampering and staleness are detected.

async fn webhook_is_signed_and_carries_the_receipt(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    let endpoint = create_endpoint(&app, &seller, "webhook", &receiver.url("/hooks/tranche")).await;
    let secret = endpoint["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    assert_eq!(endpoint["disabled_at"], Value::Null);
    // The secret is shown once, at creation.
    let r = app
        .get(
            &format!("/v1/erp/endpoints/{}", endpoint["id"].as_str().unwrap()),
            &seller.key,
        )
        .await;
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["signing_secret"], Value::Null, "{shown}");
    assert_eq!(shown["url"], receiver.url("/hooks/tranche"));

    let (invoice, token, card) = payable(&app, &seller, "1000.00").await;
    let paid = pay_ok(&app, &token, "250.00", &card).await;
    let r = &receiver;
    let hit = eventually(
        "the payment.succeeded webhook",
        Duration::from_secs(1),
        || async move { r.hits().into_iter().next() },
    )
    .await;

    assert_eq!(hit.path, "/hooks/tranche");
    assert_eq!(hit.answered, 200);
    assert_eq!(hit.header("content-type"), "application/json");
    assert!(
        hit.header("webhook-signature").starts_with("v1,"),
        "{:?}",
        hit.headers
    );
    hit.verify(&secret, &hit.body).unwrap();
    let event = hit.json();
    assert_eq!(event["id"], hit.webhook_id());
    assert_eq!(event["type"], "payment.succeeded");
    let data = &event["data"];
    assert_eq!(data["payment_id"], paid["payment"]["id"]);
    assert_eq!(data["amount"], "250.00");
    assert_eq!(data["currency"], "USD");
    assert_eq!(data["invoice_id"], invoice["id"]);
    assert_eq!(data["invoice_number"], invoice["number"]);
    assert_eq!(data["customer"]["id"], seller.customer_id.as_str());
    assert_eq!(data["customer"]["email"], "ap@acme.example");
    assert_eq!(data["customer"]["name"], "Acme Buyer");
    assert_eq!(data["invoice_balance_after"], "750.00");
    assert_eq!(data["invoice_status_after"], "partially_paid");

    // 2. One byte changed, an old timestamp, another id or another secret: refused.
    let mut tampered = hit.body.clone();
    let at = hit
        .body
        .windows(6)
        .position(|w| w == b"250.00")
        .expect("amount in body");
    tampered[at] = b'9';
    assert_eq!(hit.verify(&secret, &tampered), Err(VerifyError::NoMatch));
    assert_eq!(
        signature::verify(
            &secret,
            hit.header("webhook-id"),
            hit.header("webhook-timestamp"),
            hit.header("webhook-signature"),
            &hit.body,
            unix_now() + signature::TOLERANCE_SECONDS + 60,
        ),
        Err(VerifyError::StaleTimestamp)
    );
    assert_eq!(
        signature::verify(
            &secret,
            "evt_someone_else",
            hit.header("webhook-timestamp"),
            hit.header("webhook-signature"),
            &hit.body,
            unix_now(),
        ),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(
        hit.verify(&signature::new_secret(), &hit.body),
        Err(VerifyError::NoMatch)
    );

    // Paying the rest: another receipt, and invoice.paid.
    let last = pay_ok(&app, &token, "750.00", &card).await;
    let hits = eventually("two more webhooks", Duration::from_secs(1), || async move {
        let hits = r.hits();
        (hits.len() >= 3).then_some(hits)
    })
    .await;
    for h in &hits {
        h.verify(&secret, &h.body).unwrap();
    }
    let mut types: Vec<String> = hits
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["invoice.paid", "payment.succeeded", "payment.succeeded"]);
    let ids: HashSet<String> = hits.iter().map(Hit::webhook_id).collect();
    assert_eq!(ids.len(), 3, "every event has its own webhook-id");
    let receipt = hits
        .iter()
        .map(Hit::json)
        .find(|e| e["type"] == "payment.succeeded" && e["data"]["payment_id"] == last["payment"]["id"])
        .expect("second receipt");
    assert_eq!(receipt["data"]["amount"], "750.00");
    assert_eq!(receipt["data"]["invoice_balance_after"], "0.00");
    assert_eq!(receipt["data"]["invoice_status_after"], "paid");
    let paid_event = hits
        .iter()
        .map(Hit::json)
        .find(|e| e["type"] == "invoice.paid")
        .unwrap();
    assert_eq!(paid_event["data"]["invoice_id"], invoice["id"]);
    assert_eq!(paid_event["data"]["invoice_number"], invoice["number"]);
    assert_eq!(paid_event["data"]["total"], "1000.00");
    assert_eq!(paid_event["data"]["currency"], "USD");

    // The seller sees the three webhook deliveries as delivered on the first attempt.
    let (a, s) = (&app, &seller);
    let delivered = eventually("deliveries recorded", Duration::from_secs(5), || async move {
        let d: Vec<Value> = deliveries(a, s, Some("delivered"))
            .await
            .into_iter()
            .filter(|d| d["kind"] == "webhook")
            .collect();
        (d.len() == 3).then_some(d)
    })
    .await;
    for d in &delivered {
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(d["last_status_code"], 200, "{d}");
        assert_eq!(d["endpoint_id"], endpoint["id"]);
        assert!(ids.contains(d["event_id"].as_str().unwrap()), "{d}");
    }
    assert_eq!(receiver.hits().len(), 3, "nothing was delivered twice");
}
both_backends!(webhook_is_signed_and_carries_the_receipt);

#[test]
fn signatures_detect_tampering_and_staleness() {
    let secret = signature::new_secret();
    let body = br#"{"type":"payment.succeeded","data":{"amount":"250.00"}}"#;
    let now = unix_now();
    let sig = signature::sign(&secret, "evt_1", now, body).unwrap();
    let ts = now.to_string();
    assert_eq!(signature::verify(&secret, "evt_1", &ts, &sig, body, now), Ok(()));
    for i in 0..body.len() {
        let mut tampered = body.to_vec();
        tampered[i] ^= 0x01;
        assert_eq!(
            signature::verify(&secret, "evt_1", &ts, &sig, &tampered, now),
            Err(VerifyError::NoMatch),
            "byte {i}"
        );
    }
    // Within tolerance either way is accepted; beyond it is stale, even with a valid signature.
    let tol = signature::TOLERANCE_SECONDS;
    assert_eq!(
        signature::verify(&secret, "evt_1", &ts, &sig, body, now + tol),
        Ok(())
    );
    assert_eq!(
        signature::verify(&secret, "evt_1", &ts, &sig, body, now + tol + 1),
        Err(VerifyError::StaleTimestamp)
    );
    assert_eq!(
        signature::verify(&secret, "evt_1", &ts, &sig, body, now - tol - 1),
        Err(VerifyError::StaleTimestamp)
    );
    // A replayed signature with a refreshed timestamp does not match.
    let fresh = (now + 10).to_string();
    assert_eq!(
        signature::verify(&secret, "evt_1", &fresh, &sig, body, now + 10),
        Err(VerifyError::NoMatch)
    );
}

// ---------------------------------------------------------------------------------------------------
// 3. Retries: errors then success, the same webhook-id each time; a receiver down, then up.

async fn retries_keep_the_webhook_id(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.script(&[(500, None), (503, None), (500, None)]);
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400, 800])).await;
    let seller = app.seller("Northwind").await;
    let endpoint = create_endpoint(&app, &seller, "webhook", &receiver.url("/hook")).await;
    let secret = endpoint["signing_secret"].as_str().unwrap().to_owned();
    let (_, token, card) = payable(&app, &seller, "1000.00").await;
    pay_ok(&app, &token, "100.00", &card).await;

    let (a, s) = (&app, &seller);
    let delivery = eventually(
        "the delivery to succeed",
        Duration::from_secs(10),
        || async move {
            deliveries(a, s, Some("delivered"))
                .await
                .into_iter()
                .find(|d| d["kind"] == "webhook")
        },
    )
    .await;
    assert_eq!(delivery["attempts"], 4, "{delivery}");
    assert_eq!(delivery["last_status_code"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    let hits = receiver.hits();
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 503, 500, 200]
    );
    for h in &hits {
        assert_eq!(h.webhook_id(), delivery["event_id"].as_str().unwrap());
        assert_eq!(h.body, hits[0].body, "the same message on every attempt");
        h.verify(&secret, &h.body).unwrap();
    }
    // Backoff: the attempts are spread out, not hammered.
    assert!(hits[3].at.duration_since(hits[0].at) >= Duration::from_millis(550));
}
both_backends!(retries_keep_the_webhook_id);

async fn receiver_down_then_up_is_delivered_once(backend: Backend) {
    let port = closed_port();
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 300, 400, 800, 1600, 3200])).await;
    let seller = app.seller("Northwind").await;
    create_endpoint(&app, &seller, "webhook", &format!("http://127.0.0.1:{port}/hook")).await;
    let (_, token, card) = payable(&app, &seller, "1000.00").await;
    // The payment does not wait for the ERP.
    pay_ok(&app, &token, "100.00", &card).await;

    let (a, s) = (&app, &seller);
    let failing = eventually("failed attempts", Duration::from_secs(5), || async move {
        deliveries_of(a, s, "webhook")
            .await
            .into_iter()
            .find(|d| d["attempts"].as_i64() >= Some(2))
    })
    .await;
    assert_eq!(failing["status"], "pending", "{failing}");
    assert_eq!(failing["last_error"], "could not connect");
    assert!(failing["next_attempt_at"].is_string(), "{failing}");

    let receiver = Receiver::start_on(port).await;
    let delivered = eventually(
        "delivery after recovery",
        Duration::from_secs(10),
        || async move {
            deliveries(a, s, Some("delivered"))
                .await
                .into_iter()
                .find(|d| d["kind"] == "webhook")
        },
    )
    .await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "delivered once");
    assert_eq!(hits[0].webhook_id(), delivered["event_id"].as_str().unwrap());
    assert!(delivered["attempts"].as_i64().unwrap() >= 2, "{delivered}");
}
both_backends!(receiver_down_then_up_is_delivered_once);

// ---------------------------------------------------------------------------------------------------
// 4. 410 Gone disables the endpoint; 429 Retry-After is honoured.

async fn gone_disables_the_endpoint(backend: Backend) {
    let gone = Receiver::start().await;
    gone.script(&[(410, None)]);
    let healthy = Receiver::start().await;
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    let endpoint = create_endpoint(&app, &seller, "webhook", &gone.url("/old")).await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    create_endpoint(&app, &seller, "webhook", &healthy.url("/new")).await;
    let (_, token, card) = payable(&app, &seller, "1000.00").await;
    pay_ok(&app, &token, "100.00", &card).await;

    let (a, s, id) = (&app, &seller, endpoint_id.as_str());
    let disabled = eventually(
        "the endpoint to be disabled",
        Duration::from_secs(5),
        || async move {
            let v: Value = a
                .get(&format!("/v1/erp/endpoints/{id}"), &s.key)
                .await
                .json()
                .await
                .unwrap();
            v["disabled_at"].is_string().then_some(v)
        },
    )
    .await;
    assert!(
        disabled["disabled_reason"].as_str().unwrap().contains("410"),
        "{disabled}"
    );
    let r = app.get("/v1/erp/endpoints", &seller.key).await;
    let list: Value = r.json().await.unwrap();
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap()
        .clone();
    assert!(listed["disabled_at"].is_string(), "{listed}");

    let dead = eventually("the dead delivery", Duration::from_secs(5), || async move {
        deliveries(a, s, Some("dead"))
            .await
            .into_iter()
            .find(|d| d["endpoint_id"] == id)
    })
    .await;
    assert_eq!(dead["attempts"], 1, "{dead}");
    assert_eq!(dead["last_status_code"], 410);
    // Replaying to a disabled endpoint is refused.
    let r = app
        .post(
            &format!("/v1/erp/deliveries/{}/retry", dead["id"].as_str().unwrap()),
            &seller.key,
            json!({}),
        )
        .await;
    expect_problem(r, 409, "endpoint_disabled").await;

    // The next payment reaches the healthy endpoint only.
    pay_ok(&app, &token, "100.00", &card).await;
    let h = &healthy;
    eventually(
        "both receipts at the healthy endpoint",
        Duration::from_secs(5),
        || async move { (h.hits().len() >= 2).then_some(()) },
    )
    .await;
    assert_eq!(gone.hits().len(), 1, "nothing more is sent to a gone endpoint");
    let to_gone = deliveries(&app, &seller, None)
        .await
        .into_iter()
        .filter(|d| d["endpoint_id"] == id)
        .count();
    assert_eq!(to_gone, 1, "no delivery is even queued for a disabled endpoint");
}
both_backends!(gone_disables_the_endpoint);

async fn retry_after_is_honoured(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.script(&[(429, Some("1"))]);
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = app.seller("Northwind").await;
    create_endpoint(&app, &seller, "webhook", &receiver.url("/hook")).await;
    let (_, token, card) = payable(&app, &seller, "1000.00").await;
    pay_ok(&app, &token, "100.00", &card).await;
    let r = &receiver;
    let hits = eventually("the retry after 429", Duration::from_secs(5), || async move {
        let hits = r.hits();
        (hits.len() >= 2).then_some(hits)
    })
    .await;
    let gap = hits[1].at.duration_since(hits[0].at);
    assert!(
        gap >= Duration::from_millis(900),
        "retried {gap:?} after a 429 with Retry-After: 1"
    );
    assert!(
        gap < Duration::from_secs(3),
        "retried {gap:?} after a 429 with Retry-After: 1"
    );
    assert_eq!(hits[0].webhook_id(), hits[1].webhook_id());
    assert_eq!((hits[0].answered, hits[1].answered), (429, 200));
    let (a, s) = (&app, &seller);
    let delivered = eventually("delivered", Duration::from_secs(5), || async move {
        deliveries(a, s, Some("delivered"))
            .await
            .into_iter()
            .find(|d| d["kind"] == "webhook")
    })
    .await;
    assert_eq!(delivered["attempts"], 2);
}
both_backends!(retry_after_is_honoured);

async fn endless_429_is_dead_lettered(backend: Backend) {
    // A receiver that always rate-limits (even with Retry-After: 0) still exhausts the schedule.
    let receiver = Receiver::start().await;
    receiver.answer_by_default((429, Some("0")));
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200])).await;
    let seller = app.seller("Northwind").await;
    create_endpoint(&app, &seller, "webhook", &receiver.url("/hook")).await;
    let (_, token, card) = payable(&app, &seller, "1000.00").await;
    pay_ok(&app, &token, "100.00", &card).await;
    let (a, s) = (&app, &seller);
    let dead = eventually("the dead letter", Duration::from_secs(5), || async move {
        deliveries(a, s, Some("dead"))
            .await
            .into_iter()
            .find(|d| d["kind"] == "webhook")
    })
    .await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert_eq!(dead["last_status_code"], 429);
    assert_eq!(receiver.hits().len(), 3);
}
both_backends!(endless_429_is_dead_lettered);

// ---------------------------------------------------------------------------------------------------
// 5. Dead letter, then replay.

async fn dead_letter_then_replay(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.answer_by_default((500, None));
    let app = spawn_app_with(backend, |s| fast(s, &[50, 100])).await;
    let seller = app.seller("Northwind").await;
    let endpoint = create_endpoint(&app, &seller, "webhook", &receiver.url("/hook")).await;
    let secret = endpoint["signing_secret"].as_str().unwrap().to_owned();
    let (_, token, card) = payable(&app, &seller, "1000.00").await;
    let paid = pay_ok(&app, &token, "100.00", &card).await;
    let payment_id = paid["payment"]["id"].as_str().unwrap().to_owned();

    let (a, s) = (&app, &seller);
    let dead = eventually("the dead letter", Duration::from_secs(5), || async move {
        deliveries(a, s, Some("dead"))
            .await
            .into_iter()
            .find(|d| d["kind"] == "webhook")
    })
    .await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert_eq!(dead["last_status_code"], 500);
    assert!(dead["last_error"].as_str().unwrap().contains("500"), "{dead}");
    assert_eq!(dead["next_attempt_at"], Value::Null);
    assert_eq!(receiver.hits().len(), 3);
    // The payment shows its posting failed (the email receipt went out).
    let p = &payment_id;
    let view: Value = app
        .get(&format!("/v1/payments/{p}"), &seller.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["erp_posting"]["status"], "failed", "{view}");

    // Unknown delivery: 404.
    let r = app
        .post("/v1/erp/deliveries/dlv_nope/retry", &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 404);

    receiver.answer_by_default((200, None));
    let dead_id = dead["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/v1/erp/deliveries/{dead_id}/retry"),
            &seller.key,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let replay: Value = r.json().await.unwrap();
    assert_eq!(replay["id"], dead_id.as_str());
    let id = dead_id.as_str();
    let delivered = eventually("the replay", Duration::from_secs(5), || async move {
        deliveries(a, s, Some("delivered"))
            .await
            .into_iter()
            .find(|d| d["id"] == id)
    })
    .await;
    assert_eq!(delivered["attempts"], 4);
    assert_eq!(delivered["last_status_code"], 200);
    assert!(delivered["delivered_at"].is_string());
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4);
    assert_eq!(hits[3].answered, 200);
    assert_eq!(hits[3].webhook_id(), dead["event_id"].as_str().unwrap());
    hits[3].verify(&secret, &hits[3].body).unwrap();
    let view: Value = eventually("posting delivered", Duration::from_secs(5), || async move {
        let v: Value = a
            .get(&format!("/v1/payments/{p}"), &s.key)
            .await
            .json()
            .await
            .unwrap();
        (v["erp_posting"]["status"] == "delivered").then_some(v)
    })
    .await;
    assert_eq!(
        view["erp_posting"]["deliveries"].as_array().unwrap().len(),
        2,
        "{view}"
    );
}
both_backends!(dead_letter_then_replay);

// ---------------------------------------------------------------------------------------------------
// 6. QuickBooks Online: see erp_security.rs, against a stand-in for Intuit that checks OAuth and the
// Payment API to the published spec (each endpoint carries its own credentials; issue 13).

// ---------------------------------------------------------------------------------------------------
// 7. Receipt emails over SMTP.

async fn receipt_is_emailed(backend: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.smtp = Some(common::smtp::settings(port));
    })
    .await;
    let seller = app.seller("Northwind").await;
    let (invoice, token, card) = payable(&app, &seller, "1000.00").await;
    let number = invoice["number"].as_str().unwrap().to_owned();
    let paid = pay_ok(&app, &token, "250.00", &card).await;
    let sink_ref = &sink;
    let mail = eventually("the receipt email", Duration::from_secs(5), || async move {
        sink_ref.messages().into_iter().next()
    })
    .await;
    assert_eq!(mail.from, "receipts@northwind.example");
    assert_eq!(mail.to, ["ap@acme.example"]);
    // Long header lines are folded (RFC 5322 2.2.3): unfold before reading them.
    let headers = mail.data.replace("\r\n ", " ");
    assert!(
        headers.contains(&format!("Subject: Receipt for your payment on invoice {number}")),
        "{}",
        mail.data
    );
    let payment_id = paid["payment"]["id"].as_str().unwrap();
    assert!(
        headers.contains(&format!("Message-ID: <{payment_id}@tranche.receipts>")),
        "{}",
        mail.data
    );
    let text = text_body(&mail.data);
    for expected in [
        "Acme Buyer,",
        number.as_str(),
        "250.00 USD",
        "750.00 USD",
        "visa •••• 4242",
        "Northwind",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert!(text.contains("Amount paid"), "{text}");
    assert!(text.contains("Balance remaining"), "{text}");
    // The link to pay the rest is a working checkout link for this invoice.
    let prefix = format!("{}/pay/", app.base);
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no pay link in:\n{text}"));
    let rest_token: String = text[at + prefix.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let view = app.checkout(&rest_token).await;
    assert_eq!(view["invoice"]["id"], invoice["id"]);
    assert_eq!(view["invoice"]["balance_due"], "750.00");
    let (a, s) = (&app, &seller);
    eventually(
        "the email delivery recorded",
        Duration::from_secs(5),
        || async move {
            let d = deliveries_of(a, s, "email").await;
            (d.len() == 1 && d[0]["status"] == "delivered").then_some(())
        },
    )
    .await;

    // Paying the rest with that link: the receipt says paid in full, with no link.
    pay_ok(&app, &rest_token, "750.00", &card).await;
    let mails = eventually("the second receipt", Duration::from_secs(5), || async move {
        let m = sink_ref.messages();
        (m.len() >= 2).then_some(m)
    })
    .await;
    let text = text_body(&mails[1].data);
    assert!(text.contains("750.00 USD"), "{text}");
    assert!(text.contains("0.00 USD"), "{text}");
    assert!(text.contains("paid in full"), "{text}");
    assert!(!text.contains("/pay/"), "{text}");
    assert_eq!(sink.messages().len(), 2);
}
both_backends!(receipt_is_emailed);

async fn receipt_survives_an_smtp_outage(backend: Backend) {
    let port = closed_port();
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 300, 400, 800, 1600, 3200]);
        s.smtp = Some(common::smtp::settings(port));
    })
    .await;
    let seller = app.seller("Northwind").await;
    let (invoice, token, card) = payable(&app, &seller, "1000.00").await;
    // The payment succeeds at once although mail is down.
    let paid = pay_ok(&app, &token, "250.00", &card).await;
    assert_eq!(paid["invoice"]["balance_due"], "750.00");

    let (a, s) = (&app, &seller);
    let failing = eventually("failed send attempts", Duration::from_secs(5), || async move {
        deliveries_of(a, s, "email")
            .await
            .into_iter()
            .find(|d| d["attempts"].as_i64() >= Some(2))
    })
    .await;
    assert_eq!(failing["status"], "pending", "{failing}");
    assert!(
        failing["last_error"].as_str().unwrap().contains("SMTP"),
        "{failing}"
    );

    let sink = SmtpSink::start_on(port).await;
    let sink_ref = &sink;
    let mail = eventually(
        "the receipt after the outage",
        Duration::from_secs(10),
        || async move { sink_ref.messages().into_iter().next() },
    )
    .await;
    assert_eq!(mail.to, ["ap@acme.example"]);
    let text = text_body(&mail.data);
    assert!(
        text.contains(invoice["number"].as_str().unwrap()) && text.contains("250.00 USD"),
        "{text}"
    );
    eventually(
        "the email delivery recorded",
        Duration::from_secs(5),
        || async move {
            let d = deliveries_of(a, s, "email").await;
            (d.len() == 1 && d[0]["status"] == "delivered").then_some(())
        },
    )
    .await;
    assert_eq!(sink.messages().len(), 1, "sent once");
}
both_backends!(receipt_survives_an_smtp_outage);

// ---------------------------------------------------------------------------------------------------
// 8. Two API nodes on one PostgreSQL database share the relay: every event once.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_every_event_exactly_once() {
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none(),
            "TRANCHE_REQUIRE_POSTGRES is set but TRANCHE_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "TRANCHE_TEST_POSTGRES_URL not set: two-node relay test not run (cargo xtask test sets it)"
        );
        return;
    }
    const INVOICES: usize = 10;
    const PAYMENTS: usize = 500;
    let receiver = Receiver::start().await;
    let tweak = |s: &mut Settings| {
        fast(s, &[100, 200, 400, 800, 1600]);
        s.erp.attempt_timeout_ms = 20_000;
        s.erp.poll_interval_ms = 50;
        s.max_connections = 12;
        // 500 payments from one IP on ten links: far beyond the anti-card-testing quotas.
        s.rate_limits = tranche_api::rate_limit::RateLimitSettings::unlimited();
        // Nodes behind one load balancer share the public URL (the checkout token issuer).
        s.public_url = Some("http://tranche.test".to_owned());
    };
    let one = spawn_app_with(Backend::Postgres, tweak).await;
    let two = spawn_app_on(Backend::Postgres, one.database_url.clone(), tweak).await;
    let seller = one.seller("Northwind").await;
    create_endpoint(&one, &seller, "webhook", &receiver.url("/hook")).await;
    let mut tokens = Vec::new();
    for _ in 0..INVOICES {
        let invoice = one.invoice(&seller, "USD", "50.00", None).await;
        tokens.push(one.link(&seller, invoice["id"].as_str().unwrap()).await.1);
    }
    // One single-use card token per payment, bound to the payment's checkout.
    let mut cards = Vec::new();
    for i in 0..PAYMENTS {
        cards.push(one.card_token_for(&tokens[i % INVOICES], VISA).await);
    }
    let nodes = Arc::new([one, two]);
    let tokens = Arc::new(tokens);
    let card = Arc::new(cards);
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..PAYMENTS {
        let (nodes, tokens, card, permits) = (nodes.clone(), tokens.clone(), card.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let node = &nodes[i % 2];
            let r = node
                .pay(&tokens[i % INVOICES], &format!("two-nodes-{i}"), "1.00", &card[i])
                .await;
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let [one, _two] = &*nodes;
    let events: Vec<(String,)> = sqlx::query_as("SELECT id FROM outbox")
        .fetch_all(one.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        events.len(),
        PAYMENTS + INVOICES,
        "a receipt per payment, invoice.paid per invoice"
    );
    let r = &receiver;
    eventually(
        "every event at the receiver",
        Duration::from_secs(60),
        || async move {
            let pending = one
                // Webhooks and receipt emails (the emails queue in their own lane, at their own pace).
                .sql_count("SELECT COUNT(*) FROM deliveries WHERE status <> 'delivered'")
                .await;
            (pending == 0).then_some(())
        },
    )
    .await;
    let hits = r.hits();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for h in &hits {
        *seen.entry(h.webhook_id()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let expected: HashSet<String> = events.into_iter().map(|(id,)| id).collect();
    let got: HashSet<String> = seen.into_keys().collect();
    assert_eq!(got, expected);
    assert!(hits.iter().all(|h| h.answered == 200));
    assert_eq!(
        one.sql_count("SELECT COUNT(*) FROM deliveries WHERE kind = 'email' AND status = 'delivered'")
            .await,
        i64::try_from(PAYMENTS).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------------
// 9. The real binary is killed between commit and delivery; after a restart every event arrives once.

/// A running `tranche serve`; killed (SIGKILL) when dropped.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    async fn start(dir: &std::path::Path, database_url: &str, operator: &str) -> Server {
        let port = closed_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tranche"))
            .arg("serve")
            .current_dir(dir)
            .env("TRANCHE_CONFIG", dir.join("tranche.toml"))
            .env("TRANCHE_ADDR", format!("127.0.0.1:{port}"))
            .env("TRANCHE_DATABASE_URL", database_url)
            .env("TRANCHE_OPERATOR_TOKEN", operator)
            .env("TRANCHE_LOG", "info,sqlx=warn")
            // Not a rate-limit test: several payments from one IP on one link.
            .env("TRANCHE_RATE_PAYMENTS_PER_LINK", "0")
            .env("TRANCHE_RATE_PAYMENTS_PER_IP", "0")
            // The receivers listen on loopback, which the default destination policy refuses.
            .env("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", "true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let url = format!("{}/healthz", server.base);
        eventually("the server to listen", Duration::from_secs(30), || {
            let url = url.clone();
            async move {
                let r = reqwest::get(&url).await.ok()?;
                (r.status() == 200).then_some(())
            }
        })
        .await;
        server
    }

    /// SIGKILL: no graceful shutdown, nothing flushed beyond what was committed.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_commit_loses_no_event() {
    let dir = std::env::temp_dir()
        .join("tranche-tests")
        .join(format!("crash-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tranche.toml"),
        format!(
            "receipts_dir = {receipts:?}\n[erp]\nretry_schedule_ms = [100, 200, 400, 800, 1600, 3200, 6400]\n\
             poll_interval_ms = 25\nattempt_timeout_ms = 1000\n",
            receipts = dir.join("receipts").display().to_string()
        ),
    )
    .unwrap();
    let database_url = format!("sqlite://{}", dir.join("tranche.db").display());
    let operator = format!("op_{}", uuid::Uuid::now_v7().simple());
    let receiver_port = closed_port();

    let mut first = Server::start(&dir, &database_url, &operator).await;
    let http = reqwest::Client::new();
    let post = |base: String, key: String, path: &'static str, body: Value| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let base = first.base.clone();
    let seller = post(
        base.clone(),
        operator.clone(),
        "/v1/sellers",
        json!({"name": "Northwind"}),
    )
    .await;
    let key = seller["secret_key"].as_str().unwrap().to_owned();
    let customer = post(
        base.clone(),
        key.clone(),
        "/v1/customers",
        json!({"name": "Acme Buyer", "email": "ap@acme.example"}),
    )
    .await;
    post(
        base.clone(),
        key.clone(),
        "/v1/erp/endpoints",
        json!({"url": format!("http://127.0.0.1:{receiver_port}/hook"), "kind": "webhook"}),
    )
    .await;
    let mut links = Vec::new();
    for amount in ["1000.00", "300.00"] {
        let invoice = post(
            base.clone(),
            key.clone(),
            "/v1/invoices",
            json!({
                "number": format!("INV-{}", uuid::Uuid::now_v7().simple()),
                "customer_id": customer["id"], "currency": "USD",
                "issue_date": tranche_domain::wire::format_date(tranche_api::state::today()),
                "due_date": "2099-01-01",
                "lines": [{"description": "Goods", "quantity": "1", "unit_price": amount}],
            }),
        )
        .await;
        let id = invoice["id"].as_str().unwrap().to_owned();
        let link = http
            .post(format!("{base}/v1/invoices/{id}/checkout-links"))
            .bearer_auth(&key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(link.status(), 201);
        links.push((
            id,
            link.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    // Four payments settle the first invoice (4 receipts + invoice.paid), one is partial on the second.
    let plan = [
        (0, "250.00"),
        (0, "250.00"),
        (1, "100.00"),
        (0, "250.00"),
        (0, "250.00"),
    ];
    for (i, (which, amount)) in plan.iter().enumerate() {
        // A single-use card token bound to this payment's checkout.
        let card = http
            .post(format!("{base}/sandbox/v1/tokens"))
            .bearer_auth(&links[*which].1)
            .json(&json!({"card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = http
            .post(format!("{base}/v1/checkout/payments"))
            .bearer_auth(&links[*which].1)
            .header("idempotency-key", format!("crash-{i}"))
            .json(&json!({"amount": amount, "payment_token": card}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    // The last payment has committed: kill the node before the ERP has heard of anything.
    first.kill();

    let receiver = Receiver::start_on(receiver_port).await;
    let second = Server::start(&dir, &database_url, &operator).await;
    let base = second.base.clone();
    let expected_events = plan.len() + 1;
    // A delivery the killed node had claimed (it was mid-attempt) stays leased until its lease runs out
    // (attempt timeout + 30 s), so the slowest case waits about 31 s; the rest go out at once.
    let (h, b, k) = (&http, base.as_str(), key.as_str());
    let delivered = eventually(
        "every event after the restart",
        Duration::from_secs(60),
        || async move {
            let list: Value = h
                .get(format!("{b}/v1/erp/deliveries?limit=100"))
                .bearer_auth(k)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let webhooks: Vec<Value> = list["data"]
                .as_array()?
                .iter()
                .filter(|d| d["kind"] == "webhook")
                .cloned()
                .collect();
            (webhooks.len() == expected_events && webhooks.iter().all(|d| d["status"] == "delivered"))
                .then_some(webhooks)
        },
    )
    .await;
    let hits = receiver.hits();
    let ids: Vec<String> = hits.iter().map(Hit::webhook_id).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an event was delivered twice: {ids:?}");
    let expected: HashSet<String> = delivered
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), expected);
    let types: Vec<Value> = hits.iter().map(|h| h.json()["type"].clone()).collect();
    assert_eq!(types.iter().filter(|t| **t == "invoice.paid").count(), 1);
    // The payments themselves survived the crash.
    let invoice: Value = http
        .get(format!("{base}/v1/invoices/{}", links[0].0))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(invoice["status"], "paid");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------------
// A replay never races an attempt in flight.

async fn retry_refuses_a_delivery_in_flight(backend: Backend) {
    // The receiver is a closed port and the schedule long: the delivery sits pending after its first failure.
    let app = spawn_app_with(backend, |s| fast(s, &[60_000])).await;
    let seller = app.seller("Northwind").await;
    let url = format!("http://127.0.0.1:{}/hook", closed_port());
    create_endpoint(&app, &seller, "webhook", &url).await;
    let (_, token, card) = payable(&app, &seller, "100.00").await;
    pay_ok(&app, &token, "10.00", &card).await;
    let (a, s) = (&app, &seller);
    let delivery = eventually("a failed first attempt", Duration::from_secs(5), || async move {
        deliveries_of(a, s, "webhook")
            .await
            .into_iter()
            // Finished (its error recorded), not merely claimed: the relay has released its lease.
            .find(|d| {
                d["attempts"].as_i64() >= Some(1) && d["status"] == "pending" && d["last_error"].is_string()
            })
    })
    .await;
    let id = delivery["id"].as_str().unwrap().to_owned();
    // Simulate a relay holding it right now (lease in the future).
    sqlx::query("UPDATE deliveries SET locked_until = $1 WHERE id = $2")
        .bind(tranche_api::db::now_ms() + 60_000)
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app
        .post(&format!("/v1/erp/deliveries/{id}/retry"), &seller.key, json!({}))
        .await;
    common::expect_problem(r, 409, "delivery_in_progress").await;
    // Once the lease is over, the replay is accepted.
    sqlx::query("UPDATE deliveries SET locked_until = NULL WHERE id = $1")
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app
        .post(&format!("/v1/erp/deliveries/{id}/retry"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
both_backends!(retry_refuses_a_delivery_in_flight);

// ---------------------------------------------------------------------------------------------------
// Stored values this code does not know fail loudly: never read as a default or attempted as a guess.

async fn unknown_stored_values_fail_loudly(backend: Backend) {
    let app = spawn_app_with(backend, |s| fast(s, &[60_000])).await;
    let seller = app.seller("Northwind").await;
    let url = format!("http://127.0.0.1:{}/hook", closed_port());
    create_endpoint(&app, &seller, "webhook", &url).await;
    let (_, token, card) = payable(&app, &seller, "100.00").await;
    pay_ok(&app, &token, "10.00", &card).await;
    let (a, s) = (&app, &seller);
    let delivery = eventually("a failed first attempt", Duration::from_secs(5), || async move {
        deliveries_of(a, s, "webhook")
            .await
            .into_iter()
            .find(|d| d["status"] == "pending" && d["last_error"].is_string())
    })
    .await;
    let id = delivery["id"].as_str().unwrap().to_owned();
    let event_id = delivery["event_id"].as_str().unwrap().to_owned();
    let db = app.state.db.pool();
    // Kinds and statuses are guarded by CHECK constraints; event types and payloads are not. An event
    // type this code does not know is dead-lettered with the reason, not sent as a guess.
    let corrupt = |sql: &'static str, value: &'static str| {
        let event_id = event_id.clone();
        async move {
            sqlx::query(sql)
                .bind(value)
                .bind(&event_id)
                .execute(db)
                .await
                .unwrap();
        }
    };
    let due_now = || async {
        sqlx::query("UPDATE deliveries SET status = 'pending', next_attempt_at = 0 WHERE id = $1")
            .bind(&id)
            .execute(db)
            .await
            .unwrap();
    };
    let dead_with = || async {
        let (status, error): (String, Option<String>) =
            sqlx::query_as("SELECT status, last_error FROM deliveries WHERE id = $1")
                .bind(&id)
                .fetch_one(db)
                .await
                .unwrap();
        (status == "dead").then_some(error)
    };
    let set_type = "UPDATE outbox SET event_type = $1 WHERE id = $2";
    corrupt(set_type, "payment.refunded").await;
    due_now().await;
    let error = eventually(
        "the unknown event type dead-lettered",
        Duration::from_secs(5),
        dead_with,
    )
    .await;
    assert_eq!(
        error.as_deref(),
        Some("unknown outbox.event_type \"payment.refunded\" in a stored row")
    );
    // The seller's list is a 500, not a row with a guessed type.
    let list = "/v1/erp/deliveries?limit=100";
    expect_problem(app.get(list, &seller.key).await, 500, "internal_error").await;
    corrupt(set_type, "payment.succeeded").await;
    assert!(!deliveries(&app, &seller, None).await.is_empty());
    // A payload that does not fit its type is refused, never forwarded as it is.
    corrupt("UPDATE outbox SET payload = $1 WHERE id = $2", "{\"amount\": 1}").await;
    due_now().await;
    let error = eventually(
        "the unreadable payload dead-lettered",
        Duration::from_secs(5),
        dead_with,
    )
    .await;
    assert_eq!(error.as_deref(), Some("outbox payload"));
}
both_backends!(unknown_stored_values_fail_loudly);
