//! The sandbox gateway's public endpoint: turn test card or bank details into a token.

use actix_web::{web, HttpResponse};

use crate::error::{ApiError, ApiResult};
use crate::gateway::sandbox::TokenRequest;
use crate::state::AppState;

/// A sandbox payment-method token.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SandboxToken {
    pub token: String,
    pub kind: String,
    pub brand: String,
    pub last4: String,
}

/// `POST /sandbox/v1/tokens` -> `{token, brand, last4}`.
#[utoipa::path(post, path = "/sandbox/v1/tokens", tag = "sandbox", request_body = TokenRequest, responses((status = 201, body = SandboxToken), (status = 400, body = tranche_domain::wire::Problem)))]
pub async fn create_token(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: web::Json<crate::error::JsonObject<TokenRequest>>,
) -> ApiResult<HttpResponse> {
    state.rate_limits.tokenize(crate::client_ip::of(&req))?;
    match state.sandbox.tokenize(&body).await? {
        Ok((token, method)) => Ok(HttpResponse::Created().json(SandboxToken {
            token,
            kind: method.kind,
            brand: method.brand,
            last4: method.last4,
        })),
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
