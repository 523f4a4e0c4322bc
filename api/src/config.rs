//! Settings, layered: built-in defaults, then `tranche.toml` (or the file in `TRANCHE_CONFIG`), then
//! `TRANCHE_*` environment variables. Secrets are [`Secret`]s so a printed config never leaks them.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::masking::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `development` (default) or `production`, which refuses unsafe settings (see `production`).
    pub environment: crate::production::Environment,
    /// The payment gateway. Only the sandbox exists in this version.
    pub gateway: GatewayKind,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` headers are believed (CIDRs). Empty: the TCP
    /// peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header those proxies set: `x-forwarded-for` (default) or `forwarded` (RFC 7239).
    pub forwarded_header: crate::client_ip::ForwardedHeader,
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
    /// How often the scheduler (payment-plan reminders, missed installments) runs a pass; 0 turns the
    /// in-server loop off (`tranche scheduler run` still works). Passes are idempotent across nodes.
    pub scheduler_interval_ms: u64,
    /// Ed25519 signing keys for checkout tokens. Empty: a key is generated and kept in the database.
    pub signing_keys: Vec<SigningKeyConfig>,
    /// Extra public keys accepted for verification only (keys being rotated out).
    pub verification_keys: Vec<VerificationKeyConfig>,
    pub sandbox: SandboxSettings,
    pub reconciler: ReconcilerSettings,
    /// Largest accepted JSON body, in bytes.
    pub max_body_bytes: usize,
    pub erp: ErpSettings,
    /// SMTP for receipt emails; without it receipts are written to `receipts_dir`.
    pub smtp: Option<SmtpSettings>,
    pub receipts_dir: String,
    pub rate_limits: crate::rate_limit::RateLimitSettings,
    /// Seals secrets at rest (AES-256-GCM; base64 of 32 bytes). Required in production.
    pub master_key: Option<Secret>,
    /// `TRANCHE_METRICS_ADDR`: where `/metrics` (with `/livez` and `/readyz`) is served, never on the public
    /// listener. Unset means [`DEFAULT_METRICS_ADDR`], best effort (a taken port is logged and the API runs
    /// without metrics); an address set here must bind or start-up fails. Port 0 picks a free one.
    pub metrics_addr: Option<String>,
}

/// Loopback only, so metrics are reachable from the host (or a sidecar) but not from the internet.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErpSettings {
    /// Timeout of one delivery attempt.
    pub attempt_timeout_ms: u64,
    /// Delay before each retry; when exhausted the delivery is dead-lettered.
    pub retry_schedule_ms: Vec<u64>,
    /// How often the relay looks for due deliveries when nothing woke it.
    pub poll_interval_ms: u64,
    /// Deliveries claimed per pass.
    pub batch_size: u32,
    /// Allow endpoints on loopback, private, link-local and other non-public addresses (the demo, tests,
    /// an ERP on the seller's own LAN). Off by default: see `outbound`.
    pub allow_private_destinations: bool,
    /// Endpoints one seller may have (disabled ones do not count). `TRANCHE_ERP_MAX_ENDPOINTS_PER_SELLER`.
    pub max_endpoints_per_seller: u32,
    /// An endpoint is disabled after this many consecutive failed attempts... (`TRANCHE_ERP_DISABLE_AFTER_FAILURES`)
    pub disable_after_failures: u32,
    /// ...once its failures have lasted at least this long, so a short outage never disables it
    /// (`TRANCHE_ERP_DISABLE_AFTER_FAILING_MS`).
    pub disable_after_failing_ms: u64,
    /// Attempts in flight on one node at once (`TRANCHE_ERP_MAX_IN_FLIGHT`).
    pub max_in_flight: u32,
    /// Attempts in flight per endpoint (per seller for receipt emails), across nodes
    /// (`TRANCHE_ERP_MAX_IN_FLIGHT_PER_ENDPOINT`): a dead endpoint holds at most this many slots.
    pub max_in_flight_per_endpoint: u32,
    /// Attempts in flight per seller, across nodes (`TRANCHE_ERP_MAX_IN_FLIGHT_PER_SELLER`): one seller's
    /// endpoints can never take every slot.
    pub max_in_flight_per_seller: u32,
    /// Receipt emails sent per seller per hour, cluster-wide; more wait for the next hour
    /// (`TRANCHE_ERP_EMAILS_PER_SELLER_PER_HOUR`).
    pub emails_per_seller_per_hour: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    /// `starttls` (default), `tls`, or `none` (local relays and test sinks only).
    #[serde(default)]
    pub tls: SmtpTls,
}

/// How the SMTP connection is protected. A closed set: a typo is a configuration error, never plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic). Port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS). Port 465.
    Tls,
    /// No encryption: local relays and test sinks only; production refuses it.
    None,
}

impl SmtpTls {
    pub fn parse(value: &str) -> anyhow::Result<SmtpTls> {
        match value.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            "none" => Ok(SmtpTls::None),
            other => anyhow::bail!("TRANCHE_SMTP_TLS must be starttls, tls or none, not {other:?}"),
        }
    }

    pub fn is_encrypted(self) -> bool {
        self != SmtpTls::None
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        }
    }
}

/// `TRANCHE_GATEWAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// The built-in test-mode gateway (Stripe's test card numbers; charges nothing real).
    #[default]
    Sandbox,
}

