//! A local fake Stripe for tests without the internet. Every request the connector sends is checked
//! against Stripe's published OpenAPI spec (the subset vendored in `api/tests/stripe/`): the path and
//! method exist, `Authorization: Bearer sk_...` and `Stripe-Version` are sent, POSTs carry an
//! `Idempotency-Key`, the form body (decoded from Stripe's bracket notation and coerced by the schema's
//! types) is valid against the operation's requestBody schema (`additionalProperties: false`, so an unknown
//! parameter fails), and the query parameters against theirs. A request that fails gets a 400 like
//! Stripe's AND is recorded: tests assert [`FakeStripe::violations`] is empty. Answers are built from
//! Stripe's own fixtures (`fixtures.json`, from stripe/openapi's fixtures3.json) with the right fields
//! changed, and are themselves validated against the operation's response schema.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};

const SPEC: &str = include_str!("../stripe/spec3.subset.json");
const FIXTURES: &str = include_str!("../stripe/fixtures.json");
/// Stripe.js as far as the widget uses it, for browser tests (`stand_in_stripe.js` says what it does).
const STAND_IN_STRIPE_JS: &str = include_str!("stand_in_stripe.js");

/// A fault the next matching request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (429, 500, 503...) without applying the request, with `Retry-After` seconds.
    Status(u16, Option<u64>),
    /// Apply the request, then hold the answer this long (past the connector's timeout).
    ApplyThenStall(Duration),
}

#[derive(Default)]
struct State {
    intents: Vec<Value>,
    refunds: Vec<Value>,
    intent_forms: Vec<Value>,
    /// Idempotency-Key -> (body, status, answer).
    idempotent: HashMap<String, (String, u16, Value)>,
    faults: VecDeque<(String, String, Fault)>,
    violations: Vec<String>,
    /// (method, path, idempotency key) of every request, in order.
    requests: Vec<(String, String, Option<String>)>,
    counter: u64,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    state: Arc<Mutex<State>>,
    spec: Arc<Spec>,
}

struct Spec {
    doc: Value,
    fixtures: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let doc: Value = serde_json::from_str(SPEC).unwrap();
        let spec = Arc::new(Spec {
            doc,
            fixtures: serde_json::from_str(FIXTURES).unwrap(),
            validators: Mutex::new(HashMap::new()),
        });
        let state = Arc::new(Mutex::new(State::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe { base, state, spec };
        let data = web::Data::new(fake.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake
    }

    /// Every way a request broke the spec (empty in a passing test).
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "requests or answers that break Stripe's spec: {v:#?}"
        );
    }

    pub fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The next request with this method whose path starts with `path` meets `fault`.
    pub fn fail_next(&self, method: &str, path: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((method.to_owned(), path.to_owned(), fault));
    }

    pub fn intents(&self) -> Vec<Value> {
        self.state.lock().unwrap().intents.clone()
    }

    /// A bank debit clears at the bank: its PaymentIntent moves from `processing` to `succeeded`.
    pub fn settle(&self, intent_id: &str) {
        let mut state = self.state.lock().unwrap();
        let intent = state.intents.iter_mut().find(|i| i["id"] == intent_id).unwrap();
        intent["status"] = json!("succeeded");
        intent["amount_received"] = intent["amount"].clone();
    }

    /// The buyer finishes (or fails) the 3-D Secure challenge of a PaymentIntent in `requires_action`, as
    /// Stripe.js's `handleNextAction` would: `succeeded`, or back to `requires_payment_method` with Stripe's
    /// authentication failure. Returns the PaymentIntent.
    pub fn complete_action(&self, intent_id: &str, succeed: bool) -> Value {
        let mut state = self.state.lock().unwrap();
        let n = state.counter + 1;
        state.counter = n;
        let intent = state.intents.iter_mut().find(|i| i["id"] == intent_id).unwrap();
        assert_eq!(intent["status"], "requires_action", "no action to complete");
        if succeed {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = intent["amount"].clone();
            intent["latest_charge"] = json!(format!("ch_fake{n}"));
        } else {
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = json!({"type": "invalid_request_error", "code": "payment_intent_authentication_failure", "message": "We are unable to authenticate your payment method."});
        }
        intent.clone()
    }

