//! The partial-payment rules: which amounts a buyer may pay on an invoice today.
//!
//! [`payment_options`] tells the widget what to offer; [`check_amount`] tells the API (and the widget, for
//! instant feedback) whether an amount is accepted. Both evaluate the same [`Rules`], and presets are
//! enabled exactly when [`Rules::check`] accepts their amount, so the two can never disagree.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::currency::Currency;
use crate::error_code::ErrorCode;
use crate::money::{Money, MoneyError};
use crate::percent::Percent;
use crate::schedule::InstallmentDue;
use crate::terms::{PresetBasis, Terms};

/// Where an invoice stands. Derived from its amounts (and the void flag), never set by hand.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    PartiallyPaid,
    Paid,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::PartiallyPaid => "partially_paid",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<InvoiceStatus> {
        match s {
            "open" => Some(InvoiceStatus::Open),
            "partially_paid" => Some(InvoiceStatus::PartiallyPaid),
            "paid" => Some(InvoiceStatus::Paid),
            "void" => Some(InvoiceStatus::Void),
            _ => None,
        }
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The amounts on an invoice that the rules look at. Invariants hold by construction:
/// one currency, `amount_paid + amount_credited + discount_taken <= total`, `pending <= balance_due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceTotals {
    total: Money,
    amount_paid: Money,
    discount_taken: Money,
    /// Credit notes: lower the balance without money moving (DESIGN 3, 10).
    amount_credited: Money,
    /// Write-offs (issue 17): a short pay's shortfall the seller accepted; lowers the balance like a
    /// credit, without money moving.
    written_off: Money,
    pending: Money,
    /// Open disputes (issue 17): held out of what the buyer may pay, like `pending`, until resolved.
    disputed: Money,
    voided: bool,
    issue_date: Date,
}

/// Amounts that cannot belong to one invoice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    #[error("all amounts of an invoice must be in its currency")]
    CurrencyMismatch,
    #[error("an invoice total must be positive")]
    ZeroTotal,
    #[error("amount paid plus discounts exceeds the invoice total")]
    Overpaid,
    #[error("pending payments exceed the balance due")]
    OverHeld,
    #[error("a refund exceeds what was paid")]
    RefundExceedsPaid,
    #[error("a credit note exceeds the balance available")]
    CreditExceedsBalance,
    #[error("a dispute or write-off exceeds the balance available")]
    HoldExceedsBalance,
    #[error("a dispute resolution exceeds what is disputed")]
    ResolutionExceedsDispute,
}

impl InvoiceTotals {
    /// `pending` is the sum of payments that hold part of the balance while the gateway answers.
    pub fn new(
        total: Money,
        amount_paid: Money,
        discount_taken: Money,
        pending: Money,
        voided: bool,
        issue_date: Date,
    ) -> Result<InvoiceTotals, TotalsError> {
        let currency = total.currency();
        if [amount_paid, discount_taken, pending]
            .iter()
            .any(|m| m.currency() != currency)
        {
            return Err(TotalsError::CurrencyMismatch);
        }
        if total.is_zero() {
            return Err(TotalsError::ZeroTotal);
        }
        let settled = amount_paid
            .checked_add(&discount_taken)
            .map_err(|_| TotalsError::Overpaid)?;
        let balance = total.checked_sub(&settled).map_err(|_| TotalsError::Overpaid)?;
        balance.checked_sub(&pending).map_err(|_| TotalsError::OverHeld)?;
        Ok(InvoiceTotals {
            total,
            amount_paid,
            discount_taken,
            amount_credited: Money::zero(currency),
            written_off: Money::zero(currency),
            pending,
            disputed: Money::zero(currency),
            voided,
            issue_date,
        })
    }

    /// The same totals with `amount_credited` credited by credit notes; checked like `new`: one currency,
    /// `paid + credited + discount <= total` and the pending holds still within the balance.
    pub fn with_credited(self, amount_credited: Money) -> Result<InvoiceTotals, TotalsError> {
        if amount_credited.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        let balance = self
            .total
            .checked_sub(&self.amount_paid)
            .and_then(|b| b.checked_sub(&self.discount_taken))
            .and_then(|b| b.checked_sub(&amount_credited))
            .and_then(|b| b.checked_sub(&self.written_off))
            .map_err(|_| TotalsError::Overpaid)?;
        balance
            .checked_sub(&self.pending)
            .and_then(|b| b.checked_sub(&self.disputed))
            .map_err(|_| TotalsError::OverHeld)?;
        Ok(InvoiceTotals {
            amount_credited,
            ..self
        })
    }

