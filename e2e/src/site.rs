//! A seller site the test writes itself: `/` is the given HTML, anything else a file from `root` (a built
//! React or Vue app), so a test controls exactly how the page embeds the widget (a versioned URL with its
//! SRI hash, a framework's bundle).

use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::{Context, Result};

struct Site {
    index: String,
    root: Option<PathBuf>,
}

async fn page(req: HttpRequest, site: web::Data<Site>) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    if path.is_empty() || path == "index.html" {
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(site.index.clone());
    }
    // No icon, and no 404 for it in the console (tests assert a clean console).
    if path == "favicon.ico" {
        return HttpResponse::NoContent().finish();
    }
    let file = site
        .root
        .as_ref()
        .filter(|_| !path.split('/').any(|s| s == ".." || s.is_empty()))
        .and_then(|root| std::fs::read(root.join(path)).ok());
    let mime = match path.rsplit('.').next() {
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    match file {
        Some(bytes) => HttpResponse::Ok().content_type(mime).body(bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

/// Serves `index` at `/` and `root`'s files beside it on `listener`, until the test ends.
pub fn serve(listener: TcpListener, index: String, root: Option<PathBuf>) -> Result<()> {
    let site = web::Data::new(Site { index, root });
    let server = HttpServer::new(move || App::new().app_data(site.clone()).default_service(web::to(page)))
        .workers(1)
        .listen(listener)
        .context("site listening")?
        .run();
    tokio::spawn(server);
    Ok(())
}

/// A page head that records every `tranche:*` event as `{type, widget, detail}` in `window.trancheEvents`
/// (`widget` is the element's index on the page), as the demo's seller page does.
pub const EVENT_LOG: &str = r#"<script>
window.trancheEvents = [];
for (const type of ["tranche:ready", "tranche:error", "tranche:amount-change", "tranche:payment-succeeded", "tranche:payment-failed"]) {
  document.addEventListener(type, (e) => {
    const widget = [...document.querySelectorAll("tranche-checkout")].indexOf(e.target);
    window.trancheEvents.push({ type, widget, detail: e.detail });
  });
}
</script>"#;
