//! `tranche demo`: a fresh SQLite database with a demo seller, customer, terms and invoices in four
//! currencies, the server running, and everything a new user needs to try a partial payment printed.

use anyhow::Context;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::masking::Secret;
use crate::startup::Application;

const DEMO_DB: &str = "data/demo.db";

pub async fn run(args: &[&str]) -> anyhow::Result<()> {
    if !args.is_empty() {
        anyhow::bail!("usage: tranche demo (configure with TRANCHE_ADDR, TRANCHE_PUBLIC_URL)");
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{DEMO_DB}{suffix}"));
    }
    let mut settings = Settings::load()?;
    settings.database_url = Secret::new(format!("sqlite://{DEMO_DB}"));
    let operator = crate::routes::parties::new_secret_key().replacen("sk_", "op_", 1);
    settings.operator_token = Some(Secret::new(operator.clone()));
    settings.sandbox.ach_settle_seconds = settings.sandbox.ach_settle_seconds.min(15);
    settings.reconciler.grace_seconds = settings.reconciler.grace_seconds.min(10);
    // The demo's "ERP" is a receiver on loopback, which the default destination policy refuses.
    settings.erp.allow_private_destinations = true;
    let app_receipts_dir = std::path::absolute(&settings.receipts_dir)
        .unwrap_or_else(|_| std::path::PathBuf::from(&settings.receipts_dir));
    let app = Application::build(settings).await?;
    let base = app.state().public_base.clone();
    let port = app.port();
    // The seller's own site: another origin (next port) that embeds the widget.
    let site_addr = std::env::var("TRANCHE_DEMO_SITE_ADDR")
        .unwrap_or_else(|_| format!("127.0.0.1:{}", port.saturating_add(1)));
    let site_listener = std::net::TcpListener::bind(&site_addr)
        .with_context(|| format!("binding the seller site on {site_addr}"))?;
    let site_origin = format!(
        "http://{}",
        site_listener.local_addr().context("seller site address")?
    );
    // The seller's "ERP": a webhook receiver that verifies signatures (port + 2).
    let erp_addr = std::env::var("TRANCHE_DEMO_ERP_ADDR")
        .unwrap_or_else(|_| format!("127.0.0.1:{}", port.saturating_add(2)));
    let erp_listener = std::net::TcpListener::bind(&erp_addr)
        .with_context(|| format!("binding the demo ERP receiver on {erp_addr}"))?;
    let erp_url = format!(
        "http://{}/webhooks/tranche",
        erp_listener.local_addr().context("receiver address")?
    );
    let (receiver, set_secret) = crate::demo_receiver::serve(erp_listener)?;
    tokio::spawn(receiver);
    let server = tokio::spawn(app.run_until_stopped());
    let seeded = seed(&base, &operator, &site_origin, &erp_url)
        .await
        .context("seeding the demo data");
    let (text, embeds, secret) = match seeded {
        Ok(seeded) => seeded,
        Err(e) => {
            server.abort();
            return Err(e);
        }
    };
    set_secret(secret);
    let site = crate::seller_site::serve(site_listener, base.clone(), embeds)?;
    tokio::spawn(site);
    println!("{text}");
    println!("  Seller site embedding the widget (another origin): {site_origin}/");
    println!("  Demo ERP webhook receiver (verifies signatures, prints deliveries): {erp_url}");
    println!(
        "  Receipt and invoice emails (no SMTP configured) are written to: {}",
        app_receipts_dir.display()
    );
    if crate::routes::pages::integrity_of("tranche.js").is_none() {
        println!("  (the widget is not built: run `cargo xtask build-widget` or use `cargo xtask demo`)");
    }
    println!("\nTranche demo listening on port {port}. Ctrl-C stops it.");
    server.await.context("server task")?
}

/// `call` with an `Idempotency-Key` (payments and refunds require one).
async fn call_once(
    client: &reqwest::Client,
    url: String,
    bearer: &str,
    key: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(&url)
        .bearer_auth(bearer)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {value}");
    Ok(value)
}

/// What the seller operations in the demo need of the seeded data.
struct Seeded<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    key: &'a str,
    customer_id: &'a str,
    terms_id: &'a str,
    issue: &'a str,
    due: &'a str,
}