    /// The same totals with `written_off` taken off by write-offs; checked like `with_credited`.
    pub fn with_written_off(self, written_off: Money) -> Result<InvoiceTotals, TotalsError> {
        if written_off.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        let checked = InvoiceTotals { written_off, ..self };
        // Re-runs the balance and hold checks with the new part.
        checked.with_credited(self.amount_credited)
    }

    /// The same totals with `disputed` held out by open disputes: `pending + disputed <= balance`.
    pub fn with_disputed(self, disputed: Money) -> Result<InvoiceTotals, TotalsError> {
        if disputed.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        let checked = InvoiceTotals { disputed, ..self };
        checked.with_credited(self.amount_credited)
    }

    /// The totals after a dispute of `amount` opens: it may hold at most the available balance (balance
    /// less pending payments and other disputes), so a payment in progress still fits when it succeeds.
    pub fn after_dispute_opened(&self, amount: Money) -> Result<InvoiceTotals, TotalsError> {
        if amount.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        if amount.is_zero() || exceeds(amount, self.available()) {
            return Err(TotalsError::HoldExceedsBalance);
        }
        let disputed = self
            .disputed
            .checked_add(&amount)
            .map_err(|_| TotalsError::HoldExceedsBalance)?;
        self.with_disputed(disputed)
            .map_err(|_| TotalsError::HoldExceedsBalance)
    }

    /// The totals after a dispute of `disputed` is resolved: its hold is released, `credited` of it (at
    /// most all of it) is credited and the rest returns to the payable balance.
    pub fn after_dispute_resolved(
        &self,
        disputed: Money,
        credited: Money,
    ) -> Result<InvoiceTotals, TotalsError> {
        if disputed.currency() != self.currency() || credited.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        if exceeds(credited, disputed) {
            return Err(TotalsError::ResolutionExceedsDispute);
        }
        let released = self
            .disputed
            .checked_sub(&disputed)
            .map_err(|_| TotalsError::ResolutionExceedsDispute)?;
        let amount_credited = self
            .amount_credited
            .checked_add(&credited)
            .map_err(|_| TotalsError::CreditExceedsBalance)?;
        InvoiceTotals {
            disputed: released,
            ..*self
        }
        .with_credited(amount_credited)
    }

    /// The totals after a write-off of `amount`: at most the available balance.
    pub fn after_write_off(&self, amount: Money) -> Result<InvoiceTotals, TotalsError> {
        if amount.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        if amount.is_zero() || exceeds(amount, self.available()) {
            return Err(TotalsError::HoldExceedsBalance);
        }
        let written_off = self
            .written_off
            .checked_add(&amount)
            .map_err(|_| TotalsError::HoldExceedsBalance)?;
        self.with_written_off(written_off)
            .map_err(|_| TotalsError::HoldExceedsBalance)
    }

    /// The totals after a credit note of `credit`: it may take at most the available balance (balance
    /// less pending holds), so a card payment in progress still fits when it succeeds.
    pub fn after_credit(&self, credit: Money) -> Result<InvoiceTotals, TotalsError> {
        if credit.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        if credit
            .checked_sub(&self.available())
            .is_ok_and(|over| !over.is_zero())
        {
            return Err(TotalsError::CreditExceedsBalance);
        }
        let credited = self
            .amount_credited
            .checked_add(&credit)
            .map_err(|_| TotalsError::CreditExceedsBalance)?;
        self.with_credited(credited)
            .map_err(|_| TotalsError::CreditExceedsBalance)
    }

    pub fn currency(&self) -> Currency {
        self.total.currency()
    }
    pub fn amount_credited(&self) -> Money {
        self.amount_credited
    }
    pub fn written_off(&self) -> Money {
        self.written_off
    }
    /// What open disputes hold out of the payable balance.
    pub fn amount_disputed(&self) -> Money {
        self.disputed
    }
    pub fn total(&self) -> Money {
        self.total
    }
    pub fn amount_paid(&self) -> Money {
        self.amount_paid
    }
    pub fn discount_taken(&self) -> Money {
        self.discount_taken
    }
    pub fn pending(&self) -> Money {
        self.pending
    }
    pub fn issue_date(&self) -> Date {
        self.issue_date
    }
    pub fn voided(&self) -> bool {
        self.voided
    }

