//! The reconnect schedule: 1 s doubling to 30 s with ±20 % jitter, reset after a minute live,
//! and a 60 s floor after an authentication failure. Pure: the caller supplies the randomness.

use std::time::Duration;

/// Delay before reconnect attempt n.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Fraction of the delay added or removed at random (0.2 = ±20 %).
    jitter: f64,
    failures: u32,
}

/// A session that stayed live this long starts the schedule again from `initial`.
pub const RESET_AFTER_LIVE: Duration = Duration::from_secs(60);
/// Never retry rejected credentials faster than this: cameras lock accounts after a few tries.
pub const AUTH_RETRY: Duration = Duration::from_secs(60);

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30), 0.2)
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, jitter: f64) -> Self {
        Self {
            initial,
            max,
            jitter: jitter.clamp(0.0, 1.0),
            failures: 0,
        }
    }

    /// The delay before the next attempt; `unit` is a uniform random number in `[0, 1)`.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        base.mul_f64(1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0))
    }

    /// After an authentication failure: the schedule's delay, but at least [`AUTH_RETRY`].
    pub fn next_auth_delay(&mut self, unit: f64) -> Duration {
        self.next_delay(unit).max(AUTH_RETRY)
    }

    /// Called when a session ends: one that was live long enough resets the schedule.
    pub fn session_ended(&mut self, live_for: Option<Duration>) {
        if live_for.is_some_and(|d| d >= RESET_AFTER_LIVE) {
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn doubles_to_the_cap_without_jitter() {
        let mut b = Backoff::default();
        let got: Vec<f64> = (0..8).map(|_| secs(b.next_delay(0.5))).collect();
        assert_eq!(got, [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let table = [
            (0.0, 0.8),
            (0.25, 0.9),
            (0.5, 1.0),
            (0.75, 1.1),
            (0.999_999, 1.2),
        ];
        for (unit, want) in table {
            let d = Backoff::default().next_delay(unit);
            assert!((secs(d) - want).abs() < 1e-3, "unit {unit}: {d:?}");
        }
        let mut b = Backoff::default();
        for _ in 0..40 {
            let d = b.next_delay(0.999);
            assert!(secs(d) <= 36.0, "{d:?}");
        }
    }

    #[test]
    fn resets_only_after_a_minute_live() {
        let mut b = Backoff::default();
        b.next_delay(0.5);
        b.next_delay(0.5);
        b.session_ended(Some(Duration::from_secs(59)));
        assert_eq!(secs(b.next_delay(0.5)), 4.0);
        b.session_ended(None);
        assert_eq!(secs(b.next_delay(0.5)), 8.0);
        b.session_ended(Some(Duration::from_secs(60)));
        assert_eq!(secs(b.next_delay(0.5)), 1.0);
    }

    #[test]
    fn auth_failures_wait_at_least_a_minute() {
        let mut b = Backoff::default();
        assert_eq!(b.next_auth_delay(0.0), AUTH_RETRY);
        for _ in 0..10 {
            assert!(b.next_auth_delay(0.0) >= AUTH_RETRY);
        }
    }
}
