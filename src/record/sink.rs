//! The worker's end of a recorder and the two bounded lanes behind it: media (lossy: when it
//! is full the frame is dropped and the next frame queued carries a gap mark, so the segment
//! closes there) and control (session ends). Every unit carries its session, so the recorder
//! can rebuild the order the two lanes lose.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::media::{AudioUnit, MediaSink, SessionInfo, VideoUnit};

/// What the media lane carries.
#[derive(Debug, Clone)]
pub(super) enum Media {
    Video {
        session: Arc<SessionInfo>,
        unit: VideoUnit,
        /// Frames were dropped before this one: the segment must not run across the gap.
        after_gap: bool,
    },
    Audio {
        session: Arc<SessionInfo>,
        unit: AudioUnit,
    },
}

/// What the control lane carries.
#[derive(Debug, Clone, Copy)]
pub(super) enum Control {
    SessionEnded(u64),
}

/// Frames the recorder may lag behind before the worker drops (and restarts at a keyframe):
/// about 20 s at 25 fps, so a slow disk moment loses nothing.
const RECORD_QUEUE: usize = 512;

/// Session ends waiting for the recorder. Two per reconnect at most; if even this fills up
/// (a recorder stuck for minutes), the sessions' own ids still separate the segments.
const CONTROL_QUEUE: usize = 16;

/// The worker's end of a recorder: a [`MediaSink`] that never blocks.
pub struct RecordSink {
    media: Sender<Media>,
    control: Sender<Control>,
    /// Set when a video frame could not be queued; the next one queued carries the gap.
    gap: AtomicBool,
}

impl MediaSink for RecordSink {
    fn video(&self, session: &Arc<SessionInfo>, unit: &VideoUnit) {
        let item = Media::Video {
            session: session.clone(),
            unit: unit.clone(),
            after_gap: self.gap.load(Ordering::Relaxed),
        };
        match self.media.try_send(item) {
            Ok(()) => self.gap.store(false, Ordering::Relaxed),
            Err(TrySendError::Full(_)) => self.gap.store(true, Ordering::Relaxed),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn audio(&self, session: &Arc<SessionInfo>, unit: &AudioUnit) {
        let _ = self.media.try_send(Media::Audio {
            session: session.clone(),
            unit: unit.clone(),
        });
    }

    fn session_ended(&self, id: u64) {
        if let Err(TrySendError::Full(_)) = self.control.try_send(Control::SessionEnded(id)) {
            tracing::warn!(
                "recorder far behind: session {id}'s end is not queued (its next frames close the segment)"
            );
        }
    }
}

/// The recorder thread's end of the lanes.
pub(super) struct Lanes {
    pub media: Receiver<Media>,
    pub control: Receiver<Control>,
}

/// A sink and the lanes it feeds.
pub(super) fn lanes() -> (RecordSink, Lanes) {
    let (media_tx, media) = bounded(RECORD_QUEUE);
    let (control_tx, control) = bounded(CONTROL_QUEUE);
    let sink = RecordSink {
        media: media_tx,
        control: control_tx,
        gap: AtomicBool::new(false),
    };
    (sink, Lanes { media, control })
}