    /// The decoded (and spec-coerced) form of every `POST /v1/payment_intents`, in order.
    pub fn intent_forms(&self) -> Vec<Value> {
        self.state.lock().unwrap().intent_forms.clone()
    }

    /// A Stripe event of `kind` about `object`, built from Stripe's fixture and checked against the spec's
    /// `event` schema (a shape violation is recorded like a bad request).
    pub fn event(&self, kind: &str, object: Value) -> String {
        let mut event = fixture(self, "event");
        let n = {
            let mut state = self.state.lock().unwrap();
            state.counter += 1;
            state.counter
        };
        event["id"] = json!(format!("evt_fake{n}"));
        event["type"] = json!(kind);
        event["data"] = json!({"object": object});
        event["api_version"] = json!("2025-09-30.clover");
        let schema = json!({"$ref": "#/components/schemas/event"});
        for e in self.spec.check("event", &schema, &event) {
            self.violation(format!("fake's event breaks the spec: {e}"));
        }
        event.to_string()
    }

    /// Stripe's Dispute fixture for a PaymentIntent's charge (what `charge.dispute.created` carries), for
    /// the whole amount, checked against the spec's `dispute` schema.
    pub fn dispute_of(&self, intent: &Value, id: &str, reason: &str) -> Value {
        let mut dispute = fixture(self, "dispute");
        dispute["id"] = json!(id);
        dispute["charge"] = intent["latest_charge"].clone();
        dispute["payment_intent"] = intent["id"].clone();
        dispute["amount"] = intent["amount"].clone();
        dispute["currency"] = intent["currency"].clone();
        dispute["reason"] = json!(reason);
        dispute["status"] = json!("needs_response");
        let schema = json!({"$ref": "#/components/schemas/dispute"});
        for e in self.spec.check("dispute", &schema, &dispute) {
            self.violation(format!("fake's dispute breaks the spec: {e}"));
        }
        dispute
    }

    /// Stripe's Charge fixture for a PaymentIntent (what `charge.refunded` carries).
    pub fn charge_of(&self, intent: &Value) -> Value {
        let mut charge = fixture(self, "charge");
        charge["id"] = intent["latest_charge"].clone();
        charge["payment_intent"] = intent["id"].clone();
        charge["amount"] = intent["amount"].clone();
        charge["currency"] = intent["currency"].clone();
        charge["refunded"] = json!(true);
        charge
    }

    fn violation(&self, what: String) {
        eprintln!("fake Stripe: {what}");
        self.state.lock().unwrap().violations.push(what);
    }
}

