//! Per-camera latency over the last few seconds: the latency we add (a frame's arrival to its
//! texture upload in a window, to its decoded picture headless) and, for cameras that burn
//! their capture clock into the picture, glass-to-glass. Samples come from whichever thread
//! sees the picture last (decode thread or render world); the ECS reads p50/p99 a few times a
//! second. Bounded: old samples fall out by age and by count.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back the percentiles look.
pub const WINDOW: Duration = Duration::from_secs(5);
/// Most samples kept per series (120 fps for the whole window, with room to spare).
const MAX_SAMPLES: usize = 1024;

/// Median and 99th percentile, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

/// Nearest-rank p50/p99 of `values` (`None` when empty). Sorts in place.
pub fn percentiles(values: &mut [f64]) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[i]
    };
    Some(Percentiles {
        p50: rank(0.50),
        p99: rank(0.99),
    })
}

#[derive(Debug, Default)]
struct Series(VecDeque<(Instant, f64)>);

impl Series {
    fn push(&mut self, at: Instant, ms: f64) {
        if self.0.len() == MAX_SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back((at, ms));
    }

    fn summary(&mut self, now: Instant) -> Option<Percentiles> {
        while self
            .0
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.0.pop_front();
        }
        let mut values: Vec<f64> = self.0.iter().map(|(_, v)| *v).collect();
        percentiles(&mut values)
    }
}

/// The latency samples of one camera.
#[derive(Debug, Default)]
pub struct LatencyMeter {
    series: Mutex<(Series, Series)>,
}

/// What a [`LatencyMeter`] says now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    /// Arrival → upload (window) or → decoded (headless).
    pub added: Option<Percentiles>,
    /// Capture → upload/decoded, for cameras that burn their clock in.
    pub glass: Option<Percentiles>,
}

impl LatencyMeter {
    /// One picture reached the end of our path at `at`: it arrived at `arrival`, and was
    /// captured `glass_ms` ago if the camera says so.
    pub fn record(&self, at: Instant, arrival: Instant, glass_ms: Option<u32>) {
        let added = at.saturating_duration_since(arrival).as_secs_f64() * 1000.0;
        if let Ok(mut s) = self.series.lock() {
            s.0.push(at, added);
            if let Some(g) = glass_ms {
                s.1.push(at, f64::from(g));
            }
        }
    }

    pub fn summary(&self, now: Instant) -> LatencySummary {
        match self.series.lock() {
            Ok(mut s) => LatencySummary {
                added: s.0.summary(now),
                glass: s.1.summary(now),
            },
            Err(_) => LatencySummary::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentiles(&mut []), None);
        let mut one = [7.0];
        assert_eq!(
            percentiles(&mut one),
            Some(Percentiles { p50: 7.0, p99: 7.0 })
        );
        let mut hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(
            percentiles(&mut hundred),
            Some(Percentiles {
                p50: 50.0,
                p99: 99.0
            })
        );
    }

    #[test]
    fn old_samples_leave_the_window() {
        let m = LatencyMeter::default();
        let t0 = Instant::now();
        m.record(t0 + Duration::from_millis(40), t0, Some(90));
        m.record(
            t0 + Duration::from_secs(3),
            t0 + Duration::from_secs(3) - Duration::from_millis(20),
            None,
        );
        let s = m.summary(t0 + Duration::from_secs(4));
        assert_eq!(s.added.map(|p| p.p99.round()), Some(40.0));
        assert_eq!(s.glass.map(|p| p.p50), Some(90.0));
        let s = m.summary(t0 + Duration::from_secs(6));
        assert_eq!(
            s.added.map(|p| p.p50.round()),
            Some(20.0),
            "only the newer one"
        );
        assert_eq!(s.glass, None, "the glass sample aged out");
        assert_eq!(m.summary(t0 + Duration::from_secs(20)).added, None);
    }
}
