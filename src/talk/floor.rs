//! One talker at a time: the floor. Whoever starts talking takes it, and the talk that held
//! it (to any camera) is told to end, so starting to talk to B always stops talk to A. The wall
//! and the API share one floor per process, and it remembers which protocol worked for each
//! camera (`talk: Auto`).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::config::TalkMode;

#[derive(Default)]
struct Holder {
    next: u64,
    current: Option<(u64, String, watch::Sender<Option<String>>)>,
    /// What worked per camera (`talk: Auto`).
    learned: std::collections::HashMap<String, TalkMode>,
}

/// The process's talk floor; clones share it.
#[derive(Clone, Default)]
pub struct Floor(Arc<Mutex<Holder>>);

impl Floor {
    /// Takes the floor for `camera`, ending whoever held it.
    pub fn take(&self, camera: &str) -> Turn {
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, tx)) = h.current.take() {
            let _ = tx.send(Some(camera.to_string()));
        }
        h.next += 1;
        let id = h.next;
        let (tx, rx) = watch::channel(None);
        h.current = Some((id, camera.to_string(), tx));
        Turn {
            floor: self.clone(),
            id,
            ended: rx,
        }
    }

    /// The protocol that worked for `camera` last time.
    pub fn learned(&self, camera: &str) -> Option<TalkMode> {
        let h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        h.learned.get(camera).copied()
    }

    pub fn learn(&self, camera: &str, mode: TalkMode) {
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        h.learned.insert(camera.to_string(), mode);
    }

    /// The camera being talked to now, if any.
    pub fn talking_to(&self) -> Option<String> {
        let h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        h.current.as_ref().map(|(_, c, _)| c.clone())
    }
}

/// Holding the floor; dropping it gives the floor back.
pub struct Turn {
    floor: Floor,
    id: u64,
    ended: watch::Receiver<Option<String>>,
}

impl Turn {
    /// Resolves when another talk took the floor, with the camera it talks to.
    pub async fn taken(&mut self) -> String {
        loop {
            if let Some(by) = self.ended.borrow().clone() {
                return by;
            }
            if self.ended.changed().await.is_err() {
                // The sender is gone only when the floor was taken (it is replaced then).
                return String::new();
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut h = self.floor.0.lock().unwrap_or_else(|p| p.into_inner());
        if h.current.as_ref().is_some_and(|(id, _, _)| *id == self.id) {
            h.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn taking_the_floor_ends_the_talk_that_held_it() {
        let floor = Floor::default();
        let mut a = floor.take("A");
        assert_eq!(floor.talking_to().as_deref(), Some("A"));
        let b = floor.take("B");
        assert_eq!(a.taken().await, "B");
        assert_eq!(floor.talking_to().as_deref(), Some("B"));
        drop(a); // A's end does not free B's floor.
        assert_eq!(floor.talking_to().as_deref(), Some("B"));
        drop(b);
        assert_eq!(floor.talking_to(), None);
    }
}
