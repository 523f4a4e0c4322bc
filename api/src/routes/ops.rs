//! Operations: health and metrics.

use actix_web::{web, HttpResponse};

use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /healthz`: 200 when the database answers.
pub async fn healthz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let (one,): (i64,) = sqlx::query_as("SELECT 1").fetch_one(state.db.pool()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": one == 1})))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
