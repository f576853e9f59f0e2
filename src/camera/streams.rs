//! A camera's streams as entities of their own: each camera entity has a main stream and,
//! with a `sub_url`, a sub stream, related to it by [`StreamOf`] (and despawned with it). A
//! stream entity carries its worker link, status, grace timer, rates and latency. Which stream
//! a camera's tile shows is [`Display`] on the camera: the wall decides which one it wants by
//! the tile's pixels (`wall::streams`), and the wanted stream's pictures replace the shown one
//! only once it has decoded its first picture (a keyframe, `ingest::take_frames`), so a switch
//! never shows a black or frozen tile. Without a wall (headless) the sub stream stands by and
//! the main stream is the camera. The sub stream has no recorder and no servers: recording and
//! the MJPEG/audio servers always use the main stream.

use std::sync::LazyLock;
use std::time::Duration;

use bevy::ecs::query::QueryData;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use super::spawn::worker_config;
use super::state::{Grace, StreamMachine, StreamState};
use super::{CameraSpawner, GraceTimer, Latency, Rates, StreamStatus, WorkerLink};
use crate::config::CameraConfig;
use crate::stream::{self, Demand};

/// Which of a camera's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum StreamKind {
    #[default]
    Main,
    Sub,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Sub => "sub",
        }
    }
}

/// A stream of a camera (an entity of its own, see the module's doc). A stream whose worker
/// could not start (or a disabled camera's) has no [`WorkerLink`] and stays offline.
#[derive(Component, Debug, Clone, Copy)]
#[require(StreamStatus, GraceTimer, Rates, Latency, ShownLatency)]
pub struct CameraStream {
    pub kind: StreamKind,
}

/// The camera a stream belongs to.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[relationship(relationship_target = Streams)]
pub struct StreamOf(pub Entity);

/// A camera's stream entities (kept by Bevy from their [`StreamOf`]); they are despawned with
/// the camera, and a despawned stream's dropped [`WorkerLink`] ends its worker.
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = StreamOf, linked_spawn)]
pub struct Streams(Vec<Entity>);

/// Latency of the pictures of a stream that were uploaded to a tile, as the render world
/// reports them (`wall::video`): where a shown picture's path ends.
#[derive(Component, Debug, Default)]
pub struct ShownLatency(pub stream::LatencyMeter);

/// Which stream a camera's tile shows (on the camera entity).
#[derive(Component, Debug, Clone, Default, PartialEq, Eq)]
pub struct Display {
    /// Some window shows the camera.
    pub visible: bool,
    /// The stream its tile should show (by the tile's pixels).
    pub want: StreamKind,
    /// The stream whose pictures the tile shows; becomes `want` at its first picture.
    pub current: StreamKind,
}

impl Display {
    /// What `/api/status` calls the stream shown: `None` while no window shows the camera.
    pub fn shown(&self) -> Option<StreamKind> {
        self.visible.then_some(self.current)
    }

    /// A camera whose tile starts on `kind`.
    pub fn on(kind: StreamKind) -> Self {
        Self {
            visible: false,
            want: kind,
            current: kind,
        }
    }
}

/// What is shown about one stream (API, overlays).
#[derive(QueryData)]
pub struct StreamView {
    pub entity: Entity,
    pub stream: &'static CameraStream,
    pub status: &'static StreamStatus,
    pub grace: &'static GraceTimer,
    pub rates: &'static Rates,
    pub latency: &'static Latency,
    /// Whether its worker runs (a disabled camera's, or one that could not start, does not).
    pub running: Has<WorkerLink>,
}

/// The figures of one stream, borrowed.
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    pub status: &'a StreamStatus,
    pub grace: &'a GraceTimer,
    pub rates: &'a Rates,
    pub latency: &'a Latency,
}

impl<'a> From<StreamViewItem<'a, '_>> for Shown<'a> {
    fn from(v: StreamViewItem<'a, '_>) -> Self {
        Self {
            status: v.status,
            grace: v.grace,
            rates: v.rates,
            latency: v.latency,
        }
    }
}

/// What a camera without a stream entity (one being spawned) shows: offline, no figures.
static NO_STREAM: LazyLock<(StreamStatus, GraceTimer, Rates, Latency)> =
    LazyLock::new(Default::default);

impl Shown<'static> {
    fn none() -> Self {
        let (status, grace, rates, latency) = &*NO_STREAM;
        Self {
            status,
            grace,
            rates,
            latency,
        }
    }
}

