//! Test harness: every test gets the real server on a free port with its own database, SQLite (a temp
//! file) or PostgreSQL (a fresh database on the cluster in `TRANCHE_TEST_POSTGRES_URL`, which
//! `cargo xtask test` provides).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_erp;
pub mod smtp;
pub mod stand_in;

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Client, Response};
use serde_json::{json, Value};
use sqlx::Executor;
use tranche_api::config::Settings;
use tranche_api::masking::Secret;
use tranche_api::startup::Application;
use tranche_api::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body per backend, as tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::common::postgres_url().is_none() {
                    // `cargo xtask test` sets TRANCHE_REQUIRE_POSTGRES so CI can never silently skip these.
                    assert!(
                        std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none(),
                        "TRANCHE_REQUIRE_POSTGRES is set but TRANCHE_TEST_POSTGRES_URL is not"
                    );
                    eprintln!("TRANCHE_TEST_POSTGRES_URL not set: PostgreSQL variant not run (cargo xtask test sets it)");
                    return;
                }
                super::$name($crate::common::Backend::Postgres).await;
            }
        }
    };
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TRANCHE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!(
        "tranche_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::now_v7().simple()
    )
}

/// A fresh, empty database URL for the backend.
pub async fn fresh_database(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("tranche-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}", dir.join(format!("{}.db", unique_name())).display())
        }
        Backend::Postgres => {
            let admin = postgres_url().expect("TRANCHE_TEST_POSTGRES_URL");
            sqlx::any::install_default_drivers();
            let name = unique_name();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            format!("{base}/{name}")
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub operator: String,
    pub database_url: String,
    pub state: AppState,
    pub backend: Backend,
    /// `http://127.0.0.1:{port}` of the metrics listener (`/metrics`, `/livez`, `/readyz`).
    pub metrics_base: String,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let database_url = fresh_database(backend).await;
    spawn_app_on(backend, database_url, tweak).await
}

/// Another server on an existing database (e.g. a second API node sharing another test app's database).
pub async fn spawn_app_on(
    backend: Backend,
    database_url: String,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let operator = format!("op_{}", uuid::Uuid::now_v7().simple());
    let mut settings = Settings {
        addr: "127.0.0.1:0".to_owned(),
        database_url: Secret::new(database_url.clone()),
        operator_token: Some(Secret::new(operator.clone())),
        max_connections: 8,
        ..Settings::default()
    };
    // Tests drive the reconciler by hand unless they opt in.
    settings.reconciler.interval_ms = 3_600_000;
    // Many requests from one loopback IP: only the rate-limit tests turn limits on.
    settings.rate_limits = tranche_api::rate_limit::RateLimitSettings::unlimited();
    // Receipts (no SMTP) go to a per-test folder, never into the source tree.
    settings.receipts_dir = std::env::temp_dir()
        .join("tranche-tests")
        .join(format!("receipts-{}", unique_name()))
        .display()
        .to_string();
    // Every test app gets its own metrics listener on a free port, never the shared default.
    settings.metrics_addr = Some("127.0.0.1:0".to_owned());
    // Receivers in tests listen on loopback; the SSRF tests turn this off in their tweak.
    settings.erp.allow_private_destinations = true;
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = format!(
        "http://127.0.0.1:{}",
        app.metrics_port().expect("metrics listener")
    );
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: test_client(),
        operator,
        database_url,
        state,
        backend,
        metrics_base,
    }
}

/// The HTTP client tests use. Idle pooled connections are dropped after 2 s, before the server's 5 s
/// keep-alive closes them: otherwise a request sent on a connection the server is closing at that instant fails
/// with "connection closed before message completed" (seen once under load in CI-like runs).
pub fn test_client() -> Client {
    Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("test HTTP client")
}

/// A seller with a customer and (optionally) terms, ready to invoice.
pub struct SellerCtx {
    pub id: String,
    pub key: String,
    pub customer_id: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post(&self, path: &str, bearer: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, bearer: &str, body: Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
    }

