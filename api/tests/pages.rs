//! Pages, widget files and CORS for the checkout routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine;
use common::{expect_problem, spawn_app, spawn_app_with, Backend};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A stand-in widget build, shared by every test in this binary (the folder is a process-wide setting):
/// a loader, a hashed wasm with precompressed copies, and a manifest with the loader's SRI hash.
fn fake_widget_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tranche-widget-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tranche.js"), "export {}").unwrap();
        std::fs::write(dir.join("tranche_bg-0123456789abcdef.wasm"), [0u8, 97, 115, 109]).unwrap();
        // The build's precompressed copies (content is opaque to the server; marked to tell them apart).
        std::fs::write(dir.join("tranche_bg-0123456789abcdef.wasm.br"), "BR").unwrap();
        std::fs::write(dir.join("tranche_bg-0123456789abcdef.wasm.gz"), "GZ").unwrap();
        std::fs::write(dir.join("tranche.js.gz"), "GZ").unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            r#"{"files":[{"name":"tranche.js","integrity":"sha384-abc"}]}"#,
        )
        .unwrap();
        std::env::set_var("TRANCHE_WIDGET_DIR", &dir);
        dir
    })
    .clone()
}

/// The directives of a Content-Security-Policy header: name -> sources.
fn directives(policy: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    policy
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace().map(str::to_owned);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// `'sha256-...'` of each inline `<script>`/`<style>` (tag without attributes) in `html`.
fn inline_sources(html: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    html.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close))
        .map(|(body, _)| {
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()))
            )
        })
        .collect()
}

