//! Crash recovery under load: real `tranche serve` processes are SIGKILLed at random (5 times) while clients
//! keep paying and retrying with the same Idempotency-Keys. Afterwards every acknowledged payment exists once,
//! the gateway charged each once, the invariants hold, and every payment event reached the ERP receiver.
//! SQLite runs one process; PostgreSQL runs three sharing the database (kills hit a random one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Backend;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `tranche serve` process on a fixed port, so clients keep their URL across restarts.
struct Node {
    child: Option<std::process::Child>,
    port: u16,
}

impl Node {
    /// `public_url` is the same for every node, as behind a load balancer: it is the checkout tokens' issuer.
    fn spawn(&mut self, dir: &Path, database_url: &str, operator: &str, public_url: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .unwrap();
        self.child = Some(
            std::process::Command::new(env!("CARGO_BIN_EXE_tranche"))
                .arg("serve")
                .current_dir(dir)
                .env("TRANCHE_CONFIG", dir.join("tranche.toml"))
                .env("TRANCHE_ADDR", format!("127.0.0.1:{}", self.port))
                .env("TRANCHE_DATABASE_URL", database_url)
                .env("TRANCHE_OPERATOR_TOKEN", operator)
                .env("TRANCHE_PUBLIC_URL", public_url)
                .env("TRANCHE_LOG", "warn")
                .env("TRANCHE_RATE_PAYMENTS_PER_LINK", "0")
                .env("TRANCHE_RATE_PAYMENTS_PER_IP", "0")
                .env("TRANCHE_RATE_TOKENIZE_PER_IP", "0")
                // The ERP receiver listens on loopback, which the default destination policy refuses.
                .env("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", "true")
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    /// SIGKILL: no graceful shutdown, in-flight requests and claimed deliveries are cut off.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The first standalone run of 15-19 ASCII digits that passes the Luhn check (what a PAN looks like), if any.
/// Runs touching letters or digits are parts of ids and hashes, not numbers; millisecond timestamps have 13.
fn luhn_valid_run(bytes: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let bounded = (start == 0 || !bytes[start - 1].is_ascii_alphanumeric())
            && (i == bytes.len() || !bytes[i].is_ascii_alphanumeric());
        let run = &bytes[start..i];
        if bounded && (15..=19).contains(&run.len()) {
            let sum: u32 = run
                .iter()
                .rev()
                .enumerate()
                .map(|(k, b)| {
                    let d = u32::from(b - b'0');
                    if k % 2 == 1 {
                        if d * 2 > 9 {
                            d * 2 - 9
                        } else {
                            d * 2
                        }
                    } else {
                        d
                    }
                })
                .sum();
            if sum.is_multiple_of(10) {
                return Some(String::from_utf8_lossy(run).into_owned());
            }
        }
    }
    None
}

#[test]
fn luhn_scan_finds_pans_and_ignores_ids() {
    assert_eq!(
        luhn_valid_run(b"x 4242424242424242 y").as_deref(),
        Some("4242424242424242")
    );
    assert_eq!(
        luhn_valid_run(b"\"378282246310005\"").as_deref(),
        Some("378282246310005")
    );
    assert_eq!(
        luhn_valid_run(b"pay_01a2074242424242424242ff"),
        None,
        "inside an id"
    );
    assert_eq!(luhn_valid_run(b"1795426522123"), None, "a millisecond timestamp");
    assert_eq!(luhn_valid_run(b"4242424242424241"), None, "fails Luhn");
}

async fn wait_up(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "{base} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An ERP stand-in counting `payment.succeeded` events per payment id.
async fn receiver() -> (u16, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body: Value =
                        serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or_default();
                    if body["type"] == "payment.succeeded" {
                        if let Some(id) = body["data"]["payment_id"].as_str() {
                            *s.lock().unwrap().entry(id.to_owned()).or_default() += 1;
                        }
                    }
                    let _ = sock
                        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                }
            });
        }
    });
    (port, seen)
}

