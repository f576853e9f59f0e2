//! Cameras edited at run time (`PUT /api/cameras/{name}`): the camera's worker takes the new
//! URL, credentials and transport and reconnects (its recorder closes the segment and opens a
//! new one at the new session), recording follows `record`, its control agent, talk settings
//! and view lock are replaced; its servers, ports, decode thread and grid place stay, and no
//! other camera is touched. A camera that has no worker (disabled, or failed to start) or is
//! being enabled or disabled is removed and spawned again at its place instead. An edit is
//! all or nothing: whatever can fail (the new settings, room in both workers' command queues)
//! is checked and reserved before anything changes.

use bevy::prelude::*;

use super::spawn::{talk_settings, worker_config};
use super::{CameraSpawner, IpCamera, PortBinding, Ptz, SetRecording, Talkable, WorkerLink};
use crate::config::CameraConfig;
use crate::record::names::folder_name;
use crate::secret;
use crate::stream::CameraCommand;

/// Why an edit was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// A field the camera cannot use: `field: why`.
    Invalid(String),
    /// A worker's command queue is full (it is still carrying out an earlier edit).
    Busy(String),
}

impl EditError {
    pub fn refusal(self) -> crate::serve::api::Refusal {
        use crate::serve::api::Refusal;
        match self {
            Self::Invalid(m) => Refusal::BadRequest(m),
            Self::Busy(m) => Refusal::Busy(m),
        }
    }
}

/// The worker settings for `cam`, or which field is wrong.
fn settings(
    cam: &CameraConfig,
    field: &str,
    config: &crate::config::Config,
) -> Result<crate::stream::WorkerConfig, EditError> {
    worker_config(cam, config).map_err(|why| EditError::Invalid(format!("{field}: {why}")))
}

/// Room for one command in `link`'s queue, or [`EditError::Busy`].
fn room<'a>(
    link: &'a WorkerLink,
    name: &str,
) -> Result<tokio::sync::mpsc::Permit<'a, CameraCommand>, EditError> {
    link.commands
        .try_reserve()
        .map_err(|_| EditError::Busy(format!("camera {name:?} is busy; try again")))
}

/// A stream of the camera as it is: its entity and its worker's link (none: not started).
pub type StreamNow<'a> = (Entity, Option<&'a WorkerLink>);

/// What an edit needs of the camera as it is.
pub struct Current<'a> {
    pub entity: Entity,
    pub camera: &'a IpCamera,
    pub main: Option<StreamNow<'a>>,
    pub sub: Option<StreamNow<'a>>,
    pub ptz: Option<&'a Ptz>,
    pub ports: Option<&'a PortBinding>,
}

