//! Reminders and late fees (DESIGN 11): which reminder is due on a day and which fees stand, per
//! installment against its own due date. Pure: the scheduler in the API asks, records and sends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::currency::Currency;
use crate::money::Money;
use crate::percent::Percent;
use crate::schedule::{InstallmentState, InstallmentStatus};

/// Most offsets per reminder list.
pub const MAX_REMINDER_OFFSETS: usize = 8;
/// Furthest a reminder may be from its due date, in days.
pub const MAX_REMINDER_DAYS: u32 = 365;
/// Longest grace period or fee repeat interval, in days.
pub const MAX_FEE_DAYS: u32 = 365;
/// Most fees one installment may collect.
pub const MAX_FEE_COUNT: u32 = 24;

/// Why reminder or late-fee terms are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DunningError {
    #[error("reminders: each list holds at most {MAX_REMINDER_OFFSETS} distinct day counts of at most {MAX_REMINDER_DAYS}")]
    ReminderDays,
    #[error("late_fee: set either percent or fixed, not both")]
    FeeBothWays,
    #[error("late_fee: set percent or fixed")]
    FeeNeither,
    #[error("late_fee.percent must be above 0 and at most 100")]
    FeePercent,
    #[error("late_fee.fixed: {0}")]
    FeeFixed(String),
    #[error("late_fee: grace_days and repeat_every_days are at most {MAX_FEE_DAYS} (repeat at least 1), max_count 1 to {MAX_FEE_COUNT}")]
    FeeDays,
}

impl DunningError {
    pub fn field(&self) -> &'static str {
        match self {
            DunningError::ReminderDays => "reminders",
            _ => "late_fee",
        }
    }
}

/// Wire form: `{"before_due_days": [3], "after_due_days": [1, 7, 14]}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RemindersSpec {
    #[serde(default)]
    pub before_due_days: Vec<u32>,
    #[serde(default)]
    pub after_due_days: Vec<u32>,
}

/// Validated reminder offsets, each list sorted and distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminders {
    before_due_days: Vec<u32>,
    after_due_days: Vec<u32>,
}

/// Which side of the due date a reminder is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReminderKind {
    BeforeDue,
    AfterDue,
}

impl ReminderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::BeforeDue => "before_due",
            ReminderKind::AfterDue => "after_due",
        }
    }
}

/// A reminder the scheduler owes on a day. `superseded` are earlier offsets of the same kind whose day
/// has also come (after downtime or a backfill): they are recorded as skipped, never sent late, so a
/// buyer gets one email, not a burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderDue {
    pub installment: u32,
    pub kind: ReminderKind,
    pub offset_days: u32,
    pub superseded: Vec<u32>,
}

fn offsets(list: &[u32]) -> Result<Vec<u32>, DunningError> {
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != list.len()
        || list.len() > MAX_REMINDER_OFFSETS
        || sorted.iter().any(|&d| d > MAX_REMINDER_DAYS)
    {
        return Err(DunningError::ReminderDays);
    }
    Ok(sorted)
}

fn add_days(date: Date, days: u32) -> Option<Date> {
    date.checked_add(Duration::days(i64::from(days)))
}

impl Reminders {
    pub fn from_spec(spec: &RemindersSpec) -> Result<Reminders, DunningError> {
        Ok(Reminders {
            before_due_days: offsets(&spec.before_due_days)?,
            after_due_days: offsets(&spec.after_due_days)?,
        })
    }

    pub fn to_spec(&self) -> RemindersSpec {
        RemindersSpec {
            before_due_days: self.before_due_days.clone(),
            after_due_days: self.after_due_days.clone(),
        }
    }

    /// The reminders due on `today` for installments in these states (an invoice without a plan is one
    /// installment due on its due date). Before-due: only the next unpaid installment (status `due`), on
    /// or after `due_date - d` and not after the due date; the nearest such offset is sent. After-due:
    /// each overdue installment, on or after `due_date + d`; the furthest such offset is sent. An invoice
    /// on schedule has no overdue installment, so it gets no overdue reminder.
    pub fn due(&self, states: &[InstallmentState], today: Date) -> Vec<ReminderDue> {
        let mut due = Vec::new();
        for s in states {
            let (kind, reached): (ReminderKind, Vec<u32>) = match s.status {
                InstallmentStatus::Due => (
                    ReminderKind::BeforeDue,
                    self.before_due_days
                        .iter()
                        .rev()
                        .copied()
                        .filter(|&d| {
                            s.due_date
                                .checked_sub(Duration::days(i64::from(d)))
                                .is_some_and(|from| from <= today && today <= s.due_date)
                        })
                        .collect(),
                ),
                InstallmentStatus::Overdue => (
                    ReminderKind::AfterDue,
                    self.after_due_days
                        .iter()
                        .copied()
                        .filter(|&d| add_days(s.due_date, d).is_some_and(|on| on <= today))
                        .collect(),
                ),
                InstallmentStatus::Paid | InstallmentStatus::Upcoming => continue,
            };
            // `reached` is ordered oldest day first: the last one is the one for today.
            if let Some((&send, earlier)) = reached.split_last() {
                due.push(ReminderDue {
                    installment: s.number,
                    kind,
                    offset_days: send,
                    superseded: earlier.to_vec(),
                });
            }
        }
        due
    }
}

