//! The widget's view model: plain structs and functions over the checkout JSON, with no DOM, so the
//! behaviour a buyer sees is unit-tested natively. Every rule decision goes through `tranche-domain` with
//! the exact inputs the API used (`CheckoutView::rules`), so the widget refuses what the API would refuse.

use tranche_domain::format::{format_amount, parse_localized};
use tranche_domain::wire::{CheckoutView, InvoiceBalanceView, PaymentResponse, PaymentStatus, Problem};
use tranche_domain::{
    Currency, ErrorCode, InstallmentStatus, InvoiceStatus, Money, NotPayable, PaymentOptions, Rules, Terms,
};

use crate::i18n::{Key, Locale};
use crate::wire::{Fields, Out};

/// An invoice status in the buyer's language (the summary, account mode's result).
pub fn status_label(locale: Locale, status: InvoiceStatus) -> &'static str {
    locale.t(match status {
        InvoiceStatus::Open => Key::StatusOpen,
        InvoiceStatus::PartiallyPaid => Key::StatusPartiallyPaid,
        InvoiceStatus::Paid => Key::StatusPaid,
        InvoiceStatus::Void => Key::StatusVoid,
    })
}

/// What the buyer picked in the amount chooser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The plan's installment due (DESIGN 11), offered first.
    Installment,
    Preset(usize),
    Full,
    Discount,
    Custom,
}

/// A checkout loaded from the API, with the rules rebuilt locally.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub view: CheckoutView,
    pub locale: Locale,
    rules: Option<(Rules, Terms)>,
}

/// One preset button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetButton {
    pub percent: String,
    pub amount: String,
    pub label: String,
    pub enabled: bool,
    /// Why it is disabled, in the buyer's language.
    pub reason: Option<String>,
}

/// The amount chooser's state after each keystroke or click.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evaluation {
    /// Canonical decimal string when the amount is payable.
    pub amount: Option<String>,
    /// The amount formatted for the locale, e.g. on the pay button.
    pub display: Option<String>,
    /// `(code, sentence)` when the amount is refused.
    pub error: Option<(ErrorCode, String)>,
    pub remaining_after: Option<String>,
    /// The same, canonical (for events).
    pub remaining: Option<String>,
    /// Discount granted by this payment, formatted.
    pub discount: Option<String>,
}

/// Why the invoice is shown read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOnly {
    Paid,
    Void,
    InProgress,
}

impl Checkout {
    pub fn new(view: CheckoutView, locale: Locale) -> Checkout {
        let rules = view.rules.resolve().ok().map(|(invoice, terms, today)| {
            // With a plan, the installment due is accepted even below the minimum, exactly as the API does.
            // With a plan, the installment due is accepted even below the minimum, exactly as the API does.
            let rules = Rules::new(&invoice, &terms, today).with_installment(view.rules.installment_due());
            (rules, terms)
        });
        Checkout { view, locale, rules }
    }

    pub fn currency(&self) -> Currency {
        self.view.invoice.currency
    }

    /// Formats a canonical amount of this invoice's currency.
    pub fn money(&self, canonical: &str) -> String {
        self.locale.money(canonical, self.currency())
    }

