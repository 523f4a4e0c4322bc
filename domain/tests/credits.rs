//! Property tests for credit notes (`InvoiceTotals::after_credit`, `with_credited`): whatever the mix of
//! payments, discounts, holds and credits, the balance is never negative and paid + credited + discount
//! never passes the total. Integer minor units in every currency, no float anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use support::date;
use tranche_domain::{Currency, InvoiceStatus, InvoiceTotals, Money, TotalsError};

fn cases() -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(10_000).max(10_000),
        ..ProptestConfig::default()
    }
}

fn currency() -> impl Strategy<Value = Currency> {
    let all: Vec<Currency> = Currency::all().collect();
    proptest::sample::select(all)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn credits_never_push_the_balance_below_zero(
        c in currency(),
        total in 1i64..=100_000_000_000,
        paid_pct in 0u32..=100,
        pending_pct in 0u32..=100,
        credits in proptest::collection::vec(0u32..=120, 1..8),
    ) {
        let m = |minor: i64| Money::from_minor_units(minor, c).unwrap();
        let paid = total / 100 * i64::from(paid_pct);
        let pending = (total - paid) / 100 * i64::from(pending_pct);
        let mut inv = InvoiceTotals::new(m(total), m(paid), m(0), m(pending), false, date("2026-06-01")).unwrap();
        for pct in credits {
            let available = inv.available().minor_units();
            let credit = available / 100 * i64::from(pct) + i64::from(pct > 100);
            match inv.after_credit(m(credit)) {
                Ok(after) => {
                    prop_assert!(credit <= available);
                    prop_assert_eq!(
                        after.amount_credited().minor_units(),
                        inv.amount_credited().minor_units() + credit
                    );
                    inv = after;
                }
                Err(e) => {
                    prop_assert_eq!(e, TotalsError::CreditExceedsBalance);
                    prop_assert!(credit > available);
                }
            }
            let settled = inv.amount_paid().minor_units()
                + inv.amount_credited().minor_units()
                + inv.discount_taken().minor_units();
            prop_assert!(settled <= total);
            prop_assert!(inv.balance_due().minor_units() >= 0);
            prop_assert_eq!(inv.balance_due().minor_units(), total - settled);
            prop_assert!(inv.pending().minor_units() <= inv.balance_due().minor_units());
            prop_assert_eq!(inv.status() == InvoiceStatus::Paid, settled == total);
        }
    }

    #[test]
    fn stored_credits_beyond_the_total_are_refused(
        c in currency(),
        total in 1i64..=1_000_000_000,
        paid_pct in 0u32..=100,
        extra in 1i64..=1_000,
    ) {
        let m = |minor: i64| Money::from_minor_units(minor, c).unwrap();
        let paid = total / 100 * i64::from(paid_pct);
        let inv = InvoiceTotals::new(m(total), m(paid), m(0), m(0), false, date("2026-06-01")).unwrap();
        prop_assert!(inv.with_credited(m(total - paid)).is_ok());
        prop_assert!(inv.with_credited(m(total - paid + extra)).is_err());
    }
}

#[test]
fn a_credit_for_the_whole_balance_marks_the_invoice_paid() {
    let m = |s: &str| Money::parse(s, Currency::parse("USD").unwrap()).unwrap();
    let inv = InvoiceTotals::new(m("100.00"), m("40.00"), m("0"), m("0"), false, date("2026-06-01")).unwrap();
    let after = inv.after_credit(m("60.00")).unwrap();
    assert_eq!(after.status(), InvoiceStatus::Paid);
    assert!(after.balance_due().is_zero());
    // A hold of a card payment in progress keeps its share: a credit may not take it.
    let held =
        InvoiceTotals::new(m("100.00"), m("0"), m("0"), m("30.00"), false, date("2026-06-01")).unwrap();
    assert_eq!(
        held.after_credit(m("70.01")),
        Err(TotalsError::CreditExceedsBalance)
    );
    let credited = held.after_credit(m("70.00")).unwrap();
    assert_eq!(credited.status(), InvoiceStatus::PartiallyPaid);
}
