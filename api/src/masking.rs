//! Keeping secrets out of logs: a `Secret` wrapper whose `Debug`/`Display` print a mask, and a path
//! masker for URLs that carry tokens (`/pay/{token}`).

use std::fmt;

/// A secret string (API key, operator token, SMTP password, private key). Cannot be printed or
/// serialised by accident; read it with [`Secret::expose`] where it is really needed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Serialises as the mask, never the value: `tranche config check` prints the settings through serde, and a
/// secret must not be printable by any path.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

/// Replaces the token in `/pay/{token}` so access logs never hold a bearer credential.
pub fn mask_path(path: &str) -> String {
    match path.strip_prefix("/pay/") {
        Some(rest) if !rest.is_empty() => "/pay/***".to_owned(),
        _ => path.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk_live_abcdef");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "sk_live_abcdef");
    }

    #[test]
    fn debug_of_secret_bearing_settings_is_masked() {
        let mut settings = crate::config::Settings {
            database_url: Secret::new("postgres://tranche:db-password@db/tranche"),
            operator_token: Some(Secret::new("op_operator-token")),
            ..Default::default()
        };
        settings.smtp = Some(crate::config::SmtpSettings {
            host: "smtp.example".into(),
            port: 587,
            username: Some("mailer".into()),
            password: Some(Secret::new("smtp-password")),
            from: "r@example".into(),
            tls: crate::config::SmtpTls::Starttls,
        });
        let printed = format!("{settings:?}");
        for secret in [
            "db-password",
            "op_operator-token",
            "qb-access-token",
            "smtp-password",
        ] {
            assert!(!printed.contains(secret), "{secret} leaks in {printed}");
        }
    }

    #[test]
    fn pay_paths_are_masked() {
        assert_eq!(mask_path("/pay/eyJhbGciOi.x.y"), "/pay/***");
        assert_eq!(mask_path("/v1/invoices"), "/v1/invoices");
    }
}
