//! Events, with no Bevy: what a source reports (`Edge`: motion on or off at a camera, from the
//! camera's ONVIF event service, a vendor stream or the picture), the one place edges become
//! events (`debounce`), the sources (`pullpoint` for ONVIF, `vendor` for Hikvision's and
//! Dahua's push streams read with `multipart`, `picture` for the picture's own motion), the events kept for the API (`log`) and their MQTT publisher (`mqtt`). The ECS
//! (`camera::motion`) drains the edges, keeps the events and shows them.

pub mod bench;
pub mod debounce;
pub mod log;
pub mod mqtt;
pub mod multipart;
pub mod picture;
pub mod pullpoint;
pub mod store;
pub mod vendor;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Where an edge came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Onvif,
    Isapi,
    Dahua,
    Local,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onvif => "onvif",
            Self::Isapi => "isapi",
            Self::Dahua => "dahua",
            Self::Local => "local",
        }
    }

    /// As the overlay names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Onvif => "ONVIF",
            Self::Isapi => "ISAPI",
            Self::Dahua => "Dahua",
            Self::Local => "picture",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Motion,
    /// Something crossed a line.
    Line,
    /// Something entered a zone.
    Intrusion,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Motion => "motion",
            Self::Line => "line",
            Self::Intrusion => "intrusion",
        }
    }
}

/// One report from a source: `kind` is on (`active`) or off at `camera` now.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub camera: Arc<str>,
    pub source: Source,
    pub kind: Kind,
    pub active: bool,
    /// The source reports a state that lasts until it says otherwise (ONVIF properties,
    /// Dahua start/stop), rather than repeating itself while motion goes on (Hikvision's
    /// alerts, the picture's motion) or reporting a moment (a line crossed).
    pub lasting: bool,
}

/// What a source tells the ECS.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Edge(Edge),
    /// Camera `camera` (`events: Auto`) has no event service: it looks for motion in its own
    /// pictures instead. `source` is the [`Stopper::id`] of the task that found it: a report
    /// from a source since replaced (the camera was edited) is ignored.
    NoEventService {
        camera: Arc<str>,
        source: u64,
    },
}

/// Edges waiting for the ECS; beyond this the newest are dropped (a source that floods is
/// its own problem, never the wall's memory).
pub const EDGE_QUEUE: usize = 1024;

/// Where sources send edges: a bounded channel to the ECS, and the wall's bell so a sleeping
/// wall looks at once.
#[derive(Clone)]
pub struct EdgeSender {
    tx: crossbeam_channel::Sender<Report>,
    bell: Option<crate::stream::Bell>,
}

impl EdgeSender {
    /// A sender and the ECS's receiving end.
    pub fn new(bell: Option<crate::stream::Bell>) -> (Self, crossbeam_channel::Receiver<Report>) {
        let (tx, rx) = crossbeam_channel::bounded(EDGE_QUEUE);
        (Self { tx, bell }, rx)
    }

    pub fn send(&self, edge: Edge) {
        if !self.report(Report::Edge(edge)) {
            tracing::warn!("event queue full: an edge was dropped");
        }
    }

    /// Whether `report` went into the queue (it is full otherwise).
    pub fn report(&self, report: Report) -> bool {
        let sent = self.tx.try_send(report).is_ok();
        if let Some(bell) = &self.bell {
            bell.ring();
        }
        sent
    }
}

/// Stops an event source's task: dropping it (or [`Stopper::stop`]) tells the task to end.
pub struct Stopper {
    tx: tokio::sync::watch::Sender<bool>,
    id: u64,
}

impl Stopper {
    /// A stopper and what its task watches.
    pub fn new() -> (Self, tokio::sync::watch::Receiver<bool>) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (Self { tx, id }, rx)
    }

    /// This source's number, unique in the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn stop(&self) {
        let _ = self.tx.send(true);
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The wait between a source's failed attempts: it doubles while failures follow each other
/// (a fast loop locks some accounts) and is reset by a success; each new failure text is
/// logged once.
pub struct Retry {
    pub wait: std::time::Duration,
    min: std::time::Duration,
    max: std::time::Duration,
    last_error: String,
    /// What the log line says comes next ("subscribing again").
    then: &'static str,
}

impl Retry {
    pub fn new(min: std::time::Duration, max: std::time::Duration, then: &'static str) -> Self {
        Self {
            wait: min,
            min,
            max,
            last_error: String::new(),
            then,
        }
    }

    /// Something worked: the next failure waits the least again.
    pub fn reset(&mut self) {
        self.wait = self.min;
    }

    /// Logs `failed` (once per new text), waits, and doubles the next wait; `false` when
    /// `stopped` was set meanwhile.
    pub async fn after(
        &mut self,
        failed: String,
        stopped: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        if failed != self.last_error {
            tracing::warn!("{failed}; {} in {} s", self.then, self.wait.as_secs());
            self.last_error = failed;
        }
        tokio::select! {
            _ = tokio::time::sleep(self.wait) => {}
            _ = stopped.wait_for(|s| *s) => return false,
        }
        self.wait = (self.wait * 2).min(self.max);
        true
    }
}