/// OpenAPI 3.0's `nullable` as JSON Schema: `type: [t, "null"]`, or a `null` alternative.
fn nullable_to_json_schema(node: &mut Value) {
    match node {
        Value::Object(map) => {
            for value in map.values_mut() {
                nullable_to_json_schema(value);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.push(Value::Null);
                }
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                } else if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                    any.push(json!({"type": "null"}));
                } else if let Some(r) = map.remove("$ref") {
                    map.insert("anyOf".into(), json!([{"$ref": r}, {"type": "null"}]));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

impl Spec {
    fn schemas(&self) -> &Value {
        &self.doc["components"]["schemas"]
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(&self.schemas()[r.rsplit('/').next().unwrap()]),
            None => schema,
        }
    }

    /// `(path template, operation)` for a concrete path: literal segments beat `{param}` ones.
    fn operation(&self, method: &str, path: &str) -> Option<(String, Value)> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, String, Value)> = None;
        for (template, ops) in self.doc["paths"].as_object().unwrap() {
            let t: Vec<&str> = template.split('/').collect();
            if t.len() != segments.len() {
                continue;
            }
            let params = t.iter().filter(|s| s.starts_with('{')).count();
            let fits = t.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s);
            if let (true, Some(op)) = (fits, ops.get(method)) {
                if best.as_ref().is_none_or(|(p, _, _)| params < *p) {
                    best = Some((params, template.clone(), op.clone()));
                }
            }
        }
        best.map(|(_, t, op)| (t, op))
    }

    /// A validator for `schema` with the spec's components beside it, so `#/components/...` resolves.
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        if let Some(v) = self.validators.lock().unwrap().get(key) {
            return v.clone();
        }
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            map.insert("components".into(), self.doc["components"].clone());
        } else {
            root = json!({"allOf": [schema], "components": self.doc["components"]});
        }
        nullable_to_json_schema(&mut root);
        let validator = Arc::new(jsonschema::validator_for(&root).expect("spec schema compiles"));
        self.validators
            .lock()
            .unwrap()
            .insert(key.to_owned(), validator.clone());
        validator
    }

    fn check(&self, key: &str, schema: &Value, instance: &Value) -> Vec<String> {
        self.validator(key, schema)
            .iter_errors(instance)
            .map(|e| format!("{key}: {e} at {}", e.instance_path()))
            .collect()
    }

    /// Strings from a form or query coerced by the schema: integers, booleans, numbers; objects and arrays
    /// walked with their `properties`/`additionalProperties`/`items`, through `$ref` and `anyOf`.
    fn coerce(&self, value: Value, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            // The alternative whose type fits the value's shape.
            for alt in any {
                let alt = self.resolve(alt);
                let t = alt.get("type").and_then(Value::as_str).unwrap_or("");
                let shape_fits = match &value {
                    Value::Object(_) => t == "object",
                    Value::Array(_) => t == "array",
                    _ => t != "object" && t != "array",
                };
                if shape_fits {
                    let coerced = self.coerce(value.clone(), alt);
                    if !coerced.is_string() || t == "string" || t.is_empty() {
                        return coerced;
                    }
                }
            }
            return value;
        }
        match (value, schema.get("type").and_then(Value::as_str)) {
            // Stripe's amounts are integers of minor units. None of the operations the connector calls has a
            // `number` parameter, so no form value is ever read as a float here: one would stay a string and
            // fail validation.
            (Value::String(s), Some("integer")) => s.parse::<i64>().map_or(Value::String(s), Value::from),
            (Value::String(s), Some("boolean")) => match s.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(s),
            },
            (Value::Object(map), _) => {
                let props = schema.get("properties");
                let extra = schema.get("additionalProperties");
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| {
                            let sub = props.and_then(|p| p.get(&k)).or(extra.filter(|e| e.is_object()));
                            let v = match sub {
                                Some(sub) => self.coerce(v, sub),
                                None => v,
                            };
                            (k, v)
                        })
                        .collect(),
                )
            }
            (Value::Array(items), _) => match schema.get("items") {
                Some(sub) => Value::Array(items.into_iter().map(|v| self.coerce(v, sub)).collect()),
                None => Value::Array(items),
            },
            (v, _) => v,
        }
    }
}

/// Stripe's bracket notation (`a[b][c]=v`, `a[]=v`, `a[0]=v`) into nested JSON, values as strings.
pub fn decode_brackets(pairs: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in pairs {
        let (head, rest) = key.split_once('[').map_or((key.as_str(), ""), |(h, r)| (h, r));
        let mut path = vec![head.to_owned()];
        if !rest.is_empty() {
            let rest = format!("[{rest}");
            path.extend(
                rest.split('[')
                    .skip(1)
                    .map(|s| s.trim_end_matches(']').to_owned()),
            );
        }
        insert(&mut root, &path, Value::String(value.clone()));
    }
    root
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let (first, rest) = path.split_first().unwrap();
    let is_index = first.is_empty() || first.parse::<usize>().is_ok();
    if is_index {
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        let items = node.as_array_mut().unwrap();
        let index = first.parse::<usize>().unwrap_or(items.len());
        while items.len() <= index {
            items.push(Value::Null);
        }
        if rest.is_empty() {
            items[index] = value;
        } else {
            insert(&mut items[index], rest, value);
        }
        return;
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().unwrap();
    if rest.is_empty() {
        map.insert(first.clone(), value);
    } else {
        let child = map.entry(first.clone()).or_insert(Value::Null);
        insert(child, rest, value);
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message, "doc_url": format!("https://stripe.com/docs/error-codes/{code}")}}),
    )
}

