//! The seller itself (issue 15): `GET`/`PATCH /v1/seller`, and key rotation with an overlap window
//! (`POST /v1/seller/keys/roll`): both keys work until the old one's expiry (moved through the app's clock,
//! never slept), `0` stops it at once, an expired key is refused exactly as an unknown one, each key's last
//! use is visible but written at most once a minute, two rolls at once leave exactly one new key, and keys
//! stored before keys had their own table keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_problem, spawn_app, Backend, TestApp};
use reqwest::Response;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

async fn patch(app: &TestApp, key: &str, body: Value) -> Response {
    app.client
        .patch(app.url("/v1/seller"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, key: &str) -> Value {
    let r = app.get("/v1/seller", key).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Rolls `key` with `body`; returns the response.
async fn roll(app: &TestApp, key: &str, body: Value) -> Response {
    app.post("/v1/seller/keys/roll", key, body).await
}

/// Rolls `key` and returns the new key and the old key's expiry.
async fn rolled(app: &TestApp, key: &str, body: Value) -> (String, String) {
    let r = roll(app, key, body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    (
        v["secret_key"].as_str().unwrap().to_owned(),
        v["old_key_expires_at"].as_str().unwrap().to_owned(),
    )
}

async fn works(app: &TestApp, key: &str) -> bool {
    let r = app.get("/v1/customers", key).await;
    match r.status().as_u16() {
        200 => true,
        401 => {
            expect_problem(r, 401, "invalid_api_key").await;
            false
        }
        other => panic!("unexpected {other}"),
    }
}

/// The problem a refused key gets, without its request id.
async fn refusal(app: &TestApp, key: &str) -> Value {
    let mut problem = expect_problem(app.get("/v1/customers", key).await, 401, "invalid_api_key").await;
    problem.as_object_mut().unwrap().remove("request_id");
    problem
}

fn last4(key: &str) -> &str {
    &key[key.len() - 4..]
}

/// The listed key ending in `key`'s last four.
fn listed<'a>(seller: &'a Value, key: &str) -> &'a Value {
    seller["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["last4"] == last4(key))
        .unwrap_or_else(|| panic!("{} not listed in {seller}", last4(key)))
}

/// A stored column of `key`.
async fn key_column(app: &TestApp, column: &str, key: &str) -> i64 {
    app.sql_count(&format!(
        "SELECT {column} FROM seller_keys WHERE key_hash = '{}'",
        tranche_api::auth::hash_secret(key)
    ))
    .await
}

async fn preflight_allowed(app: &TestApp, origin: &str) -> bool {
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/checkout/payments"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    r.headers().get("access-control-allow-origin").is_some()
}

async fn a_seller_reads_and_edits_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.seller("Acme Supplies").await;
    let b = app.seller("Other").await;
    let b_before = me(&app, &b.key).await;

    let seller = me(&app, &a.key).await;
    assert_eq!(seller["id"], a.id);
    assert_eq!(seller["name"], "Acme Supplies");
    assert_eq!(seller["allowed_origins"], json!([]));
    assert!(seller["created_at"].is_string(), "{seller}");
    let keys = seller["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{seller}");
    assert_eq!(keys[0]["last4"], last4(&a.key));
    assert_eq!(keys[0]["expires_at"], Value::Null);
    assert!(
        keys[0]["last_used_at"].is_string(),
        "this request used it: {seller}"
    );
    assert!(
        !seller.to_string().contains(&a.key),
        "the key is never shown again"
    );

    // Name and origins change; the origins the checkout's CORS check reads follow at once.
    let r = patch(
        &app,
        &a.key,
        json!({"name": "  Acme Ltd ", "allowed_origins": ["https://shop.example", "http://localhost:3000"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "Acme Ltd");
    assert_eq!(
        v["allowed_origins"],
        json!(["https://shop.example", "http://localhost:3000"])
    );
    assert!(preflight_allowed(&app, "https://shop.example").await);
    let r = patch(&app, &a.key, json!({"allowed_origins": ["https://new.example"]})).await;
    assert_eq!(r.status(), 200);
    assert!(!preflight_allowed(&app, "https://shop.example").await);
    assert!(!preflight_allowed(&app, "http://localhost:3000").await);
    assert!(preflight_allowed(&app, "https://new.example").await);
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) FROM seller_origins WHERE seller_id = '{}'",
            a.id
        ))
        .await,
        1
    );
    // An empty patch changes nothing.
    let before = me(&app, &a.key).await;
    let r = patch(&app, &a.key, json!({})).await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        (&after["name"], &after["allowed_origins"]),
        (&before["name"], &before["allowed_origins"])
    );

    // Bad input: each a problem with a stable code, and nothing changed.
    let too_many: Vec<String> = (0..21).map(|n| format!("https://s{n}.example")).collect();
    for (body, code, field) in [
        (json!({"name": ""}), "invalid_field", Some("name")),
        (json!({"name": "x".repeat(201)}), "invalid_field", Some("name")),
        (json!({"name": "a\u{0007}b"}), "invalid_field", Some("name")),
        (
            json!({"allowed_origins": ["ftp://shop.example"]}),
            "invalid_field",
            Some("allowed_origins"),
        ),
        (
            json!({"allowed_origins": ["https://shop.example/path"]}),
            "invalid_field",
            Some("allowed_origins"),
        ),
        (
            json!({"allowed_origins": too_many}),
            "invalid_field",
            Some("allowed_origins"),
        ),
        // A valid name with an invalid list: the whole patch is refused.
        (
            json!({"name": "Changed", "allowed_origins": ["nope"]}),
            "invalid_field",
            Some("allowed_origins"),
        ),
        (json!({"secret_key_hash": "x"}), "unknown_field", None),
        (json!({"id": "sel_other"}), "unknown_field", None),
        (json!({"name": 7}), "malformed_body", None),
        (json!(["Acme"]), "malformed_body", None),
    ] {
        let problem = expect_problem(patch(&app, &a.key, body.clone()).await, 400, code).await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}: {problem}");
        }
    }
    let unchanged = me(&app, &a.key).await;
    assert_eq!(
        (&unchanged["name"], &unchanged["allowed_origins"]),
        (&before["name"], &before["allowed_origins"])
    );
    assert!(preflight_allowed(&app, "https://new.example").await);
    // The other seller is untouched, and a missing key reads nothing.
    let b_after = me(&app, &b.key).await;
    assert_eq!(
        (&b_after["name"], &b_after["allowed_origins"]),
        (&b_before["name"], &b_before["allowed_origins"])
    );
    expect_problem(app.get("/v1/seller", "sk_nope").await, 401, "invalid_api_key").await;
    expect_problem(
        patch(&app, "sk_nope", json!({"name": "x"})).await,
        401,
        "invalid_api_key",
    )
    .await;
}
both_backends!(a_seller_reads_and_edits_itself);

