//! Late fees in QuickBooks (issue 16: "the ERP sees every installment payment and fee"). A fee becomes a
//! new line on the QBO invoice by a sparse update, so QuickBooks' invoice balance grows with Tranche's and
//! the buyer's later payment of the fee can be applied to it.
//!
//! The stand-in plays Intuit's Invoice and Payment APIs as published (Accounting API, `invoice` read and
//! sparse update, `payment` create) and checks each request: the bearer, `requestid`, JSON headers, the
//! current `SyncToken` (a stale one is refused with Intuit's error 5010, as QuickBooks does), `sparse:
//! true`, that no existing line is dropped (a sparse `Line` array replaces them all), new lines'
//! `SalesItemLineDetail` with an `ItemRef` and `Qty x UnitPrice = Amount`, and that a Payment never applies
//! more to an invoice than its QuickBooks balance. Anything else is recorded as a violation. Both databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use common::{eventually, fast, spawn_app_with, stand_in, Backend, SellerCtx, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use time::Duration as Days;
use tranche_api::scheduler;

const REALM: &str = "4620816365";
const QBO_INVOICE: &str = "145";

/// The QBO invoice as QuickBooks holds it, and what the stand-in saw.
struct Intuit {
    sync_token: u64,
    lines: Vec<Value>,
    next_line_id: u64,
    /// Amounts applied to the invoice by Payments.
    applied: Decimal,
    updates: Vec<Value>,
    request_ids: Vec<String>,
    violations: Vec<String>,
    /// Bump the SyncToken after the next read (someone edits the invoice in QuickBooks meanwhile).
    edit_after_read: bool,
}

