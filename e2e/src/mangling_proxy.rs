//! A stand-in for a misbehaving reverse proxy in front of the API (or a newer API the widget cannot read):
//! it forwards everything to the real API, but turns each successful answer to
//! `POST /v1/checkout/payments` into an HTML page with the same 2xx status, and can fail the invoice
//! re-reads that follow the first one. It records the Idempotency-Key of every payment request it forwards.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{Context, Result};

/// What the proxy did, for the test's assertions.
#[derive(Default)]
pub struct Log {
    /// Idempotency-Key of each forwarded payment request, in order.
    pub payment_keys: Mutex<Vec<String>>,
    /// Re-reads of `GET /v1/checkout` still to fail (502).
    failing_reads: AtomicUsize,
    reads_to_fail_after_mangling: usize,
    /// Payment answers mangled so far.
    pub mangled: AtomicUsize,
}

struct Shared {
    api: String,
    http: reqwest::Client,
    log: Arc<Log>,
}

/// Starts the proxy in front of `api`; returns its base URL and its log. After the first mangled payment
/// answer, the next `fail_reads` answers to `GET /v1/checkout` are a 502 page.
pub fn start(api: &str, fail_reads: usize) -> Result<(String, Arc<Log>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let log = Arc::new(Log {
        reads_to_fail_after_mangling: fail_reads,
        ..Log::default()
    });
    let shared = web::Data::new(Shared {
        api: api.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        log: log.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(forward))
    })
    .workers(1)
    .listen(listener)
    .context("proxy listening")?
    .run();
    tokio::spawn(server);
    Ok((base, log))
}

const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
];

async fn forward(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let is_payment = req.method() == actix_web::http::Method::POST && req.path() == "/v1/checkout/payments";
    let is_read = req.method() == actix_web::http::Method::GET && req.path() == "/v1/checkout";
    let origin = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if is_payment {
        let key = req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        shared
            .log
            .payment_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
    }
    if is_read
        && shared
            .log
            .failing_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        // A gateway error the browser may read (CORS allowed), as a real proxy would send.
        let mut r = HttpResponse::BadGateway();
        if let Some(origin) = &origin {
            r.insert_header(("access-control-allow-origin", origin.as_str()));
        }
        return r
            .content_type("text/html")
            .body("<html><body>502 Bad Gateway</body></html>");
    }
    let method =
        reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut outgoing = shared.http.request(method, format!("{}{path}", shared.api));
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match outgoing.body(body.to_vec()).send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    let mangle = is_payment && status.is_success();
    for (name, value) in answer.headers() {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || (mangle && (name == "content-type" || name == "content-encoding")) {
            continue;
        }
        response.append_header((name, value.as_bytes()));
    }
    if mangle {
        if shared.log.mangled.fetch_add(1, Ordering::SeqCst) == 0 {
            let reads = shared.log.reads_to_fail_after_mangling;
            shared.log.failing_reads.store(reads, Ordering::SeqCst);
        }
        return response
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><html><body><h1>Thank you</h1><p>Request processed.</p></body></html>");
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(bytes)
}
