//! Sans-I/O token-bucket rate limits for connection requests: one bucket per source and one
//! global bucket. Time is passed in; nothing here reads a clock.
//!
//! A [`Limit`] of `max` per `per` is a bucket of capacity `max` refilled continuously at
//! `max / per`: a burst of `max` is allowed, then one request every `per / max`. A request is
//! allowed only if both its source's bucket and the global bucket hold a token; then one token
//! is taken from each (a refused request takes nothing).
//!
//! Sources are keyed by IP address: IPv4 (and IPv4-mapped IPv6) per address, other IPv6 per /64,
//! since one host typically owns a whole /64. The per-source table is bounded
//! ([`RateLimitConfig::max_sources`]); when full, idle (fully refilled) entries are dropped
//! first, then the least recently seen one. The global bucket is what caps an attacker rotating
//! source addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// At most `max` requests per `per` (as a token bucket: burst `max`, steady rate `max/per`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Bucket capacity (burst). `0` refuses everything.
    pub max: u32,
    /// Time to refill a whole bucket.
    pub per: Duration,
}

impl Limit {
    /// `max` per `per`.
    pub const fn new(max: u32, per: Duration) -> Self {
        Limit { max, per }
    }
}

/// Rate-limit configuration. `None` disables that limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per source address (IPv6: per /64). Default 10 per minute.
    pub per_source: Option<Limit>,
    /// Across all sources. Default 50 per 5 s (icwmp's figure).
    pub global: Option<Limit>,
    /// How many sources are tracked at once. Default 1024.
    pub max_sources: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_source: Some(Limit::new(10, Duration::from_secs(60))),
            global: Some(Limit::new(50, Duration::from_secs(5))),
            max_sources: 1024,
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The source's own limit.
    Source,
    /// The global limit.
    Global,
}

/// The verdict of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead (a token was taken).
    Allow,
    /// Refuse with `503`.
    Deny(LimitScope),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(limit: Limit, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(limit.max),
            last: now,
        }
    }

    fn refill(&mut self, limit: Limit, now: Instant) {
        let cap = f64::from(limit.max);
        // Time never runs backwards for us: an older `now` simply refills nothing.
        let elapsed = now.saturating_duration_since(self.last);
        if limit.per.is_zero() {
            self.tokens = cap;
        } else {
            self.tokens =
                (self.tokens + cap * elapsed.as_secs_f64() / limit.per.as_secs_f64()).min(cap);
        }
        if now > self.last {
            self.last = now;
        }
    }

    fn has_token(&self) -> bool {
        self.tokens >= 1.0
    }

    fn is_full(&self, limit: Limit) -> bool {
        self.tokens >= f64::from(limit.max)
    }
}

