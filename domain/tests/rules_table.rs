//! Table cases for the partial-payment rules: what an AR team configures and what a buyer may pay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{cur, date, invoice, money, ISSUE, T};
use tranche_domain::rules::NotPayable;
use tranche_domain::{
    check_amount, payment_options, AmountRejected, InvoiceStatus, InvoiceTotals, Money, PresetBasis,
};

const TODAY: &str = "2026-11-20";

fn check(inv: &InvoiceTotals, terms: &T, amount: &str) -> Result<String, &'static str> {
    let terms = T(terms.0.clone()).build();
    check_amount(inv, &terms, date(TODAY), amount, Some(inv.currency().code()))
        .map(|a| a.amount.to_string())
        .map_err(|e| e.code().as_str())
}

#[test]
fn amounts_per_currency_exponent() {
    // (currency, total, minimum, amount, expected)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Result<&'a str, &'a str>);
    let cases: &[Case] = &[
        ("USD", "1000.00", "50.00", "50.00", Ok("50.00")),
        ("USD", "1000.00", "50.00", "49.99", Err("amount_below_minimum")),
        ("USD", "1000.00", "50.00", "50.001", Err("amount_precision")),
        ("USD", "1000.00", "50.00", "1.000", Err("amount_precision")),
        ("USD", "1000.00", "50.00", "50", Ok("50.00")),
        ("USD", "1000.00", "50.00", "50.5", Ok("50.50")),
        (
            "USD",
            "1000.00",
            "50.00",
            "1000.01",
            Err("amount_exceeds_balance"),
        ),
        ("USD", "1000.00", "50.00", "0", Err("amount_not_positive")),
        ("USD", "1000.00", "50.00", "0.00", Err("amount_not_positive")),
        ("USD", "1000.00", "50.00", "-5.00", Err("amount_not_positive")),
        ("USD", "1000.00", "50.00", "1e3", Err("amount_malformed")),
        ("USD", "1000.00", "50.00", "1,000.00", Err("amount_malformed")),
        ("USD", "1000.00", "50.00", " 50.00", Err("amount_malformed")),
        ("USD", "1000.00", "50.00", "", Err("amount_malformed")),
        (
            "USD",
            "1000.00",
            "50.00",
            "99999999999999999999999",
            Err("amount_exceeds_balance"),
        ),
        ("JPY", "120000", "5000", "5000", Ok("5000")),
        ("JPY", "120000", "5000", "5000.0", Err("amount_precision")),
        ("JPY", "120000", "5000", "4999", Err("amount_below_minimum")),
        ("JPY", "120000", "5000", "120000", Ok("120000")),
        ("KWD", "250.000", "10.000", "10.000", Ok("10.000")),
        ("KWD", "250.000", "10.000", "10.0005", Err("amount_precision")),
        ("KWD", "250.000", "10.000", "9.999", Err("amount_below_minimum")),
        ("KWD", "250.000", "10.000", "250.000", Ok("250.000")),
        (
            "KWD",
            "250.000",
            "10.000",
            "250.001",
            Err("amount_exceeds_balance"),
        ),
    ];
    for (code, total, min, amount, expected) in cases {
        let inv = invoice(total, "0", code);
        let terms = T::partial().min_amount(code, min);
        let got = check(&inv, &terms, amount);
        let expected = expected.map(str::to_owned);
        assert_eq!(got, expected, "{code} total {total} min {min} amount {amount:?}");
    }
}

#[test]
fn currency_mismatch_is_rejected_with_the_expected_currency() {
    let inv = invoice("100.00", "0", "USD");
    let terms = T::partial().build();
    let err = check_amount(&inv, &terms, date(TODAY), "10.00", Some("EUR")).unwrap_err();
    assert_eq!(err.code().as_str(), "currency_mismatch");
    assert_eq!(
        err,
        AmountRejected::CurrencyMismatch {
            expected: cur("USD"),
            found: "EUR".into()
        }
    );
}

#[test]
fn fixed_and_percent_minimum_larger_applies() {
    // total, fixed, percent, expected minimum
    let cases = [
        ("1000.00", Some("50.00"), Some("10"), "100.00"), // percent wins
        ("1000.00", Some("150.00"), Some("10"), "150.00"), // fixed wins
        ("1000.00", None, Some("2.5"), "25.00"),
        ("1000.00", Some("20.00"), None, "20.00"),
        ("1000.00", None, None, "0.01"),     // no minimum: one minor unit
        ("10.01", None, Some("50"), "5.01"), // 5.005 rounds half-up
    ];
    for (total, fixed, percent, expected) in cases {
        let mut terms = T::partial();
        if let Some(f) = fixed {
            terms = terms.min_amount("USD", f);
        }
        if let Some(p) = percent {
            terms = terms.min_percent(p);
        }
        let opts = payment_options(&invoice(total, "0", "USD"), &terms.build(), date(TODAY)).unwrap();
        assert_eq!(
            opts.minimum.to_string(),
            expected,
            "total {total} fixed {fixed:?} pct {percent:?}"
        );
        assert_eq!(opts.maximum.to_string(), total);
    }
}