    pub fn status_label(&self) -> &'static str {
        status_label(self.locale, self.view.invoice.status)
    }

    /// `Some` when no payment can be taken now.
    pub fn read_only(&self) -> Option<ReadOnly> {
        let reason = match &self.rules {
            Some((rules, _)) => rules.not_payable(),
            None => self.view.not_payable,
        };
        match reason {
            Some(NotPayable::Paid) => Some(ReadOnly::Paid),
            Some(NotPayable::Void) => Some(ReadOnly::Void),
            Some(NotPayable::PaymentInProgress) => Some(ReadOnly::InProgress),
            None if self.rules.is_none() => Some(ReadOnly::InProgress),
            None => None,
        }
    }

    /// The options computed by the domain from the rule inputs (the same function the API ran).
    pub fn options(&self) -> Option<PaymentOptions> {
        let (rules, terms) = self.rules.as_ref()?;
        rules.options(terms).ok()
    }

    pub fn presets(&self) -> Vec<PresetButton> {
        let Some(options) = self.options() else {
            return Vec::new();
        };
        options
            .presets
            .iter()
            .map(|p| {
                let amount = p.amount.to_string();
                let label = format!(
                    "{}\u{a0}% · {}",
                    format_amount(&p.percent.to_string(), self.locale.tag()),
                    self.money(&amount)
                );
                let label = if self.locale == Locale::En {
                    label.replacen("\u{a0}%", "%", 1)
                } else {
                    label
                };
                PresetButton {
                    percent: p.percent.to_string(),
                    amount,
                    label,
                    enabled: p.enabled(),
                    reason: p
                        .disabled_reason
                        .as_ref()
                        .map(|r| self.explain(r.code(), Some(r))),
                }
            })
            .collect()
    }

    /// The amount chooser's buttons, in order: the installment due first (with a plan), the presets, the
    /// full balance. One list so the widget renders them with one view (the download budget).
    pub fn choices(&self) -> Vec<(Choice, String, PresetButton)> {
        let Some(o) = self.options() else {
            return Vec::new();
        };
        let button = |amount: String, label: String| PresetButton {
            percent: String::new(),
            label: format!("{label} · {}", self.money(&amount)),
            amount,
            enabled: true,
            reason: None,
        };
        let mut out: Vec<_> = o
            .installment
            .map(|i| {
                let label = self
                    .locale
                    .t(Key::PayInstallment)
                    .replace("{number}", &i.number.to_string());
                (
                    Choice::Installment,
                    "installment".into(),
                    button(i.amount_due.to_string(), label),
                )
            })
            .into_iter()
            .collect();
        out.extend(
            self.presets()
                .into_iter()
                .enumerate()
                .map(|(i, p)| (Choice::Preset(i), format!("preset-{}", p.percent), p)),
        );
        out.push((
            Choice::Full,
            "full".into(),
            button(o.full_balance.to_string(), self.locale.t(Key::FullBalance).into()),
        ));
        out
    }

    /// What the chooser starts on: the installment due when there is one, else the full balance.
    pub fn default_choice(&self) -> Choice {
        match self.options().and_then(|o| o.installment) {
            Some(_) => Choice::Installment,
            None => Choice::Full,
        }
    }

    /// The plan as table rows: number, due date, amount, status (a word, never a colour alone).
    pub fn plan_rows(&self) -> Vec<[String; 4]> {
        let l = self.locale;
        self.view
            .invoice
            .installments
            .iter()
            .flatten()
            .map(|i| {
                let status = l.t(match i.status {
                    InstallmentStatus::Upcoming => Key::Upcoming,
                    InstallmentStatus::Due => Key::DueNow,
                    InstallmentStatus::Overdue => Key::Overdue,
                    InstallmentStatus::Paid => Key::StatusPaid,
                });
                [
                    i.number.to_string(),
                    l.date(&i.due_date),
                    self.money(&i.amount),
                    status.into(),
                ]
            })
            .collect()
    }

    /// `"Minimum $50.00"`, when partial payments are possible.
    pub fn minimum_hint(&self) -> Option<String> {
        let o = self.options()?;
        (o.allow_partial && o.minimum != o.maximum).then(|| {
            self.locale
                .t(Key::MinimumHint)
                .replace("{amount}", &self.money(&o.minimum.to_string()))
        })
    }

    /// `"Pay the balance by Nov 11, 2026 and save $20.00"` while the discount window is open.
    pub fn discount_offer(&self) -> Option<(String, String)> {
        let d = self.options()?.discount?;
        let text = self
            .locale
            .t(Key::SaveBy)
            .replace(
                "{date}",
                &self
                    .locale
                    .date(&tranche_domain::wire::format_date(d.available_until)),
            )
            .replace("{amount}", &self.money(&d.discount.to_string()));
        Some((d.amount.to_string(), text))
    }

    /// The sentence for a rejection, with the amount it names.
    fn explain(&self, code: ErrorCode, rejected: Option<&tranche_domain::AmountRejected>) -> String {
        use tranche_domain::AmountRejected as R;
        let example = match self.currency().exponent() {
            0 => "1250".to_owned(),
            e => format!("1250.{}", "0".repeat(e as usize)),
        };
        let amount = match rejected {
            Some(R::AmountBelowMinimum { minimum }) => self.money(&minimum.to_string()),
            Some(R::AmountExceedsBalance { maximum }) => self.money(&maximum.to_string()),
            Some(R::PartialNotAllowed { full_amount }) => self.money(&full_amount.to_string()),
            Some(R::CurrencyMismatch { expected, .. }) => expected.code().to_owned(),
            _ => format_amount(&example, self.locale.tag()),
        };
        self.locale.rejection(code, &amount)
    }

    /// Evaluates a choice; `input` is what the buyer typed in the free amount field.
    pub fn evaluate(&self, choice: &Choice, input: &str) -> Evaluation {
        let Some((rules, _)) = &self.rules else {
            return Evaluation::default();
        };
        let canonical = match choice {
            Choice::Installment => self
                .options()
                .and_then(|o| o.installment)
                .map(|i| i.amount_due.to_string()),
            Choice::Preset(i) => self.presets().get(*i).map(|p| p.amount.clone()),
            Choice::Full => self.options().map(|o| o.full_balance.to_string()),
            Choice::Discount => self
                .options()
                .and_then(|o| o.discount)
                .map(|d| d.amount.to_string()),
            Choice::Custom => {
                if input.trim().is_empty() {
                    return Evaluation::default();
                }
                match parse_localized(input, self.locale.tag()) {
                    Some(c) => Some(c),
                    None => {
                        return Evaluation {
                            error: Some((
                                ErrorCode::AmountMalformed,
                                self.explain(ErrorCode::AmountMalformed, None),
                            )),
                            ..Evaluation::default()
                        }
                    }
                }
            }
        };
        let Some(canonical) = canonical else {
            return Evaluation::default();
        };
        match rules.check_str(&canonical, Some(self.currency().code())) {
            Ok(accepted) => {
                let amount = accepted.amount.to_string();
                Evaluation {
                    display: Some(self.money(&amount)),
                    amount: Some(amount),
                    error: None,
                    remaining_after: Some(self.money(&accepted.remaining_after.to_string())),
                    remaining: Some(accepted.remaining_after.to_string()),
                    discount: (!accepted.discount.is_zero())
                        .then(|| self.money(&accepted.discount.to_string())),
                }
            }
            Err(rejected) => Evaluation {
                error: Some((rejected.code(), self.explain(rejected.code(), Some(&rejected)))),
                ..Evaluation::default()
            },
        }
    }

    /// The free-amount field's text for a canonical amount, e.g. after clicking a preset.
    pub fn input_text(&self, canonical: &str) -> String {
        format_amount(canonical, self.locale.tag())
    }

    /// Applies a successful payment to the view, so the screen updates without a reload.
    pub fn apply(&self, response: &PaymentResponse) -> Outcome {
        let balance = self.money(&response.invoice.balance_due);
        let paid_off = response.invoice.status == InvoiceStatus::Paid;
        Outcome {
            payment_id: response.payment.id.clone(),
            amount: self.money(&response.payment.amount),
            new_balance: balance,
            pending: response.payment.status == tranche_domain::wire::PaymentStatus::Pending,
            can_pay_again: !paid_off
                && Money::parse(&response.invoice.balance_due, self.currency()).is_ok_and(|m| !m.is_zero()),
        }
    }

    /// Turns an API problem (or a network failure, `None`) into what the buyer reads and can do.
    pub fn failure(&self, problem: Option<&Problem>) -> Failure {
        let l = self.locale;
        let Some(p) = problem else {
            return Failure {
                code: "network_error".into(),
                title: l.t(Key::NetworkError).into(),
                advice: None,
                next: Next::RetrySameKey,
            };
        };
        let (title, advice, next) = match (p.status, p.error_code()) {
            (402, _) => {
                let decline = p.decline_code.clone().unwrap_or_default();
                (
                    l.t(Key::Declined).to_owned(),
                    Some(l.decline(&decline).to_owned()),
                    Next::NewAttempt,
                )
            }
            (_, Some(ErrorCode::IdempotencyKeyInUse)) => {
                (l.t(Key::KeyInUse).to_owned(), None, Next::RetrySameKey)
            }
            (_, Some(ErrorCode::InvalidCheckoutToken)) | (401, _) => {
                (l.t(Key::LinkInvalid).to_owned(), None, Next::Stop)
            }
            (_, Some(ErrorCode::OriginNotAllowed)) => (l.t(Key::OriginBlocked).to_owned(), None, Next::Stop),
            (_, Some(code)) if code.is_amount_rejection() => {
                let amount = p
                    .minimum
                    .as_deref()
                    .or(p.maximum.as_deref())
                    .map(|a| self.money(a))
                    .unwrap_or_else(|| self.currency().code().to_owned());
                (
                    l.t(Key::BalanceChanged).to_owned(),
                    Some(l.rejection(code, &amount)),
                    Next::Reload,
                )
            }
            (status, _) if status >= 500 => (l.t(Key::ServerError).to_owned(), None, Next::RetrySameKey),
            // A used or invalid payment token, a reused key: start a fresh attempt.
            _ => (p.detail.clone(), None, Next::NewAttempt),
        };
        Failure {
            code: p.code.clone(),
            title,
            advice,
            next,
        }
    }
}

