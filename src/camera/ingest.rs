//! Worker output into components, each frame and for every stream entity alike (main and
//! sub): state-change events through the state machine (and one log line per transition),
//! the newest picture of the stream a tile shows, startup grace ticks, and — a few times a
//! second — received rates and latency percentiles.

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

use super::state::{self, Transition};
use super::{GraceTimer, IpCamera, Latency, LatestFrame, StateChanged, StreamStatus, WorkerLink};
use crate::WallSystems;
use crate::stream::CameraEvent;

/// Received frame and bit rates over a sliding window.
#[derive(Component, Debug, Clone, Default)]
pub struct Rates {
    pub fps: f64,
    pub bitrate_bps: f64,
    pub frames: u64,
    pub decoded: u64,
    samples: VecDeque<(Duration, u64, u64)>,
}

/// The window over which fps and bitrate are averaged.
const RATE_WINDOW: Duration = Duration::from_secs(3);
/// How often rates and latency are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (ingest_events, take_frames).in_set(WallSystems::Ingest),
    )
    .add_systems(
        Update,
        (tick_grace, sample_rates).in_set(WallSystems::Update),
    );
}

/// One line per transition. The reason was logged where it was handled (the worker), so it
/// is not repeated here.
fn log_transition(name: &str, t: &Transition) {
    let (from, to) = (t.from.as_str(), t.to.as_str());
    match t.to {
        state::StreamState::Live | state::StreamState::Connecting | state::StreamState::Standby => {
            info!(camera = %name, "{from} → {to}")
        }
        _ => warn!(camera = %name, "{from} → {to}"),
    }
}

/// What the ingest systems read and write of each stream.
type StreamParts = (
    Entity,
    &'static super::CameraStream,
    &'static super::StreamOf,
    &'static mut StreamStatus,
    &'static mut GraceTimer,
);

/// Each stream's worker events through its state machine; one log line per transition, under
/// the camera's name (`(sub)` added for its sub stream).
fn ingest_events(
    time: Res<Time<Real>>,
    mut streams: Query<(StreamParts, &WorkerLink)>,
    cameras: Query<&IpCamera>,
    mut changed: MessageWriter<StateChanged>,
) {
    let now = time.elapsed();
    for ((_, stream, of, mut status, mut grace), link) in &mut streams {
        for event in link.events.try_iter() {
            if let CameraEvent::Live {
                codec,
                width,
                height,
            } = &event
            {
                status.codec = Some(*codec);
                status.width = *width;
                status.height = *height;
            }
            if let Some(t) = status.machine.on_event(&mut grace.0, now, &event) {
                report(&cameras, of.0, stream.kind, t, &mut changed);
            }
        }
    }
}

/// A transition of camera `camera`'s stream of `kind`: logged and sent on.
fn report(
    cameras: &Query<&IpCamera>,
    camera: Entity,
    kind: super::StreamKind,
    transition: Transition,
    changed: &mut MessageWriter<StateChanged>,
) {
    let name = cameras.get(camera).map_or("?", |c| c.name.as_str());
    log_transition(&super::streams::label(name, kind), &transition);
    changed.write(StateChanged {
        camera,
        stream: kind,
        transition,
    });
}

/// The newest picture of the stream each tile shows, when one arrived (the last one stays
/// otherwise). A camera switching streams keeps showing the old one until the new one has
/// decoded a picture (from a keyframe: decoding starts at one), then shows only the new one.
/// A camera in playback shows its player's pictures instead (`replay::drive`), and a live
/// picture left in its slots is thrown away (back to live, only a new one may show).
pub(super) fn take_frames(
    mut streams: Query<(
        &super::CameraStream,
        &super::StreamOf,
        &WorkerLink,
        &mut StreamStatus,
    )>,
    mut cameras: Query<(&mut LatestFrame, &mut super::Display, Has<super::Replay>)>,
) {
    for (stream, of, link, mut status) in &mut streams {
        let Some(picture) = link.frames.try_iter().last() else {
            continue;
        };
        let Ok((mut latest, mut display, replay)) = cameras.get_mut(of.0) else {
            continue;
        };
        if replay {
            continue;
        }
        if display.current != stream.kind {
            if display.want != stream.kind {
                // The stream the tile leaves: its last pictures are not shown.
                continue;
            }
            display.current = stream.kind;
        }
        // A stream's size follows its pictures (a camera may change resolution mid-stream).
        if (picture.width, picture.height) != (status.width, status.height) {
            status.width = picture.width;
            status.height = picture.height;
        }
        latest.0 = Some(picture);
    }
}

fn tick_grace(
    time: Res<Time<Real>>,
    mut streams: Query<StreamParts>,
    cameras: Query<&IpCamera>,
    mut changed: MessageWriter<StateChanged>,
) {
    let now = time.elapsed();
    for (_, stream, of, mut status, mut grace) in &mut streams {
        if grace.until.is_none() {
            continue;
        }
        if let Some(t) = status.machine.on_tick(&mut grace.0, now) {
            report(&cameras, of.0, stream.kind, t, &mut changed);
        }
    }
}

/// Each stream's figures into its rates and latency, a few times a second.
pub(super) fn sample_rates(
    time: Res<Time<Real>>,
    mut streams: Query<(
        &WorkerLink,
        &mut Rates,
        &mut Latency,
        &super::streams::ShownLatency,
    )>,
) {
    let now = time.elapsed();
    for (link, mut rates, mut latency, shown) in &mut streams {
        sample(link, &mut rates, &mut latency, shown, now);
    }
}

/// The figures of one stream into its rates and latency a few times a second. Its latency is
/// that of its pictures uploaded to a tile, or (none shown: headless, hidden) of its decoded
/// ones.
fn sample(
    link: &WorkerLink,
    rates: &mut Rates,
    latency: &mut Mut<Latency>,
    shown: &super::streams::ShownLatency,
    now: Duration,
) {
    let figures = &link.figures;
    let (frames, bytes) = (figures.frames(), figures.bytes());
    rates.frames = frames;
    rates.decoded = figures.decoded();
    if rates
        .samples
        .back()
        .is_some_and(|(t, _, _)| now.saturating_sub(*t) < SAMPLE_EVERY)
    {
        return;
    }
    // Latency samples carry real instants (the render world and decode threads stamp
    // them), so the window is read against the real clock.
    let at = std::time::Instant::now();
    let mut summary = shown.0.summary(at);
    if summary.added.is_none() {
        summary = figures.decoded_latency(at);
    }
    if latency.0 != summary {
        latency.0 = summary;
    }
    rates.samples.push_back((now, frames, bytes));
    while rates.samples.len() > 2
        && rates
            .samples
            .front()
            .is_some_and(|(t, _, _)| now - *t > RATE_WINDOW)
    {
        rates.samples.pop_front();
    }
    if let (Some(&(t0, f0, b0)), Some(&(t1, f1, b1))) =
        (rates.samples.front(), rates.samples.back())
    {
        let dt = (t1 - t0).as_secs_f64();
        if dt > 0.0 {
            rates.fps = (f1 - f0) as f64 / dt;
            rates.bitrate_bps = (b1 - b0) as f64 * 8.0 / dt;
        }
    }
}