impl Default for Intuit {
    fn default() -> Intuit {
        Intuit {
            sync_token: 0,
            lines: vec![
                json!({"Id": "1", "LineNum": 1, "Amount": 1000.00, "Description": "Shelving",
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Shelving"}, "Qty": 1, "UnitPrice": 1000.00}}),
            ],
            next_line_id: 2,
            applied: Decimal::ZERO,
            updates: Vec::new(),
            request_ids: Vec::new(),
            violations: Vec::new(),
            edit_after_read: false,
        }
    }
}

fn dec(v: &Value) -> Option<Decimal> {
    v.as_number().and_then(|n| n.to_string().parse::<Decimal>().ok())
}

impl Intuit {
    fn total(&self) -> Decimal {
        self.lines.iter().filter_map(|l| dec(&l["Amount"])).sum()
    }

    fn read(&self) -> Value {
        let mut lines = self.lines.clone();
        // QuickBooks answers with a computed subtotal line.
        lines.push(json!({"Amount": 0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}));
        let total: Value = serde_json::from_str(&self.total().to_string()).unwrap();
        json!({"Invoice": {"Id": QBO_INVOICE, "SyncToken": self.sync_token.to_string(), "Line": lines,
                           "TotalAmt": total},
               "time": "2027-01-05T10:00:00-08:00"})
    }

    /// Intuit's sparse update, checked. `Err` is the fault QuickBooks would answer with.
    fn update(&mut self, body: &Value) -> Result<(), (u16, String)> {
        if body["Id"] != QBO_INVOICE || body["sparse"] != true {
            return Err((400, format!("not a sparse update of {QBO_INVOICE}: {body}")));
        }
        if body["SyncToken"].as_str().and_then(|t| t.parse::<u64>().ok()) != Some(self.sync_token) {
            // Intuit: "Stale Object Error: You and ... were working on this at the same time." (5010)
            return Err((400, "5010".to_owned()));
        }
        let lines = body["Line"].as_array().cloned().unwrap_or_default();
        for kept in &self.lines {
            if !lines.iter().any(|l| l["Id"] == kept["Id"] && l == kept) {
                return Err((400, format!("the update drops or changes line {}", kept["Id"])));
            }
        }
        let mut next = Vec::new();
        for mut line in lines {
            if line["DetailType"] == "SubTotalLineDetail" {
                continue;
            }
            if line.get("Id").is_none() {
                let detail = &line["SalesItemLineDetail"];
                let ok = line["DetailType"] == "SalesItemLineDetail"
                    && detail["ItemRef"]["value"].is_string()
                    && line["Description"].is_string()
                    && matches!(
                        (dec(&line["Amount"]), dec(&detail["Qty"]), dec(&detail["UnitPrice"])),
                        (Some(a), Some(q), Some(p)) if q * p == a && a > Decimal::ZERO
                    );
                if !ok {
                    return Err((400, format!("new line shape {line}")));
                }
                line["Id"] = json!(self.next_line_id.to_string());
                self.next_line_id += 1;
            }
            next.push(line);
        }
        self.lines = next;
        self.sync_token += 1;
        self.updates.push(body.clone());
        Ok(())
    }

    fn payment(&mut self, body: &Value) -> Result<(), (u16, String)> {
        let link = &body["Line"][0]["LinkedTxn"][0];
        if link["TxnType"] != "Invoice" || link["TxnId"] != QBO_INVOICE {
            return Err((400, format!("payment linked to {link}")));
        }
        let amount = dec(&body["Line"][0]["Amount"]).ok_or((400, "amount".to_owned()))?;
        // QuickBooks: "the amount applied is greater than the invoice's open balance".
        if self.applied + amount > self.total() {
            return Err((
                400,
                format!(
                    "{amount} exceeds the open balance {}",
                    self.total() - self.applied
                ),
            ));
        }
        self.applied += amount;
        Ok(())
    }
}

async fn intuit(state: Arc<Mutex<Intuit>>) -> u16 {
    let data = web::Data::new(state);
    let (port, _) = stand_in::serve_any(move |app| {
        app.app_data(data.clone()).default_service(web::to(
            |request: HttpRequest, body: web::Bytes, intuit: web::Data<Arc<Mutex<Intuit>>>| async move {
                let path = request.path().to_owned();
                if path == "/oauth2/v1/tokens/bearer" {
                    return HttpResponse::Ok().json(json!({
                        "access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-2",
                        "x_refresh_token_expires_in": 8_726_400, "token_type": "bearer"}));
                }
                let mut intuit = intuit.lock().unwrap();
                let header = |name: &str| {
                    request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
                };
                if header("authorization") != "Bearer at-1" || !header("accept").contains("application/json") {
                    intuit.violations.push(format!("{path}: authorization or accept"));
                    return HttpResponse::Unauthorized().finish();
                }
                let company = format!("/v3/company/{REALM}");
                if request.method() == "GET" && path == format!("{company}/invoice/{QBO_INVOICE}") {
                    let answer = intuit.read();
                    if intuit.edit_after_read {
                        intuit.edit_after_read = false;
                        intuit.sync_token += 1;
                    }
                    return HttpResponse::Ok().json(answer);
                }
                let query = request.query_string().to_owned();
                let Some(request_id) = query.strip_prefix("requestid=").filter(|id| id.starts_with("dlv_"))
                else {
                    intuit.violations.push(format!("{path}: requestid {query:?}"));
                    return HttpResponse::BadRequest().finish();
                };
                if header("content-type") != "application/json" {
                    intuit.violations.push(format!("{path}: content-type"));
                    return HttpResponse::BadRequest().finish();
                }
                let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                    intuit.violations.push(format!("{path}: not JSON"));
                    return HttpResponse::BadRequest().finish();
                };
                intuit.request_ids.push(request_id.to_owned());
                let result = if path == format!("{company}/invoice") {
                    intuit.update(&value)
                } else if path == format!("{company}/payment") {
                    intuit.payment(&value)
                } else {
                    Err((404, format!("{} {path}", request.method())))
                };
                match result {
                    Ok(()) => HttpResponse::Ok().json(json!({"time": "2027-01-05T10:00:00-08:00"})),
                    Err((_, code)) if code == "5010" => HttpResponse::BadRequest().json(json!({"Fault": {
                        "Error": [{"Message": "Stale Object Error", "code": "5010"}], "type": "ValidationFault"}})),
                    Err((status, what)) => {
                        intuit.violations.push(what.clone());
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                            .json(json!({"Fault": {"Error": [{"Message": what}]}}))
                    }
                }
            },
        ));
    });
    port
}

struct Setup {
    app: TestApp,
    seller: SellerCtx,
    intuit: Arc<Mutex<Intuit>>,
    invoice_id: String,
    issue: time::Date,
}

/// A 30/40/30 plan with a 1.5 % late fee after 5 days' grace, a QuickBooks endpoint (with or without the
/// late-fee item), and installment 1 paid.
async fn setup(backend: Backend, item: Option<&str>, qbo_ref: &str) -> Setup {
    let intuit_state = Arc::new(Mutex::new(Intuit::default()));
    let port = intuit(intuit_state.clone()).await;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.scheduler_interval_ms = 0;
    })
    .await;
    let seller = app.seller("Northwind").await;
    let base = format!("http://127.0.0.1:{port}");
    let mut endpoint = json!({"kind": "quickbooks", "url": format!("{base}/v3/company/{REALM}/payment"),
        "token_url": format!("{base}/oauth2/v1/tokens/bearer"), "realm_id": REALM,
        "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"});
    if let Some(item) = item {
        endpoint["late_fee_item_id"] = json!(item);
    }
    let r = app.post("/v1/erp/endpoints", &seller.key, endpoint).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let terms = app
        .terms(
            &seller,
            json!({"name": "plan with fees", "allow_partial": true,
                   "schedule": [{"percent": "30", "due": "on_issue"}, {"percent": "40", "due_in_days": 30},
                                {"percent": "30", "due_in_days": 60}],
                   "late_fee": {"grace_days": 5, "percent": "1.5"}}),
        )
        .await;
    let invoice = app
        .invoice_with(
            &seller,
            "USD",
            "1000.00",
            json!({"terms_id": terms, "external_ref": qbo_ref}),
        )
        .await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let issue = tranche_domain::wire::parse_date(invoice["issue_date"].as_str().unwrap()).unwrap();
    let setup = Setup {
        app,
        seller,
        intuit: intuit_state,
        invoice_id,
        issue,
    };
    setup.pay("300.00").await;
    setup
}

