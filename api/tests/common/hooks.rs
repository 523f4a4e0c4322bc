//! A local webhook receiver: records every request's path and JSON body, answers 200.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Hooks {
    bodies: Mutex<Vec<(String, Value)>>,
}

impl Hooks {
    /// Starts a receiver on a free port; returns it and the port.
    pub async fn start() -> (Arc<Hooks>, u16) {
        let hooks = Arc::new(Hooks::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::new(hooks.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).default_service(web::to(
                |request: HttpRequest, body: web::Bytes, hooks: web::Data<Arc<Hooks>>| async move {
                    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    hooks
                        .bodies
                        .lock()
                        .unwrap()
                        .push((request.path().to_owned(), value));
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
        (hooks, port)
    }

    /// Every `(path, body)` received so far.
    pub fn bodies(&self) -> Vec<(String, Value)> {
        self.bodies.lock().unwrap().clone()
    }

    /// The `data` of the first webhook of `event_type`, if it arrived.
    pub fn event(&self, event_type: &str) -> Option<Value> {
        self.bodies()
            .into_iter()
            .find(|(_, b)| b["type"] == event_type)
            .map(|(_, b)| b["data"].clone())
    }
}
