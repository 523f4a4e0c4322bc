//! The widget's view model, natively: what the buyer sees for each choice, in each locale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use tranche_domain::wire::{
    format_date, parse_date, CheckoutView, GatewayView, InvoiceBalanceView, InvoiceView, OptionsView,
    PaymentResponse, PaymentStatus, PaymentView, Problem, RulesInput, SellerView,
};
use tranche_domain::wire::{AccountCustomerView, AccountInvoiceView, AccountView};
use tranche_domain::{
    payment_options, Currency, DiscountSpec, ErrorCode, InstallmentDue, InstallmentDueView,
    InstallmentStatus, InstallmentView, InvoiceTotals, Money, Terms, TermsSpec,
};
use tranche_widget::account::Account;
use tranche_widget::i18n::Locale;
use tranche_widget::model::{Checkout, Choice, Next, ReadOnly};
use tranche_widget::wire::{to_json, FromJson};

struct Fixture {
    currency: &'static str,
    total: &'static str,
    paid: &'static str,
    voided: bool,
    today: &'static str,
    terms: TermsSpec,
}

fn terms() -> TermsSpec {
    TermsSpec {
        allow_partial: true,
        minimum_amounts: BTreeMap::from([("USD".to_owned(), "50.00".to_owned())]),
        minimum_percent: Some("10".into()),
        presets: Some(vec!["10".into(), "25".into(), "50".into()]),
        preset_basis: None,
        early_payment_discount: Some(DiscountSpec {
            percent: "2".into(),
            within_days: 10,
        }),
        schedule: None,
        reminders: None,
        late_fee: None,
    }
}

fn usd() -> Fixture {
    Fixture {
        currency: "USD",
        total: "1000.00",
        paid: "0.00",
        voided: false,
        today: "2026-11-20",
        terms: terms(),
    }
}

fn checkout(f: Fixture, locale: &str) -> Checkout {
    checkout_with(f, locale, |_| {})
}

/// `checkout`, with the view changed (e.g. given a payment plan) before it goes over the wire.
fn checkout_with(f: Fixture, locale: &str, edit: impl FnOnce(&mut CheckoutView)) -> Checkout {
    let c = Currency::parse(f.currency).unwrap();
    let zero = Money::zero(c);
    let inv = InvoiceTotals::new(
        Money::parse(f.total, c).unwrap(),
        Money::parse(f.paid, c).unwrap(),
        zero,
        zero,
        f.voided,
        parse_date("2026-11-01").unwrap(),
    )
    .unwrap();
    let terms = Terms::try_from(&f.terms).unwrap();
    let today = parse_date(f.today).unwrap();
    let options = payment_options(&inv, &terms, today);
    let view = CheckoutView {
        seller: SellerView {
            name: "Northwind".into(),
        },
        invoice: InvoiceView {
            id: "inv_1".into(),
            number: "INV-1".into(),
            currency: c,
            customer_name: "Acme".into(),
            issue_date: "2026-11-01".into(),
            due_date: "2026-12-01".into(),
            lines: vec![],
            subtotal: f.total.into(),
            tax: zero.to_string(),
            late_fees: zero.to_string(),
            total: f.total.into(),
            amount_paid: f.paid.into(),
            discount_taken: zero.to_string(),
            amount_credited: zero.to_string(),
            amount_disputed: None,
            balance_due: inv.balance_due().to_string(),
            status: inv.status(),
            installments: None,
        },
        options: options.as_ref().ok().map(OptionsView::from),
        not_payable: options.as_ref().err().copied(),
        payments: vec![],
        gateway: GatewayView {
            kind: "sandbox".into(),
            fields_url: "http://api/sandbox/fields".into(),
            fields_origin: "http://api".into(),
            publishable_key: None,
            js_url: None,
        },
        rules: RulesInput::new(&inv, &terms, today),
    };
    let mut view = view;
    edit(&mut view);
    // The widget gets this over the wire: prove it survives JSON.
    let json = serde_json::to_string(&view).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    Checkout::new(CheckoutView::from_json(&parsed).unwrap(), Locale::parse(locale))
}