impl Setup {
    async fn pay(&self, amount: &str) {
        self.app.pay_invoice(&self.seller, &self.invoice_id, amount).await;
    }

    /// The scheduler's pass on day `n` after issue; returns the fees it applied.
    async fn day(&self, n: i64) -> usize {
        scheduler::pass(&self.app.state, self.issue + Days::days(n))
            .await
            .unwrap()
            .fees_applied
    }

    async fn delivery_states(&self, event_type: &str) -> Vec<(String, Option<String>)> {
        sqlx::query_as(
            "SELECT d.status, d.last_error FROM deliveries d JOIN outbox o ON o.id = d.event_id \
             WHERE o.event_type = $1 AND d.kind = 'quickbooks'",
        )
        .bind(event_type)
        .fetch_all(self.app.state.db.pool())
        .await
        .unwrap()
    }

    async fn settled(&self, event_type: &str, count: usize) -> Vec<(String, Option<String>)> {
        let this = self;
        eventually(event_type, Duration::from_secs(10), || async move {
            let states = this.delivery_states(event_type).await;
            (states.len() == count && states.iter().all(|(s, _)| s == "delivered" || s == "dead"))
                .then_some(states)
        })
        .await
    }
}

async fn a_late_fee_becomes_a_line_of_the_quickbooks_invoice_and_its_payment_fits(backend: Backend) {
    let s = setup(backend, Some("77"), QBO_INVOICE).await;
    assert_eq!(s.day(36).await, 1, "installment 2's fee: 1.5 % of 400.00");
    assert_eq!(s.day(36).await, 0);
    let fees = s.settled("invoice.late_fee_applied", 1).await;
    assert_eq!(fees[0].0, "delivered", "{fees:?}");
    {
        let intuit = s.intuit.lock().unwrap();
        assert!(intuit.violations.is_empty(), "{:?}", intuit.violations);
        assert_eq!(intuit.updates.len(), 1);
        assert_eq!(intuit.lines.len(), 2, "{:?}", intuit.lines);
        let fee = &intuit.lines[1];
        assert_eq!(fee["SalesItemLineDetail"]["ItemRef"]["value"], "77");
        assert_eq!(dec(&fee["Amount"]), Some(Decimal::new(600, 2)));
        assert!(
            fee["Description"]
                .as_str()
                .unwrap()
                .contains("Late fee, installment 2"),
            "{fee}"
        );
        assert_eq!(
            intuit.total(),
            Decimal::new(100_600, 2),
            "QuickBooks' total is Tranche's"
        );
    }
    // The buyer pays everything, the fee included: QuickBooks accepts the payment against the grown invoice
    // (without the fee line it would refuse 706.00 on an open balance of 700.00).
    s.pay("706.00").await;
    let payments = s.settled("payment.succeeded", 2).await;
    assert!(
        payments.iter().all(|(status, _)| status == "delivered"),
        "{payments:?}"
    );
    let intuit = s.intuit.lock().unwrap();
    assert!(intuit.violations.is_empty(), "{:?}", intuit.violations);
    assert_eq!(intuit.applied, Decimal::new(100_600, 2));
}
both_backends!(a_late_fee_becomes_a_line_of_the_quickbooks_invoice_and_its_payment_fits);

