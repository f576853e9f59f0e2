//! Everything between a camera and the ECS, with no Bevy: the per-camera boundary types
//! (`CameraCommand` in, `CameraEvent` out, the latest-frame slot, counters and latency), the
//! retina session worker, its backoff schedule, the decode thread and the audio thread.

pub mod audio;
pub mod backoff;
pub mod decode;
pub mod latency;
pub mod probe;
pub mod slot;
mod spawn;
mod transcode;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::media::VideoCodec;

pub use latency::{LatencyMeter, Percentiles};
pub use slot::{Bell, FrameReceiver, FrameSlot, Slot};
pub use spawn::{CameraHandle, WorkerConfig, spawn_camera, spawn_camera_with};

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

/// What a worker reports about its session. State changes only: counters live in
/// [`StreamStats`], pictures in the frame slot.
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

/// Counters a worker and its decode thread bump and the ECS samples (monotonic), and the one
/// switch the ECS sets: whether anyone looks at the pictures.
#[derive(Debug)]
pub struct StreamStats {
    /// Copy decoded pictures out to the frame slot. Off in headless mode, where decoding
    /// still runs (it proves the stream decodes) but nobody displays the result.
    pub pictures_wanted: std::sync::atomic::AtomicBool,
    /// Send access units to the decoder at all (off: a headless recording box only remuxes).
    pub decode_wanted: std::sync::atomic::AtomicBool,
    /// Hold a session at all (off: a camera shown through its sub stream and not recording
    /// lets its main session go). MJPEG clients and audio listeners keep it wanted.
    pub session_wanted: std::sync::atomic::AtomicBool,
    /// Clients watching this camera's MJPEG stream: while above zero, pictures are decoded
    /// and handed to the JPEG encoder whatever the two switches above say.
    pub mjpeg_clients: std::sync::atomic::AtomicUsize,
    /// Video frames received from the camera.
    pub frames: AtomicU64,
    /// Bytes of video received.
    pub bytes: AtomicU64,
    /// Frames decoded to pictures.
    pub decoded: AtomicU64,
    /// Packets the decoder could not take in time (dropped until the next keyframe).
    pub dropped: AtomicU64,
    /// Packets the decoder rejected.
    pub decode_errors: AtomicU64,
    /// Added latency (arrival → decoded or shown) and glass-to-glass times.
    pub latency: LatencyMeter,
}

impl Default for StreamStats {
    fn default() -> Self {
        Self {
            pictures_wanted: std::sync::atomic::AtomicBool::new(true),
            decode_wanted: std::sync::atomic::AtomicBool::new(true),
            session_wanted: std::sync::atomic::AtomicBool::new(true),
            mjpeg_clients: std::sync::atomic::AtomicUsize::new(0),
            frames: AtomicU64::default(),
            bytes: AtomicU64::default(),
            decoded: AtomicU64::default(),
            dropped: AtomicU64::default(),
            decode_errors: AtomicU64::default(),
            latency: LatencyMeter::default(),
        }
    }
}

impl StreamStats {
    /// Counters at zero with these switches.
    pub fn switched(session: bool, decode: bool, pictures: bool) -> Self {
        let s = Self::default();
        s.session_wanted.store(session, Ordering::Relaxed);
        s.decode_wanted.store(decode, Ordering::Relaxed);
        s.pictures_wanted.store(pictures, Ordering::Relaxed);
        s
    }

    /// Whether anyone watches this camera's MJPEG stream.
    pub fn mjpeg_watched(&self) -> bool {
        self.mjpeg_clients.load(Ordering::Relaxed) > 0
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}
