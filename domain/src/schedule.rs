//! Payment plans (DESIGN 11): an invoice total split into installments, each with its own due date.
//!
//! A plan comes from the terms (percent splits with due offsets, [`ScheduleTemplate`]) or from the invoice
//! itself (explicit amounts and dates). Either way it becomes a [`Plan`]: at least one installment, every
//! amount positive, amounts summing exactly to the total, due dates on or after the issue date and in
//! order. What each installment has received is never stored separately: [`Plan::states`] derives it from
//! what the invoice has settled, earliest installment first, so payments, refunds and credit notes can
//! never leave the installments inconsistent with the invoice. The widget runs the same code.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::currency::Currency;
use crate::money::Money;
use crate::percent::Percent;

/// Most installments a plan may have: a monthly plan over two years. More is a loan, not an invoice.
pub const MAX_INSTALLMENTS: usize = 24;
/// Longest due offset from the issue date, in days.
pub const MAX_DUE_IN_DAYS: u32 = 1_830;

/// Why a schedule or plan is refused. `field()` names the request field for the API's problem body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("a schedule needs at least one installment")]
    Empty,
    #[error("a schedule has at most {MAX_INSTALLMENTS} installments")]
    TooMany,
    #[error("schedule percents must each be above 0 and sum to exactly 100 (they sum to {0})")]
    PercentSum(String),
    #[error("schedule[{0}].percent must be a number above 0 and at most 100")]
    Percent(usize),
    #[error(
        "schedule[{0}] must say when it is due: either \"due\": \"on_issue\" or \"due_in_days\", not both"
    )]
    Due(usize),
    #[error("schedule[{0}].due_in_days must be at most {MAX_DUE_IN_DAYS} and not before the installment before it")]
    DueOrder(usize),
    #[error("installments sum to {found}, not the invoice total {total}")]
    AmountSum { total: Money, found: Money },
    #[error("installments[{0}].amount must be a positive amount in the invoice currency")]
    Amount(usize),
    #[error("installments[{0}].due_date must be on or after the issue date")]
    DueBeforeIssue(usize),
    #[error("installments[{0}].due_date must be a date such as 2026-12-01")]
    DueDate(usize),
    #[error("installments[{0}].due_date must not be before the installment before it")]
    DueDateOrder(usize),
    #[error("{total} cannot be split into these installments in {currency}'s smallest unit: installment {number} would be zero")]
    Unsplittable {
        total: Money,
        currency: Currency,
        number: usize,
    },
}

impl ScheduleError {
    /// The problem code the API answers with.
    pub fn code(&self) -> crate::ErrorCode {
        use crate::ErrorCode;
        match self {
            ScheduleError::PercentSum(_) => ErrorCode::SchedulePercentSum,
            ScheduleError::AmountSum { .. } => ErrorCode::InstallmentsSumMismatch,
            ScheduleError::DueBeforeIssue(_) => ErrorCode::InstallmentDueBeforeIssue,
            ScheduleError::Unsplittable { .. } => ErrorCode::ScheduleUnsplittable,
            ScheduleError::Empty
            | ScheduleError::TooMany
            | ScheduleError::Percent(_)
            | ScheduleError::Due(_)
            | ScheduleError::DueOrder(_)
            | ScheduleError::Amount(_)
            | ScheduleError::DueDate(_)
            | ScheduleError::DueDateOrder(_) => ErrorCode::InvalidSchedule,
        }
    }

    /// The request field the error is about: `schedule` for terms, `installments` for an invoice.
    pub fn field(&self) -> &'static str {
        match self {
            ScheduleError::PercentSum(_)
            | ScheduleError::Percent(_)
            | ScheduleError::Due(_)
            | ScheduleError::DueOrder(_) => "schedule",
            ScheduleError::Empty
            | ScheduleError::TooMany
            | ScheduleError::AmountSum { .. }
            | ScheduleError::Amount(_)
            | ScheduleError::DueBeforeIssue(_)
            | ScheduleError::DueDate(_)
            | ScheduleError::DueDateOrder(_)
            | ScheduleError::Unsplittable { .. } => "installments",
        }
    }
}

/// When a templated installment falls due, relative to the invoice's issue date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueOffset(u32);

