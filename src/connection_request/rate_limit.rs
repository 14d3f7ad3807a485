//! Sans-I/O limits for connection requests. Time is passed in; nothing here reads a clock.
//!
//! # What is limited, and what is not
//! An ACS that authenticates correctly is never refused for sending requests in a burst: TR-069
//! lets the CPE answer every such request `200` and coalesce them into one session (see the
//! parent module), and GenieACS reads a `503` as "Device is offline". So correct requests are
//! not counted per source at all. What is limited is what an attacker needs:
//!
//! - **Failed authentication, per source** ([`RateLimitConfig::failed_auth_per_source`],
//!   default 10 per 10 minutes): a request carrying an `Authorization` header that does not
//!   authenticate — wrong username or password, a replayed `nc`, a forged or foreign nonce with
//!   a wrong response, a mismatched `opaque`, `realm` or `uri`, a malformed header, Basic.
//!   Once the bucket is empty the source is *blocked*: every request from it is refused,
//!   including one with the right credentials (otherwise guessing would go on), until a token
//!   has refilled (one per minute with the default). The normal Digest exchange never fails:
//!   the first, unauthenticated GET that fetches the challenge is not a failure, nor is a
//!   right answer to a nonce that expired or was evicted (the CPE answers `stale=true`).
//! - **Challenges, per source** ([`RateLimitConfig::challenges_per_source`], default 200 per
//!   minute): requests answered without verifying credentials — no `Authorization` header (the
//!   GET that fetches a challenge), a stale nonce with right credentials, no username
//!   configured, the server disabled. Every GenieACS connection request starts with one, so
//!   the default is far above any sane burst (a GenieACS NBI driving tasks back to back sends
//!   a few per second at most); it keeps one source from draining the global budget and the
//!   authenticator's nonce table. When empty, only that source's *unauthenticated* requests
//!   are refused; its answers to challenges it already holds still go through.
//! - **Global** ([`RateLimitConfig::global`], default 600 per minute): every admitted request
//!   from every source. Only a flood reaches it (a correct connection request costs two); it
//!   bounds the work done for attackers rotating source addresses, who escape the per-source
//!   limits. Requests refused by a per-source limit take no global token, so a blocked guesser
//!   cannot use up the budget of the real ACS.
//!
//! A [`Limit`] of `max` per `per` is a token bucket of capacity `max` refilled continuously at
//! `max / per`: a burst of `max`, then one every `per / max`.
//!
//! # Two calls per request
//! [`RateLimiter::admit`] before the credentials are looked at (a blocked source gets no
//! verification), [`RateLimiter::record`] with the outcome afterwards. The server makes both
//! under one lock, so concurrent requests cannot overdraw a bucket: a guesser gets exactly as
//! many verified attempts as its bucket holds, however many connections it opens.
//!
//! # Sources
//! Keyed by IP address: IPv4 (and IPv4-mapped IPv6) per address, other IPv6 per /64, since
//! one host typically owns a whole /64. The table is bounded ([`RateLimitConfig::max_sources`]);
//! when full, idle entries (every bucket full again) are dropped first, then the least recently
//! seen one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// At most `max` per `per` (as a token bucket: burst `max`, steady rate `max/per`).
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

/// Limit configuration. `None` disables that limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Failed authentication attempts per source (IPv6: per /64). Default 10 per 10 minutes.
    pub failed_auth_per_source: Option<Limit>,
    /// Requests answered without verifying credentials (mostly the unauthenticated GET that
    /// fetches a challenge), per source. Default 200 per minute.
    pub challenges_per_source: Option<Limit>,
    /// Every admitted request, across all sources. Default 600 per minute.
    pub global: Option<Limit>,
    /// How many sources are tracked at once. Default 1024.
    pub max_sources: usize,
}

impl RateLimitConfig {
    /// Default [`RateLimitConfig::failed_auth_per_source`].
    pub const DEFAULT_FAILED_AUTH: Limit = Limit::new(10, Duration::from_secs(600));
    /// Default [`RateLimitConfig::challenges_per_source`].
    pub const DEFAULT_CHALLENGES: Limit = Limit::new(200, Duration::from_secs(60));
    /// Default [`RateLimitConfig::global`].
    pub const DEFAULT_GLOBAL: Limit = Limit::new(600, Duration::from_secs(60));
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            failed_auth_per_source: Some(Self::DEFAULT_FAILED_AUTH),
            challenges_per_source: Some(Self::DEFAULT_CHALLENGES),
            global: Some(Self::DEFAULT_GLOBAL),
            max_sources: 1024,
        }
    }
}

