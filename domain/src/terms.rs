//! Payment terms: whether partial payments are allowed, the minimum, the preset buttons, and the
//! early-payment discount. A seller keeps them as a profile; [`TermsSpec`] is their wire and storage form.

use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::money::{Money, MoneyError};
use crate::percent::{Percent, PercentError};
use crate::schedule::{ScheduleError, SchedulePartSpec, ScheduleTemplate};
use crate::schedule_dunning::{DunningError, LateFee, LateFeeSpec, Reminders, RemindersSpec};

/// Most preset buttons a profile may define (they must fit on a phone screen).
pub const MAX_PRESETS: usize = 8;
/// Longest early-payment window, in days.
pub const MAX_DISCOUNT_DAYS: u32 = 366;

/// What a preset percentage is applied to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PresetBasis {
    /// Percent of the balance still due (the default: "pay 25 % of what is left").
    #[default]
    Balance,
    /// Percent of the invoice total ("pay the second 25 % instalment").
    Total,
}

impl PresetBasis {
    /// The wire name (serde's `snake_case`), for readers that do not go through serde.
    pub fn as_str(self) -> &'static str {
        match self {
            PresetBasis::Balance => "balance",
            PresetBasis::Total => "total",
        }
    }

    pub fn parse(s: &str) -> Option<PresetBasis> {
        [PresetBasis::Balance, PresetBasis::Total]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// An early-payment ("2/10 net 30") discount: `percent` off when the payment settles the whole balance
/// within `within_days` of the issue date (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyPaymentDiscount {
    percent: Percent,
    within_days: u32,
}

impl EarlyPaymentDiscount {
    pub fn new(percent: Percent, within_days: u32) -> Result<Self, TermsError> {
        if percent.is_zero() || percent.value() >= rust_decimal::Decimal::ONE_HUNDRED {
            return Err(TermsError::DiscountPercent);
        }
        if within_days > MAX_DISCOUNT_DAYS {
            return Err(TermsError::DiscountDays);
        }
        Ok(EarlyPaymentDiscount { percent, within_days })
    }
    pub fn percent(&self) -> Percent {
        self.percent
    }
    pub fn within_days(&self) -> u32 {
        self.within_days
    }
}

/// Validated payment terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    allow_partial: bool,
    minimum_amounts: Vec<Money>,
    minimum_percent: Option<Percent>,
    presets: Vec<Percent>,
    preset_basis: PresetBasis,
    discount: Option<EarlyPaymentDiscount>,
    /// Payment plan, reminders and late fees (DESIGN 11); none of them changes which amounts are payable
    /// except through the plan's "installment due".
    schedule: Option<ScheduleTemplate>,
    reminders: Option<Reminders>,
    late_fee: Option<LateFee>,
}

/// Why a terms specification is refused. `field()` names the offending field for the API's problem body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    #[error("minimum_amounts: {0}")]
    MinimumAmount(MoneyError),
    #[error("minimum_amounts: unknown currency {0:?}")]
    MinimumCurrency(String),
    #[error("minimum_percent: {0}")]
    MinimumPercent(PercentError),
    #[error("presets: {0}")]
    Preset(PercentError),
    #[error("presets: each preset must be above 0 and at most 100, listed once, and at most {MAX_PRESETS} of them")]
    Presets,
    #[error("early_payment_discount.percent must be above 0 and below 100")]
    DiscountPercent,
    #[error("early_payment_discount.within_days must be at most {MAX_DISCOUNT_DAYS}")]
    DiscountDays,
    #[error("{0}")]
    Schedule(ScheduleError),
    #[error("{0}")]
    Dunning(DunningError),
}

impl TermsError {
    /// The problem code: `invalid_terms`, or the plan's and late fee's own codes.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            TermsError::Schedule(e) => e.code(),
            TermsError::Dunning(DunningError::FeeBothWays) => crate::ErrorCode::LateFeeBothWays,
            _ => crate::ErrorCode::InvalidTerms,
        }
    }

    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TermsError::MinimumAmount(_) | TermsError::MinimumCurrency(_) => "minimum_amounts",
            TermsError::MinimumPercent(_) => "minimum_percent",
            TermsError::Preset(_) | TermsError::Presets => "presets",
            TermsError::DiscountPercent | TermsError::DiscountDays => "early_payment_discount",
            TermsError::Schedule(_) => "schedule",
            TermsError::Dunning(e) => e.field(),
        }
    }
}

