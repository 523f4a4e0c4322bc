//! ERP posting under attack (issue 13, items 1, 2, 8, 9): QuickBooks credentials go only where their owner
//! sent them, with Intuit's OAuth 2.0 refresh flow checked by a stand-in for Intuit; seller-chosen URLs
//! cannot reach private addresses (SSRF) and failures tell a prober nothing; one seller's black-hole
//! endpoints cannot delay another seller's deliveries; receipt emails cannot be resent at will.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use common::smtp::SmtpSink;
use common::{eventually, expect_problem, fast, spawn_app_with, stand_in, Backend, SellerCtx, TestApp};
use serde_json::{json, Value};
use tranche_api::config::Settings;
use tranche_api::masking::Secret;

const VISA: &str = "4242424242424242";
const REALM: &str = "4620816365";

// ---------------------------------------------------------------------------------------------------
// Helpers.

fn master_key() -> Secret {
    Secret::new(base64::engine::general_purpose::STANDARD.encode([42u8; 32]))
}

/// The settings of a production-like node: private destinations refused.
fn strict(settings: &mut Settings) {
    fast(settings, &[100, 200, 400]);
    settings.erp.allow_private_destinations = false;
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn create(app: &TestApp, seller: &SellerCtx, body: Value) -> reqwest::Response {
    app.post("/v1/erp/endpoints", &seller.key, body).await
}

async fn webhook_endpoint(app: &TestApp, seller: &SellerCtx, url: &str) -> Value {
    let r = create(app, seller, json!({"kind": "webhook", "url": url})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn deliveries(app: &TestApp, seller: &SellerCtx) -> Vec<Value> {
    let r = app.get("/v1/erp/deliveries?limit=100", &seller.key).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn deliveries_of(app: &TestApp, seller: &SellerCtx, kind: &str) -> Vec<Value> {
    deliveries(app, seller)
        .await
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect()
}

async fn endpoint(app: &TestApp, seller: &SellerCtx, id: &str) -> Value {
    let r = app.get(&format!("/v1/erp/endpoints/{id}"), &seller.key).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Pays `amount` of a fresh invoice of `total` (with a QuickBooks invoice id) and asserts success.
async fn pay(app: &TestApp, seller: &SellerCtx, total: &str, amount: &str) -> Value {
    let invoice = app
        .invoice_with(seller, "USD", total, json!({"external_ref": "145"}))
        .await;
    let (_, token) = app.link(seller, invoice["id"].as_str().unwrap()).await;
    let card = app.card_token_for(&token, VISA).await;
    let r = app
        .pay(&token, &uuid::Uuid::now_v7().to_string(), amount, &card)
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

// ---------------------------------------------------------------------------------------------------
// A stand-in for Intuit: a real HTTP server playing the OAuth 2.0 token endpoint and the QuickBooks
// Online Payment API. It checks every request against Intuit's published spec and refuses (and records
// as a violation) anything else.

#[derive(Default)]
struct IntuitState {
    client_id: String,
    client_secret: String,
    /// The refresh token that works now (rotated on every refresh).
    refresh_token: Mutex<String>,
    /// Access tokens issued and not revoked.
    valid_access: Mutex<Vec<String>>,
    /// Every access token ever issued (a bearer that is none of these is a leak).
    issued_access: Mutex<Vec<String>>,
    refuse_grant: AtomicBool,
    token_requests: AtomicUsize,
    payments: Mutex<Vec<Value>>,
    /// Every Authorization header seen, on either endpoint.
    authorizations: Mutex<Vec<String>>,
    violations: Mutex<Vec<String>>,
    counter: AtomicUsize,
}

struct IntuitStandIn {
    port: u16,
    state: Arc<IntuitState>,
    handle: actix_web::dev::ServerHandle,
}

impl IntuitStandIn {
    async fn start(client_id: &str, client_secret: &str, refresh_token: &str) -> IntuitStandIn {
        let state = Arc::new(IntuitState {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            refresh_token: Mutex::new(refresh_token.to_owned()),
            ..IntuitState::default()
        });
        let data = web::Data::new(state.clone());
        let (port, handle) = stand_in::serve_any(move |app| {
            app.app_data(data.clone())
                .route("/oauth2/v1/tokens/bearer", web::post().to(intuit_token))
                .route("/v3/company/{realm}/payment", web::post().to(intuit_payment))
                .default_service(web::to(intuit_unknown));
        });
        IntuitStandIn { port, state, handle }
    }

    fn payment_url(&self) -> String {
        format!("http://127.0.0.1:{}/v3/company/{REALM}/payment", self.port)
    }

    fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/oauth2/v1/tokens/bearer", self.port)
    }

    /// The body a seller sends to register this stand-in as their QuickBooks company.
    fn endpoint_body(&self) -> Value {
        json!({
            "kind": "quickbooks",
            "url": self.payment_url(),
            "token_url": self.token_url(),
            "realm_id": REALM,
            "client_id": self.state.client_id,
            "client_secret": self.state.client_secret,
            "refresh_token": *self.state.refresh_token.lock().unwrap(),
        })
    }

    fn violations(&self) -> Vec<String> {
        self.state.violations.lock().unwrap().clone()
    }

    fn payments(&self) -> Vec<Value> {
        self.state.payments.lock().unwrap().clone()
    }

    fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// Revokes every access token issued so far (as a user disconnecting and reconnecting the app would).
    fn revoke_access_tokens(&self) {
        self.state.valid_access.lock().unwrap().clear();
    }

    fn current_refresh_token(&self) -> String {
        self.state.refresh_token.lock().unwrap().clone()
    }
}

impl Drop for IntuitStandIn {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn header(request: &HttpRequest, name: &str) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn violation(state: &IntuitState, what: String) -> HttpResponse {
    state.violations.lock().unwrap().push(what.clone());
    HttpResponse::BadRequest().json(json!({"error": "invalid_request", "error_description": what}))
}

async fn intuit_token(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<IntuitState>>,
) -> HttpResponse {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    let authorization = header(&request, "authorization");
    state.authorizations.lock().unwrap().push(authorization.clone());
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", state.client_id, state.client_secret))
    );
    if authorization != expected {
        state
            .violations
            .lock()
            .unwrap()
            .push(format!("token request with Authorization {authorization:?}"));
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    if !header(&request, "accept").contains("application/json") {
        return violation(
            &state,
            "token request without Accept: application/json".to_owned(),
        );
    }
    if header(&request, "content-type") != "application/x-www-form-urlencoded" {
        return violation(
            &state,
            format!(
                "token request content-type {:?}",
                header(&request, "content-type")
            ),
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut keys: Vec<&str> = form.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["grant_type", "refresh_token"] || form["grant_type"] != "refresh_token" {
        return violation(&state, format!("token request form {form:?}"));
    }
    if state.refuse_grant.load(Ordering::SeqCst) {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
    }
    let mut current = state.refresh_token.lock().unwrap();
    if form["refresh_token"] != *current {
        state
            .violations
            .lock()
            .unwrap()
            .push("a stale or foreign refresh token was used".to_owned());
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
    }
    let n = state.counter.fetch_add(1, Ordering::SeqCst);
    let access = format!("at-{}-{n}", state.client_id);
    // Intuit may rotate the refresh token: this stand-in always does, so a client that kept the old
    // one would be caught on its next refresh.
    *current = format!("rt-{}-{n}", state.client_id);
    state.valid_access.lock().unwrap().push(access.clone());
    state.issued_access.lock().unwrap().push(access.clone());
    HttpResponse::Ok().json(json!({
        "access_token": access,
        "expires_in": 3600,
        "refresh_token": *current,
        "x_refresh_token_expires_in": 8_726_400,
        "token_type": "bearer",
    }))
}

async fn intuit_payment(
    request: HttpRequest,
    realm: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Arc<IntuitState>>,
) -> HttpResponse {
    let authorization = header(&request, "authorization");
    state.authorizations.lock().unwrap().push(authorization.clone());
    let Some(bearer) = authorization.strip_prefix("Bearer ") else {
        return violation(&state, format!("payment without a bearer: {authorization:?}"));
    };
    if !state.issued_access.lock().unwrap().iter().any(|t| t == bearer) {
        return violation(
            &state,
            format!("payment with a token this company never issued: {bearer:?}"),
        );
    }
    if !state.valid_access.lock().unwrap().iter().any(|t| t == bearer) {
        // Revoked or expired: Intuit answers 401 and the client must refresh.
        return HttpResponse::Unauthorized().json(json!({"fault": {"type": "AUTHENTICATION"}}));
    }
    if realm.as_str() != REALM {
        return violation(&state, format!("payment for realm {realm}"));
    }
    let query: HashMap<String, String> = url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect();
    if !query.get("requestid").is_some_and(|id| id.starts_with("dlv_")) {
        return violation(&state, format!("payment without a requestid: {query:?}"));
    }
    if header(&request, "content-type") != "application/json"
        || !header(&request, "accept").contains("application/json")
    {
        return violation(&state, "payment without JSON content-type and accept".to_owned());
    }
    let Ok(payment) = serde_json::from_slice::<Value>(&body) else {
        return violation(&state, "payment body is not JSON".to_owned());
    };
    let shape_ok = payment["CustomerRef"]["value"].is_string()
        && payment["TotalAmt"].is_number()
        && payment["Line"][0]["Amount"].is_number()
        && payment["Line"][0]["LinkedTxn"][0]["TxnType"] == "Invoice"
        && payment["Line"][0]["LinkedTxn"][0]["TxnId"].is_string();
    if !shape_ok {
        return violation(&state, format!("payment body shape: {payment}"));
    }
    state.payments.lock().unwrap().push(payment.clone());
    HttpResponse::Ok().json(json!({"Payment": {"Id": "1", "SyncToken": "0"}, "time": "2026-11-29T00:00:00Z"}))
}

async fn intuit_unknown(request: HttpRequest, state: web::Data<Arc<IntuitState>>) -> HttpResponse {
    state
        .authorizations
        .lock()
        .unwrap()
        .push(header(&request, "authorization"));
    violation(&state, format!("{} {}", request.method(), request.path()))
}

// ---------------------------------------------------------------------------------------------------
// 1. QuickBooks: the endpoint's own OAuth credentials, refreshed to spec, sealed at rest.

async fn quickbooks_posts_with_its_own_refreshed_token(backend: Backend) {
    let intuit = IntuitStandIn::start("client-north", "secret-north", "rt-initial-north").await;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.master_key = Some(master_key());
    })
    .await;
    let seller = app.seller("Northwind").await;
    let r = create(&app, &seller, intuit.endpoint_body()).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    let endpoint_id = created["id"].as_str().unwrap().to_owned();
    for field in ["client_secret", "refresh_token", "access_token"] {
        assert_eq!(created.get(field), None, "{field} is never shown: {created}");
    }

    pay(&app, &seller, "1234.56", "234.56").await;
    let i = &intuit;
    eventually(
        "the first QuickBooks payment",
        Duration::from_secs(10),
        || async move { (i.payments().len() == 1).then_some(()) },
    )
    .await;
    assert_eq!(intuit.token_requests(), 1);
    let raw = intuit.payments()[0].to_string();
    assert!(raw.contains("\"TotalAmt\":234.56"), "{raw}");

    // A second payment reuses the cached access token: no second refresh.
    pay(&app, &seller, "10.00", "10.00").await;
    eventually("the second payment", Duration::from_secs(10), || async move {
        (i.payments().len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        intuit.token_requests(),
        1,
        "the access token is cached for its hour"
    );

    // At rest: sealed, never the plaintext; the rotated refresh token is the one stored.
    let row: (String, String, String, String) = sqlx::query_as(
        "SELECT client_secret, refresh_token, access_token, signing_secret FROM erp_endpoints WHERE id = $1",
    )
    .bind(&endpoint_id)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    for (column, stored) in [
        ("client_secret", &row.0),
        ("refresh_token", &row.1),
        ("access_token", &row.2),
        ("signing_secret", &row.3),
    ] {
        assert!(stored.starts_with("enc:v1:"), "{column} is not sealed: {stored}");
        assert!(
            !stored.contains("north") && !stored.contains("whsec_"),
            "{column}: {stored}"
        );
    }
    let refresh = app
        .state
        .secrets
        .open(&format!("erp_endpoints.refresh_token:{endpoint_id}"), &row.1)
        .unwrap();
    assert_eq!(refresh.expose(), intuit.current_refresh_token());

    // The access token is revoked early: the Payment API answers 401, one refresh, one retry.
    intuit.revoke_access_tokens();
    pay(&app, &seller, "20.00", "20.00").await;
    eventually(
        "the payment after a 401",
        Duration::from_secs(10),
        || async move { (i.payments().len() == 3).then_some(()) },
    )
    .await;
    assert_eq!(intuit.token_requests(), 2);
    let (a, s) = (&app, &seller);
    eventually("three delivered", Duration::from_secs(10), || async move {
        let d = deliveries_of(a, s, "quickbooks").await;
        (d.len() == 3 && d.iter().all(|d| d["status"] == "delivered")).then_some(())
    })
    .await;
    assert_eq!(intuit.violations(), Vec::<String>::new());
}
both_backends!(quickbooks_posts_with_its_own_refreshed_token);

async fn quickbooks_invalid_grant_needs_reauthorization(backend: Backend) {
    let intuit = IntuitStandIn::start("client-north", "secret-north", "rt-initial-north").await;
    intuit.state.refuse_grant.store(true, Ordering::SeqCst);
    let app = spawn_app_with(backend, |s| fast(s, &[50, 50, 50, 50, 50, 50])).await;
    let seller = app.seller("Northwind").await;
    let r = create(&app, &seller, intuit.endpoint_body()).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let endpoint_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    pay(&app, &seller, "100.00", "10.00").await;
    let (a, s) = (&app, &seller);
    let dead = eventually("the dead letter", Duration::from_secs(10), || async move {
        deliveries_of(a, s, "quickbooks")
            .await
            .into_iter()
            .find(|d| d["status"] == "dead")
    })
    .await;
    let error = dead["last_error"].as_str().unwrap();
    assert!(error.contains("reauthorization_required"), "{dead}");
    assert_eq!(dead["attempts"], 1, "no retry loop: {dead}");
    let shown = endpoint(&app, &seller, &endpoint_id).await;
    assert!(shown["disabled_at"].is_string(), "{shown}");
    assert!(
        shown["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("reauthorization_required"),
        "{shown}"
    );
    // Many relay polls later: still one token request and no payment.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(intuit.token_requests(), 1);
    assert!(intuit.payments().is_empty());
    assert_eq!(intuit.violations(), Vec::<String>::new());
}
both_backends!(quickbooks_invalid_grant_needs_reauthorization);

/// The attack of issue 13 item 1: a seller registers a QuickBooks endpoint at a receiver they control.
/// Each receiver sees only its own seller's credentials and tokens: there is no server-wide token to
/// leak (the setting and TRANCHE_QUICKBOOKS_TOKEN are gone; see config.rs tests).
async fn a_sellers_credentials_reach_only_their_own_endpoint(backend: Backend) {
    let mallory_site = IntuitStandIn::start("client-mallory", "secret-mallory", "rt-mallory").await;
    let north_site = IntuitStandIn::start("client-north", "secret-north", "rt-north").await;
    let app = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let mallory = app.seller("Mallory").await;
    let north = app.seller("Northwind").await;
    for (seller, site) in [(&mallory, &mallory_site), (&north, &north_site)] {
        let r = create(&app, seller, site.endpoint_body()).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    // The server-wide token is not a field any more: a seller cannot hand in a bare access token either.
    let r = create(
        &app,
        &mallory,
        json!({"kind": "quickbooks", "url": mallory_site.payment_url(), "access_token": "x"}),
    )
    .await;
    expect_problem(r, 400, "unknown_field").await;
    for seller in [&north, &mallory, &north] {
        pay(&app, seller, "50.00", "50.00").await;
    }
    let (m, n) = (&mallory_site, &north_site);
    eventually(
        "every payment posted (or a refused one)",
        Duration::from_secs(10),
        || async move {
            let posted = m.payments().len() == 1 && n.payments().len() == 2;
            let refused = !m.violations().is_empty() || !n.violations().is_empty();
            (posted || refused).then_some(())
        },
    )
    .await;
    for (site, own) in [(&mallory_site, "mallory"), (&north_site, "north")] {
        let seen = site.state.authorizations.lock().unwrap().clone();
        assert!(!seen.is_empty());
        for authorization in &seen {
            let own_basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("client-{own}:secret-{own}"))
            );
            assert!(
                *authorization == own_basic || authorization.starts_with(&format!("Bearer at-client-{own}-")),
                "{own}'s receiver saw {authorization:?}"
            );
        }
        assert_eq!(site.violations(), Vec::<String>::new());
    }
}
both_backends!(a_sellers_credentials_reach_only_their_own_endpoint);

async fn endpoint_fields_are_checked_per_kind(backend: Backend) {
    let intuit = IntuitStandIn::start("c", "s", "r").await;
    let app = spawn_app_with(backend, strict).await;
    let seller = app.seller("Northwind").await;
    let full = json!({
        "kind": "quickbooks",
        "url": format!("https://quickbooks.api.intuit.com/v3/company/{REALM}/payment"),
        "realm_id": REALM, "client_id": "c", "client_secret": "s", "refresh_token": "r",
    });
    for missing in ["realm_id", "client_id", "client_secret", "refresh_token"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(missing);
        let problem = expect_problem(create(&app, &seller, body).await, 400, "missing_field").await;
        assert_eq!(problem["field"], missing);
    }
    for (field, value) in [
        ("realm_id", json!("12 34")),
        ("client_id", json!("")),
        ("realm_id", json!("999")),
    ] {
        let mut body = full.clone();
        body[field] = value;
        let problem = expect_problem(create(&app, &seller, body).await, 400, "invalid_field").await;
        let named = problem["field"].as_str().unwrap();
        assert!(named == field || named == "url", "{problem}");
    }
    let problem = expect_problem(
        create(
            &app,
            &seller,
            json!({"kind": "webhook", "url": "https://8.8.8.8/h", "realm_id": REALM}),
        )
        .await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "realm_id");
    // Credentials go only to Intuit unless private destinations are allowed.
    for (field, value) in [
        ("url", format!("https://8.8.8.8/v3/company/{REALM}/payment")),
        (
            "url",
            format!("http://quickbooks.api.intuit.com/v3/company/{REALM}/payment"),
        ),
        ("url", intuit.payment_url()),
        ("token_url", "https://8.8.8.8/oauth2/v1/tokens/bearer".to_owned()),
        ("token_url", intuit.token_url()),
    ] {
        let mut body = full.clone();
        body[field] = json!(value);
        let problem = expect_problem(create(&app, &seller, body).await, 422, "destination_not_allowed").await;
        assert!(problem["detail"].as_str().unwrap().contains(field), "{problem}");
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM erp_endpoints").await, 0);
    assert_eq!(intuit.token_requests(), 0);
}
both_backends!(endpoint_fields_are_checked_per_kind);

async fn webhook_secrets_are_sealed_at_rest(backend: Backend) {
    let receiver = LiveReceiver::start().await;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.master_key = Some(master_key());
    })
    .await;
    let seller = app.seller("Northwind").await;
    let created = webhook_endpoint(&app, &seller, &receiver.url()).await;
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM erp_endpoints WHERE signing_secret LIKE '%whsec_%'")
            .await,
        0,
        "a signing secret is stored in the clear"
    );
    // Deliveries are still signed with it (read back through the secret box).
    pay(&app, &seller, "10.00", "10.00").await;
    let r = &receiver;
    let hit = eventually("the webhook", Duration::from_secs(10), || async move {
        r.hits().into_iter().next()
    })
    .await;
    tranche_api::erp::signature::verify(
        &secret,
        &hit.headers["webhook-id"],
        &hit.headers["webhook-timestamp"],
        &hit.headers["webhook-signature"],
        &hit.body,
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap(),
    )
    .unwrap();
}
both_backends!(webhook_secrets_are_sealed_at_rest);

/// A secret stored before the operator configured a master key is sealed once there is one, and
/// deliveries keep verifying with it.
async fn secrets_stored_before_the_master_key_are_sealed(backend: Backend) {
    let receiver = LiveReceiver::start().await;
    let before = spawn_app_with(backend, |s| fast(s, &[100, 200, 400])).await;
    let seller = before.seller("Northwind").await;
    let created = webhook_endpoint(&before, &seller, &receiver.url()).await;
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    let plain = "SELECT COUNT(*) FROM erp_endpoints WHERE signing_secret LIKE 'whsec_%'";
    assert_eq!(before.sql_count(plain).await, 1, "no key yet: stored as it came");
    let after = common::spawn_app_on(backend, before.database_url.clone(), |s| {
        fast(s, &[100, 200, 400]);
        s.master_key = Some(master_key());
    })
    .await;
    let a = &after;
    eventually("the secret sealed", Duration::from_secs(10), || async move {
        (a.sql_count(plain).await == 0).then_some(())
    })
    .await;
    let id = created["id"].as_str().unwrap();
    let (stored,): (String,) = sqlx::query_as("SELECT signing_secret FROM erp_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(after.state.db.pool())
        .await
        .unwrap();
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    let opened = after
        .state
        .secrets
        .open(&format!("erp_endpoints.signing_secret:{id}"), &stored)
        .unwrap();
    assert_eq!(opened.expose(), secret);
}
both_backends!(secrets_stored_before_the_master_key_are_sealed);

// ---------------------------------------------------------------------------------------------------
// 2. SSRF.

async fn private_destinations_are_refused_at_registration(backend: Backend) {
    let receiver = LiveReceiver::start().await;
    let app = spawn_app_with(backend, strict).await;
    let seller = app.seller("Northwind").await;
    for url in [
        receiver.url(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://localhost/hook".to_owned(),
        "http://2130706433/hook".to_owned(), // 127.0.0.1 as one decimal number
        "http://10.0.0.7/hook".to_owned(),
        "http://[::ffff:127.0.0.1]/hook".to_owned(),
    ] {
        let r = create(&app, &seller, json!({"kind": "webhook", "url": url})).await;
        expect_problem(r, 422, "destination_not_allowed").await;
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM erp_endpoints").await,
        0,
        "nothing stored"
    );
    // A public address is accepted (the policy is not refusing everything).
    webhook_endpoint(&app, &seller, "https://8.8.8.8/hook").await;
    assert!(receiver.hits().is_empty());
}
both_backends!(private_destinations_are_refused_at_registration);

/// A URL stored earlier (before the policy, or a name that resolved elsewhere then) is checked again
/// before every send.
async fn a_stored_private_destination_is_refused_before_sending(backend: Backend) {
    let receiver = LiveReceiver::start().await;
    let app = spawn_app_with(backend, strict).await;
    let seller = app.seller("Northwind").await;
    sqlx::query(
        "INSERT INTO erp_endpoints (id, seller_id, kind, url, signing_secret, created_at) VALUES ('erp_old', $1, 'webhook', $2, $3, 0)",
    )
    .bind(&seller.id)
    .bind(receiver.url())
    .bind(tranche_api::erp::signature::new_secret())
    .execute(app.state.db.pool())
    .await
    .unwrap();
    pay(&app, &seller, "10.00", "10.00").await;
    let (a, s) = (&app, &seller);
    let failed = eventually("the refused attempt", Duration::from_secs(10), || async move {
        deliveries_of(a, s, "webhook")
            .await
            .into_iter()
            .find(|d| d["last_error"].is_string() || d["status"] == "delivered")
    })
    .await;
    assert_eq!(failed["last_error"], "destination not allowed", "{failed}");
    assert!(receiver.hits().is_empty(), "the private receiver was reached");
}
both_backends!(a_stored_private_destination_is_refused_before_sending);

/// Refused, timed out and not-HTTP all read the same to the seller, on every replay.
async fn failures_are_coarse_and_replays_probe_nothing(backend: Backend) {
    let hole = BlackHole::start().await;
    let not_http = BlackHole::start_replying(b"SSH-2.0-OpenSSH_9.6\r\n").await;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[60_000]);
        s.erp.attempt_timeout_ms = 700;
    })
    .await;
    let seller = app.seller("Northwind").await;
    let targets = [
        format!("http://127.0.0.1:{}/", closed_port()),
        hole.url(),
        not_http.url(),
        format!("https://127.0.0.1:{}/", not_http.port),
    ];
    for url in &targets {
        webhook_endpoint(&app, &seller, url).await;
    }
    pay(&app, &seller, "100.00", "10.00").await;
    let (a, s) = (&app, &seller);
    let failed = eventually("four failed attempts", Duration::from_secs(15), || async move {
        let d: Vec<Value> = deliveries_of(a, s, "webhook")
            .await
            .into_iter()
            .filter(|d| d["last_error"].is_string())
            .collect();
        (d.len() == 4).then_some(d)
    })
    .await;
    for d in &failed {
        assert_eq!(d["last_error"], "could not connect", "{d}");
        assert_eq!(d["last_status_code"], Value::Null, "{d}");
    }
    // Replays on demand answer the same view and record the same coarse text.
    for round in 2..=3 {
        for d in &failed {
            let id = d["id"].as_str().unwrap();
            let r = app
                .post(&format!("/v1/erp/deliveries/{id}/retry"), &seller.key, json!({}))
                .await;
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
        let finished = format!(
            "SELECT COUNT(*) FROM deliveries WHERE kind = 'webhook' AND attempts = {round} AND locked_until IS NULL"
        );
        let f = &finished;
        eventually("the replays finished", Duration::from_secs(15), || async move {
            (a.sql_count(f).await == 4).then_some(())
        })
        .await;
        for d in deliveries_of(&app, &seller, "webhook").await {
            // Dead after its schedule ("gave up after 2 attempts: ..."), the same text either way.
            assert!(
                d["last_error"].as_str().unwrap().ends_with("could not connect"),
                "{d}"
            );
        }
    }
}
both_backends!(failures_are_coarse_and_replays_probe_nothing);

async fn endpoints_per_seller_are_capped(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.erp.max_endpoints_per_seller = 3).await;
    let seller = app.seller("Northwind").await;
    let other = app.seller("Other").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let e = webhook_endpoint(&app, &seller, &format!("http://127.0.0.1:9/{n}")).await;
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    let r = create(
        &app,
        &seller,
        json!({"kind": "webhook", "url": "http://127.0.0.1:9/4"}),
    )
    .await;
    expect_problem(r, 409, "endpoint_limit_reached").await;
    // Per seller: another seller is not affected; deleting one frees a place.
    webhook_endpoint(&app, &other, "http://127.0.0.1:9/x").await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/erp/endpoints/{}", ids[0])))
        .bearer_auth(&seller.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    webhook_endpoint(&app, &seller, "http://127.0.0.1:9/5").await;
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) FROM erp_endpoints WHERE seller_id = '{}' AND disabled_at IS NULL",
            seller.id
        ))
        .await,
        3
    );
}
both_backends!(endpoints_per_seller_are_capped);

async fn an_endpoint_failing_again_and_again_is_disabled(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        fast(s, &[30, 30, 30, 30, 30, 30, 30, 30]);
        s.erp.disable_after_failures = 3;
        s.erp.disable_after_failing_ms = 0;
    })
    .await;
    let seller = app.seller("Northwind").await;
    let e = webhook_endpoint(&app, &seller, &format!("http://127.0.0.1:{}/", closed_port())).await;
    let id = e["id"].as_str().unwrap().to_owned();
    pay(&app, &seller, "100.00", "10.00").await;
    let (a, s, i) = (&app, &seller, id.as_str());
    let disabled = eventually("the endpoint disabled", Duration::from_secs(10), || async move {
        let e = endpoint(a, s, i).await;
        e["disabled_at"].is_string().then_some(e)
    })
    .await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("3 failed attempts in a row"), "{reason}");
    assert!(reason.contains("could not connect"), "{reason}");
    let d = deliveries_of(&app, &seller, "webhook").await;
    assert_eq!(d[0]["status"], "dead", "{d:?}");
    assert_eq!(d[0]["attempts"], 3, "{d:?}");
}
both_backends!(an_endpoint_failing_again_and_again_is_disabled);

