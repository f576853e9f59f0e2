//! Recording per camera on the ECS side: the `SetRecording` request (keys, overlays, API),
//! the recorder's ECS end, and the `Recording` component mirrored from the recorder's status
//! when it changes (its growing byte count a few times a second).

use bevy::prelude::*;

use super::IpCamera;
use crate::WallSystems;
use crate::record::RecorderHandle;

/// The camera's recording, mirrored from its recorder.
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

/// The ECS end of the camera's recorder, and what of its status the ECS has seen.
#[derive(Component)]
pub struct RecorderLink {
    pub handle: RecorderHandle,
    seen: tokio::sync::watch::Receiver<crate::record::RecorderStatus>,
    /// When the mirror was last written.
    mirrored_at: Option<std::time::Duration>,
}

impl RecorderLink {
    pub fn new(handle: RecorderHandle) -> Self {
        let mut seen = handle.status.subscribe();
        // The first pass mirrors what is there.
        seen.mark_changed();
        Self {
            handle,
            seen,
            mirrored_at: None,
        }
    }
}

/// How often a recorder's growing byte count is mirrored when nothing else changed.
const BYTES_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

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
    links: Query<(&IpCamera, &RecorderLink, Option<&super::ViaNode>)>,
    runtime: Option<Res<crate::runtime::Runtime>>,
) {
    for r in requests.read() {
        let Ok((camera, link, via_node)) = links.get(r.camera) else {
            continue;
        };
        let on = r.active.unwrap_or(!link.handle.is_active());
        if let (Some(node), Some(runtime)) = (via_node, &runtime) {
            let set = crate::node::control::set_recording(node.0.clone(), camera.name.clone(), on);
            runtime.handle().spawn(set);
            continue;
        }
        if on != link.handle.is_active() {
            info!(camera = %camera.name, "recording {}", if on { "on" } else { "off" });
        }
        link.handle.set_active(on);
    }
}

/// Mirrors a recorder's status when it changed: at once for a new state (on/off, segment,
/// error, audio), at most every [`BYTES_EVERY`] for bytes written.
fn sync_recording(
    time: Res<Time<Real>>,
    mut cameras: Query<(&IpCamera, &mut RecorderLink, &mut Recording)>,
    events: Option<Res<super::motion::Events>>,
) {
    let now = time.elapsed();
    for (camera, mut link, mut rec) in &mut cameras {
        let active = link.handle.is_active();
        let changed = link.seen.has_changed().unwrap_or(false);
        if !changed && active == rec.active {
            continue;
        }
        let link = &mut *link;
        let s = link.seen.borrow();
        let news = active != rec.active
            || s.segments != rec.segments
            || s.error != rec.error
            || s.audio != rec.audio
            || s.current_since_ms != rec.current_since_ms;
        let due = link
            .mirrored_at
            .is_none_or(|at| now.saturating_sub(at) >= BYTES_EVERY);
        if !news && !due {
            continue;
        }
        let next = Recording {
            active,
            segments: s.segments,
            bytes: s.bytes,
            current: s.current.as_ref().map(|p| p.display().to_string()),
            current_since_ms: s.current_since_ms,
            error: s.error.clone(),
            audio: s.audio.clone(),
        };
        drop(s);
        link.seen.mark_unchanged();
        link.mirrored_at = Some(now);
        if let (Some(events), Some(closed)) = (&events, closed_segment(&camera.name, &rec, &next)) {
            events.notice(closed);
        }
        *rec = next;
    }
}

/// The notice for the segment `before` had open, if `after` no longer has it open.
fn closed_segment(
    camera: &str,
    before: &Recording,
    after: &Recording,
) -> Option<crate::events::log::Notice> {
    let open = before.current.as_deref()?;
    if after.current.as_deref() == Some(open) && after.current_since_ms == before.current_since_ms {
        return None;
    }
    // `<dir>/<camera>/<day>/<time>.mp4`: the day and the file name, as the recordings routes
    // name it.
    let path = std::path::Path::new(open);
    let name = path.file_name()?.to_string_lossy();
    let day = path.parent().and_then(|p| p.file_name());
    Some(crate::events::log::Notice::Segment {
        camera: camera.to_owned(),
        file: day.map_or_else(
            || name.to_string(),
            |d| format!("{}/{name}", d.to_string_lossy()),
        ),
        start_ms: before.current_since_ms.unwrap_or_default(),
        end_ms: crate::media::unix_ms(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::prelude::*;
    use bevy::time::TimeUpdateStrategy;

    use super::*;

    /// A recorder writing every frame is mirrored four times a second; a new segment at once.
    #[test]
    fn growing_bytes_are_mirrored_a_few_times_a_second_and_a_new_segment_at_once() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                20,
            )))
            .add_plugins((crate::schedule_plugin, plugin));
        let handle = RecorderHandle::default();
        let camera = app
            .world_mut()
            .spawn((
                IpCamera {
                    name: "T".into(),
                    index: 0,
                    url: "rtsp://t/".into(),
                },
                RecorderLink::new(handle.clone()),
            ))
            .id();
        let mut mirrored = 0;
        let mut last_bytes = 0;
        // 2 s of frames, 50 a second, each writing.
        for frame in 1..=100u64 {
            handle.status.send_modify(|s| s.bytes = frame * 1000);
            app.update();
            let bytes = app.world().get::<Recording>(camera).unwrap().bytes;
            if bytes != last_bytes {
                mirrored += 1;
                last_bytes = bytes;
            }
        }
        assert!(
            (8..=10).contains(&mirrored),
            "mirrored {mirrored} times in 2 s"
        );
        handle.status.send_modify(|s| {
            s.segments = 1;
            s.current = Some("seg.mp4".into());
            s.current_since_ms = Some(5);
        });
        app.update();
        let rec = app.world().get::<Recording>(camera).unwrap();
        assert_eq!((rec.segments, rec.current.as_deref()), (1, Some("seg.mp4")));
        handle.set_active(true);
        app.update();
        assert!(app.world().get::<Recording>(camera).unwrap().active);
    }
}
