//! Static and rendered pages: the widget files (`/widget/v1/...`), the hosted checkout page
//! (`/pay/{token}`), and the sandbox gateway's card fields (`/sandbox/fields`).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use actix_web::http::header::{self, AcceptEncoding, Encoding, Header, Preference, Quality};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use sha2::{Digest, Sha256};
use tranche_domain::wire::Problem;
use tranche_domain::ErrorCode;

use crate::auth::Checkout;
use crate::cors::{known_origin, origin_of};
use crate::error::{problem_response, ApiError, ApiResult};
use crate::request_id;
use crate::state::AppState;
use crate::store::invoices;
use crate::widget_files::WidgetFiles;

const PAY_TEMPLATE: &str = include_str!("../../assets/pay.html");
const FIELDS_PAGE: &str = include_str!("../../assets/sandbox-fields.html");

/// `'sha256-...'` CSP sources for the inline `<script>` and `<style>` blocks of a page (ours only, each
/// written as a plain `<script>`/`<style>` tag), so the policy allows exactly those bytes and no others.
pub fn inline_hashes(page: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut sources = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        let digest = Sha256::digest(&body.as_bytes()[..end]);
        sources.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &body[end + close.len()..];
    }
    sources
}

/// The hosted page's policy, for the API at `origin`: the loader, glue and wasm only from the API's
/// `/widget/` path (the loader's SRI hash and the hashes built into it check their bytes), the page's one
/// inline script and style by hash, calls and the gateway's fields frame to the API's origin only, the
/// widget's styles as constructed stylesheets (which CSP does not govern), and no framing at all.
pub fn pay_policy(origin: &str) -> String {
    static INLINE: LazyLock<(String, String)> = LazyLock::new(|| {
        (
            inline_hashes(PAY_TEMPLATE, "script").join(" "),
            inline_hashes(PAY_TEMPLATE, "style").join(" "),
        )
    });
    let (scripts, styles) = &*INLINE;
    format!(
        "default-src 'none'; script-src {origin}/widget/ {scripts} 'wasm-unsafe-eval'; style-src {styles}; \
         connect-src {origin}; frame-src {origin}; img-src data:; base-uri 'none'; form-action 'none'; \
         object-src 'none'; frame-ancestors 'none'"
    )
}

/// The hosted page's policy with what Stripe's Payment Element needs when the gateway is Stripe: Stripe.js
/// from `js_origin` (Stripe's, `https://js.stripe.com`), its frames, and its calls to Stripe's API.
pub fn with_stripe(policy: String, js_origin: Option<String>) -> String {
    let Some(js) = js_origin else { return policy };
    policy
        .replacen("script-src ", &format!("script-src {js} "), 1)
        .replacen(
            "frame-src ",
            &format!("frame-src {js} https://js.stripe.com https://hooks.stripe.com "),
            1,
        )
        .replacen("connect-src ", "connect-src https://api.stripe.com ", 1)
}

/// The fields page's policy: its own inline script and style by hash, token requests to itself only,
/// and framed only by `parent` (already checked to be the API's origin or one a seller registered).
pub fn fields_policy(parent: Option<&str>) -> String {
    static INLINE: LazyLock<(String, String)> = LazyLock::new(|| {
        (
            inline_hashes(FIELDS_PAGE, "script").join(" "),
            inline_hashes(FIELDS_PAGE, "style").join(" "),
        )
    });
    let (scripts, styles) = &*INLINE;
    let ancestors = parent.unwrap_or("'none'");
    format!(
        "default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; object-src 'none'; frame-ancestors {ancestors}"
    )
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Where a widget build lives on disk: `TRANCHE_WIDGET_DIR`, else `target/widget/dist` under the working
/// directory, else under the workspace this binary was built from. (What the server serves may be the
/// build embedded in the binary instead: [`WidgetFiles::current`].)
pub fn widget_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TRANCHE_WIDGET_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("target/widget/dist");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/widget/dist")
}

/// The SRI hash of a widget file from the served build's `manifest.json`, if the widget is built.
pub fn integrity_of(name: &str) -> Option<String> {
    integrity_in_manifest(&WidgetFiles::current().manifest()?, name)
}

