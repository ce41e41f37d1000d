//! Per-client token buckets for the endpoints that cost us an email or a row.
//!
//! Keyed on the peer address of the TCP connection (`ConnectInfo`). `X-Forwarded-For` and
//! `Forwarded` are whatever the client says, so they are believed only when the peer is
//! one of `http.trusted_proxies`. IPv6 clients are keyed on their /64, since one host
//! usually holds a whole /64.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::{
    app::App,
    domain::net::{IpRange, parse_ranges},
};

/// Buckets beyond this many trigger a sweep of the idle (full) ones, bounding memory
/// under a spray of addresses.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Shared by the handlers of one router; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<(IpAddr, &'static str), Bucket>>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one token for `(ip, action)` from a bucket of `per_minute` that refills
    /// continuously. `Err` carries how long until a token is back. Zero means no limit.
    pub fn check(&self, ip: IpAddr, action: &'static str, per_minute: u32) -> Result<(), Duration> {
        self.check_at(ip, action, per_minute, Instant::now())
    }

    fn check_at(
        &self,
        ip: IpAddr,
        action: &'static str,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let per_sec = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < capacity
            });
        }
        let bucket = buckets.entry((ip, action)).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_sec;
        bucket.tokens = refilled.min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_sec;
            Err(Duration::from_secs_f64(wait.max(1.0)))
        }
    }
}

/// The client's address as the rate limiter keys it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    /// Without `ConnectInfo` (a router driven directly in a test) every request shares one
    /// key, which errs on the side of limiting.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let app = App::from_ref(state);
        let trusted = trusted_proxies(&app);
        Ok(ClientIp(key_of(client_address(
            peer,
            &parts.headers,
            &trusted,
        ))))
    }
}

/// The configured proxies (checked at start-up, so nothing is dropped here in practice).
fn trusted_proxies(app: &App) -> Vec<IpRange> {
    parse_ranges(&app.config.http.trusted_proxies, "http.trusted_proxies").unwrap_or_default()
}

/// Who is really asking. Only when the TCP peer is a trusted proxy are its forwarding
/// headers believed, read from the right (the hop nearest us) past any further trusted
/// proxies; anything a client wrote itself sits further left and is never reached.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(*ip) {
                    break;
                }
            }
            // An obfuscated or unparsable hop: stop at the last address we could read.
            None => break,
        }
    }
    client
}

/// The client addresses a proxy chain reports, nearest last: `Forwarded: for=` when
/// present (RFC 7239), else `X-Forwarded-For`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let forwarded = joined("forwarded");
    if !forwarded.trim().is_empty() {
        return forwarded
            .split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_hop(v.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    joined("x-forwarded-for")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_hop)
        .collect()
}

/// `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(a, _)| a.parse().ok())
}

fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Seconds for a `Retry-After` header: whole, and at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_refills() {
        let l = RateLimiter::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(ip, "x", 3, t0).is_ok());
        }
        let wait = l.check_at(ip, "x", 3, t0).unwrap_err();
        assert!(
            wait >= Duration::from_secs(19) && wait <= Duration::from_secs(21),
            "{wait:?}"
        );
        assert!(l.check_at("192.0.2.2".parse().unwrap(), "x", 3, t0).is_ok());
        assert!(l.check_at(ip, "y", 3, t0).is_ok());
        assert!(l.check_at(ip, "x", 3, t0 + Duration::from_secs(21)).is_ok());
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.5, 10.1.1.1".parse().unwrap(),
        );
        // From a trusted proxy: the nearest untrusted hop.
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &trusted),
            ip("203.0.113.5")
        );
        // From anyone else: the header is the client's own words.
        assert_eq!(
            client_address(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(client_address(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        let mut f = HeaderMap::new();
        f.insert(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8::7]:4711\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &f, &trusted),
            ip("2001:db8::7")
        );
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(
            client_address(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a = key_of("2001:db8::1".parse().unwrap());
        let b = key_of("2001:db8::ffff:2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(
            key_of("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