// ---------------------------------------------------------------------------------------------------
// 3. Fairness: black holes of one seller do not delay another seller.

async fn black_holes_do_not_delay_another_seller(backend: Backend) {
    let hole = BlackHole::start().await;
    let receiver = LiveReceiver::start().await;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[60_000]);
        // Far longer than the test's guard: an attempt at a black hole never finishes within it.
        s.erp.attempt_timeout_ms = 120_000;
    })
    .await;
    let mallory = app.seller("Mallory").await;
    for n in 0..10 {
        webhook_endpoint(&app, &mallory, &format!("{}{n}", hole.url())).await;
    }
    for _ in 0..4 {
        pay(&app, &mallory, "100.00", "10.00").await; // 10 webhook deliveries each
    }
    let h = &hole;
    eventually(
        "Mallory's attempts hanging",
        Duration::from_secs(20),
        || async move { (h.accepted() >= 10).then_some(()) },
    )
    .await;

    let north = app.seller("Northwind").await;
    webhook_endpoint(&app, &north, &receiver.url()).await;
    pay(&app, &north, "100.00", "10.00").await;
    let r = &receiver;
    eventually("Northwind's webhook", Duration::from_secs(20), || async move {
        r.hits().into_iter().next()
    })
    .await;
    // Delivered while every one of Mallory's attempts still hangs: none has finished.
    let mallory_done: Vec<Value> = deliveries_of(&app, &mallory, "webhook")
        .await
        .into_iter()
        .filter(|d| d["status"] != "pending" || d["last_error"].is_string())
        .collect();
    assert!(mallory_done.is_empty(), "{mallory_done:?}");
    assert!(
        hole.open() >= 10,
        "the black hole holds {} connections",
        hole.open()
    );
    // The seller's black holes hold at most its slots (16 per seller by default, 8 per endpoint), never the
    // node's 64: that is what leaves room for Northwind.
    assert!(hole.accepted() <= 2 * 10, "{}", hole.accepted());
}
both_backends!(black_holes_do_not_delay_another_seller);

