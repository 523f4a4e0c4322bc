//! Receipt emails to the buyer: one delivery channel of the relay, beside webhooks and QuickBooks. One
//! email per `payment.succeeded` event, delivered through the outbox like any ERP delivery (so a failed
//! send is retried and never blocks or loses the payment). Sent over SMTP with
//! `lettre`; without SMTP settings the message is written as an `.eml` file (dev and demo).

use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tranche_domain::format::format_amount;

use crate::config::{SmtpSettings, SmtpTls};
use crate::erp::events::{Event, PaymentSucceeded, RefundSucceeded};
use crate::state::AppState;
use crate::store::deliveries::Claimed;
use crate::store::{customers, sellers};

/// The text of a receipt in one language. Placeholders: `{seller}`, `{invoice}`, `{amount}`,
/// `{balance}`, `{link}`.
struct Template {
    subject: &'static str,
    intro: &'static str,
    paid: &'static str,
    remaining: &'static str,
    pay_rest: &'static str,
    settled: &'static str,
    invoice: &'static str,
    method: &'static str,
}

fn template(locale: &str) -> Template {
    match locale.split(['-', '_']).next().unwrap_or("en") {
        "de" => Template {
            subject: "Zahlungsbestätigung für Rechnung {invoice}",
            intro: "vielen Dank für Ihre Zahlung an {seller}.",
            paid: "Gezahlter Betrag",
            remaining: "Offener Restbetrag",
            pay_rest: "Den Restbetrag können Sie hier bezahlen: {link}",
            settled: "Die Rechnung ist damit vollständig bezahlt.",
            invoice: "Rechnung",
            method: "Zahlungsart",
        },
        "fr" => Template {
            subject: "Reçu de paiement pour la facture {invoice}",
            intro: "merci pour votre paiement à {seller}.",
            paid: "Montant payé",
            remaining: "Solde restant",
            pay_rest: "Vous pouvez régler le solde ici : {link}",
            settled: "La facture est entièrement réglée.",
            invoice: "Facture",
            method: "Moyen de paiement",
        },
        "es" => Template {
            subject: "Recibo de pago de la factura {invoice}",
            intro: "gracias por su pago a {seller}.",
            paid: "Importe pagado",
            remaining: "Saldo pendiente",
            pay_rest: "Puede pagar el saldo aquí: {link}",
            settled: "La factura está totalmente pagada.",
            invoice: "Factura",
            method: "Método de pago",
        },
        _ => Template {
            subject: "Receipt for your payment on invoice {invoice}",
            intro: "thank you for your payment to {seller}.",
            paid: "Amount paid",
            remaining: "Balance remaining",
            pay_rest: "You can pay the remaining balance here: {link}",
            settled: "The invoice is now paid in full.",
            invoice: "Invoice",
            method: "Payment method",
        },
    }
}

/// A rendered receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub to_name: String,
    pub to_email: String,
    pub subject: String,
    pub body: String,
}

/// What the seller customised and the buyer's language.
pub struct ReceiptContext<'a> {
    pub seller_name: &'a str,
    pub locale: &'a str,
    pub custom_subject: Option<&'a str>,
    pub custom_intro: Option<&'a str>,
    pub pay_rest_link: Option<&'a str>,
}

fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(text.to_owned(), |acc, (k, v)| acc.replace(&format!("{{{k}}}"), v))
}

/// Whether a decimal balance string is zero ("0.00", "0").
fn is_zero(balance: &str) -> bool {
    balance.bytes().all(|b| b == b'0' || b == b'.')
}