/// Reads the streams of cameras: one by kind, or the one that describes the camera.
#[derive(SystemParam)]
pub struct StreamsOf<'w, 's> {
    streams: Query<'w, 's, StreamView>,
}

impl<'s> StreamsOf<'_, 's> {
    /// Camera `streams`' stream of `kind`.
    pub fn of(
        &self,
        streams: Option<&Streams>,
        kind: StreamKind,
    ) -> Option<StreamViewItem<'_, 's>> {
        streams?
            .iter()
            .filter_map(|e| self.streams.get(e).ok())
            .find(|s| s.stream.kind == kind)
    }

    /// The stream that describes the camera as a whole: the sub stream while the tile shows
    /// it or the main stream stands by, else the main stream.
    pub fn describing(&self, streams: Option<&Streams>, display: &Display) -> Shown<'_> {
        let main = self.of(streams, StreamKind::Main);
        let standby = main
            .as_ref()
            .is_some_and(|m| m.status.machine.state == StreamState::Standby);
        let sub = (display.current == StreamKind::Sub || standby)
            .then(|| self.of(streams, StreamKind::Sub))
            .flatten();
        match sub.or(main) {
            Some(stream) => Shown::from(stream),
            None => Shown::none(),
        }
    }
}

/// A camera with a `sub_url` as its sub stream's worker sees it: the same credentials and
/// settings, the sub URL, and `(sub)` after its name in logs and thread names.
pub(super) fn sub_camera(cam: &CameraConfig) -> Option<CameraConfig> {
    Some(CameraConfig {
        name: format!("{} (sub)", cam.name),
        url: cam.sub_url.clone()?,
        ..cam.clone()
    })
}

/// How a stream is named in logs: the camera's name, with `(sub)` for its sub stream.
pub(super) fn label(camera: &str, kind: StreamKind) -> String {
    match kind {
        StreamKind::Main => camera.to_owned(),
        StreamKind::Sub => format!("{camera} (sub)"),
    }
}

impl CameraSpawner<'_, '_> {
    /// Spawns camera `camera`'s stream entity of `kind`: with `link`, connecting in its
    /// startup grace; without, offline.
    pub(super) fn spawn_stream(
        &mut self,
        camera: Entity,
        kind: StreamKind,
        link: Option<WorkerLink>,
    ) -> Entity {
        let mut stream = self
            .commands
            .spawn((CameraStream { kind }, StreamOf(camera)));
        if let Some(link) = link {
            let grace = Duration::from_secs(self.config.0.grace_secs);
            stream.insert((
                link,
                StreamStatus {
                    machine: StreamMachine::connecting(),
                    ..default()
                },
                GraceTimer(Grace::starting(self.time.elapsed(), grace)),
            ));
        }
        stream.id()
    }

    /// Starts camera `cam`'s sub stream, if it has a `sub_url`: in a window it shows the
    /// camera until the wall wants the main stream; headless it stands by.
    pub(super) fn start_sub(&mut self, camera: Entity, cam: &CameraConfig, window: bool) {
        let Some(sub_cam) = sub_camera(cam) else {
            return;
        };
        let bell = self.bell.as_ref().map(|b| b.0.clone());
        let analysed = super::spawn::local_motion(cam);
        let demand = Demand {
            session: window || analysed,
            decode: window,
            pictures: window,
            motion: analysed,
        };
        let (probe, motion) = self.motion_probe(cam);
        let feed = crate::restream::Feed::new();
        if let Some(r) = &self.restreams {
            r.0.set_sub(&cam.name, feed.clone());
        }
        let started = worker_config(&sub_cam, &self.config.0).and_then(|mut wc| {
            wc.bell = bell;
            stream::spawn_camera_with(
                self.runtime.handle(),
                wc,
                self.runtime.group(),
                feed,
                demand,
                probe,
            )
            .map_err(|e| e.to_string())
        });
        let h = match started {
            Ok(h) => h,
            Err(e) => {
                error!(camera = %cam.name, "sub stream cannot start: {e}");
                return;
            }
        };
        self.runtime.track_task(h.task);
        let link = WorkerLink::new(h.commands, h.events, h.frames, h.demand, h.figures)
            .with_motion(motion);
        let sub = self.spawn_stream(camera, StreamKind::Sub, Some(link));
        if analysed {
            self.commands.entity(sub).insert(super::motion::Analysed);
        }
        let kind = if window {
            StreamKind::Sub
        } else {
            StreamKind::Main
        };
        self.commands.entity(camera).insert(Display::on(kind));
    }
}
