//! Property tests for refunds: the invoice arithmetic after a refund (`InvoiceTotals::after_refund`) and
//! the refundable amount of a payment (`check_refund`). At least 10,000 cases each (`PROPTEST_CASES`
//! raises it); amounts are integer minor units in every currency, no float anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use support::date;
use tranche_domain::wire::PaymentStatus;
use tranche_domain::{
    check_refund, refundable, status_after_refunds, Currency, InvoiceStatus, InvoiceTotals, Money,
    RefundRejected,
};

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

/// An invoice with some paid and some discount taken, and a refund of up to what was paid (and sometimes
/// more, to see it refused).
fn invoice_and_refund() -> impl Strategy<Value = (InvoiceTotals, Money, Money)> {
    currency().prop_flat_map(|c| {
        (
            1i64..=100_000_000_000,
            0u32..=100,
            0u32..=10,
            0u32..=110,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                move |(total, paid_pct, discount_pct, refund_pct, release, voided)| {
                    let discount = total / 100 * i64::from(discount_pct);
                    let paid = (total - discount) / 100 * i64::from(paid_pct);
                    let m = |minor: i64| Money::from_minor_units(minor, c).unwrap();
                    let inv =
                        InvoiceTotals::new(m(total), m(paid), m(discount), m(0), voided, date("2026-06-01"))
                            .unwrap();
                    let refund = paid / 100 * i64::from(refund_pct) + i64::from(refund_pct > 100);
                    let released = if release { discount } else { 0 };
                    (inv, m(refund), m(released))
                },
            )
    })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn after_refund_keeps_the_balance_identity(
        (inv, refund, released) in invoice_and_refund(),
    ) {
        match inv.after_refund(refund, released) {
            Ok(after) => {
                // Paid never below zero, and what the refund took off is exactly what the balance gained.
                prop_assert!(after.amount_paid().minor_units() >= 0);
                prop_assert!(after.discount_taken().minor_units() >= 0);
                prop_assert_eq!(
                    after.balance_due().minor_units(),
                    after.total().minor_units() - after.amount_paid().minor_units() - after.discount_taken().minor_units()
                );
                prop_assert_eq!(
                    after.balance_due().minor_units(),
                    inv.balance_due().minor_units() + refund.minor_units() + released.minor_units()
                );
                prop_assert!(after.balance_due().minor_units() <= after.total().minor_units());
                // The status comes from the totals: never paid after a real refund, open once nothing is left.
                let expected = if inv.voided() {
                    InvoiceStatus::Void
                } else if after.balance_due().is_zero() {
                    InvoiceStatus::Paid
                } else if after.amount_paid().is_zero() && after.discount_taken().is_zero() {
                    InvoiceStatus::Open
                } else {
                    InvoiceStatus::PartiallyPaid
                };
                prop_assert_eq!(after.status(), expected);
                if !refund.is_zero() && !inv.voided() {
                    prop_assert_ne!(after.status(), InvoiceStatus::Paid);
                }
            }
            // Refused only when it would take paid (or the discount) below zero.
            Err(_) => prop_assert!(
                refund.minor_units() > inv.amount_paid().minor_units()
                    || released.minor_units() > inv.discount_taken().minor_units()
            ),
        }
    }

    #[test]
    fn refunds_never_exceed_the_payment(
        c in currency(),
        amount in 1i64..=1_000_000_000_000,
        requests in proptest::collection::vec(proptest::option::of(0u32..=120), 1..20),
    ) {
        let m = |minor: i64| Money::from_minor_units(minor, c).unwrap();
        let mut refunded = 0i64;
        for request in requests {
            let left = refundable(m(amount), m(refunded), m(0)).unwrap();
            let asked = request.map(|pct| m(amount / 100 * i64::from(pct)).to_string());
            match check_refund(asked.as_deref(), left) {
                Ok(granted) => {
                    prop_assert!(granted.minor_units() > 0);
                    prop_assert!(granted.minor_units() <= left.minor_units());
                    refunded += granted.minor_units();
                }
                Err(RefundRejected::ExceedsPayment { maximum }) => prop_assert_eq!(maximum, left),
                Err(RefundRejected::Amount(a)) => prop_assert_eq!(a.code().as_str(), "amount_not_positive"),
            }
            prop_assert!(refunded <= amount);
            let status = status_after_refunds(m(amount), m(refunded));
            prop_assert_eq!(status == PaymentStatus::Refunded, refunded == amount);
            prop_assert_eq!(status == PaymentStatus::Succeeded, refunded == 0);
        }
    }
}