async fn checkout_cors_follows_allowed_origins(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/v1/sellers",
            &app.operator,
            json!({"name": "Shop", "allowed_origins": ["https://shop.example"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let seller: Value = r.json().await.unwrap();
    let key = seller["secret_key"].as_str().unwrap().to_owned();
    let other = app.seller("Other").await;
    let customer: Value = app
        .post("/v1/customers", &key, json!({"name": "B", "email": "b@b.co"}))
        .await
        .json()
        .await
        .unwrap();
    let ctx = common::SellerCtx {
        id: seller["id"].as_str().unwrap().to_owned(),
        key: key.clone(),
        customer_id: customer["id"].as_str().unwrap().to_owned(),
    };
    let inv = app.invoice(&ctx, "USD", "100.00", None).await;
    let (_, token) = app.link(&ctx, inv["id"].as_str().unwrap()).await;

    // Preflight from the registered origin is allowed; from an unknown origin it is not.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/checkout/payments"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, idempotency-key, content-type",
            )
            .send()
    };
    let ok = preflight("https://shop.example").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("idempotency-key"));
    let denied = preflight("https://evil.example").await.unwrap();
    assert_eq!(denied.status(), 403);
    assert!(denied.headers().get("access-control-allow-origin").is_none());

    // Real calls: allowed origin gets data and the CORS header; no Origin (server-side) is fine too.
    let r = app
        .client
        .get(app.url("/v1/checkout"))
        .bearer_auth(&token)
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(app.get("/v1/checkout", &token).await.status(), 200);
    // The API's own origin (hosted page) is always allowed.
    let r = app
        .client
        .get(app.url("/v1/checkout"))
        .bearer_auth(&token)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An unregistered origin is refused, without CORS headers.
    let r = app
        .client
        .get(app.url("/v1/checkout"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    expect_problem(r, 403, "origin_not_allowed").await;
    // Another seller's origin may not use this seller's token either.
    let r = app
        .post(
            "/v1/sellers",
            &app.operator,
            json!({"name": "Other shop", "allowed_origins": ["https://other.example"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .get(app.url("/v1/checkout"))
        .bearer_auth(&token)
        .header("origin", "https://other.example")
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "origin_not_allowed").await;
    drop(other);
    // Bad origins are refused at seller creation.
    let r = app
        .post(
            "/v1/sellers",
            &app.operator,
            json!({"name": "x", "allowed_origins": ["javascript:alert(1)"]}),
        )
        .await;
    expect_problem(r, 400, "invalid_field").await;
}
both_backends!(checkout_cors_follows_allowed_origins);

async fn hosted_page_and_fields_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post(
            "/v1/sellers",
            &app.operator,
            json!({"name": "Tom & Jerry <Supply>"}),
        )
        .await;
    let seller: Value = r.json().await.unwrap();
    let key = seller["secret_key"].as_str().unwrap().to_owned();
    let customer: Value = app
        .post("/v1/customers", &key, json!({"name": "B", "email": "b@b.co"}))
        .await
        .json()
        .await
        .unwrap();
    let ctx = common::SellerCtx {
        id: String::new(),
        key,
        customer_id: customer["id"].as_str().unwrap().to_owned(),
    };
    let inv = app.invoice(&ctx, "USD", "100.00", None).await;
    let (_, token) = app.link(&ctx, inv["id"].as_str().unwrap()).await;
    fake_widget_dir();
    let r = app
        .client
        .get(app.url(&format!("/pay/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = directives(r.headers()["content-security-policy"].to_str().unwrap());
    let html = r.text().await.unwrap();
    assert!(html.contains("Tom &amp; Jerry &lt;Supply&gt;"), "{html}");
    assert!(!html.contains("<Supply>"));
    assert!(html.contains(&format!("token=\"{token}\"")));
    assert!(html.contains("/widget/v1/tranche.js"));
    // The loader is pinned by the built hash, never by an empty one; the page asks for no favicon.
    assert!(html.contains("integrity=\"sha384-abc\""), "{html}");
    assert!(!html.contains("integrity=\"\""));
    assert!(html.contains("<link rel=\"icon\" href=\"data:,\">"));
    // A strict policy: nothing by default, scripts only from the API's /widget/ path and the page's one
    // inline script by hash (no 'unsafe-inline', no 'unsafe-eval'), wasm allowed, no framing at all.
    let own = app.base.clone();
    assert_eq!(csp["default-src"], ["'none'"]);
    let mut scripts = vec![format!("{own}/widget/")];
    scripts.extend(inline_sources(&html, "script"));
    scripts.push("'wasm-unsafe-eval'".into());
    assert_eq!(csp["script-src"], scripts, "{csp:?}");
    assert_eq!(inline_sources(&html, "script").len(), 1);
    assert_eq!(csp["style-src"], inline_sources(&html, "style"));
    assert_eq!(csp["connect-src"], [own.as_str()]);
    assert_eq!(csp["frame-src"], [own.as_str()]);
    assert_eq!(csp["img-src"], ["data:"]);
    assert_eq!(csp["object-src"], ["'none'"]);
    assert_eq!(csp["base-uri"], ["'none'"]);
    assert_eq!(csp["form-action"], ["'none'"]);
    assert_eq!(csp["frame-ancestors"], ["'none'"]);
    assert!(!csp
        .values()
        .flatten()
        .any(|s| s.contains("unsafe-inline") || s == "'unsafe-eval'" || s == "*"));

    let r = app.client.get(app.url("/pay/not-a-token")).send().await.unwrap();
    expect_problem(r, 401, "invalid_checkout_token").await;

    // The fields page: framed only by the API's own origin or one some seller registered.
    let registered = app
        .post(
            "/v1/sellers",
            &app.operator,
            json!({"name": "Shop", "allowed_origins": ["http://shop.example:8081"]}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let fields = |parent: String| {
        let url = app.url(&format!("/sandbox/fields?parent={}", urlencode(&parent)));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    let r = fields("http://shop.example:8081".into()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = directives(r.headers()["content-security-policy"].to_str().unwrap());
    let html = r.text().await.unwrap();
    assert!(
        html.contains("postMessage(message, parent)"),
        "tokens go to the named parent only"
    );
    assert_eq!(csp["frame-ancestors"], ["http://shop.example:8081"]);
    assert_eq!(csp["default-src"], ["'none'"]);
    assert_eq!(csp["script-src"], inline_sources(&html, "script"));
    assert_eq!(csp["style-src"], inline_sources(&html, "style"));
    assert_eq!(csp["connect-src"], ["'self'"]);
    assert_eq!(csp["object-src"], ["'none'"]);
    assert_eq!(csp["base-uri"], ["'none'"]);
    assert_eq!(csp["form-action"], ["'none'"]);
    // The API's own origin (the hosted page) may frame it too.
    let r = fields(own.clone()).await;
    let csp = directives(r.headers()["content-security-policy"].to_str().unwrap());
    assert_eq!(csp["frame-ancestors"], [own.as_str()]);
    // An origin no seller registered, and a parent that is not a plain origin (header injection), may not.
    for parent in [
        "https://evil.example",
        "https://a.example; script-src *",
        "http://shop.example:8082",
    ] {
        let r = fields(parent.into()).await;
        let header = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(directives(&header)["frame-ancestors"], ["'none'"], "{parent}");
        assert!(!header.contains("script-src *"), "{header}");
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
both_backends!(hosted_page_and_fields_page);

/// Guessing links on the hosted page costs the same as on the API: past the quota of failed tokens, 429.
async fn hosted_page_counts_failed_tokens(backend: Backend) {
    fake_widget_dir();
    let app = spawn_app_with(backend, |s| {
        s.rate_limits = tranche_api::rate_limit::RateLimitSettings {
            token_failures_per_ip_per_minute: 5,
            ..tranche_api::rate_limit::RateLimitSettings::unlimited()
        }
    })
    .await;
    let seller = app.seller("S").await;
    let inv = app.invoice(&seller, "USD", "10.00", None).await;
    let (_, token) = app.link(&seller, inv["id"].as_str().unwrap()).await;
    let page = |path: String| app.client.get(app.url(&path)).send();
    for i in 0..5 {
        let r = page(format!("/pay/guess-{i}")).await.unwrap();
        expect_problem(r, 401, "invalid_checkout_token").await;
    }
    let r = page("/pay/guess-5".into()).await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    expect_problem(r, 429, "rate_limited").await;
    // The same quota as the API's checkout calls, not a second one.
    expect_problem(app.get("/v1/checkout", "guess-6").await, 429, "rate_limited").await;
    // A buyer with a real link behind the same address still gets the page.
    assert_eq!(page(format!("/pay/{token}")).await.unwrap().status(), 200);
}
both_backends!(hosted_page_counts_failed_tokens);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_files_have_types_caching_and_no_traversal() {
    fake_widget_dir();
    let app = spawn_app(Backend::Sqlite).await;
    let r = app
        .client
        .get(app.url("/widget/v1/tranche_bg-0123456789abcdef.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = app
        .client
        .get(app.url("/widget/v1/tranche.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    assert_eq!(r.headers()["vary"], "Accept-Encoding");
    assert!(
        r.headers().get("content-encoding").is_none(),
        "no Accept-Encoding: plain file"
    );
    assert_eq!(r.text().await.unwrap(), "export {}");

    // Precompressed copies by Accept-Encoding: brotli first, gzip next, q=0 honoured, plain otherwise.
    let wasm = "/widget/v1/tranche_bg-0123456789abcdef.wasm";
    for (accept, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), &b"BR"[..]),
        ("br;q=0.1, gzip", Some("br"), b"BR"),
        ("gzip", Some("gzip"), b"GZ"),
        ("gzip, br;q=0", Some("gzip"), b"GZ"),
        ("*", Some("br"), b"BR"),
        ("identity", None, &[0u8, 97, 115, 109][..]),
        ("deflate, zstd", None, &[0u8, 97, 115, 109][..]),
        ("gzip;q=0, br;q=0", None, &[0u8, 97, 115, 109][..]),
    ] {
        let r = app
            .client
            .get(app.url(wasm))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(
            r.headers().get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(r.headers()["content-type"], "application/wasm");
        assert_eq!(r.headers()["vary"], "Accept-Encoding");
        assert_eq!(&r.bytes().await.unwrap()[..], body, "{accept}");
    }
    // Only the copies that exist are offered: the loader has a .gz but no .br.
    let r = app
        .client
        .get(app.url("/widget/v1/tranche.js"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");

    for bad in [
        "/widget/v1/tranche.js.gz",
        "/widget/v1/tranche_bg-0123456789abcdef.wasm.br",
        "/widget/v1/..%2Fmanifest.json",
        "/widget/v1/.hidden",
        "/widget/v1/missing.js",
    ] {
        assert_eq!(
            app.client.get(app.url(bad)).send().await.unwrap().status(),
            404,
            "{bad}"
        );
    }
    assert_eq!(
        tranche_api::routes::pages::integrity_of("tranche.js").as_deref(),
        Some("sha384-abc")
    );
}

/// `/widget/{version}/` serves this release's files, all immutable, so an SRI-pinned snippet never moves;
/// `/widget/v1/` keeps its short cache for the loader; another version (or a `v`-prefixed one) is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_widget_urls_are_immutable_beside_the_moving_v1() {
    fake_widget_dir();
    let app = spawn_app(Backend::Sqlite).await;
    let version = tranche_api::routes::pages::WIDGET_VERSION;
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(
        !version.starts_with('v') && version.split('.').count() == 3,
        "{version}"
    );

    let r = app
        .client
        .get(app.url(&format!("/widget/{version}/tranche.js")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.text().await.unwrap(), "export {}");
    // The files the loader names sit beside it, compressed copies included.
    let r = app
        .client
        .get(app.url(&format!("/widget/{version}/tranche_bg-0123456789abcdef.wasm")))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(r.headers()["content-type"], "application/wasm");
    // The manifest (where a page takes the loader's SRI hash from) is immutable under the version too.
    let r = app
        .client
        .get(app.url(&format!("/widget/{version}/manifest.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // The moving URL still moves.
    let r = app
        .client
        .get(app.url("/widget/v1/tranche.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");

    for bad in [
        format!("/widget/v{version}/tranche.js"),
        "/widget/0.0.0/tranche.js".to_owned(),
        "/widget/999.0.0/tranche.js".to_owned(),
        format!("/widget/{version}/tranche.js.gz"),
        format!("/widget/{version}/..%2Fmanifest.json"),
        format!("/widget/{version}/.hidden"),
        format!("/widget/{version}/missing.js"),
    ] {
        assert_eq!(
            app.client.get(app.url(&bad)).send().await.unwrap().status(),
            404,
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_the_contract() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/sellers", "post"),
        ("/v1/customers", "post"),
        ("/v1/terms", "post"),
        ("/v1/invoices", "post"),
        ("/v1/invoices", "get"),
        ("/v1/invoices/{id}", "get"),
        ("/v1/invoices/{id}/void", "post"),
        ("/v1/invoices/{id}/checkout-links", "post"),
        ("/v1/checkout-links/{id}", "delete"),
        ("/v1/payments", "get"),
        ("/v1/payments/{id}", "get"),
        ("/v1/checkout", "get"),
        ("/v1/checkout/payments", "post"),
        ("/sandbox/v1/tokens", "post"),
        ("/healthz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "Problem",
        "CheckoutView",
        "PaymentRequest",
        "PaymentResponse",
        "TermsRequest",
        "InvoiceRequest",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    // Request bodies refuse unknown fields in the document too.
    assert_eq!(schemas["PaymentRequest"]["additionalProperties"], json!(false));
    // Decimal strings and dates say their format, so clients (and schemathesis) know it.
    let decimal = json!("^[0-9]+(\\.[0-9]+)?$");
    assert_eq!(
        schemas["PaymentRequest"]["properties"]["amount"]["pattern"],
        decimal
    );
    assert_eq!(
        schemas["LineRequest"]["properties"]["unit_price"]["pattern"],
        decimal
    );
    assert_eq!(
        schemas["InvoiceRequest"]["properties"]["issue_date"]["pattern"],
        json!("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    );
    assert!(doc["components"]["securitySchemes"]["checkout_token"].is_object());
}
