//! Clips exported from the wall: the span between the playhead's mark and the playhead (else
//! the minute around the playhead) of every camera in sync (a node's camera from its node's
//! recordings over HTTP), remuxed by `playback::export` on a
//! thread of its own into `snapshot_dir/CAMERA/clip_….mp4`, and what came of each, for the
//! playback strip to say for a while.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;

use crate::playback::{Source, export};
use crate::record::names::folder_name;

/// The longest a clip from a node's recordings may take.
const NODE_EXPORT_LIMIT: Duration = Duration::from_secs(600);

/// How long the strip tells what came of an export.
const SHOWN_FOR: Duration = Duration::from_secs(10);
/// The span exported when no mark is set (either side of the playhead), and the shortest.
pub const AROUND_MS: i64 = 30_000;
const SHORTEST_MS: i64 = 1_000;

/// What came of a camera's last export.
#[derive(Debug, Clone, PartialEq)]
pub enum ClipState {
    Writing,
    Saved(PathBuf),
    Failed(String),
}

/// Exports under way and done, by camera name.
#[derive(Resource, Clone, Default)]
pub struct Clips(Arc<Mutex<HashMap<String, (Instant, ClipState)>>>);

/// The span a clip covers: from the mark to the playhead (either way round), else the minute
/// around the playhead.
pub fn span(mark: Option<i64>, at: i64) -> (i64, i64) {
    match mark {
        Some(m) if (m - at).abs() >= SHORTEST_MS => (m.min(at), m.max(at)),
        _ => (at - AROUND_MS, at + AROUND_MS),
    }
}

impl Clips {
    fn set(&self, camera: &str, state: ClipState) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(camera.to_owned(), (Instant::now(), state));
        }
    }

    /// Exports `[from, to]` of `cameras` (each from where its recordings are, into
    /// `out_dir`), one after the other on a thread.
    pub fn export(&self, out_dir: PathBuf, cameras: Vec<(String, Source)>, (from, to): (i64, i64)) {
        for (c, _) in &cameras {
            self.set(c, ClipState::Writing);
        }
        let clips = self.clone();
        let spawned = std::thread::Builder::new()
            .name("clip export".into())
            .spawn(move || {
                for (camera, source) in cameras {
                    let state = match export_one(&source, &out_dir, &camera, from, to) {
                        Ok(path) => {
                            info!(camera = %camera, "clip saved: {}", path.display());
                            ClipState::Saved(path)
                        }
                        Err(e) => {
                            warn!(camera = %camera, "no clip: {e}");
                            ClipState::Failed(e)
                        }
                    };
                    clips.set(&camera, state);
                }
            });
        if let Err(e) = spawned {
            error!("cannot start the clip export: {e}");
        }
    }

    /// What to tell about `camera`'s export now, if anything.
    pub fn notice(&self, camera: &str) -> Option<ClipState> {
        let m = self.0.lock().ok()?;
        let (at, state) = m.get(camera)?;
        (*state == ClipState::Writing || at.elapsed() < SHOWN_FOR).then(|| state.clone())
    }
}

fn export_one(
    source: &Source,
    out_dir: &std::path::Path,
    camera: &str,
    from: i64,
    to: i64,
) -> Result<PathBuf, String> {
    // A node's segments read within a deadline: one that trickles holds no clip after it.
    let deadline = Instant::now() + NODE_EXPORT_LIMIT;
    let source = &source.stopped_by(Default::default(), Some(deadline));
    // The segments that hold the clip's ends start before it: an hour's margin.
    let index = source.index_between(from - 3_600_000, to + 3_600_000)?;
    let dir = out_dir.join(folder_name(camera));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let stamp = crate::record::policy::local(from).format("%Y-%m-%d_%H-%M-%S");
    let out = dir.join(format!("clip_{stamp}.mp4"));
    export::export(source, &index, camera, from, to, &out).map_err(|e| e.to_string())?;
    if source.folder().is_none() && Instant::now() >= deadline {
        return Err(format!(
            "the node took over {} s: {} is cut short",
            NODE_EXPORT_LIMIT.as_secs(),
            out.display()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_spans_mark_to_playhead_else_the_minute_around_it() {
        assert_eq!(span(Some(5_000), 65_000), (5_000, 65_000));
        assert_eq!(span(Some(65_000), 5_000), (5_000, 65_000));
        assert_eq!(span(Some(65_500), 65_000), (35_000, 95_000));
        assert_eq!(span(None, 65_000), (35_000, 95_000));
    }
}
