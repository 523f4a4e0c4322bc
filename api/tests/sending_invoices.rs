//! Sending invoices by email (issue 15): `POST /v1/invoices/{id}/send` queues an email through the outbox
//! in the customer's language with a fresh pay link that opens the hosted page; seller templates are used
//! and escaped; an SMTP outage delays the email and loses nothing; bad inputs change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::smtp::{text_body, Mail, SmtpSink};
use common::{eventually, expect_problem, fast, spawn_app_with, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// A stand-in widget build (as in pages.rs), so the hosted page can be served: the folder is a
/// process-wide setting, made once.
fn fake_widget_dir() {
    static DIR: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tranche-widget-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tranche.js"), "export {}").unwrap();
        std::fs::write(dir.join("tranche_bg-0123456789abcdef.wasm"), [0u8, 97, 115, 109]).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            r#"{"files":[{"name":"tranche.js","integrity":"sha384-abc"}]}"#,
        )
        .unwrap();
        std::env::set_var("TRANCHE_WIDGET_DIR", &dir);
    });
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn app_with_smtp(backend: Backend, port: u16) -> TestApp {
    spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 300, 400, 800, 1600, 3200]);
        s.smtp = Some(common::smtp::settings(port));
    })
    .await
}

/// A customer of the seller speaking `locale`, and an invoice of 1000.00 EUR to them.
async fn invoice_for(app: &TestApp, seller: &SellerCtx, locale: &str, email: &str) -> Value {
    let r = app
        .post(
            "/v1/customers",
            &seller.key,
            json!({"name": format!("Kunde {locale}"), "email": email, "locale": locale}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let customer: Value = r.json().await.unwrap();
    app.invoice_with(seller, "EUR", "1000.00", json!({"customer_id": customer["id"]}))
        .await
}

/// The decoded `(text, html)` parts of a multipart/alternative message.
fn parts(mail: &Mail) -> (String, String) {
    let (_, body) = mail.data.split_once("\r\n\r\n").unwrap();
    let boundary = body
        .lines()
        .find(|l| l.starts_with("--"))
        .unwrap()
        .trim()
        .to_owned();
    let (mut text, mut html) = (String::new(), String::new());
    for part in body.split(boundary.as_str()) {
        let part = part.trim_start_matches("\r\n");
        let lower = part.to_ascii_lowercase();
        if lower.starts_with("content-type: text/plain") || lower.contains("\r\ncontent-type: text/plain") {
            text = text_body(part);
        } else if lower.starts_with("content-type: text/html")
            || lower.contains("\r\ncontent-type: text/html")
        {
            html = text_body(part);
        }
    }
    assert!(
        !text.is_empty() && !html.is_empty(),
        "two parts in:\n{}",
        mail.data
    );
    // minijinja escapes `/` too (`&#x2f;`), which HTML reads back as `/`.
    (text, html.replace("&#x2f;", "/"))
}

async fn send(app: &TestApp, seller: &SellerCtx, invoice_id: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/v1/invoices/{invoice_id}/send"), &seller.key, body)
        .await
}

async fn email_deliveries(app: &TestApp, seller: &SellerCtx) -> Vec<Value> {
    let r = app.get("/v1/erp/deliveries?limit=100", &seller.key).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "email")
        .cloned()
        .collect()
}

async fn invoice_sent_at(app: &TestApp, invoice_id: &str) -> i64 {
    app.sql_count(&format!(
        "SELECT COUNT(*) FROM invoices WHERE id = '{invoice_id}' AND sent_at IS NOT NULL"
    ))
    .await
}

async fn invoice_is_emailed_in_the_customers_language(backend: Backend) {
    fake_widget_dir();
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(backend, sink.port).await;
    let seller = app.seller("Northwind").await;
    let cases = [
        (
            "de",
            "Rechnung",
            "Offener Betrag",
            "1.000,00 EUR",
            "Online bezahlen",
        ),
        (
            "fr",
            "Facture",
            "Solde dû",
            "1\u{202f}000,00 EUR",
            "Payer en ligne",
        ),
        (
            "es",
            "Factura",
            "Saldo pendiente",
            "1.000,00 EUR",
            "Pagar en línea",
        ),
        ("en", "Invoice", "Balance due", "1,000.00 EUR", "Pay online"),
    ];
    for (i, (locale, subject, balance_label, balance, pay)) in cases.into_iter().enumerate() {
        let email = format!("ap{i}@buyer.example");
        let invoice = invoice_for(&app, &seller, locale, &email).await;
        let id = invoice["id"].as_str().unwrap();
        let number = invoice["number"].as_str().unwrap();
        let r = send(&app, &seller, id, json!({})).await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let sent: Value = r.json().await.unwrap();
        assert_eq!(sent["sent_to"], email.as_str());
        let url = sent["link"]["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with(&format!("{}/pay/", app.base)), "{url}");
        assert!(sent["link"]["id"].as_str().unwrap().starts_with("lnk_"));
        assert!(sent["link"]["expires_at"].is_string());
        assert_eq!(invoice_sent_at(&app, id).await, 1);

        let sink_ref = &sink;
        let to = email.clone();
        let mail = eventually("the invoice email", Duration::from_secs(10), || {
            let to = to.clone();
            async move { sink_ref.messages().into_iter().find(|m| m.to == [to.clone()]) }
        })
        .await;
        let headers = mail.data.replace("\r\n ", " ");
        assert!(headers.contains("Subject: "), "{}", mail.data);
        let (text, html) = parts(&mail);
        for body in [&text, &html] {
            for expected in [number, balance_label, balance, pay, "2099-01-01", url.as_str()] {
                assert!(
                    body.contains(expected),
                    "{locale}: {expected:?} missing from:\n{body}"
                );
            }
        }
        assert!(
            mail.data.contains(subject) || headers.contains("=?utf-8?"),
            "{locale}: subject {subject:?} in:\n{headers}"
        );
        // The emailed link opens the hosted page and the checkout of this invoice.
        let token = url.rsplit('/').next().unwrap();
        let page = app.client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let view = app.checkout(token).await;
        assert_eq!(view["invoice"]["id"], id);
    }
    // Neither the event's payload nor the deliveries list carries a token.
    let payloads = app
        .sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.sent' AND payload LIKE '%/pay/%'")
        .await;
    assert_eq!(payloads, 0);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.sent'")
            .await,
        4
    );
}
both_backends!(invoice_is_emailed_in_the_customers_language);

async fn seller_templates_are_used_and_escaped(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(backend, sink.port).await;
    let seller = app.seller("<script>alert(1)</script> Ltd").await;
    let r = app
        .client
        .put(app.url("/v1/settings/invoice-email"))
        .bearer_auth(&seller.key)
        .json(&json!({
            "subject": "Bill {{ invoice_number }} is due {{ due_date }}",
            "text": "Hi {{ customer_name }}, pay {{ balance_due }} at {{ pay_url }}{% if partial_allowed %} (partial ok){% endif %}",
            "html": "<p>From {{ seller_name }}: <a href=\"{{ pay_url }}\">pay {{ balance_due }}</a></p>",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let invoice = invoice_for(&app, &seller, "en", "ap@buyer.example").await;
    let number = invoice["number"].as_str().unwrap();
    let r = send(
        &app,
        &seller,
        invoice["id"].as_str().unwrap(),
        json!({"to": "cfo@buyer.example"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["sent_to"], "cfo@buyer.example");
    let sink_ref = &sink;
    let mail = eventually("the invoice email", Duration::from_secs(10), || async move {
        sink_ref.messages().into_iter().next()
    })
    .await;
    assert_eq!(mail.to, ["cfo@buyer.example"]);
    let headers = mail.data.replace("\r\n ", " ");
    assert!(
        headers.contains(&format!("Subject: Bill {number} is due 2099-01-01")),
        "{headers}"
    );
    let (text, html) = parts(&mail);
    assert!(text.starts_with("Hi Kunde en, pay 1,000.00 EUR at "), "{text}");
    assert!(text.contains(sent["link"]["url"].as_str().unwrap()), "{text}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Ltd"),
        "{html}"
    );
}
both_backends!(seller_templates_are_used_and_escaped);

async fn an_smtp_outage_delays_the_invoice_email(backend: Backend) {
    let port = closed_port();
    let app = app_with_smtp(backend, port).await;
    let seller = app.seller("Northwind").await;
    let invoice = invoice_for(&app, &seller, "de", "ap@buyer.example").await;
    let r = send(&app, &seller, invoice["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(r.status(), 202, "sent although mail is down");
    let (a, s) = (&app, &seller);
    let failing = eventually("failed send attempts", Duration::from_secs(10), || async move {
        email_deliveries(a, s)
            .await
            .into_iter()
            .find(|d| d["attempts"].as_i64() >= Some(2))
    })
    .await;
    assert_eq!(failing["status"], "pending", "{failing}");
    let sink = SmtpSink::start_on(port).await;
    let sink_ref = &sink;
    let mail = eventually(
        "the email after the outage",
        Duration::from_secs(15),
        || async move { sink_ref.messages().into_iter().next() },
    )
    .await;
    let (text, _) = parts(&mail);
    assert!(text.contains(invoice["number"].as_str().unwrap()), "{text}");
    eventually("the delivery recorded", Duration::from_secs(5), || async move {
        let d = email_deliveries(a, s).await;
        (d.len() == 1 && d[0]["status"] == "delivered").then_some(())
    })
    .await;
    assert_eq!(sink.messages().len(), 1, "sent once");
}
both_backends!(an_smtp_outage_delays_the_invoice_email);

async fn bad_sends_and_templates_change_nothing(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(backend, sink.port).await;
    let seller = app.seller("Northwind").await;
    let other = app.seller("Other").await;
    let invoice = invoice_for(&app, &seller, "en", "ap@buyer.example").await;
    let id = invoice["id"].as_str().unwrap();

    let body = expect_problem(
        send(&app, &seller, id, json!({"to": "not an address"})).await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(body["field"], "to");
    expect_problem(
        send(&app, &seller, id, json!({"cc": "x@y.example"})).await,
        400,
        "unknown_field",
    )
    .await;
    // Another seller's invoice does not exist for this caller.
    expect_problem(send(&app, &other, id, json!({})).await, 404, "not_found").await;

    // Paid in full: nothing to send.
    let paid = app.invoice(&seller, "USD", "100.00", None).await;
    let paid_id = paid["id"].as_str().unwrap();
    let (_, token) = app.link(&seller, paid_id).await;
    let card = app.card_token_for(&token, VISA).await;
    let r = app.pay(&token, "pay-all", "100.00", &card).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    expect_problem(
        send(&app, &seller, paid_id, json!({})).await,
        409,
        "invoice_already_paid",
    )
    .await;

    let void = app.invoice(&seller, "USD", "100.00", None).await;
    let void_id = void["id"].as_str().unwrap();
    let r = app
        .post(&format!("/v1/invoices/{void_id}/void"), &seller.key, json!({}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    expect_problem(send(&app, &seller, void_id, json!({})).await, 409, "invoice_void").await;

    // Templates: an unknown placeholder and a syntax error are refused when saved.
    let put = |body: Value| {
        let (app, key) = (&app, seller.key.clone());
        async move {
            app.client
                .put(app.url("/v1/settings/invoice-email"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let p = expect_problem(
        put(json!({"subject": "Invoice {{ invoice_numbr }}"})).await,
        400,
        "invalid_template",
    )
    .await;
    assert_eq!(p["field"], "subject");
    assert!(p["detail"].as_str().unwrap().contains("invoice_numbr"), "{p}");
    let p = expect_problem(
        put(json!({"html": "<p>{% if %}</p>"})).await,
        400,
        "invalid_template",
    )
    .await;
    assert_eq!(p["field"], "html");
    expect_problem(put(json!({"text": "{{ pay_url"})).await, 400, "invalid_template").await;

    // Nothing was sent, recorded or stored.
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM invoices WHERE sent_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM outbox WHERE event_type = 'invoice.sent'")
            .await,
        0
    );
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) FROM sellers WHERE invoice_email_subject IS NOT NULL OR invoice_email_text IS NOT NULL OR invoice_email_html IS NOT NULL"
        )
        .await,
        0
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only the payment's receipt went out.
    assert!(sink
        .messages()
        .iter()
        .all(|m| !m.data.contains("Subject: Invoice ")));
}
both_backends!(bad_sends_and_templates_change_nothing);
