//! A local stand-in for Intuit: the OAuth token endpoint (`/oauth2/v1/tokens/bearer`, access token `at-1`)
//! and every QuickBooks API path, recording each request's path, query, `Authorization` and JSON body and
//! answering 200. Tests check the request shapes they care about.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// One recorded API request.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The body as sent (amounts as written: a `Value` reads JSON numbers as floats).
    pub raw: String,
}

#[derive(Default)]
pub struct Intuit {
    requests: Mutex<Vec<Request>>,
}

impl Intuit {
    /// Starts the stand-in on a free port; returns it and its base URL.
    pub async fn start() -> (Arc<Intuit>, String) {
        let intuit = Arc::new(Intuit::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::new(intuit.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).default_service(web::to(
                |request: HttpRequest, body: web::Bytes, intuit: web::Data<Arc<Intuit>>| async move {
                    if request.path() == "/oauth2/v1/tokens/bearer" {
                        return HttpResponse::Ok().json(json!({
                            "access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-2",
                            "x_refresh_token_expires_in": 8_726_400, "token_type": "bearer"}));
                    }
                    intuit.requests.lock().unwrap().push(Request {
                        path: request.path().to_owned(),
                        query: request.query_string().to_owned(),
                        authorization: request
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        raw: String::from_utf8_lossy(&body).into_owned(),
                    });
                    HttpResponse::Ok().json(json!({"ok": true}))
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        (intuit, format!("http://127.0.0.1:{port}"))
    }

    /// Requests whose path ends in `path_end`.
    pub fn requests(&self, path_end: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.ends_with(path_end))
            .cloned()
            .collect()
    }
}
