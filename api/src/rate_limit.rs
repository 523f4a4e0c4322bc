//! Rate limits on what a card tester or a token prober would hammer: payment attempts per checkout link and
//! per client IP, sandbox tokenizations per IP, and failed checkout-token checks per IP. GCRA limiters from
//! `governor`, in memory: each API node enforces its own share (documented in docs/reliability.md).
//!
//! The client address comes from `crate::client_ip` (the TCP peer, or what a trusted proxy reports); IPv6
//! clients count per /64, so one subscriber cannot multiply their quota by rotating addresses.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::client_ip::rate_limit_key;
use crate::error::ApiError;

/// Per-minute quotas; 0 turns a limit off.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Payment attempts on one checkout link (the gateway never sees more than this per link).
    pub payments_per_link_per_minute: u32,
    /// Payment attempts from one IP, across links.
    pub payments_per_ip_per_minute: u32,
    /// Sandbox tokenizations from one IP.
    pub tokenize_per_ip_per_minute: u32,
    /// Failed checkout-token checks from one IP before further failures answer 429.
    pub token_failures_per_ip_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            payments_per_link_per_minute: 10,
            payments_per_ip_per_minute: 60,
            tokenize_per_ip_per_minute: 60,
            token_failures_per_ip_per_minute: 30,
        }
    }
}

impl RateLimitSettings {
    /// Every limit off (load tests, and API tests that are not about limits).
    pub fn unlimited() -> Self {
        RateLimitSettings {
            payments_per_link_per_minute: 0,
            payments_per_ip_per_minute: 0,
            tokenize_per_ip_per_minute: 0,
            token_failures_per_ip_per_minute: 0,
        }
    }
}

pub struct RateLimits {
    per_link: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    tokenize: Option<DefaultKeyedRateLimiter<IpAddr>>,
    token_failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &Option<DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::RateLimited {
            // Whole seconds, rounded up: a client that waits this long will be let through.
            retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> RateLimits {
        RateLimits {
            per_link: limiter(settings.payments_per_link_per_minute),
            per_ip: limiter(settings.payments_per_ip_per_minute),
            tokenize: limiter(settings.tokenize_per_ip_per_minute),
            token_failures: limiter(settings.token_failures_per_ip_per_minute),
        }
    }

    /// One payment attempt on `link_id` from `ip`: both quotas must allow it.
    pub fn payment_attempt(&self, link_id: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            check(&self.per_ip, &rate_limit_key(ip))?;
        }
        check(&self.per_link, &link_id.to_owned())
    }

    pub fn tokenize(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip {
            Some(ip) => check(&self.tokenize, &rate_limit_key(ip)),
            None => Ok(()),
        }
    }

    /// Records a failed token check from `ip`; past the quota the caller answers 429 instead of 401.
    pub fn token_failure(&self, ip: Option<IpAddr>) -> Option<ApiError> {
        ip.and_then(|ip| check(&self.token_failures, &rate_limit_key(ip)).err())
    }

    /// Forgets keys whose quota is full again, so memory stays bounded by recent traffic.
    pub fn prune(&self) {
        if let Some(l) = &self.per_link {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.per_ip, &self.tokenize, &self.token_failures]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Runs [`RateLimits::prune`] every minute.
    pub async fn prune_forever(limits: std::sync::Arc<RateLimits>) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.prune();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_link_quota_then_retry_after() {
        let limits = RateLimits::new(&RateLimitSettings {
            payments_per_link_per_minute: 3,
            ..RateLimitSettings::unlimited()
        });
        for _ in 0..3 {
            assert!(limits.payment_attempt("lnk_a", None).is_ok());
        }
        match limits.payment_attempt("lnk_a", None) {
            Err(ApiError::RateLimited { retry_after_seconds }) => {
                assert!((1..=20).contains(&retry_after_seconds), "{retry_after_seconds}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(
            limits.payment_attempt("lnk_b", None).is_ok(),
            "links are independent"
        );
    }

    #[test]
    fn ipv6_neighbours_share_a_quota() {
        let limits = RateLimits::new(&RateLimitSettings {
            token_failures_per_ip_per_minute: 2,
            ..RateLimitSettings::unlimited()
        });
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(limits.token_failure(ip("2001:db8:1:2::1")).is_none());
        assert!(limits.token_failure(ip("2001:db8:1:2::2")).is_none());
        assert!(
            limits.token_failure(ip("2001:db8:1:2:aaaa::3")).is_some(),
            "a third address in the same /64 is over the quota"
        );
        assert!(
            limits.token_failure(ip("2001:db8:1:3::1")).is_none(),
            "another /64 is not"
        );
    }

    #[test]
    fn zero_means_off() {
        let limits = RateLimits::new(&RateLimitSettings::unlimited());
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..1000 {
            assert!(limits.payment_attempt("lnk", ip).is_ok());
            assert!(limits.token_failure(ip).is_none());
        }
    }
}