/// Wire form of a late fee: `{"grace_days": 5, "percent": "1.5", "repeat_every_days": 30, "max_count": 3}`
/// or with `"fixed": {"USD": "25.00"}` instead of `percent`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateFeeSpec {
    #[serde(default)]
    pub grace_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "1.5")
    )]
    pub percent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_every_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
}

/// How big a fee is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeAmount {
    /// Percent of the installment's open amount (never of earlier fees: fees do not compound).
    Percent(Percent),
    /// A fixed amount per currency; an invoice in a currency without one gets no fee.
    Fixed(Vec<Money>),
}

/// Validated late-fee terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateFee {
    grace_days: u32,
    amount: FeeAmount,
    repeat_every_days: Option<u32>,
    max_count: u32,
}

impl LateFee {
    pub fn from_spec(spec: &LateFeeSpec) -> Result<LateFee, DunningError> {
        let amount = match (&spec.percent, &spec.fixed) {
            (Some(_), Some(_)) => return Err(DunningError::FeeBothWays),
            (None, None) => return Err(DunningError::FeeNeither),
            (Some(p), None) => {
                let p = Percent::parse(p).map_err(|_| DunningError::FeePercent)?;
                if p.is_zero() {
                    return Err(DunningError::FeePercent);
                }
                FeeAmount::Percent(p)
            }
            (None, Some(fixed)) => {
                if fixed.is_empty() {
                    return Err(DunningError::FeeNeither);
                }
                let mut amounts = Vec::with_capacity(fixed.len());
                for (code, amount) in fixed {
                    let currency =
                        Currency::parse(code).map_err(|e| DunningError::FeeFixed(e.to_string()))?;
                    let money =
                        Money::parse(amount, currency).map_err(|e| DunningError::FeeFixed(e.to_string()))?;
                    if money.is_zero() {
                        return Err(DunningError::FeeFixed("a fee must be above zero".to_owned()));
                    }
                    amounts.push(money);
                }
                FeeAmount::Fixed(amounts)
            }
        };
        let max_count = spec.max_count.unwrap_or(if spec.repeat_every_days.is_some() {
            MAX_FEE_COUNT
        } else {
            1
        });
        if spec.grace_days > MAX_FEE_DAYS
            || spec.repeat_every_days.is_some_and(|r| r == 0 || r > MAX_FEE_DAYS)
            || !(1..=MAX_FEE_COUNT).contains(&max_count)
        {
            return Err(DunningError::FeeDays);
        }
        Ok(LateFee {
            grace_days: spec.grace_days,
            amount,
            repeat_every_days: spec.repeat_every_days,
            max_count,
        })
    }

    pub fn to_spec(&self) -> LateFeeSpec {
        let (percent, fixed) = match &self.amount {
            FeeAmount::Percent(p) => (Some(p.to_string()), None),
            FeeAmount::Fixed(list) => (
                None,
                Some(
                    list.iter()
                        .map(|m| (m.currency().code().to_owned(), m.to_string()))
                        .collect(),
                ),
            ),
        };
        LateFeeSpec {
            grace_days: self.grace_days,
            percent,
            fixed,
            repeat_every_days: self.repeat_every_days,
            max_count: (self.max_count != 1 || self.repeat_every_days.is_some()).then_some(self.max_count),
        }
    }

    /// The days fees fall on for an installment due on `due_date`, up to and including `today`: the first
    /// the day after `due_date + grace_days`, then every `repeat_every_days`, at most `max_count`.
    pub fn fee_dates(&self, due_date: Date, today: Date) -> Vec<Date> {
        let mut dates = Vec::new();
        let Some(mut on) = add_days(due_date, self.grace_days.saturating_add(1)) else {
            return dates;
        };
        while on <= today && dates.len() < self.max_count as usize {
            dates.push(on);
            match self.repeat_every_days.and_then(|r| add_days(on, r)) {
                Some(next) => on = next,
                None => break,
            }
        }
        dates
    }