#[test]
fn presets_show_amounts_and_disable_below_minimum() {
    let c = checkout(usd(), "en");
    let presets = c.presets();
    assert_eq!(presets.len(), 3);
    assert_eq!(presets[0].label, "10% · $100.00");
    assert!(presets[0].enabled, "10% of 1000 = 100 >= max(50, 100)");
    assert_eq!(presets[1].label, "25% · $250.00");
    let mut f = usd();
    f.terms.minimum_amounts.insert("USD".into(), "150.00".into());
    let c = checkout(f, "en");
    let p = &c.presets()[0];
    assert!(!p.enabled);
    assert_eq!(p.reason.as_deref(), Some("The minimum payment is $150.00."));
}

#[test]
fn picking_a_preset_shows_the_amount_and_remaining_balance() {
    let c = checkout(usd(), "en");
    let e = c.evaluate(&Choice::Preset(1), "");
    assert_eq!(e.amount.as_deref(), Some("250.00"));
    assert_eq!(e.display.as_deref(), Some("$250.00"));
    assert_eq!(e.remaining_after.as_deref(), Some("$750.00"));
    assert_eq!(e.error, None);
    let detail = to_json(&c.amount_change_detail(&e).to_fields());
    assert_eq!(detail["amount"], "250.00");
    assert_eq!(detail["remaining_after"], "750.00");
    assert_eq!(detail["valid"], true);
    assert_eq!(detail["currency"], "USD");
    let bad = to_json(
        &c.amount_change_detail(&c.evaluate(&Choice::Custom, "1"))
            .to_fields(),
    );
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["code"], "amount_below_minimum");
    assert_eq!(bad["amount"], serde_json::Value::Null);
}

#[test]
fn free_amount_is_validated_with_the_domain_messages() {
    let c = checkout(usd(), "en");
    let cases = [
        (
            "99.99",
            Some("amount_below_minimum"),
            "The minimum payment is $100.00.",
        ),
        (
            "1000.01",
            Some("amount_exceeds_balance"),
            "That is more than the balance due. The most you can pay is $1,000.00.",
        ),
        ("12.345", Some("amount_precision"), ""),
        (
            "12,5",
            Some("amount_malformed"),
            "Enter the amount as a number, for example 1,250.00.",
        ),
        (
            "0",
            Some("amount_not_positive"),
            "Enter an amount greater than zero.",
        ),
        ("1,000", None, ""),
        ("150", None, ""),
    ];
    for (input, code, message) in cases {
        let e = c.evaluate(&Choice::Custom, input);
        assert_eq!(e.error.as_ref().map(|(c, _)| c.as_str()), code, "{input}");
        if !message.is_empty() {
            assert_eq!(e.error.as_ref().unwrap().1, message);
        }
        assert_eq!(e.amount.is_some(), code.is_none());
    }
    assert_eq!(
        c.evaluate(&Choice::Custom, "  ").error,
        None,
        "an empty field is not an error yet"
    );
}

#[test]
fn german_input_and_output() {
    let c = checkout(usd(), "de-DE");
    let e = c.evaluate(&Choice::Custom, "1.000,00");
    assert_eq!(e.amount.as_deref(), Some("1000.00"));
    assert_eq!(e.display.as_deref(), Some("1.000,00\u{a0}$"));
    let e = c.evaluate(&Choice::Custom, "50");
    assert_eq!(e.error.unwrap().1, "Der Mindestbetrag ist 100,00\u{a0}$.");
    assert_eq!(c.input_text("1234.50"), "1.234,50");
}

