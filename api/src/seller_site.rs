//! A sample "seller site" on another origin, embedding the widget: the demo serves it, and the browser
//! tests use it to prove the element works on a page the API does not control.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::routes::pages::{escape_html, integrity_of};

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

/// Serves the page at `/` on `listener`.
pub fn serve(
    listener: TcpListener,
    api_base: String,
    embeds: Vec<(String, String)>,
) -> anyhow::Result<Server> {
    let page = web::Data::new(render_page(&api_base, &embeds));
    let server = HttpServer::new(move || {
        App::new().app_data(page.clone()).route(
            "/",
            web::get().to(|page: web::Data<String>| async move {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(page.get_ref().clone())
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .context("seller site listening")?
    .run();
    Ok(server)
}