    /// One fee on an installment with `open` still unpaid (fees excluded), or `None` (nothing open, no
    /// fixed amount in this currency, or a percent that rounds to zero).
    pub fn fee(&self, open: Money) -> Option<Money> {
        if open.is_zero() {
            return None;
        }
        let fee = match &self.amount {
            FeeAmount::Percent(p) => open.percent(*p).ok()?,
            FeeAmount::Fixed(list) => list.iter().copied().find(|m| m.currency() == open.currency())?,
        };
        (!fee.is_zero()).then_some(fee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{DueOffset, Plan, SchedulePart, ScheduleTemplate};

    fn d(s: &str) -> Date {
        crate::wire::parse_date(s).unwrap()
    }
    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }
    fn plan() -> Plan {
        let parts = [("30", 0), ("40", 30), ("30", 60)]
            .iter()
            .map(|&(p, days)| SchedulePart {
                percent: Percent::parse(p).unwrap(),
                due: DueOffset::in_days(days),
            })
            .collect();
        ScheduleTemplate::new(parts)
            .unwrap()
            .plan(usd("1000.00"), d("2026-11-01"))
            .unwrap()
    }

    fn reminders() -> Reminders {
        Reminders::from_spec(&RemindersSpec {
            before_due_days: vec![3],
            after_due_days: vec![1, 7, 14],
        })
        .unwrap()
    }

    fn due_on(settled: &str, today: &str) -> Vec<(u32, &'static str, u32)> {
        let plan = plan();
        reminders()
            .due(&plan.states(usd(settled), d(today)), d(today))
            .into_iter()
            .map(|r| (r.installment, r.kind.as_str(), r.offset_days))
            .collect()
    }

    #[test]
    fn reminders_fall_on_their_days() {
        // Installment 2 is due 2026-12-01; installment 1 (due on issue) was paid.
        assert_eq!(due_on("300.00", "2026-11-27"), []);
        assert_eq!(due_on("300.00", "2026-11-28"), [(2, "before_due", 3)]);
        assert_eq!(due_on("300.00", "2026-12-01"), [(2, "before_due", 3)]);
        assert_eq!(due_on("300.00", "2026-12-02"), [(2, "after_due", 1)]);
        assert_eq!(due_on("300.00", "2026-12-08"), [(2, "after_due", 7)]);
        // On schedule (installment 2 paid): nothing overdue, so only the next before-due reminder.
        assert_eq!(due_on("700.00", "2026-12-08"), []);
        assert_eq!(due_on("700.00", "2026-12-28"), [(3, "before_due", 3)]);
    }

    #[test]
    fn a_backfill_sends_only_the_latest_and_supersedes_the_rest() {
        let plan = plan();
        let due = reminders().due(&plan.states(usd("300.00"), d("2026-12-20")), d("2026-12-20"));
        assert_eq!(
            due,
            [ReminderDue {
                installment: 2,
                kind: ReminderKind::AfterDue,
                offset_days: 14,
                superseded: vec![1, 7],
            }]
        );
    }

    #[test]
    fn reminder_lists_are_validated() {
        for (before, after) in [(vec![3, 3], vec![]), (vec![], vec![400]), (vec![1; 9], vec![])] {
            assert_eq!(
                Reminders::from_spec(&RemindersSpec {
                    before_due_days: before,
                    after_due_days: after
                }),
                Err(DunningError::ReminderDays)
            );
        }
    }

    fn fee(json: &str) -> Result<LateFee, DunningError> {
        LateFee::from_spec(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn fees_both_ways_or_neither_are_refused() {
        assert_eq!(
            fee(r#"{"grace_days":5,"percent":"1.5","fixed":{"USD":"25.00"}}"#),
            Err(DunningError::FeeBothWays)
        );
        assert_eq!(fee(r#"{"grace_days":5}"#), Err(DunningError::FeeNeither));
        assert_eq!(fee(r#"{"percent":"0"}"#), Err(DunningError::FeePercent));
        assert!(matches!(
            fee(r#"{"fixed":{"JPY":"1.5"}}"#),
            Err(DunningError::FeeFixed(_))
        ));
        assert_eq!(
            fee(r#"{"percent":"1","repeat_every_days":0}"#),
            Err(DunningError::FeeDays)
        );
        let f = fee(r#"{"grace_days":5,"percent":"1.5","repeat_every_days":30,"max_count":3}"#).unwrap();
        assert_eq!(LateFee::from_spec(&f.to_spec()).unwrap(), f);
    }

    #[test]
    fn fees_fall_after_grace_repeat_and_stop_at_max_count() {
        let f = fee(r#"{"grace_days":5,"percent":"1.5","repeat_every_days":30,"max_count":2}"#).unwrap();
        let due = d("2026-12-01");
        assert!(f.fee_dates(due, d("2026-12-06")).is_empty());
        assert_eq!(f.fee_dates(due, d("2026-12-07")), [d("2026-12-07")]);
        assert_eq!(
            f.fee_dates(due, d("2027-01-06")),
            [d("2026-12-07"), d("2027-01-06")]
        );
        assert_eq!(f.fee_dates(due, d("2027-12-31")).len(), 2);
        assert_eq!(f.fee(usd("400.00")), Some(usd("6.00")));
        assert_eq!(f.fee(usd("0.00")), None);
        let once = fee(r#"{"grace_days":0,"fixed":{"USD":"25.00"}}"#).unwrap();
        assert_eq!(once.fee_dates(due, d("2027-06-01")), [d("2026-12-02")]);
        assert_eq!(once.fee(usd("1.00")), Some(usd("25.00")));
        assert_eq!(once.fee(Money::parse("100", Currency::JPY).unwrap()), None);
    }
}
