//! The invoice email (`POST /v1/invoices/{id}/send`): one delivery of kind `email` per `invoice.sent`
//! event, sent through the outbox like a receipt (an SMTP outage delays it, loses nothing). Subject, text
//! part and HTML part are minijinja templates: built-in ones per language (en, de, fr, es), or the seller's
//! own (`PUT /v1/settings/invoice-email`), checked when saved. The HTML part is auto-escaped, so a seller
//! or customer name with markup is shown, never run.

use anyhow::Context;
use lettre::message::{Mailbox, Message, MultiPart};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use tranche_domain::format::format_amount;

use crate::erp::events::InvoiceSent;
use crate::state::AppState;
use crate::store::{customers, invoices, sellers};

/// The placeholders a template may use: the documented set, nothing else (a typo is refused when saved,
/// not discovered by a buyer).
pub const PLACEHOLDERS: [&str; 9] = [
    "invoice_number",
    "due_date",
    "balance_due",
    "currency",
    "pay_url",
    "seller_name",
    "customer_name",
    "minimum_payment",
    "partial_allowed",
];

/// The three parts of the email, as template names: the extension picks the escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

    /// The request field that holds this part.
    pub fn field(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "text",
            Part::Html => "html",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Part::Subject => "subject.txt",
            Part::Text => "body.txt",
            Part::Html => "body.html",
        }
    }
}

/// What the templates are rendered with (the documented placeholders).
#[derive(Debug, Clone, Serialize)]
pub struct Values {
    pub invoice_number: String,
    pub due_date: String,
    pub balance_due: String,
    pub currency: String,
    pub pay_url: String,
    pub seller_name: String,
    pub customer_name: String,
    /// The smallest payment the terms take (formatted with its currency), empty when there is none.
    pub minimum_payment: String,
    pub partial_allowed: bool,
}

fn environment<'source>() -> Environment<'source> {
    let mut env = Environment::new();
    // Only the HTML part is escaped: a subject or text part escaped for HTML would show `&amp;` to the buyer.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // A placeholder that is not set is an error, never an empty string in a buyer's email.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Checks a seller's template: it compiles and uses only [`PLACEHOLDERS`]. The error is for the seller.
pub fn validate(part: Part, source: &str) -> Result<(), String> {
    check_template(&environment(), part.name(), part.field(), source, &PLACEHOLDERS)
}

/// A seller's template `source` (for the part called `field` in errors, compiled as `name` so the
/// environment picks its escaping) compiles in `env` and names only `placeholders`. Shared by every
/// seller-editable email (invoices, reminders); the error is for the seller.
pub fn check_template(
    env: &Environment<'_>,
    name: &str,
    field: &str,
    source: &str,
    placeholders: &[&str],
) -> Result<(), String> {
    let template = env.template_from_named_str(name, source).map_err(|e| {
        format!(
            "{field} does not compile: {}",
            e.detail().unwrap_or("syntax error")
        )
    })?;
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !placeholders.contains(&v.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        Some(first) => Err(format!(
            "{field} uses the unknown placeholder `{first}`; the placeholders are {}",
            placeholders.join(", ")
        )),
        None => Ok(()),
    }
}

/// The built-in template of a part in the customer's language (en when it is none of de, fr, es).
pub fn builtin(part: Part, locale: &str) -> &'static str {
    let lang = locale.split(['-', '_']).next().unwrap_or("en");
    match (part, lang) {
        (Part::Subject, "de") => "Rechnung {{ invoice_number }} von {{ seller_name }}",
        (Part::Subject, "fr") => "Facture {{ invoice_number }} de {{ seller_name }}",
        (Part::Subject, "es") => "Factura {{ invoice_number }} de {{ seller_name }}",
        (Part::Subject, _) => "Invoice {{ invoice_number }} from {{ seller_name }}",
        (Part::Text, "de") => include_str!("invoice_email/de.txt"),
        (Part::Text, "fr") => include_str!("invoice_email/fr.txt"),
        (Part::Text, "es") => include_str!("invoice_email/es.txt"),
        (Part::Text, _) => include_str!("invoice_email/en.txt"),
        (Part::Html, "de") => include_str!("invoice_email/de.html"),
        (Part::Html, "fr") => include_str!("invoice_email/fr.html"),
        (Part::Html, "es") => include_str!("invoice_email/es.html"),
        (Part::Html, _) => include_str!("invoice_email/en.html"),
    }
}

