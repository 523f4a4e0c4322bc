//! Settings, layered: built-in defaults, then `tranche.toml` (or the file in `TRANCHE_CONFIG`), then
//! `TRANCHE_*` environment variables. Secrets are [`Secret`]s so a printed config never leaks them.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::masking::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listen address, `host:port` (port 0 picks a free one).
    pub addr: String,
    /// `sqlite://path/to/file.db` (default, created on first run) or `postgres://...`.
    pub database_url: Secret,
    /// Public base URL used in checkout links and the token issuer. Defaults to `http://{addr}`.
    pub public_url: Option<String>,
    /// Bearer token that may create sellers. Seller creation is disabled when unset.
    pub operator_token: Option<Secret>,
    pub max_connections: u32,
    /// Default and maximum lifetime of checkout links.
    pub checkout_link_ttl_seconds: i64,
    pub checkout_link_max_ttl_seconds: i64,
    /// Ed25519 signing keys for checkout tokens. Empty: a key is generated and kept in the database.
    pub signing_keys: Vec<SigningKeyConfig>,
    /// Extra public keys accepted for verification only (keys being rotated out).
    pub verification_keys: Vec<VerificationKeyConfig>,
    pub sandbox: SandboxSettings,
    pub reconciler: ReconcilerSettings,
    /// Largest accepted JSON body, in bytes.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    pub kid: String,
    /// Base64 of the PKCS#8 DER private key.
    pub private_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationKeyConfig {
    pub kid: String,
    /// Base64url of the raw 32-byte Ed25519 public key.
    pub public_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Added to every sandbox charge, to exercise slow gateways.
    pub latency_ms: u64,
    /// How long a sandbox bank (ACH) payment stays pending before it settles.
    pub ach_settle_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcilerSettings {
    pub interval_ms: u64,
    /// A pending card payment is only asked about after this long, so it never races its own request.
    pub grace_seconds: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            addr: "127.0.0.1:8080".to_owned(),
            database_url: Secret::new("sqlite://data/tranche.db"),
            public_url: None,
            operator_token: None,
            max_connections: 16,
            checkout_link_ttl_seconds: 7 * 24 * 3600,
            checkout_link_max_ttl_seconds: 90 * 24 * 3600,
            signing_keys: Vec::new(),
            verification_keys: Vec::new(),
            sandbox: SandboxSettings::default(),
            reconciler: ReconcilerSettings::default(),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            latency_ms: 0,
            ach_settle_seconds: 30,
        }
    }
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        ReconcilerSettings {
            interval_ms: 1000,
            grace_seconds: 60,
        }
    }
}

impl Settings {
    /// Defaults, then the config file (if present), then the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let path = std::env::var("TRANCHE_CONFIG").unwrap_or_else(|_| "tranche.toml".to_owned());
        let mut settings = if Path::new(&path).exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            toml::from_str(&text).with_context(|| format!("parsing {path}"))?
        } else {
            Settings::default()
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("TRANCHE_ADDR") {
            self.addr = v;
        }
        if let Some(v) = var("TRANCHE_DATABASE_URL") {
            self.database_url = Secret::new(v);
        }
        if let Some(v) = var("TRANCHE_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = var("TRANCHE_OPERATOR_TOKEN").filter(|v| !v.is_empty()) {
            self.operator_token = Some(Secret::new(v));
        }
        if let Some(v) = var("TRANCHE_SANDBOX_LATENCY_MS") {
            self.sandbox.latency_ms = v.parse().context("TRANCHE_SANDBOX_LATENCY_MS")?;
        }
        if let Some(v) = var("TRANCHE_SANDBOX_ACH_SETTLE_SECONDS") {
            self.sandbox.ach_settle_seconds = v.parse().context("TRANCHE_SANDBOX_ACH_SETTLE_SECONDS")?;
        }
        if let Some(v) = var("TRANCHE_MAX_CONNECTIONS") {
            self.max_connections = v.parse().context("TRANCHE_MAX_CONNECTIONS")?;
        }
        if let (Some(kid), Some(key)) = (var("TRANCHE_SIGNING_KID"), var("TRANCHE_SIGNING_KEY")) {
            self.signing_keys = vec![SigningKeyConfig {
                kid,
                private_key: Secret::new(key),
            }];
        }
        Ok(())
    }

    /// The public base URL without a trailing slash.
    pub fn public_base(&self, bound_addr: &str) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound_addr}"))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let mut s: Settings = toml::from_str("addr = \"0.0.0.0:9000\"\n[sandbox]\nlatency_ms = 5\n").unwrap();
        s.apply_env(|k| (k == "TRANCHE_SANDBOX_LATENCY_MS").then(|| "7".to_owned()))
            .unwrap();
        assert_eq!(s.addr, "0.0.0.0:9000");
        assert_eq!(s.sandbox.latency_ms, 7);
        assert_eq!(s.max_connections, 16);
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        assert!(toml::from_str::<Settings>("adress = \"x\"").is_err());
    }

    #[test]
    fn debug_output_masks_secrets() {
        let s = Settings {
            operator_token: Some(Secret::new("op-secret-123")),
            database_url: Secret::new("postgres://u:hunter2@db/x"),
            ..Settings::default()
        };
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("op-secret-123") && !printed.contains("hunter2"),
            "{printed}"
        );
    }
}
