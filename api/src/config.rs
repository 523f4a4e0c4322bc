//! Settings, layered: built-in defaults, then `tranche.toml` (or the file in `TRANCHE_CONFIG`), then
//! `TRANCHE_*` environment variables. Secrets are [`Secret`]s so a printed config never leaks them.

use std::path::Path;

use anyhow::Context;
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::masking::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `development` (default) or `production`, which refuses unsafe settings (see `production`).
    pub environment: crate::production::Environment,
    /// The payment gateway: `sandbox` (default) or `stripe` (then `stripe` below must hold a secret key).
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
    /// Stripe's keys and API address, read when `gateway` is `stripe` (DESIGN section 13).
    pub stripe: StripeSettings,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    #[serde(default = "default_smtp_from")]
    pub from: String,
    /// `starttls` (default), `tls`, or `none` (local relays and test sinks only).
    #[serde(default)]
    pub tls: SmtpTls,
}

/// How the SMTP connection is protected. A closed set: a typo is a configuration error, never plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// The built-in test-mode gateway (Stripe's test card numbers; charges nothing real).
    #[default]
    Sandbox,
    /// Stripe PaymentIntents over Stripe's HTTP API (`gateway::stripe`).
    Stripe,
}

impl GatewayKind {
    pub fn parse(value: &str) -> anyhow::Result<GatewayKind> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sandbox" => Ok(GatewayKind::Sandbox),
            "stripe" => Ok(GatewayKind::Stripe),
            other => anyhow::bail!("TRANCHE_GATEWAY must be sandbox or stripe, not {other:?}"),
        }
    }
}

fn default_smtp_from() -> String {
    "receipts@localhost".to_owned()
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    pub kid: String,
    /// Base64 of the PKCS#8 DER private key.
    pub private_key: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationKeyConfig {
    pub kid: String,
    /// Base64url of the raw 32-byte Ed25519 public key.
    pub public_key: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Added to every sandbox charge, to exercise slow gateways.
    pub latency_ms: u64,
    /// How long a sandbox bank (ACH) payment stays pending before it settles.
    pub ach_settle_seconds: i64,
}

/// Stripe (`TRANCHE_STRIPE_*`). The keys are checked when the Stripe gateway is built
/// ([`StripeSettings::secret_key_mode`]) and by production mode, not when settings are read, so
/// `config check` can show every problem at once.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeSettings {
    /// `sk_test_...` or `sk_live_...` (a restricted `rk_` key is not accepted: the connector needs
    /// PaymentIntents, PaymentMethods and Refunds, and a restricted key's scope cannot be checked here).
    pub secret_key: Option<Secret>,
    /// `pk_test_...`/`pk_live_...`, handed to the widget for Stripe.js.
    pub publishable_key: Option<String>,
    /// `whsec_...`: verifies `Stripe-Signature` on `POST /v1/gateways/stripe/webhook`.
    pub webhook_secret: Option<Secret>,
    /// Stripe's API address. Operator-chosen (tests point it at a local fake), never seller-chosen.
    pub api_base: String,
    /// Timeout of one HTTP attempt to Stripe; a timed-out charge is left to the reconciler.
    pub timeout_ms: u64,
    /// Where the widget loads Stripe.js from. Stripe requires it be loaded from `https://js.stripe.com`
    /// (never bundled; production refuses anything else); tests serve a stand-in locally.
    pub js_url: String,
}

impl Default for StripeSettings {
    fn default() -> Self {
        StripeSettings {
            secret_key: None,
            publishable_key: None,
            webhook_secret: None,
            api_base: "https://api.stripe.com".to_owned(),
            timeout_ms: 30_000,
            js_url: STRIPE_JS_URL.to_owned(),
        }
    }
}

/// Stripe.js, version 3, from Stripe.
pub const STRIPE_JS_URL: &str = "https://js.stripe.com/v3/";

/// Whether a Stripe secret key moves real money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeMode {
    Test,
    Live,
}