impl Seeded<'_> {
    /// Seller operations through the real flow: an invoice paid in part by card and then refunded in part
    /// (the gateway's refund, the balance reopening, `refund.succeeded` to the ERP receiver, the buyer's
    /// email), and an invoice sent by email (a fresh pay link, written to the mail folder). Returns what to print.
    async fn refund_and_send(&self) -> anyhow::Result<String> {
        let (client, base, key) = (self.client, self.base, self.key);
        let post = reqwest::Method::POST;
        let invoice = call(
            client,
            post.clone(),
            format!("{base}/v1/invoices"),
            key,
            json!({
                "number": "INV-1005", "customer_id": self.customer_id, "currency": "USD",
                "issue_date": self.issue, "due_date": self.due, "terms_id": self.terms_id,
                "lines": [{"description": "Dock leveller service", "quantity": "1", "unit_price": "800.00"}],
            }),
        )
        .await?;
        let id = invoice["id"].as_str().context("invoice id")?;
        let link = call(
            client,
            post.clone(),
            format!("{base}/v1/invoices/{id}/checkout-links"),
            key,
            json!({}),
        )
        .await?;
        let checkout = link["token"].as_str().context("checkout token")?;
        let card = call(
            client,
            post.clone(),
            format!("{base}/sandbox/v1/tokens"),
            checkout,
            json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}),
        )
        .await?;
        let card = card["token"].as_str().context("card token")?;
        let paid = call_once(
            client,
            format!("{base}/v1/checkout/payments"),
            checkout,
            "demo-inv-1005",
            json!({"amount": "500.00", "payment_token": card}),
        )
        .await?;
        let payment_id = paid["payment"]["id"].as_str().context("payment id")?;
        let refund = call_once(
            client,
            format!("{base}/v1/payments/{payment_id}/refunds"),
            key,
            "demo-refund-1005",
            json!({"amount": "200.00", "reason": "requested_by_customer"}),
        )
        .await?;
        let after = call(
            client,
            reqwest::Method::GET,
            format!("{base}/v1/invoices/{id}"),
            key,
            json!({}),
        )
        .await?;
        let mut out = format!(
            "
  INV-1005 USD 800.00: the buyer paid 500.00 by card ({payment_id}); the seller refunded 200.00 \
             ({}, {}):\n    balance now {} ({}); refund.succeeded went to the ERP receiver and the buyer's email\n",
            refund["id"].as_str().unwrap_or("?"),
            refund["status"].as_str().unwrap_or("?"),
            after["balance_due"].as_str().unwrap_or("?"),
            after["status"].as_str().unwrap_or("?"),
        );
        let list = call(
            client,
            reqwest::Method::GET,
            format!("{base}/v1/invoices?limit=100"),
            key,
            json!({}),
        )
        .await?;
        let to_send = list["data"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["number"] == "INV-1002"))
            .and_then(|i| i["id"].as_str())
            .context("INV-1002")?
            .to_owned();
        let sent = call(
            client,
            post,
            format!("{base}/v1/invoices/{to_send}/send"),
            key,
            json!({}),
        )
        .await?;
        out.push_str(&format!(
            "  INV-1002 sent by email to {} with a fresh pay link {}\n  \
             Who did what: curl -H \"authorization: Bearer {key}\" {base}/v1/audit-log\n",
            sent["sent_to"].as_str().unwrap_or("?"),
            sent["link"]["url"].as_str().unwrap_or("?"),
        ));
        Ok(out)
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    bearer: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .request(method, &url)
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {value}");
    Ok(value)
}

type Embeds = Vec<(String, String)>;

