//! Everything between a camera and the ECS, with no Bevy: the per-camera boundary types
//! (`CameraCommand` in, `CameraEvent` out, the latest-frame slot), the retina session worker,
//! its backoff schedule and the decode thread.

pub mod audio;
pub mod backoff;
pub mod decode;
pub mod nal;
pub mod slot;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use slot::{FrameReceiver, FrameSlot};
pub use worker::{CameraHandle, WorkerConfig, spawn_camera};

/// Commands from the ECS to one camera's worker (bounded channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraCommand {
    /// Close the session (sending TEARDOWN) and end the worker.
    Shutdown,
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
    /// The worker ended (shutdown).
    Stopped,
}

/// Video codecs the wall decodes and the recorder remuxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// From retina's (lower-case) SDP encoding name.
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "h264" => Some(Self::H264),
            "h265" => Some(Self::H265),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
        }
    }
}

/// Audio codecs the recorder stores (AAC in MP4 and MKV, G.711 in MKV only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    Aac,
    Pcma,
    Pcmu,
}

impl AudioCodec {
    /// From retina's (lower-case) SDP encoding name; AAC only as `mpeg4-generic`.
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mpeg4-generic" => Some(Self::Aac),
            "pcma" => Some(Self::Pcma),
            "pcmu" => Some(Self::Pcmu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aac => "AAC",
            Self::Pcma => "G.711 A-law",
            Self::Pcmu => "G.711 µ-law",
        }
    }
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
    /// Frames the recorder could not take in time (the segment was closed there).
    pub record_dropped: AtomicU64,
}

impl Default for StreamStats {
    fn default() -> Self {
        Self {
            pictures_wanted: std::sync::atomic::AtomicBool::new(true),
            decode_wanted: std::sync::atomic::AtomicBool::new(true),
            mjpeg_clients: std::sync::atomic::AtomicUsize::new(0),
            frames: AtomicU64::default(),
            bytes: AtomicU64::default(),
            decoded: AtomicU64::default(),
            dropped: AtomicU64::default(),
            decode_errors: AtomicU64::default(),
            record_dropped: AtomicU64::default(),
        }
    }
}

impl StreamStats {
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

/// One decoded picture in planar YUV 4:2:0, as FFmpeg laid it out (rows may be padded:
/// `stride >= width`). Shared by `Arc` from the decode thread to the GPU upload.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    /// JPEG/full-range levels (0..255) instead of video range (16..235).
    pub full_range: bool,
    /// Y, U, V.
    pub planes: [Plane; 3],
    /// Counts pictures of this camera, from 1.
    pub seq: u64,
}

/// One plane of a [`VideoFrame`].
#[derive(Debug, Clone)]
pub struct Plane {
    pub data: Vec<u8>,
    pub stride: u32,
    pub width: u32,
    pub height: u32,
}

pub type SharedFrame = Arc<VideoFrame>;