/// Renders the receipt for a `payment.succeeded` event.
pub fn render(receipt: &PaymentSucceeded, ctx: &ReceiptContext<'_>) -> anyhow::Result<Receipt> {
    let t = template(ctx.locale);
    let currency = &receipt.currency;
    let amount = format!("{} {currency}", format_amount(&receipt.amount, ctx.locale));
    let balance_raw = &receipt.invoice_balance_after;
    let balance = format!("{} {currency}", format_amount(balance_raw, ctx.locale));
    let invoice = receipt.invoice_number.as_str();
    let values = [
        ("seller", ctx.seller_name),
        ("invoice", invoice),
        ("amount", amount.as_str()),
        ("balance", balance.as_str()),
        ("link", ctx.pay_rest_link.unwrap_or("")),
    ];
    let subject = fill(ctx.custom_subject.unwrap_or(t.subject), &values);
    let name = receipt.customer.name.clone();
    let intro = fill(ctx.custom_intro.unwrap_or(t.intro), &values);
    // An offline payment has no card digits: the method (`check`, `wire`, ...) says how it came.
    let method = if receipt.method.last4.is_empty() {
        receipt.method.brand.clone()
    } else {
        format!("{} •••• {}", receipt.method.brand, receipt.method.last4)
    };
    let settled = is_zero(balance_raw);
    let closing = match (settled, ctx.pay_rest_link) {
        (true, _) => t.settled.to_owned(),
        (false, Some(_)) => fill(t.pay_rest, &values),
        (false, None) => String::new(),
    };
    let body = format!(
        "{name},\n\n{intro}\n\n{:<20} {invoice}\n{:<20} {amount}\n{:<20} {balance}\n{:<20} {method}\n\n{closing}\n\n{}\n",
        t.invoice, t.paid, t.remaining, t.method, ctx.seller_name
    );
    Ok(Receipt {
        to_name: name,
        to_email: receipt.customer.email.clone(),
        subject,
        body,
    })
}

/// The text of a refund receipt in one language. Placeholders: `{seller}`, `{invoice}`.
struct RefundTemplate {
    subject: &'static str,
    intro: &'static str,
    refunded: &'static str,
    balance: &'static str,
    timing: &'static str,
}

fn refund_template(locale: &str) -> RefundTemplate {
    match locale.split(['-', '_']).next().unwrap_or("en") {
        "de" => RefundTemplate {
            subject: "Erstattung zu Rechnung {invoice}",
            intro: "{seller} hat Ihnen einen Betrag erstattet.",
            refunded: "Erstatteter Betrag",
            balance: "Offener Betrag",
            timing: "Die Gutschrift erscheint je nach Bank in 5 bis 10 Werktagen auf Ihrem Konto.",
        },
        "fr" => RefundTemplate {
            subject: "Remboursement pour la facture {invoice}",
            intro: "{seller} vous a remboursé un montant.",
            refunded: "Montant remboursé",
            balance: "Solde dû",
            timing: "Selon votre banque, le remboursement apparaît sous 5 à 10 jours ouvrés.",
        },
        "es" => RefundTemplate {
            subject: "Reembolso de la factura {invoice}",
            intro: "{seller} le ha reembolsado un importe.",
            refunded: "Importe reembolsado",
            balance: "Saldo pendiente",
            timing: "Según su banco, el reembolso aparecerá en 5 a 10 días hábiles.",
        },
        _ => RefundTemplate {
            subject: "Refund on invoice {invoice}",
            intro: "{seller} has refunded you.",
            refunded: "Amount refunded",
            balance: "Balance due",
            timing:
                "Depending on your bank, the refund appears on your statement within 5 to 10 business days.",
        },
    }
}

/// Renders the buyer's receipt for a `refund.succeeded` event: the amount given back, to which payment
/// method, and the invoice's balance now (which the refund raised).
pub fn render_refund(refund: &RefundSucceeded, seller_name: &str, locale: &str) -> Receipt {
    let t = refund_template(locale);
    let currency = &refund.currency;
    let amount = format!("{} {currency}", format_amount(&refund.amount, locale));
    let balance = format!(
        "{} {currency}",
        format_amount(&refund.invoice_balance_after, locale)
    );
    let invoice = refund.invoice_number.as_str();
    let values = [("seller", seller_name), ("invoice", invoice)];
    let method = format!("{} •••• {}", refund.method.brand, refund.method.last4);
    let labels = template(locale);
    let body = format!(
        "{},\n\n{}\n\n{:<20} {invoice}\n{:<20} {amount}\n{:<20} {method}\n{:<20} {balance}\n\n{}\n\n{seller_name}\n",
        refund.customer.name,
        fill(t.intro, &values),
        labels.invoice,
        t.refunded,
        labels.method,
        t.balance,
        t.timing,
    );
    Receipt {
        to_name: refund.customer.name.clone(),
        to_email: refund.customer.email.clone(),
        subject: fill(t.subject, &values),
        body,
    }
}

