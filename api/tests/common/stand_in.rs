//! Stand-in HTTP servers for the tests (a webhook receiver, Intuit, a black hole's neighbour): one place
//! for how they are run, so each test file says only what its stand-in answers.

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

/// Serves on `listener` with the data and routes `configure` adds: one worker, no signal handling (the
/// test process owns those), a one-second shutdown. Returns the port and the handle that stops it (a
/// dropped handle leaves it running until the test's runtime ends).
pub fn serve<F>(listener: std::net::TcpListener, configure: F) -> (u16, ServerHandle)
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

/// [`serve`] on a free loopback port.
pub fn serve_any<F>(configure: F) -> (u16, ServerHandle)
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    serve(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), configure)
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    /// The JSON body (`null` when not JSON).
    pub body: serde_json::Value,
    /// The body as sent (amounts as written: a `Value` reads JSON numbers as floats).
    pub raw: String,
}

/// A receiver that records every request and answers 200. It also answers Intuit's OAuth token path with
/// the access token `at-1`, so one recorder can play a seller's webhook receiver and a QuickBooks company
/// at once (for tests that check what arrived, not Intuit's rules).
#[derive(Default)]
pub struct Recorder {
    requests: std::sync::Mutex<Vec<Request>>,
}

impl Recorder {
    /// Starts one on a free port: the recorder and its port.
    pub async fn start() -> (std::sync::Arc<Recorder>, u16) {
        let recorder = std::sync::Arc::new(Recorder::default());
        let data = web::Data::new(recorder.clone());
        let (port, _) = serve_any(move |app| {
            app.app_data(data.clone()).default_service(web::to(
                |request: actix_web::HttpRequest,
                 body: web::Bytes,
                 recorder: web::Data<std::sync::Arc<Recorder>>| async move {
                    if request.path() == "/oauth2/v1/tokens/bearer" {
                        return actix_web::HttpResponse::Ok().json(serde_json::json!({
                            "access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-2",
                            "x_refresh_token_expires_in": 8_726_400, "token_type": "bearer"}));
                    }
                    recorder.requests.lock().unwrap().push(Request {
                        path: request.path().to_owned(),
                        query: request.query_string().to_owned(),
                        authorization: request
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                        raw: String::from_utf8_lossy(&body).into_owned(),
                    });
                    actix_web::HttpResponse::Ok().json(serde_json::json!({"ok": true}))
                },
            ));
        });
        (recorder, port)
    }

    /// The requests whose path ends with `path_end`, in arrival order.
    pub fn requests(&self, path_end: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.ends_with(path_end))
            .cloned()
            .collect()
    }

    /// The bodies of the requests whose path ends with `path_end`.
    pub fn bodies(&self, path_end: &str) -> Vec<serde_json::Value> {
        self.requests(path_end).into_iter().map(|r| r.body).collect()
    }

    /// The `data` of the first webhook of `event_type` received, if one was.
    pub fn event(&self, event_type: &str) -> Option<serde_json::Value> {
        self.bodies("")
            .into_iter()
            .find(|b| b["type"] == event_type)
            .map(|b| b["data"].clone())
    }
}
