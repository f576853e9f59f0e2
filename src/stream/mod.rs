//! Everything between a camera and the ECS, with no Bevy: the per-camera boundary types
//! (`CameraCommand` and the [`Demand`] in; `CameraEvent`, the latest-frame slot and the
//! published [`Figures`] out), the
//! retina session worker, its backoff schedule, the decode thread and the audio thread.

pub mod audio;
pub mod backoff;
pub mod decode;
pub mod latency;
pub mod probe;
mod session;
pub mod slot;
mod spawn;
mod transcode;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::media::VideoCodec;

pub use latency::{LatencyMeter, Percentiles};
pub use slot::{Bell, FrameReceiver, FrameSlot, Slot};
pub use spawn::{
    CameraHandle, MotionProbe, MotionSettings, WorkerConfig, spawn_camera, spawn_camera_with,
};

/// Commands from the ECS to one camera's worker (bounded channel).
#[derive(Debug, Clone)]
pub enum CameraCommand {
    /// Close the session (sending TEARDOWN) and end the worker.
    Shutdown,
    /// Close the session and go on at once with these settings (URL, credentials,
    /// transport): the recorder sees a new session, so a new segment; decode thread, servers
    /// and counters stay.
    Reconfigure(Box<WorkerConfig>),
}

/// Commands are equal when they would do the same: a reconfiguration by its camera and URL.
impl PartialEq for CameraCommand {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Shutdown, Self::Shutdown) => true,
            (Self::Reconfigure(a), Self::Reconfigure(b)) => a.name == b.name && a.url == b.url,
            _ => false,
        }
    }
}

/// What a worker reports about its session. State changes only: counters live in its
/// [`Figures`], pictures in the frame slot.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraEvent {
    /// Opening session number `attempt` (1-based; DESCRIBE/SETUP/PLAY, then the first frame).
    Connecting { attempt: u32 },
    /// The first frame of a session arrived.
    Live {
        codec: VideoCodec,
        width: u32,
        height: u32,
    },
    /// No frame for `after` on a live session; it is being closed.
    Stalled { after: Duration },
    /// The session ended or could not be opened; the next try starts after `delay`.
    Reconnecting { delay: Duration, error: String },
    /// The camera refused the credentials (401/403); the next try starts after `retry_in`.
    AuthFailed { retry_in: Duration, error: String },
    /// The session was closed (or not opened) because nobody needs it: another stream of the
    /// camera is shown and nothing records or listens. Not a failure.
    Standby,
    /// The worker ended (shutdown).
    Stopped,
}

/// What the ECS asks of one stream's worker, sent on a `watch` (the newest wins). The ECS is
/// its only writer; the worker and its decode thread read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Hold a session at all (off: a camera shown through its sub stream and not recording
    /// lets its main session go). MJPEG clients and audio listeners keep it wanted on their own.
    pub session: bool,
    /// Send access units to the decoder at all (off: a headless recording box only remuxes).
    pub decode: bool,
    /// Copy decoded pictures out to the frame slot. Off in headless mode, where decoding
    /// still runs (it proves the stream decodes) but nobody displays the result.
    pub pictures: bool,
    /// Look for motion in the pictures (a session and decoding whatever else is wanted; the
    /// stream's [`MotionProbe`] analyses at most five pictures a second).
    pub motion: bool,
}

impl Demand {
    /// Everything: a session, decoding, pictures.
    pub const ALL: Self = Self {
        session: true,
        decode: true,
        pictures: true,
        motion: false,
    };
}

/// Figures a worker and its decode thread publish about their stream: monotonic counters only
/// they write (the ECS samples them), and the latency of pictures whose path ends in the
/// decoder (nobody displays them: headless).
#[derive(Debug, Default)]
pub struct Figures {
    frames: AtomicU64,
    bytes: AtomicU64,
    decoded: AtomicU64,
    dropped: AtomicU64,
    decode_errors: AtomicU64,
    /// Arrival → decoded, for pictures nobody displays.
    pub(crate) decoded_latency: LatencyMeter,
}

impl Figures {
    /// Video frames received from the camera.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Bytes of video received.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Frames decoded to pictures.
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }

    /// Packets the decoder could not take in time (dropped until the next keyframe).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Packets the decoder rejected.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors.load(Ordering::Relaxed)
    }

    /// What the decoder end says about latency now (see [`Figures::decoded_latency`]).
    pub fn decoded_latency(&self, now: std::time::Instant) -> latency::LatencySummary {
        self.decoded_latency.summary(now)
    }

    fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// Clients watching a camera's MJPEG stream (or a snapshot waiting for its picture): while
/// any is counted, the camera holds its session and decodes for the JPEG encoder whatever
/// the [`Demand`] says. Only the MJPEG server counts them.
#[derive(Debug, Default)]
pub struct Viewers(std::sync::atomic::AtomicUsize);

impl Viewers {
    pub fn watched(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    pub fn arrive(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn leave(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