async fn handle(req: HttpRequest, body: web::Bytes, fake: web::Data<FakeStripe>) -> HttpResponse {
    let method = req.method().as_str().to_ascii_lowercase();
    let path = req.path().to_owned();
    // Not Stripe's API: the stand-in Stripe.js a browser test loads in place of https://js.stripe.com/v3/.
    if path == "/_test/stripe.js" {
        return HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(STAND_IN_STRIPE_JS);
    }
    // Not Stripe's API: what a browser test's stand-in Stripe.js calls for `handleNextAction`, standing in
    // for the issuer's challenge page (`/_test/next_action/{pi}/succeed` or `/fail`).
    if let Some(rest) = path.strip_prefix("/_test/next_action/") {
        let (intent, outcome) = rest.split_once('/').unwrap_or((rest, ""));
        let known = fake
            .intents()
            .iter()
            .any(|i| i["id"] == intent && i["status"] == "requires_action");
        let answer = if known {
            fake.complete_action(intent, outcome == "succeed")
        } else {
            json!({"error": "no PaymentIntent awaiting an action"})
        };
        return HttpResponse::build(if known {
            actix_web::http::StatusCode::OK
        } else {
            actix_web::http::StatusCode::NOT_FOUND
        })
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .content_type("application/json")
        .body(answer.to_string());
    }
    let key = req
        .headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.state
        .lock()
        .unwrap()
        .requests
        .push((method.clone(), path.clone(), key.clone()));
    let (status, answer, stall) = match validate_and_apply(&fake, &req, &method, &path, &body, key) {
        Ok(done) => done,
        Err((status, answer)) => (status, answer, None),
    };
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(secs) = answer.get("_retry_after").and_then(Value::as_u64) {
        response.insert_header(("Retry-After", secs.to_string()));
    }
    let mut answer = answer;
    if let Value::Object(map) = &mut answer {
        map.remove("_retry_after");
    }
    response
        .insert_header(("Request-Id", "req_fake"))
        .content_type("application/json")
        .body(answer.to_string())
}

type Applied = (u16, Value, Option<Duration>);

