//! Events in the ECS: edges from every source are drained each frame into each camera's
//! tracker (`events::debounce`, the one place edges become events), and the events that
//! start and end are kept in the shared [`EventLog`] (the API's) and shown on the camera's
//! [`Motion`]. Time is `Time<Real>`, which tests step.

use bevy::prelude::*;

use super::IpCamera;
use crate::WallSystems;
use crate::events::debounce::{Change, Tracker};
use crate::events::log::EventLog;
use crate::events::{EdgeSender, Kind, Report, Source};

/// Reports from every source, waiting for the ECS.
#[derive(Resource)]
pub struct EdgeInbox(pub crossbeam_channel::Receiver<Report>);

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
    /// Acknowledged on the wall: its tile is no longer highlighted.
    pub acked: bool,
}

/// The wall's recent events, newest last (the alarm list), at most [`ALARMS_KEPT`].
#[derive(Resource, Debug, Default)]
pub struct AlarmFeed {
    pub entries: std::collections::VecDeque<Alarm>,
}

/// Events the alarm list keeps.
pub const ALARMS_KEPT: usize = 200;

/// One event on the wall.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub id: u64,
    pub camera: Entity,
    pub name: String,
    pub source: Source,
    pub kind: Kind,
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    pub acked: bool,
}

/// The operator acknowledged event `id`: its highlight goes.
#[derive(Message, Debug, Clone, Copy)]
pub struct Acknowledge {
    pub id: u64,
}

impl Motion {
    pub fn active(&self) -> bool {
        !self.open.is_empty()
    }

    /// The newest event going on.
    pub fn newest(&self) -> Option<&OpenEvent> {
        self.open.last()
    }

    /// The newest event going on that nobody acknowledged: what the tile shows.
    pub fn highlighted(&self) -> Option<&OpenEvent> {
        self.open.last().filter(|e| !e.acked)
    }
}

/// The stream a camera looks for motion in (its sub stream, when it has one): its demand
/// keeps `motion` on whatever the wall shows.
#[derive(Component, Debug, Clone, Copy)]
pub struct Analysed;

/// A camera's tracker: how its edges become events.
#[derive(Component, Debug, Default)]
pub struct MotionTracker(pub Tracker);

/// A camera's event source task (ONVIF events, or a vendor's push stream); dropping it with
/// the camera ends it.
#[derive(Component)]
pub struct EventFollower(pub crate::events::Stopper);

impl EventFollower {
    pub fn stop(&self) {
        self.0.stop();
    }
}

/// On exit: every event source told to stop (and unsubscribe) before the runtime waits, and
/// every event going on ended, in the store too (written here: the store's thread may not get
/// to it before the process ends), so none is left open for good.
pub(super) fn stop_on_exit(
    mut exits: MessageReader<AppExit>,
    followers: Query<&EventFollower>,
    cameras: Query<&Motion>,
    (log, config): (Res<Events>, Option<Res<super::WallConfig>>),
) {
    if exits.read().next().is_none() {
        return;
    }
    for f in &followers {
        f.stop();
    }
    let now = chrono::Utc::now();
    for open in cameras.iter().flat_map(|m| &m.open) {
        if let Some(ended) = log.end(open.id, now)
            && let Some(config) = &config
            && let Err(e) = crate::events::store::append(&config.recording.dir, &ended)
        {
            warn!(camera = %ended.camera, "cannot store the end of event {}: {e}", ended.id);
        }
    }
}

