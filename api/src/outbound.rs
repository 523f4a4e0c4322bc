//! Outbound HTTP to addresses sellers choose (webhooks, QuickBooks): which destinations are allowed, and the
//! one client every outbound request goes through.
//!
//! A seller must not be able to make the server talk to itself, its cloud metadata service or the
//! operator's private network (SSRF). Destinations that are or resolve to loopback, private, link-local,
//! CGNAT, ULA, unspecified, IPv4-mapped, multicast or otherwise reserved addresses are refused at
//! registration (422 `destination_not_allowed`) and again when connecting, so a name that resolved to a
//! public address at registration and to 127.0.0.1 later (DNS rebinding) still fails.
//! `TRANCHE_ERP_ALLOW_PRIVATE_DESTINATIONS=true` allows them: the demo, the tests, an ERP on the seller's LAN.
//!
//! How the connect-time check works, and what callers must do:
//! - [`client`] builds the shared `reqwest::Client` with [`PolicyResolver`] as its DNS resolver: every
//!   name is resolved there and addresses the policy refuses are dropped before a socket is opened.
//! - A URL whose host is an IP literal (`http://127.0.0.1/`, `http://[::1]/`, `http://2130706433/`) is
//!   never given to a resolver, so **callers must run [`guard`] on the URL before every send**. It is
//!   synchronous and only judges literal hosts; names are left to the resolver.
//! - Redirects are never followed (a 3xx is an answer, not an instruction to go elsewhere), proxies from
//!   the environment are ignored (a proxy would resolve the name itself, out of the resolver's sight),
//!   and connecting is cut off after [`CONNECT_TIMEOUT`] so black-holed destinations cannot hold a relay
//!   batch for the whole attempt timeout.
//! - TLS is rustls with the system roots (rustls-native-certs, which reads `SSL_CERT_FILE` and
//!   `SSL_CERT_DIR` instead of the platform store when either is set), never a bundled root list, so an
//!   operator's private CA works the same way it does for curl or OpenSSL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::config::Settings;

/// Longest wait for a TCP connection to a destination (DESIGN section 14: at most 5 s). Shorter than the
/// attempt timeout so an address that drops SYNs fails fast instead of holding its relay batch.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether private destinations are allowed (the operator's choice, from the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestinationPolicy {
    pub allow_private: bool,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("the URL is not a valid http(s) URL")]
    InvalidUrl,
    #[error("the URL carries credentials (user:password@)")]
    Credentials,
    #[error("the destination is a private, loopback, link-local or reserved address")]
    Private,
    #[error("the destination's host name does not resolve")]
    Unresolvable,
}

/// True for addresses a seller-chosen URL may reach: public unicast only.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240; // reserved 240.0.0.0/4
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Addresses that embed an IPv4 address are judged by it (or refused outright when mapped: a mapped
    // address reaches an IPv4 host through a dual-stack socket).
    if ip.to_ipv4_mapped().is_some() {
        return false;
    }
    let segments = ip.segments();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation 2001:db8::/32
        || (segments[0] == 0x0064 && segments[1] == 0xff9b) // NAT64 64:ff9b::/96 (reaches IPv4 space)
        || segments[0] == 0x2002 // 6to4 2002::/16 (embeds an IPv4 address)
        || (segments[0..6] == [0, 0, 0, 0, 0, 0]); // IPv4-compatible ::a.b.c.d (deprecated)
    !refused
}

impl DestinationPolicy {
    /// Whether a resolved address may be connected to under this policy.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Parses and checks a seller-supplied URL: http(s), no credentials, and a host whose addresses
    /// are all permitted (every address: a name with one public and one private address is refused).
    pub async fn check_url(&self, url: &str) -> Result<Url, DestinationError> {
        let parsed = Url::parse(url).map_err(|_| DestinationError::InvalidUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(DestinationError::InvalidUrl);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        if self.allow_private {
            return Ok(parsed);
        }
        let port = parsed
            .port_or_known_default()
            .ok_or(DestinationError::InvalidUrl)?;
        let addresses: Vec<IpAddr> = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| DestinationError::Unresolvable)?
                .map(|a| a.ip())
                .collect(),
            None => return Err(DestinationError::InvalidUrl),
        };
        if addresses.is_empty() {
            return Err(DestinationError::Unresolvable);
        }
        if addresses.iter().all(|ip| self.permits(*ip)) {
            Ok(parsed)
        } else {
            Err(DestinationError::Private)
        }
    }
}

/// Refuses a URL whose host is an IP literal the policy does not permit (and any non-http(s) URL).
///
/// Run it before every outbound send: literal hosts skip DNS, so [`PolicyResolver`] never sees them.
/// Host names pass here and are judged by the resolver when the request connects.
/// Parses a stored destination and [`guard`]s it: what every send runs, right before the request (names are
/// judged by the client's resolver at connect time, so no second DNS lookup happens here).
pub fn parse_guarded(policy: DestinationPolicy, url: &str) -> Result<Url, DestinationError> {
    let parsed = Url::parse(url).map_err(|_| DestinationError::InvalidUrl)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(DestinationError::Credentials);
    }
    guard(policy, &parsed)?;
    Ok(parsed)
}

pub fn guard(policy: DestinationPolicy, url: &Url) -> Result<(), DestinationError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DestinationError::InvalidUrl);
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(DestinationError::InvalidUrl),
    };
    if policy.permits(literal) {
        Ok(())
    } else {
        Err(DestinationError::Private)
    }
}