/// What a request brings, as far as [`RateLimiter::admit`] can tell before verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// No `Authorization` header: it can only be challenged.
    Unauthenticated,
    /// An `Authorization` header: an answer to a challenge (right or wrong).
    Answer,
}

/// How a request that was admitted ended, for [`RateLimiter::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated: costs nothing beyond the global token.
    Accepted,
    /// Answered without judging credentials (a challenge, a stale nonce with right credentials,
    /// no username configured, disabled): one challenge token.
    Challenged,
    /// An `Authorization` that did not authenticate: one failure token.
    Failed,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The source failed authentication too often: it is blocked.
    FailedAuth,
    /// The source sent too many unauthenticated requests.
    Challenges,
    /// All sources together sent too many requests.
    Global,
}

/// Why and for how long a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The limit that refused it.
    pub scope: LimitScope,
    /// When the limit will next admit a request of this kind (for `Retry-After`).
    pub retry_after: Duration,
    /// The first refusal by this limit (for this source, or globally) since it last admitted a
    /// request: the server logs it loudly once and the rest quietly.
    pub first: bool,
}

/// The verdict of [`RateLimiter::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead (a global token was taken).
    Allow,
    /// Refuse (nothing was taken).
    Deny(Refusal),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    /// Refusing since the bucket last had a token.
    refusing: bool,
}

