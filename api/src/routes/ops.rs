//! Operations: health and metrics. `/livez` and `/readyz` answer on the public listener and on the
//! metrics listener; `/metrics` only on the metrics listener (`TRANCHE_METRICS_ADDR`, loopback by default),
//! so counters about payments and refused tokens are not published to the internet.

use actix_web::{web, HttpResponse};

use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /livez`: 200 while the process serves HTTP; touches nothing else. For liveness probes (restart
/// only a wedged process, not one whose database is away) and as the HTTP ceiling in `cargo xtask bench`.
#[utoipa::path(get, path = "/livez", tag = "ops", responses((status = 200, description = "Process alive")))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `GET /healthz`: 200 when the database answers (readiness).
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Database reachable"), (status = 500, body = tranche_domain::wire::Problem)))]
pub async fn healthz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    crate::store::ping(&state.db).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": true})))
}

/// `GET /readyz`: 200 when the database answers, for readiness probes (take a node out of rotation while
/// its database is away, without restarting it).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "Database reachable"), (status = 500, body = tranche_domain::wire::Problem)))]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    healthz(state).await
}

/// `GET /metrics` on the metrics listener: the OpenMetrics text format. Not part of the public API (nor of
/// its OpenAPI document). The gauges are read now; if the database is away they keep their last values
/// and the scrape still answers (the pool gauges then show why).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = state.db.clock().now_ms();
    let backlog = match crate::store::deliveries::backlog(&state.db, now).await {
        Ok(backlog) => Some(backlog),
        Err(error) => {
            tracing::warn!(%error, "reading the outbox backlog for /metrics");
            None
        }
    };
    let pool = state.db.pool();
    if let Some(backlog) = &backlog {
        state.metrics.set_gauges(pool.size(), pool.num_idle(), backlog);
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

/// `GET /openapi.json`: generated from the handlers' annotations.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// The routes of the metrics listener: `/metrics`, `/livez`, `/readyz`; anything else is 404.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics))
        .route("/livez", web::get().to(livez))
        .route("/readyz", web::get().to(readyz));
}
