//! Local HTTP servers, with no Bevy: the status/control API (`/api/status`, `/metrics`), the
//! snapshot of camera status it serves, and the port fallback policy every server uses.

pub mod api;
pub mod mjpeg;
pub mod ports;

use serde::Serialize;

/// What `/api/status` answers; written by the ECS, read by the API. No credentials in here:
/// URLs are redacted before they enter.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StatusSnapshot {
    pub cameras: Vec<CameraStatus>,
    pub api_port: u16,
}

/// One camera in [`StatusSnapshot`].
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CameraStatus {
    pub name: String,
    /// Redacted RTSP URL.
    pub url: String,
    /// `connecting`, `live`, `stalled`, `reconnecting`, `auth_failed` or `offline`.
    pub state: String,
    pub codec: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Frames received per second over the last few seconds.
    pub fps: f64,
    pub bitrate_bps: f64,
    /// Video frames received since start.
    pub frames: u64,
    /// Of those, decoded.
    pub decoded: u64,
    pub reconnects: u32,
    pub last_error: Option<String>,
    /// While connecting inside the startup grace.
    pub grace_secs_left: Option<f64>,
    pub ports: Ports,
    pub recording: RecordingStatus,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Ports {
    pub mjpeg: Option<u16>,
    pub audio: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RecordingStatus {
    pub active: bool,
    pub segments: u64,
    pub bytes: u64,
    pub current: Option<String>,
    /// Why recording is failing right now (disk full, unwritable directory …).
    pub error: Option<String>,
    /// The audio being recorded ("AAC 16000 Hz"), or why the camera's audio is not.
    pub audio: Option<String>,
}

/// The snapshot shared between the ECS (writer) and the API (readers).
pub type StatusBoard = std::sync::Arc<std::sync::RwLock<StatusSnapshot>>;
