//! Builders shared by the domain test files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use tranche_domain::{Currency, Date, DiscountSpec, InvoiceTotals, Money, PresetBasis, Terms, TermsSpec};

pub fn cur(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

pub fn money(s: &str, code: &str) -> Money {
    Money::parse(s, cur(code)).unwrap()
}

pub fn date(s: &str) -> Date {
    tranche_domain::wire::parse_date(s).unwrap()
}

pub const ISSUE: &str = "2026-11-01";

/// Open invoice issued on [`ISSUE`] with `paid` already paid.
pub fn invoice(total: &str, paid: &str, code: &str) -> InvoiceTotals {
    let zero = Money::zero(cur(code));
    InvoiceTotals::new(
        money(total, code),
        money(paid, code),
        zero,
        zero,
        false,
        date(ISSUE),
    )
    .unwrap()
}

/// A terms builder over the wire form, so tests exercise the same parsing the API does.
pub struct T(pub TermsSpec);

impl T {
    pub fn partial() -> T {
        T(TermsSpec {
            allow_partial: true,
            minimum_amounts: BTreeMap::new(),
            minimum_percent: None,
            presets: Some(vec![]),
            preset_basis: None,
            early_payment_discount: None,
            schedule: None,
            reminders: None,
            late_fee: None,
        })
    }
    pub fn full_only() -> T {
        let mut t = T::partial();
        t.0.allow_partial = false;
        t
    }
    pub fn min_amount(mut self, code: &str, amount: &str) -> T {
        self.0.minimum_amounts.insert(code.to_owned(), amount.to_owned());
        self
    }
    pub fn min_percent(mut self, p: &str) -> T {
        self.0.minimum_percent = Some(p.to_owned());
        self
    }
    pub fn presets(mut self, ps: &[&str]) -> T {
        self.0.presets = Some(ps.iter().map(|p| p.to_string()).collect());
        self
    }
    pub fn basis(mut self, b: PresetBasis) -> T {
        self.0.preset_basis = Some(b);
        self
    }
    pub fn discount(mut self, percent: &str, within_days: u32) -> T {
        self.0.early_payment_discount = Some(DiscountSpec {
            percent: percent.to_owned(),
            within_days,
        });
        self
    }
    pub fn build(self) -> Terms {
        Terms::try_from(&self.0).unwrap()
    }
}