#[test]
fn jpy_and_kwd_exponents() {
    let mut f = usd();
    f.currency = "JPY";
    f.total = "120000";
    f.paid = "0";
    f.terms.minimum_amounts.clear();
    let c = checkout(f, "en");
    assert_eq!(
        c.evaluate(&Choice::Custom, "12000").amount.as_deref(),
        Some("12000")
    );
    assert_eq!(
        c.evaluate(&Choice::Custom, "12000.5").error.unwrap().0,
        ErrorCode::AmountPrecision
    );
    let mut f = usd();
    f.currency = "KWD";
    f.total = "250.000";
    f.paid = "0.000";
    f.terms.minimum_amounts.clear();
    let c = checkout(f, "fr");
    let e = c.evaluate(&Choice::Custom, "25,125");
    assert_eq!(e.amount.as_deref(), Some("25.125"));
    assert_eq!(e.remaining_after.as_deref(), Some("224,875\u{a0}KWD"));
}

#[test]
fn discount_offer_while_the_window_is_open() {
    let mut f = usd();
    f.today = "2026-11-05";
    let c = checkout(f, "en");
    let (amount, text) = c.discount_offer().unwrap();
    assert_eq!(amount, "980.00");
    assert_eq!(text, "Pay the balance by Nov 11, 2026 and save $20.00");
    let e = c.evaluate(&Choice::Discount, "");
    assert_eq!(e.discount.as_deref(), Some("$20.00"));
    assert_eq!(e.remaining_after.as_deref(), Some("$0.00"));
    assert!(
        checkout(usd(), "en").discount_offer().is_none(),
        "closed on Nov 20"
    );
}

#[test]
fn last_remainder_below_minimum_is_offered_and_accepted() {
    let mut f = usd();
    f.paid = "980.00";
    let c = checkout(f, "en");
    assert_eq!(c.minimum_hint(), None, "minimum == maximum: no hint");
    assert_eq!(c.evaluate(&Choice::Full, "").amount.as_deref(), Some("20.00"));
    assert_eq!(c.evaluate(&Choice::Custom, "20").amount.as_deref(), Some("20.00"));
}

#[test]
fn paid_and_void_invoices_are_read_only() {
    let mut f = usd();
    f.paid = "1000.00";
    assert_eq!(checkout(f, "en").read_only(), Some(ReadOnly::Paid));
    let mut f = usd();
    f.voided = true;
    let c = checkout(f, "es");
    assert_eq!(c.read_only(), Some(ReadOnly::Void));
    assert_eq!(c.status_label(), "Anulada");
    assert_eq!(checkout(usd(), "en").read_only(), None);
}

#[test]
fn failures_are_specific_and_say_what_to_do_next() {
    let c = checkout(usd(), "en");
    let network = c.failure(None);
    assert_eq!(network.next, Next::RetrySameKey);
    assert!(network.title.contains("will not charge you twice"));

    let mut declined = Problem::new(ErrorCode::PaymentDeclined, "Payment declined", "declined");
    declined.decline_code = Some("insufficient_funds".into());
    let f = c.failure(Some(&declined));
    assert_eq!(f.title, "Payment declined");
    assert_eq!(f.next, Next::NewAttempt);
    assert!(f.advice.unwrap().contains("smaller part"));

    let mut below = Problem::new(ErrorCode::AmountExceedsBalance, "Amount not accepted", "x");
    below.maximum = Some("700.00".into());
    let f = c.failure(Some(&below));
    assert_eq!(f.next, Next::Reload);
    assert_eq!(
        f.advice.unwrap(),
        "That is more than the balance due. The most you can pay is $700.00."
    );

    let in_use = Problem::new(ErrorCode::IdempotencyKeyInUse, "t", "d");
    assert_eq!(c.failure(Some(&in_use)).next, Next::RetrySameKey);
    let expired = Problem::new(ErrorCode::InvalidCheckoutToken, "t", "d");
    assert_eq!(c.failure(Some(&expired)).next, Next::Stop);
    let boom = Problem::new(ErrorCode::InternalError, "t", "d");
    assert_eq!(c.failure(Some(&boom)).next, Next::RetrySameKey);
}

