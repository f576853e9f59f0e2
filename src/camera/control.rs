//! Requests from the API carried out in the ECS, where the truth is: recording on/off, cameras
//! added (through the same `CameraSpawner` as start-up), edited (`edit`) and removed (the grid
//! closes up);
//! window changes are handed to the wall. Answers go back on each request's oneshot.

use bevy::prelude::*;

use super::recording::{SetRecording, apply_set_recording};
use super::{CameraSpawner, CameraStream, IpCamera, Ptz, StreamKind, Streams, WorkerLink};
use crate::WallSystems;
use crate::record::names::{folder_name, same_folder};
use crate::serve::Ports;
use crate::serve::api::{ApiCommand, Refusal};

/// Control requests from the API, drained each frame.
#[derive(Resource)]
pub struct ApiInbox(pub crossbeam_channel::Receiver<ApiCommand>);

/// Carries out [`ApiCommand`]s. Needs [`ApiInbox`] and what a [`CameraSpawner`] needs.
pub fn control_plugin(app: &mut App) {
    app.add_systems(
        Update,
        api_commands
            .in_set(WallSystems::Ingest)
            .before(apply_set_recording),
    );
}

#[allow(clippy::type_complexity)]
fn api_commands(
    inbox: Res<ApiInbox>,
    mut cameras: Query<(Entity, &mut IpCamera, Option<&Streams>, Option<&Ptz>)>,
    streams: Query<(&CameraStream, Option<&WorkerLink>)>,
    mut set: MessageWriter<SetRecording>,
    mut windows: Option<ResMut<Messages<crate::wall::windows::WindowRequest>>>,
    (ports, followers): (
        Query<&super::PortBinding>,
        Query<&super::motion::EventFollower>,
    ),
    mut spawner: CameraSpawner,
) {
    // Commands are deferred: cameras added or removed earlier in this pass are not in the
    // query yet.
    let mut added: Vec<String> = Vec::new();
    let mut removed: Vec<Entity> = Vec::new();
    for command in inbox.0.try_iter() {
        match command {
            ApiCommand::SetRecording { camera, active } => {
                if let Some((entity, ..)) = cameras.iter().find(|(_, c, ..)| c.name == camera) {
                    set.write(SetRecording {
                        camera: entity,
                        active: Some(active),
                    });
                }
            }
            ApiCommand::AddCamera { camera, reply } => {
                // Recording folders compare as the config check compares them.
                let taken = added
                    .iter()
                    .map(String::as_str)
                    .chain(
                        cameras
                            .iter()
                            .filter(|(e, ..)| !removed.contains(e))
                            .map(|(_, c, ..)| c.name.as_str()),
                    )
                    .find(|n| same_folder(n, &camera.name));
                if let Some(other) = taken {
                    let why = if other == camera.name {
                        format!("a camera named {other:?} exists already")
                    } else {
                        format!(
                            "camera name {:?} would record into the same folder {:?} as {other:?} \
                             (folder names are made valid on Windows and compared without case)",
                            camera.name,
                            folder_name(&camera.name)
                        )
                    };
                    let _ = reply.send(Err(Refusal::Conflict(why)));
                    continue;
                }
                let camera = spawner.with_stored_lock(*camera);
                let index = cameras
                    .iter()
                    .filter(|(e, ..)| !removed.contains(e))
                    .count()
                    + added.len();
                info!(camera = %camera.name, "added over the API");
                let (_, ports) = spawner.spawn(&camera, index);
                added.push(camera.name.clone());
                let _ = reply.send(Ok(Ports {
                    mjpeg: ports.mjpeg,
                    audio: ports.audio,
                }));
            }
            ApiCommand::RemoveCamera { camera, reply } => {
                let found = cameras
                    .iter()
                    .find(|(e, c, ..)| c.name == camera && !removed.contains(e));
                match found {
                    Some((entity, _, _, ptz)) => {
                        spawner.remove(entity, &camera, ptz);
                        removed.push(entity);
                        let _ = reply.send(Ok(()));
                    }
                    None => {
                        let _ = reply.send(Err(Refusal::NotFound(format!("no camera {camera:?}"))));
                    }
                }
            }
            ApiCommand::ReplaceCamera { camera, reply } => {
                let found = cameras
                    .iter()
                    .find(|(e, c, ..)| c.name == camera.name && !removed.contains(e));
                let Some((entity, current, of, ptz)) = found else {
                    let _ = reply.send(Err(Refusal::NotFound(format!(
                        "no camera {:?}",
                        camera.name
                    ))));
                    continue;
                };
                let stream = |kind| {
                    of.into_iter()
                        .flat_map(|s| s.iter())
                        .find_map(|e| match streams.get(e) {
                            Ok((s, link)) if s.kind == kind => Some((e, link)),
                            _ => None,
                        })
                };
                let now = super::edit::Current {
                    entity,
                    camera: current,
                    main: stream(StreamKind::Main),
                    sub: stream(StreamKind::Sub),
                    ptz,
                    ports: ports.get(entity).ok(),
                };
                let camera = spawner.with_stored_lock(*camera);
                // The old event source lets go of its subscription before a new one is made
                // (some cameras have few pull points).
                if let Ok(f) = followers.get(entity) {
                    f.stop();
                }
                let answer = spawner
                    .reconfigure(now, &camera, &mut set)
                    .map(|p| Ports {
                        mjpeg: p.mjpeg,
                        audio: p.audio,
                    })
                    .map_err(super::edit::EditError::refusal);
                let _ = reply.send(answer);
            }
            ApiCommand::SetWindow {
                window,
                change,
                reply,
            } => match windows.as_mut() {
                // The wall carries it out (and answers).
                Some(w) => {
                    w.write(crate::wall::windows::WindowRequest {
                        window,
                        change,
                        reply,
                    });
                }
                None => {
                    let _ = reply.send(Err(Refusal::NotFound("no windows: headless".into())));
                }
            },
        }
    }
    if !removed.is_empty() {
        // Close the gaps: grid positions stay 0..n in the order cameras had. Cameras added
        // in this same pass come after them.
        let mut left: Vec<_> = cameras
            .iter_mut()
            .filter(|(e, ..)| !removed.contains(e))
            .map(|(_, c, ..)| c)
            .collect();
        left.sort_by_key(|c| c.index);
        for (i, mut c) in left.into_iter().enumerate() {
            if c.index != i {
                c.index = i;
            }
        }
    }
}