async fn rolled_keys_overlap_then_stop(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Roller").await;
    let k1 = seller.key.clone();

    // Bad rolls: a clear 400 each, and no key made or changed.
    for (body, code) in [
        (json!({"expire_old_in_seconds": -1}), "invalid_field"),
        (json!({"expire_old_in_seconds": 604_801}), "invalid_field"),
        (json!({"expire_old_in_seconds": "soon"}), "malformed_body"),
        (json!({"expire_old_in_seconds": 1.5}), "malformed_body"),
        (json!({"expire_old": 10}), "unknown_field"),
    ] {
        let problem = expect_problem(roll(&app, &k1, body.clone()).await, 400, code).await;
        if code == "invalid_field" {
            assert_eq!(problem["field"], "expire_old_in_seconds", "{problem}");
        }
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM seller_keys").await, 1);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM seller_keys WHERE expires_at IS NOT NULL")
            .await,
        0
    );

    // The default overlap is a day; both keys work meanwhile.
    let (k2, k1_expires) = rolled(&app, &k1, json!({})).await;
    assert!(k2.starts_with("sk_") && k2 != k1);
    assert_eq!(
        key_column(&app, "expires_at", &k1).await - key_column(&app, "created_at", &k2).await,
        DAY_MS
    );
    assert!(works(&app, &k1).await && works(&app, &k2).await);
    let view = me(&app, &k2).await;
    let keys = view["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{view}");
    assert_eq!(keys[0]["last4"], last4(&k2), "newest first: {view}");
    assert_eq!(keys[0]["expires_at"], Value::Null);
    assert_eq!(listed(&view, &k1)["expires_at"], k1_expires);
    assert!(!view.to_string().contains(&k2) && !view.to_string().contains(&k1));

    // The old key cannot roll again (its successor exists): 409, nothing changed. Nor can it without a body.
    for body in [json!({}), json!({"expire_old_in_seconds": 0})] {
        expect_problem(roll(&app, &k1, body).await, 409, "key_already_rolled").await;
    }
    let r = app
        .client
        .post(app.url("/v1/seller/keys/roll"))
        .bearer_auth(&k1)
        .send()
        .await
        .unwrap();
    expect_problem(r, 409, "key_already_rolled").await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM seller_keys").await, 2);
    assert_eq!(
        key_column(&app, "expires_at", &k1).await - key_column(&app, "created_at", &k2).await,
        DAY_MS
    );
    assert!(works(&app, &k1).await);

    // A minute before the end of the overlap the old key works; at the end it is refused exactly as a key
    // that never existed; the new key carries on.
    app.state.clock().advance(DAY_MS - 60_000);
    assert!(works(&app, &k1).await);
    app.state.clock().advance(60_000);
    assert!(!works(&app, &k1).await);
    assert_eq!(
        refusal(&app, &k1).await,
        refusal(&app, &format!("sk_{}", "0".repeat(64))).await
    );
    assert!(works(&app, &k2).await);
    // Its last use stays visible after it stopped.
    let view = me(&app, &k2).await;
    assert!(listed(&view, &k1)["last_used_at"].is_string(), "{view}");
    expect_problem(roll(&app, &k1, json!({})).await, 401, "invalid_api_key").await;

    // `0` stops the rolling key at once, and an older key still in its overlap stops no later than that.
    let (k3, _) = rolled(&app, &k2, json!({"expire_old_in_seconds": 3600})).await;
    assert!(works(&app, &k2).await);
    let (k4, k3_expires) = rolled(&app, &k3, json!({"expire_old_in_seconds": 0})).await;
    assert!(!works(&app, &k3).await, "0: the old key stops at once");
    assert!(!works(&app, &k2).await, "an older key stops with it");
    assert!(works(&app, &k4).await);
    let view = me(&app, &k4).await;
    assert_eq!(listed(&view, &k3)["expires_at"], k3_expires);
    assert_eq!(listed(&view, &k2)["expires_at"], k3_expires);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM seller_keys WHERE expires_at IS NULL")
            .await,
        1
    );
    // The longest overlap is a week.
    let (k5, _) = rolled(&app, &k4, json!({"expire_old_in_seconds": 604_800})).await;
    assert_eq!(
        key_column(&app, "expires_at", &k4).await - key_column(&app, "created_at", &k5).await,
        7 * DAY_MS
    );
}
both_backends!(rolled_keys_overlap_then_stop);