impl DueOffset {
    pub const ON_ISSUE: DueOffset = DueOffset(0);
    pub const fn in_days(days: u32) -> DueOffset {
        DueOffset(days)
    }
    pub fn days(self) -> u32 {
        self.0
    }
}

/// One part of a terms schedule, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulePart {
    pub percent: Percent,
    pub due: DueOffset,
}

/// A terms schedule: percents summing to 100 with due offsets in order. Only constructible valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleTemplate {
    parts: Vec<SchedulePart>,
}

/// Wire form of one schedule part: `{"percent": "30", "due": "on_issue"}` or
/// `{"percent": "40", "due_in_days": 30}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulePartSpec {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "30"))]
    pub percent: String,
    /// `"on_issue"`; exclusive with `due_in_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DueSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_in_days: Option<u32>,
}

/// The named due points a schedule part may use instead of `due_in_days`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueSpec {
    OnIssue,
}

impl ScheduleTemplate {
    /// Validates parts: 1..=[`MAX_INSTALLMENTS`], each percent above 0, summing to exactly 100, offsets
    /// not decreasing (installment 2 is never due before installment 1).
    pub fn new(parts: Vec<SchedulePart>) -> Result<ScheduleTemplate, ScheduleError> {
        if parts.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if parts.len() > MAX_INSTALLMENTS {
            return Err(ScheduleError::TooMany);
        }
        let mut sum = Decimal::ZERO;
        let mut last = DueOffset::ON_ISSUE;
        for (i, part) in parts.iter().enumerate() {
            if part.percent.is_zero() {
                return Err(ScheduleError::Percent(i));
            }
            if part.due < last || part.due.days() > MAX_DUE_IN_DAYS {
                return Err(ScheduleError::DueOrder(i));
            }
            last = part.due;
            sum += part.percent.value();
        }
        if sum != Decimal::ONE_HUNDRED {
            return Err(ScheduleError::PercentSum(sum.normalize().to_string()));
        }
        Ok(ScheduleTemplate { parts })
    }

    /// Parses the wire form.
    pub fn from_spec(spec: &[SchedulePartSpec]) -> Result<ScheduleTemplate, ScheduleError> {
        if spec.len() > MAX_INSTALLMENTS {
            return Err(ScheduleError::TooMany);
        }
        let parts = spec
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let percent = Percent::parse(&p.percent).map_err(|_| ScheduleError::Percent(i))?;
                let due = match (p.due, p.due_in_days) {
                    (Some(DueSpec::OnIssue), None) => DueOffset::ON_ISSUE,
                    (None, Some(days)) => DueOffset(days),
                    _ => return Err(ScheduleError::Due(i)),
                };
                Ok(SchedulePart { percent, due })
            })
            .collect::<Result<Vec<_>, _>>()?;
        ScheduleTemplate::new(parts)
    }

    /// The wire form (normalised: `on_issue` for offset 0).
    pub fn to_spec(&self) -> Vec<SchedulePartSpec> {
        self.parts
            .iter()
            .map(|p| SchedulePartSpec {
                percent: p.percent.to_string(),
                due: (p.due == DueOffset::ON_ISSUE).then_some(DueSpec::OnIssue),
                due_in_days: (p.due != DueOffset::ON_ISSUE).then_some(p.due.days()),
            })
            .collect()
    }

    pub fn parts(&self) -> &[SchedulePart] {
        &self.parts
    }

    /// The plan for an invoice of `total` issued on `issue_date`.
    pub fn plan(&self, total: Money, issue_date: Date) -> Result<Plan, ScheduleError> {
        let percents: Vec<Percent> = self.parts.iter().map(|p| p.percent).collect();
        let amounts = split_by_percents(total, &percents)?;
        let installments = amounts
            .into_iter()
            .zip(&self.parts)
            .map(|(amount, part)| {
                let due_date = issue_date
                    .checked_add(Duration::days(i64::from(part.due.days())))
                    .ok_or(ScheduleError::DueOrder(0))?;
                Ok((amount, due_date))
            })
            .collect::<Result<Vec<_>, ScheduleError>>()?;
        Plan::new(total, issue_date, installments)
    }
}