impl Default for Terms {
    /// Partial payments allowed, no minimum, presets 10/25/50/75 % of the balance, no discount.
    fn default() -> Self {
        let presets = [10, 25, 50, 75]
            .into_iter()
            .filter_map(|p| Percent::from_decimal(rust_decimal::Decimal::from(p)).ok())
            .collect();
        Terms {
            allow_partial: true,
            minimum_amounts: Vec::new(),
            minimum_percent: None,
            presets,
            preset_basis: PresetBasis::Balance,
            discount: None,
            schedule: None,
            reminders: None,
            late_fee: None,
        }
    }
}

impl Terms {
    pub fn allow_partial(&self) -> bool {
        self.allow_partial
    }
    /// The fixed minimum for `currency`, if the terms set one.
    pub fn minimum_amount(&self, currency: Currency) -> Option<Money> {
        self.minimum_amounts
            .iter()
            .copied()
            .find(|m| m.currency() == currency)
    }
    pub fn minimum_percent(&self) -> Option<Percent> {
        self.minimum_percent
    }
    pub fn presets(&self) -> &[Percent] {
        &self.presets
    }
    pub fn preset_basis(&self) -> PresetBasis {
        self.preset_basis
    }
    pub fn discount(&self) -> Option<EarlyPaymentDiscount> {
        self.discount
    }

    pub fn schedule(&self) -> Option<&ScheduleTemplate> {
        self.schedule.as_ref()
    }
    pub fn reminders(&self) -> Option<&Reminders> {
        self.reminders.as_ref()
    }
    pub fn late_fee(&self) -> Option<&LateFee> {
        self.late_fee.as_ref()
    }

    /// The part of the spec the amount rules read: what the checkout's `rules.terms` carries. The plan,
    /// reminders and late fees travel separately (the plan as the invoice's installments), so a widget
    /// built before them still reads the terms it must mirror.
    pub fn to_rules_spec(&self) -> TermsSpec {
        TermsSpec {
            schedule: None,
            reminders: None,
            late_fee: None,
            ..self.to_spec()
        }
    }

    /// The wire/storage form of these terms.
    pub fn to_spec(&self) -> TermsSpec {
        TermsSpec {
            allow_partial: self.allow_partial,
            minimum_amounts: self
                .minimum_amounts
                .iter()
                .map(|m| (m.currency().code().to_owned(), m.to_string()))
                .collect(),
            minimum_percent: self.minimum_percent.map(|p| p.to_string()),
            presets: Some(self.presets.iter().map(|p| p.to_string()).collect()),
            preset_basis: Some(self.preset_basis),
            early_payment_discount: self.discount.map(|d| DiscountSpec {
                percent: d.percent.to_string(),
                within_days: d.within_days,
            }),
            schedule: self.schedule.as_ref().map(ScheduleTemplate::to_spec),
            reminders: self.reminders.as_ref().map(Reminders::to_spec),
            late_fee: self.late_fee.as_ref().map(LateFee::to_spec),
        }
    }
}

/// Terms as they travel and are stored: strings for every amount and percentage.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermsSpec {
    pub allow_partial: bool,
    /// Fixed minimum per currency code, e.g. `{"USD": "50.00"}`. An invoice in a currency without an
    /// entry has only the percentage minimum.
    #[serde(default)]
    pub minimum_amounts: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "10"))]
    pub minimum_percent: Option<String>,
    /// Preset percentages; absent means the default 10/25/50/75, an empty list means no presets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presets: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_basis: Option<PresetBasis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_payment_discount: Option<DiscountSpec>,
    /// Payment plan: percents summing to 100, each due `on_issue` or `due_in_days` after issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<SchedulePartSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<RemindersSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_fee: Option<LateFeeSpec>,
}

/// Wire form of [`EarlyPaymentDiscount`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscountSpec {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "2"))]
    pub percent: String,
    pub within_days: u32,
}

