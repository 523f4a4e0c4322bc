//! The sandbox gateway's public endpoint: turn test card or bank details into a token.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::gateway::sandbox::TokenRequest;
use crate::state::AppState;

/// `POST /sandbox/v1/tokens` -> `{token, brand, last4}`.
pub async fn create_token(
    state: web::Data<AppState>,
    body: web::Json<TokenRequest>,
) -> ApiResult<HttpResponse> {
    match state.sandbox.tokenize(&body).await? {
        Ok((token, method)) => Ok(HttpResponse::Created().json(json!({
            "token": token,
            "kind": method.kind,
            "brand": method.brand,
            "last4": method.last4,
        }))),
        Err(e) => Err(ApiError::invalid(
            if e.field == "routing_number" || e.field == "account_number" {
                "invalid_bank_account"
            } else {
                "invalid_card"
            },
            e.field,
            e.message,
        )),
    }
}
