//! The demo's stand-in for a seller's ERP: an HTTP receiver that verifies each webhook's Standard Webhooks
//! signature with the endpoint secret and prints what arrived, so a new user sees a partial payment reach
//! "the ERP" within a second of paying.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;

use crate::erp::signature;

struct Receiver {
    /// Set once the demo has registered the endpoint (the secret is returned then).
    secret: std::sync::OnceLock<String>,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn receive(req: HttpRequest, body: web::Bytes, receiver: web::Data<Arc<Receiver>>) -> HttpResponse {
    let Some(secret) = receiver.secret.get() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let id = header(&req, "webhook-id");
    let verified = signature::verify(
        secret,
        id,
        header(&req, "webhook-timestamp"),
        header(&req, "webhook-signature"),
        &body,
        now,
    );
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let data = &event["data"];
    match verified {
        Ok(()) => {
            println!(
                "  [demo ERP] {} {} verified: {} {} on {} (balance after {})",
                id,
                event["type"].as_str().unwrap_or("?"),
                data["amount"].as_str().unwrap_or("?"),
                data["currency"].as_str().unwrap_or(""),
                data["invoice_number"].as_str().unwrap_or("?"),
                data["invoice_balance_after"].as_str().unwrap_or("?"),
            );
            HttpResponse::NoContent().finish()
        }
        Err(e) => {
            println!("  [demo ERP] {id} REJECTED: {e}");
            HttpResponse::Unauthorized().finish()
        }
    }
}

/// Starts the receiver on `listener`; call the returned setter with the endpoint's secret.
pub fn serve(listener: TcpListener) -> anyhow::Result<(Server, impl FnOnce(String))> {
    let receiver = Arc::new(Receiver {
        secret: std::sync::OnceLock::new(),
    });
    let data = web::Data::new(receiver.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/webhooks/tranche", web::post().to(receive))
    })
    .workers(1)
    .listen(listener)
    .context("demo ERP receiver listening")?
    .run();
    Ok((server, move |secret: String| {
        let _ = receiver.secret.set(secret);
    }))
}
