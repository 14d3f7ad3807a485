//! The neighbourhood power cut: which devices lose power, and when it comes back.

use std::collections::HashSet;
use std::sync::Arc;

use super::host::mix;

/// Broadcast to every device task: the devices in `victims` lose power now and boot together at
/// `back_at`.
#[derive(Debug, Clone)]
pub struct PowerState {
    pub victims: Arc<HashSet<u32>>,
    pub back_at: tokio::time::Instant,
}

impl Default for PowerState {
    fn default() -> Self {
        PowerState {
            victims: Arc::new(HashSet::new()),
            back_at: tokio::time::Instant::now(),
        }
    }
}

/// The victims of a cut of `fraction` of `indices`, chosen by `seed` (deterministic).
pub fn victims(indices: std::ops::Range<u32>, fraction: f64, seed: u64) -> HashSet<u32> {
    let threshold = (fraction.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
    indices
        .filter(|i| fraction >= 1.0 || mix(seed ^ mix(u64::from(*i))) < threshold)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_takes_about_the_fraction_asked_for() {
        let v = victims(0..10_000, 0.3, 7);
        assert!((2_700..3_300).contains(&v.len()), "{}", v.len());
        assert_eq!(v, victims(0..10_000, 0.3, 7), "deterministic");
        assert_eq!(victims(0..100, 1.0, 1).len(), 100);
        assert!(victims(0..100, 0.0, 1).is_empty());
    }
}
