//! Which certificate authorities the outbound client trusts: the system roots, or exactly what the
//! operator points `SSL_CERT_FILE` / `SSL_CERT_DIR` at. Tested against a real TLS receiver whose
//! certificate comes from a private CA made for this run.
//!
//! The variables are process-wide, so these tests live in their own binary and each holds `ENV` for its
//! whole body: no other test in this process reads or writes the environment meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod outbound_support;

use std::path::Path;
use std::time::Duration;

use outbound_support::{chain, https_receiver, settings, PrivateCa, OK};

static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The outbound client built while exactly `vars` are set (the roots are read when it is built).
fn client_with(vars: &[(&str, &Path)]) -> reqwest::Client {
    for var in VARS {
        std::env::remove_var(var);
    }
    for (var, value) in vars {
        std::env::set_var(var, value);
    }
    let built = tranche_api::outbound::client(&settings(true));
    for var in VARS {
        std::env::remove_var(var);
    }
    built.unwrap()
}

fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir()
        .join("tranche-tests")
        .join(format!("{label}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn ssl_cert_file_makes_a_private_ca_trusted() {
    let _env = ENV.lock().await;
    let ca = PrivateCa::new();
    let dir = temp_dir("ssl-cert-file");
    let ca_file = dir.join("private-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let receiver = https_receiver(&ca, OK.to_owned()).await;

    let client = client_with(&[("SSL_CERT_FILE", &ca_file)]);
    for host in ["127.0.0.1", "localhost"] {
        let response = client
            .post(format!("https://{host}:{}/hook", receiver.port()))
            .body("{}")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host}: {}", chain(&e)));
        assert_eq!(response.status(), 200, "{host}");
        assert_eq!(response.text().await.unwrap(), "ok");
    }
    assert_eq!(receiver.requests(), 2);
    assert_eq!(receiver.handshake_failures(), 0);
}

#[tokio::test]
async fn ssl_cert_dir_makes_a_private_ca_trusted() {
    let _env = ENV.lock().await;
    let ca = PrivateCa::new();
    let dir = temp_dir("ssl-cert-dir");
    // rustls-native-certs 0.8.5 reads every regular file in each SSL_CERT_DIR directory as PEM: a
    // c_rehash `<hash>.0` name is not needed (one would be read just the same).
    std::fs::write(dir.join("ca.pem"), &ca.ca_pem).unwrap();
    let receiver = https_receiver(&ca, OK.to_owned()).await;

    let client = client_with(&[("SSL_CERT_DIR", &dir)]);
    let response = client
        .post(format!("https://127.0.0.1:{}/hook", receiver.port()))
        .body("{}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(response.status(), 200);
    assert_eq!(receiver.requests(), 1);
}

#[tokio::test]
async fn without_the_private_ca_the_handshake_is_refused() {
    let _env = ENV.lock().await;
    let ca = PrivateCa::new();
    let receiver = https_receiver(&ca, OK.to_owned()).await;
    // The system roots only: the private CA is not among them.
    let client = client_with(&[]);
    let error = client
        .post(format!("https://127.0.0.1:{}/hook", receiver.port()))
        .body("{\"secret\":\"not for an unverified server\"}")
        .send()
        .await
        .unwrap_err();
    let why = chain(&error);
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.connections(), 1, "the TCP connection was made");
    assert_eq!(
        receiver.handshake_failures(),
        1,
        "the client aborted the handshake"
    );
    assert_eq!(receiver.requests(), 0, "no request reached the receiver");
}
