//! The latest-value slot: a bounded crossbeam channel of capacity one whose writer replaces
//! an unread value instead of waiting. A slow wall sees fewer pictures; the decoder never
//! blocks. Pictures go through it as [`FrameSlot`]; playback sends what it shows the same way.
//! A slot may ring a [`Bell`] on each value, so a reader that sleeps until something changes
//! (the wall's window) wakes when one arrives.

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::media::SharedFrame;

/// A wake-up call with a memory of one: ringing never blocks, and rings not yet heard are
/// one ring. Pictures, worker events and API commands ring it; the wall's pacer listens and
/// wakes the window's event loop (headless, nobody listens and a ring costs one failed
/// `try_send`).
#[derive(Clone, Debug)]
pub struct Bell {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for Bell {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        Self { tx, rx }
    }
}

impl Bell {
    pub fn ring(&self) {
        let _ = self.tx.try_send(());
    }

    /// The listening end: `recv` returns once per ring heard (rings while unheard are one).
    pub fn listener(&self) -> Receiver<()> {
        self.rx.clone()
    }
}

/// Writer side, held by the producing thread.
pub struct Slot<T> {
    tx: Sender<T>,
    /// The writer's own handle on the slot, used only to throw away an unread value.
    stale: Receiver<T>,
    bell: Option<Bell>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            stale: self.stale.clone(),
            bell: self.bell.clone(),
        }
    }
}

/// The decode thread's pictures for the wall.
pub type FrameSlot = Slot<SharedFrame>;

/// Reader side, held by the camera entity.
pub type FrameReceiver = Receiver<SharedFrame>;

impl<T> Slot<T> {
    pub fn new() -> (Self, Receiver<T>) {
        Self::with_bell(None)
    }

    /// A slot that rings `bell` on each value it publishes.
    pub fn with_bell(bell: Option<Bell>) -> (Self, Receiver<T>) {
        let (tx, rx) = bounded(1);
        (
            Self {
                tx,
                stale: rx.clone(),
                bell,
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
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    frame = back;
                    let _ = self.stale.try_recv();
                }
            }
        }
        if let Some(bell) = &self.bell {
            bell.ring();
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

    #[test]
    fn rings_once_for_many_values_until_heard() {
        let bell = Bell::default();
        let heard = bell.listener();
        let (slot, rx) = FrameSlot::with_bell(Some(bell));
        assert!(heard.try_recv().is_err());
        for seq in 1..=10 {
            slot.publish(frame(seq));
        }
        assert!(heard.try_recv().is_ok());
        assert!(heard.try_recv().is_err(), "ten rings unheard are one");
        assert_eq!(rx.try_recv().unwrap().seq, 10);
        slot.publish(frame(11));
        assert!(heard.try_recv().is_ok());
    }
}
