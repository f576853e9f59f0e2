//! Worker output into components, each frame: state-change events through the state machine
//! (and one log line per transition), the newest picture from the frame slot, startup grace
//! ticks, and — a few times a second — received rates and latency percentiles.

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

use super::state::{self, Transition};
use super::{GraceTimer, IpCamera, Latency, LatestFrame, StateChanged, StreamStatus, WorkerLink};
use crate::WallSystems;
use crate::stream::{CameraEvent, StreamStats};

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
pub(super) fn log_transition(name: &str, t: &Transition) {
    let (from, to) = (t.from.as_str(), t.to.as_str());
    match t.to {
        state::StreamState::Live | state::StreamState::Connecting | state::StreamState::Standby => {
            info!(camera = %name, "{from} → {to}")
        }
        _ => warn!(camera = %name, "{from} → {to}"),
    }
}

fn ingest_events(
    time: Res<Time<Real>>,
    mut cameras: Query<(
        Entity,
        &IpCamera,
        &WorkerLink,
        &mut StreamStatus,
        &mut GraceTimer,
    )>,
    mut changed: MessageWriter<StateChanged>,
) {
    let now = time.elapsed();
    for (entity, camera, link, mut status, mut grace) in &mut cameras {
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
                log_transition(&camera.name, &t);
                changed.write(StateChanged {
                    camera: entity,
                    transition: t,
                });
            }
        }
    }
}

/// The newest picture of the stream the tile shows, when one arrived (the last one stays
/// otherwise). A camera switching streams keeps showing the old one until the new one has
/// decoded a picture (from a keyframe: decoding starts at one), then shows only the new one.
/// A camera in playback shows its player's pictures instead (`replay::drive`), and a live
/// picture left in its slots is thrown away (back to live, only a new one may show).
#[allow(clippy::type_complexity)]
pub(super) fn take_frames(
    replaying: Query<(&WorkerLink, Option<&super::sub::SubStream>), With<super::Replay>>,
    mut cameras: Query<
        (
            &WorkerLink,
            &mut LatestFrame,
            &mut StreamStatus,
            Option<&mut super::sub::SubStream>,
            Option<&mut super::sub::Display>,
        ),
        Without<super::Replay>,
    >,
) {
    use super::sub::StreamKind;
    for (link, sub) in &replaying {
        link.frames.try_iter().for_each(drop);
        if let Some(sub) = sub {
            sub.link.frames.try_iter().for_each(drop);
        }
    }
    for (link, mut latest, mut status, sub, display) in &mut cameras {
        let main = link.frames.try_iter().last();
        let (Some(mut sub), Some(mut display)) = (sub, display) else {
            if main.is_some() {
                latest.0 = main;
                follow_size(&latest, &mut status);
            }
            continue;
        };
        let sub_picture = sub.link.frames.try_iter().last();
        let arrived = match display.want {
            StreamKind::Main => main.is_some(),
            StreamKind::Sub => sub_picture.is_some(),
        };
        if display.current != display.want && arrived {
            display.current = display.want;
        }
        let picture = match display.current {
            StreamKind::Main => main,
            StreamKind::Sub => sub_picture,
        };
        if picture.is_none() {
            continue;
        }
        latest.0 = picture;
        match display.current {
            StreamKind::Main => follow_size(&latest, &mut status),
            StreamKind::Sub => follow_size(&latest, &mut sub.status),
        }
    }
}

/// A stream's size follows its pictures (a camera may change resolution mid-stream).
fn follow_size(latest: &LatestFrame, status: &mut StreamStatus) {
    if let Some(f) = &latest.0
        && (f.width, f.height) != (status.width, status.height)
    {
        status.width = f.width;
        status.height = f.height;
    }
}

fn tick_grace(
    time: Res<Time<Real>>,
    mut cameras: Query<(Entity, &IpCamera, &mut StreamStatus, &mut GraceTimer)>,
    mut changed: MessageWriter<StateChanged>,
) {
    let now = time.elapsed();
    for (entity, camera, mut status, mut grace) in &mut cameras {
        if grace.until.is_none() {
            continue;
        }
        if let Some(t) = status.machine.on_tick(&mut grace.0, now) {
            log_transition(&camera.name, &t);
            changed.write(StateChanged {
                camera: entity,
                transition: t,
            });
        }
    }
}

pub(super) fn sample_rates(
    time: Res<Time<Real>>,
    mut cameras: Query<(&WorkerLink, &mut Rates, &mut Latency)>,
) {
    let now = time.elapsed();
    for (link, mut rates, mut latency) in &mut cameras {
        sample(link, &mut rates, Some(&mut latency), now);
    }
}

/// Counters of one stream into its rates (and latency) a few times a second.
pub(super) fn sample(
    link: &WorkerLink,
    rates: &mut Rates,
    latency: Option<&mut Mut<Latency>>,
    now: Duration,
) {
    let frames = StreamStats::get(&link.stats.frames);
    let bytes = StreamStats::get(&link.stats.bytes);
    rates.frames = frames;
    rates.decoded = StreamStats::get(&link.stats.decoded);
    if rates
        .samples
        .back()
        .is_some_and(|(t, _, _)| now.saturating_sub(*t) < SAMPLE_EVERY)
    {
        return;
    }
    // Latency samples carry real instants (the render world and decode threads stamp
    // them), so the window is read against the real clock.
    if let Some(latency) = latency {
        let summary = link.stats.latency.summary(std::time::Instant::now());
        if latency.0 != summary {
            latency.0 = summary;
        }
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
