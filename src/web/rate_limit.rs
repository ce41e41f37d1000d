//! Per-client token buckets for the endpoints that cost us an email or a row.
//!
//! Keyed on the peer address of the TCP connection (`ConnectInfo`), not on any header:
//! `X-Forwarded-For` is whatever the client says unless a trusted proxy sets it. IPv6
//! clients are keyed on their /64, since one host usually holds a whole /64.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
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

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    /// Without `ConnectInfo` (a router driven directly in a test) every request shares one
    /// key, which errs on the side of limiting.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(key_of(ip)))
    }
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