async fn post(http: &reqwest::Client, url: String, bearer: &str, body: Value) -> Value {
    let r = http
        .post(&url)
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

async fn crash_loop(backend: Backend, nodes: usize) {
    let dir: PathBuf = std::env::temp_dir()
        .join("tranche-tests")
        .join(format!("crashloop-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tranche.toml"),
        format!(
            "receipts_dir = {:?}\n[erp]\nretry_schedule_ms = [100, 200, 400, 800, 1600, 3200]\npoll_interval_ms = 50\n\
             attempt_timeout_ms = 1000\n[reconciler]\ninterval_ms = 200\ngrace_seconds = 1\n",
            dir.join("receipts").display().to_string()
        ),
    )
    .unwrap();
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("tranche.db").display()),
        Backend::Postgres => common::fresh_database(Backend::Postgres).await,
    };
    let operator = format!("op_{}", uuid::Uuid::now_v7().simple());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut cluster: Vec<Node> = (0..nodes)
        .map(|_| Node {
            child: None,
            port: free_port(),
        })
        .collect();
    // One node migrates first, then the others join.
    let public_url = cluster[0].base();
    cluster[0].spawn(&dir, &database_url, &operator, &public_url);
    wait_up(&http, &cluster[0].base()).await;
    for node in cluster.iter_mut().skip(1) {
        node.spawn(&dir, &database_url, &operator, &public_url);
    }
    for node in &cluster {
        wait_up(&http, &node.base()).await;
    }
    let base = cluster[0].base();
    let (receiver_port, seen) = receiver().await;
    let seller = post(
        &http,
        format!("{base}/v1/sellers"),
        &operator,
        json!({"name": "S"}),
    )
    .await;
    let key = seller["secret_key"].as_str().unwrap().to_owned();
    let customer = post(
        &http,
        format!("{base}/v1/customers"),
        &key,
        json!({"name": "B", "email": "b@x.example"}),
    )
    .await;
    post(
        &http,
        format!("{base}/v1/erp/endpoints"),
        &key,
        json!({"url": format!("http://127.0.0.1:{receiver_port}/hook"), "kind": "webhook"}),
    )
    .await;
    let mut invoices = Vec::new();
    for i in 0..6 {
        let inv = post(
            &http,
            format!("{base}/v1/invoices"),
            &key,
            json!({"number": format!("C-{i}"), "customer_id": customer["id"], "currency": "USD", "issue_date": "2026-11-01",
                   "due_date": "2099-01-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "1000.00"}]}),
        )
        .await;
        let id = inv["id"].as_str().unwrap().to_owned();
        let link = post(
            &http,
            format!("{base}/v1/invoices/{id}/checkout-links"),
            &key,
            json!({}),
        )
        .await;
        invoices.push((id, link["token"].as_str().unwrap().to_owned()));
    }

    // Clients: 8 workers, 12 payments each of 50.00 (96 x 50.00 fits the 6 x 1000.00), retried with the
    // same key on any transport error, 5xx or 409 until they get a final answer.
    // Card tokens are single-use and bound to their checkout: one per payment, made while every node is up,
    // and kept for that payment's retries (same key, same body).
    let mut cards: Vec<Vec<String>> = Vec::new();
    for w in 0..8usize {
        let mut row = Vec::new();
        for j in 0..12usize {
            let (_, token) = &invoices[(w + j) % invoices.len()];
            let card: Value = http
                .post(format!("{base}/sandbox/v1/tokens"))
                .bearer_auth(token)
                .json(&json!({"card": {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            row.push(card["token"].as_str().unwrap().to_owned());
        }
        cards.push(row);
    }
    let ports: Vec<u16> = cluster.iter().map(|n| n.port).collect();
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default(); // key -> payment id
    let mut workers = Vec::new();
    for w in 0..8usize {
        let (http, cards, invoices, ports, acked) = (
            http.clone(),
            cards[w].clone(),
            invoices.clone(),
            ports.clone(),
            acknowledged.clone(),
        );
        workers.push(tokio::spawn(async move {
            for j in 0..12usize {
                let (_, token) = &invoices[(w + j) % invoices.len()];
                let card = &cards[j];
                let idem = format!("w{w}-p{j}");
                let mut attempt = 0usize;
                loop {
                    attempt += 1;
                    assert!(attempt < 2000, "{idem} never got a final answer");
                    let port = ports[(w + attempt) % ports.len()];
                    let r = http
                        .post(format!("http://127.0.0.1:{port}/v1/checkout/payments"))
                        .bearer_auth(token)
                        .header("idempotency-key", &idem)
                        .json(&json!({"amount": "50.00", "payment_token": card}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => {
                            let body: Value = r.json().await.unwrap();
                            let id = body["payment"]["id"].as_str().unwrap().to_owned();
                            acked.lock().unwrap().insert(idem.clone(), id);
                            break;
                        }
                        Ok(r) if r.status() == 409 || r.status().is_server_error() => {}
                        Ok(r) => panic!(
                            "{idem}: unexpected {} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        ),
                        Err(_) => {} // the node is down: retry
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    // The killer: five SIGKILLs at random moments on random nodes, each restarted after a pause.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..600))).await;
        let victim = rng.gen_range(0..cluster.len());
        cluster[victim].kill();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(50..300))).await;
        cluster[victim].spawn(&dir, &database_url, &operator, &public_url);
    }
    for w in workers {
        w.await.unwrap();
    }
    for node in &cluster {
        wait_up(&http, &node.base()).await;
    }

    // Every acknowledged payment exists once, succeeded; one gateway charge each; invariants hold.
    let acked = acknowledged.lock().unwrap().clone();
    assert_eq!(acked.len(), 96, "every client payment got its answer");
    let distinct: HashSet<&String> = acked.values().collect();
    assert_eq!(distinct.len(), 96, "one payment per key");
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&database_url)
        .await;
    let pool = match pool {
        Ok(p) => p,
        Err(_) => {
            sqlx::any::install_default_drivers();
            sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&database_url)
                .await
                .unwrap()
        }
    };
    let (succeeded,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM payments WHERE status = 'succeeded'")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Attempts a crash cut off before the gateway saw them were released as failed (`not_charged`); none is
    // left pending and none failed for any other reason.
    let (other,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM payments WHERE status <> 'succeeded' AND NOT (status = 'failed' AND decline_code = 'not_charged')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (charges,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sandbox_charges")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(succeeded, 96, "one succeeded payment per acknowledged key");
    assert_eq!(other, 0, "no pending or otherwise failed payment");
    assert_eq!(charges, 96, "the gateway charged each payment once");
    for (id, _) in &invoices {
        let inv: Value = http
            .get(format!("{}/v1/invoices/{id}", cluster[0].base()))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let paid: i64 = sqlx::query_as::<_, (i64,)>(&format!(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM payments WHERE invoice_id = '{id}' AND status = 'succeeded'"
        ))
        .fetch_one(&pool)
        .await
        .unwrap()
        .0;
        assert_eq!(inv["amount_paid"], format!("{}.{:02}", paid / 100, paid % 100));
        assert_eq!(
            inv["balance_due"],
            format!("{}.{:02}", (100_000 - paid) / 100, (100_000 - paid) % 100)
        );
    }
    // Every payment's event reached the ERP (a delivery a killed node had leased waits out its lease).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = seen.lock().unwrap().clone();
        if distinct.iter().all(|p| got.contains_key(*p)) {
            break;
        }
        assert!(Instant::now() < deadline, "{} of 96 events delivered", got.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &mut cluster {
        node.kill();
    }
    pool.close().await;
    // No card number anywhere we keep things: server logs, database files, receipts.
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(VISA.len()).any(|w| w == VISA.as_bytes()),
                    "card number found in {}",
                    path.display()
                );
                if let Some(pan) = luhn_valid_run(&bytes) {
                    panic!("a card-number-like run {pan} in {}", path.display());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loop_sqlite() {
    sqlx::any::install_default_drivers();
    crash_loop(Backend::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loop_three_nodes_postgres() {
    if common::postgres_url().is_none() {
        assert!(
            std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none(),
            "PostgreSQL required"
        );
        return;
    }
    sqlx::any::install_default_drivers();
    crash_loop(Backend::Postgres, 3).await;
}
