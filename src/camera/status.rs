//! The status snapshot the API serves, built from the components as plain values (the API
//! never sees an ECS type) when a camera's state, settings, ports, lock or displayed stream
//! changed, and otherwise a few times a second for its figures (rates, latency, recording);
//! and the API server's handle.

use bevy::prelude::*;

use super::state::StreamState;
use super::{CameraView, CameraViewItem, StreamKind};
use crate::serve::{
    self, CameraStatus, Ports, RecordingStatus, Server, StatusBoard, StreamDetail, Streams,
};
use crate::stream::Percentiles;

/// Snapshot for the API.
#[derive(Resource, Clone, Deref)]
pub struct Board(pub StatusBoard);

/// The status API's server (it stops when this is dropped).
#[derive(Resource, Debug)]
pub struct ApiServer(pub Server);

/// The RTSP restream's server (it stops when this is dropped).
#[derive(Resource, Debug)]
pub struct RestreamServer(pub Server);

/// Milliseconds to one decimal.
fn latency(p: Option<Percentiles>) -> Option<serve::Latency> {
    let round = |v: f64| (v * 10.0).round() / 10.0;
    p.map(|p| serve::Latency {
        p50: round(p.p50),
        p99: round(p.p99),
    })
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn detail(status: &super::StreamStatus, rates: &super::Rates) -> StreamDetail {
    StreamDetail {
        state: status.machine.state.as_str().to_owned(),
        width: status.width,
        height: status.height,
        fps: round1(rates.fps),
        frames: rates.frames,
        decoded: rates.decoded,
    }
}

/// How often the figures (rates, latency, grace countdowns, byte counts) are republished when
/// nothing else changed.
pub const FIGURES_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// A change that is published at once (the rest waits for [`FIGURES_EVERY`]).
type StatusChanged = Or<(
    Changed<super::IpCamera>,
    Changed<super::PortBinding>,
    Changed<super::AudioStatus>,
    Changed<super::Display>,
    Changed<super::ViewLocked>,
    Changed<super::Streams>,
    Changed<super::motion::Motion>,
)>;

/// Cameras and streams with a change that is published at once.
type Changes<'w, 's> = (
    Query<'w, 's, (), StatusChanged>,
    Query<'w, 's, (), Changed<super::StreamStatus>>,
);

/// Tells the live feed each camera whose state differs from the last snapshot's (a camera
/// new to it counts as changed from `connecting`).
fn tell_states(before: &[CameraStatus], now: &[CameraStatus], events: &super::motion::Events) {
    for c in now {
        let was = before
            .iter()
            .find(|b| b.name == c.name)
            .map_or("connecting", |b| b.state.as_str());
        if was != c.state {
            events.notice(crate::events::log::Notice::State {
                camera: c.name.clone(),
                state: c.state.clone(),
                error: c.last_error.clone(),
            });
        }
    }
}

/// What the snapshot reads beside the components: locks, restreams, and the live feed it
/// tells of state changes.
type Shared<'w> = (
    Option<Res<'w, super::ViewLocks>>,
    Option<Res<'w, super::Restreams>>,
    Option<Res<'w, super::motion::Events>>,
);