/// A camera removed (or edited into a new one) ends its events.
fn end_on_remove(remove: On<Remove, Motion>, cameras: Query<&Motion>, log: Res<Events>) {
    let Ok(motion) = cameras.get(remove.entity) else {
        return;
    };
    let now = chrono::Utc::now();
    for open in &motion.open {
        log.end(open.id, now);
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Events>()
        .init_resource::<AlarmFeed>()
        .add_message::<Acknowledge>()
        .add_systems(
            Update,
            (ingest_edges, end_events, acknowledge)
                .chain()
                .in_set(WallSystems::Ingest),
        )
        .add_systems(Last, stop_on_exit)
        .add_observer(end_on_remove);
}

/// Edges into trackers; events that start are logged and shown. A camera without an event
/// service looks at its pictures instead.
#[allow(clippy::type_complexity)]
fn ingest_edges(
    inbox: Option<Res<EdgeInbox>>,
    time: Res<Time<Real>>,
    (log, mut feed, mut commands): (Res<Events>, ResMut<AlarmFeed>, Commands),
    mut cameras: Query<(Entity, &IpCamera, &mut MotionTracker, &mut Motion)>,
    (sources, streams): (
        Query<(Option<&super::Streams>, Option<&EventFollower>)>,
        Query<(&super::CameraStream, &super::WorkerLink)>,
    ),
) {
    let Some(inbox) = inbox else { return };
    let now = time.elapsed();
    for report in inbox.0.try_iter() {
        let (name, edge) = match &report {
            Report::Edge(edge) => (&edge.camera, Some(edge)),
            Report::NoEventService { camera, .. } => (camera, None),
        };
        let Some((entity, cam, mut tracker, mut motion)) =
            cameras.iter_mut().find(|(_, c, ..)| *c.name == **name)
        else {
            continue;
        };
        let Some(edge) = edge else {
            let Ok((of, follower)) = sources.get(entity) else {
                continue;
            };
            // Only from the camera's source now (not one an edit replaced).
            let current = follower.map(|f| f.0.id());
            if !matches!(report, Report::NoEventService { source, .. } if Some(source) == current) {
                continue;
            }
            let of = of.into_iter().flat_map(|s| s.iter());
            let of = of.filter_map(|e| streams.get(e).ok().map(|(s, l)| (e, s.kind, l)));
            analyse_pictures(&mut commands, of.collect());
            continue;
        };
        if let Some(Change::Started { source, kind }) = tracker.0.edge(edge, now) {
            let start = chrono::Utc::now();
            let id = log.start(&cam.name, source, kind, start);
            info!(camera = %cam.name, "{} event {id} from {}", kind.as_str(), source.label());
            motion.open.push(OpenEvent {
                id,
                source,
                kind,
                acked: false,
            });
            if feed.entries.len() >= ALARMS_KEPT {
                feed.entries.pop_front();
            }
            feed.entries.push_back(Alarm {
                id,
                camera: entity,
                name: cam.name.clone(),
                source,
                kind,
                start,
                end: None,
                acked: false,
            });
        }
    }
}

/// Marks the stream a camera looks for motion in, of its `streams` (the sub stream when it has
/// one), [`Analysed`] and turns its analysis on.
pub(super) fn analyse_pictures(
    commands: &mut Commands,
    streams: Vec<(Entity, super::StreamKind, &super::WorkerLink)>,
) {
    // A sub stream whose worker has ended cannot look: the main stream does.
    let sub = streams
        .iter()
        .any(|(_, kind, link)| *kind == super::StreamKind::Sub && !link.commands.is_closed());
    for (entity, kind, link) in streams {
        let on = (kind == super::StreamKind::Sub) == sub;
        link.analyse(on);
        if on {
            commands.entity(entity).insert(Analysed);
        } else {
            commands.entity(entity).remove::<Analysed>();
        }
    }
}

/// Acknowledged events lose their highlight, in the list and on the tile.
fn acknowledge(
    mut acks: MessageReader<Acknowledge>,
    mut feed: ResMut<AlarmFeed>,
    mut cameras: Query<&mut Motion>,
) {
    for ack in acks.read() {
        let Some(alarm) = feed.entries.iter_mut().find(|a| a.id == ack.id) else {
            continue;
        };
        alarm.acked = true;
        if let Ok(mut motion) = cameras.get_mut(alarm.camera)
            && let Some(open) = motion.open.iter_mut().find(|e| e.id == ack.id)
        {
            open.acked = true;
        }
    }
}

/// Events whose hold-off has run out end.
fn end_events(
    time: Res<Time<Real>>,
    (log, mut feed): (Res<Events>, ResMut<AlarmFeed>),
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
                let end = chrono::Utc::now();
                log.end(event.id, end);
                if let Some(a) = feed.entries.iter_mut().rev().find(|a| a.id == event.id) {
                    a.end = Some(end);
                }
                info!(camera = %cam.name, "{} event {} ended", kind.as_str(), event.id);
            }
        }
    }
}

/// Camera `name`'s events (start, end; Unix ms, `i64::MAX` while one lasts) around `at`: the
/// store's for the day before, of and after `at`, and the wall's recent ones.
pub fn camera_events(
    store: Option<&std::path::Path>,
    feed: Option<&AlarmFeed>,
    name: &str,
    at: i64,
) -> Vec<(i64, i64)> {
    let ms = |t: chrono::DateTime<chrono::Utc>| t.timestamp_millis();
    let mut out: Vec<(u64, i64, i64)> = Vec::new();
    if let (Some(dir), Some(t)) = (store, chrono::DateTime::from_timestamp_millis(at)) {
        let day = chrono::TimeDelta::days(1);
        for e in crate::events::store::read_range(dir, name, t - day, t + day, 3) {
            out.push((e.id, ms(e.start), e.end.map_or(i64::MAX, ms)));
        }
    }
    for a in feed
        .iter()
        .flat_map(|f| f.entries.iter())
        .filter(|a| a.name == name)
    {
        if !out.iter().any(|(id, ..)| *id == a.id) {
            out.push((a.id, ms(a.start), a.end.map_or(i64::MAX, ms)));
        }
    }
    out.sort_by_key(|(_, s, _)| *s);
    out.into_iter().map(|(_, s, e)| (s, e)).collect()
}

/// Where `[` (`step` -1) or `]` (1) takes a playhead at `at`: the previous or next event's
/// start less `pre_roll` (an event is "passed" once the playhead is past its pre-roll mark).
pub fn next_event(events: &[(i64, i64)], at: i64, step: i32, pre_roll: i64) -> Option<i64> {
    // A second of slack, so pressing `[` twice goes back past the event just jumped to.
    let marks = events.iter().map(|(s, _)| s - pre_roll);
    if step > 0 {
        marks.filter(|m| *m > at + 1_000).min()
    } else {
        marks.filter(|m| *m < at - 1_000).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_jump_between_event_starts_less_the_pre_roll() {
        let events = [(100_000, 110_000), (200_000, i64::MAX)];
        assert_eq!(next_event(&events, 0, 1, 5_000), Some(95_000));
        assert_eq!(next_event(&events, 95_000, 1, 5_000), Some(195_000));
        assert_eq!(next_event(&events, 95_500, 1, 5_000), Some(195_000));
        assert_eq!(next_event(&events, 195_000, -1, 5_000), Some(95_000));
        assert_eq!(next_event(&events, 195_000, 1, 5_000), None);
        assert_eq!(next_event(&events, 50_000, -1, 5_000), None);
    }
}