impl Terms {
    /// Only what decides which amounts are payable (what the checkout view's `rules.terms` carries): the
    /// plan, reminders and late fee are left out. The widget resolves its rules with this, so the parsing
    /// of plans and dunning, which only the API needs, is not compiled into the budgeted wasm.
    pub fn payable(spec: &TermsSpec) -> Result<Terms, TermsError> {
        let mut minimum_amounts = Vec::with_capacity(spec.minimum_amounts.len());
        for (code, amount) in &spec.minimum_amounts {
            let currency = Currency::parse(code).map_err(|e| TermsError::MinimumCurrency(e.code))?;
            minimum_amounts.push(Money::parse(amount, currency).map_err(TermsError::MinimumAmount)?);
        }
        let minimum_percent = spec
            .minimum_percent
            .as_deref()
            .map(Percent::parse)
            .transpose()
            .map_err(TermsError::MinimumPercent)?;
        let presets = match &spec.presets {
            None => Terms::default().presets,
            Some(list) => {
                let mut presets = Vec::with_capacity(list.len());
                for p in list {
                    let p = Percent::parse(p).map_err(TermsError::Preset)?;
                    if p.is_zero() || presets.contains(&p) {
                        return Err(TermsError::Presets);
                    }
                    presets.push(p);
                }
                if presets.len() > MAX_PRESETS {
                    return Err(TermsError::Presets);
                }
                presets.sort();
                presets
            }
        };
        let discount = spec
            .early_payment_discount
            .as_ref()
            .map(|d| {
                let percent = Percent::parse(&d.percent).map_err(|_| TermsError::DiscountPercent)?;
                EarlyPaymentDiscount::new(percent, d.within_days)
            })
            .transpose()?;
        Ok(Terms {
            allow_partial: spec.allow_partial,
            minimum_amounts,
            minimum_percent: minimum_percent.filter(|p| !p.is_zero()),
            presets,
            preset_basis: spec.preset_basis.unwrap_or_default(),
            discount,
            schedule: None,
            reminders: None,
            late_fee: None,
        })
    }
}

impl TryFrom<&TermsSpec> for Terms {
    type Error = TermsError;

    /// Every term, the plan, reminders and late fee included (what the API stores).
    fn try_from(spec: &TermsSpec) -> Result<Terms, TermsError> {
        let payable = Terms::payable(spec)?;
        let schedule = spec
            .schedule
            .as_deref()
            .map(ScheduleTemplate::from_spec)
            .transpose()
            .map_err(TermsError::Schedule)?;
        let reminders = spec
            .reminders
            .as_ref()
            .map(Reminders::from_spec)
            .transpose()
            .map_err(TermsError::Dunning)?;
        let late_fee = spec
            .late_fee
            .as_ref()
            .map(LateFee::from_spec)
            .transpose()
            .map_err(TermsError::Dunning)?;
        Ok(Terms {
            schedule,
            reminders,
            late_fee,
            ..payable
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> TermsSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn spec_round_trips_through_terms() {
        let s = spec(
            r#"{"allow_partial":true,"minimum_amounts":{"USD":"50.00","JPY":"5000"},"minimum_percent":"10",
               "presets":["75","10","25","50"],"preset_basis":"total",
               "early_payment_discount":{"percent":"2","within_days":10}}"#,
        );
        let terms = Terms::try_from(&s).unwrap();
        assert_eq!(terms.minimum_amount(Currency::USD).unwrap().to_string(), "50.00");
        assert_eq!(terms.minimum_amount(Currency::EUR), None);
        assert_eq!(
            terms.presets().iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["10", "25", "50", "75"]
        );
        assert_eq!(Terms::try_from(&terms.to_spec()).unwrap(), terms);
    }

    #[test]
    fn absent_presets_mean_defaults_and_empty_means_none() {
        let t = Terms::try_from(&spec(r#"{"allow_partial":true}"#)).unwrap();
        assert_eq!(t.presets().len(), 4);
        let t = Terms::try_from(&spec(r#"{"allow_partial":true,"presets":[]}"#)).unwrap();
        assert!(t.presets().is_empty());
    }

    #[test]
    fn invalid_specs_name_their_field() {
        let cases = [
            (
                r#"{"allow_partial":true,"minimum_amounts":{"USD":"5.001"}}"#,
                "minimum_amounts",
            ),
            (
                r#"{"allow_partial":true,"minimum_amounts":{"XYZ":"5"}}"#,
                "minimum_amounts",
            ),
            (
                r#"{"allow_partial":true,"minimum_percent":"101"}"#,
                "minimum_percent",
            ),
            (r#"{"allow_partial":true,"presets":["0"]}"#, "presets"),
            (r#"{"allow_partial":true,"presets":["10","10"]}"#, "presets"),
            (
                r#"{"allow_partial":true,"presets":["1","2","3","4","5","6","7","8","9"]}"#,
                "presets",
            ),
            (
                r#"{"allow_partial":true,"early_payment_discount":{"percent":"100","within_days":1}}"#,
                "early_payment_discount",
            ),
            (
                r#"{"allow_partial":true,"early_payment_discount":{"percent":"2","within_days":400}}"#,
                "early_payment_discount",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(Terms::try_from(&spec(json)).unwrap_err().field(), field, "{json}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<TermsSpec>(r#"{"allow_partial":true,"seller_id":"x"}"#).is_err());
    }
}
