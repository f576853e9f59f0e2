//! The command line's side of recorded footage: `opticlink export`, one clip per camera (a file,
//! or one file each in a folder), with what each clip holds printed and what failed on stderr.

use std::path::Path;

use anyhow::Context;

use super::{Index, Source, camera_folder, export, index};
use crate::config::Config;

/// Exports `cameras` between `from` and `to` (user times) to `output`; whether every clip was
/// written. Unknown cameras and bad times are errors before anything is written.
pub fn export(
    config: &Config,
    cameras: &[String],
    from: &str,
    to: &str,
    output: &Path,
) -> anyhow::Result<bool> {
    known(config, cameras)?;
    let from = index::parse_time(from).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to = index::parse_time(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    export_span(config, cameras, from, to, output)
}

fn known(config: &Config, cameras: &[String]) -> anyhow::Result<()> {
    let known = crate::credentials::commands::camera_names(config);
    for camera in cameras {
        anyhow::ensure!(
            known.contains(camera),
            "no camera {camera:?} in the config (cameras: {})",
            known.join(", ")
        );
    }
    Ok(())
}

/// Exports event `id` of `camera` with the recording's pre- and post-roll (an event still
/// going on: up to now).
pub fn export_event(config: &Config, camera: &str, id: u64, output: &Path) -> anyhow::Result<bool> {
    known(config, &[camera.to_string()])?;
    let event = crate::events::store::find(&config.recording.dir, camera, id).ok_or_else(|| {
        anyhow::anyhow!(
            "no event {id} of camera {camera:?} in {} (ids are in /api/events and the alarm list)",
            config.recording.dir.display()
        )
    })?;
    let pre = i64::try_from(config.recording.pre_roll_secs).unwrap_or(0) * 1000;
    let post = i64::try_from(config.recording.post_roll_secs).unwrap_or(0) * 1000;
    let from = event.start.timestamp_millis() - pre;
    let to = event
        .end
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_millis()
        + post;
    println!(
        "{camera}: event {id} ({} {}, {} to {})",
        event.kind.as_str(),
        event.source.as_str(),
        index::rfc3339(event.start.timestamp_millis()),
        event
            .end
            .map_or("now".into(), |e| index::rfc3339(e.timestamp_millis()))
    );
    export_span(config, &[camera.to_string()], from, to, output)
}

/// Exports `cameras` between `from` and `to` (Unix milliseconds).
fn export_span(
    config: &Config,
    cameras: &[String],
    from: i64,
    to: i64,
    output: &Path,
) -> anyhow::Result<bool> {
    let several = cameras.len() > 1 || output.is_dir();
    if several {
        std::fs::create_dir_all(output)
            .with_context(|| format!("cannot create the folder {}", output.display()))?;
    }
    let mut all_written = true;
    for camera in cameras {
        let folder = camera_folder(&config.recording.dir, camera);
        let index = Index::load(&folder);
        let out = if several {
            let stamp = index::rfc3339(from).replace(':', "-");
            let name = crate::record::names::folder_name(camera);
            output.join(format!("{name}_{stamp}.mp4"))
        } else {
            output.to_path_buf()
        };
        match export::export(&Source::Folder(folder), &index, camera, from, to, &out) {
            Ok(clip) => {
                println!(
                    "{camera}: {} ({} to {}, {} pictures, {} sound frames, from {} files)",
                    out.display(),
                    index::rfc3339(clip.start_ms),
                    index::rfc3339(clip.end_ms),
                    clip.video_packets,
                    clip.audio_packets,
                    clip.files
                );
                for note in clip.notes {
                    println!("{camera}: {note}");
                }
            }
            Err(e) => {
                eprintln!("opticlink: {camera}: {e}");
                all_written = false;
            }
        }
    }
    Ok(all_written)
}