// ---------------------------------------------------------------------------------------------------
// 4. Receipt emails.

async fn a_delivered_receipt_cannot_be_resent(backend: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.smtp = Some(common::smtp::settings(port));
    })
    .await;
    let seller = app.seller("Northwind").await;
    pay(&app, &seller, "100.00", "10.00").await; // a balance remains: the receipt carries a link
    let (a, s) = (&app, &seller);
    let email = eventually("the receipt delivered", Duration::from_secs(10), || async move {
        deliveries_of(a, s, "email")
            .await
            .into_iter()
            .find(|d| d["status"] == "delivered")
    })
    .await;
    let links = app.sql_count("SELECT COUNT(*) FROM checkout_links").await;
    let id = email["id"].as_str().unwrap();
    for _ in 0..5 {
        let r = app
            .post(&format!("/v1/erp/deliveries/{id}/retry"), &seller.key, json!({}))
            .await;
        expect_problem(r, 409, "delivery_not_retryable").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "one receipt, never resent");
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM checkout_links").await,
        links,
        "no new links"
    );
    let d = deliveries_of(&app, &seller, "email").await;
    assert_eq!(d[0]["attempts"], 1);
}
both_backends!(a_delivered_receipt_cannot_be_resent);

async fn receipt_emails_are_rate_limited_per_seller(backend: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, |s| {
        fast(s, &[100, 200, 400]);
        s.smtp = Some(common::smtp::settings(port));
        s.erp.emails_per_seller_per_hour = 2;
    })
    .await;
    let seller = app.seller("Northwind").await;
    let other = app.seller("Other").await;
    let (a, s) = (&app, &seller);
    // One at a time, each receipt sent or held before the next payment: the budget is counted from
    // delivered receipts, so two sends racing could both fit under it (a bounded overshoot, not tested).
    for n in 1..=4 {
        pay(&app, &seller, "100.00", "10.00").await;
        eventually(
            "the receipt sent or held",
            Duration::from_secs(10),
            || async move {
                let d = deliveries_of(a, s, "email").await;
                (d.len() == n
                    && d.iter()
                        .all(|d| d["status"] == "delivered" || d["last_error"].is_string()))
                .then_some(())
            },
        )
        .await;
    }
    pay(&app, &other, "100.00", "10.00").await;
    let held = eventually("two receipts held back", Duration::from_secs(10), || async move {
        let d: Vec<Value> = deliveries_of(a, s, "email")
            .await
            .into_iter()
            .filter(|d| d["status"] == "pending" && d["last_error"].is_string())
            .collect();
        (d.len() == 2).then_some(d)
    })
    .await;
    for d in &held {
        assert!(d["last_error"].as_str().unwrap().contains("limit"), "{d}");
        assert_eq!(
            d["attempts"], 0,
            "a held-back receipt is not a failed attempt: {d}"
        );
    }
    let o = &other;
    eventually(
        "the other seller's receipt",
        Duration::from_secs(10),
        || async move {
            let d = deliveries_of(a, o, "email").await;
            (d.len() == 1 && d[0]["status"] == "delivered").then_some(())
        },
    )
    .await;
    assert_eq!(
        sink.messages().len(),
        3,
        "two for Northwind, one for the other seller"
    );
}
both_backends!(receipt_emails_are_rate_limited_per_seller);