/// Builds the API snapshot from the components.
pub fn publish_status(
    time: Res<Time<Real>>,
    board: Res<Board>,
    (locks, restreams, events): Shared,
    cameras: Query<CameraView>,
    streams: super::StreamsOf,
    changes: Changes,
    (mut removed, mut last): (
        RemovedComponents<super::IpCamera>,
        Local<Option<std::time::Duration>>,
    ),
) {
    let now = time.elapsed();
    let gone = removed.read().count() > 0;
    let due = last.is_none_or(|at| now.saturating_sub(at) >= FIGURES_EVERY);
    let (cameras_changed, streams_changed) = changes;
    if !due && !gone && cameras_changed.is_empty() && streams_changed.is_empty() {
        return;
    }
    *last = Some(now);
    let mut list: Vec<_> = cameras.iter().collect();
    list.sort_by_key(|v| v.camera.index);
    let rtsp_base = board.read().ok().and_then(|b| b.rtsp_base.clone());
    let restream = |name: &str| {
        let streams = restreams.as_ref()?.0.streams(name)?;
        let base = rtsp_base.as_deref()?;
        let url = |sub| format!("{base}{}", crate::restream::StreamPath::of(name, sub));
        let clients = streams.main.clients() + streams.sub.as_ref().map_or(0, |f| f.clients());
        Some(crate::serve::RestreamStatus {
            main: url(false),
            sub: streams.sub.is_some().then(|| url(true)),
            clients,
        })
    };
    let cameras: Vec<CameraStatus> = list
        .into_iter()
        .map(|view| {
            let shown = view.shown(&streams);
            let (status, rates, grace, lat) =
                (shown.status, shown.rates, shown.grace, shown.latency);
            let both = streams
                .of(view.streams, StreamKind::Main)
                .zip(streams.of(view.streams, StreamKind::Sub));
            let CameraViewItem {
                node_down,
                at_node,
                camera: cam,
                audio,
                ports,
                recording: rec,
                ptz,
                talkable,
                display,
                motion,
                ..
            } = view;
            CameraStatus {
                name: cam.name.clone(),
                url: cam.url.clone(),
                state: match node_down {
                    Some(_) => "node_unreachable".to_owned(),
                    None => status.machine.state.as_str().to_owned(),
                },
                codec: status.codec.map(|c| c.as_str().to_owned()),
                audio: audio.text.clone(),
                width: status.width,
                height: status.height,
                fps: round1(rates.fps),
                bitrate_bps: rates.bitrate_bps.round(),
                frames: rates.frames,
                decoded: rates.decoded,
                reconnects: status.machine.reconnects,
                last_error: match (node_down, at_node) {
                    (Some(why), _) => Some(format!("node unreachable: {}", why.0)),
                    (None, Some(says)) if status.machine.state != StreamState::Live => {
                        Some(format!("at the node: {}", says.0))
                    }
                    _ => status.machine.last_error.clone(),
                },
                grace_secs_left: status
                    .machine
                    .grace_left(&grace.0, now)
                    .map(|d| round1(d.as_secs_f64())),
                latency_ms: latency(lat.0.added),
                glass_ms: latency(lat.0.glass),
                ports: Ports {
                    mjpeg: ports.mjpeg,
                    audio: ports.audio,
                },
                ptz: ptz
                    .map(|p| crate::serve::PtzStatus {
                        available: p.status.ptz,
                        imaging: p.status.imaging,
                        moving: p.status.moving,
                        brightness: p.status.brightness.map(|b| (b * 10.0).round() / 10.0),
                        last_error: p.status.last_error.clone(),
                    })
                    .unwrap_or_default(),
                locked: locks.as_ref().is_some_and(|l| l.0.has_lock(&cam.name)),
                talk: talkable,
                recording: RecordingStatus {
                    active: rec.active,
                    segments: rec.segments,
                    bytes: rec.bytes,
                    current: rec.current.clone(),
                    error: rec.error.clone(),
                    audio: rec.audio.clone(),
                },
                display_stream: display.shown().map(|k| k.as_str().to_owned()),
                motion: motion.is_some_and(|m| m.active()),
                streams: both.map(|(main, sub)| Streams {
                    main: detail(main.status, main.rates),
                    sub: detail(sub.status, sub.rates),
                }),
                restream: restream(&cam.name),
            }
        })
        .collect();
    if let Ok(mut snapshot) = board.write() {
        if let Some(events) = &events {
            tell_states(&snapshot.cameras, &cameras, events);
        }
        snapshot.cameras = cameras;
        if snapshot.states.is_empty() {
            snapshot.states = StreamState::ALL
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
        }
    }
}
