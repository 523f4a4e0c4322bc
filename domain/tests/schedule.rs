//! Payment plans (DESIGN 11): property tests for the split and the filling of installments, and the rule
//! that the installment due is always payable. At least 10,000 cases per property (`PROPTEST_CASES` to
//! scale); amounts are integer minor units, so every currency's exponent is exercised without a float.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use rust_decimal::Decimal;
use support::{date, invoice, money, T};
use tranche_domain::rules::Rules;
use tranche_domain::schedule::{DueOffset, SchedulePart};
use tranche_domain::{
    split_by_percents, Currency, InstallmentStatus, Money, Percent, Plan, ScheduleError, ScheduleTemplate,
    Terms,
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

/// 1 to 12 percents (two decimals) summing to exactly 100: cut points in 0..10000 basis points.
fn percents() -> impl Strategy<Value = Vec<Percent>> {
    proptest::collection::btree_set(1u32..10_000, 0..11).prop_map(|cuts| {
        let mut bounds: Vec<u32> = vec![0];
        bounds.extend(cuts);
        bounds.push(10_000);
        bounds
            .windows(2)
            .map(|w| Percent::from_decimal(Decimal::new(i64::from(w[1] - w[0]), 2)).unwrap())
            .collect()
    })
}

fn plan_for(total: Money, percents: &[Percent]) -> Result<Plan, ScheduleError> {
    let parts = percents
        .iter()
        .enumerate()
        .map(|(i, &percent)| SchedulePart {
            percent,
            due: DueOffset::in_days(u32::try_from(i).unwrap() * 30),
        })
        .collect();
    ScheduleTemplate::new(parts)
        .unwrap()
        .plan(total, date("2026-11-01"))
}

proptest! {
    #![proptest_config(cases())]

    /// Installments always sum to the total, each is positive, and only the last differs from its
    /// rounded share (the remainder goes to the last); when a split is refused, some share really was zero.
    #[test]
    fn splits_sum_to_the_total_with_the_remainder_on_the_last(
        currency in currency(),
        minor in 1i64..10_000_000_000,
        percents in percents(),
    ) {
        let total = Money::from_minor_units(minor, currency).unwrap();
        match split_by_percents(total, &percents) {
            Ok(parts) => {
                prop_assert_eq!(parts.len(), percents.len());
                let sum = parts.iter().try_fold(Money::zero(currency), |s, p| s.checked_add(p)).unwrap();
                prop_assert_eq!(sum, total);
                prop_assert!(parts.iter().all(|p| !p.is_zero()));
                for (part, &percent) in parts.iter().zip(&percents).take(percents.len() - 1) {
                    prop_assert_eq!(*part, total.percent(percent).unwrap());
                }
            }
            Err(ScheduleError::Unsplittable { .. }) => {
                let leading_zero = percents[..percents.len() - 1]
                    .iter()
                    .any(|&p| total.percent(p).unwrap().is_zero());
                let shares: i64 = percents[..percents.len() - 1]
                    .iter()
                    .map(|&p| total.percent(p).unwrap().minor_units())
                    .sum();
                prop_assert!(leading_zero || shares >= minor);
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    /// Any sequence of payments (and refunds, as a lower settled amount) leaves consistent installments:
    /// each received at most its amount, together exactly what was settled, filled strictly in order,
    /// statuses agreeing with the amounts and the date.
    #[test]
    fn any_payment_sequence_leaves_consistent_installments(
        currency in currency(),
        minor in 100i64..1_000_000_000,
        percents in percents(),
        payments in proptest::collection::vec((1i64..1_000_000_000, any::<bool>()), 1..12),
        today_offset in 0i64..800,
    ) {
        let total = Money::from_minor_units(minor, currency).unwrap();
        let Ok(plan) = plan_for(total, &percents) else { return Ok(()); };
        let today = date("2026-11-01") + time::Duration::days(today_offset);
        let mut settled = 0i64;
        for (amount, refund) in payments {
            settled = if refund { (settled - amount).max(0) } else { (settled + amount).min(minor) };
            let s = Money::from_minor_units(settled, currency).unwrap();
            let states = plan.states(s, today);
            let mut sum = 0i64;
            let mut seen_unpaid = false;
            let mut due_count = 0;
            for st in &states {
                prop_assert!(st.amount_paid.minor_units() <= st.amount.minor_units(), "overpaid installment");
                // Filled in order: once one is not full, every later one is empty.
                if seen_unpaid {
                    prop_assert!(st.amount_paid.is_zero());
                }
                if st.amount_paid != st.amount {
                    seen_unpaid = true;
                }
                sum += st.amount_paid.minor_units();
                let expected = if st.amount_paid == st.amount {
                    Some(InstallmentStatus::Paid)
                } else if st.due_date < today {
                    Some(InstallmentStatus::Overdue)
                } else {
                    None
                };
                match expected {
                    Some(e) => prop_assert_eq!(st.status, e),
                    None => prop_assert!(matches!(st.status, InstallmentStatus::Due | InstallmentStatus::Upcoming)),
                }
                if st.status == InstallmentStatus::Due {
                    due_count += 1;
                }
            }
            prop_assert!(due_count <= 1);
            prop_assert_eq!(sum, settled);
            match plan.amount_due(s, today) {
                Some(due) => {
                    prop_assert!(!due.amount_due.is_zero());
                    prop_assert!(due.amount_due.minor_units() <= minor - settled);
                }
                None => prop_assert_eq!(settled, minor),
            }
        }
    }

    /// Paying exactly the installment due is accepted whatever the minimum, and never beyond the balance.
    #[test]
    fn the_installment_due_is_always_payable(
        minor in 100i64..100_000_000,
        paid_share in 0i64..100,
        min_percent in 1u32..100,
    ) {
        let total = Money::from_minor_units(minor, Currency::USD).unwrap();
        let plan = plan_for(total, &percents_fixed()).unwrap();
        let paid = Money::from_minor_units(minor * paid_share / 100, Currency::USD).unwrap();
        let inv = invoice(&total.to_string(), &paid.to_string(), "USD");
        let terms = Terms::try_from(&T::partial().min_percent(&min_percent.to_string()).0).unwrap();
        let today = date("2026-12-15");
        let due = plan.amount_due(paid, today);
        let rules = Rules::new(&inv, &terms, today).with_installment(due);
        if let Some(due) = due {
            prop_assert!(rules.check(due.amount_due).is_ok());
        }
    }
}

fn percents_fixed() -> Vec<Percent> {
    ["30", "40", "30"]
        .iter()
        .map(|p| Percent::parse(p).unwrap())
        .collect()
}

#[test]
fn the_installment_due_is_accepted_below_the_minimum_and_offered() {
    let plan = plan_for(money("1000.00", "USD"), &percents_fixed()).unwrap();
    let inv = invoice("1000.00", "0.00", "USD");
    // Minimum 50 % of the total: the 300.00 deposit would be refused without the plan.
    let terms = Terms::try_from(&T::partial().min_percent("50").0).unwrap();
    let today = date("2026-11-01");
    let without = Rules::new(&inv, &terms, today);
    assert!(without.check(money("300.00", "USD")).is_err());
    let due = plan.amount_due(Money::zero(Currency::USD), today);
    let rules = Rules::new(&inv, &terms, today).with_installment(due);
    let accepted = rules.check(money("300.00", "USD")).unwrap();
    assert_eq!(accepted.remaining_after.to_string(), "700.00");
    // One cent more or less is an ordinary partial payment again, below the minimum.
    assert!(rules.check(money("299.99", "USD")).is_err());
    assert!(rules.check(money("300.01", "USD")).is_err());
    let options = rules.options(&terms).unwrap();
    let offered = options.installment.unwrap();
    assert_eq!(
        (offered.number, offered.amount_due.to_string()),
        (1, "300.00".to_owned())
    );
    // Full-only terms still take the installment due.
    let full_only = Terms::try_from(&T::full_only().0).unwrap();
    let rules = Rules::new(&inv, &full_only, today).with_installment(due);
    assert!(rules.check(money("300.00", "USD")).is_ok());
}

#[test]
fn the_wire_carries_the_installment_due_back_to_the_rules() {
    let plan = plan_for(money("1000", "JPY"), &percents_fixed()).unwrap();
    let inv = invoice("1000", "300", "JPY");
    let terms = Terms::default();
    let today = date("2026-11-20");
    let due = plan.amount_due(money("300", "JPY"), today);
    let input = tranche_domain::wire::RulesInput::new(&inv, &terms, today).with_installment(due.as_ref());
    let json = serde_json::to_string(&input).unwrap();
    let back: tranche_domain::wire::RulesInput = serde_json::from_str(&json).unwrap();
    assert_eq!(back.installment_due(), due);
    assert_eq!(due.unwrap().amount_due.to_string(), "400");
}

#[test]
fn kwd_and_jpy_splits() {
    let kwd = plan_for(money("10.000", "KWD"), &percents_fixed()).unwrap();
    let amounts: Vec<String> = kwd.installments().iter().map(|i| i.amount.to_string()).collect();
    assert_eq!(amounts, ["3.000", "4.000", "3.000"]);
    assert!(matches!(
        plan_for(money("2", "JPY"), &percents_fixed()),
        Err(ScheduleError::Unsplittable { .. })
    ));
}
