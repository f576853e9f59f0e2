//! The wall's speaker: one camera audible at a time. Camera audio threads push decoded,
//! resampled mono samples for the camera that is audible (any other camera's are refused);
//! the output device (`device`, cpal) pulls them through a jitter buffer that starts playing
//! once [`TARGET`] is queued, drops the oldest samples above [`MAX`] (so it never drifts
//! behind the picture) and pads with silence when it runs dry. Mute, per-camera volume, a
//! level for the meter and the added delay (arrival at the camera's audio thread → handed to
//! the device) live here too. No Bevy.

pub mod device;
pub mod mic;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Queued before playing starts (and again after running dry).
pub const TARGET: Duration = Duration::from_millis(60);
/// Most ever queued; above it the oldest samples go.
pub const MAX: Duration = Duration::from_millis(200);

/// What the speaker is doing, for the overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeakerStatus {
    /// The device is being opened.
    Starting,
    /// Playing through this device.
    Playing(String),
    /// No sound, and why (no output device, the device failed …).
    NoSound(String),
}

struct State {
    audible: Option<String>,
    muted: bool,
    volumes: HashMap<String, f32>,
    queue: VecDeque<f32>,
    /// (total samples pushed once this chunk is in, its arrival), oldest first.
    stamps: VecDeque<(u64, Instant)>,
    pushed: u64,
    taken: u64,
    playing: bool,
    delays: VecDeque<Duration>,
    dropped: u64,
    padded: u64,
    status: SpeakerStatus,
}

/// The shared speaker.
pub struct Speaker {
    rate: AtomicU32,
    level_bits: AtomicU32,
    state: Mutex<State>,
}

impl Default for Speaker {
    fn default() -> Self {
        Self::new(48_000)
    }
}

/// Delay samples kept for [`Speaker::delays`].
const DELAYS_KEPT: usize = 4096;

