//! Accounts (DESIGN 12): the seller mints and revokes account links for a customer; the buyer holding one
//! reads every open invoice of that customer and pays several with one charge.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tranche_domain::wire::{
    AccountCustomerView, AccountInvoiceView, AccountPaymentRequest, AccountPaymentResponse, AccountView,
    CurrencyAmount, Problem, SellerView,
};
use tranche_domain::{Currency, ErrorCode, Money};

use crate::account_auth::Account;
use crate::account_flow;
use crate::auth::Seller;
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::payment_flow;
use crate::routes::checkout::{buyer_invoice, gateway_view, BuyerInvoice};
use crate::state::AppState;
use crate::store::{account_links, customers};

/// Most open invoices an account shows (and so can pay in one view): past it, the oldest-due come first.
pub const MAX_ACCOUNT_INVOICES: i64 = 200;

/// A new account link. `token` is a bearer credential for every open invoice of one customer: hand it
/// only to that customer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountLinkCreated {
    pub id: String,
    pub customer_id: String,
    pub token: String,
    pub url: String,
    pub expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountLinkRevoked {
    pub id: String,
    pub revoked_at: String,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountLinkRequest {
    expires_in_seconds: Option<i64>,
}

/// `POST /v1/customers/{id}/account-links` -> `{id, token, url, expires_at}`.
#[utoipa::path(post, path = "/v1/customers/{id}/account-links", tag = "accounts", params(("id" = String, Path)), request_body(content = Option<AccountLinkRequest>), security(("seller_key" = [])), responses((status = 201, body = AccountLinkCreated), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn create_link(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: AccountLinkRequest = crate::error::optional_json(&body)?;
    let customer = customers::find(&state.db, &seller.seller_id, &id)
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    // The checkout links' lifetimes: an account link is the same kind of emailed bearer link.
    let ttl = body
        .expires_in_seconds
        .unwrap_or(state.settings.checkout_link_ttl_seconds);
    let max = state.settings.checkout_link_max_ttl_seconds;
    if !(60..=max).contains(&ttl) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "expires_in_seconds",
            format!("expires_in_seconds must be between 60 and {max}"),
        ));
    }
    let link = crate::tokens::mint_account_link(&state, &seller.seller_id, &customer.id, ttl, seller.actor())
        .await?;
    Ok(HttpResponse::Created().json(AccountLinkCreated {
        id: link.id,
        customer_id: customer.id,
        url: link.url,
        token: link.token,
        expires_at: rfc3339(link.expires_at),
    }))
}

/// `DELETE /v1/account-links/{id}`: the token stops working at once.
#[utoipa::path(delete, path = "/v1/account-links/{id}", tag = "accounts", params(("id" = String, Path)), security(("seller_key" = [])), responses((status = 200, body = AccountLinkRevoked), (status = 404, body = Problem)))]
pub async fn revoke_link(
    seller: Seller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let revoked_at = account_links::revoke(&state.db, &seller.seller_id, &id, now_ms(), seller.actor())
        .await?
        .ok_or(ApiError::NotFound("account link"))?;
    Ok(HttpResponse::Ok().json(AccountLinkRevoked {
        id: id.into_inner(),
        revoked_at: rfc3339(revoked_at),
    }))
}

/// Builds the buyer's view of an account: each open invoice through the checkout's own
/// [`buyer_invoice`], and what is open per currency.
pub async fn build_view(state: &AppState, account: &Account) -> ApiResult<AccountView> {
    let ids = account_links::open_invoice_ids(
        &state.db,
        &account.seller_id,
        &account.customer_id,
        MAX_ACCOUNT_INVOICES,
    )
    .await?;
    let mut invoices = Vec::with_capacity(ids.len());
    let mut totals: Vec<Money> = Vec::new();
    for id in ids {
        let BuyerInvoice {
            invoice,
            options,
            not_payable,
            rules,
            payments: _,
        } = buyer_invoice(state, &account.seller_id, &id).await?;
        let balance = Money::parse(&invoice.balance_due, invoice.currency)
            .map_err(|e| anyhow::anyhow!("stored balance of {id}: {e}"))?;
        add_to(&mut totals, balance)?;
        invoices.push(AccountInvoiceView {
            invoice,
            options,
            not_payable,
            rules,
        });
    }
    totals.sort_by(|a, b| a.currency().code().cmp(b.currency().code()));
    Ok(AccountView {
        seller: SellerView {
            name: account.seller_name.clone(),
        },
        customer: AccountCustomerView {
            id: account.customer_id.clone(),
            name: account.customer_name.clone(),
        },
        invoices,
        total_open: totals
            .into_iter()
            .map(|m| CurrencyAmount {
                currency: m.currency(),
                amount: m.to_string(),
            })
            .collect(),
        gateway: gateway_view(state),
    })
}