impl GatewayKind {
    pub fn parse(value: &str) -> anyhow::Result<GatewayKind> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sandbox" => Ok(GatewayKind::Sandbox),
            other => anyhow::bail!(
                "TRANCHE_GATEWAY must be sandbox (the only gateway in this version), not {other:?}"
            ),
        }
    }
}

fn default_smtp_port() -> u16 {
    587
}

impl Default for ErpSettings {
    fn default() -> Self {
        const SECOND: u64 = 1000;
        const MINUTE: u64 = 60 * SECOND;
        const HOUR: u64 = 60 * MINUTE;
        ErpSettings {
            attempt_timeout_ms: 15 * SECOND,
            // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h, 20 h, 24 h: about 85 hours in all.
            retry_schedule_ms: vec![
                5 * SECOND,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
                14 * HOUR,
                20 * HOUR,
                24 * HOUR,
            ],
            poll_interval_ms: 500,
            batch_size: 16,
            allow_private_destinations: false,
            max_endpoints_per_seller: 10,
            // 20 failures in a row over at least a day: with the retry schedule, one payment's
            // delivery alone fails about 10 times in 85 h, so this takes several events and a day.
            disable_after_failures: 20,
            disable_after_failing_ms: 24 * HOUR,
            max_in_flight: 64,
            max_in_flight_per_endpoint: 8,
            max_in_flight_per_seller: 16,
            emails_per_seller_per_hour: 1000,
        }
    }
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
            environment: crate::production::Environment::Development,
            gateway: GatewayKind::Sandbox,
            trusted_proxies: Vec::new(),
            forwarded_header: crate::client_ip::ForwardedHeader::XForwardedFor,
            addr: "127.0.0.1:8080".to_owned(),
            database_url: Secret::new("sqlite://data/tranche.db"),
            public_url: None,
            operator_token: None,
            max_connections: 16,
            checkout_link_ttl_seconds: 7 * 24 * 3600,
            checkout_link_max_ttl_seconds: 90 * 24 * 3600,
            scheduler_interval_ms: 60_000,
            signing_keys: Vec::new(),
            verification_keys: Vec::new(),
            sandbox: SandboxSettings::default(),
            reconciler: ReconcilerSettings::default(),
            max_body_bytes: 64 * 1024,
            erp: ErpSettings::default(),
            smtp: None,
            receipts_dir: "data/receipts".to_owned(),
            rate_limits: crate::rate_limit::RateLimitSettings::default(),
            master_key: None,
            metrics_addr: None,
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
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        settings.apply_env(|name| {
            read.borrow_mut().insert(name.to_owned());
            std::env::var(name).ok()
        })?;
        let present = std::env::vars().map(|(name, _)| name);
        for warning in unused_variables(present, &read.borrow()) {
            tracing::warn!("{warning}");
        }
        Ok(settings)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("TRANCHE_ENV").filter(|v| !v.is_empty()) {
            self.environment = crate::production::Environment::parse(&v)
                .with_context(|| format!("TRANCHE_ENV must be development or production, not {v:?}"))?;
        }
        if let Some(v) = var("TRANCHE_GATEWAY").filter(|v| !v.is_empty()) {
            self.gateway = GatewayKind::parse(&v)?;
        }
        if let Some(v) = var("TRANCHE_TRUSTED_PROXIES") {
            self.trusted_proxies = crate::client_ip::parse_cidrs(&v).context("TRANCHE_TRUSTED_PROXIES")?;
        }
        if let Some(v) = var("TRANCHE_FORWARDED_HEADER").filter(|v| !v.is_empty()) {
            self.forwarded_header =
                crate::client_ip::ForwardedHeader::parse(&v).context("TRANCHE_FORWARDED_HEADER")?;
        }
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
        if let Some(v) = var("TRANCHE_SCHEDULER_INTERVAL_MS") {
            self.scheduler_interval_ms = v.parse().context("TRANCHE_SCHEDULER_INTERVAL_MS")?;
        }
        if let Some(v) = var("TRANCHE_MAX_CONNECTIONS") {
            self.max_connections = v.parse().context("TRANCHE_MAX_CONNECTIONS")?;
        }
        let limits = [
            (
                "TRANCHE_RATE_PAYMENTS_PER_LINK",
                &mut self.rate_limits.payments_per_link_per_minute,
            ),
            (
                "TRANCHE_RATE_PAYMENTS_PER_IP",
                &mut self.rate_limits.payments_per_ip_per_minute,
            ),
            (
                "TRANCHE_RATE_TOKENIZE_PER_IP",
                &mut self.rate_limits.tokenize_per_ip_per_minute,
            ),
            (
                "TRANCHE_RATE_TOKEN_FAILURES_PER_IP",
                &mut self.rate_limits.token_failures_per_ip_per_minute,
            ),
        ];
        for (name, field) in limits {
            if let Some(v) = var(name) {
                *field = v.parse().with_context(|| name.to_owned())?;
            }
        }
        if let Some(v) = var("TRANCHE_RECEIPTS_DIR") {
            self.receipts_dir = v;
        }
        // TRANCHE_QUICKBOOKS_TOKEN is retired: a server-wide token was sent to whatever URL a seller chose.
        let erp_numbers = [
            (
                "TRANCHE_ERP_MAX_ENDPOINTS_PER_SELLER",
                &mut self.erp.max_endpoints_per_seller,
            ),
            (
                "TRANCHE_ERP_DISABLE_AFTER_FAILURES",
                &mut self.erp.disable_after_failures,
            ),
            ("TRANCHE_ERP_MAX_IN_FLIGHT", &mut self.erp.max_in_flight),
            (
                "TRANCHE_ERP_MAX_IN_FLIGHT_PER_ENDPOINT",
                &mut self.erp.max_in_flight_per_endpoint,
            ),
            (
                "TRANCHE_ERP_MAX_IN_FLIGHT_PER_SELLER",
                &mut self.erp.max_in_flight_per_seller,
            ),
            (
                "TRANCHE_ERP_EMAILS_PER_SELLER_PER_HOUR",
                &mut self.erp.emails_per_seller_per_hour,
            ),
        ];
        for (name, field) in erp_numbers {
            if let Some(v) = var(name) {
                *field = v.parse().with_context(|| name.to_owned())?;
            }
        }
        if let Some(v) = var("TRANCHE_ERP_DISABLE_AFTER_FAILING_MS") {
            self.erp.disable_after_failing_ms = v.parse().context("TRANCHE_ERP_DISABLE_AFTER_FAILING_MS")?;
        }
        if let Some(v) = var("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS") {
            self.erp.allow_private_destinations = parse_bool("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", &v)?;
        }
        if let Some(v) = var("TRANCHE_METRICS_ADDR").filter(|v| !v.is_empty()) {
            self.metrics_addr = Some(v);
        }
        if let Some(v) = var("TRANCHE_MASTER_KEY").filter(|v| !v.is_empty()) {
            self.master_key = Some(Secret::new(v));
        }
        if let Some(host) = var("TRANCHE_SMTP_HOST").filter(|v| !v.is_empty()) {
            self.smtp = Some(SmtpSettings {
                host,
                port: var("TRANCHE_SMTP_PORT")
                    .map(|p| p.parse())
                    .transpose()
                    .context("TRANCHE_SMTP_PORT")?
                    .unwrap_or(587),
                username: var("TRANCHE_SMTP_USERNAME"),
                password: var("TRANCHE_SMTP_PASSWORD").map(Secret::new),
                from: var("TRANCHE_SMTP_FROM").unwrap_or_else(|| "receipts@localhost".to_owned()),
                tls: var("TRANCHE_SMTP_TLS")
                    .map(|v| SmtpTls::parse(&v))
                    .transpose()?
                    .unwrap_or_default(),
            });
        }
        if let (Some(kid), Some(key)) = (var("TRANCHE_SIGNING_KID"), var("TRANCHE_SIGNING_KEY")) {
            self.signing_keys = vec![SigningKeyConfig {
                kid,
                private_key: Secret::new(key),
            }];
        }
        Ok(())
    }

    /// Where seller-chosen URLs may point.
    pub fn destination_policy(&self) -> crate::outbound::DestinationPolicy {
        crate::outbound::DestinationPolicy {
            allow_private: self.erp.allow_private_destinations,
        }
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

/// Variables that were once settings, and what replaced them.
const RETIRED: &[(&str, &str)] = &[(
    "TRANCHE_QUICKBOOKS_TOKEN",
    "a server-wide QuickBooks token is never sent any more: each QuickBooks endpoint carries its own OAuth credentials",
)];

/// `TRANCHE_*` names read outside the settings (tools, tests, logging), so not worth a warning.
const NOT_SETTINGS: &[&str] = &[
    "TRANCHE_CONFIG",
    "TRANCHE_LOG",
    "TRANCHE_WIDGET_DIR",
    "TRANCHE_DEMO_",
    "TRANCHE_TEST_",
    "TRANCHE_REQUIRE_",
    "TRANCHE_SKIP_",
    "TRANCHE_SOAK_",
    "TRANCHE_MODEL_CASES",
    "TRANCHE_FILES",
];

/// A warning for each `TRANCHE_*` variable in `present` that the settings did not read (`read` is what
/// [`Settings::apply_env`] asked for, so the list cannot drift from the code): a typo, a retired name, or a
/// variable that has no effect without another (`TRANCHE_SMTP_PORT` without `TRANCHE_SMTP_HOST`). Never an
/// error: an old deployment file must not stop a server from starting.
pub fn unused_variables(
    present: impl Iterator<Item = String>,
    read: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let mut warnings: Vec<String> = present
        .filter(|name| {
            let retired = RETIRED.iter().any(|(retired, _)| retired == name);
            name.starts_with("TRANCHE_") && (retired || !read.contains(name))
        })
        .filter(|name| !NOT_SETTINGS.iter().any(|known| name.starts_with(known)))
        .map(
            |name| match RETIRED.iter().find(|(retired, _)| *retired == name) {
                Some((_, why)) => format!("{name} is retired and ignored: {why}"),
                None => {
                    format!("{name} is not a Tranche setting (or has no effect with the others set): ignored")
                }
            },
        )
        .collect();
    warnings.sort();
    warnings
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`); anything else is an error naming the variable, never a
/// silent `false`.
fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => anyhow::bail!("{name} must be true or false, not {other:?}"),
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
    fn unknown_and_retired_variables_are_warnings_derived_from_what_was_read() {
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let mut s = Settings::default();
        s.apply_env(|name| {
            read.borrow_mut().insert(name.to_owned());
            None
        })
        .unwrap();
        let read = read.into_inner();
        assert!(read.contains("TRANCHE_MASTER_KEY") && read.contains("TRANCHE_TRUSTED_PROXIES"));
        let present = [
            "TRANCHE_MASTER_KEY",
            "TRANCHE_QUICKBOOKS_TOKEN",
            "TRANCHE_ADRESS",
            "TRANCHE_LOG",
            "TRANCHE_TEST_POSTGRES_URL",
            "PATH",
        ]
        .map(str::to_owned);
        let warnings = unused_variables(present.into_iter(), &read);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("TRANCHE_ADRESS is not a Tranche setting"));
        assert!(warnings[1].starts_with("TRANCHE_QUICKBOOKS_TOKEN is retired"));
    }

    #[test]
    fn smtp_tls_is_one_of_three_modes_and_a_typo_is_an_error() {
        let with_tls = |value: &'static str| {
            let mut s = Settings::default();
            let result = s.apply_env(|k| match k {
                "TRANCHE_SMTP_HOST" => Some("smtp.example".to_owned()),
                "TRANCHE_SMTP_TLS" => Some(value.to_owned()),
                _ => None,
            });
            result.map(|()| s.smtp.map(|smtp| smtp.tls))
        };
        assert_eq!(with_tls("starttls").unwrap(), Some(SmtpTls::Starttls));
        assert_eq!(with_tls("TLS").unwrap(), Some(SmtpTls::Tls));
        assert_eq!(with_tls("none").unwrap(), Some(SmtpTls::None));
        for typo in ["startls", "ssl", "", "off"] {
            let error = with_tls(typo).unwrap_err().to_string();
            assert!(error.contains(&format!("{typo:?}")), "{typo}: {error}");
        }
        // The file is just as strict, and leaving it out means STARTTLS, never plaintext.
        let file =
            |tls: &str| toml::from_str::<Settings>(&format!("[smtp]\nhost = \"h\"\nfrom = \"f@x\"\n{tls}"));
        assert!(file("tls = \"startls\"")
            .unwrap_err()
            .to_string()
            .contains("startls"));
        assert_eq!(file("").unwrap().smtp.unwrap().tls, SmtpTls::Starttls);
        assert_eq!(file("tls = \"tls\"").unwrap().smtp.unwrap().tls, SmtpTls::Tls);
    }

    #[test]
    fn there_is_no_server_wide_quickbooks_token() {
        // Retired: a token in the settings was sent to any URL a seller registered.
        assert!(toml::from_str::<Settings>("[erp]\nquickbooks_access_token = \"t\"").is_err());
        let mut s = Settings::default();
        s.apply_env(|k| (k == "TRANCHE_QUICKBOOKS_TOKEN").then(|| "operator-qbo-token".to_owned()))
            .unwrap();
        let printed = format!("{:?}", s.erp);
        assert!(!printed.contains("quickbooks"), "{printed}");
    }

    #[test]
    fn architecture_lists_every_setting() {
        let doc = include_str!("../../ARCHITECTURE.md");
        let table = doc
            .split("## Settings")
            .nth(1)
            .and_then(|rest| rest.split("Read outside the settings").next())
            .expect("ARCHITECTURE.md has a Settings section");
        let documented: std::collections::BTreeSet<String> = table
            .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .filter(|w| w.starts_with("TRANCHE_") && w.len() > "TRANCHE_".len())
            .map(str::to_owned)
            .collect();
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        // With an SMTP host, so the SMTP details are asked for too.
        Settings::default()
            .apply_env(|name| {
                read.borrow_mut().insert(name.to_owned());
                (name == "TRANCHE_SMTP_HOST").then(|| "smtp.example".to_owned())
            })
            .unwrap();
        let read = read.into_inner();
        assert_eq!(
            documented, read,
            "ARCHITECTURE.md's settings table vs what Settings reads"
        );
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