    /// `total - amount_paid - discount_taken - amount_credited - written_off`: what the buyer still owes
    /// (disputed amounts included: a dispute holds, it does not settle).
    pub fn balance_due(&self) -> Money {
        // Cannot fail: checked in `new` and `with_credited`.
        self.total
            .checked_sub(&self.amount_paid)
            .and_then(|b| b.checked_sub(&self.discount_taken))
            .and_then(|b| b.checked_sub(&self.amount_credited))
            .and_then(|b| b.checked_sub(&self.written_off))
            .unwrap_or_else(|_| Money::zero(self.currency()))
    }

    /// The balance minus pending holds and open disputes: the most a new payment may be, and the payable
    /// amount every rule runs on (`balance_due - amount_disputed - pending`).
    pub fn available(&self) -> Money {
        self.balance_due()
            .checked_sub(&self.pending)
            .and_then(|b| b.checked_sub(&self.disputed))
            .unwrap_or_else(|_| Money::zero(self.currency()))
    }

    pub fn status(&self) -> InvoiceStatus {
        if self.voided {
            InvoiceStatus::Void
        } else if self.balance_due().is_zero() {
            InvoiceStatus::Paid
        } else if self.amount_paid.is_zero()
            && self.discount_taken.is_zero()
            && self.amount_credited.is_zero()
            && self.written_off.is_zero()
        {
            InvoiceStatus::Open
        } else {
            InvoiceStatus::PartiallyPaid
        }
    }

    /// The totals after `accepted` succeeds (its hold, if counted in `pending`, released).
    pub fn after_payment(
        &self,
        accepted: &AcceptedAmount,
        was_pending: bool,
    ) -> Result<InvoiceTotals, TotalsError> {
        let pending = if was_pending {
            self.pending
                .checked_sub(&accepted.amount)
                .map_err(|_| TotalsError::OverHeld)?
        } else {
            self.pending
        };
        InvoiceTotals::new(
            self.total,
            self.amount_paid
                .checked_add(&accepted.amount)
                .map_err(|_| TotalsError::Overpaid)?,
            self.discount_taken
                .checked_add(&accepted.discount)
                .map_err(|_| TotalsError::Overpaid)?,
            pending,
            self.voided,
            self.issue_date,
        )?
        .with_written_off(self.written_off)?
        .with_disputed(self.disputed)?
        .with_credited(self.amount_credited)
    }

    /// The totals after `refund` of a succeeded payment went back to the buyer: `amount_paid` falls by it,
    /// and `discount_released` (the early-payment discount of a payment refunded in full, which no longer
    /// settled anything) comes off `discount_taken`. Checked: paid and discount never go below zero, so
    /// the balance can only rise to the total; the status follows from the new amounts (`open` or
    /// `partially_paid`, `void` staying `void`). Pending holds are unchanged: a larger balance still
    /// covers them.
    pub fn after_refund(
        &self,
        refund: Money,
        discount_released: Money,
    ) -> Result<InvoiceTotals, TotalsError> {
        if refund.currency() != self.currency() || discount_released.currency() != self.currency() {
            return Err(TotalsError::CurrencyMismatch);
        }
        InvoiceTotals::new(
            self.total,
            self.amount_paid
                .checked_sub(&refund)
                .map_err(|_| TotalsError::RefundExceedsPaid)?,
            self.discount_taken
                .checked_sub(&discount_released)
                .map_err(|_| TotalsError::RefundExceedsPaid)?,
            self.pending,
            self.voided,
            self.issue_date,
        )?
        .with_written_off(self.written_off)?
        .with_disputed(self.disputed)?
        .with_credited(self.amount_credited)
    }
}

/// `amount > limit` (both in one currency).
fn exceeds(amount: Money, limit: Money) -> bool {
    amount.compare(&limit) == Some(Ordering::Greater)
}

/// Why an invoice cannot take a payment right now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotPayable {
    Void,
    Paid,
    /// The whole balance is held by payments the gateway has not answered yet.
    PaymentInProgress,
}

