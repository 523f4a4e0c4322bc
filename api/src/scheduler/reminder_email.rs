//! The reminder email of one `invoice.reminder` event: plain text in the customer's language (en, de, fr,
//! es; en otherwise), rendered with minijinja like the invoice email, with a fresh checkout link minted
//! when it is sent (the link's token never sits in the outbox). Sent through the outbox and the relay,
//! so an SMTP outage delays a reminder and loses none.

use anyhow::Context;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use tranche_domain::format::format_amount;

use crate::erp::events::InvoiceReminder;
use crate::state::AppState;
use crate::store::customers;

/// The placeholders a template may use: the documented set, nothing else (a typo is refused when saved).
pub const PLACEHOLDERS: [&str; 8] = [
    "invoice_number",
    "installment",
    "amount_due",
    "due_date",
    "overdue",
    "pay_url",
    "seller_name",
    "customer_name",
];

/// What the templates are rendered with.
#[derive(Debug, Clone, Serialize)]
pub struct Values {
    pub invoice_number: String,
    pub installment: u32,
    pub amount_due: String,
    pub due_date: String,
    pub overdue: bool,
    pub pay_url: String,
    pub seller_name: String,
    pub customer_name: String,
}

/// `(subject, text)` built in for a language.
fn builtin(locale: &str) -> (&'static str, &'static str) {
    match locale.split(['-', '_']).next().unwrap_or("en") {
        "de" => (
            "{% if overdue %}Überfällig{% else %}Erinnerung{% endif %}: Rechnung {{ invoice_number }} von {{ seller_name }}",
            "Guten Tag {{ customer_name }},\n\n{% if overdue %}die Rate {{ installment }} der Rechnung {{ invoice_number }} war am {{ due_date }} fällig und ist noch offen.{% else %}die Rate {{ installment }} der Rechnung {{ invoice_number }} wird am {{ due_date }} fällig.{% endif %}\n\nOffener Betrag: {{ amount_due }}\n\nOnline bezahlen: {{ pay_url }}\n\nMit freundlichen Grüßen\n{{ seller_name }}\n",
        ),
        "fr" => (
            "{% if overdue %}En retard{% else %}Rappel{% endif %} : facture {{ invoice_number }} de {{ seller_name }}",
            "Bonjour {{ customer_name }},\n\n{% if overdue %}L'échéance {{ installment }} de la facture {{ invoice_number }} était due le {{ due_date }} et reste impayée.{% else %}L'échéance {{ installment }} de la facture {{ invoice_number }} arrive à échéance le {{ due_date }}.{% endif %}\n\nMontant dû : {{ amount_due }}\n\nPayer en ligne : {{ pay_url }}\n\nCordialement,\n{{ seller_name }}\n",
        ),
        "es" => (
            "{% if overdue %}Vencida{% else %}Recordatorio{% endif %}: factura {{ invoice_number }} de {{ seller_name }}",
            "Hola {{ customer_name }}:\n\n{% if overdue %}El plazo {{ installment }} de la factura {{ invoice_number }} venció el {{ due_date }} y sigue pendiente.{% else %}El plazo {{ installment }} de la factura {{ invoice_number }} vence el {{ due_date }}.{% endif %}\n\nImporte pendiente: {{ amount_due }}\n\nPagar en línea: {{ pay_url }}\n\nAtentamente,\n{{ seller_name }}\n",
        ),
        _ => (
            "{% if overdue %}Overdue{% else %}Reminder{% endif %}: invoice {{ invoice_number }} from {{ seller_name }}",
            "Hello {{ customer_name }},\n\n{% if overdue %}Installment {{ installment }} of invoice {{ invoice_number }} was due on {{ due_date }} and is still open.{% else %}Installment {{ installment }} of invoice {{ invoice_number }} is due on {{ due_date }}.{% endif %}\n\nAmount due: {{ amount_due }}\n\nPay online: {{ pay_url }}\n\nKind regards,\n{{ seller_name }}\n",
        ),
    }
}