/// Splits `total` by `percents` (summing to 100) in the currency's minor unit: every installment but the
/// last is its percent of the total rounded half-up (the house rounding, as for presets); the last takes
/// the remainder, so the parts always sum to the total. Refused when any part would be zero or the
/// remainder negative: JPY 1 cannot be paid in three installments.
pub fn split_by_percents(total: Money, percents: &[Percent]) -> Result<Vec<Money>, ScheduleError> {
    let currency = total.currency();
    let unsplittable = |number: usize| ScheduleError::Unsplittable {
        total,
        currency,
        number,
    };
    let Some((_, leading)) = percents.split_last() else {
        return Err(ScheduleError::Empty);
    };
    let mut parts = Vec::with_capacity(percents.len());
    let mut rest = total;
    for (i, &percent) in leading.iter().enumerate() {
        let part = total.percent(percent).map_err(|_| unsplittable(i + 1))?;
        if part.is_zero() {
            return Err(unsplittable(i + 1));
        }
        rest = rest
            .checked_sub(&part)
            .map_err(|_| unsplittable(percents.len()))?;
        parts.push(part);
    }
    if rest.is_zero() {
        return Err(unsplittable(percents.len()));
    }
    parts.push(rest);
    Ok(parts)
}

/// One installment of a plan: its 1-based number, amount and due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installment {
    pub number: u32,
    pub amount: Money,
    pub due_date: Date,
}

/// An invoice's installments: non-empty, at most [`MAX_INSTALLMENTS`], every amount positive and in the
/// invoice currency, summing exactly to the total, due dates on or after the issue date and not decreasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    installments: Vec<Installment>,
}

/// Where an installment stands on a given day.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallmentStatus {
    /// Not yet due, and not the next one to pay.
    Upcoming,
    /// The next one to pay: the earliest unpaid installment whose due date has not passed.
    Due,
    /// Unpaid (in whole or part) after its due date.
    Overdue,
    Paid,
}

impl InstallmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallmentStatus::Upcoming => "upcoming",
            InstallmentStatus::Due => "due",
            InstallmentStatus::Overdue => "overdue",
            InstallmentStatus::Paid => "paid",
        }
    }

    pub fn parse(s: &str) -> Option<InstallmentStatus> {
        [
            InstallmentStatus::Upcoming,
            InstallmentStatus::Due,
            InstallmentStatus::Overdue,
            InstallmentStatus::Paid,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// An installment with what it has received and its status on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallmentState {
    pub number: u32,
    pub due_date: Date,
    pub amount: Money,
    pub amount_paid: Money,
    pub status: InstallmentStatus,
}

impl InstallmentState {
    /// What is still open on it.
    pub fn open(&self) -> Money {
        self.amount
            .checked_sub(&self.amount_paid)
            .unwrap_or_else(|_| Money::zero(self.amount.currency()))
    }
}

/// The installment a buyer pays next: the earliest one not fully paid, and what is open on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallmentDue {
    pub number: u32,
    pub due_date: Date,
    pub amount_due: Money,
}

impl Plan {
    /// Validates explicit installments `(amount, due_date)` against the invoice's total and issue date.
    pub fn new(
        total: Money,
        issue_date: Date,
        installments: Vec<(Money, Date)>,
    ) -> Result<Plan, ScheduleError> {
        if installments.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if installments.len() > MAX_INSTALLMENTS {
            return Err(ScheduleError::TooMany);
        }
        let currency = total.currency();
        let mut sum = Money::zero(currency);
        let mut previous = issue_date;
        let mut plan = Vec::with_capacity(installments.len());
        for (i, (amount, due_date)) in installments.into_iter().enumerate() {
            if amount.currency() != currency || amount.is_zero() {
                return Err(ScheduleError::Amount(i));
            }
            if due_date < issue_date {
                return Err(ScheduleError::DueBeforeIssue(i));
            }
            if due_date < previous {
                return Err(ScheduleError::DueDateOrder(i));
            }
            previous = due_date;
            sum = sum.checked_add(&amount).map_err(|_| ScheduleError::Amount(i))?;
            plan.push(Installment {
                // At most MAX_INSTALLMENTS, so the number always fits.
                number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                amount,
                due_date,
            });
        }
        if sum != total {
            return Err(ScheduleError::AmountSum { total, found: sum });
        }
        Ok(Plan { installments: plan })
    }

