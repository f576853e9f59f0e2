//! Recorded footage, with no Bevy: the index of a camera's segments with its spans and gaps
//! (`index`), clip export by remuxing across segment boundaries (`export`), the command
//! line's `export` (`commands`), and playback: a segment read and decoded to an instant
//! (`reader`) and the per-camera playback thread the wall steers (`player`); the recordings
//! are in a folder here or at a node (`source`).

pub mod bench;
pub mod commands;
pub mod export;
pub mod index;
pub mod player;
pub mod reader;
pub mod source;

pub use index::{Gap, Index, Segment, Span};
pub use source::Source;

/// The folder of `camera`'s recordings under the recording directory.
pub fn camera_folder(record_dir: &std::path::Path, camera: &str) -> std::path::PathBuf {
    record_dir.join(crate::record::names::folder_name(camera))
}
