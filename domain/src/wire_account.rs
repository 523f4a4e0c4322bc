//! Account wire types (DESIGN 12): one customer's open invoices, read and paid together with one charge.
//! Kept beside [`crate::wire`] (re-exported there) so the checkout's types stay as they are.

use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::rules::NotPayable;
use crate::wire::{
    GatewayView, InvoiceBalanceView, InvoiceView, OptionsView, PaymentStatus, RulesInput, SellerView,
};

/// `GET /v1/account`: every open invoice of the link's customer, each with the options and rule inputs the
/// checkout view gives for one invoice (computed by the same code), and what is open per currency.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub seller: SellerView,
    pub customer: AccountCustomerView,
    /// Open and partially paid invoices, by due date.
    pub invoices: Vec<AccountInvoiceView>,
    /// One entry per currency the open invoices are in, by currency code: amounts in different currencies
    /// are never added, so an account with USD and EUR invoices shows two totals (and no single number).
    pub total_open: Vec<CurrencyAmount>,
    pub gateway: GatewayView,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCustomerView {
    pub id: String,
    pub name: String,
}

/// One open invoice of an account, as the checkout view shows it (without the seller and gateway, which
/// the account gives once).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInvoiceView {
    pub invoice: InvoiceView,
    /// `None` when the invoice takes no payment now (`not_payable` says why).
    pub options: Option<OptionsView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_payable: Option<NotPayable>,
    pub rules: RulesInput,
}

/// An amount in one currency (decimal string in its precision).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyAmount {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    pub currency: Currency,
    pub amount: String,
}

/// `POST /v1/account/payments` body: one payment method, an amount for each chosen invoice.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPaymentRequest {
    /// Opaque token from the gateway's fields, made with the account token; never card data.
    pub payment_token: String,
    /// 1 to 100 invoices of the account, each at most once, all in one currency.
    pub allocations: Vec<AllocationRequest>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    pub invoice_id: String,
    /// Decimal string in the invoice currency, e.g. `"250.00"`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "250.00")
    )]
    pub amount: String,
}

/// `201` answer to an account payment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPaymentResponse {
    pub payment: AccountPaymentView,
    /// Each allocated invoice as the payment left it, in the request's order.
    pub invoices: Vec<InvoiceBalanceView>,
}

/// A payment split across invoices: one charge of `amount`, the sum of the allocations.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPaymentView {
    pub id: String,
    pub amount: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    pub currency: Currency,
    pub status: PaymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub allocations: Vec<AllocationView>,
    pub created_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationView {
    pub invoice_id: String,
    pub invoice_number: String,
    pub amount: String,
    /// An early-payment discount taken on this invoice with this payment, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn an_account_payment_request_refuses_unknown_fields() {
        let ok: AccountPaymentRequest = serde_json::from_str(
            r#"{"payment_token":"t","allocations":[{"invoice_id":"inv_1","amount":"1.00"}]}"#,
        )
        .unwrap();
        assert_eq!(ok.allocations.len(), 1);
        assert!(serde_json::from_str::<AccountPaymentRequest>(
            r#"{"payment_token":"t","allocations":[{"invoice_id":"inv_1","amount":"1.00","x":1}]}"#
        )
        .is_err());
    }
}
