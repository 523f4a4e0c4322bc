//! Production mode (`TRANCHE_ENV=production`): the server refuses to start while a setting would put real
//! money or credentials at risk, and names every such setting, one per line, so an operator fixes them all in
//! one go instead of one restart at a time. Development (the default) starts with anything: the demo and the
//! tests need http, the sandbox and loopback receivers.

use std::fmt;

use serde::Deserialize;

use crate::config::Settings;

/// Shortest operator token accepted in production: 32 characters (about 190 bits when random).
pub const MIN_OPERATOR_TOKEN_CHARS: usize = 32;

/// `TRANCHE_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

impl Environment {
    pub fn parse(value: &str) -> Option<Environment> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Some(Environment::Development),
            "production" | "prod" => Some(Environment::Production),
            _ => None,
        }
    }
}

/// One setting that production refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    PublicUrlNotHttps(String),
    SandboxGateway,
    PrivateDestinationsAllowed,
    SmtpMissing,
    SmtpWithoutTls,
    OperatorTokenTooShort(usize),
    MasterKeyMissing,
    /// `TRANCHE_GATEWAY=stripe` with a secret key that is missing, malformed or a test key.
    StripeKey(String),
    /// `TRANCHE_GATEWAY=stripe` without `TRANCHE_STRIPE_WEBHOOK_SECRET`: bank debits would never settle.
    StripeWebhookSecretMissing,
    /// `TRANCHE_GATEWAY=stripe` whose widget could not run Stripe.js: no publishable key, or Stripe.js
    /// loaded from anywhere but Stripe.
    StripeWidget(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::PublicUrlNotHttps(url) => write!(
                f,
                "TRANCHE_PUBLIC_URL must be an https:// URL (it is {url:?}): checkout links and tokens travel over it"
            ),
            Finding::SandboxGateway => f.write_str(
                "TRANCHE_GATEWAY is the sandbox: it charges nothing real; configure a real gateway",
            ),
            Finding::PrivateDestinationsAllowed => f.write_str(
                "TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS is true: sellers could make the server call private addresses",
            ),
            Finding::SmtpMissing => f.write_str(
                "TRANCHE_SMTP_HOST is not set: receipts would only be written to files",
            ),
            Finding::SmtpWithoutTls => f.write_str(
                "TRANCHE_SMTP_TLS must be tls or starttls: receipts carry payment links",
            ),
            Finding::OperatorTokenTooShort(chars) => write!(
                f,
                "TRANCHE_OPERATOR_TOKEN has {chars} characters; at least {MIN_OPERATOR_TOKEN_CHARS} are required"
            ),
            Finding::MasterKeyMissing => f.write_str(
                "TRANCHE_MASTER_KEY is not set: secrets at rest (webhook secrets, connector credentials, signing keys) would be stored unencrypted",
            ),
            Finding::StripeKey(why) | Finding::StripeWidget(why) => f.write_str(why),
            Finding::StripeWebhookSecretMissing => f.write_str(
                "TRANCHE_STRIPE_WEBHOOK_SECRET is not set: Stripe's webhooks (bank debits settling, refunds) could not be verified",
            ),
        }
    }
}