impl Checkout {
    /// The view after a payment: the summary's amount paid, balance and status, and the history, agree
    /// with the confirmation. The rule inputs stay as they were, so the result screen stays up until the
    /// buyer asks to pay again (which reloads everything from the API).
    pub fn after_payment(&self, response: &PaymentResponse) -> Checkout {
        let mut next = self.clone();
        let invoice = &mut next.view.invoice;
        invoice.amount_paid = response.invoice.amount_paid.clone();
        invoice.balance_due = response.invoice.balance_due.clone();
        invoice.status = response.invoice.status;
        // The plan fills in order (DESIGN 11): what this payment settled goes to the earliest open
        // installments, so the summary shows them paid without a reload.
        let currency = invoice.currency;
        let minor = |s: &str| Money::parse(s, currency).map_or(0, |m| m.minor_units());
        let mut settled = minor(&response.invoice.amount_paid) - minor(&self.view.invoice.amount_paid);
        for i in invoice.installments.iter_mut().flatten() {
            let take = (minor(&i.amount) - minor(&i.amount_paid)).clamp(0, settled.max(0));
            settled -= take;
            let paid = minor(&i.amount_paid) + take;
            if let Ok(m) = Money::from_minor_units(paid, currency) {
                i.amount_paid = m.to_string();
            }
            if paid >= minor(&i.amount) {
                i.status = InstallmentStatus::Paid;
            }
        }
        // The next one to pay becomes due once the ones before it are paid.
        let plan = invoice.installments.iter_mut().flatten();
        let mut open = plan.filter(|i| i.status != InstallmentStatus::Paid);
        if let Some(i) = open.find(|i| i.status != InstallmentStatus::Overdue) {
            if i.status == InstallmentStatus::Upcoming {
                i.status = InstallmentStatus::Due;
            }
        }
        if !next.view.payments.iter().any(|p| p.id == response.payment.id) {
            next.view.payments.push(response.payment.clone());
        }
        next
    }

