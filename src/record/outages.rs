//! When a camera's recording failed, as spans (pure): a failure seconds after the last one
//! extends it, so a disk that stays full for an hour is one outage with its first reason, not
//! a thousand. Kept in memory for the listing of recordings (a full disk cannot hold a note
//! about itself); the oldest are forgotten beyond [`MAX_OUTAGES`].

use std::collections::VecDeque;

/// Outages kept per camera.
pub const MAX_OUTAGES: usize = 64;

/// Failures at most this far apart (ms) are one outage (the recorder retries every 3 s).
const JOIN_MS: i64 = 10_000;

/// Recording failed from `from_ms` to `to_ms` (Unix ms) because of `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub from_ms: i64,
    pub to_ms: i64,
    pub reason: String,
}

/// A camera's recent outages, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outages(VecDeque<Outage>);

/// Shared between the recorder thread (writer) and the servers (readers).
pub type SharedOutages = std::sync::Arc<std::sync::Mutex<Outages>>;

impl Outages {
    /// A failure at `at_ms`.
    pub fn failed(&mut self, at_ms: i64, reason: &str) {
        if let Some(last) = self.0.back_mut()
            && at_ms >= last.from_ms
            && at_ms.saturating_sub(last.to_ms) <= JOIN_MS
        {
            last.to_ms = last.to_ms.max(at_ms);
            return;
        }
        if self.0.len() == MAX_OUTAGES {
            self.0.pop_front();
        }
        self.0.push_back(Outage {
            from_ms: at_ms,
            to_ms: at_ms,
            reason: reason.to_owned(),
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Outage> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_are_one_outage() {
        let mut o = Outages::default();
        for at in (0..60_000).step_by(3000) {
            o.failed(
                1_000_000 + at,
                if at == 0 { "disk full" } else { "still full" },
            );
        }
        o.failed(2_000_000, "unwritable");
        let all: Vec<&Outage> = o.iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].from_ms, all[0].to_ms, all[0].reason.as_str()),
            (1_000_000, 1_057_000, "disk full")
        );
        assert_eq!(all[1].reason, "unwritable");
        for i in 0..100 {
            o.failed(3_000_000 + i * 100_000, "again");
        }
        assert_eq!(o.iter().count(), MAX_OUTAGES);
    }
}
