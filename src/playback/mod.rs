//! Recorded footage, with no Bevy: the index of a camera's segments with its spans and gaps
//! (`index`), clip export by remuxing across segment boundaries (`export`), and the command
//! line's `export` (`commands`).

pub mod commands;
pub mod export;
pub mod index;

pub use index::{Gap, Index, Segment, Span};

/// The folder of `camera`'s recordings under the recording directory.
pub fn camera_folder(record_dir: &std::path::Path, camera: &str) -> std::path::PathBuf {
    record_dir.join(crate::record::names::folder_name(camera))
}
