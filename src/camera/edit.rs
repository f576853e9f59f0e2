//! Cameras edited at run time (`PUT /api/cameras/{name}`): the camera's worker takes the new
//! URL, credentials and transport and reconnects (its recorder closes the segment and opens a
//! new one at the new session), recording follows `record`, its control agent, talk settings
//! and view lock are replaced; its servers, ports, decode thread and grid place stay, and no
//! other camera is touched. A camera that has no worker (disabled, or failed to start) or is
//! being enabled or disabled is removed and spawned again at its place instead.

use bevy::prelude::*;

use super::spawn::{talk_settings, worker_config};
use super::{CameraSpawner, IpCamera, PortBinding, Ptz, SetRecording, Talkable, WorkerLink};
use crate::config::CameraConfig;
use crate::record::names::folder_name;
use crate::secret;
use crate::stream::CameraCommand;

/// What an edit needs of the camera as it is.
pub struct Current<'a> {
    pub entity: Entity,
    pub camera: &'a IpCamera,
    pub link: Option<&'a WorkerLink>,
    pub ptz: Option<&'a Ptz>,
    pub sub: Option<&'a super::sub::SubStream>,
    pub ports: Option<&'a PortBinding>,
}

impl CameraSpawner<'_, '_> {
    /// Replaces camera `now`'s settings with `cam` (same name). Returns the ports it serves on.
    pub fn reconfigure(
        &mut self,
        now: Current<'_>,
        cam: &CameraConfig,
        set_recording: &mut MessageWriter<SetRecording>,
    ) -> Result<PortBinding, String> {
        let Current {
            entity,
            camera,
            link,
            ptz,
            sub,
            ports,
        } = now;
        let (Some(link), true) = (link, cam.enabled) else {
            // Nothing running to keep (or to keep running): start over at the same place.
            let index = camera.index;
            self.remove(entity, &cam.name, link, ptz, sub);
            let (_, ports) = self.spawn(cam, index);
            return Ok(ports);
        };
        let mut wc = worker_config(cam, &self.config.0)?;
        wc.speaker = self.sound.as_ref().map(|s| s.0.clone());
        link.commands
            .try_send(CameraCommand::Reconfigure(Box::new(wc)))
            .map_err(|_| format!("camera {:?} is busy; try again", cam.name))?;
        self.reconfigure_sub(entity, sub, cam)?;
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
                Some(cap) => r.policy.camera_max_bytes.insert(folder, cap),
                None => r.policy.camera_max_bytes.remove(&folder),
            };
        }
        set_recording.write(SetRecording {
            camera: entity,
            active: Some(cam.record),
        });
        info!(camera = %cam.name, "settings replaced over the API");
        Ok(ports.cloned().unwrap_or_default())
    }

    /// The sub stream follows `sub_url`: new settings for its worker, or started, or stopped.
    fn reconfigure_sub(
        &mut self,
        entity: Entity,
        sub: Option<&super::sub::SubStream>,
        cam: &CameraConfig,
    ) -> Result<(), String> {
        match (sub, super::sub::sub_camera(cam)) {
            (Some(sub), Some(sub_cam)) => {
                let wc = worker_config(&sub_cam, &self.config.0)?;
                sub.link
                    .commands
                    .try_send(CameraCommand::Reconfigure(Box::new(wc)))
                    .map_err(|_| format!("camera {:?} is busy; try again", cam.name))
            }
            (Some(sub), None) => {
                super::sub::stop_sub(sub);
                self.commands
                    .entity(entity)
                    .remove::<(super::sub::SubStream, super::sub::Display)>();
                // The main stream is the camera again.
                Ok(())
            }
            (None, Some(_)) => {
                let window = self.wanted.as_ref().is_none_or(|w| w.0);
                self.start_sub(entity, cam, window);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }
}