#[test]
fn fixed_minimum_in_another_currency_does_not_apply() {
    let terms = T::partial().min_amount("USD", "500.00").build();
    let opts = payment_options(&invoice("1000.00", "0", "EUR"), &terms, date(TODAY)).unwrap();
    assert_eq!(opts.minimum.to_string(), "0.01");
}

#[test]
fn last_remainder_below_minimum_is_payable() {
    let terms = T::partial().min_amount("USD", "50.00");
    let inv = invoice("1000.00", "980.00", "USD");
    let opts = payment_options(&inv, &T(terms.0.clone()).build(), date(TODAY)).unwrap();
    assert_eq!(
        opts.minimum.to_string(),
        "20.00",
        "effective minimum = min(balance, configured)"
    );
    assert_eq!(check(&inv, &terms, "20.00"), Ok("20.00".into()));
    assert_eq!(check(&inv, &terms, "19.99"), Err("amount_below_minimum"));
    assert_eq!(check(&inv, &terms, "20.01"), Err("amount_exceeds_balance"));
}

#[test]
fn full_only_terms_reject_partials_and_name_the_full_amount() {
    let terms = T::full_only().min_amount("USD", "50.00");
    let inv = invoice("1000.00", "0", "USD");
    assert_eq!(check(&inv, &terms, "1000.00"), Ok("1000.00".into()));
    let err = check_amount(&inv, &T(terms.0.clone()).build(), date(TODAY), "500.00", None).unwrap_err();
    assert_eq!(
        err,
        AmountRejected::PartialNotAllowed {
            full_amount: money("1000.00", "USD")
        }
    );
    let opts = payment_options(&inv, &terms.build(), date(TODAY)).unwrap();
    assert_eq!(opts.minimum, opts.maximum);
    assert!(!opts.allow_partial);
}

#[test]
fn presets_round_half_up_not_bankers() {
    // 12.5% of 100.20 = 12.525 -> 12.53 (banker's rounding would give 12.52).
    // 33.3333% of 0.05 is below a cent, covered by the minimum case below.
    let cases: &[(&str, &str, &str, &str)] = &[
        ("USD", "100.20", "12.5", "12.53"),
        ("USD", "0.10", "25", "0.03"), // 0.025 -> 0.03
        ("USD", "0.30", "50", "0.15"),
        ("JPY", "1001", "50", "501"),    // 500.5 -> 501
        ("JPY", "1003", "50", "502"),    // 501.5 -> 502 (banker's: 502 too, so also check 500.5)
        ("KWD", "1.001", "50", "0.501"), // 0.5005 -> 0.501
        ("KWD", "0.005", "10", "0.001"), // 0.0005 -> 0.001
    ];
    for (code, total, pct, expected) in cases {
        let terms = T::partial().presets(&[pct]).build();
        let opts = payment_options(&invoice(total, "0", code), &terms, date(TODAY)).unwrap();
        assert_eq!(
            opts.presets[0].amount.to_string(),
            *expected,
            "{pct}% of {total} {code}"
        );
    }
}

#[test]
fn presets_disabled_with_the_reason_the_rules_give() {
    let terms = T::partial()
        .min_amount("USD", "100.00")
        .presets(&["5", "10", "50", "100"]);
    let inv = invoice("1000.00", "0", "USD");
    let opts = payment_options(&inv, &T(terms.0.clone()).build(), date(TODAY)).unwrap();
    let view: Vec<(String, Option<&str>)> = opts
        .presets
        .iter()
        .map(|p| {
            (
                p.amount.to_string(),
                p.disabled_reason.as_ref().map(|r| r.code().as_str()),
            )
        })
        .collect();
    assert_eq!(
        view,
        vec![
            ("50.00".into(), Some("amount_below_minimum")),
            ("100.00".into(), None),
            ("500.00".into(), None),
            ("1000.00".into(), None),
        ]
    );
    if let Some(AmountRejected::AmountBelowMinimum { minimum }) = &opts.presets[0].disabled_reason {
        assert_eq!(minimum.to_string(), "100.00");
    } else {
        panic!("expected the minimum in the reason");
    }
}

