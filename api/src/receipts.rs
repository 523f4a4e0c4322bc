//! Receipt emails to the buyer, one per succeeded payment, delivered through the outbox like any ERP
//! delivery (so a failed send is retried and never blocks or loses the payment). Sent over SMTP with
//! `lettre`; without SMTP settings the message is written as an `.eml` file (dev and demo).

use anyhow::Context;
use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::Value;
use tranche_domain::format::format_amount;

use crate::config::SmtpTls;
use crate::db::{new_id, now_ms};
use crate::erp::relay::Claimed;
use crate::state::AppState;
use crate::tokens::{CheckoutClaims, AUDIENCE};

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

/// Renders the receipt for a `payment.succeeded` payload.
pub fn render(receipt: &Value, ctx: &ReceiptContext<'_>) -> anyhow::Result<Receipt> {
    let t = template(ctx.locale);
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .context("receipt payload is incomplete")
    };
    let currency = s(&receipt["currency"])?;
    let amount = format!(
        "{} {currency}",
        format_amount(&s(&receipt["amount"])?, ctx.locale)
    );
    let balance_raw = s(&receipt["invoice_balance_after"])?;
    let balance = format!("{} {currency}", format_amount(&balance_raw, ctx.locale));
    let invoice = s(&receipt["invoice_number"])?;
    let values = [
        ("seller", ctx.seller_name),
        ("invoice", invoice.as_str()),
        ("amount", amount.as_str()),
        ("balance", balance.as_str()),
        ("link", ctx.pay_rest_link.unwrap_or("")),
    ];
    let subject = fill(ctx.custom_subject.unwrap_or(t.subject), &values);
    let name = s(&receipt["customer"]["name"])?;
    let intro = fill(ctx.custom_intro.unwrap_or(t.intro), &values);
    let method = format!(
        "{} •••• {}",
        receipt["method"]["brand"].as_str().unwrap_or(""),
        receipt["method"]["last4"].as_str().unwrap_or("")
    );
    let settled = balance_raw.bytes().all(|b| b == b'0' || b == b'.');
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
        to_email: s(&receipt["customer"]["email"])?,
        subject,
        body,
    })
}

/// Delivers the receipt for one claimed `email` delivery.
pub async fn send(state: &AppState, claimed: &Claimed) -> anyhow::Result<()> {
    let payload: Value = serde_json::from_str(&claimed.payload).context("outbox payload")?;
    let (seller_name, custom_subject, custom_intro): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT name, receipt_subject, receipt_intro FROM sellers WHERE id = $1")
            .bind(&claimed.seller_id)
            .fetch_one(state.db.pool())
            .await?;
    let customer_id = payload["customer"]["id"].as_str().context("customer id")?;
    let (locale,): (String,) = sqlx::query_as("SELECT locale FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_one(state.db.pool())
        .await?;
    let balance = payload["invoice_balance_after"].as_str().unwrap_or("0");
    let link = if balance.bytes().all(|b| b == b'0' || b == b'.') {
        None
    } else {
        Some(
            pay_rest_link(
                state,
                &claimed.seller_id,
                payload["invoice_id"].as_str().context("invoice id")?,
            )
            .await?,
        )
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
    let from = state
        .settings
        .smtp
        .as_ref()
        .map(|s| s.from.clone())
        .unwrap_or_else(|| "receipts@tranche.localhost".to_owned());
    let payment_id = payload["payment_id"].as_str().unwrap_or("payment");
    let message = Message::builder()
        .from(Mailbox::new(
            Some(seller_name.clone()),
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
    match &state.settings.smtp {
        Some(smtp) => {
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
            builder.build().send(message).await.context("SMTP send")?;
            tracing::info!(payment_id, "receipt emailed");
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
    let now = now_ms();
    let jti = new_id("jti");
    let expires_at = now + state.settings.checkout_link_ttl_seconds * 1000;
    let token = state.keys.mint(&CheckoutClaims {
        iss: state.keys.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: invoice_id.to_owned(),
        sid: seller_id.to_owned(),
        jti: jti.clone(),
        iat: now / 1000,
        nbf: now / 1000,
        exp: expires_at / 1000,
    })?;
    sqlx::query("INSERT INTO checkout_links (id, seller_id, invoice_id, jti, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id("lnk"))
        .bind(seller_id)
        .bind(invoice_id)
        .bind(&jti)
        .bind(expires_at)
        .bind(now)
        .execute(state.db.pool())
        .await?;
    Ok(format!("{}/pay/{token}", state.public_base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(balance: &str) -> Value {
        json!({"payment_id": "pay_1", "amount": "1507.50", "currency": "EUR", "invoice_number": "INV-7",
               "invoice_balance_after": balance, "customer": {"name": "Acme", "email": "ap@acme.example"},
               "method": {"brand": "visa", "last4": "4242"}})
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