#[test]
fn a_partial_payment_result_offers_pay_again() {
    let c = checkout(usd(), "en");
    let response = PaymentResponse {
        payment: PaymentView {
            id: "pay_1".into(),
            amount: "250.00".into(),
            currency: Currency::USD,
            status: PaymentStatus::Succeeded,
            method: Some("visa •••• 4242".into()),
            discount: None,
            created_at: "2026-11-20T10:00:00Z".into(),
        },
        invoice: InvoiceBalanceView {
            id: "inv_1".into(),
            amount_paid: "250.00".into(),
            balance_due: "750.00".into(),
            status: tranche_domain::InvoiceStatus::PartiallyPaid,
        },
    };
    let o = c.apply(&response);
    assert_eq!(o.amount, "$250.00");
    assert_eq!(o.new_balance, "$750.00");
    assert!(o.can_pay_again);
    assert!(!o.pending);
    let _ = format_date(parse_date("2026-11-01").unwrap());
}

fn payment(id: &str, amount: &str, status: PaymentStatus) -> PaymentView {
    PaymentView {
        id: id.into(),
        amount: amount.into(),
        currency: Currency::USD,
        status,
        method: Some("visa •••• 4242".into()),
        discount: None,
        created_at: "2026-11-20T10:00:00Z".into(),
    }
}

/// The invoice as the API would show it after `payments` (amounts as paid, balance from a total of 1000).
fn reread(c: &Checkout, payments: Vec<PaymentView>, paid: &str, balance: &str) -> CheckoutView {
    let mut view = c.view.clone();
    view.payments = payments;
    view.invoice.amount_paid = paid.into();
    view.invoice.balance_due = balance.into();
    view.invoice.status = tranche_domain::InvoiceStatus::PartiallyPaid;
    view
}

#[test]
fn an_unreadable_success_is_settled_from_the_invoice_never_called_a_failure() {
    let mut f = usd();
    f.paid = "100.00";
    let mut c = checkout(f, "en");
    c.view.payments = vec![payment("pay_old", "100.00", PaymentStatus::Succeeded)];
    // The re-read lists a new payment of exactly the amount sent: it went through.
    let after = reread(
        &c,
        vec![
            payment("pay_old", "100.00", PaymentStatus::Succeeded),
            payment("pay_new", "250.00", PaymentStatus::Succeeded),
        ],
        "350.00",
        "650.00",
    );
    let response = c.confirm(Some(&after), "250.00").unwrap();
    assert_eq!(response.payment.id, "pay_new");
    assert_eq!(response.invoice.amount_paid, "350.00");
    assert_eq!(response.invoice.balance_due, "650.00");
    let outcome = c.apply(&response);
    assert_eq!(outcome.new_balance, "$650.00");
    assert!(outcome.can_pay_again);
    // Pending counts as made too (the gateway took it; the money follows).
    let pending = reread(
        &c,
        vec![payment("pay_new", "250.00", PaymentStatus::Pending)],
        "100.00",
        "900.00",
    );
    assert!(c.confirm(Some(&pending), "250.00").unwrap().payment.status == PaymentStatus::Pending);
}

