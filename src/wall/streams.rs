//! Which stream each camera decodes and which sessions it holds, from what the windows show:
//! decode only what is seen, and on a camera with a sub stream, the stream that fits its
//! largest tile. The workers obey the demands set here; the sub stream's pictures replace the
//! main ones (or back) in `camera::ingest` once the new stream has one.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::{TileRect, layout};
use crate::camera::{
    CameraStream, Display, IpCamera, StreamKind, StreamStatus, Streams, ViewLocked, WorkerLink,
};
use crate::stream::Demand;

/// The sub stream's size assumed before it has been seen (typical of cameras' sub streams).
const SUB_GUESS: (u32, u32) = (640, 360);

/// Decode only what is seen, from the stream that fits the tile. A camera without a sub stream
/// decodes while its tile is shown and not locked. With one, the tile's pixels pick the stream
/// (`layout::stream_for`) and only that stream decodes (both while the tile switches: the
/// old one shows until the new one has a picture); the main session is held only while it is
/// shown or records, the sub session while it is shown, or as the camera's only session when
/// nothing shows or records it. MJPEG clients, listeners and snapshots keep the main stream
/// going on their own (the worker checks them). A camera coming back into view keeps its
/// last picture until its next keyframe decodes. The demands reach a worker only when they
/// change.
#[allow(clippy::type_complexity)]
pub(super) fn choose_streams(
    windows: Query<&Window, With<PrimaryWindow>>,
    mut cameras: Query<(
        &IpCamera,
        &TileRect,
        &ViewLocked,
        &crate::camera::Recording,
        Option<&Streams>,
        &mut Display,
        Has<crate::camera::Replay>,
    )>,
    streams: Query<(
        &CameraStream,
        &WorkerLink,
        &StreamStatus,
        Has<crate::camera::motion::Analysed>,
    )>,
) {
    let scale = windows.single().map_or(1.0, |w| w.scale_factor());
    for (cam, rect, locked, recording, of, mut display, replay) in &mut cameras {
        // A tile in playback shows recordings: its live stream is not seen.
        let seen = rect.visible && !locked.0 && !replay;
        let stream = |kind| {
            of.into_iter()
                .flat_map(|s| s.iter())
                .filter_map(|e| streams.get(e).ok())
                .find(|(s, ..)| s.kind == kind)
        };
        let Some((_, main, _, main_motion)) = stream(StreamKind::Main) else {
            continue;
        };
        let Some((_, sub, sub_status, sub_motion)) = stream(StreamKind::Sub) else {
            // Without a sub stream (or after losing it) the tile shows the main stream.
            display.set_if_neq(Display {
                visible: seen,
                ..Display::on(StreamKind::Main)
            });
            if main.asked().decode != seen {
                debug!(camera = %cam.name, "{}", if seen { "shown: decoding" } else { "not shown: decoding stops" });
            }
            main.ask(Demand {
                session: true,
                decode: seen,
                pictures: seen,
                motion: main_motion,
            });
            continue;
        };
        let sub_size = match (sub_status.width, sub_status.height) {
            (0, _) | (_, 0) => SUB_GUESS,
            size => size,
        };
        let tile = (rect.picture.w * scale, rect.picture.h * scale);
        let want = if seen {
            layout::stream_for(display.want, tile, sub_size)
        } else {
            display.want
        };
        if (display.visible, display.want) != (seen, want) {
            if want != display.want {
                info!(camera = %cam.name, "tile {:.0}×{:.0}: {} stream", tile.0, tile.1, want.as_str());
            }
            display.visible = seen;
            display.want = want;
        }
        let showing = |k: StreamKind| seen && (display.want == k || display.current == k);
        let main_session = recording.active || showing(StreamKind::Main);
        main.ask(Demand {
            session: main_session,
            decode: showing(StreamKind::Main),
            pictures: showing(StreamKind::Main),
            motion: main_motion,
        });
        // The demand's `motion` holds the sub session and decodes it for the detector.
        sub.ask(Demand {
            session: showing(StreamKind::Sub) || (!seen && !main_session),
            decode: showing(StreamKind::Sub),
            pictures: showing(StreamKind::Sub),
            motion: sub_motion,
        });
    }
}