/// Delivers the receipt for one claimed `email` delivery.
pub async fn send(state: &AppState, claimed: &Claimed) -> anyhow::Result<()> {
    let payload = match Event::parse(claimed.event_type, &claimed.payload).context("outbox payload")? {
        Event::PaymentSucceeded(payload) => payload,
        Event::RefundSucceeded(refund) => return send_refund(state, claimed, &refund).await,
        Event::InvoiceSent(sent) => {
            return crate::erp::invoice_email::send(state, &claimed.seller_id, &sent).await
        }
        Event::InvoiceReminder(reminder) => {
            return crate::scheduler::reminder_email::send(state, &claimed.seller_id, &reminder).await
        }
        Event::DisputeResolved(resolved) => {
            return crate::erp::dispute_email::send(state, &claimed.seller_id, &resolved).await
        }
        // `fan_out` writes receipt emails for payments and refunds only.
        other => anyhow::bail!("no receipt for a {} event", other.event_type()),
    };
    let (seller_name, custom_subject, custom_intro) =
        sellers::receipt_settings(&state.db, &claimed.seller_id).await?;
    let locale = customers::customer_locale(&state.db, &payload.customer.id).await?;
    let link = if is_zero(&payload.invoice_balance_after) {
        None
    } else {
        Some(pay_rest_link(state, &claimed.seller_id, &payload.invoice_id).await?)
    };
    let receipt = render(
        &payload,
        &ReceiptContext {
            seller_name: &seller_name,
            locale: &locale,
            custom_subject: custom_subject.as_deref(),
            custom_intro: custom_intro.as_deref(),
            pay_rest_link: link.as_deref(),
        },
    )?;
    deliver(state, &seller_name, &receipt, &payload.payment_id).await
}

/// Sends a refund's receipt (the seller's receipt wording is for payments: refunds use the built-in text).
async fn send_refund(state: &AppState, claimed: &Claimed, refund: &RefundSucceeded) -> anyhow::Result<()> {
    let (seller_name, _, _) = sellers::receipt_settings(&state.db, &claimed.seller_id).await?;
    let locale = customers::customer_locale(&state.db, &refund.customer.id).await?;
    let receipt = render_refund(refund, &seller_name, &locale);
    deliver(state, &seller_name, &receipt, &refund.refund_id).await
}

/// Builds the message for a rendered receipt and sends it; `id` (the payment's or the refund's) makes its
/// Message-ID, so a retried send is recognisably the same message.
async fn deliver(state: &AppState, seller_name: &str, receipt: &Receipt, id: &str) -> anyhow::Result<()> {
    let from = from_address(state);
    let payment_id = id;
    let message = Message::builder()
        .from(Mailbox::new(
            Some(seller_name.to_owned()),
            from.parse().context("SMTP from address")?,
        ))
        .to(Mailbox::new(
            Some(receipt.to_name.clone()),
            receipt.to_email.parse().context("customer email")?,
        ))
        .subject(receipt.subject.clone())
        // One Message-ID per payment, so a retried send is recognisably the same message.
        .message_id(Some(format!("<{payment_id}@tranche.receipts>")))
        .header(ContentType::TEXT_PLAIN)
        .body(receipt.body.clone())
        .context("building the receipt email")?;
    transmit(state, message, payment_id).await
}

/// A plain-text email from the seller (through Tranche's sender address) to one buyer: a reminder, the
/// answer to a dispute.
pub struct PlainEmail<'a> {
    pub seller_name: String,
    pub customer_name: String,
    pub to: &'a str,
    pub subject: String,
    pub text: String,
    /// The Message-ID is `<{id}@{domain}>`: one per thing told, so a retried attempt is recognisably the
    /// same message.
    pub domain: &'a str,
    pub id: &'a str,
}

/// Builds and sends a [`PlainEmail`] through the one shared transport.
pub async fn send_plain(state: &AppState, email: PlainEmail<'_>) -> anyhow::Result<()> {
    let from = from_address(state);
    let message = Message::builder()
        .from(Mailbox::new(
            Some(email.seller_name),
            from.parse().context("SMTP from address")?,
        ))
        .to(Mailbox::new(
            Some(email.customer_name),
            email.to.parse().context("recipient address")?,
        ))
        .subject(email.subject)
        .message_id(Some(format!("<{}@{}>", email.id, email.domain)))
        .header(ContentType::TEXT_PLAIN)
        .body(email.text)
        .with_context(|| format!("building the email {}", email.id))?;
    transmit(state, message, email.id).await
}

