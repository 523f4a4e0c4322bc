//! Checkout wire types shared by the widget and the API. Amounts are decimal strings in major units
//! (`"1250.00"`) and dates ISO 8601 (`"2026-11-01"`); these are JSON shapes, not domain values.
//!
//! Responses may gain fields, so their types accept unknown fields; request types refuse them.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::currency::Currency;
use crate::error_code::ErrorCode;
use crate::money::Money;
use crate::rules::{AmountRejected, InvoiceStatus, InvoiceTotals, NotPayable, PaymentOptions, TotalsError};
use crate::schedule::{InstallmentDue, InstallmentDueView, InstallmentView};
use crate::terms::{Terms, TermsError, TermsSpec};

pub use crate::wire_account::*;

/// `GET /v1/checkout`: everything the widget shows and every input it needs to run the rules itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutView {
    pub seller: SellerView,
    pub invoice: InvoiceView,
    /// `None` when the invoice takes no payment now (`not_payable` says why).
    pub options: Option<OptionsView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_payable: Option<NotPayable>,
    pub payments: Vec<PaymentView>,
    pub gateway: GatewayView,
    /// The inputs of the rules, so the widget evaluates exactly what the API will.
    pub rules: RulesInput,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerView {
    pub name: String,
}

// Named apart from the seller API's `InvoiceView` (a different shape): two schemas of one name collapse into
// one in the OpenAPI document, and one side's operations would describe the other's body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CheckoutInvoiceView))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceView {
    pub id: String,
    pub number: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    pub currency: Currency,
    pub customer_name: String,
    pub issue_date: String,
    pub due_date: String,
    pub lines: Vec<LineView>,
    pub subtotal: String,
    pub tax: String,
    /// Late fees the terms added to the total (DESIGN 11), `0.00` when none: the buyer sees why the total is
    /// more than the lines and their tax.
    pub late_fees: String,
    pub total: String,
    pub amount_paid: String,
    pub discount_taken: String,
    /// Credit notes (DESIGN 10): lower the balance without money moving.
    pub amount_credited: String,
    /// Open disputes (DESIGN 12): part of `balance_due`, held out of what the buyer may pay. Absent from
    /// answers written before disputes existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_disputed: Option<String>,
    pub balance_due: String,
    pub status: InvoiceStatus,
    /// With a payment plan (DESIGN 11): each installment, what it has received and its status today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installments: Option<Vec<InstallmentView>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineView {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub tax_rate: String,
    pub amount: String,
    pub tax: String,
}

/// Resolved options: what the amount chooser offers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionsView {
    pub allow_partial: bool,
    pub minimum: String,
    pub maximum: String,
    pub full_balance: String,
    pub presets: Vec<PresetView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<DiscountView>,
    /// With a payment plan: the installment to pay next; paying exactly `amount_due` is always accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment: Option<InstallmentDueView>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetView {
    pub percent: String,
    pub amount: String,
    pub enabled: bool,
    /// The rejection code when disabled (`amount_below_minimum`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountView {
    pub percent: String,
    pub discount: String,
    pub amount: String,
    pub available_until: String,
}

impl From<&PaymentOptions> for OptionsView {
    fn from(o: &PaymentOptions) -> OptionsView {
        OptionsView {
            allow_partial: o.allow_partial,
            minimum: o.minimum.to_string(),
            maximum: o.maximum.to_string(),
            full_balance: o.full_balance.to_string(),
            presets: o
                .presets
                .iter()
                .map(|p| PresetView {
                    percent: p.percent.to_string(),
                    amount: p.amount.to_string(),
                    enabled: p.enabled(),
                    reason: p.disabled_reason.as_ref().map(|r| r.code().as_str().to_owned()),
                })
                .collect(),
            discount: o.discount.map(|d| DiscountView {
                percent: d.percent.to_string(),
                discount: d.discount.to_string(),
                amount: d.amount.to_string(),
                available_until: format_date(d.available_until),
            }),
            installment: o.installment.as_ref().map(InstallmentDueView::from),
        }
    }
}

/// A payment as the buyer and seller see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub id: String,
    pub amount: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    pub currency: Currency,
    pub status: PaymentStatus,
    /// E.g. `"visa •••• 4242"`; never more than brand and last four.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<String>,
    pub created_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }
    pub fn parse(s: &str) -> Option<PaymentStatus> {
        match s {
            "pending" => Some(PaymentStatus::Pending),
            "succeeded" => Some(PaymentStatus::Succeeded),
            "failed" => Some(PaymentStatus::Failed),
            "partially_refunded" => Some(PaymentStatus::PartiallyRefunded),
            "refunded" => Some(PaymentStatus::Refunded),
            _ => None,
        }
    }
}