/// Last use is recorded per key, but written only when the stored time is a minute old: a burst of
/// requests costs one write.
async fn last_use_is_recorded_about_once_a_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Busy").await;
    // `seller()` made a customer with the key: its first use is recorded.
    let first = key_column(&app, "last_used_at", &seller.key).await;
    assert!(first > 0);
    app.state.clock().advance(30_000);
    for _ in 0..10 {
        assert!(works(&app, &seller.key).await);
    }
    assert_eq!(key_column(&app, "last_used_at", &seller.key).await, first);
    app.state.clock().advance(31_000);
    assert!(works(&app, &seller.key).await);
    let second = key_column(&app, "last_used_at", &seller.key).await;
    assert!(second >= first + 60_000, "{first} -> {second}");
    // The old key's last use is what the new key's holder sees.
    let (k2, _) = rolled(&app, &seller.key, json!({})).await;
    app.state.clock().advance(120_000);
    assert!(works(&app, &seller.key).await);
    let third = key_column(&app, "last_used_at", &seller.key).await;
    assert!(third >= second + 120_000);
    let view = me(&app, &k2).await;
    let shown = listed(&view, &seller.key)["last_used_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = time::OffsetDateTime::parse(&shown, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(
        i64::try_from(shown.unix_timestamp_nanos() / 1_000_000).unwrap(),
        third
    );
}
both_backends!(last_use_is_recorded_about_once_a_minute);

