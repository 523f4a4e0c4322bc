//! A sample "seller site" on another origin, embedding the widget: the demo serves it, and the browser
//! tests use it to prove the element works on a page the API does not control, including a page that
//! sends a strict Content-Security-Policy of its own ([`strict_policy`], documented in docs/widget.md).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::cors::origin_of;
use crate::routes::pages::{escape_html, inline_hashes, integrity_of};

const TEMPLATE: &str = include_str!("../../embed-snippets/seller-site.html");

/// Renders the page: one `<tranche-checkout>` per `(label, checkout token)`.
pub fn render_page(api_base: &str, embeds: &[(String, String)]) -> String {
    let blocks: String = embeds
        .iter()
        .map(|(label, token)| {
            format!(
                "<section class=\"invoice\" data-testid=\"embed\"><h2>{}</h2>\n<tranche-checkout token=\"{}\"></tranche-checkout></section>\n",
                escape_html(label),
                escape_html(token)
            )
        })
        .collect();
    TEMPLATE
        .replace("{{api_base}}", &escape_html(api_base))
        .replace(
            "{{loader_integrity}}",
            &escape_html(&integrity_of("tranche.js").unwrap_or_default()),
        )
        .replace("{{embeds}}", &blocks)
}

/// The policy a careful seller sends, with the widget from `api_base`: nothing is allowed that the page
/// and the widget do not need. The widget's part is `{api}/widget/` and `'wasm-unsafe-eval'` in
/// `script-src`, `{api}` in `connect-src` and `frame-src`; the rest is this page's own inline blocks.
pub fn strict_policy(api_base: &str) -> String {
    let api = origin_of(api_base);
    let scripts = inline_hashes(TEMPLATE, "script").join(" ");
    let styles = inline_hashes(TEMPLATE, "style").join(" ");
    format!(
        "default-src 'none'; script-src {scripts} {api}/widget/ 'wasm-unsafe-eval'; style-src {styles}; \
         connect-src {api}; frame-src {api}; img-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"
    )
}

/// Serves the page at `/` on `listener`.
pub fn serve(
    listener: TcpListener,
    api_base: String,
    embeds: Vec<(String, String)>,
) -> anyhow::Result<Server> {
    serve_with_policy(listener, api_base, embeds, None)
}

/// Serves the page at `/` on `listener`, with `policy` as its `Content-Security-Policy` when given.
pub fn serve_with_policy(
    listener: TcpListener,
    api_base: String,
    embeds: Vec<(String, String)>,
    policy: Option<String>,
) -> anyhow::Result<Server> {
    let page = web::Data::new((render_page(&api_base, &embeds), policy));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(page.clone())
            .route(
                "/",
                web::get().to(|page: web::Data<(String, Option<String>)>| async move {
                    let (html, policy) = page.get_ref();
                    let mut response = HttpResponse::Ok();
                    response.content_type("text/html; charset=utf-8");
                    if let Some(policy) = policy {
                        response.insert_header((header::CONTENT_SECURITY_POLICY, policy.clone()));
                    }
                    response.body(html.clone())
                }),
            )
            // A real site has an icon; without one the browser logs a 404 the tests would count.
            .route(
                "/favicon.ico",
                web::get().to(|| async { HttpResponse::NoContent().finish() }),
            )
    })
    .workers(1)
    .listen(listener)
    .context("seller site listening")?
    .run();
    Ok(server)
}
