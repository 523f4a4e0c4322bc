//! RFC 8725-style attacks on checkout tokens, signed with the server's *real* key where the attack needs a
//! valid signature, so each case proves the specific check (algorithm, header, claim) rather than the
//! signature. Every case: 401 on `GET /v1/checkout`, `POST /v1/checkout/payments` and `POST /sandbox/v1/tokens`
//! (which takes the same checkout token), no payment row, no card token, no gateway call. Positive controls pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{expect_problem, spawn_app, Backend};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let h = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let c = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (h, c)
}

async fn token_attacks_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let seller = app.seller("S").await;
    let inv_a = app.invoice(&seller, "USD", "100.00", None).await;
    let inv_b = app.invoice(&seller, "USD", "100.00", None).await;
    let (_, token) = app.link(&seller, inv_a["id"].as_str().unwrap()).await;
    let (_, token_b) = app.link(&seller, inv_b["id"].as_str().unwrap()).await;
    let (header, claims) = parts(&token);
    let kid = header["kid"].as_str().unwrap().to_owned();

    // The server's own private key, straight from its table: attacks that need a valid signature get one.
    let (der, public): (String, String) =
        sqlx::query_as("SELECT private_pkcs8, public_key FROM signing_keys WHERE kid = $1")
            .bind(&kid)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    let der = base64::engine::general_purpose::STANDARD.decode(der).unwrap();
    let real = EncodingKey::from_ed_der(&der);
    let sign = |h: &Header, c: &Value| jsonwebtoken::encode(h, c, &real).unwrap();
    let eddsa = |kid: &str| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.to_owned());
        h
    };
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = claims.as_object().unwrap().clone();
        f(&mut c);
        sign(&eddsa(&kid), &Value::Object(c))
    };
    let now = tranche_api::db::now_ms() / 1000;

    // Positive controls: the real token, and a re-signed copy of its claims.
    assert_eq!(app.get("/v1/checkout", &token).await.status(), 200);
    assert_eq!(app.get("/v1/checkout", &with(&|_| {})).await.status(), 200);

    let unsigned = |header: Value| {
        format!(
            "{}.{}.",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        )
    };
    let public_bytes = base64::engine::general_purpose::STANDARD
        .decode(&public)
        .unwrap_or_else(|_| public.as_bytes().to_vec());
    let hs256_with_public_key = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&public_bytes)).unwrap()
    };
    let hs256_with_public_text = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(public.as_bytes())).unwrap()
    };
    let header_with = |field: &str, value: Value| {
        // Hand-built header (jsonwebtoken cannot emit every field), signed with the real key.
        let h = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid, field: value});
        let signing_input = format!("{}.{}", B64.encode(h.to_string()), B64.encode(claims.to_string()));
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
        format!(
            "{signing_input}.{}",
            B64.encode(pair.sign(signing_input.as_bytes()).as_ref())
        )
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(json!({"alg": "none", "typ": "JWT", "kid": kid})),
        ),
        (
            "alg None (case)",
            unsigned(json!({"alg": "None", "typ": "JWT", "kid": kid})),
        ),
        ("HS256 keyed with the public key bytes", hs256_with_public_key),
        ("HS256 keyed with the public key text", hs256_with_public_text),
        ("unknown kid", sign(&eddsa("key_does_not_exist"), &claims)),
        ("kid with a path", sign(&eddsa("../../../../etc/passwd"), &claims)),
        ("kid with SQL", sign(&eddsa("x' OR '1'='1"), &claims)),
        (
            "jku header",
            header_with("jku", json!("https://evil.example/jwks.json")),
        ),
        (
            "x5u header",
            header_with("x5u", json!("https://evil.example/cert.pem")),
        ),
        (
            "jwk header",
            header_with("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})),
        ),
        ("x5c header", header_with("x5c", json!(["MIIB"]))),
        ("missing exp", with(&|c| drop(c.remove("exp")))),
        ("missing nbf", with(&|c| drop(c.remove("nbf")))),
        ("missing aud", with(&|c| drop(c.remove("aud")))),
        ("missing iss", with(&|c| drop(c.remove("iss")))),
        ("missing sub", with(&|c| drop(c.remove("sub")))),
        (
            "expired",
            with(&|c| {
                c.insert("exp".into(), json!(now - 120));
                c.insert("nbf".into(), json!(now - 600));
            }),
        ),
        (
            "nbf in the future",
            with(&|c| drop(c.insert("nbf".into(), json!(now + 3600)))),
        ),
        (
            "wrong aud",
            with(&|c| drop(c.insert("aud".into(), json!("another-service")))),
        ),
        (
            "wrong iss",
            with(&|c| drop(c.insert("iss".into(), json!("https://evil.example")))),
        ),
        (
            "exp as a string",
            with(&|c| drop(c.insert("exp".into(), json!("9999999999")))),
        ),
        (
            "token for invoice A claiming invoice B",
            with(&|c| drop(c.insert("sub".into(), json!(inv_b["id"])))),
        ),
        ("invoice B's jti with invoice A's sub", {
            let (_, cb) = parts(&token_b);
            with(&|c| drop(c.insert("jti".into(), cb["jti"].clone())))
        }),
        ("seller secret key as a token", seller.key.clone()),
        ("truncated signature", token[..token.len() - 4].to_owned()),
    ];
    assert!(cases.len() >= 14);
    let card = app.card_token_for(&token, "4242424242424242").await;
    let card_details =
        json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}});
    for (what, bad) in &cases {
        let r = app.get("/v1/checkout", bad).await;
        assert_eq!(r.status(), 401, "GET with {what}");
        expect_problem(r, 401, "invalid_checkout_token").await;
        let r = app.pay(bad, &format!("k-{what}"), "10.00", &card).await;
        assert_eq!(r.status(), 401, "POST with {what}");
        let r = app.tokenize(bad, card_details.clone()).await;
        expect_problem(r, 401, "invalid_checkout_token").await;
    }
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM sandbox_tokens").await,
        1,
        "no card token for a refused checkout token"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM payments").await,
        0,
        "no write"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) FROM sandbox_charges").await,
        0,
        "no gateway call"
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    // Positive control after the barrage: the genuine token still pays.
    assert_eq!(app.pay(&token, "genuine", "10.00", &card).await.status(), 201);
}
both_backends!(token_attacks_are_refused);