impl Bucket {
    fn full(limit: Limit, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(limit.max),
            last: now,
            refusing: false,
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

    fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    fn is_full(&self, limit: Limit) -> bool {
        self.tokens >= f64::from(limit.max)
    }

    /// Time until one token is back (whole seconds would lose precision for fast limits).
    fn time_to_token(&self, limit: Limit) -> Duration {
        if limit.max == 0 {
            return limit.per;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::try_from_secs_f64(missing * limit.per.as_secs_f64() / f64::from(limit.max))
            .unwrap_or(limit.per)
    }

    /// Admit or refuse by this bucket; keeps `refusing` for [`Refusal::first`].
    fn gate(&mut self, limit: Limit, scope: LimitScope) -> Result<(), Refusal> {
        if self.has_token() {
            self.refusing = false;
            return Ok(());
        }
        let first = !self.refusing;
        self.refusing = true;
        Err(Refusal {
            scope,
            retry_after: self.time_to_token(limit),
            first,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Source {
    failures: Option<Bucket>,
    challenges: Option<Bucket>,
    last_seen: Instant,
}

/// Per-source and global token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    global: Option<Bucket>,
    sources: HashMap<IpAddr, Source>,
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

    /// Before verification: may a request of `class` from `source` be looked at? On
    /// [`Decision::Allow`] one global token is taken; per-source tokens are taken by
    /// [`RateLimiter::record`] once the outcome is known.
    pub fn admit(&mut self, source: IpAddr, class: RequestClass, now: Instant) -> Decision {
        let (failures, challenges) = (
            self.config.failed_auth_per_source,
            self.config.challenges_per_source,
        );
        if let Some(entry) = self.source(source, now) {
            if let (Some(limit), Some(b)) = (failures, entry.failures.as_mut()) {
                if let Err(refusal) = b.gate(limit, LimitScope::FailedAuth) {
                    return Decision::Deny(refusal);
                }
            }
            if class == RequestClass::Unauthenticated {
                if let (Some(limit), Some(b)) = (challenges, entry.challenges.as_mut()) {
                    if let Err(refusal) = b.gate(limit, LimitScope::Challenges) {
                        return Decision::Deny(refusal);
                    }
                }
            }
        }
        if let Some(limit) = self.config.global {
            let b = self.global.get_or_insert_with(|| Bucket::full(limit, now));
            b.refill(limit, now);
            if let Err(refusal) = b.gate(limit, LimitScope::Global) {
                return Decision::Deny(refusal);
            }
            b.take();
        }
        Decision::Allow
    }

    /// After verification: charge the source for how its admitted request ended.
    pub fn record(&mut self, source: IpAddr, outcome: Outcome, now: Instant) {
        let Some(entry) = self.source(source, now) else {
            return;
        };
        let bucket = match outcome {
            Outcome::Accepted => None,
            Outcome::Challenged => entry.challenges.as_mut(),
            Outcome::Failed => entry.failures.as_mut(),
        };
        if let Some(b) = bucket {
            b.take();
        }
    }

    /// The (refilled) entry of `source`, created if needed; `None` when no per-source limit is
    /// configured.
    fn source(&mut self, source: IpAddr, now: Instant) -> Option<&mut Source> {
        let failures = self.config.failed_auth_per_source;
        let challenges = self.config.challenges_per_source;
        if failures.is_none() && challenges.is_none() {
            return None;
        }
        let key = source_key(source);
        if !self.sources.contains_key(&key) {
            self.make_room(now);
        }
        let entry = self.sources.entry(key).or_insert_with(|| Source {
            failures: failures.map(|l| Bucket::full(l, now)),
            challenges: challenges.map(|l| Bucket::full(l, now)),
            last_seen: now,
        });
        if let (Some(l), Some(b)) = (failures, entry.failures.as_mut()) {
            b.refill(l, now);
        }
        if let (Some(l), Some(b)) = (challenges, entry.challenges.as_mut()) {
            b.refill(l, now);
        }
        if now > entry.last_seen {
            entry.last_seen = now;
        }
        Some(entry)
    }

    fn make_room(&mut self, now: Instant) {
        if self.sources.len() < self.config.max_sources {
            return;
        }
        let (failures, challenges) = (
            self.config.failed_auth_per_source,
            self.config.challenges_per_source,
        );
        let idle = |bucket: Option<Bucket>, limit: Option<Limit>| match (bucket, limit) {
            (Some(mut b), Some(l)) => {
                b.refill(l, now);
                b.is_full(l)
            }
            _ => true,
        };
        // Entries whose buckets have all refilled carry no information: forget them.
        self.sources
            .retain(|_, s| !(idle(s.failures, failures) && idle(s.challenges, challenges)));
        while self.sources.len() >= self.config.max_sources {
            let Some(oldest) = self
                .sources
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
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

    fn scope(d: Decision) -> Option<LimitScope> {
        match d {
            Decision::Allow => None,
            Decision::Deny(r) => Some(r.scope),
        }
    }

    /// One whole exchange as an ACS runs it: the unauthenticated GET (challenged), then the
    /// answer with `answer` as its outcome. Returns the scope that refused a step, if any.
    fn exchange(
        l: &mut RateLimiter,
        src: IpAddr,
        now: Instant,
        answer: Outcome,
    ) -> Option<LimitScope> {
        if let Decision::Deny(r) = l.admit(src, RequestClass::Unauthenticated, now) {
            return Some(r.scope);
        }
        l.record(src, Outcome::Challenged, now);
        if let Decision::Deny(r) = l.admit(src, RequestClass::Answer, now) {
            return Some(r.scope);
        }
        l.record(src, answer, now);
        None
    }

    fn guess(l: &mut RateLimiter, src: IpAddr, now: Instant) -> Option<LimitScope> {
        match l.admit(src, RequestClass::Answer, now) {
            Decision::Allow => {
                l.record(src, Outcome::Failed, now);
                None
            }
            Decision::Deny(r) => Some(r.scope),
        }
    }

    #[test]
    fn correct_exchanges_are_never_refused_per_source() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            global: None,
            ..RateLimitConfig::default()
        });
        // 150 connection requests in 15 s, each with its challenge: well past the old limit.
        for _ in 0..150 {
            assert_eq!(
                exchange(&mut l, ip(1), clock.now(), Outcome::Accepted),
                None
            );
            clock.advance(Duration::from_millis(100));
        }
    }

    #[test]
    fn failures_block_the_source_even_with_right_credentials() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig::default());
        let now = clock.now();
        for _ in 0..10 {
            assert_eq!(guess(&mut l, ip(1), now), None);
        }
        // Blocked: the next answer is refused before anyone looks at it, and so is the GET.
        match l.admit(ip(1), RequestClass::Answer, now) {
            Decision::Deny(r) => {
                assert_eq!(r.scope, LimitScope::FailedAuth);
                assert!(r.first);
                // 10 per 10 minutes: one token a minute.
                assert_eq!(r.retry_after, Duration::from_secs(60));
            }
            Decision::Allow => panic!("a blocked source was admitted"),
        }
        match l.admit(ip(1), RequestClass::Unauthenticated, now) {
            Decision::Deny(r) => assert!(r.scope == LimitScope::FailedAuth && !r.first),
            Decision::Allow => panic!("a blocked source was admitted"),
        }
        // Another source is unaffected.
        assert_eq!(exchange(&mut l, ip(2), now, Outcome::Accepted), None);

        // One token back after a minute: one more attempt, then blocked again.
        clock.advance(Duration::from_secs(60));
        assert_eq!(guess(&mut l, ip(1), clock.now()), None);
        assert_eq!(
            guess(&mut l, ip(1), clock.now()),
            Some(LimitScope::FailedAuth)
        );
        // Right credentials once a token is back: accepted, and it costs no failure token.
        clock.advance(Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(
                exchange(&mut l, ip(1), clock.now(), Outcome::Accepted),
                None
            );
        }
        // The bucket fills up completely in 10 minutes.
        clock.advance(Duration::from_secs(600));
        for _ in 0..10 {
            assert_eq!(guess(&mut l, ip(1), clock.now()), None);
        }
        assert_eq!(
            guess(&mut l, ip(1), clock.now()),
            Some(LimitScope::FailedAuth)
        );
    }

    #[test]
    fn challenges_are_generous_but_bounded_per_source() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            global: None,
            ..RateLimitConfig::default()
        });
        let now = clock.now();
        for _ in 0..200 {
            assert_eq!(
                l.admit(ip(1), RequestClass::Unauthenticated, now),
                Decision::Allow
            );
            l.record(ip(1), Outcome::Challenged, now);
        }
        assert_eq!(
            scope(l.admit(ip(1), RequestClass::Unauthenticated, now)),
            Some(LimitScope::Challenges)
        );
        // Answers to challenges already held still go through, and authenticate.
        assert_eq!(l.admit(ip(1), RequestClass::Answer, now), Decision::Allow);
        l.record(ip(1), Outcome::Accepted, now);
        assert_eq!(
            l.admit(ip(2), RequestClass::Unauthenticated, now),
            Decision::Allow
        );
    }

    #[test]
    fn global_limit_spans_sources_and_refills() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            global: Some(Limit::new(50, Duration::from_secs(5))),
            ..RateLimitConfig::default()
        });
        let ok = (0..100u8)
            .filter(|i| {
                l.admit(ip(*i), RequestClass::Unauthenticated, clock.now()) == Decision::Allow
            })
            .count();
        assert_eq!(ok, 50);
        match l.admit(ip(200), RequestClass::Answer, clock.now()) {
            Decision::Deny(r) => {
                assert_eq!(r.scope, LimitScope::Global);
                assert!(!r.first, "the 51st request was the first refusal");
            }
            Decision::Allow => panic!("past the global limit"),
        }
        clock.advance(Duration::from_secs(5));
        assert_eq!(
            l.admit(ip(201), RequestClass::Answer, clock.now()),
            Decision::Allow
        );
    }

    #[test]
    fn refused_requests_take_no_global_token() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: Some(Limit::new(2, Duration::from_secs(600))),
            challenges_per_source: None,
            global: Some(Limit::new(4, Duration::from_secs(600))),
            max_sources: 16,
        });
        let now = clock.now();
        assert_eq!(guess(&mut l, ip(1), now), None);
        assert_eq!(guess(&mut l, ip(1), now), None);
        // Source 1 hammering while blocked must not drain the global bucket.
        for _ in 0..50 {
            assert_eq!(guess(&mut l, ip(1), now), Some(LimitScope::FailedAuth));
        }
        assert_eq!(exchange(&mut l, ip(2), now, Outcome::Accepted), None);
        assert_eq!(
            scope(l.admit(ip(3), RequestClass::Unauthenticated, now)),
            Some(LimitScope::Global)
        );
    }

    #[test]
    fn stale_and_unverified_answers_cost_challenges_not_failures() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: Some(Limit::new(1, Duration::from_secs(600))),
            challenges_per_source: Some(Limit::new(3, Duration::from_secs(600))),
            global: None,
            max_sources: 16,
        });
        let now = clock.now();
        for _ in 0..3 {
            assert_eq!(l.admit(ip(1), RequestClass::Answer, now), Decision::Allow);
            l.record(ip(1), Outcome::Challenged, now);
        }
        // Not blocked (no failure), but out of challenges for unauthenticated requests.
        assert_eq!(l.admit(ip(1), RequestClass::Answer, now), Decision::Allow);
        assert_eq!(
            scope(l.admit(ip(1), RequestClass::Unauthenticated, now)),
            Some(LimitScope::Challenges)
        );
    }

    #[test]
    fn disabled_limits_allow_everything() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: None,
            challenges_per_source: None,
            global: None,
            max_sources: 1,
        });
        for _ in 0..1000 {
            assert_eq!(guess(&mut l, ip(1), clock.now()), None);
        }
        assert_eq!(l.tracked_sources(), 0);
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: None,
            challenges_per_source: None,
            global: Some(Limit::new(0, Duration::from_secs(1))),
            max_sources: 1,
        });
        assert_eq!(
            scope(l.admit(ip(1), RequestClass::Answer, clock.now())),
            Some(LimitScope::Global)
        );
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut clock = Clock::new();
        clock.advance(Duration::from_secs(100));
        let mut l = RateLimiter::new(RateLimitConfig::default());
        for _ in 0..10 {
            assert_eq!(guess(&mut l, ip(1), clock.now()), None);
        }
        let earlier = clock.origin;
        assert_eq!(guess(&mut l, ip(1), earlier), Some(LimitScope::FailedAuth));
    }

    #[test]
    fn ipv6_is_keyed_per_slash_64_and_mapped_v4_per_address() {
        let clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: Some(Limit::new(1, Duration::from_secs(60))),
            challenges_per_source: None,
            global: None,
            max_sources: 16,
        });
        let now = clock.now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(guess(&mut l, a, now), None);
        assert_eq!(guess(&mut l, b, now), Some(LimitScope::FailedAuth));
        assert_eq!(guess(&mut l, c, now), None);
        let v4 = ip(7);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(guess(&mut l, v4, now), None);
        assert_eq!(guess(&mut l, mapped, now), Some(LimitScope::FailedAuth));
    }

    #[test]
    fn source_table_is_bounded() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: Some(Limit::new(1, Duration::from_secs(60))),
            challenges_per_source: None,
            global: None,
            max_sources: 8,
        });
        for i in 0..100u8 {
            clock.advance(Duration::from_millis(1));
            assert_eq!(guess(&mut l, ip(i), clock.now()), None);
            assert!(l.tracked_sources() <= 8);
        }
        // The most recent sources are still remembered.
        assert_eq!(
            guess(&mut l, ip(99), clock.now()),
            Some(LimitScope::FailedAuth)
        );
    }

    #[test]
    fn idle_sources_are_forgotten_first() {
        let mut clock = Clock::new();
        let mut l = RateLimiter::new(RateLimitConfig {
            failed_auth_per_source: Some(Limit::new(1, Duration::from_secs(600))),
            challenges_per_source: None,
            global: None,
            max_sources: 2,
        });
        // Source 1 is blocked; source 2, seen later, only authenticated (its buckets refill).
        assert_eq!(guess(&mut l, ip(1), clock.now()), None);
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            exchange(&mut l, ip(2), clock.now(), Outcome::Accepted),
            None
        );
        clock.advance(Duration::from_secs(5));
        // A third source evicts the idle one, not the blocked one (even though it is older).
        assert_eq!(
            exchange(&mut l, ip(3), clock.now(), Outcome::Accepted),
            None
        );
        assert_eq!(
            guess(&mut l, ip(1), clock.now()),
            Some(LimitScope::FailedAuth)
        );
    }
}
