//! The delay after wrong passwords, per camera, pure: 1 s after the first, doubling with each
//! further one, at most 60 s; a right password resets it.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct Attempts {
    failures: u32,
    last: Option<Instant>,
}

impl Attempts {
    pub fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.last = Some(now);
    }

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
        self.last.map_or(Duration::ZERO, |t| {
            (t + self.delay()).saturating_duration_since(now)
        })
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
        a.failed(t0);
        assert_eq!(a.wait(t0), Duration::from_secs(1));
        assert_eq!(
            a.wait(t0 + Duration::from_millis(400)),
            Duration::from_millis(600)
        );
        assert_eq!(a.wait(t0 + Duration::from_secs(5)), Duration::ZERO);
        for _ in 0..40 {
            a.failed(t0);
        }
        assert_eq!(a.delay(), Duration::from_secs(60));
    }
}
