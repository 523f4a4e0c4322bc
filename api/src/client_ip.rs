//! The client's address, for rate limits and logs. By default it is the TCP peer. Behind a reverse proxy
//! every buyer would share the proxy's address, so `TRANCHE_TRUSTED_PROXIES` names the proxies (CIDRs)
//! whose forwarding header is believed: only when the peer is one of them is the header read, and then
//! from the right, skipping further trusted proxies, so the first address no trusted hop vouches for is the
//! client. Anything a client writes into the header itself sits to the left of that and is ignored.
//!
//! Which header: `TRANCHE_FORWARDED_HEADER` = `x-forwarded-for` (default; nginx, HAProxy, cloud load
//! balancers) or `forwarded` (RFC 7239). Only one is read, so a client cannot add the other to win.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;
use serde::Deserialize;

/// Which forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(value: &str) -> anyhow::Result<ForwardedHeader> {
        match value.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => anyhow::bail!("must be x-forwarded-for or forwarded, not {other:?}"),
        }
    }
}

/// `10.0.0.0/8, 192.168.1.7` -> networks (a bare address is a /32 or /128).
pub fn parse_cidrs(value: &str) -> anyhow::Result<Vec<IpNet>> {
    value
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| anyhow::anyhow!("{s:?} is not an IP address or CIDR"))
        })
        .collect()
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of an IPv4 peer) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `for=` or X-Forwarded-For element: `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    // IPv4 with a port.
    let (host, port) = node.rsplit_once(':')?;
    port.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The hops the header lists, left (original client) to right (nearest proxy); `None` for an element that
/// is not an address (`unknown`, an obfuscated identifier).
fn hops(headers: &HeaderMap, which: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match which {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else {
            out.push(None);
            continue;
        };
        for element in text.split(',') {
            match which {
                ForwardedHeader::XForwardedFor => out.push(parse_node(element)),
                ForwardedHeader::Forwarded => {
                    let node = element.split(';').find_map(|pair| {
                        let (key, value) = pair.split_once('=')?;
                        key.trim().eq_ignore_ascii_case("for").then_some(value)
                    });
                    out.push(node.and_then(parse_node));
                }
            }
        }
    }
    out
}

/// The client address for a request from `peer` with `headers`.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    proxies: &[IpNet],
    which: ForwardedHeader,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    // The nearest address we can vouch for so far: the trusted peer itself.
    let mut client = peer;
    for hop in hops(headers, which).into_iter().rev() {
        match hop.map(canonical) {
            // A trusted proxy reported this hop: keep walking left.
            Some(ip) if trusted(ip, proxies) => client = ip,
            // The first address no trusted hop is behind: the client.
            Some(ip) => return Some(ip),
            // An element we cannot read: stop at the last hop we could vouch for.
            None => return Some(client),
        }
    }
    Some(client)
}

/// The client address of an actix request, by the application's settings.
pub fn of(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<actix_web::web::Data<crate::state::AppState>>() {
        Some(state) => resolve(
            peer,
            req.headers(),
            &state.settings.trusted_proxies,
            state.settings.forwarded_header,
        ),
        None => peer,
    }
}

/// The key a per-client rate limit counts under: an IPv4 address, or the /64 of an IPv6 address (one
/// subscriber usually holds a whole /64, so counting single IPv6 addresses would give them 2^64 quotas).
pub fn rate_limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let xff = ForwardedHeader::XForwardedFor;
        assert_eq!(
            resolve(Some(ip("198.51.100.1")), &h, &[], xff),
            Some(ip("198.51.100.1"))
        );
        let proxies = parse_cidrs("10.0.0.0/8").unwrap();
        assert_eq!(
            resolve(Some(ip("198.51.100.1")), &h, &proxies, xff),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            resolve(Some(ip("10.1.1.1")), &h, &proxies, xff),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_client_written_hops_are_ignored() {
        let proxies = parse_cidrs("10.0.0.0/8, 192.168.0.7").unwrap();
        let xff = ForwardedHeader::XForwardedFor;
        // The client wrote "1.2.3.4" itself; the edge proxy appended the real peer; an inner proxy appended the edge.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 192.168.0.7")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &proxies, xff),
            Some(ip("203.0.113.9"))
        );
        // Two header lines count as one list.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9:5555"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &proxies, xff),
            Some(ip("203.0.113.9"))
        );
        // Garbage stops the walk at the last hop a trusted proxy vouched for.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, nonsense, 10.9.9.9")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &proxies, xff),
            Some(ip("10.9.9.9"))
        );
        // No header: the proxy itself.
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &HeaderMap::new(), &proxies, xff),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn forwarded_header_by_rfc_7239_and_only_the_configured_header_counts() {
        let proxies = parse_cidrs("10.0.0.0/8").unwrap();
        let h = headers(&[
            (
                "forwarded",
                "for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.1",
            ),
            ("x-forwarded-for", "198.51.100.77"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &proxies, ForwardedHeader::Forwarded),
            Some(ip("2001:db8:cafe::17"))
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &proxies, ForwardedHeader::XForwardedFor),
            Some(ip("198.51.100.77"))
        );
        let obfuscated = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                &obfuscated,
                &proxies,
                ForwardedHeader::Forwarded
            ),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_addresses_as_ipv4() {
        assert_eq!(rate_limit_key(ip("2001:db8:1:2::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            rate_limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(rate_limit_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(rate_limit_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(rate_limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
    }

    #[test]
    fn cidr_lists_parse_and_bad_entries_are_named() {
        assert_eq!(parse_cidrs("").unwrap(), vec![]);
        assert_eq!(parse_cidrs("10.0.0.0/8,::1").unwrap().len(), 2);
        let error = parse_cidrs("10.0.0.0/8, proxy.local").unwrap_err().to_string();
        assert!(error.contains("proxy.local"), "{error}");
    }
}