#[test]
fn presets_on_total_basis_above_the_balance_are_disabled() {
    let terms = T::partial()
        .presets(&["25", "75"])
        .basis(PresetBasis::Total)
        .build();
    let inv = invoice("1000.00", "600.00", "USD");
    let opts = payment_options(&inv, &terms, date(TODAY)).unwrap();
    assert_eq!(opts.presets[0].amount.to_string(), "250.00");
    assert!(opts.presets[0].enabled());
    assert_eq!(opts.presets[1].amount.to_string(), "750.00");
    assert_eq!(
        opts.presets[1]
            .disabled_reason
            .as_ref()
            .map(|r| r.code().as_str()),
        Some("amount_exceeds_balance")
    );
}

#[test]
fn presets_on_balance_basis_follow_the_balance() {
    let terms = T::partial().presets(&["50"]).basis(PresetBasis::Balance).build();
    let inv = invoice("1000.00", "600.00", "USD");
    let opts = payment_options(&inv, &terms, date(TODAY)).unwrap();
    assert_eq!(opts.presets[0].amount.to_string(), "200.00");
}

#[test]
fn partial_presets_disabled_when_partials_are_not_allowed() {
    let terms = T::full_only().presets(&["50", "100"]).build();
    let opts = payment_options(&invoice("80.00", "0", "USD"), &terms, date(TODAY)).unwrap();
    assert_eq!(
        opts.presets[0]
            .disabled_reason
            .as_ref()
            .map(|r| r.code().as_str()),
        Some("partial_not_allowed")
    );
    assert!(opts.presets[1].enabled());
}

#[test]
fn discount_window_edges() {
    // Issued 2026-11-01, 2% within 10 days: the last day to take it is 2026-11-11, inclusive.
    let terms = T::partial().discount("2", 10).build();
    let inv = invoice("1000.00", "0", "USD");
    for (today, open) in [
        (ISSUE, true),
        ("2026-11-10", true),
        ("2026-11-11", true),
        ("2026-11-12", false),
        ("2027-01-01", false),
    ] {
        let opts = payment_options(&inv, &terms, date(today)).unwrap();
        assert_eq!(opts.discount.is_some(), open, "today {today}");
        let res = check_amount(&inv, &terms, date(today), "980.00", None);
        if open {
            let offer = opts.discount.unwrap();
            assert_eq!(offer.amount.to_string(), "980.00");
            assert_eq!(offer.discount.to_string(), "20.00");
            assert_eq!(offer.available_until, date("2026-11-11"));
            let accepted = res.unwrap();
            assert_eq!(accepted.discount.to_string(), "20.00");
            assert!(accepted.settles_invoice());
        } else {
            let accepted = res.unwrap();
            assert!(
                accepted.discount.is_zero(),
                "outside the window 980 is an ordinary partial"
            );
            assert_eq!(accepted.remaining_after.to_string(), "20.00");
        }
    }
}

#[test]
fn discount_applies_to_the_remaining_balance_and_settles_it() {
    let terms = T::partial().discount("2", 10).build();
    let inv = invoice("1000.00", "500.00", "USD");
    let opts = payment_options(&inv, &terms, date("2026-11-05")).unwrap();
    let offer = opts.discount.unwrap();
    assert_eq!(offer.amount.to_string(), "490.00");
    let accepted = check_amount(&inv, &terms, date("2026-11-05"), "490.00", None).unwrap();
    let after = inv.after_payment(&accepted, false).unwrap();
    assert!(after.balance_due().is_zero());
    assert_eq!(after.status(), InvoiceStatus::Paid);
    assert_eq!(after.discount_taken().to_string(), "10.00");
}

