//! The command line's `talk`: a WAV file played through one camera's speaker, with the line
//! that says what was played.

use std::path::Path;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::talk;

/// Plays `file` to `camera` (codec `pcmu`, `pcma` or `aac`, else what the camera offers).
pub fn play_wav(
    config: &Config,
    camera: &str,
    file: &Path,
    codec: Option<&str>,
) -> anyhow::Result<String> {
    let Some(cam) = config.cameras.iter().find(|c| c.name == camera) else {
        if crate::credentials::commands::camera_names(config)
            .iter()
            .any(|n| n == camera)
        {
            bail!(
                "{camera:?} is a built-in simulated camera of a running wall: talk to it there (hold T) or through its API (POST /api/cameras/{{name}}/talk)"
            );
        }
        bail!("no camera {camera:?} in the config");
    };
    let codec = match codec {
        None => None,
        Some(name) => Some(
            talk::TalkCodec::from_name(name)
                .with_context(|| format!("--codec {name:?}: expected pcmu, pcma or aac"))?,
        ),
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let clip = crate::media::pcm::read_wav(&bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{} is not a WAV file we can read", file.display()))?;
    let frames = crate::media::pcm::frames_of(&clip).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Runtime::new()?;
    let floor = talk::Floor::default();
    let (used, frames) = rt.block_on(talk::play(
        &floor,
        cam,
        codec,
        std::future::ready(Ok(frames)),
    ))?;
    Ok(format!(
        "{}: played {:.2} s of {} as {}",
        cam.name,
        frames as f64 * 0.02,
        file.display(),
        used.as_str()
    ))
}