/// The address buyer emails are sent from.
pub fn from_address(state: &AppState) -> String {
    state
        .settings
        .smtp
        .as_ref()
        .map(|s| s.from.clone())
        .unwrap_or_else(|| "receipts@tranche.localhost".to_owned())
}

/// The one SMTP transport of the process, built from the settings at start-up and shared by every email
/// (receipts and invoices): the TLS configuration and credentials are set up once, not per message.
pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the transport for the SMTP settings (`None`: no SMTP configured, emails go to files).
pub fn transport(smtp: Option<&SmtpSettings>) -> anyhow::Result<Option<Transport>> {
    let Some(smtp) = smtp else { return Ok(None) };
    // Exhaustive: a new mode cannot fall through to plaintext.
    let builder = match smtp.tls {
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(15)));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(Some(builder.build()))
}

/// Sends the message over SMTP, or writes it as an `.eml` file when no SMTP server is configured. `id`
/// names the message in logs and files: a payment, refund or link id, never anything secret.
pub(crate) async fn transmit(state: &AppState, message: Message, payment_id: &str) -> anyhow::Result<()> {
    match state.smtp.as_deref() {
        Some(transport) => {
            transport.send(message).await.context("SMTP send")?;
            tracing::info!(payment_id, "email sent");
        }
        None => {
            let dir = std::path::Path::new(&state.settings.receipts_dir);
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(format!("{payment_id}.eml"));
            tokio::fs::write(&path, message.formatted())
                .await
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "no SMTP configured: receipt written to a file");
        }
    }
    Ok(())
}

/// A fresh checkout link for the rest of the invoice.
async fn pay_rest_link(state: &AppState, seller_id: &str, invoice_id: &str) -> anyhow::Result<String> {
    // The one minting function the seller API uses too: same claims, same link row, same URL. Not in the
    // audit log: the relay's own link for a receipt, not a change the seller made.
    let ttl = state.settings.checkout_link_ttl_seconds;
    Ok(crate::tokens::mint_link(state, seller_id, invoice_id, ttl, None)
        .await?
        .url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erp::events::{PaymentMethod, ReceiptCustomer};

    fn payload(balance: &str) -> PaymentSucceeded {
        PaymentSucceeded {
            amount: "1507.50".to_owned(),
            currency: "EUR".to_owned(),
            customer: ReceiptCustomer {
                email: "ap@acme.example".to_owned(),
                external_ref: None,
                id: "cus_1".to_owned(),
                name: "Acme".to_owned(),
            },
            discount: None,
            gateway_charge_id: None,
            invoice_balance_after: balance.to_owned(),
            invoice_external_ref: None,
            invoice_id: "inv_1".to_owned(),
            invoice_number: "INV-7".to_owned(),
            invoice_status_after: "partially_paid".to_owned(),
            method: PaymentMethod {
                brand: "visa".to_owned(),
                kind: "card".to_owned(),
                last4: "4242".to_owned(),
            },
            paid_at: "2026-11-23T10:00:00Z".to_owned(),
            payment_id: "pay_1".to_owned(),
            allocations: Vec::new(),
        }
    }

    #[test]
    fn partial_receipt_in_german_has_amounts_and_link() {
        let ctx = ReceiptContext {
            seller_name: "Northwind",
            locale: "de-DE",
            custom_subject: None,
            custom_intro: None,
            pay_rest_link: Some("https://pay/x"),
        };
        let r = render(&payload("4522.50"), &ctx).unwrap();
        assert_eq!(r.subject, "Zahlungsbestätigung für Rechnung INV-7");
        assert!(
            r.body.contains("1.507,50 EUR") && r.body.contains("4.522,50 EUR"),
            "{}",
            r.body
        );
        assert!(r.body.contains("https://pay/x"));
    }

    #[test]
    fn settled_receipt_and_seller_wording() {
        let ctx = ReceiptContext {
            seller_name: "Northwind",
            locale: "en",
            custom_subject: Some("{seller}: payment received for {invoice}"),
            custom_intro: Some("we received {amount}."),
            pay_rest_link: None,
        };
        let r = render(&payload("0.00"), &ctx).unwrap();
        assert_eq!(r.subject, "Northwind: payment received for INV-7");
        assert!(
            r.body.contains("we received 1,507.50 EUR.") && r.body.contains("paid in full"),
            "{}",
            r.body
        );
    }
}
