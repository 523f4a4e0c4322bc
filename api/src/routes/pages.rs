//! Static and rendered pages: the widget files (`/widget/v1/...`), the hosted checkout page
//! (`/pay/{token}`), and the sandbox gateway's card fields (`/sandbox/fields`).

use std::path::{Path, PathBuf};

use actix_web::http::header::{self, AcceptEncoding, Encoding, Header, Preference, Quality};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::Checkout;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::invoices;

const PAY_TEMPLATE: &str = include_str!("../../assets/pay.html");
const FIELDS_PAGE: &str = include_str!("../../assets/sandbox-fields.html");

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

/// Where the built widget lives: `TRANCHE_WIDGET_DIR`, else `target/widget/dist` under the working
/// directory, else under the workspace this binary was built from.
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

/// The SRI hash of a widget file from `manifest.json`, if the widget is built.
pub fn integrity_of(name: &str) -> Option<String> {
    let text = std::fs::read_to_string(widget_dir().join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
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
        .map(str::to_owned)
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

/// `GET /widget/v1/{file}`.
pub async fn widget_file(req: HttpRequest, file: web::Path<String>) -> ApiResult<HttpResponse> {
    let name = file.into_inner();
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
    let dir = widget_dir();
    // The first precompressed copy (brotli, then gzip) the client accepts and the build wrote; else the plain
    // file. A missing or unparsable header means "no preference": the plain file. The SRI hash covers the
    // decoded bytes, so it holds for every encoding.
    let accept = AcceptEncoding::parse(&req).unwrap_or_else(|_| AcceptEncoding(Vec::new()));
    let mut served = None;
    for (coding, suffix) in PRECOMPRESSED.into_iter().filter(|(e, _)| accepts(&accept, e)) {
        if let Ok(bytes) = tokio::fs::read(dir.join(format!("{name}.{suffix}"))).await {
            served = Some((bytes, Some(coding)));
            break;
        }
    }
    let (bytes, encoding) = match served {
        Some(found) => found,
        None => match tokio::fs::read(dir.join(&name)).await {
            Ok(bytes) => (bytes, None),
            Err(_) => return Err(ApiError::NotFound("file")),
        },
    };
    let cache = if is_hashed(&name) {
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
pub async fn pay_page(state: web::Data<AppState>, token: web::Path<String>) -> ApiResult<HttpResponse> {
    let checkout = Checkout::from_token(&state, &token).await?;
    let invoice = invoices::find(&state.db, &checkout.seller_id, &checkout.invoice_id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let loader_url = format!("{}/widget/v1/tranche.js", state.public_base);
    let html = render(
        PAY_TEMPLATE,
        &[
            ("seller_name", &checkout.seller_name),
            ("invoice_number", &invoice.number),
            ("token", &token),
            ("loader_url", &loader_url),
            (
                "loader_integrity",
                &integrity_of("tranche.js").unwrap_or_default(),
            ),
        ],
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // The token is in the URL: never send it onwards in a Referer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("content-security-policy", "frame-ancestors 'none'"))
        .body(html))
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
/// widget. It may only be framed by the origin it posts tokens to (CSP `frame-ancestors`), so a page
/// cannot pose as another origin's parent to receive tokens.
pub async fn sandbox_fields(query: web::Query<FieldsQuery>) -> HttpResponse {
    let ancestors = match query.parent.as_deref().filter(|p| is_plain_origin(p)) {
        Some(parent) => format!("frame-ancestors {parent}"),
        None => "frame-ancestors 'none'".to_owned(),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("content-security-policy", ancestors))
        .body(FIELDS_PAGE)
}

#[cfg(test)]
mod tests {
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
    fn hashed_names_are_recognised() {
        assert!(is_hashed("tranche-0123abcd.js"));
        assert!(is_hashed("tranche_bg-0123abcdef.wasm"));
        assert!(!is_hashed("tranche.js"));
        assert!(!is_hashed("manifest.json"));
    }
}