async fn seed(
    base: &str,
    operator: &str,
    site_origin: &str,
    erp_url: &str,
) -> anyhow::Result<(String, Embeds, String)> {
    let client = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let seller = call(
        &client,
        post.clone(),
        format!("{base}/v1/sellers"),
        operator,
        json!({"name": "Northwind Supply Co.", "allowed_origins": [site_origin]}),
    )
    .await?;
    let key = seller["secret_key"].as_str().context("secret_key")?.to_owned();
    let endpoint = call(
        &client,
        post.clone(),
        format!("{base}/v1/erp/endpoints"),
        &key,
        json!({"url": erp_url, "kind": "webhook"}),
    )
    .await?;
    let secret = endpoint["signing_secret"]
        .as_str()
        .context("signing_secret")?
        .to_owned();
    let terms = call(
        &client,
        post.clone(),
        format!("{base}/v1/terms"),
        &key,
        json!({
            "name": "Standard partial terms",
            "allow_partial": true,
            "minimum_amounts": {"USD": "50.00", "EUR": "50.00", "JPY": "5000", "KWD": "15.000"},
            "minimum_percent": "10",
            "presets": ["10", "25", "50", "75"],
            "preset_basis": "balance",
            "early_payment_discount": {"percent": "2", "within_days": 10},
        }),
    )
    .await?;
    let terms_id = terms["id"].as_str().context("terms id")?;
    let customer = call(
        &client,
        post.clone(),
        format!("{base}/v1/customers"),
        &key,
        json!({
            "name": "Acme Buyer GmbH", "email": "ap@acme-buyer.example", "external_ref": "CUST-0042",
        }),
    )
    .await?;
    let customer_id = customer["id"].as_str().context("customer id")?;
    let today = crate::state::today();
    let issue = tranche_domain::wire::format_date(today);
    let due = tranche_domain::wire::format_date(today + time::Duration::days(30));
    let invoices = [
        (
            "INV-1001",
            "USD",
            json!([
                {"description": "Industrial shelving, 4 bays", "quantity": "4", "unit_price": "1250.00", "tax_rate": "8.25"},
                {"description": "Installation (hours)", "quantity": "6.5", "unit_price": "95.00"},
            ]),
        ),
        (
            "INV-1002",
            "EUR",
            json!([{"description": "Pallet racking", "quantity": "10", "unit_price": "389.90", "tax_rate": "19"}]),
        ),
        (
            "INV-1003",
            "JPY",
            json!([{"description": "Forklift rental (days)", "quantity": "12", "unit_price": "18500", "tax_rate": "10"}]),
        ),
        (
            "INV-1004",
            "KWD",
            json!([{"description": "Warehouse audit", "quantity": "1", "unit_price": "420.750"}]),
        ),
    ];
    let mut out = String::new();
    let mut embeds = Vec::new();
    out.push_str(&format!(
        "\nTranche demo\n  API:          {base}\n  seller key:   {key}\n  operator:     {operator}\n\n"
    ));
    for (number, currency, lines) in invoices {
        let invoice = call(
            &client,
            post.clone(),
            format!("{base}/v1/invoices"),
            &key,
            json!({
                "number": number, "customer_id": customer_id, "currency": currency,
                "issue_date": issue, "due_date": due, "terms_id": terms_id, "lines": lines,
            }),
        )
        .await?;
        let id = invoice["id"].as_str().context("invoice id")?;
        let link = call(
            &client,
            post.clone(),
            format!("{base}/v1/invoices/{id}/checkout-links"),
            &key,
            json!({}),
        )
        .await?;
        let total = invoice["total"].as_str().unwrap_or("?");
        embeds.push((
            format!("Invoice {number}: {currency} {total}"),
            link["token"].as_str().unwrap_or_default().to_owned(),
        ));
        out.push_str(&format!(
            "  {number} {currency} total {}  ->  {}\n",
            invoice["total"].as_str().unwrap_or("?"),
            link["url"].as_str().unwrap_or("?")
        ));
    }
    let ops = Seeded {
        client: &client,
        base,
        key: &key,
        customer_id,
        terms_id,
        issue: &issue,
        due: &due,
    };
    out.push_str(&ops.refund_and_send().await?);
    // The card token is bound to one checkout: the example uses the first invoice's link.
    let first_token = embeds
        .first()
        .map(|(_, token)| token.as_str())
        .unwrap_or("<a link's last part>");
    out.push_str(&format!(
        "\nTry a partial payment of INV-1001 with curl (its minimum is 10 %, 603.00):\n\
         \x20 CHECKOUT_TOKEN={first_token}\n\
         \x20 TOKEN=$(curl -s -X POST {base}/sandbox/v1/tokens -H \"authorization: Bearer $CHECKOUT_TOKEN\" -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"card\":{{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":\"123\"}}}}' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n\
         \x20 curl -s {base}/v1/checkout -H \"authorization: Bearer $CHECKOUT_TOKEN\"\n\
         \x20 curl -s -X POST {base}/v1/checkout/payments -H \"authorization: Bearer $CHECKOUT_TOKEN\" \\\n\
         \x20   -H 'idempotency-key: demo-1' -H 'content-type: application/json' \\\n\
         \x20   -d \"{{\\\"amount\\\":\\\"1000.00\\\",\\\"payment_token\\\":\\\"$TOKEN\\\"}}\"\n"
    ));
    Ok((out, embeds, secret))
}
