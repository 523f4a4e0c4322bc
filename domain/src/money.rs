//! Money: an exact decimal amount in one currency, never negative, never more precise than the currency.
//!
//! Amounts travel as decimal strings (`"1250.00"`), are stored as `i64` minor units, and are computed with
//! `rust_decimal`. Every conversion between those three shapes is here so it happens one way only.

use std::cmp::Ordering;
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::currency::Currency;
use crate::percent::Percent;

/// Largest amount Tranche handles, in minor units: 999,999,999,999,999 (just under 10^15), e.g.
/// 9,999,999,999,999.99 USD or 999,999,999,999.999 KWD. Far above any invoice, far below `i64::MAX`, so
/// sums of a few thousand amounts can never wrap even before the checked arithmetic says no.
pub const MAX_MINOR_UNITS: i64 = 999_999_999_999_999;

/// Longest amount string accepted before it is looked at; longer input is malformed, not slow.
const MAX_INPUT_LEN: usize = 32;

/// Why a string or a computation does not give a valid [`Money`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount is not a plain decimal number such as 1250.00")]
    Malformed,
    #[error("amount must not be negative")]
    Negative,
    #[error("{currency} amounts have at most {max_decimals} decimal places")]
    TooPrecise { currency: Currency, max_decimals: u32 },
    #[error("amount is larger than the supported maximum")]
    OutOfRange,
    #[error("currency mismatch: expected {expected}, got {found}")]
    CurrencyMismatch { expected: Currency, found: Currency },
    #[error("result would be negative")]
    Underflow,
}