impl StripeSettings {
    /// The secret key's mode, or why it is unusable: missing, or not shaped `sk_test_`/`sk_live_` followed
    /// by letters and digits (a pasted publishable key, a truncated or quoted value).
    pub fn secret_key_mode(&self) -> anyhow::Result<StripeMode> {
        let key = self
            .secret_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .context("TRANCHE_STRIPE_SECRET_KEY is required with TRANCHE_GATEWAY=stripe")?
            .expose();
        let (mode, rest) = if let Some(rest) = key.strip_prefix("sk_test_") {
            (StripeMode::Test, rest)
        } else if let Some(rest) = key.strip_prefix("sk_live_") {
            (StripeMode::Live, rest)
        } else {
            anyhow::bail!(
                "TRANCHE_STRIPE_SECRET_KEY must start with sk_test_ or sk_live_ (a Stripe secret key)"
            )
        };
        if rest.len() < 8 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            anyhow::bail!("TRANCHE_STRIPE_SECRET_KEY is not a Stripe secret key: after sk_test_/sk_live_ come letters and digits only");
        }
        Ok(mode)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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
            stripe: StripeSettings::default(),
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
    /// Defaults, then the config file (`TRANCHE_CONFIG`, else `tranche.toml` in the working directory, if
    /// present), then the `TRANCHE_*` environment, merged by figment. Unknown variables are warnings.
    pub fn load() -> anyhow::Result<Settings> {
        let path = std::env::var("TRANCHE_CONFIG").unwrap_or_else(|_| "tranche.toml".to_owned());
        let file = Path::new(&path).is_file().then_some(path.as_str());
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let settings = Settings::layered(file, |name| {
            read.borrow_mut().insert(name.to_owned());
            std::env::var(name).ok()
        })?;
        let present = std::env::vars().map(|(name, _)| name);
        for warning in unused_variables(present, &read.borrow()) {
            tracing::warn!("{warning}");
        }
        Ok(settings)
    }

    /// The layers, with the environment read through `var` (tests pass their own). `file` must exist.
    pub fn layered(file: Option<&str>, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let smtp_in_file = figment.contains("smtp.host");
        let env = EnvLayer::read(&var, smtp_in_file)?;
        figment.merge(env).extract().map_err(explain)
    }
}

/// How a variable's text becomes a setting's value. Parsed here, not by serde, so an error names the
/// variable (`TRANCHE_ERP_BATCH_SIZE must be a whole number, not "ten"`), and a numeric-looking secret stays
/// a string.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    /// A whole number, not negative.
    Number,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    Bool,
    /// Comma-separated whole numbers.
    Numbers,
    /// Comma-separated CIDRs or addresses.
    Cidrs,
    /// One of a closed set of words, any case.
    OneOf(&'static [&'static str]),
}