impl Speaker {
    /// A speaker whose device plays at `rate` Hz (until a device says otherwise).
    pub fn new(rate: u32) -> Self {
        Self {
            rate: AtomicU32::new(rate.max(1)),
            level_bits: AtomicU32::new((-100.0f32).to_bits()),
            state: Mutex::new(State {
                audible: None,
                muted: false,
                volumes: HashMap::new(),
                queue: VecDeque::new(),
                stamps: VecDeque::new(),
                pushed: 0,
                taken: 0,
                playing: false,
                delays: VecDeque::new(),
                dropped: 0,
                padded: 0,
                status: SpeakerStatus::Starting,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rate samples must be pushed at.
    pub fn rate(&self) -> u32 {
        self.rate.load(Ordering::Relaxed)
    }

    /// The device's rate; what was queued at another rate is dropped.
    pub fn set_rate(&self, rate: u32) {
        if self.rate.swap(rate.max(1), Ordering::Relaxed) != rate {
            let mut s = self.state();
            s.queue.clear();
            s.stamps.clear();
            s.playing = false;
        }
    }

    /// Makes `camera` the audible one (`None`: silence). Changing it drops what was queued,
    /// so the new camera is heard at once.
    pub fn set_audible(&self, camera: Option<&str>) {
        let mut s = self.state();
        if s.audible.as_deref() != camera {
            s.audible = camera.map(str::to_owned);
            s.taken += s.queue.len() as u64;
            s.queue.clear();
            s.stamps.clear();
            s.playing = false;
        }
    }

    pub fn audible(&self) -> Option<String> {
        self.state().audible.clone()
    }

    pub fn is_audible(&self, camera: &str) -> bool {
        self.state().audible.as_deref() == Some(camera)
    }

    pub fn set_muted(&self, muted: bool) {
        self.state().muted = muted;
    }

    pub fn muted(&self) -> bool {
        self.state().muted
    }

    /// Volume of `camera`, 0..=1 (default 1).
    pub fn volume(&self, camera: &str) -> f32 {
        self.state().volumes.get(camera).copied().unwrap_or(1.0)
    }

    pub fn set_volume(&self, camera: &str, volume: f32) {
        self.state()
            .volumes
            .insert(camera.to_owned(), volume.clamp(0.0, 1.0));
    }

    pub fn status(&self) -> SpeakerStatus {
        self.state().status.clone()
    }

    pub fn set_status(&self, status: SpeakerStatus) {
        self.state().status = status;
    }

    /// The level of what the audible camera sends, dBFS (−100: silence), before mute and
    /// volume, for the meter.
    pub fn level_dbfs(&self) -> f32 {
        f32::from_bits(self.level_bits.load(Ordering::Relaxed))
    }

    /// Samples (mono, at [`Speaker::rate`]) of `camera` that arrived at `arrival`. Refused
    /// (false) unless `camera` is the audible one.
    pub fn push(&self, camera: &str, samples: &[f32], arrival: Instant) -> bool {
        let rate = f64::from(self.rate());
        let max = (MAX.as_secs_f64() * rate) as usize;
        let target = (TARGET.as_secs_f64() * rate) as usize;
        let mut s = self.state();
        if s.audible.as_deref() != Some(camera) {
            return false;
        }
        s.queue.extend(samples.iter().copied());
        s.pushed += samples.len() as u64;
        let pushed = s.pushed;
        s.stamps.push_back((pushed, arrival));
        if s.queue.len() > max {
            // Behind: the oldest go, down to the target (never drifting behind the picture).
            let drop = s.queue.len() - target;
            s.queue.drain(..drop);
            s.taken += drop as u64;
            s.dropped += drop as u64;
            let taken = s.taken;
            while s.stamps.front().is_some_and(|(end, _)| *end <= taken) {
                s.stamps.pop_front();
            }
        }
        true
    }

    /// Fills `out` (mono, at [`Speaker::rate`]) for the device, at `now`.
    pub fn pull(&self, out: &mut [f32], now: Instant) {
        let target = (TARGET.as_secs_f64() * f64::from(self.rate())) as usize;
        let mut s = self.state();
        if !s.playing && s.queue.len() >= target.max(1) {
            s.playing = true;
        }
        let n = if s.playing {
            s.queue.len().min(out.len())
        } else {
            0
        };
        let gain = match &s.audible {
            _ if s.muted => 0.0,
            Some(c) => s.volumes.get(c).copied().unwrap_or(1.0),
            None => 0.0,
        };
        let mut energy = 0.0f32;
        for (o, v) in out.iter_mut().zip(s.queue.drain(..n)) {
            energy += v * v;
            *o = v * gain;
        }
        out[n..].fill(0.0);
        if s.playing && n < out.len() {
            s.padded += (out.len() - n) as u64;
            s.playing = false;
        }
        s.taken += n as u64;
        let taken = s.taken;
        while let Some(&(end, arrival)) = s.stamps.front() {
            if end > taken {
                break;
            }
            s.stamps.pop_front();
            if s.delays.len() == DELAYS_KEPT {
                s.delays.pop_front();
            }
            s.delays.push_back(now.saturating_duration_since(arrival));
        }
        if n > 0 {
            let level = 10.0 * (energy / n as f32).max(1e-10).log10();
            self.level_bits.store(level.to_bits(), Ordering::Relaxed);
        } else if s.audible.is_none() || !s.playing {
            self.level_bits
                .store((-100.0f32).to_bits(), Ordering::Relaxed);
        }
    }

    /// Added delays measured so far (oldest first; the last [`DELAYS_KEPT`]).
    pub fn delays(&self) -> Vec<Duration> {
        self.state().delays.iter().copied().collect()
    }

    /// Samples dropped (queue too long) and padded (queue ran dry).
    pub fn corrections(&self) -> (u64, u64) {
        let s = self.state();
        (s.dropped, s.padded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 8000;
    const MS: usize = 8; // samples per millisecond at 8 kHz

    #[test]
    fn only_the_audible_camera_is_heard_and_switching_drops_the_old_sound() {
        let sp = Speaker::new(RATE);
        let t = Instant::now();
        assert!(!sp.push("A", &[0.5; 800], t), "nobody is audible yet");
        sp.set_audible(Some("A"));
        assert!(sp.push("A", &[0.5; 800], t));
        assert!(!sp.push("B", &[0.9; 800], t));
        let mut out = vec![0.0; 160];
        sp.pull(&mut out, t);
        assert!(out.iter().all(|v| *v == 0.5));
        sp.set_audible(Some("B"));
        sp.pull(&mut out, t);
        assert!(out.iter().all(|v| *v == 0.0), "A's queued sound is gone");
        sp.push("B", &[0.9; 800], t);
        sp.set_muted(true);
        sp.pull(&mut out, t);
        assert!(out.iter().all(|v| *v == 0.0), "muted");
        assert!(sp.level_dbfs() > -2.0, "the meter still shows B's level");
        sp.set_muted(false);
        sp.set_volume("B", 0.5);
        sp.pull(&mut out, t);
        assert!(out.iter().all(|v| (*v - 0.45).abs() < 1e-6));
    }

    #[test]
    fn the_jitter_buffer_waits_for_its_target_pads_when_dry_and_drops_when_behind() {
        let sp = Speaker::new(RATE);
        sp.set_audible(Some("A"));
        let t0 = Instant::now();
        let mut out = vec![0.0; 20 * MS];
        // 40 ms queued: below the 60 ms target, so silence.
        sp.push("A", &[0.25; 40 * MS], t0);
        sp.pull(&mut out, t0);
        assert!(out.iter().all(|v| *v == 0.0));
        sp.push("A", &[0.25; 40 * MS], t0);
        sp.pull(&mut out, t0 + Duration::from_millis(20));
        assert!(out.iter().all(|v| *v == 0.25), "80 ms queued: playing");
        // 60 ms left; pull 80 ms: the tail is padded and playing stops until refilled.
        let mut big = vec![1.0; 80 * MS];
        sp.pull(&mut big, t0 + Duration::from_millis(100));
        assert!(big[..60 * MS].iter().all(|v| *v == 0.25));
        assert!(big[60 * MS..].iter().all(|v| *v == 0.0));
        assert_eq!(sp.corrections(), (0, 20 * MS as u64));
        // A burst of 500 ms (a stalled network catching up) is cut to the target.
        let t1 = t0 + Duration::from_secs(1);
        sp.push("A", &[0.5; 500 * MS], t1);
        let (dropped, _) = sp.corrections();
        assert_eq!(dropped, (500 - 60) as u64 * MS as u64);
        let mut rest = vec![0.0; 100 * MS];
        sp.pull(&mut rest, t1 + Duration::from_millis(5));
        assert!(rest[..60 * MS].iter().all(|v| *v == 0.5));
        // Delays are arrival → handed over: 100 ms for the first chunk, 5 ms for the burst.
        let d = sp.delays();
        assert_eq!(d.first(), Some(&Duration::from_millis(100)), "{d:?}");
        assert_eq!(d.last(), Some(&Duration::from_millis(5)), "{d:?}");
    }
}