impl NotPayable {
    /// The wire name (serde's `snake_case`), for readers that do not go through serde.
    pub fn as_str(self) -> &'static str {
        match self {
            NotPayable::Void => "void",
            NotPayable::Paid => "paid",
            NotPayable::PaymentInProgress => "payment_in_progress",
        }
    }

    pub fn parse(s: &str) -> Option<NotPayable> {
        [NotPayable::Void, NotPayable::Paid, NotPayable::PaymentInProgress]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why an amount is refused. Closed: every variant has a stable `code()` the API and widget share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountRejected {
    #[error("amount must be greater than zero")]
    AmountNotPositive,
    #[error("amount is not a plain decimal number such as 1250.00")]
    AmountMalformed,
    #[error("{currency} amounts have at most {max_decimals} decimal places")]
    AmountPrecision { currency: Currency, max_decimals: u32 },
    #[error("this invoice is in {expected}, not {found}")]
    CurrencyMismatch { expected: Currency, found: String },
    #[error("this invoice must be paid in full: {full_amount}")]
    PartialNotAllowed { full_amount: Money },
    #[error("the minimum payment is {minimum}")]
    AmountBelowMinimum { minimum: Money },
    #[error("the most you can pay is {maximum}")]
    AmountExceedsBalance { maximum: Money },
    #[error("this invoice cannot be paid ({})", reason.as_str())]
    InvoiceNotPayable { reason: NotPayable },
}

impl AmountRejected {
    /// Its error code: the problem `code` on the wire and the widget's message key.
    pub fn code(&self) -> ErrorCode {
        match self {
            AmountRejected::AmountNotPositive => ErrorCode::AmountNotPositive,
            AmountRejected::AmountMalformed => ErrorCode::AmountMalformed,
            AmountRejected::AmountPrecision { .. } => ErrorCode::AmountPrecision,
            AmountRejected::CurrencyMismatch { .. } => ErrorCode::CurrencyMismatch,
            AmountRejected::PartialNotAllowed { .. } => ErrorCode::PartialNotAllowed,
            AmountRejected::AmountBelowMinimum { .. } => ErrorCode::AmountBelowMinimum,
            AmountRejected::AmountExceedsBalance { .. } => ErrorCode::AmountExceedsBalance,
            AmountRejected::InvoiceNotPayable { .. } => ErrorCode::InvoiceNotPayable,
        }
    }

    /// Every code, for documentation and exhaustive tests.
    pub const CODES: [ErrorCode; 8] = [
        ErrorCode::AmountNotPositive,
        ErrorCode::AmountMalformed,
        ErrorCode::AmountPrecision,
        ErrorCode::CurrencyMismatch,
        ErrorCode::PartialNotAllowed,
        ErrorCode::AmountBelowMinimum,
        ErrorCode::AmountExceedsBalance,
        ErrorCode::InvoiceNotPayable,
    ];

    /// The rejection a malformed, negative or too precise amount gets (also for refund amounts).
    pub fn from_money_error(error: MoneyError) -> AmountRejected {
        match error {
            MoneyError::Empty | MoneyError::Malformed => AmountRejected::AmountMalformed,
            MoneyError::Negative => AmountRejected::AmountNotPositive,
            MoneyError::TooPrecise {
                currency,
                max_decimals,
            } => AmountRejected::AmountPrecision {
                currency,
                max_decimals,
            },
            // Beyond the largest representable amount is beyond any balance; the caller maps it.
            MoneyError::OutOfRange | MoneyError::Underflow => AmountRejected::AmountMalformed,
            MoneyError::CurrencyMismatch { expected, found } => AmountRejected::CurrencyMismatch {
                expected,
                found: found.code().to_owned(),
            },
        }
    }
}

/// An amount the rules accept, with what it does to the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedAmount {
    /// What the buyer is charged.
    pub amount: Money,
    /// Early-payment discount this payment takes (zero unless it settles the invoice inside the window).
    pub discount: Money,
    /// Balance left once this payment (and every pending one) succeeds.
    pub remaining_after: Money,
}

impl AcceptedAmount {
    pub fn settles_invoice(&self) -> bool {
        self.remaining_after.is_zero()
    }
}

/// A preset button as the widget shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetOption {
    pub percent: Percent,
    pub amount: Money,
    /// `None` when enabled; otherwise the same rejection `check_amount` gives for this amount.
    pub disabled_reason: Option<AmountRejected>,
}

impl PresetOption {
    pub fn enabled(&self) -> bool {
        self.disabled_reason.is_none()
    }
}

