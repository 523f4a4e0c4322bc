//! Invoice lines and the totals computed from them: the server, not the client, decides what an invoice
//! totals. Each line is rounded half-up to the minor unit, and so is each line's tax.

use rust_decimal::Decimal;

use crate::currency::Currency;
use crate::money::{round_half_up, Money, MoneyError};
use crate::percent::Percent;

/// Most lines on one invoice.
pub const MAX_LINES: usize = 500;
/// Longest line description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Largest quantity on one line.
const MAX_QUANTITY: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// One validated invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Money,
    pub tax_rate: Percent,
    /// `quantity x unit_price`, rounded half-up.
    pub amount: Money,
    /// `amount x tax_rate`, rounded half-up.
    pub tax: Money,
}

/// A line as the seller sends it: strings for every number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput<'a> {
    pub description: &'a str,
    pub quantity: &'a str,
    pub unit_price: &'a str,
    pub tax_rate: Option<&'a str>,
}

/// Subtotal, tax and total of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceAmounts {
    pub lines: Vec<Line>,
    pub subtotal: Money,
    pub tax: Money,
    pub total: Money,
}

/// Why lines do not make a valid invoice; `index` is the zero-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("an invoice needs between 1 and {MAX_LINES} lines")]
    Count,
    #[error("lines[{index}].description must be 1 to {MAX_DESCRIPTION_CHARS} characters")]
    Description { index: usize },
    #[error("lines[{index}].quantity must be a positive decimal with at most 4 decimals, up to 1000000000")]
    Quantity { index: usize },
    #[error("lines[{index}].unit_price: {error}")]
    UnitPrice { index: usize, error: MoneyError },
    #[error("lines[{index}].tax_rate must be a percentage from 0 to 100")]
    TaxRate { index: usize },
    #[error("the invoice total is zero or beyond the supported maximum")]
    Total,
}

fn parse_quantity(input: &str) -> Option<Decimal> {
    let valid_chars = !input.is_empty()
        && input.len() <= 20
        && input.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !input.starts_with('.')
        && !input.ends_with('.');
    if !valid_chars {
        return None;
    }
    let q = Decimal::from_str_exact(input).ok()?.normalize();
    (q > Decimal::ZERO && q.scale() <= 4 && q <= MAX_QUANTITY).then_some(q)
}

/// Validates lines and computes the invoice amounts in `currency`.
pub fn compute_amounts(currency: Currency, inputs: &[LineInput<'_>]) -> Result<InvoiceAmounts, LineError> {
    if inputs.is_empty() || inputs.len() > MAX_LINES {
        return Err(LineError::Count);
    }
    let mut lines = Vec::with_capacity(inputs.len());
    let mut subtotal = Money::zero(currency);
    let mut tax = Money::zero(currency);
    for (index, input) in inputs.iter().enumerate() {
        let description = input.description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(LineError::Description { index });
        }
        let quantity = parse_quantity(input.quantity).ok_or(LineError::Quantity { index })?;
        let unit_price = Money::parse(input.unit_price, currency)
            .map_err(|error| LineError::UnitPrice { index, error })?;
        let tax_rate = match input.tax_rate {
            Some(rate) => Percent::parse(rate).map_err(|_| LineError::TaxRate { index })?,
            None => Percent::from_decimal(Decimal::ZERO).map_err(|_| LineError::TaxRate { index })?,
        };
        let exact = quantity
            .checked_mul(unit_price.amount())
            .ok_or(LineError::Total)?;
        let amount =
            Money::from_decimal(round_half_up(exact, currency), currency).map_err(|_| LineError::Total)?;
        let line_tax = amount.percent(tax_rate).map_err(|_| LineError::Total)?;
        subtotal = subtotal.checked_add(&amount).map_err(|_| LineError::Total)?;
        tax = tax.checked_add(&line_tax).map_err(|_| LineError::Total)?;
        lines.push(Line {
            description: description.to_owned(),
            quantity,
            unit_price,
            tax_rate,
            amount,
            tax: line_tax,
        });
    }
    let total = subtotal.checked_add(&tax).map_err(|_| LineError::Total)?;
    if total.is_zero() {
        return Err(LineError::Total);
    }
    Ok(InvoiceAmounts {
        lines,
        subtotal,
        tax,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(quantity: &'a str, unit_price: &'a str, tax_rate: Option<&'a str>) -> LineInput<'a> {
        LineInput {
            description: "Widgets",
            quantity,
            unit_price,
            tax_rate,
        }
    }

    #[test]
    fn tax_is_per_line_and_rounded_half_up() {
        // 3 x 0.35 = 1.05; 19 % of 1.05 = 0.1995 -> 0.20. 1 x 10.00, 7 % -> 0.70.
        let amounts = compute_amounts(
            Currency::EUR,
            &[line("3", "0.35", Some("19")), line("1", "10.00", Some("7"))],
        )
        .unwrap();
        assert_eq!(amounts.subtotal.to_string(), "11.05");
        assert_eq!(amounts.tax.to_string(), "0.90");
        assert_eq!(amounts.total.to_string(), "11.95");
    }

    #[test]
    fn fractional_quantities_round_the_line() {
        // 2.5 h x 33.33 = 83.325 -> 83.33
        let amounts = compute_amounts(Currency::USD, &[line("2.5", "33.33", None)]).unwrap();
        assert_eq!(amounts.total.to_string(), "83.33");
        let yen = compute_amounts(Currency::JPY, &[line("1.5", "101", Some("10"))]).unwrap();
        // 151.5 -> 152; tax 15.2 -> 15
        assert_eq!(
            (yen.subtotal.to_string(), yen.tax.to_string()),
            ("152".into(), "15".into())
        );
    }

    #[test]
    fn invalid_lines_name_the_line() {
        assert_eq!(compute_amounts(Currency::USD, &[]), Err(LineError::Count));
        assert_eq!(
            compute_amounts(Currency::USD, &[line("1", "1.00", None), line("0", "1.00", None)]),
            Err(LineError::Quantity { index: 1 })
        );
        assert_eq!(
            compute_amounts(Currency::USD, &[line("-1", "1.00", None)]),
            Err(LineError::Quantity { index: 0 })
        );
        assert!(matches!(
            compute_amounts(Currency::JPY, &[line("1", "1.5", None)]),
            Err(LineError::UnitPrice { index: 0, .. })
        ));
        assert_eq!(
            compute_amounts(Currency::USD, &[line("1", "1.00", Some("150"))]),
            Err(LineError::TaxRate { index: 0 })
        );
        assert_eq!(
            compute_amounts(Currency::USD, &[line("1", "0.00", None)]),
            Err(LineError::Total)
        );
        let blank = LineInput {
            description: "  ",
            quantity: "1",
            unit_price: "1.00",
            tax_rate: None,
        };
        assert_eq!(
            compute_amounts(Currency::USD, &[blank]),
            Err(LineError::Description { index: 0 })
        );
    }
}
