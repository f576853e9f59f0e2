//! The delay after wrong passwords, per camera and per client, pure: every attempt reserves its
//! turn before the password is checked, and counts as wrong until it proves right, so attempts
//! sent together queue one delay after another (1 s after the first, doubling with each further
//! one, at most 60 s) instead of all being checked after one wait. A right password resets it.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(60);

/// Attempts queued further ahead than this are refused, not queued: a flood cannot push a
/// client's (or a shared address's) next turn days away.
pub const MAX_QUEUE: Duration = MAX;

#[derive(Debug, Clone, Default)]
pub struct Attempts {
    failures: u32,
    /// When the next attempt may be checked.
    next: Option<Instant>,
}

impl Attempts {
    /// Reserves an attempt arriving at `now`: the instant it may be checked. The one after it
    /// waits the delay this one earns if it is wrong.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let at = self.next.map_or(now, |n| n.max(now));
        self.failures = self.failures.saturating_add(1);
        self.next = Some(at + self.delay());
        at
    }

    /// A right password: no wait any more.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// Wrong attempts in a row (reserved ones counted).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay the current run of failures earns.
    pub fn delay(&self) -> Duration {
        match self.failures {
            0 => Duration::ZERO,
            n => FIRST.saturating_mul(1 << (n - 1).min(16)).min(MAX),
        }
    }

    /// How long an attempt at `now` still has to wait.
    pub fn wait(&self, now: Instant) -> Duration {
        self.next
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    /// Whether this record can be forgotten at `now`: its wait is over by long enough that a
    /// new run of failures starting from scratch loses the attacker nothing.
    pub fn stale(&self, now: Instant) -> bool {
        self.next
            .is_none_or(|t| now.saturating_duration_since(t) > MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_a_minute_and_counts_down() {
        let t0 = Instant::now();
        let mut a = Attempts::default();
        assert_eq!(a.wait(t0), Duration::ZERO);
        assert_eq!(a.reserve(t0), t0, "the first is checked at once");
        assert_eq!(a.wait(t0), Duration::from_secs(1));
        assert_eq!(
            a.wait(t0 + Duration::from_millis(400)),
            Duration::from_millis(600)
        );
        assert_eq!(a.wait(t0 + Duration::from_secs(5)), Duration::ZERO);
        for _ in 0..40 {
            a.reserve(t0 + Duration::from_secs(100_000));
        }
        assert_eq!(a.delay(), Duration::from_secs(60));
        a.succeeded();
        assert_eq!(a.wait(t0), Duration::ZERO);
        assert!(a.stale(t0));
    }

    #[test]
    fn attempts_sent_together_queue() {
        let t0 = Instant::now();
        let mut a = Attempts::default();
        let turns: Vec<u64> = (0..8)
            .map(|_| a.reserve(t0).duration_since(t0).as_secs())
            .collect();
        // Each waits for the one before it and the delay that one earned.
        assert_eq!(turns, vec![0, 1, 3, 7, 15, 31, 63, 123]);
        assert_eq!(a.wait(t0), Duration::from_secs(183));
        assert!(!a.stale(t0 + Duration::from_secs(183)));
        assert!(a.stale(t0 + Duration::from_secs(244)));
    }
}