fn environment<'source>() -> Environment<'source> {
    let mut env = Environment::new();
    // A placeholder that is not set is an error, never an empty string in a buyer's email.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Checks a seller's template (`field` is `subject` or `text`): it compiles and uses only [`PLACEHOLDERS`].
pub fn validate(field: &str, source: &str) -> Result<(), String> {
    crate::erp::invoice_email::check_template(&environment(), field, field, source, &PLACEHOLDERS)
}

/// Renders `(subject, text)`, each the seller's override when there is one, else the built-in text in the
/// customer's language; the subject is one line whatever the template produced.
pub fn render(
    values: &Values,
    locale: &str,
    custom_subject: Option<&str>,
    custom_text: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let env = environment();
    let (subject, text) = builtin(locale);
    let (subject, text) = (custom_subject.unwrap_or(subject), custom_text.unwrap_or(text));
    let subject = env
        .render_str(subject, values)
        .context("rendering the reminder subject")?;
    let text = env
        .render_str(text, values)
        .context("rendering the reminder text")?;
    Ok((subject.split_whitespace().collect::<Vec<_>>().join(" "), text))
}

/// Delivers the email of one `invoice.reminder` event.
pub async fn send(state: &AppState, seller_id: &str, event: &InvoiceReminder) -> anyhow::Result<()> {
    let seller = crate::store::reminders::templates(&state.db, seller_id).await?;
    let locale = customers::customer_locale(&state.db, &event.customer_id).await?;
    let customer_name = crate::store::invoices::find(&state.db, seller_id, &event.invoice_id)
        .await?
        .context("the reminded invoice is gone")?
        .customer_name;
    let ttl = state.settings.checkout_link_ttl_seconds;
    let pay_url = crate::tokens::mint_link(state, seller_id, &event.invoice_id, ttl, None)
        .await?
        .url;
    let values = Values {
        invoice_number: event.invoice_number.clone(),
        installment: event.installment,
        amount_due: format!("{} {}", format_amount(&event.amount_due, &locale), event.currency),
        due_date: event.due_date.clone(),
        overdue: event.kind == "after_due",
        pay_url,
        seller_name: seller.name.clone(),
        customer_name: customer_name.clone(),
    };
    let (subject, text) = render(
        &values,
        &locale,
        seller.subject.as_deref(),
        seller.text.as_deref(),
    )?;
    crate::erp::receipts::send_plain(
        state,
        crate::erp::receipts::PlainEmail {
            seller_name: seller.name,
            customer_name,
            to: &event.sent_to,
            subject,
            text,
            domain: "tranche.reminders",
            id: &event.reminder_id,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn builtins_validate_and_typos_are_refused() {
        for locale in ["en", "de", "fr", "es"] {
            let (subject, text) = builtin(locale);
            validate("subject", subject).unwrap();
            validate("text", text).unwrap();
        }
        assert!(validate("text", "{{ amount_dew }}")
            .unwrap_err()
            .contains("amount_dew"));
        assert!(validate("subject", "{% if %}")
            .unwrap_err()
            .contains("does not compile"));
    }

    #[test]
    fn every_language_renders_both_kinds() {
        for (locale, word) in [
            ("en", "Installment"),
            ("de-DE", "Rate"),
            ("fr", "échéance"),
            ("es-ES", "plazo"),
            ("pt", "Installment"),
        ] {
            for overdue in [false, true] {
                let values = Values {
                    invoice_number: "INV-7".into(),
                    installment: 2,
                    amount_due: "400.00 USD".into(),
                    due_date: "2026-12-01".into(),
                    overdue,
                    pay_url: "https://pay.example/pay/t".into(),
                    seller_name: "Northwind".into(),
                    customer_name: "Acme".into(),
                };
                let (subject, text) = render(&values, locale, None, None).unwrap();
                assert!(subject.contains("INV-7") && !subject.contains('\n'), "{subject}");
                assert!(
                    text.contains(word)
                        && text.contains("400.00 USD")
                        && text.contains("https://pay.example/pay/t"),
                    "{locale}: {text}"
                );
            }
        }
    }
}
