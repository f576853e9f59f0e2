//! A camera's sub stream (`sub_url`): a worker of its own (no recorder, no servers: recording
//! and the MJPEG/audio servers always use the main stream), its state, grace and rates, and
//! which of the two streams the camera's tile shows ([`Display`]). The wall decides which
//! stream a tile wants by its pixels and which sessions are needed; here the pictures of the
//! wanted stream replace the shown one only once it has decoded its first picture (a keyframe),
//! so a switch never shows a black or frozen tile. Without a wall (headless) the sub stream
//! stands by and the main stream is the camera.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;

use super::ingest::{Rates, log_transition, sample};
use super::spawn::worker_config;
use super::state::{Grace, StreamMachine, StreamState};
use super::{CameraSpawner, GraceTimer, StreamStatus, WorkerLink};
use crate::WallSystems;
use crate::config::CameraConfig;
use crate::stream::{self, CameraCommand};

/// Which of a camera's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// A camera's sub stream.
#[derive(Component)]
pub struct SubStream {
    pub link: WorkerLink,
    pub status: StreamStatus,
    pub grace: GraceTimer,
    pub rates: Rates,
}

/// Which stream a camera with a sub stream shows.
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
}

/// The stream that describes the camera as a whole: the sub stream while the tile shows it or
/// the main stream stands by, else the main stream.
pub fn describing(
    main: &StreamStatus,
    sub: Option<&SubStream>,
    display: Option<&Display>,
) -> StreamKind {
    let shows_sub = display.is_some_and(|d| d.current == StreamKind::Sub)
        || main.machine.state == StreamState::Standby;
    if sub.is_some() && shows_sub {
        StreamKind::Sub
    } else {
        StreamKind::Main
    }
}

/// The status of the [`describing`] stream.
pub fn camera_status<'a>(
    main: &'a StreamStatus,
    sub: Option<&'a SubStream>,
    display: Option<&Display>,
) -> &'a StreamStatus {
    match (describing(main, sub, display), sub) {
        (StreamKind::Sub, Some(sub)) => &sub.status,
        _ => main,
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

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, ingest_sub.in_set(WallSystems::Ingest))
        .add_systems(Update, sample_sub.in_set(WallSystems::Update));
}

impl CameraSpawner<'_, '_> {
    /// Starts camera `cam`'s sub stream worker, if it has a `sub_url`: on standby until the
    /// wall wants it (headless: always).
    pub(super) fn start_sub(&mut self, entity: Entity, cam: &CameraConfig, window: bool) {
        let Some(sub_cam) = sub_camera(cam) else {
            return;
        };
        // In a window the sub stream shows the camera until the wall wants the main one;
        // headless it stands by.
        let bell = self.bell.as_ref().map(|b| b.0.clone());
        let started = worker_config(&sub_cam, &self.config.0).and_then(|mut wc| {
            wc.bell = bell;
            stream::spawn_camera_with(
                self.runtime.handle(),
                wc,
                self.runtime.group(),
                Arc::new(crate::media::NoSink),
                stream::StreamStats::switched(window, window, window),
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
        let grace = Duration::from_secs(self.config.0.grace_secs);
        let sub = SubStream {
            link: WorkerLink {
                commands: h.commands,
                events: h.events,
                frames: h.frames,
                stats: h.stats,
            },
            status: StreamStatus {
                machine: StreamMachine::connecting(),
                ..default()
            },
            grace: GraceTimer(Grace::starting(self.time.elapsed(), grace)),
            rates: Rates::default(),
        };
        // In a window the sub stream is what a new tile shows until it proves too small.
        let kind = if window {
            StreamKind::Sub
        } else {
            StreamKind::Main
        };
        let display = Display {
            visible: false,
            want: kind,
            current: kind,
        };
        self.commands.entity(entity).insert((sub, display));
    }
}

/// Asks a sub stream's worker to end (its session is torn down).
pub(super) fn stop_sub(sub: &SubStream) {
    let _ = sub.link.commands.try_send(CameraCommand::Shutdown);
}

/// The sub stream's events through its own state machine; its transitions are logged under
/// the camera's name with `(sub)`.
fn ingest_sub(time: Res<Time<Real>>, mut cameras: Query<(&super::IpCamera, &mut SubStream)>) {
    let now = time.elapsed();
    for (camera, mut sub) in &mut cameras {
        let sub = &mut *sub;
        let name = format!("{} (sub)", camera.name);
        let mut transitions = Vec::new();
        for event in sub.link.events.try_iter() {
            if let stream::CameraEvent::Live {
                codec,
                width,
                height,
            } = &event
            {
                sub.status.codec = Some(*codec);
                sub.status.width = *width;
                sub.status.height = *height;
            }
            transitions.extend(sub.status.machine.on_event(&mut sub.grace.0, now, &event));
        }
        if sub.grace.until.is_some() {
            transitions.extend(sub.status.machine.on_tick(&mut sub.grace.0, now));
        }
        for t in transitions {
            log_transition(&name, &t);
        }
    }
}

fn sample_sub(time: Res<Time<Real>>, mut cameras: Query<&mut SubStream>) {
    let now = time.elapsed();
    for mut sub in &mut cameras {
        let sub = &mut *sub;
        sample(&sub.link, &mut sub.rates, None, now);
    }
}
