//! Disputes and short pays (issue 17, DESIGN 12): how much of a line a buyer may still dispute, and
//! whether money that arrived short of what was expected is within the seller's tolerance (a write-off)
//! or an exception for a person to look at. Exact decimal arithmetic: no rounding anywhere.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::currency::Currency;
use crate::money::Money;
use crate::percent::Percent;

/// Why a buyer contests a line (DESIGN 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisputeReason {
    Pricing,
    Quantity,
    Damaged,
    NotReceived,
    Duplicate,
    Other,
}

impl DisputeReason {
    pub const ALL: [DisputeReason; 6] = [
        DisputeReason::Pricing,
        DisputeReason::Quantity,
        DisputeReason::Damaged,
        DisputeReason::NotReceived,
        DisputeReason::Duplicate,
        DisputeReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeReason::Pricing => "pricing",
            DisputeReason::Quantity => "quantity",
            DisputeReason::Damaged => "damaged",
            DisputeReason::NotReceived => "not_received",
            DisputeReason::Duplicate => "duplicate",
            DisputeReason::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<DisputeReason> {
        DisputeReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// Why money arrived short (DESIGN 12): the reason a write-off carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShortPayReason {
    BankFee,
    Fx,
    SmallBalance,
}

impl ShortPayReason {
    pub const ALL: [ShortPayReason; 3] = [
        ShortPayReason::BankFee,
        ShortPayReason::Fx,
        ShortPayReason::SmallBalance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShortPayReason::BankFee => "bank_fee",
            ShortPayReason::Fx => "fx",
            ShortPayReason::SmallBalance => "small_balance",
        }
    }

    pub fn parse(text: &str) -> Option<ShortPayReason> {
        ShortPayReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// The most a new dispute on a line may be: the line's amount less what is already disputed on it (open
/// disputes and the credited part of resolved ones; a rejected dispute gives its amount back).
pub fn disputable(line_amount: Money, already_disputed: Money) -> Money {
    line_amount
        .checked_sub(&already_disputed)
        .unwrap_or_else(|_| Money::zero(line_amount.currency()))
}

/// A seller's tolerance for short pays: a shortfall is within it when it is at most the amount given for
/// the payment's currency *and* at most `percent` of the expected amount; a limit not given does not
/// apply, but with no limit applying nothing is within (no tolerance set means every shortfall is an
/// exception).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tolerance {
    pub amounts: BTreeMap<Currency, Money>,
    pub percent: Option<Percent>,
}

impl Tolerance {
    /// Whether `shortfall` (expected less received, positive) short of `expected` may be written off.
    pub fn covers(&self, expected: Money, shortfall: Money) -> bool {
        let currency = expected.currency();
        if shortfall.currency() != currency || shortfall.is_zero() {
            return false;
        }
        let by_amount = self.amounts.get(&currency);
        if by_amount.is_none() && self.percent.is_none() {
            return false;
        }
        let within_amount = by_amount.is_none_or(|limit| shortfall.compare(limit) != Some(Ordering::Greater));
        // shortfall <= expected * percent / 100, compared exactly: shortfall * 100 <= expected * percent.
        let within_percent = self.percent.is_none_or(|p| {
            let lhs = shortfall.amount().checked_mul(Decimal::ONE_HUNDRED);
            let rhs = expected.amount().checked_mul(p.value());
            matches!((lhs, rhs), (Some(l), Some(r)) if l <= r)
        });
        within_amount && within_percent
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use proptest::prelude::*;

    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn tolerance(amount: Option<&str>, percent: Option<&str>) -> Tolerance {
        Tolerance {
            amounts: amount
                .map(|a| BTreeMap::from([(Currency::USD, usd(a))]))
                .unwrap_or_default(),
            percent: percent.map(|p| Percent::parse(p).unwrap()),
        }
    }

    #[test]
    fn both_limits_apply_when_given() {
        let t = tolerance(Some("25.00"), Some("0.5"));
        // 0.5 % of 1000.00 is 5.00: the percent binds.
        assert!(t.covers(usd("1000.00"), usd("5.00")));
        assert!(!t.covers(usd("1000.00"), usd("5.01")));
        // 0.5 % of 10000.00 is 50.00: the amount binds.
        assert!(t.covers(usd("10000.00"), usd("25.00")));
        assert!(!t.covers(usd("10000.00"), usd("25.01")));
    }

    #[test]
    fn a_limit_left_out_does_not_apply() {
        assert!(tolerance(Some("25.00"), None).covers(usd("100.00"), usd("25.00")));
        assert!(tolerance(None, Some("1")).covers(usd("100000.00"), usd("1000.00")));
        assert!(!tolerance(None, None).covers(usd("100.00"), usd("0.01")));
        // An amount for another currency only: with no percent, nothing applies to EUR.
        let eur = Money::parse("100.00", Currency::EUR).unwrap();
        let short = Money::parse("0.01", Currency::EUR).unwrap();
        assert!(!tolerance(Some("25.00"), None).covers(eur, short));
        assert!(tolerance(Some("25.00"), Some("1")).covers(eur, short));
    }

    #[test]
    fn reasons_round_trip() {
        for r in DisputeReason::ALL {
            assert_eq!(DisputeReason::parse(r.as_str()), Some(r));
        }
        for r in ShortPayReason::ALL {
            assert_eq!(ShortPayReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(DisputeReason::parse("Pricing"), None);
        assert_eq!(ShortPayReason::parse("fee"), None);
    }

    fn totals(total: i64) -> crate::InvoiceTotals {
        let m = |v| Money::from_minor_units(v, Currency::USD).unwrap();
        crate::InvoiceTotals::new(
            m(total),
            m(0),
            m(0),
            m(0),
            false,
            crate::wire::parse_date("2026-11-01").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_dispute_holds_and_a_write_off_settles() {
        let t = totals(100_000).after_dispute_opened(usd("300.00")).unwrap();
        assert_eq!(t.available(), usd("700.00"));
        assert_eq!(t.balance_due(), usd("1000.00"));
        assert!(t.after_dispute_opened(usd("700.01")).is_err());
        // Credit 100 of the 300, the rest back to payable.
        let r = t.after_dispute_resolved(usd("300.00"), usd("100.00")).unwrap();
        assert_eq!(
            (r.available(), r.amount_credited(), r.amount_disputed()),
            (usd("900.00"), usd("100.00"), usd("0.00"))
        );
        assert!(t.after_dispute_resolved(usd("300.00"), usd("300.01")).is_err());
        let w = totals(100_000).after_write_off(usd("1000.00")).unwrap();
        assert_eq!(w.status(), crate::InvoiceStatus::Paid);
        assert!(totals(100_000).after_write_off(usd("1000.01")).is_err());
    }

    proptest! {
        /// Whatever disputes, payments, write-offs and resolutions happen, the parts never exceed the total
        /// and the payable amount is the balance less holds.
        #[test]
        fn holds_and_write_offs_keep_the_invariants(
            total in 1i64..10_000_000,
            steps in proptest::collection::vec((0u8..4, 1i64..5_000_000), 0..12),
        ) {
            let m = |v| Money::from_minor_units(v, Currency::USD).unwrap();
            let mut t = totals(total);
            let mut open: Vec<Money> = Vec::new();
            for (kind, amount) in steps {
                let next = match kind {
                    0 => t.after_dispute_opened(m(amount)).inspect(|_| open.push(m(amount))).ok(),
                    1 => {
                        let accepted = crate::AcceptedAmount { amount: m(amount), discount: m(0), remaining_after: m(0) };
                        (m(amount).compare(&t.available()) != Some(Ordering::Greater))
                            .then(|| t.after_payment(&accepted, false).ok()).flatten()
                    }
                    2 => t.after_write_off(m(amount)).ok(),
                    _ => open.pop().and_then(|d| {
                        let credit = m(amount.min(d.minor_units()));
                        t.after_dispute_resolved(d, credit).ok()
                    }),
                };
                if let Some(next) = next { t = next; }
                let parts = t.amount_paid().minor_units() + t.discount_taken().minor_units()
                    + t.amount_credited().minor_units() + t.written_off().minor_units();
                prop_assert!(parts <= total);
                prop_assert_eq!(t.balance_due().minor_units(), total - parts);
                prop_assert_eq!(t.available().minor_units(), t.balance_due().minor_units() - t.amount_disputed().minor_units());
                prop_assert_eq!(t.amount_disputed().minor_units(), open.iter().map(|d| d.minor_units()).sum::<i64>());
            }
        }


        /// The percent test is exact: covered exactly when shortfall * 100 <= expected * percent.
        #[test]
        fn percent_limit_is_exact(expected in 1i64..10_000_000, short in 1i64..1_000_000, bp in 0u32..10_000) {
            let expected = Money::from_minor_units(expected, Currency::USD).unwrap();
            let shortfall = Money::from_minor_units(short, Currency::USD).unwrap();
            let percent = Percent::from_decimal(Decimal::new(i64::from(bp), 2)).unwrap();
            let t = Tolerance { amounts: BTreeMap::new(), percent: Some(percent) };
            let exact = i128::from(short) * 10_000 <= i128::from(expected.minor_units()) * i128::from(bp);
            prop_assert_eq!(t.covers(expected, shortfall), exact);
        }

        /// Disputable never goes negative and never exceeds the line.
        #[test]
        fn disputable_is_within_the_line(line in 0i64..10_000_000, taken in 0i64..20_000_000) {
            let line = Money::from_minor_units(line, Currency::USD).unwrap();
            let taken = Money::from_minor_units(taken, Currency::USD).unwrap();
            let rest = disputable(line, taken);
            prop_assert!(rest.minor_units() >= 0 && rest.minor_units() <= line.minor_units());
            prop_assert_eq!(rest.minor_units(), (line.minor_units() - taken.minor_units()).max(0));
        }
    }
}