fn validate_and_apply(
    fake: &FakeStripe,
    req: &HttpRequest,
    method: &str,
    path: &str,
    body: &[u8],
    key: Option<String>,
) -> Result<Applied, (u16, Value)> {
    let spec = &fake.spec;
    let reject = |what: String| {
        fake.violation(what.clone());
        error(400, "invalid_request_error", "parameter_invalid", &what)
    };
    let Some((template, op)) = spec.operation(method, path) else {
        return Err(reject(format!(
            "{method} {path}: no such operation in Stripe's spec"
        )));
    };
    let auth = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(auth.starts_with("Bearer sk_test_") || auth.starts_with("Bearer sk_live_")) {
        return Err(reject(format!("{method} {path}: no Bearer secret key")));
    }
    if req.headers().get("Stripe-Version").is_none() {
        return Err(reject(format!("{method} {path}: no Stripe-Version")));
    }
    let op_key = format!("{method} {template}");
    // Query parameters: each known, each valid against its schema, the required ones present.
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let decoded_query = decode_brackets(&query);
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    for (name, value) in decoded_query.as_object().unwrap() {
        let Some(param) = params.iter().find(|p| p["in"] == "query" && p["name"] == *name) else {
            return Err(reject(format!("{op_key}: unknown query parameter {name}")));
        };
        let coerced = spec.coerce(value.clone(), &param["schema"]);
        let errors = spec.check(&format!("{op_key} ?{name}"), &param["schema"], &coerced);
        if !errors.is_empty() {
            return Err(reject(errors.join("; ")));
        }
    }
    for p in params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
    {
        if decoded_query.get(p["name"].as_str().unwrap()).is_none() {
            return Err(reject(format!("{op_key}: missing required {}", p["name"])));
        }
    }
    let form = if method == "post" {
        if key.is_none() {
            return Err(reject(format!("{op_key}: POST without Idempotency-Key")));
        }
        let content_type = req
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(reject(format!("{op_key}: body is {content_type:?}, not a form")));
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let schema = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        let coerced = spec.coerce(decode_brackets(&pairs), schema);
        let errors = spec.check(&format!("{op_key} body"), schema, &coerced);
        if !errors.is_empty() {
            return Err(reject(errors.join("; ")));
        }
        coerced
    } else {
        if !body.is_empty() {
            return Err(reject(format!("{op_key}: a GET with a body")));
        }
        Value::Null
    };
    // Faults come after validation: a retried request must be valid too.
    let fault = {
        let mut state = fake.state.lock().unwrap();
        let at = state
            .faults
            .iter()
            .position(|(m, p, _)| m == method && path.starts_with(p.as_str()));
        at.and_then(|i| state.faults.remove(i)).map(|(_, _, f)| f)
    };
    let mut stall = None;
    match fault {
        Some(Fault::Status(status, retry_after)) => {
            let (status, mut answer) = error(status, "api_error", "", "fake outage");
            if let Some(secs) = retry_after {
                answer["_retry_after"] = json!(secs);
            }
            return Err((status, answer));
        }
        Some(Fault::ApplyThenStall(d)) => stall = Some(d),
        None => {}
    }
    // Idempotency: the same key with the same body replays; with another body it is an error.
    let body_text = String::from_utf8_lossy(body).into_owned();
    if let Some(key) = &key {
        if let Some((first, status, answer)) = fake.state.lock().unwrap().idempotent.get(key).cloned() {
            if first != body_text {
                return Err(error(400, "idempotency_error", "", "Keys for idempotent requests can only be used with the same parameters they were first used with."));
            }
            return Ok((status, answer, stall));
        }
    }
    let (status, answer) = apply(fake, method, &template, path, &form, &decoded_query);
    // The answer must be what the spec says this operation answers.
    let response_schema = match op["responses"].get(status.to_string()) {
        Some(r) => r["content"]["application/json"]["schema"].clone(),
        None => op["responses"]["default"]["content"]["application/json"]["schema"].clone(),
    };
    let errors = spec.check(&format!("{op_key} -> {status}"), &response_schema, &answer);
    if !errors.is_empty() {
        fake.violation(format!(
            "fake's own answer breaks the spec: {}",
            errors.join("; ")
        ));
    }
    if let Some(key) = key {
        fake.state
            .lock()
            .unwrap()
            .idempotent
            .insert(key, (body_text, status, answer.clone()));
    }
    Ok((status, answer, stall))
}

fn fixture(fake: &FakeStripe, name: &str) -> Value {
    fake.spec.fixtures[name].clone()
}

/// What a test PaymentMethod id does (`pm_<scenario>_<anything>`).
fn scenario(pm: &str) -> (&'static str, Option<(&'static str, &'static str)>) {
    let name = pm.strip_prefix("pm_").unwrap_or("");
    let decline = |code| ("card", Some(("card_declined", code)));
    match name.split('_').next().unwrap_or("") {
        "insufficientfunds" => decline("insufficient_funds"),
        "expiredcard" => ("card", Some(("expired_card", "expired_card"))),
        "incorrectcvc" => ("card", Some(("incorrect_cvc", "incorrect_cvc"))),
        "declined" => decline("generic_decline"),
        "bank" => ("us_bank_account", None),
        "sepa" => ("sepa_debit", None),
        "threeds" => ("card", None),
        // Answers a PaymentIntent for one minor unit more than asked (a gateway bug or a tampered proxy).
        "mismatch" => ("card", None),
        "visa" => ("card", None),
        _ => ("missing", None),
    }
}

