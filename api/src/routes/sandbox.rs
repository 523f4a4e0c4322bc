//! The sandbox gateway's public endpoint: turn test card or bank details into a token.

use actix_web::{web, HttpResponse};
use tranche_domain::ErrorCode;

use crate::account_auth::BuyerBinding;
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

/// `POST /sandbox/v1/tokens` with `Authorization: Bearer <checkout or account token>` -> `{token, brand, last4}`.
///
/// The checkout token is verified exactly as on `/v1/checkout` (signature, link not revoked or expired, a
/// refused token counts toward the failed-token limiter); the new token pays only that checkout, once,
/// within 15 minutes. An account token (DESIGN 12) makes a token that pays only that account, once.
#[utoipa::path(post, path = "/sandbox/v1/tokens", tag = "sandbox", request_body = TokenRequest, security(("checkout_token" = [])), responses((status = 201, body = SandboxToken), (status = 400, body = tranche_domain::wire::Problem), (status = 401, body = tranche_domain::wire::Problem), (status = 403, description = "Origin not the API's own or a seller's", body = tranche_domain::wire::Problem), (status = 429, description = "Rate limited; see Retry-After", body = tranche_domain::wire::Problem)))]
pub async fn create_token(
    BuyerBinding(binding): BuyerBinding,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: web::Json<crate::error::JsonObject<TokenRequest>>,
) -> ApiResult<HttpResponse> {
    state.rate_limits.tokenize(crate::client_ip::of(&req))?;
    match state.sandbox.tokenize(&body, &binding).await? {
        Ok((token, method)) => Ok(HttpResponse::Created().json(SandboxToken {
            token,
            kind: method.kind,
            brand: method.brand,
            last4: method.last4,
        })),
        Err(e) => Err(ApiError::invalid(
            if e.field == "routing_number" || e.field == "account_number" {
                ErrorCode::InvalidBankAccount
            } else {
                ErrorCode::InvalidCard
            },
            e.field,
            e.message,
        )),
    }
}