/// Every setting production refuses (whatever the environment: `config check` shows them in development too).
pub fn findings(settings: &Settings) -> Vec<Finding> {
    let mut found = Vec::new();
    let public = settings.public_url.as_deref().unwrap_or("");
    if !public.starts_with("https://") {
        let shown = if public.is_empty() { "(unset)" } else { public };
        found.push(Finding::PublicUrlNotHttps(shown.to_owned()));
    }
    if settings.gateway == crate::config::GatewayKind::Sandbox {
        found.push(Finding::SandboxGateway);
    }
    if settings.erp.allow_private_destinations {
        found.push(Finding::PrivateDestinationsAllowed);
    }
    match &settings.smtp {
        None => found.push(Finding::SmtpMissing),
        Some(smtp) if !smtp.tls.is_encrypted() => found.push(Finding::SmtpWithoutTls),
        Some(_) => {}
    }
    if let Some(token) = &settings.operator_token {
        let chars = token.expose().chars().count();
        if chars < MIN_OPERATOR_TOKEN_CHARS {
            found.push(Finding::OperatorTokenTooShort(chars));
        }
    }
    if settings.master_key.is_none() {
        found.push(Finding::MasterKeyMissing);
    }
    if settings.gateway == crate::config::GatewayKind::Stripe {
        match settings.stripe.secret_key_mode() {
            Ok(crate::config::StripeMode::Live) => {}
            Ok(crate::config::StripeMode::Test) => found.push(Finding::StripeKey(
                "TRANCHE_STRIPE_SECRET_KEY is a test key (sk_test_): production takes real payments only with sk_live_"
                    .to_owned(),
            )),
            Err(why) => found.push(Finding::StripeKey(why.to_string())),
        }
        if settings
            .stripe
            .webhook_secret
            .as_ref()
            .is_none_or(|s| s.is_empty())
        {
            found.push(Finding::StripeWebhookSecretMissing);
        }
        if !settings.stripe.js_url.starts_with("https://js.stripe.com/") {
            found.push(Finding::StripeWidget(format!(
                "TRANCHE_STRIPE_JS_URL is {:?}: Stripe.js must be loaded from https://js.stripe.com/",
                settings.stripe.js_url
            )));
        }
        if !settings
            .stripe
            .publishable_key
            .as_deref()
            .is_some_and(|k| k.starts_with("pk_live_"))
        {
            found.push(Finding::StripeWidget(
                "TRANCHE_STRIPE_PUBLISHABLE_KEY is not a live publishable key (pk_live_...): the widget's Stripe.js needs it"
                    .to_owned(),
            ));
        }
    }
    found
}

/// Outside production, the one Stripe setting worth a warning: a live key moves real money from a server
/// that has not been through production's checks.
pub fn warnings(settings: &Settings) -> Vec<String> {
    let live = settings.gateway == crate::config::GatewayKind::Stripe
        && matches!(
            settings.stripe.secret_key_mode(),
            Ok(crate::config::StripeMode::Live)
        );
    if live && settings.environment != Environment::Production {
        return vec![
            "TRANCHE_STRIPE_SECRET_KEY is a live key (sk_live_) but TRANCHE_ENV is not production: real money moves without production's checks".to_owned(),
        ];
    }
    Vec::new()
}

