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
