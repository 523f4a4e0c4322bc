//! `tranche-bench`: the measurements behind `cargo xtask bench`. Each figure is paired with a baseline
//! measured in the same run on the same machine, because absolute numbers drift on shared machines. The ratio
//! figures (payments/s against the raw write, `GET /v1/checkout` against `GET /livez`) run in interleaved
//! rounds, A B A B ..., and report every round's A/B, their median and min-max.
//!
//! Usage (xtask passes these): tranche-bench --tranche <path to release `tranche`> --out <json>
//!   [--postgres <admin url>] [--pgbench <path>] [--quick]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Floats here are timings and rates, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tranche_e2e::post;

struct Args {
    tranche: PathBuf,
    out: PathBuf,
    postgres: Option<String>,
    pgbench: Option<PathBuf>,
    quick: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let mut tranche = None;
    let mut out = None;
    let mut postgres = None;
    let mut pgbench = None;
    let mut quick = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tranche" => tranche = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--postgres" => postgres = args.next(),
            "--pgbench" => pgbench = args.next().map(PathBuf::from),
            "--quick" => quick = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(Args {
        tranche: tranche.context("--tranche")?,
        out: out.context("--out")?,
        postgres,
        pgbench,
        quick,
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Latency summary in milliseconds.
fn summary(mut samples: Vec<Duration>) -> Value {
    if samples.is_empty() {
        return json!(null);
    }
    samples.sort();
    let pick = |q: f64| {
        // Nearest-rank percentile.
        #[allow(
            clippy::float_arithmetic,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let idx = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[idx].as_secs_f64() * 1000.0
    };
    #[allow(clippy::float_arithmetic)]
    let v = json!({"n": samples.len(), "p50_ms": round2(pick(0.50)), "p95_ms": round2(pick(0.95)), "p99_ms": round2(pick(0.99))});
    v
}

#[allow(clippy::float_arithmetic)]
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[allow(clippy::float_arithmetic)]
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A running `tranche serve` process.
struct Server {
    child: tokio::process::Child,
    base: String,
    operator: String,
}

impl Server {
    async fn start(bin: &Path, database_url: &str, dir: &Path) -> Result<Server> {
        let port = free_port();
        let operator = format!("op_bench_{}", uuid::Uuid::now_v7().simple());
        let child = tokio::process::Command::new(bin)
            .arg("serve")
            .env("TRANCHE_ADDR", format!("127.0.0.1:{port}"))
            .env("TRANCHE_DATABASE_URL", database_url)
            .env("TRANCHE_OPERATOR_TOKEN", &operator)
            .env("TRANCHE_MAX_CONNECTIONS", "40")
            .env("TRANCHE_RECEIPTS_DIR", dir.join("receipts"))
            .env("TRANCHE_LOG", "warn")
            .env("TRANCHE_RATE_PAYMENTS_PER_LINK", "0")
            .env("TRANCHE_RATE_PAYMENTS_PER_IP", "0")
            .env("TRANCHE_RATE_TOKENIZE_PER_IP", "0")
            .env("TRANCHE_RATE_TOKEN_FAILURES_PER_IP", "0")
            // The bench's ERP receiver listens on loopback; a production node would refuse it.
            .env("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", "true")
            // Several servers on one host: each its own metrics port.
            .env("TRANCHE_METRICS_ADDR", "127.0.0.1:0")
            .env("TRANCHE_CONFIG", dir.join("none.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting tranche serve")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/livez")).send().await.is_ok() {
                return Ok(Server {
                    child,
                    base,
                    operator,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("tranche serve did not start")
    }

    /// Peak resident set size (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

/// A seller with a customer; invoices with links and card tokens prepared ahead of the timed part.
struct Fixture {
    key: String,
    customer: String,
}

async fn fixture(server: &Server, http: &reqwest::Client, origins: &[String]) -> Result<Fixture> {
    let s = post(
        http,
        &format!("{}/v1/sellers", server.base),
        &server.operator,
        json!({"name": "Bench Supply", "allowed_origins": origins}),
    )
    .await?;
    let key = s["secret_key"].as_str().context("key")?.to_owned();
    let c = post(
        http,
        &format!("{}/v1/customers", server.base),
        &key,
        json!({"name": "Buyer", "email": "b@example.com"}),
    )
    .await?;
    Ok(Fixture {
        key,
        customer: c["id"].as_str().context("customer")?.to_owned(),
    })
}

/// `(checkout token, card token)` for `n` fresh invoices, created with bounded concurrency.
async fn prepare(
    server: &Server,
    http: &reqwest::Client,
    f: &Fixture,
    n: usize,
) -> Result<Vec<(String, String)>> {
    let sem = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (http, base, key, customer, sem) = (
            http.clone(),
            server.base.clone(),
            f.key.clone(),
            f.customer.clone(),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await?;
            let inv = post(
                &http,
                &format!("{base}/v1/invoices"),
                &key,
                json!({"number": format!("B-{}-{i}", uuid::Uuid::now_v7().simple()), "customer_id": customer, "currency": "USD",
                       "issue_date": "2026-11-01", "due_date": "2026-12-01",
                       "lines": [{"description": "Widget", "quantity": "1", "unit_price": "100.00"}]}),
            )
            .await?;
            let id = inv["id"].as_str().context("id")?;
            let link = post(&http, &format!("{base}/v1/invoices/{id}/checkout-links"), &key, json!({})).await?;
            let checkout_token = link["token"].as_str().context("token")?.to_owned();
            // Card tokens are made for one checkout: the request carries its token, as the fields page does.
            let card: Value = http
                .post(format!("{base}/sandbox/v1/tokens"))
                .bearer_auth(&checkout_token)
                .json(&json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok((checkout_token, card["token"].as_str().context("card")?.to_owned()))
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// Pays every prepared invoice (25.00 each) with `clients` concurrent clients; returns (payments/s, latencies).
async fn pay_all(
    base: &str,
    http: &reqwest::Client,
    work: Vec<(String, String)>,
    clients: usize,
    pace: Option<Duration>,
) -> Result<(f64, Vec<Duration>, Vec<(String, Instant)>)> {
    let queue = Arc::new(Mutex::new(work));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let count = queue.lock().unwrap().len();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (queue, latencies, acked, http, base) = (
            queue.clone(),
            latencies.clone(),
            acked.clone(),
            http.clone(),
            base.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut next = Instant::now();
            loop {
                let item = queue.lock().unwrap().pop();
                let Some((token, card)) = item else { break };
                if let Some(p) = pace {
                    next += p;
                    tokio::time::sleep_until(next.into()).await;
                }
                let t0 = Instant::now();
                let r = http
                    .post(format!("{base}/v1/checkout/payments"))
                    .bearer_auth(&token)
                    .header("idempotency-key", uuid::Uuid::now_v7().simple().to_string())
                    .json(&json!({"amount": "25.00", "payment_token": card}))
                    .send()
                    .await?;
                let status = r.status();
                let body: Value = r.json().await?;
                let done = Instant::now();
                if status.as_u16() != 201 {
                    bail!("payment answered {status}: {body}");
                }
                latencies.lock().unwrap().push(done - t0);
                acked.lock().unwrap().push((
                    body["payment"]["id"].as_str().unwrap_or_default().to_owned(),
                    done,
                ));
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    #[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
    let rate = count as f64 / elapsed.as_secs_f64();
    let lat = std::mem::take(&mut *latencies.lock().unwrap());
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    Ok((rate, lat, acked))
}

/// The raw write, straight to SQLite with sqlx: lock (BEGIN IMMEDIATE), insert payment, update balance,
/// insert outbox row. One database and one pool of warm connections for every round; the database grows as the
/// API's grows across its rounds.
struct RawSqlite {
    pool: sqlx::SqlitePool,
    next_id: i64,
}

impl RawSqlite {
    async fn open(path: &Path, clients: usize) -> Result<RawSqlite> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30))
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        // Every connection stays open from before the first round to the last, so that each round has all
        // `clients` writers contending for the lock from its start (a pool that opens connections lazily
        // gives its first round fewer writers, and a faster raw write, than the rounds after it).
        let pool = SqlitePoolOptions::new()
            .max_connections(u32::try_from(clients).unwrap_or(8))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        let mut open = Vec::with_capacity(clients);
        for _ in 0..clients {
            open.push(pool.acquire().await?);
        }
        drop(open);
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS bench_invoices (id INTEGER PRIMARY KEY, total_minor INTEGER NOT NULL, amount_paid_minor INTEGER NOT NULL CHECK (amount_paid_minor <= total_minor));
             CREATE TABLE IF NOT EXISTS bench_payments (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL, amount_minor INTEGER NOT NULL, status TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS bench_outbox (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);",
        )
        .execute(&pool)
        .await?;
        Ok(RawSqlite { pool, next_id: 0 })
    }

    /// `n` fresh invoices inserted untimed, then one payment on each with `clients` tasks; transactions/s.
    async fn round(&mut self, clients: usize, n: usize) -> Result<f64> {
        let first = self.next_id;
        let end = first + i64::try_from(n)?;
        self.next_id = end;
        let mut tx = self.pool.begin().await?;
        for id in first..end {
            sqlx::query(
                "INSERT INTO bench_invoices (id, total_minor, amount_paid_minor) VALUES (?, 10000, 0)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let next = Arc::new(std::sync::atomic::AtomicI64::new(first));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (pool, next) = (self.pool.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if id >= end {
                        break;
                    }
                    let mut conn = pool.acquire().await?;
                    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
                    let (_paid,): (i64,) = sqlx::query_as("SELECT amount_paid_minor FROM bench_invoices WHERE id = ?")
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await?;
                    sqlx::query("INSERT INTO bench_payments (invoice_id, amount_minor, status, idempotency_key) VALUES (?, 2500, 'succeeded', ?)")
                        .bind(id)
                        .bind(uuid::Uuid::now_v7().simple().to_string())
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("UPDATE bench_invoices SET amount_paid_minor = amount_paid_minor + 2500 WHERE id = ?")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("INSERT INTO bench_outbox (payload) VALUES ('{\"type\":\"payment.succeeded\"}')")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("COMMIT").execute(&mut *conn).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        #[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
        Ok(n as f64 / start.elapsed().as_secs_f64())
    }
}

/// The raw write on PostgreSQL through pgbench with a custom script; tables and invoices set up once.
struct RawPostgres {
    pgbench: PathBuf,
    url: String,
    script: PathBuf,
}

impl RawPostgres {
    async fn setup(pgbench: &Path, admin_url: &str, db: &str, dir: &Path) -> Result<RawPostgres> {
        let url = format!("{}/{db}", admin_url.rsplit_once('/').context("url")?.0);
        let setup = "CREATE TABLE IF NOT EXISTS bench_invoices (id BIGINT PRIMARY KEY, total_minor BIGINT NOT NULL, amount_paid_minor BIGINT NOT NULL CHECK (amount_paid_minor <= total_minor));
             CREATE TABLE IF NOT EXISTS bench_payments (id BIGSERIAL PRIMARY KEY, invoice_id BIGINT NOT NULL, amount_minor BIGINT NOT NULL, status TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS bench_outbox (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL);
             INSERT INTO bench_invoices SELECT g, 1000000000, 0 FROM generate_series(1, 100000) g ON CONFLICT DO NOTHING;";
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        sqlx::raw_sql(setup).execute(&pool).await?;
        pool.close().await;
        let script = dir.join("raw_payment.sql");
        std::fs::write(
            &script,
            "\\set inv random(1, 100000)\n\
             BEGIN;\n\
             SELECT amount_paid_minor FROM bench_invoices WHERE id = :inv FOR UPDATE;\n\
             INSERT INTO bench_payments (invoice_id, amount_minor, status, idempotency_key) VALUES (:inv, 2500, 'succeeded', md5(random()::text || clock_timestamp()::text));\n\
             UPDATE bench_invoices SET amount_paid_minor = amount_paid_minor + 2500 WHERE id = :inv;\n\
             INSERT INTO bench_outbox (payload) VALUES ('{\"type\":\"payment.succeeded\"}');\n\
             COMMIT;\n",
        )?;
        Ok(RawPostgres {
            pgbench: pgbench.to_owned(),
            url,
            script,
        })
    }

    /// One pgbench run of `seconds` with `clients` clients; its tps.
    async fn round(&self, clients: usize, seconds: u64) -> Result<f64> {
        let out = tokio::process::Command::new(&self.pgbench)
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
                "-f",
            ])
            .arg(&self.script)
            .arg(&self.url)
            .output()
            .await
            .context("running pgbench")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("pgbench output: {text} {}", String::from_utf8_lossy(&out.stderr)))?;
        Ok(tps)
    }
}

/// The baseline measured right after each API round of a payment-throughput ratio.
enum Baseline {
    Sqlite(RawSqlite),
    Postgres(RawPostgres),
    /// No pgbench on this machine: the API rounds run, the ratio is not reported.
    Missing,
}

impl Baseline {
    async fn round(&mut self, quick: bool) -> Result<Option<f64>> {
        Ok(match self {
            Baseline::Sqlite(raw) => Some(raw.round(32, if quick { 1500 } else { 3000 }).await?),
            Baseline::Postgres(raw) => Some(raw.round(32, if quick { 2 } else { 3 }).await?),
            Baseline::Missing => None,
        })
    }
}

/// Rounds per ratio figure: each round measures the figure (A), then its baseline (B), so both see the
/// same load from the machine's other tenants; the ratio is the median of the per-round A/B.
fn rounds(quick: bool) -> usize {
    if quick {
        3
    } else {
        5
    }
}

/// A ratio whose rounds spread by more than this, as (max - min) / median, is reported as too wide to trust.
const SPREAD_LIMIT: f64 = 0.25;

#[allow(clippy::float_arithmetic)]
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The per-round rates of a figure (A) and its baseline (B), in the order they ran: A1 B1 A2 B2 ...
#[derive(Default)]
struct Interleaved {
    a: Vec<f64>,
    b: Vec<Option<f64>>,
}

impl Interleaved {
    fn median_a(&self) -> f64 {
        median(&self.a).unwrap_or(0.0)
    }

    fn median_b(&self) -> Option<f64> {
        median(&self.b.iter().flatten().copied().collect::<Vec<_>>())
    }

    fn ratios(&self) -> Vec<f64> {
        self.a
            .iter()
            .zip(&self.b)
            .filter_map(|(a, b)| b.map(|b| ratio(*a, b)))
            .collect()
    }

    fn median_ratio(&self) -> Option<f64> {
        median(&self.ratios())
    }

    /// Every round, the medians, the ratio's min-max and whether its spread is within `SPREAD_LIMIT`.
    #[allow(clippy::float_arithmetic)]
    fn to_json(&self) -> Value {
        let ratios = self.ratios();
        let per_round: Vec<Value> = self
            .a
            .iter()
            .zip(&self.b)
            .enumerate()
            .map(|(i, (a, b))| {
                json!({"round": i + 1, "a_per_s": round2(*a), "b_per_s": b.map(round2),
                       "ratio": b.map(|b| round3(ratio(*a, b)))})
            })
            .collect();
        let ratio_summary = median(&ratios).map(|med| {
            let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let spread = if med > 0.0 { Some((max - min) / med) } else { None };
            json!({"median": round3(med), "min": round3(min), "max": round3(max),
                   "spread": spread.map(round3), "spread_limit": SPREAD_LIMIT,
                   "trusted": spread.is_some_and(|s| s <= SPREAD_LIMIT)})
        });
        json!({"rounds": per_round, "median_a_per_s": round2(self.median_a()),
               "median_b_per_s": self.median_b().map(round2), "ratio": ratio_summary})
    }
}

/// Closed-loop GETs for `duration` with `clients` clients; requests/s.
async fn read_rate(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    clients: usize,
    duration: Duration,
) -> Result<f64> {
    let stop = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, bearer) = (http.clone(), url.to_owned(), bearer.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                let mut r = http.get(&url);
                if let Some(b) = &bearer {
                    r = r.bearer_auth(b);
                }
                let resp = r.send().await?;
                if !resp.status().is_success() {
                    bail!("{url}: {}", resp.status());
                }
                resp.bytes().await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0u64;
    for t in tasks {
        total += t.await??;
    }
    #[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
    Ok(total as f64 / duration.as_secs_f64())
}

/// A webhook receiver that records the arrival time of each payment id.
async fn webhook_receiver() -> Result<(String, Arc<Mutex<HashMap<String, Instant>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                break;
            };
            let seen = seen.clone();
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
                    // One request per connection is enough here: parse once headers and body are in.
                    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + len {
                        continue;
                    }
                    let arrived = Instant::now();
                    let body: Value =
                        serde_json::from_slice(&buf[head_end + 4..head_end + 4 + len]).unwrap_or_default();
                    if body["type"] == "payment.succeeded" {
                        if let Some(id) = body["data"]["payment_id"].as_str() {
                            seen.lock().unwrap().entry(id.to_owned()).or_insert(arrived);
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
    Ok((url, arrivals))
}

/// The sweep (1, 8, 32 clients), then the interleaved rounds of 32-client payments against `baseline`, then a
/// paced run at half the rounds' median rate.
async fn throughput(
    args: &Args,
    backend: &str,
    database_url: &str,
    dir: &Path,
    http: &reqwest::Client,
    baseline: &mut Baseline,
) -> Result<(Value, Interleaved, Option<u64>)> {
    let server = Server::start(&args.tranche, database_url, dir).await?;
    let f = fixture(&server, http, &[]).await?;
    let scale = if args.quick { 1 } else { 4 };
    let mut levels = Vec::new();
    for clients in [1usize, 8, 32] {
        let n = match clients {
            1 => 100 * scale,
            8 => 200 * scale,
            _ => 300 * scale,
        };
        let work = prepare(&server, http, &f, n).await?;
        let (rate, lat, _) = pay_all(&server.base, http, work, clients, None).await?;
        eprintln!("  {backend}: {clients} clients -> {rate:.0} payments/s");
        levels.push(json!({"clients": clients, "payments": n, "payments_per_s": round2(rate), "latency": summary(lat)}));
    }
    // Interleaved rounds: each round's invoices are prepared untimed, then the API (A), then the raw write (B).
    let per_round = if args.quick { 300 } else { 600 };
    let mut rounds_32 = Interleaved::default();
    let mut round_latency = Vec::new();
    for round in 1..=rounds(args.quick) {
        let work = prepare(&server, http, &f, per_round).await?;
        let (a, lat, _) = pay_all(&server.base, http, work, 32, None).await?;
        let b = baseline.round(args.quick).await?;
        eprintln!(
            "  {backend} round {round}: API {a:.0}/s, raw {}",
            b.map_or("n/a".into(), |b| format!("{b:.0}/s"))
        );
        rounds_32.a.push(a);
        rounds_32.b.push(b);
        round_latency.extend(lat);
    }
    // Half the rounds' median rate, open loop (paced), to read the p99 a real load would see.
    #[allow(
        clippy::float_arithmetic,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let half = {
        let target = (rounds_32.median_a() / 2.0).max(1.0);
        let clients = 16usize;
        let per_client = Duration::from_secs_f64(clients as f64 / target);
        let n = (target * if args.quick { 3.0 } else { 8.0 }) as usize;
        let work = prepare(&server, http, &f, n.max(20)).await?;
        let (rate, lat, _) = pay_all(&server.base, http, work, clients, Some(per_client)).await?;
        json!({"target_per_s": round2(target), "achieved_per_s": round2(rate), "latency": summary(lat)})
    };
    let rss = server.peak_rss_kib();
    Ok((
        json!({"levels": levels, "rounds_32_clients": {"payments_per_round": per_round, "latency": summary(round_latency)},
               "half_peak": half, "peak_rss_kib": rss}),
        rounds_32,
        rss,
    ))
}

/// A payment-throughput figure for report.json: the sweep and half peak under `api`, the interleaved rounds,
/// and the rounds' medians under the keys the report reads.
fn throughput_json(api: Value, rounds: &Interleaved) -> Value {
    json!({"api": api, "interleaved": rounds.to_json(),
           "api_32_clients_per_s": round2(rounds.median_a()),
           "raw_32_clients_per_s": rounds.median_b().map(round2),
           "ratio_api_over_raw_32": rounds.median_ratio().map(round3)})
}

async fn widget_start(server: &Server, http: &reqwest::Client, loads: usize, dir: &Path) -> Result<Value> {
    let site_listener = TcpListener::bind("127.0.0.1:0")?;
    let site = format!("http://{}", site_listener.local_addr()?);
    let f = fixture(server, http, std::slice::from_ref(&site)).await?;
    let work = prepare(server, http, &f, 1).await?;
    let token = work[0].0.clone();
    let site_server = tranche_api::seller_site::serve(
        site_listener,
        server.base.clone(),
        vec![("Invoice".into(), token.clone())],
    )?;
    tokio::spawn(site_server);

    let (browser, mut driver, _) = tranche_e2e::launch_browser(http, &dir.join("chromium")).await?;
    let mut out = serde_json::Map::new();
    for (name, url) in [
        ("hosted_page", format!("{}/pay/{token}", server.base)),
        ("seller_site_embed", format!("{site}/")),
    ] {
        let mut ready = Vec::new();
        let mut interactive = Vec::new();
        // Baseline: the same page's own DOMContentLoaded, i.e. the page without waiting for the widget.
        let mut page = Vec::new();
        for _ in 0..loads {
            browser.goto(&url).await?;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let v = browser
                    .execute(
                        "const r = performance.getEntriesByName('tranche:ready')[0]; const i = performance.getEntriesByName('tranche:interactive')[0];\
                         const n = performance.getEntriesByType('navigation')[0];\
                         return (r && i && n && n.domContentLoadedEventEnd > 0) ? [r.startTime, i.startTime, n.domContentLoadedEventEnd] : null;",
                        vec![],
                    )
                    .await?;
                if let Some(a) = v.as_array() {
                    let ms = |x: &Value| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0) / 1000.0);
                    ready.push(ms(&a[0]));
                    interactive.push(ms(&a[1]));
                    page.push(ms(&a[2]));
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{name}: the widget never became ready");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let median = |v: &[Duration]| {
            let mut v = v.to_vec();
            v.sort();
            v.get(v.len() / 2).map(|d| d.as_secs_f64()).unwrap_or(0.0)
        };
        let ratio_ready = ratio(median(&ready), median(&page));
        out.insert(
            name.into(),
            json!({"loads": loads, "to_ready": summary(ready), "to_interactive": summary(interactive),
                   "page_dom_content_loaded": summary(page), "ratio_ready_over_page": round2(ratio_ready)}),
        );
    }
    let _ = browser.close().await;
    let _ = driver.kill().await;
    Ok(Value::Object(out))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let dir = std::env::temp_dir().join(format!("tranche-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let mut report = serde_json::Map::new();

    // 3. Payment throughput, API vs the raw write, on SQLite and PostgreSQL.
    eprintln!("payment throughput: SQLite");
    let sqlite_db = dir.join("api.db");
    let mut raw = Baseline::Sqlite(RawSqlite::open(&dir.join("raw.db"), 32).await?);
    let (sqlite, rounds_sqlite, rss_sqlite) = throughput(
        &args,
        "sqlite",
        &format!("sqlite://{}", sqlite_db.display()),
        &dir,
        &http,
        &mut raw,
    )
    .await?;
    report.insert(
        "throughput_sqlite".into(),
        throughput_json(sqlite, &rounds_sqlite),
    );
    let mut peak_rss = rss_sqlite;
    if let Some(admin) = &args.postgres {
        eprintln!("payment throughput: PostgreSQL");
        let api_db = create_db(admin, "bench_api").await?;
        let mut raw = match &args.pgbench {
            Some(pgbench) => {
                create_db(admin, "bench_raw").await?;
                Baseline::Postgres(RawPostgres::setup(pgbench, admin, "bench_raw", &dir).await?)
            }
            None => Baseline::Missing,
        };
        let (pg, rounds_pg, rss_pg) = throughput(&args, "postgres", &api_db, &dir, &http, &mut raw).await?;
        peak_rss = peak_rss.max(rss_pg);
        report.insert("throughput_postgres".into(), throughput_json(pg, &rounds_pg));
    }
    report.insert("peak_rss_kib".into(), json!(peak_rss));

    // 4. Read path and 5. ERP latency, on a fresh SQLite server.
    let server = Server::start(
        &args.tranche,
        &format!("sqlite://{}", dir.join("read.db").display()),
        &dir,
    )
    .await?;
    let f = fixture(&server, &http, &[]).await?;
    let work = prepare(&server, &http, &f, 1).await?;
    // Interleaved rounds: GET /v1/checkout (A), then GET /livez (B).
    let secs = Duration::from_secs(if args.quick { 2 } else { 3 });
    let mut reads = Interleaved::default();
    for round in 1..=rounds(args.quick) {
        let checkout = read_rate(
            &http,
            &format!("{}/v1/checkout", server.base),
            Some(&work[0].0),
            32,
            secs,
        )
        .await?;
        let ceiling = read_rate(&http, &format!("{}/livez", server.base), None, 32, secs).await?;
        eprintln!("read path round {round}: {checkout:.0}/s vs hello-world {ceiling:.0}/s");
        reads.a.push(checkout);
        reads.b.push(Some(ceiling));
    }
    report.insert(
        "read_path".into(),
        json!({"checkout_per_s": round2(reads.median_a()), "hello_world_per_s": reads.median_b().map(round2),
               "ratio": reads.median_ratio().map(round3), "seconds_per_side": secs.as_secs(),
               "interleaved": reads.to_json()}),
    );

    let (hook, arrivals) = webhook_receiver().await?;
    post(
        &http,
        &format!("{}/v1/erp/endpoints", server.base),
        &f.key,
        json!({"url": hook, "kind": "webhook"}),
    )
    .await?;
    let n = if args.quick { 200 } else { 1000 };
    let work = prepare(&server, &http, &f, n).await?;
    let (_, _, acked) = pay_all(&server.base, &http, work, 8, None).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap().len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = arrivals.lock().unwrap().clone();
    let lat: Vec<Duration> = acked
        .iter()
        .filter_map(|(id, at)| seen.get(id).map(|arr| arr.saturating_duration_since(*at)))
        .collect();
    eprintln!("ERP: {} of {} delivered", lat.len(), acked.len());
    report.insert(
        "erp_latency".into(),
        json!({"payments": acked.len(), "delivered": lat.len(), "latency": summary(lat)}),
    );

    // 2. Widget start in headless Chromium.
    if Path::new(tranche_e2e::CHROMIUM).exists() {
        let loads = if args.quick { 10 } else { 30 };
        report.insert(
            "widget_start".into(),
            widget_start(&server, &http, loads, &dir).await?,
        );
    }

    std::fs::write(&args.out, serde_json::to_string_pretty(&Value::Object(report))?)?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[allow(clippy::float_arithmetic)]
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

async fn create_db(admin: &str, name: &str) -> Result<String> {
    use sqlx::Executor;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await?;
    pool.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await?;
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    pool.close().await;
    Ok(format!("{}/{name}", admin.rsplit_once('/').context("url")?.0))
}