#[test]
fn an_unconfirmed_payment_is_only_ever_retried_with_the_same_key() {
    let mut c = checkout(usd(), "en");
    c.view.payments = vec![payment("pay_old", "250.00", PaymentStatus::Succeeded)];
    let cases: Vec<(&str, Option<CheckoutView>)> = vec![
        ("the re-read failed too", None),
        (
            "no new payment yet",
            Some(reread(&c, c.view.payments.clone(), "250.00", "750.00")),
        ),
        (
            "an earlier payment of the same amount is not this one",
            Some(reread(
                &c,
                vec![payment("pay_old", "250.00", PaymentStatus::Succeeded)],
                "250.00",
                "750.00",
            )),
        ),
        (
            "a new payment of another amount (someone else's) is not this one",
            Some(reread(
                &c,
                vec![payment("pay_other", "100.00", PaymentStatus::Succeeded)],
                "100.00",
                "900.00",
            )),
        ),
        (
            "a failed payment is not a charge",
            Some(reread(
                &c,
                vec![payment("pay_new", "250.00", PaymentStatus::Failed)],
                "0.00",
                "1000.00",
            )),
        ),
        ("another invoice's view", {
            let mut v = reread(
                &c,
                vec![payment("pay_new", "250.00", PaymentStatus::Succeeded)],
                "250.00",
                "750.00",
            );
            v.invoice.id = "inv_2".into();
            Some(v)
        }),
    ];
    for (case, after) in cases {
        let failure = c.confirm(after.as_ref(), "250.00").unwrap_err();
        assert_eq!(failure.code, "payment_unconfirmed", "{case}");
        assert_eq!(failure.next, Next::RetrySameKey, "{case}: never a new key");
        assert!(failure.title.contains("never charge you twice"), "{case}");
    }
    // The German text says the same.
    let de = checkout(usd(), "de").confirm(None, "250.00").unwrap_err();
    assert!(de.title.contains("nie doppelt"));
}

#[test]
fn after_a_payment_the_summary_agrees_with_the_confirmation() {
    let c = checkout(usd(), "en");
    let response = PaymentResponse {
        payment: payment("pay_1", "250.00", PaymentStatus::Succeeded),
        invoice: InvoiceBalanceView {
            id: "inv_1".into(),
            amount_paid: "250.00".into(),
            balance_due: "750.00".into(),
            status: tranche_domain::InvoiceStatus::PartiallyPaid,
        },
    };
    let next = c.after_payment(&response);
    assert_eq!(next.view.invoice.amount_paid, "250.00");
    assert_eq!(next.view.invoice.balance_due, "750.00");
    assert_eq!(next.status_label(), "Partially paid");
    assert_eq!(next.view.payments.len(), 1, "the history lists it");
    assert_eq!(
        next.read_only(),
        None,
        "the result screen stays until the buyer asks to pay again"
    );
    // Applying the same answer twice (a replay) lists the payment once.
    assert_eq!(next.after_payment(&response).view.payments.len(), 1);
    // Paid in full: the status says so.
    let mut full = response.clone();
    full.invoice.amount_paid = "1000.00".into();
    full.invoice.balance_due = "0.00".into();
    full.invoice.status = tranche_domain::InvoiceStatus::Paid;
    assert_eq!(c.after_payment(&full).status_label(), "Paid");
}

/// A 30/40/30 plan on $1,000.00 with a $50.00 / 10% minimum: installment 1 is $300.00 due, then
/// $400.00 and $300.00 upcoming. `due` is the installment amount the API says is due now.
fn with_plan(due: &'static str) -> impl FnOnce(&mut CheckoutView) {
    move |view: &mut CheckoutView| {
        let row = |number, date: &str, amount: &str, status| InstallmentView {
            number,
            due_date: date.into(),
            amount: amount.into(),
            amount_paid: "0.00".into(),
            status,
        };
        view.invoice.installments = Some(vec![
            row(1, "2026-11-25", "300.00", InstallmentStatus::Due),
            row(2, "2026-12-25", "400.00", InstallmentStatus::Upcoming),
            row(3, "2027-01-25", "300.00", InstallmentStatus::Upcoming),
        ]);
        let due = InstallmentDue {
            number: 1,
            due_date: parse_date("2026-11-25").unwrap(),
            amount_due: Money::parse(due, Currency::parse("USD").unwrap()).unwrap(),
        };
        view.rules = view.rules.clone().with_installment(Some(&due));
        view.options.as_mut().unwrap().installment = Some(InstallmentDueView::from(&due));
    }
}

