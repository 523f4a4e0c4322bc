//! Buyer routes, authenticated by a checkout token: read the invoice with its options, and pay.

use actix_web::{web, HttpRequest, HttpResponse};
use tranche_domain::wire::{
    CheckoutView, GatewayView, InvoiceView, OptionsView, PaymentRequest, PaymentResponse, Problem,
    RulesInput, SellerView,
};
use tranche_domain::{InvoiceStatus, Rules};

use crate::auth::Checkout;
use crate::error::{ApiError, ApiResult};
use crate::gateway::BuyerPresence;
use crate::metrics::Metrics;
use crate::payment_flow;
use crate::routes::invoices::line_views;
use crate::state::AppState;
use crate::store::{invoices, payments, RowError};

/// Builds the buyer's view of an invoice (also used by the hosted page).
pub async fn build_view(state: &AppState, checkout: &Checkout) -> ApiResult<CheckoutView> {
    let BuyerInvoice {
        invoice,
        options,
        not_payable,
        rules,
        payments,
    } = buyer_invoice(state, &checkout.seller_id, &checkout.invoice_id).await?;
    Ok(CheckoutView {
        seller: SellerView {
            name: checkout.seller_name.clone(),
        },
        invoice,
        options,
        not_payable,
        payments,
        gateway: gateway_view(state),
        rules,
    })
}

/// Where the widget gets its payment-method fields (the checkout's and the account's).
pub fn gateway_view(state: &AppState) -> GatewayView {
    let stripe = state.settings.gateway == crate::config::GatewayKind::Stripe;
    GatewayView {
        kind: state.gateway.name().to_owned(),
        fields_url: format!("{}/sandbox/fields", state.public_base),
        fields_origin: state.public_base.clone(),
        publishable_key: stripe
            .then(|| state.settings.stripe.publishable_key.clone())
            .flatten(),
        js_url: stripe.then(|| state.settings.stripe.js_url.clone()),
    }
}

/// One invoice as a buyer sees it: its amounts, the options the rules offer now and their inputs, and its
/// payments. The one place these are computed, for the checkout view and for each invoice of an account.
pub struct BuyerInvoice {
    pub invoice: InvoiceView,
    pub options: Option<OptionsView>,
    pub not_payable: Option<tranche_domain::NotPayable>,
    pub rules: RulesInput,
    pub payments: Vec<tranche_domain::wire::PaymentView>,
}

/// [`BuyerInvoice`] of one of the seller's invoices.
pub async fn buyer_invoice(state: &AppState, seller_id: &str, invoice_id: &str) -> ApiResult<BuyerInvoice> {
    let invoices::CheckoutRows {
        invoice: row,
        pending_minor,
        lines,
        payments: history,
    } = invoices::checkout_view(&state.db, seller_id, invoice_id)
        .await?
        .ok_or(ApiError::NotFound("invoice"))?;
    let totals = row.totals(pending_minor)?;
    let terms = row.terms()?;
    let today = state.clock().today();
    let plan = crate::store::installments::plan(&state.db, &row).await?;
    let settled = crate::store::installments::settled(&row)?;
    let due = plan.as_ref().and_then(|p| p.amount_due(settled, today));
    let rules = Rules::new(&totals, &terms, today).with_installment(due);
    let (options, not_payable) = match rules.options(&terms) {
        Ok(options) => (Some(OptionsView::from(&options)), None),
        Err(reason) => (None, Some(reason)),
    };
    Ok(BuyerInvoice {
        invoice: InvoiceView {
            id: row.id.clone(),
            number: row.number.clone(),
            currency: totals.currency(),
            customer_name: row.customer_name.clone(),
            issue_date: row.issue_date.clone(),
            due_date: row.due_date.clone(),
            lines: line_views(&row, &lines)?,
            subtotal: row.money(row.subtotal_minor)?.to_string(),
            tax: row.money(row.tax_minor)?.to_string(),
            // The CHECK `subtotal + tax + fees = total` makes this the fees' sum without reading them.
            late_fees: row
                .money(row.total_minor - row.subtotal_minor - row.tax_minor)?
                .to_string(),
            total: totals.total().to_string(),
            amount_paid: totals.amount_paid().to_string(),
            discount_taken: totals.discount_taken().to_string(),
            amount_credited: totals.amount_credited().to_string(),
            amount_disputed: Some(totals.amount_disputed().to_string()),
            balance_due: totals.balance_due().to_string(),
            // A stored status outside the set is a corrupted row: fail loudly rather than show a guess.
            status: InvoiceStatus::parse(&row.status).ok_or_else(|| {
                anyhow::Error::new(RowError::UnknownStatus("invoices.status", row.status.clone()))
            })?,
            installments: plan.as_ref().map(|p| {
                p.states(settled, today)
                    .iter()
                    .map(tranche_domain::InstallmentView::from)
                    .collect()
            }),
        },
        options,
        not_payable,
        payments: history.iter().map(payments::PaymentRow::view).collect(),
        rules: RulesInput::new(&totals, &terms, today).with_installment(due.as_ref()),
    })
}

