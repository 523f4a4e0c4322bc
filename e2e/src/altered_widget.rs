//! A stand-in for a compromised CDN or file server: serves copies of the built widget (`target/widget/dist`)
//! in which one file has one byte changed, each under its own path, with a page that embeds the widget
//! from there. The loader itself is untouched (the page pins it by its SRI hash, as sellers do).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{Context, Result};

/// Which file of the copy is altered.
pub const VARIANTS: [&str; 4] = ["intact", "glue", "wasm", "css"];

struct Copies {
    /// (variant, file name) -> bytes.
    files: HashMap<(String, String), Vec<u8>>,
    page: String,
}

/// Changes one byte so the file still works (an attacker's change would too): the glue's final newline
/// becomes a space, the primary colour of the CSS changes by one digit, and a byte of the wasm's data
/// (near its end, past all code) flips.
fn alter_one_byte(name: &str, bytes: &mut [u8]) {
    let at = match name {
        "tranche_widget.js" => bytes.len() - 1,
        "tranche.css" => {
            let text = String::from_utf8_lossy(bytes);
            text.find("#2454d6").map_or(bytes.len() - 1, |i| i + 6)
        }
        _ => bytes.len() - 2,
    };
    bytes[at] = match bytes[at] {
        b'\n' => b' ',
        b'6' => b'7',
        b'a' => b'b',
        _ => b'a',
    };
}

/// Reads the built widget from `dist`, makes one copy per [`VARIANTS`] entry, and serves
/// `/{variant}/` (a page with `<tranche-checkout token api>`) and `/{variant}/{file}`. Returns the base URL.
pub fn start(dist: &Path, api: &str, token: &str) -> Result<String> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json"))?)?;
    let entries = manifest["files"].as_array().context("manifest files")?;
    let mut files = HashMap::new();
    let mut loader_integrity = String::new();
    for entry in entries {
        let name = entry["name"].as_str().context("name")?;
        let path = entry["path"].as_str().context("path")?;
        if name == "tranche.js" {
            loader_integrity = entry["integrity"].as_str().context("integrity")?.to_owned();
        }
        let bytes = std::fs::read(dist.join(path))?;
        for variant in VARIANTS {
            let mut copy = bytes.clone();
            let altered = match variant {
                "glue" => name == "tranche_widget.js",
                "wasm" => name == "tranche_widget_bg.wasm",
                "css" => name == "tranche.css",
                _ => false,
            };
            if altered {
                alter_one_byte(name, &mut copy);
            }
            files.insert((variant.to_owned(), path.to_owned()), copy);
        }
    }
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Altered widget</title>\
         <script>window.trancheEvents = []; document.addEventListener('tranche:error', (e) => window.trancheEvents.push({{type: e.type, widget: 0, detail: e.detail}}));\
         document.addEventListener('tranche:ready', (e) => window.trancheEvents.push({{type: e.type, widget: 0, detail: e.detail}}));</script>\
         <script type=\"module\" src=\"tranche.js\" integrity=\"{loader_integrity}\" crossorigin=\"anonymous\"></script></head>\
         <body><tranche-checkout token=\"{token}\" api=\"{api}\"></tranche-checkout></body></html>"
    );
    let copies = web::Data::new(Copies { files, page });
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(copies.clone())
            .route(
                "/favicon.ico",
                web::get().to(|| async { HttpResponse::NoContent().finish() }),
            )
            .route(
                "/{variant}/",
                web::get().to(|copies: web::Data<Copies>| async move {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(copies.page.clone())
                }),
            )
            .route(
                "/{variant}/{file}",
                web::get().to(
                    |copies: web::Data<Copies>, path: web::Path<(String, String)>| async move {
                        let (variant, file) = path.into_inner();
                        let mime = match file.rsplit('.').next() {
                            Some("wasm") => "application/wasm",
                            Some("js") => "text/javascript",
                            Some("css") => "text/css",
                            _ => "application/octet-stream",
                        };
                        match copies.files.get(&(variant, file)) {
                            Some(bytes) => HttpResponse::Ok()
                                .content_type(mime)
                                .insert_header(("cache-control", "no-store"))
                                .body(bytes.clone()),
                            None => HttpResponse::NotFound().finish(),
                        }
                    },
                ),
            )
    })
    .workers(1)
    .listen(listener)
    .context("altered widget server listening")?
    .run();
    tokio::spawn(server);
    Ok(base)
}