/// A rendered invoice email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders the three parts, each the seller's override when there is one, else the built-in one.
pub fn render(
    values: &Values,
    locale: &str,
    overrides: &sellers::InvoiceEmailTemplates,
) -> anyhow::Result<Rendered> {
    let env = environment();
    let part = |part: Part, custom: &Option<String>| -> anyhow::Result<String> {
        let source = custom.as_deref().unwrap_or_else(|| builtin(part, locale));
        env.render_named_str(part.name(), source, values)
            .with_context(|| format!("rendering the invoice email's {}", part.field()))
    };
    let subject = part(Part::Subject, &overrides.subject)?;
    Ok(Rendered {
        // A header is one line, whatever the template produced.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: part(Part::Text, &overrides.text)?,
        html: part(Part::Html, &overrides.html)?,
    })
}

/// Delivers the email of one `invoice.sent` event.
pub async fn send(state: &AppState, seller_id: &str, event: &InvoiceSent) -> anyhow::Result<()> {
    let invoice = invoices::find(&state.db, seller_id, &event.invoice_id)
        .await?
        .context("the sent invoice is gone")?;
    let overrides = sellers::invoice_email_templates(&state.db, seller_id).await?;
    let locale = customers::customer_locale(&state.db, &invoice.customer_id).await?;
    // The token is signed again here rather than stored: see `tokens::link_url`.
    let pay_url = crate::tokens::link_url(state, seller_id, &event.link_id)
        .await?
        .context("the emailed checkout link is revoked or expired")?;
    let terms = invoice.terms()?;
    let currency = invoice.currency()?;
    let minimum_payment = terms
        .minimum_amount(currency)
        .map(|m| format!("{} {}", format_amount(&m.to_string(), &locale), event.currency))
        .unwrap_or_default();
    let values = Values {
        invoice_number: event.invoice_number.clone(),
        due_date: event.due_date.clone(),
        balance_due: format!(
            "{} {}",
            format_amount(&event.balance_due, &locale),
            event.currency
        ),
        currency: event.currency.clone(),
        pay_url,
        seller_name: overrides.name.clone(),
        customer_name: invoice.customer_name.clone(),
        minimum_payment,
        partial_allowed: terms.allow_partial(),
    };
    let rendered = render(&values, &locale, &overrides)?;
    let from = crate::erp::receipts::from_address(state);
    let message = Message::builder()
        .from(Mailbox::new(
            Some(overrides.name.clone()),
            from.parse().context("SMTP from address")?,
        ))
        .to(Mailbox::new(
            Some(invoice.customer_name.clone()),
            event.sent_to.parse().context("recipient address")?,
        ))
        .subject(rendered.subject)
        // One Message-ID per send (the link is fresh each time), so a retried attempt is the same message.
        .message_id(Some(format!("<{}@tranche.invoices>", event.link_id)))
        .multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))
        .context("building the invoice email")?;
    // Named by the link id, never the URL: the token must not reach logs or file names.
    crate::erp::receipts::transmit(state, message, &event.link_id).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn values() -> Values {
        Values {
            invoice_number: "INV-7".into(),
            due_date: "2026-12-30".into(),
            balance_due: "1.000,00 EUR".into(),
            currency: "EUR".into(),
            pay_url: "https://pay.example/pay/t".into(),
            seller_name: "<script>alert(1)</script> GmbH".into(),
            customer_name: "Acme & Co".into(),
            minimum_payment: String::new(),
            partial_allowed: true,
        }
    }

    #[test]
    fn every_builtin_template_is_valid_and_renders_in_its_language() {
        for locale in ["en", "de-DE", "fr", "es-ES"] {
            for part in Part::ALL {
                validate(part, builtin(part, locale)).unwrap();
            }
            let r = render(&values(), locale, &Default::default()).unwrap();
            assert!(
                r.text.contains("https://pay.example/pay/t")
                    && r.html.contains("https:&#x2f;&#x2f;pay.example&#x2f;pay&#x2f;t")
            );
            assert!(!r.html.contains("<script>"), "{}", r.html);
            assert!(r.html.contains("&lt;script&gt;"), "{}", r.html);
        }
        let de = render(&values(), "de", &Default::default()).unwrap();
        assert!(de.subject.starts_with("Rechnung INV-7"), "{}", de.subject);
    }

    #[test]
    fn unknown_placeholders_and_bad_syntax_are_refused() {
        assert!(validate(Part::Subject, "{{ invoice_numbr }}")
            .unwrap_err()
            .contains("invoice_numbr"));
        assert!(validate(Part::Html, "{% if %}").is_err());
        validate(
            Part::Text,
            "{% if partial_allowed %}{{ minimum_payment }}{% endif %}",
        )
        .unwrap();
    }
}
