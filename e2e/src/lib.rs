//! Browser-test harness: the real API on a temp SQLite database, a seller site on another origin that
//! embeds the widget, chromedriver, and headless Chromium driven through WebDriver (fantoccini).
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` and a built widget (`cargo xtask test` provides all
//! three). Run alone, the tests skip with a message when one is missing, unless `TRANCHE_REQUIRE_BROWSER`
//! is set, as `cargo xtask test` does, so CI can never skip them silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tranche_api::config::Settings;
use tranche_api::masking::Secret;
use tranche_api::startup::Application;

pub mod altered_widget;
pub mod mangling_proxy;
pub mod site;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where the built widget is (same rule as the API's).
pub fn widget_dir() -> PathBuf {
    tranche_api::routes::pages::widget_dir()
}

/// `Some(reason)` when the browser tests cannot run here.
pub fn missing_prerequisite() -> Option<String> {
    if std::env::var_os("TRANCHE_SKIP_BROWSER").is_some() {
        return Some("TRANCHE_SKIP_BROWSER is set (cargo xtask test --no-browser)".into());
    }
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !std::path::Path::new(path).exists() {
            return Some(format!("{path} not installed"));
        }
    }
    if !widget_dir().join("manifest.json").exists() {
        return Some("widget not built (cargo xtask build-widget)".into());
    }
    None
}

/// Skips (returns true) when prerequisites are missing, or panics if `TRANCHE_REQUIRE_BROWSER` is set.
pub fn skip() -> bool {
    match missing_prerequisite() {
        None => false,
        Some(reason) => {
            assert!(
                std::env::var_os("TRANCHE_REQUIRE_BROWSER").is_none(),
                "browser tests required but {reason}"
            );
            eprintln!("browser test skipped: {reason}");
            true
        }
    }
}

fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind loopback")
}

/// chromedriver on a free port, and headless Chromium with the flags this machine needs (no network, root,
/// a fresh profile in `user_data`). Returns the WebDriver client, the driver process (killed on drop) and
/// the driver's URL.
pub async fn launch_browser(
    http: &reqwest::Client,
    user_data: &Path,
) -> Result<(Client, tokio::process::Child, String)> {
    let port = free_listener().local_addr()?.port();
    let driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting chromedriver")?;
    let driver_url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if http.get(format!("{driver_url}/status")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", "--window-size=1100,1400",
                format!("--user-data-dir={}", user_data.display()),
            ],
        }),
    );
    // The browser console, for tests that assert the pages log no errors (404s, CSP refusals).
    // Network events too, for tests that check what a page sent (e.g. a header set by the fields frame).
    caps.insert(
        "goog:loggingPrefs".into(),
        json!({"browser": "ALL", "performance": "ALL"}),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver_url)
        .await
        .context("connecting to chromedriver")?;
    Ok((browser, driver, driver_url))
}

/// The API, a seller with terms, the seller site and a browser.
pub struct Harness {
    pub api: String,
    pub site: String,
    pub key: String,
    /// The operator token (creates sellers).
    pub operator: String,
    pub customer_id: String,
    pub terms_id: String,
    pub http: reqwest::Client,
    pub browser: Client,
    driver: tokio::process::Child,
    driver_url: String,
    /// The API's database and receipts live here (scanned for card data by the tests).
    pub data_dir: PathBuf,
    /// The running API's state: its one clock (tests move the calendar with [`Harness::advance_days`]) and
    /// what the scheduler's pass needs.
    pub state: tranche_api::state::AppState,
    /// Reserved before the seller is created (its origin goes into `allowed_origins`).
    site_listener: std::sync::Mutex<Option<TcpListener>>,
    _profile: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

impl Harness {
    pub async fn start() -> Result<Harness> {
        Harness::start_on_with(Backend::Sqlite, |_| {}).await
    }

    /// [`Harness::start`] with the API's settings changed by `tweak` first (e.g. the Stripe gateway against
    /// a fake Stripe).
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Result<Harness> {
        Harness::start_on_with(Backend::Sqlite, tweak).await
    }

    /// [`Harness::start`] on `backend`: PostgreSQL gets a fresh database on `TRANCHE_TEST_POSTGRES_URL`'s
    /// cluster, as the API tests do.
    pub async fn start_on(backend: Backend) -> Result<Harness> {
        Harness::start_on_with(backend, |_| {}).await
    }

    /// [`Harness::start_on`] with the API's settings changed by `tweak` first.
    pub async fn start_on_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Result<Harness> {
        let tmp = std::env::temp_dir().join(format!("tranche-e2e-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&tmp)?;
        let profile = TempDir(tmp.clone());
        let operator = format!("op_{}", uuid::Uuid::now_v7().simple());
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", tmp.join("e2e.db").display()),
            Backend::Postgres => fresh_postgres().await?,
        };
        let mut settings = Settings {
            addr: "127.0.0.1:0".to_owned(),
            database_url: Secret::new(database_url),
            operator_token: Some(Secret::new(operator.clone())),
            ..Settings::default()
        };
        settings.receipts_dir = tmp.join("receipts").display().to_string();
        // Webhook receivers in the tests listen on loopback (as the API tests' do).
        settings.erp.allow_private_destinations = true;
        tweak(&mut settings);
        let app = Application::build(settings).await?;
        let api = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());

        let site_listener = free_listener();
        let site = format!("http://{}", site_listener.local_addr()?);
        // Idle connections dropped before the server's 5 s keep-alive closes them (a request racing that close
        // fails with "connection closed before message completed").
        let http = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()?;
        let seller = post(
            &http,
            &format!("{api}/v1/sellers"),
            &operator,
            json!({"name": "Northwind Supply Co.", "allowed_origins": [site]}),
        )
        .await?;
        let key = seller["secret_key"].as_str().context("key")?.to_owned();
        let customer = post(
            &http,
            &format!("{api}/v1/customers"),
            &key,
            json!({"name": "Acme", "email": "ap@acme.example"}),
        )
        .await?;
        let terms = post(
            &http,
            &format!("{api}/v1/terms"),
            &key,
            json!({"name": "Partial", "allow_partial": true, "minimum_amounts": {"USD": "50.00"}, "minimum_percent": "10",
                   "presets": ["10", "25", "50", "75"], "preset_basis": "balance"}),
        )
        .await?;

        let (browser, driver, driver_url) = launch_browser(&http, &tmp.join("chromium")).await?;
        Ok(Harness {
            api,
            site,
            key,
            operator,
            customer_id: customer["id"].as_str().context("customer")?.to_owned(),
            terms_id: terms["id"].as_str().context("terms")?.to_owned(),
            http,
            browser,
            driver,
            driver_url,
            _profile: profile,
            site_listener: std::sync::Mutex::new(Some(site_listener)),
            data_dir: tmp.clone(),
            state,
        })
    }

    /// A USD invoice of `total` (one untaxed line) and a checkout token for it.
    pub async fn invoice(&self, number: &str, total: &str) -> Result<(String, String)> {
        let inv = post(
            &self.http,
            &format!("{}/v1/invoices", self.api),
            &self.key,
            json!({"number": number, "customer_id": self.customer_id, "currency": "USD", "issue_date": "2026-01-01",
                   "due_date": "2026-02-01", "terms_id": self.terms_id,
                   "lines": [{"description": "Shelving", "quantity": "1", "unit_price": total}]}),
        )
        .await?;
        let id = inv["id"].as_str().context("invoice id")?.to_owned();
        let link = post(
            &self.http,
            &format!("{}/v1/invoices/{id}/checkout-links", self.api),
            &self.key,
            json!({}),
        )
        .await?;
        Ok((id, link["token"].as_str().context("token")?.to_owned()))
    }

    /// Serves the seller site embedding one widget per `(label, token)` and opens it in the browser.
    pub async fn open_site(&self, embeds: Vec<(String, String)>) -> Result<()> {
        self.open_site_via(&self.api, embeds, None).await
    }

    /// The seller site with the widget loaded from `api_base` (the API, or a stand-in in front of it), and
    /// `policy` as the page's Content-Security-Policy when given.
    pub async fn open_site_via(
        &self,
        api_base: &str,
        embeds: Vec<(String, String)>,
        policy: Option<String>,
    ) -> Result<()> {
        let listener = self
            .site_listener
            .lock()
            .ok()
            .and_then(|mut l| l.take())
            .context("the seller site can be opened once per harness")?;
        let server =
            tranche_api::seller_site::serve_with_policy(listener, api_base.to_owned(), embeds, policy)?;
        tokio::spawn(server);
        self.browser.goto(&format!("{}/", self.site)).await?;
        Ok(())
    }

    /// Serves `index` (and `root`'s files) as the seller site, on the origin the seller allows, and opens it.
    pub async fn open_page(&self, index: String, root: Option<PathBuf>) -> Result<()> {
        self.serve_page(index, root)?;
        self.browser.goto(&format!("{}/", self.site)).await?;
        Ok(())
    }

    /// Serves `index` (and `root`'s files) as the seller site without opening it.
    pub fn serve_page(&self, index: String, root: Option<PathBuf>) -> Result<()> {
        let listener = self
            .site_listener
            .lock()
            .ok()
            .and_then(|mut l| l.take())
            .context("the seller site can be opened once per harness")?;
        site::serve(listener, index, root)
    }

    /// A `currency` invoice of `total` (one untaxed line) and a checkout token for it.
    pub async fn invoice_in(&self, number: &str, currency: &str, total: &str) -> Result<(String, String)> {
        let inv = post(
            &self.http,
            &format!("{}/v1/invoices", self.api),
            &self.key,
            json!({"number": number, "customer_id": self.customer_id, "currency": currency, "issue_date": "2026-01-01",
                   "due_date": "2026-02-01", "terms_id": self.terms_id,
                   "lines": [{"description": "Shelving", "quantity": "1", "unit_price": total}]}),
        )
        .await?;
        let id = inv["id"].as_str().context("invoice id")?.to_owned();
        let link = post(
            &self.http,
            &format!("{}/v1/invoices/{id}/checkout-links", self.api),
            &self.key,
            json!({}),
        )
        .await?;
        Ok((id, link["token"].as_str().context("token")?.to_owned()))
    }

    /// Every message the browser console logged at level SEVERE since the last call (errors, failed
    /// loads such as a 404 favicon, CSP refusals), from every frame.
    pub async fn console_errors(&self) -> Result<Vec<String>> {
        Ok(self
            .driver_log("browser")
            .await?
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver (e.g. `Emulation.setEmulatedMedia`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        let session = self.browser.session_id().await?.context("no session")?;
        let r = self
            .http
            .post(format!("{}/session/{session}/goog/cdp/execute", self.driver_url))
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("{cmd}: {status} {body}");
        }
        Ok(body["value"].clone())
    }

    /// chromedriver's log of `kind` (`browser`, `performance`) since the last read of it.
    async fn driver_log(&self, kind: &str) -> Result<Vec<Value>> {
        let session = self.browser.session_id().await?.context("no session")?;
        let r = self
            .http
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({"type": kind}))
            .send()
            .await?;
        let body: Value = r.json().await?;
        body["value"]
            .as_array()
            .cloned()
            .with_context(|| format!("chromedriver log answer: {body}"))
    }

    /// The headers of every request the browser (any frame) sent to a URL ending in `path` since the last
    /// read of the network log, from Chromium's own network events.
    pub async fn sent_headers(&self, path: &str) -> Result<Vec<Value>> {
        let mut found = Vec::new();
        for entry in self.driver_log("performance").await? {
            let Ok(event) = serde_json::from_str::<Value>(entry["message"].as_str().unwrap_or("{}")) else {
                continue;
            };
            let event = &event["message"];
            if event["method"] == "Network.requestWillBeSent"
                && event["params"]["request"]["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(path))
            {
                found.push(event["params"]["request"]["headers"].clone());
            }
        }
        Ok(found)
    }

    /// The events the seller site recorded (`window.trancheEvents`).
    pub async fn page_events(&self) -> Vec<Value> {
        self.browser
            .execute("return window.trancheEvents || []", vec![])
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Moves the API's clock `days` forward: payments, the plan's statuses and the widget's "today" (which
    /// the API sends it) all follow.
    pub fn advance_days(&self, days: i64) {
        self.state.clock().advance(days * 86_400_000);
    }

    /// Runs axe-core (installed by `cargo xtask node-tools`) over the page, or over the elements `include`
    /// selects, shadow roots included, with the WCAG 2.0/2.1 A and AA rules; returns each violation as
    /// `{id, impact, help, targets}`. A missing axe-core is an error, never a pass.
    pub async fn axe_violations(&self, include: Option<&str>) -> Result<Vec<Value>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/tools/node/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (run cargo xtask node-tools)", path.display()))?;
        self.browser.execute(&source, vec![]).await?;
        let result = self
            .browser
            .execute_async(
                "const [include, done] = arguments;
                 const context = include ? {include: [include]} : document;
                 axe.run(context, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                                   resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                          targets: v.nodes.map(n => n.target)}))))
                   .catch(e => done({error: String(e)}));",
                vec![json!(include)],
            )
            .await?;
        match result {
            Value::Array(violations) => Ok(violations),
            other => bail!("axe did not run: {other}"),
        }
    }

    pub async fn open(&self, url: &str) -> Result<()> {
        self.browser.goto(url).await?;
        Ok(())
    }

    /// Waits (up to 15 s) for `css` inside the shadow root of the `index`-th widget; returns it.
    pub async fn shadow(&self, index: usize, css: &str) -> Result<Element> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let hosts = self.browser.find_all(Locator::Css("tranche-checkout")).await?;
            if let Some(host) = hosts.get(index) {
                if let Ok(root) = host.shadow_root().await {
                    if let Ok(el) = root.find(Locator::Css(css)).await {
                        return Ok(el);
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {css} in widget {index}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for `css` in widget `index` and clicks it.
    pub async fn click(&self, index: usize, css: &str) -> Result<()> {
        self.shadow(index, css).await?.click().await?;
        Ok(())
    }

    /// Waits until `css` in widget `index` has text containing `needle`; returns the text.
    /// Waits until widget `index` shows a payment of `paid_now` everywhere: the confirmation (paid now, new
    /// balance) and the invoice summary beside it (amount paid so far, balance), so no figure on screen is stale.
    pub async fn expect_paid(
        &self,
        index: usize,
        paid_now: &str,
        amount_paid: &str,
        balance: &str,
    ) -> Result<()> {
        for (css, needle) in [
            ("[data-testid=paid-now]", paid_now),
            ("[data-testid=new-balance]", balance),
            ("[data-testid=amount-paid]", amount_paid),
            ("[data-testid=balance-due]", balance),
        ] {
            self.shadow_text(index, css, needle).await?;
        }
        Ok(())
    }

    pub async fn shadow_text(&self, index: usize, css: &str, needle: &str) -> Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(el) = self.shadow(index, css).await {
                let text = el.text().await.unwrap_or_default();
                if text.contains(needle) {
                    return Ok(text);
                }
                if tokio::time::Instant::now() > deadline {
                    bail!("{css} in widget {index} reads {text:?}, never {needle:?}");
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {css} containing {needle:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types a card into the gateway iframe of widget `index` and clicks Pay.
    pub async fn pay_with_card(&self, index: usize, number: &str) -> Result<()> {
        let frame = self.shadow(index, "iframe[data-testid=fields]").await?;
        frame.clone().enter_frame().await?;
        let wait = self.browser.wait().at_most(Duration::from_secs(15));
        wait.for_element(Locator::Css("#number"))
            .await?
            .send_keys(number)
            .await?;
        self.browser
            .find(Locator::Css("#expiry"))
            .await?
            .send_keys("12/34")
            .await?;
        self.browser
            .find(Locator::Css("#cvc"))
            .await?
            .send_keys("123")
            .await?;
        self.browser.enter_parent_frame().await?;
        self.click(index, "[data-testid=pay]").await
    }

    /// The invoice as the seller's API reports it.
    pub async fn invoice_state(&self, id: &str) -> Result<Value> {
        let r = self
            .http
            .get(format!("{}/v1/invoices/{id}", self.api))
            .bearer_auth(&self.key)
            .send()
            .await?;
        Ok(r.json().await?)
    }

    /// Saves a PNG of the page to `target/e2e-screens/{name}.png` (for humans; nothing asserts on pixels).
    pub async fn screenshot(&self, name: &str) {
        let dir = widget_dir().join("../../e2e-screens");
        if let Ok(png) = self.browser.screenshot().await {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }

    /// Every card number in `numbers` that appears in the API's database files or receipts (should be none).
    pub fn card_numbers_at_rest(&self, numbers: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![self.data_dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // The browser profile is Chromium's, not ours.
                if path.file_name().is_some_and(|n| n == "chromium") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    for n in numbers {
                        if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                            found.push(format!("{n} in {}", path.display()));
                        }
                    }
                }
            }
        }
        found
    }

    pub async fn close(mut self) {
        let _ = self.browser.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// The database a [`Harness`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL cluster for tests (`TRANCHE_TEST_POSTGRES_URL`), if one is given.
pub fn postgres_url() -> Option<String> {
    std::env::var("TRANCHE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A new, empty database on the test cluster; its URL.
async fn fresh_postgres() -> Result<String> {
    use sqlx::Executor;
    let admin = postgres_url().context("TRANCHE_TEST_POSTGRES_URL is not set")?;
    sqlx::any::install_default_drivers();
    let name = format!("tranche_e2e_{}", uuid::Uuid::now_v7().simple());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    let (base, _) = admin.rsplit_once('/').context("database URL without a name")?;
    Ok(format!("{base}/{name}"))
}

/// POSTs JSON with a bearer token; a non-2xx answer is an error carrying the body.
pub async fn post(http: &reqwest::Client, url: &str, bearer: &str, body: Value) -> Result<Value> {
    let r = http.post(url).bearer_auth(bearer).json(&body).send().await?;
    let status = r.status();
    let value: Value = r.json().await?;
    if !status.is_success() {
        bail!("{url} answered {status}: {value}");
    }
    Ok(value)
}