/// Per-source and global token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    global: Option<Bucket>,
    sources: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    /// All buckets start full.
    pub fn new(mut config: RateLimitConfig) -> Self {
        config.max_sources = config.max_sources.max(1);
        RateLimiter {
            config,
            global: None,
            sources: HashMap::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Number of sources currently tracked.
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Account for one request from `source` at `now`.
    pub fn check(&mut self, source: IpAddr, now: Instant) -> Decision {
        let key = source_key(source);

        let global = match self.config.global {
            Some(limit) => {
                let b = self.global.get_or_insert_with(|| Bucket::full(limit, now));
                b.refill(limit, now);
                Some(b.has_token())
            }
            None => None,
        };

        if let Some(limit) = self.config.per_source {
            if !self.sources.contains_key(&key) {
                self.make_room(limit, now);
                self.sources.insert(key, Bucket::full(limit, now));
            }
            let b = self.sources.get_mut(&key).expect("inserted above");
            b.refill(limit, now);
            if !b.has_token() {
                return Decision::Deny(LimitScope::Source);
            }
        }
        if global == Some(false) {
            return Decision::Deny(LimitScope::Global);
        }

        if let Some(b) = self.sources.get_mut(&key) {
            b.tokens -= 1.0;
        }
        if let Some(b) = self.global.as_mut() {
            b.tokens -= 1.0;
        }
        Decision::Allow
    }

    fn make_room(&mut self, limit: Limit, now: Instant) {
        if self.sources.len() < self.config.max_sources {
            return;
        }
        // Entries that have fully refilled carry no information: forget them.
        self.sources.retain(|_, b| {
            let mut b = *b;
            b.refill(limit, now);
            !b.is_full(limit)
        });
        while self.sources.len() >= self.config.max_sources {
            let Some(oldest) = self
                .sources
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.sources.remove(&oldest);
        }
    }
}

/// IPv4 and IPv4-mapped IPv6 per address; other IPv6 per /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A fake clock: an origin plus an offset the test moves.
    struct Clock {
        origin: Instant,
        offset: Duration,
    }

    impl Clock {
        fn new() -> Self {
            Clock {
                origin: Instant::now(),
                offset: Duration::ZERO,
            }
        }
        fn now(&self) -> Instant {
            self.origin + self.offset
        }
        fn advance(&mut self, d: Duration) {
            self.offset += d;
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn allowed(l: &mut RateLimiter, src: IpAddr, now: Instant, n: usize) -> usize {
        (0..n)
            .filter(|_| l.check(src, now) == Decision::Allow)
            .count()
    }

    #[test]
    fn per_source_burst_then_deny() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig::default());
        assert_eq!(allowed(&mut l, ip(1), clock.now(), 10), 10);
        assert_eq!(
            l.check(ip(1), clock.now()),
            Decision::Deny(LimitScope::Source)
        );
        // Another source is unaffected.
        assert_eq!(l.check(ip(2), clock.now()), Decision::Allow);
    }

    #[test]
    fn per_source_refills_over_time() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig::default());
        assert_eq!(allowed(&mut l, ip(1), clock.now(), 10), 10);
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            l.check(ip(1), clock.now()),
            Decision::Deny(LimitScope::Source)
        );
        clock.advance(Duration::from_secs(1)); // 6 s: one token (60 s / 10)
        assert_eq!(l.check(ip(1), clock.now()), Decision::Allow);
        assert_eq!(
            l.check(ip(1), clock.now()),
            Decision::Deny(LimitScope::Source)
        );
        clock.advance(Duration::from_secs(600));
        assert_eq!(
            allowed(&mut l, ip(1), clock.now(), 20),
            10,
            "capped at burst"
        );
    }

    #[test]
    fn global_limit_spans_sources() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig::default());
        let mut ok = 0;
        for i in 0..100u8 {
            if l.check(ip(i), clock.now()) == Decision::Allow {
                ok += 1;
            }
        }
        assert_eq!(ok, 50);
        assert_eq!(
            l.check(ip(200), clock.now()),
            Decision::Deny(LimitScope::Global)
        );
        clock.advance(Duration::from_secs(5));
        assert_eq!(allowed(&mut l, ip(201), clock.now(), 1), 1);
    }

    #[test]
    fn refused_requests_take_no_token() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            per_source: Some(Limit::new(2, Duration::from_secs(10))),
            global: Some(Limit::new(3, Duration::from_secs(10))),
            max_sources: 16,
        });
        let now = clock.now();
        assert_eq!(allowed(&mut l, ip(1), now, 2), 2);
        // Source 1 hammering while denied must not drain the global bucket.
        assert_eq!(allowed(&mut l, ip(1), now, 50), 0);
        assert_eq!(l.check(ip(2), now), Decision::Allow);
        assert_eq!(l.check(ip(3), now), Decision::Deny(LimitScope::Global));
        clock.advance(Duration::from_secs(10));
        assert_eq!(l.check(ip(3), clock.now()), Decision::Allow);
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            per_source: None,
            global: None,
            max_sources: 1,
        });
        assert_eq!(allowed(&mut l, ip(1), clock.now(), 1000), 1000);
        assert_eq!(l.tracked_sources(), 0);
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            per_source: None,
            global: Some(Limit::new(0, Duration::from_secs(1))),
            max_sources: 1,
        });
        assert_eq!(allowed(&mut l, ip(1), clock.now(), 5), 0);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut clock = Clock::new();
        clock.advance(Duration::from_secs(100));
        let mut l = RateLimiter::new(RateLimitConfig::default());
        assert_eq!(allowed(&mut l, ip(1), clock.now(), 10), 10);
        let earlier = clock.origin;
        assert_eq!(l.check(ip(1), earlier), Decision::Deny(LimitScope::Source));
    }

    #[test]
    fn ipv6_is_keyed_per_slash_64_and_mapped_v4_per_address() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            per_source: Some(Limit::new(1, Duration::from_secs(60))),
            global: None,
            max_sources: 16,
        });
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(l.check(a, clock.now()), Decision::Allow);
        assert_eq!(l.check(b, clock.now()), Decision::Deny(LimitScope::Source));
        assert_eq!(l.check(c, clock.now()), Decision::Allow);
        let v4 = ip(7);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(l.check(v4, clock.now()), Decision::Allow);
        assert_eq!(
            l.check(mapped, clock.now()),
            Decision::Deny(LimitScope::Source)
        );
    }

    #[test]
    fn source_table_is_bounded() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            per_source: Some(Limit::new(1, Duration::from_secs(60))),
            global: None,
            max_sources: 8,
        });
        for i in 0..100u8 {
            clock.advance(Duration::from_millis(1));
            assert_eq!(l.check(ip(i), clock.now()), Decision::Allow);
            assert!(l.tracked_sources() <= 8);
        }
        // The most recent sources are still remembered.
        assert_eq!(
            l.check(ip(99), clock.now()),
            Decision::Deny(LimitScope::Source)
        );
    }
}