/// Where the widget gets its payment-method fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayView {
    /// `sandbox` or `stripe`: which fields the widget shows (the sandbox's iframe, Stripe's Payment Element).
    pub kind: String,
    /// URL of the gateway's hosted fields page (put in an iframe).
    pub fields_url: String,
    /// Origin the fields iframe posts its messages from.
    pub fields_origin: String,
    /// `stripe`: the publishable key (`pk_...`) Stripe.js is started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishable_key: Option<String>,
    /// `stripe`: where Stripe.js is loaded from (`https://js.stripe.com/v3/`; never bundled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_url: Option<String>,
}

/// The rule inputs: invoice amounts, terms and the server's date.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesInput {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "USD"))]
    pub currency: Currency,
    pub total: String,
    pub amount_paid: String,
    pub discount_taken: String,
    pub amount_credited: String,
    /// Held by open disputes (DESIGN 12); the rules run on `balance_due - amount_disputed - pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_disputed: Option<String>,
    /// Short pays written off (DESIGN 12): lower the balance like a credit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_written_off: Option<String>,
    pub pending: String,
    pub voided: bool,
    pub issue_date: String,
    pub today: String,
    pub terms: TermsSpec,
    /// With a payment plan: the installment due, which the rules accept even below the minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment: Option<InstallmentDueView>,
}

/// Why [`RulesInput`] cannot be turned back into rule values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesInputError {
    #[error("amount field {0} is invalid")]
    Amount(&'static str),
    #[error("date field {0} is invalid")]
    Date(&'static str),
    #[error(transparent)]
    Totals(#[from] TotalsError),
    #[error(transparent)]
    Terms(#[from] TermsError),
}

impl RulesInput {
    pub fn new(invoice: &InvoiceTotals, terms: &Terms, today: Date) -> RulesInput {
        RulesInput {
            currency: invoice.currency(),
            total: invoice.total().to_string(),
            amount_paid: invoice.amount_paid().to_string(),
            discount_taken: invoice.discount_taken().to_string(),
            amount_credited: invoice.amount_credited().to_string(),
            amount_disputed: (!invoice.amount_disputed().is_zero())
                .then(|| invoice.amount_disputed().to_string()),
            amount_written_off: (!invoice.written_off().is_zero()).then(|| invoice.written_off().to_string()),
            pending: invoice.pending().to_string(),
            voided: invoice.voided(),
            issue_date: format_date(invoice.issue_date()),
            today: format_date(today),
            terms: terms.to_rules_spec(),
            installment: None,
        }
    }

    /// The same inputs with the plan's installment due.
    pub fn with_installment(self, due: Option<&InstallmentDue>) -> RulesInput {
        RulesInput {
            installment: due.map(InstallmentDueView::from),
            ..self
        }
    }

    /// The installment due, as the API had it (`None` without a plan, or when it does not parse).
    pub fn installment_due(&self) -> Option<InstallmentDue> {
        let view = self.installment.as_ref()?;
        Some(InstallmentDue {
            number: view.number,
            due_date: parse_date(&view.due_date)?,
            amount_due: Money::parse(&view.amount_due, self.currency).ok()?,
        })
    }

    /// Rebuilds `(invoice, terms, today)` exactly as the API had them.
    pub fn resolve(&self) -> Result<(InvoiceTotals, Terms, Date), RulesInputError> {
        let money = |field: &'static str, s: &str| {
            Money::parse(s, self.currency).map_err(|_| RulesInputError::Amount(field))
        };
        let invoice = InvoiceTotals::new(
            money("total", &self.total)?,
            money("amount_paid", &self.amount_paid)?,
            money("discount_taken", &self.discount_taken)?,
            money("pending", &self.pending)?,
            self.voided,
            parse_date(&self.issue_date).ok_or(RulesInputError::Date("issue_date"))?,
        )?
        .with_credited(money("amount_credited", &self.amount_credited)?)?;
        let invoice = match &self.amount_written_off {
            Some(written_off) => invoice.with_written_off(money("amount_written_off", written_off)?)?,
            None => invoice,
        };
        let invoice = match &self.amount_disputed {
            Some(disputed) => invoice.with_disputed(money("amount_disputed", disputed)?)?,
            None => invoice,
        };
        // The checkout's terms never carry a plan (`Terms::to_rules_spec`): only the payable part is read.
        let terms = Terms::payable(&self.terms)?;
        let today = parse_date(&self.today).ok_or(RulesInputError::Date("today"))?;
        Ok((invoice, terms, today))
    }
}

/// `POST /v1/checkout/payments` body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Decimal string in the invoice currency, e.g. `"250.00"`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "250.00")
    )]
    pub amount: String,
    /// Opaque token from the gateway's fields; never card data.
    pub payment_token: String,
    /// Optional: when given, must equal the invoice currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z]{3}$", example = "USD"))]
    pub currency: Option<String>,
}