/// The outbound client's DNS resolver: resolves with the system resolver, then drops every address the
/// policy refuses, failing when none remain. Checking here, at connect time, rather than only at
/// registration is what defeats DNS rebinding: the addresses judged are the ones connected to.
#[derive(Debug, Clone, Copy)]
pub struct PolicyResolver {
    policy: DestinationPolicy,
}

impl PolicyResolver {
    pub fn new(policy: DestinationPolicy) -> Self {
        PolicyResolver { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            // Port 0: the connector sets the URL's port on every address it is given.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|_| DestinationError::Unresolvable)?
                .collect();
            if resolved.is_empty() {
                return Err(DestinationError::Unresolvable.into());
            }
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| policy.permits(address.ip()))
                .collect();
            if permitted.is_empty() {
                tracing::warn!(
                    host = name.as_str(),
                    "outbound connection refused: the name resolves only to non-public addresses"
                );
                return Err(DestinationError::Private.into());
            }
            let addresses: Addrs = Box::new(permitted.into_iter());
            Ok(addresses)
        })
    }
}

/// Says at start-up where the TLS roots come from and how many there are. reqwest builds a client even
/// when none load (a container without ca-certificates, a mistyped SSL_CERT_FILE), and then every https
/// delivery fails with "unknown issuer": this line is where an operator finds out why.
fn log_trusted_roots() {
    let source = match (
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    ) {
        (None, None) => "the system store".to_owned(),
        (file, dir) => format!(
            "SSL_CERT_FILE={} SSL_CERT_DIR={}",
            file.map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            dir.map(|d| d.to_string_lossy().into_owned()).unwrap_or_default()
        ),
    };
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(%error, "outbound TLS: could not read some trusted roots");
    }
    if loaded.certs.is_empty() {
        tracing::warn!(%source, "outbound TLS: no trusted roots: every https destination will be refused");
    } else {
        tracing::info!(%source, roots = loaded.certs.len(), "outbound TLS roots loaded");
    }
}

/// The client for every outbound request to a seller-chosen or third-party URL (see the module doc):
/// rustls with the system roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), the policy's resolver, no
/// redirects, no environment proxies, a connect timeout of at most [`CONNECT_TIMEOUT`] and the configured
/// per-attempt total timeout.
pub fn client(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    log_trusted_roots();
    let attempt = Duration::from_millis(settings.erp.attempt_timeout_ms);
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_native_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(PolicyResolver::new(settings.destination_policy())))
        .connect_timeout(CONNECT_TIMEOUT.min(attempt))
        .timeout(attempt)
        .build()
        .context(
            "building the outbound HTTP client (TLS roots from the system, SSL_CERT_FILE or SSL_CERT_DIR)",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::127.0.0.1",
            "ff02::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_public(ip), "{refused} should be refused");
            assert!(DestinationPolicy { allow_private: true }.permits(ip));
        }
        for allowed in [
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(is_public(allowed.parse().unwrap()), "{allowed} should be allowed");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_what_they_reach() {
        let strict = DestinationPolicy::default();
        for (url, expected) in [
            ("http://127.0.0.1:8080/hook", DestinationError::Private),
            ("http://[::1]/hook", DestinationError::Private),
            (
                "http://169.254.169.254/latest/meta-data",
                DestinationError::Private,
            ),
            ("http://localhost:9/x", DestinationError::Private),
            ("http://2130706433/", DestinationError::Private), // 127.0.0.1 as one decimal number
            ("http://0x7f.1/", DestinationError::Private),
            ("ftp://8.8.8.8/", DestinationError::InvalidUrl),
            ("https://user:pw@8.8.8.8/", DestinationError::Credentials),
            ("not a url", DestinationError::InvalidUrl),
        ] {
            assert_eq!(strict.check_url(url).await.unwrap_err(), expected, "{url}");
        }
        assert!(strict.check_url("https://8.8.8.8/hook").await.is_ok());
        let open = DestinationPolicy { allow_private: true };
        assert!(open.check_url("http://127.0.0.1:8080/hook").await.is_ok());
    }

    #[test]
    fn guard_judges_literal_hosts_and_leaves_names_to_the_resolver() {
        let strict = DestinationPolicy::default();
        let open = DestinationPolicy { allow_private: true };
        for refused in [
            "http://127.0.0.1:8080/hook",
            "https://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/", // 127.0.0.1 as one decimal number: the URL parser makes it a literal
            "http://[::ffff:10.0.0.1]/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert_eq!(guard(strict, &url), Err(DestinationError::Private), "{refused}");
            assert_eq!(guard(open, &url), Ok(()), "{refused}");
        }
        for passed in [
            "https://8.8.8.8/hook",
            "https://localhost/hook",
            "https://erp.example.com/",
        ] {
            assert_eq!(guard(strict, &Url::parse(passed).unwrap()), Ok(()), "{passed}");
        }
        let ftp = Url::parse("ftp://8.8.8.8/").unwrap();
        assert_eq!(guard(open, &ftp), Err(DestinationError::InvalidUrl));
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        use std::str::FromStr;
        let name = || Name::from_str("localhost").unwrap();
        let refused = PolicyResolver::new(DestinationPolicy::default())
            .resolve(name())
            .await
            .err()
            .expect("localhost resolves only to loopback");
        assert_eq!(
            refused.downcast_ref::<DestinationError>(),
            Some(&DestinationError::Private)
        );
        let allowed: Vec<SocketAddr> = PolicyResolver::new(DestinationPolicy { allow_private: true })
            .resolve(name())
            .await
            .unwrap()
            .collect();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()) && !allowed.is_empty());
    }
}