/// The early-payment discount on offer today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscountOffer {
    pub percent: Percent,
    /// The amount taken off the balance.
    pub discount: Money,
    /// What the buyer pays to settle the invoice with the discount.
    pub amount: Money,
    /// Last day (inclusive) the offer stands.
    pub available_until: Date,
}

/// Everything the buyer may choose from today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOptions {
    pub currency: Currency,
    pub allow_partial: bool,
    /// Effective minimum: min(available balance, configured minimum), at least one minor unit.
    pub minimum: Money,
    /// The available balance: the most a payment may be.
    pub maximum: Money,
    /// "Pay full balance", always offered while the invoice is payable.
    pub full_balance: Money,
    pub presets: Vec<PresetOption>,
    pub discount: Option<DiscountOffer>,
    /// With a payment plan: the installment to pay next. Paying exactly its open amount is always
    /// accepted, even below the minimum (DESIGN 11).
    pub installment: Option<InstallmentDue>,
}

/// The rules for one invoice on one day, resolved once and then asked about amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    invoice: InvoiceTotals,
    allow_partial: bool,
    minimum: Money,
    available: Money,
    discount: Option<DiscountOffer>,
    installment: Option<InstallmentDue>,
}

impl Rules {
    /// Resolves the terms against the invoice; `today` is the server's calendar date (UTC).
    pub fn new(invoice: &InvoiceTotals, terms: &Terms, today: Date) -> Rules {
        let currency = invoice.currency();
        let available = invoice.available();
        let fixed = terms
            .minimum_amount(currency)
            .unwrap_or_else(|| Money::zero(currency));
        let by_percent = terms
            .minimum_percent()
            .and_then(|p| invoice.total().percent(p).ok())
            .unwrap_or_else(|| Money::zero(currency));
        let configured = fixed.max(by_percent).max(Money::one_minor_unit(currency));
        // The last remainder can always be paid, even when it is below the configured minimum.
        let minimum = if terms.allow_partial() {
            configured.min(available)
        } else {
            available
        };
        let discount = terms.discount().and_then(|d| {
            let last_day = invoice
                .issue_date()
                .checked_add(time::Duration::days(i64::from(d.within_days())))?;
            if today > last_day || available.is_zero() {
                return None;
            }
            let discount = available.percent(d.percent()).ok()?;
            let amount = available.checked_sub(&discount).ok()?;
            (!discount.is_zero() && !amount.is_zero()).then_some(DiscountOffer {
                percent: d.percent(),
                discount,
                amount,
                available_until: last_day,
            })
        });
        Rules {
            invoice: *invoice,
            allow_partial: terms.allow_partial(),
            minimum,
            available,
            discount,
            installment: None,
        }
    }

    /// The same rules for an invoice with a payment plan whose next installment is `due`
    /// ([`crate::Plan::amount_due`]). An installment in another currency or with nothing open is ignored.
    pub fn with_installment(self, due: Option<InstallmentDue>) -> Rules {
        let currency = self.invoice.currency();
        // An open dispute can leave less payable than the installment: the most it can ask is what is
        // available, so the installment option never offers an amount the check refuses.
        let available = self.available;
        let installment = due
            .filter(|d| d.amount_due.currency() == currency && !d.amount_due.is_zero())
            .map(|d| InstallmentDue {
                amount_due: d.amount_due.min(available),
                ..d
            })
            .filter(|d| !d.amount_due.is_zero());
        Rules { installment, ..self }
    }

    /// Why the invoice takes no payment now, if it does not.
    pub fn not_payable(&self) -> Option<NotPayable> {
        self.settled()
            .or_else(|| self.available.is_zero().then_some(NotPayable::PaymentInProgress))
    }

    /// Void or paid: states no amount can change (unlike a balance held by pending payments, which may
    /// be released).
    fn settled(&self) -> Option<NotPayable> {
        match self.invoice.status() {
            InvoiceStatus::Void => Some(NotPayable::Void),
            InvoiceStatus::Paid => Some(NotPayable::Paid),
            _ => None,
        }
    }