/// A non-negative amount in one currency with at most the currency's decimal places and at most
/// [`MAX_MINOR_UNITS`]. Fields are private so no value breaks those rules.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Money {
        // At the currency's scale, so it displays as "0.00" / "0" / "0.000" like every other amount.
        Money {
            amount: Decimal::new(0, currency.exponent()),
            currency,
        }
    }

    /// The smallest positive amount in `currency` (0.01 USD, 1 JPY, 0.001 KWD).
    pub fn one_minor_unit(currency: Currency) -> Money {
        Money {
            amount: Decimal::new(1, currency.exponent()),
            currency,
        }
    }

    /// Parses a plain decimal string: digits, optionally a point and digits. No sign, exponent,
    /// spaces or group separators; at most the currency's decimal places *as written* (`"1.000"` is
    /// rejected for USD, because a buyer who typed it may have meant one thousand).
    pub fn parse(input: &str, currency: Currency) -> Result<Money, MoneyError> {
        if input.is_empty() {
            return Err(MoneyError::Empty);
        }
        if input.len() > MAX_INPUT_LEN {
            return Err(MoneyError::Malformed);
        }
        let (negative, unsigned) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(MoneyError::Malformed);
        }
        let decimals = frac_part.map_or(0, str::len);
        // Checked before the value is built so that the error names the real problem.
        let significant_int = int_part.trim_start_matches('0');
        if significant_int.len() > 18 {
            return Err(MoneyError::OutOfRange);
        }
        let amount = Decimal::from_str_exact(unsigned).map_err(|_| MoneyError::Malformed)?;
        if negative && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        if decimals > currency.exponent() as usize {
            return Err(MoneyError::TooPrecise {
                currency,
                max_decimals: currency.exponent(),
            });
        }
        Money::from_decimal(amount, currency)
    }

    /// Builds money from an exact decimal, rejecting negatives, excess precision and out-of-range values.
    /// Trailing zeros beyond the exponent are fine here (the value is exact); only [`Money::parse`]
    /// insists on the written form.
    pub fn from_decimal(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative);
        }
        let normalized = amount.normalize();
        if normalized.scale() > currency.exponent() {
            return Err(MoneyError::TooPrecise {
                currency,
                max_decimals: currency.exponent(),
            });
        }
        let mut amount = normalized;
        amount.rescale(currency.exponent());
        // Decimal keeps the sign of negative zero; money has no such thing.
        amount.set_sign_positive(true);
        let money = Money { amount, currency };
        if money.minor_units_unchecked() > i128::from(MAX_MINOR_UNITS) {
            return Err(MoneyError::OutOfRange);
        }
        Ok(money)
    }

    /// Converts stored minor units back to money (`1250` USD -> `12.50`).
    pub fn from_minor_units(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        if minor > MAX_MINOR_UNITS {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Money {
            amount: Decimal::new(minor, currency.exponent()),
            currency,
        })
    }

    fn minor_units_unchecked(&self) -> i128 {
        // The mantissa at the currency's scale is the minor-unit count (scale is always the exponent).
        self.amount.mantissa()
    }

    /// The amount in minor units, as stored in the database.
    pub fn minor_units(&self) -> i64 {
        // In range by construction: 0 <= value <= MAX_MINOR_UNITS.
        i64::try_from(self.minor_units_unchecked()).unwrap_or(MAX_MINOR_UNITS)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            })
        }
    }

    /// `self + other`; errors on a currency mismatch or beyond [`MAX_MINOR_UNITS`].
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::OutOfRange)?;
        Money::from_decimal(sum, self.currency)
    }

    /// `self - other`; errors on a currency mismatch or when the result would be negative.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        if other.amount > self.amount {
            return Err(MoneyError::Underflow);
        }
        let difference = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::OutOfRange)?;
        Money::from_decimal(difference, self.currency)
    }

    /// Compares two amounts of the same currency; `None` when the currencies differ.
    pub fn compare(&self, other: &Money) -> Option<Ordering> {
        (self.currency == other.currency).then(|| self.amount.cmp(&other.amount))
    }

    /// `percent` of this amount, rounded half-up (away from zero) to the currency's minor unit.
    /// Half-up is what people compute by hand; `rust_decimal`'s default would be banker's rounding.
    pub fn percent(&self, percent: Percent) -> Result<Money, MoneyError> {
        let exact = self
            .amount
            .checked_mul(percent.value())
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .ok_or(MoneyError::OutOfRange)?;
        Money::from_decimal(round_half_up(exact, self.currency), self.currency)
    }

    /// The smaller of two amounts of one currency.
    pub fn min(self, other: Money) -> Money {
        if other.amount < self.amount {
            other
        } else {
            self
        }
    }

    /// The larger of two amounts of one currency.
    pub fn max(self, other: Money) -> Money {
        if other.amount > self.amount {
            other
        } else {
            self
        }
    }
}

/// Rounds to the currency's minor unit, half away from zero (2.345 -> 2.35, 2.344 -> 2.34).
pub fn round_half_up(value: Decimal, currency: Currency) -> Decimal {
    value.round_dp_with_strategy(currency.exponent(), RoundingStrategy::MidpointAwayFromZero)
}

