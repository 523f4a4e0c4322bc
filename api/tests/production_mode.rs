//! Production mode, signing keys and secrets at rest, tested on the real binary and the real server:
//! `TRANCHE_ENV=production` refuses unsafe settings before touching anything; configured signing keys add
//! to the stored ones (no outstanding link breaks); stored signing keys are sealed with the master key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{spawn_app_on, Backend};
use tranche_api::config::SigningKeyConfig;
use tranche_api::masking::Secret;

fn tranche() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tranche"));
    // Only what each test sets: no tranche.toml, no inherited TRANCHE_* from the developer's shell.
    for (key, _) in std::env::vars() {
        if key.starts_with("TRANCHE_") {
            command.env_remove(key);
        }
    }
    command.env("TRANCHE_CONFIG", "/nonexistent/tranche.toml");
    command
}

#[test]
fn production_refuses_to_start_naming_each_problem_and_touches_nothing() {
    let dir = std::env::temp_dir().join(format!("tranche-prod-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("never-created.db");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let output = tranche()
        .arg("serve")
        .env("TRANCHE_ENV", "production")
        .env("TRANCHE_ADDR", format!("127.0.0.1:{port}"))
        .env("TRANCHE_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("TRANCHE_PUBLIC_URL", "http://pay.example.com")
        .env("TRANCHE_OPERATOR_TOKEN", "too-short-operator-token")
        .env("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("TRANCHE_SMTP_HOST", "smtp.example.com")
        .env("TRANCHE_SMTP_TLS", "none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for named in [
        "TRANCHE_PUBLIC_URL must be an https:// URL",
        "TRANCHE_GATEWAY is the sandbox",
        "TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS is true",
        "TRANCHE_SMTP_TLS must be tls or starttls",
        "TRANCHE_OPERATOR_TOKEN has 24 characters",
        "TRANCHE_MASTER_KEY is not set",
    ] {
        assert_eq!(
            stderr.lines().filter(|l| l.contains(named)).count(),
            1,
            "{named} once, on its own line, in:\n{stderr}"
        );
    }
    assert!(stderr.contains("6 problems"), "{stderr}");
    assert!(
        !stderr.contains("too-short-operator-token"),
        "secrets never printed: {stderr}"
    );
    assert!(!db.exists(), "no database was created");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "nothing listens on the port"
    );

    // A typo in a closed setting is an error, never a silent default.
    for (name, value) in [
        ("TRANCHE_ENV", "prodution"),
        ("TRANCHE_SMTP_TLS", "startls"),
        ("TRANCHE_GATEWAY", "stripey"),
        ("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", "maybe"),
        ("TRANCHE_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
    ] {
        let output = tranche()
            .arg("migrate")
            .env("TRANCHE_DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("TRANCHE_SMTP_HOST", "smtp.example.com")
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value} accepted");
        assert!(stderr.contains(name), "{name} named in: {stderr}");
        assert!(!db.exists(), "{name}: no database was created");
    }

    // Development starts with the same settings (the demo and the tests need http and the sandbox).
    let output = tranche()
        .arg("migrate")
        .env("TRANCHE_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("TRANCHE_PUBLIC_URL", "http://pay.example.com")
        .env("TRANCHE_SMTP_TLS", "none")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ed25519_pkcs8_b64() -> String {
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    STANDARD.encode(pkcs8.as_ref())
}

fn master_key() -> Secret {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut key).unwrap();
    Secret::new(STANDARD.encode(key))
}

fn kid_of(token: &str) -> String {
    let header = jsonwebtoken::decode_header(token).unwrap();
    header.kid.unwrap()
}

async fn stored_keys(app: &common::TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kid, private_pkcs8 FROM signing_keys ORDER BY created_at, kid")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap()
}

/// Links minted with the stored key keep working once keys are configured; the configured key signs new ones.
async fn configured_keys_add_to_stored_ones(backend: Backend) {
    // One public URL for both nodes, as in a deployment (it is the tokens' issuer).
    let public = || Some("https://pay.tranche.test".to_owned());
    let first = common::spawn_app_with(backend, |s| s.public_url = public()).await;
    let seller = first.seller("Keys Ltd").await;
    let invoice = first.invoice(&seller, "USD", "100.00", None).await;
    let (_, old_token) = first.link(&seller, invoice["id"].as_str().unwrap()).await;
    let stored_kid = kid_of(&old_token);

    let configured = ed25519_pkcs8_b64();
    let second = spawn_app_on(backend, first.database_url.clone(), |s| {
        s.operator_token = Some(Secret::new(first.operator.clone()));
        s.public_url = public();
        s.signing_keys = vec![SigningKeyConfig {
            kid: "ops-2026".to_owned(),
            private_key: Secret::new(configured.clone()),
        }];
    })
    .await;
    // The outstanding link still opens on the node with configured keys...
    let r = second.get("/v1/checkout", &old_token).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // ...and new links are signed with the configured key.
    let (_, new_token) = second.link(&seller, invoice["id"].as_str().unwrap()).await;
    assert_eq!(kid_of(&new_token), "ops-2026");
    assert_ne!(kid_of(&new_token), stored_kid);
    assert_eq!(second.get("/v1/checkout", &new_token).await.status(), 200);
    // Configured keys are not written to the database.
    assert_eq!(stored_keys(&second).await.len(), 1);
}
both_backends!(configured_keys_add_to_stored_ones);

/// With a master key, the stored signing key is sealed (a copied database holds no usable key), rows from
/// before the key was configured are sealed on start, and a node without the key refuses to start.
async fn stored_signing_keys_are_sealed_with_the_master_key(backend: Backend) {
    // Written without a master key (development): plain base64 PKCS#8.
    let public = || Some("https://pay.tranche.test".to_owned());
    let plain = common::spawn_app_with(backend, |s| s.public_url = public()).await;
    let seller = plain.seller("Sealed Ltd").await;
    let invoice = plain.invoice(&seller, "USD", "100.00", None).await;
    let (_, token) = plain.link(&seller, invoice["id"].as_str().unwrap()).await;
    let rows = stored_keys(&plain).await;
    assert!(!rows[0].1.starts_with("enc:v1:"));

    let key = master_key();
    let sealed = spawn_app_on(backend, plain.database_url.clone(), |s| {
        s.public_url = public();
        s.master_key = Some(key.clone());
    })
    .await;
    let rows = stored_keys(&sealed).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1.starts_with("enc:v1:"), "sealed on start: {}", rows[0].1);
    let raw = STANDARD.decode(rows[0].1.trim_start_matches("enc:v1:")).unwrap();
    // The PKCS#8 prefix of an Ed25519 key (30 2e 02 01 00 30 05 06 03 2b 65 70) is not in the stored bytes.
    let der_prefix = [0x30u8, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
    assert!(!raw.windows(der_prefix.len()).any(|w| w == der_prefix));
    // The old link still works with the sealed key.
    let r = sealed.get("/v1/checkout", &token).await;
    assert_eq!(r.status(), 200);

    // A fresh database with a master key never stores the key in the clear.
    let fresh = common::spawn_app_with(backend, |s| s.master_key = Some(key.clone())).await;
    assert!(stored_keys(&fresh).await[0].1.starts_with("enc:v1:"));

    // A node without the key (or with another key) cannot start on that database: it says why.
    for wrong in [None, Some(master_key())] {
        let settings = tranche_api::config::Settings {
            addr: "127.0.0.1:0".to_owned(),
            database_url: Secret::new(plain.database_url.clone()),
            master_key: wrong,
            ..tranche_api::config::Settings::default()
        };
        let error = match tranche_api::startup::Application::build(settings).await {
            Ok(_) => panic!("started without the right master key"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("signing key"), "{error}");
    }
}
both_backends!(stored_signing_keys_are_sealed_with_the_master_key);

#[tokio::test]
async fn a_bad_master_key_is_refused_at_start() {
    let error = match tranche_api::startup::Application::build(tranche_api::config::Settings {
        addr: "127.0.0.1:0".to_owned(),
        database_url: Secret::new(common::fresh_database(Backend::Sqlite).await),
        master_key: Some(Secret::new("c2hvcnQ=")),
        ..tranche_api::config::Settings::default()
    })
    .await
    {
        Ok(_) => panic!("started with a 5-byte master key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("TRANCHE_MASTER_KEY"), "{error}");
}