/// `201` answer to a payment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentResponse {
    pub payment: PaymentView,
    pub invoice: InvoiceBalanceView,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceBalanceView {
    pub id: String,
    pub amount_paid: String,
    pub balance_due: String,
    pub status: InvoiceStatus,
}

/// RFC 9457 problem details with Tranche's stable `code` and the fields a UI needs to explain it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// An [`ErrorCode`] when the API wrote it; a string on the wire, so a client built before a code was
    /// added still reads the document ([`Problem::error_code`] gives the typed code).
    #[cfg_attr(feature = "openapi", schema(value_type = ErrorCode))]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// What the buyer can do next, for declines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    /// The invoice a refusal is about, when a request names several (an account payment's allocations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    /// `action_required`: the gateway's secret for the buyer's next action (Stripe's PaymentIntent
    /// `client_secret`, which Stripe.js's `handleNextAction` takes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `action_required`: the pending payment to confirm once the action is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

impl Problem {
    /// A problem with the given code, sent with the code's status; `type` is derived from the code.
    pub fn new(code: ErrorCode, title: &str, detail: impl Into<String>) -> Problem {
        let type_uri = format!("https://tranche.dev/problems/{}", code.as_str().replace('_', "-"));
        Problem::with_type(type_uri, code.status(), code.as_str(), title, detail.into())
    }

    /// A problem whose code is not one of the API's: the widget's stand-in for an answer that carried no
    /// problem document. Its `type` is RFC 9457's `about:blank` (no meaning beyond the status), as no
    /// tranche.dev page describes it. Everything the API sends goes through [`Problem::new`].
    pub fn untyped(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem::with_type("about:blank".to_owned(), status, code, title, detail.into())
    }

    fn with_type(type_uri: String, status: u16, code: &str, title: &str, detail: String) -> Problem {
        Problem {
            type_uri,
            title: title.to_owned(),
            status,
            detail,
            code: code.to_owned(),
            request_id: None,
            field: None,
            minimum: None,
            maximum: None,
            currency: None,
            decline_code: None,
            advice: None,
            invoice_id: None,
            client_secret: None,
            payment_id: None,
        }
    }

    /// The typed code; `None` when it is not one this build knows (a newer API's, or a stand-in's).
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

impl From<&AmountRejected> for Problem {
    /// Every amount rejection is a 422 except a void or paid invoice, which is a 409 conflict: the codes'
    /// statuses say so.
    fn from(rejected: &AmountRejected) -> Problem {
        let mut problem = Problem::new(rejected.code(), "Amount not accepted", rejected.to_string());
        problem.field = Some("amount".to_owned());
        match rejected {
            AmountRejected::AmountBelowMinimum { minimum } => {
                problem.minimum = Some(minimum.to_string());
                problem.currency = Some(minimum.currency().code().to_owned());
            }
            AmountRejected::AmountExceedsBalance { maximum }
            | AmountRejected::PartialNotAllowed { full_amount: maximum } => {
                problem.maximum = Some(maximum.to_string());
                problem.currency = Some(maximum.currency().code().to_owned());
            }
            AmountRejected::AmountPrecision { currency, .. }
            | AmountRejected::CurrencyMismatch {
                expected: currency, ..
            } => {
                problem.currency = Some(currency.code().to_owned());
            }
            AmountRejected::InvoiceNotPayable { .. } => problem.field = None,
            AmountRejected::AmountNotPositive | AmountRejected::AmountMalformed => {}
        }
        problem
    }
}

/// `YYYY-MM-DD`. Written by hand rather than with `time`'s format descriptions, which would add ~30 KB
/// of parsing machinery to the widget's wasm for one fixed format.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses `YYYY-MM-DD` (and nothing else: no signs, spaces or other lengths), validating the calendar date.
pub fn parse_date(input: &str) -> Option<Date> {
    let b = input.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = input.get(range)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}
