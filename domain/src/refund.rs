//! Refunds of a succeeded payment: what may still go back to the buyer, whether a requested amount fits,
//! and the payment's status once some of it has. The invoice side is [`crate::InvoiceTotals::after_refund`].

use crate::money::{Money, MoneyError};
use crate::rules::AmountRejected;
use crate::wire::PaymentStatus;

/// Why a refund amount is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRejected {
    /// Not an amount at all (malformed, not positive, too precise for the currency).
    #[error("{0}")]
    Amount(AmountRejected),
    /// More than is still refundable; `maximum` is what is.
    #[error("at most {maximum} can be refunded")]
    ExceedsPayment { maximum: Money },
}

/// What is still refundable on a payment of `amount`: less what was refunded and what pending refunds
/// hold. Fails (rather than saturating) when the inputs break `refunded + pending <= amount`, which the
/// database's CHECK and the hold's lock keep true.
pub fn refundable(amount: Money, refunded: Money, pending: Money) -> Result<Money, MoneyError> {
    amount.checked_sub(&refunded)?.checked_sub(&pending)
}

/// Checks a requested refund against what is refundable; `None` asks for all of it. Exact currency
/// precision, strictly positive, never above `refundable`.
pub fn check_refund(requested: Option<&str>, refundable: Money) -> Result<Money, RefundRejected> {
    let currency = refundable.currency();
    let exceeds = || RefundRejected::ExceedsPayment { maximum: refundable };
    let amount = match requested {
        None if refundable.is_zero() => return Err(exceeds()),
        None => return Ok(refundable),
        Some(text) => match Money::parse(text, currency) {
            Ok(amount) => amount,
            // More digits than any amount has: more than any payment.
            Err(MoneyError::OutOfRange) => return Err(exceeds()),
            Err(error) => return Err(RefundRejected::Amount(AmountRejected::from_money_error(error))),
        },
    };
    if amount.is_zero() {
        return Err(RefundRejected::Amount(AmountRejected::AmountNotPositive));
    }
    match refundable.checked_sub(&amount) {
        Ok(_) => Ok(amount),
        Err(_) => Err(exceeds()),
    }
}

/// A succeeded payment's status once `refunded` of its `amount` went back: `succeeded` (nothing yet),
/// `partially_refunded`, or `refunded` (all of it).
pub fn status_after_refunds(amount: Money, refunded: Money) -> PaymentStatus {
    if refunded.is_zero() {
        PaymentStatus::Succeeded
    } else if refunded == amount {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Currency, ErrorCode};

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::parse("USD").unwrap()).unwrap()
    }

    #[test]
    fn amounts_are_checked_against_what_is_refundable() {
        let left = usd("40.00");
        assert_eq!(check_refund(None, left), Ok(left));
        assert_eq!(check_refund(Some("40.00"), left), Ok(left));
        assert_eq!(check_refund(Some("0.01"), left), Ok(usd("0.01")));
        assert_eq!(
            check_refund(Some("40.01"), left),
            Err(RefundRejected::ExceedsPayment { maximum: left })
        );
        assert_eq!(
            check_refund(None, usd("0.00")),
            Err(RefundRejected::ExceedsPayment { maximum: usd("0.00") })
        );
        let code = |r: Result<Money, RefundRejected>| match r {
            Err(RefundRejected::Amount(a)) => Some(a.code()),
            _ => None,
        };
        assert_eq!(
            code(check_refund(Some("-1.00"), left)),
            Some(ErrorCode::AmountNotPositive)
        );
        assert_eq!(
            code(check_refund(Some("0"), left)),
            Some(ErrorCode::AmountNotPositive)
        );
        assert_eq!(
            code(check_refund(Some("1.001"), left)),
            Some(ErrorCode::AmountPrecision)
        );
        assert_eq!(
            code(check_refund(Some("1e3"), left)),
            Some(ErrorCode::AmountMalformed)
        );
        let jpy = Money::parse("500", Currency::parse("JPY").unwrap()).unwrap();
        assert_eq!(
            code(check_refund(Some("1.5"), jpy)),
            Some(ErrorCode::AmountPrecision)
        );
        let kwd = Money::parse("5.000", Currency::parse("KWD").unwrap()).unwrap();
        assert!(check_refund(Some("1.125"), kwd).is_ok());
        assert_eq!(
            code(check_refund(Some("1.1255"), kwd)),
            Some(ErrorCode::AmountPrecision)
        );
    }

    #[test]
    fn status_follows_the_refunded_amount() {
        assert_eq!(
            status_after_refunds(usd("10.00"), usd("0.00")),
            PaymentStatus::Succeeded
        );
        assert_eq!(
            status_after_refunds(usd("10.00"), usd("2.00")),
            PaymentStatus::PartiallyRefunded
        );
        assert_eq!(
            status_after_refunds(usd("10.00"), usd("10.00")),
            PaymentStatus::Refunded
        );
    }
}
