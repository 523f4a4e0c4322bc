//! Property tests for the money rules. At least 10,000 cases per property (CI runs them all; set
//! `PROPTEST_CASES` higher to search longer). Amounts are generated as integer minor units so that every
//! currency's exponent is exercised, and no float appears anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use support::{date, T};
use tranche_domain::format::{format_amount, parse_localized};
use tranche_domain::wire::{CheckoutView, PaymentRequest, RulesInput};
use tranche_domain::{
    check_amount, payment_options, Currency, Date, InvoiceTotals, Money, Percent, PresetBasis, Terms,
    MAX_MINOR_UNITS,
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

fn percent() -> impl Strategy<Value = Percent> {
    // 0.0001% .. 100% with up to four decimals.
    (1i64..=1_000_000)
        .prop_map(|basis_points| Percent::from_decimal(rust_decimal::Decimal::new(basis_points, 4)).unwrap())
}

/// Terms as an AR team could configure them, for an invoice in `currency`.
fn terms(currency: Currency) -> impl Strategy<Value = Terms> {
    (
        any::<bool>(),
        proptest::option::of(1i64..1_000_000_000),
        proptest::option::of(percent()),
        proptest::collection::btree_set(percent(), 0..6),
        any::<bool>(),
        proptest::option::of((percent(), 0u32..60)),
    )
        .prop_map(
            move |(partial, min_minor, min_pct, presets, on_total, discount)| {
                let mut t = if partial { T::partial() } else { T::full_only() };
                if let Some(m) = min_minor {
                    let m = Money::from_minor_units(m, currency).unwrap();
                    t = t.min_amount(currency.code(), &m.to_string());
                }
                if let Some(p) = min_pct {
                    t = t.min_percent(&p.to_string());
                }
                let presets: Vec<String> = presets.iter().map(|p| p.to_string()).collect();
                let presets: Vec<&str> = presets.iter().map(String::as_str).collect();
                t = t.presets(&presets);
                t = t.basis(if on_total {
                    PresetBasis::Total
                } else {
                    PresetBasis::Balance
                });
                if let Some((p, days)) = discount {
                    // A discount of 100% would make the payable amount zero: keep it realistic.
                    let p = Percent::from_decimal(p.value().min(rust_decimal::Decimal::from(50))).unwrap();
                    t = t.discount(&p.to_string(), days);
                }
                t.build()
            },
        )
}

/// An open or partly paid invoice, terms for it, and "today" within ±90 days of issue.
fn scenario() -> impl Strategy<Value = (InvoiceTotals, Terms, Date)> {
    currency().prop_flat_map(|c| {
        (1i64..=100_000_000_000, 0u32..=100, terms(c), -30i64..90).prop_map(
            move |(total_minor, paid_pct, terms, day)| {
                let paid_minor = if paid_pct == 100 {
                    total_minor - 1
                } else {
                    total_minor / 100 * i64::from(paid_pct)
                };
                let zero = Money::zero(c);
                let issue = date("2026-06-01");
                let inv = InvoiceTotals::new(
                    Money::from_minor_units(total_minor, c).unwrap(),
                    Money::from_minor_units(paid_minor, c).unwrap(),
                    zero,
                    zero,
                    false,
                    issue,
                )
                .unwrap();
                (inv, terms, issue + time::Duration::days(day))
            },
        )
    })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn accepted_amount_never_exceeds_the_balance(
        (inv, terms, today) in scenario(),
        minor in 0i64..=MAX_MINOR_UNITS,
    ) {
        let amount = Money::from_minor_units(minor, inv.currency()).unwrap();
        if let Ok(accepted) = check_amount(&inv, &terms, today, &amount.to_string(), None) {
            prop_assert!(accepted.amount.minor_units() <= inv.available().minor_units());
            prop_assert!(accepted.amount.minor_units() > 0);
            let after = inv.after_payment(&accepted, false).unwrap();
            prop_assert_eq!(
                after.balance_due().minor_units(),
                after.total().minor_units() - after.amount_paid().minor_units() - after.discount_taken().minor_units()
            );
            prop_assert!(after.amount_paid().minor_units() + after.discount_taken().minor_units() <= after.total().minor_units());
        }
    }

    #[test]
    fn any_sequence_of_accepted_payments_ends_at_exactly_zero(
        (inv, terms, today) in scenario(),
        choices in proptest::collection::vec((0u8..5, 0u32..=10_000), 1..40),
    ) {
        let mut inv = inv;
        let mut steps = 0usize;
        for (kind, frac) in choices.iter().cycle() {
            let Ok(opts) = payment_options(&inv, &terms, today) else { break };
            steps += 1;
            // After the generated choices, pay the balance so every run ends.
            let pick = if steps > choices.len() { 1 } else { *kind };
            let amount = match pick {
                0 => opts.minimum,
                1 => opts.full_balance,
                2 => opts.presets.iter().find(|p| p.enabled()).map(|p| p.amount).unwrap_or(opts.minimum),
                3 => opts.discount.map(|d| d.amount).unwrap_or(opts.maximum),
                _ => {
                    // Anywhere between minimum and maximum.
                    let lo = opts.minimum.minor_units();
                    let hi = opts.maximum.minor_units();
                    let span = i128::from(hi - lo) * i128::from(*frac) / 10_000;
                    Money::from_minor_units(lo + i64::try_from(span).unwrap(), inv.currency()).unwrap()
                }
            };
            let before = inv.balance_due().minor_units();
            let accepted = check_amount(&inv, &terms, today, &amount.to_string(), Some(inv.currency().code()));
            let accepted = match accepted {
                Ok(a) => a,
                // Between minimum and maximum on full-only terms is a legitimate rejection.
                Err(e) => { prop_assert_eq!(e.code().as_str(), "partial_not_allowed"); continue; }
            };
            inv = inv.after_payment(&accepted, false).unwrap();
            let after = inv.balance_due().minor_units();
            prop_assert!(after >= 0);
            prop_assert!(after < before, "every payment reduces the balance");
            prop_assert_eq!(after, accepted.remaining_after.minor_units());
            prop_assert!(steps < 200, "did not converge");
        }
        prop_assert_eq!(inv.balance_due().minor_units(), 0);
        prop_assert!(inv.amount_paid().minor_units() + inv.discount_taken().minor_units() == inv.total().minor_units());
    }

    #[test]
    fn enabled_presets_and_offered_amounts_are_always_accepted((inv, terms, today) in scenario()) {
        let opts = payment_options(&inv, &terms, today).unwrap();
        let check = |m: Money| check_amount(&inv, &terms, today, &m.to_string(), Some(m.currency().code()));
        for preset in &opts.presets {
            match (&preset.disabled_reason, check(preset.amount)) {
                (None, Ok(_)) => {}
                (Some(reason), Err(e)) => prop_assert_eq!(reason.clone(), e),
                (reason, got) => prop_assert!(false, "preset {} shown {:?} but check gave {:?}", preset.amount, reason, got),
            }
        }
        prop_assert!(check(opts.minimum).is_ok(), "minimum {} rejected", opts.minimum);
        prop_assert!(check(opts.maximum).is_ok());
        prop_assert!(check(opts.full_balance).unwrap().settles_invoice());
        if let Some(offer) = opts.discount {
            let accepted = check(offer.amount).unwrap();
            prop_assert!(accepted.settles_invoice());
            prop_assert_eq!(accepted.discount, offer.discount);
        }
        // One minor unit below the minimum is refused whenever partial payments are possible.
        if opts.allow_partial && opts.minimum.minor_units() > 1 && opts.discount.is_none() {
            let below = Money::from_minor_units(opts.minimum.minor_units() - 1, inv.currency()).unwrap();
            prop_assert_eq!(check(below).unwrap_err().code().as_str(), "amount_below_minimum");
        }
        prop_assert!(opts.minimum.minor_units() <= opts.maximum.minor_units());
    }

    #[test]
    fn widget_and_api_agree_through_the_wire(
        (inv, terms, today) in scenario(),
        minor in 0i64..=1_000_000_000_000,
    ) {
        // The widget rebuilds the rules from the JSON the API sent; both must decide alike.
        let json = serde_json::to_string(&RulesInput::new(&inv, &terms, today)).unwrap();
        let back: RulesInput = serde_json::from_str(&json).unwrap();
        let (inv2, terms2, today2) = back.resolve().unwrap();
        let amount = Money::from_minor_units(minor, inv.currency()).unwrap().to_string();
        prop_assert_eq!(
            check_amount(&inv, &terms, today, &amount, None),
            check_amount(&inv2, &terms2, today2, &amount, None)
        );
        prop_assert_eq!(payment_options(&inv, &terms, today), payment_options(&inv2, &terms2, today2));
    }

    #[test]
    fn money_round_trips_for_every_currency(c in currency(), minor in 0i64..=MAX_MINOR_UNITS) {
        let m = Money::from_minor_units(minor, c).unwrap();
        let text = m.to_string();
        prop_assert!(!text.contains('e') && !text.starts_with('.'));
        let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
        prop_assert_eq!(decimals, c.exponent() as usize, "{} shown with its exponent", c.code());
        let parsed = Money::parse(&text, c).unwrap();
        prop_assert_eq!(Money::zero(c).to_string(), Money::from_minor_units(0, c).unwrap().to_string());
        prop_assert_eq!(parsed, m);
        prop_assert_eq!(parsed.minor_units(), minor);
        for locale in ["en-US", "de-DE", "fr-FR", "sv-SE", "ja-JP"] {
            let shown = format_amount(&text, locale);
            prop_assert_eq!(parse_localized(&shown, locale), Some(text.clone()), "{} in {}", shown, locale);
        }
    }

    #[test]
    fn checked_arithmetic_never_wraps(c in currency(), a in 0i64..=MAX_MINOR_UNITS, b in 0i64..=MAX_MINOR_UNITS) {
        let ma = Money::from_minor_units(a, c).unwrap();
        let mb = Money::from_minor_units(b, c).unwrap();
        match ma.checked_add(&mb) {
            Ok(sum) => prop_assert_eq!(sum.minor_units(), a + b),
            Err(_) => prop_assert!(a + b > MAX_MINOR_UNITS),
        }
        match ma.checked_sub(&mb) {
            Ok(diff) => prop_assert_eq!(diff.minor_units(), a - b),
            Err(_) => prop_assert!(a < b),
        }
        prop_assert!(Money::from_minor_units(MAX_MINOR_UNITS + 1 + a, c).is_err());
        prop_assert!(Money::from_minor_units(-1 - a, c).is_err());
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in ".{0,64}", c in currency(), (inv, terms, today) in scenario()) {
        let _ = Money::parse(&s, c);
        let _ = Percent::parse(&s);
        let _ = Currency::parse(&s);
        let _ = tranche_domain::wire::parse_date(&s);
        let _ = format_amount(&s, &s);
        let _ = parse_localized(&s, "de");
        let _ = parse_localized(&s, &s);
        let _ = check_amount(&inv, &terms, today, &s, Some(&s));
        let _ = serde_json::from_str::<PaymentRequest>(&s);
        let _ = serde_json::from_str::<CheckoutView>(&s);
        let _ = serde_json::from_str::<tranche_domain::TermsSpec>(&s);
    }

    #[test]
    fn numeric_looking_strings_parse_or_get_a_specific_code(
        int in "[0-9]{0,22}", frac in proptest::option::of("[0-9]{0,6}"), neg in any::<bool>(),
        (inv, terms, today) in scenario(),
    ) {
        let mut s = String::new();
        if neg { s.push('-'); }
        s.push_str(&int);
        if let Some(f) = &frac { s.push('.'); s.push_str(f); }
        match check_amount(&inv, &terms, today, &s, None) {
            Ok(a) => prop_assert!(a.amount.minor_units() > 0),
            Err(e) => prop_assert!(tranche_domain::AmountRejected::CODES.contains(&e.code())),
        }
    }
}
