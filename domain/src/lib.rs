//! `tranche-domain`: money, currencies, payment terms and the partial-payment rules, plus the checkout
//! wire types. Pure Rust with no I/O, compiled natively for the API and to wasm32 for the widget, so the
//! two always agree on which amounts are payable.
//!
//! Run its tests with `cargo test -p tranche-domain` (property tests: set `PROPTEST_CASES` to scale).

pub mod currency;
pub mod error_code;
pub mod format;
pub mod lines;
pub mod money;
pub mod percent;
pub mod refund;
pub mod rules;
pub mod schedule;
pub mod schedule_dunning;
pub mod short_pay;
pub mod terms;
pub mod wire;
mod wire_account;

pub use currency::{Currency, UnknownCurrency};
pub use error_code::ErrorCode;
pub use lines::{compute_amounts, InvoiceAmounts, Line, LineError, LineInput};
pub use money::{Money, MoneyError, MAX_MINOR_UNITS};
pub use percent::{Percent, PercentError};
pub use refund::{check_refund, refundable, status_after_refunds, RefundRejected};
pub use rules::{
    check_amount, payment_options, AcceptedAmount, AmountRejected, DiscountOffer, InvoiceStatus,
    InvoiceTotals, NotPayable, PaymentOptions, PresetOption, Rules, TotalsError,
};
pub use schedule::{
    split_by_percents, Installment, InstallmentDue, InstallmentDueView, InstallmentSpec, InstallmentState,
    InstallmentStatus, InstallmentView, Plan, ScheduleError, SchedulePartSpec, ScheduleTemplate,
};
pub use schedule_dunning::{
    DunningError, LateFee, LateFeeSpec, ReminderDue, ReminderKind, Reminders, RemindersSpec,
};
pub use short_pay::{disputable, DisputeReason, ShortPayReason, Tolerance};
pub use terms::{DiscountSpec, EarlyPaymentDiscount, PresetBasis, Terms, TermsError, TermsSpec};
pub use time::Date;
