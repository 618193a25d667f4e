//! Reconnect backoff: exponential, bounded and jittered. Pure; the caller
//! supplies the random draw so tests are deterministic.

use std::time::Duration;

/// Delays between reconnect attempts: attempt `n` waits a random time in
/// `[c/2, c]` where `c = min(max, initial * 2^n)` ("equal jitter": never
/// zero, so a rack of agents does not stampede a restarted manager, and
/// never above `max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0 for the first retry), with
    /// `jitter` in `[0, 1)`; values outside are clamped.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = self
            .initial
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ceiling.mul_f64(0.5 + 0.5 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(5),
    };

    #[test]
    fn grows_exponentially_until_the_bound() {
        let top: Vec<u128> = (0..10).map(|n| B.delay(n, 1.0).as_millis()).collect();
        assert_eq!(
            top,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
    }

    #[test]
    fn jitter_stays_within_half_and_full_ceiling() {
        for n in 0..40 {
            for j in [0.0, 0.25, 0.5, 0.999, -3.0, 7.0, f64::NAN] {
                let d = B.delay(n, j);
                let ceiling = B.delay(n, 1.0);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "attempt {n} jitter {j}: {d:?}"
                );
                assert!(d <= B.max);
                assert!(d > Duration::ZERO);
            }
        }
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        assert_eq!(B.delay(u32::MAX, 1.0), B.max);
    }
}
