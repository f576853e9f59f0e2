//! Recording per camera on the ECS side: the `SetRecording` request (keys, overlays, API),
//! the recorder's ECS end, and the `Recording` component mirrored from the recorder's status.

use bevy::prelude::*;

use super::IpCamera;
use crate::WallSystems;
use crate::record::RecorderHandle;

/// The camera's recording, mirrored from its recorder each frame.
#[derive(Component, Debug, Clone, Default)]
pub struct Recording {
    pub active: bool,
    pub segments: u64,
    pub bytes: u64,
    /// The open segment's path.
    pub current: Option<String>,
    /// Wall clock (Unix ms) the open segment started.
    pub current_since_ms: Option<i64>,
    /// Why recording is failing right now.
    pub error: Option<String>,
    /// The audio being recorded, or why the camera's audio is not.
    pub audio: Option<String>,
}

/// The ECS end of the camera's recorder.
#[derive(Component, Clone)]
pub struct RecorderLink(pub RecorderHandle);

/// Turns recording of one camera on or off (`None`: toggle). From the API, keys, overlays.
#[derive(Message, Debug, Clone)]
pub struct SetRecording {
    pub camera: Entity,
    pub active: Option<bool>,
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<SetRecording>().add_systems(
        Update,
        (apply_set_recording, sync_recording)
            .chain()
            .in_set(WallSystems::Ingest),
    );
}

pub(super) fn apply_set_recording(
    mut requests: MessageReader<SetRecording>,
    links: Query<(&IpCamera, &RecorderLink)>,
) {
    for r in requests.read() {
        let Ok((camera, link)) = links.get(r.camera) else {
            continue;
        };
        let on = r.active.unwrap_or(!link.0.is_active());
        if on != link.0.is_active() {
            info!(camera = %camera.name, "recording {}", if on { "on" } else { "off" });
        }
        link.0.set_active(on);
    }
}

fn sync_recording(mut cameras: Query<(&RecorderLink, &mut Recording)>) {
    for (link, mut rec) in &mut cameras {
        let s = link.0.status();
        let next = Recording {
            active: link.0.is_active(),
            segments: s.segments,
            bytes: s.bytes,
            current: s.current.map(|p| p.display().to_string()),
            current_since_ms: s.current_since_ms,
            error: s.error,
            audio: s.audio,
        };
        if rec.bytes != next.bytes
            || rec.active != next.active
            || rec.current != next.current
            || rec.error != next.error
            || rec.audio != next.audio
        {
            *rec = next;
        }
    }
}
