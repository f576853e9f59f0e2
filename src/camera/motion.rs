//! Events in the ECS: edges from every source are drained each frame into each camera's
//! tracker (`events::debounce`, the one place edges become events), and the events that
//! start and end are kept in the shared [`EventLog`] (the API's) and shown on the camera's
//! [`Motion`]. Time is `Time<Real>`, which tests step.

use bevy::prelude::*;

use super::IpCamera;
use crate::WallSystems;
use crate::events::debounce::{Change, Tracker};
use crate::events::log::EventLog;
use crate::events::{Edge, EdgeSender, Kind, Source};

/// Edges from every source, waiting for the ECS.
#[derive(Resource)]
pub struct EdgeInbox(pub crossbeam_channel::Receiver<Edge>);

/// Where sources started for a camera send their edges.
#[derive(Resource, Clone)]
pub struct Edges(pub EdgeSender);

/// The events, shared with the API.
#[derive(Resource, Clone, Default, Deref)]
pub struct Events(pub EventLog);

/// What is going on at a camera now: its open events, newest last.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Motion {
    pub open: Vec<OpenEvent>,
}

/// An event going on.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenEvent {
    pub id: u64,
    pub source: Source,
    pub kind: Kind,
}

impl Motion {
    pub fn active(&self) -> bool {
        !self.open.is_empty()
    }

    /// The newest event going on.
    pub fn newest(&self) -> Option<&OpenEvent> {
        self.open.last()
    }
}

/// The stream a camera looks for motion in (its sub stream, when it has one): its demand
/// keeps `motion` on whatever the wall shows.
#[derive(Component, Debug, Clone, Copy)]
pub struct Analysed;

/// A camera's tracker: how its edges become events.
#[derive(Component, Debug, Default)]
pub struct MotionTracker(pub Tracker);

/// A camera's event source task (ONVIF events); dropping it with the camera ends it.
#[derive(Component)]
pub struct EventFollower(pub crate::events::pullpoint::Subscriber);

/// On exit: every event source told to stop (and unsubscribe) before the runtime waits.
pub(super) fn stop_on_exit(mut exits: MessageReader<AppExit>, followers: Query<&EventFollower>) {
    if exits.read().next().is_none() {
        return;
    }
    for f in &followers {
        f.0.stop();
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Events>()
        .add_systems(
            Update,
            (ingest_edges, end_events)
                .chain()
                .in_set(WallSystems::Ingest),
        )
        .add_systems(Last, stop_on_exit);
}

/// Edges into trackers; events that start are logged and shown.
fn ingest_edges(
    inbox: Option<Res<EdgeInbox>>,
    time: Res<Time<Real>>,
    log: Res<Events>,
    mut cameras: Query<(&IpCamera, &mut MotionTracker, &mut Motion)>,
) {
    let Some(inbox) = inbox else { return };
    let now = time.elapsed();
    for edge in inbox.0.try_iter() {
        let Some((cam, mut tracker, mut motion)) =
            cameras.iter_mut().find(|(c, ..)| *c.name == *edge.camera)
        else {
            continue;
        };
        if let Some(Change::Started { source, kind }) = tracker.0.edge(&edge, now) {
            let id = log.start(&cam.name, source, kind, chrono::Utc::now());
            info!(camera = %cam.name, "{} event {id} from {}", kind.as_str(), source.label());
            motion.open.push(OpenEvent { id, source, kind });
        }
    }
}

/// Events whose hold-off has run out end.
fn end_events(
    time: Res<Time<Real>>,
    log: Res<Events>,
    mut cameras: Query<(&IpCamera, &mut MotionTracker, &mut Motion)>,
) {
    let now = time.elapsed();
    for (cam, mut tracker, mut motion) in &mut cameras {
        if !tracker.0.active() {
            continue;
        }
        for change in tracker.0.tick(now) {
            let Change::Ended { kind, .. } = change else {
                continue;
            };
            if let Some(i) = motion.open.iter().position(|e| e.kind == kind) {
                let event = motion.open.remove(i);
                log.end(event.id, chrono::Utc::now());
                info!(camera = %cam.name, "{} event {} ended", kind.as_str(), event.id);
            }
        }
    }
}
