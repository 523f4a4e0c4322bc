//! A real HTTP server playing a seller's ERP: the webhook receiver and Intuit (OAuth token endpoint and the
//! QuickBooks Payment API). It records every `(path, JSON body)` it gets and answers as they would.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use super::{SellerCtx, TestApp};

/// The QuickBooks company (realm) the fake plays.
pub const REALM: &str = "4620816365";

/// Every `(path, body)` the fake ERP received, and where it listens.
pub struct FakeErp {
    requests: Mutex<Vec<(String, Value)>>,
    port: Mutex<u16>,
}

impl FakeErp {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Arc<FakeErp> {
        let erp = Arc::new(FakeErp {
            requests: Mutex::new(Vec::new()),
            port: Mutex::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        *erp.port.lock().unwrap() = listener.local_addr().unwrap().port();
        let data = web::Data::new(erp.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).default_service(web::to(
                |request: HttpRequest, body: web::Bytes, erp: web::Data<Arc<FakeErp>>| async move {
                    let path = request.path().to_owned();
                    if path == "/oauth2/v1/tokens/bearer" {
                        return HttpResponse::Ok().json(json!({
                            "access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-2",
                            "x_refresh_token_expires_in": 8_726_400, "token_type": "bearer"}));
                    }
                    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    erp.requests.lock().unwrap().push((path, value));
                    HttpResponse::Ok().json(json!({"Payment": {"Id": "1"}}))
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        erp
    }

    /// The bodies received at paths ending in `path_end` (`/hooks`, `/payment`), in order.
    pub fn bodies(&self, path_end: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.ends_with(path_end))
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Registers this ERP as the seller's webhook endpoint (`/hooks`) and QuickBooks endpoint.
    pub async fn connect(&self, app: &TestApp, seller: &SellerCtx) {
        let base = format!("http://127.0.0.1:{}", *self.port.lock().unwrap());
        for body in [
            json!({"kind": "webhook", "url": format!("{base}/hooks")}),
            json!({"kind": "quickbooks", "url": format!("{base}/v3/company/{REALM}/payment"),
                   "token_url": format!("{base}/oauth2/v1/tokens/bearer"), "realm_id": REALM,
                   "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"}),
        ] {
            let r = app.post("/v1/erp/endpoints", &seller.key, body).await;
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
    }
}