#[test]
fn void_and_paid_invoices_are_not_payable() {
    let usd = cur("USD");
    let zero = Money::zero(usd);
    let void = InvoiceTotals::new(money("10.00", "USD"), zero, zero, zero, true, date(ISSUE)).unwrap();
    let terms = T::partial().build();
    assert_eq!(
        payment_options(&void, &terms, date(TODAY)).unwrap_err(),
        NotPayable::Void
    );
    let err = check_amount(&void, &terms, date(TODAY), "1.00", None).unwrap_err();
    assert_eq!(err.code().as_str(), "invoice_not_payable");

    let paid = invoice("10.00", "10.00", "USD");
    assert_eq!(paid.status(), InvoiceStatus::Paid);
    assert_eq!(
        payment_options(&paid, &terms, date(TODAY)).unwrap_err(),
        NotPayable::Paid
    );
    // Paying a settled invoice is `invoice_not_payable` (reason `paid`), whatever the amount or its
    // form, not `amount_exceeds_balance` "the most you can pay is 0.00" (issue 13, item 11).
    for amount in ["1.00", "10.00", "0.01", "10.01", "abc"] {
        assert_eq!(
            check_amount(&paid, &terms, date(TODAY), amount, None).unwrap_err(),
            AmountRejected::InvoiceNotPayable {
                reason: NotPayable::Paid
            },
            "{amount}"
        );
    }
    // Paid through a discount (amount paid + discount taken = total) is paid too.
    let discounted = InvoiceTotals::new(
        money("10.00", "USD"),
        money("9.80", "USD"),
        money("0.20", "USD"),
        zero,
        false,
        date(ISSUE),
    )
    .unwrap();
    assert_eq!(discounted.status(), InvoiceStatus::Paid);
    assert_eq!(
        check(&discounted, &T::partial(), "0.20"),
        Err("invoice_not_payable")
    );
}

#[test]
fn pending_holds_reduce_what_can_be_paid() {
    let usd = cur("USD");
    let zero = Money::zero(usd);
    let inv = InvoiceTotals::new(
        money("100.00", "USD"),
        zero,
        zero,
        money("70.00", "USD"),
        false,
        date(ISSUE),
    )
    .unwrap();
    let terms = T::partial();
    assert_eq!(check(&inv, &terms, "30.00"), Ok("30.00".into()));
    assert_eq!(check(&inv, &terms, "30.01"), Err("amount_exceeds_balance"));
    let held = InvoiceTotals::new(
        money("100.00", "USD"),
        zero,
        zero,
        money("100.00", "USD"),
        false,
        date(ISSUE),
    )
    .unwrap();
    assert_eq!(
        payment_options(&held, &terms.build(), date(TODAY)).unwrap_err(),
        NotPayable::PaymentInProgress
    );
}

#[test]
fn invoice_totals_invariants_are_enforced() {
    let usd = cur("USD");
    let zero = Money::zero(usd);
    let d = date(ISSUE);
    assert!(InvoiceTotals::new(money("10.00", "USD"), money("10.01", "USD"), zero, zero, false, d).is_err());
    assert!(InvoiceTotals::new(
        money("10.00", "USD"),
        money("5.00", "USD"),
        zero,
        money("5.01", "USD"),
        false,
        d
    )
    .is_err());
    assert!(InvoiceTotals::new(zero, zero, zero, zero, false, d).is_err());
    assert!(InvoiceTotals::new(
        money("10.00", "USD"),
        Money::zero(cur("EUR")),
        zero,
        zero,
        false,
        d
    )
    .is_err());
}

fn void_invoice() -> InvoiceTotals {
    let zero = Money::zero(cur("USD"));
    InvoiceTotals::new(money("100.00", "USD"), zero, zero, zero, true, date(ISSUE)).unwrap()
}

#[test]
fn every_rejection_code_is_stable_and_listed() {
    let inv = invoice("100.00", "0", "USD");
    let terms = T::partial().min_amount("USD", "10.00");
    let full = T::full_only();
    let got = [
        check(&inv, &terms, "0").unwrap_err(),
        check(&inv, &terms, "abc").unwrap_err(),
        check(&inv, &terms, "1.001").unwrap_err(),
        check_amount(&inv, &T::partial().build(), date(TODAY), "1", Some("JPY"))
            .unwrap_err()
            .code()
            .as_str(),
        check(&inv, &full, "50.00").unwrap_err(),
        check(&inv, &terms, "9.99").unwrap_err(),
        check(&inv, &terms, "100.01").unwrap_err(),
        check(&void_invoice(), &terms, "1.00").unwrap_err(),
    ];
    let mut listed: Vec<&str> = AmountRejected::CODES.iter().map(|c| c.as_str()).collect();
    let mut seen: Vec<&str> = got.to_vec();
    seen.sort();
    seen.dedup();
    listed.sort();
    assert_eq!(seen, listed);
}

#[test]
fn dates_parse_strictly_and_round_trip() {
    use tranche_domain::wire::{format_date, parse_date};
    for ok in ["2026-11-01", "2024-02-29", "0001-01-01", "9999-12-31"] {
        assert_eq!(format_date(parse_date(ok).unwrap()), ok);
    }
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-01-32",
        "2026-1-01",
        "+026-01-01",
        "2026/01/01",
        " 2026-01-01",
        "2026-01-01 ",
        "",
        "２０２６-01-01",
    ] {
        assert!(parse_date(bad).is_none(), "{bad:?}");
    }
}