fn apply(
    fake: &FakeStripe,
    method: &str,
    template: &str,
    path: &str,
    form: &Value,
    query: &Value,
) -> (u16, Value) {
    let id_in_path = path.rsplit('/').next().unwrap_or("").to_owned();
    let mut state = fake.state.lock().unwrap();
    state.counter += 1;
    let n = state.counter;
    match (method, template) {
        ("get", "/v1/payment_methods/{payment_method}") => {
            let (kind, _) = scenario(&id_in_path);
            if kind == "missing" {
                return error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such PaymentMethod",
                );
            }
            let mut pm = fixture(fake, "payment_method");
            pm["id"] = json!(id_in_path);
            pm["type"] = json!(kind);
            if kind == "us_bank_account" {
                pm.as_object_mut().unwrap().remove("card");
                pm["us_bank_account"] = json!({
                    "account_holder_type": "company", "account_type": "checking", "bank_name": "STRIPE TEST BANK",
                    "financial_connections_account": null, "fingerprint": "FakeFp", "last4": "6789",
                    "networks": {"preferred": "ach", "supported": ["ach"]}, "routing_number": "110000000",
                    "status_details": null
                });
            }
            if kind == "sepa_debit" {
                pm.as_object_mut().unwrap().remove("card");
                pm["sepa_debit"] = json!({
                    "bank_code": "37040044", "branch_code": null, "country": "DE", "fingerprint": "FakeFp",
                    "generated_from": null, "last4": "3000"
                });
            }
            (200, pm)
        }
        ("post", "/v1/payment_intents") => {
            let pm = form["payment_method"].as_str().unwrap_or("").to_owned();
            let (kind, decline) = scenario(&pm);
            let mut pi = fixture(fake, "payment_intent");
            let id = format!("pi_fake{n}");
            pi["id"] = json!(id);
            pi["client_secret"] = json!(format!("{id}_secret_fake"));
            pi["amount"] = form["amount"].clone();
            pi["currency"] = form["currency"].clone();
            pi["metadata"] = form["metadata"].clone();
            pi["payment_method"] = json!(pm);
            pi["payment_method_types"] = json!([kind]);
            pi["last_payment_error"] = Value::Null;
            pi["next_action"] = Value::Null;
            pi["processing"] = Value::Null;
            pi["canceled_at"] = Value::Null;
            pi["amount_received"] = json!(0);
            state.intent_forms.push(form.clone());
            let status = match (kind, decline) {
                ("missing", _) => {
                    return error(
                        400,
                        "invalid_request_error",
                        "resource_missing",
                        "No such PaymentMethod",
                    )
                }
                (_, Some((code, decline_code))) => {
                    pi["status"] = json!("requires_payment_method");
                    let err = json!({"type": "card_error", "code": code, "decline_code": decline_code, "message": "Your card was declined."});
                    pi["last_payment_error"] = err.clone();
                    state.intents.push(pi.clone());
                    let mut body = json!({"error": err});
                    body["error"]["payment_intent"] = pi;
                    return (402, body);
                }
                ("us_bank_account" | "sepa_debit", None) => "processing",
                _ if pm.starts_with("pm_threeds") => "requires_action",
                _ => "succeeded",
            };
            pi["status"] = json!(status);
            if pm.starts_with("pm_mismatch") {
                pi["amount"] = json!(pi["amount"].as_i64().unwrap() + 1);
            }
            if status == "succeeded" {
                pi["amount_received"] = pi["amount"].clone();
                pi["latest_charge"] = json!(format!("ch_fake{n}"));
            }
            state.intents.push(pi.clone());
            (200, pi)
        }
        ("post", "/v1/payment_intents/{intent}/cancel") => {
            let intent_id = path.split('/').nth(3).unwrap_or("");
            let Some(pi) = state.intents.iter_mut().find(|i| i["id"] == intent_id) else {
                return error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such payment_intent",
                );
            };
            // Stripe cancels only a PaymentIntent that has not succeeded nor started processing.
            let cancelable = [
                "requires_payment_method",
                "requires_confirmation",
                "requires_action",
                "requires_capture",
            ];
            if !cancelable.contains(&pi["status"].as_str().unwrap_or("")) {
                return error(
                    400,
                    "invalid_request_error",
                    "payment_intent_unexpected_state",
                    "You cannot cancel this PaymentIntent because it has a status of succeeded.",
                );
            }
            pi["status"] = json!("canceled");
            pi["canceled_at"] = json!(1_700_000_000 + n as i64);
            pi["cancellation_reason"] = form.get("cancellation_reason").cloned().unwrap_or(Value::Null);
            (200, pi.clone())
        }
        ("get", "/v1/payment_intents/search") => {
            let q = query["query"].as_str().unwrap_or("");
            let wanted = q
                .strip_prefix("metadata['tranche_payment_id']:'")
                .and_then(|r| r.strip_suffix('\''));
            let data: Vec<Value> = state
                .intents
                .iter()
                .filter(|i| wanted.is_some() && i["metadata"]["tranche_payment_id"].as_str() == wanted)
                .cloned()
                .collect();
            (
                200,
                json!({"object": "search_result", "data": data, "has_more": false, "next_page": null, "url": "/v1/payment_intents/search"}),
            )
        }
        ("get", "/v1/payment_intents/{intent}") => {
            match state.intents.iter().find(|i| i["id"] == id_in_path.as_str()) {
                Some(pi) => (200, pi.clone()),
                None => error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such payment_intent",
                ),
            }
        }
        ("post", "/v1/refunds") => {
            let pi_id = form["payment_intent"].as_str().unwrap_or("");
            let Some(pi) = state.intents.iter().find(|i| i["id"] == pi_id).cloned() else {
                return error(
                    400,
                    "invalid_request_error",
                    "resource_missing",
                    "No such payment_intent",
                );
            };
            let refunded: i64 = state
                .refunds
                .iter()
                .filter(|r| r["payment_intent"] == pi_id)
                .map(|r| r["amount"].as_i64().unwrap())
                .sum();
            let remaining = pi["amount_received"].as_i64().unwrap() - refunded;
            let amount = form["amount"].as_i64().unwrap_or(remaining);
            if remaining <= 0 {
                return error(
                    400,
                    "invalid_request_error",
                    "charge_already_refunded",
                    "Already refunded",
                );
            }
            if amount > remaining {
                return error(
                    400,
                    "invalid_request_error",
                    "amount_too_large",
                    "Refund amount is greater than unrefunded amount",
                );
            }
            let mut refund = fixture(fake, "refund");
            refund["id"] = json!(format!("re_fake{n}"));
            refund["amount"] = json!(amount);
            refund["currency"] = pi["currency"].clone();
            refund["payment_intent"] = json!(pi_id);
            refund["charge"] = pi["latest_charge"].clone();
            refund["metadata"] = form.get("metadata").cloned().unwrap_or(json!({}));
            refund["status"] = json!("succeeded");
            state.refunds.push(refund.clone());
            (200, refund)
        }
        ("get", "/v1/refunds") => {
            let pi = query["payment_intent"].as_str();
            let data: Vec<Value> = state
                .refunds
                .iter()
                .filter(|r| pi.is_none() || r["payment_intent"].as_str() == pi)
                .cloned()
                .collect();
            (
                200,
                json!({"object": "list", "data": data, "has_more": false, "url": "/v1/refunds"}),
            )
        }
        ("get", "/v1/refunds/{refund}") => {
            match state.refunds.iter().find(|r| r["id"] == id_in_path.as_str()) {
                Some(r) => (200, r.clone()),
                None => error(404, "invalid_request_error", "resource_missing", "No such refund"),
            }
        }
        _ => error(
            404,
            "invalid_request_error",
            "unrecognized_request_url",
            "not implemented by the fake",
        ),
    }
}