    /// Checks an amount already in money form.
    ///
    /// Order matters and is part of the contract: a void or paid invoice refuses everything with
    /// `invoice_not_payable` (a buyer paying a settled invoice is told so, not "the most you can pay is
    /// 0.00"); otherwise the amount is compared with the available balance first, so a payment racing past
    /// the last one while it is still pending is told `amount_exceeds_balance` (maximum 0) rather than
    /// something vaguer.
    pub fn check(&self, amount: Money) -> Result<AcceptedAmount, AmountRejected> {
        if let Some(reason) = self.settled() {
            return Err(AmountRejected::InvoiceNotPayable { reason });
        }
        let currency = self.invoice.currency();
        if amount.currency() != currency {
            return Err(AmountRejected::CurrencyMismatch {
                expected: currency,
                found: amount.currency().code().to_owned(),
            });
        }
        if amount.is_zero() {
            return Err(AmountRejected::AmountNotPositive);
        }
        if amount.compare(&self.available) == Some(Ordering::Greater) {
            return Err(AmountRejected::AmountExceedsBalance {
                maximum: self.available,
            });
        }
        let balance_after_pending = self.available;
        if let Some(offer) = self.discount.filter(|d| d.amount == amount) {
            return Ok(AcceptedAmount {
                amount,
                discount: offer.discount,
                remaining_after: Money::zero(currency),
            });
        }
        let remaining_after = balance_after_pending
            .checked_sub(&amount)
            .unwrap_or_else(|_| Money::zero(currency));
        // The installment due is the amount the seller asked for: never refused as too small or partial.
        if remaining_after.is_zero() || self.installment.is_some_and(|i| i.amount_due == amount) {
            return Ok(AcceptedAmount {
                amount,
                discount: Money::zero(currency),
                remaining_after,
            });
        }
        if !self.allow_partial {
            return Err(AmountRejected::PartialNotAllowed {
                full_amount: self.available,
            });
        }
        if amount.compare(&self.minimum) == Some(Ordering::Less) {
            return Err(AmountRejected::AmountBelowMinimum {
                minimum: self.minimum,
            });
        }
        Ok(AcceptedAmount {
            amount,
            discount: Money::zero(currency),
            remaining_after,
        })
    }

    /// Parses a wire amount (`"250.00"`) in the invoice currency (or `currency`, if the buyer named one)
    /// and checks it.
    pub fn check_str(&self, amount: &str, currency: Option<&str>) -> Result<AcceptedAmount, AmountRejected> {
        if let Some(reason) = self.settled() {
            return Err(AmountRejected::InvoiceNotPayable { reason });
        }
        let expected = self.invoice.currency();
        if let Some(code) = currency.filter(|c| *c != expected.code()) {
            return Err(AmountRejected::CurrencyMismatch {
                expected,
                found: code.chars().take(16).collect(),
            });
        }
        let money = match Money::parse(amount, expected) {
            Ok(money) => money,
            Err(MoneyError::OutOfRange) => {
                return Err(AmountRejected::AmountExceedsBalance {
                    maximum: self.available,
                })
            }
            Err(other) => return Err(AmountRejected::from_money_error(other)),
        };
        self.check(money)
    }

    /// The options to show, or why the invoice cannot be paid now.
    pub fn options(&self, terms: &Terms) -> Result<PaymentOptions, NotPayable> {
        if let Some(reason) = self.not_payable() {
            return Err(reason);
        }
        let currency = self.invoice.currency();
        let basis = match terms.preset_basis() {
            PresetBasis::Balance => self.available,
            PresetBasis::Total => self.invoice.total(),
        };
        let presets = terms
            .presets()
            .iter()
            .filter_map(|&percent| {
                let amount = basis.percent(percent).ok()?;
                Some(PresetOption {
                    percent,
                    amount,
                    disabled_reason: self.check(amount).err(),
                })
            })
            .collect();
        Ok(PaymentOptions {
            currency,
            allow_partial: self.allow_partial,
            minimum: self.minimum,
            maximum: self.available,
            full_balance: self.available,
            presets,
            discount: self.discount,
            installment: self.installment,
        })
    }
}

/// What the buyer may pay on `invoice` today under `terms`.
pub fn payment_options(
    invoice: &InvoiceTotals,
    terms: &Terms,
    today: Date,
) -> Result<PaymentOptions, NotPayable> {
    Rules::new(invoice, terms, today).options(terms)
}

/// Whether the buyer may pay `amount` (a wire decimal string) on `invoice` today under `terms`.
pub fn check_amount(
    invoice: &InvoiceTotals,
    terms: &Terms,
    today: Date,
    amount: &str,
    currency: Option<&str>,
) -> Result<AcceptedAmount, AmountRejected> {
    Rules::new(invoice, terms, today).check_str(amount, currency)
}
