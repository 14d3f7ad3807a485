//! Randomness comes into the core from outside, as quinn-proto's does: the daemon draws from
//! the system (and the retry wait from the `backoff` crate, in [`super::retry`]), while tests and
//! fleet mode use a seeded generator so any run can be replayed exactly.

use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};

use super::retry::RetryPolicy;

/// Where the core's random draws come from.
pub trait Entropy: Send {
    /// A random 64-bit number (session ids, connection-request paths).
    fn next_u64(&mut self) -> u64;
    /// TR-069's wait before retry number `retry_count`: uniform in `policy.range(retry_count)`.
    fn retry_wait(&mut self, policy: &RetryPolicy, retry_count: u32) -> Duration;
    /// A uniform draw in `[0, bound_ms]` (e.g. the random delay before the first session of a
    /// boot).
    fn uniform_ms(&mut self, bound_ms: u64) -> u64;
}

/// The operating system's randomness; the retry wait drawn by the `backoff` crate.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEntropy;

impl Entropy for SystemEntropy {
    fn next_u64(&mut self) -> u64 {
        rand::random()
    }

    fn retry_wait(&mut self, policy: &RetryPolicy, retry_count: u32) -> Duration {
        policy.wait(retry_count)
    }

    fn uniform_ms(&mut self, bound_ms: u64) -> u64 {
        rand::rng().random_range(0..=bound_ms)
    }
}

/// A seeded generator: the same seed gives the same draws.
#[derive(Debug, Clone)]
pub struct SeededEntropy(rand::rngs::StdRng);

impl SeededEntropy {
    pub fn new(seed: u64) -> SeededEntropy {
        SeededEntropy(rand::rngs::StdRng::seed_from_u64(seed))
    }
}

impl Entropy for SeededEntropy {
    fn next_u64(&mut self) -> u64 {
        self.0.random()
    }

    fn retry_wait(&mut self, policy: &RetryPolicy, retry_count: u32) -> Duration {
        let (low, high) = policy.range(retry_count);
        Duration::from_secs_f64(self.0.random_range(low..=high))
    }

    fn uniform_ms(&mut self, bound_ms: u64) -> u64 {
        self.0.random_range(0..=bound_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_replay_and_stay_in_the_retry_range() {
        let policy = RetryPolicy::default();
        let mut a = SeededEntropy::new(7);
        let mut b = SeededEntropy::new(7);
        for n in 1..=12 {
            let (wa, wb) = (a.retry_wait(&policy, n), b.retry_wait(&policy, n));
            assert_eq!(wa, wb);
            let (low, high) = policy.range(n);
            assert!(
                wa.as_secs_f64() >= low && wa.as_secs_f64() <= high,
                "{n}: {wa:?}"
            );
        }
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(a.uniform_ms(10) <= 10);
    }

    #[test]
    fn system_draws_stay_in_the_retry_range() {
        let policy = RetryPolicy::new(3, 2500);
        for n in 1..=12 {
            let w = SystemEntropy.retry_wait(&policy, n).as_secs_f64();
            let (low, high) = policy.range(n);
            assert!(w >= low && w <= high, "{n}: {w}");
        }
    }
}
