//! What an agent knows of a device for one session (clock offset and services, the profile
//! it steers, the video source and brightness range), read once when the session opens, and
//! carrying out one command on it.

use super::agent::MOVE_TIMEOUT_SECS;
use super::mailbox::{Command, Reply};
use super::responses::Preset;
use super::{Device, Endpoint, ErrorKind, OnvifError};

/// What is known of a device for one session.
pub(super) struct Session {
    pub(super) device: Device,
    pub(super) profile: String,
    pub(super) ptz: bool,
    /// Video source token and brightness range.
    pub(super) imaging: Option<(String, (f32, f32))>,
    presets: Option<Vec<Preset>>,
}

impl Session {
    pub(super) async fn open(endpoint: &Endpoint) -> Result<Self, OnvifError> {
        let device = endpoint.connect().await?;
        let profiles = device.profiles().await?;
        let has_ptz = device.services.ptz.is_some();
        // The first profile the camera can move in, else the first.
        let profile = profiles
            .iter()
            .find(|p| has_ptz && p.ptz)
            .or(profiles.first())
            .ok_or_else(|| {
                OnvifError::new(
                    &endpoint.camera,
                    "GetProfiles",
                    ErrorKind::Unsupported("the camera has no media profile".into()),
                )
            })?
            .clone();
        let mut imaging = None;
        if device.services.imaging.is_some()
            && let Some(source) = &profile.video_source
        {
            match device.brightness_range(source).await {
                Ok(Some(range)) => imaging = Some((source.clone(), range)),
                Ok(None) => {}
                // A camera whose imaging service fails still moves.
                Err(e) => tracing::warn!("no brightness control: {e}"),
            }
        }
        Ok(Self {
            ptz: has_ptz && profile.ptz,
            profile: profile.token,
            imaging,
            presets: None,
            device,
        })
    }

    fn no(&self, op: &'static str, what: &str) -> OnvifError {
        OnvifError::new(
            &self.device.endpoint.camera,
            op,
            ErrorKind::Unsupported(format!("the camera has no {what}")),
        )
    }

    async fn presets(&mut self) -> Result<Vec<Preset>, OnvifError> {
        if let Some(p) = &self.presets {
            return Ok(p.clone());
        }
        let p = self.device.presets(&self.profile).await?;
        self.presets = Some(p.clone());
        Ok(p)
    }

    /// The camera's preset for our number `n`.
    fn resolve(presets: &[Preset], n: u32) -> Option<&Preset> {
        let key = n.to_string();
        presets
            .iter()
            .find(|p| p.name == key)
            .or_else(|| presets.iter().find(|p| p.token == key))
            .or_else(|| presets.get((n as usize).checked_sub(1)?))
    }

    pub(super) async fn execute(
        &mut self,
        command: &Command,
    ) -> Result<(Reply, Option<f32>), OnvifError> {
        let op = command.op();
        let needs_ptz = !matches!(command, Command::Brightness(_));
        if needs_ptz && !self.ptz {
            return Err(self.no(op, "PTZ"));
        }
        let d = &self.device;
        match command {
            Command::Move(v) if v.is_zero() => d.stop(&self.profile).await?,
            Command::Move(v) => {
                d.continuous_move(&self.profile, v.clamped(), MOVE_TIMEOUT_SECS)
                    .await?
            }
            Command::Stop => d.stop(&self.profile).await?,
            Command::Home => d.goto_home(&self.profile).await?,
            Command::Presets => {
                self.presets = None;
                return Ok((Reply::Presets(self.presets().await?), None));
            }
            Command::GotoPreset(n) => {
                let presets = self.presets().await?;
                let Some(p) = Self::resolve(&presets, *n) else {
                    return Err(self.no(op, &format!("preset {n}")));
                };
                self.device.goto_preset(&self.profile, &p.token).await?;
            }
            Command::SetPreset(n) => {
                let presets = self.presets().await?;
                let key = n.to_string();
                let existing = presets
                    .iter()
                    .find(|p| p.name == key || p.token == key)
                    .map(|p| p.token.clone());
                self.device
                    .set_preset(&self.profile, &key, existing.as_deref())
                    .await?;
                self.presets = None;
            }
            Command::Brightness(percent) => {
                let Some((source, (min, max))) = &self.imaging else {
                    return Err(self.no(op, "brightness control"));
                };
                let percent = percent.clamp(0.0, 100.0);
                let value = min + (max - min) * percent / 100.0;
                d.set_brightness(source, value).await?;
                return Ok((Reply::Done, Some(percent)));
            }
        }
        Ok((Reply::Done, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_by_name_then_token_then_position() {
        let p = |t: &str, n: &str| Preset {
            token: t.into(),
            name: n.into(),
        };
        let list = vec![p("a", "Gate"), p("b", "2"), p("3", "Door")];
        assert_eq!(Session::resolve(&list, 2).unwrap().token, "b");
        assert_eq!(Session::resolve(&list, 3).unwrap().token, "3");
        assert_eq!(Session::resolve(&list, 1).unwrap().token, "a");
        assert!(Session::resolve(&list, 7).is_none());
        assert!(Session::resolve(&[], 0).is_none());
    }
}
