//! Percentages as exact decimals (`"12.5"` is 12.5 %), for minimums, presets, tax rates and discounts.

use std::fmt;

use rust_decimal::Decimal;

/// Why a percentage string is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PercentError {
    #[error("percentage is not a plain decimal number such as 12.5")]
    Malformed,
    #[error("percentage must be between 0 and 100")]
    OutOfRange,
    #[error("percentage has more than 4 decimal places")]
    TooPrecise,
}

/// A percentage in `0..=100` with at most four decimals.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent(Decimal);

impl Percent {
    pub const MAX_DECIMALS: u32 = 4;

    /// Parses `"25"`, `"12.5"`, `"0.25"`; no sign, exponent or `%` sign.
    pub fn parse(input: &str) -> Result<Percent, PercentError> {
        if input.is_empty() || input.len() > 12 {
            return Err(PercentError::Malformed);
        }
        let (int_part, frac_part) = match input.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (input, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(PercentError::Malformed);
        }
        let value = Decimal::from_str_exact(input).map_err(|_| PercentError::Malformed)?;
        Percent::from_decimal(value)
    }

    pub fn from_decimal(value: Decimal) -> Result<Percent, PercentError> {
        let value = value.normalize();
        if value.is_sign_negative() || value > Decimal::ONE_HUNDRED {
            return Err(PercentError::OutOfRange);
        }
        if value.scale() > Self::MAX_DECIMALS {
            return Err(PercentError::TooPrecise);
        }
        Ok(Percent(value))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for Percent {
    /// Normalised: `"12.5"`, `"25"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_percentages() {
        for (input, shown) in [
            ("25", "25"),
            ("12.50", "12.5"),
            ("0", "0"),
            ("100", "100"),
            ("0.0001", "0.0001"),
        ] {
            assert_eq!(Percent::parse(input).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn rejects_bad_percentages() {
        for (input, error) in [
            ("", PercentError::Malformed),
            ("-5", PercentError::Malformed),
            ("5%", PercentError::Malformed),
            ("1e2", PercentError::Malformed),
            ("100.01", PercentError::OutOfRange),
            ("0.00001", PercentError::TooPrecise),
        ] {
            assert_eq!(Percent::parse(input), Err(error), "{input}");
        }
    }
}
