//! PostgreSQL over TLS (DESIGN section 14): `Db::connect` with `sslmode=require` encrypts, `verify-full`
//! with the cluster's CA as `sslrootcert` verifies, and `verify-full` without it refuses the server.
//! Runs on the cluster `cargo xtask test` (or `cargo xtask pg`) starts with TLS on; it exports the URL as
//! `TRANCHE_TEST_POSTGRES_URL` and the CA file as `TRANCHE_TEST_POSTGRES_CA`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fresh_database, Backend};
use tranche_api::db::Db;

/// A fresh database's URL and the CA file, or `None` (skip) when no TLS cluster is configured, which is
/// a failure when `TRANCHE_REQUIRE_POSTGRES` is set: CI must never skip these silently.
async fn tls_database() -> Option<(String, String)> {
    let ca = std::env::var("TRANCHE_TEST_POSTGRES_CA")
        .ok()
        .filter(|ca| !ca.is_empty());
    let (Some(_), Some(ca)) = (common::postgres_url(), ca) else {
        assert!(
            std::env::var_os("TRANCHE_REQUIRE_POSTGRES").is_none(),
            "TRANCHE_REQUIRE_POSTGRES is set but TRANCHE_TEST_POSTGRES_URL or TRANCHE_TEST_POSTGRES_CA is not"
        );
        eprintln!(
            "TRANCHE_TEST_POSTGRES_URL or TRANCHE_TEST_POSTGRES_CA not set: PostgreSQL TLS not tested \
             (cargo xtask test sets both)"
        );
        return None;
    };
    Some((fresh_database(Backend::Postgres).await, ca))
}

/// Whether this connection's session is encrypted, as the server sees it.
async fn encrypted(db: &Db) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

fn chain(error: &anyhow::Error) -> String {
    format!("{error:#}")
}

#[tokio::test]
async fn sslmode_require_encrypts_the_connection() {
    let Some((url, _)) = tls_database().await else {
        return;
    };
    let db = Db::connect(&format!("{url}?sslmode=require"), 2).await.unwrap();
    assert!(encrypted(&db).await, "sslmode=require must encrypt");
    // The query tells the two apart: the same server without TLS says false.
    let plain = Db::connect(&format!("{url}?sslmode=disable"), 2).await.unwrap();
    assert!(!encrypted(&plain).await);
}

#[tokio::test]
async fn verify_full_with_the_ca_connects() {
    let Some((url, ca)) = tls_database().await else {
        return;
    };
    let db = Db::connect(&format!("{url}?sslmode=verify-full&sslrootcert={ca}"), 2)
        .await
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(encrypted(&db).await);
}

#[tokio::test]
async fn verify_full_without_the_ca_refuses_the_server() {
    let Some((url, _)) = tls_database().await else {
        return;
    };
    // The system roots do not include the cluster's private CA: the certificate must be refused.
    let error = Db::connect(&format!("{url}?sslmode=verify-full"), 2)
        .await
        .expect_err("an unverifiable server certificate is refused");
    // Refused for the certificate, not for some other reason (no TLS support at all also fails).
    let why = chain(&error);
    assert!(why.contains("invalid peer certificate"), "{why}");
    eprintln!("refused as expected: {why}");
}