impl CameraSpawner<'_, '_> {
    /// Replaces camera `now`'s settings with `cam` (same name). Returns the ports it serves on.
    pub fn reconfigure(
        &mut self,
        now: Current<'_>,
        cam: &CameraConfig,
        set_recording: &mut MessageWriter<SetRecording>,
    ) -> Result<PortBinding, EditError> {
        let Current {
            entity,
            camera,
            main,
            sub,
            ptz,
            ports,
        } = now;
        // A worker whose task has ended cannot take settings: such a camera starts afresh (a
        // dead sub stream worker is replaced below).
        fn running(s: Option<StreamNow<'_>>) -> Option<&WorkerLink> {
            s.and_then(|(_, link)| link.filter(|l| !l.commands.is_closed()))
        }
        let (Some(link), true) = (running(main), cam.enabled) else {
            // Nothing running to keep (or to keep running): start over at the same place.
            let index = camera.index;
            self.remove(entity, &cam.name, ptz);
            let (_, ports) = self.spawn(cam, index);
            return Ok(ports);
        };
        // Everything that can fail, before anything changes.
        let main_settings = settings(cam, "url", &self.config.0)?;
        let sub_settings = match (running(sub), super::streams::sub_camera(cam)) {
            (Some(s), Some(sub_cam)) => Some((
                room(s, &cam.name)?,
                settings(&sub_cam, "sub_url", &self.config.0)?,
            )),
            _ => None,
        };
        room(link, &cam.name)?.send(CameraCommand::Reconfigure(Box::new(main_settings)));
        let main_entity = main.map_or(entity, |(e, _)| e);
        let kept_sub = match sub_settings {
            Some((permit, wc)) => {
                permit.send(CameraCommand::Reconfigure(Box::new(wc)));
                sub.and_then(|(e, l)| Some((e, l?)))
            }
            None => {
                self.follow_sub_url(entity, sub.map(|(e, _)| e), cam);
                None
            }
        };
        self.follow_events(entity, (main_entity, link), kept_sub, cam);
        self.set_lock(cam);
        // A new control agent for the new endpoint (the old one stops its camera first).
        if let Some(ptz) = ptz {
            ptz.handle.shutdown();
        }
        let control = self.start_control(cam);
        let talk = talk_settings(cam);
        let mut e = self.commands.entity(entity);
        e.insert(IpCamera {
            url: secret::redact_url(&cam.url),
            ..camera.clone()
        });
        match &control {
            Some(handle) => e.insert(Ptz::new(handle.clone())),
            None => e.remove::<Ptz>(),
        };
        match &talk {
            Some(t) => e.insert(Talkable(t.clone())),
            None => e.remove::<Talkable>(),
        };
        if let Ok(mut hub) = self.hub.0.write()
            && let Some(feeds) = hub.get_mut(&cam.name)
        {
            feeds.control = control;
            feeds.talk = talk;
        }
        if let Ok(mut r) = self.retention.0.lock() {
            let folder = folder_name(&cam.name);
            match cam.max_bytes {
                Some(cap) => r.policy.camera_max_bytes.insert(folder.clone(), cap),
                None => r.policy.camera_max_bytes.remove(&folder),
            };
            match cam.record {
                crate::config::Record::Events => r.policy.events_only.insert(folder),
                _ => r.policy.events_only.remove(&folder),
            };
        }
        set_recording.write(SetRecording {
            camera: entity,
            active: Some(cam.record.on()),
        });
        info!(camera = %cam.name, "settings replaced over the API");
        Ok(ports.cloned().unwrap_or_default())
    }

    /// Camera `camera`'s events after an edit: its event source started afresh for the new
    /// settings, its tracker's rules replaced, its motion analysis given the new settings and
    /// turned on where `cam` looks at its pictures (a sub stream started afresh turns its own
    /// on; a camera that turns out to have no event service turns it on later).
    fn follow_events(
        &mut self,
        camera: Entity,
        main: (Entity, &WorkerLink),
        sub: Option<(Entity, &WorkerLink)>,
        cam: &CameraConfig,
    ) {
        let follower = self.start_events(cam);
        let rules = cam.motion.rules();
        let mut e = self.commands.entity(camera);
        e.remove::<super::motion::EventFollower>()
            .entry::<super::motion::MotionTracker>()
            .and_modify(move |mut t| t.0.rules = rules);
        if let Some(f) = follower {
            e.insert(f);
        }
        let settings = cam.motion.detector();
        for (_, link) in [Some(main), sub].into_iter().flatten() {
            link.set_motion(&settings);
        }
        let looks = super::spawn::local_motion(cam);
        let mut streams = vec![(main.0, super::StreamKind::Main, main.1)];
        if let Some((e, link)) = sub {
            streams.push((e, super::StreamKind::Sub, link));
        }
        if looks && (sub.is_some() || cam.sub_url.is_none()) {
            super::motion::analyse_pictures(&mut self.commands, streams);
        } else {
            for (e, _, link) in streams {
                link.analyse(false);
                self.commands.entity(e).remove::<super::motion::Analysed>();
            }
        }
    }

    /// A sub stream added or taken away by `sub_url`, or started afresh when its worker has
    /// ended (new settings for a running one are sent with the main stream's). A despawned
    /// stream's worker ends with its link; a camera left without a sub stream (none wanted,
    /// or the new one cannot start) shows its main stream (`wall::streams::choose_streams`).
    fn follow_sub_url(&mut self, camera: Entity, sub: Option<Entity>, cam: &CameraConfig) {
        if let Some(sub) = sub {
            self.commands.entity(sub).despawn();
        }
        if cam.sub_url.is_some() {
            let window = self.wanted.as_ref().is_none_or(|w| w.0);
            self.start_sub(camera, cam, window);
        }
    }
}
