//! Account mode's view model (DESIGN 12): one customer's open invoices, an amount for each, one payment.
//! Each invoice becomes a [`Checkout`] built from its own rule inputs, so every amount is judged by the same
//! domain functions (and the same sentences) as a single invoice's checkout; this module only adds the
//! selection, the total and the request body. Plain Rust, tested natively.

use tranche_domain::wire::{AccountView, CheckoutView, Problem};
use tranche_domain::{AmountRejected, Currency, Money};

use crate::i18n::{Key, Locale};
use crate::model::{Checkout, Choice, Evaluation};
use crate::wire::{Fields, Out};

/// Whether `token` is an account token: its JWT payload's `aud` is `tranche-account`. Read without
/// verifying anything, only to pick the mode before the first request; the API verifies the signature and
/// refuses a token on the other kind's routes, so a forged `aud` only shows the wrong screen's error.
pub fn is_account_token(token: &str) -> bool {
    token
        .split('.')
        .nth(1)
        .and_then(base64url)
        .is_some_and(|payload| {
            let text = String::from_utf8_lossy(&payload);
            text.contains(r#""aud":"tranche-account""#)
        })
}

/// Decodes unpadded base64url (a JWT segment); `None` on any other character.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// An account loaded from the API; `invoices[i]` is the checkout of `view.invoices[i]`.
#[derive(Debug, Clone)]
pub struct Account {
    pub view: AccountView,
    pub locale: Locale,
    pub invoices: Vec<Checkout>,
}

/// The whole selection judged: one evaluation per invoice (default when not selected), and the total when
/// every selected amount is payable and they share one currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub rows: Vec<Evaluation>,
    /// Canonical and formatted total.
    pub total: Option<(String, String)>,
    /// Why there is no total although something is selected (mixed currencies).
    pub problem: Option<String>,
}

impl Account {
    pub fn new(view: AccountView, locale: Locale) -> Account {
        let invoices = view
            .invoices
            .iter()
            .map(|i| {
                Checkout::new(
                    CheckoutView {
                        seller: view.seller.clone(),
                        invoice: i.invoice.clone(),
                        options: i.options.clone(),
                        not_payable: i.not_payable,
                        payments: Vec::new(),
                        gateway: view.gateway.clone(),
                        rules: i.rules.clone(),
                    },
                    locale,
                )
            })
            .collect();
        Account {
            view,
            locale,
            invoices,
        }
    }

    /// The text for the amount field of invoice `i` when "Pay all" fills its balance (the payable rest:
    /// disputed amounts are held out by the rules), or empty when it takes no payment now.
    pub fn full_text(&self, i: usize) -> String {
        let c = &self.invoices[i];
        c.evaluate(&Choice::Full, "")
            .amount
            .map(|a| c.input_text(&a))
            .unwrap_or_default()
    }

    /// Judges what the buyer typed; `inputs[i]` is `None` for an invoice not selected.
    pub fn evaluate(&self, inputs: &[Option<String>]) -> Selection {
        let mut total: Option<Money> = None;
        let mut ok = true;
        let mut any = false;
        let mut problem = None;
        let rows = self
            .invoices
            .iter()
            .zip(inputs)
            .map(|(c, input)| {
                let Some(input) = input else {
                    return Evaluation::default();
                };
                any = true;
                let e = c.evaluate(&Choice::Custom, input);
                let money = e
                    .amount
                    .as_deref()
                    .and_then(|a| Money::parse(a, c.currency()).ok());
                match (money, &total) {
                    (None, _) => ok = false,
                    (Some(m), None) => total = Some(m),
                    (Some(m), Some(t)) => match t.checked_add(&m) {
                        Ok(sum) => total = Some(sum),
                        Err(_) => {
                            ok = false;
                            problem = Some(self.locale.t(Key::OneCurrency).to_owned());
                        }
                    },
                }
                e
            })
            .collect();
        let total = total.filter(|_| ok && any).map(|t| {
            let canonical = t.to_string();
            let shown = self.locale.money(&canonical, t.currency());
            (canonical, shown)
        });
        Selection { rows, total, problem }
    }

    /// The currency of the selection's total, for the fields page.
    pub fn currency_of(&self, inputs: &[Option<String>]) -> Option<Currency> {
        self.invoices
            .iter()
            .zip(inputs)
            .find(|(_, i)| i.is_some())
            .map(|(c, _)| c.currency())
    }

    /// The allocations of `POST /v1/account/payments`, in invoice order: `(invoice_id, amount)`.
    pub fn allocations(&self, selection: &Selection) -> Vec<Fields> {
        self.invoices
            .iter()
            .zip(&selection.rows)
            .filter_map(|(c, e)| {
                let amount = e.amount.as_ref()?;
                Some(vec![
                    ("invoice_id", Out::from(&c.view.invoice.id)),
                    ("amount", Out::from(amount)),
                ])
            })
            .collect()
    }

    /// Which invoice row a refusal names (a 422 with `invoice_id`), and the sentence to show there.
    pub fn problem_at(&self, problem: &Problem) -> Option<(usize, String)> {
        let id = problem.invoice_id.as_deref()?;
        let i = self.invoices.iter().position(|c| c.view.invoice.id == id)?;
        let c = &self.invoices[i];
        // An amount rule the server applied (the balance moved since the view loaded): its own sentence,
        // with the limit the server gave, rather than the one-invoice checkout's "balance changed".
        let code = problem.error_code();
        let text = match code.filter(|c| AmountRejected::CODES.contains(c)) {
            Some(code) => {
                let limit = problem.minimum.as_ref().or(problem.maximum.as_ref());
                self.locale
                    .rejection(code, &limit.map(|m| c.money(m)).unwrap_or_default())
            }
            None => c.failure(Some(problem)).title,
        };
        Some((i, text))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn account_tokens_are_told_apart_by_their_audience() {
        // base64url of {"aud":"tranche-account","sub":"cus_1"} and of the checkout's audience.
        let account = "eyJhbGciOiJFZERTQSJ9.eyJhdWQiOiJ0cmFuY2hlLWFjY291bnQiLCJzdWIiOiJjdXNfMSJ9.sig";
        let checkout = "eyJhbGciOiJFZERTQSJ9.eyJhdWQiOiJ0cmFuY2hlLWNoZWNrb3V0Iiwic3ViIjoiaW52XzEifQ.sig";
        assert!(is_account_token(account));
        assert!(!is_account_token(checkout));
        assert!(!is_account_token("not a token"));
        assert!(!is_account_token("a.b*c.d"));
    }

    #[test]
    fn base64url_decodes_every_tail_length() {
        assert_eq!(base64url("TWFu").unwrap(), b"Man");
        assert_eq!(base64url("TWE").unwrap(), b"Ma");
        assert_eq!(base64url("TQ").unwrap(), b"M");
        assert_eq!(base64url("-_8").unwrap(), [0xfb, 0xff]);
    }
}
