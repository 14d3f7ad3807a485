//! TR-069's session retry wait (§3.2.1.1): the n-th consecutive retry after failed sessions
//! waits a uniformly random time in `[m·k^(n−1), m·k^n]` seconds, where
//! `m = CWMPRetryMinimumWaitInterval` (default 5 s), `k = CWMPRetryIntervalMultiplier / 1000`
//! (default 2.0), and n is capped at 10.
//!
//! The draw is made by the `backoff` crate. That crate is unmaintained (RUSTSEC-2025-0012), so
//! it is used only inside this module, behind [`RetryPolicy::wait`]: swapping it (e.g. for
//! `backon`) touches nothing else.
//!
//! `backoff`'s exponential policy draws from `[c·(1−r), c·(1+r)]` around a current interval `c`
//! that is multiplied by `k` after each draw. Choosing `c₁ = m·(1+k)/2` and `r = (k−1)/(k+1)`
//! makes its n-th range exactly `[m·k^(n−1), m·k^n]`.

use std::time::Duration;

use backoff::ExponentialBackoff;
use backoff::backoff::Backoff;

/// The retry count at which the wait stops growing.
pub const MAX_EXPONENT: u32 = 10;

/// Waits longer than this are clamped (only reachable with absurd m and k settings), so the
/// arithmetic can never overflow a `Duration`.
const MAX_WAIT_SECONDS: f64 = u32::MAX as f64;

/// The two ManagementServer parameters that shape the retry wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// CWMPRetryMinimumWaitInterval, seconds, 1..=65535.
    pub minimum_wait_seconds: u32,
    /// CWMPRetryIntervalMultiplier, thousandths, 1000..=65535.
    pub interval_multiplier: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            minimum_wait_seconds: 5,
            interval_multiplier: 2000,
        }
    }
}

impl RetryPolicy {
    /// A policy from the parameter values, clamped into their legal ranges.
    pub fn new(minimum_wait_seconds: u32, interval_multiplier: u32) -> RetryPolicy {
        RetryPolicy {
            minimum_wait_seconds: minimum_wait_seconds.clamp(1, 65_535),
            interval_multiplier: interval_multiplier.clamp(1000, 65_535),
        }
    }

    fn m(&self) -> f64 {
        f64::from(self.minimum_wait_seconds.clamp(1, 65_535))
    }

    fn k(&self) -> f64 {
        f64::from(self.interval_multiplier.clamp(1000, 65_535)) / 1000.0
    }

    /// The closed range, in seconds, the wait before retry number `retry_count` (≥ 1) lies in.
    pub fn range(&self, retry_count: u32) -> (f64, f64) {
        let n = retry_count.clamp(1, MAX_EXPONENT) as i32;
        let (m, k) = (self.m(), self.k());
        let low = (m * k.powi(n - 1)).min(MAX_WAIT_SECONDS);
        let high = (m * k.powi(n)).min(MAX_WAIT_SECONDS);
        (low, high)
    }

    /// Draws the wait before retry number `retry_count` (the count of consecutive failed
    /// sessions, ≥ 1; 0 is treated as 1).
    pub fn wait(&self, retry_count: u32) -> Duration {
        let n = retry_count.clamp(1, MAX_EXPONENT);
        let (low, high) = self.range(n);
        let centre = (low + high) / 2.0;
        let randomization_factor = if centre > 0.0 {
            (high - low) / (high + low)
        } else {
            0.0
        };
        let centre = Duration::from_secs_f64(centre);
        let mut backoff = ExponentialBackoff {
            current_interval: centre,
            initial_interval: centre,
            randomization_factor,
            multiplier: self.k(),
            max_interval: centre,
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        // With max_elapsed_time = None the policy never gives up; fall back to the range's
        // middle rather than panicking should that ever change.
        let drawn = backoff.next_backoff().unwrap_or(centre);
        // backoff's draw includes its upper bound plus up to one nanosecond of rounding; keep the
        // result inside TR-069's closed range.
        drawn.clamp(Duration::from_secs_f64(low), Duration::from_secs_f64(high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ranges_match_the_spec_table() {
        let p = RetryPolicy::default();
        let table = [
            (1, 5.0, 10.0),
            (2, 10.0, 20.0),
            (3, 20.0, 40.0),
            (4, 40.0, 80.0),
            (5, 80.0, 160.0),
            (6, 160.0, 320.0),
            (7, 320.0, 640.0),
            (8, 640.0, 1280.0),
            (9, 1280.0, 2560.0),
            (10, 2560.0, 5120.0),
            (11, 2560.0, 5120.0),
            (100, 2560.0, 5120.0),
        ];
        for (n, lo, hi) in table {
            assert_eq!(p.range(n), (lo, hi), "n = {n}");
        }
    }

    #[test]
    fn thousands_of_draws_lie_in_range_for_every_n() {
        for policy in [
            RetryPolicy::default(),
            RetryPolicy::new(1, 1000),
            RetryPolicy::new(30, 1500),
            RetryPolicy::new(65_535, 65_535),
            RetryPolicy::new(7, 3333),
        ] {
            for n in 1..=12 {
                let (lo, hi) = policy.range(n);
                let (lo_d, hi_d) = (Duration::from_secs_f64(lo), Duration::from_secs_f64(hi));
                let mut min_seen = Duration::MAX;
                let mut max_seen = Duration::ZERO;
                for _ in 0..3000 {
                    let w = policy.wait(n);
                    assert!(
                        w >= lo_d && w <= hi_d,
                        "{policy:?} n={n}: {w:?} outside [{lo}, {hi}]"
                    );
                    min_seen = min_seen.min(w);
                    max_seen = max_seen.max(w);
                }
                // The draw is random, not pinned to one end: with 3000 uniform draws both the
                // lower and the upper tenth of the range are hit (probability of failure ~1e-137).
                if hi > lo {
                    let span = hi - lo;
                    assert!(
                        min_seen.as_secs_f64() < lo + span * 0.1,
                        "{policy:?} n={n}: never near the low end"
                    );
                    assert!(
                        max_seen.as_secs_f64() > hi - span * 0.1,
                        "{policy:?} n={n}: never near the high end"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_is_treated_as_the_first_retry_and_settings_are_clamped() {
        let p = RetryPolicy::new(0, 0);
        assert_eq!(p, RetryPolicy::new(1, 1000));
        assert_eq!(p.range(0), (1.0, 1.0));
        assert_eq!(p.wait(0), Duration::from_secs(1));
    }
}