/// In production, an error naming every finding; otherwise `Ok`.
pub fn check(settings: &Settings) -> anyhow::Result<()> {
    if settings.environment != Environment::Production {
        return Ok(());
    }
    let found = findings(settings);
    if found.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = found.iter().map(|f| format!("  - {f}")).collect();
    anyhow::bail!(
        "refusing to start with TRANCHE_ENV=production ({} problem{}):\n{}",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GatewayKind, SmtpSettings, SmtpTls};
    use crate::masking::Secret;

    fn smtp(tls: SmtpTls) -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".to_owned(),
            port: 587,
            username: None,
            password: None,
            from: "receipts@example.com".to_owned(),
            tls,
        }
    }

    /// Everything production asks for, except the gateway (only the sandbox exists in this version).
    fn hardened() -> Settings {
        Settings {
            environment: Environment::Production,
            public_url: Some("https://pay.example.com".to_owned()),
            operator_token: Some(Secret::new("o".repeat(32))),
            master_key: Some(Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            smtp: Some(smtp(SmtpTls::Starttls)),
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_name_every_problem_on_its_own_line() {
        let settings = Settings {
            environment: Environment::Production,
            operator_token: Some(Secret::new("short-token")),
            ..Settings::default()
        };
        let message = check(&settings).unwrap_err().to_string();
        for expected in [
            "TRANCHE_PUBLIC_URL",
            "TRANCHE_GATEWAY",
            "TRANCHE_SMTP_HOST",
            "TRANCHE_OPERATOR_TOKEN has 11 characters",
            "TRANCHE_MASTER_KEY",
        ] {
            assert_eq!(
                message.lines().filter(|l| l.contains(expected)).count(),
                1,
                "{expected} in {message}"
            );
        }
        assert!(message.contains("5 problems"), "{message}");
        assert!(
            !message.contains("short-token"),
            "the token itself is never printed"
        );
    }

    #[test]
    fn each_setting_is_checked_on_its_own() {
        assert_eq!(findings(&hardened()), vec![Finding::SandboxGateway]);
        let cases: Vec<(Settings, Finding)> = vec![
            (
                Settings {
                    public_url: Some("http://pay.example.com".to_owned()),
                    ..hardened()
                },
                Finding::PublicUrlNotHttps("http://pay.example.com".to_owned()),
            ),
            (
                Settings {
                    smtp: Some(smtp(SmtpTls::None)),
                    ..hardened()
                },
                Finding::SmtpWithoutTls,
            ),
            (
                Settings {
                    smtp: None,
                    ..hardened()
                },
                Finding::SmtpMissing,
            ),
            (
                Settings {
                    operator_token: Some(Secret::new("o".repeat(31))),
                    ..hardened()
                },
                Finding::OperatorTokenTooShort(31),
            ),
            (
                Settings {
                    master_key: None,
                    ..hardened()
                },
                Finding::MasterKeyMissing,
            ),
        ];
        for (settings, finding) in cases {
            let found = findings(&settings);
            assert!(
                found.len() == 2 && found.contains(&finding) && found.contains(&Finding::SandboxGateway),
                "{finding}: {found:?}"
            );
        }
        let mut private = hardened();
        private.erp.allow_private_destinations = true;
        assert!(findings(&private).contains(&Finding::PrivateDestinationsAllowed));
        // No operator token at all is fine: sellers are then created with the CLI only.
        assert_eq!(
            findings(&Settings {
                operator_token: None,
                ..hardened()
            }),
            vec![Finding::SandboxGateway]
        );
    }

    #[test]
    fn stripe_keys_are_checked_by_mode() {
        use crate::config::StripeSettings;
        let stripe = |key: &str| Settings {
            gateway: GatewayKind::Stripe,
            stripe: StripeSettings {
                secret_key: Some(Secret::new(key)),
                webhook_secret: Some(Secret::new("whsec_abc")),
                publishable_key: Some("pk_live_abc".into()),
                ..StripeSettings::default()
            },
            ..hardened()
        };
        assert_eq!(findings(&stripe("sk_live_abcdefgh1234")), vec![]);
        let test_key = findings(&stripe("sk_test_abcdefgh1234"));
        assert!(
            matches!(&test_key[..], [Finding::StripeKey(why)] if why.contains("test key")),
            "{test_key:?}"
        );
        for bad in [
            "pk_live_abcdefgh1234",
            "sk_live_",
            "sk_live_abc def gh",
            "\"sk_live_abcdefgh\"",
        ] {
            let found = findings(&stripe(bad));
            assert!(matches!(&found[..], [Finding::StripeKey(_)]), "{bad}: {found:?}");
            assert!(
                !found[0].to_string().contains("abcdefgh"),
                "the key is never printed"
            );
        }
        let mut no_webhook = stripe("sk_live_abcdefgh1234");
        no_webhook.stripe.webhook_secret = None;
        assert_eq!(findings(&no_webhook), vec![Finding::StripeWebhookSecretMissing]);
        // The widget's Stripe.js: from Stripe only, with a live publishable key.
        let mut stand_in = stripe("sk_live_abcdefgh1234");
        stand_in.stripe.js_url = "http://127.0.0.1:9/stripe.js".into();
        let found = findings(&stand_in);
        assert!(
            matches!(&found[..], [Finding::StripeWidget(why)] if why.contains("js.stripe.com")),
            "{found:?}"
        );
        let mut no_pk = stripe("sk_live_abcdefgh1234");
        no_pk.stripe.publishable_key = Some("pk_test_abc".into());
        assert!(matches!(&findings(&no_pk)[..], [Finding::StripeWidget(_)]));
        // A live key outside production warns; in production, or a test key, it does not.
        let mut dev = stripe("sk_live_abcdefgh1234");
        dev.environment = Environment::Development;
        assert_eq!(warnings(&dev).len(), 1);
        assert!(warnings(&stripe("sk_live_abcdefgh1234")).is_empty());
        dev.stripe.secret_key = Some(Secret::new("sk_test_abcdefgh1234"));
        assert!(warnings(&dev).is_empty());
    }

    #[test]
    fn development_starts_with_anything() {
        let settings = Settings {
            gateway: GatewayKind::Sandbox,
            ..Settings::default()
        };
        assert!(check(&settings).is_ok());
        assert!(!findings(&settings).is_empty());
    }

    #[test]
    fn environment_names() {
        assert_eq!(Environment::parse("production"), Some(Environment::Production));
        assert_eq!(Environment::parse(" Prod "), Some(Environment::Production));
        assert_eq!(Environment::parse("development"), Some(Environment::Development));
        assert_eq!(Environment::parse("prodution"), None);
    }
}
