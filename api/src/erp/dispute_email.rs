//! The buyer's email when the seller resolves their dispute (`dispute.resolved`): plain text in the
//! customer's language (en, de, fr, es; en otherwise), rendered with minijinja like the reminders, with a
//! fresh checkout link when something is still to pay. Sent through the outbox and the relay, so an SMTP
//! outage delays it and loses none. Plain text only: nothing the buyer typed (their note) is in it.

use anyhow::Context;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use tranche_domain::format::format_amount;

use crate::erp::events::DisputeResolved;
use crate::state::AppState;
use crate::store::customers;

/// What the templates are rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct Values {
    pub invoice_number: String,
    pub disputed: String,
    pub credited: String,
    pub rejected: String,
    /// Something was credited / something went back to payable.
    pub any_credit: bool,
    pub any_rejected: bool,
    pub balance: String,
    /// Empty when nothing is left to pay.
    pub pay_url: String,
    pub seller_name: String,
    pub customer_name: String,
}

/// `(subject, text)` built in for a language.
fn builtin(locale: &str) -> (&'static str, &'static str) {
    match locale.split(['-', '_']).next().unwrap_or("en") {
        "de" => (
            "Ihre Reklamation zu Rechnung {{ invoice_number }} von {{ seller_name }}",
            "Guten Tag {{ customer_name }},\n\nwir haben Ihre Reklamation über {{ disputed }} zu Rechnung {{ invoice_number }} geprüft.\n{% if any_credit %}Wir haben {{ credited }} gutgeschrieben.\n{% endif %}{% if any_rejected %}{{ rejected }} haben wir nicht anerkannt; dieser Betrag ist wieder zahlbar.\n{% endif %}\nOffener Betrag: {{ balance }}\n{% if pay_url %}\nOnline bezahlen: {{ pay_url }}\n{% endif %}\nMit freundlichen Grüßen\n{{ seller_name }}\n",
        ),
        "fr" => (
            "Votre contestation de la facture {{ invoice_number }} de {{ seller_name }}",
            "Bonjour {{ customer_name }},\n\nNous avons examiné votre contestation de {{ disputed }} sur la facture {{ invoice_number }}.\n{% if any_credit %}Nous avons crédité {{ credited }}.\n{% endif %}{% if any_rejected %}Nous n'avons pas retenu {{ rejected }} : ce montant est de nouveau à payer.\n{% endif %}\nMontant dû : {{ balance }}\n{% if pay_url %}\nPayer en ligne : {{ pay_url }}\n{% endif %}\nCordialement,\n{{ seller_name }}\n",
        ),
        "es" => (
            "Su reclamación de la factura {{ invoice_number }} de {{ seller_name }}",
            "Hola {{ customer_name }}:\n\nHemos revisado su reclamación de {{ disputed }} en la factura {{ invoice_number }}.\n{% if any_credit %}Hemos abonado {{ credited }}.\n{% endif %}{% if any_rejected %}No hemos aceptado {{ rejected }}: ese importe vuelve a estar pendiente de pago.\n{% endif %}\nImporte pendiente: {{ balance }}\n{% if pay_url %}\nPagar en línea: {{ pay_url }}\n{% endif %}\nAtentamente,\n{{ seller_name }}\n",
        ),
        _ => (
            "Your dispute on invoice {{ invoice_number }} from {{ seller_name }}",
            "Hello {{ customer_name }},\n\nWe have reviewed your dispute of {{ disputed }} on invoice {{ invoice_number }}.\n{% if any_credit %}We credited {{ credited }}.\n{% endif %}{% if any_rejected %}We did not accept {{ rejected }}: that amount is payable again.\n{% endif %}\nBalance due: {{ balance }}\n{% if pay_url %}\nPay online: {{ pay_url }}\n{% endif %}\nKind regards,\n{{ seller_name }}\n",
        ),
    }
}

/// Renders `(subject, text)` in the customer's language; the subject is one line.
pub fn render(values: &Values, locale: &str) -> anyhow::Result<(String, String)> {
    let mut env = Environment::new();
    // A placeholder that is not set is an error, never an empty string in a buyer's email.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let (subject, text) = builtin(locale);
    let subject = env
        .render_str(subject, values)
        .context("rendering the dispute subject")?;
    let text = env
        .render_str(text, values)
        .context("rendering the dispute text")?;
    Ok((subject.split_whitespace().collect::<Vec<_>>().join(" "), text))
}

fn is_zero(amount: &str) -> bool {
    amount.bytes().all(|b| b == b'0' || b == b'.')
}

/// Delivers the email of one `dispute.resolved` event.
pub async fn send(state: &AppState, seller_id: &str, event: &DisputeResolved) -> anyhow::Result<()> {
    let seller_name = crate::store::sellers::receipt_settings(&state.db, seller_id)
        .await?
        .0;
    let locale = customers::customer_locale(&state.db, &event.customer_id).await?;
    let customer_name = crate::store::invoices::find(&state.db, seller_id, &event.invoice_id)
        .await?
        .context("the disputed invoice is gone")?
        .customer_name;
    let pay_url = if is_zero(&event.invoice_balance_after) {
        String::new()
    } else {
        let ttl = state.settings.checkout_link_ttl_seconds;
        crate::tokens::mint_link(state, seller_id, &event.invoice_id, ttl, None)
            .await?
            .url
    };
    let money = |amount: &str| format!("{} {}", format_amount(amount, &locale), event.currency);
    let values = Values {
        invoice_number: event.invoice_number.clone(),
        disputed: money(&event.amount),
        credited: money(&event.amount_credited),
        rejected: money(&event.amount_rejected),
        any_credit: !is_zero(&event.amount_credited),
        any_rejected: !is_zero(&event.amount_rejected),
        balance: money(&event.invoice_balance_after),
        pay_url,
        seller_name: seller_name.clone(),
        customer_name: customer_name.clone(),
    };
    let (subject, text) = render(&values, &locale)?;
    crate::erp::receipts::send_plain(
        state,
        crate::erp::receipts::PlainEmail {
            seller_name,
            customer_name,
            to: &event.sent_to,
            subject,
            text,
            domain: "tranche.disputes",
            id: &event.dispute_id,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_language_renders_both_outcomes() {
        for (locale, word) in [
            ("en", "dispute"),
            ("de-DE", "Reklamation"),
            ("fr", "contestation"),
            ("es", "reclamación"),
            ("pt", "dispute"),
        ] {
            for (credit, rejected) in [(true, false), (false, true), (true, true)] {
                let values = Values {
                    invoice_number: "INV-7".into(),
                    disputed: "300.00 USD".into(),
                    credited: "100.00 USD".into(),
                    rejected: "200.00 USD".into(),
                    any_credit: credit,
                    any_rejected: rejected,
                    balance: "900.00 USD".into(),
                    pay_url: "https://pay.example/pay/t".into(),
                    seller_name: "Northwind".into(),
                    customer_name: "Acme".into(),
                };
                let (subject, text) = render(&values, locale).unwrap();
                assert!(subject.contains("INV-7") && !subject.contains('\n'), "{subject}");
                assert!(text.contains(word) || subject.contains(word), "{locale}: {text}");
                assert_eq!(text.contains("100.00 USD"), credit, "{locale}: {text}");
                assert_eq!(text.contains("200.00 USD"), rejected, "{locale}: {text}");
                assert!(text.contains("https://pay.example/pay/t"));
            }
        }
    }
}