    pub async fn seller(&self, name: &str) -> SellerCtx {
        let r = self
            .post("/v1/sellers", &self.operator, json!({"name": name}))
            .await;
        assert_eq!(r.status(), 201);
        let seller: Value = r.json().await.unwrap();
        let key = seller["secret_key"].as_str().unwrap().to_owned();
        let r = self
            .post(
                "/v1/customers",
                &key,
                json!({"name": "Acme Buyer", "email": "ap@acme.example", "external_ref": "C-1"}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let customer: Value = r.json().await.unwrap();
        SellerCtx {
            id: seller["id"].as_str().unwrap().to_owned(),
            key,
            customer_id: customer["id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn terms(&self, seller: &SellerCtx, body: Value) -> String {
        let r = self.post("/v1/terms", &seller.key, body).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An invoice with one untaxed line of `amount` in `currency`.
    pub async fn invoice(
        &self,
        seller: &SellerCtx,
        currency: &str,
        amount: &str,
        terms_id: Option<&str>,
    ) -> Value {
        let extra = match terms_id {
            Some(t) => json!({"terms_id": t}),
            None => json!({}),
        };
        self.invoice_with(seller, currency, amount, extra).await
    }

    /// An invoice of one line for `amount`, issued today, with `extra` fields (e.g. `external_ref`) added.
    pub async fn invoice_with(
        &self,
        seller: &SellerCtx,
        currency: &str,
        amount: &str,
        extra: Value,
    ) -> Value {
        let mut body = json!({
            "number": format!("INV-{}", uuid::Uuid::now_v7().simple()),
            "customer_id": seller.customer_id,
            "currency": currency,
            "issue_date": tranche_domain::wire::format_date(tranche_api::state::today()),
            "due_date": "2099-01-01",
            "lines": [{"description": "Goods", "quantity": "1", "unit_price": amount}],
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let r = self.post("/v1/invoices", &seller.key, body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// A checkout link; returns `(link_id, token)`.
    pub async fn link(&self, seller: &SellerCtx, invoice_id: &str) -> (String, String) {
        let r = self
            .post(
                &format!("/v1/invoices/{invoice_id}/checkout-links"),
                &seller.key,
                json!({}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        (
            v["id"].as_str().unwrap().to_owned(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    /// A sandbox card token for the checkout `checkout_token` opens (the fields page sends the checkout
    /// token; the card token pays only that checkout, once, within 15 minutes).
    pub async fn card_token_for(&self, checkout_token: &str, number: &str) -> String {
        self.sandbox_token_for(
            checkout_token,
            json!({"card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}),
        )
        .await
    }

    /// A sandbox bank-account (ACH) token for the checkout `checkout_token` opens.
    pub async fn bank_token_for(&self, checkout_token: &str, routing: &str, account: &str) -> String {
        self.sandbox_token_for(
            checkout_token,
            json!({"bank_account": {"routing_number": routing, "account_number": account}}),
        )
        .await
    }

    /// `POST /sandbox/v1/tokens` with the checkout token, as the fields page sends it; asserts 201.
    pub async fn sandbox_token_for(&self, checkout_token: &str, body: Value) -> String {
        let r = self.tokenize(checkout_token, body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /sandbox/v1/tokens` with the checkout token; the raw response.
    pub async fn tokenize(&self, checkout_token: &str, body: Value) -> Response {
        self.client
            .post(self.url("/sandbox/v1/tokens"))
            .bearer_auth(checkout_token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A buyer pays `amount` of the invoice by card through a fresh checkout link, a fresh idempotency key
    /// and the Visa test card; the payment must be accepted (201). Returns the answer's body.
    pub async fn pay_invoice(&self, seller: &SellerCtx, invoice_id: &str, amount: &str) -> Value {
        let r = self.pay_fresh(seller, invoice_id, amount).await;
        assert_eq!(r.status(), 201, "paying {amount}");
        r.json().await.unwrap()
    }

    pub async fn pay(&self, checkout_token: &str, key: &str, amount: &str, payment_token: &str) -> Response {
        self.client
            .post(self.url("/v1/checkout/payments"))
            .bearer_auth(checkout_token)
            .header("idempotency-key", key)
            .json(&json!({"amount": amount, "payment_token": payment_token}))
            .send()
            .await
            .unwrap()
    }

    /// Another customer of the seller; returns its id.
    pub async fn customer(&self, seller: &SellerCtx, name: &str, external_ref: &str) -> String {
        let r = self
            .post(
                "/v1/customers",
                &seller.key,
                json!({"name": name, "email": "ap@other.example", "external_ref": external_ref}),
            )
            .await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An account link for one of the seller's customers; returns `(link_id, token)`.
    pub async fn account_link(&self, seller: &SellerCtx, customer_id: &str) -> (String, String) {
        let r = self
            .post(
                &format!("/v1/customers/{customer_id}/account-links"),
                &seller.key,
                json!({}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        (
            v["id"].as_str().unwrap().to_owned(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST /v1/account/payments` with `allocations` as given (`[{invoice_id, amount}]`).
    pub async fn pay_account(
        &self,
        account_token: &str,
        key: &str,
        payment_token: &str,
        allocations: Value,
    ) -> Response {
        self.client
            .post(self.url("/v1/account/payments"))
            .bearer_auth(account_token)
            .header("idempotency-key", key)
            .json(&json!({"payment_token": payment_token, "allocations": allocations}))
            .send()
            .await
            .unwrap()
    }

    /// Pays `amount` with a test Visa through a fresh link (links and card tokens expire as the clock moves).
    pub async fn pay_fresh(&self, seller: &SellerCtx, invoice_id: &str, amount: &str) -> Response {
        let (_, token) = self.link(seller, invoice_id).await;
        let card = self.card_token_for(&token, "4242424242424242").await;
        self.pay(&token, &uuid::Uuid::now_v7().to_string(), amount, &card)
            .await
    }

    /// `POST /v1/invoices/{id}/payments` (an offline payment) with a fresh `Idempotency-Key`.
    pub async fn offline_payment(&self, seller: &SellerCtx, invoice_id: &str, body: Value) -> Response {
        self.client
            .post(self.url(&format!("/v1/invoices/{invoice_id}/payments")))
            .bearer_auth(&seller.key)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a webhook endpoint of `seller` at `http://127.0.0.1:{port}/hooks`.
    pub async fn webhook_endpoint(&self, seller: &SellerCtx, port: u16) {
        let r = self
            .post(
                "/v1/erp/endpoints",
                &seller.key,
                json!({"kind": "webhook", "url": format!("http://127.0.0.1:{port}/hooks")}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    pub async fn checkout(&self, checkout_token: &str) -> Value {
        let r = self.get("/v1/checkout", checkout_token).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn get_invoice(&self, seller: &SellerCtx, id: &str) -> Value {
        let r = self.get(&format!("/v1/invoices/{id}"), &seller.key).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// One text value from this test's database.
    pub async fn sql_text(&self, sql: &str) -> String {
        let (v,): (String,) = sqlx::query_as(sql).fetch_one(self.state.db.pool()).await.unwrap();
        v
    }

    /// A direct connection to this test's database, for sabotage and counting.
    pub async fn sql_count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.state.db.pool()).await.unwrap();
        n
    }

    /// Runs one statement (a test's way to put a row in a state the API cannot reach).
    pub async fn sql_exec(&self, sql: &str) {
        sqlx::query(sql).execute(self.state.db.pool()).await.unwrap();
    }
}

/// Asserts a problem response and returns its body.
pub async fn expect_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "expected {status} {code}");
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().starts_with("https://"));
    body
}

/// Polls `probe` until it yields a value; fails the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Short retry schedules so retries and dead letters happen within a test.
pub fn fast(settings: &mut Settings, schedule: &[u64]) {
    settings.erp.retry_schedule_ms = schedule.to_vec();
    settings.erp.poll_interval_ms = 25;
    settings.erp.attempt_timeout_ms = 5_000;
}