/// Every setting's variable and where it lands in [`Settings`] (dotted path). The test
/// `every_setting_is_reachable_from_the_environment` holds this list to the struct, and
/// `architecture_lists_every_setting` to ARCHITECTURE.md. Two more are read in [`EnvLayer::read`]:
/// `TRANCHE_SIGNING_KID` with `TRANCHE_SIGNING_KEY`, and `TRANCHE_VERIFICATION_KEYS`.
const VARIABLES: &[(&str, &str, Kind)] = &[
    (
        "TRANCHE_ENV",
        "environment",
        Kind::OneOf(&["development", "production"]),
    ),
    ("TRANCHE_GATEWAY", "gateway", Kind::OneOf(&["sandbox", "stripe"])),
    ("TRANCHE_TRUSTED_PROXIES", "trusted_proxies", Kind::Cidrs),
    (
        "TRANCHE_FORWARDED_HEADER",
        "forwarded_header",
        Kind::OneOf(&["x-forwarded-for", "forwarded"]),
    ),
    ("TRANCHE_ADDR", "addr", Kind::Text),
    ("TRANCHE_DATABASE_URL", "database_url", Kind::Text),
    ("TRANCHE_PUBLIC_URL", "public_url", Kind::Text),
    ("TRANCHE_OPERATOR_TOKEN", "operator_token", Kind::Text),
    ("TRANCHE_MAX_CONNECTIONS", "max_connections", Kind::Number),
    (
        "TRANCHE_CHECKOUT_LINK_TTL_SECONDS",
        "checkout_link_ttl_seconds",
        Kind::Number,
    ),
    (
        "TRANCHE_CHECKOUT_LINK_MAX_TTL_SECONDS",
        "checkout_link_max_ttl_seconds",
        Kind::Number,
    ),
    ("TRANCHE_SANDBOX_LATENCY_MS", "sandbox.latency_ms", Kind::Number),
    ("TRANCHE_STRIPE_SECRET_KEY", "stripe.secret_key", Kind::Text),
    (
        "TRANCHE_STRIPE_PUBLISHABLE_KEY",
        "stripe.publishable_key",
        Kind::Text,
    ),
    (
        "TRANCHE_STRIPE_WEBHOOK_SECRET",
        "stripe.webhook_secret",
        Kind::Text,
    ),
    ("TRANCHE_STRIPE_API_BASE", "stripe.api_base", Kind::Text),
    ("TRANCHE_STRIPE_TIMEOUT_MS", "stripe.timeout_ms", Kind::Number),
    ("TRANCHE_STRIPE_JS_URL", "stripe.js_url", Kind::Text),
    (
        "TRANCHE_SANDBOX_ACH_SETTLE_SECONDS",
        "sandbox.ach_settle_seconds",
        Kind::Number,
    ),
    (
        "TRANCHE_RECONCILER_INTERVAL_MS",
        "reconciler.interval_ms",
        Kind::Number,
    ),
    (
        "TRANCHE_RECONCILER_GRACE_SECONDS",
        "reconciler.grace_seconds",
        Kind::Number,
    ),
    ("TRANCHE_MAX_BODY_BYTES", "max_body_bytes", Kind::Number),
    (
        "TRANCHE_SCHEDULER_INTERVAL_MS",
        "scheduler_interval_ms",
        Kind::Number,
    ),
    (
        "TRANCHE_ERP_ATTEMPT_TIMEOUT_MS",
        "erp.attempt_timeout_ms",
        Kind::Number,
    ),
    (
        "TRANCHE_ERP_RETRY_SCHEDULE_MS",
        "erp.retry_schedule_ms",
        Kind::Numbers,
    ),
    (
        "TRANCHE_ERP_POLL_INTERVAL_MS",
        "erp.poll_interval_ms",
        Kind::Number,
    ),
    ("TRANCHE_ERP_BATCH_SIZE", "erp.batch_size", Kind::Number),
    (
        "TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS",
        "erp.allow_private_destinations",
        Kind::Bool,
    ),
    (
        "TRANCHE_ERP_MAX_ENDPOINTS_PER_SELLER",
        "erp.max_endpoints_per_seller",
        Kind::Number,
    ),
    (
        "TRANCHE_ERP_DISABLE_AFTER_FAILURES",
        "erp.disable_after_failures",
        Kind::Number,
    ),
    (
        "TRANCHE_ERP_DISABLE_AFTER_FAILING_MS",
        "erp.disable_after_failing_ms",
        Kind::Number,
    ),
    ("TRANCHE_ERP_MAX_IN_FLIGHT", "erp.max_in_flight", Kind::Number),
    (
        "TRANCHE_ERP_MAX_IN_FLIGHT_PER_ENDPOINT",
        "erp.max_in_flight_per_endpoint",
        Kind::Number,
    ),
    (
        "TRANCHE_ERP_MAX_IN_FLIGHT_PER_SELLER",
        "erp.max_in_flight_per_seller",
        Kind::Number,
    ),
    (
        "TRANCHE_ERP_EMAILS_PER_SELLER_PER_HOUR",
        "erp.emails_per_seller_per_hour",
        Kind::Number,
    ),
    ("TRANCHE_SMTP_HOST", "smtp.host", Kind::Text),
    ("TRANCHE_SMTP_PORT", "smtp.port", Kind::Number),
    ("TRANCHE_SMTP_USERNAME", "smtp.username", Kind::Text),
    ("TRANCHE_SMTP_PASSWORD", "smtp.password", Kind::Text),
    ("TRANCHE_SMTP_FROM", "smtp.from", Kind::Text),
    (
        "TRANCHE_SMTP_TLS",
        "smtp.tls",
        Kind::OneOf(&["starttls", "tls", "none"]),
    ),
    ("TRANCHE_RECEIPTS_DIR", "receipts_dir", Kind::Text),
    (
        "TRANCHE_RATE_PAYMENTS_PER_LINK",
        "rate_limits.payments_per_link_per_minute",
        Kind::Number,
    ),
    (
        "TRANCHE_RATE_PAYMENTS_PER_IP",
        "rate_limits.payments_per_ip_per_minute",
        Kind::Number,
    ),
    (
        "TRANCHE_RATE_TOKENIZE_PER_IP",
        "rate_limits.tokenize_per_ip_per_minute",
        Kind::Number,
    ),
    (
        "TRANCHE_RATE_TOKEN_FAILURES_PER_IP",
        "rate_limits.token_failures_per_ip_per_minute",
        Kind::Number,
    ),
    ("TRANCHE_MASTER_KEY", "master_key", Kind::Text),
    ("TRANCHE_METRICS_ADDR", "metrics_addr", Kind::Text),
];