    /// After a success answer that could not be read (a proxy's HTML, a newer API), decides from the
    /// invoice as re-read from the API (`after`, `None` if that failed too) whether the payment of `amount`
    /// was made. The payment counts as made only when `after` lists a payment this view did not have, of
    /// exactly that amount; anything else is unknown, and the only way on is the same Idempotency-Key,
    /// which the API answers with the saved result instead of charging again.
    pub fn confirm(&self, after: Option<&CheckoutView>, amount: &str) -> Result<PaymentResponse, Failure> {
        let unknown = || Failure {
            code: "payment_unconfirmed".into(),
            title: self.locale.t(Key::Unconfirmed).into(),
            advice: None,
            next: Next::RetrySameKey,
        };
        let Some(after) = after.filter(|a| a.invoice.id == self.view.invoice.id) else {
            return Err(unknown());
        };
        let wanted = Money::parse(amount, self.currency()).map_err(|_| unknown())?;
        let made = after.payments.iter().find(|p| {
            !self.view.payments.iter().any(|known| known.id == p.id)
                && matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::Pending)
                && Money::parse(&p.amount, self.currency()).is_ok_and(|m| m == wanted)
        });
        let payment = made.ok_or_else(unknown)?;
        Ok(PaymentResponse {
            payment: payment.clone(),
            invoice: InvoiceBalanceView {
                id: after.invoice.id.clone(),
                amount_paid: after.invoice.amount_paid.clone(),
                balance_due: after.invoice.balance_due.clone(),
                status: after.invoice.status,
            },
        })
    }
}

/// A payment that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub payment_id: String,
    pub amount: String,
    pub new_balance: String,
    pub pending: bool,
    pub can_pay_again: bool,
}

/// What the buyer can do after a failed payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing may have happened yet, or it may have: retry with the same Idempotency-Key.
    RetrySameKey,
    /// The attempt is over (declined, token used): new card details, new key.
    NewAttempt,
    /// The invoice changed: reload it and choose again.
    Reload,
    /// The link cannot be used.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub title: String,
    pub advice: Option<String>,
    pub next: Next,
}