#[test]
fn the_installment_due_is_accepted_below_the_minimum_and_one_cent_less_is_not() {
    // $40.00 due (say, the rest of installment 1) is below the $100.00 minimum (10% of $1,000.00).
    let c = checkout_with(usd(), "en", with_plan("40.00"));
    assert_eq!(
        c.default_choice(),
        Choice::Installment,
        "offered first and selected"
    );
    let e = c.evaluate(&Choice::Installment, "");
    assert_eq!(e.amount.as_deref(), Some("40.00"), "{e:?}");
    assert_eq!(e.remaining_after.as_deref(), Some("$960.00"));
    // Typed by hand, the same amount is just as payable (the server would accept it too).
    assert_eq!(
        c.evaluate(&Choice::Custom, "40.00").amount.as_deref(),
        Some("40.00")
    );
    // One cent less is an ordinary partial payment, below the minimum: refused, as the server would.
    let e = c.evaluate(&Choice::Custom, "39.99");
    assert_eq!(e.error.map(|(code, _)| code), Some(ErrorCode::AmountBelowMinimum));
    // Without the plan the same $40.00 is refused: the plan is what makes it payable.
    let plain = checkout(usd(), "en");
    assert_eq!(
        plain
            .evaluate(&Choice::Custom, "40.00")
            .error
            .map(|(code, _)| code),
        Some(ErrorCode::AmountBelowMinimum)
    );
    assert_eq!(plain.default_choice(), Choice::Full);
}

#[test]
fn the_plan_is_listed_and_the_installment_is_the_first_choice() {
    let c = checkout_with(usd(), "en", with_plan("300.00"));
    let rows = c.plan_rows();
    assert_eq!(
        rows[0],
        [
            "1".to_owned(),
            "Nov 25, 2026".into(),
            "$300.00".into(),
            "Due now".into()
        ]
    );
    assert_eq!(rows[1][3], "Upcoming");
    assert_eq!(rows.len(), 3);
    let choices = c.choices();
    assert_eq!(choices[0].0, Choice::Installment);
    assert_eq!(choices[0].1, "installment");
    assert_eq!(choices[0].2.label, "Pay installment 1 · $300.00");
    assert_eq!(choices.last().unwrap().0, Choice::Full);
    // In German, through the same formatting as the rest of the widget.
    let de = checkout_with(usd(), "de", with_plan("300.00"));
    assert_eq!(de.choices()[0].2.label, "Rate 1 zahlen · 300,00\u{a0}$");
    assert_eq!(de.plan_rows()[1][3], "Anstehend");
    // Without a plan: no rows, no installment choice.
    assert!(checkout(usd(), "en").plan_rows().is_empty());
    assert_ne!(checkout(usd(), "en").choices()[0].0, Choice::Installment);
}

#[test]
fn paying_the_installment_shows_it_paid_and_the_next_one_due() {
    let c = checkout_with(usd(), "en", with_plan("300.00"));
    let response = PaymentResponse {
        payment: payment("pay_1", "300.00", PaymentStatus::Succeeded),
        invoice: InvoiceBalanceView {
            id: "inv_1".into(),
            amount_paid: "300.00".into(),
            balance_due: "700.00".into(),
            status: tranche_domain::InvoiceStatus::PartiallyPaid,
        },
    };
    let rows = c.after_payment(&response).plan_rows();
    let statuses: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(statuses, ["Paid", "Due now", "Upcoming"]);
    // A pending payment (nothing settled yet) changes no installment.
    let mut pending = response.clone();
    pending.invoice.amount_paid = "0.00".into();
    let rows = c.after_payment(&pending).plan_rows();
    assert_eq!(rows[0][3], "Due now");
    // A payment spilling over fills installment 2 in part: it stays due.
    let mut more = response;
    more.invoice.amount_paid = "500.00".into();
    let next = c.after_payment(&more);
    assert_eq!(
        next.view.invoice.installments.as_ref().unwrap()[1].amount_paid,
        "200.00"
    );
    assert_eq!(next.plan_rows()[1][3], "Due now");
}

