//! The simulated camera's RTSP sessions: the tracks a session has set up (picture, sound,
//! backchannel), and the per-camera count that enforces `max_sessions` (a camera at its limit
//! answers `453 Not Enough Bandwidth`, as cheap cameras do).

use std::sync::Arc;

use super::Shared;
use super::send::Delivery;
use super::talk::TalkIn;
use crate::restream::rtp::RtpState;

/// A camera's tracks: `trackID=0` is the picture, `trackID=1` the sound (when it has one),
/// `trackID=2` the ONVIF backchannel (when asked for and on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    Video,
    Audio,
    Backchannel,
}

impl Media {
    pub(super) fn track_id(self) -> u8 {
        match self {
            Self::Video => 0,
            Self::Audio => 1,
            Self::Backchannel => 2,
        }
    }
}

/// One set-up track of a session.
pub(super) struct TrackState {
    pub(super) media: Media,
    pub(super) delivery: Delivery,
    pub(super) rtp: RtpState,
    pub(super) rtp_base: u32,
}

pub(super) struct SessionState {
    pub(super) id: String,
    pub(super) camera: usize,
    /// The camera's sub stream (`/camN/sub`), not its main one.
    pub(super) sub: bool,
    /// Counts the session against the camera's limit while it lives.
    pub(super) _slot: SessionSlot,
    pub(super) tracks: Vec<TrackState>,
    pub(super) senders: Vec<tokio::task::JoinHandle<()>>,
    /// The backchannel's receiver, once set up.
    pub(super) talk: Option<TalkIn>,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        for s in self.senders.drain(..) {
            s.abort();
        }
    }
}

/// One open session of a camera, counted until dropped (TEARDOWN or the connection ends).
pub(super) struct SessionSlot {
    pub(super) shared: Arc<Shared>,
    pub(super) camera: usize,
}

impl SessionSlot {
    /// A place for one more session of `camera`, unless it has `max_sessions` already.
    pub(super) fn claim(shared: &Arc<Shared>, camera: usize) -> Option<Self> {
        let mut open = shared.open_sessions.lock().expect("sessions lock");
        let n = open.get_mut(camera)?;
        if shared.config.max_sessions.is_some_and(|max| *n >= max) {
            return None;
        }
        *n += 1;
        Some(Self {
            shared: shared.clone(),
            camera,
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if let Some(n) = self
            .shared
            .open_sessions
            .lock()
            .expect("sessions lock")
            .get_mut(self.camera)
        {
            *n = n.saturating_sub(1);
        }
    }
}