/// `detail` of `tranche:ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyDetail {
    pub invoice_id: String,
    pub number: String,
    pub currency: &'static str,
    pub balance_due: String,
    pub status: &'static str,
}

/// `detail` of `tranche:amount-change`: what the seller's page can show next to the widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountChangeDetail {
    pub invoice_id: String,
    pub currency: &'static str,
    pub amount: Option<String>,
    pub valid: bool,
    pub code: Option<String>,
    pub remaining_after: Option<String>,
}

/// `detail` of `tranche:payment-succeeded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SucceededDetail {
    pub payment_id: String,
    pub amount: String,
    pub currency: &'static str,
    pub status: &'static str,
    pub invoice_id: String,
    pub amount_paid: String,
    pub balance_due: String,
    pub invoice_status: &'static str,
}

/// `detail` of `tranche:payment-failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDetail {
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
    pub advice: Option<String>,
    /// True when retrying with the same Idempotency-Key is the right next step.
    pub retryable: bool,
}

impl Checkout {
    pub fn ready_detail(&self) -> ReadyDetail {
        ReadyDetail {
            invoice_id: self.view.invoice.id.clone(),
            number: self.view.invoice.number.clone(),
            currency: self.currency().code(),
            balance_due: self.view.invoice.balance_due.clone(),
            status: self.view.invoice.status.as_str(),
        }
    }

    pub fn amount_change_detail(&self, eval: &Evaluation) -> AmountChangeDetail {
        AmountChangeDetail {
            invoice_id: self.view.invoice.id.clone(),
            currency: self.currency().code(),
            amount: eval.amount.clone(),
            valid: eval.amount.is_some(),
            code: eval.error.as_ref().map(|(c, _)| c.as_str().to_owned()),
            remaining_after: eval.remaining.clone(),
        }
    }
}

impl SucceededDetail {
    pub fn new(r: &PaymentResponse) -> SucceededDetail {
        SucceededDetail {
            payment_id: r.payment.id.clone(),
            amount: r.payment.amount.clone(),
            currency: r.payment.currency.code(),
            status: r.payment.status.as_str(),
            invoice_id: r.invoice.id.clone(),
            amount_paid: r.invoice.amount_paid.clone(),
            balance_due: r.invoice.balance_due.clone(),
            invoice_status: r.invoice.status.as_str(),
        }
    }
}

impl FailedDetail {
    pub fn new(failure: &Failure, problem: Option<&Problem>) -> FailedDetail {
        FailedDetail {
            code: failure.code.clone(),
            decline_code: problem.and_then(|p| p.decline_code.clone()),
            message: failure.title.clone(),
            advice: failure.advice.clone(),
            retryable: failure.next == Next::RetrySameKey,
        }
    }
}

impl ReadyDetail {
    pub fn to_fields(&self) -> Fields {
        vec![
            ("invoice_id", Out::from(&self.invoice_id)),
            ("number", Out::from(&self.number)),
            ("currency", Out::from(self.currency)),
            ("balance_due", Out::from(&self.balance_due)),
            ("status", Out::from(self.status)),
        ]
    }
}

impl AmountChangeDetail {
    pub fn to_fields(&self) -> Fields {
        vec![
            ("invoice_id", Out::from(&self.invoice_id)),
            ("currency", Out::from(self.currency)),
            ("amount", Out::from(&self.amount)),
            ("valid", Out::from(self.valid)),
            ("code", Out::from(&self.code)),
            ("remaining_after", Out::from(&self.remaining_after)),
        ]
    }
}

impl SucceededDetail {
    pub fn to_fields(&self) -> Fields {
        vec![
            ("payment_id", Out::from(&self.payment_id)),
            ("amount", Out::from(&self.amount)),
            ("currency", Out::from(self.currency)),
            ("status", Out::from(self.status)),
            ("invoice_id", Out::from(&self.invoice_id)),
            ("amount_paid", Out::from(&self.amount_paid)),
            ("balance_due", Out::from(&self.balance_due)),
            ("invoice_status", Out::from(self.invoice_status)),
        ]
    }
}

impl FailedDetail {
    pub fn to_fields(&self) -> Fields {
        vec![
            ("code", Out::from(&self.code)),
            ("decline_code", Out::from(&self.decline_code)),
            ("message", Out::from(&self.message)),
            ("advice", Out::from(&self.advice)),
            ("retryable", Out::from(self.retryable)),
        ]
    }
}
