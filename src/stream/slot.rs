//! The latest-value slot: a bounded crossbeam channel of capacity one whose writer replaces
//! an unread value instead of waiting. A slow wall sees fewer pictures; the decoder never
//! blocks. Pictures go through it as [`FrameSlot`]; playback sends what it shows the same way.

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::media::SharedFrame;

/// Writer side, held by the producing thread.
pub struct Slot<T> {
    tx: Sender<T>,
    /// The writer's own handle on the slot, used only to throw away an unread value.
    stale: Receiver<T>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            stale: self.stale.clone(),
        }
    }
}

/// The decode thread's pictures for the wall.
pub type FrameSlot = Slot<SharedFrame>;

/// Reader side, held by the camera entity.
pub type FrameReceiver = Receiver<SharedFrame>;

impl<T> Slot<T> {
    pub fn new() -> (Self, Receiver<T>) {
        let (tx, rx) = bounded(1);
        (
            Self {
                tx,
                stale: rx.clone(),
            },
            rx,
        )
    }

    /// Puts `frame` in the slot, dropping the one there if the reader has not taken it.
    pub fn publish(&self, frame: T) {
        let mut frame = frame;
        // Two rounds at most: the reader may take the old picture between our two calls.
        for _ in 0..2 {
            match self.tx.try_send(frame) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    frame = back;
                    let _ = self.stale.try_recv();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Plane, VideoFrame};
    use std::sync::Arc;

    fn frame(seq: u64) -> SharedFrame {
        let plane = Plane {
            data: vec![],
            stride: 0,
            width: 0,
            height: 0,
        };
        Arc::new(VideoFrame {
            width: 2,
            height: 2,
            full_range: false,
            planes: [plane.clone(), plane.clone(), plane],
            seq,
            arrival: std::time::Instant::now(),
            capture_ms: None,
        })
    }

    #[test]
    fn keeps_only_the_newest_and_never_blocks() {
        let (slot, rx) = FrameSlot::new();
        for seq in 1..=100 {
            slot.publish(frame(seq));
        }
        assert_eq!(rx.try_recv().unwrap().seq, 100);
        assert!(rx.try_recv().is_err());
        slot.publish(frame(101));
        assert_eq!(rx.try_recv().unwrap().seq, 101);
    }
}
