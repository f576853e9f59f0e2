//! The events kept in memory for the API and the wall, with no Bevy: each event from its
//! start to its end, the most recent [`KEEP`] of them, looked up by camera and time, and a
//! live feed of every start and end (the API's server-sent events), and beside it the node's
//! other news for the same feed: camera states, segments closed, the node stopping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{Kind, Source};

/// Events kept in memory (older ones live only in the stores on disk).
pub const KEEP: usize = 10_000;

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique: the start in Unix milliseconds, moved on by one where two would meet.
    pub id: u64,
    pub camera: String,
    pub source: Source,
    pub kind: Kind,
    pub start: DateTime<Utc>,
    /// `None` while it lasts.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

impl Event {
    /// Whether it overlaps `from..=to` (an open event lasts until now).
    pub fn overlaps(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
        let end = self.end.unwrap_or(DateTime::<Utc>::MAX_UTC);
        from.is_none_or(|f| end >= f) && to.is_none_or(|t| self.start <= t)
    }
}

/// News of the node besides events, on the live feed (`event: state|segment|stopping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A camera's state changed (`live`, `reconnecting` …), with its last error.
    State {
        camera: String,
        state: String,
        error: Option<String>,
    },
    /// A camera's segment was closed: `file` under the camera's recordings
    /// (`2026-12-07/10-00-00.mp4`), Unix ms it started and closed.
    Segment {
        camera: String,
        file: String,
        start_ms: i64,
        end_ms: i64,
    },
    /// The node is shutting down.
    Stopping,
}

impl Notice {
    /// The camera it is about, if any.
    pub fn camera(&self) -> Option<&str> {
        match self {
            Self::State { camera, .. } | Self::Segment { camera, .. } => Some(camera),
            Self::Stopping => None,
        }
    }

    /// Its server-sent event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::State { .. } => "state",
            Self::Segment { .. } => "segment",
            Self::Stopping => "stopping",
        }
    }
}

/// Shared by the ECS (the only writer), the API and the publishers.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
    live: broadcast::Sender<Event>,
    notices: broadcast::Sender<Notice>,
}

#[derive(Default)]
struct Inner {
    recent: VecDeque<Event>,
    last_id: u64,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            inner: Default::default(),
            live: broadcast::channel(256).0,
            notices: broadcast::channel(256).0,
        }
    }
}

impl EventLog {
    /// A new event at `camera`; its id.
    pub fn start(&self, camera: &str, source: Source, kind: Kind, at: DateTime<Utc>) -> u64 {
        let mut inner = self.inner.lock().expect("event log lock");
        let id = (at.timestamp_millis().max(0) as u64).max(inner.last_id + 1);
        inner.last_id = id;
        let event = Event {
            id,
            camera: camera.to_string(),
            source,
            kind,
            start: at,
            end: None,
        };
        if inner.recent.len() >= KEEP {
            inner.recent.pop_front();
        }
        inner.recent.push_back(event.clone());
        drop(inner);
        let _ = self.live.send(event);
        id
    }

    /// Event `id` ended at `at`.
    pub fn end(&self, id: u64, at: DateTime<Utc>) -> Option<Event> {
        let mut inner = self.inner.lock().expect("event log lock");
        let event = inner.recent.iter_mut().rev().find(|e| e.id == id)?;
        event.end = Some(at.max(event.start));
        let event = event.clone();
        drop(inner);
        let _ = self.live.send(event.clone());
        Some(event)
    }

    /// Events overlapping `from..=to` (either open), of `camera` if given, oldest first.
    pub fn query(
        &self,
        camera: Option<&str>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Vec<Event> {
        let inner = self.inner.lock().expect("event log lock");
        inner
            .recent
            .iter()
            .filter(|e| camera.is_none_or(|c| e.camera == c) && e.overlaps(from, to))
            .cloned()
            .collect()
    }

    /// Every start and end from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// Tells the live feed's readers `notice`.
    pub fn notice(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }

    /// Every notice from now on.
    pub fn subscribe_notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn ids_are_unique_and_queries_find_overlaps() {
        let log = EventLog::default();
        let mut live = log.subscribe();
        let a = log.start("Gate", Source::Onvif, Kind::Motion, at(0));
        let b = log.start("Yard", Source::Local, Kind::Motion, at(0));
        assert_ne!(a, b);
        assert_eq!(live.try_recv().unwrap().id, a);
        log.end(a, at(10)).unwrap();
        assert_eq!(log.query(Some("Gate"), Some(at(5)), Some(at(6))).len(), 1);
        assert!(log.query(Some("Gate"), Some(at(11)), None).is_empty());
        // Still open: overlaps anything after its start.
        assert_eq!(log.query(Some("Yard"), Some(at(1000)), None).len(), 1);
        assert!(log.query(None, None, Some(at(-1))).is_empty());
        assert_eq!(log.query(None, None, None).len(), 2);
        assert!(log.end(9, at(1)).is_none());
    }
}
