//! Operations: health and metrics.

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
    let (one,): (i64,) = sqlx::query_as("SELECT 1").fetch_one(state.db.pool()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": one == 1})))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// `GET /openapi.json`: generated from the handlers' annotations.
pub async fn openapi() -> HttpResponse {
    use utoipa::OpenApi;
    HttpResponse::Ok().json(crate::openapi::ApiDoc::openapi())
}