/// Someone edits the invoice in QuickBooks between the relay's read and its update: Intuit refuses the
/// stale SyncToken, the retry reads again (a new `requestid`, as Intuit would replay its first answer to
/// the old one) and the fee lands once.
async fn a_stale_sync_token_is_read_again_and_the_fee_lands_once(backend: Backend) {
    let s = setup(backend, Some("77"), QBO_INVOICE).await;
    s.intuit.lock().unwrap().edit_after_read = true;
    assert_eq!(s.day(36).await, 1);
    let fees = s.settled("invoice.late_fee_applied", 1).await;
    assert_eq!(fees[0].0, "delivered", "{fees:?}");
    let intuit = s.intuit.lock().unwrap();
    assert!(intuit.violations.is_empty(), "{:?}", intuit.violations);
    assert_eq!(intuit.updates.len(), 1);
    assert_eq!(intuit.lines.len(), 2, "{:?}", intuit.lines);
    let fee_ids: Vec<&String> = intuit.request_ids.iter().filter(|id| id.contains('-')).collect();
    assert_eq!(fee_ids.len(), 2, "two update attempts: {:?}", intuit.request_ids);
    assert_ne!(
        fee_ids[0], fee_ids[1],
        "a new requestid for the newer invoice version"
    );
}
both_backends!(a_stale_sync_token_is_read_again_and_the_fee_lands_once);

/// Without the seller's late-fee item, or with an invoice ref that is not a QuickBooks id, the fee is
/// dead-lettered with the reason and QuickBooks is not written to.
async fn a_fee_quickbooks_cannot_take_is_dead_lettered_with_the_reason(backend: Backend) {
    for (item, qbo_ref, reason) in [
        (None, QBO_INVOICE, "late_fee_item_id"),
        (Some("77"), "../customer/1", "external_ref"),
    ] {
        let s = setup(backend, item, qbo_ref).await;
        assert_eq!(s.day(36).await, 1);
        let fees = s.settled("invoice.late_fee_applied", 1).await;
        assert_eq!(fees[0].0, "dead", "{fees:?}");
        assert!(fees[0].1.as_deref().unwrap_or("").contains(reason), "{fees:?}");
        let intuit = s.intuit.lock().unwrap();
        assert!(intuit.updates.is_empty());
        assert_eq!(intuit.lines.len(), 1);
    }
}
both_backends!(a_fee_quickbooks_cannot_take_is_dead_lettered_with_the_reason);

/// The item id is a QuickBooks id (digits) and only for QuickBooks endpoints.
async fn the_late_fee_item_is_checked_at_registration(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let seller = app.seller("Northwind").await;
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "webhook", "url": "https://erp.example/hooks", "late_fee_item_id": "77"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["field"], "late_fee_item_id", "{problem}");
    let r = app
        .post(
            "/v1/erp/endpoints",
            &seller.key,
            json!({"kind": "quickbooks", "url": format!("https://quickbooks.api.intuit.com/v3/company/{REALM}/payment"),
                   "realm_id": REALM, "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1",
                   "late_fee_item_id": "Late fee"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["field"], "late_fee_item_id", "{problem}");
}
both_backends!(the_late_fee_item_is_checked_at_registration);