    /// Parses wire installments (`amount` strings in `total`'s currency, `due_date` ISO dates).
    pub fn from_spec(
        total: Money,
        issue_date: Date,
        spec: &[InstallmentSpec],
    ) -> Result<Plan, ScheduleError> {
        if spec.len() > MAX_INSTALLMENTS {
            return Err(ScheduleError::TooMany);
        }
        let parsed = spec
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let amount =
                    Money::parse(&s.amount, total.currency()).map_err(|_| ScheduleError::Amount(i))?;
                let due = crate::wire::parse_date(&s.due_date).ok_or(ScheduleError::DueDate(i))?;
                Ok((amount, due))
            })
            .collect::<Result<Vec<_>, ScheduleError>>()?;
        Plan::new(total, issue_date, parsed)
    }

    pub fn installments(&self) -> &[Installment] {
        &self.installments
    }

    /// The total the installments sum to.
    pub fn total(&self) -> Money {
        let currency = self.currency();
        self.installments
            .iter()
            .try_fold(Money::zero(currency), |sum, i| sum.checked_add(&i.amount))
            .unwrap_or_else(|_| Money::zero(currency))
    }

    fn currency(&self) -> Currency {
        // Never empty by construction.
        self.installments
            .first()
            .map_or(Currency::USD, |i| i.amount.currency())
    }

    /// The last installment's due date: the invoice's due date under this plan.
    pub fn last_due_date(&self) -> Option<Date> {
        self.installments.last().map(|i| i.due_date)
    }

    /// What each installment has received when the invoice has settled `settled` (paid + discounts +
    /// credits): the earliest installment fills first and the excess spills into the next. Never more
    /// than an installment's amount; anything beyond the plan's total (it cannot be, the database refuses
    /// it) is ignored.
    pub fn fill(&self, settled: Money) -> Vec<Money> {
        let currency = self.currency();
        let mut rest = if settled.currency() == currency {
            settled
        } else {
            Money::zero(currency)
        };
        self.installments
            .iter()
            .map(|i| {
                let paid = rest.min(i.amount);
                rest = rest.checked_sub(&paid).unwrap_or_else(|_| Money::zero(currency));
                paid
            })
            .collect()
    }

    /// Every installment with what it has received and its status on `today`.
    pub fn states(&self, settled: Money, today: Date) -> Vec<InstallmentState> {
        let mut next_marked = false;
        self.installments
            .iter()
            .zip(self.fill(settled))
            .map(|(i, amount_paid)| {
                let status = if amount_paid == i.amount {
                    InstallmentStatus::Paid
                } else if i.due_date < today {
                    InstallmentStatus::Overdue
                } else if !next_marked {
                    next_marked = true;
                    InstallmentStatus::Due
                } else {
                    InstallmentStatus::Upcoming
                };
                InstallmentState {
                    number: i.number,
                    due_date: i.due_date,
                    amount: i.amount,
                    amount_paid,
                    status,
                }
            })
            .collect()
    }

    /// The installment to pay next, or `None` when every installment is paid.
    pub fn amount_due(&self, settled: Money, today: Date) -> Option<InstallmentDue> {
        self.states(settled, today)
            .into_iter()
            .find(|s| s.status != InstallmentStatus::Paid)
            .map(|s| InstallmentDue {
                number: s.number,
                due_date: s.due_date,
                amount_due: s.open(),
            })
    }

    /// Whether every installment already due on `today` is paid ("on schedule").
    pub fn on_schedule(&self, settled: Money, today: Date) -> bool {
        self.states(settled, today)
            .iter()
            .all(|s| s.status != InstallmentStatus::Overdue)
    }

    /// The wire form.
    pub fn to_spec(&self) -> Vec<InstallmentSpec> {
        self.installments
            .iter()
            .map(|i| InstallmentSpec {
                amount: i.amount.to_string(),
                due_date: crate::wire::format_date(i.due_date),
            })
            .collect()
    }
}

/// Wire form of an explicit installment on `POST /v1/invoices`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallmentSpec {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "300.00")
    )]
    pub amount: String,
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-01")
    )]
    pub due_date: String,
}

/// An installment as the seller and buyer see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentView {
    pub number: u32,
    pub due_date: String,
    pub amount: String,
    pub amount_paid: String,
    pub status: InstallmentStatus,
}

impl From<&InstallmentState> for InstallmentView {
    fn from(s: &InstallmentState) -> InstallmentView {
        InstallmentView {
            number: s.number,
            due_date: crate::wire::format_date(s.due_date),
            amount: s.amount.to_string(),
            amount_paid: s.amount_paid.to_string(),
            status: s.status,
        }
    }
}