/// `GET /v1/checkout`.
#[utoipa::path(get, path = "/v1/checkout", tag = "checkout", security(("checkout_token" = [])), responses((status = 200, body = CheckoutView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn view(checkout: Checkout, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(build_view(&state, &checkout).await?))
}

/// `POST /v1/checkout/payments` with `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/checkout/payments", tag = "checkout", request_body = PaymentRequest, params(("Idempotency-Key" = String, Header, description = "1-255 printable ASCII characters; retries with the same key replay the first answer")), security(("checkout_token" = [])), responses((status = 201, body = PaymentResponse), (status = 400, body = Problem), (status = 401, body = Problem), (status = 402, description = "Declined: code payment_declined with decline_code and advice; or action_required (3-D Secure) with client_secret and payment_id, the payment pending", body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn pay(
    checkout: Checkout,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<crate::error::JsonObject<PaymentRequest>>,
) -> ApiResult<HttpResponse> {
    let key = payment_flow::parse_key(req.headers().get("idempotency-key").map(|v| v.as_bytes()))?;
    let order = payment_flow::PaymentOrder::try_from(&**body)?;
    // Before anything reaches the gateway: bounds card testing through one link or one client.
    state
        .rate_limits
        .payment_attempt(&checkout.link_id, crate::client_ip::of(&req))?;
    let answer = payment_flow::pay(&state, &checkout, &key, &order, buyer_presence(&req)).await?;
    if answer.replayed {
        Metrics::inc(&state.metrics.idempotent_replays);
    }
    respond(&answer, answer.status)
}

/// The buyer as the API sees them: the client IP (through trusted proxies) and `User-Agent`, which a
/// bank debit's mandate records as its online acceptance. `None` without both.
pub fn buyer_presence(req: &HttpRequest) -> Option<BuyerPresence> {
    let ip = crate::client_ip::of(req)?;
    let user_agent = req.headers().get("user-agent")?.to_str().ok()?;
    // Stripe's limit for the field is 5000 characters; a longer header is not a browser's.
    let user_agent: String = user_agent.chars().take(5000).collect();
    Some(BuyerPresence {
        ip_address: ip.to_string(),
        user_agent,
    })
}

/// `POST /v1/checkout/payments/{id}/confirm` (no body): after the buyer completed the gateway's action
/// (3-D Secure), settles, declines or keeps the payment pending as the gateway now says.
#[utoipa::path(post, path = "/v1/checkout/payments/{id}/confirm", tag = "checkout", params(("id" = String, Path, description = "The payment id from the action_required answer")), security(("checkout_token" = [])), responses((status = 200, description = "Settled, or still pending (bank debits)", body = PaymentResponse), (status = 401, body = Problem), (status = 402, description = "Declined (payment_declined), or the action is still required (action_required, with client_secret and payment_id)", body = Problem), (status = 404, description = "Not a payment of this checkout link", body = Problem), (status = 409, description = "payment_not_confirmable: made through another gateway", body = Problem)))]
pub async fn confirm(
    checkout: Checkout,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // Each confirm asks the gateway: bounded like payment attempts.
    state
        .rate_limits
        .payment_attempt(&checkout.link_id, crate::client_ip::of(&req))?;
    let answer = payment_flow::confirm(&state, &checkout, &id).await?;
    // Nothing is created here: a settled or pending payment is 200.
    let status = if answer.status == 201 { 200 } else { answer.status };
    respond(&answer, status)
}

fn respond(answer: &payment_flow::Answer, status: u16) -> ApiResult<HttpResponse> {
    let status = actix_web::http::StatusCode::from_u16(status)
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
    Ok(response.body(answer.body.clone()))
}