/// The SRI hash of `name` in the widget built into `dir`; `None` when missing or empty, so no page is ever
/// rendered with `integrity=""` (which the browser reads as "no check").
pub fn integrity_in(dir: &Path, name: &str) -> Option<String> {
    integrity_in_manifest(&std::fs::read_to_string(dir.join("manifest.json")).ok()?, name)
}

fn integrity_in_manifest(text: &str, name: &str) -> Option<String> {
    let manifest: serde_json::Value = serde_json::from_str(text).ok()?;
    let files = manifest.get("files")?;
    let entries: Vec<&serde_json::Value> = match files {
        serde_json::Value::Array(list) => list.iter().collect(),
        serde_json::Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    };
    entries
        .into_iter()
        .find(|f| {
            f.get("name").and_then(|n| n.as_str()) == Some(name)
                || f.get("path").and_then(|n| n.as_str()) == Some(name)
        })
        .and_then(|f| f.get("integrity"))
        .and_then(|i| i.as_str())
        .filter(|i| i.starts_with("sha384-") && i.len() > "sha384-".len())
        .map(str::to_owned)
}

/// 503 `widget_unavailable`: the hosted page without a built widget (see [`pay_page`]).
pub(crate) fn widget_unavailable() -> HttpResponse {
    tracing::error!(
        "widget not built: /pay refused (run `cargo xtask build-widget` or set TRANCHE_WIDGET_DIR)"
    );
    let mut problem = Problem::new(
        ErrorCode::WidgetUnavailable,
        "Service unavailable",
        "The checkout page is not available right now. Try again later.",
    );
    problem.request_id = request_id::current();
    let mut response = problem_response(&problem);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn is_hashed(name: &str) -> bool {
    // `name-<hex>.ext`: at least 8 hex digits after the last dash.
    let stem = name.split('.').next().unwrap_or("");
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn mime_of(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("wasm") => "application/wasm",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("map") => "application/json",
        // The element's TypeScript declarations (`tranche-checkout.d.ts`).
        Some("ts") => "application/typescript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Precompressed copies the build writes next to each widget file: (coding, file suffix).
const PRECOMPRESSED: [(Encoding, &str); 2] = [(Encoding::brotli(), "br"), (Encoding::gzip(), "gz")];

/// RFC 9110 12.5.3: a coding named with q > 0, or not named while `*` has q > 0.
fn accepts(accept: &AcceptEncoding, coding: &Encoding) -> bool {
    let quality_of = |p: &Preference<Encoding>| accept.0.iter().find(|q| &q.item == p).map(|q| q.quality);
    quality_of(&Preference::Specific(coding.clone()))
        .or_else(|| quality_of(&Preference::Any))
        .is_some_and(|q| q > Quality::ZERO)
}

/// The widget's release, as `tranche --version` prints it (semver, no `v`): `/widget/{WIDGET_VERSION}/` holds
/// exactly the files this binary ships, so they never change under that URL.
pub const WIDGET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /widget/v1/{file}`: the moving URL. The loader and the manifest follow releases (5 minutes of
/// cache); content-hashed files are immutable anyway.
pub async fn widget_file(req: HttpRequest, file: web::Path<String>) -> ApiResult<HttpResponse> {
    serve_widget_file(&req, file.into_inner(), false).await
}

/// `GET /widget/{version}/{file}`: this release's files, every one immutable (a page pins the loader with
/// SRI and it can never move). Any other version is 404: this binary cannot serve another release's bytes.
pub async fn widget_versioned_file(
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (version, file) = path.into_inner();
    if version != WIDGET_VERSION {
        return Err(ApiError::NotFound("widget version"));
    }
    serve_widget_file(&req, file, true).await
}

async fn serve_widget_file(req: &HttpRequest, name: String, immutable: bool) -> ApiResult<HttpResponse> {
    // One path segment of safe characters: nothing can climb out of the folder. The `.gz`/`.br` copies
    // are reached through Accept-Encoding, not by name.
    if name.is_empty()
        || name.len() > 128
        || name.starts_with('.')
        || PRECOMPRESSED
            .iter()
            .any(|(_, suffix)| name.ends_with(&format!(".{suffix}")))
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(ApiError::NotFound("file"));
    }
    let files = WidgetFiles::current();
    // The first precompressed copy (brotli, then gzip) the client accepts and the build wrote; else the plain
    // file. A missing or unparsable header means "no preference": the plain file. The SRI hash covers the
    // decoded bytes, so it holds for every encoding.
    let accept = AcceptEncoding::parse(req).unwrap_or_else(|_| AcceptEncoding(Vec::new()));
    let mut served = None;
    for (coding, suffix) in PRECOMPRESSED.into_iter().filter(|(e, _)| accepts(&accept, e)) {
        if let Some(bytes) = files.read(&format!("{name}.{suffix}")).await {
            served = Some((bytes, Some(coding)));
            break;
        }
    }
    let (bytes, encoding) = match served {
        Some(found) => found,
        None => match files.read(&name).await {
            Some(bytes) => (bytes, None),
            None => return Err(ApiError::NotFound("file")),
        },
    };
    let cache = if immutable || is_hashed(&name) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(mime_of(&name))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header(("cross-origin-resource-policy", "cross-origin"))
        // Lets the seller's page (and our tests) read transfer sizes and timings of these files.
        .insert_header(("timing-allow-origin", "*"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(coding) = encoding {
        response.insert_header((header::CONTENT_ENCODING, coding.to_string()));
    }
    Ok(response.body(bytes))
}

/// Fills `{{name}}` placeholders with escaped values.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &escape_html(value));
    }
    out
}

/// `GET /pay/{token}`: the hosted checkout page for emailed links.
pub async fn pay_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let checkout = match Checkout::from_token(&state, &token).await {
        Ok(checkout) => checkout,
        // Same quota as the API's checkout calls: guessing links here is no cheaper than there.
        Err(refused @ ApiError::Unauthorized { .. }) => {
            return Err(state
                .rate_limits
                .token_failure(req.peer_addr().map(|a| a.ip()))
                .unwrap_or(refused))
        }
        Err(other) => return Err(other),
    };
    // Without the built widget's hash the page would load the loader unchecked: refuse instead.
    let Some(loader_integrity) = integrity_of("tranche.js") else {
        return Ok(widget_unavailable());
    };
    let invoice = invoices::find(&state.db, &checkout.seller_id, &checkout.invoice_id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let heading = format!("Invoice {}", invoice.number);
    Ok(hosted_shell(
        &state,
        &checkout.seller_name,
        &invoice.number,
        &heading,
        &token,
        &loader_integrity,
    ))
}

/// The hosted payment page for a token: the loader (checked by its SRI hash) and the element given the
/// token, under the strict page policy. The checkout's page and the account's (`/account/{token}`) are
/// this one shell; only the words around the element differ.
pub(crate) fn hosted_shell(
    state: &AppState,
    seller_name: &str,
    title_subject: &str,
    heading: &str,
    token: &str,
    loader_integrity: &str,
) -> HttpResponse {
    let loader_url = format!("{}/widget/v1/tranche.js", state.public_base);
    let html = render(
        PAY_TEMPLATE,
        &[
            ("seller_name", seller_name),
            ("title_subject", title_subject),
            ("heading", heading),
            ("token", token),
            ("loader_url", &loader_url),
            ("loader_integrity", loader_integrity),
        ],
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // The token is in the URL: never send it onwards in a Referer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            with_stripe(
                pay_policy(&origin_of(&state.public_base)),
                (state.settings.gateway == crate::config::GatewayKind::Stripe)
                    .then(|| origin_of(&state.settings.stripe.js_url)),
            ),
        ))
        .body(html)
}

/// `?parent=` of the fields page: the origin of the page that frames it.
#[derive(serde::Deserialize)]
pub struct FieldsQuery {
    parent: Option<String>,
}

/// `scheme://host[:port]` with nothing else, so it can go into a header and a `postMessage` target as is.
pub fn is_plain_origin(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && rest.len() <= 253
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// `GET /sandbox/fields?parent=<origin>`: the gateway's card/bank fields page, put in an iframe by the
/// widget. It may only be framed by the origin it posts tokens to (CSP `frame-ancestors`), and only when
/// that origin is the API's own or one some seller registered, so a page cannot pose as another origin's
/// parent to receive tokens, nor frame the fields on a site no seller vouched for.
pub async fn sandbox_fields(state: web::Data<AppState>, query: web::Query<FieldsQuery>) -> HttpResponse {
    let mut parent = query.parent.as_deref().filter(|p| is_plain_origin(p));
    if let Some(origin) = parent {
        if !known_origin(&state, origin).await {
            parent = None;
        }
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, fields_policy(parent)))
        .body(FIELDS_PAGE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hosted_page_lets_stripe_js_in_only_with_stripe() {
        let plain = super::pay_policy("https://api.example");
        assert_eq!(super::with_stripe(plain.clone(), None), plain);
        let stripe = super::with_stripe(plain, Some("https://js.stripe.com".into()));
        for wanted in [
            "script-src https://js.stripe.com https://api.example/widget/",
            "frame-src https://js.stripe.com https://js.stripe.com https://hooks.stripe.com https://api.example;",
            "connect-src https://api.stripe.com https://api.example;",
        ] {
            assert!(stripe.contains(wanted), "{wanted} not in {stripe}");
        }
    }

    use super::*;

    #[test]
    fn render_escapes_values() {
        let html = render("<p title=\"{{a}}\">{{a}}</p>", &[("a", "<script>\"x\"&'")]);
        assert_eq!(
            html,
            "<p title=\"&lt;script&gt;&quot;x&quot;&amp;&#39;\">&lt;script&gt;&quot;x&quot;&amp;&#39;</p>"
        );
    }

    #[test]
    fn only_plain_origins_are_accepted_as_parents() {
        assert!(is_plain_origin("http://127.0.0.1:8081"));
        assert!(is_plain_origin("https://shop.example"));
        assert!(!is_plain_origin("https://shop.example/path"));
        assert!(!is_plain_origin("https://a.example; script-src *"));
        assert!(!is_plain_origin("javascript://x"));
        assert!(!is_plain_origin("https://"));
    }

    #[test]
    fn inline_blocks_are_hashed_and_external_scripts_are_not() {
        let page = "<script type=\"module\" src=\"x\"></script><style>a{}</style><script>go()</script>";
        // sha256("go()") and sha256("a{}"), base64.
        assert_eq!(
            inline_hashes(page, "script"),
            vec![format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"go()"))
            )]
        );
        assert_eq!(inline_hashes(page, "style").len(), 1);
        assert_eq!(inline_hashes(PAY_TEMPLATE, "script").len(), 1);
        assert_eq!(inline_hashes(PAY_TEMPLATE, "style").len(), 1);
        assert_eq!(inline_hashes(FIELDS_PAGE, "script").len(), 1);
        assert_eq!(inline_hashes(FIELDS_PAGE, "style").len(), 1);
    }

    #[actix_web::test]
    async fn no_built_widget_means_no_integrity_and_a_503() {
        let dir = std::env::temp_dir().join(format!("tranche-nowidget-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(integrity_in(&dir, "tranche.js"), None, "no manifest");
        for (manifest, expected) in [
            (r#"{"files":[{"name":"tranche.js","integrity":""}]}"#, None),
            (r#"{"files":[{"name":"tranche.js","integrity":"sha384-"}]}"#, None),
            (r#"{"files":[{"name":"tranche.js","integrity":"md5-x"}]}"#, None),
            (
                r#"{"files":[{"name":"tranche.js","integrity":"sha384-abc"}]}"#,
                Some("sha384-abc"),
            ),
        ] {
            std::fs::write(dir.join("manifest.json"), manifest).unwrap();
            assert_eq!(
                integrity_in(&dir, "tranche.js").as_deref(),
                expected,
                "{manifest}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
        let response = widget_unavailable();
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "widget_unavailable");
    }

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("tranche-0123abcd.js"));
        assert!(is_hashed("tranche_bg-0123abcdef.wasm"));
        assert!(!is_hashed("tranche.js"));
        assert!(!is_hashed("manifest.json"));
    }
}