/// `options.installment` of the checkout view: what paying "the installment due" means today.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentDueView {
    pub number: u32,
    pub due_date: String,
    pub amount_due: String,
}

impl From<&InstallmentDue> for InstallmentDueView {
    fn from(d: &InstallmentDue) -> InstallmentDueView {
        InstallmentDueView {
            number: d.number,
            due_date: crate::wire::format_date(d.due_date),
            amount_due: d.amount_due.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str, c: Currency) -> Money {
        Money::parse(s, c).unwrap()
    }
    fn d(s: &str) -> Date {
        crate::wire::parse_date(s).unwrap()
    }
    fn p(s: &str) -> Percent {
        Percent::parse(s).unwrap()
    }
    fn template(parts: &[(&str, u32)]) -> Result<ScheduleTemplate, ScheduleError> {
        ScheduleTemplate::new(
            parts
                .iter()
                .map(|&(pct, days)| SchedulePart {
                    percent: p(pct),
                    due: DueOffset(days),
                })
                .collect(),
        )
    }
    fn amounts(plan: &Plan) -> Vec<String> {
        plan.installments().iter().map(|i| i.amount.to_string()).collect()
    }

    #[test]
    fn usd_thirds_put_the_cent_on_the_last() {
        let t = template(&[("33.3333", 0), ("33.3333", 30), ("33.3334", 60)]).unwrap();
        let plan = t.plan(m("100.00", Currency::USD), d("2026-11-01")).unwrap();
        assert_eq!(amounts(&plan), ["33.33", "33.33", "33.34"]);
        let dates: Vec<_> = plan.installments().iter().map(|i| i.due_date).collect();
        assert_eq!(dates, [d("2026-11-01"), d("2026-12-01"), d("2026-12-31")]);
        assert_eq!(plan.last_due_date(), Some(d("2026-12-31")));
    }

    #[test]
    fn thirty_forty_thirty_in_usd_jpy_and_kwd() {
        let t = template(&[("30", 0), ("40", 30), ("30", 60)]).unwrap();
        let issue = d("2026-11-01");
        let usd = t.plan(m("1000.01", Currency::USD), issue).unwrap();
        // 300.003 -> 300.00, 400.004 -> 400.00, the last takes 300.01.
        assert_eq!(amounts(&usd), ["300.00", "400.00", "300.01"]);
        let jpy = t.plan(m("1001", Currency::JPY), issue).unwrap();
        // 300.3 -> 300, 400.4 -> 400, the last takes 301.
        assert_eq!(amounts(&jpy), ["300", "400", "301"]);
        let kwd = t.plan(m("1.001", Currency::KWD), issue).unwrap();
        // 0.3003 -> 0.300, 0.4004 -> 0.400, the last takes 0.301.
        assert_eq!(amounts(&kwd), ["0.300", "0.400", "0.301"]);
    }

    #[test]
    fn half_up_rounding_may_leave_the_last_smaller() {
        let t = template(&[("50", 0), ("50", 10)]).unwrap();
        let plan = t.plan(m("0.05", Currency::USD), d("2026-11-01")).unwrap();
        assert_eq!(amounts(&plan), ["0.03", "0.02"]);
    }

    #[test]
    fn a_minor_unit_that_cannot_split_is_refused() {
        let t = template(&[("30", 0), ("40", 30), ("30", 60)]).unwrap();
        let err = t.plan(m("1", Currency::JPY), d("2026-11-01")).unwrap_err();
        assert!(
            matches!(err, ScheduleError::Unsplittable { number: 1, .. }),
            "{err:?}"
        );
        let err = t.plan(m("0.002", Currency::KWD), d("2026-11-01")).unwrap_err();
        assert!(matches!(err, ScheduleError::Unsplittable { .. }), "{err:?}");
        // Two yen in two installments is fine; two yen in three is not.
        let halves = template(&[("50", 0), ("50", 30)]).unwrap();
        assert_eq!(
            amounts(&halves.plan(m("2", Currency::JPY), d("2026-11-01")).unwrap()),
            ["1", "1"]
        );
    }

    #[test]
    fn templates_are_validated() {
        assert_eq!(template(&[]), Err(ScheduleError::Empty));
        assert_eq!(
            template(&[("30", 0), ("40", 30), ("20", 60)]),
            Err(ScheduleError::PercentSum("90".into()))
        );
        assert_eq!(template(&[("0", 0), ("100", 30)]), Err(ScheduleError::Percent(0)));
        assert_eq!(
            template(&[("50", 30), ("50", 10)]),
            Err(ScheduleError::DueOrder(1))
        );
        let many: Vec<(&str, u32)> = (0..25).map(|_| ("4", 0)).collect();
        assert_eq!(template(&many), Err(ScheduleError::TooMany));
        let spec = |json: &str| -> Result<ScheduleTemplate, ScheduleError> {
            ScheduleTemplate::from_spec(&serde_json::from_str::<Vec<SchedulePartSpec>>(json).unwrap())
        };
        assert_eq!(
            spec(r#"[{"percent":"100","due":"on_issue","due_in_days":3}]"#),
            Err(ScheduleError::Due(0))
        );
        assert_eq!(spec(r#"[{"percent":"100"}]"#), Err(ScheduleError::Due(0)));
        let t = spec(r#"[{"percent":"30","due":"on_issue"},{"percent":"70","due_in_days":30}]"#).unwrap();
        assert_eq!(ScheduleTemplate::from_spec(&t.to_spec()).unwrap(), t);
    }

    #[test]
    fn explicit_plans_are_validated() {
        let total = m("100.00", Currency::USD);
        let issue = d("2026-11-01");
        let plan = |items: &[(&str, &str)]| {
            Plan::new(
                total,
                issue,
                items
                    .iter()
                    .map(|&(a, dd)| (m(a, Currency::USD), d(dd)))
                    .collect(),
            )
        };
        assert!(plan(&[("40.00", "2026-11-01"), ("60.00", "2026-12-01")]).is_ok());
        assert_eq!(
            plan(&[("40.00", "2026-11-01"), ("50.00", "2026-12-01")]),
            Err(ScheduleError::AmountSum {
                total,
                found: m("90.00", Currency::USD)
            })
        );
        assert_eq!(
            plan(&[("40.00", "2026-10-31"), ("60.00", "2026-12-01")]),
            Err(ScheduleError::DueBeforeIssue(0))
        );
        assert_eq!(
            plan(&[("40.00", "2026-12-01"), ("60.00", "2026-11-15")]),
            Err(ScheduleError::DueDateOrder(1))
        );
        assert_eq!(
            plan(&[("0.00", "2026-11-01"), ("100.00", "2026-12-01")]),
            Err(ScheduleError::Amount(0))
        );
        assert_eq!(plan(&[]), Err(ScheduleError::Empty));
    }

    #[test]
    fn payments_fill_the_earliest_first_and_statuses_follow_the_date() {
        let t = template(&[("30", 0), ("40", 30), ("30", 60)]).unwrap();
        let plan = t.plan(m("1000.00", Currency::USD), d("2026-11-01")).unwrap();
        let status = |settled: &str, today: &str| -> Vec<&'static str> {
            plan.states(m(settled, Currency::USD), d(today))
                .iter()
                .map(|s| s.status.as_str())
                .collect()
        };
        assert_eq!(status("0.00", "2026-11-01"), ["due", "upcoming", "upcoming"]);
        assert_eq!(status("0.00", "2026-11-02"), ["overdue", "due", "upcoming"]);
        assert_eq!(status("300.00", "2026-11-02"), ["paid", "due", "upcoming"]);
        assert_eq!(status("500.00", "2026-12-15"), ["paid", "overdue", "due"]);
        assert_eq!(status("1000.00", "2027-06-01"), ["paid", "paid", "paid"]);
        let filled: Vec<String> = plan
            .fill(m("500.00", Currency::USD))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(filled, ["300.00", "200.00", "0.00"]);
        let due = plan
            .amount_due(m("500.00", Currency::USD), d("2026-11-20"))
            .unwrap();
        assert_eq!((due.number, due.amount_due.to_string()), (2, "200.00".to_owned()));
        assert!(plan.on_schedule(m("500.00", Currency::USD), d("2026-12-01")));
        assert!(!plan.on_schedule(m("500.00", Currency::USD), d("2026-12-02")));
        assert_eq!(
            plan.amount_due(m("1000.00", Currency::USD), d("2026-11-20")),
            None
        );
    }
}