/// An account of the fixture's invoices (as `GET /v1/account` gives them), read from JSON as the widget does.
fn account(invoices: Vec<(&str, Checkout)>) -> Account {
    let first = &invoices[0].1.view;
    let view = AccountView {
        seller: first.seller.clone(),
        customer: AccountCustomerView {
            id: "cus_1".into(),
            name: "Acme".into(),
        },
        invoices: invoices
            .iter()
            .map(|(id, c)| {
                let mut invoice = c.view.invoice.clone();
                invoice.id = (*id).into();
                invoice.number = id.to_uppercase();
                AccountInvoiceView {
                    invoice,
                    options: c.view.options.clone(),
                    not_payable: c.view.not_payable,
                    rules: c.view.rules.clone(),
                }
            })
            .collect(),
        total_open: vec![],
        gateway: first.gateway.clone(),
    };
    let parsed = serde_json::to_value(&view).unwrap();
    let read = AccountView::from_json(&parsed).unwrap();
    assert_eq!(read, view, "the account reads as serde reads it");
    Account::new(read, Locale::En)
}

#[test]
fn an_account_judges_each_invoice_by_its_own_rules_and_totals_one_currency() {
    let a = account(vec![
        ("inv_a", checkout(usd(), "en")),
        ("inv_b", checkout(usd(), "en")),
    ]);
    let some = |s: &str| Some(s.to_owned());
    // Nothing selected: no total, nothing to pay.
    assert_eq!(a.evaluate(&[None, None]).total, None);
    // "Pay all" fills each balance.
    assert_eq!(a.full_text(0), "1,000.00");
    let all = a.evaluate(&[some(&a.full_text(0)), some(&a.full_text(1))]);
    assert_eq!(all.total, Some(("2000.00".into(), "$2,000.00".into())));
    // One amount below the $100.00 minimum (10 % of 1000): refused at that invoice, and no total.
    let s = a.evaluate(&[some("250"), some("20")]);
    assert_eq!(s.rows[0].amount.as_deref(), Some("250.00"));
    assert_eq!(s.rows[1].error.as_ref().unwrap().0, ErrorCode::AmountBelowMinimum);
    assert_eq!(s.total, None);
    let s = a.evaluate(&[some("250"), some("100.05")]);
    assert_eq!(s.total.as_ref().unwrap().1, "$350.05");
    let body: Vec<serde_json::Value> = a.allocations(&s).iter().map(to_json).collect();
    assert_eq!(
        body,
        vec![
            serde_json::json!({"invoice_id": "inv_a", "amount": "250.00"}),
            serde_json::json!({"invoice_id": "inv_b", "amount": "100.05"}),
        ]
    );
    // Only the selected invoices are allocated.
    let s = a.evaluate(&[None, some("100")]);
    assert_eq!(a.allocations(&s).len(), 1);
    assert_eq!(s.total.unwrap().0, "100.00");
}

#[test]
fn an_account_never_adds_currencies_and_shows_a_refusal_at_its_invoice() {
    let mut eur = usd();
    eur.currency = "EUR";
    eur.terms.minimum_amounts.clear();
    let a = account(vec![
        ("inv_a", checkout(usd(), "en")),
        ("inv_e", checkout(eur, "en")),
    ]);
    let s = a.evaluate(&[Some("200".into()), Some("200".into())]);
    assert_eq!(s.total, None);
    assert_eq!(
        s.problem.as_deref(),
        Some("Choose invoices in one currency for one payment.")
    );
    let mut p = Problem::untyped(422, "amount_below_minimum", "Amount below minimum", "x");
    p.invoice_id = Some("inv_e".into());
    p.minimum = Some("100.00".into());
    let (at, text) = a.problem_at(&p).unwrap();
    assert_eq!(at, 1);
    assert!(text.contains("minimum"), "{text}");
    p.invoice_id = Some("inv_other".into());
    assert_eq!(a.problem_at(&p), None);
}