/// The environment as a figment layer: only the variables that are set (an empty value counts as unset,
/// except for lists, where it means none), already parsed.
struct EnvLayer(Dict);

impl EnvLayer {
    fn read(var: &impl Fn(&str) -> Option<String>, smtp_in_file: bool) -> anyhow::Result<EnvLayer> {
        let mut root = Dict::new();
        // SMTP details mean nothing without a host (here or in the file): then they stay unread, and so
        // are reported as having no effect rather than failing the start.
        let smtp = smtp_in_file || var("TRANCHE_SMTP_HOST").is_some_and(|h| !h.trim().is_empty());
        for (name, path, kind) in VARIABLES {
            if path.starts_with("smtp.") && !smtp {
                continue;
            }
            let Some(text) = var(name) else { continue };
            if let Some(value) = parse(name, &text, *kind)? {
                insert(&mut root, path, value);
            }
        }
        if let (Some(kid), Some(key)) = (var("TRANCHE_SIGNING_KID"), var("TRANCHE_SIGNING_KEY")) {
            let mut entry = Dict::new();
            entry.insert("kid".to_owned(), Value::from(kid));
            entry.insert("private_key".to_owned(), Value::from(key));
            root.insert("signing_keys".to_owned(), Value::from(vec![Value::from(entry)]));
        }
        if let Some(list) = var("TRANCHE_VERIFICATION_KEYS") {
            let mut keys = Vec::new();
            for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let (kid, public_key) = item.split_once('=').with_context(|| {
                    format!("TRANCHE_VERIFICATION_KEYS must be kid=public_key pairs separated by commas, not {item:?}")
                })?;
                let mut entry = Dict::new();
                entry.insert("kid".to_owned(), Value::from(kid.trim()));
                entry.insert("public_key".to_owned(), Value::from(public_key.trim()));
                keys.push(Value::from(entry));
            }
            root.insert("verification_keys".to_owned(), Value::from(keys));
        }
        Ok(EnvLayer(root))
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("TRANCHE_* environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// `None` for an empty value of a single setting (unset).
fn parse(name: &str, text: &str, kind: Kind) -> anyhow::Result<Option<Value>> {
    let trimmed = text.trim();
    let number = |item: &str| {
        item.parse::<u64>()
            .with_context(|| format!("{name} must be a whole number, not {item:?}"))
    };
    let value = match kind {
        Kind::Numbers => {
            let items: anyhow::Result<Vec<Value>> = trimmed
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|i| number(i).map(Value::from))
                .collect();
            return Ok(Some(Value::from(items?)));
        }
        Kind::Cidrs => {
            let cidrs = crate::client_ip::parse_cidrs(trimmed).with_context(|| name.to_owned())?;
            let items: Vec<Value> = cidrs.iter().map(|c| Value::from(c.to_string())).collect();
            return Ok(Some(Value::from(items)));
        }
        Kind::Bool => return Ok(Some(Value::from(parse_bool(name, trimmed)?))),
        _ if trimmed.is_empty() => return Ok(None),
        // Secrets and URLs are taken as given (a password may end in a space).
        Kind::Text => Value::from(text.to_owned()),
        Kind::Number => Value::from(number(trimmed)?),
        Kind::OneOf(words) => {
            let lower = trimmed.to_ascii_lowercase();
            if !words.contains(&lower.as_str()) {
                anyhow::bail!("{name} must be one of {}, not {trimmed:?}", words.join(", "));
            }
            Value::from(lower)
        }
    };
    Ok(Some(value))
}

/// Puts `value` at the dotted `path` of `root`, making the tables on the way.
fn insert(root: &mut Dict, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = root
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, table) = entry {
                insert(table, rest, value);
            }
        }
    }
}

/// A figment error, with the variable named when the bad value came from one.
fn explain(error: figment::Error) -> anyhow::Error {
    let path = error.path.join(".");
    match VARIABLES.iter().find(|(_, p, _)| *p == path) {
        Some((name, _, _)) => anyhow::anyhow!("{name}: {error}"),
        None => anyhow::anyhow!("settings: {error}"),
    }
}