/// Two (and four) rolls with the same key at once: exactly one makes a key, the others answer 409
/// `key_already_rolled` and change nothing; the seller is left with one current key that works.
async fn rolls_at_once_leave_exactly_one_new_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("Racer").await;
    let mut key = seller.key.clone();
    let mut keys = 1;
    for round in 0..6 {
        let contenders = if round % 2 == 0 { 2 } else { 4 };
        let tasks: Vec<_> = (0..contenders)
            .map(|_| {
                let (client, url, key) = (app.client.clone(), app.url("/v1/seller/keys/roll"), key.clone());
                tokio::spawn(async move {
                    client
                        .post(url)
                        .bearer_auth(key)
                        .json(&json!({"expire_old_in_seconds": 0}))
                        .send()
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let r = task.await.unwrap();
            if r.status() == 201 {
                winners.push(
                    r.json::<Value>().await.unwrap()["secret_key"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            } else {
                // A loser that authenticated after the winner committed finds the key stopped (0 s).
                let code = if r.status() == 401 {
                    "invalid_api_key"
                } else {
                    "key_already_rolled"
                };
                let status = r.status().as_u16();
                expect_problem(r, status, code).await;
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        keys += 1;
        assert_eq!(app.sql_count("SELECT COUNT(*) FROM seller_keys").await, keys);
        assert_eq!(
            app.sql_count("SELECT COUNT(*) FROM seller_keys WHERE expires_at IS NULL")
                .await,
            1
        );
        assert!(!works(&app, &key).await);
        key = winners.remove(0);
        assert!(works(&app, &key).await);
    }
    // With an overlap every loser is authenticated and answers 409.
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (client, url, key) = (app.client.clone(), app.url("/v1/seller/keys/roll"), key.clone());
            tokio::spawn(async move { client.post(url).bearer_auth(key).send().await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 409 {
            expect_problem(r, 409, "key_already_rolled").await;
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409]);
}
both_backends!(rolls_at_once_leave_exactly_one_new_key);

/// A key stored before keys had their own table (`sellers.secret_key_hash`) is carried over as the seller's
/// current key: it works, learns its last four on first use, and can be rolled.
async fn keys_from_before_the_key_table_keep_working(backend: Backend) {
    const FIRST_OWN: i64 = 20261130000100;
    let url = common::fresh_database(backend).await;
    sqlx::any::install_default_drivers();
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../migrations/{dir}"));
    let mut before = sqlx::migrate::Migrator::new(path).await.unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < FIRST_OWN)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool_url = match backend {
        Backend::Sqlite => format!("{url}?mode=rwc"),
        Backend::Postgres => url.clone(),
    };
    let old_key = format!("sk_{}", "ab12".repeat(16));
    {
        let pool = sqlx::AnyPool::connect(&pool_url).await.unwrap();
        before.run(&pool).await.unwrap();
        for (id, hash) in [
            ("sel_old", tranche_api::auth::hash_secret(&old_key)),
            ("sel_other", "hash-other".to_owned()),
        ] {
            sqlx::query("INSERT INTO sellers (id, name, secret_key_hash, allowed_origins, created_at) VALUES ($1, $2, $3, '[]', 0)")
                .bind(id)
                .bind(id)
                .bind(hash)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
    let app = common::spawn_app_on(backend, url, |_| {}).await;
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM seller_keys WHERE expires_at IS NULL AND last4 IS NULL")
            .await,
        2
    );
    let view = me(&app, &old_key).await;
    assert_eq!(view["id"], "sel_old");
    let keys = view["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{view}");
    assert_eq!(keys[0]["last4"], "ab12", "learnt on first use: {view}");
    let (new_key, _) = rolled(&app, &old_key, json!({"expire_old_in_seconds": 0})).await;
    assert!(!works(&app, &old_key).await);
    assert_eq!(me(&app, &new_key).await["id"], "sel_old");
}
both_backends!(keys_from_before_the_key_table_keep_working);
