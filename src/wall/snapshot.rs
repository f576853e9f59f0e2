//! `S` on the wall (when the selected camera does not steer: there `S` tilts down; `Ctrl+S`
//! always): the selected camera's picture on screen saved as a JPEG to
//! `snapshot_dir/CAMERA/YYYY-MM-DD_HH-MM-SS.mmm.jpg`, encoded and written on a thread of its
//! own (a slow disk never holds up a frame); the camera's overlay says where it went, or why
//! not (no picture yet, locked, disk full).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bevy::prelude::*;

use crate::camera::{IpCamera, LatestFrame, ViewLocked, WallConfig};
use crate::media::encode::JpegEncoder;

/// How long the overlay shows where a snapshot went.
const NOTICE: Duration = Duration::from_secs(4);

pub fn plugin(app: &mut App) {
    app.init_resource::<Snapshots>().add_systems(
        Update,
        snapshot_key
            .after(super::input::select)
            .in_set(crate::WallSystems::Present),
    );
}

/// Where a snapshot went, or why there is none.
pub type Outcome = Result<PathBuf, String>;

/// The last snapshot's outcome per camera, with when it was asked for: shared with the
/// writing thread.
#[derive(Resource, Default, Clone)]
pub struct Snapshots(Arc<Mutex<Vec<(String, Duration, Outcome)>>>);

impl Snapshots {
    /// What the overlay of `camera` says about its last snapshot, while it is recent.
    pub fn notice(&self, camera: &str, now: Duration) -> Option<Outcome> {
        let list = self.0.lock().ok()?;
        list.iter()
            .rev()
            .find(|(c, at, _)| c == camera && now.saturating_sub(*at) < NOTICE)
            .map(|(_, _, r)| r.clone())
    }

    fn record(&self, camera: &str, at: Duration, outcome: Outcome) {
        if let Ok(mut list) = self.0.lock() {
            list.retain(|(c, _, _)| c != camera);
            list.push((camera.to_owned(), at, outcome));
        }
    }
}

/// The file a snapshot of `camera` taken at `when` goes to (in the camera's folder, named as
/// the recordings' is).
pub fn snapshot_path(
    dir: &std::path::Path,
    camera: &str,
    when: chrono::DateTime<chrono::Local>,
) -> PathBuf {
    dir.join(crate::record::names::folder_name(camera))
        .join(format!("{}.jpg", when.format("%Y-%m-%d_%H-%M-%S%.3f")))
}

/// What `S` reads of a camera: its picture, lock, PTZ (S steers a PTZ camera) and playback.
type ShotSource = (
    &'static IpCamera,
    &'static LatestFrame,
    &'static ViewLocked,
    Option<&'static crate::camera::Ptz>,
    Option<&'static crate::camera::Replay>,
);

/// When the picture a tile shows was taken, which names its file: a recorded picture's
/// recording time, a live one's arrival (the last picture of a stalled camera is not "now").
/// A playback tile over a gap has no picture to give.
fn picture_time(
    frame: &crate::media::SharedFrame,
    replay: Option<&crate::camera::Replay>,
) -> Result<chrono::DateTime<chrono::Local>, String> {
    use crate::camera::replay::ReplayShown;
    use chrono::TimeZone;
    match replay.map(|r| &r.shown) {
        Some(ReplayShown::Picture { at_ms, .. }) => chrono::Local
            .timestamp_millis_opt(*at_ms)
            .single()
            .ok_or_else(|| "the picture's time is out of range".into()),
        Some(ReplayShown::Nothing { .. }) => Err("no recording at this instant".into()),
        Some(ReplayShown::Waiting) => Err("no picture yet".into()),
        None => Ok(chrono::Local::now()
            - chrono::Duration::from_std(frame.arrival.elapsed()).unwrap_or_default()),
    }
}

fn snapshot_key(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<super::focus::EguiTyping>>,
    windows: super::ViewWindows,
    time: Res<Time<Real>>,
    config: Option<Res<WallConfig>>,
    cameras: Query<ShotSource>,
    snapshots: Res<Snapshots>,
) {
    if super::focus::EguiTyping::now(egui) || !keys.just_pressed(KeyCode::KeyS) {
        return;
    }
    let Some(view) = super::operator_view(&windows) else {
        return;
    };
    let index = view.maximised.unwrap_or(view.selected);
    let Some((cam, frame, locked, ptz, replay)) = cameras.iter().find(|(c, ..)| c.index == index)
    else {
        return;
    };
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let (steers, _) = super::input::capabilities(ptz, Some(locked));
    if steers && !ctrl {
        return;
    }
    let now = time.elapsed();
    let frame = match (&frame.0, locked.0) {
        (_, true) => {
            return snapshots.record(
                &cam.name,
                now,
                Err("locked: unlock to take a snapshot".into()),
            );
        }
        (None, _) => {
            return snapshots.record(&cam.name, now, Err("no picture yet".into()));
        }
        (Some(f), _) => f.clone(),
    };
    let when = match picture_time(&frame, replay) {
        Ok(when) => when,
        Err(why) => return snapshots.record(&cam.name, now, Err(why)),
    };
    let dir = config.map_or_else(|| PathBuf::from("snapshots"), |c| c.0.snapshot_dir.clone());
    let quality = 90;
    let path = snapshot_path(&dir, &cam.name, when);
    let (name, snapshots) = (cam.name.clone(), snapshots.clone());
    let spawned = std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || {
            let outcome = JpegEncoder::new(quality)
                .encode(&frame)
                .map_err(|e| format!("cannot encode: {e}"))
                .and_then(|jpeg| {
                    path.parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::write(&path, &jpeg))
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))
                        .map(|()| path)
                });
            match &outcome {
                Ok(p) => info!(camera = %name, "snapshot saved: {}", p.display()),
                Err(e) => warn!(camera = %name, "snapshot: {e}"),
            }
            snapshots.record(&name, now, outcome);
        });
    if let Err(e) = spawned {
        warn!("snapshot: cannot start a thread: {e}");
    }
}