// ---------------------------------------------------------------------------------------------------
// Stand-ins for sellers' receivers.

/// A listener that accepts connections and never answers (optionally sends a banner first): a dead
/// endpoint as seen from the relay.
struct BlackHole {
    port: u16,
    accepted: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    async fn start() -> BlackHole {
        BlackHole::start_replying(b"").await
    }

    async fn start_replying(banner: &'static [u8]) -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (a, h) = (accepted.clone(), held.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                if !banner.is_empty() {
                    use tokio::io::AsyncWriteExt;
                    let _ = stream.write_all(banner).await;
                }
                h.lock().unwrap().push(stream);
            }
        });
        BlackHole {
            port,
            accepted,
            held,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections still open from the other side.
    fn open(&self) -> usize {
        let held = self.held.lock().unwrap();
        held.iter()
            .filter(|s| {
                let mut buf = [0u8; 1];
                // Ok(0) is EOF (the client hung up); WouldBlock means still open.
                !matches!(s.try_read(&mut buf), Ok(0))
            })
            .count()
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct LiveHit {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A receiver that answers 200 to everything and records what it got.
struct LiveReceiver {
    port: u16,
    hits: Arc<Mutex<Vec<LiveHit>>>,
    handle: actix_web::dev::ServerHandle,
}

impl LiveReceiver {
    async fn start() -> LiveReceiver {
        let hits: Arc<Mutex<Vec<LiveHit>>> = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::new(hits.clone());
        let (port, handle) = stand_in::serve_any(move |app| {
            app.app_data(data.clone()).default_service(web::to(
                |request: HttpRequest, body: web::Bytes, hits: web::Data<Arc<Mutex<Vec<LiveHit>>>>| async move {
                    let headers = request
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    hits.lock().unwrap().push(LiveHit {
                        headers,
                        body: body.to_vec(),
                    });
                    HttpResponse::Ok().finish()
                },
            ));
        });
        LiveReceiver { port, hits, handle }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/tranche", self.port)
    }

    fn hits(&self) -> Vec<LiveHit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