impl Settings {
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
    "TRANCHE_LOG_FORMAT",
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

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| owned.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn with_file(text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("tranche-config-{}.toml", uuid::Uuid::now_v7().simple()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let file = with_file("addr = \"0.0.0.0:9000\"\n[sandbox]\nlatency_ms = 5\n[erp]\nbatch_size = 3\n");
        let s = Settings::layered(
            file.to_str(),
            env_of(&[
                ("TRANCHE_SANDBOX_LATENCY_MS", "7"),
                ("TRANCHE_ERP_RETRY_SCHEDULE_MS", "10, 20"),
            ]),
        )
        .unwrap();
        assert_eq!(s.addr, "0.0.0.0:9000", "file over default");
        assert_eq!(s.sandbox.latency_ms, 7, "env over file");
        assert_eq!(
            s.erp.batch_size, 3,
            "a file value in a table the env also touches survives"
        );
        assert_eq!(s.erp.retry_schedule_ms, [10, 20]);
        assert_eq!(s.max_connections, 16, "default");
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn every_setting_is_reachable_from_the_environment() {
        // A settings value with every optional part present, so every leaf appears when serialised.
        let full = Settings {
            public_url: Some("https://p".into()),
            operator_token: Some(Secret::new("o")),
            smtp: Some(SmtpSettings {
                host: "h".into(),
                port: 1,
                username: Some("u".into()),
                password: Some(Secret::new("p")),
                from: "f".into(),
                tls: SmtpTls::Tls,
            }),
            master_key: Some(Secret::new("k")),
            metrics_addr: Some("a".into()),
            stripe: StripeSettings {
                secret_key: Some(Secret::new("sk_test_x")),
                publishable_key: Some("pk_test_x".into()),
                webhook_secret: Some(Secret::new("whsec_x")),
                ..StripeSettings::default()
            },
            ..Settings::default()
        };
        fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(&path, v, out);
                    }
                }
                _ => out.push(prefix.to_owned()),
            }
        }
        let mut paths = Vec::new();
        leaves("", &serde_json::to_value(&full).unwrap(), &mut paths);
        let special = ["signing_keys", "verification_keys"];
        for path in &paths {
            assert!(
                special.contains(&path.as_str()) || VARIABLES.iter().any(|(_, p, _)| p == path),
                "setting {path} has no TRANCHE_* variable"
            );
        }
        // And each variable lands where it says: a sample value of its kind is accepted by the struct.
        for (name, path, kind) in VARIABLES {
            let sample = match kind {
                Kind::Text => "sample",
                Kind::Number => "7",
                Kind::Bool => "true",
                Kind::Numbers => "1,2",
                Kind::Cidrs => "10.0.0.0/8",
                Kind::OneOf(words) => words[words.len() - 1],
            };
            let s = Settings::layered(None, env_of(&[(name, sample), ("TRANCHE_SMTP_HOST", "h")]))
                .unwrap_or_else(|e| panic!("{name} -> {path}: {e:#}"));
            let json = serde_json::to_value(&s).unwrap();
            let got = path.split('.').fold(&json, |v, k| &v[k]);
            assert!(!got.is_null(), "{name} did not set {path}");
        }
        let s = Settings::layered(
            None,
            env_of(&[
                ("TRANCHE_SIGNING_KID", "k1"),
                ("TRANCHE_SIGNING_KEY", "c2VjcmV0"),
                ("TRANCHE_VERIFICATION_KEYS", "old=AAAA, older=BBBB"),
            ]),
        )
        .unwrap();
        assert_eq!(s.signing_keys[0].kid, "k1");
        assert_eq!(s.verification_keys.len(), 2);
        assert_eq!(s.verification_keys[1].public_key, "BBBB");
    }

    #[test]
    fn bad_values_name_their_variable_and_secrets_stay_strings() {
        for (name, value) in [
            ("TRANCHE_ERP_BATCH_SIZE", "ten"),
            ("TRANCHE_MAX_CONNECTIONS", "-1"),
            ("TRANCHE_ENV", "prodution"),
            ("TRANCHE_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
            ("TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS", "maybe"),
            ("TRANCHE_VERIFICATION_KEYS", "no-equals-sign"),
        ] {
            let error = Settings::layered(None, env_of(&[(name, value)])).unwrap_err();
            assert!(format!("{error:#}").contains(name), "{name}={value}: {error:#}");
        }
        // A too-large number for a 32-bit setting is caught by the struct, still naming the variable.
        let error =
            Settings::layered(None, env_of(&[("TRANCHE_MAX_CONNECTIONS", "99999999999")])).unwrap_err();
        assert!(
            format!("{error:#}").contains("TRANCHE_MAX_CONNECTIONS"),
            "{error:#}"
        );
        // An all-digit token is a string, not a number figment guessed.
        let s = Settings::layered(
            None,
            env_of(&[("TRANCHE_OPERATOR_TOKEN", "12345678901234567890123456789012")]),
        )
        .unwrap();
        assert_eq!(
            s.operator_token.unwrap().expose(),
            "12345678901234567890123456789012"
        );
    }

    #[test]
    fn unknown_and_retired_variables_are_warnings_derived_from_what_was_read() {
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Settings::layered(None, |name: &str| {
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
            "TRANCHE_LOG_FORMAT",
            "TRANCHE_TEST_POSTGRES_URL",
            "TRANCHE_SMTP_PORT",
            "PATH",
        ]
        .map(str::to_owned);
        let warnings = unused_variables(present.into_iter(), &read);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("TRANCHE_ADRESS is not a Tranche setting"));
        assert!(warnings[1].starts_with("TRANCHE_QUICKBOOKS_TOKEN is retired"));
        assert!(
            warnings[2].starts_with("TRANCHE_SMTP_PORT"),
            "no effect without a host: {warnings:?}"
        );
    }

    #[test]
    fn smtp_tls_is_one_of_three_modes_and_a_typo_is_an_error() {
        let with_tls = |value: &'static str| {
            Settings::layered(
                None,
                env_of(&[("TRANCHE_SMTP_HOST", "smtp.example"), ("TRANCHE_SMTP_TLS", value)]),
            )
            .map(|s| s.smtp.map(|smtp| smtp.tls))
        };
        assert_eq!(with_tls("starttls").unwrap(), Some(SmtpTls::Starttls));
        assert_eq!(with_tls("TLS").unwrap(), Some(SmtpTls::Tls));
        assert_eq!(with_tls("none").unwrap(), Some(SmtpTls::None));
        assert_eq!(
            with_tls("").unwrap(),
            Some(SmtpTls::Starttls),
            "unset means STARTTLS, never plaintext"
        );
        for typo in ["startls", "ssl", "off"] {
            let error = format!("{:#}", with_tls(typo).unwrap_err());
            assert!(
                error.contains(&format!("{typo:?}")) && error.contains("TRANCHE_SMTP_TLS"),
                "{typo}: {error}"
            );
        }
        // The file is just as strict, and leaving it out means STARTTLS, never plaintext.
        let file = |tls: &str| {
            let path = with_file(&format!("[smtp]\nhost = \"h\"\nfrom = \"f@x\"\n{tls}"));
            let result = Settings::layered(path.to_str(), env_of(&[]));
            let _ = std::fs::remove_file(path);
            result
        };
        assert!(format!("{:#}", file("tls = \"startls\"").unwrap_err()).contains("startls"));
        assert_eq!(file("").unwrap().smtp.unwrap().tls, SmtpTls::Starttls);
        assert_eq!(file("tls = \"tls\"").unwrap().smtp.unwrap().tls, SmtpTls::Tls);
        // The environment can change one SMTP detail of a file's relay.
        let path = with_file("[smtp]\nhost = \"h\"\n");
        let s = Settings::layered(path.to_str(), env_of(&[("TRANCHE_SMTP_PORT", "2525")])).unwrap();
        let _ = std::fs::remove_file(path);
        let smtp = s.smtp.unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.from.as_str()),
            ("h", 2525, "receipts@localhost")
        );
    }

    #[test]
    fn there_is_no_server_wide_quickbooks_token() {
        // Retired: a token in the settings was sent to any URL a seller registered.
        assert!(toml::from_str::<Settings>("[erp]\nquickbooks_access_token = \"t\"").is_err());
        let s = Settings::layered(
            None,
            env_of(&[("TRANCHE_QUICKBOOKS_TOKEN", "operator-qbo-token")]),
        )
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
        Settings::layered(None, |name: &str| {
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
        let path = with_file("adress = \"x\"");
        let error = Settings::layered(path.to_str(), env_of(&[])).unwrap_err();
        let _ = std::fs::remove_file(path);
        assert!(format!("{error:#}").contains("adress"), "{error:#}");
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