/// Adds `amount` to the running total of its currency (never across currencies).
fn add_to(totals: &mut Vec<Money>, amount: Money) -> ApiResult<()> {
    let currency: Currency = amount.currency();
    match totals.iter_mut().find(|t| t.currency() == currency) {
        Some(total) => {
            *total = total
                .checked_add(&amount)
                .map_err(|e| anyhow::anyhow!("open total overflows: {e}"))?;
        }
        None => totals.push(amount),
    }
    Ok(())
}

/// `GET /v1/account`.
#[utoipa::path(get, path = "/v1/account", tag = "accounts", security(("account_token" = [])), responses((status = 200, body = AccountView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn view(account: Account, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(build_view(&state, &account).await?))
}

/// `POST /v1/account/payments` with `Idempotency-Key`: one charge, allocated across invoices, all or nothing.
#[utoipa::path(post, path = "/v1/account/payments", tag = "accounts", request_body = AccountPaymentRequest, params(("Idempotency-Key" = String, Header, description = "1-255 printable ASCII characters; retries with the same key replay the first answer")), security(("account_token" = [])), responses((status = 201, body = AccountPaymentResponse), (status = 400, body = Problem), (status = 401, body = Problem), (status = 402, description = "Declined: code payment_declined with decline_code and advice", body = Problem), (status = 404, description = "An allocation names no invoice of this account (the problem's invoice_id says which)", body = Problem), (status = 409, body = Problem), (status = 422, description = "An allocation breaks its invoice's rules, or the invoices' currencies differ (the problem's invoice_id says which)", body = Problem)))]
pub async fn pay(
    account: Account,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<crate::error::JsonObject<AccountPaymentRequest>>,
) -> ApiResult<HttpResponse> {
    let key = payment_flow::parse_key(req.headers().get("idempotency-key").map(|v| v.as_bytes()))?;
    let order = account_flow::AccountOrder::try_from(&**body)?;
    state
        .rate_limits
        .payment_attempt(&account.link_id, crate::client_ip::of(&req))?;
    let answer = account_flow::pay(
        &state,
        &account,
        &key,
        &order,
        crate::routes::checkout::buyer_presence(&req),
    )
    .await?;
    if answer.replayed {
        Metrics::inc(&state.metrics.idempotent_replays);
    }
    let status = actix_web::http::StatusCode::from_u16(answer.status)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored status: {e}")))?;
    let content_type = if answer.status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut response = HttpResponse::build(status);
    response
        .content_type(content_type)
        .insert_header(("cache-control", "no-store"));
    if answer.replayed {
        response.insert_header(("idempotent-replayed", "true"));
    }
    Ok(response.body(answer.body))
}

/// `GET /account/{token}`: the hosted page for an emailed account link: the checkout's page shell with the
/// element given the account token.
pub async fn account_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let account = match Account::from_token(&state, &token).await {
        Ok(account) => account,
        Err(refused @ ApiError::Unauthorized { .. }) => {
            return Err(state
                .rate_limits
                .token_failure(req.peer_addr().map(|a| a.ip()))
                .unwrap_or(refused))
        }
        Err(other) => return Err(other),
    };
    let Some(loader_integrity) = crate::routes::pages::integrity_of("tranche.js") else {
        return Ok(crate::routes::pages::widget_unavailable());
    };
    let heading = format!("Account of {}", account.customer_name);
    let subject = format!("the account of {}", account.customer_name);
    Ok(crate::routes::pages::hosted_shell(
        &state,
        &account.seller_name,
        &subject,
        &heading,
        &token,
        &loader_integrity,
    ))
}
