//! Builds the application: settings -> database -> keys -> gateway -> HTTP server. Tests call
//! [`Application::build`] with `addr = 127.0.0.1:0` and get the real server on a free port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::config::Settings;
use crate::db::Db;
use crate::error;
use crate::gateway::sandbox::SandboxGateway;
use crate::metrics::Metrics;
use crate::request_id::RequestIdMiddleware;
use crate::state::AppState;
use crate::tokens::KeyRing;

pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener's port and server (`None` when the default address was taken).
    metrics_port: Option<u16>,
    metrics_server: Option<Server>,
    state: AppState,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // Before anything is opened or bound: a refused configuration touches nothing.
        crate::production::check(&settings)?;
        let db = Db::connect(settings.database_url.expose(), settings.max_connections).await?;
        let listener =
            TcpListener::bind(&settings.addr).with_context(|| format!("binding {}", settings.addr))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let public_base = settings.public_base(&bound.to_string());
        let secrets = Arc::new(
            crate::secret_box::SecretBox::new(settings.master_key.as_ref()).context("TRANCHE_MASTER_KEY")?,
        );
        let keys = KeyRing::load(&settings, &db, &secrets, public_base.clone()).await?;
        let sandbox = Arc::new(SandboxGateway::new(db.clone(), settings.sandbox.clone()));
        for warning in crate::production::warnings(&settings) {
            tracing::warn!("{warning}");
        }
        let gateway: Arc<dyn crate::gateway::Gateway> = match settings.gateway {
            crate::config::GatewayKind::Sandbox => sandbox.clone(),
            crate::config::GatewayKind::Stripe => Arc::new(
                crate::gateway::stripe::StripeGateway::new(db.clone(), &settings.stripe)
                    .context("the Stripe gateway")?,
            ),
        };
        let http = crate::outbound::client(&settings)?;
        let rate_limits = Arc::new(crate::rate_limit::RateLimits::new(&settings.rate_limits));
        let smtp = crate::erp::receipts::transport(settings.smtp.as_ref())?.map(Arc::new);
        let state = AppState {
            db,
            keys: Arc::new(keys),
            gateway,
            sandbox,
            settings: Arc::new(settings),
            public_base,
            metrics: Arc::new(Metrics::default()),
            relay_wakeup: Arc::new(tokio::sync::Notify::new()),
            http,
            rate_limits,
            secrets,
            smtp,
        };
        let server = server(listener, state.clone())?;
        let (metrics_port, metrics_server) = match metrics_listener(&state.settings)? {
            Some(listener) => {
                let port = listener
                    .local_addr()
                    .context("reading the metrics address")?
                    .port();
                (Some(port), Some(metrics_server(listener, state.clone())?))
            }
            None => (None, None),
        };
        Ok(Application {
            port: bound.port(),
            server,
            metrics_port,
            metrics_server,
            state,
            background: Vec::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on (`TRANCHE_METRICS_ADDR`), if it is served.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM/SIGINT (actix stops gracefully, finishing in-flight requests).
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        self.background
            .push(tokio::spawn(crate::reconciler::run(self.state.clone())));
        self.background
            .push(tokio::spawn(crate::erp::relay::run(self.state.clone())));
        self.background
            .push(tokio::spawn(crate::scheduler::run(self.state.clone())));
        self.background
            .push(tokio::spawn(crate::rate_limit::RateLimits::prune_forever(
                self.state.rate_limits.clone(),
            )));
        let metrics = self.metrics_server.take().map(|server| {
            let handle = server.handle();
            self.background.push(tokio::spawn(async move {
                if let Err(error) = server.await {
                    tracing::warn!(%error, "metrics listener stopped");
                }
            }));
            handle
        });
        let result = self.server.await.context("HTTP server");
        if let Some(handle) = metrics {
            handle.stop(true).await;
        }
        for task in &self.background {
            task.abort();
        }
        self.state.db.close().await;
        result
    }
}

fn server(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let max_body = state.settings.max_body_bytes;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(RequestIdMiddleware)
            .app_data(data.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(error::json_error_handler),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
            .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
            .configure(crate::routes::configure)
            .default_service(web::to(not_found))
    })
    .listen(listener)
    .context("listening")?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}

/// Binds the metrics listener: the configured address must bind; the default one is best effort, so a
/// second process on the same host (a test, a second node) still serves the API.
fn metrics_listener(settings: &Settings) -> anyhow::Result<Option<TcpListener>> {
    match &settings.metrics_addr {
        Some(addr) => TcpListener::bind(addr)
            .with_context(|| format!("binding TRANCHE_METRICS_ADDR {addr}"))
            .map(Some),
        None => match TcpListener::bind(crate::config::DEFAULT_METRICS_ADDR) {
            Ok(listener) => Ok(Some(listener)),
            Err(error) => {
                tracing::warn!(
                    %error,
                    addr = crate::config::DEFAULT_METRICS_ADDR,
                    "metrics listener not started; set TRANCHE_METRICS_ADDR to serve /metrics elsewhere"
                );
                Ok(None)
            }
        },
    }
}

/// The second, private HTTP server: `/metrics`, `/livez`, `/readyz` and nothing else.
fn metrics_server(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(crate::routes::ops::configure_metrics)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .listen(listener)
    .context("listening for metrics")?
    .shutdown_timeout(1)
    .run();
    Ok(server)
}

async fn not_found() -> error::ApiResult<actix_web::HttpResponse> {
    Err(error::ApiError::NotFound("route"))
}