impl fmt::Display for Money {
    /// The wire form: the plain decimal with exactly the currency's decimals (`"1250.00"`, `"5"` for JPY).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.amount, f)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn parse_and_display_use_the_currency_exponent() {
        let cases = [
            ("12.5", Currency::USD, "12.50"),
            ("12", Currency::USD, "12.00"),
            ("0", Currency::USD, "0.00"),
            ("007.10", Currency::USD, "7.10"),
            ("1500", Currency::JPY, "1500"),
            ("1.5", Currency::KWD, "1.500"),
            ("0.001", Currency::KWD, "0.001"),
            ("-0", Currency::USD, "0.00"),
        ];
        for (input, currency, shown) in cases {
            assert_eq!(
                Money::parse(input, currency).unwrap().to_string(),
                shown,
                "{input} {currency}"
            );
        }
    }

    #[test]
    fn parse_rejects_what_is_not_a_plain_amount() {
        let cases = [
            ("", Currency::USD, MoneyError::Empty),
            (
                "1.005",
                Currency::USD,
                MoneyError::TooPrecise {
                    currency: Currency::USD,
                    max_decimals: 2,
                },
            ),
            (
                "1.000",
                Currency::USD,
                MoneyError::TooPrecise {
                    currency: Currency::USD,
                    max_decimals: 2,
                },
            ),
            (
                "10.5",
                Currency::JPY,
                MoneyError::TooPrecise {
                    currency: Currency::JPY,
                    max_decimals: 0,
                },
            ),
            (
                "1.0001",
                Currency::KWD,
                MoneyError::TooPrecise {
                    currency: Currency::KWD,
                    max_decimals: 3,
                },
            ),
            ("-1.00", Currency::USD, MoneyError::Negative),
            ("1e3", Currency::USD, MoneyError::Malformed),
            ("+1", Currency::USD, MoneyError::Malformed),
            (" 1", Currency::USD, MoneyError::Malformed),
            ("1,000.00", Currency::USD, MoneyError::Malformed),
            (".5", Currency::USD, MoneyError::Malformed),
            ("5.", Currency::USD, MoneyError::Malformed),
            ("NaN", Currency::USD, MoneyError::Malformed),
            ("١٢", Currency::USD, MoneyError::Malformed),
            ("10000000000000.00", Currency::USD, MoneyError::OutOfRange),
            ("9999999999999999999", Currency::USD, MoneyError::OutOfRange),
            ("1000000000000000", Currency::JPY, MoneyError::OutOfRange),
        ];
        for (input, currency, error) in cases {
            assert_eq!(Money::parse(input, currency), Err(error), "{input:?} {currency}");
        }
    }

    #[test]
    fn bound_is_inclusive() {
        let max = Money::parse("9999999999999.99", Currency::USD).unwrap();
        assert_eq!(max.minor_units(), MAX_MINOR_UNITS);
        assert_eq!(max.checked_add(&usd("0.01")), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn minor_units_round_trip() {
        for (minor, currency, shown) in [
            (1250, Currency::USD, "12.50"),
            (1250, Currency::JPY, "1250"),
            (1250, Currency::KWD, "1.250"),
        ] {
            let money = Money::from_minor_units(minor, currency).unwrap();
            assert_eq!(money.to_string(), shown);
            assert_eq!(money.minor_units(), minor);
        }
        assert_eq!(
            Money::from_minor_units(-1, Currency::USD),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            Money::from_minor_units(MAX_MINOR_UNITS + 1, Currency::USD),
            Err(MoneyError::OutOfRange)
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(
            usd("10.10").checked_add(&usd("0.95")).unwrap().to_string(),
            "11.05"
        );
        assert_eq!(
            usd("10.00").checked_sub(&usd("0.01")).unwrap().to_string(),
            "9.99"
        );
        assert_eq!(usd("1.00").checked_sub(&usd("1.01")), Err(MoneyError::Underflow));
        let eur = Money::parse("1.00", Currency::EUR).unwrap();
        assert!(matches!(
            usd("1.00").checked_add(&eur),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(usd("1.00").compare(&eur), None);
    }

    #[test]
    fn percent_rounds_half_up_not_bankers() {
        let p = |s: &str| Percent::parse(s).unwrap();
        // 0.125 would be 0.12 with banker's rounding.
        assert_eq!(usd("0.25").percent(p("50")).unwrap().to_string(), "0.13");
        assert_eq!(usd("0.05").percent(p("50")).unwrap().to_string(), "0.03");
        assert_eq!(usd("1000.00").percent(p("12.5")).unwrap().to_string(), "125.00");
        let jpy = Money::parse("25", Currency::JPY).unwrap();
        assert_eq!(jpy.percent(p("10")).unwrap().to_string(), "3");
        let kwd = Money::parse("0.005", Currency::KWD).unwrap();
        assert_eq!(kwd.percent(p("50")).unwrap().to_string(), "0.003");
    }
}
